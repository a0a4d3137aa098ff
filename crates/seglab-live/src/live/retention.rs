//! Event retention (ADR 0016): after the engine dropped the events before a
//! cutoff, the people who lost some are evaluated again.

use rayon::prelude::*;
use seglab_segments::Segments;
use seglab_store::PersonId;

use super::{Batch, Live, Position, Stepped};
use crate::eval::PersonEval;
use crate::{Cause, Result};

impl Live {
    /// Evaluates `persons` again at `now` (the engine has just dropped some
    /// of their events) and records their entries and exits with cause
    /// `retention`. RFM segments are evaluated again at the next step (the
    /// quintiles moved with the orders that went). Call it right after a
    /// step, with the live thread held.
    pub fn expired(
        &mut self,
        segments: &Segments,
        persons: &[PersonId],
        now: i64,
    ) -> Result<Stepped> {
        if self.mode == super::Mode::Warehouse {
            // Memberships are the warehouse's to record.
            return Ok(Stepped::default());
        }
        let now = now.max(self.clock);
        let mut pending = Batch::default();
        let evaluated = segments.with_engine(|engine| -> Result<()> {
            let evals: Vec<Result<PersonEval>> = {
                let prepared = self.prepared()?;
                persons
                    .par_iter()
                    .map(|&p| prepared.person(engine, p, now))
                    .collect()
            };
            for (&person, eval) in persons.iter().zip(evals) {
                let eval = eval?;
                self.diff(
                    person,
                    &eval,
                    now,
                    &|_| Cause::Retention,
                    None,
                    false,
                    &mut pending,
                );
                self.schedule(person, eval.next);
            }
            Ok(())
        });
        let out = Stepped {
            people: persons.len(),
            timers: 0,
            changes: pending.list.len(),
            entered: pending.list.iter().filter(|p| p.entered).count(),
        };
        let recorded = evaluated.and_then(|()| {
            self.record(
                pending.list,
                Position {
                    clock: now,
                    last_seq: self.last_seq,
                    last_merge: self.last_merge,
                },
            )
        });
        if let Err(e) = recorded {
            // Memory returns to what live.db holds; the next pass finds the
            // same people again (their events are still to be dropped).
            self.reset()?;
            return Err(e);
        }
        self.orders_since_rfm = true;
        Ok(out)
    }
}
