//! Campaigns as code: reads and checks `campaigns/*.toml`.
//!
//! Each file holds any number of `[[campaign]]` tables; at most one file holds
//! the `[policy]` table. Every error of every file is reported, each with the
//! byte span in its file and, where there is something to say, a hint. Unknown
//! keys are errors (a typo must not silently turn a rule off). Template errors
//! point at the line and column inside the TOML string they are written in.
//!
//! ```toml
//! [policy]
//! caps = [ { max = 2, per = "1d" }, { channel = "email", max = 1, per = "1d" } ]
//! when_capped = "defer"            # or "skip" (the default)
//! quiet_hours = "21:00-08:00"
//! default_timezone = "Europe/Paris" # default UTC
//! consent_trait = "accepts_marketing"
//!
//! [[campaign]]
//! name = "browse_abandonment"
//! segment = "browsers_not_buyers"
//! channel = "email"                 # email | webhook (with webhook_url) | onsite
//! priority = 50                     # default 0
//! goal = { event = "Order Completed", within = "7d" }  # within: default 7d
//! cap = { max = 1, per = "7d" }
//! [campaign.trigger]
//! on = "entry"                      # entry | schedule (at, every) | decision (placement)
//! delay = "2h"
//! [campaign.personalize]            # defaults: 2, 3, 14d
//! product_views = 2
//! [campaign.offer]
//! code_prefix = "BACK"              # or pool = true
//! valid_for = "72h"
//! [[campaign.message]]
//! subject = "Still thinking about {{ pick.product.name }}?"
//! text = "Hi {{ person.traits.name }}"
//! ```

mod campaign;
mod policy;
mod read;
mod spans;
mod variables;

use std::collections::BTreeMap;
use std::ops::Range;

use seglab_lang::Diagnostic;
use toml::de::{DeTable, DeValue};

use crate::def::{CampaignDef, Definitions, Policy};
use crate::template::{TemplateError, Templates};
use read::{Report, Table, span, tables_of};

/// The stable codes of the checker's diagnostics.
pub mod codes {
    /// The file is not valid TOML.
    pub const TOML: &str = "campaign.toml";
    /// A key the table does not take (a typo, usually).
    pub const UNKNOWN_FIELD: &str = "campaign.unknown_field";
    /// A required key is not written.
    pub const MISSING_FIELD: &str = "campaign.missing_field";
    /// Two campaigns (or two messages of one campaign) of one name.
    pub const DUPLICATE_NAME: &str = "campaign.duplicate_name";
    /// A second `[policy]` table.
    pub const DUPLICATE_POLICY: &str = "campaign.duplicate_policy";
    /// The audience is not a saved segment.
    pub const UNKNOWN_SEGMENT: &str = "campaign.unknown_segment";
    /// A template that does not compile.
    pub const TEMPLATE: &str = "campaign.template";
    /// A duration that cannot be read (or is zero where it must not be).
    pub const DURATION: &str = "campaign.duration";
    /// A time zone jiff does not know.
    pub const TIMEZONE: &str = "campaign.timezone";
    /// A value of the wrong type, out of range or not one of the choices.
    pub const INVALID: &str = "campaign.invalid";
    /// A template reads a variable the context does not have (a warning: it
    /// renders empty).
    pub const UNKNOWN_VARIABLE: &str = "campaign.unknown_variable";
    /// An offer no message shows (a warning).
    pub const UNUSED_OFFER: &str = "campaign.unused_offer";

    /// Every code.
    pub const ALL: &[&str] = &[
        TOML,
        UNKNOWN_FIELD,
        MISSING_FIELD,
        DUPLICATE_NAME,
        DUPLICATE_POLICY,
        UNKNOWN_SEGMENT,
        TEMPLATE,
        DURATION,
        TIMEZONE,
        INVALID,
        UNKNOWN_VARIABLE,
        UNUSED_OFFER,
    ];
}

