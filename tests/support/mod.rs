//! Fixtures shared by the end-to-end tests (and, through `#[path]`, by the data crate's tests).

pub mod fake_hub;
pub mod parquet_fixture;
pub mod run;
