//! `socgan chart`: one metric of several runs against the run step, in one SVG (for comparing
//! runs, e.g. classifier-FID of one GAN trained with every loss).

use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use gan_core::charts::{write_svg, Panel, Series};
use gan_core::metrics::read_records;
use gan_core::trainer::METRICS_FILE;

/// Draws `metric` of every run in `runs` (named by their folders) into `out`.
pub fn run(metric: &str, runs: &[PathBuf], out: &Path, title: Option<&str>) -> Result<()> {
    let mut series = Vec::new();
    for run in runs {
        let records = read_records(&run.join(METRICS_FILE))?;
        let points: Vec<(f64, f64)> = records
            .iter()
            .filter_map(|r| Some((r["step"].as_f64()?, r[metric].as_f64()?)))
            .filter(|(_, y)| y.is_finite())
            .collect();
        if points.is_empty() {
            bail!("{}: no `{metric}` in {METRICS_FILE}", run.display());
        }
        let name = run
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| run.display().to_string());
        series.push(Series { name, points });
    }
    let panel = Panel {
        title: title.unwrap_or(metric).to_string(),
        x_label: "run step".into(),
        series,
    };
    write_svg(out, &[panel])?;
    Ok(())
}
