//! Integration tests of seglab-campaign: one binary, one module per area.

mod email;
mod smtp;
