//! The next instant at which a condition's answer can change with no new
//! event (its *horizon*), and the per-person evaluation of a [`Forest`] it
//! rests on.
//!
//! A leaf's answer is a function of which of the person's events fall in
//! time ranges that move with `now`. Each matching event at `t` can only
//! change that answer when `now` reaches `t` (the event becomes visible) or
//! `t + offset` for the offsets of the construct (`in last D`: the event
//! leaves the window at `t + D + 1`; `stopped E for D`: `t`, `t + D + 1`,
//! `t + 2D + 1`; …). A leaf's horizon is the smallest such instant after
//! `now` (a superset of the true change points is sound; the offsets are
//! narrowed where that is cheap, e.g. an A that has a B within `T` never makes
//! `then not` hold). `between` windows only count events inside them; traits
//! and predictions never change by themselves; RFM scores change when any
//! buyer's next order becomes visible.
//!
//! Combining, with each child's answer known:
//!
//! - `and` that holds: the earliest child horizon; `and` that fails: the
//!   *latest* horizon among the failing children (it fails until each of them
//!   may have changed); `or` is the mirror; `not` keeps its child's.
//! - `in segment X`: the horizon of X's tree.
//!
//! For every instant in `(now, horizon)` the answer equals the answer at
//! `now`; the property tests check this against the reference evaluator.

use seglab_lang::ast::{Condition, EventQuery, RfmDim, TimeTest, Window};

use crate::forest::{Forest, Leaf, LeafKind, Matcher, Node, PersonView};
use crate::rfm::rfm_cell_index;

/// An instant in exact arithmetic; `None`: never.
pub(crate) type At = Option<i128>;

fn earliest(a: At, b: At) -> At {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, None) => x,
        (None, y) => y,
    }
}

/// The instant as a timestamp (beyond `i64`: never).
pub(crate) fn to_instant(a: At) -> Option<i64> {
    a.and_then(|x| i64::try_from(x).ok())
}

const ALL: (i128, i128) = (i64::MIN as i128, i64::MAX as i128);

impl PersonView<'_> {
    /// The earliest `t + offset` after `now` over the matching events at `t`
    /// in `[lo, hi]` for which `also(t)` holds.
    fn next(
        &self,
        m: &Matcher,
        (lo, hi): (i128, i128),
        offset: i128,
        now: i64,
        mut also: impl FnMut(i64) -> bool,
    ) -> At {
        let from = lo.max(i128::from(now) - offset + 1);
        self.matching(m, from, hi)
            .find(|&(t, _)| also(t))
            .map(|(t, _)| i128::from(t) + offset)
    }

    fn any_in(&self, m: &Matcher, lo: i128, hi: i128) -> bool {
        self.matching(m, lo, hi).next().is_some()
    }
}

/// What a person has besides events and traits, for RFM and prediction
/// leaves, and the answers of the leaves the engine evaluated.
pub(crate) struct Facts<'a> {
    /// Per compiled root (see [`LeafKind::Events`]).
    pub(crate) leaf_values: &'a [bool],
    /// The person's scores (`None`: not a buyer).
    pub(crate) rfm: Option<[u8; 3]>,
    /// The earliest order (anyone's) after `now`: RFM scores may change then.
    pub(crate) rfm_next: Option<i64>,
    pub(crate) prediction: &'a dyn Fn(&str) -> Option<f64>,
}

/// Per node, its answer and horizon once computed.
pub(crate) type NodeResults = Vec<Option<(bool, At)>>;

impl Forest {
    /// Every tree's answer and horizon for one person at `now`; also each
    /// node's (in `results`, by node index).
    pub(crate) fn evaluate(
        &self,
        view: &PersonView<'_>,
        facts: &Facts<'_>,
        now: i64,
        results: &mut NodeResults,
    ) -> Vec<(bool, At)> {
        results.clear();
        results.resize(self.nodes.len(), None);
        let mut leaves: Vec<Option<(bool, At)>> = vec![None; self.leaves.len()];
        (0..self.trees.len())
            .map(|t| self.node(self.trees[t].1, view, facts, now, results, &mut leaves))
            .collect()
    }