/// Files that check: what they define, ready to apply.
#[derive(Debug)]
pub struct Checked {
    /// The campaigns (in file order) and the policy.
    pub definitions: Definitions,
    /// Each campaign's name and its source: its `[[campaign]]` table and the
    /// tables under it, as written (kept with each version).
    pub sources: Vec<(String, String)>,
    /// Warnings, with the name of their file.
    pub warnings: Vec<(String, Diagnostic)>,
    /// Each campaign's compiled templates, by campaign name.
    pub templates: BTreeMap<String, Templates>,
}

/// Files that do not check.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid campaigns\n{rendered}")]
pub struct Invalid {
    /// Every error and warning, with the name of its file, files in the order
    /// given and diagnostics by position.
    pub diagnostics: Vec<(String, Diagnostic)>,
    /// All of them shown as a compiler does, with `file:line:column`.
    pub rendered: String,
}

/// Where something was first defined, for "first defined at …" hints.
struct First {
    file: usize,
    at: Range<usize>,
}

impl First {
    fn describe(&self, files: &[(String, String)]) -> String {
        let (name, source) = &files[self.file];
        let (line, col) = seglab_lang::line_col(source, self.at.start);
        format!("first defined at {name}:{line}:{col}")
    }
}

/// Reads and checks campaign files, given as `(file name, TOML source)`.
/// `segment_exists` says whether a segment of that name is saved.
pub fn check_files(
    files: &[(String, String)],
    segment_exists: &dyn Fn(&str) -> bool,
) -> Result<Checked, Invalid> {
    let mut reports: Vec<Report> = Vec::new();
    let mut policy: Option<(Policy, First)> = None;
    let mut names: BTreeMap<String, First> = BTreeMap::new();
    let mut campaigns: Vec<CampaignDef> = Vec::new();
    let mut sources = Vec::new();
    let mut templates = BTreeMap::new();
    for (file, (_, source)) in files.iter().enumerate() {
        let mut report = Report::default();
        let (doc, errors) = DeTable::parse_recoverable(source);
        if !errors.is_empty() {
            let mut seen = Vec::new();
            for e in errors {
                let at = e.span().unwrap_or(0..0);
                if !seen.contains(&(at.clone(), e.message().to_owned())) {
                    report.error(codes::TOML, e.message().to_owned(), &at, None);
                    seen.push((at, e.message().to_owned()));
                }
            }
            reports.push(report);
            continue;
        }
        let root = Table::new(doc.get_ref(), 0..0, "the top level");
        root.only(&mut report, &["campaign", "policy"], &|key| {
            Some(format!(
                "a file holds `[[campaign]]` tables and a `[policy]` table; is `{key}` meant to be under one of them?"
            ))
        });
        if let Some(value) = root.get("policy") {
            read_policy(&mut report, value, file, files, &mut policy);
        }
        let Some(value) = root.get("campaign") else {
            reports.push(report);
            continue;
        };
        for t in tables_of(&mut report, value, "campaign", "campaign") {
            let errors_before = report.errors();
            let read = campaign::read(&t, &mut report, segment_exists);
            if let Some(name) = &read.name {
                match names.get(name.text) {
                    Some(first) => report.error(
                        codes::DUPLICATE_NAME,
                        format!("two campaigns named \"{}\"", name.text),
                        &name.span,
                        Some(first.describe(files)),
                    ),
                    None => {
                        names.insert(
                            name.text.to_owned(),
                            First {
                                file,
                                at: name.span.clone(),
                            },
                        );
                    }
                }
            }
            let compiled = match Templates::compile_messages(&read.messages, read.offer.as_ref()) {
                Ok(compiled) => {
                    variables::warn(&mut report, source, &read, &compiled);
                    Some(compiled)
                }
                Err(errors) => {
                    for e in errors {
                        report.push(template_diagnostic(source, &read, &e));
                    }
                    None
                }
            };
            if let (Some(def), Some(compiled)) = (read.def, compiled)
                && report.errors() == errors_before
            {
                sources.push((def.name.clone(), campaign_source(source, &t)));
                templates.insert(def.name.clone(), compiled);
                campaigns.push(def);
            }
        }
        reports.push(report);
    }
    let mut diagnostics = Vec::new();
    let mut rendered = Vec::new();
    let mut has_errors = false;
    for ((name, source), mut report) in files.iter().zip(reports) {
        report
            .diagnostics
            .sort_by_key(|d| (d.span.start, d.span.end));
        has_errors |= report.errors() > 0;
        if !report.diagnostics.is_empty() {
            rendered.push(seglab_lang::render_all(&report.diagnostics, source, name));
        }
        diagnostics.extend(report.diagnostics.into_iter().map(|d| (name.clone(), d)));
    }
    if has_errors {
        return Err(Invalid {
            diagnostics,
            rendered: rendered.join("\n"),
        });
    }
    Ok(Checked {
        definitions: Definitions {
            campaigns,
            policy: policy.map(|(p, _)| p),
        },
        sources,
        warnings: diagnostics,
        templates,
    })
}

