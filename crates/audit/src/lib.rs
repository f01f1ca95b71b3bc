//! Record-level measures of synthetic data against the real records it was made from, for text
//! (word sequences) and item sequences (user histories) alike, with no model crate below:
//! - [`shingles`]: a record's set of 1- and 2-grams, the unit of every distance here;
//! - [`nearest`]: each synthetic record's closest record of a pool (exact Jaccard distance over
//!   shingles, pruned by set size);
//! - [`copies`]: exact copies and near duplicates of training records;
//! - [`privacy`]: the distance-to-closest-record comparison (SDMetrics' DCR protocol) with its
//!   Wilson interval;
//! - [`divergence`]: n-gram novelty, Jensen-Shannon divergence of token (item) frequencies,
//!   Kolmogorov-Smirnov distance of lengths;
//! - [`bleu`]: NLTK-exact BLEU and Self-BLEU (fidelity beside privacy);
//! - [`audit`]: all of them on one training / synthetic / held-out triple, as a
//!   [`report::AuditReport`] with `--fail-on` rules and a chart.

pub mod audit;
pub mod bleu;
pub mod chart;
pub mod copies;
pub mod divergence;
pub mod nearest;
pub mod privacy;
pub mod report;
pub mod shingles;

pub use audit::{audit, Audit, AuditOptions, RecordKind, Records};
pub use report::{AuditReport, FailRule};

/// What can go wrong in an audit: bad inputs and settings, or a file that cannot be written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid audit input: {0}")]
    Invalid(String),
    #[error("{0}")]
    Io(String),
}

pub type Result<T> = std::result::Result<T, Error>;
