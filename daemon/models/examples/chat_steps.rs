//! Step times of the chat model: one prefill step by prompt length, then decode
//! steps by batch size (continuous batching): how the cost of one step grows
//! with the tokens and sequences in it.
//!
//!     cargo run --release -p rserve-models --example chat_steps [BATCH_SIZES...]
//!
//! `MODEL=FILE` times another GGUF. With `DEQUANTIZE=1` the model keeps an f32 copy of its quantised layers
//! (the chat kind's `dequantize_weights`); `KV_CACHE_DTYPE=f16` keeps the KV
//! cache in f16; `CONTEXT=N` decodes after an N-token prompt; `PREFILL=0`
//! times decode steps only; `STEPS=1` times 64
//! decode steps per batch size instead of 16.

use std::time::Instant;

use rserve_models::{ChatLoad, ChatModel, Device, Message, Sampling};

fn main() {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let chat = ChatModel::load_with(
        &std::env::var_os("MODEL").map_or_else(
            || models.join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
            Into::into,
        ),
        &ChatLoad {
            device: Device::Cpu,
            dequantize_weights: std::env::var_os("DEQUANTIZE").is_some(),
            kv_cache_dtype: std::env::var("KV_CACHE_DTYPE")
                .ok()
                .map(|d| d.parse().expect("KV_CACHE_DTYPE: f32 or f16")),
            ..ChatLoad::default()
        },
        &Default::default(),
    )
    .unwrap();
    let prompt = chat
        .tokenize(
            &chat
                .render(&[Message {
                    role: "user".into(),
                    content: "Write a story about a robot.".into(),
                }])
                .unwrap(),
        )
        .unwrap();
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("batch sizes"))
        .collect();
    let sizes = if sizes.is_empty() {
        vec![1, 2, 4, 8, 16]
    } else {
        sizes
    };
    // `PREFILL=0`: decode steps only (for a profile of them).
    let prefill_rows: &[usize] = if std::env::var("PREFILL").is_ok_and(|v| v == "0") {
        &[]
    } else {
        &[16, 37, 128, 512]
    };
    for &rows in prefill_rows {
        let tokens: Vec<u32> = prompt.iter().copied().cycle().take(rows).collect();
        let mut times: Vec<f64> = (0..5)
            .map(|_| {
                let mut seq = chat
                    .start(
                        tokens.clone(),
                        Sampling {
                            max_tokens: 1,
                            ..Sampling::default()
                        },
                    )
                    .unwrap();
                let start = Instant::now();
                chat.step(&mut [(&mut seq, rows)]);
                start.elapsed().as_secs_f64()
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "prefill rows={rows:>3} step_ms={:.1} tokens_per_s={:.1}",
            times[2] * 1000.0,
            rows as f64 / times[2]
        );
    }
    // `CONTEXT=N`: decode after a prompt of N tokens (the prompt repeated).
    let context = std::env::var("CONTEXT")
        .ok()
        .map_or(prompt.len(), |n| n.parse().expect("CONTEXT: tokens"));
    let decode_prompt: Vec<u32> = prompt.iter().copied().cycle().take(context).collect();
    for batch in sizes {
        let mut seqs: Vec<_> = (0..batch)
            .map(|_| {
                chat.start(
                    decode_prompt.clone(),
                    Sampling {
                        max_tokens: 1000,
                        ..Sampling::default()
                    },
                )
                .unwrap()
            })
            .collect();
        // Prefill each, then time decode steps of the whole batch.
        for s in &mut seqs {
            let n = s.remaining_prompt();
            chat.step(&mut [(s, n)]);
        }
        let steps = if std::env::var("STEPS").is_ok() {
            64
        } else {
            16
        };
        let start = Instant::now();
        for _ in 0..steps {
            let mut items: Vec<_> = seqs.iter_mut().map(|s| (s, 1)).collect();
            chat.step(&mut items);
        }
        let per_step = start.elapsed().as_secs_f64() / steps as f64;
        println!(
            "batch={batch:>2} step_ms={:.1} tokens_per_s={:.1}",
            per_step * 1000.0,
            batch as f64 / per_step
        );
    }
}
