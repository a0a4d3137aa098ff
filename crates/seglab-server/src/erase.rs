//! Deleting a person from a running server (ADR 0014), in the order that
//! keeps every part consistent:
//!
//! 1. the store deletes the person and everyone merged into them, writes
//!    tombstones for their ids and addresses (later events with them are
//!    dropped from then on), lists them as erasures still owed by
//!    `live.db` and `campaigns.db`, and rebuilds `seglab.db`;
//! 2. with the live thread held: the engine loads its timelines again from
//!    the store (nothing of the person is left in memory, and the snapshot
//!    is written anew or removed), then live membership deletes their
//!    changes, deliveries, timers and checkpoint bits, and `live.db` is
//!    rebuilt;
//! 3. between two campaign rounds: their sends, coupons and suppressions go,
//!    and `campaigns.db` is rebuilt;
//! 4. the store records the erasures done. A server stopped before that
//!    finishes them when it starts ([`finish_pending`]).

use std::time::{Duration, Instant};

use seglab_store::PersonId;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::ApiResult;

/// What deleting a person removed, everywhere.
#[derive(Debug, Clone)]
pub struct Deletion {
    pub store: seglab_store::Forgotten,
    pub live: seglab_live::Forgotten,
    pub campaigns: seglab_campaign::db::Forgotten,
    /// Whether every file was rebuilt and its log emptied.
    pub erased: bool,
    /// Damaged copies of `live.db` set aside earlier (ADR 0015), which may
    /// hold the person too: a deletion does not rewrite them.
    pub set_aside: Vec<String>,
    pub took: Duration,
}

impl Deletion {
    /// The answer of `DELETE /api/v1/people/{id}`.
    pub fn to_json(&self) -> Value {
        let (s, l, c) = (&self.store, &self.live, &self.campaigns);
        json!({
            "person_id": s.person,
            "persons": s.persons,
            "deleted": {
                "events": s.events,
                "identities": s.identities,
                "traits": s.traits,
                "merges": s.merges,
                "people": s.people,
                "membership_changes": l.changes,
                "webhook_deliveries": l.deliveries,
                "timers": l.timers,
                "member_checkpoints": l.checkpoints,
                "sends": c.sends,
                "coupons": c.coupons,
                "suppressions": c.suppressions,
            },
            "tombstones": s.tombstones,
            "erased": self.erased,
            "set_aside": self.set_aside,
            "took_ms": self.took.as_millis() as u64,
        })
    }
}

/// Deletes the person `id` leads to (any of their ids, or their person id)
/// and everyone merged into them; `None` when no person has that id.
pub fn delete_person(state: &AppState, id: &str) -> ApiResult<Option<Deletion>> {
    let started = Instant::now();
    let Some(store) = state.store.forget(id)? else {
        return Ok(None);
    };
    let (live, campaigns, erased) = erase_followers(state, &store.persons, true)?;
    metrics::counter!("seglab_people_deleted_total").increment(1);
    let took = started.elapsed();
    tracing::info!(
        person = store.person,
        persons = store.persons.len(),
        events = store.events,
        erased = erased && store.erased,
        elapsed_ms = took.as_millis() as u64,
        "person deleted"
    );
    let set_aside = seglab_live::db::set_aside_files(state.store.dir());
    if !set_aside.is_empty() {
        tracing::warn!(
            files = ?set_aside,
            "damaged copies of live.db set aside earlier may still hold the deleted person: \
             remove them once examined"
        );
    }
    Ok(Some(Deletion {
        erased: erased && store.erased,
        set_aside,
        store,
        live,
        campaigns,
        took,
    }))
}

/// Steps 2 to 4 for `persons` (already deleted from the store); `reload`:
/// whether the engine still holds them.
fn erase_followers(
    state: &AppState,
    persons: &[PersonId],
    reload: bool,
) -> ApiResult<(seglab_live::Forgotten, seglab_campaign::db::Forgotten, bool)> {
    let (live, live_erased) = state.live.with_live(|l| -> ApiResult<_> {
        if reload {
            state
                .segments
                .reload(state.store.reader(), Some(state.store.dir()))?;
        }
        let out = l.forget(persons)?;
        // The rows are gone; a rebuild that fails (no room for a copy of
        // the file) leaves their bytes until the next one.
        let erased = l.erase_deleted().unwrap_or_else(|e| {
            tracing::warn!(error = %e, "live.db could not be rebuilt after a deletion");
            false
        });
        Ok((out, erased))
    })?;
    let (campaigns, campaigns_erased) = state.campaigns.forget(persons)?;
    state.store.reader().erasures_done(persons)?;
    Ok((live, campaigns, live_erased && campaigns_erased))
}

/// Finishes deletions a stopped server left half done: the persons the
/// store deleted whose rows in `live.db` and `campaigns.db` remain. The
/// engine loaded at start holds nothing of them already.
pub(crate) fn finish_pending(state: &AppState) -> ApiResult<usize> {
    let pending = state.store.reader().pending_erasures()?;
    if !pending.is_empty() {
        erase_followers(state, &pending, false)?;
        tracing::info!(
            persons = pending.len(),
            "finished deleting people from live.db and campaigns.db"
        );
    }
    Ok(pending.len())
}
