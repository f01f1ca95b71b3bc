//! Record-level measures of synthetic data against the real records it was made from, for text
//! (word sequences) and item sequences (user histories) alike, with no model crate below:
//! - [`words`]: posts as words with punctuation apart; [`shingles`]: a record's set of 1- and
//!   2-grams, the unit of every distance here;
//! - [`nearest`]: each synthetic record's closest record of a pool (exact Jaccard distance over
//!   shingles, through an inverted index of shingles);
//! - [`copies`]: exact copies and near duplicates of training records;
//! - [`privacy`]: the distance-to-closest-record comparison (SDMetrics' DCR protocol) with its
//!   Wilson interval;
//! - [`divergence`]: n-gram novelty, Jensen-Shannon divergence of token (item) frequencies,
//!   Kolmogorov-Smirnov distance of lengths;
//! - [`detection`]: a classifier two-sample test, how well synthetic records are told from
//!   held-out real ones (AUC, [`roc`]);
//! - [`bleu`]: NLTK-exact BLEU and Self-BLEU (fidelity beside privacy);
//! - [`canaries`]: records planted in training and their exposure (membership inference and
//!   canary exposure take per-record likelihoods from a model crate's checkpoint);
//! - [`audit`]: all of them on one training / synthetic / held-out triple, as a
//!   [`report::AuditReport`] with `--fail-on` rules and a chart.

pub mod audit;
pub mod bleu;
pub mod canaries;
pub mod chart;
pub mod copies;
pub mod detection;
pub mod divergence;
pub mod nearest;
pub mod privacy;
pub mod report;
pub mod roc;
pub mod shingles;
pub mod words;

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
