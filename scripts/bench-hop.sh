#!/usr/bin/env bash
# One cross-node hop: an echo deployment with one replica, which runs on the head;
# the same load (oha, small POST) sent to the head's ingress (local replica) and to
# a member's ingress (forwarded over the mesh to the head), one after the other.
# Two nodes on loopback addresses 127.0.0.1 and 127.0.0.2.
#
#   scripts/bench-hop.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10}"
command -v oha >/dev/null || cargo install oha --locked --version 1.16.0
cargo build --release -p rserve >&2
B=target/release/rserve
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
BODY='{"input": "a small JSON body, as in the other benchmarks"}'
run() { # label url concurrency
  oha -z 2s -c "$3" -m POST -d "$BODY" --no-tui --output-format quiet "$2"
  oha -z "${DUR}s" -c "$3" -m POST -d "$BODY" --no-tui --output-format json "$2" > "$DIR/out.json"
  python3 - "$DIR/out.json" "$1" "$3" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution", {})
assert set(codes) == {"200"}, codes
p = d["latencyPercentiles"]
print(f"{sys.argv[2]:<28} c={sys.argv[3]:<3} {d['summary']['requestsPerSec']:9.1f} req/s  p50 {p['p50']*1000:.3f} ms  p99 {p['p99']*1000:.3f} ms")
PY
}
for c in 1 64; do
  run "local (head -> head)" http://127.0.0.1:18201/echo "$c"
  run "one hop (member -> head)" http://127.0.0.2:18202/echo "$c"
done
