use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use crate::{App, gzip};

#[tokio::test]
async fn every_single_call_path_stores_its_event() {
    let app = App::new();
    let cases = [
        (
            "/v1/track",
            json!({"userId": "u", "event": "Order Completed", "messageId": "t"}),
        ),
        (
            "/v1/identify",
            json!({"userId": "u", "traits": {"email": "u@x"}, "messageId": "i"}),
        ),
        (
            "/v1/page",
            json!({"userId": "u", "name": "Home", "messageId": "p"}),
        ),
        (
            "/v1/screen",
            json!({"userId": "u", "name": "Cart", "messageId": "s"}),
        ),
        (
            "/v1/group",
            json!({"userId": "u", "groupId": "g1", "messageId": "g"}),
        ),
        (
            "/v1/alias",
            json!({"previousId": "anon", "userId": "u", "messageId": "a"}),
        ),
        (
            "/v1/t",
            json!({"userId": "u", "event": "Short", "messageId": "t2"}),
        ),
    ];
    for (path, body) in &cases {
        let (status, answer) = app.post(path, body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
        assert_eq!(answer, json!({"success": true}));
    }
    let events = app.store.reader().events_after(0, 100).unwrap();
    let types: Vec<_> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        types,
        [
            "track", "identify", "page", "screen", "group", "alias", "track"
        ]
    );
    assert!(events.iter().all(|e| !e.historical));
}

#[tokio::test]
async fn success_body_is_exactly_what_sdks_expect() {
    let app = App::new();
    let req = Request::post("/v1/track")
        .header("authorization", app.basic())
        .body(Body::from(json!({"userId": "u", "event": "x"}).to_string()))
        .unwrap();
    let (status, body) = app.send(req).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, br#"{"success":true}"#);
}

#[tokio::test]
async fn batch_with_key_in_body_and_gzip() {
    let app = App::new();
    let body = json!({"writeKey": app.key, "batch": [
        {"type": "track", "anonymousId": "a", "event": "Product Viewed"},
        {"type": "identify", "anonymousId": "a", "userId": "u", "traits": {"plan": "pro"}},
    ]});
    let req = Request::post("/v1/batch")
        .header("content-encoding", "gzip")
        .header("content-type", "text/plain")
        .body(Body::from(gzip(body.to_string().as_bytes())))
        .unwrap();
    let (status, _) = app.send(req).await;
    assert_eq!(status, StatusCode::OK);
    let (status, person) = app.get_admin("/api/v1/people/a").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(person["ids"], json!(["a", "u"]));
    assert_eq!(person["traits"]["plan"]["value"], "pro");
    assert_eq!(person["event_count"], 2);
}

#[tokio::test]
async fn retried_batches_are_stored_once() {
    let app = App::new();
    let body = json!({"batch": [
        {"type": "track", "userId": "u", "event": "a", "messageId": "m1"},
        {"type": "track", "userId": "u", "event": "b", "messageId": "m2"},
    ]})
    .to_string();
    for _ in 0..3 {
        assert_eq!(app.post("/v1/batch", body.clone()).await.0, StatusCode::OK);
    }
    assert_eq!(app.count(), 2);
}

#[tokio::test]
async fn import_path_marks_history() {
    let app = App::new();
    let body = json!({"batch": [{"type": "track", "userId": "u", "event": "Order Completed", "timestamp": "2024-01-01T00:00:00Z"}]});
    assert_eq!(
        app.post("/v1/import", body.to_string()).await.0,
        StatusCode::OK
    );
    assert!(app.store.reader().events_after(0, 1).unwrap()[0].historical);
}

#[tokio::test]
async fn overload_answers_429_with_retry_after() {
    let app = App::with_limits(seglab_server::Limits {
        max_pending_events: 1,
        ..seglab_server::Limits::default()
    });
    let body = json!({"batch": [
        {"type": "track", "userId": "u", "event": "a"},
        {"type": "track", "userId": "u", "event": "b"},
    ]});
    let req = Request::post("/v1/batch")
        .header("authorization", app.basic())
        .body(Body::from(body.to_string()))
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(res.headers()["retry-after"], "1");
    assert_eq!(app.count(), 0);
}

#[tokio::test]
async fn browsers_get_cors() {
    let app = App::new();
    let req = Request::options("/v1/t")
        .header("origin", "https://shop.example")
        .body(Body::empty())
        .unwrap();
    let res = tower::ServiceExt::oneshot(app.router.clone(), req)
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NO_CONTENT);
    assert_eq!(res.headers()["access-control-allow-origin"], "*");
}
