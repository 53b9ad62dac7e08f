#!/usr/bin/env bash
# What capturing costs nginx over TLS: req/s untraced, with count-only uprobes + uretprobes on the
# exported SSL_write/SSL_read(_ex) entries (what a capture tool probing there pays at least), and
# under apitop with and without plain capture; apitop's own CPU time, peak RSS and exchanges
# captured per request served; then 1,000 short TLS connections. Prints one table. Root; installs
# nginx-light, nghttp2-client (h2load) and bpftrace with apt-get.
#
#   sudo bash scripts/bench-overhead.sh                 # about 15 minutes
#   sudo DURATION=2 RUNS=1 bash scripts/bench-overhead.sh
#
# Server: nginx (worker_processes 1, access_log off, sendfile off so that plain capture sees
# bodies) pinned to CPU $SERVER_CPU; h2load, bpftrace and apitop on CPU $LOAD_CPU. h2load runs
# with a private copy of libssl.so.3 and libcrypto.so.3 (LD_LIBRARY_PATH): uprobes are attached
# per file, so its own SSL calls never reach the probes on the system libssl nginx uses (checked
# in its /proc/PID/maps). The server's CPU time per request (from /proc) is the cost figure that
# holds when the load generator, not nginx, is the bottleneck (h2load shares its CPU with the
# tracer).
#
# Modes:    untraced         nothing attached
#           entry-count      bpftrace count-only uprobe + uretprobe on SSL_write, SSL_read,
#                            SSL_write_ex, SSL_read_ex of the system libssl.so.3 (no filter:
#                            nginx is the only process using it during the runs)
#           entry-only       (opt-in) the same without the uretprobes
#           apitop           apitop --json -p WORKER -p MASTER, plain capture on; stdout to wc -l
#           apitop-no-plain  the same with --no-plain
# Workloads: h1-300, h2-300 (GET /, a 300-byte JSON body from `return 200`), h1-64k, h2-64k
#           (GET /64k.json, a 64 KiB static file) over TLS: HTTP/1.1 with h2load --h1 -c 16,
#           HTTP/2 with -c 16 -m 10; plain-300, plain-64k: the same over plain HTTP/1.1 on
#           another port. The plain workloads run only untraced and apitop (nothing for the
#           other modes to probe).
# Each (run, workload, mode): tracer attached, then h2load --warm-up-time=WARMUP -D DURATION.
# Modes are interleaved within a run; the table shows medians over RUNS runs. Requests served
# are nginx's own count (stub_status) over the capture, warm-up included, since apitop captures
# that too. Then CONNS (1000) sequential `curl -sk https://127.0.0.1:PORT/` (each a new process
# and TLS connection; curl is not a target) while apitop captures nginx.
#
# Environment: DURATION (10), RUNS (3), WARMUP (2), PORT (39444), PLAIN_PORT (39480),
#   SERVER_CPU (0), LOAD_CPU (1), CLIENTS (16), CONNS (1000; 0 skips the curl figure),
#   SYSCALLS (1000000: bytes `dd bs=1` copies, a read and a write each, in a process that is
#   not a target, untraced and under apitop with and without plain capture: what every other
#   process on the host pays per system call while apitop runs; 0 skips it),
#   MODES ("untraced entry-count apitop apitop-no-plain"),
#   APITOP_ARGS (more apitop flags, e.g. "--ring-size 256M"), APITOP_BIN (a prebuilt apitop to
#   measure instead of this checkout's release build, e.g. another commit's, for a comparison),
#   WORKLOADS ("h1-300 h1-64k h2-300 h2-64k plain-300 plain-64k"), KEEP (a directory to copy the
#   raw logs and per-run results into).
set -euo pipefail

BENCH=bench-overhead
DURATION="${DURATION:-10}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-2}"
PORT="${PORT:-39444}"
PLAIN_PORT="${PLAIN_PORT:-39480}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
CLIENTS="${CLIENTS:-16}"
CONNS="${CONNS:-1000}"
SYSCALLS="${SYSCALLS:-1000000}"
MODES="${MODES:-untraced entry-count apitop apitop-no-plain}"
WORKLOADS="${WORKLOADS:-h1-300 h1-64k h2-300 h2-64k plain-300 plain-64k}"
KEEP="${KEEP:-}"
APITOP_ARGS="${APITOP_ARGS:-}"
APITOP_BIN="${APITOP_BIN:-}"

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"

