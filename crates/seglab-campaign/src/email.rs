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

use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::PoolConfig;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Semaphore;

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
#[derive(Debug, Clone, PartialEq, Eq)]
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
    /// For connecting and for each SMTP command.
    pub timeout: Duration,
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
    #[error("the mailer must be created inside a tokio runtime")]
    NoRuntime,
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
    /// The server's answer (`550 5.1.1 …`) or what went wrong.
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
    transport: AsyncSmtpTransport<Tokio1Executor>,
    /// lettre's pool opens a new connection whenever none is idle; the
    /// permits keep the sends in flight, and so the connections, to
    /// `pool_size`.
    permits: Arc<Semaphore>,
    envelope_from: Address,
    default_from: Mailbox,
}

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("envelope_from", &self.envelope_from)
            .field("available", &self.permits.available_permits())
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Connects lazily: nothing is opened until the first send. Must be
    /// called inside a tokio runtime (the pool keeps a cleanup task).
    pub fn new(config: SmtpConfig) -> Result<Mailer, MailerError> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(MailerError::NoRuntime);
        }
        if config.pool_size == 0 {
            return Err(MailerError::PoolSize);
        }
        let default_from: Mailbox = config.from.parse().map_err(|e| MailerError::From {
            from: config.from.clone(),
            message: format!("{e}"),
        })?;
        let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(&config.url)
            .map_err(|e| MailerError::Url {
                url: redact(&config.url),
                message: e.to_string(),
            })?
            .timeout(Some(config.timeout))
            .pool_config(
                PoolConfig::new()
                    .max_size(config.pool_size)
                    .idle_timeout(Duration::from_secs(30)),
            )
            .build();
        Ok(Mailer {
            transport,
            permits: Arc::new(Semaphore::new(config.pool_size as usize)),
            envelope_from: default_from.email.clone(),
            default_from,
        })
    }

    /// One attempt to hand `email` to the SMTP server.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = self.message(email)?;
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::new(SendErrorKind::Transient, "mailer closed"))?;
        self.transport
            .send(message)
            .await
            .map(drop)
            .map_err(|e| classify(&e))
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
        let envelope = lettre::address::Envelope::new(
            Some(self.envelope_from.clone()),
            vec![to.email.clone()],
        )
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
    let one_click = lower.starts_with("https://")
        || ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| {
                lower
                    .strip_prefix(p)
                    .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
            });
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

/// Sorts lettre's error into what the caller does next.
fn classify(e: &lettre::transport::smtp::Error) -> SendError {
    let Some(code) = e.status() else {
        // No SMTP answer: the connection, TLS, a timeout or an answer that
        // did not parse. A client error is the message itself (e.g. a
        // non-ascii address the server cannot take).
        let kind = if e.is_client() {
            SendErrorKind::Permanent
        } else {
            SendErrorKind::Transient
        };
        return SendError::new(kind, error_chain(e));
    };
    let code = code.to_string();
    let text = std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_default();
    let message = format!("{code} {text}").trim_end().to_owned();
    let kind = if e.is_transient() {
        SendErrorKind::Transient
    } else if is_bounce(&code, &text) {
        SendErrorKind::Bounce
    } else {
        SendErrorKind::Permanent
    };
    SendError::new(kind, message)
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut message = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        source = s.source();
    }
    message
}

/// Whether a permanent answer says the mailbox does not exist: `550`, `551`
/// or `553` with an enhanced status `5.1.x` about the destination (RFC 3463:
/// bad mailbox, bad system, bad syntax, moved, null MX; not `5.1.7`/`5.1.8`,
/// which are about the sender). Without an enhanced status, the usual
/// wording of a missing mailbox, when it is not about the sender.
///
/// lettre does not say which command was answered; with one recipient a
/// destination `5.1.x` can only be the answer to `RCPT`.
fn is_bounce(code: &str, text: &str) -> bool {
    if !matches!(code, "550" | "551" | "553") {
        return false;
    }
    if let Some(status) = enhanced_status(text) {
        return status.0 == 5 && status.1 == 1 && matches!(status.2, 1 | 2 | 3 | 6 | 10);
    }
    let text = text.to_ascii_lowercase();
    const MISSING: [&str; 8] = [
        "user unknown",
        "unknown user",
        "no such user",
        "no such mailbox",
        "mailbox not found",
        "mailbox does not exist",
        "recipient unknown",
        "unknown recipient",
    ];
    !text.contains("sender") && MISSING.iter().any(|m| text.contains(m))
}

/// The RFC 3463 status (`5.1.1`) that opens a reply's text, if any.
fn enhanced_status(text: &str) -> Option<(u8, u16, u16)> {
    let token = text.split_whitespace().next()?;
    let mut parts = token.split('.');
    let class = parts.next()?.parse().ok()?;
    let subject = parts.next()?.parse().ok()?;
    let detail = parts.next()?.parse().ok()?;
    (parts.next().is_none() && matches!(class, 2 | 4 | 5)).then_some((class, subject, detail))
}

/// The URL without its password, for error messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}
