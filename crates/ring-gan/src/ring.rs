//! The ring of Gaussians: a seeded sampler, and what generated points are scored by.

use candle_core::{Device, Tensor};
use gan_core::{Metrics, SeededRng};
use serde::{Deserialize, Serialize};

/// The mixture: `modes` Gaussians of standard deviation `std`, centred evenly on a circle of
/// radius `radius`. The defaults are the unrolled-GAN paper's.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Ring {
    pub modes: usize,
    pub radius: f32,
    pub std: f32,
}

impl Default for Ring {
    fn default() -> Self {
        Self {
            modes: 8,
            radius: 2.0,
            std: 0.02,
        }
    }
}

/// The names of the scores, as evaluations log them under `test/`.
pub mod metric_names {
    /// Modes holding at least [`super::COVERED_SHARE`] of the points.
    pub const MODES: &str = "modes";
    /// Share of points within three standard deviations of their nearest mode.
    pub const HIGH_QUALITY: &str = "high_quality";
}

/// A mode is covered when at least this share of the scored points lie within three standard
/// deviations of it.
pub const COVERED_SHARE: f64 = 0.01;

impl Ring {
    /// The centre of mode `k`.
    pub fn centre(&self, k: usize) -> (f32, f32) {
        let angle = 2.0 * std::f32::consts::PI * k as f32 / self.modes as f32;
        (self.radius * angle.cos(), self.radius * angle.sin())
    }

    /// `n` points `[n, 2]`, each from a mode drawn uniformly.
    pub fn sample(
        &self,
        n: usize,
        rng: &mut SeededRng,
        device: &Device,
    ) -> Result<Tensor, candle_core::Error> {
        let noise = rng.normal_vec(2 * n, 0.0, self.std);
        let mut points = Vec::with_capacity(2 * n);
        for i in 0..n {
            let (x, y) = self.centre(rng.below(self.modes));
            points.push(x + noise[2 * i]);
            points.push(y + noise[2 * i + 1]);
        }
        Tensor::from_vec(points, (n, 2), device)
    }

    /// Modes covered and the high-quality share of `points` (`[x0, y0, x1, y1, ...]`).
    pub fn score(&self, points: &[f32]) -> Metrics {
        let n = points.len() / 2;
        let mut near = vec![0usize; self.modes];
        for p in points.chunks_exact(2) {
            let (k, distance) = (0..self.modes)
                .map(|k| {
                    let (cx, cy) = self.centre(k);
                    (k, ((p[0] - cx).powi(2) + (p[1] - cy).powi(2)).sqrt())
                })
                .min_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap_or((0, f32::INFINITY));
            if distance <= 3.0 * self.std {
                near[k] += 1;
            }
        }
        let covered = near
            .iter()
            .filter(|&&c| c as f64 >= COVERED_SHARE * n as f64 && c > 0)
            .count();
        let high_quality = near.iter().sum::<usize>() as f64 / n.max(1) as f64;
        Metrics::from([
            (metric_names::MODES.to_string(), covered as f64),
            (metric_names::HIGH_QUALITY.to_string(), high_quality),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_points_cover_every_mode_and_one_point_covers_one() {
        let ring = Ring::default();
        let real = ring
            .sample(4000, &mut SeededRng::new(0), &Device::Cpu)
            .unwrap();
        let m = ring.score(&real.flatten_all().unwrap().to_vec1().unwrap());
        assert_eq!(m[metric_names::MODES], 8.0);
        assert!(m[metric_names::HIGH_QUALITY] > 0.98, "{m:?}");
        let (x, y) = ring.centre(3);
        let collapsed: Vec<f32> = (0..100).flat_map(|_| [x, y]).collect();
        let m = ring.score(&collapsed);
        assert_eq!(
            (m[metric_names::MODES], m[metric_names::HIGH_QUALITY]),
            (1.0, 1.0)
        );
        let m = ring.score(&[0.0, 0.0]);
        assert_eq!(
            (m[metric_names::MODES], m[metric_names::HIGH_QUALITY]),
            (0.0, 0.0)
        );
    }
}
