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

    fn primary_condition(&mut self) -> PResult<Condition> {
        let word = match &self.peek().tok {
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let c = self.condition()?;
                self.expect(&Tok::RParen, "`)`", None)?;
                self.leave();
                return Ok(c);
            }
            Tok::Ident(w) => w.clone(),
            Tok::Str(s) => {
                let hint = format!(
                    "to test for an event, write did {}",
                    crate::printer::quote(s)
                );
                return Err(self.unexpected("a condition", Some(&hint)));
            }
            _ => {
                let hint = format!("a condition starts with {CONDITION_STARTS}");
                return Err(self.unexpected("a condition", Some(&hint)));
            }
        };
        match word.as_str() {
            "did" => self.did(),
            "count" => self.count(),
            "sum" | "avg" | "min" | "max" => self.aggregate(),
            "distinct" | "top" => self.distinct_or_top(),
            "first" | "last" | "first_seen" | "last_seen" => self.first_or_last(),
            "stopped" | "restarted" => self.stopped_or_restarted(),
            "regularly" => self.regularly(),
            "trait" => self.trait_condition(),
            "in" => self.in_segment(),
            "rfm" => self.rfm(),
            "predicted" => self.predicted(),
            _ => {
                let lower = word.to_ascii_lowercase();
                let hint = if lower != word && is_condition_word(&lower) {
                    format!("keywords are lowercase: `{lower}`")
                } else {
                    format!("a condition starts with {CONDITION_STARTS}")
                };
                Err(self.unexpected("a condition", Some(&hint)))
            }
        }
    }

    /// `did A [where P] [window] [then [not] B [where Q] [within T] [window]]`
    fn did(&mut self) -> PResult<Condition> {
        self.bump();
        let mut first = self.event_query()?;
        if !self.at_kw("then") {
            return Ok(Condition::Did { query: first });
        }
        let then_span = self.bump().span;
        let negated = self.eat_kw("not");
        let then = self.event_filter()?;
        let within = if self.eat_kw("within") {
            Some(self.duration()?)
        } else {
            None
        };
        if let Some((window, span)) = self.window()? {
            if first.window.is_some() {
                self.report(
                    codes::DUPLICATE_WINDOW,
                    "the first event already has a window".to_string(),
                    span,
                    Some("give the window once, right after the first event"),
                );
            }
            first.window = Some(window);
        }
        if negated {
            return Ok(Condition::ThenNot {
                first,
                then,
                within,
            });
        }
        match within {
            Some(within) => Ok(Condition::Then {
                first,
                then,
                within,
            }),
            None => {
                self.report(
                    codes::MISSING_WITHIN,
                    "`then` needs `within`: how soon the second event must follow".to_string(),
                    then_span.to(self.prev_span()),
                    Some("add a time limit, as in `then \"Order Completed\" within 24h`, or write `then not`"),
                );
                Err(Stop)
            }
        }
    }

    /// `count(Q) TEST`
    fn count(&mut self) -> PResult<Condition> {
        self.bump();
        self.expect(&Tok::LParen, "`(`", Some("write count(\"Event\") >= 2"))?;
        let query = self.event_query()?;
        self.close_call()?;
        let test = self.num_test()?;
        Ok(Condition::Count { query, test })
    }

    /// `sum("E".prop [where P] [window]) TEST`, and avg, min, max.
    fn aggregate(&mut self) -> PResult<Condition> {
        let func = match &self.bump().tok {
            Tok::Ident(w) if w == "sum" => AggFunc::Sum,
            Tok::Ident(w) if w == "avg" => AggFunc::Avg,
            Tok::Ident(w) if w == "min" => AggFunc::Min,
            _ => AggFunc::Max,
        };
        let (query, property) = self.property_call()?;
        let test = self.num_test()?;
        Ok(Condition::Aggregate {
            func,
            query,
            property,
            test,
        })
    }

    /// `distinct("E".prop …) TEST`, `top("E".prop …) = V`
    fn distinct_or_top(&mut self) -> PResult<Condition> {
        let is_top = self.at_kw("top");
        self.bump();
        let (query, property) = self.property_call()?;
        if !is_top {
            let test = self.num_test()?;
            return Ok(Condition::Distinct {
                query,
                property,
                test,
            });
        }
        self.expect(
            &Tok::Op(CmpOp::Eq),
            "`=`",
            Some("the most frequent value is compared with `=`: top(\"E\".prop) = \"x\""),
        )?;
        let value = self.literal()?;
        Ok(Condition::Top {
            query,
            property,
            value,
        })
    }

    /// `("E".prop [where P] [window])`
    fn property_call(&mut self) -> PResult<(EventQuery, Name)> {
        self.expect(
            &Tok::LParen,
            "`(`",
            Some("write the event and property in parentheses: sum(\"Order Completed\".revenue)"),
        )?;
        let event = self.event_name()?;
        self.expect(
            &Tok::Dot,
            "`.` and a property name",
            Some("name the property after the event: \"Order Completed\".revenue"),
        )?;
        let property = self.path()?;
        let filter = self.where_clause()?;
        let window = self.window()?.map(|(w, _)| w);
        self.close_call()?;
        Ok((
            EventQuery {
                events: EventFilter { event, filter },
                window,
            },
            property,
        ))
    }

    fn close_call(&mut self) -> PResult<()> {
        self.expect(
            &Tok::RParen,
            "`)`",
            Some("inside the parentheses: \"Event\" [where …] [in last D | between A and B]"),
        )?;
        Ok(())
    }

    /// `first(E) TIME`, `last(E) TIME`, `first_seen TIME`, `last_seen TIME`
    fn first_or_last(&mut self) -> PResult<Condition> {
        let word = match &self.bump().tok {
            Tok::Ident(w) => w.clone(),
            _ => String::new(),
        };
        let events = if word == "first" || word == "last" {
            let hint =
                format!("write {word}(\"Event\") in last 30d, or {word}_seen … for any event");
            self.expect(&Tok::LParen, "`(`", Some(&hint))?;
            let filter = self.event_filter()?;
            if let Some((_, span)) = self.window()? {
                let hint =
                    format!("write the time test after the parenthesis: {word}(\"E\") in last 30d");
                self.report(
                    codes::UNEXPECTED_TOKEN,
                    format!("`{word}(…)` takes no window"),
                    span,
                    Some(&hint),
                );
                return Err(Stop);
            }
            self.close_call()?;
            Some(filter)
        } else {
            None
        };
        let time = self.time_test()?;
        if word.starts_with("first") {
            Ok(Condition::First { events, time })
        } else {
            Ok(Condition::Last { events, time })
        }
    }

    /// `stopped E for D`, `restarted E after D`
    fn stopped_or_restarted(&mut self) -> PResult<Condition> {
        let stopped = self.at_kw("stopped");
        self.bump();
        let events = self.event_filter()?;
        if stopped {
            self.expect_kw("for", Some("write stopped \"Event\" for 30d"))?;
            let period = self.duration()?;
            Ok(Condition::Stopped { events, period })
        } else {
            self.expect_kw("after", Some("write restarted \"Event\" after 60d"))?;
            let gap = self.duration()?;
            Ok(Condition::Restarted { events, gap })
        }
    }

    /// `regularly E [where P] N per D in K of last M`
    fn regularly(&mut self) -> PResult<Condition> {
        self.bump();
        let events = self.event_filter()?;
        let hint = "write regularly \"Event\" 1 per 7d in 3 of last 4";
        let (times, _) = self.whole_number(Some(hint))?;
        self.expect_kw("per", Some(hint))?;
        let period = self.duration()?;
        self.expect_kw("in", Some(hint))?;
        let (at_least, k_span) = self.whole_number(Some(hint))?;
        self.expect_kw("of", Some(hint))?;
        self.expect_kw("last", Some(hint))?;
        let (of_last, m_span) = self.whole_number(Some(hint))?;
        if at_least > of_last {
            self.report(
                codes::IMPOSSIBLE_REGULARLY,
                format!("`in {at_least} of last {of_last}` can never hold"),
                k_span.to(m_span),
                Some("the first number counts periods among the last M, so it is at most M"),
            );
        }
        Ok(Condition::Regularly {
            events,
            times,
            period,
            at_least,
            of_last,
        })
    }

    /// `trait.PATH TEST` or `trait(PRED)`
    fn trait_condition(&mut self) -> PResult<Condition> {
        self.bump();
        let hint = "write trait.plan = \"pro\", trait.email exists, or trait(plan = \"pro\" or plan = \"team\")";
        if self.eat(&Tok::Dot) {
            let path = self.path()?;
            let pred = self.pred_test(path)?;
            return Ok(Condition::Trait {
                test: TraitTest { pred },
            });
        }
        if self.eat(&Tok::LParen) {
            self.enter()?;
            let pred = self.pred()?;
            self.expect(&Tok::RParen, "`)`", None)?;
            self.leave();
            return Ok(Condition::Trait {
                test: TraitTest { pred },
            });
        }
        Err(self.unexpected("`.` and a trait name, or `(`", Some(hint)))
    }

    /// `in segment NAME`
    fn in_segment(&mut self) -> PResult<Condition> {
        self.bump();
        let hint = if self.at_kw("last") {
            "a window follows an event: did \"E\" in last 30d"
        } else {
            "write in segment NAME"
        };
        self.expect_kw("segment", Some(hint))?;
        match &self.peek().tok {
            Tok::Ident(w) => {
                let segment = Name {
                    text: w.clone(),
                    span: self.peek().span,
                };
                self.bump();
                Ok(Condition::InSegment { segment })
            }
            _ => Err(self.unexpected("a segment name", None)),
        }
    }

    /// `rfm.r TEST` (also f, m) or `rfm in [CELL, …]`
    fn rfm(&mut self) -> PResult<Condition> {
        self.bump();
        let hint = "write rfm.r >= 4 (or rfm.f, rfm.m), or rfm in [Champions, \"At risk\"]";
        if self.eat(&Tok::Dot) {
            let dim = match &self.peek().tok {
                Tok::Ident(w) if w == "r" => RfmDim::R,
                Tok::Ident(w) if w == "f" => RfmDim::F,
                Tok::Ident(w) if w == "m" => RfmDim::M,
                _ => return Err(self.unexpected("`r`, `f` or `m`", Some(hint))),
            };
            self.bump();
            let test = self.num_test()?;
            return Ok(Condition::RfmScore { dim, test });
        }
        if self.eat_kw("in") {
            let cells = self.list(
                |p| match &p.peek().tok {
                    Tok::Ident(w) | Tok::Str(w) => {
                        let name = Name {
                            text: w.clone(),
                            span: p.peek().span,
                        };
                        p.bump();
                        Ok(name)
                    }
                    _ => Err(p.unexpected(
                        "an rfm cell name",
                        Some("cell names with spaces are quoted: \"At risk\""),
                    )),
                },
                "cell names with spaces are quoted: \"At risk\"",
            )?;
            return Ok(Condition::RfmCell { cells });
        }
        Err(self.unexpected("`.` or `in`", Some(hint)))
    }

    /// `predicted.NAME TEST`
    fn predicted(&mut self) -> PResult<Condition> {
        self.bump();
        self.expect(
            &Tok::Dot,
            "`.` and a model name",
            Some("write predicted.churn >= 0.7"),
        )?;
        let model = self.path()?;
        let test = self.num_test()?;
        Ok(Condition::Predicted { model, test })
    }

    // ---- events, windows, values -------------------------------------------

    fn event_name(&mut self) -> PResult<Name> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Str(text) => {
                self.bump();
                Ok(Name { text, span: t.span })
            }
            Tok::Ident(w) => {
                let hint = format!("event names are quoted: \"{w}\"");
                Err(self.unexpected("an event name in double quotes", Some(&hint)))
            }
            _ => Err(self.unexpected("an event name in double quotes", None)),
        }
    }

    fn where_clause(&mut self) -> PResult<Option<Pred>> {
        if self.eat_kw("where") {
            Ok(Some(self.pred()?))
        } else {
            Ok(None)
        }
    }

    /// `"E" [where P]`
    fn event_filter(&mut self) -> PResult<EventFilter> {
        let event = self.event_name()?;
        let filter = self.where_clause()?;
        Ok(EventFilter { event, filter })
    }

    /// `"E" [where P] [window]`
    fn event_query(&mut self) -> PResult<EventQuery> {
        let events = self.event_filter()?;
        let window = self.window()?.map(|(w, _)| w);
        Ok(EventQuery { events, window })
    }

    /// `in last D` or `between DATE and DATE`, if one is next.
    fn window(&mut self) -> PResult<Option<(Window, Span)>> {
        let start = self.span();
        if self.at_kw("in") && self.is_kw_at(1, "last") {
            self.bump();
            self.bump();
            let duration = self.duration()?;
            return Ok(Some((
                Window::Last { duration },
                start.to(self.prev_span()),
            )));
        }
        if self.at_kw("between") {
            self.bump();
            let (start_ms, end_ms) = self.date_range()?;
            return Ok(Some((
                Window::Between {
                    start: start_ms,
                    end: end_ms,
                },
                start.to(self.prev_span()),
            )));
        }
        Ok(None)
    }

    /// `DATE and DATE` (after `between`), reporting an empty range.
    fn date_range(&mut self) -> PResult<(i64, i64)> {
        let first = self.span();
        let start = self.date()?;
        self.expect_kw("and", Some("write between 2026-01-01 and 2026-02-01"))?;
        let end = self.date()?;
        if start >= end {
            self.report(
                codes::EMPTY_RANGE,
                "the range is empty: its start is not before its end".to_string(),
                first.to(self.prev_span()),
                Some("the start is included and the end excluded: between 2026-01-01 and 2026-02-01 is January"),
            );
        }
        Ok((start, end))
    }

    fn date(&mut self) -> PResult<i64> {
        match self.peek().tok {
            Tok::Date(ms) => {
                self.bump();
                Ok(ms)
            }
            _ => Err(self.unexpected(
                "a date",
                Some("write a date as 2026-01-31, or a time as 2026-01-31T18:30:00Z"),
            )),
        }
    }

    /// `TIME` of `first`/`last`: `in last D`, `before D ago`, `between A and B`.
    fn time_test(&mut self) -> PResult<TimeTest> {
        if self.at_kw("in") && self.is_kw_at(1, "last") {
            self.bump();
            self.bump();
            let duration = self.duration()?;
            return Ok(TimeTest::InLast { duration });
        }
        if self.eat_kw("before") {
            let duration = self.duration()?;
            self.expect_kw("ago", Some("write before 60d ago"))?;
            return Ok(TimeTest::Before { duration });
        }
        if self.eat_kw("between") {
            let (start, end) = self.date_range()?;
            return Ok(TimeTest::Between { start, end });
        }
        Err(self.unexpected(
            "`in last`, `before … ago` or `between`",
            Some("write last_seen in last 7d, last(\"E\") before 90d ago, or first_seen between 2026-01-01 and 2026-02-01"),
        ))
    }

    fn duration(&mut self) -> PResult<Duration> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Duration(d) => {
                self.bump();
                if d.amount == 0 {
                    self.report(
                        codes::ZERO_DURATION,
                        "a duration must be longer than zero".to_string(),
                        t.span,
                        None,
                    );
                }
                Ok(d)
            }
            Tok::Number { .. } => Err(self.unexpected(
                "a duration such as 30d",
                Some("put the unit right after the number: s, m, h, d or w (30d, 24h)"),
            )),
            _ => Err(self.unexpected("a duration such as 30d", None)),
        }
    }

    /// `OP NUMBER` or `between NUMBER and NUMBER`
    fn num_test(&mut self) -> PResult<NumTest> {
        if let Tok::Op(op) = self.peek().tok {
            self.bump();
            let value = self.number()?;
            return Ok(NumTest::Cmp { op, value });
        }
        if self.at_kw("between") {
            let start = self.bump().span;
            let low = self.number()?;
            self.expect_kw("and", Some("write between 1 and 3"))?;
            let high = self.number()?;
            if low > high {
                self.report(
                    codes::EMPTY_RANGE,
                    format!("the range is empty: {low} is above {high}"),
                    start.to(self.prev_span()),
                    Some("write the low bound first; both bounds are included"),
                );
            }
            return Ok(NumTest::Between { low, high });
        }
        Err(self.unexpected(
            "a comparison (`>=`, `>`, `=`, `!=`, `<`, `<=`) or `between`",
            None,
        ))
    }

    fn number(&mut self) -> PResult<f64> {
        match self.peek().tok {
            Tok::Number { value, .. } => {
                self.bump();
                Ok(value)
            }
            Tok::Str(_) => {
                Err(self.unexpected("a number", Some("numbers are written without quotes")))
            }
            _ => Err(self.unexpected("a number", None)),
        }
    }

    fn whole_number(&mut self, hint: Option<&str>) -> PResult<(u32, Span)> {
        let t = self.peek().clone();
        match t.tok {
            Tok::Number { int: Some(n), .. } => match u32::try_from(n) {
                Ok(n) => {
                    self.bump();
                    Ok((n, t.span))
                }
                Err(_) => {
                    self.report(
                        codes::INVALID_NUMBER,
                        format!("{n} is too large"),
                        t.span,
                        None,
                    );
                    Err(Stop)
                }
            },
            _ => Err(self.unexpected("a whole number", hint)),
        }
    }

    /// A string, a number, `true` or `false`.
    fn literal(&mut self) -> PResult<Literal> {
        let t = self.peek().clone();
        let value = match t.tok {
            Tok::Str(s) => Literal::String(s),
            Tok::Number { value, .. } => Literal::Number(value),
            Tok::Ident(w) if w == "true" => Literal::Bool(true),
            Tok::Ident(w) if w == "false" => Literal::Bool(false),
            Tok::Ident(w) => {
                let hint = format!("text values are quoted: \"{w}\"");
                return Err(self.unexpected(
                    "a value (a quoted string, a number, true or false)",
                    Some(&hint),
                ));
            }
            Tok::Date(_) | Tok::Duration(_) => {
                return Err(self.unexpected(
                    "a value (a quoted string, a number, true or false)",
                    Some("properties hold strings, numbers and booleans: quote a date, \"2026-01-31\""),
                ));
            }
            _ => {
                return Err(
                    self.unexpected("a value (a quoted string, a number, true or false)", None)
                );
            }
        };
        self.bump();
        Ok(value)
    }

    /// `[ITEM, …]` (an empty list and a trailing comma are allowed).
    fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Parser<'src>) -> PResult<T>,
        hint: &str,
    ) -> PResult<Vec<T>> {
        self.expect(&Tok::LBracket, "`[`", Some("a list is written [a, b, c]"))?;
        let mut items = Vec::new();
        loop {
            if self.eat(&Tok::RBracket) {
                return Ok(items);
            }
            items.push(item(self)?);
            if self.eat(&Tok::Comma) {
                continue;
            }
            if self.eat(&Tok::RBracket) {
                return Ok(items);
            }
            return Err(self.unexpected("`,` or `]`", Some(hint)));
        }
    }

    /// A property path: names joined by `.`, each an identifier or a quoted
    /// string. The text is the names joined by `.`.
    fn path(&mut self) -> PResult<Name> {
        let start = self.span();
        let mut text = self.path_segment()?;
        while self.at(&Tok::Dot) && matches!(self.peek_at(1).tok, Tok::Ident(_) | Tok::Str(_)) {
            self.bump();
            text.push('.');
            text.push_str(&self.path_segment()?);
        }
        Ok(Name {
            text,
            span: start.to(self.prev_span()),
        })
    }

    fn path_segment(&mut self) -> PResult<String> {
        match &self.peek().tok {
            Tok::Ident(w) | Tok::Str(w) => {
                let w = w.clone();
                self.bump();
                Ok(w)
            }
            _ => Err(self.unexpected(
                "a property name",
                Some("names with spaces or symbols are quoted: \"first name\""),
            )),
        }
    }

    // ---- predicates ---------------------------------------------------------

    fn pred(&mut self) -> PResult<Pred> {
        let first = self.and_pred()?;
        if !(self.at_kw("or") && self.pred_follows(1)) {
            return Ok(first);
        }
        let mut any = vec![first];
        while self.at_kw("or") && self.pred_follows(1) {
            self.bump();
            any.push(self.and_pred()?);
        }
        Ok(Pred::Or { any })
    }

    fn and_pred(&mut self) -> PResult<Pred> {
        let first = self.unary_pred()?;
        if !(self.at_kw("and") && self.pred_follows(1)) {
            return Ok(first);
        }
        let mut all = vec![first];
        while self.at_kw("and") && self.pred_follows(1) {
            self.bump();
            all.push(self.unary_pred()?);
        }
        Ok(Pred::And { all })
    }

    fn unary_pred(&mut self) -> PResult<Pred> {
        if self.eat_kw("not") {
            self.enter()?;
            let pred = self.unary_pred()?;
            self.leave();
            return Ok(Pred::Not {
                pred: Box::new(pred),
            });
        }
        if self.eat(&Tok::LParen) {
            self.enter()?;
            let pred = self.pred()?;
            self.expect(&Tok::RParen, "`)`", None)?;
            self.leave();
            return Ok(pred);
        }
        let path = self.path()?;
        self.pred_test(path)
    }

    /// What follows a path: `OP V`, `in [..]`, `contains V`, `starts_with "s"`,
    /// `exists`.
    fn pred_test(&mut self, path: Name) -> PResult<Pred> {
        if let Tok::Op(op) = self.peek().tok {
            self.bump();
            let value = self.literal()?;
            return Ok(Pred::Cmp { path, op, value });
        }
        if self.eat_kw("in") {
            let values = self.list(|p| p.literal(), "separate values with commas")?;
            return Ok(Pred::In { path, values });
        }
        if self.eat_kw("contains") {
            let value = self.literal()?;
            return Ok(Pred::Contains { path, value });
        }
        if self.eat_kw("starts_with") {
            return match &self.peek().tok {
                Tok::Str(s) => {
                    let value = s.clone();
                    self.bump();
                    Ok(Pred::StartsWith { path, value })
                }
                _ => Err(self.unexpected("a quoted string", None)),
            };
        }
        if self.eat_kw("exists") {
            return Ok(Pred::Exists { path });
        }
        Err(self.unexpected(
            "a test (`=`, `!=`, `<`, `<=`, `>`, `>=`, `in`, `contains`, `starts_with` or `exists`)",
            None,
        ))
    }

    /// Whether the tokens from `offset` on read as a predicate (`not`s and `(`s,
    /// a path, then a test) rather than as a condition. Decides whether an
    /// `and`/`or` after a `where` predicate continues the predicate: in
    /// `did "E" where a = 1 and b = 2` it does, in
    /// `did "E" where a = 1 and in segment vip` it does not. A path whose first
    /// name is a bare `trait`, `rfm` or `predicted` is read as a condition.
    fn pred_follows(&self, offset: usize) -> bool {
        let mut i = offset;
        while self.is_kw_at(i, "not") || matches!(self.peek_at(i).tok, Tok::LParen) {
            i += 1;
        }
        match &self.peek_at(i).tok {
            Tok::Ident(w) if !CONDITION_ONLY_HEADS.contains(&w.as_str()) => {}
            Tok::Str(_) => {}
            _ => return false,
        }
        i += 1;
        while matches!(self.peek_at(i).tok, Tok::Dot) {
            if !matches!(self.peek_at(i + 1).tok, Tok::Ident(_) | Tok::Str(_)) {
                return false;
            }
            i += 2;
        }
        match &self.peek_at(i).tok {
            Tok::Op(_) => true,
            Tok::Ident(w) if w == "in" => matches!(self.peek_at(i + 1).tok, Tok::LBracket),
            Tok::Ident(w) => matches!(w.as_str(), "contains" | "starts_with" | "exists"),
            _ => false,
        }
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
mod tests {
    use super::*;
    use crate::ast::TimeUnit;

    fn cond(src: &str) -> Condition {
        match parse_condition(src) {
            Ok(c) => c.without_spans(),
            Err(d) => panic!("{src}: {d:?}"),
        }
    }

    fn error_codes(src: &str) -> Vec<&'static str> {
        match parse(src) {
            Ok(_) => Vec::new(),
            Err(d) => d.iter().map(|d| d.code).collect(),
        }
    }

    fn days(amount: u64) -> Duration {
        Duration {
            amount,
            unit: TimeUnit::Days,
        }
    }

    fn did(event: &str) -> Condition {
        Condition::Did {
            query: EventQuery {
                events: EventFilter {
                    event: Name::new(event),
                    filter: None,
                },
                window: None,
            },
        }
    }

    #[test]
    fn and_binds_tighter_than_or_and_not_tighter_than_and() {
        assert_eq!(
            cond(r#"did "a" or not did "b" and did "c" or did "d""#),
            Condition::Or {
                any: vec![
                    did("a"),
                    Condition::And {
                        all: vec![
                            Condition::Not {
                                condition: Box::new(did("b"))
                            },
                            did("c")
                        ]
                    },
                    did("d"),
                ]
            }
        );
    }

    #[test]
    fn parentheses_keep_their_group() {
        assert_eq!(
            cond(r#"(did "a" or did "b") or did "c""#),
            Condition::Or {
                any: vec![
                    Condition::Or {
                        any: vec![did("a"), did("b")]
                    },
                    did("c")
                ]
            }
        );
    }

    #[test]
    fn where_extends_as_far_as_predicates_go() {
        let c = cond(r#"did "E" where a = 1 and b = 2 and in segment vip"#);
        let Condition::And { all } = c else {
            panic!("not an and: {c:?}")
        };
        assert_eq!(all.len(), 2);
        assert!(matches!(
            &all[0],
            Condition::Did { query } if matches!(query.events.filter, Some(Pred::And { .. }))
        ));
        let c = cond(r#"did "E" where a = 1 and trait.plan = "pro""#);
        assert!(matches!(c, Condition::And { .. }));
        let c = cond(r#"did "E" where a = 1 or (b = 2) and not (c exists)"#);
        assert!(matches!(c, Condition::Did { .. }), "{c:?}");
        let c = cond(r#"did "E" where a = 1 and (did "F" or did "G")"#);
        assert!(matches!(c, Condition::And { .. }), "{c:?}");
    }

    #[test]
    fn keywords_can_be_property_names() {
        let c = cond(r#"did "E" where count = 1 and in in ["x"] and exists exists"#);
        let Condition::Did { query } = c else {
            panic!()
        };
        let Some(Pred::And { all }) = query.events.filter else {
            panic!()
        };
        assert_eq!(all.len(), 3);
    }

    #[test]
    fn then_with_a_trailing_window() {
        assert_eq!(
            cond(r#"did "A" then "B" within 1h in last 7d"#),
            cond(r#"did "A" in last 7d then "B" within 1h"#)
        );
        assert_eq!(
            error_codes(r#"segment x = did "A" in last 7d then "B" within 1h in last 7d"#),
            vec![codes::DUPLICATE_WINDOW]
        );
    }

    #[test]
    fn value_errors_do_not_stop_the_parse() {
        assert_eq!(
            error_codes(
                "segment a = did \"E\" in last 0d and count(\"E\") between 3 and 1\n\
                 segment b = regularly \"E\" 1 per 7d in 5 of last 4\n\
                 segment c = did \"E\" between 2026-02-01 and 2026-01-01"
            ),
            vec![
                codes::ZERO_DURATION,
                codes::EMPTY_RANGE,
                codes::IMPOSSIBLE_REGULARLY,
                codes::EMPTY_RANGE
            ]
        );
    }

    #[test]
    fn recovers_at_the_next_segment() {
        let src = "segment a = did\nsegment b = in segment\nsegment c = count(\"E\") >= 2\nsegment d = did \"E\" then \"F\"";
        let codes_found = error_codes(src);
        assert_eq!(
            codes_found,
            vec![
                codes::UNEXPECTED_TOKEN,
                codes::UNEXPECTED_TOKEN,
                codes::MISSING_WITHIN
            ]
        );
    }

    #[test]
    fn nesting_is_limited() {
        let deep = format!(
            "segment a = {}did \"E\"{}",
            "(".repeat(150),
            ")".repeat(150)
        );
        assert_eq!(error_codes(&deep), vec![codes::NESTING_TOO_DEEP]);
        let nots = format!("segment a = {}did \"E\"", "not ".repeat(10_000));
        assert_eq!(error_codes(&nots), vec![codes::NESTING_TOO_DEEP]);
        let preds = format!(
            "segment a = did \"E\" where {}a exists{}",
            "(not ".repeat(80),
            ")".repeat(80)
        );
        assert_eq!(error_codes(&preds), vec![codes::NESTING_TOO_DEEP]);
        let ok = format!("segment a = {}did \"E\"{}", "(".repeat(99), ")".repeat(99));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn segment_names_are_identifiers() {
        assert_eq!(
            error_codes(r#"segment "Recent buyers" = did "E""#),
            vec![codes::INVALID_SEGMENT_NAME]
        );
        assert_eq!(
            error_codes(r#"segment _x = did "E""#),
            vec![codes::INVALID_SEGMENT_NAME]
        );
        assert_eq!(identifier_like("Recent buyers"), "recent_buyers");
        assert_eq!(identifier_like("2x"), "s_2x");
    }

    #[test]
    fn empty_file_is_valid() {
        assert_eq!(parse("# nothing\n").unwrap().segments.len(), 0);
        assert!(parse_condition("").is_err());
    }

    #[test]
    fn first_takes_no_window_inside() {
        assert_eq!(
            error_codes(r#"segment a = first("E" in last 30d) in last 30d"#),
            vec![codes::UNEXPECTED_TOKEN]
        );
        assert_eq!(
            cond(r#"first("E" where a = 1) before 2d ago"#),
            Condition::First {
                events: Some(EventFilter {
                    event: Name::new("E"),
                    filter: Some(Pred::Cmp {
                        path: Name::new("a"),
                        op: CmpOp::Eq,
                        value: Literal::Number(1.0)
                    })
                }),
                time: TimeTest::Before { duration: days(2) }
            }
        );
    }

    #[test]
    fn spans_point_at_names() {
        let file = parse("segment vip = in segment dormant").unwrap();
        let def = &file.segments[0];
        assert_eq!(def.name.span, Span::new(8, 11));
        assert_eq!(def.span, Span::new(0, 32));
        let Condition::InSegment { segment } = &def.condition else {
            panic!()
        };
        assert_eq!(segment.span, Span::new(25, 32));
    }

    #[test]
    fn quoted_and_dotted_paths() {
        let c = cond(r#"trait."first name" exists and sum("E"."a b".c) > 0"#);
        let Condition::And { all } = c else { panic!() };
        assert!(matches!(
            &all[0],
            Condition::Trait { test } if matches!(&test.pred, Pred::Exists { path } if path.text == "first name")
        ));
        assert!(matches!(
            &all[1],
            Condition::Aggregate { property, .. } if property.text == "a b.c"
        ));
    }
}
