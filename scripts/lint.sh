#!/usr/bin/env bash
# Formatting and lints, as CI checks them. Clippy runs in two passes: feature unification would
# pull std into the kernel crate if it were checked together with the host crates.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup component list --installed | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed | grep -q '^clippy' || rustup component add clippy
cargo fmt --all -- --check
cargo clippy --workspace --exclude capture-ebpf --all-targets -- -D warnings
# Decoding and replay build without the eBPF toolchain: keep that build clean too.
cargo clippy -p capture -p apitop --no-default-features --all-targets -- -D warnings
(cd capture-ebpf && cargo clippy --all-targets -- -D warnings)
# The kernel crate for its real target, built as capture/build.rs builds it (aya-build): stable
# with RUSTC_BOOTSTRAP=1 for `-Z build-std=core`, the bpf_target_arch cfg, release. On the host it
# is an empty shell, so the pass above checks little of it. Its own target dir: these flags would
# otherwise invalidate the host build's cache.
rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
RUSTC_BOOTSTRAP=1 CARGO_ENCODED_RUSTFLAGS='--cfg=bpf_target_arch="x86_64"' \
  cargo clippy -p capture-ebpf --lib --bins --release --target bpfel-unknown-none \
  -Z build-std=core --target-dir target/bpf-clippy -- -D warnings
