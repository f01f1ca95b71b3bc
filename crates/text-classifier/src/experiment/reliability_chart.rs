//! The reliability diagram of a run's test posts (beside its confusion matrix): per confidence
//! bin, the accuracy of the posts whose top-class probability falls there, against the diagonal
//! a calibrated model follows; the expected calibration error in the title.

use std::path::Path;

use plotters::prelude::*;
use socgan_io::write_atomic;

use crate::probabilities::{expected_calibration_error, ReliabilityBin, BINS};
use crate::{Error, Result};

/// The chart file written beside a run.
pub const RELIABILITY_CHART: &str = "reliability.svg";

/// Writes the diagram of `bins` to `path` (SVG, atomically).
pub fn write_reliability_chart(path: &Path, bins: &[ReliabilityBin], title: &str) -> Result<()> {
    let draw = |e: &dyn std::fmt::Display| Error::Config(format!("drawing the chart: {e}"));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (560, 480)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| draw(&e))?;
        let caption = format!(
            "{title}: reliability (ECE {:.3})",
            expected_calibration_error(bins)
        );
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 16))
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(45)
            .build_cartesian_2d(0.0..1.0, 0.0..1.0)
            .map_err(|e| draw(&e))?;
        chart
            .configure_mesh()
            .x_desc("confidence (top-class probability)")
            .y_desc("accuracy")
            .draw()
            .map_err(|e| draw(&e))?;
        chart
            .draw_series(LineSeries::new([(0.0, 0.0), (1.0, 1.0)], BLACK.mix(0.4)))
            .map_err(|e| draw(&e))?;
        let width = 1.0 / BINS as f64;
        chart
            .draw_series(
                bins.iter()
                    .enumerate()
                    .filter(|(_, b)| b.posts > 0)
                    .map(|(i, b)| {
                        let x = i as f64 * width;
                        Rectangle::new([(x, 0.0), (x + width, b.accuracy)], BLUE.mix(0.5).filled())
                    }),
            )
            .map_err(|e| draw(&e))?;
        root.present().map_err(|e| draw(&e))?;
    }
    write_atomic(path, svg.as_bytes())?;
    Ok(())
}
