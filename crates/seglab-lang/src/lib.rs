//! The seglab segment language: lexer, parser, checker, pretty-printer, and the
//! syntax tree's JSON form.
//!
//! A segment says who belongs to it at an instant `now`, from the events people
//! did and the traits they have:
//!
//! ```text
//! segment cart_abandoners "Cart abandoners" =
//!     did "Product Added" in last 7d then not "Order Completed" within 24h
//! ```
//!
//! What each construct means is documented on the syntax tree ([`ast`]) and in
//! the user guide, `docs/segment-language.md`.
//!
//! # Grammar
//!
//! ```ebnf
//! file        = { definition } ;
//! definition  = "segment" IDENT [ STRING ] "=" condition ;
//!
//! condition   = and_cond { "or" and_cond } ;
//! and_cond    = unary { "and" unary } ;
//! unary       = "not" unary | primary ;
//! primary     = "(" condition ")"
//!             | "did" query [ "then" [ "not" ] filter [ "within" DURATION ] [ window ] ]
//!             | "count" "(" query ")" num_test
//!             | ( "sum" | "avg" | "min" | "max" ) prop_call num_test
//!             | "distinct" prop_call num_test
//!             | "top" prop_call "=" literal
//!             | ( "first" | "last" ) "(" filter ")" time_test
//!             | ( "first_seen" | "last_seen" ) time_test
//!             | "stopped" filter "for" DURATION
//!             | "restarted" filter "after" DURATION
//!             | "regularly" filter INT "per" DURATION "in" INT "of" "last" INT
//!             | "trait" "." path test
//!             | "trait" "(" pred ")"
//!             | "in" "segment" IDENT
//!             | "rfm" "." ( "r" | "f" | "m" ) num_test
//!             | "rfm" "in" "[" [ cell { "," cell } [ "," ] ] "]"
//!             | "predicted" "." path num_test ;
//!
//! filter      = STRING [ "where" pred ] ;                 (* events of one name *)
//! query       = filter [ window ] ;
//! prop_call   = "(" STRING "." path [ "where" pred ] [ window ] ")" ;
//! window      = "in" "last" DURATION | "between" DATE "and" DATE ;
//! time_test   = "in" "last" DURATION | "before" DURATION "ago"
//!             | "between" DATE "and" DATE ;
//! num_test    = CMP NUMBER | "between" NUMBER "and" NUMBER ;
//! cell        = IDENT | STRING ;
//!
//! pred        = pred_and { "or" pred_and } ;
//! pred_and    = pred_unary { "and" pred_unary } ;
//! pred_unary  = "not" pred_unary | "(" pred ")" | path test ;
//! test        = CMP literal
//!             | "in" "[" [ literal { "," literal } [ "," ] ] "]"
//!             | "contains" literal
//!             | "starts_with" STRING
//!             | "exists" ;
//! path        = name { "." name } ;                       (* products.category *)
//! name        = IDENT | STRING ;                          (* "first name" *)
//! literal     = STRING | NUMBER | "true" | "false" ;
//!
//! (* tokens; whitespace and comments separate them *)
//! IDENT       = ( letter | "_" ) { letter | digit | "_" } ;   (* ASCII *)
//! STRING      = '"' { character | escape } '"' ;           (* on one line *)
//! escape      = '\"' | '\\' | '\n' | '\t' | '\r' | '\u{' hex { hex } '}' ;
//! NUMBER      = [ "-" ] digit { digit } [ "." digit { digit } ] ;
//! INT         = digit { digit } ;
//! DURATION    = digit { digit } ( "s" | "m" | "h" | "d" | "w" ) ;  (* no space: 30d *)
//! DATE        = YYYY "-" MM "-" DD [ "T" hh ":" mm ":" ss [ "." fraction ]
//!               [ "Z" | ( "+" | "-" ) hh ":" mm ] ] ;      (* UTC without offset *)
//! CMP         = "=" | "==" | "!=" | "<" | "<=" | ">" | ">=" ;
//! comment     = ( "#" | "//" ) { any character but a line break } ;
//! ```
//!
//! Keywords are lowercase and reserved only where the grammar expects them, so
//! a property may be called `count`; a segment name may be any identifier
//! that starts with a letter. Three rules settle what the grammar leaves open:
//!
//! 1. **A `where` predicate reaches as far as it can.** After a predicate, an
//!    `and` or `or` continues it when what follows reads as a predicate (any
//!    `not`s and `(`s, then a path, then a test); otherwise it joins
//!    conditions. So `did "E" where a = 1 or b = 2` filters on `a = 1 or b = 2`,
//!    and `did "E" where a = 1 and in segment vip` is two conditions. A path
//!    whose first name is a bare `trait`, `rfm` or `predicted` is read as a
//!    condition (quote it, `"trait".x`, to mean a property).
//! 2. **`not` at the start of a predicate negates it**: a property named `not`
//!    is written `"not"`.
//! 3. **The window of `did A … then B` belongs to A.** It is written after A
//!    (`did A in last 7d then B within 1h`) or at the very end (`did A then B
//!    within 1h in last 7d`), not both. `then B` needs `within`; `then not B`
//!    may omit it.
//!
//! `and` and `or` chains flatten into one [`Condition::And`] / [`Condition::Or`]
//! (and [`Pred::And`] / [`Pred::Or`]); parentheses keep their group. Nesting is
//! limited to [`MAX_DEPTH`] levels of `(` and `not`.
//!
//! # API
//!
//! * [`parse`] a file, or [`parse_condition`] one condition, into the syntax
//!   tree ([`ast`]). Either returns every error it finds as [`Diagnostic`]s
//!   and never panics, whatever the input.
//! * [`check`] a file against a [`Catalog`] of what the workspace knows
//!   (events, properties, traits, saved segments, models);
//!   [`parse_and_check`] does both.
//! * [`print()`] a file, or [`print_condition`] one condition, as canonical
//!   source: `parse(print(tree))` gives the tree back.
//! * [`to_json`] / [`from_json`] (and the `condition_` variants): the API's JSON
//!   form, which is the serde form of [`ast`].
//! * [`Diagnostic::render`] shows an error as a compiler does, with the line,
//!   a caret under the span and a hint.
//! * [`rfm_cell`] and [`RFM_CELLS`]: the named RFM cells, shared with the engine.
//!
//! ```
//! use seglab_lang::{Catalog, ValueKind, check, parse, print};
//!
//! let source = r#"segment buyers = did "Order Complete" in last 30d"#;
//! let file = parse(source).unwrap();
//! let catalog = Catalog::new().with_event("Order Completed", [("revenue", ValueKind::Number)]);
//! let diagnostics = check(&file, &catalog);
//! assert_eq!(diagnostics[0].code, "unknown_event");
//! assert_eq!(
//!     diagnostics[0].render(source, "segments.seg"),
//!     "segments.seg:1:22: error: unknown event \"Order Complete\"\n  \
//!        |\n\
//!      1 | segment buyers = did \"Order Complete\" in last 30d\n  \
//!        |                      ^^^^^^^^^^^^^^^^\n  \
//!        = hint: did you mean \"Order Completed\"?\n"
//! );
//! assert_eq!(print(&file), "segment buyers = did \"Order Complete\" in last 30d\n");
//! ```

