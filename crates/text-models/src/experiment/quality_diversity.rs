//! The quality-diversity view of "Language GANs Falling Short" (Caccia et al. 2020): one curve
//! per model, one point per sampling temperature. Text runs plot BLEU-4 (quality) against
//! Self-BLEU-4 (lower is more diverse); oracle runs NLL_oracle against NLL_gen.

use gan_core::charts::{Panel, Series};
use gan_core::evaluation::test_metric;
use gan_core::Metrics;

use crate::evaluation::metric;

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

/// The panel of `curves` (a name and its (temperature, metrics) points each) with `references`.
pub fn quality_diversity_panel(
    curves: &[(String, Vec<(f32, Metrics)>)],
    references: &[Reference],
) -> Panel {
    let bleu4 = test_metric(&metric::bleu(4));
    let text = curves
        .iter()
        .any(|(_, pts)| pts.iter().any(|(_, m)| m.contains_key(&bleu4)));
    let (x_key, y_key, title, x_label) = if text {
        (test_metric(&metric::self_bleu(4)), bleu4, "quality-diversity: BLEU-4 (up: quality) against Self-BLEU-4 (left: diversity), one point per temperature", "Self-BLEU-4")
    } else {
        (test_metric(metric::NLL_GEN), test_metric(metric::NLL_ORACLE), "quality-diversity: NLL_oracle (down: quality) against NLL_gen (left: coverage), one point per temperature", "NLL_gen")
    };
    let mut series: Vec<Series> = curves
        .iter()
        .map(|(name, pts)| Series {
            name: name.clone(),
            points: pts
                .iter()
                .filter_map(|(_, m)| Some((*m.get(&x_key)?, *m.get(&y_key)?)))
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
        for bad in ["no coordinates", "x=a,b"] {
            let err = bad.parse::<Reference>().unwrap_err().to_string();
            assert!(err.contains("expected NAME=X,Y or NAME=,Y"), "{err}");
        }

        let metrics = |s: f64, b: f64| {
            let mut m = Metrics::new();
            m.insert("test/self_bleu4".into(), s);
            m.insert("test/bleu4".into(), b);
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
