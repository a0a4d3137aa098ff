//! The grammar's conditions: did, count and the aggregates, first and last,
//! the patterns, traits, segments, RFM and predictions.

use super::*;

impl<'src> Parser<'src> {
    pub(super) fn primary_condition(&mut self) -> PResult<Condition> {
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
    pub(super) fn did(&mut self) -> PResult<Condition> {
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
    pub(super) fn count(&mut self) -> PResult<Condition> {
        self.bump();
        self.expect(&Tok::LParen, "`(`", Some("write count(\"Event\") >= 2"))?;
        let query = self.event_query()?;
        self.close_call()?;
        let test = self.num_test()?;
        Ok(Condition::Count { query, test })
    }

    /// `sum("E".prop [where P] [window]) TEST`, and avg, min, max.
    pub(super) fn aggregate(&mut self) -> PResult<Condition> {
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
    pub(super) fn distinct_or_top(&mut self) -> PResult<Condition> {
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
    pub(super) fn property_call(&mut self) -> PResult<(EventQuery, Name)> {
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

    pub(super) fn close_call(&mut self) -> PResult<()> {
        self.expect(
            &Tok::RParen,
            "`)`",
            Some("inside the parentheses: \"Event\" [where …] [in last D | between A and B]"),
        )?;
        Ok(())
    }

    /// `first(E) TIME`, `last(E) TIME`, `first_seen TIME`, `last_seen TIME`
    pub(super) fn first_or_last(&mut self) -> PResult<Condition> {
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
    pub(super) fn stopped_or_restarted(&mut self) -> PResult<Condition> {
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
    pub(super) fn regularly(&mut self) -> PResult<Condition> {
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
    pub(super) fn trait_condition(&mut self) -> PResult<Condition> {
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
    pub(super) fn in_segment(&mut self) -> PResult<Condition> {
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
    pub(super) fn rfm(&mut self) -> PResult<Condition> {
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
    pub(super) fn predicted(&mut self) -> PResult<Condition> {
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
}
