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
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::message::header::{HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::{Address, Message};
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
    /// For connecting (greeting, EHLO, STARTTLS, AUTH included) and for
    /// each message's transaction.
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
///
/// The pool is ours, over lettre's connections: a connection whose
/// transaction timed out is closed, never reused (lettre's own pool would put
/// it back with an answer still in flight), and the answer to each command
/// is known, so only a `RCPT` refusal can be a bounce.
#[derive(Clone)]
pub struct Mailer {
    inner: Arc<Inner>,
}

struct Inner {
    server: Server,
    timeout: Duration,
    /// One per send in flight; a send holds at most one connection, so the
    /// open connections never outnumber them.
    permits: Semaphore,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
    envelope_from: Address,
    default_from: Mailbox,
}

/// A connection idle for longer is closed rather than reused: servers drop
/// idle clients after a minute or more.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

impl fmt::Debug for Mailer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Mailer")
            .field("host", &self.inner.server.host)
            .field("port", &self.inner.server.port)
            .field("envelope_from", &self.inner.envelope_from)
            .finish_non_exhaustive()
    }
}

/// Where a transaction failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stage {
    Connect,
    Mail,
    Rcpt,
    Data,
    Message,
}

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Connect => "connect",
            Self::Mail => "MAIL FROM",
            Self::Rcpt => "RCPT TO",
            Self::Data => "DATA",
            Self::Message => "end of data",
        })
    }
}

