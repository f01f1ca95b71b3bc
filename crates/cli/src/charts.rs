//! Loss and metric curves of a run, drawn from its `metrics.jsonl` as SVG.

use std::path::Path;

use anyhow::{Context, Result};
use plotters::prelude::*;

use serde_json::Value;

/// One line of a chart: a name and its (step, value) points.
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A titled panel of series.
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub series: Vec<Series>,
}

fn collect(
    records: &[Value],
    kind: &str,
    phases: &[&str],
    key: &str,
    name: &str,
) -> Option<Series> {
    let points: Vec<(f64, f64)> = records
        .iter()
        .filter(|r| r["kind"] == kind && phases.iter().any(|p| r["phase"] == *p))
        .filter_map(|r| Some((r["step"].as_f64()?, r[key].as_f64()?)))
        .filter(|(_, y)| y.is_finite())
        .collect();
    (!points.is_empty()).then(|| Series {
        name: name.to_string(),
        points,
    })
}

/// The panels of a text-GAN run: MLE loss, adversarial losses, evaluation metrics.
pub fn run_panels(records: &[Value]) -> Vec<Panel> {
    let panel = |title: &str, series: Vec<Option<Series>>| Panel {
        title: title.to_string(),
        x_label: "run step".to_string(),
        series: series.into_iter().flatten().collect(),
    };
    vec![
        panel(
            "MLE pretraining: generator NLL per token",
            vec![collect(
                records,
                "train",
                &["generator_pretrain"],
                "g_loss",
                "train NLL",
            )],
        ),
        panel(
            "adversarial training: losses",
            vec![
                collect(
                    records,
                    "train",
                    &["discriminator_pretrain", "adversarial"],
                    "d_loss",
                    "D loss",
                ),
                collect(records, "train", &["adversarial"], "g_loss", "G loss"),
            ],
        ),
        panel(
            "evaluation",
            vec![
                collect(
                    records,
                    "eval",
                    &[
                        "generator_pretrain",
                        "discriminator_pretrain",
                        "adversarial",
                    ],
                    "nll_oracle",
                    "NLL_oracle",
                ),
                collect(
                    records,
                    "eval",
                    &[
                        "generator_pretrain",
                        "discriminator_pretrain",
                        "adversarial",
                    ],
                    "nll_gen",
                    "NLL_gen",
                ),
                collect(
                    records,
                    "eval",
                    &[
                        "generator_pretrain",
                        "discriminator_pretrain",
                        "adversarial",
                    ],
                    "nll_oracle_floor",
                    "oracle floor",
                ),
            ],
        ),
    ]
    .into_iter()
    .filter(|p| !p.series.is_empty())
    .collect()
}

/// The quality-diversity view of "Language GANs Falling Short" (Caccia et al. 2020): one curve
/// per model, one point per sampling temperature. Text runs plot BLEU-4 (quality) against
/// Self-BLEU-4 (lower is more diverse); oracle runs NLL_oracle against NLL_gen.
/// A published figure drawn beside the curves: a point, or (without `x`, e.g. a paper that
/// reports BLEU but no Self-BLEU) a horizontal line across the curves' range.
#[derive(Clone, Debug, PartialEq)]
pub struct Reference {
    pub name: String,
    pub x: Option<f64>,
    pub y: f64,
}

impl std::str::FromStr for Reference {
    type Err = String;

    /// `NAME=X,Y` (a point) or `NAME=,Y` (a line).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let expected = || format!("--reference `{s}`: expected NAME=X,Y or NAME=,Y");
        let (name, coords) = s.rsplit_once('=').ok_or_else(expected)?;
        let (x, y) = coords.split_once(',').ok_or_else(expected)?;
        let number = |v: &str| v.trim().parse::<f64>().map_err(|_| expected());
        Ok(Self {
            name: name.trim().to_string(),
            x: if x.trim().is_empty() {
                None
            } else {
                Some(number(x)?)
            },
            y: number(y)?,
        })
    }
}

