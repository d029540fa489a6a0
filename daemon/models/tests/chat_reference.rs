//! SmolLM2-135M-Instruct (Q4_1 GGUF) through Burn against transformers (PyTorch,
//! the same GGUF dequantised to f32), on the fixtures of `scripts/reference.py`:
//! identical token ids and prompts, first-step top-5 logits within tolerance, and
//! the reference greedy continuations.

mod support;

use rserve_models::{
    ChatLoad, ChatModel, FinishReason, Generation, Message, PrefixCache, Sampling,
};

fn model() -> ChatModel {
    let path = support::models_dir().join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    ChatModel::load(&path, support::device()).unwrap()
}

#[test]
fn matches_transformers() {
    let model = model();
    let fixture = support::fixture("chat_reference.json");
    assert_eq!(model.config().layers, 30);
    assert_eq!(model.config().kv_heads, 3);

    for case in fixture["tokenizer_cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let text = case["text"].as_str().unwrap();
        let expected = support::ids(&case["token_ids"]);
        assert_eq!(
            model.tokenize(text).unwrap(),
            expected,
            "tokenizer case {name}"
        );
        assert_eq!(
            model.detokenize(&expected),
            case["decoded"].as_str().unwrap(),
            "decode {name}"
        );
        // Token by token (emoji and CJK split across tokens): complete characters
        // only, adding up to the whole.
        let mut decoder = model.incremental();
        let mut streamed = String::new();
        for id in &expected {
            let piece = decoder.push(*id);
            assert!(
                !piece.contains('\u{fffd}'),
                "{name}: partial character streamed"
            );
            streamed.push_str(&piece);
        }
        streamed.push_str(&decoder.finish());
        assert_eq!(
            streamed,
            case["decoded"].as_str().unwrap(),
            "incremental decode {name}"
        );
    }

    matches_transformers_on_prompts(&model, &fixture);
}

/// The fixture's prompts: rendering, ids, first-step top-5 logits within 0.02
/// and the greedy continuations token for token.
fn matches_transformers_on_prompts(model: &ChatModel, fixture: &serde_json::Value) {
    for prompt in fixture["prompts"].as_array().unwrap() {
        let name = prompt["name"].as_str().unwrap();
        let messages: Vec<Message> = serde_json::from_value(prompt["messages"].clone()).unwrap();
        let rendered = model.render(&messages).unwrap();
        assert_eq!(
            rendered,
            prompt["rendered_prompt"].as_str().unwrap(),
            "{name}: rendered prompt"
        );
        let tokens = model.tokenize(&rendered).unwrap();
        assert_eq!(
            tokens,
            support::ids(&prompt["prompt_token_ids"]),
            "{name}: prompt ids"
        );

        let logits = model.next_logits(&tokens);
        for (rank, top) in prompt["first_step_top5"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let id = top["id"].as_u64().unwrap() as usize;
            let reference = top["logit"].as_f64().unwrap() as f32;
            let diff = (logits[id] - reference).abs();
            assert!(
                diff < 0.02,
                "{name}: top-{rank} token {id} logit {} vs {reference}",
                logits[id]
            );
        }

        let greedy = &prompt["greedy"];
        let expected = support::ids(&greedy["generated_ids"]);
        let sampling = Sampling {
            max_tokens: greedy["max_new_tokens"].as_u64().unwrap() as usize,
            ..Sampling::default()
        };
        let mut streamed = String::new();
        let out = model
            .generate(&tokens, &sampling, |piece| {
                streamed.push_str(piece);
                true
            })
            .unwrap();
        let expected_tokens: Vec<u32> = expected.iter().copied().filter(|t| *t != 2).collect();
        assert_eq!(
            out.tokens, expected_tokens,
            "{name}: greedy continuation ({:?})",
            out.text
        );
        assert_eq!(out.text, greedy["text"].as_str().unwrap(), "{name}: text");
        assert_eq!(
            streamed, out.text,
            "{name}: streamed pieces add up to the text"
        );
        let hit_eos = greedy["hit_eos"].as_bool().unwrap();
        assert_eq!(
            out.finish,
            if hit_eos {
                FinishReason::Stop
            } else {
                FinishReason::Length
            },
            "{name}"
        );
    }
}

/// The CPU's default KV cache holds f16 (llama.cpp's default); an f32 one
/// (`kv_cache_dtype = "f32"`) gives transformers' logits and greedy
/// continuations too.
#[test]
fn a_kv_cache_dtype_the_device_cannot_hold_is_a_clear_error() {
    let path = support::models_dir().join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let err = ChatModel::load_with(
        &path,
        &ChatLoad {
            device: support::device(),
            kv_cache_dtype: Some(rserve_models::Dtype::Bf16),
            ..ChatLoad::default()
        },
        &Default::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.starts_with("kv_cache_dtype `bf16` is not available on "),
        "{err}"
    );
}

