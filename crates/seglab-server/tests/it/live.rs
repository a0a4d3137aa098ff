use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

use crate::{ADMIN, App};

async fn define(app: &App) {
    let (s, b) = app.admin(
        "POST",
        "/api/v1/segments",
        json!({"source": "segment buyers = did \"Order Completed\" in last 30d\nsegment viewers = did \"Product Viewed\""}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
}

async fn order(app: &App, user: &str) {
    let batch = json!({"batch": [
        {"type": "track", "userId": user, "event": "Order Completed", "properties": {"revenue": 10}},
    ]});
    assert_eq!(
        app.post("/v1/batch", batch.to_string()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn memberships_timeline_history_and_changes() {
    let app = App::new();
    define(&app).await;
    order(&app, "ann").await;
    let (s, b) = app.get_admin("/api/v1/people/ann/segments").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["segments"], json!(["buyers"]));
    let timeline = b["timeline"].as_array().unwrap();
    assert_eq!(timeline.len(), 1);
    assert_eq!(timeline[0]["entered"], "entered");
    assert_eq!(timeline[0]["cause"], "event");
    assert!(timeline[0]["event_seq"].as_i64().is_some());

    let (s, b) = app.get_admin("/api/v1/segments/buyers/history").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let days = b["days"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let today = days.last().unwrap();
    assert_eq!(
        (today["entered"].as_u64(), today["size"].as_u64()),
        (Some(1), Some(1))
    );

    let (s, b) = app
        .get_admin("/api/v1/segments/buyers/changes?limit=10")
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b["changes"].as_array().unwrap().len(), 1);

    let (s, b) = app
        .get_admin("/api/v1/segments/buyers/members/recorded?at=2020-01-01T00:00:00Z")
        .await;
    assert_eq!((s, b["total"].as_u64()), (StatusCode::OK, Some(0)));
    let (_, b) = app
        .get_admin("/api/v1/segments/buyers/members/recorded")
        .await;
    assert_eq!(b["total"].as_u64(), Some(1));
    let (_, b) = app
        .get_admin("/api/v1/people/ann/segments?at=2020-01-01T00:00:00Z")
        .await;
    assert_eq!(b["segments"], json!([]));
}

#[tokio::test]
async fn bad_requests_get_codes() {
    let app = App::new();
    define(&app).await;
    for (path, status, code) in [
        (
            "/api/v1/segments/nope/history",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/segments/buyers/history?from=yesterday",
            StatusCode::BAD_REQUEST,
            "invalid_time",
        ),
        (
            "/api/v1/segments/buyers/history?from=2026-02-01T00:00:00Z&to=2026-01-01T00:00:00Z",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/api/v1/people/nobody/segments",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/people/ann/segments?at=soon",
            StatusCode::BAD_REQUEST,
            "invalid_time",
        ),
    ] {
        let (s, b) = app.get_admin(path).await;
        assert_eq!((s, b["code"].as_str()), (status, Some(code)), "{path}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    for (body, code) in [
        (json!({"url": "not a url"}), "invalid_request"),
        (
            json!({"url": "http://127.0.0.1:9/x", "segments": ["nope"]}),
            "unknown_segment",
        ),
        (
            json!({"url": "http://127.0.0.1:9/x", "events": ["joined"]}),
            "invalid_request",
        ),
        (
            json!({"url": "http://127.0.0.1:9/x", "extra": 1}),
            "invalid_json",
        ),
    ] {
        let (s, b) = app.admin("POST", "/api/v1/webhooks", body.clone()).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{body}: {b}"
        );
    }
    for (method, path, code) in [
        ("DELETE", "/api/v1/webhooks/abc", "invalid_path"),
        (
            "GET",
            "/api/v1/segments/buyers/changes?limit=many",
            "invalid_query",
        ),
        (
            "GET",
            "/api/v1/segments/buyers/members?offset=-1",
            "invalid_query",
        ),
        ("GET", "/api/v1/people/ann?events=x", "invalid_query"),
    ] {
        let (s, b) = app.admin(method, path, Value::Null).await;
        assert_eq!(
            (s, b["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{path}: {b}"
        );
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    let (s, b) = app
        .admin("DELETE", "/api/v1/webhooks/42", Value::Null)
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
    let (s, _) = app
        .send(Request::get("/api/v1/stream").body(Body::empty()).unwrap())
        .await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn webhooks_are_listed_and_removed() {
    let app = App::new();
    define(&app).await;
    let (s, b) = app.admin(
        "POST",
        "/api/v1/webhooks",
        json!({"url": "http://127.0.0.1:9/hook", "segments": ["buyers"], "events": ["entered"]}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert!(b["secret"].as_str().unwrap().starts_with("whsec_"));
    let id = b["id"].as_i64().unwrap();
    let (_, b) = app.get_admin("/api/v1/webhooks").await;
    let hooks = b["webhooks"].as_array().unwrap();
    assert_eq!(hooks.len(), 1);
    assert!(hooks[0].get("secret").is_none(), "secrets are shown once");
    assert_eq!(hooks[0]["entered"], true);
    assert_eq!(hooks[0]["exited"], false);
    // An entry owes the subscription a delivery.
    order(&app, "bo").await;
    app.get_admin("/api/v1/people/bo/segments").await;
    let (_, b) = app.get_admin("/api/v1/webhooks").await;
    let d = &b["webhooks"][0]["deliveries"];
    assert_eq!(
        d["delivered"].as_u64().unwrap() + d["pending"].as_u64().unwrap(),
        1,
        "{d}"
    );
    let (s, _) = app
        .admin("DELETE", &format!("/api/v1/webhooks/{id}"), Value::Null)
        .await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, b) = app.get_admin("/api/v1/webhooks").await;
    assert!(b["webhooks"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn the_stream_sends_changes_as_they_happen() {
    let app = App::new();
    define(&app).await;
    let req = Request::get("/api/v1/stream?segments=buyers")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    let res = app.router.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let mut body = res.into_body();
    order(&app, "cy").await;
    app.get_admin("/api/v1/people/cy/segments").await;
    let mut text = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !text.contains("\n\n") {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("an event within 10 s")
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
    }
    assert!(text.contains("event: entered"), "{text}");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let change: Value = serde_json::from_str(data).unwrap();
    assert_eq!(change["segment"], "buyers");
    assert_eq!(change["cause"], "event");
    // A shutting-down server ends the stream (graceful shutdown waits for it).
    app.state.begin_shutdown();
    loop {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .expect("the stream ends within 10 s");
        match frame {
            None => break,
            Some(f) => assert!(f.is_ok()),
        }
    }
}

#[tokio::test]
async fn a_segment_in_use_is_a_conflict() {
    let app = App::new();
    define(&app).await;
    let (s, _) = app.admin(
        "POST",
        "/api/v1/segments",
        json!({"source": "segment loyal = in segment buyers and count(\"Order Completed\") >= 2"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, b) = app
        .admin("DELETE", "/api/v1/segments/buyers", Value::Null)
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::CONFLICT, Some("segment_in_use")),
        "{b}"
    );
}

#[tokio::test]
async fn explain_names_the_deciding_events() {
    let app = App::new();
    define(&app).await;
    order(&app, "dee").await;
    let (s, b) = app
        .get_admin("/api/v1/people/dee/segments/buyers/explain")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["member"], true);
    let text = b["explanation"].to_string();
    assert!(text.contains("Order Completed"), "{text}");
    let (s, b) = app
        .get_admin("/api/v1/people/dee/segments/viewers/explain")
        .await;
    assert_eq!((s, b["member"].as_bool()), (StatusCode::OK, Some(false)));
    let (s, b) = app
        .get_admin("/api/v1/people/dee/segments/nope/explain")
        .await;
    assert_eq!(
        (s, b["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found"))
    );
}
