//! Conditions flattened for per-person evaluation (live sets, horizons and
//! explanations).
//!
//! A [`Forest`] has one tree per segment (or unnamed condition), `and` /
//! `or` / `not` nodes, leaves shared between trees, and `in segment` as a
//! link to another tree. What does not depend on `now` is resolved once:
//! event names, property predicates and RFM cells. Leaves that read events or
//! traits are evaluated by the compiled engine (see `live`); RFM and
//! prediction leaves from values given per person (see `horizon`). A
//! [`PersonView`] lists one person's events by the names a forest reads.

use std::collections::{BTreeMap, HashMap};

use seglab_lang::ast::{Condition, EventFilter, Literal, Pred};

use crate::EngineError;
use crate::pred::{PredPlan, SetProps, pred_holds};
use crate::rfm::cell_mask;
use crate::timeline::Timelines;

/// Which events a leaf reads: a list of the person view (see
/// [`PersonView`]), and a predicate of [`Forest::preds`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Matcher {
    /// `None`: no event can match (a name never seen, or a predicate that
    /// never holds).
    slot: Option<u32>,
    pred: Option<u32>,
}

const NEVER: Matcher = Matcher {
    slot: None,
    pred: None,
};

/// How a leaf's answer is found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LeafKind {
    /// By the compiled engine: the leaf's index among the compiled roots.
    Events(usize),
    /// From the person's RFM scores (cells as a mask of `RFM_CELLS`).
    Rfm { cells: u16 },
    /// From the person's model output.
    Predicted,
}

#[derive(Debug, Clone)]
pub(crate) struct Leaf {
    /// Without spans.
    pub(crate) condition: Condition,
    pub(crate) kind: LeafKind,
    /// The events read: `[E]`, or `[A, B]` for `then` and `then not`.
    pub(crate) matchers: Vec<Matcher>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Node {
    And(Vec<usize>),
    Or(Vec<usize>),
    Not(usize),
    Leaf(usize),
    /// `in segment`: a tree of the forest.
    Tree(usize),
}

/// Names, paths and values that conditions mention but the timelines had
/// not seen when the forest was built: compiled plans treat them as never
/// matching, so the forest is stale once any of them appears.
#[derive(Debug, Default)]
pub(crate) struct Watch {
    names: Vec<String>,
    keys: Vec<String>,
    strings: Vec<String>,
    numbers: Vec<f64>,
}

impl Watch {
    fn name(&mut self, tl: &Timelines, name: &str) {
        if tl.name_id(name).is_none() && !self.names.iter().any(|n| n == name) {
            self.names.push(name.to_owned());
        }
    }

    /// A path and each prefix of it ending before a `.` (traits are found
    /// by their prefixes).
    fn path(&mut self, tl: &Timelines, path: &str) {
        let ends = path
            .match_indices('.')
            .map(|(i, _)| i)
            .chain(std::iter::once(path.len()));
        for end in ends {
            let p = &path[..end];
            if tl.dict.keys.get(p).is_none() && !self.keys.iter().any(|k| k == p) {
                self.keys.push(p.to_owned());
            }
        }
    }

    fn literal(&mut self, tl: &Timelines, l: &Literal) {
        match l {
            Literal::String(s) => {
                if tl.dict.string_id(s).is_none() && !self.strings.contains(s) {
                    self.strings.push(s.clone());
                }
            }
            Literal::Number(x) => {
                if tl.dict.number_id(*x).is_none() && !self.numbers.contains(x) {
                    self.numbers.push(*x);
                }
            }
            Literal::Bool(_) => {}
        }
    }

    fn pred(&mut self, tl: &Timelines, p: &Pred) {
        match p {
            Pred::Cmp { path, value, .. } | Pred::Contains { path, value } => {
                self.path(tl, &path.text);
                self.literal(tl, value);
            }
            Pred::In { path, values } => {
                self.path(tl, &path.text);
                values.iter().for_each(|v| self.literal(tl, v));
            }
            Pred::StartsWith { path, .. } | Pred::Exists { path } => self.path(tl, &path.text),
            Pred::And { all: ps } | Pred::Or { any: ps } => {
                ps.iter().for_each(|p| self.pred(tl, p))
            }
            Pred::Not { pred } => self.pred(tl, pred),
        }
    }

