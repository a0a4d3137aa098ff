//! Dispatch: rows decided `owed` go out on their channel (SMTP, a signed
//! webhook), many at once; each attempt is recorded, failures are retried
//! with backoff, a bounce suppresses the address. A row is marked `sent` only
//! after its channel accepted it: a crash in between sends it again with the
//! same key (ADR 0007).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use serde_json::json;

use crate::db::{CampaignDb, SendRow};
use crate::def::{Channel, ChannelKind};
use crate::email::{Mailer, OutgoingEmail, SendErrorKind as ErrorKind};
use crate::track::Tokens;
use crate::{Error, Result};

/// Attempts before a send is given up.
pub const MAX_ATTEMPTS: i64 = 8;
/// Rows taken per round.
const BATCH: usize = 1_000;
/// Messages in flight at once.
const IN_FLIGHT: usize = 64;

/// The wait before attempt `attempts + 1`: 1 s, 2 s, 4 s, … up to an hour.
pub fn backoff(attempts: i64) -> i64 {
    1_000i64
        .saturating_mul(1 << attempts.clamp(0, 12))
        .min(3_600_000)
}

/// The channels' clients.
pub struct Sender {
    /// `None`: no SMTP server is configured; email waits (owed) until one is.
    pub mailer: Option<Mailer>,
    /// The sender address of email.
    pub from: String,
    pub http: reqwest::Client,
    pub base_url: String,
    pub tokens: Tokens,
    /// The user id a person was identified with, for webhook bodies (called
    /// off the async threads).
    pub user_id: Arc<dyn Fn(i64) -> Option<String> + Send + Sync>,
}

/// What one attempt came to.
enum Attempt {
    Sent,
    Retry(String),
    Failed(String),
    Bounced(String),
    /// Not attempted (no SMTP server): stays owed.
    Waiting,
}

