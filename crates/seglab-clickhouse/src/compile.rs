//! Conditions to SQL.
//!
//! The member set at `now` is one query over `events`:
//!
//! ```sql
//! SELECT person FROM (
//!     SELECT person, <aggregate> AS a0, <aggregate> AS a1, …
//!     FROM db.events FINAL GROUP BY person
//!     HAVING countIf(kind IN (0, 1)) > 0 AND countIf(kind = 3) = 0
//! ) AS people [ALL LEFT JOIN (<RFM scores>) AS rfm USING person]
//! WHERE <the condition over a0, a1, …>
//! ```
//!
//! Each construct adds the per-person aggregates it needs (`countIf`,
//! `minIf`, `groupArrayIf` of times for sequences, sorted arrays of values
//! for sums, whose floating-point total depends on the order, as in the
//! reference evaluator) and a test over them. Identical aggregates are shared.
//! `in segment X` is X's condition, inlined. Every bound that involves `now` or
//! a duration is computed here, exactly (`i128`), and written as a literal.

use std::collections::{BTreeMap, HashMap};

use seglab_engine::reference::pred_holds;
use seglab_engine::rfm::{ORDER_EVENT, REVENUE_PROPERTY};
use seglab_lang::ast::{
    AggFunc, CmpOp, Condition, EventFilter, EventQuery, Literal, NumTest, Pred, RfmDim, TimeTest,
    Window,
};
use seglab_lang::{RFM_CELLS, RFM_GRID};
use serde_json::Map;

use crate::rows::{BOOL, EVENT, MERGED, NUMBER, OBJECT, PREDICTION, STRING, TRAITS};
use crate::sql::{all, any, at_least, at_most, below, float, length, not, string};
use crate::{Refused, Schema};

/// A compiled condition: the SQL of its members at any `now`.
#[derive(Debug, Clone)]
pub struct Query {
    condition: Condition,
    segments: BTreeMap<String, Condition>,
    table: String,
    /// Behavioral events before this instant are left out (expired).
    events_from: Option<i64>,
}

/// Compiles `condition` for the tables of `schema`; `segments` holds the
/// definitions `in segment` may name. Unknown segments, cycles and unknown
/// RFM cells are refused, whether or not evaluation would reach them (as the
/// engine does).
pub fn compile(
    condition: &Condition,
    segments: &BTreeMap<String, Condition>,
    schema: &Schema,
) -> Result<Query, Refused> {
    validate(condition, segments, &mut Vec::new())?;
    Ok(Query {
        condition: condition.clone(),
        segments: segments.clone(),
        table: schema.table(),
        events_from: None,
    })
}

fn validate(
    c: &Condition,
    segments: &BTreeMap<String, Condition>,
    stack: &mut Vec<String>,
) -> Result<(), Refused> {
    match c {
        Condition::And { all: cs } | Condition::Or { any: cs } => {
            cs.iter().try_for_each(|c| validate(c, segments, stack))
        }
        Condition::Not { condition } => validate(condition, segments, stack),
        Condition::InSegment { segment } => {
            let name = &segment.text;
            if let Some(at) = stack.iter().position(|s| s == name) {
                let mut cycle = stack[at..].to_vec();
                cycle.push(name.clone());
                return Err(Refused::SegmentCycle { cycle });
            }
            let def = segments
                .get(name)
                .ok_or_else(|| Refused::UnknownSegment { name: name.clone() })?;
            stack.push(name.clone());
            validate(def, segments, stack)?;
            stack.pop();
            Ok(())
        }
        Condition::RfmCell { cells } => {
            match cells.iter().find(|c| !RFM_CELLS.contains(&c.text.as_str())) {
                Some(c) => Err(Refused::UnknownRfmCell {
                    name: c.text.clone(),
                }),
                None => Ok(()),
            }
        }
        _ => Ok(()),
    }
}

impl Query {
    /// The same query, leaving out the behavioral events before `cutoff`
    /// (event retention: the store deleted them, and the warehouse's
    /// mutation deleting them may still be running). `None`: every event.
    pub fn events_from(mut self, cutoff: Option<i64>) -> Query {
        self.events_from = cutoff;
        self
    }