    /// Whether something watched has been seen since.
    pub(crate) fn changed(&self, tl: &Timelines) -> bool {
        self.names.iter().any(|n| tl.name_id(n).is_some())
            || self.keys.iter().any(|k| tl.dict.keys.get(k).is_some())
            || self.strings.iter().any(|s| tl.dict.string_id(s).is_some())
            || self.numbers.iter().any(|x| tl.dict.number_id(*x).is_some())
    }
}

/// Conditions flattened for per-person evaluation (see the module docs).
#[derive(Debug)]
pub(crate) struct Forest {
    pub(crate) nodes: Vec<Node>,
    pub(crate) leaves: Vec<Leaf>,
    /// Per tree: its name (empty for an unnamed condition) and root node.
    pub(crate) trees: Vec<(String, usize)>,
    /// Per tree: whether it reads RFM scores (itself or through a segment).
    pub(crate) uses_rfm: Vec<bool>,
    /// The leaves evaluated by the compiled engine, in root order.
    pub(crate) event_leaves: Vec<usize>,
    /// Property predicates, by index ([`Matcher::pred`]).
    preds: Vec<PredPlan>,
    /// Per event name id (as interned when built), its list in the person
    /// view (`u32::MAX`: none).
    slot_of_name: Vec<u32>,
    /// Lists in the person view; the last one holds every event when
    /// `any_slot` is set.
    slots: u32,
    any_slot: Option<u32>,
    pub(crate) watch: Watch,
}

/// Builds a [`Forest`].
struct Builder<'a> {
    tl: &'a Timelines,
    roots: &'a [(String, Condition)],
    definitions: &'a BTreeMap<String, Condition>,
    forest: Forest,
    index: HashMap<String, usize>,
    /// Per tree: built yet.
    built: Vec<bool>,
    stack: Vec<String>,
}

impl Forest {
    /// The forest of `roots` (trees `0..roots.len()`, in order), with the
    /// segments they refer to: `in segment` finds the named roots first, then
    /// `definitions`. Unknown segments, cycles and unknown RFM cells are
    /// errors.
    pub(crate) fn build(
        tl: &Timelines,
        roots: &[(String, Condition)],
        definitions: &BTreeMap<String, Condition>,
    ) -> Result<Forest, EngineError> {
        let mut b = Builder {
            tl,
            roots,
            definitions,
            forest: Forest {
                nodes: Vec::new(),
                leaves: Vec::new(),
                trees: Vec::new(),
                uses_rfm: Vec::new(),
                event_leaves: Vec::new(),
                preds: Vec::new(),
                slot_of_name: vec![u32::MAX; tl.names.len()],
                slots: 0,
                any_slot: None,
                watch: Watch::default(),
            },
            index: HashMap::new(),
            built: Vec::new(),
            stack: Vec::new(),
        };
        for (i, (name, _)) in roots.iter().enumerate() {
            b.forest.trees.push((name.clone(), usize::MAX));
            b.built.push(false);
            if !name.is_empty() {
                if b.index.contains_key(name) {
                    return Err(EngineError::DuplicateSegment { name: name.clone() });
                }
                b.index.insert(name.clone(), i);
            }
        }
        for (i, (name, condition)) in roots.iter().enumerate() {
            if !b.built[i] {
                b.stack.push(name.clone());
                let root = b.node(condition)?;
                b.stack.pop();
                b.forest.trees[i].1 = root;
                b.built[i] = true;
            }
        }
        let mut forest = b.forest;
        if forest.any_slot.is_some() {
            let any = forest.slots;
            forest.any_slot = Some(any);
            forest.slots += 1;
            for m in forest.leaves.iter_mut().flat_map(|l| &mut l.matchers) {
                if m.slot == Some(u32::MAX) {
                    m.slot = Some(any);
                }
            }
        }
        let mut memo = vec![None; forest.trees.len()];
        forest.uses_rfm = (0..forest.trees.len())
            .map(|t| forest.tree_uses_rfm(t, &mut memo))
            .collect();
        Ok(forest)
    }

    fn tree_uses_rfm(&self, tree: usize, memo: &mut Vec<Option<bool>>) -> bool {
        if let Some(u) = memo[tree] {
            return u;
        }
        let mut stack = vec![self.trees[tree].1];
        let mut uses = false;
        while let Some(n) = stack.pop() {
            match &self.nodes[n] {
                Node::And(cs) | Node::Or(cs) => stack.extend(cs),
                Node::Not(c) => stack.push(*c),
                Node::Leaf(l) => uses |= matches!(self.leaves[*l].kind, LeafKind::Rfm { .. }),
                Node::Tree(t) => uses |= self.tree_uses_rfm(*t, memo),
            }
        }
        memo[tree] = Some(uses);
        uses
    }

    #[inline]
    pub(crate) fn predicate(&self, m: &Matcher) -> Option<&PredPlan> {
        m.pred.map(|p| &self.preds[p as usize])
    }
}

