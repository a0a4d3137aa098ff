//! Campaigns end to end, over the in-process router: definitions as code,
//! triggers into the ledger, policies, offers, the personalization ladder,
//! dispatch to a real SMTP server and to a webhook on loopback, tracking
//! links, on-site decisions. One module per area.

mod code;
mod delivery;
mod email;
mod experiments;
mod offers;
mod onsite;
mod policy;
mod triggers;

use std::time::{Duration, Instant};

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::App;

/// The longest any test waits for something to happen.
pub const WAIT: Duration = Duration::from_secs(10);

/// Who bought and who viewed a product.
pub const BUYERS_AND_VIEWERS: &str =
    "segment buyers = did \"Order Completed\"\nsegment viewers = did \"Product Viewed\"";

/// Saves segments (`segment name = …`, one or more).
pub async fn segments(app: &App, source: &str) {
    let (s, b) = app
        .admin("POST", "/api/v1/segments", json!({ "source": source }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

/// Applies campaign files' source; returns what was applied.
pub async fn apply(app: &App, source: &str) -> Vec<Value> {
    let (s, b) = app
        .admin("POST", "/api/v1/campaigns", json!({ "source": source }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["applied"].as_array().unwrap().clone()
}

/// An email campaign sent on entry into `segment`; `more` is TOML for the
/// tables under it (`[campaign.offer]`, …), written after the trigger.
pub fn entry_email(name: &str, segment: &str, priority: i32, subject: &str, more: &str) -> String {
    format!(
        r#"
[[campaign]]
name = "{name}"
segment = "{segment}"
channel = "email"
priority = {priority}
[campaign.trigger]
on = "entry"
{more}
[[campaign.message]]
subject = "{subject}"
html = """<html><body><p>Hi {{{{ person.traits.name | default("there") }}}},</p>
<p><a href="https://shop.example.com/p/1">See the shop</a></p>
{{% if offer %}}<p>Your code: <b>{{{{ offer.code }}}}</b></p>{{% endif %}}
<p><a href="{{{{ links.unsubscribe }}}}">Unsubscribe</a></p></body></html>"""
text = "Hi {{{{ person.traits.name | default('there') }}}}{{% if offer %}}, your code: {{{{ offer.code }}}}{{% endif %}}"
"#
    )
}

/// An `identify` of `user` with `traits`.
pub fn identify(user: &str, traits: Value) -> Value {
    json!({"type": "identify", "userId": user, "traits": traits})
}

/// A `track` of `event` by `user`.
pub fn track(user: &str, event: &str, properties: Value) -> Value {
    json!({"type": "track", "userId": user, "event": event, "properties": properties})
}

/// Sends events through `/v1/batch`.
pub async fn batch(app: &App, events: Vec<Value>) {
    let (s, b) = app
        .post("/v1/batch", json!({ "batch": events }).to_string())
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
}

/// Waits for live memberships and a campaign round that started after the
/// call.
pub async fn catch_up(app: &App) {
    let campaigns = app.state.campaigns.clone();
    let done = tokio::task::spawn_blocking(move || campaigns.catch_up(WAIT))
        .await
        .unwrap();
    assert!(done, "no campaign round within {WAIT:?}");
}

/// The seglab id of a user.
pub async fn person(app: &App, user: &str) -> i64 {
    let (s, b) = app.get_admin(&format!("/api/v1/people/{user}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["person_id"].as_i64().unwrap()
}

/// The ledger rows of a campaign, oldest first.
pub async fn sends(app: &App, campaign: &str) -> Vec<Value> {
    let (s, b) = app
        .get_admin(&format!("/api/v1/campaigns/{campaign}/sends"))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["sends"].as_array().unwrap().clone()
}

/// The ledger rows of a campaign once `done` holds for them (within
/// [`WAIT`], else the test fails with what was seen).
pub async fn sends_until(
    app: &App,
    campaign: &str,
    what: &str,
    done: impl Fn(&[Value]) -> bool,
) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let rows = sends(app, campaign).await;
        if done(&rows) {
            return rows;
        }
        assert!(
            start.elapsed() < WAIT,
            "{campaign}: no {what} after {WAIT:?}; the ledger: {}",
            serde_json::to_string_pretty(&rows).unwrap()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The ledger row of `person` in a campaign once it has one of `statuses`.
pub async fn row_of(app: &App, campaign: &str, person: i64, statuses: &[&str]) -> Value {
    let is = |r: &Value| {
        r["person"] == person && statuses.iter().any(|s| r["status"].as_str() == Some(*s))
    };
    let what = format!("row of person {person} with status {statuses:?}");
    let rows = sends_until(app, campaign, &what, |rows| rows.iter().any(is)).await;
    rows.into_iter().find(is).unwrap()
}

/// The path (and query) of a URL under [`crate::BASE_URL`].
pub fn local(url: &str) -> &str {
    url.strip_prefix(crate::BASE_URL)
        .unwrap_or_else(|| panic!("{url} is not under {}", crate::BASE_URL))
}
