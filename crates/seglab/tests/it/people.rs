//! `seglab people delete` and `undelete-id`, with the server running and
//! without: the person is gone from every file, stays gone after a restart,
//! and a re-import of the old history does not bring them back.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

use crate::{ADMIN, Server, bin, stdout};

const ANN_USER: &str = "user-ann-3b9d";
const ANN_ANON: &str = "anon-ann-3b9d";
const ANN_OLD: &str = "old-ann-3b9d";
const ANN_EMAIL: &str = "ann.3b9d@example.com";
const BOB_USER: &str = "user-bob-61fa";

/// `seglab --data DATA args…` with the server's admin token configured.
fn seglab(data: &Path, args: &[&str]) -> Output {
    Command::new(bin())
        .arg("--data")
        .arg(data)
        .args(args)
        .env("SEGLAB_LOG", "warn")
        .env("SEGLAB_ADMIN_TOKEN", ADMIN)
        .output()
        .unwrap()
}

/// The files of `dir` that hold `needle`.
fn files_with(dir: &Path, needle: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .filter(|p| {
            std::fs::read(p)
                .unwrap()
                .windows(needle.len())
                .any(|w| w == needle.as_bytes())
        })
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

fn assert_gone(data: &Path) {
    for needle in [ANN_USER, ANN_ANON, ANN_OLD, ANN_EMAIL] {
        assert_eq!(files_with(data, needle), Vec::<String>::new(), "{needle}");
    }
    assert!(!files_with(data, BOB_USER).is_empty(), "Bob is still there");
}

/// Ann's and Bob's history as an NDJSON file.
fn history(dir: &Path) -> std::path::PathBuf {
    let lines = [
        json!({"type": "track", "anonymousId": ANN_ANON, "event": "Product Viewed", "timestamp": "2026-01-01T10:00:00Z"}),
        json!({"type": "identify", "userId": ANN_USER, "anonymousId": ANN_ANON, "traits": {"email": ANN_EMAIL}, "timestamp": "2026-01-01T10:01:00Z"}),
        json!({"type": "track", "userId": ANN_OLD, "event": "Product Viewed", "timestamp": "2026-01-01T10:02:00Z"}),
        json!({"type": "alias", "userId": ANN_USER, "previousId": ANN_OLD, "timestamp": "2026-01-01T10:03:00Z"}),
        json!({"type": "track", "userId": ANN_USER, "event": "Order Completed", "properties": {"revenue": 30}, "timestamp": "2026-01-01T10:04:00Z"}),
        json!({"type": "identify", "userId": BOB_USER, "traits": {"email": "bob.61fa@example.com"}, "timestamp": "2026-01-01T11:00:00Z"}),
        json!({"type": "track", "userId": BOB_USER, "event": "Order Completed", "properties": {"revenue": 20}, "timestamp": "2026-01-01T11:01:00Z"}),
    ];
    let path = dir.join("history.ndjson");
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(&path, text).unwrap();
    path
}

async fn get(server: &Server, path: &str) -> (u16, Value) {
    let res = crate::http()
        .get(format!("{}{path}", server.url))
        .bearer_auth(ADMIN)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

fn stop(mut server: Server) {
    server.signal("TERM");
    assert!(server.child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_person_deleted_beside_a_running_server_stays_deleted_after_restarts_and_reimports() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = history(dir.path());
    stdout(&seglab(
        &data,
        &["import", "--quiet", file.to_str().unwrap()],
    ));
    let server = Server::start(&data);
    let res = crate::http()
        .post(format!("{}/api/v1/segments", server.url))
        .bearer_auth(ADMIN)
        .json(&json!({"source": "segment buyers = did \"Order Completed\""}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 201);
    let (s, ann) = get(&server, &format!("/api/v1/people/{ANN_USER}/segments")).await;
    assert_eq!((s, &ann["segments"]), (200, &json!(["buyers"])), "{ann}");
    let ann_id = ann["person_id"].as_i64().unwrap();
    for needle in [ANN_USER, ANN_ANON, ANN_OLD, ANN_EMAIL] {
        assert!(
            files_with(&data, needle)
                .iter()
                .any(|f| f.starts_with("seglab.db")),
            "{needle} stored"
        );
    }

    // The server holds the folder: the command asks it.
    let out = seglab(&data, &["people", "delete", ANN_OLD, "--json"]);
    let deleted: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(deleted["person_id"], ann_id, "{deleted}");
    assert_eq!(deleted["deleted"]["events"], 5, "{deleted}");
    assert_eq!(deleted["deleted"]["membership_changes"], 1, "{deleted}");
    assert_eq!(deleted["erased"], true, "{deleted}");
    let (s, _) = get(&server, &format!("/api/v1/people/{ANN_USER}")).await;
    assert_eq!(s, 404);
    let (_, members) = get(&server, "/api/v1/segments/buyers/members").await;
    assert_eq!(members["total"], 1, "{members}");
    assert_gone(&data);
    // Her SDK is still told 200; nothing is stored.
    let res = crate::http()
        .post(format!("{}/v1/track", server.url))
        .basic_auth(&server.key, Some(""))
        .body(json!({"userId": ANN_USER, "event": "Order Completed"}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let (s, _) = get(&server, &format!("/api/v1/people/{ANN_USER}")).await;
    assert_eq!(s, 404);
    stop(server);
    assert_gone(&data);

    // Re-importing the old history does not bring her back.
    let out = seglab(&data, &["import", "--quiet", file.to_str().unwrap()]);
    let text = stdout(&out);
    assert!(
        text.contains("0 events imported, 2 duplicates skipped"),
        "{text}"
    );
    assert!(
        text.contains("5 events carry the id of a deleted person: dropped"),
        "{text}"
    );
    assert_gone(&data);

    // Nor does a restart (caches, checkpoints and the state of live.db).
    let server = Server::start(&data);
    for id in [ANN_USER, ANN_ANON, ANN_OLD] {
        let (s, _) = get(&server, &format!("/api/v1/people/{id}")).await;
        assert_eq!(s, 404, "{id}");
    }
    let (_, members) = get(&server, "/api/v1/segments/buyers/members").await;
    assert_eq!(members["total"], 1, "{members}");
    let (_, recorded) = get(&server, "/api/v1/segments/buyers/members/recorded").await;
    assert_eq!(recorded["total"], 1, "{recorded}");
    let out = seglab(&data, &["people", "delete", ANN_USER]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("no person with id \"{ANN_USER}\"")),
        "{err}"
    );
    stop(server);
    assert_gone(&data);
}

#[test]
fn a_person_is_deleted_with_no_server_running_and_an_id_let_in_again() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let file = history(dir.path());
    stdout(&seglab(
        &data,
        &["import", "--quiet", file.to_str().unwrap()],
    ));
    let out = stdout(&seglab(&data, &["people", "delete", ANN_USER]));
    assert!(out.starts_with("deleted person "), "{out}");
    assert!(out.contains("and the person merged into them"), "{out}");
    assert!(out.contains("5 events, 3 ids"), "{out}");
    assert!(out.contains("4 ids and addresses are refused"), "{out}");
    assert_gone(&data);
    assert!(
        !seglab(&data, &["people", "show", ANN_USER])
            .status
            .success()
    );

    let out = stdout(&seglab(&data, &["people", "undelete-id", ANN_USER]));
    assert!(out.contains("let in again"), "{out}");
    let out = seglab(&data, &["people", "undelete-id", ANN_USER]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("is not the id or address of a deleted person")
    );
    // Her user id is in again (a new person, with only what is imported
    // under it); her other ids are still refused.
    let text = stdout(&seglab(
        &data,
        &["import", "--quiet", file.to_str().unwrap()],
    ));
    assert!(text.contains("2 events imported"), "{text}");
    assert!(
        text.contains("3 events carry the id of a deleted person"),
        "{text}"
    );
    let person: Value =
        serde_json::from_str(&stdout(&seglab(&data, &["people", "show", ANN_USER]))).unwrap();
    assert_eq!(person["ids"], json!([ANN_USER]), "{person}");

    // A folder with no store is not made into one.
    let empty = dir.path().join("nothing");
    let out = seglab(&empty, &["people", "delete", ANN_USER]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no seglab data in"));
    assert!(!empty.exists());
}
