//! What live membership records: an entry or exit, and why.

use seglab_store::PersonId;
use serde::Serialize;

/// Why a membership changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// An event of the person (or a trait it set).
    Event,
    /// Time passed: a window moved past an event.
    Time,
    /// Two people turned out to be one.
    Merge,
    /// The segment was created or its definition changed.
    Definition,
    /// The segment was deleted.
    Deleted,
    /// RFM scores moved with other buyers' orders.
    Rfm,
    /// Found at start: what happened while seglab was not running.
    Start,
    /// Events older than the store's retention were deleted (ADR 0016).
    Retention,
    /// The scheduled evaluation in the warehouse found it (ADR 0018): what
    /// `event`, `time`, `merge` and `rfm` are natively, seen at the instant
    /// of the evaluation.
    Warehouse,
}

impl Cause {
    pub fn as_str(self) -> &'static str {
        match self {
            Cause::Event => "event",
            Cause::Time => "time",
            Cause::Merge => "merge",
            Cause::Definition => "definition",
            Cause::Deleted => "deleted",
            Cause::Rfm => "rfm",
            Cause::Start => "start",
            Cause::Retention => "retention",
            Cause::Warehouse => "warehouse",
        }
    }

    /// Whether subscribers hear of changes with this cause: the initial
    /// population of a new segment, edits and deletions are bulk
    /// re-definitions, and retention is housekeeping: not behavior.
    pub fn delivered(self) -> bool {
        matches!(
            self,
            Cause::Event
                | Cause::Time
                | Cause::Merge
                | Cause::Rfm
                | Cause::Start
                | Cause::Warehouse
        )
    }
}

/// A cause name seglab does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown cause {0:?}")]
pub struct UnknownCause(pub String);

impl std::str::FromStr for Cause {
    type Err = UnknownCause;

    fn from_str(s: &str) -> Result<Cause, UnknownCause> {
        Ok(match s {
            "event" => Cause::Event,
            "time" => Cause::Time,
            "merge" => Cause::Merge,
            "definition" => Cause::Definition,
            "deleted" => Cause::Deleted,
            "rfm" => Cause::Rfm,
            "start" => Cause::Start,
            "retention" => Cause::Retention,
            "warehouse" => Cause::Warehouse,
            other => return Err(UnknownCause(other.to_owned())),
        })
    }
}

/// One entry or exit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub id: i64,
    pub segment: String,
    pub person: PersonId,
    /// `entered` or `exited`.
    #[serde(serialize_with = "kind")]
    pub entered: bool,
    /// When it took effect (ms since the epoch).
    pub at: i64,
    pub cause: Cause,
    /// The event that caused it, for [`Cause::Event`].
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_seq: Option<i64>,
    /// Caused by imported history (never delivered).
    pub historical: bool,
}

fn kind<S: serde::Serializer>(entered: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(if *entered { "entered" } else { "exited" })
}
