//! Segments as code: the glue between the store (definitions, events), the
//! language (parse, check, print) and the engine (timelines, evaluation).
//!
//! [`Segments`] holds the engine and where it stands in the store. Its methods
//! come in three concerns, one module each:
//!
//! - `sync`: load every behavioral event and trait from the store into the
//!   engine's timelines, keep them current ([`Segments::refresh`]), and say
//!   who changed after a position ([`Segments::changes_since`]);
//! - `code`: segments as code — catalog, check, apply, diff, save, delete;
//! - `query`: evaluate, preview, members, explain.

mod code;
mod export;
mod load;
mod query;
mod roots;
pub mod snapshot;
mod sync;

use std::collections::BTreeMap;
use std::sync::{Mutex, RwLock};

use roots::Roots;
use seglab_engine::Engine;
use seglab_lang::Diagnostic;
use seglab_lang::ast::File;
use seglab_store::PersonId;
use serde::Serialize;

pub use export::flat_csv;
pub use load::{Sink, behavior, behavior_name, load};

/// The starter segments every store wants (also in `segments/starter.seg`).
pub const STARTER: &str = include_str!("../../../segments/starter.seg");

/// Events of the Segment e-commerce and email specs (plus pages and screens):
/// conditions may name them before the first one is tracked.
pub const SPEC_EVENTS: &[&str] = &[
    "Page Viewed",
    "Screen Viewed",
    "Products Searched",
    "Product List Viewed",
    "Product Clicked",
    "Product Viewed",
    "Product Added",
    "Product Removed",
    "Cart Viewed",
    "Checkout Started",
    "Checkout Step Viewed",
    "Checkout Step Completed",
    "Payment Info Entered",
    "Order Completed",
    "Order Updated",
    "Order Refunded",
    "Order Cancelled",
    "Coupon Applied",
    "Product Added to Wishlist",
    "Email Delivered",
    "Email Opened",
    "Email Link Clicked",
    "Email Bounced",
    "Email Marked as Spam",
    "Unsubscribed",
];

/// Full loads at least this large leave a snapshot for the next start.
pub const SNAPSHOT_MIN_EVENTS: usize = 200_000;

/// People sampled in evaluation results.
pub const SAMPLE: usize = 10;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Store(#[from] seglab_store::Error),
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[error("{}", .rendered)]
    Invalid {
        diagnostics: Vec<Diagnostic>,
        rendered: String,
    },
    #[error("no segment named {0:?}")]
    NotFound(String),
    #[error("segment {0:?} is used by {1}: change or delete those first")]
    InUse(String, String),
    #[error("person {0} has no events or traits yet")]
    NoTimeline(PersonId),
    #[error("segment {0:?}: {1}")]
    Engine(String, seglab_engine::EngineError),
    #[error("the stored definition of {0:?} is not a valid syntax tree: {1}")]
    Corrupt(String, String),
}

impl Error {
    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Store(e) => e.code(),
            Error::Io(_) => "io",
            Error::Invalid { diagnostics, .. } => diagnostics
                .iter()
                .find(|d| d.is_error())
                .map_or("invalid_segment", |d| d.code),
            Error::NotFound(_) | Error::NoTimeline(_) => "not_found",
            Error::InUse(..) => "segment_in_use",
            Error::Engine(..) => "invalid_segment",
            Error::Corrupt(..) => "storage",
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A segment's size at one instant.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub name: String,
    pub title: Option<String>,
    pub size: u64,
    /// Share of all people with a timeline.
    pub share: f64,
    /// A few members (person ids).
    pub sample: Vec<PersonId>,
}

/// What applying a definition would change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SegmentDiff {
    pub name: String,
    /// `new`, `changed` or `unchanged` (definition).
    pub status: &'static str,
    pub before: u64,
    pub after: u64,
    pub entering: u64,
    pub leaving: u64,
    pub entering_sample: Vec<PersonId>,
    pub leaving_sample: Vec<PersonId>,
}

