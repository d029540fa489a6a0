#!/usr/bin/env bash
# Embeddings (all-MiniLM-L6-v2, CPU) at concurrency 32, one after the other on the
# same machine with the same oha load: rserve batched (max_batch_size 32) and
# unbatched (1), sentence-transformers under FastAPI + uvicorn (no batching), and
# sentence-transformers under Ray Serve with @serve.batch (max_batch_size 32).
#
#   scripts/bench-embeddings-peers.sh [SECONDS]
#
# Needs torch and sentence-transformers (scripts/requirements-reference.txt) and
# `pip install fastapi uvicorn "ray[serve]"`.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-15}"
bash scripts/fetch-models.sh
command -v oha >/dev/null || cargo install oha --locked --version 1.16.0
BODY='{"model": "m", "input": "Embeddings map text to vectors so that similar meanings are close together."}'
load() { # name url
  oha -z 3s -c 32 -m POST -H 'content-type: application/json' -d "$BODY" --no-tui --output-format quiet "$2"
  oha -z "${DUR}s" -c 32 -m POST -H 'content-type: application/json' -d "$BODY" --no-tui --output-format json "$2" > /tmp/peer.json
  python3 - /tmp/peer.json "$1" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
codes = d.get("statusCodeDistribution", {})
assert set(codes) == {"200"}, codes
p = d["latencyPercentiles"]
print(f"{sys.argv[2]:<32} {d['summary']['requestsPerSec']:7.1f} req/s  p50 {p['p50']*1000:7.1f} ms  p99 {p['p99']*1000:7.1f} ms")
PY
}
wait_up() { for _ in $(seq 1 120); do curl -s -o /dev/null -X POST -H 'content-type: application/json' -d "$BODY" "$1" && return; sleep 1; done; echo "peer did not start" >&2; exit 1; }

python3 scripts/embeddings_peer.py fastapi models 18131 1 2 2>/dev/null &
PEER=$!
wait_up http://127.0.0.1:18131/v1/embeddings
load "FastAPI + sentence-transformers" http://127.0.0.1:18131/v1/embeddings
kill $PEER; wait $PEER 2>/dev/null || true

python3 scripts/embeddings_peer.py ray models 18132 32 2 >/dev/null 2>&1 &
PEER=$!
wait_up http://127.0.0.1:18132/v1/embeddings
load "Ray Serve @serve.batch(32)" http://127.0.0.1:18132/v1/embeddings
kill $PEER; wait $PEER 2>/dev/null || true
ray stop --force >/dev/null 2>&1 || true

bash scripts/bench-batching.sh "$DUR"
