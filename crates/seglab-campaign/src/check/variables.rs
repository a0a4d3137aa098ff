//! Warnings about what templates read: a variable the context does not have
//! renders empty, so a typo would go unnoticed until someone reads the email.

use super::campaign::Read;
use super::codes;
use super::read::{Report, span};
use super::spans::file_offset;
use crate::template::{Part, Templates};
use seglab_lang::Diagnostic;

/// The context's variables and their fields (see [`crate::context`]).
const ROOTS: &[(&str, &[&str])] = &[
    ("person", &["id", "user_id", "email", "traits"]),
    ("behavior", &["last_viewed_product", "last_viewed_category"]),
    ("pick", &["step", "product", "category", "products"]),
    ("best_sellers", &["overall", "by_category"]),
    ("offer", &["code", "discount", "expires_at"]),
    ("campaign", &["name", "title", "variant"]),
    ("links", &["unsubscribe"]),
];
/// Fields of a product.
const PRODUCT: &[&str] = &["id", "name", "category", "price", "url", "image"];
/// minijinja's global functions and special names.
const GLOBALS: &[&str] = &[
    "range",
    "dict",
    "namespace",
    "debug",
    "lipsum",
    "cycler",
    "joiner",
    "loop",
    "self",
    "super",
    "caller",
    "varargs",
    "kwargs",
];

/// What is wrong with a path a template reads, if anything: the part of the
/// path that is unknown, the message and a hint.
fn unknown(path: &str) -> Option<(String, String, String)> {
    let segments: Vec<&str> = path.split('.').collect();
    let root = segments[0];
    if GLOBALS.contains(&root) {
        return None;
    }
    let Some((_, fields)) = ROOTS.iter().find(|(name, _)| *name == root) else {
        let roots = ROOTS.iter().map(|(name, _)| *name);
        let hint = match seglab_lang::closest(root, roots) {
            Some(known) => format!("did you mean `{known}`?"),
            None => "templates see person, behavior, pick, best_sellers, offer, campaign and links"
                .into(),
        };
        return Some((
            root.into(),
            format!("unknown variable `{root}` (it renders empty)"),
            hint,
        ));
    };
    let field_of = |parent: &str, field: &str, known: &[&str]| {
        let hint = match seglab_lang::closest(field, known.iter().copied()) {
            Some(k) => format!("did you mean `{parent}.{k}`?"),
            None => format!("`{parent}` has {}", super::read::list(known)),
        };
        let path = format!("{parent}.{field}");
        let message = format!("unknown variable `{path}` (it renders empty)");
        Some((path, message, hint))
    };
    let field = *segments.get(1)?;
    if !fields.contains(&field) {
        return field_of(root, field, fields);
    }
    let parent = format!("{root}.{field}");
    let product = matches!(
        parent.as_str(),
        "pick.product" | "behavior.last_viewed_product"
    );
    match segments.get(2) {
        Some(sub) if product && !PRODUCT.contains(sub) => field_of(&parent, sub, PRODUCT),
        _ => None,
    }
}

/// Adds the warnings of a campaign whose templates compiled.
pub(crate) fn warn(report: &mut Report, source: &str, read: &Read<'_>, templates: &Templates) {
    let mut uses_offer = false;
    for (variant, (message, spans)) in read.messages.iter().zip(&read.message_spans).enumerate() {
        for part in Part::ALL {
            let (Some(token), Some(text)) = (&spans.parts[part as usize], part.of(message)) else {
                continue;
            };
            let mut paths: Vec<String> = templates.variables(variant, part).into_iter().collect();
            paths.sort();
            for path in paths {
                if path.split('.').next() == Some("offer") {
                    uses_offer = true;
                    if read.offer.is_none() {
                        let at = text.find("offer").unwrap_or(0);
                        let at = file_offset(source, token, at)..file_offset(source, token, at + 5);
                        report.push(
                            Diagnostic::warning(
                                codes::UNKNOWN_VARIABLE,
                                "`offer` is empty: the campaign has no offer",
                                span(&at),
                            )
                            .with_hint("add a `[campaign.offer]` table"),
                        );
                    }
                }
                let Some((bad, message, hint)) = unknown(&path) else {
                    continue;
                };
                let at = text.find(&bad).unwrap_or(0);
                let at = file_offset(source, token, at)..file_offset(source, token, at + bad.len());
                report.push(
                    Diagnostic::warning(codes::UNKNOWN_VARIABLE, message, span(&at))
                        .with_hint(hint),
                );
            }
        }
    }
    if let (Some(_), Some(at), false) = (&read.offer, &read.offer_span, uses_offer) {
        report.push(
            Diagnostic::warning(codes::UNUSED_OFFER, "no message shows the offer", span(at))
                .with_hint("show its code with {{ offer.code }}"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_and_unknown_paths() {
        for ok in [
            "person",
            "person.traits.anything.deep",
            "pick.product.name",
            "behavior.last_viewed_product.url",
            "best_sellers.by_category.Shoes",
            "range",
            "links.unsubscribe",
        ] {
            assert_eq!(unknown(ok), None, "{ok}");
        }
        let bad = |path: &str| unknown(path).map(|(p, _, h)| (p, h));
        assert_eq!(
            bad("persn.name"),
            Some(("persn".into(), "did you mean `person`?".into()))
        );
        assert_eq!(
            bad("person.emial"),
            Some(("person.emial".into(), "did you mean `person.email`?".into()))
        );
        assert_eq!(
            bad("pick.product.nmae"),
            Some((
                "pick.product.nmae".into(),
                "did you mean `pick.product.name`?".into()
            ))
        );
        assert_eq!(
            bad("zzz"),
            Some((
                "zzz".into(),
                "templates see person, behavior, pick, best_sellers, offer, campaign and links"
                    .into()
            ))
        );
    }
}
