"""PyTorch side of scripts/bench-models.sh: the same measurements as
daemon/models/examples/bench_models.rs, with sentence-transformers and transformers
on CPU and the same thread count.

    python3 scripts/bench_models_torch.py models/ SECONDS THREADS [cpu|cuda]
Needs scripts/requirements-reference.txt.
"""

import os
import sys
import threading
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402
from sentence_transformers import SentenceTransformer  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer, TextIteratorStreamer  # noqa: E402

models, seconds, threads = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
device = sys.argv[4] if len(sys.argv) > 4 else "cpu"
torch.set_num_threads(threads)

SENTENCES = [
    "The cat sits on the mat.",
    "What is the capital of France?",
    "Ray Serve is a scalable model serving library for building online inference APIs.",
    "Rust gives you memory safety without a garbage collector.",
    "A quick brown fox jumps over the lazy dog near the river bank.",
    "Embeddings map text to vectors so that similar meanings are close together.",
    "The weather today is sunny with a light breeze from the west.",
    "Transformers use attention to mix information across the tokens of a sequence.",
]

embed = SentenceTransformer(os.path.join(models, "all-minilm-l6-v2"), device=device)
with torch.inference_mode():
    for batch in (1, 8, 32):
        texts = [SENTENCES[i % len(SENTENCES)] for i in range(batch)]
        embed.encode(texts, batch_size=batch)
        times = []
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            t = time.perf_counter()
            embed.encode(texts, batch_size=batch)
            times.append(time.perf_counter() - t)
        times.sort()
        print(f"embeddings batch={batch} sentences_per_s={len(times) * batch / sum(times):.1f} "
              f"p50_ms={times[len(times) // 2] * 1000:.2f}", flush=True)

gguf_dir = os.path.join(models, "smollm2-135m-instruct")
name = "SmolLM2-135M-Instruct.Q4_1.gguf"
tok = AutoTokenizer.from_pretrained(gguf_dir, gguf_file=name)
lm = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=name, dtype=torch.float32).eval()
lm = lm.to(device)
prompt = tok.apply_chat_template([{"role": "user", "content": "Write a story about a robot."}],
                                 add_generation_prompt=True, tokenize=False)
ids = tok(prompt, return_tensors="pt", add_special_tokens=False).to(device)


def run(max_new):
    streamer = TextIteratorStreamer(tok, skip_prompt=True)
    out = {}
    worker = threading.Thread(target=lambda: out.setdefault("ids", lm.generate(
        **ids, max_new_tokens=max_new, min_new_tokens=max_new, do_sample=False, streamer=streamer)))
    start = time.perf_counter()
    worker.start()
    first = None
    for piece in streamer:
        if first is None and piece:
            first = time.perf_counter() - start
    worker.join()
    total = time.perf_counter() - start
    n = out["ids"].shape[1] - ids["input_ids"].shape[1]
    return first, (n - 1) / (total - first)


with torch.inference_mode():
    run(2)
    results = sorted(run(64) for _ in range(3))
ttft = sorted(r[0] for r in results)[1]
decode = sorted(r[1] for r in results)[1]
print(f"chat prompt_tokens={ids['input_ids'].shape[1]} ttft_ms={ttft * 1000:.1f} decode_tokens_per_s={decode:.2f}",
      flush=True)
