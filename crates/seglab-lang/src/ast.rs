//! The syntax tree of the segment language, and its JSON form (serde).
//!
//! Positions ([`Span`]) are byte offsets into the source. They say where a node
//! was written, not what it means: compare trees with [`File::without_spans`] (or
//! [`Condition::without_spans`]) when only the meaning matters.

use serde::{Deserialize, Serialize};

/// A byte range `[start, end)` in the source text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    pub start: u32,
    pub end: u32,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start: start as u32,
            end: end as u32,
        }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }
}

/// A name as written, with where it was written (event names, property paths,
/// segment and trait names).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Name {
    pub text: String,
    #[serde(default, skip_serializing_if = "is_default_span")]
    pub span: Span,
}

fn is_default_span(s: &Span) -> bool {
    *s == Span::default()
}

impl Name {
    pub fn new(text: impl Into<String>) -> Name {
        Name {
            text: text.into(),
            span: Span::default(),
        }
    }
}

/// A `.seg` file: one or more segment definitions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct File {
    pub segments: Vec<SegmentDef>,
}

/// `segment NAME ["Title"] = CONDITION`
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentDef {
    /// Identifier: letters, digits, `_`; starts with a letter.
    pub name: Name,
    /// Human title, optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub condition: Condition,
    #[serde(default, skip_serializing_if = "is_default_span")]
    pub span: Span,
}

/// A length of time, in milliseconds, with the unit it was written in (so the
/// printer writes `24h`, not `1d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Duration {
    pub amount: u64,
    pub unit: TimeUnit,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeUnit {
    /// `s`
    Seconds,
    /// `m`
    Minutes,
    /// `h`
    Hours,
    /// `d`
    Days,
    /// `w`
    Weeks,
}

impl TimeUnit {
    pub fn millis(self) -> i64 {
        match self {
            TimeUnit::Seconds => 1_000,
            TimeUnit::Minutes => 60_000,
            TimeUnit::Hours => 3_600_000,
            TimeUnit::Days => 86_400_000,
            TimeUnit::Weeks => 7 * 86_400_000,
        }
    }

    pub fn suffix(self) -> &'static str {
        match self {
            TimeUnit::Seconds => "s",
            TimeUnit::Minutes => "m",
            TimeUnit::Hours => "h",
            TimeUnit::Days => "d",
            TimeUnit::Weeks => "w",
        }
    }
}

impl Duration {
    pub fn millis(self) -> i64 {
        (self.amount as i64).saturating_mul(self.unit.millis())
    }
}

/// Which events a condition looks at, relative to `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Window {
    /// `in last D`: `now - D <= t <= now`.
    Last { duration: Duration },
    /// `between 2026-01-01 and 2026-02-01`: `start <= t < end` (and `t <= now`).
    /// Milliseconds since the epoch, UTC.
    Between { start: i64, end: i64 },
}

/// A literal value in a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    Bool(bool),
    Number(f64),
    String(String),
}

/// `= != < <= > >=`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    #[serde(rename = "=")]
    Eq,
    #[serde(rename = "!=")]
    Ne,
    #[serde(rename = "<")]
    Lt,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = ">=")]
    Ge,
}

impl CmpOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Ne => "!=",
            CmpOp::Lt => "<",
            CmpOp::Le => "<=",
            CmpOp::Gt => ">",
            CmpOp::Ge => ">=",
        }
    }

    /// Applies the operator to an ordering of `left` against `right`.
    pub fn holds(self, ord: std::cmp::Ordering) -> bool {
        use std::cmp::Ordering::*;
        match self {
            CmpOp::Eq => ord == Equal,
            CmpOp::Ne => ord != Equal,
            CmpOp::Lt => ord == Less,
            CmpOp::Le => ord != Greater,
            CmpOp::Gt => ord == Greater,
            CmpOp::Ge => ord != Less,
        }
    }
}

/// A numeric test: `OP N` or `between A and B` (both ends inclusive).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum NumTest {
    Cmp { op: CmpOp, value: f64 },
    Between { low: f64, high: f64 },
}

