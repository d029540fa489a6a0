#!/usr/bin/env bash
# Embeddings through the HTTP ingress at concurrency 32: dynamic batching
# (max_batch_size 32, batch_wait_timeout_s 0.01) vs none (max_batch_size 1),
# same node binary, same model, same oha load, one after the other.
#
#   scripts/bench-batching.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-15}"
bash scripts/fetch-models.sh
command -v oha >/dev/null || cargo install oha --locked --version 1.16.0
cargo build --release -p rserve >&2
STATE=$(mktemp -d)
trap 'kill $NODE 2>/dev/null || true; rm -rf "$STATE"' EXIT
target/release/rserve --state-dir "$STATE" up --http-addr 127.0.0.1:18100 --control-addr 127.0.0.1:18365 2>"$STATE/log" &
NODE=$!
sleep 1
BODY='{"model": "m", "input": "Embeddings map text to vectors so that similar meanings are close together."}'
for size in 32 1; do
  cat > "$STATE/app.toml" <<TOML
[[applications]]
name = "emb"
route_prefix = "/emb"
[[applications.deployments]]
name = "e"
max_ongoing_requests = 64
batching = { max_batch_size = $size, batch_wait_timeout_s = 0.01 }
replica = { kind = "embeddings", model_dir = "$PWD/models/all-minilm-l6-v2", model_id = "m" }
TOML
  target/release/rserve --state-dir "$STATE" deploy "$STATE/app.toml" --wait >/dev/null
  oha -z 2s -c 32 -m POST -H 'content-type: application/json' -d "$BODY" --no-tui --output-format quiet http://127.0.0.1:18100/v1/embeddings
  oha -z "${DUR}s" -c 32 -m POST -H 'content-type: application/json' -d "$BODY" --no-tui --output-format json \
    http://127.0.0.1:18100/v1/embeddings > "$STATE/c32-b$size.json"
  python3 - "$STATE/c32-b$size.json" "$size" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution", {})
assert set(codes) == {"200"}, codes
p = d["latencyPercentiles"]
print(f"max_batch_size={sys.argv[2]:>2}: {d['summary']['requestsPerSec']:.1f} req/s, p50 {p['p50']*1000:.1f} ms, p99 {p['p99']*1000:.1f} ms")
PY
done