    /// The rows a query reads: deduplicated, expired events left out.
    fn rows(&self) -> String {
        match self.events_from {
            Some(cutoff) => format!(
                "{} FINAL WHERE kind != {EVENT} OR ts >= {cutoff}",
                self.table
            ),
            None => format!("{} FINAL", self.table),
        }
    }

    /// The SQL of the members at `now` (milliseconds since the epoch): one
    /// column, `person`, ascending.
    pub fn sql(&self, now: i64) -> String {
        let mut g = Gen {
            now: i128::from(now),
            segments: &self.segments,
            aggregates: Vec::new(),
            index: HashMap::new(),
            rfm: false,
        };
        let test = g.condition(&self.condition);
        let mut columns = String::from("person");
        for (i, a) in g.aggregates.iter().enumerate() {
            columns.push_str(&format!(", {a} AS a{i}"));
        }
        // Every column is selected by name: ClickHouse 18.16 does not read
        // a subquery's columns that only lambdas use.
        let mut names: Vec<String> = (0..g.aggregates.len()).map(|i| format!("a{i}")).collect();
        names.insert(0, "person".to_owned());
        if g.rfm {
            names.extend(["rfm_r", "rfm_f", "rfm_m"].map(String::from));
        }
        let mut out = format!(
            "SELECT person FROM (SELECT {names} FROM (SELECT {columns} FROM {rows} GROUP BY person \
             HAVING {exists}) AS people",
            exists = person_exists(),
            names = names.join(", "),
            rows = self.rows()
        );
        if g.rfm {
            out.push_str(&format!(
                " ALL LEFT JOIN ({}) AS rfm USING person",
                rfm_scores(&self.rows(), g.now)
            ));
        }
        out.push_str(&format!(" WHERE {test}) ORDER BY person"));
        out
    }
}

/// One evaluation's SQL being written.
struct Gen<'a> {
    now: i128,
    segments: &'a BTreeMap<String, Condition>,
    aggregates: Vec<String>,
    index: HashMap<String, usize>,
    /// Whether the RFM scores are joined.
    rfm: bool,
}

