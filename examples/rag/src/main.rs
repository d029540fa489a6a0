//! `rserve-rag`: the whole `rserve` CLI and daemon, serving two kinds written
//! against the public API besides the built-in ones:
//!
//! - `rag` ([`rag::Rag`]): answers a question from a small corpus — embeds it
//!   through its `embedder` handle (an `embeddings` deployment), finds the
//!   nearest passages, and asks its `llm` handle (a `chat` deployment) with
//!   them, streaming the answer as server-sent events;
//! - `relay` ([`relay::Relay`]): passes each request to its `next` handle —
//!   one handle hop, for the tests and the handle-overhead benchmark.
//!
//! `rserve-rag up --deploy examples/rag/rag.toml`, then
//! `curl -N localhost:8000/rag -d '{"question": "What is the capital of Japan?"}'`.

mod rag;
mod relay;

fn main() -> std::process::ExitCode {
    rserve::App::new()
        .kind::<rag::Rag>("rag")
        .kind::<relay::Relay>("relay")
        .run()
}
