//! `seglab serve`: open the data folder, make sure a write key and an admin token
//! exist, print what a newcomer needs, and serve until SIGINT or SIGTERM.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use seglab_server::{
    AppState, Limits, router, spawn_deliveries, spawn_key_refresh, spawn_retention,
};
use seglab_store::{Durability, Reader, Store};

use crate::config::Config;

/// The write key SDKs should use: the oldest active one, created on first start.
pub fn default_write_key(reader: &Reader) -> seglab_store::Result<String> {
    match reader.active_keys()?.into_iter().next() {
        Some(k) => Ok(k),
        None => Ok(reader.create_key("default")?.key),
    }
}

pub async fn run(config: &Config, demo: bool) -> anyhow::Result<()> {
    let store = Arc::new(
        Store::open(&config.data, Durability::Full)
            .with_context(|| format!("opening {}", config.data.display()))?,
    );
    if demo && store.reader().event_count()? == 0 {
        let s = store.clone();
        tokio::task::spawn_blocking(move || {
            crate::demo_cmd::load(&s, &seglab_demo::DemoSpec::default(), true)
        })
        .await??;
    }
    let admin_token = match &config.server.admin_token {
        Some(t) => t.clone(),
        None => store.reader().admin_token()?,
    };
    let write_key = default_write_key(store.reader())?;
    // Bound before the engine loads, so links in messages name the real port.
    let listener = tokio::net::TcpListener::bind(config.server.listen)
        .await
        .with_context(|| format!("listening on {}", config.server.listen))?;
    let addr = listener.local_addr()?;
    // Where commands run beside this server reach it (`seglab people delete`).
    let reachable = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, addr.port()))
        }
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, addr.port()))
        }
        _ => addr,
    };
    store.advertise(&format!("http://{reachable}"))?;
    let limits = Limits {
        max_pending_events: config.ingest.max_pending_events,
        rate_limit: config.ingest.rate(),
        warehouse: config.warehouse.settings(),
        campaigns: seglab_campaign::Settings {
            base_url: config
                .server
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{addr}")),
            smtp: config
                .email
                .smtp
                .as_ref()
                .map(|url| seglab_campaign::email::SmtpConfig {
                    url: url.clone(),
                    from: config.email.from.clone(),
                    ..seglab_campaign::email::SmtpConfig::default()
                }),
        },
        ..Limits::default()
    };
    // Kept in the store: imports and `segments check` obey it too.
    store.set_retention(config.retention.events.map(|d| d.millis()))?;
    if let Some(w) = &config.warehouse.target {
        tracing::info!(
            nodes = %w.nodes.join(","),
            database = %w.database,
            every_ms = config.warehouse.every.millis(),
            "memberships are computed in the warehouse"
        );
    }
    let started = std::time::Instant::now();
    let state = AppState::new(store.clone(), admin_token.clone(), limits)?;
    tracing::info!(
        people = state.segments.people(),
        events = state.segments.events(),
        bytes = state.segments.memory_bytes(),
        elapsed_ms = started.elapsed().as_millis() as u64,
        "timelines loaded"
    );
    if demo && store.reader().segments()?.is_empty() {
        crate::segments_cmd::install_starter(store.reader(), &state.segments)?;
        state.campaigns.pool.with(|db| {
            crate::campaigns_cmd::install_starter(store.reader(), db)
                .map_err(|e| seglab_campaign::Error::Refused(format!("starter campaigns: {e:#}")))
        })?;
        let now = seglab_event::time::now_millis();
        let evals = state.segments.evaluate(store.reader(), &[], now)?;
        crate::segments_cmd::print_table(&evals, state.segments.people(), now);
        println!();
    }
    print_banner(
        addr,
        &config.data,
        &write_key,
        &admin_token,
        store.reader().event_count()?,
    );
    tracing::info!(%addr, data = %config.data.display(), "seglab is serving");
    let refresh = spawn_key_refresh(state.clone(), Duration::from_secs(1));
    let deliveries = spawn_deliveries(state.clone())?;
    let retention = spawn_retention(
        state.clone(),
        Duration::from_millis(config.retention.every.millis() as u64),
    );
    state.start_campaigns(&tokio::runtime::Handle::current())?;
    let closing = state.clone();
    axum::serve(listener, router(state.clone()))
        .with_graceful_shutdown(async move {
            shutdown_signal().await;
            closing.begin_shutdown();
        })
        .await?;
    refresh.abort();
    deliveries.abort();
    retention.abort();
    let s = state.clone();
    let _ = tokio::task::spawn_blocking(move || s.stop_live()).await;
    tracing::info!("shutting down: committing what is queued");
    let s = store.clone();
    tokio::task::spawn_blocking(move || s.shutdown()).await?;
    Ok(())
}

/// Prints what a newcomer needs. A closed stdout is not an error worth dying for.
fn print_banner(addr: SocketAddr, data: &Path, write_key: &str, admin_token: &str, events: u64) {
    let url = format!("http://{addr}");
    let text = format!(
        "seglab {version} is listening on {url}

  data folder     {data}  ({events} events)
  write key       {write_key}
  admin token     {admin_token}

  Segment / RudderStack SDKs   host=\"{url}\"  the write key above   (POST {url}/v1/batch)
  PostHog SDKs                 host=\"{url}\"  api_key = the write key (POST {url}/batch/)
  dashboard                    {url}/ui         log in with the admin token
  management API               {url}/api/v1/…   with 'Authorization: Bearer <admin token>'
  more tokens                  seglab tokens create NAME --scope read|full
  a person                     curl -H 'Authorization: Bearer {admin_token}' {url}/api/v1/people/ID
  health, metrics              {url}/healthz  {url}/metrics

Stop with Ctrl-C.
",
        version = env!("CARGO_PKG_VERSION"),
        data = data.display(),
    );
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}