impl Builder<'_> {
    fn tree(&mut self, name: &str) -> Result<usize, EngineError> {
        if let Some(&t) = self.index.get(name) {
            if !self.built[t] {
                if let Some(at) = self.stack.iter().position(|s| s == name) {
                    let mut cycle = self.stack[at..].to_vec();
                    cycle.push(name.to_owned());
                    return Err(EngineError::SegmentCycle { cycle });
                }
                // A root not built yet.
                let condition = &self.roots[t].1;
                self.stack.push(name.to_owned());
                let root = self.node(condition)?;
                self.stack.pop();
                self.forest.trees[t].1 = root;
                self.built[t] = true;
            }
            return Ok(t);
        }
        let definitions = self.definitions;
        let condition = definitions
            .get(name)
            .ok_or_else(|| EngineError::UnknownSegment {
                name: name.to_owned(),
            })?;
        let t = self.forest.trees.len();
        self.forest.trees.push((name.to_owned(), usize::MAX));
        self.built.push(false);
        self.index.insert(name.to_owned(), t);
        self.stack.push(name.to_owned());
        let root = self.node(condition)?;
        self.stack.pop();
        self.forest.trees[t].1 = root;
        self.built[t] = true;
        Ok(t)
    }

    fn node(&mut self, c: &Condition) -> Result<usize, EngineError> {
        let node = match c {
            Condition::And { all } => {
                Node::And(all.iter().map(|c| self.node(c)).collect::<Result<_, _>>()?)
            }
            Condition::Or { any } => {
                Node::Or(any.iter().map(|c| self.node(c)).collect::<Result<_, _>>()?)
            }
            Condition::Not { condition } => Node::Not(self.node(condition)?),
            Condition::InSegment { segment } => Node::Tree(self.tree(&segment.text)?),
            leaf => Node::Leaf(self.leaf(leaf)?),
        };
        self.forest.nodes.push(node);
        Ok(self.forest.nodes.len() - 1)
    }

    fn leaf(&mut self, c: &Condition) -> Result<usize, EngineError> {
        let condition = c.without_spans();
        if let Some(i) = self
            .forest
            .leaves
            .iter()
            .position(|l| l.condition == condition)
        {
            return Ok(i);
        }
        let tl = self.tl;
        let i = self.forest.leaves.len();
        let mut matchers = Vec::new();
        let kind = match &condition {
            Condition::RfmScore { .. } => LeafKind::Rfm { cells: 0 },
            Condition::RfmCell { cells } => LeafKind::Rfm {
                cells: cell_mask(cells)?,
            },
            Condition::Predicted { .. } => LeafKind::Predicted,
            _ => {
                self.forest.event_leaves.push(i);
                LeafKind::Events(self.forest.event_leaves.len() - 1)
            }
        };
        match &condition {
            Condition::Did { query } | Condition::Count { query, .. } => {
                matchers.push(self.matcher(Some(&query.events)));
            }
            Condition::Aggregate {
                query, property, ..
            }
            | Condition::Distinct {
                query, property, ..
            } => {
                self.forest.watch.path(tl, &property.text);
                matchers.push(self.matcher(Some(&query.events)));
            }
            Condition::Top {
                query,
                property,
                value,
            } => {
                self.forest.watch.path(tl, &property.text);
                self.forest.watch.literal(tl, value);
                matchers.push(self.matcher(Some(&query.events)));
            }
            Condition::First { events, .. } | Condition::Last { events, .. } => {
                matchers.push(self.matcher(events.as_ref()));
            }
            Condition::Then { first, then, .. } | Condition::ThenNot { first, then, .. } => {
                matchers.push(self.matcher(Some(&first.events)));
                matchers.push(self.matcher(Some(then)));
            }
            Condition::Stopped { events, .. }
            | Condition::Restarted { events, .. }
            | Condition::Regularly { events, .. } => matchers.push(self.matcher(Some(events))),
            Condition::Trait { test } => self.forest.watch.pred(tl, &test.pred),
            Condition::RfmScore { .. } | Condition::RfmCell { .. } => {
                // The order event: its next one changes the scores.
                matchers.push(self.matcher(Some(&EventFilter {
                    event: seglab_lang::ast::Name::new(crate::rfm::ORDER_EVENT),
                    filter: None,
                })));
            }
            _ => {}
        }
        self.forest.leaves.push(Leaf {
            condition,
            kind,
            matchers,
        });
        Ok(i)
    }

    /// Resolves an event filter (`None`: any event).
    fn matcher(&mut self, f: Option<&EventFilter>) -> Matcher {
        let tl = self.tl;
        let forest = &mut self.forest;
        let Some(f) = f else {
            // Numbered once the named lists are known.
            forest.any_slot = Some(u32::MAX);
            return Matcher {
                slot: Some(u32::MAX),
                pred: None,
            };
        };
        forest.watch.name(tl, &f.event.text);
        let pred = match &f.filter {
            None => None,
            Some(p) => {
                forest.watch.pred(tl, p);
                match PredPlan::compile(&tl.dict, p) {
                    PredPlan::Const(true) => None,
                    PredPlan::Const(false) => return NEVER,
                    p => Some(match forest.preds.iter().position(|q| *q == p) {
                        Some(i) => i as u32,
                        None => {
                            forest.preds.push(p);
                            (forest.preds.len() - 1) as u32
                        }
                    }),
                }
            }
        };
        let Some(name) = tl.name_id(&f.event.text) else {
            return NEVER;
        };
        let slot = &mut forest.slot_of_name[name as usize];
        if *slot == u32::MAX {
            *slot = forest.slots;
            forest.slots += 1;
        }
        Matcher {
            slot: Some(*slot),
            pred,
        }
    }
}

