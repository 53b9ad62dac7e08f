#!/usr/bin/env bash
# Builds the Go programs the Go capture tests run (tests/go/gohttps) with the machine's Go
# toolchain, in several link modes, into OUTDIR (default target/go-fixtures). Idempotent: a
# binary newer than its source is kept.
#   gohttps          default build (internal link, not PIE, with symbols)
#   gohttps-stripped stripped PIE: -ldflags='-s -w' -buildmode=pie
#   gohttps-extld    cgo, external link (textStart differs from .text)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$root/target/go-fixtures}"
src="$root/tests/go/gohttps"
mkdir -p "$out"
export GOFLAGS=-mod=mod GOCACHE="${GOCACHE:-$out/.gocache}" GOPATH="${GOPATH:-$out/.gopath}" GOTOOLCHAIN=local
build() {
  local name=$1
  shift
  if [ -x "$out/$name" ] && [ "$out/$name" -nt "$src/main.go" ]; then
    return
  fi
  (cd "$src" && "$@" -o "$out/$name.tmp.$$" . && mv "$out/$name.tmp.$$" "$out/$name")
}
build gohttps env CGO_ENABLED=0 go build
build gohttps-stripped env CGO_ENABLED=0 go build -ldflags='-s -w' -buildmode=pie
build gohttps-extld env CGO_ENABLED=1 go build -ldflags='-linkmode=external'
