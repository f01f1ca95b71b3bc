//! Behaviour sequences from a generator: user histories as token sequences for the
//! token-sequence GANs of `text-models` (items are tokens), what a synthetic log is measured by
//! (item popularity, history lengths, copying of real users), and the generator's evaluator.
//!
//! The generator learns from the training part of each history only (never a validation or test
//! item, which augmented data would otherwise leak into training), and not at all from a seeded
//! share of users held out for the copy audit.

pub mod codec;
pub mod evaluator;

pub use codec::HistoryCodec;
pub use evaluator::BehaviourEvaluator;
