//! Reading named f32 tensors out of a safetensors file, with errors that name the
//! file and the tensor.

use safetensors::{Dtype, SafeTensors};

/// A weights file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    /// The file could not be read from disk.
    #[error("cannot read weights file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The file is not a valid safetensors file (truncated, corrupt header, ...).
    #[error("weights file {path} is not a valid safetensors file: {reason}")]
    Format {
        /// The file.
        path: String,
        /// What the parser said.
        reason: String,
    },
    /// A tensor the model needs is absent.
    #[error("weights file {path} has no tensor `{name}`")]
    Missing {
        /// The file.
        path: String,
        /// The tensor name.
        name: String,
    },
    /// A tensor has the wrong shape or element type.
    #[error("weights file {path}: tensor `{name}` is {found}, expected {expected}")]
    Mismatch {
        /// The file.
        path: String,
        /// The tensor name.
        name: String,
        /// What the file holds.
        found: String,
        /// What the model needs.
        expected: String,
    },
}

/// `data` (row-major `[rows, cols]`) transposed to row-major `[cols, rows]`.
///
/// Weights are transposed once at load, into contiguous memory: a lazily
/// transposed (strided) weight would make every matmul slower or copy it.
pub(crate) fn transpose(data: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; data.len()];
    const TILE: usize = 32;
    for r0 in (0..rows).step_by(TILE) {
        for c0 in (0..cols).step_by(TILE) {
            for r in r0..(r0 + TILE).min(rows) {
                for c in c0..(c0 + TILE).min(cols) {
                    out[c * rows + r] = data[r * cols + c];
                }
            }
        }
    }
    out
}

/// A parsed safetensors file plus the name it is reported under.
pub(crate) struct Weights<'a> {
    path: &'a str,
    tensors: SafeTensors<'a>,
}

impl<'a> Weights<'a> {
    pub(crate) fn parse(path: &'a str, bytes: &'a [u8]) -> Result<Self, WeightsError> {
        let tensors = SafeTensors::deserialize(bytes).map_err(|e| WeightsError::Format {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        Ok(Self { path, tensors })
    }

    /// Every tensor's name and shape.
    pub(crate) fn shapes(&self) -> Vec<(String, Vec<usize>)> {
        self.tensors
            .tensors()
            .into_iter()
            .map(|(name, view)| (name, view.shape().to_vec()))
            .collect()
    }

    /// The f32 values of tensor `name`, checked against `shape`.
    pub(crate) fn f32(&self, name: &str, shape: &[usize]) -> Result<Vec<f32>, WeightsError> {
        let view = self
            .tensors
            .tensor(name)
            .map_err(|_| WeightsError::Missing {
                path: self.path.to_owned(),
                name: name.to_owned(),
            })?;
        if view.dtype() != Dtype::F32 || view.shape() != shape {
            return Err(WeightsError::Mismatch {
                path: self.path.to_owned(),
                name: name.to_owned(),
                found: format!("{:?} {:?}", view.dtype(), view.shape()),
                expected: format!("F32 {shape:?}"),
            });
        }
        Ok(view
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
}
