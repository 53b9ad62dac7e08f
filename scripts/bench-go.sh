#!/usr/bin/env bash
# What probing Go crypto/tls costs a real Go HTTPS server: apitop's probe sites (instructions the
# kernel emulates) against the functions' first instructions (single-stepped, what other tools
# probe). Prints one table. Root; installs bpftrace and h2load (nghttp2-client) with apt-get.
#
#   sudo bash scripts/bench-go.sh                  # about 6 minutes
#   sudo DURATION=5 RUNS=1 bash scripts/bench-go.sh
#
# Server: target/go-fixtures/gohttps-stripped (Go 1.19, stripped PIE, tests/go/gohttps) with
# GOMAXPROCS=1 pinned to CPU $SERVER_CPU; h2load on CPU $LOAD_CPU keeps it saturated, so
# 1e6/(req/s) is the CPU time spent per request and its rise over `untraced` is what tracing adds
# (uprobe handlers run on the server's CPU, in its threads). The table also gives the server's
# own CPU time per request (/proc), which leaves out other processes on its CPU. bpftrace runs on
# the load CPU; apitop on the server's (APITOP_CPU): its user-space work then comes out of the
# saturated CPU and shows in req/s, where on the load CPU it would starve h2load, leave the
# server idle part of the time and inflate every per-request figure.
#
# Modes:    untraced     nothing attached
#           entry-count  bpftrace count-only uprobes on the first instruction of
#                        crypto/tls.(*Conn).Write and .Read (single-stepped)
#           sites-count  bpftrace count-only uprobes on apitop's sites (Write entry site, Read
#                        entry site, Read's copy call): placement cost without capture cost
#           apitop       apitop --json --no-plain -p SERVER: the full capture
# Workloads: h2 (h2load -c 8 -m 10, GET /items/42), h1 (--h1 -c 8), and opt-in h2-post, h1-post
#           (POST /echo, a 190-byte JSON body).
# Each (run, workload, mode): tracer attached, WARMUP s of load, then DURATION s measured.
# Modes are interleaved within a run; the table shows medians over RUNS runs.
#
# Environment: DURATION (10), RUNS (3), WARMUP (2), PORT (39443), SERVER_CPU (0), LOAD_CPU (1),
#   APITOP_CPU (SERVER_CPU), MODES ("untraced entry-count sites-count apitop"), WORKLOADS
#   ("h2 h1"), KEEP (a directory to copy the raw logs and per-run results into), OTHER_MAX (5) and
#   RETRIES (6): a run in which other processes took more than OTHER_MAX % of the two CPUs is
#   measured again once they calm down (RETRIES repeats in all, at most), else kept and counted in
#   the table's footnote.
set -euo pipefail

BENCH=bench-go
DURATION="${DURATION:-10}"
RUNS="${RUNS:-3}"
WARMUP="${WARMUP:-2}"
PORT="${PORT:-39443}"
SERVER_CPU="${SERVER_CPU:-0}"
LOAD_CPU="${LOAD_CPU:-1}"
APITOP_CPU="${APITOP_CPU:-$SERVER_CPU}"
MODES="${MODES:-untraced entry-count sites-count apitop}"
WORKLOADS="${WORKLOADS:-h2 h1}"
KEEP="${KEEP:-}"
RETRIES="${RETRIES:-6}"
OTHER_MAX="${OTHER_MAX:-5}"

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"

[ "$(id -u)" -eq 0 ] || die "must run as root (uprobes, bpftrace, apitop): sudo bash $0"
[ "$(uname -m)" = x86_64 ] || die "x86-64 only (apitop's Go probe sites are decoded x86-64)"
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs: the server on one, the load generator on the other"
require_whole_numbers DURATION RUNS WARMUP PORT SERVER_CPU LOAD_CPU APITOP_CPU RETRIES OTHER_MAX
[ "$RUNS" -ge 1 ] && [ "$DURATION" -ge 1 ] || die "RUNS and DURATION must be at least 1"
for m in $MODES; do
  case $m in untraced | entry-count | sites-count | apitop) ;; *) die "unknown mode '$m'" ;; esac
