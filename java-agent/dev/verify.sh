#!/usr/bin/env bash
# DEVELOPMENT TOOL, not part of apitop's tests: checks the agent by hand, end to end, without
# apitop. Starts the JSON HTTPS server (tests/java), the HttpsURLConnection and HttpClient
# (HTTP/1.1) clients against it, an HttpClient HTTP/2 client against nginx when nginx is
# installed, then: loads the agent into all of them (receiver.py listening), checks the plaintext
# and addresses arrive; stops the receiver, checks the JVMs keep working; starts a new receiver,
# loads the agent again, checks it reconnects with each request captured once.
#   bash java-agent/dev/verify.sh [JAVA_HOME]     (default: Debian's JDK 17)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
jh="${1:-/usr/lib/jvm/java-17-openjdk-amd64}"
java="$jh/bin/java"
bash "$root/scripts/java-agent.sh"
jar="$root/target/java-agent/apitop-agent.jar"
d="$(mktemp -d /tmp/apitop-agent-verify.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
wait_for() { # FILE PATTERN SECONDS
  for _ in $(seq $((${3} * 10))); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
  fail "no '$2' in $1 after $3 s: $(tail -3 "$1")"
}
attach() { "$java" "$root/java-agent/dev/Attach.java" "$1" "$jar" "sock=$2,token=$3"; }

"$java" "$root/tests/java/JsonHttpsServer.java" --dir "$d/srv" >"$d/srv.log" 2>&1 &
pids+=($!); srv=$!
wait_for "$d/srv.log" '^listening' 60
port=$(awk '/^listening/{print $2}' "$d/srv.log")
cert="$d/srv/cert.pem"
"$java" "$root/tests/java/UrlConnectionPost.java" --url "https://127.0.0.1:$port/api/urlconn" \
  --cacert "$cert" --interval-ms 300 >"$d/uc.log" 2>&1 &
pids+=($!); uc=$!
"$java" "$root/tests/java/HttpClientPost.java" --url "https://127.0.0.1:$port/api/h1" \
  --cacert "$cert" --interval-ms 300 >"$d/h1.log" 2>&1 &
pids+=($!); h1=$!
h2=""
if command -v nginx >/dev/null; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
    -addext "subjectAltName=IP:127.0.0.1,DNS:localhost" -keyout "$d/key.pem" -out "$d/cert.pem" 2>/dev/null
  ngport=$((20000 + RANDOM % 20000))
  cat >"$d/nginx.conf" <<EOF
daemon off; worker_processes 1; pid $d/nginx.pid; error_log $d/nginx.err;
events {}
http { access_log off; client_body_temp_path $d/body;
  server { listen 127.0.0.1:$ngport ssl http2; ssl_certificate $d/cert.pem; ssl_certificate_key $d/key.pem;
    location / { default_type application/json; return 200 '{"ok":true,"server":"nginx"}'; } } }
EOF
  nginx -c "$d/nginx.conf" >"$d/nginx.log" 2>&1 &
  pids+=($!)
  sleep 0.5
  "$java" "$root/tests/java/HttpClientPost.java" --http 2 --url "https://127.0.0.1:$ngport/api/h2" \
    --cacert "$d/cert.pem" --interval-ms 300 >"$d/h2.log" 2>&1 &
  pids+=($!); h2=$!
fi
for f in uc h1 ${h2:+h2}; do wait_for "$d/$f.log" '^resp 1 200' 60; done

# Session 1
python3 "$root/java-agent/dev/receiver.py" "$d/r1.sock" --max-preview 1000 >"$d/recv1.log" 2>&1 &
pids+=($!); r1=$!
wait_for "$d/recv1.log" listening 5
for p in $srv $uc $h1 $h2; do attach "$p" "$d/r1.sock" one; done
sleep 3
r="$d/recv1.log"
grep -q "CONN id=1 role=client path=socket local='127.0.0.1:[0-9]*' peer='127.0.0.1:$port'" "$r" || fail "socket CONN"
grep -q "CONN id=1 role=client path=engine local='' peer='127.0.0.1:$port'" "$r" || fail "engine client CONN"
grep -q "CONN id=[0-9]* role=server path=engine local='' peer='localhost:[0-9]*'" "$r" || fail "server CONN"
grep -q -- "-> 72B .*{\"seq\":[0-9]*,\"client\":\"java-urlconnection\"" "$r" || grep -q -- "-> 7[0-9]B .*java-urlconnection" "$r" || fail "urlconnection body"
grep -q -- '<- [0-9]*B .*{"method":"POST","path":"/api/urlconn"' "$r" || fail "urlconnection response (client side)"
grep -q -- '-> [0-9]*B .*{"method":"POST","path":"/api/urlconn"' "$r" || fail "response (server side)"
grep -q -- '<- [0-9]*B .*"client":"java-urlconnection"' "$r" || fail "request body (server side)"
grep -q -- '-> [0-9]*B .*"client":"java-httpclient"' "$r" || fail "httpclient body"
grep -q -- '<- [0-9]*B .*{"method":"POST","path":"/api/h1"' "$r" || fail "httpclient response"
if [ -n "$h2" ]; then
  grep -q -- "CONN id=1 role=client path=engine local='' peer='127.0.0.1:$ngport'" "$r" || fail "h2 CONN"
  grep -q -- '<- [0-9]*B .*{"ok":true,"server":"nginx"}' "$r" || fail "h2 response"
fi
grep -q 'BAD FRAME' "$r" && fail "bad frame"
echo "session 1: plaintext and addresses OK"

# apitop gone: the JVMs keep working
kill $r1; sleep 2
before=$(grep -c '^resp' "$d/uc.log")
sleep 2
after=$(grep -c '^resp' "$d/uc.log")
[ "$after" -gt "$before" ] || fail "the client stopped after the receiver went away"
for p in $srv $uc $h1 $h2; do kill -0 "$p" || fail "JVM $p died"; done
echo "receiver gone: JVMs keep working ($before -> $after responses)"

# Session 2: reconnects, hooks not doubled (one DATA per body)
python3 "$root/java-agent/dev/receiver.py" "$d/r2.sock" --max-preview 1000 >"$d/recv2.log" 2>&1 &
pids+=($!)
wait_for "$d/recv2.log" listening 5
for p in $srv $uc $h1 $h2; do attach "$p" "$d/r2.sock" two; done
sleep 3
r="$d/recv2.log"
[ "$(grep -c HELLO "$r")" -eq "$(echo $srv $uc $h1 $h2 | wc -w)" ] || fail "not every JVM reconnected"
# The urlconnection client (pid $uc, receiver client 2) sends each body once: seq numbers unique.
bodies=$(grep -o -- "-> [0-9]*B ts=[0-9]* '{\"seq\":[0-9]*,\"client\":\"java-urlconnection\"" "$r" | grep -o '"seq":[0-9]*')
[ -n "$bodies" ] || fail "no request body in session 2"
dups=$(echo "$bodies" | sort | uniq -d | wc -l)
[ "$dups" -eq 0 ] || fail "bodies captured twice in session 2"
grep -q -- '<- [0-9]*B .*{"method":"POST","path":"/api/urlconn"' "$r" || fail "no capture in session 2"
grep -q 'BAD FRAME' "$r" && fail "bad frame"
echo "session 2: reconnected, no duplicate hooks"
echo "PASS ($d)"