impl NumTest {
    pub fn holds(&self, x: f64) -> bool {
        match *self {
            NumTest::Cmp { op, value } => x.partial_cmp(&value).is_some_and(|o| op.holds(o)),
            NumTest::Between { low, high } => low <= x && x <= high,
        }
    }
}

/// A property predicate (`where …`), evaluated on one event's properties.
/// A path into an array matches when any element matches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Pred {
    /// `path OP literal`
    Cmp {
        path: Name,
        op: CmpOp,
        value: Literal,
    },
    /// `path in [a, b, …]`
    In {
        path: Name,
        values: Vec<Literal>,
    },
    /// `path contains "x"` (substring of a string, or element of an array)
    Contains {
        path: Name,
        value: Literal,
    },
    /// `path starts_with "x"`
    StartsWith {
        path: Name,
        value: String,
    },
    /// `path exists` (present and not null)
    Exists {
        path: Name,
    },
    And {
        all: Vec<Pred>,
    },
    Or {
        any: Vec<Pred>,
    },
    Not {
        pred: Box<Pred>,
    },
}

/// Events of one name, optionally filtered: `"E" [where P]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFilter {
    /// The event name, as tracked (`page` calls are `Page Viewed`, `screen` calls
    /// `Screen Viewed`).
    pub event: Name,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Pred>,
}

/// Events in a window: `"E" [where P] [window]` (no window: all time up to now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventQuery {
    #[serde(flatten)]
    pub events: EventFilter,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
}

/// `sum avg min max`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AggFunc {
    Sum,
    Avg,
    Min,
    Max,
}

/// When something happened, relative to `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimeTest {
    /// `in last D`: `now - D <= t <= now`
    InLast { duration: Duration },
    /// `before D ago`: `t < now - D`
    Before { duration: Duration },
    /// `between A and B`: `A <= t < B`
    Between { start: i64, end: i64 },
}

/// `rfm.r`, `rfm.f`, `rfm.m`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RfmDim {
    R,
    F,
    M,
}

/// A trait test: `trait.NAME OP V`, `trait.NAME exists`, `… in […]`, `… contains`, …
/// (the same predicate forms as event properties, on the profile's traits).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TraitTest {
    /// A predicate whose paths are trait names.
    pub pred: Pred,
}

/// A condition on one person at instant `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Condition {
    And {
        all: Vec<Condition>,
    },
    Or {
        any: Vec<Condition>,
    },
    Not {
        condition: Box<Condition>,
    },
    /// `did E [where P] [window]`: at least one such event.
    Did {
        query: EventQuery,
    },
    /// `count(E [where P] [window]) TEST`
    Count {
        query: EventQuery,
        test: NumTest,
    },
    /// `sum("E".prop [where P] [window]) TEST` (events without a numeric value
    /// are skipped; no values: sum is 0, avg/min/max are absent and the test fails)
    Aggregate {
        func: AggFunc,
        query: EventQuery,
        property: Name,
        test: NumTest,
    },
    /// `distinct("E".prop [where P] [window]) TEST`: number of distinct values
    Distinct {
        query: EventQuery,
        property: Name,
        test: NumTest,
    },
    /// `top("E".prop [where P] [window]) = V`: the most frequent value (ties: the
    /// value seen most recently)
    Top {
        query: EventQuery,
        property: Name,
        value: Literal,
    },
    /// `first(E) TIME` / `first_seen TIME` (`events: None`: any event)
    First {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        events: Option<EventFilter>,
        time: TimeTest,
    },
    /// `last(E) TIME` / `last_seen TIME`
    Last {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        events: Option<EventFilter>,
        time: TimeTest,
    },
    /// `did A [where P] [window] then B [where Q] within T`: some A in the window
    /// followed by a B with `t_A < t_B <= t_A + T`.
    Then {
        first: EventQuery,
        then: EventFilter,
        within: Duration,
    },
    /// `did A [where P] [window] then not B [where Q] [within T]`.
    /// With `within`: some A in the window has no B in `(t_A, t_A + T]` and
    /// `t_A + T <= now`. Without: the latest A in the window has no B after it,
    /// up to now.
    ThenNot {
        first: EventQuery,
        then: EventFilter,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within: Option<Duration>,
    },
    /// `stopped E [where P] for D`: an E in `[now-2D, now-D)` and none in
    /// `[now-D, now]`.
    Stopped {
        events: EventFilter,
        period: Duration,
    },
    /// `restarted E [where P] after D`: the mirror of `stopped`: an E in
    /// `[now-D, now]`, none in the gap `[now-2D, now-D)`, and an E before `now-2D`.
    Restarted {
        events: EventFilter,
        gap: Duration,
    },
    /// `regularly E [where P] N per P in K of last M`: in at least K of the last M
    /// periods, at least N events each. Period 0 is `[now-P, now]` (as `in last P`);
    /// period i ≥ 1 is `[now-(i+1)P, now-iP)`.
    Regularly {
        events: EventFilter,
        times: u32,
        period: Duration,
        at_least: u32,
        of_last: u32,
    },
    /// `trait.…` tests.
    Trait {
        test: TraitTest,
    },
    /// `in segment X`
    InSegment {
        segment: Name,
    },
    /// `rfm.r >= 4`
    RfmScore {
        dim: RfmDim,
        test: NumTest,
    },
    /// `rfm in [Champions, "At risk"]`
    RfmCell {
        cells: Vec<Name>,
    },
    /// `predicted.NAME TEST`
    Predicted {
        model: Name,
        test: NumTest,
    },
}

