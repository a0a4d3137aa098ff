//! The recursive-descent parser (the grammar is in the crate docs).
//!
//! It reports every error it can: lexical errors all come from the lexer, and
//! after a syntax error the parser skips to the next `segment` keyword. Values
//! that cannot be right wherever they appear (a zero duration, an empty range,
//! `in 5 of last 4`) are reported without stopping. It never panics: tokens are
//! read with bounds-checked look-ups, and nesting is limited to [`MAX_DEPTH`].

use crate::ast::{
    AggFunc, CmpOp, Condition, Duration, EventFilter, EventQuery, File, Literal, Name, NumTest,
    Pred, RfmDim, SegmentDef, Span, TimeTest, TraitTest, Window,
};
use crate::diagnostic::{Diagnostic, codes};
use crate::lexer::{Tok, Token, lex};

mod conditions;
mod terms;

/// How deeply conditions and predicates may nest (each `(` and each `not`
/// counts one level). Deeper input is an error, not a stack overflow.
pub const MAX_DEPTH: usize = 100;

/// Parses a file of segment definitions.
///
/// On failure, returns every error found (sorted by position). A file with no
/// definitions (empty, or only comments) is valid.
pub fn parse(source: &str) -> Result<File, Vec<Diagnostic>> {
    let mut p = Parser::new(source);
    let file = p.file();
    p.finish(file)
}

/// Parses one condition (the part after `segment NAME =`), as an API that
/// stores segments one at a time would receive it.
pub fn parse_condition(source: &str) -> Result<Condition, Vec<Diagnostic>> {
    let mut p = Parser::new(source);
    let condition = p.condition().and_then(|c| {
        if p.at_eof() {
            Ok(c)
        } else {
            Err(p.unexpected("`and`, `or` or the end of the condition", None))
        }
    });
    match condition {
        Ok(c) => p.finish(c),
        Err(Stop) => {
            p.ensure_reported();
            p.finish(Condition::And { all: Vec::new() })
        }
    }
}

/// A syntax error was recorded; unwind to the statement boundary.
#[derive(Debug)]
struct Stop;

type PResult<T> = Result<T, Stop>;

/// Condition keywords that never begin a predicate after `and`/`or` inside a
/// `where` (see [`Parser::pred_follows`]).
const CONDITION_ONLY_HEADS: [&str; 3] = ["trait", "rfm", "predicted"];

/// Words that begin a condition, for error hints.
const CONDITION_STARTS: &str = "did, count, sum, avg, min, max, distinct, top, first, last, \
     first_seen, last_seen, stopped, restarted, regularly, trait, in segment, rfm, predicted, \
     not or `(`";

struct Parser<'src> {
    src: &'src str,
    toks: Vec<Token>,
    eof: Token,
    pos: usize,
    depth: usize,
    diags: Vec<Diagnostic>,
}

