//! Campaigns: the right message or offer to each segment, sent once, with
//! caps, quiet hours and consent (ADR 0007).
//!
//! - [`def`]: what a campaign is, as written in `campaigns/*.toml`.

pub mod def;

pub use def::{CampaignDef, Channel, ChannelKind, Definitions, Policy};
