//! The machine a run uses: its compute device, and the process's peak memory (for the speed and
//! memory benchmarks).

use candle_core::Device;

use crate::Result;

/// CPU by default; the first CUDA device when built with `--features cuda`.
pub fn device() -> Result<Device> {
    #[cfg(feature = "cuda")]
    {
        return Device::new_cuda(0)
            .map_err(|e| crate::Error::Config(format!("no usable CUDA device: {e}")));
    }
    #[cfg(not(feature = "cuda"))]
    Ok(Device::Cpu)
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