#![warn(missing_docs)]

pub mod ast;
mod catalog;
mod check;
mod cycles;
mod diagnostic;
mod lexer;
mod parser;
mod printer;
mod retention;
mod rfm;
mod suggest;
mod time;

use std::str::FromStr;

pub use ast::{Condition, File, Pred};
pub use catalog::{Catalog, EventSchema, Kinds, ValueKind};
pub use check::check;
pub use diagnostic::{Diagnostic, Severity, codes, line_col, render_all};
pub use parser::{MAX_DEPTH, parse, parse_condition};
pub use printer::{
    KEYWORDS, LINE_WIDTH, is_identifier, print, print_condition, print_pred, print_segment, quote,
};
pub use retention::{DurationError, Retention};
pub use rfm::{RFM_CELLS, RFM_GRID, rfm_cell};
pub use suggest::closest;
pub use time::{format_date, parse_date};

/// The crate's error: a source with errors, or JSON that is not a syntax tree.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The source does not parse or does not check; every diagnostic found,
    /// warnings included.
    #[error("{}", summary(.0))]
    Invalid(Vec<Diagnostic>),
    /// The JSON is not a syntax tree.
    #[error("invalid segment json: {0}")]
    Json(#[from] serde_json::Error),
}

impl Error {
    /// The stable code: the first error's code for [`Error::Invalid`],
    /// `invalid_json` for [`Error::Json`].
    pub fn code(&self) -> &'static str {
        match self {
            Error::Invalid(diags) => diags
                .iter()
                .find(|d| d.is_error())
                .or(diags.first())
                .map_or("invalid", |d| d.code),
            Error::Json(_) => "invalid_json",
        }
    }
}