impl Gen<'_> {
    /// The alias of a per-person aggregate (shared when written twice).
    fn agg(&mut self, expr: String) -> String {
        let next = self.aggregates.len();
        let i = *self.index.entry(expr.clone()).or_insert(next);
        if i == next {
            self.aggregates.push(expr);
        }
        format!("a{i}")
    }

    fn seen(&self) -> String {
        at_most("ts", self.now)
    }

    fn window(&self, w: Option<&Window>) -> String {
        let seen = self.seen();
        match w {
            None => seen,
            Some(Window::Last { duration }) => {
                all([seen, at_least("ts", self.now - duration.exact_millis())])
            }
            Some(Window::Between { start, end }) => all([
                seen,
                at_least("ts", i128::from(*start)),
                below("ts", i128::from(*end)),
            ]),
        }
    }

    /// Rows of events matching a query: name, filter, window.
    fn query(&self, q: &EventQuery) -> String {
        all([events(&q.events), self.window(q.window.as_ref())])
    }

    fn time(&self, t: &str, test: &TimeTest) -> String {
        match test {
            TimeTest::InLast { duration } => all([
                at_least(t, self.now - duration.exact_millis()),
                at_most(t, self.now),
            ]),
            TimeTest::Before { duration } => below(t, self.now - duration.exact_millis()),
            TimeTest::Between { start, end } => {
                all([at_least(t, i128::from(*start)), below(t, i128::from(*end))])
            }
        }
    }

    /// A count of rows, as a number for a test.
    fn count(&mut self, rows: String) -> String {
        if rows == "0" {
            return "0".to_owned();
        }
        self.agg(format!("countIf({rows})"))
    }

    /// Whether some row matches.
    fn some(&mut self, rows: String) -> String {
        if rows == "0" {
            return "0".to_owned();
        }
        format!("{} > 0", self.count(rows))
    }

    fn condition(&mut self, c: &Condition) -> String {
        match c {
            Condition::And { all: cs } => {
                let parts: Vec<String> = cs.iter().map(|c| self.condition(c)).collect();
                all(parts)
            }
            Condition::Or { any: cs } => {
                let parts: Vec<String> = cs.iter().map(|c| self.condition(c)).collect();
                any(parts)
            }
            Condition::Not { condition } => not(self.condition(condition)),
            Condition::InSegment { segment } => {
                // Validated by `compile`: defined, no cycle.
                let segments = self.segments;
                match segments.get(&segment.text) {
                    Some(def) => self.condition(def),
                    None => "0".to_owned(),
                }
            }
            Condition::Did { query } => {
                let rows = self.query(query);
                self.some(rows)
            }
            Condition::Count { query, test } => {
                let rows = self.query(query);
                let n = self.count(rows);
                num_test(&format!("toFloat64({n})"), test)
            }
            Condition::Aggregate {
                func,
                query,
                property,
                test,
            } => {
                let rows = self.query(query);
                let values = self.agg(ordered_numbers(&property.text, &rows));
                let sum = format!("(arrayCumSum({values})[-1] + 0)");
                match func {
                    AggFunc::Sum => num_test(&sum, test),
                    AggFunc::Avg => all([
                        format!("length({values}) > 0"),
                        num_test(&format!("({sum} / length({values}))"), test),
                    ]),
                    AggFunc::Min | AggFunc::Max => {
                        let f = if *func == AggFunc::Min { "min" } else { "max" };
                        all([
                            format!("length({values}) > 0"),
                            num_test(&format!("arrayReduce('{f}', {values})"), test),
                        ])
                    }
                }
            }
            Condition::Distinct {
                query,
                property,
                test,
            } => {
                let rows = self.query(query);
                let n = self.agg(format!(
                    "uniqExactArrayIf(arrayFilter((t, ep, ek) -> ep = {p} AND ek != {OBJECT}, \
                     arrayMap((ek, es, ex) -> (ek, es, ex), p_kind, p_str, p_num), p_path, p_kind), {rows})",
                    p = string(&property.text)
                ));
                num_test(&format!("toFloat64({n})"), test)
            }
            Condition::Top {
                query,
                property,
                value,
            } => {
                let rows = self.query(query);
                // (kind, number, text, time) of every value, sorted: each
                // value's occurrences end with its latest.
                let s = self.agg(format!(
                    "arraySort(groupArrayArrayIf(arrayMap((t, tt) -> (t.2, t.4, t.3, tt), {values}, \
                     arrayResize(emptyArrayInt64(), length({values}), ts)), {rows}))",
                    values = format!(
                        "arrayFilter(t -> t.1 = {} AND t.2 != {OBJECT}, \
                         arrayMap((ep, ek, es, ex) -> (ep, ek, es, ex), p_path, p_kind, p_str, p_num))",
                        string(&property.text)
                    )
                ));
                let occurrence = format!(
                    "arrayEnumerateUniq(arrayMap(e -> e.1, {s}), arrayMap(e -> e.2, {s}), arrayMap(e -> e.3, {s}))"
                );
                // Whether each entry is the last of its value.
                let last = format!(
                    "arrayMap((e, n) -> e.1 != n.1 OR e.2 != n.2 OR e.3 != n.3, {s}, \
                     arraySlice(arrayPushBack(arrayPopFront({s}), (toUInt8(255), toFloat64(0), '', toInt64(0))), 1, length({s})))"
                );
                // Per value: (occurrences, latest time, kind, number, text).
                let ranked = format!(
                    "arrayReverseSort(arrayFilter((r, l) -> l, \
                     arrayMap((e, u) -> (u, e.4, e.1, e.2, e.3), {s}, {occurrence}), {last}))"
                );
                let (k, x, t) = key(value);
                format!(
                    "arrayExists(b -> b.3 = {k} AND b.4 = {x} AND b.5 = {t}, arraySlice({ranked}, 1, 1))"
                )
            }
            Condition::First { events: f, time } | Condition::Last { events: f, time } => {
                let rows = all([
                    f.as_ref().map_or_else(|| format!("kind = {EVENT}"), events),
                    self.seen(),
                ]);
                if rows == "0" {
                    return "0".to_owned();
                }
                let has = self.some(rows.clone());
                let f = if matches!(c, Condition::First { .. }) {
                    "minIf"
                } else {
                    "maxIf"
                };
                let t = self.agg(format!("{f}(ts, {rows})"));
                all([has, self.time(&t, time)])
            }
            Condition::Then {
                first,
                then,
                within,
            } => {
                let next = self.next_b(first, then);
                let t = length(within.exact_millis());
                format!("arrayExists((a, g) -> a.2 = 1 AND g >= 0 AND g <= {t}, {next})")
            }
            Condition::ThenNot {
                first,
                then,
                within: Some(within),
            } => {
                let next = self.next_b(first, then);
                let t = length(within.exact_millis());
                let due = at_most("a.1", self.now - within.exact_millis());
                format!(
                    "arrayExists((a, g) -> a.2 = 1 AND {due} AND NOT (g >= 0 AND g <= {t}), {next})"
                )
            }
            Condition::ThenNot {
                first,
                then,
                within: None,
            } => {
                let rows_a = self.query(first);
                let rows_b = all([events(then), self.seen()]);
                if rows_a == "0" {
                    return "0".to_owned();
                }
                let has_a = self.some(rows_a.clone());
                let latest_a = self.agg(format!("maxIf(ts, {rows_a})"));
                if rows_b == "0" {
                    return has_a;
                }
                let n_b = self.count(rows_b.clone());
                let latest_b = self.agg(format!("maxIf(ts, {rows_b})"));
                all([has_a, format!("({n_b} = 0 OR {latest_b} <= {latest_a})")])
            }
            Condition::Stopped { events: f, period } => {
                let (d, now) = (period.exact_millis(), self.now);
                let before = self.some(all([
                    events(f),
                    at_least("ts", now - 2 * d),
                    below("ts", now - d),
                ]));
                let lately = self.some(all([events(f), at_least("ts", now - d), self.seen()]));
                all([before, not(lately)])
            }
            Condition::Restarted { events: f, gap } => {
                let (d, now) = (gap.exact_millis(), self.now);
                let lately = self.some(all([events(f), at_least("ts", now - d), self.seen()]));
                let gap = self.some(all([
                    events(f),
                    at_least("ts", now - 2 * d),
                    below("ts", now - d),
                ]));
                let earlier = self.some(all([events(f), below("ts", now - 2 * d)]));
                all([lately, not(gap), earlier])
            }
            Condition::Regularly {
                events: f,
                times,
                period,
                at_least: k,
                of_last: m,
            } => {
                if *k == 0 {
                    return "1".to_owned();
                }
                if *m == 0 || *m < *k {
                    return "0".to_owned();
                }
                if *times == 0 {
                    return "1".to_owned();
                }
                let (p, now) = (period.exact_millis(), self.now);
                let rows = all([
                    events(f),
                    self.seen(),
                    at_least("ts", now - i128::from(*m) * p),
                ]);
                if rows == "0" {
                    return "0".to_owned();
                }
                // Period of an event `d = now - t` back: 0 for d <= P, then
                // i for iP < d <= (i+1)P.
                let periods = self.agg(format!(
                    "groupArrayIf(intDiv(greatest({now} - ts, 1) - 1, {p}), {rows})",
                    p = length(p)
                ));
                format!("arrayCount(x -> x = {times}, arrayEnumerateUniq({periods})) >= {k}")
            }
            Condition::Trait { test } => {
                // A person with no snapshot has no traits.
                let empty = if pred_holds(&test.pred, &Map::new()) {
                    "1"
                } else {
                    "0"
                };
                let holds = pred(&test.pred);
                let has = self.agg(format!("countIf(kind = {TRAITS})"));
                let latest = self.agg(format!("argMaxIf({holds}, seq, kind = {TRAITS})"));
                format!("if({has} > 0, {latest} = 1, {empty})")
            }
            Condition::RfmScore { dim, test } => {
                self.rfm = true;
                let col = match dim {
                    RfmDim::R => "rfm_r",
                    RfmDim::F => "rfm_f",
                    RfmDim::M => "rfm_m",
                };
                all([
                    format!("{col} >= 1"),
                    num_test(&format!("toFloat64({col})"), test),
                ])
            }
            Condition::RfmCell { cells } => {
                let mut codes = Vec::new();
                for (r, row) in RFM_GRID.iter().enumerate() {
                    for (f, cell) in row.iter().enumerate() {
                        if cells.iter().any(|c| c.text == *cell) {
                            codes.push(format!("{}", (r + 1) * 10 + f + 1));
                        }
                    }
                }
                if codes.is_empty() {
                    return "0".to_owned();
                }
                self.rfm = true;
                format!(
                    "(rfm_r >= 1 AND rfm_r * 10 + rfm_f IN ({}))",
                    codes.join(", ")
                )
            }
            Condition::Predicted { model, test } => {
                let rows = format!("kind = {PREDICTION} AND name = {}", string(&model.text));
                let has = self.some(rows.clone());
                let value = self.agg(format!("argMaxIf(value, seq, {rows})"));
                all([has, num_test(&value, test)])
            }
        }
    }

    /// `(a, g)` arrays for a sequence: `a` walks A's and B's times merged in
    /// order as `(time, 1)` for an A and `(time, 0)` for a B (a B at the same
    /// time as an A comes first: it is not after it), and `g` is, at each
    /// position, how long after it the first later B is (-1 when none).
    /// Written with no nested lambda and no captured column, which
    /// ClickHouse 18.16 cannot compile.
    fn next_b(&mut self, first: &EventQuery, then: &EventFilter) -> String {
        let a = self.times(self.query(first));
        let b = self.times(all([events(then), self.seen()]));
        let merged = format!(
            "arraySort(arrayConcat(arrayMap(t -> (t, toUInt8(0)), {b}), arrayMap(t -> (t, toUInt8(1)), {a})))"
        );
        // B's up to each position; the next B is the sorted B's one after.
        let seen_b = format!("arrayCumSum(arrayMap(m -> 1 - m.2, {merged}))");
        let gap = format!(
            "arrayMap((m, c) -> if(c < length({b}), arraySort({b})[c + 1] - m.1, -1), {merged}, {seen_b})"
        );
        format!("{merged}, {gap}")
    }

    /// The times of the matching rows, as an array per person.
    fn times(&mut self, rows: String) -> String {
        if rows == "0" {
            return "emptyArrayInt64()".to_owned();
        }
        self.agg(format!("groupArrayIf(ts, {rows})"))
    }
}