#[test]
fn an_f32_kv_cache_matches_transformers() {
    let path = support::models_dir().join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let model = ChatModel::load_with(
        &path,
        &ChatLoad {
            device: support::device(),
            kv_cache_dtype: Some(rserve_models::Dtype::F32),
            ..ChatLoad::default()
        },
        &Default::default(),
    )
    .unwrap();
    matches_transformers_on_prompts(&model, &support::fixture("chat_reference.json"));
}

#[test]
fn sampling_is_seeded_and_stop_sequences_cut() {
    let model = model();
    let prompt = model
        .tokenize(
            &model
                .render(&[Message {
                    role: "user".into(),
                    content: "Tell me a short story.".into(),
                }])
                .unwrap(),
        )
        .unwrap();
    let sampling = Sampling {
        temperature: 0.9,
        top_p: 0.9,
        top_k: 40,
        seed: Some(7),
        max_tokens: 12,
        stop: vec![],
    };
    let a = model.generate(&prompt, &sampling, |_| true).unwrap();
    let b = model.generate(&prompt, &sampling, |_| true).unwrap();
    assert_eq!(a.tokens, b.tokens, "same seed, same tokens");
    assert_eq!((a.tokens.len(), a.finish), (12, FinishReason::Length));

    let greedy = model
        .generate(
            &prompt,
            &Sampling {
                max_tokens: 20,
                ..Sampling::default()
            },
            |_| true,
        )
        .unwrap();
    let cut_at = greedy
        .text
        .char_indices()
        .nth(greedy.text.len() / 2)
        .map(|(i, _)| i)
        .unwrap();
    let stop = greedy.text[cut_at..cut_at + 3.min(greedy.text.len() - cut_at)].to_owned();
    let mut streamed = String::new();
    let stopped = model
        .generate(
            &prompt,
            &Sampling {
                max_tokens: 20,
                stop: vec![stop.clone()],
                ..Sampling::default()
            },
            |p| {
                streamed.push_str(p);
                true
            },
        )
        .unwrap();
    assert_eq!(stopped.finish, FinishReason::Stop);
    assert_eq!(
        stopped.text,
        greedy.text[..greedy.text.find(&stop).unwrap()]
    );
    assert_eq!(
        streamed, stopped.text,
        "the stop sequence is never streamed"
    );

    let mut pieces = 0;
    let cancelled = model
        .generate(
            &prompt,
            &Sampling {
                max_tokens: 20,
                ..Sampling::default()
            },
            |_| {
                pieces += 1;
                pieces < 3
            },
        )
        .unwrap();
    assert_eq!(cancelled.finish, FinishReason::Cancelled);
    assert!(cancelled.tokens.len() < 20);
}

#[test]
fn a_prompt_far_over_the_context_is_refused_before_it_is_tokenized() {
    let model = model();
    let text = model.text();
    let context = text.config().context_length;
    let err = text
        .check_prompt_text(&"x".repeat(1000 * context))
        .unwrap_err()
        .to_string();
    assert!(err.contains("it was not tokenized"), "{err}");
    // A prompt that could fit is left to the tokenizer (and the token check).
    text.check_prompt_text(&"hello ".repeat(context)).unwrap();
}

#[test]
fn corrupt_gguf_files_are_clear_errors() {
    let src = support::models_dir().join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let dir = tempfile::tempdir().unwrap();
    let bytes = std::fs::read(&src).unwrap();
    let cut = dir.path().join("cut.gguf");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = ChatModel::load(&cut, support::device())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("cut.gguf") && err.contains("truncated"),
        "{err}"
    );
    let junk = dir.path().join("junk.gguf");
    std::fs::write(&junk, b"not a gguf file at all").unwrap();
    let err = ChatModel::load(&junk, support::device())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("junk.gguf") && err.contains("not a GGUF file"),
        "{err}"
    );
}

