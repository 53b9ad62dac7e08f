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