done
for w in $WORKLOADS; do
  case $w in h2 | h1 | h2-post | h1-post) ;; *) die "unknown workload '$w'" ;; esac
done

cd "$root"

# ---- background processes ---------------------------------------------------------------------
bench_tmp

# ---- tools and builds -------------------------------------------------------------------------
install_missing bpftrace=bpftrace h2load=nghttp2-client openssl=openssl curl=curl taskset=util-linux
log "setup, Go fixtures, release builds"
quietly bash scripts/setup.sh
quietly bash scripts/go-fixtures.sh
quietly cargo build --release -p apitop
quietly cargo build --release -p capture --example go_sites
tdir="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')"
APITOP="$tdir/release/apitop"
GO_SITES="$tdir/release/examples/go_sites"
GOBIN="$root/target/go-fixtures/gohttps-stripped"
for f in "$APITOP" "$GO_SITES" "$GOBIN"; do [ -x "$f" ] || die "missing $f after the builds"; done

warn_if_busy

# ---- server -----------------------------------------------------------------------------------
curl -sk --max-time 1 "https://127.0.0.1:$PORT/" >/dev/null 2>&1 &&
  die "something already listens on 127.0.0.1:$PORT (set PORT)"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$tmp/key.pem" -out "$tmp/cert.pem" >/dev/null 2>&1 || die "openssl could not make a certificate"
printf '{"user":"bench","items":[%s],"note":"%s"}' "$(seq -s, 1 30)" "$(head -c 80 /dev/zero | tr '\0' x)" >"$tmp/body.json"

GOMAXPROCS=1 taskset -c "$SERVER_CPU" "$GOBIN" server "127.0.0.1:$PORT" "$tmp/cert.pem" "$tmp/key.pem" \
  >"$tmp/server.log" 2>&1 &
srv_pid=$!
for _ in $(seq 100); do
  curl -sk --max-time 1 "https://127.0.0.1:$PORT/items/42" >/dev/null 2>&1 && break
  kill -0 "$srv_pid" 2>/dev/null || die "the Go server exited: $(cat "$tmp/server.log")"
  sleep 0.1
done
curl -sk --max-time 1 "https://127.0.0.1:$PORT/items/42" | grep -q '"id":"42"' ||
  die "the Go server does not answer on 127.0.0.1:$PORT: $(cat "$tmp/server.log")"
log "server pid $srv_pid on CPU $SERVER_CPU: $GOBIN"

# ---- probe addresses --------------------------------------------------------------------------
"$GO_SITES" "$GOBIN" >"$tmp/sites.txt" || die "go_sites refused $GOBIN: $(cat "$tmp/sites.txt")"
sed 's/^/  /' "$tmp/sites.txt" >&2
# site_field KEY FIELD: e.g. site_field entry.write offset -> 0x1a1fc0
site_field() { awk -v k="$1" -v f="$2" '$1 == k { for (i = 2; i <= NF; i++) if (index($i, f "=") == 1) print substr($i, length(f) + 2) }' "$tmp/sites.txt"; }
# bpftrace 0.17 reads `uprobe:BIN:0xADDR` two ways: with a symbol table, ADDR is a virtual
# address (resolved through the symbol containing it); in a stripped binary it needs --unsafe
# and is used as the *file offset* as is. gohttps-stripped is a PIE whose segments are linked
# at 0x400000 + file offset, so the two differ by 0x400000: pass file offsets.
declare -A PROBES_AT
entry_probes=""
for k in write read; do
  off="$(site_field "entry.$k" offset)"
  [[ "$off" =~ ^0x[0-9a-f]+$ ]] || die "no file offset for entry.$k in go_sites output"
  entry_probes+="$k-entry=$off "
done
site_probes=""
for k in write read read_copy; do
  off="$(site_field "site.$k" offset)"
  if [ -z "$off" ] && [ "$k" = read_copy ]; then
    # No single copy call: apitop completes reads at Read's rets instead.
    for r in $(awk '$1 ~ /^site\.read_ret\./ { print $1 }' "$tmp/sites.txt"); do
      site_probes+="${r#site.}=$(site_field "$r" offset) "
    done
    continue
  fi
  [[ "$off" =~ ^0x[0-9a-f]+$ ]] || die "no file offset for site.$k in go_sites output"
  site_probes+="$k-site=$off "
