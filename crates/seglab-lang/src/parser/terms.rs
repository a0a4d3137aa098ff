//! The grammar's terms: event names and queries, windows, dates, durations,
//! numeric tests, literals, property paths and predicates.

use super::*;

impl<'src> Parser<'src> {
    pub(super) fn event_name(&mut self) -> PResult<Name> {
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

    pub(super) fn where_clause(&mut self) -> PResult<Option<Pred>> {
        if self.eat_kw("where") {
            Ok(Some(self.pred()?))
        } else {
            Ok(None)
        }
    }

    /// `"E" [where P]`
    pub(super) fn event_filter(&mut self) -> PResult<EventFilter> {
        let event = self.event_name()?;
        let filter = self.where_clause()?;
        Ok(EventFilter { event, filter })
    }

    /// `"E" [where P] [window]`
    pub(super) fn event_query(&mut self) -> PResult<EventQuery> {
        let events = self.event_filter()?;
        let window = self.window()?.map(|(w, _)| w);
        Ok(EventQuery { events, window })
    }

    /// `in last D` or `between DATE and DATE`, if one is next.
    pub(super) fn window(&mut self) -> PResult<Option<(Window, Span)>> {
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
    pub(super) fn date_range(&mut self) -> PResult<(i64, i64)> {
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

    pub(super) fn date(&mut self) -> PResult<i64> {
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
    pub(super) fn time_test(&mut self) -> PResult<TimeTest> {
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

    pub(super) fn duration(&mut self) -> PResult<Duration> {
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
    pub(super) fn num_test(&mut self) -> PResult<NumTest> {
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

    pub(super) fn number(&mut self) -> PResult<f64> {
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

    pub(super) fn whole_number(&mut self, hint: Option<&str>) -> PResult<(u32, Span)> {
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
    pub(super) fn literal(&mut self) -> PResult<Literal> {
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
    pub(super) fn list<T>(
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
    pub(super) fn path(&mut self) -> PResult<Name> {
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

    pub(super) fn path_segment(&mut self) -> PResult<String> {
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

    pub(super) fn pred(&mut self) -> PResult<Pred> {
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

    pub(super) fn and_pred(&mut self) -> PResult<Pred> {
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

    pub(super) fn unary_pred(&mut self) -> PResult<Pred> {
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
    pub(super) fn pred_test(&mut self, path: Name) -> PResult<Pred> {
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
    pub(super) fn pred_follows(&self, offset: usize) -> bool {
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
