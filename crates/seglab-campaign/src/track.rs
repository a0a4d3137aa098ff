//! Opens, clicks and unsubscribes (ADR 0007): the signed token that ties a
//! link to one send, and the rewriting of a message's HTML. Pure functions,
//! no IO. The server answers the links:
//!
//! - `{base}/t/o/{token}.gif`: the open pixel;
//! - `{base}/t/c/{token}/{i}?u={url}&s={sig}`: a click on link `i`,
//!   redirected to `url` when [`Tokens::click_target`] accepts it (`sig`
//!   signs `url` for that send, so the link cannot be pointed elsewhere);
//! - `{base}/u/{token}`: unsubscribe, one click (RFC 8058: `POST`) or a page.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The MAC bytes kept in a token: 96 bits.
const MAC_LEN: usize = 12;
/// Keeps these MACs apart from anything else signed with the same secret.
const DOMAIN: &[u8] = b"seglab-track-v1\0";
/// Keeps the MACs of link targets apart from those of send ids.
const LINK_DOMAIN: &[u8] = b"seglab-link-v1\0";

/// Signs and checks send tokens: base64url of the send id (8 bytes, big
/// endian) and a truncated HMAC-SHA256 of it, 27 characters.
#[derive(Clone)]
pub struct Tokens {
    mac: Hmac<Sha256>,
}

impl fmt::Debug for Tokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tokens(..)")
    }
}

impl Tokens {
    pub fn new(secret: &[u8]) -> Tokens {
        // HMAC takes a key of any length.
        let mac = Hmac::<Sha256>::new_from_slice(secret).expect("hmac accepts any key length");
        Tokens { mac }
    }

    fn mac_of(&self, id: [u8; 8]) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(DOMAIN);
        mac.update(&id);
        mac
    }

    pub fn sign(&self, send_id: i64) -> String {
        let id = send_id.to_be_bytes();
        let tag = self.mac_of(id).finalize().into_bytes();
        let mut raw = [0u8; 8 + MAC_LEN];
        raw[..8].copy_from_slice(&id);
        raw[8..].copy_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    fn link_mac(&self, send_id: i64, url: &str) -> Hmac<Sha256> {
        let mut mac = self.mac.clone();
        mac.update(LINK_DOMAIN);
        mac.update(&send_id.to_be_bytes());
        mac.update(url.as_bytes());
        mac
    }

    /// Signs the target of a tracked link of send `send_id` (base64url of
    /// 96 bits, 16 characters).
    pub fn sign_link(&self, send_id: i64, url: &str) -> String {
        URL_SAFE_NO_PAD.encode(&self.link_mac(send_id, url).finalize().into_bytes()[..MAC_LEN])
    }

    /// The redirect target of a click on a link of send `send_id`, from the
    /// link's query string (`u=…&s=…`): the target [`click_target`] reads,
    /// when `s` signs it for that send; `None` for a link this secret did
    /// not make.
    pub fn click_target(&self, send_id: i64, query: &str) -> Option<String> {
        let url = click_target(query)?;
        let query = query.strip_prefix('?').unwrap_or(query);
        let (_, sig) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "s")?;
        let tag = URL_SAFE_NO_PAD.decode(sig.as_bytes()).ok()?;
        if tag.len() != MAC_LEN {
            return None;
        }
        self.link_mac(send_id, &url)
            .verify_truncated_left(&tag)
            .ok()?;
        Some(url)
    }

    /// The send id of a token this secret signed; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<i64> {
        if token.len() != 27 {
            return None;
        }
        let raw = URL_SAFE_NO_PAD.decode(token).ok()?;
        let (id, tag) = raw.split_at_checked(8)?;
        let id: [u8; 8] = id.try_into().ok()?;
        if tag.len() != MAC_LEN {
            return None;
        }
        self.mac_of(id).verify_truncated_left(tag).ok()?;
        Some(i64::from_be_bytes(id))
    }
}

/// The one-click unsubscribe link of a send.
pub fn unsubscribe_url(base_url: &str, token: &str) -> String {
    format!("{}/u/{token}", base(base_url))
}