[ "$(id -u)" -eq 0 ] || die "must run as root (uprobes, bpftrace, apitop): sudo bash $0"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs: the server on one, the load generator on the other"
require_whole_numbers DURATION RUNS WARMUP PORT PLAIN_PORT SERVER_CPU LOAD_CPU CLIENTS CONNS SYSCALLS
[ "$RUNS" -ge 1 ] && [ "$DURATION" -ge 1 ] && [ "$CLIENTS" -ge 1 ] || die "RUNS, DURATION and CLIENTS must be at least 1"
for m in $MODES; do
  case $m in untraced | entry-count | entry-only | apitop | apitop-no-plain) ;; *) die "unknown mode '$m'" ;; esac
done
for w in $WORKLOADS; do
  case $w in h1-300 | h1-64k | h2-300 | h2-64k | plain-300 | plain-64k) ;; *) die "unknown workload '$w'" ;; esac
done
# runs MODE WORKLOAD: whether the pair is measured.
runs() { [[ $2 != plain-* ]] || [[ $1 == untraced || $1 == apitop ]]; }
n=0 secs=0
for w in $WORKLOADS; do
  for mode in $MODES; do
    runs "$mode" "$w" || continue
    # Besides the load: bpftrace takes ~2 s to attach, apitop ~4 s to attach, drain and detach.
    case $mode in untraced) o=0 ;; entry-*) o=2 ;; *) o=4 ;; esac
    n=$((n + 1)) secs=$((secs + WARMUP + DURATION + o))
  done
done
[ "$n" -gt 0 ] || die "no (workload, mode) pair to run: the plain workloads run only untraced and apitop"
LIBSSL=/usr/lib/x86_64-linux-gnu/libssl.so.3
LIBCRYPTO=/usr/lib/x86_64-linux-gnu/libcrypto.so.3
[ -f "$LIBSSL" ] && [ -f "$LIBCRYPTO" ] || die "no OpenSSL 3 at $LIBSSL (x86-64 Debian/Ubuntu layout expected)"

cd "$root"
bench_tmp
counter_pid=""
worker_pid=""

# ---- tools and builds -------------------------------------------------------------------------
install_missing nginx=nginx-light h2load=nghttp2-client bpftrace=bpftrace openssl=openssl curl=curl taskset=util-linux
log "setup, release build"
quietly bash scripts/setup.sh
quietly cargo build --release -p apitop
tdir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
APITOP="${APITOP_BIN:-$tdir/release/apitop}"
[ -x "$APITOP" ] || die "missing $APITOP after the build"
NGINX="$(command -v nginx)"
ldd "$NGINX" | grep -q "libssl.so.3 => .*libssl.so.3" || die "$NGINX does not load libssl.so.3"
warn_if_busy

# ---- server -----------------------------------------------------------------------------------
for p in "$PORT" "$PLAIN_PORT"; do
  rc=0
  curl -s --max-time 1 "http://127.0.0.1:$p/" >/dev/null 2>&1 || rc=$?
  [ "$rc" -eq 7 ] || die "something already listens on 127.0.0.1:$p (set PORT, PLAIN_PORT)"
done
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 || die "openssl could not make a certificate"
# 300 bytes of JSON (no $ or ' : it sits in a quoted nginx string), and 64 KiB of JSON.
small="$(printf '{"user":"bench","id":42,"items":[%s],"note":"%s"}' "$(seq -s, 1 40)" "$(head -c 300 /dev/zero | tr '\0' x)" | head -c 298)\"}"
[ "${#small}" -eq 300 ] || die "the 300-byte body is ${#small} bytes"
mkdir -p "$tmp/www"
awk 'BEGIN {
  s = "{\"items\":["
  while (length(s) < 65400) { i++; s = s sprintf("{\"id\":%d,\"name\":\"item-%05d\",\"tags\":[\"a\",\"b\"]},", i, i) }
  s = s "0],\"pad\":\""
  while (length(s) < 65534) s = s "x"
  printf "%s\"}", s
}' >"$tmp/www/64k.json"
[ "$(stat -c %s "$tmp/www/64k.json")" -eq 65536 ] || die "the 64 KiB body is $(stat -c %s "$tmp/www/64k.json") bytes"
mkdir -p "$tmp/nginx"
cat >"$tmp/nginx.conf" <<EOF
worker_processes 1;
daemon off;
master_process on;
user root;
pid $tmp/nginx.pid;
error_log $tmp/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  default_type application/json;
  sendfile off;
  keepalive_requests 1000000000;
  keepalive_timeout 300s;
  client_body_temp_path $tmp/nginx/body;
  server {
    listen 127.0.0.1:$PORT ssl http2;
    listen 127.0.0.1:$PLAIN_PORT;
    ssl_certificate $tmp/cert.pem;
    ssl_certificate_key $tmp/key.pem;
    location = /64k.json { root $tmp/www; }
    location / { return 200 '$small'; }
  }
  server {
    listen unix:$tmp/status.sock;
    location / { stub_status; }
  }
}
EOF
taskset -c "$SERVER_CPU" "$NGINX" -p "$tmp/nginx/" -e "$tmp/nginx-error.log" -c "$tmp/nginx.conf" \
  >"$tmp/server.log" 2>&1 &
