//! The web dashboard in-process: login, sessions, CSRF, every page with its
//! key content, and error pages for bad input.

use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use serde_json::json;
use tower::ServiceExt;

use crate::{ADMIN, App};

const FORM: &str = "application/x-www-form-urlencoded";

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn location(&self) -> &str {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// `method path` with `headers` and `body`, as a browser (or htmx) sends it.
async fn call(
    app: &App,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Answer {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .router
        .clone()
        .oneshot(req.body(body.into()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let headers = res.headers().clone();
    let body = to_bytes(res.into_body(), usize::MAX).await.unwrap();
    Answer {
        status,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    }
}

async fn get(app: &App, path: &str) -> Answer {
    call(app, "GET", path, &[], Body::empty()).await
}

/// POSTs a form, with `headers` besides its content type.
async fn post_form(app: &App, path: &str, headers: &[(&str, &str)], body: String) -> Answer {
    let mut all = vec![("content-type", FORM)];
    all.extend_from_slice(headers);
    call(app, "POST", path, &all, body).await
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// A logged-in browser: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

impl Browser {
    async fn get(&self, app: &App, path: &str) -> Answer {
        call(app, "GET", path, &[("cookie", &self.cookie)], Body::empty()).await
    }

    async fn post(&self, app: &App, path: &str, body: String) -> Answer {
        self.post_with(app, path, &[], body).await
    }

    /// POSTs a segment source to the editor's `path`, with the CSRF token.
    async fn source(&self, app: &App, path: &str, source: &str) -> Answer {
        self.post(app, path, form(&[("csrf", &self.csrf), ("source", source)]))
            .await
    }

    /// POSTs a form with more headers.
    async fn post_with(
        &self,
        app: &App,
        path: &str,
        headers: &[(&str, &str)],
        body: String,
    ) -> Answer {
        let mut all = vec![("cookie", self.cookie.as_str())];
        all.extend_from_slice(headers);
        post_form(app, path, &all, body).await
    }
}

async fn login(app: &App) -> Browser {
    login_with(app, ADMIN).await
}

/// Logs in with `token` (the built-in admin token or a stored one).
async fn login_with(app: &App, token: &str) -> Browser {
    let a = post_form(
        app,
        "/ui/login",
        &[],
        form(&[("token", token), ("next", "/ui")]),
    )
    .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/ui");
    let set = a.headers["set-cookie"].to_str().unwrap().to_owned();
    assert!(set.contains("HttpOnly"), "{set}");
    assert!(set.contains("SameSite=Strict"), "{set}");
    assert!(set.contains("Path=/"), "{set}");
    assert!(!set.contains("Secure"), "plain http: {set}");
    let cookie = set.split(';').next().unwrap().to_owned();
    let mut b = Browser {
        cookie,
        csrf: String::new(),
    };
    let page = b.get(app, "/ui").await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let marker = r#"name="csrf" value=""#;
    let at = page.body.find(marker).expect("a csrf field") + marker.len();
    b.csrf = page.body[at..at + 64].to_owned();
    b
}

/// Two segments, three buyers and a viewer, applied by the live thread.
async fn shop(app: &App) {
    let (s, b) = app
        .admin(
            "POST",
            "/api/v1/segments",
            json!({"source": "segment buyers \"Buyers\" = did \"Order Completed\" in last 30d\nsegment viewers = did \"Product Viewed\""}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let mut batch = Vec::new();
    for (i, user) in ["ann", "bob", "cy"].iter().enumerate() {
        batch.push(json!({"type": "track", "userId": user, "event": "Order Completed", "properties": {"revenue": 10 * (i + 1)}}));
    }
    batch.push(json!({"type": "track", "userId": "ann", "event": "Product Viewed"}));
    batch.push(json!({"type": "track", "userId": "dee", "event": "Product Viewed"}));
    let (s, _) = app
        .post("/v1/batch", json!({ "batch": batch }).to_string())
        .await;
    assert_eq!(s, StatusCode::OK);
    let live = app.state.live.clone();
    let done = tokio::task::spawn_blocking(move || live.catch_up(Duration::from_secs(10)))
        .await
        .unwrap();
    assert!(done);
}

#[tokio::test]
async fn login_is_required_for_every_page() {
    let app = App::new();
    for path in [
        "/ui",
        "/ui/segments/buyers",
        "/ui/editor",
        "/ui/overlap",
        "/ui/rfm",
        "/ui/campaigns",
        "/ui/experiments",
        "/ui/experiments/x",
        "/ui/nowhere",
        "/ui/assets/htmx-2.0.11.min.js",
        "/ui/assets/dashboard.js",
    ] {
        let a = get(&app, path).await;
        assert_eq!(a.status, StatusCode::FOUND, "{path}");
        assert!(
            a.location().starts_with("/ui/login?next="),
            "{path}: {}",
            a.location()
        );
    }
    let a = get(&app, "/ui/segments/buyers?page=2").await;
    assert_eq!(
        a.location(),
        "/ui/login?next=%2Fui%2Fsegments%2Fbuyers%3Fpage%3D2"
    );
    let a = get(&app, "/").await;
    assert_eq!((a.status, a.location()), (StatusCode::FOUND, "/ui/login"));
    // htmx is told where to go instead.
    let a = post_form(
        &app,
        "/ui/editor/preview",
        &[("hx-request", "true")],
        "source=x".into(),
    )
    .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["hx-redirect"], "/ui/login?next=%2Fui");
    // The login page and its stylesheet need nothing.
    let a = get(&app, "/ui/login").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains(r#"name="token""#), "{}", a.body);
    assert!(
        a.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(a.headers["x-frame-options"], "DENY");
    let a = get(&app, "/ui/assets/dashboard.css").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(
        a.headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age=31536000")
    );
    // The stream needs the admin token or a session.
    let a = get(&app, "/api/v1/stream").await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_token_is_refused_and_a_malformed_login_is_a_400_page() {
    let app = App::new();
    let a = post_form(&app, "/ui/login", &[], form(&[("token", "adm_wrong")])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert!(!a.headers.contains_key("set-cookie"));
    assert!(a.body.contains("not an admin token"), "{}", a.body);
    let a = post_form(&app, "/ui/login", &[], "next=%2Fui".into()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.starts_with("<!DOCTYPE html>"), "{}", a.body);
    assert!(a.body.contains("missing field `token`"), "{}", a.body);
    // A JSON body is not a form.
    let headers = [("content-type", "application/json")];
    let a = call(
        &app,
        "POST",
        "/ui/login",
        &headers,
        r#"{"token": "test-admin"}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    // Logging in never leads to another site.
    let body = form(&[("token", ADMIN), ("next", "https://evil.example/")]);
    assert_eq!(
        post_form(&app, "/ui/login", &[], body).await.location(),
        "/ui"
    );
}

#[tokio::test]
async fn the_cookie_opens_pages_and_reads_of_the_api_only() {
    let app = App::new();
    let b = login(&app).await;
    assert_eq!(b.get(&app, "/").await.location(), "/ui");
    assert_eq!(b.get(&app, "/ui/login").await.location(), "/ui");
    let a = b.get(&app, "/api/v1/segments").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = b.get(&app, "/ui/assets/htmx-2.0.11.min.js").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.starts_with("var htmx="));
    // Writes through the API still need the token.
    let a = b.post(&app, "/api/v1/segments", "x".into()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{}", a.body);
    // With an Authorization header the token decides, cookie or not.
    let headers = [
        ("cookie", b.cookie.as_str()),
        ("authorization", "Bearer nope"),
    ];
    let a = call(&app, "GET", "/api/v1/segments", &headers, Body::empty()).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // A made-up cookie is nothing.
    let made_up = format!("seglab_session={}", "0".repeat(64));
    let a = call(&app, "GET", "/ui", &[("cookie", &made_up)], Body::empty()).await;
    assert_eq!(a.status, StatusCode::FOUND);
}

#[tokio::test]
async fn forms_need_the_csrf_token_and_logout_ends_the_session() {
    let app = App::new();
    let b = login(&app).await;
    let source = "segment loyal = did \"Order Completed\"";
    let a = b
        .post(&app, "/ui/editor/save", form(&[("source", source)]))
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("stale"), "{}", a.body);
    assert!(a.body.contains("Log out"), "the error is in the layout");
    let a = b
        .post(
            &app,
            "/ui/editor/save",
            form(&[("csrf", &"f".repeat(64)), ("source", source)]),
        )
        .await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    // The right token, from another site.
    let elsewhere = [
        ("host", "127.0.0.1:8080"),
        ("origin", "http://evil.example"),
    ];
    let body = form(&[("csrf", &b.csrf), ("source", source)]);
    let a = b.post_with(&app, "/ui/editor/save", &elsewhere, body).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    assert!(app.store.reader().segment("loyal").unwrap().is_none());
    // The token in the header, as htmx sends it.
    let body = form(&[("source", source)]);
    let a = b
        .post_with(&app, "/ui/editor/save", &[("x-csrf-token", &b.csrf)], body)
        .await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert_eq!(a.location(), "/ui/segments/loyal");
    assert!(app.store.reader().segment("loyal").unwrap().is_some());

    let a = b.post(&app, "/ui/logout", String::new()).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN);
    let a = b.post(&app, "/ui/logout", form(&[("csrf", &b.csrf)])).await;
    assert_eq!(
        (a.status, a.location()),
        (StatusCode::SEE_OTHER, "/ui/login")
    );
    assert!(
        a.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    assert_eq!(b.get(&app, "/ui").await.status, StatusCode::FOUND);
    assert_eq!(
        b.get(&app, "/api/v1/segments").await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn a_read_token_opens_a_read_only_session_that_ends_with_the_token() {
    let app = App::new();
    shop(&app).await;
    let (_, token) = app
        .store
        .reader()
        .create_token("viewer", seglab_server::Scope::Read)
        .unwrap();
    let b = login_with(&app, &token).await;
    for path in ["/ui", "/ui/segments/buyers", "/ui/rfm", "/ui/campaigns"] {
        let a = b.get(&app, path).await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {}", a.body);
    }
    let a = b.get(&app, "/ui/editor").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("read-only"), "{}", a.body);
    // The preview changes nothing: it works.
    let source = "segment loyal = did \"Order Completed\"";
    let a = b.source(&app, "/ui/editor/preview", source).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("people now"), "{}", a.body);
    // Saving is refused, with the right CSRF token and all.
    let a = b.source(&app, "/ui/editor/save", source).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{}", a.body);
    assert!(a.body.contains("read-only"), "{}", a.body);
    assert!(a.body.contains("`full`"), "{}", a.body);
    assert!(app.store.reader().segment("loyal").unwrap().is_none());
    // The cookie reads the API, as an admin session's does.
    assert_eq!(b.get(&app, "/api/v1/segments").await.status, StatusCode::OK);
    // Revoking the token ends the session at the next refresh.
    assert!(app.store.reader().revoke_token("viewer").unwrap());
    app.state.refresh_access();
    let a = b.get(&app, "/ui").await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert!(a.location().starts_with("/ui/login"), "{}", a.location());
    // And the token no longer logs in.
    let a = post_form(&app, "/ui/login", &[], form(&[("token", &token)])).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // A full token's session saves.
    let (_, full) = app
        .store
        .reader()
        .create_token("editor", seglab_server::Scope::Full)
        .unwrap();
    let b = login_with(&app, &full).await;
    let a = b.source(&app, "/ui/editor/save", source).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    assert!(app.store.reader().segment("loyal").unwrap().is_some());
}

#[tokio::test]
async fn an_idle_session_expires() {
    let app = App::with_limits(seglab_server::Limits {
        session_idle: Duration::from_millis(200),
        ..seglab_server::Limits::default()
    });
    let b = login(&app).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = b.get(&app, "/ui/rfm").await;
    assert_eq!(a.status, StatusCode::FOUND);
    assert_eq!(a.location(), "/ui/login?expired=1&next=%2Fui%2Frfm");
    assert!(
        a.headers["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
    let a = get(&app, a.location()).await;
    assert!(a.body.contains("Your session expired"), "{}", a.body);
}

#[tokio::test]
async fn every_page_shows_its_content() {
    let app = App::new();
    shop(&app).await;
    let b = login(&app).await;

    let a = b.get(&app, "/ui").await;
    assert_eq!(a.status, StatusCode::OK);
    for want in [
        r#"data-segment="buyers""#,
        r#"data-size="3""#,
        "Buyers",
        "svg class=\"spark\"",
        "recent-changes",
        "/ui/assets/htmx-2.0.11.min.js",
    ] {
        assert!(a.body.contains(want), "overview lacks {want}: {}", a.body);
    }
    // Three buyers cannot show a 10 % lift: the guardrail's badge says so.
    assert!(
        a.body.contains(r#"class="badge warning""#),
        "no guardrail badge: {}",
        a.body
    );
    assert!(
        !a.body.contains("https://") && !a.body.contains("http://"),
        "no external links"
    );
    let a = b.get(&app, "/ui/overview/rows").await;
    assert!(
        a.body.starts_with("<tbody id=\"segment-rows\">"),
        "{}",
        a.body
    );

    let a = b.get(&app, "/ui/segments/buyers").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    for want in [
        "Members at the end of each day",
        "Entered and exited per day",
        "60.00",
        "ann",
        "bob",
        "/ui/editor?segment=buyers",
        "did &quot;Order Completed&quot; in last 30d",
    ] {
        assert!(
            a.body.contains(want),
            "segment page lacks {want}: {}",
            a.body
        );
    }
    let a = b.get(&app, "/ui/segments/buyers?person=ann").await;
    assert!(a.body.contains("is in Buyers now"), "{}", a.body);
    assert!(a.body.contains("Order Completed"), "{}", a.body);
    let a = b.get(&app, "/ui/segments/buyers?person=dee").await;
    assert!(a.body.contains("is not in Buyers now"), "{}", a.body);
    let a = b.get(&app, "/ui/segments/buyers?person=nobody").await;
    assert_eq!(a.status, StatusCode::OK);
    assert!(a.body.contains("no person with id"), "{}", a.body);

    let a = b.get(&app, "/ui/editor?segment=buyers").await;
    assert!(a.body.contains("<textarea"), "{}", a.body);
    assert!(a.body.contains(r#"data-count="3""#), "{}", a.body);
    let typo = b
        .source(
            &app,
            "/ui/editor/preview",
            "did \"Ordr Completed\" in last 30d",
        )
        .await;
    assert_eq!(typo.status, StatusCode::OK);
    assert!(
        typo.body
            .contains("did you mean &quot;Order Completed&quot;?"),
        "{}",
        typo.body
    );
    assert!(
        typo.body.contains("1:5"),
        "the column of the name as typed: {}",
        typo.body
    );
    let count = b
        .source(
            &app,
            "/ui/editor/preview",
            "segment x = did \"Product Viewed\"",
        )
        .await;
    assert!(count.body.contains(r#"data-count="2""#), "{}", count.body);

    let a = b.get(&app, "/ui/overlap").await;
    assert!(
        a.body.contains("buyers and viewers: 1 people in both"),
        "{}",
        a.body
    );
    let a = b.get(&app, "/ui/rfm").await;
    assert!(
        a.body.contains("Champions") && a.body.contains("3</strong> buyers"),
        "{}",
        a.body
    );

    let a = b.get(&app, "/ui/campaigns").await;
    assert!(a.body.contains("No campaigns yet"), "{}", a.body);
    let (s, r) = app
        .admin("POST", "/api/v1/campaigns", json!({"source": EXPERIMENT}))
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    let a = b.get(&app, "/ui/campaigns").await;
    assert!(
        a.body.contains("thanks") && a.body.contains("/ui/experiments/thanks"),
        "{}",
        a.body
    );
    let a = b.get(&app, "/ui/experiments").await;
    assert!(a.body.contains("holdout 20 %"), "{}", a.body);
    let a = b.get(&app, "/ui/experiments/thanks").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert!(a.body.contains("no exposures yet"), "{}", a.body);
    let a = b.get(&app, "/ui/experiments/thanks?segment=viewers").await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
}

const EXPERIMENT: &str = r#"
[[campaign]]
name = "thanks"
segment = "buyers"
channel = "email"
holdout = 20
[campaign.trigger]
on = "entry"
[[campaign.message]]
weight = 40
subject = "Thanks"
text = "Thanks"
[[campaign.message]]
weight = 40
subject = "Thank you"
text = "Thank you"
"#;

#[tokio::test]
async fn bad_input_gets_an_error_page() {
    let app = App::new();
    shop(&app).await;
    let b = login(&app).await;
    for (path, status, text) in [
        (
            "/ui/segments/nope",
            StatusCode::NOT_FOUND,
            "no segment named &quot;nope&quot;",
        ),
        (
            "/ui/editor?segment=nope",
            StatusCode::NOT_FOUND,
            "no segment named",
        ),
        (
            "/ui/experiments/nope",
            StatusCode::NOT_FOUND,
            "no campaign named",
        ),
        (
            "/ui/experiments/thanks?segment=nope",
            StatusCode::NOT_FOUND,
            "no campaign named",
        ),
        ("/ui/nowhere/at/all", StatusCode::NOT_FOUND, "no such page"),
        (
            "/ui/segments/buyers?page=abc",
            StatusCode::BAD_REQUEST,
            "page",
        ),
        (
            "/ui/segments/buyers?days=x",
            StatusCode::BAD_REQUEST,
            "days",
        ),
    ] {
        let a = b.get(&app, path).await;
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert!(a.body.starts_with("<!DOCTYPE html>"), "{path}: {}", a.body);
        assert!(a.body.contains(text), "{path}: {}", a.body);
        assert!(a.body.contains("Log out"), "{path}: in the layout");
    }
    // A form without its field, a definition with errors, nothing to save.
    let a = b
        .post(&app, "/ui/editor/save", form(&[("csrf", &b.csrf)]))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(a.body.contains("missing field `source`"), "{}", a.body);
    let a = b
        .source(
            &app,
            "/ui/editor/save",
            "segment x = did \"Ordr Completed\" and",
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    assert!(
        a.body.contains("<textarea") && a.body.contains("class=\"diagnostics\""),
        "{}",
        a.body
    );
    let a = b.source(&app, "/ui/editor/save", "# nothing").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{}", a.body);
    // A fragment's error is a fragment.
    let htmx = [("hx-request", "true"), ("x-csrf-token", b.csrf.as_str())];
    let a = b
        .post_with(&app, "/ui/editor/preview", &htmx, "nothing=here".into())
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(a.body.starts_with("<div class=\"error\""), "{}", a.body);
    // Wrong method: an HTML page too.
    let a = b.get(&app, "/ui/editor/save").await;
    assert_eq!(a.status, StatusCode::METHOD_NOT_ALLOWED, "{}", a.body);
    assert!(a.body.starts_with("<!DOCTYPE html>"), "{}", a.body);
}

#[tokio::test]
async fn days_before_a_segment_existed_are_evaluated() {
    let app = App::new();
    let three_days_ago =
        seglab_event::time::format_timestamp(seglab_event::time::now_millis() - 3 * 86_400_000);
    let batch = json!({"batch": [
        {"type": "track", "userId": "eve", "event": "Order Completed", "timestamp": three_days_ago},
    ]});
    assert_eq!(
        app.post("/v1/batch", batch.to_string()).await.0,
        StatusCode::OK
    );
    shop(&app).await;
    let b = login(&app).await;
    let a = b.get(&app, "/ui/segments/buyers?days=30").await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.body
            .matches("1 members (evaluated now on the events stored")
            .count(),
        3,
        "three days before today: {}",
        a.body
    );
    assert!(
        a.body.contains(": 4 members</title>"),
        "today, as recorded: {}",
        a.body
    );
    let a = b.get(&app, "/ui").await;
    assert!(a.body.contains("line estimated"), "{}", a.body);
}

#[tokio::test]
async fn the_cookie_is_secure_behind_https() {
    let body = || form(&[("token", ADMIN)]);
    let app = App::new();
    let proxied = [("x-forwarded-proto", "https")];
    let a = post_form(&app, "/ui/login", &proxied, body()).await;
    assert!(
        a.headers["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
    let mut limits = seglab_server::Limits::default();
    limits.campaigns.base_url = "https://shop.example/seglab".into();
    let app = App::with_limits(limits);
    let a = post_form(&app, "/ui/login", &[], body()).await;
    assert!(
        a.headers["set-cookie"]
            .to_str()
            .unwrap()
            .ends_with("; Secure")
    );
}
