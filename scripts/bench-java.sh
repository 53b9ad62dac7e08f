#!/usr/bin/env bash
# What apitop's Java agent costs a JVM serving HTTPS: the latency of one request at a time, with
# no agent, with the agent loaded and apitop capturing, and with the agent left idle after apitop
# exits. Prints one table. Root; installs h2load (nghttp2-client) with apt-get.
#
#   sudo bash scripts/bench-java.sh                  # about 5 minutes
#   sudo DURATION=5 RUNS=1 bash scripts/bench-java.sh
#
# Server: tests/java/JsonHttpsServer.java (com.sun.net.httpserver.HttpsServer, the SSLEngine
# path) on $JAVA (Debian's JDK 17 by default), pinned to CPU $SERVER_CPU. Load: `h2load --h1 -c 1
# -m 1` on CPU $LOAD_CPU, one request at a time on one keep-alive connection (POST, a 138-byte
# JSON body, echoed back), so h2load's mean time per request is the latency a client sees.
# The agent cannot be unloaded, so each run starts two fresh JVMs, warms both up for JVM_WARMUP s
# (the JIT compiles the hot paths: without it each phase is faster than the one before), and
# measures, each phase after WARMUP s of the same load:
#   no-agent    the twin JVM that never gets the agent, before and after the other's phases
#   capturing   `apitop --json --java -p JVM` (on the server's CPU, APITOP_CPU) has loaded the
#               agent into the other JVM and captures
#   agent-idle  apitop has exited; the agent's hooks stay in that JVM, doing nothing
# The table shows medians over RUNS runs, µs added per request against no-agent, and the
# exchanges apitop captured against the requests h2load started while it ran (warm-up included;
# a timed run can end with one request started and not sent).
#
# Environment: DURATION (10), RUNS (3), JVM_WARMUP (20), WARMUP (5), SERVER_CPU (0), LOAD_CPU
#   (1), APITOP_CPU (SERVER_CPU), JAVA (java on PATH), KEEP (a directory for the raw logs).
set -euo pipefail

BENCH=bench-java
DURATION="${DURATION:-10}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-5}"
JVM_WARMUP="${JVM_WARMUP:-20}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
APITOP_CPU="${APITOP_CPU:-$SERVER_CPU}"
JAVA="${JAVA:-java}"
KEEP="${KEEP:-}"

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"

[ "$(id -u)" -eq 0 ] || die "must run as root (apitop attaches to the JVM as root): sudo bash $0"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs: the server on one, the load generator on the other"
require_whole_numbers DURATION RUNS WARMUP JVM_WARMUP SERVER_CPU LOAD_CPU APITOP_CPU
[ "$RUNS" -ge 1 ] && [ "$DURATION" -ge 1 ] || die "RUNS and DURATION must be at least 1"

cd "$root"
bench_tmp
results="$tmp/results"

install_missing h2load=nghttp2-client curl=curl taskset=util-linux
log "setup, Java agent, release build"
quietly bash scripts/setup.sh
quietly bash scripts/java-agent.sh
command -v "$JAVA" >/dev/null || die "no $JAVA: run scripts/test-deps.sh (it installs Debian's JDK 17)"
quietly cargo build --release -p apitop
tdir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
APITOP="$tdir/release/apitop"
java_version="$("$JAVA" -version 2>&1 | head -1)"

body='{"order":42,"customer":{"id":7,"name":"Ada"},"items":[{"sku":"A-1","qty":2},{"sku":"B-7","qty":1}],"note":"leave at the door, ring twice"}'
printf '%s' "$body" >"$tmp/body.json"
workload_args() { echo "--h1 -c 1 -m 1 -d $tmp/body.json -H content-type:application/json"; }