type SmtpError = lettre::transport::smtp::Error;

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
            url: redact(&config.url),
            message,
        })?;
        Ok(Mailer {
            inner: Arc::new(Inner {
                server,
                timeout: config.timeout,
                permits: Semaphore::new(config.pool_size as usize),
                idle: Mutex::new(Vec::new()),
                envelope_from: default_from.email.clone(),
                default_from,
            }),
        })
    }

    /// One attempt to hand `email` to the SMTP server.
    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let message = self.message(email)?;
        let bytes = message.formatted();
        let envelope = message.envelope();
        let inner = &*self.inner;
        let _permit = inner
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::new(SendErrorKind::Transient, "mailer closed"))?;
        // A pooled connection the server has closed fails before `MAIL`
        // is accepted: then, and only then, a new connection takes over.
        let (mut conn, mut reused) = match inner.checkout() {
            Some(conn) => (conn, true),
            None => (inner.connect().await?, false),
        };
        loop {
            let result =
                tokio::time::timeout(inner.timeout, transaction(&mut conn, envelope, &bytes)).await;
            return match result {
                Ok(Ok(())) => {
                    inner.checkin(conn);
                    Ok(())
                }
                Ok(Err((Stage::Mail, e))) if reused && e.status().is_none() => {
                    reused = false;
                    conn = inner.connect().await?;
                    continue;
                }
                Ok(Err((stage, e))) => {
                    if e.status().is_some_and(|c| c.to_string() != "421") {
                        inner.reset(conn).await;
                    }
                    Err(classify(stage, &e))
                }
                // Dropped, never reused: an answer may still be on its way.
                Err(_) => Err(SendError::new(
                    SendErrorKind::Transient,
                    format!("no answer within {:?}", inner.timeout),
                )),
            };
        }
    }

    /// The message as it goes on the wire, headers and all.
    pub fn message(&self, email: &OutgoingEmail) -> Result<Message, SendError> {
        let to: Mailbox = email
            .to
            .parse()
            .map_err(|e| SendError::invalid(format!("invalid recipient {:?}: {e}", email.to)))?;
        let from: Mailbox = if email.from.is_empty() {
            self.inner.default_from.clone()
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
        let envelope = Envelope::new(
            Some(self.inner.envelope_from.clone()),
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

impl Inner {
    fn checkout(&self) -> Option<AsyncSmtpConnection> {
        let mut idle = self.idle.lock().unwrap();
        while let Some((conn, since)) = idle.pop() {
            if since.elapsed() < IDLE_TIMEOUT && !conn.has_broken() {
                return Some(conn);
            }
        }
        None
    }

    fn checkin(&self, conn: AsyncSmtpConnection) {
        if !conn.has_broken() {
            self.idle.lock().unwrap().push((conn, Instant::now()));
        }
    }

    /// Ends a failed transaction so the connection can serve the next one.
    async fn reset(&self, mut conn: AsyncSmtpConnection) {
        if let Ok(Ok(_)) = tokio::time::timeout(self.timeout, conn.command(Rset)).await {
            self.checkin(conn);
        }
    }

    async fn connect(&self) -> Result<AsyncSmtpConnection, SendError> {
        match tokio::time::timeout(self.timeout, self.server.connect(self.timeout)).await {
            Ok(Ok(conn)) => Ok(conn),
            Ok(Err(e)) => Err(classify(Stage::Connect, &e)),
            Err(_) => Err(SendError::new(
                SendErrorKind::Transient,
                format!("connect: no answer within {:?}", self.timeout),
            )),
        }
    }
}

/// One message: `MAIL`, `RCPT` for each recipient, `DATA` and the content.
async fn transaction(
    conn: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    bytes: &[u8],
) -> Result<(), (Stage, SmtpError)> {
    let at = |stage| move |e| (stage, e);
    let mut options = Vec::new();
    let info = conn.server_info();
    let utf8 = envelope
        .to()
        .iter()
        .chain(envelope.from())
        .any(|a| !AsRef::<str>::as_ref(a).is_ascii());
    if utf8 && info.supports_feature(Extension::SmtpUtfEight) {
        options.push(MailParameter::SmtpUtfEight);
    }
    if !bytes.is_ascii() && info.supports_feature(Extension::EightBitMime) {
        options.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    let from = envelope.from().cloned();
    conn.command(Mail::new(from, options))
        .await
        .map_err(at(Stage::Mail))?;
    for to in envelope.to() {
        conn.command(Rcpt::new(to.clone(), Vec::new()))
            .await
            .map_err(at(Stage::Rcpt))?;
    }
    conn.command(Data).await.map_err(at(Stage::Data))?;
    match std::str::from_utf8(bytes) {
        Ok(text) => conn.command(Content(text)).await,
        Err(_) => conn.message(bytes).await,
    }
    .map_err(at(Stage::Message))?;
    Ok(())
}

/// A message's content as `DATA` sends it, dot-stuffed and terminated, for
/// one write. lettre writes the terminator apart, and Nagle's algorithm
/// holds that small write until the server's delayed ACK: 40 ms a message.
struct Content<'a>(&'a str);

impl fmt::Display for Content<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in self.0.split_inclusive('\n') {
            if line.starts_with('.') {
                f.write_str(".")?;
            }
            f.write_str(line)?;
        }
        if !self.0.ends_with("\r\n") {
            f.write_str("\r\n")?;
        }
        f.write_str(".\r\n")
    }
}

/// Sorts an error into what the caller does next.
fn classify(stage: Stage, e: &SmtpError) -> SendError {
    let Some(code) = e.status() else {
        // No SMTP answer: the connection, TLS, a timeout or an answer that
        // did not parse. A client error is the message itself (e.g. a
        // non-ascii address the server cannot take).
        let kind = if e.is_client() {
            SendErrorKind::Permanent
        } else {
            SendErrorKind::Transient
        };
        return SendError::new(kind, format!("{stage}: {}", error_chain(e)));
    };
    let code = code.to_string();
    let text = std::error::Error::source(e)
        .map(ToString::to_string)
        .unwrap_or_default();
    let message = format!("{code} {text}").trim_end().to_owned();
    let kind = if e.is_transient() {
        SendErrorKind::Transient
    } else if stage == Stage::Rcpt && is_missing_mailbox(&code, &text) {
        SendErrorKind::Bounce
    } else {
        SendErrorKind::Permanent
    };
    SendError::new(kind, format!("{stage}: {message}"))
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

/// Whether a refused recipient does not exist: `550`, `551` or `553` with
/// an enhanced status `5.1.x` about the destination (RFC 3463: bad mailbox,
/// bad system, bad syntax, moved, null MX), or, without an enhanced status,
/// in the usual words. Policy refusals (`5.7.x`) and full mailboxes are not.
fn is_missing_mailbox(code: &str, text: &str) -> bool {
    if !matches!(code, "550" | "551" | "553") {
        return false;
    }
    if let Some(status) = enhanced_status(text) {
        return status.0 == 5 && status.1 == 1 && matches!(status.2, 1 | 2 | 3 | 6 | 10);
    }
    let text = text.to_ascii_lowercase();
    const MISSING: [&str; 9] = [
        "user unknown",
        "unknown user",
        "no such user",
        "no such mailbox",
        "mailbox not found",
        "mailbox does not exist",
        "does not exist",
        "recipient unknown",
        "unknown recipient",
    ];
    MISSING.iter().any(|m| text.contains(m))
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

/// The SMTP server of an `smtp://` or `smtps://` URL.
struct Server {
    host: String,
    port: u16,
    tls: Tls,
    credentials: Option<Credentials>,
    hello: ClientId,
}

impl Server {
    /// `smtp[s]://[user[:password]@]host[:port][/helo-name][?tls=required|opportunistic]`,
    /// as lettre reads it: port 25 for plain `smtp`, 587 with STARTTLS, 465
    /// for `smtps`.
    fn parse(url: &str) -> Result<Server, String> {
        let (scheme, rest) = url.split_once("://").ok_or("no scheme")?;
        let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((userinfo, hostport)) => (Some(userinfo), hostport),
            None => (None, authority),
        };
        let (host, port) = match hostport.strip_prefix('[') {
            Some(v6) => {
                let (host, rest) = v6.split_once(']').ok_or("unclosed [")?;
                (host, rest.strip_prefix(':'))
            }
            None => match hostport.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (hostport, None),
            },
        };
        if host.is_empty() {
            return Err("no host".into());
        }
        let port = port
            .map(|p| p.parse::<u16>().map_err(|_| format!("bad port {p:?}")))
            .transpose()?;
        let mut tls_mode = None;
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*key {
                "tls" => tls_mode = Some(value.into_owned()),
                _ => return Err(format!("unknown parameter {key:?}")),
            }
        }
        let params = || TlsParameters::new(host.to_owned()).map_err(|e| e.to_string());
        let (tls, default_port) = match (scheme, tls_mode.as_deref()) {
            ("smtp", None) => (Tls::None, 25),
            ("smtp", Some("required")) => (Tls::Required(params()?), 587),
            ("smtp", Some("opportunistic")) => (Tls::Opportunistic(params()?), 587),
            ("smtps", None) => (Tls::Wrapper(params()?), 465),
            ("smtp" | "smtps", Some(other)) => return Err(format!("unknown tls mode {other:?}")),
            (other, _) => return Err(format!("unknown scheme {other:?}: smtp or smtps")),
        };
        let credentials = match userinfo {
            Some(userinfo) => {
                let (user, password) = userinfo.split_once(':').unwrap_or((userinfo, ""));
                Some(Credentials::new(
                    percent_decode(user)?,
                    percent_decode(password)?,
                ))
            }
            None => None,
        };
        let hello = match path.trim_matches('/') {
            "" => ClientId::default(),
            name => ClientId::Domain(name.to_owned()),
        };
        Ok(Server {
            host: host.to_owned(),
            port: port.unwrap_or(default_port),
            tls,
            credentials,
            hello,
        })
    }

    /// A new connection, greeted, encrypted and authenticated as configured.
    async fn connect(&self, timeout: Duration) -> Result<AsyncSmtpConnection, SmtpError> {
        let wrapper = match &self.tls {
            Tls::Wrapper(params) => Some(params.clone()),
            _ => None,
        };
        let address = (self.host.as_str(), self.port);
        let mut conn =
            AsyncSmtpConnection::connect_tokio1(address, Some(timeout), &self.hello, wrapper, None)
                .await?;
        match &self.tls {
            Tls::Required(params) => conn.starttls(params.clone(), &self.hello).await?,
            Tls::Opportunistic(params) if conn.can_starttls() => {
                conn.starttls(params.clone(), &self.hello).await?;
            }
            _ => {}
        }
        if let Some(credentials) = &self.credentials {
            conn.auth(DEFAULT_MECHANISMS, credentials).await?;
        }
        Ok(conn)
    }
}

