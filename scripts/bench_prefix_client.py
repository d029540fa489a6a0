"""Time to first token with a shared prompt prefix: a long system prompt and a
growing conversation, as a chat UI or an agent sends them.

    python3 scripts/bench_prefix_client.py URL MODEL CONVERSATIONS TURNS

Each conversation starts with the same ~450-token system prompt; each turn sends
the whole conversation so far plus a new question (streamed, greedy, 16 tokens)
and appends the answer. Requests go one at a time. Prints one JSON line: TTFT
p50 over all turns, over first turns and over later turns, prompt tokens sent
and prompt tokens the server reported as cached.
"""

import http.client
import json
import sys
import urllib.parse

from chat_stream import stream_chat

url, model, conversations, turns = sys.argv[1:5]
conversations, turns = int(conversations), int(turns)
parsed = urllib.parse.urlparse(url)
conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=600)
rules = " ".join(
    f"Rule {i}: when a student asks about topic {i}, answer briefly, give one example, "
    f"and check that they understood before going on." for i in range(1, 19)
)
system = {"role": "system", "content": "You are a patient teacher. " + rules}
questions = ["What is a prime number?", "Why is the sky blue?", "How do plants grow?",
             "What is gravity?", "Why do we sleep?", "How does a bridge stand?"]
followups = ["Can you give another example?", "Why is that so?", "Say it in one sentence.",
             "What is a common mistake here?"]


def turn(messages):
    r = stream_chat(conn, {"model": model, "max_tokens": 16, "temperature": 0, "messages": messages})
    assert r.status == 200, r.error
    return r.first - r.sent, r.text, r.usage


firsts, laters, prompt, cached = [], [], 0, 0
for c in range(conversations):
    messages = [system]
    for t in range(turns):
        q = questions[c % len(questions)] if t == 0 else followups[(c + t) % len(followups)]
        messages.append({"role": "user", "content": q})
        ttft, answer, usage = turn(messages)
        messages.append({"role": "assistant", "content": answer})
        (firsts if t == 0 else laters).append(ttft)
        prompt += usage["prompt_tokens"]
        cached += (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)

p50 = lambda xs: round(sorted(xs)[len(xs) // 2] * 1000, 1) if xs else None
print(json.dumps({"turns": len(firsts) + len(laters), "ttft_p50_ms": p50(firsts + laters),
                  "first_turn_ttft_p50_ms": p50(firsts), "later_turn_ttft_p50_ms": p50(laters),
                  "prompt_tokens": prompt, "cached_tokens": cached}))