done
PROBES_AT[entry-count]="$entry_probes"
PROBES_AT[sites-count]="$site_probes"

# ---- one measurement --------------------------------------------------------------------------
workload_args() {
  local url="https://127.0.0.1:$PORT"
  case $1 in
    h2) echo "-c 8 -m 10 $url/items/42" ;;
    h1) echo "--h1 -c 8 $url/items/42" ;;
    h2-post) echo "-c 8 -m 10 -d $tmp/body.json $url/echo" ;;
    h1-post) echo "--h1 -c 8 -d $tmp/body.json $url/echo" ;;
  esac
}
workload_path() { case $1 in h2 | h1) echo /items/42 ;; *) echo /echo ;; esac; }

# probes_prog MODE: a bpftrace program counting the hits on the mode's probes.
probes_prog() {
  local prog="" p name off
  for p in ${PROBES_AT[$1]}; do
    name="${p%%=*}" off="${p#*=}"
    prog+="uprobe:$GOBIN:$off { @hits[\"$name\"] = count(); } "
  done
  echo "$prog"
}

start_apitop() {
  taskset -c "$APITOP_CPU" "$APITOP" --json --no-plain -p "$srv_pid" >"$tmp/apitop.out" 2>"$tmp/apitop.err" &
  tracer_pid=$!
  wait_for "$tmp/apitop.err" 'capturing pid' "$tracer_pid" apitop
}

results="$tmp/results.txt"
: >"$results"

# Other processes on the two CPUs skew a run; it is measured by what is left of the CPUs' busy
# time once the server, the tracer, and this script's children (h2load) are taken out; time the
# hypervisor gave to other guests (steal) counts too.
# cpus_busy: user+nice+system+steal ticks of SERVER_CPU and LOAD_CPU (each once).
cpus_busy() {
  awk -v a="cpu$SERVER_CPU" -v b="cpu$LOAD_CPU" '$1 == a || $1 == b { n += $2 + $3 + $4 + $9 } END { print n + 0 }' /proc/stat
}
# own_ticks: this script's CPU time and its waited-for children's (h2load, awk...).
own_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$$/stat"; }
n_cpus=2
[ "$SERVER_CPU" = "$LOAD_CPU" ] && n_cpus=1

