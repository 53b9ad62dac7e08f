#!/usr/bin/env bash
# DEVELOPMENT TOOL: the agent's added latency per request. A JDK HttpClient (HTTP/1.1, engine
# path) or HttpsURLConnection (socket path) client POSTs JSON to the JSON HTTPS server
# (tests/java), N sequential requests per phase, measured inside the client JVM:
#   warm-up, no agent, agent loaded + receiver reading (--quiet), receiver gone (hooks idle).
# The agent is loaded into the client only, so the figures are that one JVM's cost.
#   bash java-agent/dev/bench.sh [httpclient|urlconnection] [N] [JAVA_HOME]
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
kind="${1:-httpclient}"
n="${2:-2000}"
jh="${3:-/usr/lib/jvm/java-17-openjdk-amd64}"
java="$jh/bin/java"
bash "$root/scripts/java-agent.sh"
jar="$root/target/java-agent/apitop-agent.jar"
d="$(mktemp -d /tmp/apitop-agent-bench.XXXXXX)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; }
trap cleanup EXIT
wait_for() { # FILE PATTERN COUNT SECONDS
  for _ in $(seq $((${4} * 10))); do
    [ "$(grep -c "$2" "$1" 2>/dev/null || true)" -ge "$3" ] && return 0
    sleep 0.1
  done
  echo "timeout waiting for $2 in $1" >&2; exit 1
}

"$java" "$root/tests/java/JsonHttpsServer.java" --dir "$d/srv" >"$d/srv.log" 2>&1 &
pids+=($!)
wait_for "$d/srv.log" '^listening' 1 60
port=$(awk '/^listening/{print $2}' "$d/srv.log")
case "$kind" in
  httpclient) prog=HttpClientPost.java ;;
  urlconnection) prog=UrlConnectionPost.java ;;
  *) echo "unknown client $kind" >&2; exit 2 ;;
esac
mkfifo "$d/in"
"$java" "$root/tests/java/$prog" --stdin --url "https://127.0.0.1:$port/api/bench" \
  --cacert "$d/srv/cert.pem" <"$d/in" >"$d/client.log" 2>&1 &
client=$!
pids+=($client)
exec 3>"$d/in"
phase=0
run() { # LABEL
  phase=$((phase + 1))
  echo "run $n" >&3
  wait_for "$d/client.log" '^done' "$phase" 300
  printf '%-28s %s\n' "$1" "$(grep '^done' "$d/client.log" | tail -1)"
}
run "warm-up"
run "warm-up"
run "no agent"
run "no agent"
python3 "$root/java-agent/dev/receiver.py" "$d/r.sock" --quiet >"$d/recv.log" 2>&1 &
recv=$!
pids+=($recv)
wait_for "$d/recv.log" listening 1 5
"$java" "$root/java-agent/dev/Attach.java" "$client" "$jar" "sock=$d/r.sock,token=bench" >/dev/null
run "agent, receiver reading"
run "agent, receiver reading"
kill -INT "$recv"
sleep 1
totals=$(grep -c TOTAL "$d/recv.log" || true)
run "agent, receiver gone"
run "agent, receiver gone"
echo "receiver saw $(grep -c CONN "$d/recv.log") connection(s), byte totals:"
grep TOTAL "$d/recv.log" || true
grep DROPPED "$d/recv.log" || true
[ "$totals" -gt 0 ] || { echo "receiver got no data" >&2; exit 1; }
