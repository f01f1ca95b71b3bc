//! Timing a benchmark workload the same way in every model crate (`socgan bench`): warm-up
//! first, the median of the timed repetitions, the device's queued work included, and one JSON
//! record with the thread count and the process's peak memory beside the time.

use std::time::Instant;

use candle_core::Device;
use serde_json::{json, Value};

use crate::host::{device_name, peak_rss_mb};

/// The median of `xs` (the upper one of an even count); NaN for none.
pub fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Seconds of each of `repeats` (at least one) calls of `work`, after one untimed warm-up call;
/// the median. Each timed call ends when `device` has finished its work, so a GPU, which runs
/// ahead of the host, is timed for what it computed.
pub fn time_median<E: From<candle_core::Error>>(
    repeats: usize,
    device: &Device,
    mut work: impl FnMut() -> Result<(), E>,
) -> Result<f64, E> {
    work()?;
    device.synchronize()?;
    let mut times = Vec::with_capacity(repeats.max(1));
    for _ in 0..repeats.max(1) {
        let start = Instant::now();
        work()?;
        device.synchronize()?;
        times.push(start.elapsed().as_secs_f64());
    }
    Ok(median(times))
}

/// The line `socgan bench` prints for a workload: its name, the device, the thread count
/// (`RAYON_NUM_THREADS`, else all), the median seconds and peak memory, and `extra`'s fields
/// (throughput and the like).
pub fn record(workload: &str, device: &Device, seconds: f64, extra: Value) -> Value {
    let threads = std::env::var("RAYON_NUM_THREADS").unwrap_or_else(|_| "all".into());
    let mut line = json!({
        "workload": workload,
        "device": device_name(device),
        "threads": threads,
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
    });
    if let (Some(line), Value::Object(extra)) = (line.as_object_mut(), extra) {
        line.extend(extra);
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_time_every_repeat_after_a_warm_up_and_records_carry_the_fields() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert!(median(Vec::new()).is_nan());
        let mut calls = 0;
        let s = time_median::<crate::Error>(3, &Device::Cpu, || {
            calls += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!(calls, 4);
        assert!(s >= 0.0);
        let line = record("w", &Device::Cpu, 1.5, json!({ "unit": "x/s" }));
        assert_eq!(line["workload"], "w");
        assert_eq!(line["device"], "cpu");
        assert_eq!(line["seconds"], 1.5);
        assert_eq!(line["unit"], "x/s");
        assert!(line.get("threads").is_some() && line.get("peak_rss_mb").is_some());
    }
}
