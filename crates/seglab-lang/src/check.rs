//! The checker: what a parsed file means against a [`Catalog`].

use std::collections::{BTreeMap, BTreeSet};

use crate::ast::{
    AggFunc, CmpOp, Condition, Duration, EventFilter, EventQuery, File, Literal, Name, NumTest,
    Pred, RfmDim, Span, TimeTest, Window,
};
use crate::catalog::{Catalog, EventSchema, Kinds, ValueKind};
use crate::cycles::{RefGraph, cycles};
use crate::diagnostic::{Diagnostic, codes};
use crate::printer::{is_identifier, quote};
use crate::rfm::RFM_CELLS;
use crate::suggest::closest;

/// Checks a parsed file against what the workspace knows, returning every
/// error and warning (sorted by position; empty when all is well).
///
/// Errors: unknown event (skipped while the catalog has no events), unknown
/// segment, duplicate segment name, reference cycle (through the file and the
/// catalog's saved segments; a file's definition replaces a saved one of the
/// same name), type mismatch, unknown model, unknown RFM cell,
/// `in K of last M` with K > M, zero duration, empty range, empty `and`/`or`,
/// segment name that is not an identifier. Warnings: unknown property or
/// trait (properties can be sparse), RFM score test outside 1 to 5, a
/// window reaching further back than the store keeps events
/// ([`Catalog::retention`]).
///
/// The checks that the parser also makes (zero durations, empty ranges,
/// `regularly`) matter for trees that come from JSON.
pub fn check(file: &File, catalog: &Catalog) -> Vec<Diagnostic> {
    let mut segment_names: BTreeSet<&str> = catalog.segments.keys().map(String::as_str).collect();
    segment_names.extend(file.segments.iter().map(|d| d.name.text.as_str()));
    let mut checker = Checker {
        catalog,
        segment_names,
        diags: Vec::new(),
    };
    checker.definitions(file);
    for def in &file.segments {
        checker.condition(&def.condition, def.name.span);
    }
    checker.cycles(file);
    let mut diags = checker.diags;
    diags.extend(crate::retention::warnings(file, catalog));
    diags.sort_by_key(|d| (d.span.start, d.span.end));
    diags
}

/// Where the paths of a predicate point.
#[derive(Clone, Copy)]
enum Scope<'a> {
    /// Properties of this event; `schema` is `None` when nothing is known of
    /// them (no events tracked yet, or an unknown event already reported).
    Event {
        event: &'a str,
        schema: Option<&'a EventSchema>,
    },
    /// Profile traits.
    Traits,
}

struct Checker<'a> {
    catalog: &'a Catalog,
    segment_names: BTreeSet<&'a str>,
    diags: Vec<Diagnostic>,
}

impl<'a> Checker<'a> {
    fn error(&mut self, code: &'static str, message: String, span: Span, hint: Option<String>) {
        let mut d = Diagnostic::error(code, message, span);
        d.hint = hint;
        self.diags.push(d);
    }

    fn warning(&mut self, code: &'static str, message: String, span: Span, hint: Option<String>) {
        let mut d = Diagnostic::warning(code, message, span);
        d.hint = hint;
        self.diags.push(d);
    }

