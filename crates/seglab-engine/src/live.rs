//! Real-time membership: every defined segment evaluated for one person at a
//! time, with the next instant at which any answer can change.
//!
//! A [`LiveSet`] is built once from the engine's definitions
//! ([`Engine::live_set`]): conditions are flattened into a forest whose
//! names, predicates and RFM cells are resolved (see `forest`), and the RFM
//! scores of everyone are reduced to a [`RfmBasis`]. Per person,
//! [`LiveSet::evaluate_person`] then
//!
//! 1. evaluates the leaves that read events and traits with the compiled
//!    engine (plans hold absolute times, so they are compiled for each
//!    distinct `now`: the latest compilation is kept and reused while `now`
//!    does not change, which costs tens of microseconds when it does);
//! 2. scores RFM leaves against the basis and reads model outputs;
//! 3. combines the answers through `and`, `or`, `not` and `in segment`, and
//!    computes each segment's horizon from the person's events.
//!
//! A live set stays exact while [`LiveSet::is_stale`] is false: that is, as
//! long as no definition changed and no event name, property path or value
//! that a condition mentions but the timelines had not seen at build time has
//! appeared since. Events, merges and trait changes are read live. RFM scores
//! are the exception: a person's scores are ranked against everyone's values
//! at build time (the basis), so they equal batch evaluation at the build
//! instant and until someone's next order becomes visible
//! ([`RfmBasis`]); segments that read them ([`LiveSet::uses_rfm`]) should
//! also be re-evaluated in batch now and then (and the live set rebuilt).

use std::sync::{Arc, Mutex, PoisonError};

use rayon::prelude::*;
use seglab_lang::ast::Condition;

use crate::compile::Compiler;
use crate::eval::{Env, Evaluator};
use crate::forest::{Forest, PersonView};
use crate::horizon::{At, Facts, NodeResults, to_instant};
use crate::intern::IntMap;
use crate::plan::{Plan, Program};
use crate::rfm::{ORDER_EVENT, REVENUE_PROPERTY, buyer_keys, quintile};
use crate::timeline::{Timelines, name_bit};
use crate::{Engine, EngineError};

/// Everyone's RFM values at one instant, sorted per dimension, so that one
/// person's scores are found by binary search: with `n` buyers and `w` of
/// them strictly worse, the score is `1 + floor(5 * w / n)` (see
/// [`crate::rfm`]).
///
/// A person's current values are ranked against the others' values at build
/// time (the person's own entry, if any, replaced by the current one). Built
/// from the same timelines and evaluated at the same `now`, scores equal
/// batch evaluation exactly; they stay equal at later instants until the next
/// order of anyone becomes visible ([`RfmBasis::next_order`]).
#[derive(Debug)]
pub struct RfmBasis {
    now: i64,
    /// Per dimension, every buyer's key, ascending (see `rfm::buyer_keys`).
    keys: [Vec<u64>; 3],
    /// Each buyer's keys, by person index.
    own: IntMap<u32, [u64; 3]>,
    next_order: Option<i64>,
}

impl RfmBasis {
    /// The basis of the timelines at `now` (one pass over every buyer).
    pub(crate) fn build(tl: &Timelines, now: i64) -> RfmBasis {
        let mut basis = RfmBasis {
            now,
            keys: Default::default(),
            own: IntMap::default(),
            next_order: None,
        };
        let Some(order) = tl.name_id(ORDER_EVENT) else {
            return basis;
        };
        let revenue = tl.dict.keys.get(REVENUE_PROPERTY);
        let buyers: Vec<(u32, Option<[u64; 3]>, Option<i64>)> = (0..tl.persons.len() as u32)
            .into_par_iter()
            .filter(|&i| tl.is_alive(i) && tl.persons[i as usize].names & name_bit(order) != 0)
            .map(|i| {
                let events = tl.events(i);
                let after = events.partition_point(|e| e.ts() <= now);
                let next = events[after..]
                    .iter()
                    .find(|e| e.name() == order)
                    .map(|e| e.ts());
                (i, buyer_keys(tl, i, order, revenue, now), next)
            })
            .collect();
        for (i, keys, next) in buyers {
            if let Some(k) = keys {
                basis.own.insert(i, k);
                for (d, key) in k.into_iter().enumerate() {
                    basis.keys[d].push(key);
                }
            }
            if let Some(t) = next {
                basis.next_order = Some(basis.next_order.map_or(t, |n: i64| n.min(t)));
            }
        }
        for keys in &mut basis.keys {
            keys.sort_unstable();
        }
        basis
    }

