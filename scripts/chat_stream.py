"""One streamed /v1/chat/completions request, for the chat benchmark clients
(bench_chat_client.py, bench_chat_decode.py, bench_prefix_client.py)."""

import http.client
import json
import time
from dataclasses import dataclass, field


@dataclass
class Streamed:
    status: int
    sent: float = 0.0  # time.monotonic() when the request was sent
    first: float | None = None  # ... when the first text chunk arrived
    last: float | None = None  # ... when the last one did
    text: str = ""
    usage: dict = field(default_factory=dict)  # the usage chunk (stream_options.include_usage)
    error: bytes = b""  # the body's start, when status is not 200


def _send(conn, body):
    try:
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        return conn.getresponse()
    except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
        # The server closed the kept-alive connection after the last stream
        # (llama-server does): send again on a new one.
        conn.close()
        conn.request("POST", "/v1/chat/completions", body, {"content-type": "application/json"})
        return conn.getresponse()


def stream_chat(conn, request):
    """Sends `request` (a dict) streamed on `conn` and reads every event."""
    body = json.dumps({**request, "stream": True, "stream_options": {"include_usage": True}})
    sent = time.monotonic()
    resp = _send(conn, body)
    if resp.status != 200:
        return Streamed(resp.status, sent, error=resp.read()[:300])
    out, text = Streamed(200, sent), []
    for raw in resp:
        line = raw.decode().strip()
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        if event.get("usage"):
            out.usage = event["usage"]
        elif event["choices"] and event["choices"][0]["delta"].get("content"):
            out.last = time.monotonic()
            out.first = out.first or out.last
            text.append(event["choices"][0]["delta"]["content"])
    out.text = "".join(text)
    return out