    fn definitions(&mut self, file: &'a File) {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        for def in &file.segments {
            let name = def.name.text.as_str();
            if !is_identifier(name) || !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
                self.error(
                    codes::INVALID_SEGMENT_NAME,
                    format!("segment name {} is not an identifier", quote(name)),
                    def.name.span,
                    Some("names are letters, digits and _, starting with a letter".into()),
                );
            }
            if !seen.insert(name) {
                self.error(
                    codes::DUPLICATE_SEGMENT,
                    format!("segment `{name}` is defined more than once"),
                    def.name.span,
                    Some("rename or remove one of the definitions".into()),
                );
            }
        }
    }

    fn condition(&mut self, c: &'a Condition, ctx: Span) {
        match c {
            Condition::And { all: items } | Condition::Or { any: items } => {
                if items.is_empty() {
                    let word = if matches!(c, Condition::And { .. }) {
                        "and"
                    } else {
                        "or"
                    };
                    self.error(
                        codes::EMPTY_GROUP,
                        format!("`{word}` with no conditions"),
                        ctx,
                        Some("give it at least one condition".into()),
                    );
                }
                items.iter().for_each(|i| self.condition(i, ctx));
            }
            Condition::Not { condition } => self.condition(condition, ctx),
            Condition::Did { query } => {
                self.query(query);
            }
            Condition::Count { query, test } => {
                self.query(query);
                self.num_test(test, query.events.event.span);
            }
            Condition::Aggregate {
                func,
                query,
                property,
                test,
            } => {
                let scope = self.query(query);
                if let Some(kinds) = self.lookup(scope, property)
                    && !kinds.is_empty()
                    && !kinds.contains(ValueKind::Number)
                {
                    let func = match func {
                        AggFunc::Sum => "sum",
                        AggFunc::Avg => "avg",
                        AggFunc::Min => "min",
                        AggFunc::Max => "max",
                    };
                    let subject = subject(scope, property);
                    self.error(
                        codes::TYPE_MISMATCH,
                        format!(
                            "{func} needs numbers, but {subject} holds {}",
                            kinds.describe()
                        ),
                        property.span,
                        None,
                    );
                }
                self.num_test(test, query.events.event.span);
            }
            Condition::Distinct {
                query,
                property,
                test,
            } => {
                let scope = self.query(query);
                self.lookup(scope, property);
                self.num_test(test, query.events.event.span);
            }
            Condition::Top {
                query,
                property,
                value,
            } => {
                let scope = self.query(query);
                if let Some(kinds) = self.lookup(scope, property) {
                    self.compare(scope, property, kinds, value);
                }
            }
            Condition::First { events, time } | Condition::Last { events, time } => {
                let span = match events {
                    Some(f) => {
                        self.filter(f);
                        f.event.span
                    }
                    None => ctx,
                };
                match time {
                    TimeTest::InLast { duration } | TimeTest::Before { duration } => {
                        self.duration(*duration, span)
                    }
                    TimeTest::Between { start, end } => self.range(*start, *end, span),
                }
            }
            Condition::Then {
                first,
                then,
                within,
            } => {
                self.query(first);
                self.filter(then);
                self.duration(*within, then.event.span);
            }
            Condition::ThenNot {
                first,
                then,
                within,
            } => {
                self.query(first);
                self.filter(then);
                if let Some(within) = within {
                    self.duration(*within, then.event.span);
                }
            }
            Condition::Stopped { events, period: d } | Condition::Restarted { events, gap: d } => {
                self.filter(events);
                self.duration(*d, events.event.span);
            }
            Condition::Regularly {
                events,
                period,
                at_least,
                of_last,
                ..
            } => {
                self.filter(events);
                self.duration(*period, events.event.span);
                if at_least > of_last {
                    self.error(
                        codes::IMPOSSIBLE_REGULARLY,
                        format!("`in {at_least} of last {of_last}` can never hold"),
                        events.event.span,
                        Some(
                            "the first number counts periods among the last M, so it is at most M"
                                .into(),
                        ),
                    );
                }
            }
            Condition::Trait { test } => self.pred(&test.pred, Scope::Traits, ctx),
            Condition::InSegment { segment } => self.segment_ref(segment),
            Condition::RfmScore { dim, test } => self.rfm_score(*dim, test, ctx),
            Condition::RfmCell { cells } => {
                for cell in cells {
                    if !RFM_CELLS.contains(&cell.text.as_str()) {
                        let hint = match closest(&cell.text, RFM_CELLS) {
                            Some(s) => format!("did you mean {}?", quote(s)),
                            None => format!("the cells are: {}", RFM_CELLS.join(", ")),
                        };
                        self.error(
                            codes::UNKNOWN_RFM_CELL,
                            format!("unknown rfm cell {}", quote(&cell.text)),
                            cell.span,
                            Some(hint),
                        );
                    }
                }
            }
            Condition::Predicted { model, test } => {
                if !self.catalog.models.contains(&model.text) {
                    let models = &self.catalog.models;
                    let hint = if models.is_empty() {
                        "no prediction models exist yet".to_string()
                    } else if let Some(s) = closest(&model.text, models.iter().map(String::as_str))
                    {
                        format!("did you mean {}?", quote(s))
                    } else {
                        let names: Vec<String> = models.iter().take(10).map(|m| quote(m)).collect();
                        let more = if models.len() > 10 { ", …" } else { "" };
                        format!("the models are: {}{more}", names.join(", "))
                    };
                    self.error(
                        codes::UNKNOWN_MODEL,
                        format!("unknown model {}", quote(&model.text)),
                        model.span,
                        Some(hint),
                    );
                }
                self.num_test(test, model.span);
            }
        }
    }

    fn query(&mut self, q: &'a EventQuery) -> Scope<'a> {
        let scope = self.filter(&q.events);
        let span = q.events.event.span;
        match &q.window {
            None => {}
            Some(Window::Last { duration }) => self.duration(*duration, span),
            Some(Window::Between { start, end }) => self.range(*start, *end, span),
        }
        scope
    }

    fn filter(&mut self, f: &'a EventFilter) -> Scope<'a> {
        let schema = self.event(&f.event);
        let scope = Scope::Event {
            event: &f.event.text,
            schema,
        };
        if let Some(p) = &f.filter {
            self.pred(p, scope, f.event.span);
        }
        scope
    }

    /// The event's schema when its properties can be checked.
    fn event(&mut self, name: &Name) -> Option<&'a EventSchema> {
        let events = &self.catalog.events;
        if events.is_empty() {
            return None;
        }
        if let Some(schema) = events.get(&name.text) {
            return Some(schema);
        }
        let hint = match closest(&name.text, events.keys().map(String::as_str)) {
            Some(s) => Some(format!("did you mean {}?", quote(s))),
            None => match name.text.to_ascii_lowercase().as_str() {
                "page" | "pageview" | "page view" | "$pageview" => {
                    Some("`page` calls are tracked as \"Page Viewed\"".to_string())
                }
                "screen" | "screen view" | "$screen" => {
                    Some("`screen` calls are tracked as \"Screen Viewed\"".to_string())
                }
                _ => Some("no event of this name has been tracked".to_string()),
            },
        };
        self.error(
            codes::UNKNOWN_EVENT,
            format!("unknown event {}", quote(&name.text)),
            name.span,
            hint,
        );
        None
    }

    /// The kinds of a property or trait: `None` when nothing can be said
    /// (unknown names are reported here).
    fn lookup(&mut self, scope: Scope<'a>, path: &Name) -> Option<Kinds> {
        let (known, message, code) = match scope {
            Scope::Event { schema: None, .. } => return None,
            Scope::Event {
                event,
                schema: Some(schema),
            } => (
                &schema.properties,
                format!(
                    "event {} has no property {}",
                    quote(event),
                    quote(&path.text)
                ),
                codes::UNKNOWN_PROPERTY,
            ),
            Scope::Traits => {
                if self.catalog.traits.is_empty() {
                    return None;
                }
                (
                    &self.catalog.traits,
                    format!("unknown trait {}", quote(&path.text)),
                    codes::UNKNOWN_TRAIT,
                )
            }
        };
        if let Some(kinds) = known.get(&path.text) {
            return Some(*kinds);
        }
        let hint = match closest(&path.text, known.keys().map(String::as_str)) {
            Some(s) => format!("did you mean {}?", quote(s)),
            None => "it has not been seen yet; it may be rare, or misspelled".to_string(),
        };
        self.warning(code, message, path.span, Some(hint));
        None
    }

    fn pred(&mut self, p: &'a Pred, scope: Scope<'a>, ctx: Span) {
        match p {
            Pred::And { all: items } | Pred::Or { any: items } => {
                if items.is_empty() {
                    self.error(
                        codes::EMPTY_GROUP,
                        "predicate group with no tests".to_string(),
                        ctx,
                        Some("give it at least one test".into()),
                    );
                }
                items.iter().for_each(|i| self.pred(i, scope, ctx));
            }
            Pred::Not { pred } => self.pred(pred, scope, ctx),
            Pred::Cmp { path, value, op } => {
                if let Some(kinds) = self.lookup(scope, path) {
                    if matches!(op, CmpOp::Eq | CmpOp::Ne) || !matches!(value, Literal::Bool(_)) {
                        self.compare(scope, path, kinds, value);
                    } else {
                        self.error(
                            codes::TYPE_MISMATCH,
                            format!("`{}` does not order booleans", op.as_str()),
                            path.span,
                            Some("compare booleans with `=` or `!=`".into()),
                        );
                    }
                }
            }
            Pred::In { path, values } => {
                if let Some(kinds) = self.lookup(scope, path) {
                    for v in values {
                        self.compare(scope, path, kinds, v);
                    }
                }
            }
            Pred::Contains { path, .. } => {
                if let Some(kinds) = self.lookup(scope, path)
                    && !kinds.is_empty()
                    && !kinds.contains(ValueKind::String)
                    && !kinds.contains(ValueKind::Array)
                {
                    let subject = subject(scope, path);
                    self.error(
                        codes::TYPE_MISMATCH,
                        format!(
                            "`contains` needs text or a list, but {subject} holds {}",
                            kinds.describe()
                        ),
                        path.span,
                        Some("compare with `=` instead".into()),
                    );
                }
            }
            Pred::StartsWith { path, .. } => {
                if let Some(kinds) = self.lookup(scope, path)
                    && !kinds.is_empty()
                    && !kinds.contains(ValueKind::String)
                {
                    let subject = subject(scope, path);
                    self.error(
                        codes::TYPE_MISMATCH,
                        format!(
                            "`starts_with` needs text, but {subject} holds {}",
                            kinds.describe()
                        ),
                        path.span,
                        None,
                    );
                }
            }
            Pred::Exists { path } => {
                self.lookup(scope, path);
            }
        }
    }

    /// A property compared with a literal: the literal's kind must be one the
    /// property has been seen with.
    fn compare(&mut self, scope: Scope<'a>, path: &Name, kinds: Kinds, value: &Literal) {
        if kinds.is_empty() {
            return;
        }
        let literal_kind = match value {
            Literal::Bool(_) => ValueKind::Bool,
            Literal::Number(_) => ValueKind::Number,
            Literal::String(_) => ValueKind::String,
        };
        let scalars = kinds.scalars();
        let subject = subject(scope, path);
        if scalars.is_empty() {
            let hint = kinds
                .contains(ValueKind::Object)
                .then(|| format!("compare one of its fields, as in {}.field", path.text));
            self.error(
                codes::TYPE_MISMATCH,
                format!("{subject} holds {}, not values", kinds.describe()),
                path.span,
                hint,
            );
            return;
        }
        if scalars.contains(literal_kind) {
            return;
        }
        let hint = match value {
            Literal::String(s)
                if scalars.contains(ValueKind::Number) && s.trim().parse::<f64>().is_ok() =>
            {
                Some(format!("write the number without quotes: {}", s.trim()))
            }
            Literal::String(s)
                if scalars.contains(ValueKind::Bool) && (s == "true" || s == "false") =>
            {
                Some(format!("write the boolean without quotes: {s}"))
            }
            Literal::Number(n) if scalars.contains(ValueKind::String) => {
                Some(format!("quote the value: \"{n}\""))
            }
            Literal::Bool(b) if scalars.contains(ValueKind::String) => {
                Some(format!("quote the value: \"{b}\""))
            }
            _ => None,
        };
        self.error(
            codes::TYPE_MISMATCH,
            format!(
                "{subject} holds {}, not {}",
                scalars.describe(),
                literal_kind.plural()
            ),
            path.span,
            hint,
        );
    }

    fn segment_ref(&mut self, segment: &Name) {
        if self.segment_names.contains(segment.text.as_str()) {
            return;
        }
        let hint = closest(&segment.text, self.segment_names.iter().copied())
            .map(|s| format!("did you mean `{s}`?"));
        self.error(
            codes::UNKNOWN_SEGMENT,
            format!("unknown segment `{}`", segment.text),
            segment.span,
            hint,
        );
    }

    fn rfm_score(&mut self, dim: RfmDim, test: &NumTest, ctx: Span) {
        let dim = match dim {
            RfmDim::R => "r",
            RfmDim::F => "f",
            RfmDim::M => "m",
        };
        let values = match *test {
            NumTest::Cmp { value, .. } => vec![value],
            NumTest::Between { low, high } => vec![low, high],
        };
        for v in values {
            if !(1.0..=5.0).contains(&v) || v.fract() != 0.0 {
                self.warning(
                    codes::RFM_SCORE_RANGE,
                    format!("rfm.{dim} is a whole score from 1 to 5, and {v} is not one"),
                    ctx,
                    Some(
                        "scores are quintiles over buyers: 5 is the best fifth, 1 the worst".into(),
                    ),
                );
            }
        }
        self.num_test(test, ctx);
    }

    fn num_test(&mut self, test: &NumTest, span: Span) {
        if let NumTest::Between { low, high } = *test
            && (low > high || low.is_nan() || high.is_nan())
        {
            self.error(
                codes::EMPTY_RANGE,
                format!("the range is empty: {low} is above {high}"),
                span,
                Some("write the low bound first; both bounds are included".into()),
            );
        }
    }

    fn duration(&mut self, d: Duration, span: Span) {
        if d.amount == 0 {
            self.error(
                codes::ZERO_DURATION,
                "a duration must be longer than zero".to_string(),
                span,
                None,
            );
        }
    }

    fn range(&mut self, start: i64, end: i64, span: Span) {
        if start >= end {
            self.error(
                codes::EMPTY_RANGE,
                "the range is empty: its start is not before its end".to_string(),
                span,
                Some("the start is included and the end excluded".into()),
            );
        }
    }

    /// Reports loops of `in segment` references through the file's segments,
    /// at the file's reference that starts each.
    fn cycles(&mut self, file: &'a File) {
        // Nodes: saved segments, replaced by the file's definitions of the
        // same name (the first one, when a name is defined twice).
        let mut conditions: BTreeMap<&str, &Condition> = BTreeMap::new();
        for (name, condition) in &self.catalog.segments {
            conditions.insert(name, condition);
        }
        let mut starts_by_name: Vec<&str> = Vec::new();
        for def in &file.segments {
            if !starts_by_name.contains(&def.name.text.as_str()) {
                starts_by_name.push(&def.name.text);
                conditions.insert(&def.name.text, &def.condition);
            }
        }
        let names: Vec<&str> = conditions.keys().copied().collect();
        let node = |name: &str| names.binary_search(&name).ok();
        let graph = RefGraph {
            edges: conditions
                .values()
                .map(|c| {
                    c.segment_refs()
                        .into_iter()
                        .filter_map(|r| Some((node(&r.text)?, r)))
                        .collect()
                })
                .collect(),
        };
        let starts: Vec<usize> = starts_by_name.iter().filter_map(|n| node(n)).collect();
        for path in cycles(&graph, &starts) {
            let Some(first) = path.first() else { continue };
            let Some(last) = path.last() else { continue };
            let mut chain: Vec<&str> = vec![&last.text];
            chain.extend(path.iter().map(|r| r.text.as_str()));
            self.error(
                codes::SEGMENT_CYCLE,
                format!("segment reference cycle: {}", chain.join(" → ")),
                first.span,
                Some("a segment cannot include itself, even through other segments".into()),
            );
        }
    }
}

