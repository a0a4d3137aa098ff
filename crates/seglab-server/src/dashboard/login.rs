//! Logging in and out: `GET/POST /ui/login`, `POST /ui/logout`, and `/`,
//! which leads to the dashboard or to the login page.
//!
//! The login form takes an admin token: the built-in one (`seglab serve`
//! prints it; compared in constant time) or one made by `seglab tokens
//! create`. It answers with a new session cookie, with the token's scope (a
//! `read` token opens a read-only session), and a redirect to where the
//! browser was going (a dashboard path only: never another site).

use std::sync::Arc;
use std::time::Instant;

use axum::Extension;
use axum::extract::State;
use axum::http::header::{LOCATION, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use maud::{Markup, html};
use serde::Deserialize;

use super::error::{Form, PageResult, Query};
use super::guard::secure;
use super::layout;
use super::session::{self, Lookup, Session};
use crate::AppState;

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    expired: Option<String>,
}

/// `next` when it is a dashboard path, else the overview.
fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(n)
            if (n == "/ui" || n.starts_with("/ui/") || n.starts_with("/ui?"))
                && !n.contains("//")
                && !n.contains('\\')
                && !n.starts_with("/ui/login")
                && !n.starts_with("/ui/logout") =>
        {
            n
        }
        _ => "/ui",
    }
}

fn login_form(next: &str, notice: Option<&str>, error: Option<&str>) -> Markup {
    layout::bare(
        "Log in",
        html! {
            h1 { "seglab" }
            @if let Some(n) = notice {
                p.notice role="status" { (n) }
            }
            @if let Some(e) = error {
                p.error role="alert" { (e) }
            }
            form.login method="post" action="/ui/login" {
                label for="token" { "Admin token" }
                input #token type="password" name="token" autocomplete="current-password"
                    required autofocus placeholder="adm_…";
                input type="hidden" name="next" value=(next);
                button type="submit" { "Log in" }
            }
            p.muted {
                "The admin token is printed by " code { "seglab serve" } " when it starts; "
                code { "seglab tokens create" } " makes more (a " code { "read" }
                " token opens a read-only session)."
            }
        },
    )
}

/// `GET /ui/login`.
pub async fn page(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(q): Query<LoginQuery>,
) -> Response {
    let next = safe_next(q.next.as_deref());
    // Already logged in: straight on.
    if let Lookup::Valid(_) = state.sessions.from_headers(&headers, Instant::now()) {
        return redirect(StatusCode::FOUND, next);
    }
    let notice = q
        .expired
        .is_some()
        .then_some("Your session expired: log in again.");
    login_form(next, notice, None).into_response()
}

#[derive(Deserialize)]
pub struct LoginForm {
    token: String,
    next: Option<String>,
}

/// `POST /ui/login`: an admin token for a session cookie.
pub async fn login(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    let token = form.token.trim().to_owned();
    let checked = {
        let state = state.clone();
        tokio::task::spawn_blocking(move || crate::auth::admin_token(&state, &token)).await
    };
    let granted = match checked {
        Ok(Ok(g)) => g,
        Ok(Err(e)) => {
            tracing::warn!(reason = %e.message, "dashboard login with a wrong admin token");
            let page = login_form(next, None, Some("That is not an admin token."));
            return (StatusCode::UNAUTHORIZED, page).into_response();
        }
        Err(_) => {
            let page = login_form(next, None, Some("Logging in failed: try again."));
            return (StatusCode::INTERNAL_SERVER_ERROR, page).into_response();
        }
    };
    let session = state.sessions.create(Instant::now(), granted);
    let mut res = redirect(StatusCode::SEE_OTHER, next);
    res.headers_mut().insert(
        SET_COOKIE,
        session::set_cookie(&session.id, secure(&state, &headers)),
    );
    res
}

/// `POST /ui/logout` (behind the session guard, so with the CSRF token).
pub async fn logout(
    State(state): State<Arc<AppState>>,
    Extension(session): Extension<Session>,
    headers: HeaderMap,
) -> PageResult<Response> {
    state.sessions.remove(&session.id);
    let mut res = redirect(StatusCode::SEE_OTHER, "/ui/login");
    res.headers_mut()
        .insert(SET_COOKIE, session::clear_cookie(secure(&state, &headers)));
    Ok(res)
}

/// `GET /`: the dashboard when logged in, else the login page.
pub async fn root(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    match state.sessions.from_headers(&headers, Instant::now()) {
        Lookup::Valid(_) => redirect(StatusCode::FOUND, "/ui"),
        _ => redirect(StatusCode::FOUND, "/ui/login"),
    }
}

pub fn redirect(status: StatusCode, to: &str) -> Response {
    let mut res = status.into_response();
    if let Ok(v) = HeaderValue::from_str(to) {
        res.headers_mut().insert(LOCATION, v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_dashboard_paths_are_followed_after_login() {
        assert_eq!(
            safe_next(Some("/ui/segments/a?page=2")),
            "/ui/segments/a?page=2"
        );
        assert_eq!(safe_next(Some("/ui")), "/ui");
        assert_eq!(safe_next(Some("/ui?x=1")), "/ui?x=1");
        assert_eq!(safe_next(Some("https://evil.example/ui")), "/ui");
        assert_eq!(safe_next(Some("//evil.example/ui")), "/ui");
        assert_eq!(safe_next(Some("/ui//evil.example")), "/ui");
        assert_eq!(safe_next(Some("/ui\\evil")), "/ui");
        assert_eq!(safe_next(Some("/uix")), "/ui");
        assert_eq!(safe_next(Some("/ui/logout")), "/ui");
        assert_eq!(safe_next(None), "/ui");
    }
}
