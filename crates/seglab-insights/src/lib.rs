//! Insights per segment and the guardrails: what a segment is worth, how it
//! moves, how segments overlap, and the pitfalls worth a warning.
//!
//! Everything is read, never written: the engine's timelines (through
//! [`Segments`](seglab_segments::Segments)), the members of each segment (a
//! [`Membership`]: the live engine's bitmaps in a server, an engine
//! evaluation on the command line), and what was recorded about the past (a
//! [`History`]: `live.db`). No HTTP, no SQL of its own, no clock: `now` is
//! always passed in.
//!
//! [`Insights`] answers five questions; each answer serializes to the JSON
//! the server returns (the shapes below are stable: dashboards read them).
//! Times are ISO-8601 UTC strings; money is the sum of the numeric
//! `revenue` of `Order Completed` events; a ratio that would divide by zero
//! is `null`, never NaN, and a note says why.
//!
//! # One segment: [`Insights::segment`]
//!
//! ```json
//! {"segment": "recent_buyers", "at": "2026-06-01T00:00:00.000Z",
//!  "size": 120, "people": 2000, "share": 0.06,
//!  "days": [{"day": "2026-05-03", "entered": 4, "exited": 1, "size": 117,
//!            "people": 1990, "share": 0.0588}],
//!  "orders": {"window_days": 365, "orders": 160, "buyers": 120,
//!             "revenue": 9600.0, "revenue_per_member": 80.0,
//!             "average_order_value": 60.0, "conversion_rate": 1.0},
//!  "email": {"window_days": 30, "delivered": 90, "engaged": 36,
//!            "engagement_rate": 0.4},
//!  "notes": []}
//! ```
//!
//! - `size`, `share`: members now, and their share of everyone with a
//!   timeline (`people`).
//! - `days`: the last `days` UTC days (today included), oldest first, from
//!   the recorded changes: people who entered, exited, the size at the end of
//!   the day, the people seen by then (first event at or before the end of
//!   the day) and the share. Empty when nothing was recorded for the segment.
//! - `orders`: over the last [`REVENUE_WINDOW_DAYS`] days: orders and
//!   revenue of members, members with an order (`buyers`), revenue per member
//!   (`null` with no members), average order value (`null` with no orders)
//!   and conversion rate = buyers / members (`null` with no members).
//! - `email`: over the last [`EMAIL_WINDOW_DAYS`] days: members an email was
//!   delivered to, those of them who opened or clicked one, and the rate
//!   (`null` when nothing was delivered).
//! - `notes`: sentences for whatever is `null` or empty.
//!
//! # The RFM grid: [`Insights::rfm_grid`]
//!
//! ```json
//! {"at": "…", "buyers": 800, "revenue": 64000.0,
//!  "cells": [{"r": 5, "f": 1, "cell": "New customers", "people": 31, "revenue": 1200.0}, …],
//!  "named": [{"cell": "Champions", "people": 70, "revenue": 15000.0,
//!             "share_of_buyers": 0.0875, "share_of_revenue": 0.234}, …]}
//! ```
//!
//! `cells` holds the 25 cells of the 5×5 recency × frequency grid, rows R = 5
//! down to 1, columns F = 1 to 5 (the layout of [`seglab_engine::rfm`]),
//! with the buyers in each and their revenue (every order at or before `now`:
//! the monetary value RFM scores use). `named` sums them by cell name, in the
//! order of [`seglab_engine::RFM_CELLS`].
//!
//! # Overlaps: [`Insights::overlap`]
//!
//! ```json
//! {"segments": [{"name": "a", "size": 10}, {"name": "b", "size": 5}],
//!  "intersections": [[10, 4], [4, 5]],
//!  "jaccard": [[1.0, 0.3636], [0.3636, 1.0]]}
//! ```
//!
//! Square matrices in the order of `segments`: people in both, and
//! |A ∩ B| / |A ∪ B| (0 when both are empty). Computed from the member
//! bitmaps (roaring intersections), in parallel.
//!
//! # Mutually exclusive families: [`Insights::families`]
//!
//! ```json
//! {"people": 2000, "assigned": 450, "unassigned": 1550,
//!  "families": [{"segment": "rfm_champions", "members": 70, "first": 70,
//!                "share": 0.035, "sample": [12, 40]}, …]}
//! ```
//!
//! The segments in priority order; each person counts in the first one that
//! holds them (`first`, a sample of up to ten of them), so `first` adds up
//! to `assigned`; `members` is the segment's whole size.
//!
//! # Guardrails: [`Insights::guardrails`]
//!
//! ```json
//! [{"segment": "vip_shoes", "kind": "too_small",
//!   "message": "cannot detect a +10 % lift in 4 weeks: …",
//!   "numbers": {"size": 140, "baseline": 0.05, "reachable": 180, "needed": 59000, …}},
//!  {"segment": "a", "kind": "near_duplicate", "other": "b", "message": "…",
//!   "numbers": {"jaccard": 0.95, "intersection": 95, "size": 100, "other_size": 95}}]
//! ```
//!
//! `kind` is one of `too_small`, `near_duplicate`, `stale`,
//! `small_but_valuable`; `numbers` holds what the message was computed from
//! (keys per kind in [`guardrails`](mod@guardrails)). The thresholds are
//! [`Thresholds`], by default the constants of the [`guardrails`](mod@guardrails) module.

