"""A sentence-transformers BERT directory (all-MiniLM-L6-v2 as fetch-models.sh
unpacks it) as an f32 GGUF that llama.cpp's llama-server serves with
`--embeddings`: the same weights rserve loads, for scripts/bench-llamacpp.sh.

llama.cpp's own convert_hf_to_gguf.py imports torch (PyPI only has the
multi-GB CUDA build), so this writes the same layout with numpy and llama.cpp's
gguf-py alone: BERT hyper-parameters, mean pooling (from 1_Pooling), the
WordPiece vocabulary in llama.cpp's "phantom space" form (a word-initial piece
gets U+2581, a `##` continuation loses its prefix, special tokens stay), and
every tensor under gguf-py's BERT names.

    python3 scripts/minilm_to_gguf.py MODEL_DIR OUT.gguf GGUF_PY_DIR
"""

import json
import struct
import sys
from pathlib import Path

import numpy as np


# Not used for embeddings (llama.cpp's converter drops them too).
SKIPPED = ("embeddings.position_ids", "pooler.dense.weight", "pooler.dense.bias")


def read_safetensors(path):
    """Every tensor of a safetensors file but SKIPPED, as float32 numpy arrays."""
    data = path.read_bytes()
    (header_len,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + header_len])
    base = 8 + header_len
    kinds = {"F32": np.float32, "F16": np.float16, "BF16": None}
    tensors = {}
    for name, info in header.items():
        if name == "__metadata__" or name.removeprefix("bert.") in SKIPPED:
            continue
        start, end = info["data_offsets"]
        raw = data[base + start : base + end]
        if info["dtype"] == "BF16":
            bits = np.frombuffer(raw, dtype=np.uint16).astype(np.uint32) << 16
            array = bits.view(np.float32)
        elif info["dtype"] in kinds:
            array = np.frombuffer(raw, dtype=kinds[info["dtype"]]).astype(np.float32)
        else:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}, not a float")
        tensors[name] = array.reshape(info["shape"])
    return tensors


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    model_dir, out, gguf_py = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
    sys.path.insert(0, gguf_py)
    import gguf

    config = json.loads((model_dir / "config.json").read_text())
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text())
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if config.get("model_type") != "bert":
        sys.exit(f"{model_dir}: model_type {config.get('model_type')!r}, expected 'bert'")
    if not pooling.get("pooling_mode_mean_tokens"):
        sys.exit(f"{model_dir}/1_Pooling/config.json: only mean pooling is written")

    arch = gguf.MODEL_ARCH.BERT
    writer = gguf.GGUFWriter(str(out), gguf.MODEL_ARCH_NAMES[arch])
    layers = config["num_hidden_layers"]
    writer.add_name(model_dir.name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_block_count(layers)
    writer.add_head_count(config["num_attention_heads"])
    writer.add_layer_norm_eps(config["layer_norm_eps"])
    writer.add_causal_attention(False)
    writer.add_pooling_type(gguf.PoolingType.MEAN)
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)

    # The vocabulary by id; added tokens that are special are control tokens.
    vocab = tokenizer["model"]["vocab"]
    special = {t["content"] for t in tokenizer.get("added_tokens", []) if t.get("special")}
    by_id = {i: t for t, i in vocab.items()}
    tokens, types = [], []
    for i in range(len(by_id)):
        token = by_id[i]
        if token in special:
            tokens.append(token)
            types.append(gguf.TokenType.CONTROL)
        else:
            tokens.append(token[2:] if token.startswith("##") else "\u2581" + token)
            types.append(gguf.TokenType.NORMAL)
    writer.add_token_type_count(config.get("type_vocab_size", 1))
    writer.add_tokenizer_model("bert")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    for key, add in [
        ("[UNK]", writer.add_unk_token_id),
        ("[SEP]", writer.add_sep_token_id),
        ("[PAD]", writer.add_pad_token_id),
        # llama.cpp frames a BERT input as BOS … EOS: [CLS] … [SEP].
        ("[CLS]", writer.add_bos_token_id),
        ("[SEP]", writer.add_eos_token_id),
        ("[MASK]", writer.add_mask_token_id),
    ]:
        add(vocab[key])

    names = gguf.get_tensor_name_map(arch, layers)
    for name, array in read_safetensors(model_dir / "model.safetensors").items():
        name = name.removeprefix("bert.")
        mapped = names.get_name(name, try_suffixes=(".weight", ".bias"))
        if mapped is None:
            sys.exit(f"{model_dir}/model.safetensors: no GGUF name for tensor {name}")
        writer.add_tensor(mapped, np.ascontiguousarray(array))

    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    main()