# measure MODE WORKLOAD RUN [ATTEMPT]: one measurement, its figures into $results.
measure() {
  local mode=$1 w=$2 run=$3 attempt=${4:-1} warm meas ok_warm rps ok t0 t1 tt0 tt1 s0 s1 b0 b1 o0 o1 srv_cpu busy other
  local extra=""
  case $mode in
    entry-count | sites-count) start_bpftrace "$(probes_prog "$mode")" ;;
    apitop) start_apitop ;;
  esac
  load "$w" "$WARMUP" "$tmp/h2load.warm"
  warm="$(load_result "$tmp/h2load.warm")"
  ok_warm="${warm#* }"
  tt0=0 tt1=0
  b0="$(cpus_busy)" o0="$(own_ticks)"
  s0="$(cpu_ticks "$srv_pid")"
  [ -n "$tracer_pid" ] && tt0="$(cpu_ticks "$tracer_pid")"
  t0=$tt0
  load "$w" "$DURATION" "$tmp/h2load.out"
  s1="$(cpu_ticks "$srv_pid")"
  [ -n "$tracer_pid" ] && tt1="$(cpu_ticks "$tracer_pid")"
  b1="$(cpus_busy)" o1="$(own_ticks)"
  other="$(awk -v b="$((b1 - b0))" -v s="$((s1 - s0))" -v t="$((tt1 - tt0))" -v o="$((o1 - o0))" -v hz="$hz" -v d="$DURATION" -v n="$n_cpus" \
    'BEGIN { x = 100 * (b - s - t - o) / (hz * d * n); printf "%.0f", x < 0 ? 0 : x }')"
  meas="$(load_result "$tmp/h2load.out")"
  rps="${meas% *}" ok="${meas#* }"
  srv_cpu="$(awk -v a="$s0" -v b="$s1" -v hz="$hz" -v d="$DURATION" 'BEGIN { printf "%.0f", 100 * (b - a) / hz / d }')"
  record "$mode" "$w" rps "$rps"
  record "$mode" "$w" srvcpu "$srv_cpu"
  busy="$srv_cpu" # how busy the server's CPU was with the server (and apitop, when on it)
  record "$mode" "$w" cpureq "$(awk -v a="$s0" -v b="$s1" -v hz="$hz" -v n="$ok" 'BEGIN { printf "%.3f", 1e6 * (b - a) / hz / n }')"
  case $mode in
    entry-count | sites-count)
      stop_tracer || die "bpftrace failed: $(cat "$tmp/bpftrace.err")"
      local hits
      hits="$(awk -F': ' '/^@hits\[/ { n += $2 } END { print n + 0 }' "$tmp/bpftrace.out")"
      # Every probe must fire, or its address is wrong (file offset vs virtual address).
      for p in ${PROBES_AT[$mode]}; do
        grep -q "^@hits\[${p%%=*}\]: [1-9]" "$tmp/bpftrace.out" ||
          die "$mode: the probe ${p%%=*} at file offset ${p#*=} never fired: $(cat "$tmp/bpftrace.out" "$tmp/bpftrace.err")"
      done
      record "$mode" "$w" hits "$hits"
      record "$mode" "$w" reqs "$((ok_warm + ok))"
      extra=", $(awk -v h="$hits" -v r="$((ok_warm + ok))" 'BEGIN { printf "%.2f", h / r }') hits/req"
      ;;
    apitop)
      settle "$tmp/apitop.out"
      t1="$(cpu_ticks "$tracer_pid")"
      local hwm exch matching errors summary drops
      hwm="$(awk '/^VmHWM:/ { print $2 }' "/proc/$tracer_pid/status")"
      stop_tracer || die "apitop failed: $(tail -5 "$tmp/apitop.err")"
      exch="$(wc -l <"$tmp/apitop.out")"
      # Complete exchanges of the workload's path; those with an "error" are the requests in
      # flight when h2load closed its connections ("connection closed") or worse.
      matching="$(grep -v '"error":' "$tmp/apitop.out" | grep -c "\"path\":\"$(workload_path "$w")\"" || true)"
      errors="$(grep -c '"error":' "$tmp/apitop.out" || true)"
      grep -o '"error":"[^"]*"' "$tmp/apitop.out" | sort | uniq -c >"$tmp/apitop.errors.$w.$run" || true
      summary="$(grep -E '[0-9]+ exchanges' "$tmp/apitop.err" | tail -1 || true)"
      drops="$(echo "$summary" | grep -o "drops: [0-9]*" | head -1 | tr -dc 0-9)"
      [ "$exch" -gt 0 ] || die "apitop captured nothing: $(tail -5 "$tmp/apitop.err")"
      record "$mode" "$w" exch "$exch"
      record "$mode" "$w" matching "$matching"
      record "$mode" "$w" errors "$errors"
      record "$mode" "$w" reqs "$((ok_warm + ok))"
      record "$mode" "$w" cpu "$(awk -v a="$t0" -v b="$t1" -v hz="$hz" 'BEGIN { printf "%.2f", (b - a) / hz }')"
      record "$mode" "$w" apreq "$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v n="$ok" 'BEGIN { printf "%.3f", 1e6 * (b - a) / hz / n }')"
      [ "$APITOP_CPU" = "$SERVER_CPU" ] &&
        busy="$(awk -v s="$srv_cpu" -v a="$t0" -v b="$t1" -v hz="$hz" -v d="$DURATION" 'BEGIN { printf "%.0f", s + 100 * (b - a) / hz / d }')"
      record "$mode" "$w" rss "$(awk -v k="$hwm" 'BEGIN { printf "%.1f", k / 1024 }')"
      record "$mode" "$w" drops "$drops"
      [ -n "$drops" ] || die "no summary line from apitop: $(tail -3 "$tmp/apitop.err")"
      extra=", apitop: $exch exchanges for $((ok_warm + ok)) requests, $drops drops, $(vals_last cpu) CPU-s ($(vals_last apreq) us/req)"
      cp "$tmp/apitop.err" "$tmp/apitop.err.$w.$run"
      rm -f "$tmp/apitop.out"
      ;;
  esac
  record "$mode" "$w" busy "$busy"
  record "$mode" "$w" other "$other"
  local again=""
  [ "$attempt" -gt 1 ] && again=" (attempt $attempt)"
  log "run $run/$RUNS$again $w $mode: $rps req/s, server CPU $srv_cpu% ($(vals_last cpureq) us/req)$extra, other processes ${other}%"
}

