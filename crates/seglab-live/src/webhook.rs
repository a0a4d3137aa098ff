//! Webhook subscriptions and their delivery.
//!
//! A change and the deliveries it owes are written in one transaction (the
//! outbox in `live.db`); [`Deliverer`] posts them, one change per request,
//! signed with the subscription's secret, and retries failures with
//! exponential backoff. A crash between the POST and marking it done sends it
//! again: delivery is at least once, and the `Idempotency-Key` header (the
//! same on every attempt) lets the receiver drop repeats.
//!
//! Signature: header `Seglab-Signature: t=<unix seconds>,v1=<hex>` where the
//! hex is HMAC-SHA256 of `"<t>.<body>"` under the secret (the scheme Stripe
//! popularised: the timestamp guards against replays).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

use crate::db::{Attempt, DeliveryStats, KIND_ENTERED, KIND_EXITED, LiveDb, Subscription};
use crate::{Error, Result};

/// Attempts before a delivery is given up (about a day of backoff).
pub const MAX_ATTEMPTS: i64 = 15;
/// Deliveries in flight at once, per subscription.
const CONCURRENCY: usize = 8;
/// Deliveries taken per round, per subscription.
const BATCH: usize = 64;

/// `Seglab-Signature` for `body` sent at `t` (unix seconds).
pub fn sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// Checks a `Seglab-Signature` header (as a receiver would).
pub fn verify(secret: &str, header: &str, body: &[u8]) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", x)) => t = x.parse::<i64>().ok(),
            Some(("v1", x)) => v1 = hex::decode(x).ok(),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&v1).is_ok()
}

/// The wait before attempt `attempts + 1`: 1 s, 2 s, 4 s, … up to an hour.
pub fn backoff(attempts: i64) -> i64 {
    1_000i64
        .saturating_mul(1 << attempts.clamp(0, 12))
        .min(3_600_000)
}

/// Makes `ring` the process's TLS crypto provider (https webhooks), once.
pub fn install_tls_provider() {
    // An error means a provider is already installed: that one is used.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A new subscription.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewSubscription {
    pub url: String,
    /// The segments to follow (absent: every segment).
    #[serde(default)]
    pub segments: Option<Vec<String>>,
    /// `entered`, `exited` (absent: both).
    #[serde(default)]
    pub events: Option<Vec<String>>,
}

/// Adds a subscription; returns it with its secret.
pub fn subscribe(db: &LiveDb, new: &NewSubscription, now: i64) -> Result<Subscription> {
    let url = reqwest::Url::parse(&new.url)
        .map_err(|e| Error::Invalid(format!("url {:?}: {e}", new.url)))?;
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(Error::Invalid(format!(
            "url {:?}: only http and https are delivered",
            new.url
        )));
    }
    let mut kinds = 0;
    for e in new
        .events
        .clone()
        .unwrap_or_else(|| vec!["entered".into(), "exited".into()])
    {
        kinds |= match e.as_str() {
            "entered" => KIND_ENTERED,
            "exited" => KIND_EXITED,
            other => {
                return Err(Error::Invalid(format!(
                    "event {other:?}: expected \"entered\" or \"exited\""
                )));
            }
        };
    }
    if kinds == 0 {
        return Err(Error::Invalid("events: name at least one".into()));
    }
    let secret = format!("whsec_{}", hex::encode(random_bytes()));
    let id = db.insert_subscription(&new.url, &secret, new.segments.as_deref(), kinds, now)?;
    Ok(Subscription {
        id,
        url: new.url.clone(),
        segments: new.segments.clone(),
        entered: kinds & KIND_ENTERED != 0,
        exited: kinds & KIND_EXITED != 0,
        created_at: now,
        secret: Some(secret),
    })
}

fn random_bytes() -> [u8; 24] {
    let mut out = [0u8; 24];
    for chunk in out.chunks_mut(16) {
        let id = uuid::Uuid::new_v4();
        chunk.copy_from_slice(&id.as_bytes()[..chunk.len()]);
    }
    out
}

/// Every subscription (without secrets).
pub fn list(db: &LiveDb) -> Result<Vec<Subscription>> {
    db.subscriptions(false)
}

/// Removes a subscription; its pending deliveries are dropped.
pub fn unsubscribe(db: &LiveDb, id: i64, now: i64) -> Result<bool> {
    db.remove_subscription(id, now)
}

