use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::App;

async fn seed(app: &App) {
    let batch = json!({"batch": [
        {"type": "track", "userId": "ann", "event": "Order Completed", "properties": {"revenue": 120}},
        {"type": "track", "userId": "ann", "event": "Order Completed", "properties": {"revenue": 80}},
        {"type": "track", "userId": "bob", "event": "Product Viewed", "properties": {"category": "shoes"}},
        {"type": "track", "anonymousId": "v1", "event": "Product Added", "properties": {"product_id": "p1"}},
    ]});
    assert_eq!(
        app.post("/v1/batch", batch.to_string()).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn crud_members_count_and_versions() {
    let app = App::new();
    seed(&app).await;
    let (status, body) = app
        .admin(
            "POST",
            "/api/v1/segments",
            json!({"source": "segment buyers \"Buyers\" = did \"Order Completed\" in last 30d"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(
        body["segments"][0],
        json!({"name": "buyers", "status": "created", "version": 1, "warnings": []})
    );
    let (status, body) = app
        .admin(
            "POST",
            "/api/v1/segments",
            json!({"source": "segment buyers = did \"Order Completed\""}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_exists"))
    );

    // The JSON form of the tree works too.
    let condition = json!({"kind": "count", "query": {"event": {"text": "Order Completed"}}, "test": {"kind": "cmp", "op": ">=", "value": 2.0}});
    let (status, body) = app
        .admin(
            "POST",
            "/api/v1/segments",
            json!({"name": "repeat", "title": "Repeat", "condition": condition}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");

    let (status, list) = app.admin("GET", "/api/v1/segments", Value::Null).await;
    assert_eq!(status, StatusCode::OK);
    let sizes: Vec<(String, u64)> = list["segments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_owned(),
                s["size"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        sizes,
        [("buyers".to_string(), 1), ("repeat".to_string(), 1)]
    );

    // New events show up at once (read-your-writes).
    let more = json!({"batch": [{"type": "track", "userId": "bob", "event": "Order Completed", "properties": {"revenue": 5}}]});
    assert_eq!(
        app.post("/v1/batch", more.to_string()).await.0,
        StatusCode::OK
    );
    let (_, c) = app
        .admin("GET", "/api/v1/segments/buyers/count", Value::Null)
        .await;
    assert_eq!(c["count"], 2);
    let (_, m) = app
        .admin(
            "GET",
            "/api/v1/segments/buyers/members?limit=1",
            Value::Null,
        )
        .await;
    assert_eq!(
        (
            m["total"].as_u64(),
            m["members"].as_array().map(Vec::len),
            m["next_offset"].as_u64()
        ),
        (Some(2), Some(1), Some(1))
    );

    let (status, body) = app
        .admin(
            "PUT",
            "/api/v1/segments/buyers",
            json!({"source": "segment buyers \"Buyers\" = did \"Order Completed\" in last 1d"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["segments"][0]["version"], 2);
    let (status, one) = app
        .admin("GET", "/api/v1/segments/buyers", Value::Null)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["versions"].as_array().unwrap().len(), 2);
    assert_eq!(one["condition"]["kind"], "did");
    let (status, _) = app
        .admin(
            "PUT",
            "/api/v1/segments/buyers",
            json!({"source": "segment other = did \"Order Completed\""}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        app.admin("DELETE", "/api/v1/segments/buyers", Value::Null)
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        app.admin("GET", "/api/v1/segments/buyers", Value::Null)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        app.admin("DELETE", "/api/v1/segments/buyers", Value::Null)
            .await
            .0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn errors_carry_diagnostics_with_positions() {
    let app = App::new();
    seed(&app).await;
    let (status, body) = app
        .admin(
            "POST",
            "/api/v1/segments",
            json!({"source": "segment x =\n  did \"Order Complete\" in last 30d"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "unknown_event");
    let d = &body["diagnostics"][0];
    assert_eq!(
        (d["line"].as_u64(), d["column"].as_u64()),
        (Some(2), Some(7))
    );
    assert!(
        d["hint"].as_str().unwrap().contains("Order Completed"),
        "{d}"
    );
    let (status, body) = app
        .admin(
            "POST",
            "/api/v1/segments",
            json!({"source": "segment a = in segment b\nsegment b = in segment a"}),
        )
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("segment_cycle"))
    );
    let (status, body) = app
        .admin("POST", "/api/v1/segments", json!({"sauce": "x"}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_json"))
    );
}

#[tokio::test]
async fn preview_of_an_unsaved_definition() {
    let app = App::new();
    seed(&app).await;
    let (status, body) = app
        .admin(
            "POST",
            "/api/v1/segments/preview",
            json!({"source": "did \"Product Viewed\" where category = \"shoes\""}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["size"].as_u64(), body["people"].as_u64()),
        (Some(1), Some(3))
    );
    assert!(body["elapsed_ms"].as_f64().is_some());
    let (status, body) = app
        .admin(
            "POST",
            "/api/v1/segments/preview",
            json!({"source": "did \"Prodcut Viewed\""}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // Positions refer to the condition as sent.
    assert_eq!(body["diagnostics"][0]["column"], 5, "{body}");
    let (status, _) = app
        .admin(
            "POST",
            "/api/v1/segments/preview",
            json!({"source": "did \"Order Completed\"", "at": "yesterday"}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
