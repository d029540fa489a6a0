"""Writes the fuzz targets' seed inputs into fuzz/seeds/<target>/: small valid
inputs of each format, so the fuzzer starts from the parsers' deep paths.
Plain Python, no packages: `python3 fuzz/make_seeds.py`."""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def put(target, name, data):
    d = os.path.join(HERE, "seeds", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# --- control_stream: length-prefixed JSON frames -----------------------------
def frame(msg):
    payload = json.dumps(msg).encode()
    return struct.pack(">I", len(payload)) + payload


advert = {
    "node_id": "node-1", "http_address": "127.0.0.1:8000", "control_address": "127.0.0.1:8265",
    "resources": {"num_cpus": 2.0, "num_gpus": 0.0, "memory": 1 << 30},
    "labels": {"zone": "a"}, "software_version": "0.1.0",
}
deployment = {"name": "d", "max_ongoing_requests": 4, "replica": {"kind": "echo"}}
put("control_stream", "status", frame({"call": "status"}) + frame({"call": "status", "app": "a"}))
put("control_stream", "deploy", frame({"call": "deploy", "file": "a.toml",
                                       "config": {"applications": [{"name": "a", "deployments": [deployment]}]}}))
put("control_stream", "start", frame({"call": "start_replica", "app": "a", "replica_id": "d-1",
                                      "config": deployment}))
put("control_stream", "heartbeat", frame({"call": "heartbeat", "advert": advert, "replicas": [],
                                          "routes_version": 3}))
put("control_stream", "join", frame({"call": "join", "token": "rsj." + "a" * 12 + "." + "b" * 32 + "." + "c" * 32,
                                     "public_key": "00", "advert": advert}))

# --- app_file: the examples ----------------------------------------------------
for name in sorted(os.listdir(os.path.join(ROOT, "examples"))):
    if name.endswith(".toml"):
        with open(os.path.join(ROOT, "examples", name), "rb") as f:
            put("app_file", name, f.read())

# --- join_token ----------------------------------------------------------------
put("join_token", "token", "rsj." + "0123456789ab" + "." + "f" * 32 + "." + "e" * 32)

# --- openai_request -------------------------------------------------------------
put("openai_request", "chat", json.dumps({
    "model": "m", "messages": [{"role": "system", "content": "Be brief."},
                               {"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    "max_tokens": 8, "temperature": 0.7, "top_p": 0.9, "top_k": 5, "seed": 1, "stop": ["\n", "END"],
    "stream": True, "stream_options": {"include_usage": True}}))
put("openai_request", "completion", json.dumps({"model": "m", "prompt": "Once", "max_tokens": 4, "stop": "x"}))
put("openai_request", "embeddings", json.dumps({"model": "m", "input": ["a", "b"], "encoding_format": "base64"}))


# --- gguf: a one-layer llama with a tiny BPE vocabulary --------------------------
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def kv(key, kind, value):
    out = gstr(key) + struct.pack("<I", kind)
    if kind == 8:  # string
        return out + gstr(value)
    if kind == 4:  # u32
        return out + struct.pack("<I", value)
    if kind == 6:  # f32
        return out + struct.pack("<f", value)
    if kind == 9:  # array of strings
        return out + struct.pack("<IQ", 8, len(value)) + b"".join(gstr(v) for v in value)
    raise ValueError(kind)


def gguf_file(tensors):
    tokens = ["a", "b", "ab", "Ġ", "<|im_start|>", "<|im_end|>", "<|endoftext|>"]
    meta = [
        kv("general.architecture", 8, "llama"),
        kv("llama.block_count", 4, 1),
        kv("llama.embedding_length", 4, 4),
        kv("llama.attention.head_count", 4, 2),
        kv("llama.attention.head_count_kv", 4, 1),
        kv("llama.feed_forward_length", 4, 8),
        kv("llama.context_length", 4, 64),
        kv("llama.attention.layer_norm_rms_epsilon", 6, 1e-5),
        kv("tokenizer.ggml.model", 8, "gpt2"),
        kv("tokenizer.ggml.pre", 8, "smollm"),
        kv("tokenizer.ggml.tokens", 9, tokens),
        kv("tokenizer.ggml.merges", 9, ["a b"]),
        kv("tokenizer.ggml.eos_token_id", 4, 5),
    ]
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(meta)) + b"".join(meta)
    infos, data = b"", b""
    for name, dims, kind, raw in tensors:
        while len(data) % 32:
            data += b"\0"
        infos += gstr(name) + struct.pack("<I", len(dims)) + b"".join(struct.pack("<Q", d) for d in dims)
        infos += struct.pack("<IQ", kind, len(data))
        data += raw
    body = head + infos
    while len(body) % 32:
        body += b"\0"
    return body + data


def f32(n):
    return struct.pack("<%df" % n, *[0.01 * i for i in range(n)])


q8_block = struct.pack("<H", 0x3C00) + bytes(range(32))   # 32 weights, scale 1.0
q4_0_block = struct.pack("<H", 0x3C00) + bytes(range(16))
q4_1_block = struct.pack("<HH", 0x3C00, 0x3800) + bytes(range(16))
layer = [
    ("blk.0.attn_norm.weight", [4], 0, f32(4)),
    ("blk.0.attn_q.weight", [32, 1], 8, q8_block),
    ("blk.0.attn_k.weight", [32, 1], 2, q4_0_block),
    ("blk.0.attn_v.weight", [32, 1], 3, q4_1_block),
    ("blk.0.attn_output.weight", [4, 4], 1, struct.pack("<16H", *([0x3C00] * 16))),
    ("blk.0.ffn_norm.weight", [4], 0, f32(4)),
    ("blk.0.ffn_gate.weight", [4, 8], 0, f32(32)),
    ("blk.0.ffn_up.weight", [4, 8], 0, f32(32)),
    ("blk.0.ffn_down.weight", [8, 4], 0, f32(32)),
    ("token_embd.weight", [4, 7], 0, f32(28)),
    ("output_norm.weight", [4], 0, f32(4)),
]
put("gguf", "llama-1-layer.gguf", gguf_file(layer))


# --- safetensors ------------------------------------------------------------------
def safetensors(tensors):
    header, data = {}, b""
    for name, shape, dtype, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "small.safetensors", safetensors([
    ("embeddings.word_embeddings.weight", [2, 3], "F32", f32(6)),
    ("pooler.dense.bias", [3], "F32", f32(3)),
    ("half", [2], "F16", struct.pack("<2H", 0x3C00, 0x4000)),
]))
