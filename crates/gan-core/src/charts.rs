//! Charts of a run drawn as SVG: loss curves per phase and evaluation metrics by family, from
//! its `metrics.jsonl`, plus the [`Panel`] / [`Series`] pieces model crates draw their own charts
//! with (a quality-diversity curve, say).

use std::path::Path;

use plotters::prelude::*;
use serde_json::Value;

use crate::{Error, Result};

/// One line of a chart: a name and its (x, y) points.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    pub name: String,
    pub points: Vec<(f64, f64)>,
}

/// A titled panel of series.
#[derive(Clone, Debug, PartialEq)]
pub struct Panel {
    pub title: String,
    pub x_label: String,
    pub series: Vec<Series>,
}

/// The panels of any run: per phase, its losses against the run step; per evaluation split and
/// metric family (the name up to its first `_`, digits dropped: `bleu2..5` together, `nll_gen`
/// with `nll_oracle`), the metrics against the run step.
pub fn run_panels(records: &[Value]) -> Vec<Panel> {
    let mut panels = Vec::new();
    let mut phases: Vec<&str> = Vec::new();
    for r in records.iter().filter(|r| r["kind"] == "train") {
        if let Some(p) = r["phase"].as_str() {
            if !phases.contains(&p) {
                phases.push(p);
            }
        }
    }
    for phase in phases {
        let train = records
            .iter()
            .filter(|r| r["kind"] == "train" && r["phase"] == phase);
        let series = series_by_key(train, |k| k.ends_with("loss"));
        panels.push(Panel {
            title: format!("{phase}: losses"),
            x_label: "run step".into(),
            series,
        });
    }
    let evals: Vec<&Value> = records.iter().filter(|r| r["kind"] == "eval").collect();
    let mut families: Vec<String> = Vec::new();
    for r in &evals {
        for key in r.as_object().into_iter().flat_map(|o| o.keys()) {
            if let Some(f) = metric_family(key) {
                if !families.contains(&f) {
                    families.push(f);
                }
            }
        }
    }
    for family in families {
        let series = series_by_key(evals.iter().copied(), |k| {
            metric_family(k).as_deref() == Some(family.as_str())
        });
        panels.push(Panel {
            title: format!("evaluation: {family}"),
            x_label: "run step".into(),
            series,
        });
    }
    panels.retain(|p| !p.series.is_empty());
    panels
}

/// `val/bleu4` -> `val/bleu`, `test/nll_oracle_floor` -> `test/nll`; `None` for a name that is
/// not an evaluation metric.
fn metric_family(key: &str) -> Option<String> {
    let (split, name) = key.split_once('/')?;
    let head = name.split('_').next().unwrap_or(name);
    Some(format!(
        "{split}/{}",
        head.trim_end_matches(|c: char| c.is_ascii_digit())
    ))
}

/// One series per key that `wanted` accepts, with (step, value) points, in key order.
fn series_by_key<'a>(
    records: impl Iterator<Item = &'a Value> + Clone,
    wanted: impl Fn(&str) -> bool,
) -> Vec<Series> {
    let mut keys: Vec<String> = records
        .clone()
        .flat_map(|r| r.as_object().into_iter().flat_map(|o| o.keys().cloned()))
        .filter(|k| wanted(k))
        .collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .map(|key| Series {
            points: records
                .clone()
                .filter_map(|r| Some((r["step"].as_f64()?, r[&key].as_f64()?)))
                .filter(|(_, y)| y.is_finite())
                .collect(),
            name: key,
        })
        .filter(|s| !s.points.is_empty())
        .collect()
}

/// Draws `panels` one above the other into an SVG file, written atomically.
pub fn write_svg(path: &Path, panels: &[Panel]) -> Result<()> {
    let drawing_error = |e: &dyn std::fmt::Display| Error::Chart {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut svg = String::new();
    {
        let height = 300 * panels.len().max(1) as u32;
        let root = SVGBackend::with_string(&mut svg, (900, height)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| drawing_error(&e))?;
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
                .build_cartesian_2d(x0..x1, y0..y1)
                .map_err(|e| drawing_error(&e))?;
            chart
                .configure_mesh()
                .x_desc(panel.x_label.as_str())
                .light_line_style(WHITE.mix(0.0))
                .draw()
                .map_err(|e| drawing_error(&e))?;
            for (i, series) in panel.series.iter().enumerate() {
                let color = Palette99::pick(i).to_rgba();
                chart
                    .draw_series(LineSeries::new(
                        series
                            .points
                            .iter()
                            .copied()
                            .filter(|(x, y)| x.is_finite() && y.is_finite()),
                        color.stroke_width(2),
                    ))
                    .map_err(|e| drawing_error(&e))?
                    .label(series.name.as_str())
                    .legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                    });
                if series.points.len() < 40 {
                    chart
                        .draw_series(
                            series
                                .points
                                .iter()
                                .map(|&p| Circle::new(p, 3, color.filled())),
                        )
                        .map_err(|e| drawing_error(&e))?;
                }
            }
            chart
                .configure_series_labels()
                .border_style(BLACK)
                .background_style(WHITE.mix(0.85))
                .draw()
                .map_err(|e| drawing_error(&e))?;
        }
        root.present().map_err(|e| drawing_error(&e))?;
    }
    Ok(socgan_io::write_atomic(path, svg.as_bytes())?)
}

