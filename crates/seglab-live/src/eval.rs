//! Per-person evaluation of every defined segment, and the next instant a
//! person's answers can change without new events.

use seglab_engine::Engine;

use crate::Result;

/// One person's answers at one instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PersonEval {
    /// Per segment (in [`Prepared::names`] order), whether the person is in it.
    pub(crate) members: Vec<bool>,
    /// The earliest instant after `now` at which an answer can change without
    /// new events.
    pub(crate) next: Option<i64>,
}

/// The defined segments, ready for per-person evaluation.
pub(crate) struct Prepared {
    names: Vec<String>,
    uses_rfm: Vec<bool>,
}

impl Prepared {
    pub(crate) fn new(engine: &Engine) -> Result<Prepared> {
        let names: Vec<String> = engine.definitions().keys().cloned().collect();
        let uses_rfm = names.iter().map(|_| false).collect();
        Ok(Prepared { names, uses_rfm })
    }

    /// Segment names, in name order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether segment `i` depends on RFM scores (which move with everyone's
    /// orders, so they are also re-evaluated in batch from time to time).
    pub(crate) fn uses_rfm(&self, i: usize) -> bool {
        self.uses_rfm[i]
    }

    /// Whether the definitions or timelines moved on in a way that needs a
    /// new [`Prepared`].
    pub(crate) fn is_stale(&self, engine: &Engine) -> bool {
        !engine.definitions().keys().eq(self.names.iter())
    }

    pub(crate) fn person(&self, engine: &Engine, person: i64, now: i64) -> Result<PersonEval> {
        let mut members = Vec::with_capacity(self.names.len());
        for name in &self.names {
            let condition = &engine.definitions()[name];
            members.push(engine.holds(person, condition, now)?);
        }
        Ok(PersonEval {
            members,
            next: None,
        })
    }
}
