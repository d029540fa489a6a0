//! rserve's RPC: the control protocol of `rserve_protocol::wire` over QUIC, the
//! calling side ([`client`], used by the CLI and by nodes) and the framing both
//! sides share.
//!
//! One endpoint per node (the `endpoint` module) serves operators and the other
//! nodes alike. Each call is one bidirectional stream: a request frame, then an
//! answer frame (forwarded HTTP requests carry their bodies raw after the
//! frames). The first stream of a connection is the handshake (version
//! negotiation and the admin token). This module imports only `pki` of the node's,
//! so the cluster can call other nodes without a cycle through the endpoint.

pub mod client;

use rserve_protocol::wire::FrameDecoder;

/// The leaf certificate the other side of `conn` presented, if it presented one.
pub(crate) fn peer_certificate(
    conn: &quinn::Connection,
) -> Option<rustls::pki_types::CertificateDer<'static>> {
    conn.peer_identity()
        .and_then(|id| {
            id.downcast::<Vec<rustls::pki_types::CertificateDer<'static>>>()
                .ok()
        })
        .and_then(|certs| certs.first().cloned())
}

/// Reads one frame of at most `limit` bytes and returns it with the bytes
/// that followed it so far.
pub(crate) async fn read_frame_and_rest(
    recv: &mut quinn::RecvStream,
    limit: usize,
) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let mut decoder = FrameDecoder::with_limit(limit);
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

/// Reads one frame (of at most `limit` bytes) from a stream that the peer
/// finishes after sending it.
pub(crate) async fn read_frame(
    recv: &mut quinn::RecvStream,
    limit: usize,
) -> anyhow::Result<Vec<u8>> {
    read_frame_and_rest(recv, limit)
        .await
        .map(|(frame, _)| frame)
}
