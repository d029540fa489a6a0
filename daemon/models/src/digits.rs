//! The demo model: an MLP that classifies 8×8 handwritten digits (scikit-learn's
//! digits data set). Weights are trained by `scripts/train_digits.py` and embedded
//! in the binary, so `rserve up --demo` needs no files.

use burn::module::Param;
use burn::nn::Linear;
use burn::prelude::Backend;
use burn::tensor::activation::{relu, softmax};
use burn::tensor::{Tensor, TensorData};

use crate::weights::Weights;
use crate::{Device, ModelError};

/// Pixels per image (8×8).
pub const DIGITS_INPUTS: usize = 64;
/// Output classes (digits 0-9).
pub const DIGITS_CLASSES: usize = 10;
/// The raw pixel range of the data set is 0..=16; the network was trained on
/// pixels divided by this.
const PIXEL_MAX: f32 = 16.0;
/// Layer widths: 64 → 64 → 32 → 10.
const LAYERS: [(&str, usize, usize); 3] = [("fc1", 64, 64), ("fc2", 64, 32), ("fc3", 32, 10)];

/// The weights that ship in the repository (and in the binary).
static BUNDLED_WEIGHTS: &[u8] = include_bytes!("../weights/digits.safetensors");

/// One classification: the most likely digit and the probability of every digit.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DigitsPrediction {
    /// The predicted digit.
    pub label: u8,
    /// Softmax probabilities for digits 0..=9.
    pub probabilities: Vec<f32>,
}

/// A loaded digits classifier on some device; the backend is erased.
pub struct DigitsClassifier {
    inner: Box<dyn Classify>,
    device: Device,
}

impl std::fmt::Debug for DigitsClassifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DigitsClassifier")
            .field("device", &self.device)
            .finish_non_exhaustive()
    }
}

trait Classify {
    /// Softmax probabilities, row-major `[n, 10]`, for `n` scaled images.
    fn probabilities(&self, pixels: Vec<f32>, n: usize) -> Vec<f32>;
}

impl DigitsClassifier {
    /// Loads the weights bundled with rserve.
    pub fn bundled(device: Device) -> Result<Self, ModelError> {
        Self::from_bytes("<bundled digits.safetensors>", BUNDLED_WEIGHTS, device)
    }

    /// Loads weights from a safetensors file on disk.
    pub fn from_file(path: &std::path::Path, device: Device) -> Result<Self, ModelError> {
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| crate::WeightsError::Io {
            path: name.clone(),
            source,
        })?;
        Self::from_bytes(&name, &bytes, device)
    }

    /// Loads weights from safetensors bytes; `name` is used in error messages.
    pub fn from_bytes(name: &str, bytes: &[u8], device: Device) -> Result<Self, ModelError> {
        let weights = Weights::parse(name, bytes)?;
        let inner: Box<dyn Classify> = match device.check_built()? {
            Device::Cpu => Box::new(Mlp::<crate::device::CpuBackend>::load(
                &weights,
                &Default::default(),
            )?),
            #[cfg(feature = "cuda")]
            Device::Cuda(index) => Box::new(Mlp::<burn::backend::Cuda>::load(
                &weights,
                &burn::backend::cuda::CudaDevice::new(index),
            )?),
            #[cfg(not(feature = "cuda"))]
            Device::Cuda(_) => unreachable!("check_built rejects cuda without the feature"),
        };
        Ok(Self { inner, device })
    }

    /// The device the model runs on.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Checks images before they join a batch: 64 pixel values in `0..=16` each.
    pub fn check_images(images: &[Vec<f32>]) -> Result<(), ModelError> {
        for (i, image) in images.iter().enumerate() {
            if image.len() != DIGITS_INPUTS {
                return Err(ModelError::Input(format!(
                    "image {i} has {} pixels, expected {DIGITS_INPUTS} (8×8)",
                    image.len()
                )));
            }
            if let Some(p) = image.iter().find(|p| !(0.0..=PIXEL_MAX).contains(*p)) {
                return Err(ModelError::Input(format!(
                    "image {i} has pixel value {p}, expected 0..=16"
                )));
            }
        }
        Ok(())
    }

    /// Classifies a batch of images given as raw pixel values in `0..=16`.
    pub fn predict(&self, images: &[Vec<f32>]) -> Result<Vec<DigitsPrediction>, ModelError> {
        Self::check_images(images)?;
        let scaled: Vec<f32> = images
            .iter()
            .flat_map(|image| image.iter().map(|p| p / PIXEL_MAX))
            .collect();
        if images.is_empty() {
            return Ok(Vec::new());
        }
        let probs = self.inner.probabilities(scaled, images.len());
        Ok(probs
            .chunks_exact(DIGITS_CLASSES)
            .map(|row| DigitsPrediction {
                label: argmax(row),
                probabilities: row.to_vec(),
            })
            .collect())
    }
}

