//! seglab's segment engine: every person's timeline in memory, and the
//! evaluation of segment conditions over all of them.
//!
//! - [`Timelines`] holds people and their events, user-major and compact:
//!   12 bytes per event plus interned, shared property sets (see the
//!   `timeline` and `props` modules for the layout). Load history with
//!   [`Timelines::bulk_load`] (or push, then [`Timelines::compact`]); keep it
//!   current with [`Timelines::push`], [`Timelines::merge`] and
//!   [`Timelines::set_trait`]. [`Timelines::catalog`] describes the data for
//!   the language checker (it converts into a [`seglab_lang::Catalog`]),
//!   [`Timelines::memory`] what it costs;
//!   [`Timelines::write_snapshot`] and [`Timelines::read_snapshot`] turn it
//!   into bytes and back, for fast restarts.
//! - [`Engine`] evaluates a [`Condition`](seglab_lang::ast::Condition) for
//!   everyone at an instant `now` (epoch milliseconds, always passed in) into a
//!   [`RoaringBitmap`](roaring::RoaringBitmap) of person indexes, in parallel,
//!   one pass over each timeline; several segments are evaluated together.
//! - Real time, one person at a time: [`Engine::live_set`] builds a
//!   [`LiveSet`] of every defined segment, and
//!   [`LiveSet::evaluate_person`] answers which of them hold for a person at
//!   `now` ([`PersonEval`]: a [`SegmentSet`] plus, per segment, the next
//!   instant its answer can change with no new event). RFM scores are ranked
//!   against an [`RfmBasis`] of everyone's values at build time;
//!   [`LiveSet::uses_rfm`] says which segments to also re-run in batch, and
//!   [`LiveSet::is_stale`] when to rebuild.
//! - [`Engine::horizon`]: the next instant at which one condition's answer
//!   can change for a person with no new event (for timers).
//! - [`Engine::explain`] / [`Engine::explain_segment`]: why a condition holds
//!   or not for a person, as an [`Explanation`] tree (serializable) with the
//!   events that decided each node.
//! - [`Timelines::person_events`] and [`Timelines::person_traits`] read a
//!   person's data back as JSON; [`Timelines::for_each_number`],
//!   [`Timelines::last_time_of`] and [`Timelines::first_seen_times`] answer
//!   questions over everyone without JSON (revenue, whether an event is
//!   still tracked, how many people were known at an instant).
//! - [`reference`](mod@reference) states plainly, and slowly, what every condition means; the
//!   engine is tested against it.
//! - [`rfm`] defines the RFM scores and cells.
//!
//! The engine does no IO and never reads the clock.

mod catalog;
mod codec;
mod codes;
mod compile;
mod engine;
mod error;
mod eval;
mod explain;
mod forest;
mod horizon;
mod intern;
mod live;
mod plan;
mod pred;
mod props;
mod range;
mod readback;
pub mod reference;
pub mod rfm;
#[cfg(feature = "testing")]
pub mod testing;
mod timeline;

pub use catalog::{Catalog, EventInfo, PropertyInfo, ValueKinds};
pub use engine::Engine;
pub use error::EngineError;
pub use explain::{EXPLAIN_MAX_EVENTS, ExplainedEvent, Explanation, RfmExplanation, TimeSpan};
pub use live::{LiveSet, PersonEval, RfmBasis, SegmentSet};
pub use readback::TimelineEvent;
pub use rfm::{RFM_CELLS, RfmScores, rfm_cell};
pub use timeline::{BulkLoad, MemoryUsage, PropsId, Timelines};
