//! Campaigns: the right message or offer to each segment, sent once, with
//! caps, quiet hours and consent (ADR 0007).
//!
//! The pure part takes `now` as a parameter and does no IO:
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
//! - [`track`]: signed tokens, tracked links and the open pixel.
//!
//! The rest runs campaigns:
//!
//! - [`db`]: `campaigns.db`, behind the typed handle [`CampaignDb`]:
//!   definitions and versions, the send ledger, coupons, suppressions.
//! - [`members`]: who is in a segment now (live, or as recorded).
//! - [`code`]: campaigns as code for the CLI and the API.
//! - `trigger`, [`plan`], [`worker`]: triggers into the ledger, decisions.
//! - [`email`], [`send`]: dispatch over SMTP and webhooks.
//! - [`best`]: best-sellers from the engine's timelines.
//! - [`service`]: all of it in a running server, with on-site decisions.

#![warn(missing_docs)]

pub mod best;
pub mod bestsellers;
pub mod check;
#[allow(missing_docs)]
pub mod code;
pub mod context;
#[allow(missing_docs)]
pub mod db;
// The definition types are shared with the persistence and the API; their
// fields are documented where the meaning is not in the name.
#[allow(missing_docs)]
pub mod def;
pub mod duration;
#[allow(missing_docs)]
pub mod email;
pub mod error;
#[allow(missing_docs)]
pub mod experiment;
pub mod ladder;
#[allow(missing_docs)]
pub mod members;
pub mod offer;
#[allow(missing_docs)]
pub mod plan;
pub mod policy;
pub mod print;
#[allow(missing_docs)]
pub mod send;
#[allow(missing_docs)]
pub mod service;
pub mod template;
#[allow(missing_docs)]
pub mod track;
mod trigger;
pub mod variant;
#[allow(missing_docs)]
pub mod worker;

pub use bestsellers::ProductCatalog;
pub use check::{Checked, Invalid, check_files};
pub use context::{Behavior, BestSellers, Context, Pick, Product, Step};
pub use db::{CampaignDb, Pool};
pub use def::{CampaignDef, Channel, ChannelKind, Definitions, Policy};
pub use email::{Mailer, MailerError, OutgoingEmail, SendError, SendErrorKind, SmtpConfig};
pub use error::{Error, Result};
pub use ladder::{Chosen, ViewedEvent, choose};
pub use policy::{Decision, DueSend, Outcome, PastSend, PersonFacts, decide, reentry_allows};
pub use service::{Campaigns, Settings};
pub use template::{Part, RenderError, Rendered, TemplateError, Templates};
pub use track::Tokens;
pub use variant::choose_variant;
