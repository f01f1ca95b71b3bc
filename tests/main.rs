//! End-to-end tests of the `socgan` binary, one test binary (each links the whole stack).

mod support;

mod audit_cli;
mod behaviour_cli;
mod classifier_cli;
mod cli;
mod cuda_agreement;
mod lifecycle;
mod posts_on_request_cli;
