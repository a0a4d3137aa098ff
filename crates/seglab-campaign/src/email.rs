//! The email channel: one rendered message to one person over SMTP, through a
//! pool of connections (ADR 0007).
//!
//! A [`Mailer`] makes one attempt per [`Mailer::send`]; retries with backoff,
//! the ledger and suppressions belong to the caller, which decides from
//! [`SendErrorKind`]: `Transient` is retried, `Permanent` fails the send, and
//! `Bounce` fails it and suppresses the address.
//!
//! Every message carries the ledger key twice, as `Message-ID:
//! <KEY@seglab>` and `X-Seglab-Idempotency-Key: KEY`, so a message sent again
//! after a crash can be dropped by its key downstream, and the RFC 8058
//! one-click unsubscribe headers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use lettre::address::Envelope;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::{Address, Message};

use smtp::{Pool, Server};

mod smtp;

/// A rendered email, ready to go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingEmail {
    /// `person@example.com` or `Name <person@example.com>`.
    pub to: String,
    /// The `From` header; empty means [`SmtpConfig::from`].
    pub from: String,
    pub subject: String,
    pub html: Option<String>,
    pub text: Option<String>,
    /// The send ledger's key: visible ASCII, no spaces.
    pub idempotency_key: String,
    /// The one-click unsubscribe URL (`https://…/u/TOKEN`).
    pub list_unsubscribe: String,
    /// An unsubscribe address for clients without one-click support
    /// (`mailto:…`).
    pub list_unsubscribe_mailto: Option<String>,
}

/// Where and how to send.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpConfig {
    /// `smtp://host:port` (plain), `smtp://host:port?tls=required`
    /// (STARTTLS) or `smtps://host:port` (TLS from the start); credentials
    /// as `smtp://user:password@host`.
    pub url: String,
    /// The envelope sender (`MAIL FROM`, where bounces go), and the `From`
    /// header of messages that name none.
    pub from: String,
    /// At most this many connections, and sends in flight, at once.
    pub pool_size: u32,
    /// For connecting (greeting, EHLO, STARTTLS, AUTH included) and for
    /// each message's transaction.
    pub timeout: Duration,
}

impl fmt::Debug for SmtpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpConfig")
            .field("url", &smtp::redact(&self.url))
            .field("from", &self.from)
            .field("pool_size", &self.pool_size)
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl Default for SmtpConfig {
    fn default() -> Self {
        Self {
            url: "smtp://127.0.0.1:2525".to_owned(),
            from: "seglab@localhost".to_owned(),
            pool_size: 16,
            timeout: Duration::from_secs(30),
        }
    }
}

/// A [`Mailer`] that cannot be made from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum MailerError {
    #[error("invalid smtp url {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("invalid sender address {from:?}: {message}")]
    From { from: String, message: String },
    #[error("pool_size must be at least 1")]
    PoolSize,
}

/// What the caller does about a failed send.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SendErrorKind {
    /// A 4xx answer, a refused or broken connection, a timeout: try again.
    Transient,
    /// A 5xx answer or a message that cannot be sent as it is: do not retry.
    Permanent,
    /// The recipient's mailbox does not exist: do not retry, and suppress
    /// the address.
    Bounce,
}

impl fmt::Display for SendErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Bounce => "bounce",
        })
    }
}

/// A send that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind} send failure: {message}")]
pub struct SendError {
    pub kind: SendErrorKind,
    /// The command and the server's answer (`RCPT TO: 550 5.1.1 …`), or
    /// what went wrong.
    pub message: String,
}

