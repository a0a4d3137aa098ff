//! Typed reads of a TOML table that report, with the value's span, what is
//! missing, mistyped or unknown.

use std::ops::Range;

use seglab_lang::Diagnostic;
use seglab_lang::ast::Span;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::codes;
use crate::duration::parse_duration;

/// A TOML value with its byte range in the file.
pub(crate) type Value<'i> = Spanned<DeValue<'i>>;

/// A byte range as a diagnostic span.
pub(crate) fn span(range: &Range<usize>) -> Span {
    Span::new(range.start, range.end)
}

/// The diagnostics of one file, in the order they were found.
#[derive(Debug, Default)]
pub(crate) struct Report {
    pub(crate) diagnostics: Vec<Diagnostic>,
}

impl Report {
    pub(crate) fn push(&mut self, diagnostic: Diagnostic) {
        self.diagnostics.push(diagnostic);
    }

    pub(crate) fn error(
        &mut self,
        code: &'static str,
        message: String,
        at: &Range<usize>,
        hint: Option<String>,
    ) {
        let mut d = Diagnostic::error(code, message, span(at));
        d.hint = hint;
        self.push(d);
    }

    /// `invalid WHAT "TEXT"`, with a hint saying how to write it.
    pub(crate) fn invalid(
        &mut self,
        what: &str,
        text: &str,
        at: &Range<usize>,
        hint: impl Into<String>,
    ) {
        let message = format!("invalid {what} \"{text}\"");
        self.error(codes::INVALID, message, at, Some(hint.into()));
    }

    /// How many errors so far (to tell whether a part read cleanly).
    pub(crate) fn errors(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }
}

/// A string value and where it is written (quotes included).
#[derive(Debug, Clone)]
pub(crate) struct Str<'a> {
    pub(crate) text: &'a str,
    pub(crate) span: Range<usize>,
}

/// A table: `[header]`, `[[header]]` or `{ inline }`.
#[derive(Clone)]
pub(crate) struct Table<'a, 'i> {
    pub(crate) map: &'a DeTable<'i>,
    /// The header, or the whole inline table.
    pub(crate) span: Range<usize>,
    /// How the table is written, for messages: `[[campaign]]`, `[policy]`,
    /// `[campaign.trigger]`.
    pub(crate) what: String,
}

fn article(type_str: &str) -> &'static str {
    match type_str {
        "integer" => "an integer",
        "array" => "an array",
        "string" => "a string",
        "float" => "a float",
        "boolean" => "a boolean",
        "datetime" => "a datetime",
        "table" => "a table",
        _ => "a value",
    }
}

impl<'a, 'i> Table<'a, 'i> {
    pub(crate) fn new(map: &'a DeTable<'i>, span: Range<usize>, what: impl Into<String>) -> Self {
        Table {
            map,
            span,
            what: what.into(),
        }
    }

    /// Reports every key not in `allowed`; `elsewhere` may explain where a key
    /// belongs instead (otherwise the hint is the closest allowed key).
    pub(crate) fn only(
        &self,
        report: &mut Report,
        allowed: &[&str],
        elsewhere: &dyn Fn(&str) -> Option<String>,
    ) {
        for (key, _) in self.map.iter() {
            let name: &str = key.get_ref();
            if allowed.contains(&name) {
                continue;
            }
            let hint = elsewhere(name).unwrap_or_else(|| {
                match seglab_lang::closest(name, allowed.iter().copied()) {
                    Some(known) => format!("did you mean `{known}`?"),
                    None => format!("{} takes {}", self.what, list(allowed)),
                }
            });
            report.error(
                codes::UNKNOWN_FIELD,
                format!("unknown field `{name}` in {}", self.what),
                &key.span(),
                Some(hint),
            );
        }
    }

    /// `Some(None)` when `key` is not written, `Some(Some(v))` when `read`
    /// reads it, `None` when it is written wrong (and reported).
    pub(crate) fn optional<T>(
        &self,
        key: &str,
        read: impl FnOnce() -> Option<T>,
    ) -> Option<Option<T>> {
        match self.get(key) {
            None => Some(None),
            Some(_) => read().map(Some),
        }
    }

    /// A string field that must be one of `choices`.
    pub(crate) fn choice(
        &self,
        report: &mut Report,
        key: &str,
        choices: &[&'static str],
    ) -> Option<&'static str> {
        let value = self.str(report, key);
        choice(report, value, key, choices)
    }

    /// The value of `key`, if written.
    pub(crate) fn get(&self, key: &str) -> Option<&'a Value<'i>> {
        self.map.get(key)
    }

    /// Reports a missing required field.
    pub(crate) fn missing(&self, report: &mut Report, key: &str, hint: String) {
        report.error(
            codes::MISSING_FIELD,
            format!("missing field `{key}` in {}", self.what),
            &self.span,
            Some(hint),
        );
    }

    fn mistyped(
        &self,
        report: &mut Report,
        key: &str,
        value: &Value<'i>,
        expected: &str,
        hint: Option<String>,
    ) {
        report.error(
            codes::INVALID,
            format!(
                "`{key}` must be {expected}, not {}",
                article(value.get_ref().type_str())
            ),
            &value.span(),
            hint,
        );
    }

