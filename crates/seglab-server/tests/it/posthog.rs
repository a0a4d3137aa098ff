use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use serde_json::json;

use crate::{App, gzip};

#[tokio::test]
async fn capture_paths_with_and_without_slash() {
    let app = App::new();
    for (i, path) in [
        "/batch/",
        "/batch",
        "/capture/",
        "/e",
        "/i/v0/e/",
        "/track",
        "/engage/",
    ]
    .iter()
    .enumerate()
    {
        let body = json!({"api_key": app.key, "batch": [{"event": "clicked", "distinct_id": "d1", "uuid": format!("u{i}")}]});
        let (status, answer) = app.post(path, body.to_string()).await;
        assert_eq!(status, StatusCode::OK, "{path}: {answer}");
    }
    assert_eq!(app.count(), 7);
}

#[tokio::test]
async fn identify_and_alias_stitch_people() {
    let app = App::new();
    let body = json!({"api_key": app.key, "batch": [
        {"event": "$pageview", "distinct_id": "anon-1", "properties": {"$current_url": "https://x/", "$is_identified": false}},
        // posthog-python never says whether an id is identified.
        {"event": "Product Viewed", "distinct_id": "anon-1", "properties": {}},
        {"event": "$identify", "distinct_id": "user-1", "properties": {"$anon_distinct_id": "anon-1"}, "$set": {"email": "a@x"}},
        {"event": "$create_alias", "distinct_id": "user-1", "properties": {"alias": "user-1-new"}},
    ]});
    let req = Request::post("/batch/")
        .header("content-encoding", "gzip")
        .body(Body::from(gzip(body.to_string().as_bytes())))
        .unwrap();
    assert_eq!(app.send(req).await.0, StatusCode::OK);
    let (_, p) = app.get_admin("/api/v1/people/user-1-new").await;
    assert_eq!(p["ids"], json!(["anon-1", "user-1", "user-1-new"]));
    assert_eq!(p["traits"]["email"]["value"], "a@x");
}

#[tokio::test]
async fn form_encoded_base64_and_gzip_js() {
    let app = App::new();
    let events =
        json!([{"event": "x", "distinct_id": "d", "properties": {"token": app.key}}]).to_string();
    let data = base64::engine::general_purpose::STANDARD.encode(&events);
    let form = format!(
        "data={}",
        data.replace('+', "%2B")
            .replace('/', "%2F")
            .replace('=', "%3D")
    );
    let req = Request::post("/e/")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(form))
        .unwrap();
    assert_eq!(app.send(req).await.0, StatusCode::OK);
    let req = Request::post("/e/?compression=gzip-js")
        .body(Body::from(gzip(
            events.replace("\"x\"", "\"y\"").as_bytes(),
        )))
        .unwrap();
    assert_eq!(app.send(req).await.0, StatusCode::OK);
    assert_eq!(app.count(), 2);
}

#[tokio::test]
async fn capture_without_a_key_is_401() {
    let app = App::new();
    let req = Request::post("/capture/")
        .body(Body::from(
            json!({"event": "x", "distinct_id": "d"}).to_string(),
        ))
        .unwrap();
    let (status, body) = app.send(req).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).unwrap()["code"],
        "missing_write_key"
    );
}