/// Rows of events named as `f` says whose properties pass its filter.
fn events(f: &EventFilter) -> String {
    all([
        format!("kind = {EVENT}"),
        format!("name = {}", string(&f.event.text)),
        f.filter.as_ref().map_or_else(|| "1".to_owned(), pred),
    ])
}

/// The numeric values of `path` over the rows, in the reference evaluator's
/// order (time, arrival, position in the event).
fn ordered_numbers(path: &str, rows: &str) -> String {
    let values = format!(
        "arrayFilter((ex, ep, ek) -> ep = {} AND ek = {NUMBER}, p_num, p_path, p_kind)",
        string(path)
    );
    format!(
        "arrayMap(t -> t.4, arraySort(groupArrayArrayIf(arrayMap((ex, ei, et, es) -> (et, es, ei, ex), \
         {values}, arrayEnumerate({values}), arrayResize(emptyArrayInt64(), length({values}), ts), \
         arrayResize(emptyArrayUInt64(), length({values}), seq)), {rows})))"
    )
}

/// A numeric test on a Float64 expression.
fn num_test(x: &str, test: &NumTest) -> String {
    match test {
        NumTest::Cmp { op, value } => format!("{x} {} {}", op_sql(*op), float(*value)),
        NumTest::Between { low, high } => {
            format!("({x} >= {} AND {x} <= {})", float(*low), float(*high))
        }
    }
}

