//! The confusion matrix as an SVG heat map (written beside a run and by `socgan eval`).

use std::path::Path;

use plotters::prelude::*;
use socgan_io::write_atomic;

use crate::metrics::ConfusionMatrix;
use crate::{Error, Result};

/// The confusion matrix as an SVG heat map: rows are gold classes, columns predictions, each
/// cell coloured by its share of the row (recall on the diagonal) and labelled with its count.
pub fn write_confusion_chart(
    path: &Path,
    matrix: &ConfusionMatrix,
    names: &[String],
    title: &str,
) -> Result<()> {
    let k = matrix.classes();
    let cell = (480 / k.max(1)).clamp(12, 90) as i32;
    let margin = 140;
    let size = (margin + cell * k as i32 + 20) as u32;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (size, size + 40)).into_drawing_area();
        let draw = |e: DrawingAreaErrorKind<_>| Error::Config(format!("drawing the chart: {e}"));
        root.fill(&WHITE).map_err(draw)?;
        let font = ("sans-serif", 13).into_font();
        root.draw(&Text::new(
            format!("{title}: gold (rows) x predicted (columns)"),
            (10, 10),
            font.clone(),
        ))
        .map_err(draw)?;
        let top = margin - 40;
        for (gold, gold_name) in names.iter().enumerate().take(k) {
            let support = matrix.support(gold).max(1) as f64;
            for pred in 0..k {
                let count = matrix.count(gold, pred);
                let share = count as f64 / support;
                let shade = (255.0 * (1.0 - share)) as u8;
                let (x, y) = (margin + pred as i32 * cell, top + gold as i32 * cell);
                root.draw(&Rectangle::new(
                    [(x, y), (x + cell, y + cell)],
                    RGBColor(shade, shade, 255).filled(),
                ))
                .map_err(draw)?;
                if cell >= 24 {
                    let color = if share > 0.5 { &WHITE } else { &BLACK };
                    root.draw(&Text::new(
                        count.to_string(),
                        (x + 4, y + cell / 2 - 6),
                        font.clone().color(color),
                    ))
                    .map_err(draw)?;
                }
            }
            root.draw(&Text::new(
                truncate(gold_name, 18),
                (6, top + gold as i32 * cell + cell / 2 - 6),
                font.clone(),
            ))
            .map_err(draw)?;
        }
        for (pred, name) in names.iter().enumerate() {
            root.draw(&Text::new(
                truncate(name, (cell / 7).max(3) as usize),
                (margin + pred as i32 * cell + 2, top - 18),
                font.clone(),
            ))
            .map_err(draw)?;
        }
        root.present().map_err(draw)?;
    }
    write_atomic(path, svg.as_bytes())?;
    Ok(())
}

fn truncate(name: &str, chars: usize) -> String {
    name.chars().take(chars).collect()
}
