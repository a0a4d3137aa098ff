//! Passes over everyone, beside the per-person steps of [`super::Live`]:
//! every person evaluated again when definitions change, and the RFM
//! segments run again when orders move the quintiles.

use rayon::prelude::*;
use roaring::RoaringTreemap;
use seglab_engine::Engine;
use seglab_store::PersonId;

use super::{Batch, Live, Pending};
use crate::eval::{PersonEval, Prepared};
use crate::{Cause, Result};

impl Live {
    /// Evaluates every person (in parallel), records the differences and
    /// resets every timer.
    pub(super) fn evaluate_everyone(
        &mut self,
        engine: &Engine,
        now: i64,
        redefined: &[usize],
        pending: &mut Batch,
    ) -> Result<()> {
        let fresh = self.clock == i64::MIN;
        let prepared = self.prepared()?;
        // Per segment: `definition` where the definition changed; elsewhere
        // what else moves an answer without an event of the person.
        let causes: Vec<Cause> = (0..self.segs.len())
            .map(|i| {
                let rfm = self
                    .slots
                    .iter()
                    .position(|&s| s == i)
                    .is_some_and(|k| prepared.uses_rfm(k));
                if fresh || redefined.contains(&i) {
                    Cause::Definition
                } else if rfm {
                    Cause::Rfm
                } else {
                    Cause::Time
                }
            })
            .collect();
        let people: Vec<i64> = engine.timelines().people().map(|(_, id)| id).collect();
        let evals: Vec<Result<PersonEval>> = people
            .par_iter()
            .map(|&p| prepared.person(engine, p, now))
            .collect();
        let mut seen: Vec<RoaringTreemap> = vec![RoaringTreemap::new(); self.segs.len()];
        let mut next: Vec<(i64, Option<i64>)> = Vec::with_capacity(people.len());
        for (&person, eval) in people.iter().zip(evals) {
            let eval = eval?;
            for (k, &m) in eval.members.iter().enumerate() {
                if m {
                    seen[self.slots[k]].insert(person as u64);
                }
            }
            self.diff(person, &eval, now, &|i| causes[i], None, false, pending);
            next.push((person, eval.next));
        }
        // Members that no longer have a timeline of their own (merged away).
        for (i, s) in self.segs.iter().enumerate() {
            for gone in &s.members - &seen[i] {
                if pending.latest(i, gone as i64).unwrap_or(true) {
                    pending.push(Pending {
                        seg: i,
                        person: gone as i64,
                        entered: false,
                        at: now,
                        cause: Cause::Merge,
                        event_seq: None,
                        historical: false,
                    });
                }
            }
        }
        for person in self.due.keys().copied().collect::<Vec<_>>() {
            self.unschedule(person);
        }
        for (person, due) in next {
            self.schedule(person, due);
        }
        Ok(())
    }

    pub(super) fn rfm_due(&self, now: i64) -> bool {
        self.orders_since_rfm
            && self
                .prepared
                .as_ref()
                .is_some_and(|p| (0..p.names().len()).any(|i| p.uses_rfm(i)))
            && now.saturating_sub(self.last_rfm) >= self.rfm_every
    }

    /// Re-evaluates the segments that use RFM scores for everyone.
    pub(super) fn evaluate_rfm(
        &mut self,
        engine: &Engine,
        now: i64,
        pending: &mut Batch,
    ) -> Result<()> {
        self.last_rfm = now;
        self.orders_since_rfm = false;
        // A new basis: everyone's orders as of now.
        self.prepared = Some(Prepared::new(engine, now)?);
        let prepared = self.prepared()?;
        let list: Vec<(String, seglab_lang::ast::Condition)> = (0..prepared.names().len())
            .filter(|&i| prepared.uses_rfm(i))
            .map(|i| {
                let n = &prepared.names()[i];
                (n.clone(), engine.definitions()[n].clone())
            })
            .collect();
        let results = engine.evaluate_all(&list, now)?;
        for (name, bitmap) in results {
            let Some(&i) = self.by_name.get(name.as_str()) else {
                continue;
            };
            let mut now_in = RoaringTreemap::new();
            for idx in bitmap {
                if let Some(id) = engine.timelines().external_id(idx) {
                    now_in.insert(id as u64);
                }
            }
            // Against the latest answer of this step, not only the recorded one.
            let mut candidates = &now_in | &self.segs[i].members;
            for &(seg, person) in pending.latest.keys() {
                if seg == i {
                    candidates.insert(person as u64);
                }
            }
            for person in candidates {
                let person = person as i64;
                let was_in = pending
                    .latest(i, person)
                    .unwrap_or_else(|| self.segs[i].members.contains(person as u64));
                let is_in = now_in.contains(person as u64);
                if was_in != is_in {
                    pending.push(Pending {
                        seg: i,
                        person,
                        entered: is_in,
                        at: now,
                        cause: Cause::Rfm,
                        event_seq: None,
                        historical: false,
                    });
                }
            }
        }
        Ok(())
    }

    /// Queues the differences between a person's answers and their memberships
    /// (taking changes already queued in this step into account); `cause`
    /// names the cause per segment.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn diff(
        &self,
        person: PersonId,
        eval: &PersonEval,
        at: i64,
        cause: &dyn Fn(usize) -> Cause,
        event_seq: Option<i64>,
        historical: bool,
        pending: &mut Batch,
    ) {
        for (k, &is_in) in eval.members.iter().enumerate() {
            let seg = self.slots[k];
            let was_in = pending
                .latest(seg, person)
                .unwrap_or_else(|| self.segs[seg].members.contains(person as u64));
            if was_in != is_in {
                pending.push(Pending {
                    seg,
                    person,
                    entered: is_in,
                    at,
                    cause: cause(seg),
                    event_seq,
                    historical,
                });
            }
        }
    }
}