impl File {
    /// The same tree with every span zeroed.
    pub fn without_spans(&self) -> File {
        let mut f = self.clone();
        for s in &mut f.segments {
            s.span = Span::default();
            s.name.span = Span::default();
            s.condition.clear_spans();
        }
        f
    }
}

impl Condition {
    /// The same tree with every span zeroed.
    pub fn without_spans(&self) -> Condition {
        let mut c = self.clone();
        c.clear_spans();
        c
    }

    fn clear_spans(&mut self) {
        fn name(n: &mut Name) {
            n.span = Span::default();
        }
        fn filter(f: &mut EventFilter) {
            name(&mut f.event);
            if let Some(p) = &mut f.filter {
                pred(p);
            }
        }
        fn pred(p: &mut Pred) {
            match p {
                Pred::Cmp { path, .. }
                | Pred::In { path, .. }
                | Pred::Contains { path, .. }
                | Pred::StartsWith { path, .. }
                | Pred::Exists { path } => name(path),
                Pred::And { all: ps } | Pred::Or { any: ps } => ps.iter_mut().for_each(pred),
                Pred::Not { pred: p } => pred(p),
            }
        }
        match self {
            Condition::And { all: cs } | Condition::Or { any: cs } => {
                cs.iter_mut().for_each(Condition::clear_spans)
            }
            Condition::Not { condition } => condition.clear_spans(),
            Condition::Did { query } | Condition::Count { query, .. } => filter(&mut query.events),
            Condition::Aggregate {
                query, property, ..
            }
            | Condition::Distinct {
                query, property, ..
            }
            | Condition::Top {
                query, property, ..
            } => {
                filter(&mut query.events);
                name(property);
            }
            Condition::First { events, .. } | Condition::Last { events, .. } => {
                if let Some(f) = events {
                    filter(f);
                }
            }
            Condition::Then { first, then, .. } | Condition::ThenNot { first, then, .. } => {
                filter(&mut first.events);
                filter(then);
            }
            Condition::Stopped { events, .. }
            | Condition::Restarted { events, .. }
            | Condition::Regularly { events, .. } => filter(events),
            Condition::Trait { test } => pred(&mut test.pred),
            Condition::InSegment { segment } => name(segment),
            Condition::RfmCell { cells } => cells.iter_mut().for_each(name),
            Condition::Predicted { model, .. } => name(model),
            Condition::RfmScore { .. } => {}
        }
    }
}