fn summary(diags: &[Diagnostic]) -> String {
    let errors = diags.iter().filter(|d| d.is_error()).count();
    match diags.iter().find(|d| d.is_error()).or(diags.first()) {
        None => "invalid segment source".to_string(),
        Some(first) if errors > 1 => {
            format!("{} (and {} more errors)", first.message, errors - 1)
        }
        Some(first) => first.message.clone(),
    }
}

/// Parses and checks: on success the file and the warnings, on failure every
/// error and warning.
pub fn parse_and_check(
    source: &str,
    catalog: &Catalog,
) -> Result<(File, Vec<Diagnostic>), Vec<Diagnostic>> {
    let file = parse(source)?;
    let diags = check(&file, catalog);
    if diags.iter().any(Diagnostic::is_error) {
        Err(diags)
    } else {
        Ok((file, diags))
    }
}

/// A file's JSON form (pretty-printed).
pub fn to_json(file: &File) -> String {
    // The tree holds no maps and no types whose serialization can fail.
    serde_json::to_string_pretty(file).expect("a syntax tree always serializes")
}

/// Reads a file from its JSON form.
pub fn from_json(json: &str) -> Result<File, Error> {
    Ok(serde_json::from_str(json)?)
}

/// A condition's JSON form (pretty-printed).
pub fn condition_to_json(condition: &Condition) -> String {
    serde_json::to_string_pretty(condition).expect("a syntax tree always serializes")
}

/// Reads a condition from its JSON form.
pub fn condition_from_json(json: &str) -> Result<Condition, Error> {
    Ok(serde_json::from_str(json)?)
}

impl FromStr for File {
    type Err = Error;

    /// [`parse`], with the diagnostics in an [`Error::Invalid`].
    fn from_str(source: &str) -> Result<File, Error> {
        parse(source).map_err(Error::Invalid)
    }
}

impl FromStr for Condition {
    type Err = Error;

    /// [`parse_condition`], with the diagnostics in an [`Error::Invalid`].
    fn from_str(source: &str) -> Result<Condition, Error> {
        parse_condition(source).map_err(Error::Invalid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_summary_and_code() {
        let err = "segment a = did\nsegment b = did"
            .parse::<File>()
            .unwrap_err();
        assert_eq!(err.code(), "unexpected_token");
        assert_eq!(
            err.to_string(),
            "expected an event name in double quotes, found `segment` (and 1 more errors)"
        );
        let err = from_json("{").unwrap_err();
        assert_eq!(err.code(), "invalid_json");
    }

    #[test]
    fn parse_and_check_keeps_warnings() {
        let catalog = Catalog::new()
            .with_event("E", [("a", ValueKind::Number)])
            .with_trait("plan", ValueKind::String);
        let (_, warnings) =
            parse_and_check(r#"segment s = did "E" where b = 1"#, &catalog).unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(warnings[0].code, codes::UNKNOWN_PROPERTY);
        let errors = parse_and_check(r#"segment s = did "F""#, &catalog).unwrap_err();
        assert_eq!(errors[0].code, codes::UNKNOWN_EVENT);
    }

    #[test]
    fn condition_from_str() {
        let c: Condition = "rfm.r >= 4".parse().unwrap();
        assert_eq!(print_condition(&c), "rfm.r >= 4");
    }
}