fn argmax(row: &[f32]) -> u8 {
    let mut best = 0;
    for (i, p) in row.iter().enumerate() {
        if *p > row[best] {
            best = i;
        }
    }
    best as u8
}

struct Mlp<B: Backend> {
    layers: Vec<Linear<B>>,
    device: B::Device,
}

impl<B: Backend> Mlp<B> {
    fn load(weights: &Weights<'_>, device: &B::Device) -> Result<Self, ModelError> {
        let mut layers = Vec::with_capacity(LAYERS.len());
        for (name, d_in, d_out) in LAYERS {
            // The file stores PyTorch's [out, in]; Burn's Linear wants [in, out].
            let w = weights.f32(&format!("{name}.weight"), &[d_out, d_in])?;
            let b = weights.f32(&format!("{name}.bias"), &[d_out])?;
            let w = crate::weights::transpose(&w, d_out, d_in);
            let w: Tensor<B, 2> = Tensor::from_data(TensorData::new(w, [d_in, d_out]), device);
            let b: Tensor<B, 1> = Tensor::from_data(TensorData::new(b, [d_out]), device);
            layers.push(Linear {
                weight: Param::from_tensor(w),
                bias: Some(Param::from_tensor(b)),
            });
        }
        Ok(Self {
            layers,
            device: device.clone(),
        })
    }
}

impl<B: Backend> Classify for Mlp<B> {
    fn probabilities(&self, pixels: Vec<f32>, n: usize) -> Vec<f32> {
        let mut x: Tensor<B, 2> =
            Tensor::from_data(TensorData::new(pixels, [n, DIGITS_INPUTS]), &self.device);
        let last = self.layers.len() - 1;
        for (i, layer) in self.layers.iter().enumerate() {
            x = layer.forward(x);
            if i != last {
                x = relu(x);
            }
        }
        softmax(x, 1)
            .into_data()
            .to_vec::<f32>()
            .expect("softmax output is f32")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_wrong_shapes_and_ranges() {
        let model = DigitsClassifier::bundled(Device::Cpu).unwrap();
        let err = model.predict(&[vec![0.0; 63]]).unwrap_err().to_string();
        assert!(err.contains("63 pixels"), "{err}");
        let err = model.predict(&[vec![17.0; 64]]).unwrap_err().to_string();
        assert!(err.contains("pixel value 17"), "{err}");
        assert!(model.predict(&[]).unwrap().is_empty());
    }

    #[test]
    fn truncated_weights_are_a_clear_error() {
        let cut = &BUNDLED_WEIGHTS[..BUNDLED_WEIGHTS.len() / 2];
        let err = DigitsClassifier::from_bytes("cut.safetensors", cut, Device::Cpu)
            .unwrap_err()
            .to_string();
        assert!(err.contains("cut.safetensors"), "{err}");
        assert!(err.contains("not a valid safetensors"), "{err}");
    }

    #[test]
    fn probabilities_sum_to_one() {
        let model = DigitsClassifier::bundled(Device::Cpu).unwrap();
        let p = model.predict(&[vec![8.0; 64], vec![0.0; 64]]).unwrap();
        assert_eq!(p.len(), 2);
        for row in &p {
            let sum: f32 = row.probabilities.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{sum}");
        }
    }
}
