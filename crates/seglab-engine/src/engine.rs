//! The engine: timelines, segment definitions and model outputs, and
//! evaluation of conditions over everyone at a given `now`. Every [`Engine`]
//! method is here; per-person answers, horizons and explanations are worked
//! out in `live`, `horizon` and `explain`.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use roaring::RoaringBitmap;
use seglab_lang::ast::{Condition, Name};

use crate::EngineError;
use crate::compile::{Compiler, Scope};
use crate::eval::{Env, Evaluator, run};
use crate::explain::{self, Explanation};
use crate::forest::Forest;
use crate::horizon::to_instant;
use crate::live::{LiveSet, RfmBasis, evaluate_forest};
use crate::plan::{Plan, Program};
use crate::rfm::{RfmScores, RfmTable};
use crate::timeline::Timelines;

/// RFM scores of one `now`, kept while the timelines do not change.
struct RfmCache {
    generation: u64,
    now: i64,
    table: Arc<RfmTable>,
}

/// Timelines plus what conditions can refer to: named segments (for
/// `in segment`) and model outputs (for `predicted.NAME`).
///
/// Evaluation compiles the condition against the current data each time
/// (names and values resolved to interned ids, windows to absolute times), so
/// results always reflect every event pushed so far.
pub struct Engine {
    timelines: Timelines,
    definitions: BTreeMap<String, Condition>,
    predictions: HashMap<String, HashMap<i64, f64>>,
    rfm_cache: Mutex<Option<RfmCache>>,
    /// Changes whenever a definition does (see [`crate::LiveSet::is_stale`]).
    definitions_version: u64,
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new(Timelines::new())
    }
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("timelines", &self.timelines)
            .field("segments", &self.definitions.keys().collect::<Vec<_>>())
            .field("models", &self.predictions.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Engine {
    pub fn new(timelines: Timelines) -> Engine {
        Engine {
            timelines,
            definitions: BTreeMap::new(),
            predictions: HashMap::new(),
            rfm_cache: Mutex::new(None),
            definitions_version: 0,
        }
    }

    pub fn timelines(&self) -> &Timelines {
        &self.timelines
    }

    pub fn timelines_mut(&mut self) -> &mut Timelines {
        &mut self.timelines
    }

    /// Replaces the timelines (loaded anew, e.g. after a person was deleted
    /// from the store); definitions stay. Everything compiled against the
    /// old timelines (live sets, cached RFM scores) is stale afterwards.
    pub fn replace_timelines(&mut self, timelines: Timelines) {
        self.timelines = timelines;
        self.definitions_version += 1;
        *self
            .rfm_cache
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = None;
    }

    /// Defines (or replaces) a named segment that `in segment NAME` can refer
    /// to. A definition that closes a cycle of references, or names an unknown
    /// RFM cell, is rejected and the previous definition kept; references to
    /// segments not defined yet are allowed (they fail at evaluation).
    pub fn define(&mut self, name: &str, condition: Condition) -> Result<(), EngineError> {
        let old = self.definitions.insert(name.to_owned(), condition);
        let check = {
            let mut c = Compiler::new(&self.timelines, 0);
            c.scope(Scope::Map(&self.definitions));
            c.segment(name).map(|_| ())
        };
        match check {
            Ok(()) | Err(EngineError::UnknownSegment { .. }) => {
                self.definitions_version += 1;
                Ok(())
            }
            Err(e) => {
                match old {
                    Some(old) => self.definitions.insert(name.to_owned(), old),
                    None => self.definitions.remove(name),
                };
                Err(e)
            }
        }
    }

    /// Removes a definition.
    pub fn undefine(&mut self, name: &str) -> Option<Condition> {
        self.definitions_version += 1;
        self.definitions.remove(name)
    }

    /// Changes whenever a definition is added, replaced or removed.
    pub fn definitions_version(&self) -> u64 {
        self.definitions_version
    }

    pub fn definitions(&self) -> &BTreeMap<String, Condition> {
        &self.definitions
    }

    /// Sets the outputs of a model (person id → value), replacing earlier ones.
    /// Values are looked up by the id a person is known by after merges.
    pub fn set_predictions(&mut self, model: &str, values: impl IntoIterator<Item = (i64, f64)>) {
        self.predictions
            .insert(model.to_owned(), values.into_iter().collect());
    }

    /// The people (indexes) for whom `condition` holds at `now`.
    pub fn evaluate(&self, condition: &Condition, now: i64) -> Result<RoaringBitmap, EngineError> {
        let mut c = Compiler::new(&self.timelines, now);
        c.scope(Scope::Map(&self.definitions));
        let mut roots = [c.condition(condition)?];
        let program = c.finish(&mut roots);
        Ok(self.run(&program, &roots, now).pop().unwrap_or_default())
    }

    /// Members of a defined segment at `now`.
    pub fn evaluate_segment(&self, name: &str, now: i64) -> Result<RoaringBitmap, EngineError> {
        let mut c = Compiler::new(&self.timelines, now);
        c.scope(Scope::Map(&self.definitions));
        let mut roots = [Plan::Segment(c.segment(name)?)];
        let program = c.finish(&mut roots);
        Ok(self.run(&program, &roots, now).pop().unwrap_or_default())
    }

    /// Evaluates several segments in one pass over the timelines. `in segment`
    /// refers to segments of the list first, then to defined ones; each
    /// referenced segment is evaluated once per person.
    pub fn evaluate_all(
        &self,
        segments: &[(String, Condition)],
        now: i64,
    ) -> Result<Vec<(String, RoaringBitmap)>, EngineError> {
        for (i, (name, _)) in segments.iter().enumerate() {
            if segments[..i].iter().any(|(n, _)| n == name) {
                return Err(EngineError::DuplicateSegment { name: name.clone() });
            }
        }
        let mut c = Compiler::new(&self.timelines, now);
        c.scope(Scope::List(segments));
        c.scope(Scope::Map(&self.definitions));
        let mut roots = segments
            .iter()
            .map(|(name, _)| c.segment(name).map(Plan::Segment))
            .collect::<Result<Vec<_>, _>>()?;
        let program = c.finish(&mut roots);
        let bitmaps = self.run(&program, &roots, now);
        Ok(segments
            .iter()
            .map(|(name, _)| name.clone())
            .zip(bitmaps)
            .collect())
    }

    /// Evaluates every defined segment, in name order.
    pub fn evaluate_defined(&self, now: i64) -> Result<Vec<(String, RoaringBitmap)>, EngineError> {
        let list: Vec<(String, Condition)> = self
            .definitions
            .iter()
            .map(|(n, c)| (n.clone(), c.clone()))
            .collect();
        self.evaluate_all(&list, now)
    }

    /// How many people satisfy `condition` at `now`.
    pub fn count(&self, condition: &Condition, now: i64) -> Result<u64, EngineError> {
        Ok(self.evaluate(condition, now)?.len())
    }

    /// Whether `condition` holds for one person at `now` (`false` for an
    /// unknown person).
    pub fn holds(&self, person: i64, condition: &Condition, now: i64) -> Result<bool, EngineError> {
        let mut c = Compiler::new(&self.timelines, now);
        c.scope(Scope::Map(&self.definitions));
        let mut roots = [c.condition(condition)?];
        let program = c.finish(&mut roots);
        let [root] = roots;
        let Some(idx) = self.timelines.index_of(person) else {
            return Ok(false);
        };
        let rfm = program.uses_rfm.then(|| self.rfm_table(now));
        let predictions = self.prediction_columns(&program);
        let env = Env::new(
            &self.timelines,
            &program,
            rfm.as_deref(),
            &predictions,
            false,
        );
        let mut ev = Evaluator::new(&env);
        ev.start(idx);
        Ok(ev.holds(&root))
    }

    /// A page of members, as person ids (in index order).
    pub fn members(&self, bitmap: &RoaringBitmap, offset: usize, limit: usize) -> Vec<i64> {
        bitmap
            .iter()
            .skip(offset)
            .take(limit)
            .filter_map(|i| self.timelines.external_id(i))
            .collect()
    }

    /// A person's RFM scores at `now` (`None`: not a buyer, or unknown).
    pub fn rfm(&self, person: i64, now: i64) -> Option<RfmScores> {
        let idx = self.timelines.index_of(person)?;
        self.rfm_table(now).get(idx)
    }

    /// Every defined segment, for per-person evaluation (see [`LiveSet`]);
    /// the RFM basis (built when a segment reads RFM scores) describes `now`.
    /// Fails as [`Engine::evaluate_defined`] does (a segment refers to one
    /// that is not defined).
    pub fn live_set(&self, now: i64) -> Result<LiveSet, EngineError> {
        LiveSet::build(self, now)
    }

    /// The earliest instant after `now` at which `condition`'s answer for
    /// `person` can change with no new event (`None`: never, or an unknown
    /// person). For every instant in between, the answer is the answer at
    /// `now`. A condition that reads RFM scores costs a pass over every buyer.
    pub fn horizon(
        &self,
        person: i64,
        condition: &Condition,
        now: i64,
    ) -> Result<Option<i64>, EngineError> {
        let tl = self.timelines();
        let roots = [(String::new(), condition.clone())];
        let forest = Forest::build(tl, &roots, self.definitions())?;
        let Some(index) = tl.index_of(person) else {
            return Ok(None);
        };
        let basis = forest.uses_rfm[0].then(|| RfmBasis::build(tl, now));
        let trees = evaluate_forest(self, &forest, basis.as_ref(), index, now, &mut Vec::new())?;
        Ok(to_instant(trees[0].1))
    }

    /// Why `condition` holds, or not, for `person` at `now`. Per person and
    /// not fast: a condition reading RFM scores costs a pass over all buyers.
    pub fn explain(
        &self,
        person: i64,
        condition: &Condition,
        now: i64,
    ) -> Result<Explanation, EngineError> {
        explain::explain(self, person, condition, now)
    }

    /// [`Engine::explain`] of `in segment NAME`: the segment's explanation
    /// is the child.
    pub fn explain_segment(
        &self,
        person: i64,
        segment: &str,
        now: i64,
    ) -> Result<Explanation, EngineError> {
        let c = Condition::InSegment {
            segment: Name::new(segment),
        };
        self.explain(person, &c, now)
    }

    fn run(&self, program: &Program, roots: &[Plan], now: i64) -> Vec<RoaringBitmap> {
        let rfm = program.uses_rfm.then(|| self.rfm_table(now));
        let predictions = self.prediction_columns(program);
        let env = Env::new(&self.timelines, program, rfm.as_deref(), &predictions, true);
        run(&env, roots)
    }

    fn rfm_table(&self, now: i64) -> Arc<RfmTable> {
        let generation = self.timelines.generation();
        let mut cache = self
            .rfm_cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(c) = cache.as_ref()
            && c.generation == generation
            && c.now == now
        {
            return c.table.clone();
        }
        let table = Arc::new(RfmTable::compute(&self.timelines, now));
        *cache = Some(RfmCache {
            generation,
            now,
            table: table.clone(),
        });
        table
    }

    /// The value of a model for a live person index (by the id the person is
    /// known by after merges, as in evaluation).
    pub(crate) fn prediction(&self, model: &str, index: u32) -> Option<f64> {
        let id = self.timelines.external_id(index)?;
        self.predictions.get(model)?.get(&id).copied()
    }

    /// Per model the program uses, each person index's value (NaN: none).
    fn prediction_columns(&self, program: &Program) -> Vec<Vec<f64>> {
        let tl = &self.timelines;
        program
            .models
            .iter()
            .map(|model| {
                let mut column = vec![f64::NAN; tl.index_len()];
                for (&person, &x) in self.predictions.get(model).into_iter().flatten() {
                    if let Some(i) = tl.index_of(person)
                        && tl.external_id(i) == Some(person)
                    {
                        column[i as usize] = x;
                    }
                }
                column
            })
            .collect()
    }
}