/// Delivery counts of one subscription.
pub fn stats(db: &LiveDb, subscription: i64) -> Result<DeliveryStats> {
    db.delivery_stats(subscription)
}

/// One delivery to attempt.
struct Due {
    id: i64,
    change: i64,
    attempts: i64,
    url: String,
    secret: String,
    body: String,
    /// Whether the body was made for this attempt (and is to be kept for
    /// the retries).
    first: bool,
    key: String,
}

/// Posts due deliveries until told to stop.
pub struct Deliverer {
    dir: PathBuf,
    client: reqwest::Client,
    wake: Arc<tokio::sync::Notify>,
    /// Looks up the user id of a person for the payload.
    user_id: Arc<dyn Fn(i64) -> Option<String> + Send + Sync>,
}

impl Deliverer {
    pub fn new(
        dir: &Path,
        wake: Arc<tokio::sync::Notify>,
        user_id: Arc<dyn Fn(i64) -> Option<String> + Send + Sync>,
    ) -> Result<Deliverer> {
        install_tls_provider();
        let client = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("seglab/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(Deliverer {
            dir: dir.to_owned(),
            client,
            wake,
            user_id,
        })
    }

    /// Delivers forever. Each subscription has a worker of its own, so an
    /// endpoint that is down or slow delays only its own deliveries; workers
    /// wake when changes are recorded and when their earliest retry is due.
    pub async fn run(self) {
        // Delivery bookkeeping needs no fsync per commit: losing the last
        // marks to a power cut only sends those deliveries again, which
        // at-least-once allows (and idempotency keys absorb).
        let conn = match LiveDb::open(&self.dir).and_then(LiveDb::relaxed) {
            Ok(c) => Arc::new(std::sync::Mutex::new(c)),
            Err(e) => {
                tracing::error!(error = %e, "webhook deliveries cannot start");
                return;
            }
        };
        let (bell, _) = tokio::sync::watch::channel(0u64);
        let mut workers: std::collections::HashMap<i64, tokio::task::JoinHandle<()>> =
            std::collections::HashMap::new();
        loop {
            let listed = {
                let conn = conn.clone();
                tokio::task::spawn_blocking(move || {
                    let c = conn.lock().unwrap_or_else(|e| e.into_inner());
                    c.subscriptions(false)
                })
                .await
            };
            match listed {
                Ok(Ok(subs)) => {
                    workers.retain(|id, task| {
                        let keep = subs.iter().any(|s| s.id == *id);
                        if !keep {
                            task.abort();
                        }
                        keep
                    });
                    for sub in subs {
                        workers.entry(sub.id).or_insert_with(|| {
                            tokio::spawn(self.clone_parts().work(
                                sub.id,
                                conn.clone(),
                                bell.subscribe(),
                            ))
                        });
                    }
                }
                Ok(Err(e)) => tracing::warn!(error = %e, "listing webhook subscriptions"),
                Err(e) => tracing::warn!(error = %e, "listing webhook subscriptions"),
            }
            let _ = tokio::time::timeout(Duration::from_secs(1), self.wake.notified()).await;
            bell.send_modify(|n| *n += 1);
        }
    }

    fn clone_parts(&self) -> Deliverer {
        Deliverer {
            dir: self.dir.clone(),
            client: self.client.clone(),
            wake: self.wake.clone(),
            user_id: self.user_id.clone(),
        }
    }

    /// One subscription's deliveries, until its task is aborted.
    async fn work(
        self,
        subscription: i64,
        conn: Arc<std::sync::Mutex<LiveDb>>,
        mut bell: tokio::sync::watch::Receiver<u64>,
    ) {
        loop {
            // The deliverer is gone (the server is stopping): so is this worker,
            // instead of retrying rounds whose blocking tasks are cancelled.
            if bell.has_changed().is_err() {
                return;
            }
            let wait = match self.round(subscription, &conn).await {
                Ok(Some(0)) => continue,
                Ok(Some(ms)) => Duration::from_millis(ms.clamp(1, 1_000) as u64),
                Ok(None) => Duration::from_secs(1),
                Err(e) => {
                    tracing::warn!(error = %e, subscription, "webhook delivery round");
                    Duration::from_secs(1)
                }
            };
            if let Ok(Err(_)) = tokio::time::timeout(wait, bell.changed()).await {
                return;
            }
        }
    }

    /// Attempts what is due for one subscription; returns the time until its
    /// next retry (0: more is due now).
    async fn round(
        &self,
        subscription: i64,
        conn: &Arc<std::sync::Mutex<LiveDb>>,
    ) -> Result<Option<i64>> {
        let now = seglab_event::time::now_millis();
        // SQLite may wait for live.db's write lock: off the async workers.
        let batch = {
            let (conn, user_id) = (conn.clone(), self.user_id.clone());
            tokio::task::spawn_blocking(move || {
                let c = conn.lock().unwrap_or_else(|e| e.into_inner());
                due(&c, subscription, now, BATCH, &*user_id)
            })
            .await
            .map_err(|e| Error::Invalid(e.to_string()))??
        };
        let full = batch.len() == BATCH;
        let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
        let mut set = tokio::task::JoinSet::new();
        for d in batch {
            let client = self.client.clone();
            let permits = permits.clone();
            set.spawn(async move {
                let _permit = permits.acquire_owned().await;
                let t = seglab_event::time::now_millis() / 1000;
                let sent = client
                    .post(&d.url)
                    .header("content-type", "application/json")
                    .header("idempotency-key", &d.key)
                    .header("seglab-signature", sign(&d.secret, t, d.body.as_bytes()))
                    .body(d.body.clone())
                    .send()
                    .await;
                let outcome = match sent {
                    Ok(r) if r.status().is_success() => Ok(()),
                    Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
                    Err(e) => Err(e.to_string()),
                };
                (
                    d.id,
                    d.change,
                    d.attempts,
                    outcome,
                    d.first.then_some(d.body),
                )
            });
        }
        let mut results = Vec::new();
        while let Some(r) = set.join_next().await {
            results.extend(r.ok());
        }
        let conn = conn.clone();
        tokio::task::spawn_blocking(move || record_outcomes(&conn, subscription, results, full))
            .await
            .map_err(|e| Error::Invalid(e.to_string()))?
    }
}

