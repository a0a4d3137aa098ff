//! The syntax tree of the segment language, and its JSON form (serde).
//!
//! Positions ([`Span`]) are byte offsets into the source. They say where a node
//! was written, not what it means: compare trees with [`File::without_spans`] (or
//! [`Condition::without_spans`]) when only the meaning matters.

use serde::{Deserialize, Serialize};

/// A byte range `[start, end)` in the source text.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Span {
    /// First byte.
    pub start: u32,
    /// One past the last byte.
    pub end: u32,
}

impl Span {
    /// `[start, end)`; offsets beyond `u32::MAX` are truncated.
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
    /// The name, escapes resolved; a dotted path is its names joined by `.`.
    pub text: String,
    /// Where it was written (`0..0` when not parsed from source).
    #[serde(default, skip_serializing_if = "is_default_span")]
    pub span: Span,
}

fn is_default_span(s: &Span) -> bool {
    *s == Span::default()
}

impl Name {
    /// A name with no position.
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
    /// The definitions, in source order.
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
    /// Who is in the segment.
    pub condition: Condition,
    /// The whole definition, from `segment` to the end of the condition.
    #[serde(default, skip_serializing_if = "is_default_span")]
    pub span: Span,
}

/// A length of time, in milliseconds, with the unit it was written in (so the
/// printer writes `24h`, not `1d`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Duration {
    /// How many units (written as a whole number).
    pub amount: u64,
    /// The unit it was written in.
    pub unit: TimeUnit,
}

/// The unit of a [`Duration`].
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
    /// Milliseconds in one unit.
    pub fn millis(self) -> i64 {
        match self {
            TimeUnit::Seconds => 1_000,
            TimeUnit::Minutes => 60_000,
            TimeUnit::Hours => 3_600_000,
            TimeUnit::Days => 86_400_000,
            TimeUnit::Weeks => 7 * 86_400_000,
        }
    }

    /// The letter written after the amount: `s m h d w`.
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
    /// The length in milliseconds (saturating at `i64::MAX`).
    pub fn millis(self) -> i64 {
        (self.amount as i64).saturating_mul(self.unit.millis())
    }

    /// The length in milliseconds, exactly: the arithmetic of instants that
    /// evaluators do with it (`now - D`, `t + D + 1`) stays exact in `i128`.
    pub fn exact_millis(self) -> i128 {
        i128::from(self.amount) * i128::from(self.unit.millis())
    }
}

/// Which events a condition looks at, relative to `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Window {
    /// `in last D`: `now - D <= t <= now`.
    Last {
        /// `D`.
        duration: Duration,
    },
    /// `between 2026-01-01 and 2026-02-01`: `start <= t < end` (and `t <= now`).
    /// Milliseconds since the epoch, UTC.
    Between {
        /// First instant included.
        start: i64,
        /// First instant excluded.
        end: i64,
    },
}

/// A literal value in a comparison.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Literal {
    /// `true` or `false`.
    Bool(bool),
    /// A number such as `3`, `-0.5`.
    Number(f64),
    /// A quoted string.
    String(String),
}

/// `= != < <= > >=`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum CmpOp {
    /// `=` (also written `==`)
    #[serde(rename = "=")]
    Eq,
    /// `!=`
    #[serde(rename = "!=")]
    Ne,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
}

impl CmpOp {
    /// The operator as written.
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
    /// `OP N`
    Cmp {
        /// The operator.
        op: CmpOp,
        /// `N`.
        value: f64,
    },
    /// `between A and B`: `A <= x <= B`.
    Between {
        /// `A`, included.
        low: f64,
        /// `B`, included.
        high: f64,
    },
}

