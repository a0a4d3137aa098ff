//! Memberships computed in the warehouse: every saved segment evaluated at
//! one instant, handed to the live state to record.

use std::collections::{BTreeMap, BTreeSet};

use seglab_live::{Evaluated, Runner, Stepped};
use seglab_segments::Segments;

use crate::{Error, Target};

/// Every saved segment's members at `now` from the warehouse, recorded by
/// `runner` (entries and exits, cause `warehouse`). A segment the SQL
/// refuses (a cycle, an unknown segment: the engine refuses it too) is
/// skipped with a warning and keeps its recorded members.
pub async fn evaluate(
    segments: &Segments,
    runner: &Runner,
    target: &Target,
    now: i64,
) -> Result<Stepped, Error> {
    // Versions first: a definition saved in between is evaluated again at
    // the next tick (its version then differs from the one recorded).
    let versions = segments.definition_versions();
    let definitions: BTreeMap<_, _> = segments.with_engine(|e| e.definitions().clone());
    let schema = target.schema();
    let client = target.entry();
    let mut evaluated = Vec::with_capacity(definitions.len());
    for (name, condition) in &definitions {
        let query = match seglab_clickhouse::compile(condition, &definitions, &schema) {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(segment = %name, error = %e, "segment not evaluated in the warehouse");
                continue;
            }
        };
        let members = client.members(&query, now).await?;
        evaluated.push(Evaluated {
            name: name.clone(),
            version: versions.get(name).copied().unwrap_or(0),
            members,
        });
    }
    let defined: BTreeSet<String> = definitions.into_keys().collect();
    Ok(runner.record_members(&evaluated, &defined, now)?)
}
