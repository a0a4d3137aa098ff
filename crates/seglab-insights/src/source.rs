//! Where insights read members and history from: the live engine and
//! `live.db` in a server, an engine evaluation on the command line.

use std::collections::BTreeMap;

use roaring::RoaringTreemap;
use seglab_lang::ast::Condition;
use seglab_live::{Day, Entries, Live, LiveDb, Pool, Runner};
use seglab_segments::Segments;

use crate::{Error, Result};

/// The members of each segment now, as person ids.
pub trait Membership {
    /// The members of `segment` (`None`: no such segment).
    fn members(&self, segment: &str) -> Result<Option<RoaringTreemap>>;
}

/// What was recorded about segments in the past.
pub trait History {
    /// Per UTC day from the day of `from` to the day of `to`: entered, exited
    /// and size (`None`: nothing recorded for the segment).
    fn daily(&self, segment: &str, from: i64, to: i64) -> Result<Option<Vec<Day>>>;

    /// Entries from `from` to `to` (inclusive): all of them, and those caused
    /// by what people did or by time passing rather than by a created or
    /// edited definition (`None`: nothing recorded for the segment).
    fn entries(&self, segment: &str, from: i64, to: i64) -> Result<Option<Entries>>;
}

/// A recorded answer, with "no such segment" as `None`.
fn recorded<T>(r: seglab_live::Result<T>) -> Result<Option<T>> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(seglab_live::Error::NotFound(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

impl History for LiveDb {
    fn daily(&self, segment: &str, from: i64, to: i64) -> Result<Option<Vec<Day>>> {
        recorded(LiveDb::daily(self, segment, from, to))
    }

    fn entries(&self, segment: &str, from: i64, to: i64) -> Result<Option<Entries>> {
        recorded(LiveDb::entries(self, segment, from, to))
    }
}

impl History for Pool {
    fn daily(&self, segment: &str, from: i64, to: i64) -> Result<Option<Vec<Day>>> {
        recorded(self.with(|db| db.daily(segment, from, to)))
    }

    fn entries(&self, segment: &str, from: i64, to: i64) -> Result<Option<Entries>> {
        recorded(self.with(|db| db.entries(segment, from, to)))
    }
}

/// No history at all (a store `seglab serve` never ran on).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoHistory;

impl History for NoHistory {
    fn daily(&self, _: &str, _: i64, _: i64) -> Result<Option<Vec<Day>>> {
        Ok(None)
    }

    fn entries(&self, _: &str, _: i64, _: i64) -> Result<Option<Entries>> {
        Ok(None)
    }
}

impl Membership for Live {
    fn members(&self, segment: &str) -> Result<Option<RoaringTreemap>> {
        Ok(Live::members(self, segment).cloned())
    }
}

impl Membership for Runner {
    fn members(&self, segment: &str) -> Result<Option<RoaringTreemap>> {
        Ok(self.with_live(|live| live.members(segment).cloned()))
    }
}

/// Members evaluated by the engine at one instant, by segment name.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Evaluated {
    members: BTreeMap<String, RoaringTreemap>,
}

impl Evaluated {
    /// Every saved segment at `now`.
    pub fn saved(segments: &Segments, now: i64) -> Result<Evaluated> {
        Evaluated::with(segments, &[], now)
    }

    /// Every saved segment and the definitions `extra` (which replace saved
    /// ones of the same name and may refer to each other) at `now`.
    pub fn with(segments: &Segments, extra: &[(String, Condition)], now: i64) -> Result<Evaluated> {
        let mut list: Vec<(String, Condition)> = extra.to_vec();
        segments.with_engine(|engine| {
            for (name, c) in engine.definitions() {
                if !extra.iter().any(|(n, _)| n == name) {
                    list.push((name.clone(), c.clone()));
                }
            }
        });
        Evaluated::evaluate(segments, &list, now)
    }

    /// The saved segments `names` at `now` (an unknown name is an error).
    pub fn only(segments: &Segments, names: &[String], now: i64) -> Result<Evaluated> {
        let list = segments.with_engine(|engine| {
            names
                .iter()
                .map(|n| match engine.definitions().get(n) {
                    Some(c) => Ok((n.clone(), c.clone())),
                    None => Err(Error::NotFound(n.clone())),
                })
                .collect::<Result<Vec<_>>>()
        })?;
        Evaluated::evaluate(segments, &list, now)
    }

    fn evaluate(segments: &Segments, list: &[(String, Condition)], now: i64) -> Result<Evaluated> {
        segments.with_engine(|engine| {
            let evaluated = engine
                .evaluate_all(list, now)
                .map_err(|e| Error::Engine(list_names(list), e))?;
            let tl = engine.timelines();
            let members = evaluated
                .into_iter()
                .map(|(name, bitmap)| {
                    let ids = bitmap
                        .iter()
                        .filter_map(|i| tl.external_id(i))
                        .map(|p| p as u64);
                    (name, ids.collect())
                })
                .collect();
            Ok(Evaluated { members })
        })
    }

    /// Members given as they are (person ids by segment name).
    pub fn from_members(members: BTreeMap<String, RoaringTreemap>) -> Evaluated {
        Evaluated { members }
    }

    /// The segments, in name order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.members.keys().map(String::as_str)
    }
}

fn list_names(list: &[(String, Condition)]) -> String {
    let names: Vec<&str> = list.iter().map(|(n, _)| n.as_str()).collect();
    names.join(", ")
}

impl Membership for Evaluated {
    fn members(&self, segment: &str) -> Result<Option<RoaringTreemap>> {
        Ok(self.members.get(segment).cloned())
    }
}

/// Members from `first` where it knows the segment, else from `then`: a
/// fresh evaluation of the segments just written over the live bitmaps of
/// the others.
pub struct Layered<'a> {
    pub first: &'a dyn Membership,
    pub then: &'a dyn Membership,
}

impl Membership for Layered<'_> {
    fn members(&self, segment: &str) -> Result<Option<RoaringTreemap>> {
        match self.first.members(segment)? {
            Some(m) => Ok(Some(m)),
            None => self.then.members(segment),
        }
    }
}