impl NumTest {
    /// Whether `x` passes the test (never for NaN).
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
        /// The property (or trait) path.
        path: Name,
        /// The operator.
        op: CmpOp,
        /// The value compared with.
        value: Literal,
    },
    /// `path in [a, b, …]`
    In {
        /// The property (or trait) path.
        path: Name,
        /// The values, any of which matches.
        values: Vec<Literal>,
    },
    /// `path contains "x"` (substring of a string, or element of an array)
    Contains {
        /// The property (or trait) path.
        path: Name,
        /// The substring or element.
        value: Literal,
    },
    /// `path starts_with "x"`
    StartsWith {
        /// The property (or trait) path.
        path: Name,
        /// The prefix.
        value: String,
    },
    /// `path exists` (present and not null)
    Exists {
        /// The property (or trait) path.
        path: Name,
    },
    /// `P and Q and …`: every one holds (none: true).
    And {
        /// The operands.
        all: Vec<Pred>,
    },
    /// `P or Q or …`: at least one holds (none: false).
    Or {
        /// The operands.
        any: Vec<Pred>,
    },
    /// `not P`
    Not {
        /// The negated predicate.
        pred: Box<Pred>,
    },
}

/// Events of one name, optionally filtered: `"E" [where P]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventFilter {
    /// The event name, as tracked (`page` calls are `Page Viewed`, `screen` calls
    /// `Screen Viewed`).
    pub event: Name,
    /// `where P`, on the event's properties.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Pred>,
}

/// Events in a window: `"E" [where P] [window]` (no window: all time up to now).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventQuery {
    /// Which events (in JSON, its fields sit beside `window`).
    #[serde(flatten)]
    pub events: EventFilter,
    /// When (no window: all time up to now).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
}

impl EventQuery {
    /// The instants `[from, to]` (inclusive, in exact arithmetic) whose events
    /// the query sees at `now`: from `now - D` (`in last D`), `start`
    /// (`between`) or the beginning of time (no window), to `now` (and before
    /// `end`). Empty when `from > to`.
    pub fn instants(&self, now: i64) -> (i128, i128) {
        let now = i128::from(now);
        match &self.window {
            None => (i128::from(i64::MIN), now),
            Some(Window::Last { duration }) => (now - duration.exact_millis(), now),
            Some(Window::Between { start, end }) => {
                (i128::from(*start), (i128::from(*end) - 1).min(now))
            }
        }
    }
}

/// `sum avg min max`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AggFunc {
    /// The total (0 for no values).
    Sum,
    /// The mean.
    Avg,
    /// The smallest value.
    Min,
    /// The largest value.
    Max,
}

/// When something happened, relative to `now`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TimeTest {
    /// `in last D`: `now - D <= t <= now`
    InLast {
        /// `D`.
        duration: Duration,
    },
    /// `before D ago`: `t < now - D`
    Before {
        /// `D`.
        duration: Duration,
    },
    /// `between A and B`: `A <= t < B`
    Between {
        /// `A` in epoch milliseconds (UTC), included.
        start: i64,
        /// `B` in epoch milliseconds (UTC), excluded.
        end: i64,
    },
}

impl TimeTest {
    /// The instants `[from, to]` (inclusive, in exact arithmetic) that pass
    /// the test at `now`; `from` is `i64::MIN` for `before D ago`. Empty when
    /// `from > to`.
    pub fn instants(&self, now: i64) -> (i128, i128) {
        let now = i128::from(now);
        match self {
            TimeTest::InLast { duration } => (now - duration.exact_millis(), now),
            TimeTest::Before { duration } => {
                (i128::from(i64::MIN), now - duration.exact_millis() - 1)
            }
            TimeTest::Between { start, end } => (i128::from(*start), i128::from(*end) - 1),
        }
    }
}

