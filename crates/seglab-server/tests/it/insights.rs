//! Insights and guardrails over the in-process router.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::App;

/// ann ordered twice (30 + 70) and opened an email, bob once (20) without
/// opening his, cat only looked; `again` is `buyers` by another name.
async fn shop() -> App {
    let app = App::new();
    let batch = json!({"batch": [
        {"type": "track", "userId": "ann", "event": "Order Completed", "properties": {"revenue": 30}},
        {"type": "track", "userId": "ann", "event": "Order Completed", "properties": {"revenue": 70}},
        {"type": "track", "userId": "ann", "event": "Email Delivered"},
        {"type": "track", "userId": "ann", "event": "Email Opened"},
        {"type": "track", "userId": "bob", "event": "Order Completed", "properties": {"revenue": 20}},
        {"type": "track", "userId": "bob", "event": "Email Delivered"},
        {"type": "page", "userId": "cat", "name": "Home"},
    ]});
    assert_eq!(
        app.post("/v1/batch", batch.to_string()).await.0,
        StatusCode::OK
    );
    let source = "segment buyers = did \"Order Completed\" in last 30d\n\
                  segment again = count(\"Order Completed\") >= 1\n\
                  segment visitors = did \"Page Viewed\"\n";
    let (s, b) = app
        .admin("POST", "/api/v1/segments", json!({ "source": source }))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    app
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    k.sort_unstable();
    k
}

#[tokio::test]
async fn one_segment() {
    let app = shop().await;
    let (s, b) = app
        .get_admin("/api/v1/segments/buyers/insights?days=7")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        keys(&b),
        [
            "at", "days", "email", "notes", "orders", "people", "segment", "share", "size"
        ]
    );
    assert_eq!(
        (b["size"].as_u64(), b["people"].as_u64()),
        (Some(2), Some(3))
    );
    let days = b["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    assert_eq!(
        keys(&days[6]),
        ["day", "entered", "exited", "people", "share", "size"]
    );
    assert_eq!(
        (days[6]["entered"].as_u64(), days[6]["size"].as_u64()),
        (Some(2), Some(2))
    );
    assert_eq!(
        b["orders"],
        json!({"window_days": 365, "orders": 3, "buyers": 2, "revenue": 120.0,
               "revenue_per_member": 60.0, "average_order_value": 40.0, "conversion_rate": 1.0})
    );
    assert_eq!(
        b["email"],
        json!({"window_days": 30, "delivered": 2, "engaged": 1, "engagement_rate": 0.5})
    );
    // 30 days by default.
    let (_, b) = app.get_admin("/api/v1/segments/visitors/insights").await;
    assert_eq!(b["days"].as_array().unwrap().len(), 30);
    assert_eq!(b["orders"]["average_order_value"], Value::Null);
}