/// One person's events, listed by the names a forest reads (each list in
/// time order).
pub(crate) struct PersonView<'a> {
    tl: &'a Timelines,
    forest: &'a Forest,
    times: Vec<i64>,
    sets: Vec<u32>,
    /// Per list: `start..end` in `times` and `sets`.
    bounds: Vec<(u32, u32)>,
}

impl<'a> PersonView<'a> {
    pub(crate) fn new(tl: &'a Timelines, forest: &'a Forest, index: u32) -> PersonView<'a> {
        let events = tl.events(index);
        let slots = forest.slots as usize;
        let mut counts = vec![0u32; slots + 1];
        let slot = |name: u32| {
            forest
                .slot_of_name
                .get(name as usize)
                .copied()
                .filter(|&s| s != u32::MAX)
        };
        for e in events {
            if let Some(s) = slot(e.name()) {
                counts[s as usize + 1] += 1;
            }
        }
        if let Some(any) = forest.any_slot {
            counts[any as usize + 1] = events.len() as u32;
        }
        for s in 0..slots {
            counts[s + 1] += counts[s];
        }
        let bounds: Vec<(u32, u32)> = (0..slots).map(|s| (counts[s], counts[s + 1])).collect();
        let total = counts[slots] as usize;
        let mut times = vec![0i64; total];
        let mut sets = vec![0u32; total];
        let mut cursor: Vec<u32> = bounds.iter().map(|b| b.0).collect();
        for e in events {
            if let Some(s) = slot(e.name()) {
                let c = &mut cursor[s as usize];
                times[*c as usize] = e.ts();
                sets[*c as usize] = e.props();
                *c += 1;
            }
            if let Some(any) = forest.any_slot {
                let c = &mut cursor[any as usize];
                times[*c as usize] = e.ts();
                sets[*c as usize] = e.props();
                *c += 1;
            }
        }
        PersonView {
            tl,
            forest,
            times,
            sets,
            bounds,
        }
    }

    /// The times of the matcher's list, and where the list starts.
    #[inline]
    fn list(&self, m: &Matcher) -> (&[i64], usize) {
        match m.slot {
            Some(s) => {
                let (a, b) = self.bounds[s as usize];
                (&self.times[a as usize..b as usize], a as usize)
            }
            None => (&[], 0),
        }
    }

    /// Whether event `k` of the view passes the matcher's predicate.
    #[inline]
    fn passes(&self, m: &Matcher, k: usize) -> bool {
        self.forest.predicate(m).is_none_or(|p| {
            pred_holds(
                p,
                &SetProps {
                    set: self.tl.set(self.sets[k]),
                    dict: &self.tl.dict,
                },
            )
        })
    }

    /// The matching events with times in `[lo, hi]`, in time order: (time,
    /// property set).
    #[inline]
    pub(crate) fn matching(
        &self,
        m: &Matcher,
        lo: i128,
        hi: i128,
    ) -> impl DoubleEndedIterator<Item = (i64, u32)> + '_ {
        let m = *m;
        let (times, start) = self.list(&m);
        let a = times.partition_point(|&t| i128::from(t) < lo);
        let b = times.partition_point(|&t| i128::from(t) <= hi);
        (start + a..start + b.max(a))
            .filter(move |&k| self.passes(&m, k))
            .map(|k| (self.times[k], self.sets[k]))
    }
}
