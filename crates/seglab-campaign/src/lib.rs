//! Campaigns: the right message or offer to each segment, sent once, with
//! caps, quiet hours and consent (ADR 0007).
//!
//! - [`check`]: reads and checks `campaigns/*.toml`, with spans and hints.
//! - [`def`]: what a campaign is, as written in `campaigns/*.toml`.
//! - [`duration`]: durations as campaigns write them (`2h`, `7d`).
//! - [`context`]: what templates see.
//! - [`template`]: a campaign's messages, compiled once and rendered many times.

pub mod check;
pub mod context;
pub mod def;
pub mod duration;
pub mod template;

pub use check::{Checked, Invalid, check_files};
pub use context::{Behavior, BestSellers, Context, Pick, Product, Step};
pub use def::{CampaignDef, Channel, ChannelKind, Definitions, Policy};
pub use template::{Part, RenderError, Rendered, TemplateError, Templates};