    /// A string field (`None` when absent or mistyped, which is reported).
    pub(crate) fn str(&self, report: &mut Report, key: &str) -> Option<Str<'a>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::String(text) => Some(Str {
                text: text.as_ref(),
                span: value.span(),
            }),
            _ => {
                self.mistyped(
                    report,
                    key,
                    value,
                    "a string",
                    Some(format!("quote it: {key} = \"…\"")),
                );
                None
            }
        }
    }

    /// A string field that must be written.
    pub(crate) fn required_str(
        &self,
        report: &mut Report,
        key: &str,
        example: &str,
    ) -> Option<Str<'a>> {
        if self.get(key).is_none() {
            self.missing(report, key, format!("add `{key} = {example}`"));
        }
        self.str(report, key)
    }

    /// A boolean field.
    pub(crate) fn bool(&self, report: &mut Report, key: &str) -> Option<bool> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(*b),
            _ => {
                self.mistyped(report, key, value, "true or false", None);
                None
            }
        }
    }

    /// An integer field within `min..=max`.
    pub(crate) fn int(&self, report: &mut Report, key: &str, min: i64, max: i64) -> Option<i64> {
        let value = self.get(key)?;
        let DeValue::Integer(int) = value.get_ref() else {
            self.mistyped(report, key, value, "an integer", None);
            return None;
        };
        match i64::from_str_radix(int.as_str(), int.radix()) {
            Ok(n) if (min..=max).contains(&n) => Some(n),
            _ => {
                report.error(
                    codes::INVALID,
                    format!("`{key}` must be between {min} and {max}"),
                    &value.span(),
                    None,
                );
                None
            }
        }
    }

    /// A duration field (`"2h"`): positive unless `zero_ok`.
    pub(crate) fn duration(&self, report: &mut Report, key: &str, zero_ok: bool) -> Option<i64> {
        let value = self.get(key)?;
        if let DeValue::Integer(_) = value.get_ref() {
            self.mistyped(
                report,
                key,
                value,
                "a duration string",
                Some(format!("write a unit and quote it: {key} = \"7d\"")),
            );
            return None;
        }
        let text = self.str(report, key)?;
        match parse_duration(text.text) {
            Ok(0) if !zero_ok => {
                report.error(
                    codes::DURATION,
                    format!("`{key}` must be longer than zero"),
                    &text.span,
                    None,
                );
                None
            }
            Ok(ms) => Some(ms),
            Err(e) => {
                report.error(codes::DURATION, e.message, &text.span, Some(e.hint));
                None
            }
        }
    }

    /// A sub-table, `[what.key]` or `key = { … }`.
    pub(crate) fn table(&self, report: &mut Report, key: &str) -> Option<Table<'a, 'i>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Table(map) => Some(Table::new(map, value.span(), self.child(key))),
            _ => {
                self.mistyped(
                    report,
                    key,
                    value,
                    "a table",
                    Some(format!(
                        "write `[{}]` or `{key} = {{ … }}`",
                        self.child(key)
                    )),
                );
                None
            }
        }
    }

    /// An array of tables (`[[what.key]]` or `key = [{ … }]`); a single table
    /// counts as an array of one.
    pub(crate) fn tables(&self, report: &mut Report, key: &str) -> Vec<Table<'a, 'i>> {
        let Some(value) = self.get(key) else {
            return Vec::new();
        };
        tables_of(report, value, key, &self.child(key))
    }

    fn child(&self, key: &str) -> String {
        let parent = self.what.trim_matches(['[', ']']);
        format!("{parent}.{key}")
    }
}

/// The tables of an array of tables (or of a lone table); anything else is
/// reported.
pub(crate) fn tables_of<'a, 'i>(
    report: &mut Report,
    value: &'a Value<'i>,
    key: &str,
    path: &str,
) -> Vec<Table<'a, 'i>> {
    let what = format!("[[{path}]]");
    match value.get_ref() {
        DeValue::Table(map) => vec![Table::new(map, value.span(), what)],
        DeValue::Array(items) => {
            let mut out = Vec::new();
            for item in items.iter() {
                match item.get_ref() {
                    DeValue::Table(map) => out.push(Table::new(map, item.span(), what.clone())),
                    other => report.error(
                        codes::INVALID,
                        format!(
                            "`{key}` must hold tables, not {}",
                            article(other.type_str())
                        ),
                        &item.span(),
                        Some(format!("write a `{what}` header per entry")),
                    ),
                }
            }
            out
        }
        other => {
            report.error(
                codes::INVALID,
                format!("`{key}` must be a table, not {}", article(other.type_str())),
                &value.span(),
                Some(format!("write a `{what}` header per entry")),
            );
            Vec::new()
        }
    }
}

/// `a`, `b` and `c` → "`a`, `b` or `c`".
pub(crate) fn list(items: &[&str]) -> String {
    let quoted: Vec<String> = items.iter().map(|i| format!("`{i}`")).collect();
    match quoted.split_last() {
        None => "nothing".into(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// Reads a string field that must be one of `choices`.
pub(crate) fn choice(
    report: &mut Report,
    value: Option<Str<'_>>,
    key: &str,
    choices: &[&'static str],
) -> Option<&'static str> {
    let value = value?;
    if let Some(c) = choices.iter().find(|c| **c == value.text) {
        return Some(c);
    }
    let hint = match seglab_lang::closest(value.text, choices.iter().copied()) {
        Some(c) => format!("did you mean \"{c}\"?"),
        None => format!("`{key}` is {}", list(choices)),
    };
    report.error(
        codes::INVALID,
        format!("`{key}` cannot be \"{}\"", value.text),
        &value.span,
        Some(hint),
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_read_as_english() {
        assert_eq!(list(&[]), "nothing");
        assert_eq!(list(&["a"]), "`a`");
        assert_eq!(list(&["a", "b"]), "`a` or `b`");
        assert_eq!(list(&["a", "b", "c"]), "`a`, `b` or `c`");
    }
}
