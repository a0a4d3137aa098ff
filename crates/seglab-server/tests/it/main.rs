//! The server in-process, over a real SQLite store in a temporary folder
//! (and, where it matters, served on a loopback port).

mod access;
mod campaigns;
mod dashboard;
mod forget;
mod ingest;
mod insights;
mod live;
mod management;
mod posthog;
mod robustness;
mod segments;
#[path = "../../../../tests/smtp/harness.rs"]
mod smtp;

use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use base64::Engine;
use seglab_campaign::{Settings, SmtpConfig};
use seglab_server::{AppState, Limits, router};
use seglab_store::{Durability, Store};
use serde_json::Value;
use tower::ServiceExt;

pub const ADMIN: &str = "test-admin";
/// What links in campaign messages start with.
pub const BASE_URL: &str = "https://t.shop.example";

pub struct App {
    pub router: Router,
    pub state: Arc<AppState>,
    pub store: Arc<Store>,
    pub key: String,
    _dir: tempfile::TempDir,
}

impl Default for App {
    fn default() -> App {
        App::new()
    }
}

impl App {
    pub fn new() -> App {
        App::with_limits(Limits::default())
    }

    pub fn with_limits(limits: Limits) -> App {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path(), Durability::Full).unwrap());
        let key = store.reader().create_key("test").unwrap().key;
        let state = AppState::new(store.clone(), ADMIN.into(), limits).unwrap();
        App {
            router: router(state.clone()),
            state,
            store,
            key,
            _dir: dir,
        }
    }

    /// With campaigns running: email over the SMTP server at `smtp` (none:
    /// email waits), links under [`BASE_URL`]. Needs a tokio runtime.
    pub fn with_campaigns(smtp: Option<&str>) -> App {
        let app = App::with_limits(Limits {
            campaigns: Settings {
                base_url: BASE_URL.into(),
                smtp: smtp.map(|url| SmtpConfig {
                    url: url.into(),
                    from: "Shop <news@shop.example>".into(),
                    pool_size: 2,
                    timeout: Duration::from_secs(5),
                }),
            },
            ..Limits::default()
        });
        app.state
            .start_campaigns(&tokio::runtime::Handle::current())
            .unwrap();
        app
    }

    pub fn basic(&self) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{}:", self.key))
        )
    }

    pub async fn send(&self, req: Request<Body>) -> (StatusCode, Vec<u8>) {
        let res = self.router.clone().oneshot(req).await.unwrap();
        let status = res.status();
        (
            status,
            to_bytes(res.into_body(), usize::MAX)
                .await
                .unwrap()
                .to_vec(),
        )
    }

    /// POSTs `body` with the write key as basic auth.
    pub async fn post(&self, path: &str, body: impl Into<Body>) -> (StatusCode, Value) {
        let req = Request::post(path)
            .header("authorization", self.basic())
            .header("content-type", "application/json")
            .body(body.into())
            .unwrap();
        let (s, b) = self.send(req).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    /// `method path` with the admin token and `body` as JSON (none when null).
    pub async fn admin(&self, method: &str, path: &str, body: Value) -> (StatusCode, Value) {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(if body.is_null() {
                Body::empty()
            } else {
                Body::from(body.to_string())
            })
            .unwrap();
        let (s, b) = self.send(req).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    pub async fn get_admin(&self, path: &str) -> (StatusCode, Value) {
        let req = Request::get(path)
            .header("authorization", format!("Bearer {ADMIN}"))
            .body(Body::empty())
            .unwrap();
        let (s, b) = self.send(req).await;
        (s, serde_json::from_slice(&b).unwrap_or(Value::Null))
    }

    pub fn count(&self) -> u64 {
        self.store.reader().event_count().unwrap()
    }

    /// Serves the router on a loopback port; answers its base URL. Needs a
    /// tokio runtime (the server runs until the runtime ends).
    pub async fn serve(&self) -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let router = self.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        url
    }
}

/// An HTTP client (with the TLS provider the binary installs).
pub fn http() -> reqwest::Client {
    seglab_live::webhook::install_tls_provider();
    reqwest::Client::new()
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}
