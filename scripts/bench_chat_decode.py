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
import time
import urllib.parse

url, model, requests = sys.argv[1:4]
temperature = float(sys.argv[4]) if len(sys.argv) > 4 else 0.0
parsed = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
rates, ttfts = [], []
for i in range(int(requests)):
    body = json.dumps({"model": model, "stream": True, "stream_options": {"include_usage": True},
                       "max_tokens": 64, "temperature": temperature, "seed": i,
                       "messages": [{"role": "user", "content": "Write a story about a robot."}]})
    sent = time.monotonic()
    try:
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        resp = conn.getresponse()
    except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
        # The server closed the kept-alive connection after the last stream
        # (llama-server does): send again on a new one.
        conn.close()
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        resp = conn.getresponse()
    assert resp.status == 200, resp.read()[:300]
    first = last = None
    used = 0
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        if event.get("usage"):
            used = event["usage"]["completion_tokens"]
        elif event["choices"] and event["choices"][0]["delta"].get("content"):
            last = time.monotonic()
            first = first or last
    ttfts.append(first - sent)
    rates.append((used - 1) / (last - first))
med = lambda xs: sorted(xs)[len(xs) // 2]
print(json.dumps({"decode_tokens_per_s": round(med(rates), 2), "ttft_p50_ms": round(med(ttfts) * 1000, 1),
                  "completion_tokens": used}))
