//! The trainer and the core's building blocks through the public API, one test binary (each
//! binary links candle; one is cheaper to build than four).

mod gradient_penalty;
mod groups;
mod supervised;
mod trainer;
