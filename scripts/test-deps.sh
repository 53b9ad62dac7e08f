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
  httpie python3-requests                              # "Copy as…" tests run the snippets
  gcc libssl-dev binutils                              # static-OpenSSL tests: build, strip, nm
  openjdk-17-jdk-headless                              # Java tests: JVMs to attach, javac/jar
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
# Go programs from a registry, one per Go release: esbuild's Linux binary (stripped, links
# crypto/tls) was built with a different Go over the years. Pinned: the Go versions under test do
# not move by themselves. Installed side by side under $tools/esbuild-VERSION; the newest also at
# $tools (Go 1.26).
tools=/opt/apitop-test-tools
npm_pinned() { # PACKAGE VERSION DIR: installs PACKAGE@VERSION under DIR unless there
  if ! grep -qs "\"version\": \"$2\"" "$3/node_modules/$1/package.json"; then
    mkdir -p "$3"
    npm install --no-save --no-audit --no-fund --prefix "$3" "$1@$2" >/dev/null
  fi
}
npm_pinned @esbuild/linux-x64 0.28.2 "$tools"                    # go1.26.5
for v in 0.14.20 0.14.38 0.15.18; do                             # go1.17.6, go1.18, go1.19.3
  npm_pinned esbuild-linux-64 "$v" "$tools/esbuild-$v"
done
for v in 0.17.19 0.22.0 0.24.2 0.27.2; do                        # go1.20.4, 1.22.4, 1.23.1, 1.25.5
  npm_pinned @esbuild/linux-x64 "$v" "$tools/esbuild-$v"
done
# The HAR validator the HAR export test checks apitop's files with (tests/har.rs): one nobody here
# wrote. Pinned, and the last release (5.1.5, ajv 6 with har-schema 2.0.0).
npm_pinned har-validator 5.1.5 "$tools/har-validator"
# The OTLP test's receiver decodes what apitop exports with the Python opentelemetry-proto package
# (not in Debian 12), for Debian's python3; pinned with its protobuf, installed where the test
# puts PYTHONPATH.
otel_py="$tools/py"
if ! grep -qs "^Version: 1.45.2$" "$otel_py"/opentelemetry_proto-*.dist-info/METADATA; then
  python3_debian=/usr/bin/python3
  "$python3_debian" -m pip install --quiet --disable-pip-version-check --no-input \
    --upgrade --target "$otel_py" opentelemetry-proto==1.45.2 protobuf==7.36.2 >/dev/null
fi
# gRPC's wheel from PyPI: its cygrpc extension links BoringSSL statically and strips it (the
# static-BoringSSL tests find SSL_read/SSL_write by code). Pinned: the signature tests expect this
# build. Installed for Debian's python3 where the tests put PYTHONPATH.
grpc_py="$tools/grpcio"
if ! grep -qs "^Version: 1.85.3$" "$grpc_py"/grpcio-*.dist-info/METADATA; then
  /usr/bin/python3 -m pip install --quiet --disable-pip-version-check --no-input \
    --upgrade --only-binary=:all: --target "$grpc_py" grpcio==1.85.3 >/dev/null
fi
# The Go test programs, built once here so the first test does not pay for it.
bash "$(dirname "$0")/go-fixtures.sh"
# The Java capture tests: Debian's JDK 17 runs tests/java, and the agent jar they load.
bash "$(dirname "$0")/java-agent.sh"