/// Continuous batching must not change results: each of 16 sequences, stepped
/// together (joining at different steps, prompts prefilled in chunks next to
/// others' decode steps, finishing at different times), yields exactly the
/// tokens and text it yields alone.
#[test]
fn greedy_output_is_identical_alone_and_in_a_batch_of_16() {
    let model = model();
    let topics = [
        "a robot",
        "the sea",
        "why the sky is blue",
        "a cat who learns to code",
        "bread",
        "the moon landing, in two sentences",
        "Paris",
        "rust the programming language",
        "a haiku about autumn",
        "prime numbers",
        "a dragon and a knight who become friends",
        "coffee",
        "the number 7",
        "trees in winter",
        "a short joke",
        "how rain forms",
    ];
    let prompts: Vec<Vec<u32>> = topics
        .iter()
        .map(|t| {
            model
                .tokenize(
                    &model
                        .render(&[Message {
                            role: "user".into(),
                            content: format!("Tell me about {t}."),
                        }])
                        .unwrap(),
                )
                .unwrap()
        })
        .collect();
    // Different lengths, so sequences finish at different steps.
    let sampling = |i: usize| Sampling {
        max_tokens: 12 + i % 5 * 3,
        ..Sampling::default()
    };
    let alone: Vec<_> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| model.generate(p, &sampling(i), |_| true).unwrap())
        .collect();

    let mut waiting: Vec<_> = prompts
        .iter()
        .enumerate()
        .map(|(i, p)| (i, model.start(p.clone(), sampling(i)).unwrap()))
        .collect();
    waiting.reverse();
    let mut running: Vec<(usize, rserve_models::Sequence, String)> = Vec::new();
    let mut done = vec![None; prompts.len()];
    let mut step = 0;
    let mut widest = 0;
    while !(waiting.is_empty() && running.is_empty()) {
        // Two new sequences join every step.
        for _ in 0..2 {
            if let Some((i, seq)) = waiting.pop() {
                running.push((i, seq, String::new()));
            }
        }
        widest = widest.max(running.len());
        // Prefill in chunks of 7 tokens, next to the others' decode tokens.
        let mut items: Vec<(&mut rserve_models::Sequence, usize)> = running
            .iter_mut()
            .map(|(_, seq, _)| {
                let n = seq.remaining_prompt().clamp(1, 7);
                (seq, n)
            })
            .collect();
        let pieces = model.step(&mut items);
        for ((_, _, streamed), piece) in running.iter_mut().zip(pieces) {
            streamed.push_str(&piece);
        }
        let mut k = 0;
        while k < running.len() {
            if running[k].1.is_finished() {
                let (i, seq, streamed) = running.swap_remove(k);
                let g = seq.into_generation();
                assert_eq!(streamed, g.text, "sequence {i}: pieces add up");
                done[i] = Some(g);
            } else {
                k += 1;
            }
        }
        step += 1;
        assert!(step < 500, "the batch never drained");
    }
    assert_eq!(widest, 16, "all 16 ran together at some step");
    for (i, (alone, batched)) in alone.iter().zip(&done).enumerate() {
        let batched = batched.as_ref().unwrap();
        assert_eq!(batched.tokens, alone.tokens, "sequence {i}: tokens");
        assert_eq!(batched.text, alone.text, "sequence {i}: text");
        assert_eq!(batched.finish, alone.finish, "sequence {i}: finish");
    }
}

/// Warm-up (run at replica start on GPUs) steps every prefill and decode shape
/// and leaves generation as it was.
#[test]
fn warm_up_runs_every_shape_and_changes_nothing() {
    let model = model();
    let prompt = model.tokenize("<|im_start|>user\nHi<|im_end|>\n").unwrap();
    let sampling = Sampling {
        max_tokens: 8,
        ..Sampling::default()
    };
    let before = model.generate(&prompt, &sampling, |_| true).unwrap();
    // Prefill chunks 1, 2, 4, 8, 16 (5 steps); 2 and 4 sequences: prefill + decode.
    assert_eq!(model.warm_up(4, 16), 5 + 2 + 2);
    let after = model.generate(&prompt, &sampling, |_| true).unwrap();
    assert_eq!(after.tokens, before.tokens);
}

#[test]
fn a_load_counts_its_steps_to_the_end() {
    let path = support::models_dir().join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let progress = rserve_models::LoadProgress::default();
    let model = ChatModel::load_with_progress(
        &path,
        support::device(),
        rserve_models::Dtype::F32,
        &progress,
    )
    .unwrap();
    // Reading the file, one step per decoder block, the embeddings and head.
    let steps = model.config().layers as u64 + 2;
    assert_eq!(progress.get(), Some((steps, steps)));
    assert_eq!(steps, 32, "SmolLM2-135M has 30 blocks");
}