# wait_calm: until a second in which CPUs SERVER_CPU and LOAD_CPU are at most OTHER_MAX % busy
# (nothing of ours runs between measurements), 30 s at most.
wait_calm() {
  local b0 b1
  for _ in $(seq 30); do
    b0="$(cpus_busy)"
    sleep 1
    b1="$(cpus_busy)"
    [ $((100 * (b1 - b0))) -le $((OTHER_MAX * hz * n_cpus)) ] && return 0
  done
}

# measure_clean MODE WORKLOAD RUN: measure, and again while other processes took more than
# OTHER_MAX % of the two CPUs and retries_left; the last attempt counts, flagged.
retries_left=$RETRIES
measure_clean() {
  local attempt=1 all="$results" results="$tmp/attempt.txt" other
  while :; do
    : >"$results"
    measure "$@" "$attempt"
    other="$(vals_last other)"
    [ "$other" -le "$OTHER_MAX" ] && break
    [ "$retries_left" -gt 0 ] || break
    retries_left=$((retries_left - 1)) attempt=$((attempt + 1))
    log "  other processes (or steal) took ${other}% of CPUs $SERVER_CPU,$LOAD_CPU: measuring again once they calm down"
    wait_calm
  done
  cat "$results" >>"$all"
  [ "$other" -le "$OTHER_MAX" ] || echo "$1 $2 skewed 1" >>"$all"
}

# ---- the runs ---------------------------------------------------------------------------------
n_modes=$(echo $MODES | wc -w) n_work=$(echo $WORKLOADS | wc -w)
log "$RUNS runs x $n_work workloads x $n_modes modes, ${WARMUP}s warm-up + ${DURATION}s each (~$((RUNS * n_work * n_modes * (WARMUP + DURATION + 2) / 60 + 1)) min)"
for run in $(seq "$RUNS"); do
  for w in $WORKLOADS; do
    for mode in $MODES; do
      measure_clean "$mode" "$w" "$run"
    done
  done
done

# ---- the table --------------------------------------------------------------------------------
echo
echo "Go crypto/tls probe cost: $(basename "$GOBIN") ($(awk '$1 == "version" { print $2 }' "$tmp/sites.txt")), GOMAXPROCS=1 on CPU $SERVER_CPU, h2load on CPU $LOAD_CPU, apitop on CPU $APITOP_CPU, $(uname -r)"
echo "Medians of $RUNS runs of ${DURATION}s (after ${WARMUP}s warm-up). +us/req = 1e6/rps - 1e6/rps(untraced): the CPU time"
echo "added per request while CPU $SERVER_CPU is saturated (apitop rows: its own work included). cpu us = the server's"
echo "CPU time (user+sys, probe handlers included) per request, +cpu us its rise: the probes' share, whatever else"
echo "runs on CPU $SERVER_CPU. Both need CPU $SERVER_CPU saturated: a server that idles spends more per request."
echo "srv cpu = the server's share of CPU $SERVER_CPU (apitop rows: apitop has most of the rest)."
echo "hits/req = probe hits per request; us/hit = +cpu / hits/req (uprobe + a count-only BPF program)."
echo "apitop: exch/reqs = complete exchanges printed / requests completed; cpu-s, us/req = apitop's own CPU time per run, per req."
printf '%-11s %-7s %7s %6s %8s %7s %7s %7s %8s %6s %9s %6s %6s %7s %5s\n' \
  mode workload "req/s" "x untr" "+us/req" "srv cpu" "cpu us" "+cpu us" "hits/req" "us/hit" "exch/reqs" "cpu-s" "us/req" "RSS MiB" drops
