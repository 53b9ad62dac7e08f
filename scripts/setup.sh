#!/usr/bin/env bash
# Installs what building apitop needs (idempotent): rust-src, llvm-22-dev, bpf-linker 0.13 (llvm-22).
set -euo pipefail
rustup component list --installed | grep -q '^rust-src' || rustup component add rust-src
if ! dpkg -s llvm-22-dev >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq llvm-22-dev
fi
if ! command -v bpf-linker >/dev/null 2>&1; then
  LLVM_PREFIX=/usr/lib/llvm-22 PATH=/usr/lib/llvm-22/bin:$PATH \
    cargo install bpf-linker --version 0.13.0 --locked --no-default-features --features llvm-22
fi
# The Java agent apitop loads into JVMs (--java): built from java-agent/ with Debian's JDK and ASM.
bash "$(dirname "$0")/java-agent.sh"
