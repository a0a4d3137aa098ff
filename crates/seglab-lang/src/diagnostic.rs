//! Errors and warnings about a segment source, and how they are shown.

use std::fmt;

use serde::Serialize;

use crate::ast::Span;

/// How bad a [`Diagnostic`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The segment cannot be saved or evaluated.
    Error,
    /// Probably a mistake, but the segment still means something (a property
    /// that has not been seen yet may simply be rare).
    Warning,
}

impl Severity {
    /// `error` or `warning`.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One error or warning, with where it is and, often, how to fix it.
///
/// `code` is stable (see [`codes`]); `message` is lowercase, with no trailing
/// period, and may change. As JSON (the API's error form):
/// `{"severity": "error", "code": "unknown_event", "message": "…", "span": {"start": 4, "end": 20}, "hint": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{severity}: {message}")]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable machine-readable name, one of [`codes::ALL`].
    pub code: &'static str,
    /// What is wrong, for a person.
    pub message: String,
    /// Where, as byte offsets into the source.
    pub span: Span,
    /// How to fix it, when there is something to say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    /// An error.
    pub fn error(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            code,
            message: message.into(),
            span,
            hint: None,
        }
    }

    /// A warning.
    pub fn warning(code: &'static str, message: impl Into<String>, span: Span) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(code, message, span)
        }
    }

    /// The same diagnostic with a hint.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Diagnostic {
        self.hint = Some(hint.into());
        self
    }

    /// Whether this is an [`Severity::Error`].
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// 1-based line and column (in characters) of the start of the span.
    pub fn line_col(&self, source: &str) -> (usize, usize) {
        line_col(source, self.span.start as usize)
    }

    /// Shows the diagnostic as a compiler does:
    ///
    /// ```text
    /// segments.seg:2:21: error: unknown event "Order Complete"
    ///   |
    /// 2 | segment buyers = did "Order Complete" in last 30d
    ///   |                      ^^^^^^^^^^^^^^^^
    ///   = hint: did you mean "Order Completed"?
    /// ```
    ///
    /// Spans outside the source are clamped to it; this never panics.
    pub fn render(&self, source: &str, file_name: &str) -> String {
        let start = floor_boundary(source, self.span.start as usize);
        let end = floor_boundary(source, self.span.end as usize).max(start);
        let (line, col) = line_col(source, start);
        let line_start = source
            .get(..start)
            .and_then(|s| s.rfind('\n'))
            .map_or(0, |i| i + 1);
        let line_end = source
            .get(start..)
            .and_then(|s| s.find('\n'))
            .map_or(source.len(), |i| start + i);
        let text = source.get(line_start..line_end).unwrap_or("");
        let text = text.strip_suffix('\r').unwrap_or(text);
        let before = source.get(line_start..start).unwrap_or("");
        let pad: String = before
            .chars()
            .map(|c| if c == '\t' { '\t' } else { ' ' })
            .collect();
        let width = source
            .get(start..end.min(line_end))
            .map_or(0, |s| s.chars().count())
            .max(1);
        let number = line.to_string();
        let gutter = " ".repeat(number.len());
        let mut out = format!(
            "{file_name}:{line}:{col}: {}: {}\n{gutter} |\n{number} | {text}\n{gutter} | {pad}{}\n",
            self.severity,
            self.message,
            "^".repeat(width)
        );
        if let Some(hint) = &self.hint {
            out.push_str(&format!("{gutter} = hint: {hint}\n"));
        }
        out
    }
}

/// Renders every diagnostic (see [`Diagnostic::render`]), separated by blank lines.
pub fn render_all(diagnostics: &[Diagnostic], source: &str, file_name: &str) -> String {
    diagnostics
        .iter()
        .map(|d| d.render(source, file_name))
        .collect::<Vec<_>>()
        .join("\n")
}

/// 1-based line and column (in characters) of a byte offset; offsets past the
/// end or inside a character are moved back to the nearest character start.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = floor_boundary(source, offset);
    let before = source.get(..offset).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

