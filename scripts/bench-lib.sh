# Helpers shared by the benchmarks (scripts/bench-*.sh), sourced, never run. The sourcing script
# sets BENCH (its name, for messages) first and, before calling the helpers that read them: tmp
# (from bench_tmp), results, LOAD_CPU, KEEP, and a workload_args function (h2load arguments for a
# workload name).
# shellcheck shell=bash

die() {
  echo "$BENCH: error: $*" >&2
  exit 1
}
log() { echo "$BENCH: $*" >&2; }

# require_whole_numbers VAR...: each set to a whole number.
require_whole_numbers() {
  local v
  for v in "$@"; do
    [[ "${!v}" =~ ^[0-9]+$ ]] || die "$v must be a whole number, not '${!v}'"
  done
}

# ---- background processes ---------------------------------------------------------------------
# bench_tmp: makes the scratch directory $tmp and ends every background process on exit:
# tracer_pid (bpftrace, apitop) gets SIGINT, which they handle (detach, print what they hold);
# load_pid, srv_pid and extra_pids get SIGTERM (background jobs of a script start with SIGINT
# ignored); any still there 5 s later, SIGKILL. KEEP, if set, gets a copy of $tmp.
srv_pid=""
tracer_pid=""
load_pid=""
extra_pids=()
bench_tmp() {
  tmp="$(mktemp -d "/tmp/apitop-$BENCH.XXXXXX")"
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}
bench_cleanup() {
  local rc=$? p
  trap - EXIT INT TERM
  set +e
  [ -n "$tracer_pid" ] && kill -INT "$tracer_pid" 2>/dev/null
  for p in "$load_pid" "$srv_pid" "${extra_pids[@]}"; do
    [ -n "$p" ] && kill -TERM "$p" 2>/dev/null
  done
  for p in "$load_pid" "$tracer_pid" "$srv_pid" "${extra_pids[@]}"; do
    [ -z "$p" ] && continue
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null
    wait "$p" 2>/dev/null
  done
  if [ -n "$KEEP" ]; then
    mkdir -p "$KEEP" && cp -r "$tmp"/. "$KEEP"/ && log "raw logs kept in $KEEP"
  fi
  rm -rf "$tmp"
  exit "$rc"
}

# ---- tools and builds -------------------------------------------------------------------------
# install_missing COMMAND=PACKAGE...: apt-get installs the packages whose command is missing.
install_missing() {
  local need_pkgs=() c
  for c in "$@"; do
    command -v "${c%%=*}" >/dev/null 2>&1 || need_pkgs+=("${c#*=}")
  done
  if [ ${#need_pkgs[@]} -gt 0 ]; then
    log "installing ${need_pkgs[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_pkgs[@]}" >/dev/null
  fi
}

# quietly CMD...: its output only when it fails.
quietly() { "$@" >"$tmp/build.log" 2>&1 || { tail -40 "$tmp/build.log" >&2; die "failed: $*"; }; }

# warn_if_busy: other work on the machine takes CPU from the pinned server and skews every
# figure: say so.
warn_if_busy() {
  local t0 i0 t1 i1 idle
  read -r t0 i0 < <(cpu_idle)
  sleep 2
  read -r t1 i1 < <(cpu_idle)
  idle=$((100 * (i1 - i0) / (t1 - t0 + 1)))
  [ "$idle" -ge 85 ] || log "WARNING: the machine is busy (${idle}% idle before the runs): figures will be skewed"
}
cpu_idle() { awk '/^cpu / { print $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9, $5 + $6 }' /proc/stat; }

hz="$(getconf CLK_TCK)"
# utime+stime of a whole process, in clock ticks.
cpu_ticks() { awk '{ sub(/^.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# ---- load -------------------------------------------------------------------------------------
# load WORKLOAD SECONDS OUT [H2LOAD ARGS...]: h2load on the load CPU, its output in OUT. LOAD_ENV
# (an array, e.g. (env LD_LIBRARY_PATH=DIR)) prefixes the command; a load_started function, if
# defined, is called with h2load's pid while it runs.
LOAD_ENV=()
load() {
  local w=$1 secs=$2 out=$3
  shift 3
  # shellcheck disable=SC2046
  "${LOAD_ENV[@]}" taskset -c "$LOAD_CPU" h2load $(workload_args "$w") -D "$secs" "$@" >"$out" 2>&1 &
  load_pid=$!
  if declare -F load_started >/dev/null; then load_started "$load_pid"; fi
  local rc=0
  wait "$load_pid" || rc=$?
  load_pid=""
  [ "$rc" -eq 0 ] || die "h2load failed ($rc): $(tail -5 "$out")"
  awk -v b="$BENCH" '/^requests:/ && $10 + $12 + $14 > 0 { print b ": h2load: " $0 > "/dev/stderr" }' "$out"
}

# load_result OUT: "req/s succeeded" from h2load's output.
load_result() {
  awk '/^finished in/ { rps = $4 } /^requests:/ { ok = $8 } END { if (rps == "" || ok == "") exit 1; print rps, ok }' "$1" ||
    die "cannot read h2load's output: $(tail -5 "$1")"
}

# ---- tracers ----------------------------------------------------------------------------------
# wait_for FILE PATTERN PID WHAT: until FILE has PATTERN, or PID exits, or 60 s.
wait_for() {
  for _ in $(seq 600); do
    grep -q "$2" "$1" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || { wait "$3" 2>/dev/null || true; die "$4 exited: $(tail -5 "$1")"; }
    sleep 0.1
  done
  die "$4 did not start within 60 s: $(tail -5 "$1")"
}

# start_bpftrace PROGRAM: bpftrace on the load CPU (output in $tmp/bpftrace.out, .err), once its
# probes are attached.
start_bpftrace() {
  taskset -c "$LOAD_CPU" bpftrace --unsafe -e "$1" >"$tmp/bpftrace.out" 2>"$tmp/bpftrace.err" &
  tracer_pid=$!
  wait_for "$tmp/bpftrace.out" '^Attaching' "$tracer_pid" "bpftrace ($(cat "$tmp/bpftrace.err" 2>/dev/null))"
  sleep 1 # "Attaching" comes before the attach itself
  kill -0 "$tracer_pid" 2>/dev/null || { wait "$tracer_pid" || true; die "bpftrace: $(cat "$tmp/bpftrace.err")"; }
  grep -q 'Error attaching' "$tmp/bpftrace.err" && die "bpftrace: $(cat "$tmp/bpftrace.err")"
  return 0
}

# stop_tracer: SIGINT, and wait for it to print and exit.
stop_tracer() {
  kill -INT "$tracer_pid"
  local rc=0
  wait "$tracer_pid" || rc=$?
  tracer_pid=""
  return "$rc"
}

# settle FILE: until FILE stops growing (apitop flushes exchanges as connections close).
settle() { settle_on stat -c %s "$1"; }
# settle_on CMD...: until CMD's output stops changing (15 s at most).
settle_on() {
  local a b
  a="$("$@")"
  for _ in $(seq 50); do
    sleep 0.3
    b="$("$@")"
    [ "$a" = "$b" ] && return 0
    a="$b"
  done
}

# ---- results ----------------------------------------------------------------------------------
# record MODE WORKLOAD KEY VALUE, into $results.
record() { echo "$1 $2 $3 $4" >>"$results"; }
vals() { awk -v m="$1" -v w="$2" -v k="$3" '$1 == m && $2 == w && $3 == k { print $4 }' "$results"; }
vals_last() { awk -v k="$1" '$3 == k { v = $4 } END { print v }' "$results"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR == 0) print "nan"; else if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }
