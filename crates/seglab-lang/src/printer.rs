//! The pretty-printer: writes a syntax tree back as canonical source.
//!
//! For every tree the parser can produce, `parse(print(tree))` gives the same
//! tree back (spans aside). The output uses as few parentheses as the
//! precedence rules allow, writes durations in the unit they were written in,
//! numbers in their shortest exact form, names bare when they can be and quoted
//! otherwise.
//!
//! Trees built by hand or from JSON can hold things the language cannot write:
//! an `and`/`or` with fewer than two operands (printed as its single operand, or
//! as `()` when empty), numbers that are not finite, dates outside the years
//! 0000 to 9999 (printed as their millisecond value), segment names that are not
//! identifiers. [`crate::check`] reports those.

use std::fmt::Write;

use crate::ast::{
    AggFunc, Condition, Duration, EventFilter, EventQuery, File, Literal, Name, NumTest, Pred,
    RfmDim, SegmentDef, TimeTest, Window,
};
use crate::time::format_date;

/// Lines longer than this are wrapped by [`print()`].
pub const LINE_WIDTH: usize = 100;

/// Every keyword of the language. A property path made of identifiers is
/// written bare unless one of them is a keyword.
pub const KEYWORDS: &[&str] = &[
    "after",
    "ago",
    "and",
    "avg",
    "before",
    "between",
    "contains",
    "count",
    "did",
    "distinct",
    "exists",
    "false",
    "first",
    "first_seen",
    "for",
    "in",
    "last",
    "last_seen",
    "max",
    "min",
    "not",
    "of",
    "or",
    "per",
    "predicted",
    "regularly",
    "restarted",
    "rfm",
    "segment",
    "starts_with",
    "stopped",
    "sum",
    "then",
    "top",
    "trait",
    "true",
    "where",
    "within",
];

/// Prints a file: one definition per line; a definition too long for
/// [`LINE_WIDTH`] puts its condition on the next lines, one `and`/`or` operand
/// a line, and is set apart by blank lines.
pub fn print(file: &File) -> String {
    let mut out = String::new();
    let mut previous_wrapped = false;
    for (i, def) in file.segments.iter().enumerate() {
        let text = print_segment(def);
        let wrapped = text.contains('\n');
        if i > 0 && (wrapped || previous_wrapped) {
            out.push('\n');
        }
        out.push_str(&text);
        out.push('\n');
        previous_wrapped = wrapped;
    }
    out
}

/// Prints one definition (without a final line break), wrapped as [`print()`] does.
pub fn print_segment(def: &SegmentDef) -> String {
    let mut head = format!("segment {}", def.name.text);
    if let Some(title) = &def.title {
        head.push(' ');
        head.push_str(&quote(title));
    }
    let body = print_condition(&def.condition);
    let one_line = format!("{head} = {body}");
    if one_line.chars().count() <= LINE_WIDTH {
        return one_line;
    }
    let indent = "    ";
    let (items, word, min) = match &def.condition {
        Condition::And { all } if all.len() >= 2 => (all, "and", 3),
        Condition::Or { any } if any.len() >= 2 => (any, "or", 2),
        _ => return format!("{head} =\n{indent}{body}"),
    };
    if indent.len() + body.chars().count() <= LINE_WIDTH {
        return format!("{head} =\n{indent}{body}");
    }
    let mut out = format!("{head} =");
    for (i, item) in items.iter().enumerate() {
        out.push('\n');
        out.push_str(indent);
        if i > 0 {
            out.push_str(word);
            out.push(' ');
        }
        condition(&mut out, item, min);
    }
    out
}

/// Prints a condition on one line.
pub fn print_condition(c: &Condition) -> String {
    let mut out = String::new();
    condition(&mut out, c, 1);
    out
}

/// Prints a property predicate on one line.
pub fn print_pred(p: &Pred) -> String {
    let mut out = String::new();
    pred(&mut out, p, 1);
    out
}

/// A string literal: `"…"` with `"` `\` and control characters escaped.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Whether `s` can be written bare where an identifier is expected.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A property path at the start of a predicate: bare if every dotted part is
/// an identifier and none is a keyword, else one quoted string.
fn path(out: &mut String, name: &Name) {
    let bare = name
        .text
        .split('.')
        .all(|part| is_identifier(part) && !KEYWORDS.contains(&part));
    if bare {
        out.push_str(&name.text);
    } else {
        out.push_str(&quote(&name.text));
    }
}

/// A path after a `.` (`"E".prop`, `trait.x`, `predicted.x`), where keywords
/// are unambiguous.
fn dotted(out: &mut String, name: &Name) {
    if name.text.split('.').all(is_identifier) {
        out.push_str(&name.text);
    } else {
        out.push_str(&quote(&name.text));
    }
}

fn precedence(c: &Condition) -> u8 {
    match c {
        Condition::Or { any } if any.len() >= 2 => 1,
        Condition::And { all } if all.len() >= 2 => 2,
        Condition::Not { .. } => 3,
        _ => 4,
    }
}

fn condition(out: &mut String, c: &Condition, min: u8) {
    if precedence(c) < min {
        out.push('(');
        condition(out, c, 1);
        out.push(')');
        return;
    }
    match c {
        Condition::And { all: items } | Condition::Or { any: items } => {
            let (word, child_min) = if matches!(c, Condition::And { .. }) {
                (" and ", 3)
            } else {
                (" or ", 2)
            };
            match items.as_slice() {
                [] => out.push_str("()"),
                [only] => condition(out, only, min),
                _ => {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(word);
                        }
                        condition(out, item, child_min);
                    }
                }
            }
        }
        Condition::Not { condition: inner } => {
            out.push_str("not ");
            condition(out, inner, 3);
        }
        Condition::Did { query: q } => {
            out.push_str("did ");
            query(out, q);
        }
        Condition::Count { query: q, test } => {
            out.push_str("count(");
            query(out, q);
            out.push_str(") ");
            num_test(out, test);
        }
        Condition::Aggregate {
            func,
            query: q,
            property,
            test,
        } => {
            out.push_str(match func {
                AggFunc::Sum => "sum",
                AggFunc::Avg => "avg",
                AggFunc::Min => "min",
                AggFunc::Max => "max",
            });
            property_call(out, q, property);
            out.push(' ');
            num_test(out, test);
        }
        Condition::Distinct {
            query: q,
            property,
            test,
        } => {
            out.push_str("distinct");
            property_call(out, q, property);
            out.push(' ');
            num_test(out, test);
        }
        Condition::Top {
            query: q,
            property,
            value,
        } => {
            out.push_str("top");
            property_call(out, q, property);
            out.push_str(" = ");
            literal(out, value);
        }
        Condition::First { events, time } | Condition::Last { events, time } => {
            let word = if matches!(c, Condition::First { .. }) {
                "first"
            } else {
                "last"
            };
            out.push_str(word);
            match events {
                Some(f) => {
                    out.push('(');
                    filter(out, f);
                    out.push_str(") ");
                }
                None => out.push_str("_seen "),
            }
            time_test(out, time);
        }
        Condition::Then {
            first,
            then,
            within,
        } => {
            out.push_str("did ");
            query(out, first);
            out.push_str(" then ");
            filter(out, then);
            out.push_str(" within ");
            duration(out, *within);
        }
        Condition::ThenNot {
            first,
            then,
            within,
        } => {
            out.push_str("did ");
            query(out, first);
            out.push_str(" then not ");
            filter(out, then);
            if let Some(within) = within {
                out.push_str(" within ");
                duration(out, *within);
            }
        }
        Condition::Stopped { events, period } => {
            out.push_str("stopped ");
            filter(out, events);
            out.push_str(" for ");
            duration(out, *period);
        }
        Condition::Restarted { events, gap } => {
            out.push_str("restarted ");
            filter(out, events);
            out.push_str(" after ");
            duration(out, *gap);
        }
        Condition::Regularly {
            events,
            times,
            period,
            at_least,
            of_last,
        } => {
            out.push_str("regularly ");
            filter(out, events);
            let _ = write!(out, " {times} per ");
            duration(out, *period);
            let _ = write!(out, " in {at_least} of last {of_last}");
        }
        Condition::Trait { test } => match &test.pred {
            Pred::And { .. } | Pred::Or { .. } | Pred::Not { .. } => {
                out.push_str("trait(");
                pred(out, &test.pred, 1);
                out.push(')');
            }
            simple => {
                out.push_str("trait.");
                pred_atom(out, simple, dotted);
            }
        },
        Condition::InSegment { segment } => {
            out.push_str("in segment ");
            out.push_str(&segment.text);
        }
        Condition::RfmScore { dim, test } => {
            out.push_str(match dim {
                RfmDim::R => "rfm.r ",
                RfmDim::F => "rfm.f ",
                RfmDim::M => "rfm.m ",
            });
            num_test(out, test);
        }
        Condition::RfmCell { cells } => {
            out.push_str("rfm in [");
            for (i, cell) in cells.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                if is_identifier(&cell.text) {
                    out.push_str(&cell.text);
                } else {
                    out.push_str(&quote(&cell.text));
                }
            }
            out.push(']');
        }
        Condition::Predicted { model, test } => {
            out.push_str("predicted.");
            dotted(out, model);
            out.push(' ');
            num_test(out, test);
        }
    }
}

fn property_call(out: &mut String, q: &EventQuery, property: &Name) {
    out.push('(');
    out.push_str(&quote(&q.events.event.text));
    out.push('.');
    dotted(out, property);
    if let Some(p) = &q.events.filter {
        out.push_str(" where ");
        pred(out, p, 1);
    }
    window(out, q.window.as_ref());
    out.push(')');
}

fn query(out: &mut String, q: &EventQuery) {
    filter(out, &q.events);
    window(out, q.window.as_ref());
}

fn filter(out: &mut String, f: &EventFilter) {
    out.push_str(&quote(&f.event.text));
    if let Some(p) = &f.filter {
        out.push_str(" where ");
        pred(out, p, 1);
    }
}

fn window(out: &mut String, w: Option<&Window>) {
    match w {
        None => {}
        Some(Window::Last { duration: d }) => {
            out.push_str(" in last ");
            duration(out, *d);
        }
        Some(Window::Between { start, end }) => {
            out.push_str(" between ");
            date(out, *start);
            out.push_str(" and ");
            date(out, *end);
        }
    }
}

fn time_test(out: &mut String, t: &TimeTest) {
    match t {
        TimeTest::InLast { duration: d } => {
            out.push_str("in last ");
            duration(out, *d);
        }
        TimeTest::Before { duration: d } => {
            out.push_str("before ");
            duration(out, *d);
            out.push_str(" ago");
        }
        TimeTest::Between { start, end } => {
            out.push_str("between ");
            date(out, *start);
            out.push_str(" and ");
            date(out, *end);
        }
    }
}

fn date(out: &mut String, ms: i64) {
    match format_date(ms) {
        Some(text) => out.push_str(&text),
        None => {
            let _ = write!(out, "{ms}");
        }
    }
}

fn duration(out: &mut String, d: Duration) {
    let _ = write!(out, "{}{}", d.amount, d.unit.suffix());
}

fn num_test(out: &mut String, t: &NumTest) {
    match t {
        NumTest::Cmp { op, value } => {
            let _ = write!(out, "{} {}", op.as_str(), number(*value));
        }
        NumTest::Between { low, high } => {
            let _ = write!(out, "between {} and {}", number(*low), number(*high));
        }
    }
}

/// The shortest text that reads back as exactly `x` (Rust's `{}` for `f64`
/// never uses an exponent, and integral values have no `.0`).
fn number(x: f64) -> String {
    format!("{x}")
}

fn literal(out: &mut String, l: &Literal) {
    match l {
        Literal::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Literal::Number(x) => out.push_str(&number(*x)),
        Literal::String(s) => out.push_str(&quote(s)),
    }
}

fn pred_precedence(p: &Pred) -> u8 {
    match p {
        Pred::Or { any } if any.len() >= 2 => 1,
        Pred::And { all } if all.len() >= 2 => 2,
        Pred::Not { .. } => 3,
        _ => 4,
    }
}

fn pred(out: &mut String, p: &Pred, min: u8) {
    if pred_precedence(p) < min {
        out.push('(');
        pred(out, p, 1);
        out.push(')');
        return;
    }
    match p {
        Pred::And { all: items } | Pred::Or { any: items } => {
            let (word, child_min) = if matches!(p, Pred::And { .. }) {
                (" and ", 3)
            } else {
                (" or ", 2)
            };
            match items.as_slice() {
                [] => out.push_str("()"),
                [only] => pred(out, only, min),
                _ => {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 {
                            out.push_str(word);
                        }
                        pred(out, item, child_min);
                    }
                }
            }
        }
        Pred::Not { pred: inner } => {
            out.push_str("not ");
            pred(out, inner, 3);
        }
        atom => pred_atom(out, atom, path),
    }
}

/// `PATH TEST`, with the path written by `write_path`.
fn pred_atom(out: &mut String, p: &Pred, write_path: fn(&mut String, &Name)) {
    match p {
        Pred::Cmp {
            path: name,
            op,
            value,
        } => {
            write_path(out, name);
            let _ = write!(out, " {} ", op.as_str());
            literal(out, value);
        }
        Pred::In { path: name, values } => {
            write_path(out, name);
            out.push_str(" in [");
            for (i, v) in values.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                literal(out, v);
            }
            out.push(']');
        }
        Pred::Contains { path: name, value } => {
            write_path(out, name);
            out.push_str(" contains ");
            literal(out, value);
        }
        Pred::StartsWith { path: name, value } => {
            write_path(out, name);
            out.push_str(" starts_with ");
            out.push_str(&quote(value));
        }
        Pred::Exists { path: name } => {
            write_path(out, name);
            out.push_str(" exists");
        }
        Pred::And { .. } | Pred::Or { .. } | Pred::Not { .. } => pred(out, p, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_condition;

    fn canon(src: &str) -> String {
        print_condition(&parse_condition(src).unwrap())
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(quote("a\"b\\c\nd\te\u{7}"), r#""a\"b\\c\nd\te\u{7}""#);
    }

    #[test]
    fn minimal_parentheses() {
        assert_eq!(
            canon(r#"((did "a") and (did "b" or did "c")) or (not (did "d"))"#),
            r#"did "a" and (did "b" or did "c") or not did "d""#
        );
        assert_eq!(
            canon(r#"not (did "a" and did "b")"#),
            r#"not (did "a" and did "b")"#
        );
        assert_eq!(
            canon(r#"did "E" where (a = 1 or b = 2) and not (c exists)"#),
            r#"did "E" where (a = 1 or b = 2) and not c exists"#
        );
    }

    #[test]
    fn numbers_are_shortest_and_exact() {
        assert_eq!(number(2.0), "2");
        assert_eq!(number(-0.5), "-0.5");
        assert_eq!(number(0.1 + 0.2), "0.30000000000000004");
        for x in [1e21, 1e-7, f64::MAX, f64::MIN_POSITIVE, 5e-324, -123.456] {
            assert_eq!(number(x).parse::<f64>().unwrap(), x);
        }
    }

    #[test]
    fn paths_are_quoted_when_needed() {
        assert_eq!(
            canon(
                r#"did "E" where "not" = 1 and "a b" exists and "trait".x exists and ok.fine exists"#
            ),
            r#"did "E" where "not" = 1 and "a b" exists and "trait.x" exists and ok.fine exists"#
        );
        assert_eq!(
            canon(r#"sum("E".count) > 1 and trait."first name" exists and predicted.ltv.d90 > 1"#),
            r#"sum("E".count) > 1 and trait."first name" exists and predicted.ltv.d90 > 1"#
        );
    }

    #[test]
    fn long_definitions_wrap() {
        let file = crate::parse(
            "segment shoe_browsers \"Shoe browsers\" = count(\"Product Viewed\" where category = \"shoes\" in last 30d) >= 3 and not did \"Order Completed\" in last 30d\nsegment a = did \"E\"\nsegment b = did \"F\"",
        )
        .unwrap();
        assert_eq!(
            print(&file),
            "segment shoe_browsers \"Shoe browsers\" =\n    count(\"Product Viewed\" where category = \"shoes\" in last 30d) >= 3\n    and not did \"Order Completed\" in last 30d\n\nsegment a = did \"E\"\nsegment b = did \"F\"\n"
        );
    }

    #[test]
    fn degenerate_groups() {
        let one = Condition::And {
            all: vec![Condition::InSegment {
                segment: Name::new("a"),
            }],
        };
        assert_eq!(print_condition(&one), "in segment a");
        assert_eq!(print_condition(&Condition::Or { any: vec![] }), "()");
    }
}