fn percent_decode(s: &str) -> Result<String, String> {
    let mut bytes = Vec::with_capacity(s.len());
    let mut rest = s.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'%' {
            let hex = tail.get(..2).and_then(|h| std::str::from_utf8(h).ok());
            let byte = hex.and_then(|h| u8::from_str_radix(h, 16).ok());
            bytes.push(byte.ok_or("bad percent-encoding in the credentials")?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).map_err(|_| "credentials are not utf-8".to_owned())
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
    fn bounces_are_missing_mailboxes_only() {
        let bounce = [
            ("550", "5.1.1 <x@example.com>: user unknown"),
            (
                "550",
                "5.1.1 The email account that you tried to reach does not exist.",
            ),
            ("551", "5.1.6 user has moved"),
            ("553", "5.1.3 bad recipient address syntax"),
            ("550", "5.1.10 null MX"),
            ("550", "No such user here"),
            ("550", "Recipient unknown"),
        ];
        for (code, text) in bounce {
            assert!(is_missing_mailbox(code, text), "{code} {text}");
        }
        let not_bounce = [
            ("550", "5.7.1 message rejected as spam"),
            ("550", "5.1.8 sender domain does not exist"),
            ("553", "5.1.7 bad sender address syntax"),
            ("552", "5.2.2 mailbox full"),
            ("554", "5.1.1 user unknown"),
            ("550", "Requested action not taken: mailbox unavailable"),
            ("550", "5.7.1 user unknown"),
        ];
        for (code, text) in not_bounce {
            assert!(!is_missing_mailbox(code, text), "{code} {text}");
        }
        assert_eq!(enhanced_status("5.1.1 x"), Some((5, 1, 1)));
        assert_eq!(enhanced_status("4.7.0"), Some((4, 7, 0)));
        assert_eq!(enhanced_status("1.2.3 x"), None);
        assert_eq!(enhanced_status("5.1 x"), None);
        assert_eq!(enhanced_status("5.1.1.1 x"), None);
        assert_eq!(enhanced_status(""), None);
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

    #[test]
    fn content_is_dot_stuffed_and_terminated() {
        let content = |s: &str| Content(s).to_string();
        assert_eq!(content("a\r\n"), "a\r\n.\r\n");
        assert_eq!(content("a"), "a\r\n.\r\n");
        assert_eq!(
            content(".a\r\n.\r\nb.c\r\n..\r\n"),
            "..a\r\n..\r\nb.c\r\n...\r\n.\r\n"
        );
        assert_eq!(content(""), "\r\n.\r\n");
    }

    #[test]
    fn smtp_urls() {
        let server = Server::parse("smtp://127.0.0.1:2525").unwrap();
        assert_eq!((server.host.as_str(), server.port), ("127.0.0.1", 2525));
        assert!(matches!(server.tls, Tls::None));
        assert!(server.credentials.is_none());
        assert_eq!(Server::parse("smtp://mx.example").unwrap().port, 25);
        let server = Server::parse("smtp://mx.example?tls=required").unwrap();
        assert!(matches!(server.tls, Tls::Required(_)));
        assert_eq!(server.port, 587);
        let server = Server::parse("smtp://mx.example:2587?tls=opportunistic").unwrap();
        assert!(matches!(server.tls, Tls::Opportunistic(_)));
        assert_eq!(server.port, 2587);
        let server = Server::parse("smtps://u%40shop:p%3Ass@mx.example/out.shop.example").unwrap();
        assert!(matches!(server.tls, Tls::Wrapper(_)));
        assert_eq!(server.port, 465);
        assert_eq!(
            server.credentials,
            Some(Credentials::new("u@shop".into(), "p:ss".into()))
        );
        assert_eq!(server.hello, ClientId::Domain("out.shop.example".into()));
        let server = Server::parse("smtp://[::1]:2525").unwrap();
        assert_eq!((server.host.as_str(), server.port), ("::1", 2525));
        for bad in [
            "127.0.0.1:25",
            "http://mx.example",
            "smtp://",
            "smtp://:25",
            "smtp://mx.example:port",
            "smtp://mx.example:70000",
            "smtp://[::1",
            "smtp://mx.example?tls=maybe",
            "smtp://mx.example?tsl=required",
            "smtps://mx.example?tls=required",
            "smtp://u:%zz@mx.example",
        ] {
            assert!(Server::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn redact_hides_passwords() {
        assert_eq!(
            redact("smtps://u:p%40ss@mx.example:465"),
            "smtps://u:***@mx.example:465"
        );
        assert_eq!(redact("smtp://u@mx.example"), "smtp://u@mx.example");
        assert_eq!(redact("smtp://mx.example"), "smtp://mx.example");
    }
}