# measure MODE RUN URL: DURATION s of load, recorded as MODE's latency and req/s.
measure() {
  local mode=$1 run=$2 url=$3 out="$tmp/h2load.$1.$2"
  load seq "$DURATION" "$out" "$url"
  # "time for request:  MIN  MAX  MEAN  SD  +/- sd", each with its unit.
  local mean
  mean="$(awk '/^time for request:/ { v = $6; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
    if (u == "ms") v *= 1000; else if (u == "s") v *= 1e6; print v }' "$out")"
  [ -n "$mean" ] || die "cannot read h2load's latency: $(tail -5 "$out")"
  read -r rps ok < <(load_result "$out")
  record "$mode" seq latency_us "$mean"
  record "$mode" seq rps "$rps"
  record "$mode" seq requests "$ok"
  # Started, not done: the request in flight when a timed run ends still reaches the server.
  record "$mode" seq started "$(awk '/^requests:/ { print $4 }' "$out")"
  log "run $run $mode: ${mean} µs per request, $rps req/s"
}

# start_jvm NAME: a JsonHttpsServer on the server's CPU; sets jvm_pid and jvm_url.
start_jvm() {
  local out="$tmp/$1.out"
  mkdir -p "$tmp/$1"
  taskset -c "$SERVER_CPU" "$JAVA" "$root/tests/java/JsonHttpsServer.java" --dir "$tmp/$1" >"$out" 2>&1 &
  jvm_pid=$!
  extra_pids+=("$jvm_pid")
  wait_for "$out" '^listening ' "$jvm_pid" "the JVM server $1"
  jvm_url="https://127.0.0.1:$(awk '/^listening / { print $2; exit }' "$out")/api/orders"
}

for run in $(seq "$RUNS"); do
  # Twins: `plain` never gets the agent and gives the no-agent figure, measured before and after
  # the traced one's two phases, so both JVMs are as old and as compiled when compared.
  start_jvm "plain.$run"
  plain_pid=$jvm_pid plain_url=$jvm_url
  start_jvm "traced.$run"
  traced_pid=$jvm_pid traced_url=$jvm_url
  load seq "$JVM_WARMUP" "$tmp/warmup.plain.$run" "$plain_url"
  load seq "$JVM_WARMUP" "$tmp/warmup.traced.$run" "$traced_url"
  measure no-agent "$run" "$plain_url"

  taskset -c "$APITOP_CPU" "$APITOP" --json --java -p "$traced_pid" >"$tmp/apitop.$run.json" 2>"$tmp/apitop.$run.err" &
  tracer_pid=$!
  wait_for "$tmp/apitop.$run.err" 'agent loaded' "$tracer_pid" "apitop"
  load seq "$WARMUP" "$tmp/warmup2.$run" "$traced_url"
  warm="$(awk '/^requests:/ { print $4 }' "$tmp/warmup2.$run")"
  measure capturing "$run" "$traced_url"
  settle "$tmp/apitop.$run.json"
  record capturing seq captured "$(grep -c '"path":"/api/orders"' "$tmp/apitop.$run.json" || true)"
  record capturing seq sent "$warm"
  stop_tracer || die "apitop failed: $(tail -5 "$tmp/apitop.$run.err")"

  load seq "$WARMUP" "$tmp/warmup3.$run" "$traced_url"
  measure agent-idle "$run" "$traced_url"
  load seq "$WARMUP" "$tmp/warmup4.$run" "$plain_url"
  measure no-agent "$run" "$plain_url"
  kill -TERM "$plain_pid" "$traced_pid"
  wait "$plain_pid" "$traced_pid" 2>/dev/null || true
  extra_pids=()
done

base="$(vals no-agent seq latency_us | median)"
echo
echo "JVM HTTPS server ($java_version), one request at a time, POST ${#body} B JSON; medians of $RUNS x ${DURATION}s"
printf '%-11s %14s %10s %12s %s\n' mode "µs/request" "added µs" "req/s" "captured"
for m in no-agent capturing agent-idle; do
  lat="$(vals "$m" seq latency_us | median)"
  rps="$(vals "$m" seq rps | median)"
  cap=""
  if [ "$m" = capturing ]; then
    cap="$(vals "$m" seq captured | sum) of $(($(vals "$m" seq started | sum) + $(vals "$m" seq sent | sum))) requests"
  fi
  printf '%-11s %14.0f %10.0f %12.0f %s\n' "$m" "$lat" "$(awk -v a="$lat" -v b="$base" 'BEGIN { print a - b }')" "$rps" "$cap"
done
