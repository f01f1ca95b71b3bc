//! The audit's chart: how far synthetic records are from their closest training record and from
//! their closest held-out record, as two histograms over the Jaccard distance. A generator that
//! does not copy draws two curves on top of each other; one that memorises pushes the training
//! curve to the left, towards 0.

use std::path::Path;

use plotters::prelude::*;

use crate::{Error, Result};

const BINS: usize = 20;

/// Share of `distances` in each of [`BINS`] equal bins of [0, 1], at the bins' centres.
fn histogram(distances: &[f64]) -> Vec<(f64, f64)> {
    let mut counts = [0usize; BINS];
    for &d in distances {
        counts[((d * BINS as f64) as usize).min(BINS - 1)] += 1;
    }
    let n = distances.len().max(1) as f64;
    counts
        .iter()
        .enumerate()
        .map(|(i, &c)| ((i as f64 + 0.5) / BINS as f64, c as f64 / n))
        .collect()
}

/// Writes the chart of the two distance samples to `path` (SVG, atomically).
pub fn write_distance_chart(path: &Path, to_training: &[f64], to_holdout: &[f64]) -> Result<()> {
    let failed = |e: &dyn std::fmt::Display| Error::Io(format!("{}: {e}", path.display()));
    let series = [
        ("closest training record", histogram(to_training), RED),
        ("closest held-out record", histogram(to_holdout), BLUE),
    ];
    let top = series
        .iter()
        .flat_map(|(_, points, _)| points.iter().map(|p| p.1))
        .fold(0.0, f64::max)
        .max(0.01)
        * 1.1;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (800, 420)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| failed(&e))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(
                "synthetic records: distance to the closest real record",
                ("sans-serif", 18),
            )
            .margin(12)
            .x_label_area_size(35)
            .y_label_area_size(55)
            .build_cartesian_2d(0.0..1.0, 0.0..top)
            .map_err(|e| failed(&e))?;
        chart
            .configure_mesh()
            .x_desc("Jaccard distance of 1-2-gram sets")
            .y_desc("share of synthetic records")
            .draw()
            .map_err(|e| failed(&e))?;
        for (name, points, colour) in series {
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(2)))
                .map_err(|e| failed(&e))?
                .label(name)
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour));
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .draw()
            .map_err(|e| failed(&e))?;
        root.present().map_err(|e| failed(&e))?;
    }
    socgan_io::write_atomic(path, svg.as_bytes()).map_err(|e| failed(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_sum_to_one_and_the_chart_is_written() {
        let h = histogram(&[0.0, 0.5, 1.0, 0.99]);
        assert!((h.iter().map(|p| p.1).sum::<f64>() - 1.0).abs() < 1e-12);
        assert_eq!(h[BINS - 1].1, 0.5);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dcr.svg");
        write_distance_chart(&path, &[0.1, 0.2], &[0.7, 0.8]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.contains("closest held-out record"));
    }
}