impl SendError {
    fn new(kind: SendErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    fn invalid(message: impl Into<String>) -> Self {
        Self::new(SendErrorKind::Permanent, message)
    }
}

/// Sends [`OutgoingEmail`]s over a pool of SMTP connections. Cheap to clone;
/// the clones share the pool.
#[derive(Clone)]
pub struct Mailer {
    pool: Arc<Pool>,
    envelope_from: Address,
    default_from: Mailbox,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("pool", &self.pool)
            .field("envelope_from", &self.envelope_from)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Checks the configuration; connects lazily, on the first sends.
    pub fn new(config: SmtpConfig) -> Result<Mailer, MailerError> {
        if config.pool_size == 0 {
            return Err(MailerError::PoolSize);
        }
        let default_from: Mailbox = config.from.parse().map_err(|e| MailerError::From {
            from: config.from.clone(),
            message: format!("{e}"),
        })?;
        let server = Server::parse(&config.url).map_err(|message| MailerError::Url {
            url: smtp::redact(&config.url),
            message,
        })?;
        Ok(Mailer {
            pool: Arc::new(Pool::new(server, config.timeout, config.pool_size)),
            envelope_from: default_from.email.clone(),
            default_from,
        })
    }

    /// One attempt to hand `email` to the SMTP server.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = self.message(email)?;
        self.pool
            .deliver(message.envelope(), &message.formatted())
            .await
    }

    /// The message as it goes on the wire, headers and all.
    pub fn message(&self, email: &OutgoingEmail) -> Result<Message, SendError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| SendError::invalid(format!("invalid recipient {:?}: {e}", email.to)))?;
        let from: Mailbox = if email.from.is_empty() {
            self.default_from.clone()
        } else {
            email
                .from
                .parse()
                .map_err(|e| SendError::invalid(format!("invalid from {:?}: {e}", email.from)))?
        };
        let key = &email.idempotency_key;
        if key.is_empty() || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(SendError::invalid(format!(
                "invalid idempotency key {key:?}: visible ascii only"
            )));
        }
        let unsubscribe = list_unsubscribe(
            &email.list_unsubscribe,
            email.list_unsubscribe_mailto.as_deref(),
        )?;
        let envelope = Envelope::new(Some(self.envelope_from.clone()), vec![to.email.clone()])
            .map_err(|e| SendError::invalid(e.to_string()))?;
        let builder = Message::builder()
            .from(from)
            .to(to)
            .subject(email.subject.clone())
            .message_id(Some(message_id(key)))
            .raw_header(raw_header("X-Seglab-Idempotency-Key", key.clone()))
            .raw_header(raw_header("List-Unsubscribe", unsubscribe))
            .raw_header(raw_header(
                "List-Unsubscribe-Post",
                "List-Unsubscribe=One-Click".to_owned(),
            ))
            .envelope(envelope);
        let built = match (&email.html, &email.text) {
            (Some(html), Some(text)) => builder.multipart(MultiPart::alternative_plain_html(
                text.clone(),
                html.clone(),
            )),
            (Some(html), None) => builder.singlepart(SinglePart::html(html.clone())),
            (None, Some(text)) => builder.singlepart(SinglePart::plain(text.clone())),
            (None, None) => return Err(SendError::invalid("message has neither html nor text")),
        };
        built.map_err(|e| SendError::invalid(e.to_string()))
    }
}

fn raw_header(name: &'static str, value: String) -> HeaderValue {
    HeaderValue::new(HeaderName::new_from_ascii_str(name), value)
}

/// `<KEY@seglab>`, with the characters a msg-id cannot hold (RFC 5322
/// `dot-atom-text`) percent-encoded, `%` included, so distinct keys keep
/// distinct ids.
fn message_id(key: &str) -> String {
    let mut id = String::with_capacity(key.len() + 9);
    id.push('<');
    let bytes = key.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        let dot_ok = b == b'.' && i > 0 && i + 1 < bytes.len() && bytes[i - 1] != b'.';
        if dot_ok || (is_atext(b) && b != b'%') {
            id.push(b as char);
        } else {
            id.push_str(&format!("%{b:02X}"));
        }
    }
    id.push_str("@seglab>");
    id
}

