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

impl Device {
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
    }
}