fn op_sql(op: CmpOp) -> &'static str {
    match op {
        CmpOp::Eq => "=",
        CmpOp::Ne => "!=",
        CmpOp::Lt => "<",
        CmpOp::Le => "<=",
        CmpOp::Gt => ">",
        CmpOp::Ge => ">=",
    }
}

/// (kind, number, text) of a literal, as entries hold them.
fn key(l: &Literal) -> (u8, String, String) {
    match l {
        Literal::Bool(b) => (BOOL, float(f64::from(u8::from(*b))), string("")),
        Literal::Number(x) => (NUMBER, float(*x + 0.0), string("")),
        Literal::String(s) => (STRING, float(0.0), string(s)),
    }
}

/// An entry (`ek`, `es`, `ex`) equal to a literal.
fn entry_eq(l: &Literal) -> String {
    match l {
        Literal::String(s) => format!("(ek = {STRING} AND es = {})", string(s)),
        Literal::Number(x) => format!("(ek = {NUMBER} AND ex = {})", float(*x)),
        Literal::Bool(b) => format!("(ek = {BOOL} AND ex = {})", u8::from(*b)),
    }
}

/// Whether a predicate holds on a row's entries.
fn pred(p: &Pred) -> String {
    let some = |path: &str, test: String| -> String {
        if test == "0" {
            return "0".to_owned();
        }
        format!(
            "arrayExists((ep, ek, es, ex, ea) -> ep = {} AND {test}, p_path, p_kind, p_str, p_num, p_arr)",
            string(path)
        )
    };
    match p {
        Pred::Cmp { path, op, value } => {
            let test = match (op, value) {
                (CmpOp::Eq, v) => entry_eq(v),
                (CmpOp::Ne, v) => format!("NOT {}", entry_eq(v)),
                (op, Literal::Number(x)) => {
                    format!("(ek = {NUMBER} AND ex {} {})", op_sql(*op), float(*x))
                }
                (op, Literal::String(s)) => {
                    format!("(ek = {STRING} AND es {} {})", op_sql(*op), string(s))
                }
                (_, Literal::Bool(_)) => "0".to_owned(),
            };
            some(&path.text, test)
        }
        Pred::In { path, values } => some(&path.text, any(values.iter().map(entry_eq))),
        Pred::Contains { path, value } => {
            let element = format!("(ea = 1 AND {})", entry_eq(value));
            let test = match value {
                Literal::String(s) if s.is_empty() => {
                    format!("({element} OR (ea = 0 AND ek = {STRING}))")
                }
                Literal::String(s) => format!(
                    "({element} OR (ea = 0 AND ek = {STRING} AND position(es, {}) > 0))",
                    string(s)
                ),
                _ => element,
            };
            some(&path.text, test)
        }
        Pred::StartsWith { path, value } => {
            let test = if value.is_empty() {
                format!("ek = {STRING}")
            } else {
                format!(
                    "(ek = {STRING} AND substring(es, 1, {}) = {})",
                    value.len(),
                    string(value)
                )
            };
            some(&path.text, test)
        }
        Pred::Exists { path } => format!("has(p_path, {})", string(&path.text)),
        Pred::And { all: ps } => all(ps.iter().map(pred)),
        Pred::Or { any: ps } => any(ps.iter().map(pred)),
        Pred::Not { pred: p } => not(pred(p)),
    }
}

