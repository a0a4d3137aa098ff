//! Campaigns: the right message or offer to each segment, sent once, with
//! caps, quiet hours and consent (ADR 0007).
//!
//! This part is pure: no IO and no clock (`now` is always a parameter).
//!
//! - [`def`]: what a campaign is, as written in `campaigns/*.toml`.
//! - [`check`]: reads and checks `campaigns/*.toml`, with spans and hints.
//! - [`duration`]: durations as campaigns write them (`2h`, `7d`).
//! - [`context`]: what templates see.
//! - [`template`]: a campaign's messages, compiled once and rendered many times.
//! - [`variant`]: which message a person gets, by weight and stable.
//! - [`ladder`]: the personalization ladder (product, category, best-sellers).
//! - [`bestsellers`]: the most ordered products, and what is known of each.
//! - [`policy`]: caps, quiet hours, consent and arbitration, with explanations.
//! - [`offer`]: coupon codes and their expiry.
//! - [`error`]: the crate's error.

#![warn(missing_docs)]

pub mod bestsellers;
pub mod check;
pub mod context;
// The definition types are shared with the persistence and the API; their
// fields are documented where the meaning is not in the name.
#[allow(missing_docs)]
pub mod def;
pub mod duration;
pub mod error;
pub mod ladder;
pub mod offer;
pub mod policy;
pub mod template;
pub mod variant;

pub use bestsellers::ProductCatalog;
pub use check::{Checked, Invalid, check_files};
pub use context::{Behavior, BestSellers, Context, Pick, Product, Step};
pub use def::{CampaignDef, Channel, ChannelKind, Definitions, Policy};
pub use error::Error;
pub use ladder::{Chosen, ViewedEvent, choose};
pub use policy::{Decision, DueSend, Outcome, PastSend, PersonFacts, decide, reentry_allows};
pub use template::{Part, RenderError, Rendered, TemplateError, Templates};
pub use variant::choose_variant;
