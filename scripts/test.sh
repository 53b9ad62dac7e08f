#!/usr/bin/env bash
# The test command: installs prerequisites (build toolchain and the programs the end-to-end tests
# run against), then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/test-deps.sh
cargo test --workspace --no-fail-fast
# The core live tests again on other kernels (Debian 12's 6.1) in a QEMU guest: root only; with
# APITOP_REQUIRE_EBPF=1 a guest that cannot boot fails the run. KERNEL_MATRIX=0 skips it.
bash scripts/kernel-matrix.sh
