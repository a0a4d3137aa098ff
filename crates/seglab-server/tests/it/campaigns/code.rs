//! Campaigns as code over REST: apply, versions, delete, and the errors.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};

use super::{apply, entry_email, segments};
use crate::{ADMIN, App};

#[tokio::test]
async fn applying_the_same_source_keeps_the_version_and_a_change_makes_a_new_one() {
    let app = App::new();
    segments(&app, "segment buyers = did \"Order Completed\"").await;
    let v1 = entry_email("welcome", "buyers", 10, "Welcome", "");
    let applied = apply(&app, &v1).await;
    assert_eq!(
        applied,
        [json!({"name": "welcome", "status": "created", "version": 1})]
    );
    let applied = apply(&app, &v1).await;
    assert_eq!(
        applied,
        [json!({"name": "welcome", "status": "unchanged", "version": 1})]
    );

    let v2 = entry_email("welcome", "buyers", 10, "Welcome back", "");
    let (s, b) = app
        .admin("PUT", "/api/v1/campaigns/welcome", json!({ "source": v2 }))
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["applied"],
        json!([{"name": "welcome", "status": "updated", "version": 2}])
    );
    let (s, b) = app.get_admin("/api/v1/campaigns/welcome").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["version"], 2);
    assert_eq!(b["def"]["messages"][0]["subject"], "Welcome back");
    let versions: Vec<i64> = b["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, [1, 2]);
    let (_, b) = app.get_admin("/api/v1/campaigns").await;
    assert_eq!(b["campaigns"].as_array().unwrap().len(), 1, "{b}");

    // PUT names one campaign: a source defining another, more, or none is
    // refused.
    let other = entry_email("other", "buyers", 10, "Other", "");
    for source in [
        other.clone(),
        [v1.as_str(), &other].concat(),
        "[policy]\ncaps = [{ max = 1, per = \"1d\" }]".to_owned(),
        String::new(),
    ] {
        let (s, b) = app
            .admin(
                "PUT",
                "/api/v1/campaigns/welcome",
                json!({ "source": source }),
            )
            .await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("name_mismatch")),
            "{source}: {b}"
        );
    }
    let (_, b) = app.get_admin("/api/v1/campaigns").await;
    assert_eq!(b["campaigns"].as_array().unwrap().len(), 1, "{b}");

    let (s, _) = app
        .admin("DELETE", "/api/v1/campaigns/welcome", Value::Null)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    for path in [
        "/api/v1/campaigns/welcome",
        "/api/v1/campaigns/welcome/sends",
    ] {
        let (s, b) = app.get_admin(path).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("not_found")),
            "{path}: {b}"
        );
    }
    let (s, _) = app
        .admin("DELETE", "/api/v1/campaigns/welcome", Value::Null)
        .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, b) = app.get_admin("/api/v1/campaigns").await;
    assert_eq!(b["campaigns"], json!([]));
}