impl<'src> Parser<'src> {
    fn new(src: &'src str) -> Parser<'src> {
        let (toks, diags) = lex(src);
        let end = src.len();
        Parser {
            src,
            toks,
            eof: Token {
                tok: Tok::Eof,
                span: Span::new(end, end),
            },
            pos: 0,
            depth: 0,
            diags,
        }
    }

    fn finish<T>(mut self, value: T) -> Result<T, Vec<Diagnostic>> {
        if self.diags.is_empty() {
            Ok(value)
        } else {
            self.diags.sort_by_key(|d| (d.span.start, d.span.end));
            Err(self.diags)
        }
    }

    // ---- tokens -------------------------------------------------------------

    fn peek_at(&self, n: usize) -> &Token {
        self.toks
            .get(self.pos.saturating_add(n))
            .unwrap_or(&self.eof)
    }

    fn peek(&self) -> &Token {
        self.peek_at(0)
    }

    fn span(&self) -> Span {
        self.peek().span
    }

    fn prev_span(&self) -> Span {
        self.pos
            .checked_sub(1)
            .and_then(|i| self.toks.get(i))
            .map_or(self.eof.span, |t| t.span)
    }

    fn at_eof(&self) -> bool {
        self.peek().tok == Tok::Eof
    }

    fn bump(&mut self) -> Token {
        let t = self.peek().clone();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn is_kw_at(&self, n: usize, kw: &str) -> bool {
        matches!(&self.peek_at(n).tok, Tok::Ident(w) if w == kw)
    }

    fn at_kw(&self, kw: &str) -> bool {
        self.is_kw_at(0, kw)
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        let at = self.at_kw(kw);
        if at {
            self.bump();
        }
        at
    }

    fn at(&self, tok: &Tok) -> bool {
        &self.peek().tok == tok
    }

    fn eat(&mut self, tok: &Tok) -> bool {
        let at = self.at(tok);
        if at {
            self.bump();
        }
        at
    }

    fn expect_kw(&mut self, kw: &str, hint: Option<&str>) -> PResult<Span> {
        if self.at_kw(kw) {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(&format!("`{kw}`"), hint))
        }
    }

    fn expect(&mut self, tok: &Tok, what: &str, hint: Option<&str>) -> PResult<Span> {
        if self.at(tok) {
            Ok(self.bump().span)
        } else {
            Err(self.unexpected(what, hint))
        }
    }

    // ---- errors -------------------------------------------------------------

    /// Records "expected X, found Y" at the current token (unless the token is
    /// already an error of the lexer's). When the token is on a later line than
    /// the one before it, or is the end, the error points just after the
    /// previous token, where something is missing.
    fn unexpected(&mut self, expected: &str, hint: Option<&str>) -> Stop {
        let t = self.peek().clone();
        if t.tok == Tok::Invalid {
            return Stop;
        }
        let mut span = t.span;
        if self.pos > 0 {
            let end = self.prev_span().end;
            let gap = self
                .src
                .get(end as usize..t.span.start as usize)
                .unwrap_or("");
            if t.tok == Tok::Eof || gap.contains('\n') {
                span = Span { start: end, end };
            }
        }
        let mut d = Diagnostic::error(
            codes::UNEXPECTED_TOKEN,
            format!("expected {expected}, found {}", t.tok.describe()),
            span,
        );
        d.hint = hint.map(str::to_string).or_else(|| generic_hint(&t.tok));
        self.diags.push(d);
        Stop
    }

    fn report(&mut self, code: &'static str, message: String, span: Span, hint: Option<&str>) {
        let mut d = Diagnostic::error(code, message, span);
        d.hint = hint.map(str::to_string);
        self.diags.push(d);
    }

    /// A [`Stop`] always follows a recorded error (the parser's or the
    /// lexer's); this keeps a failed parse from ever looking like a success.
    fn ensure_reported(&mut self) {
        if self.diags.is_empty() {
            let span = self.span();
            self.report(
                codes::UNEXPECTED_TOKEN,
                "invalid segment definition".to_string(),
                span,
                None,
            );
        }
    }

    fn enter(&mut self) -> PResult<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            let span = self.prev_span();
            self.report(
                codes::NESTING_TOO_DEEP,
                format!("conditions are nested more than {MAX_DEPTH} levels deep"),
                span,
                Some("split the condition into segments and combine them with `in segment`"),
            );
            return Err(Stop);
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    // ---- file ---------------------------------------------------------------

    fn file(&mut self) -> File {
        let mut segments = Vec::new();
        while !self.at_eof() {
            if !self.at_kw("segment") {
                let _ = self.unexpected(
                    "`segment`",
                    Some("a file is a list of definitions: segment NAME [\"Title\"] = CONDITION"),
                );
                self.bump();
                self.recover();
                continue;
            }
            self.depth = 0;
            match self.segment_def() {
                Ok(def) => segments.push(def),
                Err(Stop) => {
                    self.ensure_reported();
                    self.recover();
                }
            }
        }
        File { segments }
    }

    /// Skips to the next `segment` keyword that starts a definition (not the
    /// one of `in segment`). Callers have consumed a token since the last
    /// recovery, so the file loop always moves on.
    fn recover(&mut self) {
        while !self.at_eof() {
            let after_in = self
                .pos
                .checked_sub(1)
                .and_then(|i| self.toks.get(i))
                .is_some_and(|t| matches!(&t.tok, Tok::Ident(w) if w == "in"));
            if self.at_kw("segment") && !after_in {
                return;
            }
            self.bump();
        }
    }

    fn segment_def(&mut self) -> PResult<SegmentDef> {
        let start = self.bump().span;
        let t = self.peek().clone();
        let name = match &t.tok {
            Tok::Ident(w) => {
                self.bump();
                if !w.starts_with(|c: char| c.is_ascii_alphabetic()) {
                    self.report(
                        codes::INVALID_SEGMENT_NAME,
                        format!("segment name `{w}` must start with a letter"),
                        t.span,
                        None,
                    );
                }
                Name {
                    text: w.clone(),
                    span: t.span,
                }
            }
            Tok::Str(s) => {
                let suggestion = identifier_like(s);
                self.report(
                    codes::INVALID_SEGMENT_NAME,
                    "a segment name is an identifier, not a string".to_string(),
                    t.span,
                    Some(&format!(
                        "write `segment {suggestion} {} = …`: the name, then the quoted title",
                        crate::printer::quote(s)
                    )),
                );
                return Err(Stop);
            }
            _ => {
                return Err(self.unexpected(
                    "a segment name",
                    Some("names are letters, digits and _, starting with a letter"),
                ));
            }
        };
        let title = match &self.peek().tok {
            Tok::Str(s) => {
                let s = s.clone();
                self.bump();
                Some(s)
            }
            _ => None,
        };
        self.expect(
            &Tok::Op(CmpOp::Eq),
            "`=` and the condition",
            Some("a definition reads: segment NAME [\"Title\"] = CONDITION"),
        )?;
        let condition = self.condition()?;
        if !self.at_eof() && !self.at_kw("segment") {
            let hint = self.after_condition_hint();
            return Err(self.unexpected("`and`, `or` or the next `segment`", hint.as_deref()));
        }
        Ok(SegmentDef {
            name,
            title,
            condition,
            span: start.to(self.prev_span()),
        })
    }

    fn after_condition_hint(&self) -> Option<String> {
        match &self.peek().tok {
            Tok::Ident(w) if w == "then" => Some(
                "`then` follows the first event of `did`: did \"A\" then \"B\" within 1h".into(),
            ),
            Tok::Ident(w) if w == "in" || w == "between" => Some(
                "a window follows the event it limits, as in `did \"E\" in last 30d` or inside `count(…)`"
                    .into(),
            ),
            Tok::Ident(w) if w == "where" => {
                Some("`where` follows an event name: did \"E\" where prop = 1".into())
            }
            Tok::Ident(w) if matches!(w.to_ascii_lowercase().as_str(), "and" | "or") => {
                Some(format!("keywords are lowercase: `{}`", w.to_ascii_lowercase()))
            }
            _ => None,
        }
    }

    // ---- conditions ---------------------------------------------------------

    fn condition(&mut self) -> PResult<Condition> {
        let first = self.and_condition()?;
        if !self.at_kw("or") {
            return Ok(first);
        }
        let mut any = vec![first];
        while self.eat_kw("or") {
            any.push(self.and_condition()?);
        }
        Ok(Condition::Or { any })
    }

    fn and_condition(&mut self) -> PResult<Condition> {
        let first = self.unary_condition()?;
        if !self.at_kw("and") {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.eat_kw("and") {
            all.push(self.unary_condition()?);
        }
        Ok(Condition::And { all })
    }

    fn unary_condition(&mut self) -> PResult<Condition> {
        if self.eat_kw("not") {
            self.enter()?;
            let condition = self.unary_condition()?;
            self.leave();
            return Ok(Condition::Not {
                condition: Box::new(condition),
            });
        }
        self.primary_condition()
    }
}

fn is_condition_word(w: &str) -> bool {
    matches!(
        w,
        "did"
            | "count"
            | "sum"
            | "avg"
            | "min"
            | "max"
            | "distinct"
            | "top"
            | "first"
            | "last"
            | "first_seen"
            | "last_seen"
            | "stopped"
            | "restarted"
            | "regularly"
            | "trait"
            | "in"
            | "rfm"
            | "predicted"
            | "not"
    )
}

fn generic_hint(tok: &Tok) -> Option<String> {
    match tok {
        Tok::Ident(w) => {
            let lower = w.to_ascii_lowercase();
            if lower != *w
                && (is_condition_word(&lower) || matches!(lower.as_str(), "and" | "or" | "segment"))
            {
                Some(format!("keywords are lowercase: `{lower}`"))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// A segment name suggested for a quoted one: `"Recent buyers"` → `recent_buyers`.
fn identifier_like(s: &str) -> String {
    let mut out: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "s_");
    }
    out
}

#[cfg(test)]
mod tests;
