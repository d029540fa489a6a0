//! Entry points for the fuzz targets (`fuzz/`): the parsers that take bytes
//! from outside the node, each run as the node runs it. Not an API.

use bytes::Bytes;
use rserve_protocol::wire::{FrameDecoder, Request, Response, decode};

/// Bytes from a control-port stream: split into frames, each decoded as a
/// request (what a node reads) and as a response (what a client reads),
/// and a decoded request's configs checked as a member checks them.
pub fn control_stream(bytes: &[u8]) {
    let mut frames = FrameDecoder::default();
    // Fed in two pieces, as a stream delivers them.
    let (a, b) = bytes.split_at(bytes.len() / 2);
    for piece in [a, b] {
        frames.push(piece);
        while let Ok(Some(payload)) = frames.next_frame() {
            if let Ok(request) = decode::<Request>(&payload) {
                check_request(&request);
            }
            let _ = decode::<Response>(&payload);
        }
    }
}

fn check_request(request: &Request) {
    match request {
        Request::StartReplica { config, .. } => {
            let _ = config.check();
        }
        Request::Heartbeat { advert, .. } | Request::Join { advert, .. } => {
            let _ = advert.check();
        }
        _ => {}
    }
}

/// A join token as `rserve up --token` and the head read it.
pub fn join_token(text: &[u8]) {
    if let Ok(text) = std::str::from_utf8(text)
        && let Ok(token) = crate::cluster::tokens::JoinToken::parse(text)
    {
        assert_eq!(
            crate::cluster::tokens::JoinToken::parse(&token.to_text()).ok(),
            Some(token),
            "a parsed token prints as itself"
        );
    }
}

/// An OpenAI request body as the replicas parse it: embeddings, chat and
/// text completions.
pub fn openai_request(body: &[u8]) {
    let body = Bytes::copy_from_slice(body);
    let _ = crate::replica::openai::EmbeddingsCall::parse(&body, "m", 384);
    crate::replica::fuzz_completion(&body);
}
