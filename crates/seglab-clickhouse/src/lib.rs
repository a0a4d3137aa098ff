//! Scale-out on ClickHouse: the same segment definitions, evaluated by SQL.
//!
//! - [`Schema`] is the one table everything lives in (`events`: behavioral
//!   events, trait snapshots and model outputs, one row each), for a single
//!   server or a cluster ([`Topology`]), as DDL statements.
//! - [`rows`] turns events, traits and predictions into rows, their properties
//!   flattened by seglab (not by ClickHouse) into parallel typed arrays: one
//!   entry per value the reference evaluator's `resolve` yields for some path.
//!   [`rows::row_binary`] encodes a batch for `INSERT … FORMAT RowBinary`
//!   (exact floats, no escaping).
//! - [`compile`] turns a condition into a [`Query`]: the SQL of the member set
//!   at a given `now`, which follows `docs/segment-language.md` and the
//!   reference evaluator exactly (one `GROUP BY person` with `-If` aggregates
//!   and arrays, plus a ranking subquery for RFM).
//! - [`Client`] speaks ClickHouse's HTTP interface: statements, inserts,
//!   member lists.
//!
//! The SQL runs on ClickHouse 18.16 (the oldest tested, Debian's package) and on
//! current releases: it needs no JSON functions, window functions, query
//! parameters or `arrayFlatten` (`now` is written into the SQL as a literal).
//!
//! Everything but [`Client`] is pure: no IO, no clock.

mod client;
mod compile;
pub mod rows;
mod schema;
mod sql;

pub use client::{Client, ClientError};
pub use compile::{Query, compile};
pub use schema::{Schema, Topology};

/// Why a condition cannot be compiled. The same cases the engine refuses: the
/// SQL compiles every construct of the language.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// `in segment X` with no definition of X.
    #[error("unknown segment `{name}`")]
    UnknownSegment { name: String },
    /// Segments that include each other.
    #[error("segments include each other: {}", cycle.join(" → "))]
    SegmentCycle { cycle: Vec<String> },
    /// `rfm in [...]` with a name that is not a cell.
    #[error("unknown RFM cell \"{name}\"")]
    UnknownRfmCell { name: String },
}

impl Refused {
    /// The stable code, the same as the engine's for the same case.
    pub fn code(&self) -> &'static str {
        match self {
            Refused::UnknownSegment { .. } => "unknown_segment",
            Refused::SegmentCycle { .. } => "segment_cycle",
            Refused::UnknownRfmCell { .. } => "unknown_rfm_cell",
        }
    }
}
