//! The dashboard's static files, compiled into the binary (`assets/`, with
//! their versions and licenses in `assets/README.md`): htmx, one stylesheet,
//! one script, an icon. Their URLs carry a version or a content hash, so they
//! are cached for a year.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// htmx 2.0.11 (`dist/htmx.min.js` of the npm package `htmx.org@2.0.11`,
/// unmodified; Zero-Clause BSD).
const HTMX: &[u8] = include_bytes!("../../assets/htmx-2.0.11.min.js");
pub const HTMX_URL: &str = "/ui/assets/htmx-2.0.11.min.js";

const CSS: &[u8] = include_bytes!("../../assets/dashboard.css");
const JS: &[u8] = include_bytes!("../../assets/dashboard.js");
const FAVICON: &[u8] = include_bytes!("../../assets/favicon.svg");
pub const FAVICON_URL: &str = "/ui/assets/favicon.svg";

/// FNV-1a, for cache-busting URLs.
const fn fnv1a(bytes: &[u8]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        hash ^= bytes[i] as u64;
        hash = hash.wrapping_mul(0x0100_0000_01b3);
        i += 1;
    }
    hash
}

const CSS_HASH: u64 = fnv1a(CSS);
const JS_HASH: u64 = fnv1a(JS);

/// The stylesheet's URL, with its content hash.
pub fn css_url() -> String {
    format!("/ui/assets/dashboard.css?v={CSS_HASH:016x}")
}

/// The script's URL, with its content hash.
pub fn js_url() -> String {
    format!("/ui/assets/dashboard.js?v={JS_HASH:016x}")
}

fn file(bytes: &'static [u8], content_type: &'static str) -> Response {
    let mut res = bytes.into_response();
    let h = res.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=31536000, immutable"),
    );
    res
}

pub async fn htmx() -> Response {
    file(HTMX, "text/javascript; charset=utf-8")
}

pub async fn css() -> Response {
    file(CSS, "text/css; charset=utf-8")
}

pub async fn js() -> Response {
    file(JS, "text/javascript; charset=utf-8")
}

pub async fn favicon() -> Response {
    file(FAVICON, "image/svg+xml")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn htmx_is_the_pinned_release() {
        assert!(HTMX.starts_with(b"var htmx=function(){"));
        assert!(HTMX.windows(6).any(|w| w == b"2.0.11"));
        assert_ne!(css_url(), js_url());
    }
}
