//! Memberships computed in the warehouse: every saved segment evaluated at
//! one instant, handed to the live state to record.

use std::collections::{BTreeMap, BTreeSet};

use seglab_clickhouse::Query;
use seglab_live::{Cause, Evaluated, Runner, Stepped};
use seglab_segments::Segments;

use crate::{Error, Target};

/// Every saved segment's members at `now` from the warehouse, behavioral
/// events before `events_from` left out (the store's retention cutoff),
/// recorded by `runner` (entries and exits, cause `warehouse`). A segment
/// the SQL refuses (a cycle, an unknown segment: the engine refuses it too)
/// is skipped with a warning and keeps its recorded members.
pub async fn evaluate(
    segments: &Segments,
    runner: &Runner,
    target: &Target,
    now: i64,
    events_from: Option<i64>,
) -> Result<Stepped, Error> {
    let saved = Saved::compile(segments, target);
    let evaluated = saved.members(target, now, events_from).await?;
    Ok(runner.record_members(&evaluated, &saved.defined, now, Cause::Warehouse)?)
}

/// What a retention pass changed, told apart from everything else: the
/// members at `now` with the events before `before` left out (what the last
/// evaluations saw) are recorded first (cause `warehouse`), then the members
/// at the same `now` with the events before `after` left out (cause
/// `retention`, not delivered, as natively). Between the two only the
/// cutoff differs, so the second records exactly what the pass changed.
pub async fn evaluate_expiry(
    segments: &Segments,
    runner: &Runner,
    target: &Target,
    now: i64,
    before: Option<i64>,
    after: i64,
) -> Result<(Stepped, Stepped), Error> {
    let saved = Saved::compile(segments, target);
    let was = saved.members(target, now, before).await?;
    let is = saved.members(target, now, Some(after)).await?;
    let first = runner.record_members(&was, &saved.defined, now, Cause::Warehouse)?;
    let second = runner.record_members(&is, &saved.defined, now, Cause::Retention)?;
    Ok((first, second))
}

/// The saved segments, compiled once.
struct Saved {
    queries: Vec<(String, i64, Query)>,
    defined: BTreeSet<String>,
}

impl Saved {
    fn compile(segments: &Segments, target: &Target) -> Saved {
        // Versions first: a definition saved in between is evaluated again
        // at the next tick (its version then differs from the one recorded).
        let versions = segments.definition_versions();
        let definitions: BTreeMap<_, _> = segments.with_engine(|e| e.definitions().clone());
        let schema = target.schema();
        let mut queries = Vec::with_capacity(definitions.len());
        for (name, condition) in &definitions {
            match seglab_clickhouse::compile(condition, &definitions, &schema) {
                Ok(q) => queries.push((name.clone(), versions.get(name).copied().unwrap_or(0), q)),
                Err(e) => {
                    tracing::warn!(segment = %name, error = %e, "segment not evaluated in the warehouse");
                }
            }
        }
        Saved {
            queries,
            defined: definitions.into_keys().collect(),
        }
    }

    async fn members(
        &self,
        target: &Target,
        now: i64,
        events_from: Option<i64>,
    ) -> Result<Vec<Evaluated>, Error> {
        let client = target.entry();
        let mut out = Vec::with_capacity(self.queries.len());
        for (name, version, query) in &self.queries {
            let query = query.clone().events_from(events_from);
            out.push(Evaluated {
                name: name.clone(),
                version: *version,
                members: client.members(&query, now).await?,
            });
        }
        Ok(out)
    }
}
