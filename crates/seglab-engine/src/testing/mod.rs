//! Test support shared with other crates' tests (the `testing` feature):
//! builders of conditions and worlds, the checks that run both evaluators,
//! and the property-test generators.

pub mod support;
pub mod worlds;
