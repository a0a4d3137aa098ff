//! Campaigns: the right message or offer to each segment, sent once, with
//! caps, quiet hours and consent (ADR 0007).
//!
//! - [`def`]: what a campaign is, as written in `campaigns/*.toml`.
//! - [`email`]: the email channel, over a pool of SMTP connections.
//! - [`track`]: signed tokens and the rewriting of links for opens, clicks
//!   and unsubscribes.

pub mod def;
pub mod email;
pub mod track;

pub use def::{CampaignDef, Channel, ChannelKind, Definitions, Policy};
pub use email::{Mailer, MailerError, OutgoingEmail, SendError, SendErrorKind, SmtpConfig};
pub use track::Tokens;