fn read_policy(
    report: &mut Report,
    value: &read::Value<'_>,
    file: usize,
    files: &[(String, String)],
    policy: &mut Option<(Policy, First)>,
) {
    let DeValue::Table(map) = value.get_ref() else {
        report.error(
            codes::INVALID,
            "`policy` must be a table".into(),
            &value.span(),
            Some("write one `[policy]` header".into()),
        );
        return;
    };
    let t = Table::new(map, value.span(), "[policy]");
    let read = policy::read(&t, report);
    if let Some((_, first)) = policy {
        report.error(
            codes::DUPLICATE_POLICY,
            "a second [policy] table".into(),
            &t.span,
            Some(format!(
                "there is one policy for every campaign; it is {}",
                first.describe(files)
            )),
        );
    } else if let Some(read) = read {
        *policy = Some((
            read,
            First {
                file,
                at: t.span.clone(),
            },
        ));
    }
}

/// A template error, pointed at its line and column in the file.
fn template_diagnostic(source: &str, read: &campaign::Read<'_>, e: &TemplateError) -> Diagnostic {
    let spans = &read.message_spans[e.variant];
    let message = &read.messages[e.variant];
    let token = spans.parts[e.part as usize]
        .clone()
        .unwrap_or(spans.table.clone());
    let range = match (&e.range, e.line) {
        (Some(range), _) => range.clone(),
        (None, Some(line)) => {
            let text = e.part.of(message).unwrap_or_default();
            let start: usize = text
                .split_inclusive('\n')
                .take(line - 1)
                .map(str::len)
                .sum();
            start..start
        }
        (None, None) => 0..0,
    };
    let at = spans::file_offset(source, &token, range.start)
        ..spans::file_offset(source, &token, range.end);
    Diagnostic::error(
        codes::TEMPLATE,
        format!("template error in the {} of message \"{}\": {}", e.part.as_str(), message.name, e.message),
        span(&at),
    )
    .with_hint("templates are minijinja (Jinja2): {{ person.traits.name }}, {% if pick.product %}…{% endif %}")
}

/// The text of a `[[campaign]]` table: from its header to the end of the line
/// of the last value under it.
fn campaign_source(source: &str, t: &Table<'_, '_>) -> String {
    fn extent(map: &DeTable<'_>) -> usize {
        map.iter()
            .map(|(k, v)| k.span().end.max(value_extent(v)))
            .max()
            .unwrap_or(0)
    }
    fn value_extent(v: &read::Value<'_>) -> usize {
        match v.get_ref() {
            DeValue::Table(map) => v.span().end.max(extent(map)),
            DeValue::Array(items) => items
                .iter()
                .map(value_extent)
                .fold(v.span().end, usize::max),
            _ => v.span().end,
        }
    }
    let end = extent(t.map).max(t.span.end).min(source.len());
    let end = source[end..].find('\n').map_or(source.len(), |i| end + i);
    source.get(t.span.start..end).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests;
