//! Campaigns end to end, over the in-process router: definitions as code,
//! triggers into the ledger, policies, offers, the personalization ladder,
//! dispatch to a real SMTP server and to a webhook on loopback, tracking
//! links, on-site decisions. One module per area.

mod code;

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::App;

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
