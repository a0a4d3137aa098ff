use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::json;

use seglab_server::Scope::{self, Full, Read};

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
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}");
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

/// Every management route: its method, its pattern, a path it matches, and
/// the scope it needs. A route the server adds, or a scope it changes, fails
/// `the_scope_table_is_every_management_route` until it is decided here.
#[rustfmt::skip]
pub const MANAGEMENT: &[(&str, &str, &str, Scope)] = &[
    ("GET",    "/api/v1/people/{id}",                          "/api/v1/people/u",                       Read),
    // Deletes a person everywhere (ADR 0014); lets a deleted id in again.
    ("DELETE", "/api/v1/people/{id}",                          "/api/v1/people/u",                       Full),
    ("DELETE", "/api/v1/tombstones/{id}",                      "/api/v1/tombstones/u",                   Full),
    ("GET",    "/api/v1/events",                               "/api/v1/events",                         Read),
    // Listing write keys shows the keys: credentials.
    ("GET",    "/api/v1/keys",                                 "/api/v1/keys",                           Full),
    ("POST",   "/api/v1/keys",                                 "/api/v1/keys",                           Full),
    ("DELETE", "/api/v1/keys/{key}",                           "/api/v1/keys/k",                         Full),
    ("GET",    "/api/v1/segments",                             "/api/v1/segments",                       Read),
    ("POST",   "/api/v1/segments",                             "/api/v1/segments",                       Full),
    // Computes a size and a sample, stores nothing.
    ("POST",   "/api/v1/segments/preview",                     "/api/v1/segments/preview",               Read),
    ("GET",    "/api/v1/segments/{name}",                      "/api/v1/segments/s",                     Read),
    ("PUT",    "/api/v1/segments/{name}",                      "/api/v1/segments/s",                     Full),
    ("DELETE", "/api/v1/segments/{name}",                      "/api/v1/segments/s",                     Full),
    ("GET",    "/api/v1/segments/{name}/members",              "/api/v1/segments/s/members",             Read),
    ("GET",    "/api/v1/segments/{name}/count",                "/api/v1/segments/s/count",               Read),
    ("GET",    "/api/v1/segments/{name}/history",              "/api/v1/segments/s/history",             Read),
    ("GET",    "/api/v1/segments/{name}/changes",              "/api/v1/segments/s/changes",             Read),
    ("GET",    "/api/v1/segments/{name}/members/recorded",     "/api/v1/segments/s/members/recorded",    Read),
    ("GET",    "/api/v1/people/{id}/segments",                 "/api/v1/people/u/segments",              Read),
    ("GET",    "/api/v1/people/{id}/segments/{name}/explain",  "/api/v1/people/u/segments/s/explain",    Read),
    ("GET",    "/api/v1/webhooks",                             "/api/v1/webhooks",                       Read),
    ("POST",   "/api/v1/webhooks",                             "/api/v1/webhooks",                       Full),
    ("DELETE", "/api/v1/webhooks/{id}",                        "/api/v1/webhooks/1",                     Full),
    ("GET",    "/api/v1/stream",                               "/api/v1/stream",                         Read),
    ("GET",    "/api/v1/live",                                 "/api/v1/live",                           Read),
    ("GET",    "/api/v1/campaigns",                            "/api/v1/campaigns",                      Read),
    ("POST",   "/api/v1/campaigns",                            "/api/v1/campaigns",                      Full),
    // What applying would change, computed and not stored.
    ("POST",   "/api/v1/campaigns/diff",                       "/api/v1/campaigns/diff",                 Read),
    ("GET",    "/api/v1/campaigns/{name}",                     "/api/v1/campaigns/c",                    Read),
    ("PUT",    "/api/v1/campaigns/{name}",                     "/api/v1/campaigns/c",                    Full),
    ("DELETE", "/api/v1/campaigns/{name}",                     "/api/v1/campaigns/c",                    Full),
    ("GET",    "/api/v1/campaigns/{name}/preview",             "/api/v1/campaigns/c/preview?person=u",   Read),
    ("GET",    "/api/v1/campaigns/{name}/why",                 "/api/v1/campaigns/c/why?person=u",       Read),
    ("GET",    "/api/v1/campaigns/{name}/sends",               "/api/v1/campaigns/c/sends",              Read),
    ("POST",   "/api/v1/campaigns/{name}/coupons",             "/api/v1/campaigns/c/coupons",            Full),
    ("GET",    "/api/v1/people/{id}/suppressions",             "/api/v1/people/u/suppressions",          Read),
    ("POST",   "/api/v1/people/{id}/suppressions",             "/api/v1/people/u/suppressions",          Full),
    ("DELETE", "/api/v1/people/{id}/suppressions/{channel}",   "/api/v1/people/u/suppressions/email",    Full),
    ("GET",    "/api/v1/experiments",                          "/api/v1/experiments",                    Read),
    ("GET",    "/api/v1/experiments/{name}",                   "/api/v1/experiments/x",                  Read),
    ("POST",   "/api/v1/experiments/{name}/ship",              "/api/v1/experiments/x/ship",             Full),
    ("GET",    "/api/v1/global-holdout",                       "/api/v1/global-holdout",                 Read),
    ("GET",    "/api/v1/segments/{name}/insights",             "/api/v1/segments/s/insights",            Read),
    ("GET",    "/api/v1/insights/rfm",                         "/api/v1/insights/rfm",                   Read),
    ("GET",    "/api/v1/insights/overlap",                     "/api/v1/insights/overlap",               Read),
    ("GET",    "/api/v1/insights/families",                    "/api/v1/insights/families?segments=s",   Read),
    ("GET",    "/api/v1/insights/guardrails",                  "/api/v1/insights/guardrails",            Read),
];

#[test]
fn the_scope_table_is_every_management_route() {
    let mut served: Vec<(String, &str, Scope)> = seglab_server::management_routes()
        .into_iter()
        .map(|r| (r.method.to_string(), r.path, r.scope))
        .collect();
    let mut decided: Vec<(String, &str, Scope)> = MANAGEMENT
        .iter()
        .map(|&(m, pattern, _, scope)| (m.to_owned(), pattern, scope))
        .collect();
    served.sort();
    decided.sort();
    let missing: Vec<_> = served.iter().filter(|r| !decided.contains(r)).collect();
    let stale: Vec<_> = decided.iter().filter(|r| !served.contains(r)).collect();
    assert!(
        missing.is_empty() && stale.is_empty(),
        "decide the scope of these routes in MANAGEMENT: {missing:?}; no longer served as listed: {stale:?}"
    );
    assert_eq!(served.len(), decided.len(), "a route is listed twice");
}

#[tokio::test]
async fn every_management_route_needs_an_admin_token() {
    let app = App::new();
    for &(method, _, path, _) in MANAGEMENT {
        for (auth, code) in [
            (None, "missing_admin_token"),
            (Some(app.basic()), "missing_admin_token"),
            (Some(format!("Bearer {}", app.key)), "invalid_admin_token"),
            (Some("Bearer adm_unknown".to_owned()), "invalid_admin_token"),
        ] {
            let mut req = Request::builder().method(method).uri(path);
            if let Some(a) = &auth {
                req = req.header("authorization", a);
            }
            // A body that would be refused: the token is checked first.
            let (got, body) = app.send(req.body(Body::from("{")).unwrap()).await;
            assert_eq!(got, StatusCode::UNAUTHORIZED, "{method} {path} {auth:?}");
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
