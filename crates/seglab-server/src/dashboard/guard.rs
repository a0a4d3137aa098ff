//! What stands in front of the pages.
//!
//! - [`require_session`]: no page, fragment or script without a valid session
//!   cookie (a browser is sent to the login page, an htmx request gets
//!   `HX-Redirect`); a request that changes something (any method but GET and
//!   HEAD) must also come from this site (`Origin`, when sent, names this
//!   host) and carry the session's CSRF token, in the `X-CSRF-Token` header
//!   (htmx) or the form's `csrf` field. Error pages come back rendered inside
//!   the layout. A read-only session (opened with a `read` token) may send
//!   only the forms that change nothing ([`READ_ONLY_FORMS`]): anything else
//!   is refused with a 403 page naming the scope it needs.
//! - [`headers`]: every dashboard answer forbids framing, sniffing and any
//!   script, style or connection to another origin (CSP), and pages are not
//!   cached.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE, HOST, LOCATION, ORIGIN, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::PageError;
use super::layout;
use super::session::{self, Lookup, Session};
use crate::AppState;
use crate::auth::constant_time_eq;

/// The header htmx sends the CSRF token in (set by `hx-headers` on `<body>`).
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The forms a read-only session may post: they change nothing.
pub const READ_ONLY_FORMS: &[&str] = &["/ui/editor/preview", "/ui/logout"];

/// The most a form posted to the dashboard may weigh.
const BODY_LIMIT: usize = 1 << 20;

pub(crate) async fn require_session(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let htmx = request.headers().contains_key("hx-request");
    let session = match state
        .sessions
        .from_headers(request.headers(), Instant::now())
    {
        Lookup::Valid(s) => s,
        Lookup::Expired => return to_login(&state, &request, true),
        Lookup::Unknown => return to_login(&state, &request, false),
    };
    let mut request = if matches!(*request.method(), Method::GET | Method::HEAD) {
        request
    } else if !session.can_write() && !READ_ONLY_FORMS.contains(&request.uri().path()) {
        let e = PageError::forbidden(
            "this session is read-only: log in with an admin token with the `full` scope to change anything",
        );
        return render(e.into_response(), &session, htmx);
    } else {
        match checked(request, &session).await {
            Ok(r) => r,
            Err(e) => return render(e.into_response(), &session, htmx),
        }
    };
    request.extensions_mut().insert(session.clone());
    let res = next.run(request).await;
    render(res, &session, htmx)
}

/// Checks the origin and the CSRF token of a request that changes something;
/// gives the request back (its body read, when the token was in it).
async fn checked(request: Request, session: &Session) -> Result<Request, PageError> {
    let stale = || {
        PageError::forbidden(
            "this form is stale or was not sent from this dashboard: reload the page and try again",
        )
    };
    if !same_origin(request.headers()) {
        return Err(stale());
    }
    let by_header = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| constant_time_eq(t.as_bytes(), session.csrf.as_bytes()));
    if by_header {
        return Ok(request);
    }
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Err(stale());
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, BODY_LIMIT)
        .await
        .map_err(|_| PageError::bad_request("the form is too large"))?;
    let by_field = form_urlencoded::parse(&bytes)
        .find(|(k, _)| k == "csrf")
        .is_some_and(|(_, v)| constant_time_eq(v.as_bytes(), session.csrf.as_bytes()));
    if !by_field {
        return Err(stale());
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// Whether `Origin`, when the browser sent one, is this server.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((origin_host, host), (Some(o), Some(h)) if o.eq_ignore_ascii_case(h))
}

/// Whether cookies must be `Secure`: the request came over https (as a
/// proxy in front says), or the public URL is https.
pub fn secure(state: &AppState, headers: &HeaderMap) -> bool {
    state
        .limits
        .campaigns
        .base_url
        .to_ascii_lowercase()
        .starts_with("https://")
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|p| p.eq_ignore_ascii_case("https"))
}

/// Sends a browser without a valid session to the login page, with where it
/// was going.
fn to_login(state: &AppState, request: &Request, expired: bool) -> Response {
    let next = request.uri().path_and_query().map_or("/ui", |p| p.as_str());
    // A form's target is not a page to come back to.
    let next = if request.method() == Method::GET {
        next
    } else {
        "/ui"
    };
    let mut location = String::from("/ui/login?");
    if expired {
        location.push_str("expired=1&");
    }
    location.push_str(
        &form_urlencoded::Serializer::new(String::new())
            .append_pair("next", next)
            .finish(),
    );
    let mut res = if request.headers().contains_key("hx-request") {
        let mut res = StatusCode::OK.into_response();
        if let Ok(v) = HeaderValue::from_str(&location) {
            res.headers_mut().insert("hx-redirect", v);
        }
        res
    } else {
        let mut res = StatusCode::FOUND.into_response();
        if let Ok(v) = HeaderValue::from_str(&location) {
            res.headers_mut().insert(LOCATION, v);
        }
        res
    };
    if expired {
        res.headers_mut().insert(
            SET_COOKIE,
            session::clear_cookie(secure(state, request.headers())),
        );
    }
    res
}

/// Renders an error answer inside the layout (or as a fragment for htmx).
fn render(mut res: Response, session: &Session, htmx: bool) -> Response {
    let Some(e) = res.extensions_mut().remove::<PageError>() else {
        return res;
    };
    let body = if htmx {
        layout::error_fragment(&e)
    } else {
        layout::error_page(Some(session), &e)
    };
    let mut out = (e.status, body).into_response();
    for (k, v) in res.headers() {
        if k != CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    out
}

const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
                   connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Security headers on every dashboard answer.
pub(crate) async fn headers(request: Request, next: Next) -> Response {
    let mut res = next.run(request).await;
    let h = res.headers_mut();
    h.insert("content-security-policy", HeaderValue::from_static(CSP));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    h.insert("x-frame-options", HeaderValue::from_static("DENY"));
    h.insert("referrer-policy", HeaderValue::from_static("same-origin"));
    if !h.contains_key(CACHE_CONTROL) {
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origin_must_be_this_host_when_sent() {
        assert!(same_origin(&headers(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080")
        ])));
        assert!(!same_origin(&headers(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example")
        ])));
        assert!(!same_origin(&headers(&[("origin", "null")])));
    }
}
