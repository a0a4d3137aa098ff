//! The page shell (head, navigation, logout form), the error page, and how
//! numbers, shares and instants are written on every page.

use maud::{DOCTYPE, Markup, html};

use super::assets;
use super::error::PageError;
use super::session::Session;

/// The navigation's entries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    Overview,
    Editor,
    Overlap,
    Rfm,
    Campaigns,
    Experiments,
    /// A page that is none of the above (an error page).
    Other,
}

const ENTRIES: [(Nav, &str, &str); 6] = [
    (Nav::Overview, "/ui", "Segments"),
    (Nav::Editor, "/ui/editor", "Editor"),
    (Nav::Overlap, "/ui/overlap", "Overlap"),
    (Nav::Rfm, "/ui/rfm", "RFM"),
    (Nav::Campaigns, "/ui/campaigns", "Campaigns"),
    (Nav::Experiments, "/ui/experiments", "Experiments"),
];

fn head(title: &str, scripts: bool) -> Markup {
    html! {
        head {
            meta charset="utf-8";
            meta name="viewport" content="width=device-width, initial-scale=1";
            // The stylesheet is the only style: no inline <style> from htmx.
            meta name="htmx-config" content=r#"{"includeIndicatorStyles":false,"allowEval":false}"#;
            title { (title) " · seglab" }
            link rel="icon" type="image/svg+xml" href=(assets::FAVICON_URL);
            link rel="stylesheet" href=(assets::css_url());
            @if scripts {
                script src=(assets::HTMX_URL) defer {}
                script src=(assets::js_url()) defer {}
            }
        }
    }
}

/// A page for a logged-in browser: the navigation, `active` marked, and the
/// logout form.
pub fn page(session: &Session, active: Nav, title: &str, body: Markup) -> Markup {
    let headers = format!(r#"{{"X-CSRF-Token": "{}"}}"#, session.csrf);
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, true))
            body hx-headers=(headers) {
                header.top {
                    a.brand href="/ui" { "seglab" }
                    nav aria-label="main" {
                        @for (nav, href, label) in ENTRIES {
                            @if nav == active {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                    form.logout method="post" action="/ui/logout" {
                        (csrf_field(session))
                        button type="submit" { "Log out" }
                    }
                }
                main { (body) }
            }
        }
    }
}

/// A page with no navigation (the login page, errors before login).
pub fn bare(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            (head(title, false))
            body.bare {
                main.narrow { (body) }
            }
        }
    }
}

/// The hidden field that proves a form came from a page of this session.
pub fn csrf_field(session: &Session) -> Markup {
    html! { input type="hidden" name="csrf" value=(session.csrf); }
}

fn error_body(e: &PageError) -> Markup {
    html! {
        section.error role="alert" {
            h1 { (e.status.as_u16()) " · " (e.title) }
            p { (e.message) }
            p { a href="/ui" { "Back to the segments" } }
        }
    }
}

/// An error page: in the layout for a logged-in browser, bare otherwise.
pub fn error_page(session: Option<&Session>, e: &PageError) -> Markup {
    match session {
        Some(s) => page(s, Nav::Other, e.title, error_body(e)),
        None => bare(e.title, error_body(e)),
    }
}

/// An error as a fragment, for htmx requests.
pub fn error_fragment(e: &PageError) -> Markup {
    html! {
        div.error role="alert" { strong { (e.title) } ": " (e.message) }
    }
}

/// A table's header row: `(label, numeric)` per column (numeric ones are
/// right-aligned).
pub fn thead(columns: &[(&str, bool)]) -> Markup {
    html! {
        thead {
            tr {
                @for (label, numeric) in columns {
                    th.num[*numeric] scope="col" { (label) }
                }
            }
        }
    }
}

/// `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A share in `[0, 1]` as a percentage: `12.3 %` (`<0.1 %` for tiny ones).
pub fn percent(share: f64) -> String {
    if !share.is_finite() {
        return "–".into();
    }
    let p = share * 100.0;
    if p > 0.0 && p < 0.1 {
        "<0.1 %".into()
    } else {
        format!("{p:.1} %")
    }
}

/// A signed relative change as a percentage: `+4.2 %`.
pub fn signed_percent(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    format!("{:+.1} %", x * 100.0)
}

/// Money, with two decimals and thousands separators.
pub fn money(x: f64) -> String {
    if !x.is_finite() {
        return "–".into();
    }
    let cents = (x.abs() * 100.0).round() as u64;
    let sign = if x < 0.0 && cents > 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", thousands(cents / 100), cents % 100)
}

/// An instant (epoch milliseconds) to the minute, UTC: `2026-06-01 14:03`.
pub fn instant(ms: i64) -> String {
    let t = seglab_event::time::format_timestamp(ms);
    match (t.get(..10), t.get(11..16)) {
        (Some(day), Some(time)) => format!("{day} {time}"),
        _ => t,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_written_for_people() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1000), "1,000");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(percent(0.1234), "12.3 %");
        assert_eq!(percent(0.0001), "<0.1 %");
        assert_eq!(percent(0.0), "0.0 %");
        assert_eq!(percent(f64::NAN), "–");
        assert_eq!(signed_percent(0.042), "+4.2 %");
        assert_eq!(money(1234.5), "1,234.50");
        assert_eq!(money(-0.001), "0.00");
        assert_eq!(money(-3.0), "-3.00");
        assert_eq!(instant(0), "1970-01-01 00:00");
    }

    #[test]
    fn pages_escape_what_they_show() {
        let e = PageError::not_found("no segment named \"<script>\"");
        let html = error_page(None, &e).into_string();
        assert!(html.contains("&lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>\""), "{html}");
        let s = Session {
            id: "i".into(),
            csrf: "c".into(),
            granted: crate::auth::Granted::BUILTIN,
        };
        let html = error_page(Some(&s), &e).into_string();
        assert!(html.contains(r#"name="csrf" value="c""#), "{html}");
        assert!(html.contains("Log out"));
    }
}
