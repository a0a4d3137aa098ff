//! Faults, with the real binary: a full disk (a small tmpfs as the data
//! folder, filled by a file of the test's own) and damaged files in a
//! stopped server's data folder.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::{ADMIN, Server, seglab, stdout};

/// Mounting is required (CI runs as root): a test that cannot mount fails
/// instead of passing without having run.
fn required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true")
        || std::env::var("SEGLAB_REQUIRE_MOUNT").is_ok_and(|v| v == "1")
}

/// A tmpfs mounted on a folder for the length of a test, unmounted when
/// dropped (whatever happened).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (`32m`) on `dir`; `None` (with the reason on
    /// standard error) where mounting is not permitted and not required.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        std::fs::create_dir_all(dir).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output();
        let why = match out {
            Ok(o) if o.status.success() => {
                return Some(Tmpfs {
                    dir: dir.to_owned(),
                });
            }
            Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
            Err(e) => e.to_string(),
        };
        assert!(
            !required(),
            "mounting a tmpfs is required (CI=true or SEGLAB_REQUIRE_MOUNT=1): {why}"
        );
        eprintln!("skipped: cannot mount a tmpfs on {}: {why}", dir.display());
        None
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let unmounted = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !unmounted {
            // Still busy (a process that has not exited yet): detach it.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// Fills the file system of `dir` with a file, then gives `leave` bytes of it
/// back: what is left for the server.
fn fill(dir: &Path, leave: u64) -> PathBuf {
    let path = dir.join("filler");
    let mut file = std::fs::File::create(&path).unwrap();
    let chunk = vec![0xa5u8; 64 * 1024];
    let mut written = 0u64;
    loop {
        match file.write(&chunk) {
            Ok(0) => break,
            Ok(n) => written += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    file.set_len(written.saturating_sub(leave)).unwrap();
    path
}

/// Batch `n`: 100 people, each browsing anonymously, identifying, and
/// merging with a second person of theirs (new persons, ids, user ids and
/// merges: everything the writer keeps in memory), with long properties.
fn batch(n: usize) -> (Value, Vec<String>) {
    let mut msgs = Vec::new();
    let note = "x".repeat(300);
    for i in 0..100 {
        let (anon, user, other) = (
            format!("anon-{n}-{i}"),
            format!("user-{n}-{i}"),
            format!("other-{n}-{i}"),
        );
        msgs.push(
            json!({"type": "track", "anonymousId": anon, "event": "Product Viewed",
            "properties": {"note": note, "i": i}, "messageId": format!("b{n}-{i}-view")}),
        );
        msgs.push(
            json!({"type": "identify", "userId": user, "anonymousId": anon,
            "traits": {"plan": "pro", "note": note}, "messageId": format!("b{n}-{i}-identify")}),
        );
        msgs.push(
            json!({"type": "track", "userId": other, "event": "Order Completed",
            "properties": {"revenue": 10, "note": note}, "messageId": format!("b{n}-{i}-order")}),
        );
        msgs.push(json!({"type": "alias", "userId": user, "previousId": other,
            "messageId": format!("b{n}-{i}-alias")}));
    }
    let ids = msgs
        .iter()
        .map(|m| m["messageId"].as_str().unwrap().to_owned())
        .collect();
    (json!({ "batch": msgs }), ids)
}

/// Posts a batch: the status, the `Retry-After` header and the JSON body.
async fn post(
    client: &reqwest::Client,
    server: &Server,
    body: &Value,
) -> (u16, Option<String>, Value) {
    let res = client
        .post(format!("{}/v1/batch", server.url))
        .basic_auth(&server.key, Some(""))
        .json(body)
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .unwrap();
    let status = res.status().as_u16();
    let retry = res
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry, res.json().await.unwrap_or(Value::Null))
}

async fn get(client: &reqwest::Client, server: &Server, path: &str) -> Value {
    let res = client
        .get(format!("{}{path}", server.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "{path}");
    res.json().await.unwrap()
}

async fn metrics(client: &reqwest::Client, server: &Server) -> String {
    let res = client
        .get(format!("{}/metrics", server.url))
        .send()
        .await
        .unwrap();
    res.text().await.unwrap()
}

/// Waits (at most 60 s) until `done` holds for the JSON at `path`.
async fn until(
    client: &reqwest::Client,
    server: &Server,
    path: &str,
    done: impl Fn(&Value) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let v = get(client, server, path).await;
        if done(&v) {
            return;
        }
        assert!(Instant::now() < deadline, "{path}: still {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_new_events_keeps_acknowledged_ones_and_recovers() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let Some(_tmpfs) = Tmpfs::mount(&data, "32m") else {
        return;
    };
    let server = Server::start_logged(&data);
    let client = crate::http();
    // A segment, so that live membership records changes as events arrive.
    let res = client
        .post(format!("{}/api/v1/segments", server.url))
        .bearer_auth(ADMIN)
        .json(&json!({"source": "segment buyers = did \"Order Completed\""}))
        .send()
        .await
        .unwrap();
    assert!(res.status().is_success(), "{}", res.text().await.unwrap());
    // About 2 MB left: the store fills after some tens of batches.
    let filler = fill(&data, 2 << 20);

    let mut acked: HashSet<String> = HashSet::new();
    let mut refused: Vec<(Value, Vec<String>)> = Vec::new();
    let mut n = 0;
    while refused.is_empty() {
        assert!(n < 300, "300 batches and the disk is still not full");
        let (body, ids) = batch(n);
        n += 1;
        match post(&client, &server, &body).await {
            (200, _, _) => acked.extend(ids),
            (503, retry, v) => {
                assert_eq!(v["code"], "storage_full", "{v}");
                assert!(
                    v["message"].as_str().unwrap().contains("retry later"),
                    "{v}"
                );
                let retry = retry.expect("Retry-After on a 503");
                assert!(retry.parse::<u64>().is_ok_and(|s| s >= 1), "{retry}");
                refused.push((body, ids));
            }
            other => panic!("batch {n}: {other:?}"),
        }
    }
    assert!(!acked.is_empty(), "the disk was full before any batch");
    // While it is full, new requests are refused too, and the writer lives.
    for _ in 0..3 {
        let (body, ids) = batch(n);
        n += 1;
        let (status, retry, v) = post(&client, &server, &body).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (503, Some("storage_full")),
            "{v}"
        );
        assert!(retry.is_some());
        refused.push((body, ids));
    }
    let health = get(&client, &server, "/healthz").await;
    assert_eq!(health["status"], "storage_full", "{health}");
    assert!(
        health["storage_full"]
            .as_array()
            .unwrap()
            .contains(&json!("seglab.db")),
        "{health}"
    );
    let m = metrics(&client, &server).await;
    assert!(m.contains("seglab_storage_full{db=\"seglab.db\"} 1"), "{m}");
    assert!(
        m.contains("seglab_requests_rejected_total{reason=\"storage_full\"}"),
        "{m}"
    );
    assert!(
        server.logged().contains("storage full"),
        "{}",
        server.logged()
    );

    // Room again: no restart, the refused batches go in when sent again.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    for (body, ids) in &refused {
        loop {
            match post(&client, &server, body).await {
                (200, _, _) => break,
                (503, _, v) if v["code"] == "storage_full" => {
                    assert!(
                        Instant::now() < deadline,
                        "still full 30 s after the room came back"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                other => panic!("{other:?}"),
            }
        }
        acked.extend(ids.iter().cloned());
    }
    for _ in 0..3 {
        let (body, ids) = batch(n);
        n += 1;
        assert_eq!(post(&client, &server, &body).await.0, 200);
        acked.extend(ids);
    }
    // Every writer recovers by itself: live memberships catch up too.
    until(&client, &server, "/healthz", |v| v["status"] == "ok").await;
    until(&client, &server, "/api/v1/live", |v| v["behind"] == 0).await;
    let m = metrics(&client, &server).await;
    assert!(m.contains("seglab_storage_full{db=\"seglab.db\"} 0"), "{m}");
    // Live memberships lost nothing either: everyone is a buyer.
    let recorded = get(&client, &server, "/api/v1/segments/buyers/members/recorded").await;
    assert_eq!(recorded["total"].as_u64(), Some(acked.len() as u64 / 4));
    server.stop();

    // Every acknowledged event, once; sound files; no event of a person
    // that was never stored (the writer's memory was rolled back with the
    // transactions that failed).
    let stored = crate::durability::stored_ids(&data);
    let missing: Vec<_> = acked
        .iter()
        .filter(|id| !stored.contains_key(*id))
        .take(5)
        .collect();
    assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    assert_eq!(stored.len(), acked.len());
    assert!(stored.values().all(|&c| c == 1), "duplicates");
    for db in ["seglab.db", "live.db", "campaigns.db"] {
        seglab_store::backup::integrity_check(&data.join(db), db).unwrap();
    }
    let conn = rusqlite::Connection::open(data.join("seglab.db")).unwrap();
    let dangling: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM events WHERE person_id NOT IN (SELECT person_id FROM persons))
                  + (SELECT count(*) FROM identities WHERE person_id NOT IN (SELECT person_id FROM persons))
                  + (SELECT count(*) FROM persons WHERE merged_into IS NOT NULL
                       AND merged_into NOT IN (SELECT person_id FROM persons))",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dangling, 0, "events, ids or merges of persons never stored");
    // Each of the batch's people is one person: four events, one person.
    let people: i64 = conn
        .query_row(
            "SELECT count(DISTINCT coalesce(p.merged_into, p.person_id)) FROM events e
             JOIN persons p ON p.person_id = e.person_id",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(people as usize, acked.len() / 4);
}

/// The starter segments looked at before and after the damage.
const NAMES: [&str; 6] = [
    "recent_buyers",
    "repeat_buyers",
    "browsers_not_buyers",
    "active",
    "dormant",
    "email_engaged",
];

/// Each segment's members as live membership recorded them, now.
async fn recorded_members(client: &reqwest::Client, server: &Server) -> Vec<Value> {
    let mut out = Vec::new();
    for name in NAMES {
        let v = get(
            client,
            server,
            &format!("/api/v1/segments/{name}/members/recorded?limit=10000"),
        )
        .await;
        out.push(v["members"].clone());
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damaged_snapshots_and_live_db_are_rebuilt_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    stdout(&seglab(&data, &["demo", "--people", "200", "--days", "30"]));
    let server = Server::start(&data);
    let client = crate::http();
    until(&client, &server, "/api/v1/live", |v| v["behind"] == 0).await;
    let before = recorded_members(&client, &server).await;
    assert!(
        before.iter().any(|m| !m.as_array().unwrap().is_empty()),
        "{before:?}"
    );
    server.stop();

    // The deduplication map, written at shutdown: one byte flipped.
    let dedup = data.join("dedup.snapshot");
    let mut bytes = std::fs::read(&dedup).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&dedup, &bytes).unwrap();
    // A timelines snapshot of this store (too small to write one itself),
    // cut short.
    {
        let reader = seglab_store::Reader::open(&data).unwrap();
        let segments = seglab_segments::Segments::load(&reader).unwrap();
        let path = segments.with_engine(|e| {
            seglab_segments::snapshot::write(
                &data,
                &reader.store_id().unwrap(),
                reader.last_seq().unwrap(),
                e.timelines(),
            )
            .unwrap()
        });
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() * 2 / 3]).unwrap();
    }
    // live.db: garbage over its first pages.
    let live = data.join("live.db");
    let mut bytes = std::fs::read(&live).unwrap();
    for (i, b) in bytes.iter_mut().take(8192).enumerate() {
        *b = (i * 37 % 253) as u8;
    }
    std::fs::write(&live, &bytes).unwrap();

    let server = Server::start_logged(&data);
    until(&client, &server, "/api/v1/live", |v| v["behind"] == 0).await;
    assert_eq!(recorded_members(&client, &server).await, before);
    let log = server.logged();
    for warning in [
        "ignoring the deduplication snapshot",
        "ignoring the damaged timelines snapshot",
        "live.db is damaged",
        "history of entries and exits before now",
    ] {
        assert!(log.contains(warning), "no {warning:?} in the log:\n{log}");
    }
    let aside: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("live.db.corrupt-"))
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert!(!data.join("timelines.snapshot").exists());
    // The history starts again, with each segment's first population.
    let changes = get(
        &client,
        &server,
        "/api/v1/segments/recent_buyers/changes?limit=10000",
    )
    .await;
    let changes = changes["changes"].as_array().unwrap();
    assert_eq!(
        changes.len(),
        before[0].as_array().unwrap().len(),
        "{changes:?}"
    );
    assert!(
        changes
            .iter()
            .all(|c| c["cause"] == "definition" && c["entered"] == "entered"),
        "{changes:?}"
    );
    // Deduplication was rebuilt from the log: a stored id is still stored once.
    let stored = crate::durability::stored_ids(&data);
    let (id, _) = stored.iter().next().unwrap();
    let again = json!({"batch": [{"type": "track", "userId": "someone", "event": "Again",
        "messageId": id}]});
    assert_eq!(post(&client, &server, &again).await.0, 200);
    server.stop();
    assert_eq!(crate::durability::stored_ids(&data), stored);
    seglab_store::backup::integrity_check(&live, "live.db").unwrap();

    // campaigns.db is not rebuilt (its ledger makes each send once, its
    // suppressions keep unsubscribed people from mail): the server refuses
    // to start and says what to do.
    let campaigns = data.join("campaigns.db");
    let mut bytes = std::fs::read(&campaigns).unwrap();
    bytes[..100].fill(0x33);
    std::fs::write(&campaigns, &bytes).unwrap();
    let (status, err) = serve_until_exit(&data);
    assert!(!status.success());
    assert!(
        err.contains("campaigns.db") && err.contains("seglab restore"),
        "{err}"
    );
}

/// Runs `seglab serve` on `data`, which must exit by itself (within 60 s):
/// its status and standard error.
fn serve_until_exit(data: &Path) -> (std::process::ExitStatus, String) {
    let mut child = Command::new(crate::bin())
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--log",
            "warn",
            "--data",
        ])
        .arg(data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("seglab serve did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    (status, err)
}