fn floor_boundary(source: &str, offset: usize) -> usize {
    let mut i = offset.min(source.len());
    while i > 0 && !source.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// The stable diagnostic codes.
pub mod codes {
    /// A token that does not fit the grammar where it was found.
    pub const UNEXPECTED_TOKEN: &str = "unexpected_token";
    /// A character that starts no token.
    pub const UNEXPECTED_CHARACTER: &str = "unexpected_character";
    /// A string with no closing quote on its line.
    pub const UNTERMINATED_STRING: &str = "unterminated_string";
    /// A backslash escape that is not one of `\" \\ \n \t \r \u{…}`.
    pub const INVALID_ESCAPE: &str = "invalid_escape";
    /// A number that is malformed or too large.
    pub const INVALID_NUMBER: &str = "invalid_number";
    /// A duration with an unknown unit, a fraction, a sign, or too large.
    pub const INVALID_DURATION: &str = "invalid_duration";
    /// A date that does not exist or is malformed.
    pub const INVALID_DATE: &str = "invalid_date";
    /// A segment name that is not an identifier.
    pub const INVALID_SEGMENT_NAME: &str = "invalid_segment_name";
    /// `did A then B` without `within`.
    pub const MISSING_WITHIN: &str = "missing_within";
    /// A window written both after the first event and at the end.
    pub const DUPLICATE_WINDOW: &str = "duplicate_window";
    /// Parentheses or `not`s nested deeper than [`crate::MAX_DEPTH`].
    pub const NESTING_TOO_DEEP: &str = "nesting_too_deep";
    /// A duration of zero.
    pub const ZERO_DURATION: &str = "zero_duration";
    /// A range whose start is not before its end (or whose low bound is above
    /// its high bound).
    pub const EMPTY_RANGE: &str = "empty_range";
    /// `regularly … in K of last M` with K greater than M.
    pub const IMPOSSIBLE_REGULARLY: &str = "impossible_regularly";
    /// An `and`/`or` with no operands (only possible in JSON).
    pub const EMPTY_GROUP: &str = "empty_group";
    /// An event name that has never been tracked.
    pub const UNKNOWN_EVENT: &str = "unknown_event";
    /// A property never seen on that event (a warning).
    pub const UNKNOWN_PROPERTY: &str = "unknown_property";
    /// A trait never seen on a profile (a warning).
    pub const UNKNOWN_TRAIT: &str = "unknown_trait";
    /// A reference to a segment that does not exist.
    pub const UNKNOWN_SEGMENT: &str = "unknown_segment";
    /// Two segments of one name in one file.
    pub const DUPLICATE_SEGMENT: &str = "duplicate_segment";
    /// Segments that refer to each other in a loop.
    pub const SEGMENT_CYCLE: &str = "segment_cycle";
    /// A value or operation that does not fit the kind of the property.
    pub const TYPE_MISMATCH: &str = "type_mismatch";
    /// `predicted.NAME` for a model that does not exist.
    pub const UNKNOWN_MODEL: &str = "unknown_model";
    /// An RFM cell name that is not one of [`crate::RFM_CELLS`].
    pub const UNKNOWN_RFM_CELL: &str = "unknown_rfm_cell";
    /// An RFM score test with a value outside 1 to 5 (a warning).
    pub const RFM_SCORE_RANGE: &str = "rfm_score_range";
    /// A window reaching further back than the store keeps events (a warning).
    pub const BEYOND_RETENTION: &str = "beyond_retention";

    /// Every code.
    pub const ALL: &[&str] = &[
        UNEXPECTED_TOKEN,
        UNEXPECTED_CHARACTER,
        UNTERMINATED_STRING,
        INVALID_ESCAPE,
        INVALID_NUMBER,
        INVALID_DURATION,
        INVALID_DATE,
        INVALID_SEGMENT_NAME,
        MISSING_WITHIN,
        DUPLICATE_WINDOW,
        NESTING_TOO_DEEP,
        ZERO_DURATION,
        EMPTY_RANGE,
        IMPOSSIBLE_REGULARLY,
        EMPTY_GROUP,
        UNKNOWN_EVENT,
        UNKNOWN_PROPERTY,
        UNKNOWN_TRAIT,
        UNKNOWN_SEGMENT,
        DUPLICATE_SEGMENT,
        SEGMENT_CYCLE,
        TYPE_MISMATCH,
        UNKNOWN_MODEL,
        UNKNOWN_RFM_CELL,
        RFM_SCORE_RANGE,
        BEYOND_RETENTION,
    ];
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column_count_characters() {
        let src = "ab\néé x\n";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 3), (2, 1));
        assert_eq!(line_col(src, 8), (2, 4));
        // Inside the second `é`: moved back to its start.
        assert_eq!(line_col(src, 6), (2, 2));
        assert_eq!(line_col(src, 1000), (3, 1));
    }

    #[test]
    fn render_points_at_the_span() {
        let src = "segment a =\n\tdid \"X\"\n";
        let d = Diagnostic::error(
            codes::UNKNOWN_EVENT,
            "unknown event \"X\"",
            Span::new(17, 20),
        )
        .with_hint("did you mean \"Y\"?");
        assert_eq!(
            d.render(src, "f.seg"),
            "f.seg:2:6: error: unknown event \"X\"\n  |\n2 | \tdid \"X\"\n  | \t    ^^^\n  = hint: did you mean \"Y\"?\n"
        );
    }

    #[test]
    fn render_never_panics_on_odd_spans() {
        let src = "é\r\nx";
        for (s, e) in [(0, 0), (1, 1), (1, 0), (2, 9), (100, 200), (u32::MAX, 0)] {
            let d = Diagnostic::warning(codes::UNKNOWN_TRAIT, "m", Span { start: s, end: e });
            let out = d.render(src, "f");
            assert!(out.contains("warning: m"));
        }
        let eof = Diagnostic::error(codes::UNEXPECTED_TOKEN, "m", Span::new(4, 4));
        assert!(eof.render(src, "f").contains("2 | x\n  | ^\n"));
    }

    #[test]
    fn codes_are_unique_snake_case() {
        let mut seen = std::collections::BTreeSet::new();
        for c in codes::ALL {
            assert!(seen.insert(*c), "{c} twice");
            assert!(c.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        }
    }
}
