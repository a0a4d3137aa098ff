//! Tokens: turns source text into a list of [`Token`]s, reporting every lexical
//! error it finds and carrying on after it.
//!
//! Keywords are not special here: they are [`Tok::Ident`]s that the parser reads
//! by position, so a property may still be called `count` or `in`.

use crate::ast::{CmpOp, Duration, Span, TimeUnit};
use crate::diagnostic::{Diagnostic, codes};
use crate::time::parse_date;

/// One token's kind and value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// `[A-Za-z_][A-Za-z0-9_]*`: a keyword or a bare name.
    Ident(String),
    /// A double-quoted string, escapes resolved.
    Str(String),
    /// A number; `int` is its value when it is a non-negative integer that fits
    /// in a `u64` (written without a sign or a fraction).
    Number {
        value: f64,
        int: Option<u64>,
    },
    /// An integer with a unit, such as `30d`.
    Duration(Duration),
    /// A date or datetime, as epoch milliseconds (UTC).
    Date(i64),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Op(CmpOp),
    /// Text that could not be read; its error is already reported.
    Invalid,
    /// End of input.
    Eof,
}

impl Tok {
    /// How the token is named in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(w) => format!("`{w}`"),
            Tok::Str(s) => format!("the string {}", crate::printer::quote(s)),
            Tok::Number { value, .. } => format!("the number {value}"),
            Tok::Duration(d) => format!("the duration {}{}", d.amount, d.unit.suffix()),
            Tok::Date(_) => "a date".to_string(),
            Tok::LParen => "`(`".to_string(),
            Tok::RParen => "`)`".to_string(),
            Tok::LBracket => "`[`".to_string(),
            Tok::RBracket => "`]`".to_string(),
            Tok::Comma => "`,`".to_string(),
            Tok::Dot => "`.`".to_string(),
            Tok::Op(op) => format!("`{}`", op.as_str()),
            Tok::Invalid => "invalid text".to_string(),
            Tok::Eof => "the end of the input".to_string(),
        }
    }
}

/// A token and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Splits `src` into tokens (always ending with [`Tok::Eof`]) and the lexical
/// errors found on the way.
pub(crate) fn lex(src: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut lexer = Lexer {
        src,
        pos: 0,
        tokens: Vec::new(),
        diags: Vec::new(),
    };
    lexer.run();
    let end = src.len();
    lexer.tokens.push(Token {
        tok: Tok::Eof,
        span: Span::new(end, end),
    });
    (lexer.tokens, lexer.diags)
}

struct Lexer<'a> {
    src: &'a str,
    /// Byte offset of the next character; always on a character boundary.
    pos: usize,
    tokens: Vec<Token>,
    diags: Vec<Diagnostic>,
}

