//! Questions about the past, answered from the recorded changes: size and
//! daily entries and exits of a segment, a person's membership timeline, and
//! membership as of any instant.

use std::collections::BTreeMap;

use roaring::RoaringTreemap;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::LiveDb;
use crate::{Change, Error, Result};

const DAY: i64 = 86_400_000;

/// One UTC day of a segment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    pub entered: u64,
    pub exited: u64,
    /// Members at the end of the day.
    pub size: u64,
}

/// Entries into a segment over a range of time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Entries {
    /// Every entry.
    pub all: u64,
    /// Entries caused by what people did or by time passing (events, time,
    /// merges, RFM, start), leaving out the population a created or edited
    /// definition brought in: the rate at which new people arrive.
    pub behavioral: u64,
}

/// Which changes to list.
#[derive(Debug, Clone, Default)]
pub struct ChangeFilter {
    pub segment: Option<String>,
    pub person: Option<i64>,
    /// Only changes with a larger id (for paging and following).
    pub after: i64,
    pub limit: usize,
}

impl LiveDb {
    /// The id of the newest change recorded (0: none yet).
    pub fn last_change_id(&self) -> Result<i64> {
        Ok(self
            .conn
            .query_row("SELECT coalesce(max(id), 0) FROM changes", [], |r| r.get(0))?)
    }

    /// The id of a segment in `live.db` (deleted ones included: their history
    /// stays).
    fn segment_id(&self, name: &str) -> Result<i64> {
        self.conn
            .query_row("SELECT id FROM segments WHERE name = ?1", [name], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| Error::NotFound(name.to_owned()))
    }

    /// Per UTC day from the day of `from` to the day of `to` (inclusive): people
    /// who entered, who exited, and the size at the end of the day. Days before the
    /// segment existed have size 0.
    pub fn daily(&self, segment: &str, from: i64, to: i64) -> Result<Vec<Day>> {
        if to < from {
            return Err(Error::Invalid("`to` is before `from`".into()));
        }
        if (to - from) / DAY > 3660 {
            return Err(Error::Invalid("at most 10 years of days at once".into()));
        }
        let id = self.segment_id(segment)?;
        let (first_day, last_day) = (from.div_euclid(DAY), to.div_euclid(DAY));
        // Size at the start of the range: everything before it.
        let mut size: i64 = self.conn.query_row(
            "SELECT coalesce(sum(CASE WHEN entered THEN 1 ELSE -1 END), 0)
             FROM changes WHERE segment = ?1 AND at < ?2",
            params![id, first_day * DAY],
            |r| r.get(0),
        )?;
        let mut counts: BTreeMap<i64, (u64, u64)> = BTreeMap::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT at / 86400000 - (at < 0 AND at % 86400000 != 0), sum(entered), sum(1 - entered)
             FROM changes WHERE segment = ?1 AND at >= ?2 AND at < ?3 GROUP BY 1",
        )?;
        let mut rows = stmt.query(params![id, first_day * DAY, (last_day + 1) * DAY])?;
        while let Some(r) = rows.next()? {
            counts.insert(r.get(0)?, (r.get(1)?, r.get(2)?));
        }
        let mut out = Vec::new();
        for day in first_day..=last_day {
            let (entered, exited) = counts.get(&day).copied().unwrap_or((0, 0));
            size += entered as i64 - exited as i64;
            out.push(Day {
                day: seglab_event::time::format_timestamp(day * DAY)[..10].to_owned(),
                entered,
                exited,
                size: size.max(0) as u64,
            });
        }
        Ok(out)
    }

    /// Entries into `segment` recorded from `from` to `to` (inclusive).
    pub fn entries(&self, segment: &str, from: i64, to: i64) -> Result<Entries> {
        let id = self.segment_id(segment)?;
        let (all, behavioral): (i64, Option<i64>) = self.conn.query_row(
            "SELECT count(*), sum(cause != 'definition') FROM changes
             WHERE segment = ?1 AND at >= ?2 AND at <= ?3 AND entered",
            params![id, from, to],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok(Entries {
            all: all as u64,
            behavioral: behavioral.unwrap_or(0) as u64,
        })
    }

    /// Recorded changes, oldest first.
    pub fn changes(&self, filter: &ChangeFilter) -> Result<Vec<Change>> {
        let segment = filter
            .segment
            .as_deref()
            .map(|s| self.segment_id(s))
            .transpose()?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT c.id, s.name, c.person, c.entered, c.at, c.cause, c.event_seq, c.historical
             FROM changes c JOIN segments s ON s.id = c.segment
             WHERE c.id > ?1 AND (?2 IS NULL OR c.segment = ?2) AND (?3 IS NULL OR c.person = ?3)
             ORDER BY c.id LIMIT ?4",
        )?;
        let rows = stmt
            .query_map(
                params![
                    filter.after,
                    segment,
                    filter.person,
                    filter.limit.min(10_000) as i64
                ],
                |r| {
                    Ok(Change {
                        id: r.get(0)?,
                        segment: r.get(1)?,
                        person: r.get(2)?,
                        entered: r.get(3)?,
                        at: r.get(4)?,
                        cause: super::cause(r.get_ref(5)?.as_str()?)?,
                        event_seq: r.get(6)?,
                        historical: r.get(7)?,
                    })
                },
            )?
            .collect::<Result<_, _>>()?;
        Ok(rows)
    }

    /// A person's membership timeline: their changes, oldest first (at most
    /// 1,000).
    pub fn timeline(&self, person: i64) -> Result<Vec<Change>> {
        self.changes(&ChangeFilter {
            person: Some(person),
            limit: 1_000,
            ..ChangeFilter::default()
        })
    }

    /// The members of `segment` at instant `at`, replayed from its changes.
    pub fn members_at(&self, segment: &str, at: i64) -> Result<RoaringTreemap> {
        let id = self.segment_id(segment)?;
        let mut stmt = self.conn.prepare_cached(
            "SELECT person, entered FROM changes WHERE segment = ?1 AND at <= ?2 ORDER BY id",
        )?;
        let mut rows = stmt.query(params![id, at])?;
        let mut members = RoaringTreemap::new();
        while let Some(r) = rows.next()? {
            let person: i64 = r.get(0)?;
            if r.get::<_, bool>(1)? {
                members.insert(person as u64);
            } else {
                members.remove(person as u64);
            }
        }
        Ok(members)
    }

    /// The segments `person` was in at instant `at`, by name.
    pub fn segments_at(&self, person: i64, at: i64) -> Result<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT s.name, c.entered FROM changes c JOIN segments s ON s.id = c.segment
             WHERE c.person = ?1 AND c.at <= ?2 ORDER BY c.id",
        )?;
        let mut rows = stmt.query(params![person, at])?;
        let mut state: BTreeMap<String, bool> = BTreeMap::new();
        while let Some(r) = rows.next()? {
            state.insert(r.get(0)?, r.get(1)?);
        }
        Ok(state
            .into_iter()
            .filter_map(|(name, is_in)| is_in.then_some(name))
            .collect())
    }
}