#[tokio::test]
async fn rfm_overlap_and_families() {
    let app = shop().await;
    let (s, b) = app.get_admin("/api/v1/insights/rfm").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(keys(&b), ["at", "buyers", "cells", "named", "revenue"]);
    assert_eq!(
        (b["buyers"].as_u64(), b["revenue"].as_f64()),
        (Some(2), Some(120.0))
    );
    assert_eq!(b["cells"].as_array().unwrap().len(), 25);
    assert_eq!(
        keys(&b["cells"][0]),
        ["cell", "f", "people", "r", "revenue"]
    );
    assert_eq!(
        keys(&b["named"][0]),
        [
            "cell",
            "people",
            "revenue",
            "share_of_buyers",
            "share_of_revenue"
        ]
    );

    let (s, b) = app.get_admin("/api/v1/insights/overlap").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(
        b["segments"],
        json!([{"name": "again", "size": 2}, {"name": "buyers", "size": 2}, {"name": "visitors", "size": 1}])
    );
    assert_eq!(b["intersections"], json!([[2, 2, 0], [2, 2, 0], [0, 0, 1]]));
    assert_eq!(b["jaccard"][0][1], 1.0);
    let (_, b) = app
        .get_admin("/api/v1/insights/overlap?segments=visitors,buyers")
        .await;
    assert_eq!(b["intersections"], json!([[1, 0], [0, 2]]));

    let (s, b) = app
        .get_admin("/api/v1/insights/families?segments=visitors,again,buyers")
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(keys(&b), ["assigned", "families", "people", "unassigned"]);
    let first: Vec<u64> = b["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["first"].as_u64().unwrap())
        .collect();
    assert_eq!(first, [1, 2, 0]);
    assert_eq!(
        keys(&b["families"][0]),
        ["first", "members", "sample", "segment", "share"]
    );
}

#[tokio::test]
async fn guardrails() {
    let app = shop().await;
    let (s, b) = app.get_admin("/api/v1/insights/guardrails").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(keys(&b), ["at", "guardrails", "thresholds"]);
    assert_eq!(b["thresholds"]["lift"], 0.1);
    assert_eq!(b["thresholds"]["weeks"], 4);
    let list = b["guardrails"].as_array().unwrap();
    let dup = list
        .iter()
        .find(|g| g["segment"] == "again" && g["kind"] == "near_duplicate")
        .unwrap();
    assert_eq!(dup["other"], "buyers");
    assert_eq!(
        keys(dup),
        ["events", "kind", "message", "numbers", "other", "segment"]
    );
    // Nobody converts in visitors: there is no baseline to test a lift on.
    let small = list
        .iter()
        .find(|g| g["segment"] == "visitors" && g["kind"] == "too_small")
        .unwrap();
    assert!(
        small["message"]
            .as_str()
            .unwrap()
            .starts_with("no member ordered in the last 4 weeks"),
        "{small}"
    );
    let (_, b) = app
        .get_admin("/api/v1/insights/guardrails?segments=visitors&lift=0.5&weeks=8")
        .await;
    assert_eq!(b["thresholds"]["weeks"], 8);
    assert!(
        b["guardrails"]
            .as_array()
            .unwrap()
            .iter()
            .all(|g| g["segment"] == "visitors")
    );
}

#[tokio::test]
async fn unknown_segments_and_bad_parameters() {
    let app = shop().await;
    for (path, status, code) in [
        (
            "/api/v1/segments/ghost/insights",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/insights/overlap?segments=buyers,ghost",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/insights/families?segments=ghost",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/insights/guardrails?segments=ghost",
            StatusCode::NOT_FOUND,
            "not_found",
        ),
        (
            "/api/v1/segments/buyers/insights?days=0",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/api/v1/segments/buyers/insights?days=many",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/insights/overlap?segments=buyers,buyers",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/api/v1/insights/families",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/api/v1/insights/guardrails?lift=lots",
            StatusCode::BAD_REQUEST,
            "invalid_query",
        ),
        (
            "/api/v1/insights/guardrails?lift=-1",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
        (
            "/api/v1/insights/guardrails?weeks=0",
            StatusCode::BAD_REQUEST,
            "invalid_request",
        ),
    ] {
        let (s, b) = app.get_admin(path).await;
        assert_eq!((s, b["code"].as_str()), (status, Some(code)), "{path}: {b}");
        assert!(b["message"].as_str().is_some_and(|m| !m.is_empty()));
    }
}

#[tokio::test]
async fn writes_and_the_list_show_guardrails() {
    let app = shop().await;
    // A third copy of the buyers: the write answers with its warnings.
    let (s, b) = app
        .admin(
            "POST",
            "/api/v1/segments",
            json!({"source": "segment copy = did \"Order Completed\""}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    assert_eq!(b["segments"][0]["name"], "copy");
    let kinds: Vec<(&str, &str)> = b["guardrails"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| (g["segment"].as_str().unwrap(), g["kind"].as_str().unwrap()))
        .collect();
    assert!(kinds.iter().all(|(s, _)| *s == "copy"), "{kinds:?}");
    assert!(kinds.contains(&("copy", "near_duplicate")), "{kinds:?}");
    // Changed to nobody's segment: the PUT answers for it as it is now.
    let (s, b) = app
        .admin(
            "PUT",
            "/api/v1/segments/copy",
            json!({"source": "segment copy = did \"Order Refunded\""}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    let stale = b["guardrails"]
        .as_array()
        .unwrap()
        .iter()
        .find(|g| g["kind"] == "stale")
        .unwrap();
    assert_eq!(stale["events"], json!(["Order Refunded"]));

    let (s, b) = app.get_admin("/api/v1/segments").await;
    assert_eq!(s, StatusCode::OK, "{b}");
    for seg in b["segments"].as_array().unwrap() {
        let list = seg["guardrails"].as_array().unwrap();
        assert!(list.iter().all(|g| g["segment"] == seg["name"]), "{seg}");
    }
    let again = b["segments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "again")
        .unwrap();
    assert!(
        again["guardrails"]
            .as_array()
            .unwrap()
            .iter()
            .any(|g| g["kind"] == "near_duplicate" && g["other"] == "buyers")
    );
}
