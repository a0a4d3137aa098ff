//! SQL text: literals and the bounds of time ranges.

use std::fmt::Write;

/// A string literal: quotes, backslashes and control bytes escaped.
pub(crate) fn string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

/// A Float64 literal. The shortest text that reads back as the same double
/// (both ClickHouse 18.16 and current releases parse it exactly).
pub(crate) fn float(x: f64) -> String {
    if x.is_finite() {
        format!("toFloat64({x:?})")
    } else if x.is_nan() {
        "nan".to_owned()
    } else if x > 0.0 {
        "inf".to_owned()
    } else {
        "-inf".to_owned()
    }
}

/// `col >= lo` for an exact (`i128`) bound: `1` when every Int64 passes,
/// `0` when none does.
pub(crate) fn at_least(col: &str, lo: i128) -> String {
    if lo <= i128::from(i64::MIN) {
        "1".to_owned()
    } else if lo > i128::from(i64::MAX) {
        "0".to_owned()
    } else {
        format!("{col} >= {lo}")
    }
}

/// `col < hi` for an exact bound.
pub(crate) fn below(col: &str, hi: i128) -> String {
    if hi > i128::from(i64::MAX) {
        "1".to_owned()
    } else if hi <= i128::from(i64::MIN) {
        "0".to_owned()
    } else {
        format!("{col} < {hi}")
    }
}

/// `col <= hi` for an exact bound.
pub(crate) fn at_most(col: &str, hi: i128) -> String {
    below(col, hi.saturating_add(1))
}

/// An Int64 literal for a non-negative length, clamped to Int64.
pub(crate) fn length(d: i128) -> i64 {
    i64::try_from(d.max(0)).unwrap_or(i64::MAX)
}

/// `a AND b AND …`, dropping `1`s; `1` for nothing.
pub(crate) fn all(parts: impl IntoIterator<Item = String>) -> String {
    let parts: Vec<String> = parts.into_iter().filter(|p| p != "1").collect();
    if parts.iter().any(|p| p == "0") {
        return "0".to_owned();
    }
    match parts.len() {
        0 => "1".to_owned(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => format!("({})", parts.join(" AND ")),
    }
}

/// `a OR b OR …`, dropping `0`s; `0` for nothing.
pub(crate) fn any(parts: impl IntoIterator<Item = String>) -> String {
    let parts: Vec<String> = parts.into_iter().filter(|p| p != "0").collect();
    if parts.iter().any(|p| p == "1") {
        return "1".to_owned();
    }
    match parts.len() {
        0 => "0".to_owned(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => format!("({})", parts.join(" OR ")),
    }
}

/// `NOT x`, folding constants.
pub(crate) fn not(x: String) -> String {
    match x.as_str() {
        "1" => "0".to_owned(),
        "0" => "1".to_owned(),
        // `NOT NOT x` is named differently by a shard than by the node that
        // sent it the query (18.16): written as `x`.
        _ => match x.strip_prefix("(NOT ").and_then(|r| r.strip_suffix(')')) {
            Some(inner) if balanced(inner) => inner.to_owned(),
            _ if enclosed(&x) => format!("(NOT {x})"),
            _ => format!("(NOT ({x}))"),
        },
    }
}

/// Whether parentheses outside string literals balance in `s` without
/// going negative (so `(NOT …)` encloses all of it).
fn balanced(s: &str) -> bool {
    let (mut depth, mut quoted, mut escaped) = (0i32, false, false);
    for c in s.chars() {
        match (quoted, escaped, c) {
            (true, true, _) => escaped = false,
            (true, false, '\\') => escaped = true,
            (true, false, '\'') => quoted = false,
            (false, _, '\'') => quoted = true,
            (false, _, '(') => depth += 1,
            (false, _, ')') => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            _ => {}
        }
    }
    depth == 0 && !quoted
}

/// Whether `s` is one parenthesized group, `( … )`.
fn enclosed(s: &str) -> bool {
    s.strip_prefix('(')
        .and_then(|r| r.strip_suffix(')'))
        .is_some_and(balanced)
}

/// A backquoted identifier (names seglab chooses: letters, digits, `_`).
pub(crate) fn ident(name: &str) -> String {
    format!("`{}`", name.replace('`', ""))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped() {
        assert_eq!(string("a'b\\c\nd"), "'a\\'b\\\\c\\x0Ad'");
        assert_eq!(string("héllo"), "'héllo'");
    }

    #[test]
    fn bounds_fold_outside_int64() {
        assert_eq!(at_least("ts", i128::from(i64::MIN) - 5), "1");
        assert_eq!(at_least("ts", -3), "ts >= -3");
        assert_eq!(below("ts", i128::from(i64::MAX) + 1), "1");
        assert_eq!(at_most("ts", i128::from(i64::MAX)), "1");
        assert_eq!(at_most("ts", 7), "ts < 8");
        assert_eq!(float(2.5), "toFloat64(2.5)");
        assert_eq!(float(-1.0), "toFloat64(-1.0)");
    }

    #[test]
    fn logic_folds_constants() {
        assert_eq!(all(vec![]), "1");
        assert_eq!(all(vec!["a".into(), "1".into()]), "a");
        assert_eq!(all(vec!["a".into(), "0".into()]), "0");
        assert_eq!(any(vec!["a".into(), "b".into()]), "(a OR b)");
        assert_eq!(not("1".into()), "0");
        assert_eq!(not(not("a".into())), "(a)");
        assert_eq!(not("(NOT a) AND (b)".into()), "(NOT ((NOT a) AND (b)))");
        assert_eq!(not("a > 0 AND b".into()), "(NOT (a > 0 AND b))");
        assert_eq!(not(not("a > 0 AND b".into())), "(a > 0 AND b)");
    }
}