    fn node(
        &self,
        n: usize,
        view: &PersonView<'_>,
        facts: &Facts<'_>,
        now: i64,
        results: &mut NodeResults,
        leaves: &mut Vec<Option<(bool, At)>>,
    ) -> (bool, At) {
        if let Some(r) = results[n] {
            return r;
        }
        let r = match &self.nodes[n] {
            Node::And(cs) | Node::Or(cs) => {
                let is_and = matches!(self.nodes[n], Node::And(_));
                let rs: Vec<(bool, At)> = cs
                    .iter()
                    .map(|&c| self.node(c, view, facts, now, results, leaves))
                    .collect();
                // `and`: holds when all hold; `or`: fails when all fail.
                let decided = !is_and;
                if rs.iter().all(|r| r.0 != decided) {
                    let h = rs.iter().fold(None, |h, r| earliest(h, r.1));
                    (!decided, h)
                } else {
                    // Stays decided until every deciding child may change
                    // (never, if one never does).
                    let h = rs
                        .iter()
                        .filter(|r| r.0 == decided)
                        .try_fold(i128::MIN, |h, r| r.1.map(|x| h.max(x)));
                    (decided, h)
                }
            }
            Node::Not(c) => {
                let (v, h) = self.node(*c, view, facts, now, results, leaves);
                (!v, h)
            }
            Node::Tree(t) => self.node(self.trees[*t].1, view, facts, now, results, leaves),
            Node::Leaf(l) => match leaves[*l] {
                Some(r) => r,
                None => {
                    let r = self.leaf(&self.leaves[*l], view, facts, now);
                    leaves[*l] = Some(r);
                    r
                }
            },
        };
        let r = (r.0, r.1.filter(|&h| h > i128::from(now)));
        results[n] = Some(r);
        r
    }

    fn leaf(&self, leaf: &Leaf, view: &PersonView<'_>, facts: &Facts<'_>, now: i64) -> (bool, At) {
        let value = match leaf.kind {
            LeafKind::Events(i) => facts.leaf_values[i],
            LeafKind::Rfm { cells } => match (&leaf.condition, facts.rfm) {
                (_, None) => false,
                (Condition::RfmScore { dim, test }, Some([r, f, m])) => {
                    let score = match dim {
                        RfmDim::R => r,
                        RfmDim::F => f,
                        RfmDim::M => m,
                    };
                    test.holds(f64::from(score))
                }
                (_, Some([r, f, _])) => cells & (1 << rfm_cell_index(r, f)) != 0,
            },
            LeafKind::Predicted => match &leaf.condition {
                Condition::Predicted { model, test } => {
                    (facts.prediction)(&model.text).is_some_and(|x| test.holds(x))
                }
                _ => false,
            },
        };
        (value, leaf_horizon(leaf, view, facts, now))
    }
}

