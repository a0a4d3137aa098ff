//! Property predicates: compiled ([`PredPlan`]) and tested on the values of
//! a property set or of a person's traits.

use seglab_lang::ast::{CmpOp, Literal, Pred};

use crate::intern::NONE;
use crate::props::{Dictionary, Pair, Scalar, values_of};
use crate::timeline::TraitEntry;

/// A test on one value of a property.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum ValueTest {
    Exists,
    /// `=` and `in`: the value is one of these ids (sorted).
    AnyOf(Vec<u32>),
    /// `!=`: the value is not this id.
    NotEq(u32),
    OrdNum(CmpOp, f64),
    OrdStr(CmpOp, String),
    /// Element equality for array elements, substring for plain strings.
    Contains {
        element: u32,
        substring: Option<String>,
    },
    StartsWith(String),
}

/// A compiled property predicate.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum PredPlan {
    Const(bool),
    Leaf { path: u32, test: ValueTest },
    And(Vec<PredPlan>),
    Or(Vec<PredPlan>),
    Not(Box<PredPlan>),
}

impl PredPlan {
    /// Compiles a predicate against the values seen so far: paths and
    /// values never seen make tests that never match.
    pub(crate) fn compile(dict: &Dictionary, p: &Pred) -> PredPlan {
        let leaf = |path: &str, test: ValueTest| match dict.keys.get(path) {
            Some(path) => PredPlan::Leaf { path, test },
            None => PredPlan::Const(false),
        };
        match p {
            Pred::Cmp { path, op, value } => match op {
                CmpOp::Eq => match literal_id(dict, value) {
                    Some(id) => leaf(&path.text, ValueTest::AnyOf(vec![id])),
                    None => PredPlan::Const(false),
                },
                CmpOp::Ne => leaf(
                    &path.text,
                    ValueTest::NotEq(literal_id(dict, value).unwrap_or(NONE)),
                ),
                _ => match value {
                    Literal::Number(x) => leaf(&path.text, ValueTest::OrdNum(*op, *x)),
                    Literal::String(s) => leaf(&path.text, ValueTest::OrdStr(*op, s.clone())),
                    Literal::Bool(_) => PredPlan::Const(false),
                },
            },
            Pred::In { path, values } => {
                let mut ids: Vec<u32> = values.iter().filter_map(|v| literal_id(dict, v)).collect();
                ids.sort_unstable();
                ids.dedup();
                if ids.is_empty() {
                    PredPlan::Const(false)
                } else {
                    leaf(&path.text, ValueTest::AnyOf(ids))
                }
            }
            Pred::Contains { path, value } => {
                let element = literal_id(dict, value).unwrap_or(NONE);
                let substring = match value {
                    Literal::String(s) => Some(s.clone()),
                    _ => None,
                };
                if element == NONE && substring.is_none() {
                    PredPlan::Const(false)
                } else {
                    leaf(&path.text, ValueTest::Contains { element, substring })
                }
            }
            Pred::StartsWith { path, value } => {
                leaf(&path.text, ValueTest::StartsWith(value.clone()))
            }
            Pred::Exists { path } => leaf(&path.text, ValueTest::Exists),
            Pred::And { all } => PredPlan::junction(dict, all, true),
            Pred::Or { any } => PredPlan::junction(dict, any, false),
            Pred::Not { pred } => match PredPlan::compile(dict, pred) {
                PredPlan::Const(b) => PredPlan::Const(!b),
                p => PredPlan::Not(Box::new(p)),
            },
        }
    }

    /// `and` of `ps` (`all`), or `or`: a part that decides the answer on its
    /// own (`false` in an `and`, `true` in an `or`) is the answer; parts that
    /// cannot change it are left out.
    fn junction(dict: &Dictionary, ps: &[Pred], all: bool) -> PredPlan {
        let mut parts = Vec::new();
        for p in ps {
            match PredPlan::compile(dict, p) {
                PredPlan::Const(b) if b == all => {}
                PredPlan::Const(b) => return PredPlan::Const(b),
                p => parts.push(p),
            }
        }
        if parts.is_empty() {
            PredPlan::Const(all)
        } else if all {
            PredPlan::And(parts)
        } else {
            PredPlan::Or(parts)
        }
    }
}

/// The value id of a literal, if such a value was ever seen.
pub(crate) fn literal_id(dict: &Dictionary, l: &Literal) -> Option<u32> {
    match l {
        Literal::String(s) => dict.string_id(s),
        Literal::Number(x) => dict.number_id(*x),
        Literal::Bool(b) => Some(Dictionary::bool_id(*b)),
    }
}

/// Where a predicate finds the values of a path.
pub(crate) trait Props {
    fn dict(&self) -> &Dictionary;
    fn any(&self, path: u32, f: impl FnMut(Pair) -> bool) -> bool;
}

pub(crate) struct SetProps<'a> {
    pub(crate) set: &'a [Pair],
    pub(crate) dict: &'a Dictionary,
}

impl Props for SetProps<'_> {
    fn dict(&self) -> &Dictionary {
        self.dict
    }

    #[inline]
    fn any(&self, path: u32, f: impl FnMut(Pair) -> bool) -> bool {
        values_of(self.set, path).iter().copied().any(f)
    }
}

/// A person's traits; only those named in `keys` (sorted) are looked at.
pub(crate) struct TraitProps<'a> {
    pub(crate) entries: &'a [TraitEntry],
    pub(crate) keys: &'a [u32],
    pub(crate) dict: &'a Dictionary,
}

impl Props for TraitProps<'_> {
    fn dict(&self) -> &Dictionary {
        self.dict
    }

    fn any(&self, path: u32, mut f: impl FnMut(Pair) -> bool) -> bool {
        self.entries
            .iter()
            .filter(|t| self.keys.binary_search(&t.key).is_ok())
            .any(|t| {
                values_of(self.dict.set(t.set), path)
                    .iter()
                    .copied()
                    .any(&mut f)
            })
    }
}

pub(crate) fn pred_holds(p: &PredPlan, props: &impl Props) -> bool {
    match p {
        PredPlan::Const(b) => *b,
        PredPlan::And(all) => all.iter().all(|p| pred_holds(p, props)),
        PredPlan::Or(any) => any.iter().any(|p| pred_holds(p, props)),
        PredPlan::Not(p) => !pred_holds(p, props),
        PredPlan::Leaf { path, test } => {
            let dict = props.dict();
            props.any(*path, |pair| value_holds(test, pair, dict))
        }
    }
}

#[inline]
fn value_holds(test: &ValueTest, p: Pair, dict: &Dictionary) -> bool {
    match test {
        ValueTest::Exists => true,
        ValueTest::AnyOf(ids) => ids.contains(&p.value),
        ValueTest::NotEq(id) => p.value != *id,
        ValueTest::OrdNum(op, x) => {
            matches!(dict.scalar(p.value), Scalar::Num(v) if v.partial_cmp(x).is_some_and(|o| op.holds(o)))
        }
        ValueTest::OrdStr(op, s) => {
            matches!(dict.scalar(p.value), Scalar::Str(v) if op.holds(v.cmp(s.as_str())))
        }
        ValueTest::Contains { element, substring } => {
            if p.in_array() {
                p.value == *element
            } else {
                match (substring, dict.scalar(p.value)) {
                    (Some(s), Scalar::Str(v)) => v.contains(s.as_str()),
                    _ => false,
                }
            }
        }
        ValueTest::StartsWith(s) => {
            matches!(dict.scalar(p.value), Scalar::Str(v) if v.starts_with(s.as_str()))
        }
    }
}