    /// The instant the basis describes.
    pub fn now(&self) -> i64 {
        self.now
    }

    /// How many buyers there were.
    pub fn buyers(&self) -> usize {
        self.keys[0].len()
    }

    /// The earliest order of anyone after [`RfmBasis::now`]: from then on,
    /// scores may differ from batch evaluation.
    pub fn next_order(&self) -> Option<i64> {
        self.next_order
    }

    /// The scores `[r, f, m]` of a person index at `now` (`None`: not a buyer).
    pub(crate) fn scores(&self, tl: &Timelines, index: u32, now: i64) -> Option<[u8; 3]> {
        let order = tl.name_id(ORDER_EVENT)?;
        let revenue = tl.dict.keys.get(REVENUE_PROPERTY);
        let mine = buyer_keys(tl, index, order, revenue, now)?;
        let old = self.own.get(&index);
        let n = self.keys[0].len() + usize::from(old.is_none());
        let mut scores = [0u8; 3];
        for d in 0..3 {
            let worse = self.keys[d].partition_point(|&k| k < mine[d])
                - usize::from(old.is_some_and(|o| o[d] < mine[d]));
            scores[d] = quintile(worse, n);
        }
        Some(scores)
    }
}

/// Which segments hold: bit `i` for segment `i` of [`LiveSet::segments`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct SegmentSet {
    words: Vec<u64>,
}

impl SegmentSet {
    fn with_len(n: usize) -> SegmentSet {
        SegmentSet {
            words: vec![0; n.div_ceil(64)],
        }
    }

    fn insert(&mut self, i: usize) {
        self.words[i / 64] |= 1 << (i % 64);
    }

    /// Whether segment `i` holds.
    pub fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1 << (i % 64)) != 0)
    }

    /// The segments that hold, ascending.
    pub fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(k, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros() as usize;
                    w &= w - 1;
                    k * 64 + b
                })
            })
        })
    }

    /// How many segments hold.
    pub fn len(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The segments in one set and not the other (entered or exited).
    pub fn changed<'a>(&'a self, other: &'a SegmentSet) -> impl Iterator<Item = usize> + 'a {
        let n = self.words.len().max(other.words.len());
        (0..n * 64).filter(move |&i| self.contains(i) != other.contains(i))
    }
}

/// One person's segments at `now` (see [`LiveSet::evaluate_person`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PersonEval {
    /// The segments that hold.
    pub holds: SegmentSet,
    /// Per segment, the earliest instant after `now` at which its answer can
    /// change with no new event (`None`: never).
    pub changes: Vec<Option<i64>>,
    /// The earliest of `changes`: when to look at this person again.
    pub next_change: Option<i64>,
}

/// Leaves compiled for one `now`.
struct Compiled {
    now: i64,
    program: Program,
    roots: Vec<Plan>,
}

fn compile(forest: &Forest, tl: &Timelines, now: i64) -> Result<Compiled, EngineError> {
    let mut c = Compiler::new(tl, now);
    let mut roots = forest
        .event_leaves
        .iter()
        .map(|&l| c.condition(&forest.leaves[l].condition))
        .collect::<Result<Vec<_>, _>>()?;
    let program = c.finish(&mut roots);
    Ok(Compiled {
        now,
        program,
        roots,
    })
}

/// Every tree's answer and horizon for one person (and every node's, in
/// `results`).
pub(crate) fn evaluate_forest(
    engine: &Engine,
    forest: &Forest,
    basis: Option<&RfmBasis>,
    index: u32,
    now: i64,
    results: &mut NodeResults,
) -> Result<Vec<(bool, At)>, EngineError> {
    let tl = engine.timelines();
    let compiled = compile(forest, tl, now)?;
    Ok(evaluate_compiled(
        engine, forest, &compiled, basis, index, now, results,
    ))
}

