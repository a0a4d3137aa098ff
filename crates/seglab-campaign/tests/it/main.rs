//! Integration tests of seglab-campaign: one binary, one module per area.

mod email;
#[path = "../../../../tests/smtp/harness.rs"]
mod smtp;
