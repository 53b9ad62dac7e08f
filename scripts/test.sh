#!/usr/bin/env bash
# The test command: installs prerequisites (build toolchain and the programs the end-to-end tests
# run against), then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
bash scripts/test-deps.sh
cargo test --workspace --no-fail-fast
