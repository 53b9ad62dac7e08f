#!/usr/bin/env bash
# Installs the real programs the end-to-end tests run against (idempotent, quick when present).
set -euo pipefail
packages=(
  curl openssl python3 nodejs nginx-light util-linux wget   # capture tests: TLS clients and servers
  tmux                                                 # the real-terminal UI test
  nghttp2-client                                       # HTTP/2 tests: nghttp, h2load
  caddy                                                # HTTP/2 tests: a Go server peer
  python3-grpcio                                       # gRPC tests (for /usr/bin/python3)
  golang-go                                            # Go capture tests: builds tests/go programs
)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if ((${#missing[@]})); then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# nginx-light enables and starts a default site on port 80 on install; the tests run their own.
# caddy likewise; the tests run their own.
if command -v systemctl >/dev/null 2>&1; then
  systemctl disable --now nginx >/dev/null 2>&1 || true
  systemctl disable --now caddy >/dev/null 2>&1 || true
fi
# A Go 1.26 program from a registry: esbuild's Linux binary (stripped, links crypto/tls). Pinned,
# so the Go version under test does not move by itself.
tools=/opt/apitop-test-tools
esbuild_version=0.28.2
if ! grep -qs "\"version\": \"$esbuild_version\"" "$tools/node_modules/@esbuild/linux-x64/package.json"; then
  mkdir -p "$tools"
  npm install --no-save --no-audit --no-fund --prefix "$tools" "@esbuild/linux-x64@$esbuild_version" >/dev/null
fi
# The Go test programs, built once here so the first test does not pay for it.
bash "$(dirname "$0")/go-fixtures.sh"
