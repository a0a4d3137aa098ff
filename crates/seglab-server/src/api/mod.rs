//! One module per resource.

pub mod campaigns;
pub mod events;
pub mod experiments;
pub mod health;
pub mod ingest;
pub mod insights;
pub mod keys;
pub mod live;
pub mod people;
pub mod posthog;
pub mod segments;
pub mod suppressions;
pub mod track;

use std::sync::Arc;
use std::time::Instant;

use seglab_event::Event;

use crate::AppState;
use crate::auth::scope::Management;
use crate::error::{ApiError, ApiResult, ErrorKind};

/// Every management route (under `/api/v1/`), each with the scope it needs.
pub(crate) fn management() -> Management {
    Management::new()
        .merge(people::routes())
        .merge(events::routes())
        .merge(keys::routes())
        .merge(segments::routes())
        .merge(live::routes())
        .merge(campaigns::routes())
        .merge(suppressions::routes())
        .merge(experiments::routes())
        .merge(insights::routes())
}

/// Hands validated events to the store and waits until they are durable.
pub(crate) async fn store_events(
    state: &AppState,
    events: Vec<Event>,
    historical: bool,
    source: &'static str,
) -> ApiResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    if state.store.pending_events() + events.len() > state.limits.max_pending_events {
        return Err(ApiError::new(
            ErrorKind::Overloaded,
            "overloaded",
            "too many events waiting to be stored; retry shortly",
        ));
    }
    let n = events.len();
    let started = Instant::now();
    let outcome = state.store.append(events, historical).await?;
    crate::metrics::committed(started.elapsed().as_secs_f64(), n);
    crate::metrics::accepted(source, outcome.accepted, outcome.duplicates);
    crate::metrics::dropped_deleted(outcome.tombstoned);
    crate::metrics::dropped_expired(outcome.expired);
    Ok(())
}

/// Runs blocking store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &Arc<AppState>,
    f: impl FnOnce(&AppState) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || f(&state))
        .await
        .map_err(|e| ApiError::new(ErrorKind::Internal, "internal", e.to_string()))?
}
