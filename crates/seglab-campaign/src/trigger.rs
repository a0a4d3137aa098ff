//! Triggers fire into the ledger: entries into a campaign's segment (read
//! from `live.db` after the ledger's own cursor) and broadcasts at their
//! instants. Each writes `scheduled` rows and moves its cursor in one
//! transaction, so a restart neither loses nor repeats a trigger.

use std::collections::HashMap;

use seglab_live::{ChangeFilter, LiveDb};

use crate::Result;
use crate::db::{CampaignDb, NewSend, StoredCampaign};
use crate::def::{Reentry, Trigger};
use crate::members::Membership;

/// The ledger's position in `live.db`'s changes.
pub(crate) const LIVE_CURSOR: &str = "live_change";

/// Membership changes read per round.
const CHANGES_PER_ROUND: usize = 20_000;

/// Where a fresh ledger starts following `live.db`: after what is recorded
/// already (entries before campaigns existed trigger nothing).
///
/// A ledger that read further than `live.db` holds follows a file that was
/// rebuilt after damage (see `seglab_live::db`): new changes are numbered
/// after what the ledger read, so none is skipped and no trigger instance
/// (`entry:<change>`) repeats an old one. The rebuilt file's own changes are
/// first populations, which trigger nothing.
pub(crate) fn start_cursor(db: &mut CampaignDb, live: &LiveDb) -> Result<()> {
    let last = live.last_change_id()?;
    match db.get_state(LIVE_CURSOR)? {
        None => db.atomically(|tx| tx.set_state(LIVE_CURSOR, last))?,
        Some(cursor) if cursor > last => {
            if live.raise_change_floor(cursor)? {
                tracing::warn!(
                    ledger_read = cursor,
                    live_last = last,
                    "live.db holds fewer membership changes than the campaign ledger read \
                     (it was rebuilt): its new changes are numbered after the ledger's"
                );
            }
        }
        Some(_) => {}
    }
    Ok(())
}

/// The ledger instance of an entry by change `change`.
pub(crate) fn entry_instance(reentry: Reentry, change: i64) -> String {
    match reentry {
        Reentry::Once => "once".to_owned(),
        Reentry::EveryEntry | Reentry::AtMostEvery(_) => format!("entry:{change}"),
    }
}

/// Schedules a send per entry into an entry campaign's segment, for the
/// changes after the cursor; returns the rows written and whether more
/// changes wait.
pub(crate) fn ingest_entries(
    db: &mut CampaignDb,
    live: &LiveDb,
    campaigns: &[StoredCampaign],
    now: i64,
) -> Result<(usize, bool)> {
    let cursor = db.get_state(LIVE_CURSOR)?.unwrap_or(0);
    let changes = live.changes(&ChangeFilter {
        after: cursor,
        limit: CHANGES_PER_ROUND,
        ..ChangeFilter::default()
    })?;
    let Some(last) = changes.last().map(|c| c.id) else {
        return Ok((0, false));
    };
    let mut by_segment: HashMap<&str, Vec<&StoredCampaign>> = HashMap::new();
    for c in campaigns {
        if matches!(c.def.trigger, Trigger::Entry { .. }) {
            by_segment
                .entry(c.def.segment.as_str())
                .or_default()
                .push(c);
        }
    }
    let written = db.atomically(|tx| {
        let mut written = 0;
        for change in &changes {
            // Entries by behavior only: never the first population of a new
            // segment, an edit, or imported history.
            if !change.entered || !change.cause.delivered() || change.historical {
                continue;
            }
            for c in by_segment
                .get(change.segment.as_str())
                .into_iter()
                .flatten()
            {
                let Trigger::Entry {
                    delay_ms, reentry, ..
                } = c.def.trigger
                else {
                    continue;
                };
                let send = NewSend {
                    campaign: c.name.clone(),
                    version: c.version,
                    person: change.person,
                    instance: entry_instance(reentry, change.id),
                    channel: c.def.channel.kind(),
                    due_at: change.at.saturating_add(delay_ms),
                };
                written += usize::from(tx.insert_send(&send, now)?);
            }
        }
        tx.set_state(LIVE_CURSOR, last)?;
        Ok(written)
    })?;
    Ok((written, changes.len() == CHANGES_PER_ROUND))
}

/// The instant after `at` a schedule runs next, past `now` (missed runs of a
/// recurring schedule are not made up: the latest one is sent).
fn next_run(at: i64, every: Option<i64>, now: i64) -> Option<i64> {
    let every = every.filter(|&e| e > 0)?;
    let behind = now.saturating_sub(at).max(0) / every + 1;
    Some(at.saturating_add(behind.saturating_mul(every)))
}

/// Schedules a send to every member of each broadcast whose instant has come;
/// returns the rows written.
pub(crate) fn expand_schedules(
    db: &mut CampaignDb,
    campaigns: &[StoredCampaign],
    members: &dyn Membership,
    now: i64,
) -> Result<usize> {
    let mut written = 0;
    for c in campaigns {
        let (Trigger::Schedule { every_ms, .. }, Some(run)) = (&c.def.trigger, c.next_run) else {
            continue;
        };
        if run > now {
            continue;
        }
        let audience = members.members(&c.def.segment).unwrap_or_default();
        written += db.atomically(|tx| {
            let mut n = 0;
            for person in audience.iter() {
                let send = NewSend {
                    campaign: c.name.clone(),
                    version: c.version,
                    person: person as i64,
                    instance: format!("schedule:{run}"),
                    channel: c.def.channel.kind(),
                    due_at: run,
                };
                n += usize::from(tx.insert_send(&send, now)?);
            }
            tx.set_next_run(&c.name, next_run(run, *every_ms, now))?;
            Ok(n)
        })?;
    }
    Ok(written)
}

/// The next instant a broadcast is due, if any.
pub(crate) fn next_schedule(campaigns: &[StoredCampaign]) -> Option<i64> {
    campaigns.iter().filter_map(|c| c.next_run).min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recurring_schedules_skip_missed_runs() {
        const DAY: i64 = 86_400_000;
        assert_eq!(next_run(0, None, 10), None);
        assert_eq!(next_run(0, Some(DAY), 0), Some(DAY));
        assert_eq!(next_run(0, Some(DAY), DAY - 1), Some(DAY));
        assert_eq!(next_run(0, Some(DAY), 3 * DAY + 5), Some(4 * DAY));
        assert_eq!(next_run(0, Some(0), 5), None);
    }

    #[test]
    fn a_ledger_past_a_rebuilt_live_db_numbers_its_new_changes_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut db = CampaignDb::open(dir.path()).unwrap();
        let live = LiveDb::open(dir.path()).unwrap();
        start_cursor(&mut db, &live).unwrap();
        assert_eq!(db.get_state(LIVE_CURSOR).unwrap(), Some(0));
        // The ledger read up to change 50 of a file that was then replaced.
        db.atomically(|tx| tx.set_state(LIVE_CURSOR, 50)).unwrap();
        start_cursor(&mut db, &live).unwrap();
        assert_eq!(db.get_state(LIVE_CURSOR).unwrap(), Some(50), "kept");
        assert!(
            !live.raise_change_floor(50).unwrap(),
            "raised to 50 already"
        );
        assert!(live.raise_change_floor(51).unwrap());
    }

    #[test]
    fn once_campaigns_have_one_instance_per_person() {
        assert_eq!(entry_instance(Reentry::Once, 7), "once");
        assert_eq!(entry_instance(Reentry::EveryEntry, 7), "entry:7");
        assert_eq!(entry_instance(Reentry::AtMostEvery(5), 8), "entry:8");
    }
}