pub fn quality_diversity_panel(
    curves: &[(String, Vec<(f32, gan_core::Metrics)>)],
    references: &[Reference],
) -> Panel {
    let text = curves
        .iter()
        .any(|(_, pts)| pts.iter().any(|(_, m)| m.contains_key("bleu4")));
    let (x_key, y_key, title, x_label) = if text {
        ("self_bleu4", "bleu4", "quality-diversity: BLEU-4 (up: quality) against Self-BLEU-4 (left: diversity), one point per temperature", "Self-BLEU-4")
    } else {
        ("nll_gen", "nll_oracle", "quality-diversity: NLL_oracle (down: quality) against NLL_gen (left: coverage), one point per temperature", "NLL_gen")
    };
    let mut series: Vec<Series> = curves
        .iter()
        .map(|(name, pts)| Series {
            name: name.clone(),
            points: pts
                .iter()
                .filter_map(|(_, m)| Some((*m.get(x_key)?, *m.get(y_key)?)))
                .collect(),
        })
        .collect();
    let xs = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .chain(references.iter().filter_map(|r| r.x));
    let (x_min, x_max) = xs.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    for r in references {
        let points = match r.x {
            Some(x) => vec![(x, r.y)],
            None if x_min.is_finite() => vec![(x_min, r.y), (x_max, r.y)],
            None => continue,
        };
        series.push(Series {
            name: r.name.clone(),
            points,
        });
    }
    Panel {
        title: title.to_string(),
        x_label: x_label.to_string(),
        series,
    }
}

/// Draws `panels` one above the other into an SVG file, written atomically.
pub fn write_svg(path: &Path, panels: &[Panel]) -> Result<()> {
    let mut svg = String::new();
    {
        let height = 300 * panels.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE)?;
        for (area, panel) in root
            .split_evenly((panels.len().max(1), 1))
            .iter()
            .zip(panels)
        {
            let xs = panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.0));
            let ys = panel
                .series
                .iter()
                .flat_map(|s| s.points.iter().map(|p| p.1));
            let (x0, x1) = bounds(xs);
            let (y0, y1) = bounds(ys);
            let mut chart = ChartBuilder::on(area)
                .caption(&panel.title, ("sans-serif", 18))
                .margin(12)
                .x_label_area_size(35)
                .y_label_area_size(55)
                .build_cartesian_2d(x0..x1, y0..y1)?;
            chart
                .configure_mesh()
                .x_desc(panel.x_label.as_str())
                .light_line_style(WHITE.mix(0.0))
                .draw()?;
            for (i, series) in panel.series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                chart
                    .draw_series(LineSeries::new(
                        series.points.iter().copied(),
                        color.stroke_width(2),
                    ))?
                    .label(series.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                if series.points.len() < 40 {
                    chart.draw_series(
                        series
                            .points
                            .iter()
                            .map(|&p| Circle::new(p, 3, color.filled())),
                    )?;
                }
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.85))
                .draw()?;
        }
        root.present()?;
    }
    gan_core::checkpoint::write_atomic(path, svg.as_bytes())
        .with_context(|| format!("{}: cannot write chart", path.display()))?;
    Ok(())
}

fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    let pad = ((hi - lo) * 0.05).max(1e-3);
    (lo - pad, hi + pad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_become_points_or_lines_across_the_curves() {
        let r: Reference = "published MLE=0.583,0.305".parse().unwrap();
        assert_eq!(
            (r.name.as_str(), r.x, r.y),
            ("published MLE", Some(0.583), 0.305)
        );
        let line: Reference = "RelGAN(100) BLEU-4=,0.502".parse().unwrap();
        assert_eq!(line.x, None);
        assert!("no coordinates".parse::<Reference>().is_err());
        assert!("x=a,b".parse::<Reference>().is_err());

        let metrics = |s: f64, b: f64| {
            let mut m = gan_core::Metrics::new();
            m.insert("self_bleu4".into(), s);
            m.insert("bleu4".into(), b);
            m
        };
        let curves = vec![(
            "mle".to_string(),
            vec![(0.8, metrics(0.6, 0.4)), (1.0, metrics(0.3, 0.3))],
        )];
        let panel = quality_diversity_panel(&curves, &[r, line]);
        assert_eq!(panel.series.len(), 3);
        assert_eq!(panel.series[1].points, vec![(0.583, 0.305)]);
        // The line spans every x on the chart, the reference point's included.
        assert_eq!(panel.series[2].points, vec![(0.3, 0.502), (0.6, 0.502)]);
    }
}
