//! Per-person evaluation of every defined segment, and the next instant a
//! person's answers can change without new events (the engine's live set).

use seglab_engine::{Engine, LiveSet};

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
    set: LiveSet,
}

impl Prepared {
    /// Built at `now` (the RFM basis describes that instant).
    pub(crate) fn new(engine: &Engine, now: i64) -> Result<Prepared> {
        Ok(Prepared {
            set: engine.live_set(now)?,
        })
    }

    /// Segment names, in name order.
    pub(crate) fn names(&self) -> &[String] {
        self.set.segments()
    }

    /// Whether segment `i` depends on RFM scores (which move with everyone's
    /// orders, so they are also re-evaluated in batch from time to time).
    pub(crate) fn uses_rfm(&self, i: usize) -> bool {
        self.set.uses_rfm(i)
    }

    /// Whether the definitions or timelines moved on in a way that needs a
    /// new [`Prepared`].
    pub(crate) fn is_stale(&self, engine: &Engine) -> bool {
        self.set.is_stale(engine)
    }

    pub(crate) fn person(&self, engine: &Engine, person: i64, now: i64) -> Result<PersonEval> {
        let e = self.set.evaluate_person(engine, person, now)?;
        Ok(PersonEval {
            members: (0..self.names().len())
                .map(|i| e.holds.contains(i))
                .collect(),
            next: e.next_change,
        })
    }
}