srv_pid=$!
for _ in $(seq 100); do
  curl -sk --max-time 1 "https://127.0.0.1:$PORT/" >/dev/null 2>&1 && break
  kill -0 "$srv_pid" 2>/dev/null || die "nginx exited: $(cat "$tmp/server.log" "$tmp/nginx-error.log" 2>/dev/null)"
  sleep 0.1
done
worker_pid="$(pgrep -P "$srv_pid" || true)"
[ "$(echo "$worker_pid" | wc -w)" -eq 1 ] || die "nginx (pid $srv_pid) has not one worker but '$worker_pid'"
extra_pids=("$worker_pid")
[ "$(curl -sk --max-time 1 "https://127.0.0.1:$PORT/")" = "$small" ] ||
  die "nginx does not answer on 127.0.0.1:$PORT: $(cat "$tmp/nginx-error.log")"
cmp -s <(curl -s --max-time 1 "http://127.0.0.1:$PLAIN_PORT/64k.json") "$tmp/www/64k.json" ||
  die "nginx does not serve /64k.json on 127.0.0.1:$PLAIN_PORT: $(cat "$tmp/nginx-error.log")"
grep -q "/x86_64-linux-gnu/libssl.so.3" "/proc/$worker_pid/maps" || die "the nginx worker has not mapped $LIBSSL"
log "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') master $srv_pid, worker $worker_pid on CPU $SERVER_CPU"

# served: nginx's request count (stub_status; each query counts itself).
served() {
  curl -s --max-time 5 --unix-socket "$tmp/status.sock" http://status/ |
    awk 'NR == 3 { print $3; ok = 1 } END { exit !ok }' || die "no stub_status from nginx"
}

# ---- load generator ---------------------------------------------------------------------------
# A private copy of libssl for h2load: a different inode from the one the probes are on.
mkdir -p "$tmp/h2load-lib"
cp "$LIBSSL" "$LIBCRYPTO" "$tmp/h2load-lib/"
LOAD_ENV=(env "LD_LIBRARY_PATH=$tmp/h2load-lib")
checked_maps=""
# load_started PID (called while h2load runs): the first time, checks that h2load maps the private
# libssl and not the system one; then sleeps through the warm-up and takes the CPU times the
# measurement starts from (s0: nginx's worker, t0: the tracer).
load_started() {
  [ -z "$checked_maps" ] && check_maps "$1"
  sleep "$WARMUP"
  s0="$(cpu_ticks "$worker_pid")"
  t0=0
  if [ -n "$tracer_pid" ]; then t0="$(cpu_ticks "$tracer_pid")"; fi
}
check_maps() {
  local maps=""
  for _ in $(seq 100); do
    maps="$(grep libssl "/proc/$1/maps" 2>/dev/null || true)"
    [ -n "$maps" ] && break
    sleep 0.02
  done
  echo "$maps" | grep -q "$tmp/h2load-lib/libssl.so.3" ||
    die "h2load (pid $1) does not map the private libssl: ${maps:-no libssl in its maps}"
  echo "$maps" | grep -qv "$tmp/h2load-lib/" && die "h2load (pid $1) maps another libssl too: $maps"
  log "h2load maps $(echo "$maps" | awk '{ print $6 }' | sort -u | tr '\n' ' ')(private copy)"
  checked_maps=1
}

workload_args() {
  local tls="https://127.0.0.1:$PORT" plain="http://127.0.0.1:$PLAIN_PORT"
  case $1 in
    h1-300) echo "--h1 -c $CLIENTS $tls/" ;;
    h1-64k) echo "--h1 -c $CLIENTS $tls/64k.json" ;;
    h2-300) echo "-c $CLIENTS -m 10 $tls/" ;;
    h2-64k) echo "-c $CLIENTS -m 10 $tls/64k.json" ;;
    plain-300) echo "--h1 -c $CLIENTS $plain/" ;;
    plain-64k) echo "--h1 -c $CLIENTS $plain/64k.json" ;;
  esac
}

