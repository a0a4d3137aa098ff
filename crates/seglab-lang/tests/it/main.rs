//! Integration tests of the segment language: one binary, one module per topic.

mod docs;
mod errors;
mod examples;
mod fuzz;
mod render;
mod roundtrip;
mod support;