/// What one [`Segments::refresh`] brought in.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Refreshed {
    /// Behavioral events added to the timelines.
    pub events: u64,
    /// The newest event sequence number loaded.
    pub last_seq: i64,
    /// The newest identity merge applied.
    pub last_merge: i64,
    /// Whether segment definitions were added, changed or deleted.
    pub definitions_changed: bool,
}

/// A position in the store's log: the newest event and the newest identity
/// merge a reader has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    pub last_seq: i64,
    pub last_merge: i64,
}

/// Who the store changed between a [`Cursor`] and what the engine has loaded
/// (see [`Segments::changes_since`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    /// Events in the range.
    pub events: u64,
    /// The position the range ends at.
    pub to: Cursor,
    /// People whose timeline or profile changed, by today's id, in id order.
    pub touched: Vec<Touched>,
    /// People merged into another in the range, as (gone, kept): every person
    /// of the kept person's group, so a person that was itself a root when
    /// the reader last looked is among them.
    pub merged: Vec<(PersonId, PersonId)>,
}

impl Changes {
    /// Whether nothing changed.
    pub fn is_empty(&self) -> bool {
        self.touched.is_empty() && self.merged.is_empty()
    }
}

/// One person a range of the log changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Touched {
    pub person: PersonId,
    /// The newest of their events in the range (0: changed by a merge only).
    pub seq: i64,
    /// Whether every one of those events was imported history.
    pub historical: bool,
    /// Whether another person merged into this one.
    pub merged: bool,
}

/// A parsed file and its warnings.
pub struct Checked {
    pub file: File,
    pub warnings: Vec<Diagnostic>,
}

struct Loaded {
    /// Where the engine stands in the store's log.
    at: Cursor,
    roots: Roots,
    /// (name, version) of the definitions the engine holds.
    versions: BTreeMap<String, i64>,
}

/// Timelines and definitions, kept in step with the store.
pub struct Segments {
    engine: RwLock<Engine>,
    loaded: Mutex<Loaded>,
}

impl Segments {
    fn engine(&self) -> std::sync::RwLockReadGuard<'_, Engine> {
        self.engine.read().unwrap_or_else(|e| e.into_inner())
    }

    fn engine_mut(&self) -> std::sync::RwLockWriteGuard<'_, Engine> {
        self.engine.write().unwrap_or_else(|e| e.into_inner())
    }

    fn loaded(&self) -> std::sync::MutexGuard<'_, Loaded> {
        self.loaded.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` with the engine (read access).
    pub fn with_engine<T>(&self, f: impl FnOnce(&Engine) -> T) -> T {
        f(&self.engine())
    }

    /// Runs `f` with the engine for writing (benchmarks and tools that push
    /// events straight into the timelines).
    pub fn with_engine_mut<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        f(&mut self.engine_mut())
    }

    /// Today's person of `person` (itself unless it was merged into another).
    pub fn resolve(&self, person: PersonId) -> PersonId {
        self.loaded().roots.resolve(person)
    }

    /// Where the engine stands in the store's log.
    pub fn position(&self) -> Cursor {
        self.loaded().at
    }

    /// The sequence number of the newest event loaded.
    pub fn last_seq(&self) -> i64 {
        self.position().last_seq
    }

    /// The version of every definition the engine holds, by name.
    pub fn definition_versions(&self) -> BTreeMap<String, i64> {
        let versions = self.loaded().versions.clone();
        let engine = self.engine();
        versions
            .into_iter()
            .filter(|(n, _)| engine.definitions().contains_key(n))
            .collect()
    }

    /// People with a timeline.
    pub fn people(&self) -> u64 {
        self.engine().timelines().person_count() as u64
    }

    /// Events in the timelines.
    pub fn events(&self) -> u64 {
        self.engine().timelines().event_count()
    }

    /// Bytes the timelines use.
    pub fn memory_bytes(&self) -> usize {
        self.engine().timelines().memory().total()
    }

    /// What the timelines use, by part.
    pub fn memory(&self) -> seglab_engine::MemoryUsage {
        self.engine().timelines().memory()
    }
}

#[cfg(test)]
mod tests;