# ---- tracers ----------------------------------------------------------------------------------
probe_prog() {
  local prog="" f
  for f in SSL_write SSL_read SSL_write_ex SSL_read_ex; do
    prog+="uprobe:$LIBSSL:$f { @entry[\"$f\"] = count(); } "
    [ "$1" = entry-count ] && prog+="uretprobe:$LIBSSL:$f { @ret[\"$f\"] = count(); } "
  done
  echo "$prog"
}

# start_apitop MODE: apitop on the load CPU capturing both nginx processes, stdout counted by
# wc -l through a FIFO (64 KiB bodies make gigabytes of JSON).
start_apitop() {
  local flags=(--json)
  [ "$1" = apitop-no-plain ] && flags+=(--no-plain)
  # shellcheck disable=SC2206 # APITOP_ARGS is a list of flags, split on spaces on purpose
  flags+=($APITOP_ARGS)
  rm -f "$tmp/apitop.fifo" "$tmp/apitop.count"
  mkfifo "$tmp/apitop.fifo"
  wc -l <"$tmp/apitop.fifo" >"$tmp/apitop.count" &
  counter_pid=$!
  extra_pids=("$worker_pid" "$counter_pid")
  taskset -c "$LOAD_CPU" "$APITOP" "${flags[@]}" -p "$worker_pid" -p "$srv_pid" \
    >"$tmp/apitop.fifo" 2>"$tmp/apitop.err" &
  tracer_pid=$!
  wait_for "$tmp/apitop.err" "capturing pid $worker_pid " "$tracer_pid" apitop
}
# Bytes the counter has read so far: settles once apitop has printed what it holds.
counter_read() { awk '/^rchar:/ { print $2 }' "/proc/$counter_pid/io" 2>/dev/null || echo gone; }

# stop_apitop TAG: ends apitop and its counter; sets exch, whole, drops, conns and why (the
# incomplete exchanges by reason: "lost closed ended other").
stop_apitop() {
  stop_tracer || die "apitop failed: $(tail -5 "$tmp/apitop.err")"
  wait "$counter_pid" || die "the line counter failed"
  counter_pid=""
  extra_pids=("$worker_pid")
  local summary
  exch="$(tr -d ' ' <"$tmp/apitop.count")"
  summary="$(grep -E '^apitop: [0-9]+ exchanges' "$tmp/apitop.err" | tail -1 || true)"
  drops="$(echo "$summary" | grep -o "drops: [0-9]*" | head -1 | tr -dc 0-9)"
  conns="$(echo "$summary" | sed -n 's/.* \([0-9]*\) connections.*/\1/p')"
  # Whole: answered, no error, no body bytes lost (apitop's own count of the incomplete ones).
  local incomplete
  incomplete="$(echo "$summary" | grep -o "[0-9]* incomplete" | head -1 | tr -dc 0-9)"
  whole=$((exch - ${incomplete:-0}))
  local r n
  why=""
  for r in "lost in capture" "connection closed" "capture ended" "other"; do
    n="$(echo "$summary" | grep -o "$r [0-9]*" | head -1 | tr -dc 0-9)"
    why+="${n:-0} "
  done
  [ -n "$drops" ] || die "no summary line from apitop: $(tail -3 "$tmp/apitop.err")"
  [ "$drops" = 0 ] || log "apitop's summary: ${summary#apitop: }"
  cp "$tmp/apitop.err" "$tmp/apitop.err.$1"
}

# ---- one measurement --------------------------------------------------------------------------
results="$tmp/results.txt"
: >"$results"

