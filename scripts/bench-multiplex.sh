#!/usr/bin/env bash
# Model multiplexing: 20 digits variants, Zipf-skewed traffic (s = 1.1), 3 replicas
# with max_num_models_per_replica = 3, with the router's model affinity and with
# random routing (RSERVE_MULTIPLEX_ROUTING=random), same request sequence. Reports
# requests/s, p50/p99 and the cache hit rate (1 - loads / requests, from /-/metrics).
#
#   scripts/bench-multiplex.sh [REQUESTS] [PAD_MB]
#
# The variants are tiny; PAD_MB (default 64) pads each file with an unused tensor so
# a load reads and parses that much, as loading real weights does.
set -euo pipefail
cd "$(dirname "$0")/.."
REQUESTS="${1:-6000}"
PAD_MB="${2:-64}"
cargo build --release -p rserve >&2
STATE=$(mktemp -d)
trap 'kill $NODE 2>/dev/null || true; rm -rf "$STATE"' EXIT
python3 scripts/digits_variants.py "$STATE/models" 20 "$PAD_MB" >/dev/null
cat > "$STATE/app.toml" <<TOML
[[applications]]
name = "mux"
route_prefix = "/mux"
[[applications.deployments]]
name = "digits"
num_replicas = 3
max_ongoing_requests = 4
multiplexing = { max_num_models_per_replica = 3, models_dir = "$STATE/models" }
replica = { kind = "digits" }
TOML
for routing in affinity random; do
  rm -rf "$STATE/node"
  RSERVE_MULTIPLEX_ROUTING=$routing target/release/rserve --state-dir "$STATE/node" up \
    --http-addr 127.0.0.1:18120 --control-addr 127.0.0.1:18385 2>"$STATE/log" &
  NODE=$!
  sleep 0.5
  target/release/rserve --state-dir "$STATE/node" deploy "$STATE/app.toml" --wait >/dev/null
  out=$(python3 scripts/bench_multiplex_client.py http://127.0.0.1:18120/mux 20 8 "$REQUESTS" 1)
  loads=$(curl -s http://127.0.0.1:18120/-/metrics | awk '/^rserve_multiplexed_model_loads_total/ {s += $2} END {print s}')
  python3 -c "import json,sys; d=json.loads(sys.argv[1]); print(f\"{sys.argv[2]:>8}: {d['req_per_s']} req/s, p50 {d['p50_ms']} ms, p99 {d['p99_ms']} ms, loads {sys.argv[3]}, hit rate {100*(1-int(sys.argv[3])/d['requests']):.1f} %\")" "$out" "$routing" "$loads"
  kill $NODE; wait $NODE 2>/dev/null || true
done
