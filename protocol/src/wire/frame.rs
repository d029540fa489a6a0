//! Framing: each message is a 4-byte big-endian length and a JSON document.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::MAX_FRAME_LEN;

/// A frame that cannot be decoded.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The length prefix exceeds the decoder's limit ([`MAX_FRAME_LEN`] by
    /// default).
    #[error("frame of {len} bytes exceeds the {limit}-byte limit")]
    TooLarge {
        /// The declared length.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The payload is not the expected message.
    #[error("malformed message: {0}")]
    Malformed(#[from] serde_json::Error),
}

/// Serialises `msg` as one length-prefixed frame.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let mut out = vec![0; 4];
    serde_json::to_writer(&mut out, msg).expect("protocol messages always serialise");
    let len = u32::try_from(out.len() - 4).expect("frames are far below 4 GiB");
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// Parses one frame's payload (without its length prefix).
pub fn decode<T: DeserializeOwned>(payload: &[u8]) -> Result<T, FrameError> {
    Ok(serde_json::from_slice(payload)?)
}

/// Accumulates bytes from a stream and yields complete frames of at most
/// its limit.
#[derive(Debug)]
pub struct FrameDecoder {
    buf: Vec<u8>,
    limit: usize,
}

impl Default for FrameDecoder {
    /// Frames up to [`MAX_FRAME_LEN`].
    fn default() -> Self {
        Self::with_limit(MAX_FRAME_LEN)
    }
}

impl FrameDecoder {
    /// Frames up to `limit` bytes (capped at [`MAX_FRAME_LEN`]): a longer
    /// length prefix is an error before any of the frame is buffered.
    pub fn with_limit(limit: usize) -> Self {
        Self {
            buf: Vec::new(),
            limit: limit.min(MAX_FRAME_LEN),
        }
    }

    /// Bytes pushed but not yet returned as a frame (what follows the last frame).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// Whether no bytes are waiting (the stream ended between frames).
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// Appends bytes read from the transport.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next complete frame's payload, if one has fully arrived.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, FrameError> {
        let Some(prefix) = self.buf.first_chunk::<4>() else {
            return Ok(None);
        };
        let len = u32::from_be_bytes(*prefix) as usize;
        if len > self.limit {
            return Err(FrameError::TooLarge {
                len,
                limit: self.limit,
            });
        }
        if self.buf.len() < 4 + len {
            return Ok(None);
        }
        let payload = self.buf[4..4 + len].to_vec();
        self.buf.drain(..4 + len);
        Ok(Some(payload))
    }
}