/// The earliest instant after `now` at which the leaf's answer may change
/// (see the module docs for each construct).
fn leaf_horizon(leaf: &Leaf, view: &PersonView<'_>, facts: &Facts<'_>, now: i64) -> At {
    let m = |i: usize| leaf.matchers[i];
    match &leaf.condition {
        Condition::Did { query }
        | Condition::Count { query, .. }
        | Condition::Aggregate { query, .. }
        | Condition::Distinct { query, .. }
        | Condition::Top { query, .. } => window_next(view, &m(0), query, now),
        Condition::First { time, .. } => {
            let first = view.matching(&m(0), ALL.0, ALL.1).next()?.0;
            if first > now {
                return Some(i128::from(first));
            }
            time_test_next(first, time, now)
        }
        Condition::Last { time, .. } => {
            let next = view.next(&m(0), ALL, 0, now, |_| true);
            let last = view
                .matching(&m(0), ALL.0, i128::from(now))
                .next_back()
                .and_then(|(t, _)| time_test_next(t, time, now));
            earliest(next, last)
        }
        Condition::Then { first, within, .. } => {
            let (a, b) = (m(0), m(1));
            let t = within.exact_millis();
            // A pair holds from its B's time until its A leaves the window.
            let b_seen = view.next(&b, ALL, 0, now, |_| true);
            let a_leaves = match &first.window {
                Some(Window::Last { duration }) => {
                    view.next(&a, ALL, duration.exact_millis() + 1, now, |ta| {
                        view.any_in(&b, i128::from(ta) + 1, i128::from(ta) + t)
                    })
                }
                _ => None,
            };
            earliest(b_seen, a_leaves)
        }
        Condition::ThenNot {
            first,
            within: Some(within),
            ..
        } => {
            let (a, b) = (m(0), m(1));
            let t = within.exact_millis();
            // An A without a B in (t_A, t_A + T] holds from t_A + T while in
            // the window; an A with one never does.
            let alone = |ta: i64| !view.any_in(&b, i128::from(ta) + 1, i128::from(ta) + t);
            let (range, leaves) = window_parts(first.window.as_ref());
            let due = view.next(&a, range, t, now, alone);
            let gone = leaves.and_then(|d| view.next(&a, range, d + 1, now, alone));
            earliest(due, gone)
        }
        Condition::ThenNot {
            first,
            within: None,
            ..
        } => {
            let (a, b) = (m(0), m(1));
            let (range, leaves) = window_parts(first.window.as_ref());
            // A later A, or a B after the latest A, once seen; the latest A
            // leaving the window.
            let a_seen = view.next(&a, range, 0, now, |_| true);
            let b_seen = view.next(&b, ALL, 0, now, |_| true);
            let latest_leaves = leaves.and_then(|d| {
                let (t, _) = view
                    .matching(&a, range.0, range.1.min(i128::from(now)))
                    .next_back()?;
                Some(i128::from(t) + d + 1).filter(|&h| h > i128::from(now))
            });
            earliest(earliest(a_seen, b_seen), latest_leaves)
        }
        Condition::Stopped { period: d, .. } | Condition::Restarted { gap: d, .. } => {
            let d = d.exact_millis();
            [0, d + 1, 2 * d + 1].into_iter().fold(None, |h, o| {
                earliest(h, view.next(&m(0), ALL, o, now, |_| true))
            })
        }
        Condition::Regularly {
            times,
            period,
            at_least,
            of_last,
            ..
        } => {
            if *times == 0 || *at_least == 0 {
                return None;
            }
            let p = period.exact_millis();
            // An event moves to the next period when its age passes i * P.
            std::iter::once(0)
                .chain((1..=i128::from(*of_last)).map(|i| i * p + 1))
                .fold(None, |h, o| {
                    earliest(h, view.next(&m(0), ALL, o, now, |_| true))
                })
        }
        Condition::RfmScore { .. } | Condition::RfmCell { .. } => earliest(
            facts.rfm_next.map(i128::from),
            view.next(&m(0), ALL, 0, now, |_| true),
        ),
        Condition::Trait { .. } | Condition::Predicted { .. } => None,
        Condition::And { .. }
        | Condition::Or { .. }
        | Condition::Not { .. }
        | Condition::InSegment { .. } => None,
    }
}

/// The instants a window takes events from (`between`: its own range;
/// otherwise all), and for `in last D`, `D`.
fn window_parts(w: Option<&Window>) -> ((i128, i128), Option<i128>) {
    match w {
        None => (ALL, None),
        Some(Window::Last { duration }) => (ALL, Some(duration.exact_millis())),
        Some(Window::Between { start, end }) => ((i128::from(*start), i128::from(*end) - 1), None),
    }
}

/// When the set of events of a query's window next changes: an event is
/// seen, or leaves an `in last D` window.
fn window_next(view: &PersonView<'_>, m: &Matcher, query: &EventQuery, now: i64) -> At {
    let (range, leaves) = window_parts(query.window.as_ref());
    let seen = view.next(m, range, 0, now, |_| true);
    let gone = leaves.and_then(|d| view.next(m, range, d + 1, now, |_| true));
    earliest(seen, gone)
}

/// When a time test on an event at `t` (seen by `now`) next changes.
fn time_test_next(t: i64, test: &TimeTest, now: i64) -> At {
    match test {
        TimeTest::InLast { duration } | TimeTest::Before { duration } => {
            Some(i128::from(t) + duration.exact_millis() + 1).filter(|&h| h > i128::from(now))
        }
        TimeTest::Between { .. } => None,
    }
}
