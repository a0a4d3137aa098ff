use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::{ADMIN, App};

#[tokio::test]
async fn a_write_key_can_never_read() {
    let app = App::new();
    for path in ["/api/v1/events", "/api/v1/people/u", "/api/v1/keys"] {
        let req = Request::get(path)
            .header("authorization", format!("Bearer {}", app.key))
            .body(Body::empty())
            .unwrap();
        let (status, body) = app.send(req).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{path}");
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(&body).unwrap()["code"],
            "invalid_admin_token"
        );
        let req = Request::get(path)
            .header("authorization", app.basic())
            .body(Body::empty())
            .unwrap();
        assert_eq!(app.send(req).await.0, StatusCode::UNAUTHORIZED, "{path}");
    }
}

/// Every management route, with each method it answers.
const MANAGEMENT: &[(&str, &str)] = &[
    ("GET", "/api/v1/events"),
    ("GET", "/api/v1/people/u"),
    ("DELETE", "/api/v1/people/u"),
    ("DELETE", "/api/v1/tombstones/u"),
    ("GET", "/api/v1/keys"),
    ("POST", "/api/v1/keys"),
    ("DELETE", "/api/v1/keys/k"),
    ("GET", "/api/v1/segments"),
    ("POST", "/api/v1/segments"),
    ("POST", "/api/v1/segments/preview"),
    ("GET", "/api/v1/segments/s"),
    ("PUT", "/api/v1/segments/s"),
    ("DELETE", "/api/v1/segments/s"),
    ("GET", "/api/v1/segments/s/members"),
    ("GET", "/api/v1/segments/s/count"),
    ("GET", "/api/v1/segments/s/history"),
    ("GET", "/api/v1/segments/s/changes"),
    ("GET", "/api/v1/segments/s/members/recorded"),
    ("GET", "/api/v1/people/u/segments"),
    ("GET", "/api/v1/people/u/segments/s/explain"),
    ("GET", "/api/v1/webhooks"),
    ("POST", "/api/v1/webhooks"),
    ("DELETE", "/api/v1/webhooks/1"),
    ("GET", "/api/v1/stream"),
    ("GET", "/api/v1/live"),
    ("GET", "/api/v1/campaigns"),
    ("POST", "/api/v1/campaigns"),
    ("POST", "/api/v1/campaigns/diff"),
    ("GET", "/api/v1/campaigns/c"),
    ("PUT", "/api/v1/campaigns/c"),
    ("DELETE", "/api/v1/campaigns/c"),
    ("GET", "/api/v1/campaigns/c/preview?person=u"),
    ("GET", "/api/v1/campaigns/c/why?person=u"),
    ("GET", "/api/v1/campaigns/c/sends"),
    ("POST", "/api/v1/campaigns/c/coupons"),
    ("GET", "/api/v1/people/u/suppressions"),
    ("POST", "/api/v1/people/u/suppressions"),
    ("DELETE", "/api/v1/people/u/suppressions/email"),
    ("GET", "/api/v1/segments/s/insights"),
    ("GET", "/api/v1/insights/rfm"),
    ("GET", "/api/v1/insights/overlap"),
    ("GET", "/api/v1/insights/families?segments=s"),
    ("GET", "/api/v1/insights/guardrails"),
];

#[tokio::test]
async fn every_management_route_needs_the_admin_token() {
    let app = App::new();
    for &(method, path) in MANAGEMENT {
        for (auth, status, code) in [
            (None, StatusCode::UNAUTHORIZED, "missing_admin_token"),
            (
                Some(format!("Bearer {}", app.key)),
                StatusCode::FORBIDDEN,
                "invalid_admin_token",
            ),
        ] {
            let mut req = Request::builder().method(method).uri(path);
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            // A body that would be refused: the token is checked first.
            let (got, body) = app.send(req.body(Body::from("{")).unwrap()).await;
            assert_eq!(got, status, "{method} {path}");
            assert_eq!(
                serde_json::from_slice::<serde_json::Value>(&body).unwrap()["code"],
                code,
                "{method} {path}"
            );
        }
    }
}