/// Rewrites the links of send `send_id`'s message for click tracking and
/// appends the open pixel (before `</body>`, else at the end).
///
/// Rewritten: the `href` of `<a>`, `<area>` and Outlook's VML shapes
/// (`<v:roundrect>`, also inside conditional comments) when it is an http(s)
/// URL, in document order, link `i` becoming
/// `{base}/t/c/{token}/{i}?u={url}&s={sig}` ([`Tokens::sign_link`]). Left
/// alone: `mailto:`, `tel:`, `#…` and other schemes, the unsubscribe link
/// and links already under `{base}/t/`, and `href`s of other tags (`<link>`,
/// `<base>`).
pub fn instrument_html(html: &str, base_url: &str, tokens: &Tokens, send_id: i64) -> String {
    let base = base(base_url);
    let token = tokens.sign(send_id);
    let mut out = String::with_capacity(html.len() + 128);
    let mut copied = 0;
    for (i, link) in tracked_hrefs(html, base).enumerate() {
        out.push_str(&html[copied..link.attr.start]);
        let target = format!(
            "{base}/t/c/{token}/{i}?u={}&s={}",
            form_urlencoded::byte_serialize(link.url.as_bytes()).collect::<String>(),
            tokens.sign_link(send_id, &link.url)
        );
        let quote = link.quote.unwrap_or('"');
        out.push(quote);
        out.push_str(&escape_attr(&target));
        out.push(quote);
        copied = link.attr.end;
    }
    out.push_str(&html[copied..]);

    let pixel = format!(
        r#"<img src="{}/t/o/{}.gif" width="1" height="1" alt="" style="display:none">"#,
        escape_attr(base),
        escape_attr(&token)
    );
    match out.to_ascii_lowercase().rfind("</body") {
        Some(at) => out.insert_str(at, &pixel),
        None => out.push_str(&pixel),
    }
    out
}

/// The original URLs of the links [`instrument_html`] rewrites, by index:
/// link `i` of a send's HTML is `links(html, base)[i]`.
pub fn links(html: &str, base_url: &str) -> Vec<String> {
    tracked_hrefs(html, base(base_url))
        .map(|l| l.url.into_owned())
        .collect()
}

/// The redirect target of a click, from the link's query string (`u=…`):
/// only an absolute http(s) URL with a host, and nothing a browser would
/// strip or reinterpret (whitespace, control characters, backslashes).
pub fn click_target(query: &str) -> Option<String> {
    let query = query.strip_prefix('?').unwrap_or(query);
    let (_, url) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == "u")?;
    if url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || c == '\\')
    {
        return None;
    }
    let rest = strip_prefix_ignore_case(&url, "https://")
        .or_else(|| strip_prefix_ignore_case(&url, "http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host = authority.rsplit('@').next().unwrap_or_default();
    if host.is_empty() || host.starts_with(':') {
        return None;
    }
    Some(url.into_owned())
}

fn base(base_url: &str) -> &str {
    base_url.trim_end_matches('/')
}

fn strip_prefix_ignore_case<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

fn is_http(url: &str) -> bool {
    strip_prefix_ignore_case(url, "https://").is_some()
        || strip_prefix_ignore_case(url, "http://").is_some()
}

/// An `href` value to rewrite.
struct Href<'a> {
    /// The value in the source, with its quotes.
    attr: std::ops::Range<usize>,
    quote: Option<char>,
    /// The URL, entities decoded and whitespace trimmed.
    url: Cow<'a, str>,
}

/// The `href`s [`instrument_html`] rewrites, in document order.
fn tracked_hrefs<'a>(html: &'a str, base: &str) -> impl Iterator<Item = Href<'a>> {
    let unsubscribe = format!("{base}/u/");
    let tracking = format!("{base}/t/");
    Attrs::new(html).filter_map(move |attr| {
        let tracked_tag = attr.tag.eq_ignore_ascii_case("a")
            || attr.tag.eq_ignore_ascii_case("area")
            || strip_prefix_ignore_case(attr.tag, "v:").is_some();
        if !tracked_tag || !attr.name.eq_ignore_ascii_case("href") {
            return None;
        }
        let url = match decode_entities(&html[attr.value.clone()]) {
            Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
            Cow::Owned(s) => Cow::Owned(s.trim().to_owned()),
        };
        if !is_http(&url) || url.starts_with(&unsubscribe) || url.starts_with(&tracking) {
            return None;
        }
        Some(Href {
            attr: attr.raw,
            quote: attr.quote,
            url,
        })
    })
}