/// `property "x" of "E"` or `trait "x"`, for messages.
fn subject(scope: Scope<'_>, path: &Name) -> String {
    match scope {
        Scope::Event { event, .. } => {
            format!("property {} of {}", quote(&path.text), quote(event))
        }
        Scope::Traits => format!("trait {}", quote(&path.text)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse;

    fn catalog() -> Catalog {
        Catalog::new()
            .with_event(
                "Order Completed",
                [
                    ("revenue", ValueKind::Number),
                    ("currency", ValueKind::String),
                ],
            )
            .with_event("Product Viewed", [("category", ValueKind::String)])
            .with_trait("plan", ValueKind::String)
            .with_segment(
                "saved",
                crate::parse_condition("in segment loop_a").unwrap(),
            )
            .with_model("churn")
    }

    fn codes_of(src: &str) -> Vec<&'static str> {
        let file = parse(src).unwrap();
        check(&file, &catalog()).iter().map(|d| d.code).collect()
    }

    #[test]
    fn clean_file_has_no_diagnostics() {
        assert_eq!(
            codes_of(
                r#"segment a = sum("Order Completed".revenue where currency = "USD") > 1 and trait.plan = "pro" and predicted.churn > 0.5 and in segment saved"#
            ),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn cycles_through_saved_segments() {
        let file = parse("segment loop_a = in segment saved").unwrap();
        let diags = check(&file, &catalog());
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].message,
            "segment reference cycle: loop_a → saved → loop_a"
        );
        assert_eq!(diags[0].span, Span::new(28, 33));
    }

    #[test]
    fn one_report_per_cycle() {
        let diags = codes_of(
            "segment a = in segment b\nsegment b = in segment c\nsegment c = in segment a or in segment c",
        );
        assert_eq!(diags, vec![codes::SEGMENT_CYCLE, codes::SEGMENT_CYCLE]);
    }

    #[test]
    fn long_chains_do_not_overflow() {
        let mut src = String::new();
        for i in 0..5000 {
            src.push_str(&format!("segment s{i} = in segment s{}\n", i + 1));
        }
        src.push_str("segment s5000 = in segment s0\n");
        let diags = codes_of(&src);
        assert_eq!(diags, vec![codes::SEGMENT_CYCLE]);
    }

    #[test]
    fn fresh_install_skips_event_checks() {
        let file = parse(r#"segment a = sum("Anything".whatever) > 1 and trait.x = 1"#).unwrap();
        assert!(check(&file, &Catalog::new()).is_empty());
    }

    #[test]
    fn json_only_problems() {
        let c = Condition::And {
            all: vec![
                Condition::Or { any: vec![] },
                Condition::Regularly {
                    events: EventFilter {
                        event: Name::new("Order Completed"),
                        filter: None,
                    },
                    times: 1,
                    period: Duration {
                        amount: 0,
                        unit: crate::ast::TimeUnit::Days,
                    },
                    at_least: 3,
                    of_last: 2,
                },
            ],
        };
        let file = File {
            segments: vec![crate::ast::SegmentDef {
                name: Name::new("bad name"),
                title: None,
                condition: c,
                span: Span::default(),
            }],
        };
        let mut found: Vec<&str> = check(&file, &catalog()).iter().map(|d| d.code).collect();
        found.sort();
        assert_eq!(
            found,
            vec![
                codes::EMPTY_GROUP,
                codes::IMPOSSIBLE_REGULARLY,
                codes::INVALID_SEGMENT_NAME,
                codes::ZERO_DURATION
            ]
        );
    }
}