mod facts;
pub mod families;
pub mod guardrails;
mod insights;
pub mod overlap;
pub mod rfm;
pub mod segment;
mod source;

pub use families::{Families, Family};
pub use guardrails::{Guardrail, Kind, Thresholds};
pub use insights::Insights;
pub use overlap::{Overlap, SegmentSize};
pub use rfm::{NamedCell, RfmCell, RfmGrid};
pub use segment::{DayShare, EmailStats, OrderStats, SegmentInsights};
pub use source::{Evaluated, History, Layered, Membership, NoHistory};

/// The event that counts as an order (the one RFM scores read).
pub const ORDER_EVENT: &str = seglab_engine::rfm::ORDER_EVENT;
/// The order property summed as revenue.
pub const REVENUE_PROPERTY: &str = seglab_engine::rfm::REVENUE_PROPERTY;
/// Orders, revenue and conversion of a segment are over this many days.
pub const REVENUE_WINDOW_DAYS: u32 = 365;
/// Email engagement is over this many days.
pub const EMAIL_WINDOW_DAYS: u32 = 30;
/// The events of email engagement: delivered, then opened or clicked.
pub const EMAIL_DELIVERED: &str = "Email Delivered";
pub const EMAIL_OPENED: &str = "Email Opened";
pub const EMAIL_CLICKED: &str = "Email Link Clicked";
/// Days of the series of [`Insights::segment`] unless asked otherwise.
pub const DEFAULT_DAYS: u32 = 30;
/// The longest series [`Insights::segment`] gives (ten years).
pub const MAX_DAYS: u32 = 3660;

pub(crate) const DAY: i64 = 86_400_000;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Segments(#[from] seglab_segments::Error),
    #[error(transparent)]
    Live(#[from] seglab_live::Error),
    #[error("segment {0:?}: {1}")]
    Engine(String, seglab_engine::EngineError),
    #[error("no segment named {0:?}")]
    NotFound(String),
    #[error("{0}")]
    Invalid(String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Segments(e) => e.code(),
            Error::Live(e) => e.code(),
            Error::Engine(..) => "invalid_segment",
            Error::NotFound(_) => "not_found",
            Error::Invalid(_) => "invalid_request",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// `part / whole`, or `None` when `whole` is zero.
pub(crate) fn ratio(part: f64, whole: f64) -> Option<f64> {
    (whole != 0.0)
        .then(|| part / whole)
        .filter(|r| r.is_finite())
}

#[cfg(test)]
mod tests;
