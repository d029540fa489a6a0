//! CPU throughput of the real models, for `scripts/bench-models.sh` (which runs the
//! PyTorch reference side by side): embeddings at batch 1, 8 and 32, and chat
//! time to first token and single-stream decode speed.
//!
//!     cargo run --release -p rserve-models --example bench_models -- models/ [seconds] [device]
//!
//! `device` is `cpu` (default) or `cuda[:N]` (a build with `--features cuda`); it
//! also prints the time to load and to warm up (autotune) each model.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use rserve_models::{ChatModel, Device, EmbeddingModel, Message, Sampling};

const SENTENCES: [&str; 8] = [
    "The cat sits on the mat.",
    "What is the capital of France?",
    "Ray Serve is a scalable model serving library for building online inference APIs.",
    "Rust gives you memory safety without a garbage collector.",
    "A quick brown fox jumps over the lazy dog near the river bank.",
    "Embeddings map text to vectors so that similar meanings are close together.",
    "The weather today is sunny with a light breeze from the west.",
    "Transformers use attention to mix information across the tokens of a sequence.",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let models = PathBuf::from(args.next().unwrap_or_else(|| "models".to_owned()));
    let seconds: f64 = args.next().map_or(5.0, |s| s.parse().unwrap());
    let device: Device = args.next().map_or(Device::Cpu, |d| d.parse().unwrap());

    let start = Instant::now();
    let embed = EmbeddingModel::load(&models.join("all-minilm-l6-v2"), device).unwrap();
    let loaded = start.elapsed().as_secs_f64();
    if device.autotunes() {
        embed.warm_up(32, 16_384);
    }
    println!(
        "embeddings device={device} load_s={loaded:.2} warm_up_s={:.2}",
        start.elapsed().as_secs_f64() - loaded
    );
    for batch in [1usize, 8, 32] {
        let texts: Vec<&str> = (0..batch).map(|i| SENTENCES[i % SENTENCES.len()]).collect();
        embed.embed(&texts).unwrap(); // warm up
        let mut times = Vec::new();
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs_f64(seconds) {
            let t = Instant::now();
            embed.embed(&texts).unwrap();
            times.push(t.elapsed().as_secs_f64());
        }
        times.sort_by(f64::total_cmp);
        let total: f64 = times.iter().sum();
        println!(
            "embeddings batch={batch} sentences_per_s={:.1} p50_ms={:.2}",
            (times.len() * batch) as f64 / total,
            times[times.len() / 2] * 1000.0
        );
    }

    let start = Instant::now();
    let chat = ChatModel::load(
        &models.join("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf"),
        device,
    )
    .unwrap();
    let loaded = start.elapsed().as_secs_f64();
    if device.autotunes() {
        chat.warm_up(16, 512);
    }
    println!(
        "chat device={device} load_s={loaded:.2} warm_up_s={:.2}",
        start.elapsed().as_secs_f64() - loaded
    );
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
    let sampling = Sampling {
        max_tokens: 64,
        ..Sampling::default()
    };
    chat.generate(
        &prompt,
        &Sampling {
            max_tokens: 2,
            ..Sampling::default()
        },
        |_| true,
    )
    .unwrap(); // warm up
    let mut ttft = Vec::new();
    let mut decode = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let mut first = None;
        let out = chat
            .generate(&prompt, &sampling, |_| {
                first.get_or_insert_with(|| start.elapsed().as_secs_f64());
                true
            })
            .unwrap();
        let total = start.elapsed().as_secs_f64();
        let first = first.unwrap_or(total);
        ttft.push(first);
        decode.push((out.tokens.len() - 1) as f64 / (total - first));
    }
    ttft.sort_by(f64::total_cmp);
    decode.sort_by(f64::total_cmp);
    println!(
        "chat prompt_tokens={} ttft_ms={:.1} decode_tokens_per_s={:.2}",
        prompt.len(),
        ttft[1] * 1000.0,
        decode[1]
    );
}