/// RFC 5322 `atext`.
fn is_atext(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-/=?^_`{|}~".contains(&b)
}

/// The `List-Unsubscribe` value: the one-click https URL first, then the
/// mailto. Plain http is accepted only for loopback hosts (development).
fn list_unsubscribe(url: &str, mailto: Option<&str>) -> Result<String, SendError> {
    let bad = |what: &str, value: &str| {
        SendError::invalid(format!("invalid list-unsubscribe {what} {value:?}"))
    };
    let clean = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
    };
    let lower = url.to_ascii_lowercase();
    let host = |rest: &str| {
        rest.split(['/', '?', '#'])
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let one_click = match lower.strip_prefix("https://") {
        Some(rest) => !host(rest).is_empty(),
        // Plain http only on this machine, for development.
        None => lower.strip_prefix("http://").map(host).is_some_and(|h| {
            ["127.0.0.1", "localhost", "[::1]"]
                .iter()
                .any(|l| h == *l || h.strip_prefix(l).is_some_and(|p| p.starts_with(':')))
        }),
    };
    if !one_click || !clean(url) {
        return Err(bad("url", url));
    }
    let mut value = format!("<{url}>");
    if let Some(mailto) = mailto {
        if !mailto.to_ascii_lowercase().starts_with("mailto:") || !clean(mailto) {
            return Err(bad("mailto", mailto));
        }
        value.push_str(&format!(", <{mailto}>"));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email() -> OutgoingEmail {
        OutgoingEmail {
            to: "Ann <ann@example.com>".into(),
            from: "Shop <news@shop.example>".into(),
            subject: "Héllo, Ann".into(),
            html: Some("<p>Hi</p>".into()),
            text: Some("Hi".into()),
            idempotency_key: "c42.p7.once".into(),
            list_unsubscribe: "https://t.shop.example/u/TOKEN".into(),
            list_unsubscribe_mailto: Some("mailto:unsub@shop.example?subject=TOKEN".into()),
        }
    }

    fn mailer() -> Mailer {
        Mailer::new(SmtpConfig {
            from: "bounces@shop.example".into(),
            ..SmtpConfig::default()
        })
        .unwrap()
    }

    fn wire(m: &Mailer, e: &OutgoingEmail) -> String {
        String::from_utf8(m.message(e).unwrap().formatted()).unwrap()
    }

    /// The header block, unfolded.
    fn headers(wire: &str) -> String {
        let head = wire.split("\r\n\r\n").next().unwrap();
        head.replace("\r\n ", " ").replace("\r\n\t", "\t")
    }

    #[test]
    fn headers_carry_the_key_and_one_click_unsubscribe() {
        let m = mailer();
        let wire = wire(&m, &email());
        let head = headers(&wire);
        for line in [
            "Message-ID: <c42.p7.once@seglab>",
            "X-Seglab-Idempotency-Key: c42.p7.once",
            "List-Unsubscribe: <https://t.shop.example/u/TOKEN>, <mailto:unsub@shop.example?subject=TOKEN>",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
            "From: Shop <news@shop.example>",
            "To: Ann <ann@example.com>",
            "MIME-Version: 1.0",
        ] {
            assert!(head.lines().any(|l| l == line), "{line:?} not in\n{head}");
        }
        assert!(
            head.contains("Content-Type: multipart/alternative;"),
            "{head}"
        );
        let message = m.message(&email()).unwrap();
        let envelope = message.envelope();
        assert_eq!(envelope.from().unwrap().to_string(), "bounces@shop.example");
        assert_eq!(envelope.to().len(), 1);
        assert_eq!(envelope.to()[0].to_string(), "ann@example.com");
    }

    #[test]
    fn single_part_messages_and_the_default_from() {
        let m = mailer();
        let html_only = OutgoingEmail {
            text: None,
            from: String::new(),
            list_unsubscribe_mailto: None,
            ..email()
        };
        let head = headers(&wire(&m, &html_only));
        assert!(
            head.contains("Content-Type: text/html; charset=utf-8"),
            "{head}"
        );
        assert!(
            head.lines().any(|l| l == "From: bounces@shop.example"),
            "{head}"
        );
        assert!(
            head.lines()
                .any(|l| l == "List-Unsubscribe: <https://t.shop.example/u/TOKEN>")
        );
        let text_only = OutgoingEmail {
            html: None,
            ..email()
        };
        assert!(headers(&wire(&m, &text_only)).contains("Content-Type: text/plain; charset=utf-8"));
        let empty = OutgoingEmail {
            html: None,
            text: None,
            ..email()
        };
        assert_eq!(
            m.message(&empty).unwrap_err().kind,
            SendErrorKind::Permanent
        );
    }

    #[test]
    fn invalid_messages_are_permanent_failures() {
        let m = mailer();
        let cases = [
            OutgoingEmail {
                to: "not an address".into(),
                ..email()
            },
            OutgoingEmail {
                from: "nope".into(),
                ..email()
            },
            OutgoingEmail {
                idempotency_key: String::new(),
                ..email()
            },
            OutgoingEmail {
                idempotency_key: "a b".into(),
                ..email()
            },
            OutgoingEmail {
                idempotency_key: "a\r\nBcc: x@evil.example".into(),
                ..email()
            },
            OutgoingEmail {
                list_unsubscribe: "http://t.shop.example/u/T".into(),
                ..email()
            },
            OutgoingEmail {
                list_unsubscribe: "https://t.example/u/T>\r\nX: y".into(),
                ..email()
            },
            OutgoingEmail {
                list_unsubscribe: "mailto:x@y".into(),
                ..email()
            },
            OutgoingEmail {
                list_unsubscribe_mailto: Some("https://x".into()),
                ..email()
            },
        ];
        for case in cases {
            let err = m.message(&case).unwrap_err();
            assert_eq!(err.kind, SendErrorKind::Permanent, "{case:?}");
        }
    }

    #[test]
    fn loopback_http_is_accepted_for_development() {
        for ok in [
            "http://127.0.0.1:8080/u/T",
            "http://localhost/u/T",
            "http://[::1]:80/u/T",
        ] {
            assert!(list_unsubscribe(ok, None).is_ok(), "{ok}");
        }
        for bad in [
            "http://localhost.evil.example/u/T",
            "http://127.0.0.1.nip.io/u/T",
            "http://localhost@evil.example/",
            "https://",
            "https:///u/T",
            "ftp://t.example/u/T",
        ] {
            assert!(list_unsubscribe(bad, None).is_err(), "{bad}");
        }
    }

    #[test]
    fn message_ids_are_valid_and_distinct() {
        assert_eq!(message_id("c42.p7.once"), "<c42.p7.once@seglab>");
        assert_eq!(message_id("c:1/p:2"), "<c%3A1/p%3A2@seglab>");
        assert_eq!(message_id(".a..b."), "<%2Ea.%2Eb%2E@seglab>");
        assert_eq!(message_id("100%"), "<100%25@seglab>");
        assert_ne!(message_id("a:b"), message_id("a%3Ab"));
        assert_eq!(message_id("a\"b(c)"), "<a%22b%28c%29@seglab>");
    }

    #[test]
    fn debug_hides_the_password() {
        let config = SmtpConfig {
            url: "smtps://u:hunter2@mx.example".into(),
            ..SmtpConfig::default()
        };
        let debug = format!("{config:?}");
        assert!(debug.contains("smtps://u:***@mx.example"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
    }

    #[test]
    fn configuration_errors() {
        let bad = |config: SmtpConfig| Mailer::new(config).unwrap_err().to_string();
        let err = bad(SmtpConfig {
            url: "smtp://user:hunter2@[::1".into(),
            ..SmtpConfig::default()
        });
        assert!(err.starts_with("invalid smtp url"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        let err = bad(SmtpConfig {
            url: "http://127.0.0.1:25".into(),
            ..SmtpConfig::default()
        });
        assert!(err.starts_with("invalid smtp url"), "{err}");
        let err = bad(SmtpConfig {
            from: "nobody".into(),
            ..SmtpConfig::default()
        });
        assert!(err.starts_with("invalid sender address"), "{err}");
        let err = bad(SmtpConfig {
            pool_size: 0,
            ..SmtpConfig::default()
        });
        assert_eq!(err, "pool_size must be at least 1");
        for url in [
            "smtp://127.0.0.1:2525",
            "smtp://mx.example:587?tls=required",
            "smtps://u:p@mx.example",
        ] {
            Mailer::new(SmtpConfig {
                url: url.into(),
                ..SmtpConfig::default()
            })
            .unwrap();
        }
    }
}
