//! seglab's segment engine: every person's timeline in memory, and the
//! evaluation of segment conditions over all of them.
//!
//! - [`Timelines`] holds people and their events, user-major and compact:
//!   12 bytes per event plus interned, shared property sets (see the
//!   `timeline` and `props` modules for the layout). Load history with
//!   [`Timelines::bulk_load`] (or push, then [`Timelines::compact`]); keep it
//!   current with [`Timelines::push`], [`Timelines::merge`] and
//!   [`Timelines::set_trait`]. [`Timelines::catalog`] describes the data for
//!   the language checker, [`Timelines::memory`] what it costs;
//!   [`Timelines::write_snapshot`] and [`Timelines::read_snapshot`] turn it
//!   into bytes and back, for fast restarts.
//! - [`Engine`] evaluates a [`Condition`](seglab_lang::ast::Condition) for
//!   everyone at an instant `now` (epoch milliseconds, always passed in) into a
//!   [`RoaringBitmap`](roaring::RoaringBitmap) of person indexes, in parallel,
//!   one pass over each timeline; several segments are evaluated together.
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
mod intern;
mod props;
pub mod reference;
pub mod rfm;
mod timeline;

pub use catalog::{Catalog, EventInfo, PropertyInfo, ValueKinds};
pub use engine::Engine;
pub use error::EngineError;
pub use rfm::{RFM_CELLS, RfmScores, rfm_cell};
pub use timeline::{BulkLoad, MemoryUsage, PropsId, Timelines};
