//! SMTP for the email channel: the server of a URL, a pool of lettre's
//! connections, one transaction per message, and what a failure means.
//!
//! The pool is ours rather than lettre's: a connection whose transaction
//! timed out is closed, never reused (lettre's pool would put it back with an
//! answer still in flight), no `NOOP` precedes each message, and the command
//! each answer belongs to is known, so only a `RCPT` refusal can be a bounce.

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lettre::address::Envelope;
use lettre::transport::smtp::authentication::{Credentials, DEFAULT_MECHANISMS};
use lettre::transport::smtp::client::{AsyncSmtpConnection, Tls, TlsParameters};
use lettre::transport::smtp::commands::{Data, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use tokio::sync::Semaphore;

use super::{SendError, SendErrorKind};

/// A connection idle for longer is closed rather than reused: servers drop
/// idle clients after a minute or more.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Connections to one server, at most `size` open and in use at once.
pub(super) struct Pool {
    server: Server,
    timeout: Duration,
    /// One per send in flight; a send holds at most one connection, so the
    /// open connections never outnumber them.
    permits: Semaphore,
    idle: Mutex<Vec<(AsyncSmtpConnection, Instant)>>,
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("host", &self.server.host)
            .field("port", &self.server.port)
            .field("available", &self.permits.available_permits())
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

impl Pool {
    pub(super) fn new(server: Server, timeout: Duration, size: u32) -> Pool {
        Pool {
            server,
            timeout,
            permits: Semaphore::new(size as usize),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// One attempt to deliver a formatted message.
    pub(super) async fn deliver(&self, envelope: &Envelope, bytes: &[u8]) -> Result<(), SendError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| SendError::new(SendErrorKind::Transient, "mailer closed"))?;
        // A pooled connection the server has closed (silently or with a
        // `421`) fails at `MAIL`, before anything is accepted: then, and
        // only then, a new connection takes over.
        let (mut conn, mut reused) = match self.checkout() {
            Some(conn) => (conn, true),
            None => (self.connect().await?, false),
        };
        loop {
            let result =
                tokio::time::timeout(self.timeout, transaction(&mut conn, envelope, bytes)).await;
            return match result {
                Ok(Ok(())) => {
                    self.checkin(conn);
                    Ok(())
                }
                Ok(Err((Stage::Mail, e))) if reused && (e.status().is_none() || is_421(&e)) => {
                    reused = false;
                    conn = self.connect().await?;
                    continue;
                }
                Ok(Err((stage, e))) => {
                    if e.status().is_some() && !is_421(&e) {
                        self.reset(conn).await;
                    }
                    Err(classify(stage, &e))
                }
                // Dropped, never reused: an answer may still be on its way.
                Err(_) => Err(SendError::new(
                    SendErrorKind::Transient,
                    format!("no answer within {:?}", self.timeout),
                )),
            };
        }
    }

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

/// `421`: the server is closing the connection.
fn is_421(e: &SmtpError) -> bool {
    e.status().is_some_and(|code| code.to_string() == "421")
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
pub(super) struct Server {
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
    pub(super) fn parse(url: &str) -> Result<Server, String> {
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
pub(super) fn redact(url: &str) -> String {
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