for w in $WORKLOADS; do
  base="$(vals untraced "$w" rps | median)"
  base_cpu="$(vals untraced "$w" cpureq | median)"
  for mode in $MODES; do
    rps="$(vals "$mode" "$w" rps | median)"
    cpureq="$(vals "$mode" "$w" cpureq | median)"
    ratio="-" added="-" added_cpu="-"
    if [ "$base" != nan ] && [ "$mode" != untraced ]; then
      ratio="$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%.3f", a / b }')"
      added="$(awk -v a="$rps" -v b="$base" 'BEGIN { printf "%+.2f", 1e6 / a - 1e6 / b }')"
      added_cpu="$(awk -v a="$cpureq" -v b="$base_cpu" 'BEGIN { printf "%+.2f", a - b }')"
    fi
    [ "$mode" = untraced ] && ratio="1.000" added="0" added_cpu="0"
    hits="-" perhit="-" capt="-" cpu="-" apreq="-" rss="-" drops="-"
    case $mode in
      entry-count | sites-count)
        hits="$(awk -v h="$(vals "$mode" "$w" hits | sum)" -v r="$(vals "$mode" "$w" reqs | sum)" 'BEGIN { printf "%.2f", h / r }')"
        [ "$added_cpu" != - ] && perhit="$(awk -v a="$added_cpu" -v h="$hits" 'BEGIN { printf "%.2f", a / h }')"
        ;;
      apitop)
        e="$(vals apitop "$w" matching | sum)" r="$(vals apitop "$w" reqs | sum)"
        capt="$(awk -v e="$e" -v r="$r" 'BEGIN { printf "%.2f%%", 100 * e / r }')"
        cpu="$(vals apitop "$w" cpu | median)"
        apreq="$(printf '%.2f' "$(vals apitop "$w" apreq | median)")"
        rss="$(vals apitop "$w" rss | sort -g | tail -1)"
        drops="$(vals apitop "$w" drops | sum)"
        ;;
    esac
    printf '%-11s %-7s %7.0f %6s %8s %6s%% %7.2f %7s %8s %6s %9s %6s %6s %7s %5s\n' \
      "$mode" "$w" "$rps" "$ratio" "$added" "$(vals "$mode" "$w" srvcpu | median)" "$cpureq" "$added_cpu" \
      "$hits" "$perhit" "$capt" "$cpu" "$apreq" "$rss" "$drops"
  done
done
skewed="$(awk '$3 == "skewed"' "$results" | wc -l)"
if [ "$skewed" -gt 0 ]; then
  echo "NOTE: in $skewed of $((RUNS * n_work * n_modes)) runs other processes took over ${OTHER_MAX}% of CPUs $SERVER_CPU,$LOAD_CPU (after"
  echo "  $((RETRIES - retries_left)) repeats): the machine was busy, those figures are skewed (the log has 'other processes' per run)."
fi
low="$(awk '$3 == "busy" && $4 < 90' "$results" | wc -l)"
if [ "$low" -gt 0 ]; then
  echo "NOTE: CPU $SERVER_CPU was under 90% busy with the server in $low of $((RUNS * n_work * n_modes)) runs (other load"
  echo "  on the machine, or CPU $LOAD_CPU saturated): there +us/req overstates the cost; the cpu columns less so."
fi
if [[ " $MODES " == *" apitop "* ]]; then
  echo "apitop: exch/reqs over all runs, warm-ups included (over 100%: requests in flight when h2load stopped, which the"
  echo "server still answered); cpu-s over one ${DURATION}s run (median); RSS = peak; drops summed."
  for w in $WORKLOADS; do
    e="$(vals apitop "$w" exch | sum)" r="$(vals apitop "$w" reqs | sum)" m="$(vals apitop "$w" matching | sum)"
    x="$(vals apitop "$w" errors | sum)"
    echo "  $w: $e exchanges printed for $r requests: $m complete $(workload_path "$w"), $x with an error$(
      cat "$tmp"/apitop.errors."$w".* 2>/dev/null | awk '{ n = $1; $1 = ""; c[$0] += n } END { for (k in c) printf "; %d%s", c[k], k }')"
  done
fi