impl Sender {
    /// A client for webhook channels.
    pub fn http_client() -> Result<reqwest::Client> {
        seglab_live::webhook::install_tls_provider();
        reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("seglab/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Refused(e.to_string()))
    }

    async fn attempt(
        &self,
        row: &SendRow,
        channel: &Channel,
        secret: &str,
        user_id: Option<&str>,
    ) -> Attempt {
        match channel {
            Channel::Email => {
                let Some(mailer) = &self.mailer else {
                    return Attempt::Waiting;
                };
                let Some(to) = row.address.clone() else {
                    return Attempt::Failed("no address".into());
                };
                let token = self.tokens.sign(row.id);
                let email = OutgoingEmail {
                    to,
                    from: self.from.clone(),
                    subject: row.subject.clone().unwrap_or_default(),
                    html: row.html.clone(),
                    text: row.text.clone(),
                    idempotency_key: row.key(),
                    list_unsubscribe: crate::track::unsubscribe_url(&self.base_url, &token),
                    list_unsubscribe_mailto: None,
                };
                match mailer.send(&email).await {
                    Ok(()) => Attempt::Sent,
                    Err(e) => match e.kind {
                        ErrorKind::Transient => Attempt::Retry(e.message),
                        ErrorKind::Permanent => Attempt::Failed(e.message),
                        ErrorKind::Bounce => Attempt::Bounced(e.message),
                    },
                }
            }
            Channel::Webhook { url } => {
                let body = json!({
                    "id": row.key(),
                    "type": "campaign.message",
                    "campaign": row.campaign,
                    "variant": row.variant,
                    "step": row.step,
                    "person": {"id": row.person, "user_id": user_id},
                    "subject": row.subject,
                    "html": row.html,
                    "text": row.text,
                    "coupon": row.coupon,
                    "decided_at": row.decided_at.map(seglab_event::time::format_timestamp),
                })
                .to_string();
                let t = seglab_event::time::now_millis() / 1000;
                let sent = self
                    .http
                    .post(url)
                    .header("content-type", "application/json")
                    .header("idempotency-key", row.key())
                    .header(
                        "seglab-signature",
                        seglab_live::webhook::sign(secret, t, body.as_bytes()),
                    )
                    .body(body)
                    .send()
                    .await;
                match sent {
                    Ok(r) if r.status().is_success() => Attempt::Sent,
                    Ok(r) if r.status().is_client_error() && r.status().as_u16() != 429 => {
                        Attempt::Failed(format!("HTTP {}", r.status().as_u16()))
                    }
                    Ok(r) => Attempt::Retry(format!("HTTP {}", r.status().as_u16())),
                    Err(e) => Attempt::Retry(e.to_string()),
                }
            }
            Channel::Onsite => Attempt::Failed("on-site messages are answered, not sent".into()),
        }
    }

    /// Attempts what is owed by `now`; returns the number of rows attempted
    /// and whether a full batch was taken (more may be owed).
    pub async fn round(&self, db: &Arc<Mutex<CampaignDb>>, now: i64) -> Result<(usize, bool)> {
        let (rows, campaigns, user_ids) = {
            let db = db.clone();
            let email = self.mailer.is_some();
            let user_id = self.user_id.clone();
            tokio::task::spawn_blocking(move || -> Result<_> {
                let db = db.lock().unwrap_or_else(|e| e.into_inner());
                let rows = db.owed(now, BATCH, email)?;
                let campaigns: HashMap<String, (Channel, String)> = db
                    .campaigns()?
                    .into_iter()
                    .map(|c| (c.name, (c.def.channel, c.secret)))
                    .collect();
                let user_ids: HashMap<i64, String> = rows
                    .iter()
                    .filter(|r| r.channel == ChannelKind::Webhook)
                    .filter_map(|r| Some((r.person, user_id(r.person)?)))
                    .collect();
                Ok((rows, campaigns, user_ids))
            })
            .await
            .map_err(|e| Error::Refused(e.to_string()))??
        };
        let full = rows.len() == BATCH;
        // Marks are written as attempts finish (whatever is ready, up to
        // IN_FLIGHT at a time), so a crash repeats at most the messages in
        // flight and the ones being marked.
        let mut done = futures_util::stream::iter(rows)
            .map(|row| {
                let (campaigns, user_ids) = (&campaigns, &user_ids);
                async move {
                    let user_id = user_ids.get(&row.person).map(String::as_str);
                    let attempt = match campaigns.get(&row.campaign) {
                        Some((channel, secret)) => {
                            self.attempt(&row, channel, secret, user_id).await
                        }
                        None => Attempt::Failed("the campaign was deleted".into()),
                    };
                    (row, attempt)
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .ready_chunks(IN_FLIGHT);
        let mut recorded = 0;
        while let Some(chunk) = done.next().await {
            let db = db.clone();
            recorded += tokio::task::spawn_blocking(move || record(&db, chunk))
                .await
                .map_err(|e| Error::Refused(e.to_string()))??;
        }
        Ok((recorded, full))
    }
}

/// Records what attempts came to; returns how many were attempted (not
/// waiting for a server).
fn record(db: &Mutex<CampaignDb>, attempted: Vec<(SendRow, Attempt)>) -> Result<usize> {
    let mut db = db.lock().unwrap_or_else(|e| e.into_inner());
    let finished = seglab_event::time::now_millis();
    let mut results = Vec::with_capacity(attempted.len());
    for (row, attempt) in attempted {
        let (label, result) = match attempt {
            Attempt::Waiting => continue,
            Attempt::Sent => ("sent", (row.id, Ok(()), None)),
            Attempt::Retry(e) if row.attempts + 1 < MAX_ATTEMPTS => (
                "retry",
                (row.id, Err(e), Some(finished + backoff(row.attempts))),
            ),
            Attempt::Retry(e) | Attempt::Failed(e) => ("failed", (row.id, Err(e), None)),
            Attempt::Bounced(e) => {
                db.bounced(row.person, row.address.as_deref().unwrap_or(""), finished)?;
                ("bounced", (row.id, Err(format!("bounced: {e}")), None))
            }
        };
        metrics::counter!("seglab_campaign_attempts_total", "outcome" => label).increment(1);
        results.push(result);
    }
    db.record_attempts(&results, finished)?;
    Ok(results.len())
}
