//! Error pages: every failure of a page is an HTML page with its status (404
//! for an unknown segment or campaign, 400 for a malformed form or query, 403
//! for a stale form), never a panic and never JSON. Statuses come from the
//! API's error kinds (`crate::error`), so they are decided in one place.
//!
//! Also the extractors of the pages (`Path`, `Query`, `Form`), whose
//! rejections are such pages.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;

use crate::error::{ApiError, ErrorKind};

/// A page's failure. Rendered bare here; the session guard renders it again
/// inside the layout (with the navigation) when the browser is logged in.
#[derive(Debug, Clone, PartialEq)]
pub struct PageError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

impl PageError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> PageError {
        PageError {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::NOT_FOUND, "Not found", message)
    }

    pub fn bad_request(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::BAD_REQUEST, "Bad request", message)
    }

    pub fn forbidden(message: impl Into<String>) -> PageError {
        PageError::new(StatusCode::FORBIDDEN, "Forbidden", message)
    }
}

impl From<ApiError> for PageError {
    fn from(e: ApiError) -> PageError {
        let title = match e.kind {
            ErrorKind::NotFound => "Not found",
            ErrorKind::BadRequest => "Bad request",
            ErrorKind::Forbidden | ErrorKind::Unauthorized => "Forbidden",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::Unavailable | ErrorKind::Overloaded => "Unavailable",
            ErrorKind::RateLimited => "Too many requests",
            _ => "Something went wrong",
        };
        PageError::new(e.kind.status(), title, e.message)
    }
}

macro_rules! via_api_error {
    ($($t:ty),*) => {$(
        impl From<$t> for PageError {
            fn from(e: $t) -> PageError {
                ApiError::from(e).into()
            }
        }
    )*};
}
via_api_error!(
    seglab_store::Error,
    seglab_segments::Error,
    seglab_live::Error,
    seglab_campaign::Error
);

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let body = super::layout::error_page(None, &self);
        let mut res = (self.status, body).into_response();
        res.extensions_mut().insert(self);
        res
    }
}

pub type PageResult<T> = Result<T, PageError>;

/// Path parameters; a malformed one is a 400 page.
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(v)) => Ok(Path(v)),
            Err(e) => Err(PageError::bad_request(e.body_text())),
        }
    }
}

/// Query parameters; malformed ones are a 400 page.
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, PageError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(v)) => Ok(Query(v)),
            Err(e) => Err(PageError::bad_request(e.body_text())),
        }
    }
}

/// The most a form may send.
const FORM_LIMIT: usize = 1 << 20;

/// A URL-encoded form; a malformed one (wrong type, missing field, not a
/// form, too large) is a 400 page.
pub struct Form<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Form<T> {
    type Rejection = PageError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, PageError> {
        let is_form = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(PageError::bad_request(
                "expected a form (application/x-www-form-urlencoded)",
            ));
        }
        let bytes = axum::body::to_bytes(req.into_body(), FORM_LIMIT)
            .await
            .map_err(|_| PageError::bad_request("the form is too large"))?;
        parse_form(&bytes).map(Form)
    }
}

/// Decodes a URL-encoded form into `T`.
pub fn parse_form<T: DeserializeOwned>(bytes: &[u8]) -> PageResult<T> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(bytes).into_owned().collect();
    let mut map = serde_json::Map::new();
    for (k, v) in pairs {
        map.insert(k, serde_json::Value::String(v));
    }
    serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| PageError::bad_request(format!("malformed form: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Login {
        token: String,
        next: Option<String>,
    }

    #[test]
    fn forms_decode_and_malformed_ones_are_400() {
        let l: Login = parse_form(b"token=a%20b&next=%2Fui").unwrap();
        assert_eq!((l.token.as_str(), l.next.as_deref()), ("a b", Some("/ui")));
        let e = parse_form::<Login>(b"next=x").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("token"), "{}", e.message);
    }

    #[test]
    fn api_errors_keep_their_status() {
        let e: PageError = ApiError::not_found("no segment named \"x\"").into();
        assert_eq!((e.status, e.title), (StatusCode::NOT_FOUND, "Not found"));
        let e: PageError = seglab_segments::Error::NotFound("x".into()).into();
        assert_eq!(e.status, StatusCode::NOT_FOUND);
    }
}
