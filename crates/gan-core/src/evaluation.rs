//! What an evaluation reports: validation metrics (for model selection) and test metrics (for
//! reporting), kept apart by name: `val/accuracy`, `test/nll_oracle`.

use crate::Metrics;

pub const VALIDATION_PREFIX: &str = "val/";
pub const TEST_PREFIX: &str = "test/";

/// One evaluation of a task.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Evaluation {
    pub validation: Metrics,
    pub test: Metrics,
}

impl Evaluation {
    /// Test metrics only (a protocol with no validation split, e.g. the synthetic oracle).
    pub fn test_only(test: Metrics) -> Self {
        Self {
            validation: Metrics::new(),
            test,
        }
    }

    /// Both splits under their prefixed names.
    ///
    /// ```
    /// use gan_core::{Evaluation, Metrics};
    /// let e = Evaluation { validation: Metrics::from([("loss".into(), 1.0)]), test: Metrics::from([("loss".into(), 2.0)]) };
    /// let flat = e.flatten();
    /// assert_eq!((flat["val/loss"], flat["test/loss"]), (1.0, 2.0));
    /// ```
    pub fn flatten(&self) -> Metrics {
        let prefixed = |prefix: &'static str, m: &'_ Metrics| {
            m.iter()
                .map(move |(k, v)| (format!("{prefix}{k}"), *v))
                .collect::<Vec<_>>()
        };
        prefixed(VALIDATION_PREFIX, &self.validation)
            .into_iter()
            .chain(prefixed(TEST_PREFIX, &self.test))
            .collect()
    }
}

/// `test/{name}`: the name under which a test metric is logged.
pub fn test_metric(name: &str) -> String {
    format!("{TEST_PREFIX}{name}")
}