/// Marks delivered rows done and failed ones for their retry; returns the time
/// until the next retry (0: more is due now).
fn record_outcomes(
    db: &std::sync::Mutex<LiveDb>,
    subscription: i64,
    results: Vec<Attempt>,
    full: bool,
) -> Result<Option<i64>> {
    let db = db.lock().unwrap_or_else(|e| e.into_inner());
    let finished = seglab_event::time::now_millis();
    for (_, _, attempts, outcome, _) in &results {
        let label = match (outcome, attempts + 1 >= MAX_ATTEMPTS) {
            (Ok(()), _) => "delivered",
            (Err(_), false) => "failed",
            (Err(_), true) => "given_up",
        };
        metrics::counter!("seglab_webhook_attempts_total", "outcome" => label).increment(1);
    }
    db.record_attempts(results, finished, MAX_ATTEMPTS, backoff)?;
    if full {
        return Ok(Some(0));
    }
    Ok(db.next_retry(subscription)?.map(|n| (n - finished).max(0)))
}

/// The JSON body of the delivery of one change.
pub fn payload(change: &crate::Change, user_id: Option<String>) -> Value {
    json!({
        "id": format!("chg_{}", change.id),
        "type": if change.entered { "segment.entered" } else { "segment.exited" },
        "segment": change.segment,
        "person": {"id": change.person, "user_id": user_id},
        "at": seglab_event::time::format_timestamp(change.at),
        "cause": change.cause,
        "event_seq": change.event_seq,
    })
}

fn due(
    db: &LiveDb,
    subscription: i64,
    now: i64,
    limit: usize,
    user_id: &dyn Fn(i64) -> Option<String>,
) -> Result<Vec<Due>> {
    Ok(db
        .due_deliveries(subscription, now, limit)?
        .into_iter()
        .map(|d| {
            let key = format!("chg_{}", d.change.id);
            let first = d.body.is_none();
            let body = d
                .body
                .unwrap_or_else(|| payload(&d.change, user_id(d.change.person)).to_string());
            Due {
                id: d.id,
                change: d.change.id,
                attempts: d.attempts,
                url: d.url,
                secret: d.secret,
                body,
                first,
                key,
            }
        })
        .collect())
}
