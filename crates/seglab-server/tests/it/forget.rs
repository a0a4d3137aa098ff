//! Deleting a person (ADR 0014): every row of them and of everyone merged
//! into them goes from the three databases and the caches, the bytes are
//! gone from every file of the data folder, the APIs stop showing them at
//! once, and their ids are refused afterwards.

use std::path::Path;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use crate::App;
use crate::campaigns::{
    WAIT, apply, batch, catch_up, entry_email, identify, person, row_of, segments, sends, track,
};

const ANN_USER: &str = "user-ann-5e1f";
const ANN_ANON: &str = "anon-ann-5e1f";
const ANN_OLD: &str = "old-ann-5e1f";
const ANN_EMAIL: &str = "ann.5e1f@example.com";
const BOB_USER: &str = "user-bob-8a2c";
const BOB_EMAIL: &str = "bob.8a2c@example.com";

/// The files of the data folder that hold `needle` (every file, the
/// write-ahead logs and caches included).
fn files_with(dir: &Path, needle: &str) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if !path.is_file() {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
            out.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out.sort();
    out
}

/// Waits until `needle` is in a file whose name starts with `prefix`.
async fn until_in(dir: &Path, prefix: &str, needle: &str) {
    let start = Instant::now();
    while !files_with(dir, needle)
        .iter()
        .any(|f| f.starts_with(prefix))
    {
        assert!(start.elapsed() < WAIT, "{needle} never reached {prefix}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// A loopback port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Ann browses anonymously, signs in with an email, an older account of
/// hers is aliased in, and she buys; Bob buys too. Both enter `buyers`
/// (recorded in `live.db`, with a webhook that fails and keeps its body)
/// and get the `thanks` email (in the ledger: no SMTP server, so it waits
/// there, rendered, with their address).
async fn ann_and_bob(app: &App) -> (i64, i64) {
    segments(app, "segment buyers = did \"Order Completed\"").await;
    let (s, b) = app
        .admin(
            "POST",
            "/api/v1/webhooks",
            json!({"url": format!("http://127.0.0.1:{}/hook", closed_port()), "segments": ["buyers"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    apply(
        app,
        &entry_email(
            "thanks",
            "buyers",
            10,
            "Thanks, {{ person.traits.name }}",
            "",
        ),
    )
    .await;
    batch(
        app,
        vec![
            json!({"type": "track", "anonymousId": ANN_ANON, "event": "Product Viewed", "properties": {"sku": "p1"}}),
            json!({"type": "identify", "userId": ANN_USER, "anonymousId": ANN_ANON, "traits": {"email": ANN_EMAIL, "name": "Ann"}}),
            track(ANN_OLD, "Product Viewed", json!({"sku": "p2"})),
            json!({"type": "alias", "userId": ANN_USER, "previousId": ANN_OLD}),
            track(ANN_USER, "Order Completed", json!({"revenue": 30})),
            identify(BOB_USER, json!({"email": BOB_EMAIL, "name": "Bob"})),
            track(BOB_USER, "Order Completed", json!({"revenue": 20})),
        ],
    )
    .await;
    catch_up(app).await;
    let (ann, bob) = (person(app, ANN_USER).await, person(app, BOB_USER).await);
    assert_eq!(
        person(app, ANN_OLD).await,
        ann,
        "the alias merged her old account"
    );
    row_of(app, "thanks", ann, &["owed"]).await;
    row_of(app, "thanks", bob, &["owed"]).await;
    (ann, bob)
}

async fn members(app: &App, segment: &str) -> Vec<i64> {
    let (s, b) = app
        .get_admin(&format!("/api/v1/segments/{segment}/members"))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_person_is_gone_from_every_file_and_api() {
    let app = App::with_campaigns(None);
    let _deliveries = seglab_server::spawn_deliveries(app.state.clone()).unwrap();
    let dir = app.store.dir().to_owned();
    let (ann, bob) = ann_and_bob(&app).await;
    // The failed webhook keeps its body (with her user id) in live.db.
    until_in(&dir, "live.db", ANN_USER).await;
    // As a large store would have: the engine's snapshot.
    app.state.segments.with_engine(|e| {
        let r = app.store.reader();
        seglab_segments::snapshot::write(
            &dir,
            &r.cache_key().unwrap(),
            r.last_seq().unwrap(),
            e.timelines(),
        )
        .unwrap()
    });
    assert_eq!(members(&app, "buyers").await, vec![ann, bob]);

    // Before: she is in every database (this test can fail).
    for (needle, files) in [
        (ANN_USER, ["seglab.db", "live.db"].as_slice()),
        (ANN_ANON, &["seglab.db"]),
        (ANN_OLD, &["seglab.db"]),
        (ANN_EMAIL, &["seglab.db", "campaigns.db"]),
    ] {
        let found = files_with(&dir, needle);
        for f in files {
            assert!(
                found.iter().any(|x| x.starts_with(f)),
                "{needle} not in {f} before the deletion: {found:?}"
            );
        }
    }
    assert!(files_with(&dir, "sku").contains(&"timelines.snapshot".to_owned()));

    // Deleted by the anonymous id of her old account: the whole cluster.
    let (s, b) = app
        .admin("DELETE", &format!("/api/v1/people/{ANN_OLD}"), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["person_id"], ann, "{b}");
    assert_eq!(b["persons"].as_array().unwrap().len(), 2, "{b}");
    let d = &b["deleted"];
    assert_eq!(d["events"], 5, "{b}");
    assert_eq!(d["people"], 2, "{b}");
    assert_eq!(d["identities"], 3, "{b}");
    assert_eq!(d["merges"], 1, "{b}");
    assert_eq!(d["membership_changes"], 1, "{b}");
    assert_eq!(d["webhook_deliveries"], 1, "{b}");
    assert_eq!(d["sends"], 1, "{b}");
    assert_eq!(b["tombstones"], 4, "three ids and an address: {b}");
    assert_eq!(b["erased"], true, "{b}");
    assert_eq!(b["set_aside"], json!([]), "{b}");

    // No file of the data folder holds anything of hers; Bob is still there.
    for needle in [ANN_USER, ANN_ANON, ANN_OLD, ANN_EMAIL] {
        assert_eq!(files_with(&dir, needle), Vec::<String>::new(), "{needle}");
    }
    assert!(
        files_with(&dir, BOB_USER)
            .iter()
            .any(|f| f.starts_with("seglab.db"))
    );
    assert!(
        files_with(&dir, BOB_EMAIL)
            .iter()
            .any(|f| f.starts_with("campaigns.db"))
    );
    assert!(
        !dir.join(seglab_segments::snapshot::FILE).exists(),
        "a small store keeps none"
    );

    // The APIs no longer show her, at once.
    for id in [ANN_USER, ANN_ANON, ANN_OLD, &ann.to_string()] {
        let (s, b) = app.get_admin(&format!("/api/v1/people/{id}")).await;
        assert_eq!(
            (s, &b["code"]),
            (StatusCode::NOT_FOUND, &json!("not_found")),
            "{id}"
        );
    }
    let (s, _) = app
        .get_admin(&format!("/api/v1/people/{ann}/segments"))
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert_eq!(members(&app, "buyers").await, vec![bob]);
    let (_, b) = app.get_admin("/api/v1/segments/buyers/count").await;
    assert_eq!(b["count"], 1, "{b}");
    let (_, b) = app.get_admin("/api/v1/segments/buyers/changes").await;
    assert!(
        b["changes"]
            .as_array()
            .unwrap()
            .iter()
            .all(|c| c["person"] == bob),
        "{b}"
    );
    let (_, b) = app
        .get_admin("/api/v1/segments/buyers/members/recorded")
        .await;
    assert_eq!(b["members"], json!([bob]), "{b}");
    let rows = sends(&app, "thanks").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["person"], bob);
    let (s, b) = app
        .admin("DELETE", &format!("/api/v1/people/{ANN_USER}"), Value::Null)
        .await;
    assert_eq!(
        (s, &b["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_persons_ids_are_dropped_until_the_tombstone_is_lifted() {
    let app = App::with_campaigns(None);
    let dir = app.store.dir().to_owned();
    let (ann, bob) = ann_and_bob(&app).await;
    let (s, b) = app
        .admin("DELETE", &format!("/api/v1/people/{ANN_USER}"), Value::Null)
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let stored = app.count();

    // Her SDK sends again, and her history is imported again: answered 200
    // (SDKs resend anything else), and dropped. Bob's event in the same
    // batch is stored.
    let again = json!({"batch": [
        track(ANN_USER, "Order Completed", json!({"revenue": 30})),
        json!({"type": "track", "anonymousId": ANN_ANON, "event": "Product Viewed"}),
        json!({"type": "identify", "userId": ANN_USER, "traits": {"email": ANN_EMAIL}}),
        json!({"type": "alias", "userId": "user-new-5e1f", "previousId": ANN_OLD}),
        json!({"type": "track", "userId": BOB_USER, "event": "Product Viewed", "messageId": "bob-again"}),
    ]});
    for path in ["/v1/batch", "/v1/import"] {
        let (s, b) = app.post(path, again.to_string()).await;
        assert_eq!(
            (s, &b),
            (StatusCode::OK, &json!({"success": true})),
            "{path}"
        );
    }
    assert_eq!(app.count(), stored + 1, "only Bob's first event");
    let (s, _) = app.get_admin(&format!("/api/v1/people/{ANN_USER}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    catch_up(&app).await;
    assert_eq!(members(&app, "buyers").await, vec![bob]);
    for needle in [ANN_USER, ANN_ANON, ANN_EMAIL] {
        assert_eq!(files_with(&dir, needle), Vec::<String>::new(), "{needle}");
    }
    let (_, text) = app
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    let text = String::from_utf8(text).unwrap();
    let dropped = text
        .lines()
        .find(|l| l.starts_with("seglab_events_rejected_total{reason=\"deleted_person\"}"))
        .unwrap_or_else(|| panic!("no dropped events counted: {text}"));
    let n: f64 = dropped.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(n >= 8.0, "{dropped}");

    // Someone else with her old address is a new person, and is not mailed.
    batch(
        &app,
        vec![
            identify(
                "user-cy-77d0",
                json!({"email": ANN_EMAIL.to_uppercase(), "name": "Cy"}),
            ),
            track("user-cy-77d0", "Order Completed", json!({})),
        ],
    )
    .await;
    catch_up(&app).await;
    let cy = person(&app, "user-cy-77d0").await;
    assert!(cy > ann);
    let row = row_of(&app, "thanks", cy, &["skipped"]).await;
    assert_eq!(row["rule"], "suppressed", "{row}");

    // Lifted: her id is stored again, as a new person.
    let (s, _) = app
        .admin(
            "DELETE",
            &format!("/api/v1/tombstones/{ANN_USER}"),
            Value::Null,
        )
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = app
        .admin(
            "DELETE",
            &format!("/api/v1/tombstones/{ANN_USER}"),
            Value::Null,
        )
        .await;
    assert_eq!(
        (s, &b["code"]),
        (StatusCode::NOT_FOUND, &json!("not_found"))
    );
    batch(&app, vec![track(ANN_USER, "Order Completed", json!({}))]).await;
    let back = person(&app, ANN_USER).await;
    assert!(back > cy, "{back} is a new person");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_stopped_after_the_store_is_finished_at_start() {
    let app = App::with_campaigns(None);
    let dir = app.store.dir().to_owned();
    let (ann, bob) = ann_and_bob(&app).await;
    let s = app.state.clone();
    tokio::task::spawn_blocking(move || s.stop_live())
        .await
        .unwrap();
    // The server stops after the store's part of a deletion.
    let store = app.store.clone();
    let gone = tokio::task::spawn_blocking(move || store.forget(ANN_USER).unwrap().unwrap())
        .await
        .unwrap();
    assert_eq!(app.store.reader().pending_erasures().unwrap(), gone.persons);
    assert!(
        !files_with(&dir, ANN_EMAIL).is_empty(),
        "still in campaigns.db"
    );

    let store = app.store.clone();
    let state = tokio::task::spawn_blocking(move || {
        seglab_server::AppState::new(store, crate::ADMIN.into(), Default::default()).unwrap()
    })
    .await
    .unwrap();
    assert!(app.store.reader().pending_erasures().unwrap().is_empty());
    assert!(state.live.with_live(|l| l.segments_of(ann)).is_empty());
    assert_eq!(state.live.with_live(|l| l.segments_of(bob)), ["buyers"]);
    let ledger = state
        .campaigns
        .pool
        .with(|db| {
            db.sends(&seglab_campaign::db::LedgerFilter {
                limit: 100,
                ..Default::default()
            })
        })
        .unwrap();
    assert_eq!(
        ledger.iter().map(|r| r.person).collect::<Vec<_>>(),
        [bob],
        "{ledger:?}"
    );
    for needle in [ANN_USER, ANN_ANON, ANN_OLD, ANN_EMAIL] {
        assert_eq!(files_with(&dir, needle), Vec::<String>::new(), "{needle}");
    }
    let s = state.clone();
    tokio::task::spawn_blocking(move || s.stop_live())
        .await
        .unwrap();
}
