//! `seglab backup` beside a running server and `seglab restore` into a fresh
//! folder: the restored server has the same members and history, every event
//! acknowledged before the backup began, and damaged or misplaced backups are
//! refused with the file named.

use std::collections::HashSet;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::durability::stored_ids;
use crate::{ADMIN, Server, get, post_batch, seglab, stdout};

/// Segments with windows of days at least: events sent now start no timer
/// that could fire during the test.
const SEGMENTS: [&str; 4] = [
    r#"segment buyers "Buyers" = did "Order Completed" in last 30d"#,
    r#"segment repeat_buyers "Repeat buyers" = count("Order Completed") >= 2"#,
    r#"segment browsers "Browsers who don't buy" =
        count("Product Viewed" in last 30d) >= 3 and not did "Order Completed" in last 30d"#,
    r#"segment big_spenders = sum("Order Completed".revenue in last 365d) >= 100"#,
];
const NAMES: [&str; 4] = ["buyers", "repeat_buyers", "browsers", "big_spenders"];

async fn define_segments(client: &reqwest::Client, server: &Server) {
    for source in SEGMENTS {
        let res = client
            .post(format!("{}/api/v1/segments", server.url))
            .bearer_auth(ADMIN)
            .json(&json!({ "source": source }))
            .send()
            .await
            .unwrap();
        assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    }
}

