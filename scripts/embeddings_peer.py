"""The Python peers of scripts/bench-embeddings-peers.sh: all-MiniLM-L6-v2 through
sentence-transformers behind an OpenAI-style POST /v1/embeddings, served either by
FastAPI + uvicorn (one request per encode call) or by Ray Serve with @serve.batch.

    python3 scripts/embeddings_peer.py fastapi|ray MODELS_DIR PORT MAX_BATCH THREADS
"""

import os
import sys

os.environ.setdefault("HF_HUB_OFFLINE", "1")
mode, models, port, max_batch, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
path = os.path.join(models, "all-minilm-l6-v2")


def response(vectors):
    return {"object": "list", "model": "m",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]}


if mode == "fastapi":
    import torch
    import uvicorn
    from fastapi import FastAPI, Request
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(threads)
    model = SentenceTransformer(path, device="cpu")
    app = FastAPI()

    @app.post("/v1/embeddings")
    def embed(body: dict):
        texts = body["input"] if isinstance(body["input"], list) else [body["input"]]
        return response(model.encode(texts, batch_size=len(texts)).tolist())

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning")
else:
    import time

    import ray
    from ray import serve
    from starlette.requests import Request

    ray.init(num_cpus=threads, include_dashboard=False, logging_level="ERROR")
    serve.start(http_options={"host": "127.0.0.1", "port": port})

    @serve.deployment(max_ongoing_requests=64, ray_actor_options={"num_cpus": 1})
    class Embedder:
        def __init__(self):
            import torch
            from sentence_transformers import SentenceTransformer

            torch.set_num_threads(threads)
            self.model = SentenceTransformer(path, device="cpu")

        @serve.batch(max_batch_size=max_batch, batch_wait_timeout_s=0.01)
        async def encode(self, texts):
            return self.model.encode(texts, batch_size=len(texts)).tolist()

        async def __call__(self, request: Request):
            body = await request.json()
            return response([await self.encode(body["input"])])

    serve.run(Embedder.bind(), route_prefix="/v1/embeddings", name="emb")
    print("ready", flush=True)
    while True:
        time.sleep(3600)
