#!/usr/bin/env bash
# One cross-node hop: an echo deployment with one replica, which runs on the head;
# the same load (wrk, small POST) sent to the head's ingress (local replica) and to
# a member's ingress (forwarded over the mesh to the head), one after the other.
# Two nodes on loopback addresses 127.0.0.1 and 127.0.0.2. Besides req/s and
# latency, the CPU time (user + system, /proc/PID/stat) both nodes spent per 1,000
# requests: on one machine the nodes share the cores, but CPU per request does not
# depend on that, and a forwarded request's cost against a local one's is the
# hop's price. Also per request: UDP datagrams sent on the machine (the mesh's
# packets; loopback, so each is also received) and context switches of both
# nodes' threads (each a thread put to sleep or woken).
#
#   scripts/bench-hop.sh [SECONDS]
#   B=/path/to/rserve scripts/bench-hop.sh [SECONDS]   # another binary, no build
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
command -v wrk >/dev/null || { echo "needs wrk (apt-get install wrk)" >&2; exit 1; }
if [ -z "${B:-}" ]; then
  cargo build --release -p rserve >&2
  B=target/release/rserve
fi
DIR=$(mktemp -d)
trap 'kill $HEAD $MEMBER 2>/dev/null || true; rm -rf "$DIR"' EXIT
$B --state-dir "$DIR/head" up --http-addr 127.0.0.1:18201 --control-addr 127.0.0.1:18301 2>"$DIR/head.log" &
HEAD=$!
sleep 0.5
TOKEN=$($B --state-dir "$DIR/head" token create)
RSERVE_JOIN_TOKEN=$TOKEN $B --state-dir "$DIR/member" up --join 127.0.0.1:18301 \
  --http-addr 127.0.0.2:18202 --control-addr 127.0.0.2:18302 2>"$DIR/member.log" &
MEMBER=$!
sleep 1
cat > "$DIR/app.toml" <<TOML
[[applications]]
name = "echo"
route_prefix = "/echo"
[[applications.deployments]]
name = "e"
num_replicas = 1
max_ongoing_requests = 1000
replica = { kind = "echo" }
TOML
$B --state-dir "$DIR/head" deploy "$DIR/app.toml" --wait >/dev/null
sleep 2 # the member gets the route table with the next heartbeat
cat > "$DIR/post.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"input": "a small JSON body, as in the other benchmarks"}'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('RESULT %d %d %d %.1f %.1f\n', summary.requests, summary.duration,
    e.connect + e.read + e.write + e.timeout + e.status, latency:percentile(50), latency:percentile(99)))
end
LUA
ticks() { awk '{s += $14 + $15} END {print s}' "/proc/$HEAD/stat" "/proc/$MEMBER/stat"; }
datagrams() { awk '/^Udp:/ && ++n == 2 {print $5}' /proc/net/snmp; }
switches() { cat /proc/"$HEAD"/task/*/status /proc/"$MEMBER"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}'; }
TICK=$(getconf CLK_TCK)
run() { # label url concurrency
  wrk -t1 -c"$3" -d2s -s "$DIR/post.lua" "$2" >/dev/null
  local before after line udp0 udp1 sw0 sw1
  before=$(ticks); udp0=$(datagrams); sw0=$(switches)
  line=$(wrk -t1 -c"$3" -d"${DUR}s" --latency -s "$DIR/post.lua" "$2" | grep '^RESULT')
  after=$(ticks); udp1=$(datagrams); sw1=$(switches)
  python3 - "$1" "$3" "$line" "$((after - before))" "$TICK" "$((udp1 - udp0))" "$((sw1 - sw0))" <<'PY'
import sys
label, c, line, ticks, hz = sys.argv[1], sys.argv[2], sys.argv[3].split(), int(sys.argv[4]), int(sys.argv[5])
udp, switches = int(sys.argv[6]), int(sys.argv[7])
n, us, bad, p50, p99 = int(line[1]), int(line[2]), int(line[3]), float(line[4]), float(line[5])
assert bad == 0, f"{label}: {bad} failed or non-2xx responses"
print(f"{label:<28} c={c:<3} {n / (us / 1e6):9.1f} req/s  p50 {p50 / 1000:.3f} ms  p99 {p99 / 1000:.3f} ms"
      f"  CPU (both nodes) {ticks / hz * 1e6 / n:.1f} ms per 1,000 req"
      f"  datagrams {udp / n:.2f}/req  switches {switches / n:.2f}/req")
PY
}
for c in 1 64; do
  run "local (head -> head)" http://127.0.0.1:18201/echo "$c"
  run "one hop (member -> head)" http://127.0.0.2:18202/echo "$c"
done