/// Waits until the live engine has applied every committed event.
async fn caught_up(client: &reqwest::Client, server: &Server) -> Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = get(client, server, "/api/v1/live").await;
        assert!(
            v["applied_seq"].as_i64() <= v["committed_seq"].as_i64(),
            "the live state is ahead of the store: {v}"
        );
        if v["behind"] == 0 && v["applied_seq"] == v["committed_seq"] {
            return v;
        }
        assert!(Instant::now() < deadline, "live still behind: {v}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// People who browse, sign in (merging an anonymous visit), and buy, in two
/// rounds so that segments are entered and left again.
async fn shop(client: &reqwest::Client, server: &Server, people: usize) {
    for round in 0..2 {
        for chunk in (0..people).collect::<Vec<_>>().chunks(20) {
            let mut batch = Vec::new();
            for &i in chunk {
                let user = format!("shopper-{i}");
                if round == 0 {
                    if i % 5 == 0 {
                        let anon = format!("anon-{i}");
                        batch.push(json!({"type": "track", "anonymousId": anon,
                            "event": "Product Viewed", "messageId": format!("{anon}-view")}));
                        batch.push(
                            json!({"type": "identify", "userId": user, "anonymousId": anon,
                            "traits": {"email": format!("{user}@example.com")},
                            "messageId": format!("{user}-identify")}),
                        );
                    }
                    for v in 0..(i % 6) {
                        batch.push(json!({"type": "track", "userId": user,
                            "event": "Product Viewed", "properties": {"product_id": format!("p{v}")},
                            "messageId": format!("{user}-view-{v}")}));
                    }
                } else {
                    for o in 0..(i % 4) {
                        batch.push(json!({"type": "track", "userId": user,
                            "event": "Order Completed", "properties": {"revenue": 30 + 10 * o},
                            "messageId": format!("{user}-order-{o}")}));
                    }
                }
            }
            if !batch.is_empty() {
                post_batch(client, server, &batch).await;
            }
        }
    }
}

/// Everything a server can tell about the segments as of `at`: the engine's
/// members, the recorded members, every recorded change, and the daily history.
async fn segments_as_of(client: &reqwest::Client, server: &Server, at: &str) -> Value {
    let mut out = serde_json::Map::new();
    for name in NAMES {
        let members = get(
            client,
            server,
            &format!("/api/v1/segments/{name}/members?at={at}&limit=10000"),
        )
        .await;
        let recorded = get(
            client,
            server,
            &format!("/api/v1/segments/{name}/members/recorded?at={at}&limit=10000"),
        )
        .await;
        let mut changes = Vec::new();
        let mut after = 0;
        loop {
            let page = get(
                client,
                server,
                &format!("/api/v1/segments/{name}/changes?after={after}&limit=1000"),
            )
            .await;
            changes.extend(page["changes"].as_array().unwrap().iter().cloned());
            match page["next_after"].as_i64() {
                Some(next) => after = next,
                None => break,
            }
        }
        let history = get(
            client,
            server,
            &format!("/api/v1/segments/{name}/history?to={at}"),
        )
        .await;
        out.insert(
            name.to_owned(),
            json!({"members": members, "recorded": recorded, "changes": changes, "history": history}),
        );
    }
    Value::Object(out)
}

fn stop(server: Server) {
    server.signal("TERM");
    let mut server = server;
    let _ = server.child.wait();
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn manifest(dir: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_restored_into_a_fresh_folder_has_the_same_members_and_history() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let client = crate::http();
    define_segments(&client, &server).await;
    shop(&client, &server, 300).await;
    let live = caught_up(&client, &server).await;

    // Backed up beside the running server.
    let dest = dir.path().join("backup");
    let out = stdout(&seglab(&data, &["backup", dest.to_str().unwrap()]));
    assert!(out.contains("seglab.db"), "{out}");
    let m = manifest(&dest);
    let files: Vec<&str> = m["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    // The referring files first, the store last.
    assert_eq!(files, ["campaigns.db", "live.db", "seglab.db"], "{m}");
    assert_eq!(m["last_seq"], live["committed_seq"], "{m}");
    let mut in_dest: Vec<String> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    in_dest.sort();
    assert_eq!(
        in_dest,
        ["campaigns.db", "live.db", "manifest.json", "seglab.db"]
    );

    let at = seglab_event::time::format_timestamp(seglab_event::time::now_millis());
    let before = segments_as_of(&client, &server, &at).await;
    let changes: usize = NAMES
        .iter()
        .map(|n| before[n]["changes"].as_array().unwrap().len())
        .sum();
    assert!(changes > 300, "too little history to compare: {before}");
    for name in NAMES {
        assert!(
            before[name]["recorded"]["total"].as_u64() > Some(0),
            "{name}"
        );
    }
    let exits = NAMES
        .iter()
        .flat_map(|n| before[n]["changes"].as_array().unwrap())
        .filter(|c| c["entered"] == "exited")
        .count();
    assert!(exits > 0, "the history holds exits too");
    stop(server);

    let restored = dir.path().join("restored");
    let out = stdout(&seglab(&restored, &["restore", dest.to_str().unwrap()]));
    assert!(out.contains("integrity checks ok"), "{out}");
    let server = Server::start(&restored);
    let live_after = caught_up(&client, &server).await;
    assert_eq!(live_after["committed_seq"], live["committed_seq"]);
    let after = segments_as_of(&client, &server, &at).await;
    for name in NAMES {
        assert_eq!(after[name], before[name], "segment {name}");
    }
    stop(server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_ingestion_holds_every_event_acknowledged_before_it() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let client = crate::http();
    define_segments(&client, &server).await;
    shop(&client, &server, 200).await;

    // Two clients post batches over loopback until told to stop (or a bound).
    let acked = Arc::new(Mutex::new(HashSet::new()));
    let sent = Arc::new(Mutex::new(HashSet::new()));
    let done = Arc::new(AtomicBool::new(false));
    let mut loaders = Vec::new();
    for c in 0..2 {
        let (client, url, key) = (
            client.clone(),
            format!("{}/v1/batch", server.url),
            server.key.clone(),
        );
        let (acked, sent, done) = (acked.clone(), sent.clone(), done.clone());
        loaders.push(tokio::spawn(async move {
            for n in 0..2_000 {
                if done.load(Ordering::Acquire) {
                    break;
                }
                let ids: Vec<String> = (0..50).map(|j| format!("load-{c}-{n}-{j}")).collect();
                let batch: Vec<Value> = ids
                    .iter()
                    .enumerate()
                    .map(|(j, id)| {
                        let event = if j % 7 == 0 {
                            "Order Completed"
                        } else {
                            "Product Viewed"
                        };
                        json!({"type": "track", "userId": format!("shopper-{}", (n * 50 + j) % 400),
                               "event": event, "properties": {"revenue": 20}, "messageId": id})
                    })
                    .collect();
                sent.lock().unwrap().extend(ids.iter().cloned());
                let res = client
                    .post(&url)
                    .basic_auth(&key, Some(""))
                    .json(&json!({ "batch": batch }))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), 200);
                acked.lock().unwrap().extend(ids);
            }
        }));
    }
    while acked.lock().unwrap().len() < 2_000 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let before: HashSet<String> = acked.lock().unwrap().clone();
    let dest = dir.path().join("backup");
    let backup = {
        let (data, dest) = (data.clone(), dest.clone());
        tokio::task::spawn_blocking(move || seglab(&data, &["backup", dest.to_str().unwrap()]))
            .await
            .unwrap()
    };
    let during = acked.lock().unwrap().len();
    done.store(true, Ordering::Release);
    for l in loaders {
        l.await.unwrap();
    }
    stdout(&backup);
    assert!(
        during > before.len(),
        "ingestion went on while the backup ran ({} then {during})",
        before.len()
    );
    stop(server);

    let restored = dir.path().join("restored");
    stdout(&seglab(&restored, &["restore", dest.to_str().unwrap()]));
    // The live state may be behind the store it was backed up with: the
    // server catches up at start, and its members agree with the engine's.
    let server = Server::start(&restored);
    let live = caught_up(&client, &server).await;
    assert_eq!(live["committed_seq"], manifest(&dest)["last_seq"]);
    let at = seglab_event::time::format_timestamp(seglab_event::time::now_millis());
    for name in NAMES {
        let engine = get(
            &client,
            &server,
            &format!("/api/v1/segments/{name}/members?at={at}&limit=10000"),
        )
        .await;
        let recorded = get(
            &client,
            &server,
            &format!("/api/v1/segments/{name}/members/recorded?at={at}&limit=10000"),
        )
        .await;
        assert_eq!(engine["total"], recorded["total"], "{name}");
    }
    stop(server);

    let stored = stored_ids(&restored);
    let missing: Vec<_> = before
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .take(5)
        .collect();
    assert!(
        missing.is_empty(),
        "acknowledged before the backup, missing after restore: {missing:?}"
    );
    assert!(stored.values().all(|&n| n == 1), "an event stored twice");
    let sent = sent.lock().unwrap();
    assert!(
        stored
            .keys()
            .filter(|id| id.starts_with("load-"))
            .all(|id| sent.contains(id)),
        "an event nobody sent"
    );
}

#[test]
fn restore_refuses_a_damaged_backup_and_names_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let events = dir.path().join("events.ndjson");
    let lines: Vec<String> = (0..500)
        .map(|i| {
            json!({"type": "track", "userId": format!("u{}", i % 40), "event": "Order Completed",
                   "messageId": format!("m{i}"), "timestamp": "2026-01-02T10:00:00Z"})
            .to_string()
        })
        .collect();
    std::fs::write(&events, lines.join("\n")).unwrap();
    stdout(&seglab(
        &data,
        &["import", "--quiet", events.to_str().unwrap()],
    ));

    // No server: the backup copies what exists (the store alone).
    let dest = dir.path().join("backup");
    stdout(&seglab(
        &data,
        &["backup", "--quiet", dest.to_str().unwrap()],
    ));
    assert_eq!(manifest(&dest)["files"].as_array().unwrap().len(), 1);

    let file = dest.join("seglab.db");
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    let restored = dir.path().join("restored");
    let out = seglab(&restored, &["restore", dest.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("seglab.db is damaged"), "{err}");
    assert!(err.contains("checksum"), "{err}");
    assert!(
        !restored.exists(),
        "nothing is written from a damaged backup"
    );

    // Mended, the same backup restores and reads.
    bytes[middle] ^= 0x01;
    std::fs::write(&file, &bytes).unwrap();
    stdout(&seglab(&restored, &["restore", dest.to_str().unwrap()]));
    let person = stdout(&seglab(&restored, &["people", "show", "u7"]));
    assert!(person.contains("Order Completed"), "{person}");

    // A folder without a manifest is not a backup.
    std::fs::remove_file(dest.join("manifest.json")).unwrap();
    let out = seglab(
        &dir.path().join("elsewhere"),
        &["restore", dest.to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("has no manifest.json"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn backup_and_restore_refuse_a_folder_that_is_not_empty() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stdout(&seglab(&data, &["keys", "create", "web"]));

    let dest = dir.path().join("backup");
    std::fs::create_dir(&dest).unwrap();
    std::fs::write(dest.join("notes.txt"), "keep me").unwrap();
    let out = seglab(&data, &["backup", dest.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("backup destination") && err.contains("is not empty"),
        "{err}"
    );
    let left: Vec<_> = std::fs::read_dir(&dest).unwrap().collect();
    assert_eq!(left.len(), 1, "the destination is left as it was");
    assert_eq!(
        std::fs::read_to_string(dest.join("notes.txt")).unwrap(),
        "keep me"
    );

    // An empty folder is fine.
    std::fs::remove_file(dest.join("notes.txt")).unwrap();
    stdout(&seglab(&data, &["backup", dest.to_str().unwrap()]));

    // Restoring over a data folder that holds a store is refused.
    let out = seglab(&data, &["restore", dest.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("data folder") && err.contains("is not empty"),
        "{err}"
    );

    // Nothing to back up.
    let out = seglab(
        &dir.path().join("nothing"),
        &["backup", dir.path().join("b2").to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("no seglab data in"),
        "{}",
        stderr(&out)
    );
    assert!(!dir.path().join("b2").exists());
}
