//! Keys and people from the command line, beside a running server.

use std::time::Duration;

use crate::{ADMIN, Server, seglab};

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
