//! seglab's segment engine: every person's timeline in memory, and the
//! evaluation of segment conditions over all of them.
//!
//! - [`Timelines`] holds people and their events, user-major and compact:
//!   16 bytes per event plus interned, shared property sets (see
//!   [`timeline`](crate::timeline) and [`props`](crate::props) for the layout).
//! - [`Engine`] evaluates a [`Condition`](seglab_lang::ast::Condition) for
//!   everyone at an instant `now` (epoch milliseconds, always passed in) into a
//!   [`RoaringBitmap`](roaring::RoaringBitmap) of person indexes, in parallel,
//!   one pass over each timeline; several segments are evaluated together.
//! - [`reference`] is the plain, slow statement of what every condition means;
//!   the fast engine is tested against it.
//! - [`rfm`] defines the RFM scores and cells.
//!
//! The engine does no IO and never reads the clock.

mod catalog;
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
pub use timeline::{MemoryUsage, Timelines};
