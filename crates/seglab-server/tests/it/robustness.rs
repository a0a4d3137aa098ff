//! Bad input of every kind gets its clear 4xx, the server never panics, and what
//! was stored before is untouched.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

use crate::{App, gzip};

async fn seed(app: &App) -> Vec<seglab_store::StoredEvent> {
    let body = json!({"batch": [
        {"type": "identify", "userId": "keep", "traits": {"email": "k@x"}, "messageId": "k1"},
        {"type": "track", "userId": "keep", "event": "Order Completed", "messageId": "k2"},
    ]});
    assert_eq!(
        app.post("/v1/batch", body.to_string()).await.0,
        StatusCode::OK
    );
    app.store.reader().events_after(0, 100).unwrap()
}

#[tokio::test]
async fn each_bad_input_gets_its_code_and_nothing_changes() {
    let app = App::new();
    let before = seed(&app).await;
    let deep = format!(
        r#"{{"userId":"u","event":"x","properties":{{"a":{}{}}}}}"#,
        "[".repeat(1000),
        "]".repeat(1000)
    );
    let big_message = format!(
        r#"{{"userId":"u","event":"x","properties":{{"a":"{}"}}}}"#,
        "x".repeat(40_000)
    );
    let big_body = format!(r#"{{"batch":[{}]}}"#, vec![r#"{"type":"track","userId":"u","event":"x","properties":{"p":"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}}"#; 5000].join(","));
    let one_bad_in_batch = json!({"batch": [
        {"type": "track", "userId": "u", "event": "fine"},
        {"type": "track", "userId": "u"},
    ]});
    let cases: Vec<(&str, Vec<u8>, StatusCode, &str)> = vec![
        (
            "/v1/track",
            b"{\"userId\":".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "/v1/track",
            b"".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "/v1/track",
            b"[]".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
        (
            "/v1/track",
            br#"{"userId":"u","event":42}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
        (
            "/v1/track",
            br#"{"userId":{"a":1},"event":"x"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
        (
            "/v1/track",
            br#"{"event":"x"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
        (
            "/v1/track",
            br#"{"userId":"u","event":"x","timestamp":"not a time"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
        (
            "/v1/alias",
            br#"{"userId":"u"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
        (
            "/v1/track",
            b"{\"userId\":\"\xc3\x28\",\"event\":\"x\"}".to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "/v1/track",
            deep.into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_json",
        ),
        (
            "/v1/track",
            big_message.into_bytes(),
            StatusCode::BAD_REQUEST,
            "message_too_large",
        ),
        (
            "/v1/batch",
            big_body.into_bytes(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
        ),
        (
            "/v1/batch",
            one_bad_in_batch.to_string().into_bytes(),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
        (
            "/v1/batch",
            br#"{"batch":"nope"}"#.to_vec(),
            StatusCode::BAD_REQUEST,
            "invalid_message",
        ),
        (
            "/v1/nope",
            br#"{}"#.to_vec(),
            StatusCode::NOT_FOUND,
            "not_found",
        ),
    ];
    for (path, body, status, code) in cases {
        let (got, answer) = app.post(path, body.clone()).await;
        assert_eq!(
            (got, answer["code"].as_str()),
            (status, Some(code)),
            "{path} {}",
            String::from_utf8_lossy(&body[..body.len().min(80)])
        );
        assert!(answer["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
    // Bad gzip and gzip bombs.
    let bad_gzip = Request::post("/v1/batch")
        .header("authorization", app.basic())
        .header("content-encoding", "gzip")
        .body(Body::from("plain"))
        .unwrap();
    let (status, body) = app.send(bad_gzip).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap()["code"],
        "invalid_gzip"
    );
    let bomb = gzip(&vec![b' '; 2_000_000]);
    let req = Request::post("/v1/batch")
        .header("authorization", app.basic())
        .header("content-encoding", "gzip")
        .body(Body::from(bomb))
        .unwrap();
    assert_eq!(app.send(req).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    // Bad keys.
    let no_key = Request::post("/v1/track")
        .body(Body::from(r#"{"userId":"u","event":"x"}"#))
        .unwrap();
    let (status, body) = app.send(no_key).await;
    assert_eq!(
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap()["code"].clone()
        ),
        (StatusCode::UNAUTHORIZED, json!("missing_write_key"))
    );
    let wrong = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("wrong:")
    );
    let req = Request::post("/v1/track")
        .header("authorization", wrong)
        .body(Body::from(r#"{"userId":"u","event":"x"}"#))
        .unwrap();
    let (status, body) = app.send(req).await;
    assert_eq!(
        (
            status,
            serde_json::from_slice::<Value>(&body).unwrap()["code"].clone()
        ),
        (StatusCode::UNAUTHORIZED, json!("invalid_write_key"))
    );
    let req = Request::post("/v1/track")
        .header("authorization", "Basic %%%")
        .body(Body::from(r#"{"userId":"u","event":"x"}"#))
        .unwrap();
    assert_eq!(app.send(req).await.0, StatusCode::UNAUTHORIZED);
    let req = Request::get("/v1/track").body(Body::empty()).unwrap();
    assert_eq!(app.send(req).await.0, StatusCode::METHOD_NOT_ALLOWED);

    assert_eq!(app.store.reader().events_after(0, 100).unwrap(), before);
    let (_, person) = app.get_admin("/api/v1/people/keep").await;
    assert_eq!(person["traits"]["email"]["value"], "k@x");
}

/// Random mutations of valid bodies, thrown at every ingestion path: each answer is
/// 200 or a 4xx with a JSON code, never a 5xx, and stored events only grow by
/// the requests that were accepted.
#[tokio::test]
async fn random_garbage_never_breaks_the_server() {
    let app = App::new();
    seed(&app).await;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let valid = json!({"batch": [
        {"type": "track", "userId": "u", "event": "Order Completed", "properties": {"revenue": 10, "products": [{"id": "p"}]}},
        {"type": "identify", "anonymousId": "a", "traits": {"email": "e"}},
    ]})
    .to_string()
    .into_bytes();
    let paths = [
        "/v1/batch",
        "/v1/track",
        "/v1/identify",
        "/v1/alias",
        "/batch/",
        "/e/",
        "/capture",
    ];
    let mut accepted = 0;
    for i in 0..600 {
        let mut body = valid.clone();
        for _ in 0..rng.random_range(1..6) {
            let pos = rng.random_range(0..body.len());
            match rng.random_range(0..3) {
                0 => body[pos] = rng.random(),
                1 => {
                    body.remove(pos);
                }
                _ => body.insert(pos, b"{}[]\",:\\\xff0"[rng.random_range(0..10)]),
            }
        }
        let path = paths[i % paths.len()];
        let mut req = Request::post(path).header("authorization", app.basic());
        if i % 5 == 0 {
            req = req.header("content-encoding", "gzip");
            if i % 10 == 0 {
                body = gzip(&body);
            }
        }
        let (status, answer) = app.send(req.body(Body::from(body)).unwrap()).await;
        assert!(
            status == StatusCode::OK || status.is_client_error(),
            "{path}: {status}"
        );
        if status == StatusCode::OK {
            accepted += 1;
        } else {
            let v: Value = serde_json::from_slice(&answer).unwrap();
            assert!(v["code"].is_string() && v["message"].is_string());
        }
    }
    assert!(accepted < 600);
    let (status, person) = app.get_admin("/api/v1/people/keep").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(person["traits"]["email"]["value"], "k@x");
}
