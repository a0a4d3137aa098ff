//! Integration tests of seglab-stats: reference vectors from scipy and
//! statsmodels, the A/A simulation of peeking, and property tests.

mod aa;
mod proptests;
mod vectors;
