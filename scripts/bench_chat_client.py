"""Concurrent streaming chat clients against an OpenAI-compatible endpoint.

    python3 scripts/bench_chat_client.py URL MODEL STREAMS SECONDS MAX_TOKENS

Each of STREAMS threads sends streamed /v1/chat/completions requests back to back
for SECONDS (sampling at temperature 0.8 with distinct seeds, so outputs differ)
and reads every server-sent event. Prints one JSON line: aggregate completion
tokens/s (usage from the server, over the wall time from the first request to the
last completion), requests, and time to first token p50/p99.
"""

import http.client
import json
import sys
import threading
import time
import urllib.parse

from chat_stream import stream_chat

url, model, streams, seconds, max_tokens = sys.argv[1:6]
streams, seconds, max_tokens = int(streams), float(seconds), int(max_tokens)
parsed = urllib.parse.urlparse(url)
topics = ["the sea", "a robot", "mountains", "a city at night", "bread", "the moon", "rivers", "winter"]

lock = threading.Lock()
ttfts, tokens, requests, errors = [], [0], [0], []
start = time.monotonic()
deadline = start + seconds
last_done = [start]


def worker(index):
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
    n = 0
    while time.monotonic() < deadline:
        r = stream_chat(conn, {
            "model": model, "max_tokens": max_tokens, "temperature": 0.8, "seed": index * 1000 + n,
            "messages": [{"role": "user", "content": f"Write a long story about {topics[(index + n) % len(topics)]}."}],
        })
        n += 1
        if r.status != 200:
            errors.append(f"{r.status} {r.error[:200]!r}")
            continue
        first = None if r.first is None else r.first - r.sent
        used = r.usage.get("completion_tokens", 0)
        with lock:
            if first is not None:
                ttfts.append(first)
            tokens[0] += used
            requests[0] += 1
            last_done[0] = max(last_done[0], time.monotonic())


threads = [threading.Thread(target=worker, args=(i,)) for i in range(streams)]
for t in threads:
    t.start()
for t in threads:
    t.join()
assert not errors, errors[:3]
ttfts.sort()
pct = lambda q: ttfts[min(len(ttfts) - 1, int(q * len(ttfts)))] * 1000 if ttfts else float("nan")
wall = last_done[0] - start
print(json.dumps({
    "streams": streams, "requests": requests[0], "completion_tokens": tokens[0],
    "tokens_per_s": round(tokens[0] / wall, 1), "ttft_p50_ms": round(pct(0.5), 1),
    "ttft_p99_ms": round(pct(0.99), 1), "wall_s": round(wall, 1),
}))
