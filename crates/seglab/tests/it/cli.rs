//! Keys and people from the command line, beside a running server.

use std::time::Duration;

use crate::{ADMIN, Server, seglab, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_created_and_revoked_from_the_cli_work_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let out = seglab(&data, &["keys", "create", "mobile"]);
    assert!(out.status.success());
    let key = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(key.len(), 32);
    let client = crate::http();
    let track = |k: String| {
        client
            .post(format!("{}/v1/track", server.url))
            .basic_auth(k, Some(""))
            .body(r#"{"userId":"cli-user","event":"Opened App","traits":{}}"#)
            .send()
    };
    assert_eq!(track(key.clone()).await.unwrap().status(), 200);
    let list = String::from_utf8(seglab(&data, &["keys", "list"]).stdout).unwrap();
    assert!(
        list.contains("mobile") && list.contains("default"),
        "{list}"
    );
    assert!(seglab(&data, &["keys", "revoke", &key]).status.success());
    let mut status = 200;
    for _ in 0..50 {
        status = track(key.clone()).await.unwrap().status().as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(status, 401, "revocation did not take effect");
    assert!(!seglab(&data, &["keys", "revoke", &key]).status.success());

    // people show reads beside the running server.
    let out = seglab(&data, &["people", "show", "cli-user"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let person: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(person["ids"], serde_json::json!(["cli-user"]));
    assert_eq!(person["events"][0]["event"], "Opened App");
    let out = seglab(&data, &["people", "show", "nobody"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no person with id \"nobody\""));
    let _ = ADMIN;
}

#[test]
fn config_file_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("seglab.toml");
    std::fs::write(&cfg, "[server]\nlisten = \"nonsense\"\n").unwrap();
    let out = std::process::Command::new(crate::bin())
        .args(["--config", cfg.to_str().unwrap(), "keys", "list"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("seglab.toml"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_created_listed_and_revoked_from_the_cli_work_on_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start(&data);
    let read = stdout(&seglab(
        &data,
        &["tokens", "create", "ci", "--scope", "read"],
    ))
    .trim()
    .to_owned();
    assert!(read.starts_with("rdo_"), "{read}");
    let full = stdout(&seglab(
        &data,
        &["tokens", "create", "ops", "--scope", "full"],
    ))
    .trim()
    .to_owned();
    assert!(full.starts_with("adm_"), "{full}");
    // A name has one active token; a scope must be chosen.
    let out = seglab(&data, &["tokens", "create", "ci", "--scope", "full"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already named \"ci\""));
    assert!(!seglab(&data, &["tokens", "create", "x"]).status.success());

    let client = crate::http();
    let call = |method: reqwest::Method, token: &str, body: &str| {
        client
            .request(method, format!("{}/api/v1/segments", server.url))
            .bearer_auth(token)
            .body(body.to_owned())
            .send()
    };
    let segment = r#"{"source": "segment buyers = did \"Order Completed\""}"#;
    assert_eq!(
        call(reqwest::Method::GET, &read, "")
            .await
            .unwrap()
            .status(),
        200
    );
    let res = call(reqwest::Method::POST, &read, segment).await.unwrap();
    assert_eq!(res.status(), 403);
    let body: serde_json::Value = res.json().await.unwrap();
    assert_eq!(body["code"], "forbidden", "{body}");
    let res = call(reqwest::Method::POST, &full, segment).await.unwrap();
    assert_eq!(res.status(), 201, "{}", res.text().await.unwrap());

    // The list has names, scopes and, once the server recorded it, the last use.
    let mut list = String::new();
    for _ in 0..50 {
        list = stdout(&seglab(&data, &["tokens", "list"]));
        let used = |l: &str| l.split_whitespace().nth(3).is_some_and(|c| c != "-");
        if list.lines().skip(1).all(used) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows: Vec<Vec<&str>> = list
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(rows.len(), 2, "{list}");
    assert_eq!((rows[0][0], rows[0][1]), ("ci", "read"), "{list}");
    assert_eq!((rows[1][0], rows[1][1]), ("ops", "full"), "{list}");
    for row in &rows {
        assert_ne!(row[3], "-", "last use not recorded: {list}");
        assert_eq!(*row.last().unwrap(), "-", "not revoked: {list}");
    }
    assert!(!list.contains(&read) && !list.contains(&full), "{list}");

    // Revoked from the CLI: refused within about a second.
    assert!(stdout(&seglab(&data, &["tokens", "revoke", "ci"])).contains("revoked ci"));
    let revoked = std::time::Instant::now();
    let mut status = 200;
    while revoked.elapsed() < Duration::from_secs(5) {
        status = call(reqwest::Method::GET, &read, "")
            .await
            .unwrap()
            .status()
            .as_u16();
        if status == 401 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(status, 401, "revocation did not take effect");
    assert!(revoked.elapsed() < Duration::from_secs(3));
    assert_eq!(
        call(reqwest::Method::GET, &full, "")
            .await
            .unwrap()
            .status(),
        200
    );
    let out = seglab(&data, &["tokens", "revoke", "ci"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no active admin token named \"ci\""));
    let list = stdout(&seglab(&data, &["tokens", "list"]));
    let ci = list.lines().find(|l| l.starts_with("ci ")).unwrap();
    assert!(!ci.ends_with(" -"), "revocation listed: {list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rate_limit_flags_reach_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let server = Server::start_with(&data, &["--rate-limit", "0.2", "--rate-burst", "2"]);
    let client = crate::http();
    let mut statuses = Vec::new();
    for i in 0..3 {
        let res = client
            .post(format!("{}/v1/track", server.url))
            .basic_auth(&server.key, Some(""))
            .body(format!(
                r#"{{"userId":"u","event":"Tapped","messageId":"m{i}"}}"#
            ))
            .send()
            .await
            .unwrap();
        statuses.push(res.status().as_u16());
        if res.status() == 429 {
            let retry: u64 = res.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!((1..=5).contains(&retry), "{retry}");
        }
    }
    assert_eq!(statuses, [200, 200, 429]);
}