/// `rfm.r`, `rfm.f`, `rfm.m`
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RfmDim {
    /// Recency: from the days since the last order (recent is high).
    R,
    /// Frequency: from the number of orders.
    F,
    /// Monetary: from the sum of order revenue.
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
    /// `A and B and …`: every one holds (none: true).
    And {
        /// The operands.
        all: Vec<Condition>,
    },
    /// `A or B or …`: at least one holds (none: false).
    Or {
        /// The operands.
        any: Vec<Condition>,
    },
    /// `not A`
    Not {
        /// The negated condition.
        condition: Box<Condition>,
    },
    /// `did E [where P] [window]`: at least one such event.
    Did {
        /// The events.
        query: EventQuery,
    },
    /// `count(E [where P] [window]) TEST`
    Count {
        /// The events counted.
        query: EventQuery,
        /// The test on the count.
        test: NumTest,
    },
    /// `sum("E".prop [where P] [window]) TEST` (events without a numeric value
    /// are skipped; no values: sum is 0, avg/min/max are absent and the test fails)
    Aggregate {
        /// Which aggregate.
        func: AggFunc,
        /// The events whose property is aggregated.
        query: EventQuery,
        /// The property path.
        property: Name,
        /// The test on the aggregate.
        test: NumTest,
    },
    /// `distinct("E".prop [where P] [window]) TEST`: number of distinct values
    Distinct {
        /// The events.
        query: EventQuery,
        /// The property path.
        property: Name,
        /// The test on the number of distinct values.
        test: NumTest,
    },
    /// `top("E".prop [where P] [window]) = V`: the most frequent value (ties: the
    /// value seen most recently)
    Top {
        /// The events.
        query: EventQuery,
        /// The property path.
        property: Name,
        /// The value the most frequent one must equal.
        value: Literal,
    },
    /// `first(E) TIME` / `first_seen TIME` (`events: None`: any event)
    First {
        /// Which events (`None`: any event).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        events: Option<EventFilter>,
        /// When the first one must fall.
        time: TimeTest,
    },
    /// `last(E) TIME` / `last_seen TIME`
    Last {
        /// Which events (`None`: any event).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        events: Option<EventFilter>,
        /// When the last one must fall.
        time: TimeTest,
    },
    /// `did A [where P] [window] then B [where Q] within T`: some A in the window
    /// followed by a B with `t_A < t_B <= t_A + T`.
    Then {
        /// A, in its window.
        first: EventQuery,
        /// B.
        then: EventFilter,
        /// `T`.
        within: Duration,
    },
    /// `did A [where P] [window] then not B [where Q] [within T]`.
    /// With `within`: some A in the window has no B in `(t_A, t_A + T]` and
    /// `t_A + T <= now`. Without: the latest A in the window has no B after it,
    /// up to now.
    ThenNot {
        /// A, in its window.
        first: EventQuery,
        /// B.
        then: EventFilter,
        /// `T` (`None`: up to now).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        within: Option<Duration>,
    },
    /// `stopped E [where P] for D`: an E in `[now-2D, now-D)` and none in
    /// `[now-D, now]`.
    Stopped {
        /// The events.
        events: EventFilter,
        /// `D`.
        period: Duration,
    },
    /// `restarted E [where P] after D`: the mirror of `stopped`: an E in
    /// `[now-D, now]`, none in the gap `[now-2D, now-D)`, and an E before `now-2D`.
    Restarted {
        /// The events.
        events: EventFilter,
        /// `D`.
        gap: Duration,
    },
    /// `regularly E [where P] N per P in K of last M`: in at least K of the last M
    /// periods, at least N events each. Period 0 is `[now-P, now]` (as `in last P`);
    /// period i ≥ 1 is `[now-(i+1)P, now-iP)`.
    Regularly {
        /// The events.
        events: EventFilter,
        /// `N`: events needed in a period.
        times: u32,
        /// `P`: the length of a period.
        period: Duration,
        /// `K`: periods that must have `N` events.
        at_least: u32,
        /// `M`: periods looked at.
        of_last: u32,
    },
    /// `trait.…` tests.
    Trait {
        /// The test.
        test: TraitTest,
    },
    /// `in segment X`
    InSegment {
        /// The segment's name.
        segment: Name,
    },
    /// `rfm.r >= 4`
    RfmScore {
        /// Which score.
        dim: RfmDim,
        /// The test on the score (1 to 5).
        test: NumTest,
    },
    /// `rfm in [Champions, "At risk"]`
    RfmCell {
        /// The cells, any of which matches (see `RFM_CELLS`).
        cells: Vec<Name>,
    },
    /// `predicted.NAME TEST`
    Predicted {
        /// The model's name.
        model: Name,
        /// The test on its output.
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

/// The families conditions fall into, by what they read: evaluators take
/// conditions one family at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// `and`, `or`, `not`, `in segment`: other conditions.
    Logic,
    /// `did`, `count`, aggregates, `distinct`, `top`: the events in a window.
    Counting,
    /// `first`, `last`, `then`, `then not`: events in order.
    Sequence,
    /// `stopped`, `restarted`, `regularly`: activity over periods.
    Pattern,
    /// Traits, RFM scores and cells, predictions: what is known of the person
    /// besides events.
    Profile,
}

impl Condition {
    /// The condition's [`Family`].
    pub fn family(&self) -> Family {
        match self {
            Condition::And { .. }
            | Condition::Or { .. }
            | Condition::Not { .. }
            | Condition::InSegment { .. } => Family::Logic,
            Condition::Did { .. }
            | Condition::Count { .. }
            | Condition::Aggregate { .. }
            | Condition::Distinct { .. }
            | Condition::Top { .. } => Family::Counting,
            Condition::First { .. }
            | Condition::Last { .. }
            | Condition::Then { .. }
            | Condition::ThenNot { .. } => Family::Sequence,
            Condition::Stopped { .. }
            | Condition::Restarted { .. }
            | Condition::Regularly { .. } => Family::Pattern,
            Condition::Trait { .. }
            | Condition::RfmScore { .. }
            | Condition::RfmCell { .. }
            | Condition::Predicted { .. } => Family::Profile,
        }
    }

    /// Calls `f` on this condition and on every condition inside it, parents
    /// before children, left to right (no recursion, however deep the tree).
    pub fn walk<'a>(&'a self, mut f: impl FnMut(&'a Condition)) {
        let mut stack = vec![self];
        while let Some(c) = stack.pop() {
            f(c);
            match c {
                Condition::And { all: cs } | Condition::Or { any: cs } => {
                    stack.extend(cs.iter().rev())
                }
                Condition::Not { condition } => stack.push(condition),
                _ => {}
            }
        }
    }

    /// The segments this condition refers to with `in segment`, in the order
    /// they are written.
    pub fn segment_refs(&self) -> Vec<&Name> {
        let mut refs = Vec::new();
        self.walk(|c| {
            if let Condition::InSegment { segment } = c {
                refs.push(segment);
            }
        });
        refs
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn days(amount: u64) -> Duration {
        Duration {
            amount,
            unit: TimeUnit::Days,
        }
    }

    #[test]
    fn exact_millis_never_saturates() {
        assert_eq!(days(2).exact_millis(), 2 * 86_400_000);
        let huge = Duration {
            amount: u64::MAX,
            unit: TimeUnit::Weeks,
        };
        assert_eq!(huge.exact_millis(), i128::from(u64::MAX) * 7 * 86_400_000);
    }

    #[test]
    fn windows_and_time_tests_as_instants() {
        let query = |window| EventQuery {
            events: EventFilter {
                event: Name::new("E"),
                filter: None,
            },
            window,
        };
        let min = i128::from(i64::MIN);
        assert_eq!(query(None).instants(100), (min, 100));
        let last = Window::Last { duration: days(1) };
        assert_eq!(query(Some(last)).instants(0), (-86_400_000, 0));
        let between = |start, end| Window::Between { start, end };
        assert_eq!(query(Some(between(10, 20))).instants(100), (10, 19));
        assert_eq!(query(Some(between(10, 200))).instants(100), (10, 100));
        let in_last = TimeTest::InLast { duration: days(1) };
        assert_eq!(in_last.instants(0), (-86_400_000, 0));
        let before = TimeTest::Before { duration: days(1) };
        assert_eq!(before.instants(0), (min, -86_400_001));
        let between = TimeTest::Between { start: 10, end: 20 };
        assert_eq!(between.instants(100), (10, 19));
    }
}
