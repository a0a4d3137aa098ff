//! The wire protocols of the analytics SDKs seglab accepts.
//!
//! * [`segment_spec`]: the Segment HTTP Tracking API (also RudderStack's and
//!   analytics.js's short paths).
//! * [`posthog`]: PostHog's capture endpoints.
//! * [`body`]: what comes before either: gzip, PostHog's form-encoded `data=`.

pub mod body;
pub mod posthog;
mod raw;
pub mod segment_spec;
