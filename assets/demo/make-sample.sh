#!/usr/bin/env bash
# Regenerates assets/sample.apitop: a real capture (root needed) of a demo client talking to a
# demo server on 127.0.0.1 under several virtual host names. Run from the repository root.
set -euo pipefail
cd "$(dirname "$0")/../.."
tmp=$(mktemp -d); trap 'kill $srv 2>/dev/null; rm -rf "$tmp"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
python3 assets/demo/server.py "$tmp/cert.pem" "$tmp/key.pem" > "$tmp/port" & srv=$!
until grep -q PORT "$tmp/port"; do sleep 0.1; done
port=$(awk '{print $2}' "$tmp/port")
cargo run --release -q -p apitop -- --json -w assets/sample.apitop -- \
  python3 assets/demo/client.py "$port" > /dev/null
chmod 644 assets/sample.apitop   # a demo asset, not private traffic
