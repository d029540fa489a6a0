#!/usr/bin/env bash
# What `rserve top` costs: its CPU (user + system, from /proc) while it sits
# in a real terminal (tmux, 120x40) on a node serving echo, first idle, then
# with wrk holding load on the node (the routes, tap-free deployments view
# redraws on every change), as % of one core. Also its RSS. Compare with
# k9s's habit of ~1-3 % idle; the issue's bar is <= 2 % idle.
#
#   scripts/bench-top.sh [SECONDS_PER_PHASE]   (default 30)
#
# Needs tmux and wrk (`apt-get install tmux wrk`).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-30}"
cargo build --release -p rserve >&2
BIN="$PWD/target/release/rserve"
STATE=$(mktemp -d)
SOCK="rserve-bench-top-$$"
node=""
cleanup() {
  tmux -L "$SOCK" kill-server 2>/dev/null || true
  [ -n "$node" ] && kill "$node" 2>/dev/null || true
  rm -rf "$STATE"
}
trap cleanup EXIT

"$BIN" --state-dir "$STATE" up --http-addr 127.0.0.1:18003 --control-addr 127.0.0.1:18268 \
  2>/dev/null & node=$!
sleep 2
"$BIN" --state-dir "$STATE" deploy examples/echo.toml --wait >/dev/null 2>&1

tmux -L "$SOCK" -f /dev/null new-session -d -s top -x 120 -y 40 "$BIN --state-dir $STATE top"
sleep 3
pid=$(pgrep -f "^$BIN --state-dir $STATE top" | head -1)
ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
measure() { # label
  local a b
  a=$(cpu); sleep "$DUR"; b=$(cpu)
  awk -v a="$a" -v b="$b" -v t="$ticks" -v d="$DUR" -v l="$1" \
    'BEGIN { printf "%-28s %6.2f %% of a core\n", l, 100 * (b - a) / t / d }'
}
echo "rserve top CPU over ${DUR}s per phase ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) CPUs)"
measure "idle (deployments view)"
cat > "$STATE/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"inputs":"hello rserve","n":1}'
wrk.headers["content-type"] = "application/json"
LUA
wrk -t1 -c8 -d"$((DUR + 2))s" -s "$STATE/post.lua" http://127.0.0.1:18003/echo >/dev/null & load=$!
sleep 1
measure "under load (deployments)"
wait "$load"
tmux -L "$SOCK" send-keys -t top ':routes' Enter
sleep 1
wrk -t1 -c8 -d"$((DUR + 2))s" -s "$STATE/post.lua" http://127.0.0.1:18003/echo >/dev/null & load=$!
sleep 1
measure "under load (routing + tap)"
wait "$load"
echo "RSS: $(awk '/VmRSS/ {print $2, $3}' "/proc/$pid/status")"
