//! Integration tests of the engine: hand-written cases for every construct,
//! property tests against the reference evaluator, and a performance report.

mod cases;
mod explain;
mod live;
mod perf;
mod proptests;
