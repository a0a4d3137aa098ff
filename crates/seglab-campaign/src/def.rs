//! What a campaign is: the definitions written in `campaigns/*.toml` (see
//! ADR 0007), after checking. Durations are milliseconds, instants epoch
//! milliseconds.

use serde::{Deserialize, Serialize};

/// One campaign.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignDef {
    /// `[a-z][a-z0-9_]*`, unique across every file.
    pub name: String,
    pub title: Option<String>,
    /// The audience: a saved segment.
    pub segment: String,
    pub channel: Channel,
    /// Higher is decided first when several campaigns are due for one person.
    pub priority: i32,
    /// Exempt from caps, quiet hours and the consent trait (never from
    /// unsubscribes, suppressions or bounces).
    pub transactional: bool,
    pub goal: Option<Goal>,
    pub trigger: Trigger,
    /// The messages (variants); at least one.
    pub messages: Vec<MessageDef>,
    /// The personalization ladder; without it, `pick` is best-sellers.
    pub personalize: Option<Ladder>,
    pub offer: Option<OfferDef>,
    /// At most `max` sends of this campaign to one person per `per_ms`.
    pub cap: Option<Cap>,
    /// Percent of the audience that gets nothing (the experiment's control
    /// for the campaign as a whole).
    #[serde(default)]
    pub holdout: u32,
}

/// How a campaign reaches people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Channel {
    /// To the person's `email` trait, over SMTP.
    Email,
    /// A signed JSON POST of the rendered message (an ESP or SMS gateway).
    Webhook { url: String },
    /// Answered by the decision API for a placement.
    Onsite,
}

impl Channel {
    pub fn kind(&self) -> ChannelKind {
        match self {
            Channel::Email => ChannelKind::Email,
            Channel::Webhook { .. } => ChannelKind::Webhook,
            Channel::Onsite => ChannelKind::Onsite,
        }
    }
}

/// A channel without its settings (for caps, unsubscribes, ledger rows).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKind {
    Email,
    Webhook,
    Onsite,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Onsite => "onsite",
        }
    }
}

/// A conversion: `event` within `within_ms` after the send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goal {
    pub event: String,
    pub within_ms: i64,
}

/// When a campaign sends.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "on", rename_all = "snake_case")]
pub enum Trigger {
    /// When a person enters the segment; after `delay_ms`, and then only if
    /// still a member when `still_in_segment`.
    Entry {
        delay_ms: i64,
        still_in_segment: bool,
        reentry: Reentry,
    },
    /// To the members at `at`, and every `every_ms` after it when set.
    Schedule { at: i64, every_ms: Option<i64> },
    /// Answered on request for `placement` (the on-site decision API).
    Decision { placement: String },
}

/// What a person who enters the segment again gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "ms", rename_all = "snake_case")]
pub enum Reentry {
    /// One send per person, ever.
    Once,
    /// One send per entry.
    EveryEntry,
    /// One send per entry, but at most one per this many milliseconds.
    AtMostEvery(i64),
}

/// One message (variant).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessageDef {
    /// Unique within the campaign (default `a`, `b`, … by position).
    pub name: String,
    /// Percent of the audience (with the campaign's holdout, 100 in all).
    pub weight: u32,
    /// minijinja templates. Email needs `subject` and `html` or `text`.
    pub subject: String,
    pub html: Option<String>,
    pub text: Option<String>,
}

/// The personalization ladder: "we noticed you browsed X" only with evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ladder {
    /// Views of one product within the window to name it.
    pub product_views: u32,
    /// Views in one category within the window to name it.
    pub category_views: u32,
    pub within_ms: i64,
}

/// A coupon per person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OfferDef {
    pub codes: CodeSource,
    /// Shown to templates as `offer.discount` (free text, e.g. `10%`).
    pub discount: Option<String>,
    /// The code expires this long after the send.
    pub valid_for_ms: Option<i64>,
}

/// Where coupon codes come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CodeSource {
    /// `PREFIX-` and 8 characters from an unambiguous alphabet.
    Generated { prefix: String },
    /// Codes uploaded to the campaign's pool.
    Pool,
}

/// At most `max` sends per `per_ms` (rolling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cap {
    /// The channel counted (`None`: every channel).
    pub channel: Option<ChannelKind>,
    pub max: u32,
    pub per_ms: i64,
}

/// What a capped send becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WhenCapped {
    #[default]
    Skip,
    /// Decided again when the oldest send in the window leaves it.
    Defer,
}

/// Quiet hours, minutes after local midnight (`start > end` spans midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuietHours {
    pub start_minute: u16,
    pub end_minute: u16,
}

/// The rules every send obeys (the `[policy]` table).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    pub caps: Vec<Cap>,
    pub when_capped: WhenCapped,
    pub quiet_hours: Option<QuietHours>,
    /// An IANA zone, checked; used when a person has no valid `timezone` trait.
    pub default_timezone: String,
    /// When set, marketing email needs this trait to be `true`.
    pub consent_trait: Option<String>,
    /// Percent of everyone that no marketing campaign reaches (measures what
    /// all campaigns together earn).
    #[serde(default)]
    pub global_holdout: u32,
}

impl Default for Policy {
    fn default() -> Policy {
        Policy {
            caps: Vec::new(),
            when_capped: WhenCapped::Skip,
            quiet_hours: None,
            default_timezone: "UTC".into(),
            consent_trait: None,
            global_holdout: 0,
        }
    }
}

/// Everything the files define.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Definitions {
    pub campaigns: Vec<CampaignDef>,
    /// `None`: no file has a `[policy]` table (the defaults apply).
    pub policy: Option<Policy>,
}
