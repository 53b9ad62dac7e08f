#!/usr/bin/env bash
# Does apitop's UI stay within its memory budget under sustained large responses? A local plain
# HTTP server (python3) answers every GET with 1 MiB; the apitop terminal UI (release build)
# captures that server inside a detached tmux session while curl fetches continuously for
# DURATION seconds. apitop's RSS (VmRSS) is sampled every INTERVAL seconds. Prints a table of
# time, RSS and requests done, then the peak RSS, the --max-memory used and apitop's own status
# bar (store use, evictions, drops). Root (live capture); needs tmux, curl and python3.
#
#   sudo bash scripts/bench-soak.sh                     # 10 minutes
#   sudo DURATION=60 bash scripts/bench-soak.sh
#
# The budget bounds the store's estimate of what it holds; RSS also has apitop's baseline (the
# first sample, before any traffic: ~170 MiB on a 2-core VM), the endpoint tree, the detail
# pane's rendered lines, capture's per-connection buffers and the allocator's slack on top. What
# to look for is RSS levelling off at roughly baseline + MAX_MEMORY instead of growing with the
# requests (without the budget, every 1 MiB response would stay held).
#
# Environment: DURATION (600), INTERVAL (5), MAX_MEMORY (256M, passed to --max-memory),
#   CLIENTS (2 curl loops, each fetching BATCH URLs per keep-alive connection), BATCH (10),
#   APITOP_ARGS (more apitop flags), KEEP (a directory to copy the logs into).
set -euo pipefail

BENCH=bench-soak
DURATION="${DURATION:-600}"
INTERVAL="${INTERVAL:-5}"
MAX_MEMORY="${MAX_MEMORY:-256M}"
CLIENTS="${CLIENTS:-2}"
BATCH="${BATCH:-10}"
APITOP_ARGS="${APITOP_ARGS:-}"
KEEP="${KEEP:-}"

root="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/bench-lib.sh
. "$root/scripts/bench-lib.sh"

require_whole_numbers DURATION INTERVAL CLIENTS BATCH
[ "$(id -u)" -eq 0 ] || die "live capture needs root: sudo bash $0"
[ "$INTERVAL" -gt 0 ] || die "INTERVAL must be at least 1"
for c in tmux curl python3; do
  command -v "$c" >/dev/null || die "$c is needed (apt-get install $c)"
done

bench_tmp
session="apitop-soak-$$"
# The tmux session goes first (apitop gets SIGHUP and restores nothing: the terminal is tmux's),
# then bench-lib's cleanup ends the server and the clients.
soak_cleanup() {
  local rc=$?
  tmux kill-session -t "$session" 2>/dev/null || true
  (exit "$rc")
  bench_cleanup
}
trap soak_cleanup EXIT

log "building apitop (release)"
(cd "$root" && quietly cargo build --release -p apitop)
apitop="$root/target/release/apitop"
[ -n "${CARGO_TARGET_DIR:-}" ] && apitop="$CARGO_TARGET_DIR/release/apitop"
[ -x "$apitop" ] || die "no binary at $apitop"

# ---- server: 1 MiB per GET, HTTP/1.1 keep-alive, on a free port ------------------------------
cat >"$tmp/server.py" <<'EOF'
import http.server, os, sys

BODY = os.urandom(1 << 20)

class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *args):
        pass

srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(sys.argv[1], "w") as f:
    f.write(str(srv.server_address[1]))
srv.serve_forever()
EOF
python3 "$tmp/server.py" "$tmp/port" >"$tmp/server.log" 2>&1 &
srv_pid=$!
for _ in $(seq 100); do [ -s "$tmp/port" ] && break; sleep 0.1; done
[ -s "$tmp/port" ] || die "the server did not start: $(tail -5 "$tmp/server.log")"
port="$(cat "$tmp/port")"

# ---- apitop in tmux ---------------------------------------------------------------------------
# shellcheck disable=SC2086
tmux new-session -d -s "$session" -x 200 -y 50 \
  "exec '$apitop' -p $srv_pid --max-memory $MAX_MEMORY $APITOP_ARGS 2>'$tmp/apitop.err'"
apitop_pid="$(tmux list-panes -t "$session" -F '#{pane_pid}')"
screen() { tmux capture-pane -p -t "$session" 2>/dev/null || true; }
# The screen is read whole before grep: with pipefail, grep -q leaving early could fail the pipe.
ui_up() { grep -q ' store ' <<<"$(screen)"; }
for _ in $(seq 300); do
  ui_up && break
  kill -0 "$apitop_pid" 2>/dev/null || die "apitop exited: $(cat "$tmp/apitop.err")"
  sleep 0.1
done
ui_up || die "apitop's UI did not come up: $(screen | tail -5)"
sleep 2 # probes attach after the first frame

# ---- clients ----------------------------------------------------------------------------------
# Each loop keeps its running count in a file (replaced whole, never read half-written):
# requests done is their sum.
client() {
  local n=0 i=0
  while :; do
    i=$((i + 1))
    if curl -s -o /dev/null "http://127.0.0.1:$port/blob/$1/$i/[1-$BATCH]" >/dev/null; then
      n=$((n + BATCH))
      echo "$n" >"$tmp/tmp.$1" && mv -f "$tmp/tmp.$1" "$tmp/count.$1"
    fi
  done
}
for c in $(seq "$CLIENTS"); do
  echo 0 >"$tmp/count.$c"
  client "$c" &
  extra_pids+=($!)
done

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$apitop_pid/status" 2>/dev/null || echo 0; }
done_count() { cat "$tmp"/count.* | sum; }

log "soaking for ${DURATION}s: apitop pid $apitop_pid, --max-memory $MAX_MEMORY, server port $port"
printf '%8s %10s %10s\n' "time_s" "rss_MiB" "requests"
peak=0
t0=$(date +%s)
while :; do
  kill -0 "$apitop_pid" 2>/dev/null || die "apitop exited during the soak: $(cat "$tmp/apitop.err")"
  now=$(($(date +%s) - t0))
  rss=$(rss_kib)
  [ "$rss" -gt "$peak" ] && peak=$rss
  printf '%8d %10s %10d\n' "$now" "$(mib "$rss")" "$(done_count)"
  [ "$now" -ge "$DURATION" ] && break
  sleep "$INTERVAL"
done

for p in "${extra_pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
echo
printf 'peak RSS %s MiB with --max-memory %s; %d requests of 1 MiB in %ds\n' \
  "$(mib "$peak")" "$MAX_MEMORY" "$(done_count)" "$DURATION"
echo "apitop's status bar at the end:"
grep ' store ' <<<"$(screen)" | tail -1 | sed 's/^ *//' || true
