//! rserve's RPC: the control protocol of `rserve_protocol::wire` over QUIC.
//!
//! One endpoint per node serves operators (the CLI) and the other nodes of
//! the cluster alike ([`server`]); [`client`] is the other end, used by the
//! CLI and by nodes. Each call is one bidirectional stream: a request frame,
//! then an answer frame ([`forward`]ed HTTP requests carry their bodies raw
//! after the frames). The first stream of a connection is the handshake
//! (version negotiation and the admin token).

pub mod client;
mod forward;
pub mod server;

use rserve_protocol::wire::FrameDecoder;

pub use server::{Context, bind, endpoint, serve};

/// Reads one frame and returns it with the bytes that followed it so far.
async fn read_frame_and_rest(recv: &mut quinn::RecvStream) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let mut decoder = FrameDecoder::default();
    loop {
        if let Some(frame) = decoder.next_frame()? {
            return Ok((frame, decoder.take_rest()));
        }
        // Chunks as quinn holds them: no scratch buffer to allocate and zero.
        match recv.read_chunk(usize::MAX, true).await? {
            Some(chunk) => decoder.push(&chunk.bytes),
            None => anyhow::bail!("stream ended before a complete frame"),
        }
    }
}

/// Reads one frame from a stream that the peer finishes after sending it.
async fn read_frame(recv: &mut quinn::RecvStream) -> anyhow::Result<Vec<u8>> {
    read_frame_and_rest(recv).await.map(|(frame, _)| frame)
}