measure() { # MODE WORKLOAD RUN
  local mode=$1 w=$2 run=$3 n0 n1 reqs meas rps ok s0 s1 t0 t1 srv_cpu hwm extra=""
  case $mode in
    entry-count | entry-only) start_bpftrace "$(probe_prog "$mode")" ;;
    apitop | apitop-no-plain) start_apitop "$mode" ;;
  esac
  n0="$(served)"
  load "$w" "$DURATION" "$tmp/h2load.out" --warm-up-time="$WARMUP" # sets s0, t0 (load_started)
  s1="$(cpu_ticks "$worker_pid")"
  n1="$(served)"
  reqs=$((n1 - n0 - 1))
  meas="$(load_result "$tmp/h2load.out")"
  rps="${meas% *}" ok="${meas#* }"
  [ "$ok" -gt 0 ] || die "h2load completed no request: $(tail -5 "$tmp/h2load.out")"
  srv_cpu="$(awk -v a="$s0" -v b="$s1" -v hz="$hz" -v d="$DURATION" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / d }')"
  record "$mode" "$w" rps "$rps"
  record "$mode" "$w" srvcpu "$srv_cpu"
  record "$mode" "$w" cpureq "$(awk -v a="$s0" -v b="$s1" -v hz="$hz" -v n="$ok" 'BEGIN { printf "%.3f", 1e6 * (b - a) / hz / n }')"
  record "$mode" "$w" ok "$ok"
  record "$mode" "$w" reqs "$reqs"
  case $mode in
    entry-count | entry-only)
      stop_tracer || die "bpftrace failed: $(cat "$tmp/bpftrace.err")"
      local hits
      hits="$(awk -F': ' '/^@(entry|ret)\[/ { n += $2 } END { print n + 0 }' "$tmp/bpftrace.out")"
      [ "$hits" -gt 0 ] || die "$mode: no probe on $LIBSSL fired: $(cat "$tmp/bpftrace.out" "$tmp/bpftrace.err")"
      record "$mode" "$w" hits "$hits"
      cp "$tmp/bpftrace.out" "$tmp/bpftrace.out.$w.$mode.$run"
      extra=", $(awk -v h="$hits" -v r="$reqs" 'BEGIN { printf "%.2f", h / r }') hits/req"
      ;;
    apitop | apitop-no-plain)
      settle_on counter_read
      t1="$(cpu_ticks "$tracer_pid")"
      hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$tracer_pid/status")"
      local exch whole drops conns why why_lost why_closed why_ended why_other
      stop_apitop "$w.$mode.$run"
      record "$mode" "$w" exch "$exch"
      record "$mode" "$w" whole "$whole"
      read -r why_lost why_closed why_ended why_other <<<"$why"
      record "$mode" "$w" lost "$why_lost"
      record "$mode" "$w" closed "$why_closed"
      record "$mode" "$w" ended "$why_ended"
      record "$mode" "$w" other "$why_other"
      record "$mode" "$w" drops "$drops"
      record "$mode" "$w" cpu "$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')"
      record "$mode" "$w" rss "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
      extra=", apitop: $exch exchanges ($whole whole; not whole: $why_lost lost in capture, $why_closed connection closed, $why_ended capture ended, $why_other other) for $reqs requests served, $drops drops, $(vals_last cpu) CPU-s, ${conns:-?} connections"
      ;;
  esac
  log "run $run/$RUNS $w $mode: $rps req/s, nginx CPU $srv_cpu% ($(vals_last cpureq) us/req)$extra"
}

# short_conns: CONNS sequential curl processes (a TLS connection each) while apitop captures
# nginx; records apitop's CPU time, exchanges, drops, requests served and the wall time.
short_conns() {
  local n0 n1 t0 t1 a b codes exch drops conns hwm
  start_apitop apitop
  n0="$(served)"
  t0="$(cpu_ticks "$tracer_pid")"
  a="$(date +%s.%N)"
  codes="$(for _ in $(seq "$CONNS"); do
    taskset -c "$LOAD_CPU" curl -sk -o /dev/null -w '%{http_code}/%{http_version}\n' "https://127.0.0.1:$PORT/" || echo failed
  done | sort | uniq -c | awk '{ printf "%s%s x%s", (NR > 1 ? ", " : ""), $2, $1 }')"
  b="$(date +%s.%N)"
  settle_on counter_read
  t1="$(cpu_ticks "$tracer_pid")"
  hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$tracer_pid/status")"
  n1="$(served)"
  stop_apitop "curl"
  record conns curl exch "$exch"
  record conns curl drops "$drops"
  record conns curl conns "${conns:-?}"
  record conns curl reqs "$((n1 - n0 - 1))"
  record conns curl cpu "$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')"
  record conns curl rss "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
  record conns curl wall "$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.1f", b - a }')"
  echo "$codes" >"$tmp/curl-codes"
  log "$CONNS curl connections: $codes; apitop: $exch exchanges, $drops drops, $(vals_last cpu) CPU-s"
}

