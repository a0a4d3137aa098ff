//! The segment engine (work in progress).
