//! Campaigns with the real binary and a real SMTP server: a broadcast that
//! survives SIGKILL without losing or doubling a decision, and campaigns as
//! code from the command line.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::smtp::Sink;
use crate::{ADMIN, Server, seglab};

fn ok(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A store of `people` identified people (with `email` and `name`), each
/// with one page view, imported as history.
fn store_with_people(data: &Path, people: usize) {
    let file = data.with_extension("ndjson");
    let mut f = std::io::BufWriter::new(std::fs::File::create(&file).unwrap());
    for i in 0..people {
        writeln!(
            f,
            "{}",
            json!({"type": "identify", "userId": format!("u{i}"), "messageId": format!("id-{i}"),
                   "traits": {"email": format!("u{i}@example.com"), "name": format!("Person {i}")},
                   "timestamp": "2026-11-01T10:00:00Z"})
        )
        .unwrap();
        writeln!(
            f,
            "{}",
            json!({"type": "page", "userId": format!("u{i}"), "messageId": format!("pg-{i}"),
                   "name": "Home", "timestamp": "2026-11-02T10:00:00Z"})
        )
        .unwrap();
    }
    drop(f);
    ok(&seglab(
        data,
        &["import", "--quiet", file.to_str().unwrap()],
    ));
}

async fn admin(
    client: &reqwest::Client,
    server: &Server,
    method: &str,
    path: &str,
    body: Value,
) -> Value {
    let req = match method {
        "POST" => client.post(format!("{}{path}", server.url)).json(&body),
        _ => client.get(format!("{}{path}", server.url)),
    };
    let res = req.bearer_auth(ADMIN).send().await.unwrap();
    let status = res.status();
    let v: Value = res.json().await.unwrap();
    assert!(status.is_success(), "{method} {path}: {status} {v}");
    v
}

/// Ledger rows of `campaign` by status.
async fn statuses(
    client: &reqwest::Client,
    server: &Server,
    campaign: &str,
) -> HashMap<String, u64> {
    let v = admin(client, server, "GET", "/api/v1/campaigns", Value::Null).await;
    let c = v["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == campaign)
        .cloned()
        .unwrap_or(Value::Null);
    c["sends"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

/// Distinct idempotency keys and all messages the sink has.
fn keys(sink: &Sink) -> (HashMap<String, usize>, usize) {
    let received = sink.received();
    let mut by_key: HashMap<String, usize> = HashMap::new();
    for m in &received {
        *by_key
            .entry(
                m.idempotency_key
                    .clone()
                    .expect("every message has its key"),
            )
            .or_default() += 1;
    }
    (by_key, received.len())
}

/// Messages in flight at once in the sender (`seglab_campaign::send`), and
/// as many being marked sent: a kill can catch at most these between the
/// SMTP server's 250 and the mark.
const UNMARKED: usize = 2 * 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_killed_midway_sends_every_owed_message_after_restart_and_decides_none_twice() {
    const PEOPLE: usize = 1_500;
    // A slow SMTP server (60 ms a message), so the kill lands mid-broadcast.
    let Some(sink) = Sink::start(&["--delay-ms", "60"]) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    store_with_people(&data, PEOPLE);
    let smtp = sink.url();
    let flags = ["--smtp", smtp.as_str(), "--email-from", "shop@example.com"];
    let mut server = Server::start_with(&data, &flags);
    let client = crate::http();
    admin(
        &client,
        &server,
        "POST",
        "/api/v1/segments",
        json!({"source": "segment everyone = trait.email exists"}),
    )
    .await;
    let at = seglab_event::time::format_timestamp(seglab_event::time::now_millis() + 1_500);
    let campaign = format!(
        r#"[[campaign]]
name = "newsletter"
segment = "everyone"
channel = "email"
[campaign.trigger]
on = "schedule"
at = "{at}"
[[campaign.message]]
subject = "News for {{{{ person.traits.name }}}}"
text = "Hello {{{{ person.traits.name }}}}: {{{{ links.unsubscribe }}}}"
"#
    );
    let applied = admin(
        &client,
        &server,
        "POST",
        "/api/v1/campaigns",
        json!({"source": campaign}),
    )
    .await;
    assert_eq!(applied["applied"][0]["status"], "created", "{applied}");
    // Kill once a share of the broadcast is out.
    let deadline = Instant::now() + Duration::from_secs(60);
    while keys(&sink).1 < 150 {
        assert!(Instant::now() < deadline, "the broadcast did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    server.signal("KILL");
    let _ = server.child.wait();
    let (before, _) = keys(&sink);
    assert!(
        before.len() < PEOPLE,
        "killed too late: {} sent",
        before.len()
    );
    // After the restart every owed message goes out.
    let server = Server::start_with(&data, &flags);
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let s = statuses(&client, &server, "newsletter").await;
        let (distinct, _) = keys(&sink);
        if s.get("sent").copied() == Some(PEOPLE as u64) && distinct.len() == PEOPLE {
            assert_eq!(s.len(), 1, "every row is sent: {s:?}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not all sent after the restart: ledger {s:?}, {} distinct keys received",
            distinct.len()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (distinct, total) = keys(&sink);
    // One decision per person: exactly the people, each with its own key.
    assert_eq!(distinct.len(), PEOPLE);
    let sends = admin(
        &client,
        &server,
        "GET",
        "/api/v1/campaigns/newsletter/sends?limit=10000",
        Value::Null,
    )
    .await;
    let ledger: Vec<String> = sends["sends"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| format!("send-{}", s["id"]))
        .collect();
    assert_eq!(ledger.len(), PEOPLE);
    for key in &ledger {
        assert!(distinct.contains_key(key), "{key} was never received");
    }
    // Only what was in flight when the process died may arrive again, and
    // with the same key (receivers drop it).
    let repeated = total - distinct.len();
    assert!(
        repeated <= UNMARKED,
        "{repeated} messages arrived twice; at most {UNMARKED} can be unmarked"
    );
    eprintln!(
        "{total} messages, {} distinct keys, {repeated} repeated after the kill",
        distinct.len()
    );
}

#[test]
fn campaigns_as_code_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    store_with_people(&data, 3);
    ok(&seglab(&data, &["segments", "install-starter"]));
    // Errors name the file, line and column, and the command fails.
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "[[campaign]]\nname = \"x\"\nsegment = \"no_such_segment\"\nchannel = \"email\"\n\
         [campaign.trigger]\non = \"entry\"\n[[campaign.message]]\nsubject = \"{{ person.name \"\ntext = \"hi\"\n",
    )
    .unwrap();
    let out = seglab(&data, &["campaigns", "check", bad.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("bad.toml:3:"), "{err}");
    assert!(err.contains("no_such_segment"), "{err}");
    assert!(err.contains("bad.toml:8:"), "{err}");
    // The starter campaigns check, apply (once), list and preview.
    let starter = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../campaigns");
    let out = ok(&seglab(
        &data,
        &["campaigns", "check", starter.to_str().unwrap()],
    ));
    assert!(out.contains("7 campaigns and a policy"), "{out}");
    let out = ok(&seglab(
        &data,
        &["campaigns", "apply", starter.to_str().unwrap()],
    ));
    assert!(
        out.contains("cart_recovery") && out.contains("created (version 1)"),
        "{out}"
    );
    let out = ok(&seglab(
        &data,
        &["campaigns", "apply", starter.to_str().unwrap()],
    ));
    assert!(out.contains("unchanged (version 1)"), "{out}");
    let out = ok(&seglab(&data, &["campaigns", "list"]));
    assert!(
        out.contains("browse_abandonment") && out.contains("browsers_not_buyers"),
        "{out}"
    );
    let out = ok(&seglab(
        &data,
        &["campaigns", "preview", "win_back", "--person", "u1"],
    ));
    assert!(out.contains("subject   We miss you"), "{out}");
    assert!(out.contains("coupon    MISSYOU-PREVIEW"), "{out}");
    let out = ok(&seglab(
        &data,
        &["campaigns", "why", "win_back", "--person", "u1"],
    ));
    assert!(out.contains("nothing recorded for person"), "{out}");
    // The suppression list.
    let out = ok(&seglab(
        &data,
        &["campaigns", "suppress", "u1", "--channel", "email"],
    ));
    assert!(out.contains("suppressed on email (listed"), "{out}");
    let out = ok(&seglab(
        &data,
        &["campaigns", "preview", "win_back", "--person", "u1"],
    ));
    assert!(out.contains("suppressed"), "{out}");
    let out = ok(&seglab(
        &data,
        &["campaigns", "unsuppress", "u1", "--channel", "email"],
    ));
    assert!(out.contains("no longer suppressed"), "{out}");
    assert!(
        !seglab(
            &data,
            &["campaigns", "unsuppress", "u1", "--channel", "email"]
        )
        .status
        .success()
    );
    assert!(
        !seglab(&data, &["campaigns", "suppress", "u1", "--channel", "fax"])
            .status
            .success()
    );
    // A diff of what is applied changes nothing.
    let out = ok(&seglab(
        &data,
        &["campaigns", "diff", starter.to_str().unwrap()],
    ));
    assert!(
        out.contains("win_back") && out.contains("unchanged"),
        "{out}"
    );
}

#[test]
fn the_demo_installs_the_starter_campaigns() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let out = ok(&seglab(
        &data,
        &[
            "demo",
            "--people",
            "200",
            "--days",
            "20",
            "--products",
            "20",
        ],
    ));
    for name in [
        "browse_abandonment",
        "loyalty_reward",
        "win_back",
        "best_sellers_weekly",
        "cart_recovery",
    ] {
        assert!(out.contains(&format!("campaign {name}")), "{out}");
    }
    let out = ok(&seglab(&data, &["campaigns", "list"]));
    assert!(out.contains("cart_banner"), "{out}");
}

#[test]
fn the_demo_experiment_shows_its_lift_and_ships() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    ok(&seglab(
        &data,
        &[
            "demo",
            "--people",
            "4000",
            "--days",
            "60",
            "--products",
            "50",
        ],
    ));
    let out = ok(&seglab(&data, &["experiments", "list"]));
    assert!(
        out.contains("spring_offer") && out.contains("holdout 10 %"),
        "{out}"
    );
    let out = ok(&seglab(
        &data,
        &["experiments", "results", "spring_offer", "--json"],
    ));
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(r["srm_alert"], false, "{r}");
    let b = r["comparisons"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["arm"] == "b" && c["metric"] == "conversion")
        .cloned()
        .unwrap();
    assert!(b["lift"].as_f64().unwrap() > 0.1, "{b}");
    assert!(b["chance_to_win"].as_f64().unwrap() > 0.95, "{b}");
    assert!(r["hint"].as_str().unwrap().contains('b'), "{r}");
    // The table a person reads.
    let out = ok(&seglab(&data, &["experiments", "results", "spring_offer"]));
    assert!(
        out.contains("b vs holdout") && out.contains("sample ratio ok"),
        "{out}"
    );
    let out = ok(&seglab(
        &data,
        &["experiments", "ship", "spring_offer", "b"],
    ));
    assert!(out.contains("updated (version 2)"), "{out}");
    let out = ok(&seglab(&data, &["experiments", "list"]));
    assert!(!out.contains("spring_offer"), "{out}");
    assert!(
        !seglab(&data, &["experiments", "results", "nope"])
            .status
            .success()
    );
    // The global holdout: none in the starter policy, then a fifth of everyone.
    let out = ok(&seglab(&data, &["experiments", "global"]));
    assert!(out.contains("no global holdout"), "{out}");
    let policy = dir.path().join("policy.toml");
    std::fs::write(&policy, "[policy]\nglobal_holdout = 20\n").unwrap();
    ok(&seglab(
        &data,
        &["campaigns", "apply", policy.to_str().unwrap()],
    ));
    let out = ok(&seglab(&data, &["experiments", "global", "--days", "60"]));
    let people = |group: &str| -> f64 {
        out.lines()
            .find(|l| l.starts_with(group))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{out}"))
    };
    let share = people("global_holdout") / (people("global_holdout") + people("reached"));
    assert!((0.17..0.23).contains(&share), "{share}: {out}");
    assert!(out.contains("incremental revenue of campaigns"), "{out}");
}