/// One metric of several runs against the run step, in one chart at `out` (`socgan chart`):
/// each run is a series named by its folder; records without the metric, or with a non-finite
/// value, are skipped, and a run with none at all is an error naming it.
pub fn metric_chart(
    metric: &str,
    runs: &[std::path::PathBuf],
    out: &Path,
    title: Option<&str>,
) -> Result<()> {
    let mut series = Vec::new();
    for run in runs {
        let records = crate::metrics::read_records(&run.join(crate::trainer::METRICS_FILE))?;
        let points: Vec<(f64, f64)> = records
            .iter()
            .filter_map(|r| Some((r["step"].as_f64()?, r[metric].as_f64()?)))
            .filter(|(_, y)| y.is_finite())
            .collect();
        if points.is_empty() {
            return Err(Error::Config(format!(
                "{}: no `{metric}` in {}",
                run.display(),
                crate::trainer::METRICS_FILE
            )));
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
    write_svg(out, &[panel])
}

/// The axis range of `values`, padded; infinite and NaN values are not drawn (an infinite bound
/// would make the axis meaningless).
fn bounds(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
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
    use serde_json::json;

    #[test]
    fn panels_group_losses_by_phase_and_metrics_by_family() {
        let records = vec![
            json!({"kind": "eval", "step": 0, "phase": "mle", "test/nll_oracle": 9.0, "test/nll_gen": 8.0, "test/bleu2": 0.5, "test/bleu3": 0.3}),
            json!({"kind": "train", "step": 1, "phase": "mle", "g_loss": 8.0, "generator_lr": 0.01}),
            json!({"kind": "train", "step": 2, "phase": "adversarial", "g_loss": 1.0, "d_loss": 1.2}),
            json!({"kind": "eval", "step": 2, "phase": "adversarial", "test/nll_oracle": 8.5, "test/nll_gen": 8.1, "test/bleu2": 0.6, "test/bleu3": 0.35}),
        ];
        let panels = run_panels(&records);
        let titles: Vec<&str> = panels.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "mle: losses",
                "adversarial: losses",
                "evaluation: test/bleu",
                "evaluation: test/nll"
            ]
        );
        assert_eq!(panels[0].series.len(), 1, "learning rates are not losses");
        assert_eq!(panels[3].series[0].points, vec![(0.0, 8.0), (2.0, 8.1)]);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("curves.svg");
        write_svg(&path, &panels).unwrap();
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .contains("test/nll_oracle"));
    }

    #[test]
    fn metric_charts_draw_one_series_per_run_and_name_a_run_without_the_metric() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, lines: &[serde_json::Value]| {
            let run = dir.path().join(name);
            std::fs::create_dir_all(&run).unwrap();
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            std::fs::write(run.join(crate::trainer::METRICS_FILE), text).unwrap();
            run
        };
        let a = write(
            "run-a",
            &[
                json!({"step": 0, "test/fid": 300.0}),
                json!({"step": 5, "g_loss": 1.0}),
                json!({"step": 10, "test/fid": 120.0}),
            ],
        );
        let b = write("run-b", &[json!({"step": 0, "test/fid": 250.0})]);
        let out = dir.path().join("fid.svg");
        metric_chart("test/fid", &[a.clone(), b], &out, None).unwrap();
        let svg = std::fs::read_to_string(&out).unwrap();
        assert!(svg.contains("run-a") && svg.contains("run-b") && svg.contains("test/fid"));

        let c = write("run-c", &[json!({"step": 0, "g_loss": 1.0})]);
        let err = metric_chart("test/fid", &[a, c], &out, Some("t")).unwrap_err();
        assert!(
            matches!(&err, Error::Config(m) if m.contains("run-c") && m.contains("no `test/fid`")),
            "{err}"
        );
        let missing = metric_chart("test/fid", &[dir.path().join("none")], &out, None);
        assert!(matches!(missing, Err(Error::Io { .. })));
    }

    /// Infinite values (a `--reference` of `inf`) are left out of the axes instead of making
    /// them meaningless.
    #[test]
    fn non_finite_values_do_not_set_the_axes() {
        assert_eq!(bounds([f64::INFINITY, f64::NAN].into_iter()), (0.0, 1.0));
        let (lo, hi) = bounds([1.0, f64::INFINITY, 2.0].into_iter());
        assert!(lo < 1.0 && hi > 2.0 && hi < 3.0, "{lo} {hi}");
    }
}
