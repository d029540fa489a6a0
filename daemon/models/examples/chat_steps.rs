//! Decode-step time of the chat model by batch size (continuous batching): how
//! the cost of one step grows with the sequences in it.
//!
//!     cargo run --release -p rserve-models --example chat_steps

use std::time::Instant;

use rserve_models::{ChatModel, Device, Message, Sampling};

fn main() {
    let models = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../models");
    let chat = ChatModel::load(
        &models.join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
        Device::Cpu,
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
    for batch in sizes {
        let mut seqs: Vec<_> = (0..batch)
            .map(|_| {
                chat.start(
                    prompt.clone(),
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