fn evaluate_compiled(
    engine: &Engine,
    forest: &Forest,
    compiled: &Compiled,
    basis: Option<&RfmBasis>,
    index: u32,
    now: i64,
    results: &mut NodeResults,
) -> Vec<(bool, At)> {
    let tl = engine.timelines();
    let env = Env::new(tl, &compiled.program, None, &[], false);
    let mut ev = Evaluator::new(&env);
    ev.start(index);
    let leaf_values: Vec<bool> = compiled.roots.iter().map(|p| ev.holds(p)).collect();
    let view = PersonView::new(tl, forest, index);
    let facts = Facts {
        leaf_values: &leaf_values,
        rfm: basis.and_then(|b| b.scores(tl, index, now)),
        rfm_next: basis.and_then(|b| b.next_order).filter(|&t| t > now),
        prediction: &|model| engine.prediction(model, index),
    };
    forest.evaluate(&view, &facts, now, results)
}

/// Every defined segment, ready to be evaluated for one person at a time (see
/// the module docs).
pub struct LiveSet {
    names: Vec<String>,
    forest: Forest,
    basis: Option<RfmBasis>,
    definitions_version: u64,
    /// The leaves compiled for the latest `now`.
    compiled: Mutex<Option<Arc<Compiled>>>,
}

impl std::fmt::Debug for LiveSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveSet")
            .field("segments", &self.names)
            .field("leaves", &self.forest.leaves.len())
            .field("rfm_basis", &self.basis)
            .finish()
    }
}

impl LiveSet {
    /// [`Engine::live_set`].
    pub(crate) fn build(engine: &Engine, now: i64) -> Result<LiveSet, EngineError> {
        let tl = engine.timelines();
        let roots: Vec<(String, Condition)> = engine
            .definitions()
            .iter()
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect();
        let forest = Forest::build(tl, &roots, engine.definitions())?;
        let basis = forest
            .uses_rfm
            .iter()
            .any(|&u| u)
            .then(|| RfmBasis::build(tl, now));
        Ok(LiveSet {
            names: roots.into_iter().map(|(n, _)| n).collect(),
            forest,
            basis,
            definitions_version: engine.definitions_version(),
            compiled: Mutex::new(None),
        })
    }
}

impl LiveSet {
    /// The defined segments, in name order.
    pub fn segments(&self) -> &[String] {
        &self.names
    }

    /// Whether segment `i` reads RFM scores (itself or through `in segment`).
    pub fn uses_rfm(&self, i: usize) -> bool {
        self.forest.uses_rfm.get(i).copied().unwrap_or(false)
    }

    /// The RFM basis, when a segment reads RFM scores.
    pub fn rfm_basis(&self) -> Option<&RfmBasis> {
        self.basis.as_ref()
    }

    /// Whether the live set no longer reflects the engine: a definition
    /// changed, or a name or value that a condition mentions was seen for the
    /// first time since it was built. Cheap: a few lookups.
    pub fn is_stale(&self, engine: &Engine) -> bool {
        engine.definitions_version() != self.definitions_version
            || self.forest.watch.changed(engine.timelines())
    }

    /// Which segments hold for `person` at `now`, and when each answer can
    /// next change with no new event. An unknown person is in no segment.
    pub fn evaluate_person(
        &self,
        engine: &Engine,
        person: i64,
        now: i64,
    ) -> Result<PersonEval, EngineError> {
        let n = self.names.len();
        let mut out = PersonEval {
            holds: SegmentSet::with_len(n),
            changes: vec![None; n],
            next_change: None,
        };
        let tl = engine.timelines();
        let Some(index) = tl.index_of(person) else {
            return Ok(out);
        };
        let compiled = self.compiled(tl, now)?;
        let trees = evaluate_compiled(
            engine,
            &self.forest,
            &compiled,
            self.basis.as_ref(),
            index,
            now,
            &mut Vec::new(),
        );
        for (i, &(holds, at)) in trees.iter().take(n).enumerate() {
            if holds {
                out.holds.insert(i);
            }
            let at = to_instant(at);
            out.changes[i] = at;
            out.next_change = match (out.next_change, at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        Ok(out)
    }

    /// The leaves compiled for `now` (the latest compilation when `now` is
    /// the same).
    fn compiled(&self, tl: &Timelines, now: i64) -> Result<Arc<Compiled>, EngineError> {
        if let Ok(guard) = self.compiled.try_lock()
            && let Some(c) = guard.as_ref()
            && c.now == now
        {
            return Ok(c.clone());
        }
        let c = Arc::new(compile(&self.forest, tl, now)?);
        *self.compiled.lock().unwrap_or_else(PoisonError::into_inner) = Some(c.clone());
        Ok(c)
    }
}
