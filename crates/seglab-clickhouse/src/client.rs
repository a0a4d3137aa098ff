//! ClickHouse's HTTP interface: statements, `RowBinary` inserts, member lists.

use std::time::Duration;

use crate::Query;
use crate::rows::{Row, row_binary};

/// A failed request.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server could not be reached, or the connection broke.
    #[error("clickhouse at {url} unreachable: {source}")]
    Unreachable { url: String, source: reqwest::Error },
    /// The server answered with an error (its message).
    #[error("clickhouse answered {status}: {message}")]
    Server { status: u16, message: String },
    /// An answer that is not what the query returns.
    #[error("unexpected answer from clickhouse: {0}")]
    Answer(String),
}

/// One ClickHouse server, by the address of its HTTP interface
/// (`http://127.0.0.1:8123`).
#[derive(Debug, Clone)]
pub struct Client {
    url: String,
    /// Settings sent with every request (`name=value&…`).
    settings: String,
    http: reqwest::Client,
}

impl Client {
    pub fn new(url: &str) -> Client {
        // reqwest is built without a TLS provider of its own: ring's, once
        // (a second install is refused harmlessly).
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(300))
            .build()
            .unwrap_or_default();
        Client {
            url: url.trim_end_matches('/').to_owned(),
            settings: String::new(),
            http,
        }
    }

    /// The same server, with a setting sent on every request
    /// (`insert_distributed_sync=1` for a cluster's inserts).
    pub fn with_setting(&self, name: &str, value: &str) -> Client {
        let mut settings = form_urlencoded::Serializer::new(self.settings.clone());
        settings.append_pair(name, value);
        Client {
            settings: settings.finish(),
            ..self.clone()
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Whether the server answers `/ping`.
    pub async fn ping(&self) -> bool {
        match self.http.get(format!("{}/ping", self.url)).send().await {
            Ok(r) => r.status().is_success(),
            Err(_) => false,
        }
    }

    async fn post(&self, query: Option<&str>, body: Vec<u8>) -> Result<String, ClientError> {
        // The serializer is not `Send`: dropped before the first await, so
        // requests can run on any thread (`tokio::spawn`).
        let params = {
            let mut params = form_urlencoded::Serializer::new(self.settings.clone());
            if let Some(q) = query {
                params.append_pair("query", q);
            }
            params.finish()
        };
        let url = format!("{}/?{params}", self.url);
        let req = self.http.post(url);
        let unreachable = |source| ClientError::Unreachable {
            url: self.url.clone(),
            source,
        };
        let resp = req.body(body).send().await.map_err(unreachable)?;
        let status = resp.status();
        let text = resp.text().await.map_err(unreachable)?;
        if !status.is_success() {
            return Err(ClientError::Server {
                status: status.as_u16(),
                message: text.trim().to_owned(),
            });
        }
        Ok(text)
    }

    /// Runs one statement; returns its output (TabSeparated for a `SELECT`).
    pub async fn execute(&self, sql: &str) -> Result<String, ClientError> {
        self.post(None, sql.as_bytes().to_vec()).await
    }

    /// Inserts rows into `table` (`db.events`). Rows already there (same
    /// person, kind and message id) count once in queries: a retried batch
    /// never counts twice.
    pub async fn insert(&self, table: &str, rows: &[Row]) -> Result<(), ClientError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.insert_row_binary(table, row_binary(rows)).await
    }

    /// Inserts rows already encoded by [`row_binary`] (bulk loads encode
    /// once and send the same bytes to several servers).
    pub async fn insert_row_binary(&self, table: &str, bytes: Vec<u8>) -> Result<(), ClientError> {
        if bytes.is_empty() {
            return Ok(());
        }
        let q = format!("INSERT INTO {table} FORMAT RowBinary");
        self.post(Some(&q), bytes).await.map(drop)
    }

    /// The members of a compiled condition at `now`, ascending.
    pub async fn members(&self, query: &Query, now: i64) -> Result<Vec<i64>, ClientError> {
        let text = self
            .execute(&format!("{} FORMAT TabSeparated", query.sql(now)))
            .await?;
        text.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                l.parse::<i64>()
                    .map_err(|_| ClientError::Answer(format!("not a person id: {l:?}")))
            })
            .collect()
    }
}
