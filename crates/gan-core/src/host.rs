//! The machine a run uses: its compute device (`--device`), what produced a file (socgan's
//! version, commit, device and CPU kind, recorded in every checkpoint and results file), and the
//! process's peak memory (for the speed and memory benchmarks).

use std::fmt;
use std::str::FromStr;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::{Error, Result};

/// Where a run computes (`--device`): the best device this build can use (`auto`, the default:
/// the first CUDA device of a `--features cuda` build when one is present, else the CPU), the
/// CPU, or CUDA device N.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DeviceChoice {
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl DeviceChoice {
    /// Opens the device; a CUDA device in a build without CUDA, or one that is not there, is a
    /// one-line error (`auto` falls back to the CPU instead).
    pub fn open(self) -> Result<Device> {
        match self {
            DeviceChoice::Auto if cfg!(feature = "cuda") => {
                Ok(Device::new_cuda(0).unwrap_or(Device::Cpu))
            }
            DeviceChoice::Auto | DeviceChoice::Cpu => Ok(Device::Cpu),
            DeviceChoice::Cuda(_) if !cfg!(feature = "cuda") => Err(Error::Config(format!(
                "--device {self}: this socgan was built without CUDA (build with --features cuda)"
            ))),
            DeviceChoice::Cuda(ordinal) => Device::new_cuda(ordinal)
                .map_err(|e| Error::Config(format!("--device {self}: no usable CUDA device: {e}"))),
        }
    }
}

impl fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

impl FromStr for DeviceChoice {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" => Ok(DeviceChoice::Cuda(0)),
            _ => s
                .strip_prefix("cuda:")
                .and_then(|n| n.parse().ok())
                .map(DeviceChoice::Cuda)
                .ok_or_else(|| format!("`{s}` is not a device: expected auto, cpu or cuda:N")),
        }
    }
}

/// The device's name as recorded in checkpoints: `cpu` or `cuda:N`.
pub fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".into(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// The CPU's model and the widest vector extension the matrix kernels use (`avx512`, `avx2`,
/// `neon`, ...): figures differ between CPU kinds, because the kernels pick their code (and
/// summation order) at run time.
pub fn cpu_kind() -> String {
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string());
    format!("{model} ({})", vector_extension())
}

fn vector_extension() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            return "avx512";
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            return "avx2";
        }
        "sse"
    }
    #[cfg(target_arch = "aarch64")]
    {
        "neon"
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        "scalar"
    }
}

/// The version of the checkpoint layout this socgan writes; a checkpoint of a later version is
/// refused rather than misread. Checkpoints from before versions were recorded read as 0.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// What produced a checkpoint or results file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// socgan's version.
    pub version: String,
    /// The git commit socgan was built from, when the build knew it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// `cpu` or `cuda:N`.
    pub device: String,
    pub cpu: String,
    /// [`CHECKPOINT_FORMAT`] at the time of writing.
    pub format: u32,
}

static BUILD_COMMIT: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Records the git commit the running program was built from (the `socgan` binary knows it from
/// its build script; a library alone does not). The first call wins.
pub fn set_build_commit(commit: &str) {
    let _ = BUILD_COMMIT.set(commit.to_string());
}

impl Provenance {
    /// This process on `device`, with the commit [`set_build_commit`] recorded, if any.
    pub fn current(device: &Device) -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_string(),
            commit: BUILD_COMMIT.get().cloned(),
            device: device_name(device),
            cpu: cpu_kind(),
            format: CHECKPOINT_FORMAT,
        }
    }
}

impl Default for Provenance {
    /// This process on the CPU.
    fn default() -> Self {
        Self::current(&Device::Cpu)
    }
}

/// Peak resident memory of this process in MB, from the kernel (NaN where `/proc` has none).
pub fn peak_rss_mb() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse::<f64>().ok())
        })
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_parse_and_print_and_cuda_needs_a_cuda_build() {
        assert_eq!("cpu".parse(), Ok(DeviceChoice::Cpu));
        assert_eq!("cuda:1".parse(), Ok(DeviceChoice::Cuda(1)));
        assert_eq!("cuda".parse(), Ok(DeviceChoice::Cuda(0)));
        assert!("gpu"
            .parse::<DeviceChoice>()
            .unwrap_err()
            .contains("expected auto, cpu or cuda:N"));
        assert_eq!(DeviceChoice::Cuda(2).to_string(), "cuda:2");
        if !cfg!(feature = "cuda") {
            assert!(DeviceChoice::Auto.open().unwrap().is_cpu());
            let err = DeviceChoice::Cuda(0).open().unwrap_err().to_string();
            assert!(err.contains("built without CUDA"), "{err}");
        }
        let p = Provenance::current(&Device::Cpu);
        assert_eq!((p.device.as_str(), p.format), ("cpu", CHECKPOINT_FORMAT));
        assert!(!p.cpu.is_empty());
    }
}