# ---- the runs ---------------------------------------------------------------------------------
log "$RUNS runs x $n (workload, mode) pairs, ${WARMUP}s warm-up + ${DURATION}s each, then $CONNS curls (~$(((RUNS * secs + CONNS / 30 + 10) / 60 + 1)) min)"
for run in $(seq "$RUNS"); do
  for w in $WORKLOADS; do
    for mode in $MODES; do
      runs "$mode" "$w" && measure "$mode" "$w" "$run"
    done
  done
done
[ "$CONNS" -gt 0 ] && short_conns

# syscall_tax: the best of 5 `dd bs=1` runs (SYSCALLS reads and as many writes) on the server's
# CPU (nginx idle by now; apitop is on the other), untraced and while apitop captures nginx with
# and without plain capture. dd is no target: what it pays is the system call tracepoints' cost
# to every process on the host.
dd_best() {
  local best="" t a b
  for _ in 1 2 3 4 5; do
    a="$(date +%s.%N)"
    taskset -c "$SERVER_CPU" dd if=/dev/zero of=/dev/null bs=1 count="$SYSCALLS" 2>/dev/null
    b="$(date +%s.%N)"
    t="$(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.4f", b - a }')"
    if [ -z "$best" ] || awk -v t="$t" -v m="$best" 'BEGIN { exit !(t < m) }'; then best=$t; fi
  done
  echo "$best"
}
syscall_tax() {
  local m
  record tax none secs "$(dd_best)"
  for m in apitop apitop-no-plain; do
    start_apitop "$m"
    record tax "$m" secs "$(dd_best)"
    stop_apitop "tax.$m"
  done
  log "dd bs=1 count=$SYSCALLS: $(vals tax none secs) s untraced, $(vals tax apitop secs) s under apitop, $(vals tax apitop-no-plain secs) s with --no-plain"
}
[ "$SYSCALLS" -gt 0 ] && syscall_tax

# ---- the table --------------------------------------------------------------------------------
echo
echo "nginx $("$NGINX" -v 2>&1 | sed 's/.*nginx\///') over TLS ($(basename "$(readlink -f "$LIBSSL")")), 1 worker on CPU $SERVER_CPU; h2load (private libssl copy) and the tracer on CPU $LOAD_CPU; $(uname -r)"
echo "Medians of $RUNS runs of ${DURATION}s after ${WARMUP}s warm-up, $CLIENTS connections (HTTP/2: 10 streams each). x untr = req/s"
echo "over untraced; nginx cpu = the worker's CPU busy share; cpu us/req = its CPU time (user+sys, probe handlers included)"
echo "per request and +cpu us its rise over untraced: the cost even when h2load (sharing its CPU with the tracer) is the"
echo "bottleneck. hits/req = bpftrace probe hits per request served. whole/reqs = apitop's exchanges captured whole"
echo "(answered, no error, no body bytes lost) / requests nginx served while it was attached (all runs, warm-up"
echo "included); cpu-s = apitop's CPU time over the ${DURATION}s run and"
echo "its drain (median); RSS = apitop's peak (max over runs); drops = apitop's drops (sum over runs)."
printf '%-9s %-15s %7s %6s %6s %7s %8s %8s %10s %6s %7s %6s\n' \
  workload mode "req/s" "x untr" "nginx" "cpu us" "+cpu us" "hits/req" "whole/reqs" "cpu-s" "RSS MiB" drops
