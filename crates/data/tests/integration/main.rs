//! Hub downloads against a loopback server and Parquet reading, one test binary.

mod hub;
mod parquet;
mod regressions;
