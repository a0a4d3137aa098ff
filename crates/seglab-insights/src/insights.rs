//! [`Insights`]: the questions, answered from the sources.

use std::collections::{BTreeMap, BTreeSet};

use roaring::RoaringTreemap;
use seglab_lang::ast::Condition;
use seglab_segments::Segments;

use crate::facts::Facts;
use crate::families::{Families, families};
use crate::guardrails::{
    self, ENTRY_RATE_DAYS, Guardrail, SizeFacts, Thresholds, Untracked, ValueFacts,
};
use crate::overlap::{Overlap, overlap};
use crate::rfm::{RfmGrid, grid};
use crate::segment::{Inputs, SegmentInsights, build};
use crate::{DAY, Error, History, MAX_DAYS, Membership, Result};

/// Insights over a store's timelines, the members of its segments and their
/// recorded history.
pub struct Insights<'a> {
    segments: &'a Segments,
    members: &'a dyn Membership,
    history: &'a dyn History,
    /// Definitions that replace or add to the saved ones (a file being
    /// checked).
    definitions: BTreeMap<String, Condition>,
}

impl<'a> Insights<'a> {
    pub fn new(
        segments: &'a Segments,
        members: &'a dyn Membership,
        history: &'a dyn History,
    ) -> Insights<'a> {
        Insights {
            segments,
            members,
            history,
            definitions: BTreeMap::new(),
        }
    }

    /// With definitions not saved yet (or changed), for the event checks of
    /// [`Insights::guardrails`]; `members` must hold their members.
    pub fn with_definitions(
        mut self,
        definitions: impl IntoIterator<Item = (String, Condition)>,
    ) -> Self {
        self.definitions.extend(definitions);
        self
    }

    /// Every segment: the saved ones and those given to
    /// [`Insights::with_definitions`], in name order.
    pub fn names(&self) -> Vec<String> {
        let mut names: BTreeSet<String> = self
            .segments
            .with_engine(|e| e.definitions().keys().cloned().collect());
        names.extend(self.definitions.keys().cloned());
        names.into_iter().collect()
    }

    fn definition(&self, name: &str) -> Option<Condition> {
        self.definitions.get(name).cloned().or_else(|| {
            self.segments
                .with_engine(|e| e.definitions().get(name).cloned())
        })
    }

    fn members_of(&self, name: &str) -> Result<RoaringTreemap> {
        self.members
            .members(name)?
            .ok_or_else(|| Error::NotFound(name.to_owned()))
    }

    /// Members of each of `names` (all segments when empty), in that order.
    fn sets(&self, names: &[String]) -> Result<Vec<(String, RoaringTreemap)>> {
        let names = if names.is_empty() {
            self.names()
        } else {
            names.to_vec()
        };
        let mut seen = BTreeSet::new();
        names
            .into_iter()
            .map(|n| {
                if !seen.insert(n.clone()) {
                    return Err(Error::Invalid(format!("segment {n:?} is named twice")));
                }
                let m = self.members_of(&n)?;
                Ok((n, m))
            })
            .collect()
    }

    /// One segment at `now`, with a series of its last `days` UTC days
    /// (1 to [`MAX_DAYS`]).
    pub fn segment(&self, name: &str, now: i64, days: u32) -> Result<SegmentInsights> {
        if !(1..=MAX_DAYS).contains(&days) {
            return Err(Error::Invalid(format!(
                "days must be from 1 to {MAX_DAYS}, not {days}"
            )));
        }
        let members = self.members_of(name)?;
        let first_day = now.div_euclid(DAY) * DAY - i64::from(days - 1) * DAY;
        let recorded = self.history.daily(name, first_day, now)?;
        let (facts, first_seen) = self.segments.with_engine(|e| {
            let mut first = e.timelines().first_seen_times();
            first.sort_unstable();
            (Facts::gather(e, now), first)
        });
        Ok(build(Inputs {
            name,
            at: now,
            members: &members,
            facts: &facts,
            days: recorded,
            first_day,
            first_seen: &first_seen,
        }))
    }

    /// The RFM grid of everyone at `now`.
    pub fn rfm_grid(&self, now: i64) -> RfmGrid {
        self.segments.with_engine(|e| grid(e, now))
    }

    /// The overlap of `names` (every segment when empty), in that order.
    pub fn overlap(&self, names: &[String]) -> Result<Overlap> {
        Ok(overlap(&self.sets(names)?))
    }

    /// `names` as a family in priority order: each person in the first that
    /// holds them.
    pub fn families(&self, names: &[String]) -> Result<Families> {
        if names.is_empty() {
            return Err(Error::Invalid(
                "name the segments of the family, in priority order".into(),
            ));
        }
        Ok(families(&self.sets(names)?, self.segments.people()))
    }

    /// The guardrail warnings of `names` (every segment when empty) at
    /// `now`, segment by segment in the order asked, each segment's by kind.
    pub fn guardrails(&self, names: &[String], now: i64, t: &Thresholds) -> Result<Vec<Guardrail>> {
        t.validate()?;
        let all = self.sets(&[])?;
        let checked: Vec<String> = if names.is_empty() {
            all.iter().map(|(n, _)| n.clone()).collect()
        } else {
            for n in names {
                if !all.iter().any(|(m, _)| m == n) {
                    return Err(Error::NotFound(n.clone()));
                }
            }
            names.to_vec()
        };
        let facts = self.segments.with_engine(|e| Facts::gather(e, now));
        let untracked = self.untracked_events(&checked, now, t.stale_days)?;
        // Only the rows of the checked segments are needed, but the matrix
        // of every segment is cheap.
        let matrix = overlap(&all);
        let mut near = guardrails::near_duplicates(&matrix, &checked, t);
        let recent_buyers = facts.ordered_since(now - i64::from(t.weeks) * 7 * DAY);
        let stale_from = now.div_euclid(DAY) * DAY - i64::from(t.stale_days - 1) * DAY;
        let mut out = Vec::new();
        for name in &checked {
            let Some((_, members)) = all.iter().find(|(n, _)| n == name) else {
                continue;
            };
            let size = members.len();
            let entries =
                self.history
                    .entries(name, now - i64::from(ENTRY_RATE_DAYS) * DAY, now)?;
            let size_facts = SizeFacts {
                size,
                converted: members.intersection_len(&recent_buyers),
                entries: entries.map(|e| e.behavioral),
            };
            out.extend(guardrails::too_small(name, &size_facts, t));
            out.extend(near.extract_if(.., |g| &g.segment == name));
            let recent_entries = self.history.entries(name, stale_from, now)?.map(|e| e.all);
            let events = untracked.get(name).map(Vec::as_slice).unwrap_or(&[]);
            out.extend(guardrails::stale(name, recent_entries, events, t));
            let value = ValueFacts {
                size,
                people: facts.people,
                revenue: facts.totals(members).revenue,
                total_revenue: facts.total.revenue,
            };
            out.extend(guardrails::small_but_valuable(name, &value, t));
        }
        Ok(out)
    }

    /// Per segment of `names`, the events its definition uses that were not
    /// tracked in the last `days` days (one engine pass for all of them).
    fn untracked_events(
        &self,
        names: &[String],
        now: i64,
        days: u32,
    ) -> Result<BTreeMap<String, Vec<Untracked>>> {
        let used: BTreeMap<String, BTreeSet<String>> = names
            .iter()
            .filter_map(|n| Some((n.clone(), guardrails::events_used(&self.definition(n)?))))
            .collect();
        let events: BTreeSet<String> = used.values().flatten().cloned().collect();
        let since = now - i64::from(days) * DAY;
        // Per event not done lately, whether it was ever done.
        let quiet: BTreeMap<String, bool> = self.segments.with_engine(|e| {
            events
                .iter()
                .filter_map(|name| match e.timelines().last_time_of(name, now) {
                    Some(t) if t >= since => None,
                    last => Some((name.clone(), last.is_some())),
                })
                .collect()
        });
        Ok(used
            .into_iter()
            .map(|(name, events)| {
                let list = events
                    .iter()
                    .filter_map(|e| {
                        quiet.get(e).map(|&ever| Untracked {
                            event: e.clone(),
                            ever,
                        })
                    })
                    .collect();
                (name, list)
            })
            .collect())
    }
}
