"""Single-stream decode speed through the HTTP ingress, measured as the model-level
benchmark (daemon/models/examples/bench_models.rs) measures it.

    python3 scripts/bench_chat_decode.py URL MODEL REQUESTS [TEMPERATURE]

Sends REQUESTS streamed /v1/chat/completions requests one after the other, each
"Write a story about a robot." with max_tokens = 64 (greedy unless TEMPERATURE).
Decode tokens/s of a request is (completion tokens − 1) / (time of its last text
chunk − time of its first). Prints one JSON line with the medians.
"""

import http.client
import json
import sys
import urllib.parse

from chat_stream import stream_chat

url, model, requests = sys.argv[1:4]
temperature = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
parsed = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
rates, ttfts = [], []
for i in range(int(requests)):
    r = stream_chat(conn, {"model": model, "max_tokens": 64, "temperature": temperature, "seed": i,
                           "messages": [{"role": "user", "content": "Write a story about a robot."}]})
    assert r.status == 200, r.error
    used = r.usage["completion_tokens"]
    ttfts.append(r.first - r.sent)
    rates.append((used - 1) / (r.last - r.first))
med = lambda xs: sorted(xs)[len(xs) // 2]
print(json.dumps({"decode_tokens_per_s": round(med(rates), 2), "ttft_p50_ms": round(med(ttfts) * 1000, 1),
                  "completion_tokens": used}))