printf '%-9s %-15s %7s %6s %6s %7s %8s %8s %10s %6s %7s %6s\n' "" "" "" "" "cpu" "/req" "/req" "" "" "" "" ""
for w in $WORKLOADS; do
  base="$(vals untraced "$w" rps | median)"
  base_cpu="$(vals untraced "$w" cpureq | median)"
  for mode in $MODES; do
    runs "$mode" "$w" || continue
    rps="$(vals "$mode" "$w" rps | median)"
    cpureq="$(vals "$mode" "$w" cpureq | median)"
    ratio="-" added_cpu="-"
    if [ "$base" != nan ] && [ "$mode" != untraced ]; then
      ratio="$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.3f", a / b }')"
      added_cpu="$(awk -v a="$cpureq" -v b="$base_cpu" 'BEGIN { printf "%+.2f", a - b }')"
    fi
    [ "$mode" = untraced ] && ratio="1.000" added_cpu="0"
    hits="-" capt="-" cpu="-" rss="-" drops="-"
    r="$(vals "$mode" "$w" reqs | sum)"
    case $mode in
      entry-count | entry-only)
        hits="$(awk -v h="$(vals "$mode" "$w" hits | sum)" -v r="$r" 'BEGIN { printf "%.2f", h / r }')"
        ;;
      apitop | apitop-no-plain)
        capt="$(awk -v e="$(vals "$mode" "$w" whole | sum)" -v r="$r" 'BEGIN { printf "%.2f%%", 100 * e / r }')"
        cpu="$(vals "$mode" "$w" cpu | median)"
        rss="$(vals "$mode" "$w" rss | sort -g | tail -1)"
        drops="$(vals "$mode" "$w" drops | sum)"
        ;;
    esac
    printf '%-9s %-15s %7.0f %6s %5s%% %7.2f %8s %8s %10s %6s %7s %6s\n' \
      "$w" "$mode" "$rps" "$ratio" "$(vals "$mode" "$w" srvcpu | median)" "$cpureq" "$added_cpu" \
      "$hits" "$capt" "$cpu" "$rss" "$drops"
  done
done
low="$(awk '$3 == "srvcpu" && $4 < 90' "$results" | wc -l)"
if [ "$low" -gt 0 ]; then
  echo "NOTE: nginx's CPU was under 90% busy in $low runs: there the load generator (or other load on the machine)"
  echo "  was the bottleneck, req/s understates what nginx could do and x untr mixes in the tracer's CPU use on"
  echo "  CPU $LOAD_CPU; the cpu us/req columns still hold."
fi
if [[ " $MODES " == *" apitop"* ]]; then
  echo "Totals over the runs (exchanges captured / requests nginx served while apitop was attached; h2load's"
  echo "succeeded count covers the measured ${DURATION}s only):"
  for w in $WORKLOADS; do
    for mode in apitop apitop-no-plain; do
      [[ " $MODES " == *" $mode "* ]] && runs "$mode" "$w" || continue
      printf '  %-9s %-15s %9s exchanges (%s whole) for %9s requests served (h2load: %s succeeded), %s drops\n' "$w" "$mode" \
        "$(vals "$mode" "$w" exch | sum)" "$(vals "$mode" "$w" whole | sum)" "$(vals "$mode" "$w" reqs | sum)" "$(vals "$mode" "$w" ok | sum)" \
        "$(vals "$mode" "$w" drops | sum)"
      printf '  %-25s not whole: %s lost in capture, %s connection closed mid-exchange, %s capture ended, %s other\n' "" \
        "$(vals "$mode" "$w" lost | sum)" "$(vals "$mode" "$w" closed | sum)" "$(vals "$mode" "$w" ended | sum)" "$(vals "$mode" "$w" other | sum)"
    done
  done
fi
if [ "$SYSCALLS" -gt 0 ]; then
  base="$(vals tax none secs)"
  echo "System calls of a process that is not a target (dd bs=1 count=$SYSCALLS, $((2 * SYSCALLS)) calls, best of 5):"
  for m in none apitop apitop-no-plain; do
    printf '  %-16s %7.3f s  %+6.0f ns per call\n' "$m" "$(vals tax "$m" secs)" \
      "$(awk -v t="$(vals tax "$m" secs)" -v b="$base" -v n="$SYSCALLS" 'BEGIN { print (t - b) / (2 * n) * 1e9 }')"
  done
fi
if [ "$CONNS" -gt 0 ]; then
  echo "$CONNS short connections: sequential curl -sk https://127.0.0.1:$PORT/ ($(cat "$tmp/curl-codes")) on CPU $LOAD_CPU"
  echo "  while apitop (plain capture on) captures nginx: $(vals conns curl exch) exchanges captured for $(vals conns curl reqs) requests served,"
  echo "  $(vals conns curl conns) connections, $(vals conns curl drops) drops; apitop CPU $(vals conns curl cpu) s, peak RSS $(vals conns curl rss) MiB; $(vals conns curl wall) s wall."
fi