#[tokio::test]
async fn events_page_through_the_log() {
    let app = App::new();
    let batch: Vec<_> = (0..25)
        .map(
            |i| json!({"type": "track", "userId": "u", "event": "e", "messageId": format!("m{i}")}),
        )
        .collect();
    assert_eq!(
        app.post("/v1/batch", json!({ "batch": batch }).to_string())
            .await
            .0,
        StatusCode::OK
    );
    let mut after = 0;
    let mut seen = Vec::new();
    loop {
        let (status, page) = app
            .get_admin(&format!("/api/v1/events?after={after}&limit=10"))
            .await;
        assert_eq!(status, StatusCode::OK);
        for e in page["events"].as_array().unwrap() {
            seen.push(e["message_id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_i64() {
            Some(n) => after = n,
            None => break,
        }
    }
    assert_eq!(seen, (0..25).map(|i| format!("m{i}")).collect::<Vec<_>>());
}

#[tokio::test]
async fn keys_are_managed_and_revocation_takes_effect() {
    let app = App::new();
    let req = Request::post("/api/v1/keys")
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::from(json!({"name": "ios"}).to_string()))
        .unwrap();
    let (status, body) = app.send(req).await;
    assert_eq!(status, StatusCode::CREATED);
    let key = serde_json::from_slice::<serde_json::Value>(&body).unwrap()["key"]
        .as_str()
        .unwrap()
        .to_owned();
    let track = |k: &str| {
        Request::post("/v1/track")
            .body(Body::from(
                json!({"writeKey": k, "userId": "u", "event": "x"}).to_string(),
            ))
            .unwrap()
    };
    assert_eq!(app.send(track(&key)).await.0, StatusCode::OK);
    let req = Request::delete(format!("/api/v1/keys/{key}"))
        .header("authorization", format!("Bearer {ADMIN}"))
        .body(Body::empty())
        .unwrap();
    assert_eq!(app.send(req).await.0, StatusCode::NO_CONTENT);
    let (status, body) = app.send(track(&key)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["code"],
        "invalid_write_key"
    );
    let (_, list) = app.get_admin("/api/v1/keys").await;
    assert_eq!(list["keys"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn unknown_person_is_404_json() {
    let app = App::new();
    let (status, body) = app.get_admin("/api/v1/people/nobody").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["code"], "not_found");
}

#[tokio::test]
async fn health_and_metrics() {
    let app = App::new();
    assert_eq!(
        app.post(
            "/v1/track",
            json!({"userId": "u", "event": "x"}).to_string()
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(app.post("/v1/track", "{").await.0, StatusCode::BAD_REQUEST);
    let (status, h) = app.get_admin("/healthz").await;
    assert_eq!((status, &h["status"]), (StatusCode::OK, &json!("ok")));
    let (status, text) = app
        .send(Request::get("/metrics").body(Body::empty()).unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(text).unwrap();
    assert!(
        text.contains("seglab_events_accepted_total{source=\"segment\"}"),
        "{text}"
    );
    assert!(
        text.contains("seglab_requests_rejected_total{reason=\"invalid_json\"}"),
        "{text}"
    );
    assert!(
        text.contains("seglab_ingest_commit_seconds_bucket"),
        "{text}"
    );
}

#[tokio::test]
async fn the_suppression_list_adds_lists_and_lifts() {
    let app = App::new();
    let (status, _) = app
        .post(
            "/v1/identify",
            json!({"userId": "ann", "traits": {"email": "ann@example.com"}}).to_string(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let send = |method: &str, path: &str, body: &str| {
        Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Body::from(body.to_owned()))
            .unwrap()
    };
    let (status, body) = app
        .send(send(
            "POST",
            "/api/v1/people/ann/suppressions",
            r#"{"channel": "any"}"#,
        ))
        .await;
    assert_eq!(
        status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["suppressions"][0]["channel"], "any");
    assert_eq!(v["suppressions"][0]["reason"], "listed");
    let (status, body) = app
        .send(send(
            "POST",
            "/api/v1/people/ann/suppressions",
            r#"{"channel": "fax"}"#,
        ))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("invalid_channel"));
    let (status, _) = app
        .send(send(
            "POST",
            "/api/v1/people/nobody/suppressions",
            r#"{"channel": "any"}"#,
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .send(send("DELETE", "/api/v1/people/ann/suppressions/any", ""))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .send(send("DELETE", "/api/v1/people/ann/suppressions/any", ""))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, v) = app.get_admin("/api/v1/people/ann/suppressions").await;
    assert_eq!(v["suppressions"], json!([]));
}
