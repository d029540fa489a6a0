//! Device selection, shared by every model family.

use std::fmt;

/// The Burn backend for `device = "cpu"`: `burn-flex` unless a build selects the
/// ndarray backend (`--features ndarray`, or `openblas` for ndarray with the
/// system OpenBLAS) — kept selectable so the choice can be re-measured
/// (`scripts/bench-models.sh`, docs/benchmarks.md).
#[cfg(not(feature = "ndarray"))]
pub(crate) type CpuBackend = burn::backend::Flex;
/// See above.
#[cfg(feature = "ndarray")]
pub(crate) type CpuBackend = burn::backend::NdArray;
use std::str::FromStr;

/// Where a model runs. Parsed from the `device` option of a replica kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Device {
    /// Burn's CPU backend (always built).
    #[default]
    Cpu,
    /// Burn's CUDA backend on GPU `N` (needs the `cuda` cargo feature).
    Cuda(usize),
}

/// A device string that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeviceError {
    /// The string is not `cpu`, `cuda` or `cuda:N`.
    #[error("unknown device `{0}`: expected `cpu`, `cuda` or `cuda:N`")]
    Unknown(String),
    /// CUDA was asked for but this binary was built without the `cuda` feature.
    #[error("device `{0}` needs a binary built with `--features cuda`")]
    NotBuilt(Device),
    /// The string is not `f32`, `f16` or `bf16`.
    #[error("unknown dtype `{0}`: expected `f32`, `f16` or `bf16`")]
    UnknownDtype(String),
    /// A half-precision dtype on a device that computes in f32.
    #[error("dtype `{0}` needs a cuda device: the CPU backend computes in f32")]
    DtypeNeedsCuda(Dtype),
    /// A KV-cache dtype the device's cache cannot hold for the model's dtype.
    #[error(
        "kv_cache_dtype `{kv}` is not available on {device} with dtype `{dtype}`: {}",
        if *device == Device::Cpu {
            "the CPU's cache holds `f32` or `f16`"
        } else {
            "a GPU's cache holds the model's dtype (set `dtype` instead)"
        }
    )]
    KvCacheDtype {
        /// The cache's dtype asked for.
        kv: Dtype,
        /// The model's.
        dtype: Dtype,
        /// Where it runs.
        device: Device,
    },
}

/// The float type a model's weights and activations are kept in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dtype {
    /// 32-bit floats (every device).
    #[default]
    F32,
    /// IEEE half precision (CUDA).
    F16,
    /// bfloat16 (CUDA).
    Bf16,
}

impl FromStr for Dtype {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Self::F32),
            "f16" => Ok(Self::F16),
            "bf16" => Ok(Self::Bf16),
            _ => Err(DeviceError::UnknownDtype(s.to_owned())),
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::F32 => "f32",
            Self::F16 => "f16",
            Self::Bf16 => "bf16",
        })
    }
}

impl Dtype {
    /// Burn's name for it.
    pub(crate) fn burn(self) -> burn::tensor::FloatDType {
        match self {
            Self::F32 => burn::tensor::FloatDType::F32,
            Self::F16 => burn::tensor::FloatDType::F16,
            Self::Bf16 => burn::tensor::FloatDType::BF16,
        }
    }

    /// Whether `device` computes in this type.
    pub fn check(self, device: Device) -> Result<Self, DeviceError> {
        match (self, device) {
            (Self::F32, _) | (_, Device::Cuda(_)) => Ok(self),
            (_, Device::Cpu) => Err(DeviceError::DtypeNeedsCuda(self)),
        }
    }
}

impl FromStr for Device {
    type Err = DeviceError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "cpu" => Ok(Self::Cpu),
            "cuda" => Ok(Self::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(Self::Cuda)
                .ok_or_else(|| DeviceError::Unknown(s.to_owned())),
        }
    }
}

impl fmt::Display for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Cpu => f.write_str("cpu"),
            Self::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// Powers of two from `from` up to `max`, and `max` itself: the shapes to warm a
/// GPU backend's kernels up on.
pub(crate) fn warm_up_sizes(from: usize, max: usize) -> Vec<usize> {
    let mut sizes: Vec<usize> = std::iter::successors(Some(from.max(1)), |n| n.checked_mul(2))
        .take_while(|&n| n < max)
        .collect();
    if max >= from.max(1) {
        sizes.push(max);
    }
    sizes
}

/// Keeps CUDA kernel autotune results in `dir` (CubeCL's persistent autotune
/// cache, by default under the working directory's Cargo `target/` or the user's
/// cache directory), so a restarted node does not tune its kernels again. Must
/// run before the first CUDA model loads; later calls do nothing, as does a build
/// without CUDA. Other CubeCL settings still come from a `cubecl.toml` in the
/// working directory and `CUBECL_*` variables.
pub fn persist_autotune_cache(dir: &std::path::Path) {
    #[cfg(feature = "cuda")]
    {
        use burn::cubecl::config::cache::CacheConfig;
        use burn::cubecl::config::{CubeClRuntimeConfig, RuntimeConfig};
        static ONCE: std::sync::Once = std::sync::Once::new();
        ONCE.call_once(|| {
            let mut config = CubeClRuntimeConfig::from_current_dir().override_from_env();
            config.autotune.cache = CacheConfig::File(dir.to_path_buf());
            CubeClRuntimeConfig::set(config);
        });
    }
    #[cfg(not(feature = "cuda"))]
    let _ = dir;
}

impl Device {
    /// Whether the device autotunes kernels at first use (so models on it are
    /// worth warming up before serving).
    pub fn autotunes(self) -> bool {
        matches!(self, Self::Cuda(_))
    }

    /// Whether this binary can run models on the device at all.
    pub fn check_built(self) -> Result<Self, DeviceError> {
        match self {
            Self::Cpu => Ok(self),
            Self::Cuda(_) if cfg!(feature = "cuda") => Ok(self),
            Self::Cuda(_) => Err(DeviceError::NotBuilt(self)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_device_strings() {
        assert_eq!("cpu".parse::<Device>().unwrap(), Device::Cpu);
        assert_eq!("cuda".parse::<Device>().unwrap(), Device::Cuda(0));
        assert_eq!("cuda:3".parse::<Device>().unwrap(), Device::Cuda(3));
        assert!("gpu".parse::<Device>().is_err());
        assert!("cuda:x".parse::<Device>().is_err());
        assert_eq!(Device::Cuda(2).to_string(), "cuda:2");
        for d in ["f32", "f16", "bf16"] {
            assert_eq!(d.parse::<Dtype>().unwrap().to_string(), d);
        }
        assert!("f8".parse::<Dtype>().is_err());
        assert!(Dtype::F16.check(Device::Cpu).is_err());
        assert!(Dtype::Bf16.check(Device::Cuda(0)).is_ok());
        assert!(Dtype::F32.check(Device::Cpu).is_ok());
    }

    #[test]
    fn warm_up_sizes_are_powers_of_two_and_the_maximum() {
        assert_eq!(warm_up_sizes(1, 16), vec![1, 2, 4, 8, 16]);
        assert_eq!(warm_up_sizes(8, 256), vec![8, 16, 32, 64, 128, 256]);
        assert_eq!(warm_up_sizes(1, 10), vec![1, 2, 4, 8, 10]);
        assert_eq!(warm_up_sizes(2, 1), Vec::<usize>::new());
        assert_eq!(warm_up_sizes(1, 1), vec![1]);
    }
}