/// One attribute with a value, as the tag scanner finds it.
struct Attr<'a> {
    tag: &'a str,
    name: &'a str,
    /// The value, without quotes.
    value: std::ops::Range<usize>,
    /// The value with its quotes.
    raw: std::ops::Range<usize>,
    quote: Option<char>,
}

/// A forgiving scanner over the start tags of an HTML document and their
/// attributes. Comments are read as markup (Outlook's conditional comments
/// hold links); the contents of `<script>` and `<style>` are skipped.
struct Attrs<'a> {
    html: &'a str,
    pos: usize,
    tag: &'a str,
    in_tag: bool,
}

impl<'a> Attrs<'a> {
    fn new(html: &'a str) -> Self {
        Attrs {
            html,
            pos: 0,
            tag: "",
            in_tag: false,
        }
    }

    fn bytes(&self) -> &'a [u8] {
        self.html.as_bytes()
    }

    fn skip_while(&mut self, f: impl Fn(u8) -> bool) {
        let bytes = self.bytes();
        while self.pos < bytes.len() && f(bytes[self.pos]) {
            self.pos += 1;
        }
    }

    /// Moves to the next start tag and reads its name; false at the end.
    fn next_tag(&mut self) -> bool {
        loop {
            let Some(lt) = self.html[self.pos..].find('<') else {
                self.pos = self.html.len();
                return false;
            };
            self.pos += lt + 1;
            let start = self.pos;
            self.skip_while(|b| b.is_ascii_alphanumeric() || b == b':' || b == b'-');
            if self.pos > start && self.bytes()[start].is_ascii_alphabetic() {
                self.tag = &self.html[start..self.pos];
                self.in_tag = true;
                return true;
            }
        }
    }

    /// Past the `>` of the current tag; past the contents of a raw text
    /// element.
    fn end_tag(&mut self) {
        self.pos += 1;
        self.in_tag = false;
        for raw_text in ["script", "style"] {
            if self.tag.eq_ignore_ascii_case(raw_text) {
                let close = format!("</{raw_text}");
                let rest = self.html[self.pos..].to_ascii_lowercase();
                self.pos = rest
                    .find(&close)
                    .map_or(self.html.len(), |at| self.pos + at);
            }
        }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = Attr<'a>;

    fn next(&mut self) -> Option<Attr<'a>> {
        let html = self.html;
        loop {
            if !self.in_tag && !self.next_tag() {
                return None;
            }
            self.skip_while(|b| b.is_ascii_whitespace() || b == b'/');
            let &b = self.bytes().get(self.pos)?;
            if b == b'>' {
                self.end_tag();
                continue;
            }
            let name_start = self.pos;
            self.skip_while(|b| !(b.is_ascii_whitespace() || b"=>/\"'".contains(&b)));
            if self.pos == name_start {
                self.pos += 1; // a stray quote
                continue;
            }
            let name = &html[name_start..self.pos];
            self.skip_while(|b| b.is_ascii_whitespace());
            if self.bytes().get(self.pos) != Some(&b'=') {
                continue; // an attribute without a value
            }
            self.pos += 1;
            self.skip_while(|b| b.is_ascii_whitespace());
            let raw_start = self.pos;
            let (value, quote) = match self.bytes().get(self.pos) {
                Some(&q @ (b'"' | b'\'')) => {
                    let value_start = self.pos + 1;
                    let end = html[value_start..]
                        .find(q as char)
                        .map_or(html.len(), |at| value_start + at);
                    self.pos = (end + 1).min(html.len());
                    (value_start..end, Some(q as char))
                }
                _ => {
                    self.skip_while(|b| !(b.is_ascii_whitespace() || b == b'>'));
                    (raw_start..self.pos, None)
                }
            };
            return Some(Attr {
                tag: self.tag,
                name,
                value,
                raw: raw_start..self.pos,
                quote,
            });
        }
    }
}