/// A person is someone with events or traits who was not merged into
/// another (whose rows then live on under the other too).
fn person_exists() -> String {
    format!("countIf(kind = {EVENT} OR kind = {TRAITS}) > 0 AND countIf(kind = {MERGED}) = 0")
}

/// `(person, rfm_r, rfm_f, rfm_m)` of every buyer at `now`: each score is
/// `1 + floor(5 w / n)` with `w` the buyers strictly worse on it. `w` comes
/// from the buyers counted by value, sorted, and summed before each value
/// (no lambda captures a whole column, so this stays linear in the buyers).
/// `rows` is what the query reads (see [`Query::rows`]).
fn rfm_scores(rows: &str, now: i128) -> String {
    let orders = all([
        format!("kind = {EVENT}"),
        format!("name = {}", string(ORDER_EVENT)),
        at_most("ts", now),
    ]);
    let revenue = ordered_numbers(REVENUE_PROPERTY, &orders);
    let buyers = format!(
        "SELECT person, maxIf(ts, {orders}) AS last, toFloat64(countIf({orders})) AS orders, \
         (arrayCumSum({revenue})[-1] + 0) AS revenue \
         FROM {rows} GROUP BY person HAVING orders > 0 AND countIf(kind = {MERGED}) = 0"
    );
    let score = |value: &str, alias: &str| {
        format!(
            "SELECT person, least(5, 1 + intDiv(5 * w, n)) AS {alias} \
             FROM (SELECT person, {value} AS v FROM ({buyers})) AS b \
             ALL INNER JOIN (SELECT v, w, n FROM (\
             SELECT arraySort(groupArray((v, c))) AS s, sum(c) AS n FROM (\
             SELECT {value} AS v, count() AS c FROM ({buyers}) GROUP BY v)) \
             ARRAY JOIN arrayMap(t -> t.1, s) AS v, \
             arrayMap((a, b) -> a - b, arrayCumSum(arrayMap(t -> t.2, s)), arrayMap(t -> t.2, s)) AS w) \
             AS ranks USING v"
        )
    };
    format!(
        "SELECT person, rfm_r, rfm_f, rfm_m FROM (\
         SELECT person, rfm_r, rfm_f FROM ({r}) AS r ALL INNER JOIN ({f}) AS f USING person) AS rf \
         ALL INNER JOIN ({m}) AS m USING person",
        r = score("last", "rfm_r"),
        f = score("orders", "rfm_f"),
        m = score("revenue", "rfm_m"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use seglab_lang::parse_condition;

    fn sql(text: &str, now: i64) -> String {
        let c = parse_condition(text).unwrap();
        compile(&c, &BTreeMap::new(), &Schema::new("db"))
            .unwrap()
            .sql(now)
    }

    #[test]
    fn shared_aggregates_are_written_once() {
        let s = sql(
            r#"did "A" in last 1h or not did "A" in last 1h"#,
            10_000_000,
        );
        // One for the condition, two for who is a person.
        assert_eq!(s.matches("countIf(").count(), 3, "{s}");
        assert!(s.contains("ts >= 6400000"), "{s}");
    }

    #[test]
    fn unknown_segments_and_cells_are_refused() {
        let c = parse_condition("in segment nope").unwrap();
        let e = compile(&c, &BTreeMap::new(), &Schema::new("db")).unwrap_err();
        assert_eq!(e.code(), "unknown_segment");
        let c = parse_condition("rfm in [Bogus]").unwrap();
        let e = compile(&c, &BTreeMap::new(), &Schema::new("db")).unwrap_err();
        assert_eq!(e.code(), "unknown_rfm_cell");
        let mut defs = BTreeMap::new();
        defs.insert("a".to_owned(), parse_condition("in segment b").unwrap());
        defs.insert("b".to_owned(), parse_condition("in segment a").unwrap());
        let e = compile(&defs["a"], &defs, &Schema::new("db")).unwrap_err();
        assert_eq!(e.code(), "segment_cycle");
    }

    #[test]
    fn expired_events_are_left_out_everywhere() {
        let c = parse_condition("rfm in [Champions] or not did \"A\"").unwrap();
        let q = compile(&c, &BTreeMap::new(), &Schema::new("db")).unwrap();
        assert!(!q.sql(0).contains("WHERE kind != 0"));
        let s = q.events_from(Some(5_000)).sql(0);
        // The people, and each of the RFM subquery's buyer scans.
        assert_eq!(
            s.matches("FINAL WHERE kind != 0 OR ts >= 5000").count(),
            7,
            "{s}"
        );
        assert_eq!(s.matches("FINAL").count(), 7, "{s}");
    }

    #[test]
    fn rfm_joins_the_scores() {
        let s = sql("rfm in [Champions]", 0);
        assert!(s.contains("ALL LEFT JOIN"), "{s}");
        assert!(s.contains("rfm_r * 10 + rfm_f IN (54, 55)"), "{s}");
    }
}
