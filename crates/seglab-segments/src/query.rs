//! Questions about the timelines at an instant: sizes, previews, members and
//! why a person is in a segment.

use std::collections::HashMap;

use roaring::RoaringBitmap;
use seglab_engine::Engine;
use seglab_lang::ast::Condition;
use seglab_store::{PersonId, Reader};

use crate::{Error, Evaluation, Result, SAMPLE, Segments};

impl Segments {
    fn evaluation(
        &self,
        engine: &Engine,
        name: &str,
        title: Option<String>,
        members: &RoaringBitmap,
    ) -> Evaluation {
        let people = engine.timelines().person_count().max(1) as f64;
        Evaluation {
            name: name.to_owned(),
            title,
            size: members.len(),
            share: members.len() as f64 / people,
            sample: engine.members(members, 0, SAMPLE),
        }
    }

    /// Sizes of saved segments at `now` (all of them when `names` is empty).
    pub fn evaluate(&self, reader: &Reader, names: &[String], now: i64) -> Result<Vec<Evaluation>> {
        let records = reader.segments()?;
        let titles: HashMap<&str, Option<String>> = records
            .iter()
            .map(|r| (r.name.as_str(), r.title.clone()))
            .collect();
        let wanted: Vec<String> = if names.is_empty() {
            records.iter().map(|r| r.name.clone()).collect()
        } else {
            names.to_vec()
        };
        for n in &wanted {
            if !titles.contains_key(n.as_str()) {
                return Err(Error::NotFound(n.clone()));
            }
        }
        let engine = self.engine();
        let list: Vec<(String, Condition)> = wanted
            .iter()
            .map(|n| {
                Ok((
                    n.clone(),
                    engine
                        .definitions()
                        .get(n)
                        .cloned()
                        .ok_or_else(|| Error::NotFound(n.clone()))?,
                ))
            })
            .collect::<Result<_>>()?;
        let results = engine
            .evaluate_all(&list, now)
            .map_err(|e| Error::Engine(wanted.join(", "), e))?;
        Ok(results
            .iter()
            .map(|(name, bitmap)| {
                self.evaluation(
                    &engine,
                    name,
                    titles.get(name.as_str()).cloned().flatten(),
                    bitmap,
                )
            })
            .collect())
    }

    /// Size and a sample of an unsaved condition at `now`.
    pub fn preview(&self, condition: &Condition, now: i64) -> Result<Evaluation> {
        let engine = self.engine();
        let members = engine
            .evaluate(condition, now)
            .map_err(|e| Error::Engine("preview".into(), e))?;
        Ok(self.evaluation(&engine, "preview", None, &members))
    }

    /// A page of a saved segment's members at `now`, and their total.
    pub fn members(
        &self,
        name: &str,
        now: i64,
        offset: usize,
        limit: usize,
    ) -> Result<(u64, Vec<PersonId>)> {
        let engine = self.engine();
        if !engine.definitions().contains_key(name) {
            return Err(Error::NotFound(name.to_owned()));
        }
        let members = engine
            .evaluate_segment(name, now)
            .map_err(|e| Error::Engine(name.to_owned(), e))?;
        Ok((members.len(), engine.members(&members, offset, limit)))
    }

    /// Why `person` (today's id) is in saved segment `name` at `now`, or not:
    /// every condition with its answer and the events that decided it.
    pub fn explain(
        &self,
        person: PersonId,
        name: &str,
        now: i64,
    ) -> Result<seglab_engine::Explanation> {
        let engine = self.engine();
        if !engine.definitions().contains_key(name) {
            return Err(Error::NotFound(name.to_owned()));
        }
        if engine.timelines().index_of(person).is_none() {
            return Err(Error::NoTimeline(person));
        }
        engine
            .explain_segment(person, name, now)
            .map_err(|e| Error::Engine(name.to_owned(), e))
    }
}