fn is_ident_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_ident_continue(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Characters that begin some token (or whitespace or a comment).
fn starts_token(c: char) -> bool {
    c.is_whitespace()
        || is_ident_start(c)
        || c.is_ascii_digit()
        || matches!(
            c,
            '"' | '\u{201C}'
                | '\u{201D}'
                | '\''
                | '('
                | ')'
                | '['
                | ']'
                | ','
                | '.'
                | '='
                | '!'
                | '<'
                | '>'
                | '#'
                | '/'
                | '-'
        )
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        self.src.get(self.pos..).unwrap_or("")
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        let mut it = self.rest().chars();
        it.next();
        it.next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn slice(&self, start: usize) -> &'a str {
        self.src.get(start..self.pos).unwrap_or("")
    }

    fn push(&mut self, tok: Tok, start: usize) {
        self.tokens.push(Token {
            tok,
            span: Span::new(start, self.pos),
        });
    }

    fn error(&mut self, code: &'static str, message: String, start: usize, hint: Option<String>) {
        let mut d = Diagnostic::error(code, message, Span::new(start, self.pos));
        d.hint = hint;
        self.diags.push(d);
    }

    fn run(&mut self) {
        while let Some(c) = self.peek() {
            let start = self.pos;
            match c {
                c if c.is_whitespace() => {
                    self.bump();
                }
                '#' => self.skip_line(),
                '/' if self.peek2() == Some('/') => self.skip_line(),
                '"' => self.string(start),
                '\u{201C}' | '\u{201D}' | '\'' => self.misquoted_string(start, c),
                c if is_ident_start(c) => {
                    while self.peek().is_some_and(is_ident_continue) {
                        self.bump();
                    }
                    let word = self.slice(start).to_string();
                    self.push(Tok::Ident(word), start);
                }
                c if c.is_ascii_digit() => self.number(start),
                '-' if self.peek2().is_some_and(|d| d.is_ascii_digit()) => self.number(start),
                '(' | ')' | '[' | ']' | ',' | '.' => {
                    self.bump();
                    let tok = match c {
                        '(' => Tok::LParen,
                        ')' => Tok::RParen,
                        '[' => Tok::LBracket,
                        ']' => Tok::RBracket,
                        ',' => Tok::Comma,
                        _ => Tok::Dot,
                    };
                    self.push(tok, start);
                }
                '=' | '!' | '<' | '>' => self.operator(start, c),
                _ => self.unexpected(start),
            }
        }
    }

    fn skip_line(&mut self) {
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
        }
    }

    fn operator(&mut self, start: usize, c: char) {
        self.bump();
        let next_eq = self.peek() == Some('=');
        if next_eq {
            self.bump();
        }
        let op = match (c, next_eq) {
            ('=', _) => CmpOp::Eq,
            ('!', true) => CmpOp::Ne,
            ('<', false) => CmpOp::Lt,
            ('<', true) => CmpOp::Le,
            ('>', false) => CmpOp::Gt,
            ('>', true) => CmpOp::Ge,
            _ => {
                self.error(
                    codes::UNEXPECTED_CHARACTER,
                    "unexpected character `!`".to_string(),
                    start,
                    Some("negate with `not`, or compare with `!=`".to_string()),
                );
                self.push(Tok::Invalid, start);
                return;
            }
        };
        self.push(Tok::Op(op), start);
    }

    /// A run of characters that start no token: one error for the whole run.
    fn unexpected(&mut self, start: usize) {
        while self.peek().is_some_and(|c| !starts_token(c)) {
            self.bump();
        }
        if self.pos == start {
            // A lone `-` or `/`: characters that start a token only in company.
            self.bump();
        }
        let text = self.slice(start);
        let hint = if text.starts_with("&&") || text == "&" {
            Some("combine conditions with `and`".to_string())
        } else if text.starts_with("||") || text == "|" {
            Some("combine conditions with `or`".to_string())
        } else if text.chars().any(|c| c.is_alphabetic()) {
            Some("names with characters other than a-z, 0-9 and _ are written in double quotes: \"…\"".to_string())
        } else {
            None
        };
        let message = if text.chars().count() == 1 {
            format!("unexpected character `{text}`")
        } else {
            format!("unexpected characters `{text}`")
        };
        self.error(codes::UNEXPECTED_CHARACTER, message, start, hint);
        self.push(Tok::Invalid, start);
    }

    fn string(&mut self, start: usize) {
        self.bump();
        let mut value = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.unterminated(start);
            };
            match c {
                '"' => {
                    self.bump();
                    break;
                }
                '\n' => return self.unterminated(start),
                '\\' => {
                    if let Some(ch) = self.escape() {
                        value.push(ch);
                    }
                }
                _ => {
                    self.bump();
                    value.push(c);
                }
            }
        }
        self.push(Tok::Str(value), start);
    }

    /// A string in single or typographic quotes: read it (so the rest of the
    /// input still parses) and report the quotes once.
    fn misquoted_string(&mut self, start: usize, open: char) {
        self.bump();
        let closes = |c: char| {
            if open == '\'' {
                c == '\''
            } else {
                matches!(c, '"' | '\u{201C}' | '\u{201D}')
            }
        };
        let mut value = String::new();
        while let Some(c) = self.peek() {
            if c == '\n' {
                break;
            }
            self.bump();
            if closes(c) {
                break;
            }
            value.push(c);
        }
        let message = if open == '\'' {
            "strings are written in double quotes, not single quotes"
        } else {
            "typographic quotes are not string quotes"
        };
        self.error(
            codes::UNEXPECTED_CHARACTER,
            message.to_string(),
            start,
            Some("use straight double quotes: \"…\"".to_string()),
        );
        self.push(Tok::Str(value), start);
    }

    fn unterminated(&mut self, start: usize) {
        self.error(
            codes::UNTERMINATED_STRING,
            "unterminated string".to_string(),
            start,
            Some(
                "close the string with `\"` on the same line (write a line break as \\n)"
                    .to_string(),
            ),
        );
        self.push(Tok::Invalid, start);
    }

    /// Reads a backslash escape; `None` when it is invalid (reported).
    fn escape(&mut self) -> Option<char> {
        let start = self.pos;
        self.bump();
        let c = match self.bump() {
            Some('"') => '"',
            Some('\\') => '\\',
            Some('n') => '\n',
            Some('t') => '\t',
            Some('r') => '\r',
            Some('u') => return self.unicode_escape(start),
            Some('\n') | None => {
                // Leave the line break for the string to report as unterminated.
                if self.slice(start).ends_with('\n') {
                    self.pos -= 1;
                }
                return None;
            }
            Some(other) => {
                self.error(
                    codes::INVALID_ESCAPE,
                    format!("unknown escape `\\{other}`"),
                    start,
                    Some(r#"escapes are \" \\ \n \t \r and \u{…}"#.to_string()),
                );
                return None;
            }
        };
        Some(c)
    }

    /// `\u{1F600}`: one to six hex digits naming a Unicode scalar value.
    fn unicode_escape(&mut self, start: usize) -> Option<char> {
        let mut ok = self.peek() == Some('{');
        let mut value: u32 = 0;
        let mut digits = 0;
        if ok {
            self.bump();
            while let Some(d) = self.peek().and_then(|c| c.to_digit(16)) {
                self.bump();
                digits += 1;
                value = value.saturating_mul(16).saturating_add(d);
            }
            ok = self.peek() == Some('}') && (1..=6).contains(&digits);
            if ok {
                self.bump();
            }
        }
        let ch = if ok { char::from_u32(value) } else { None };
        if ch.is_none() {
            self.error(
                codes::INVALID_ESCAPE,
                "invalid unicode escape".to_string(),
                start,
                Some(r"write a unicode escape as \u{…} with 1 to 6 hex digits".to_string()),
            );
        }
        ch
    }

    fn digits(&mut self) -> usize {
        let mut n = 0;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            n += 1;
        }
        n
    }

    fn number(&mut self, start: usize) {
        let negative = self.peek() == Some('-');
        if negative {
            self.bump();
        }
        let int_digits = self.digits();
        if !negative
            && int_digits == 4
            && self.peek() == Some('-')
            && self.peek2().is_some_and(|c| c.is_ascii_digit())
        {
            return self.date(start);
        }
        let mut fraction = false;
        if self.peek() == Some('.') && self.peek2().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
            self.digits();
            fraction = true;
        }
        let number_text = self.slice(start);
        if self.peek().is_some_and(is_ident_start) {
            let suffix_start = self.pos;
            while self.peek().is_some_and(is_ident_continue) {
                self.bump();
            }
            let suffix = self.slice(suffix_start);
            return self.duration(start, number_text, suffix, negative || fraction);
        }
        let Ok(value) = number_text.parse::<f64>() else {
            // Unreachable for `-?[0-9]+(\.[0-9]+)?`, but never trust that.
            self.error(
                codes::INVALID_NUMBER,
                format!("invalid number `{number_text}`"),
                start,
                None,
            );
            return self.push(Tok::Invalid, start);
        };
        if !value.is_finite() {
            self.error(
                codes::INVALID_NUMBER,
                "number is too large".to_string(),
                start,
                None,
            );
            return self.push(Tok::Invalid, start);
        }
        let int = if negative || fraction {
            None
        } else {
            number_text.parse::<u64>().ok()
        };
        self.push(Tok::Number { value, int }, start);
    }

    fn duration(&mut self, start: usize, number: &str, suffix: &str, not_whole: bool) {
        let unit = match suffix {
            "s" => Some(TimeUnit::Seconds),
            "m" => Some(TimeUnit::Minutes),
            "h" => Some(TimeUnit::Hours),
            "d" => Some(TimeUnit::Days),
            "w" => Some(TimeUnit::Weeks),
            _ => None,
        };
        let (message, hint) = match unit {
            Some(unit) if !not_whole => match number.parse::<u64>() {
                Ok(amount) => {
                    return self.push(Tok::Duration(Duration { amount, unit }), start);
                }
                Err(_) => ("duration is too large".to_string(), None),
            },
            Some(_) if number.starts_with('-') => (
                "durations cannot be negative".to_string(),
                Some("a window counts back from now: `in last 30d`".to_string()),
            ),
            Some(_) => (
                "durations are whole numbers".to_string(),
                Some("use a smaller unit: 90m instead of 1.5h".to_string()),
            ),
            None => {
                let hint = match suffix.chars().next().map(|c| c.to_ascii_lowercase()) {
                    Some(c @ ('s' | 'm' | 'h' | 'd' | 'w')) if !not_whole => {
                        format!("write {number}{c}; units are s, m, h, d and w")
                    }
                    _ => "units are s (seconds), m (minutes), h (hours), d (days) and w (weeks)"
                        .to_string(),
                };
                (format!("unknown time unit `{suffix}`"), Some(hint))
            }
        };
        self.error(codes::INVALID_DURATION, message, start, hint);
        self.push(Tok::Invalid, start);
    }

    fn date(&mut self, start: usize) {
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '.' | '+' | '-'))
        {
            self.bump();
        }
        let text = self.slice(start);
        match parse_date(text) {
            Some(ms) => self.push(Tok::Date(ms), start),
            None => {
                self.error(
                    codes::INVALID_DATE,
                    format!("invalid date `{text}`"),
                    start,
                    Some(
                        "write a date as 2026-01-31, or a time as 2026-01-31T18:30:00Z".to_string(),
                    ),
                );
                self.push(Tok::Invalid, start);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        let (toks, diags) = lex(src);
        assert!(diags.is_empty(), "{diags:?}");
        toks.into_iter().map(|t| t.tok).collect()
    }

    fn first_error(src: &str) -> &'static str {
        let (_, diags) = lex(src);
        diags.first().map(|d| d.code).unwrap_or("none")
    }

    #[test]
    fn words_strings_numbers() {
        assert_eq!(
            kinds(r#"did "A \"b\" \\ \n" 30d -2.5 7 "#),
            vec![
                Tok::Ident("did".into()),
                Tok::Str("A \"b\" \\ \n".into()),
                Tok::Duration(Duration {
                    amount: 30,
                    unit: TimeUnit::Days
                }),
                Tok::Number {
                    value: -2.5,
                    int: None
                },
                Tok::Number {
                    value: 7.0,
                    int: Some(7)
                },
                Tok::Eof
            ]
        );
    }

    #[test]
    fn operators_and_comments() {
        assert_eq!(
            kinds("= == != < <= > >= # comment\n// another\n( ) [ ] , ."),
            vec![
                Tok::Op(CmpOp::Eq),
                Tok::Op(CmpOp::Eq),
                Tok::Op(CmpOp::Ne),
                Tok::Op(CmpOp::Lt),
                Tok::Op(CmpOp::Le),
                Tok::Op(CmpOp::Gt),
                Tok::Op(CmpOp::Ge),
                Tok::LParen,
                Tok::RParen,
                Tok::LBracket,
                Tok::RBracket,
                Tok::Comma,
                Tok::Dot,
                Tok::Eof
            ]
        );
    }

    #[test]
    fn dates() {
        assert_eq!(
            kinds(
                "2026-01-01 2026-01-01T00:00:01Z 2026-01-01T02:00:00+02:00 1970-01-01T00:00:00.5"
            ),
            vec![
                Tok::Date(1_767_225_600_000),
                Tok::Date(1_767_225_601_000),
                Tok::Date(1_767_225_600_000),
                Tok::Date(500),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn unicode_escape() {
        assert_eq!(
            kinds(r#""\u{e9}\u{1F600}""#),
            vec![Tok::Str("é😀".into()), Tok::Eof]
        );
    }

    #[test]
    fn errors() {
        assert_eq!(first_error("\"abc"), codes::UNTERMINATED_STRING);
        assert_eq!(first_error("\"abc\ndef\""), codes::UNTERMINATED_STRING);
        assert_eq!(first_error(r#""\q""#), codes::INVALID_ESCAPE);
        assert_eq!(first_error(r#""\u{110000}""#), codes::INVALID_ESCAPE);
        assert_eq!(first_error(r#""\u{}""#), codes::INVALID_ESCAPE);
        assert_eq!(first_error("30days"), codes::INVALID_DURATION);
        assert_eq!(first_error("1.5h"), codes::INVALID_DURATION);
        assert_eq!(first_error("-3d"), codes::INVALID_DURATION);
        assert_eq!(
            first_error("99999999999999999999999d"),
            codes::INVALID_DURATION
        );
        assert_eq!(first_error("2026-13-01"), codes::INVALID_DATE);
        assert_eq!(first_error("@@"), codes::UNEXPECTED_CHARACTER);
        assert_eq!(first_error("!"), codes::UNEXPECTED_CHARACTER);
        assert_eq!(first_error("“Order”"), codes::UNEXPECTED_CHARACTER);
        let big = "9".repeat(400);
        assert_eq!(first_error(&big), codes::INVALID_NUMBER);
    }

    #[test]
    fn one_error_per_run_of_bad_characters() {
        let (toks, diags) = lex("a @@@ b");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].span, Span::new(2, 5));
        assert_eq!(toks.len(), 4);
    }

    #[test]
    fn curly_quotes_still_give_a_string() {
        let (toks, diags) = lex("did “Order Completed”");
        assert_eq!(diags.len(), 1);
        assert_eq!(toks[1].tok, Tok::Str("Order Completed".into()));
    }

    #[test]
    fn single_quotes_give_one_error_and_a_string() {
        let (toks, diags) = lex("did 'Order Completed' x");
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].span, Span::new(4, 21));
        assert_eq!(toks[1].tok, Tok::Str("Order Completed".into()));
        assert_eq!(toks[2].tok, Tok::Ident("x".into()));
    }

    #[test]
    fn lone_minus_and_slash() {
        let (toks, diags) = lex("- /");
        assert_eq!(diags.len(), 2);
        assert_eq!(toks.len(), 3);
    }
}