/// Decodes the character references a URL in an attribute holds: the five
/// XML ones and numeric ones. Others are left as written.
fn decode_entities(s: &str) -> Cow<'_, str> {
    if !s.contains('&') {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let c = match &rest[1..semi] {
                "amp" => '&',
                "lt" => '<',
                "gt" => '>',
                "quot" => '"',
                "apos" => '\'',
                num => {
                    let num = num.strip_prefix('#')?;
                    let code = match num.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => num.parse().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, semi + 1))
        });
        match decoded {
            Some((c, len)) => {
                out.push(c);
                rest = &rest[len..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    Cow::Owned(out)
}

/// Escapes a value for a quoted HTML attribute.
fn escape_attr(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '"', '\'', '<', '>']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BASE: &str = "https://t.shop.example";
    /// The send the messages of these tests belong to.
    const ID: i64 = 7;

    fn tokens() -> Tokens {
        Tokens::new(b"secret")
    }

    fn token() -> String {
        tokens().sign(ID)
    }

    /// Link `i` to `url`, rewritten, as it stands in an attribute.
    fn click(i: usize, url: &str) -> String {
        let u: String = form_urlencoded::byte_serialize(url.as_bytes()).collect();
        let sig = tokens().sign_link(ID, url);
        format!("{BASE}/t/c/{}/{i}?u={u}&amp;s={sig}", token())
    }

    fn pixel() -> String {
        format!(
            r#"<img src="{BASE}/t/o/{}.gif" width="1" height="1" alt="" style="display:none">"#,
            token()
        )
    }

    /// The HTML with its links rewritten, the pixel taken out again.
    fn rewritten(html: &str) -> String {
        let out = instrument_html(html, BASE, &tokens(), ID);
        assert_eq!(out.matches(&pixel()).count(), 1, "one pixel in {out}");
        out.replacen(&pixel(), "", 1)
    }

    #[test]
    fn tokens_round_trip() {
        let tokens = Tokens::new(b"secret");
        for id in [0, 1, 42, -1, i64::MAX, i64::MIN, 1_700_000_000_123] {
            let token = tokens.sign(id);
            assert_eq!(token.len(), 27);
            assert!(
                token
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(tokens.verify(&token), Some(id), "{token}");
        }
        assert_ne!(tokens.sign(1), tokens.sign(2));
    }

    #[test]
    fn tokens_reject_tampering_and_other_secrets() {
        let tokens = Tokens::new(b"secret");
        let token = tokens.sign(7);
        assert_eq!(Tokens::new(b"other").verify(&token), None);
        // Another id with the old MAC.
        let mut raw = URL_SAFE_NO_PAD.decode(&token).unwrap();
        raw[7] ^= 1;
        assert_eq!(tokens.verify(&URL_SAFE_NO_PAD.encode(&raw)), None);
        // Every single-character change.
        for (i, c) in token.char_indices() {
            let other = if c == 'A' { 'B' } else { 'A' };
            let mut changed = token.clone();
            changed.replace_range(i..i + 1, &other.to_string());
            assert_eq!(tokens.verify(&changed), None, "{changed}");
        }
        for bad in [
            "",
            "x",
            &token[..26],
            &format!("{token}A"),
            "!!!!!!!!!!!!!!!!!!!!!!!!!!!",
        ] {
            assert_eq!(tokens.verify(bad), None, "{bad:?}");
        }
        assert_eq!(format!("{tokens:?}"), "Tokens(..)");
    }

    #[test]
    fn double_and_single_quotes_and_uppercase_href() {
        let html = r#"<A HREF="https://shop.example/a">A</A> <a class=x href='http://shop.example/b'>B</a>"#;
        assert_eq!(
            rewritten(html),
            format!(
                r#"<A HREF="{}">A</A> <a class=x href='{}'>B</a>"#,
                click(0, "https://shop.example/a"),
                click(1, "http://shop.example/b")
            )
        );
    }

    #[test]
    fn existing_query_strings_and_entities_are_kept_in_the_target() {
        let html = r#"<a href="https://shop.example/p?id=1&amp;utm_source=mail#top">x</a>"#;
        let out = rewritten(html);
        let original = "https://shop.example/p?id=1&utm_source=mail#top";
        assert_eq!(out, format!(r#"<a href="{}">x</a>"#, click(0, original)));
        let query = out.split_once('?').unwrap().1.split_once('"').unwrap().0;
        let query = query.replace("&amp;", "&");
        assert_eq!(click_target(&query).as_deref(), Some(original));
        assert_eq!(tokens().click_target(ID, &query).as_deref(), Some(original));
        assert_eq!(links(html, BASE), [original]);
    }

    #[test]
    fn numeric_entities_and_whitespace_are_decoded() {
        let html = "<a href=\" https://shop.example/?q=a&#38;b&#x26;c \">x</a>";
        assert_eq!(links(html, BASE), ["https://shop.example/?q=a&b&c"]);
    }

    #[test]
    fn unquoted_values() {
        let html = "<a href=https://shop.example/a>x</a>";
        assert_eq!(
            rewritten(html),
            format!(r#"<a href="{}">x</a>"#, click(0, "https://shop.example/a"))
        );
    }

    #[test]
    fn mailto_fragments_other_schemes_and_unsubscribe_are_left_alone() {
        let unsubscribe = unsubscribe_url(BASE, &token());
        let html = format!(
            r##"<a href="mailto:help@shop.example">m</a><a href="#top">t</a><a href="tel:+1">p</a>
<a href="javascript:alert(1)">j</a><a href="/relative">r</a><a href="{unsubscribe}">u</a>
<a href="{BASE}/t/c/OTHER/0?u=x">already</a><a name="anchor">n</a><a href="">e</a>"##
        );
        assert_eq!(rewritten(&html), html);
        assert!(links(&html, BASE).is_empty());
    }

    #[test]
    fn only_link_tags_not_stylesheets_or_text() {
        let html = r#"<head><link href="https://fonts.example/css" rel="stylesheet"><base href="https://shop.example/"></head>
<body><p data-href="https://x.example/">href="https://y.example/"</p><area href="https://shop.example/map"></body>"#;
        let out = rewritten(html);
        assert!(out.contains(r#"<link href="https://fonts.example/css""#));
        assert!(out.contains(r#"<base href="https://shop.example/">"#));
        assert!(out.contains(r#"data-href="https://x.example/""#));
        assert!(out.contains(r#">href="https://y.example/"</p>"#));
        assert_eq!(links(html, BASE), ["https://shop.example/map"]);
    }

    #[test]
    fn outlook_buttons_in_conditional_comments_are_tracked() {
        let html = r#"<!--[if mso]><v:roundrect href="https://shop.example/cta" arcsize="10%"><![endif]-->
<!--[if !mso]><!--><a href="https://shop.example/cta">Shop</a><!--<![endif]-->"#;
        assert_eq!(
            links(html, BASE),
            ["https://shop.example/cta", "https://shop.example/cta"]
        );
    }

    #[test]
    fn scripts_and_styles_are_skipped() {
        let html = r#"<style>a[href="https://no.example/"] { }</style><script>var a = '<a href="https://no.example/">';</script><a href="https://yes.example/">y</a>"#;
        assert_eq!(links(html, BASE), ["https://yes.example/"]);
    }

    #[test]
    fn quoted_greater_than_and_odd_markup_do_not_confuse_the_scanner() {
        let html = r#"<a title="a > b" href="https://shop.example/1">1</a> 3 < 4 <a/href="https://shop.example/2"><a href = 'https://shop.example/3' >"#;
        assert_eq!(
            links(html, BASE),
            [
                "https://shop.example/1",
                "https://shop.example/2",
                "https://shop.example/3"
            ]
        );
        // Unterminated tags and quotes end the scan without panicking.
        for broken in [
            "<a href=\"https://x.example/",
            "<a href=",
            "<a",
            "<",
            "<a href='x' ",
        ] {
            let _ = instrument_html(broken, BASE, &tokens(), ID);
        }
    }

    #[test]
    fn pixel_goes_before_the_last_body_close_or_at_the_end() {
        let out = instrument_html("<html><BODY><p>hi</p></BODY></html>", BASE, &tokens(), ID);
        assert_eq!(
            out,
            format!("<html><BODY><p>hi</p>{}</BODY></html>", pixel())
        );
        let out = instrument_html("<p>hi</p>", BASE, &tokens(), ID);
        assert_eq!(out, format!("<p>hi</p>{}", pixel()));
    }

    #[test]
    fn base_url_trailing_slash_is_ignored() {
        assert_eq!(
            unsubscribe_url("https://t.example/", "T"),
            "https://t.example/u/T"
        );
        let out = instrument_html(
            r#"<a href="https://x.example/">x</a>"#,
            "https://t.example/",
            &tokens(),
            ID,
        );
        let t = token();
        assert!(
            out.starts_with(&format!(
                r#"<a href="https://t.example/t/c/{t}/0?u=https%3A%2F%2Fx.example%2F&amp;s="#
            )),
            "{out}"
        );
        assert!(out.contains(&format!(r#"src="https://t.example/t/o/{t}.gif""#)));
    }

    #[test]
    fn click_targets_are_http_urls_only() {
        let target = |u: &str| {
            let q: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("u", u)
                .finish();
            click_target(&q)
        };
        for ok in [
            "https://shop.example/",
            "http://shop.example/a?b=c&d=e#f",
            "HTTPS://Shop.Example/",
            "https://user@shop.example:8443/x",
        ] {
            assert_eq!(target(ok).as_deref(), Some(ok), "{ok}");
        }
        for bad in [
            "javascript:alert(1)",
            "data:text/html,hi",
            "//evil.example/",
            "/relative",
            "ftp://shop.example/",
            "https://",
            "https:///path",
            "https://:443/",
            "https:\\\\evil.example",
            "https://\\evil.example/",
            "java\nscript:alert(1)",
            "https://shop.example/\n",
            " https://shop.example/",
            "",
        ] {
            assert_eq!(target(bad), None, "{bad:?}");
        }
        assert_eq!(click_target("x=1"), None);
        assert_eq!(
            click_target("?u=https%3A%2F%2Fa.example%2F&u=javascript:x").as_deref(),
            Some("https://a.example/")
        );
    }

    #[test]
    fn attribute_escaping_survives_a_hostile_base_url() {
        let out = instrument_html(
            r#"<a href="https://x.example/">x</a>"#,
            r#"https://t.example/"'<>"#,
            &tokens(),
            ID,
        );
        assert!(!out.contains(r#""'<>"#), "{out}");
        assert_eq!(out.matches("<a ").count(), 1);
    }

    #[test]
    fn a_click_follows_only_the_target_signed_for_its_send() {
        let tokens = tokens();
        let query = |u: &str, s: &str| {
            form_urlencoded::Serializer::new(String::new())
                .append_pair("u", u)
                .append_pair("s", s)
                .finish()
        };
        let url = "https://shop.example/p/1";
        let sig = tokens.sign_link(ID, url);
        assert_eq!(sig.len(), 16);
        assert_eq!(
            tokens.click_target(ID, &query(url, &sig)).as_deref(),
            Some(url)
        );
        let script = tokens.sign_link(ID, "javascript:alert(1)");
        for (id, u, s) in [
            (ID, "https://evil.example/", sig.as_str()),
            (ID + 1, url, sig.as_str()),
            (ID, url, &sig[..8]),
            (ID, url, ""),
            (ID, "javascript:alert(1)", script.as_str()),
        ] {
            assert_eq!(tokens.click_target(id, &query(u, s)), None, "{id} {u} {s}");
        }
        assert_eq!(
            tokens.click_target(ID, &format!("u={url}")),
            None,
            "unsigned"
        );
        assert_eq!(
            Tokens::new(b"other").click_target(ID, &query(url, &sig)),
            None
        );
    }
}