/// Automatic prefix caching: a shared system prompt, the next turn of a
/// conversation and a repeated prompt reuse cached keys and values, and greedy
/// output is the same token for token as without the cache.
#[test]
fn prefix_cache_reuses_shared_prefixes_and_changes_nothing() {
    let model = model();
    let sampling = Sampling {
        max_tokens: 24,
        ..Sampling::default()
    };
    let tokens = |messages: &[Message]| model.tokenize(&model.render(messages).unwrap()).unwrap();
    let msg = |role: &str, content: &str| Message {
        role: role.into(),
        content: content.into(),
    };
    let system = msg(
        "system",
        "You are a patient teacher. Answer in plain words, briefly, and end every answer \
         with a question that checks the student understood.",
    );
    let mut cache = PrefixCache::new();
    // Runs a prompt through the cache in chunks of 5 (as the engine's steps
    // would), checks it against the uncached run, returns it.
    let run = |cache: &mut PrefixCache, prompt: Vec<u32>, room: usize| -> Generation {
        let alone = model.generate(&prompt, &sampling, |_| true).unwrap();
        let mut seq = model
            .start_cached(prompt.clone(), sampling.clone(), cache)
            .unwrap();
        while !seq.is_finished() {
            let n = seq.remaining_prompt().clamp(1, 5);
            model.step(&mut [(&mut seq, n)]);
        }
        let cached = model.retire(seq, cache, room);
        assert_eq!(cached.tokens, alone.tokens, "tokens, {cached:?}");
        assert_eq!(cached.text, alone.text);
        assert_eq!(cached.finish, alone.finish);
        assert_eq!(cached.prompt_tokens, prompt.len());
        assert_eq!(alone.cached_tokens, 0);
        cached
    };

    let first = tokens(&[system.clone(), msg("user", "What is a prime number?")]);
    let other = tokens(&[system.clone(), msg("user", "Why is the sea salty?")]);
    let shared = first.iter().zip(&other).take_while(|(a, b)| a == b).count();
    assert!(shared > 30, "the system prompt is shared ({shared} tokens)");

    let g = run(&mut cache, first.clone(), 16384);
    assert_eq!(g.cached_tokens, 0, "an empty cache");
    assert_eq!(cache.len(), 1);
    let g = run(&mut cache, other.clone(), 16384);
    assert_eq!(g.cached_tokens, shared, "the system prompt is reused");
    assert_eq!(cache.len(), 2);

    // The next turn of the first conversation reuses all of the first turn.
    let answer = model.generate(&first, &sampling, |_| true).unwrap().text;
    let second = tokens(&[
        system.clone(),
        msg("user", "What is a prime number?"),
        msg("assistant", &answer),
        msg("user", "Is 91 one?"),
    ]);
    let g = run(&mut cache, second.clone(), 16384);
    assert!(
        g.cached_tokens > first.len() && g.cached_tokens < second.len(),
        "{} cached of {} (first turn {})",
        g.cached_tokens,
        second.len(),
        first.len()
    );
    assert_eq!(cache.len(), 2, "the first turn's entry is replaced");

    // The same prompt again: all but its last token.
    let g = run(&mut cache, second.clone(), 16384);
    assert_eq!(g.cached_tokens, second.len() - 1);

    // The cache holds what it is given room for: none, nothing is kept.
    cache.clear();
    run(&mut cache, first.clone(), 0);
    assert!(cache.is_empty());
    assert_eq!(run(&mut cache, first.clone(), 16384).cached_tokens, 0);
    assert!(cache.held_tokens() <= 16384 && cache.held_tokens() > first.len());
    cache.shrink_to(0);
    assert_eq!(run(&mut cache, first, 16384).cached_tokens, 0, "evicted");
}

/// The CPU holds Q4_1/Q8_0 layers only as the file's blocks unless asked to
/// keep an f32 copy: both give the same logits (within summation order) and the
/// same greedy tokens, for a prefill longer than the blocks kernel's 16 rows.
#[test]
fn blocks_only_and_dequantised_weights_agree() {
    let path = support::models_dir().join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
    let load = |dequantize| {
        ChatModel::load_with(
            &path,
            &ChatLoad {
                device: support::device(),
                dequantize_weights: dequantize,
                ..ChatLoad::default()
            },
            &Default::default(),
        )
        .unwrap()
    };
    let (blocks, dense) = (load(false), load(true));
    let question = "Explain in three sentences why the sea is salty, and how rivers help.";
    // 16 < rows < 64 (a tile times xᵀ) and rows ≥ 64 (x times a tile transposed).
    for (content, rows) in [
        (question.to_owned(), 16..64),
        (question.repeat(5), 64..1000),
    ] {
        let prompt = blocks
            .tokenize(
                &blocks
                    .render(&[Message {
                        role: "user".into(),
                        content,
                    }])
                    .unwrap(),
            )
            .unwrap();
        assert!(rows.contains(&prompt.len()), "{} tokens", prompt.len());
        let (a, b) = (blocks.next_logits(&prompt), dense.next_logits(&prompt));
        let worst = a
            .iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0f32, f32::max);
        assert!(
            worst < 1e-2,
            "{} tokens: largest logit difference {worst}",
            prompt.len()
        );
        let sampling = Sampling {
            max_tokens: 24,
            ..Sampling::default()
        };
        assert_eq!(
            blocks
                .generate(&prompt, &sampling, |_| true)
                .unwrap()
                .tokens,
            dense.generate(&prompt, &sampling, |_| true).unwrap().tokens,
            "{} tokens",
            prompt.len()
        );
    }
}