/// The first diagnostic of a refused source, checked for its code and line.
fn diagnostic(b: &Value, code: &str, line: u64) -> Value {
    assert_eq!(b["code"], code, "{b}");
    assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
    let d = b["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("no diagnostics: {b}"))
        .iter()
        .find(|d| d["code"] == code)
        .unwrap_or_else(|| panic!("no {code} diagnostic: {b}"))
        .clone();
    assert_eq!(d["line"], line, "{b}");
    assert!(d["column"].as_u64().is_some_and(|c| c > 0), "{b}");
    d
}

#[tokio::test]
async fn refused_sources_name_the_line_with_a_hint() {
    let app = App::new();
    segments(&app, "segment buyers = did \"Order Completed\"").await;
    let post = |source: String| {
        let app = &app;
        async move {
            let (s, b) = app
                .admin("POST", "/api/v1/campaigns", json!({ "source": source }))
                .await;
            assert_eq!(s, StatusCode::BAD_REQUEST, "{b}");
            b
        }
    };

    // The segment is on line 4 (the source starts with a line break).
    let b = post(entry_email("welcome", "buyer", 10, "Hi", "")).await;
    let d = diagnostic(&b, "campaign.unknown_segment", 4);
    assert_eq!(d["column"], 11, "{d}");
    assert!(d["hint"].as_str().unwrap().contains("buyers"), "{d}");

    // The subject is on line 11.
    let b = post(entry_email(
        "welcome",
        "buyers",
        10,
        "Hi {{ person.email ",
        "",
    ))
    .await;
    let d = diagnostic(&b, "campaign.template", 11);
    assert!(d["message"].as_str().is_some_and(|m| !m.is_empty()), "{d}");

    // TOML that does not parse.
    let b = post("[[campaign]]\nname = \"x\nsegment = 1".into()).await;
    diagnostic(&b, "campaign.toml", 2);

    let (_, b) = app.get_admin("/api/v1/campaigns").await;
    assert_eq!(b["campaigns"], json!([]), "nothing was saved");
}

#[tokio::test]
async fn malformed_bodies_are_json_errors() {
    let app = App::new();
    let bodies: [&[u8]; 6] = [
        b"",
        b"not json",
        b"{\"source\": 5}",
        b"{\"source\": \"\", \"extra\": 1}",
        b"[1, 2]",
        b"{\"source\": \"\\ud800\"}",
    ];
    for (method, path) in [
        ("POST", "/api/v1/campaigns"),
        ("POST", "/api/v1/campaigns/diff"),
        ("PUT", "/api/v1/campaigns/welcome"),
        ("POST", "/api/v1/campaigns/welcome/coupons"),
    ] {
        for body in bodies {
            let req = Request::builder()
                .method(method)
                .uri(path)
                .header("authorization", format!("Bearer {ADMIN}"))
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap();
            let (s, b) = app.send(req).await;
            let b: Value = serde_json::from_slice(&b).unwrap_or_else(|e| {
                panic!("{method} {path}: {e}: {}", String::from_utf8_lossy(&b))
            });
            assert_eq!(s, StatusCode::BAD_REQUEST, "{method} {path} {body:?}: {b}");
            assert!(b["code"].as_str().is_some(), "{b}");
            assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()), "{b}");
        }
    }
    // Without the admin token: 401 before anything is read.
    let req = Request::post("/api/v1/campaigns")
        .body(Body::from("{}"))
        .unwrap();
    assert_eq!(app.send(req).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn diff_says_what_applying_would_change_and_writes_nothing() {
    let app = App::new();
    segments(
        &app,
        "segment buyers = did \"Order Completed\"\nsegment viewers = did \"Product Viewed\"",
    )
    .await;
    let order = json!({"batch": [{"type": "track", "userId": "ann", "event": "Order Completed"}]});
    assert_eq!(
        app.post("/v1/batch", order.to_string()).await.0,
        StatusCode::OK
    );
    app.state.live.catch_up(std::time::Duration::from_secs(10));
    apply(&app, &entry_email("same", "buyers", 10, "Same", "")).await;
    apply(&app, &entry_email("moved", "buyers", 10, "Moved", "")).await;
    let source = [
        entry_email("same", "buyers", 10, "Same", ""),
        entry_email("moved", "viewers", 10, "Moved", ""),
        entry_email("fresh", "buyers", 10, "Fresh", ""),
    ]
    .concat();
    let (s, b) = app
        .admin(
            "POST",
            "/api/v1/campaigns/diff",
            json!({ "source": source }),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["campaigns"],
        json!([
            {"name": "same", "status": "unchanged", "audience": 1, "segment_before": null},
            {"name": "moved", "status": "changed", "audience": 0, "segment_before": "buyers"},
            {"name": "fresh", "status": "new", "audience": 1, "segment_before": null},
        ])
    );
    let (_, b) = app.get_admin("/api/v1/campaigns").await;
    let names: Vec<&str> = b["campaigns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["moved", "same"]);
    let (s, b) = app
        .admin(
            "POST",
            "/api/v1/campaigns/diff",
            json!({ "source": entry_email("x", "nope", 1, "X", "") }),
        )
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("campaign.unknown_segment")),
        "{b}"
    );
}

#[tokio::test]
async fn a_segment_a_campaign_targets_cannot_be_deleted() {
    let app = App::new();
    segments(&app, "segment buyers = did \"Order Completed\"").await;
    apply(&app, &entry_email("welcome", "buyers", 10, "Welcome", "")).await;
    let (s, b) = app
        .admin("DELETE", "/api/v1/segments/buyers", Value::Null)
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("segment_in_use")),
        "{b}"
    );
    assert!(
        b["message"].as_str().unwrap().contains("campaign welcome"),
        "{b}"
    );
    let (s, _) = app
        .admin("DELETE", "/api/v1/campaigns/welcome", Value::Null)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (s, b) = app
        .admin("DELETE", "/api/v1/segments/buyers", Value::Null)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{b}");
}
