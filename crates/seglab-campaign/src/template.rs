//! A campaign's messages as minijinja templates: compiled once, rendered
//! many times.
//!
//! Missing data renders empty, never fails: the environment's undefined
//! behavior is [`UndefinedBehavior::Chainable`], so `{{ pick.product.name }}`
//! with no product picked is empty (and `{% if pick.product %}` is false), and
//! `none` (a JSON `null` trait) prints as nothing. The `html` part is escaped
//! for HTML; `subject` and `text` are not. A subject is one line: newlines
//! in it become spaces (it goes into a mail header).
//!
//! Syntax errors are found by [`Templates::compile`]; unknown filters, tests
//! and functions (which minijinja reports only when rendering) by rendering
//! once against an empty and a sample [`Context`] at compile time.

use std::collections::HashSet;
use std::fmt;
use std::ops::Range;

use minijinja::{AutoEscape, Environment, ErrorKind, UndefinedBehavior, Value};
use serde::{Deserialize, Serialize};

use crate::context::Context;
use crate::def::{CampaignDef, MessageDef, OfferDef};

/// One of the templates of a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Part {
    /// `subject`
    Subject,
    /// `html`
    Html,
    /// `text`
    Text,
}

impl Part {
    /// Every part, in the order they are written.
    pub const ALL: [Part; 3] = [Part::Subject, Part::Html, Part::Text];

    /// `subject`, `html` or `text`: the field it is written in.
    pub fn as_str(self) -> &'static str {
        match self {
            Part::Subject => "subject",
            Part::Html => "html",
            Part::Text => "text",
        }
    }

    /// The source of this part of a message, if it has one.
    pub fn of(self, message: &MessageDef) -> Option<&str> {
        match self {
            Part::Subject => Some(&message.subject),
            Part::Html => message.html.as_deref(),
            Part::Text => message.text.as_deref(),
        }
    }
}

/// A template that does not compile (or names an unknown filter, test or
/// function).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    /// The message's index in the campaign.
    pub variant: usize,
    /// Which of its templates.
    pub part: Part,
    /// minijinja's description (lowercase, no trailing period).
    pub message: String,
    /// 1-based line in the template, when known.
    pub line: Option<usize>,
    /// Byte range in the template, when known.
    pub range: Option<Range<usize>>,
}

/// A message that could not be rendered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot render the {part} of variant {variant}: {message}")]
pub struct RenderError {
    /// The message's index in the campaign.
    pub variant: usize,
    /// Which of its templates (`subject`, `html`, `text`).
    pub part: &'static str,
    /// What went wrong.
    pub message: String,
}

/// A rendered message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendered {
    /// One line.
    pub subject: String,
    /// HTML, when the message has an `html` template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub html: Option<String>,
    /// Plain text, when the message has a `text` template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// The compiled templates of one campaign's messages. Cheap to share between
/// threads (`Send + Sync`); rendering borrows it.
pub struct Templates {
    env: Environment<'static>,
    /// Per message: the template name of each part it has.
    names: Vec<[Option<String>; 3]>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Templates")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

fn template_name(variant: usize, part: Part) -> String {
    // The extension selects the escaping (see `environment`).
    match part {
        Part::Subject => format!("{variant}/subject.txt"),
        Part::Html => format!("{variant}/body.html"),
        Part::Text => format!("{variant}/body.txt"),
    }
}

fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_debug(true);
    env.set_undefined_behavior(UndefinedBehavior::Chainable);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".html") {
            AutoEscape::Html
        } else {
            AutoEscape::None
        }
    });
    env.set_formatter(|out, state, value| {
        if value.is_none() || value.is_undefined() {
            Ok(())
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
    env
}

fn template_error(variant: usize, part: Part, err: &minijinja::Error) -> TemplateError {
    TemplateError {
        variant,
        part,
        message: err
            .detail()
            .map_or_else(|| err.kind().to_string(), str::to_owned),
        line: err.line(),
        range: err.range(),
    }
}

/// Errors that render the same whatever the data: a name minijinja does not know.
fn is_static(kind: ErrorKind) -> bool {
    matches!(
        kind,
        ErrorKind::UnknownFilter
            | ErrorKind::UnknownTest
            | ErrorKind::UnknownFunction
            | ErrorKind::UnknownMethod
            | ErrorKind::MissingArgument
            | ErrorKind::TooManyArguments
    )
}

impl Templates {
    /// Compiles every template of a campaign's messages.
    pub fn compile(def: &CampaignDef) -> Result<Templates, Vec<TemplateError>> {
        Templates::compile_messages(&def.messages, def.offer.as_ref())
    }

    /// Compiles messages on their own (the checker does, before the rest of
    /// the campaign is known to be valid). `offer` only shapes the sample
    /// context the templates are tried against.
    pub fn compile_messages(
        messages: &[MessageDef],
        offer: Option<&OfferDef>,
    ) -> Result<Templates, Vec<TemplateError>> {
        let mut env = environment();
        let mut names = Vec::with_capacity(messages.len());
        let mut errors = Vec::new();
        for (variant, message) in messages.iter().enumerate() {
            let mut parts: [Option<String>; 3] = Default::default();
            for (slot, part) in parts.iter_mut().zip(Part::ALL) {
                let Some(source) = part.of(message) else {
                    continue;
                };
                let name = template_name(variant, part);
                match env.add_template_owned(name.clone(), source.to_owned()) {
                    Ok(()) => *slot = Some(name),
                    Err(err) => errors.push(template_error(variant, part, &err)),
                }
            }
            names.push(parts);
        }
        let templates = Templates { env, names };
        errors.extend(templates.try_render(offer));
        if errors.is_empty() {
            Ok(templates)
        } else {
            Err(errors)
        }
    }

    /// Renders every template against an empty and a sample context and
    /// keeps the errors that do not depend on the data.
    fn try_render(&self, offer: Option<&OfferDef>) -> Vec<TemplateError> {
        let contexts = [
            Value::from_serialize(Context::default()),
            Value::from_serialize(Context::sample_with(offer)),
        ];
        let mut errors: Vec<TemplateError> = Vec::new();
        for (variant, parts) in self.names.iter().enumerate() {
            for (name, part) in parts.iter().zip(Part::ALL) {
                let Some(Ok(template)) = name.as_deref().map(|n| self.env.get_template(n)) else {
                    continue;
                };
                for ctx in &contexts {
                    if let Err(err) = template.render(ctx)
                        && is_static(err.kind())
                    {
                        let error = template_error(variant, part, &err);
                        if !errors.contains(&error) {
                            errors.push(error);
                        }
                    }
                }
            }
        }
        errors
    }

    /// How many messages (variants) there are.
    pub fn variants(&self) -> usize {
        self.names.len()
    }

    /// The top-level and dotted variable paths a template reads that it does
    /// not set itself (`person.traits.name`), for the checker's warnings.
    pub fn variables(&self, variant: usize, part: Part) -> HashSet<String> {
        self.names
            .get(variant)
            .and_then(|parts| parts[part as usize].as_deref())
            .and_then(|name| self.env.get_template(name).ok())
            .map(|t| t.undeclared_variables(true))
            .unwrap_or_default()
    }

    /// Renders message `variant` (its index in the campaign).
    pub fn render(&self, variant: usize, ctx: &Context) -> Result<Rendered, RenderError> {
        let parts = self.names.get(variant).ok_or_else(|| RenderError {
            variant,
            part: Part::Subject.as_str(),
            message: format!("there are {} variants", self.names.len()),
        })?;
        let ctx = Value::from_serialize(ctx);
        let render = |part: Part| -> Result<Option<String>, RenderError> {
            let Some(name) = &parts[part as usize] else {
                return Ok(None);
            };
            let fail = |err: minijinja::Error| RenderError {
                variant,
                part: part.as_str(),
                message: err
                    .detail()
                    .map_or_else(|| err.kind().to_string(), str::to_owned),
            };
            let template = self.env.get_template(name).map_err(fail)?;
            template.render(&ctx).map(Some).map_err(fail)
        };
        let subject = render(Part::Subject)?.unwrap_or_default();
        Ok(Rendered {
            subject: one_line(&subject),
            html: render(Part::Html)?,
            text: render(Part::Text)?,
        })
    }
}

/// Whitespace runs (newlines included) become one space; no space at either end.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{Pick, Product};

    fn message(subject: &str, html: Option<&str>, text: Option<&str>) -> MessageDef {
        MessageDef {
            name: "a".into(),
            weight: 1,
            subject: subject.into(),
            html: html.map(Into::into),
            text: text.map(Into::into),
        }
    }

    fn render_one(
        subject: &str,
        html: Option<&str>,
        text: Option<&str>,
        ctx: &Context,
    ) -> Rendered {
        Templates::compile_messages(&[message(subject, html, text)], None)
            .unwrap()
            .render(0, ctx)
            .unwrap()
    }

    #[test]
    fn templates_can_be_shared_between_threads() {
        fn shared<T: Send + Sync>() {}
        shared::<Templates>();
    }

    #[test]
    fn missing_data_renders_empty() {
        let ctx = Context::default();
        let out = render_one(
            "[{{ pick.product.name }}][{{ nope }}][{{ nope.deeper.still }}][{{ offer.code }}]",
            Some("<p>{{ person.traits.name }}{% for p in pick.products %}x{% endfor %}</p>"),
            Some(
                "{% if pick.product %}yes{% else %}no{% endif %} {{ behavior.last_viewed_product.name | default('something') }}",
            ),
            &ctx,
        );
        assert_eq!(out.subject, "[][][][]");
        assert_eq!(out.html.as_deref(), Some("<p></p>"));
        assert_eq!(out.text.as_deref(), Some("no something"));
    }

    #[test]
    fn null_traits_print_nothing() {
        let ctx = Context {
            person: crate::context::PersonCtx {
                traits: serde_json::json!({ "name": null }),
                ..Default::default()
            },
            ..Context::default()
        };
        assert_eq!(
            render_one("Hi {{ person.traits.name }}!", None, None, &ctx).subject,
            "Hi !"
        );
    }

    #[test]
    fn html_is_escaped_subject_and_text_are_not() {
        let ctx = Context {
            pick: Pick {
                product: Some(Product {
                    name: Some("Tom & <Jerry>".into()),
                    ..Product::new("p1")
                }),
                ..Pick::default()
            },
            ..Context::default()
        };
        let out = render_one(
            "{{ pick.product.name }}\nsecond  line",
            Some("<b>{{ pick.product.name }}</b>"),
            Some("{{ pick.product.name }}\n"),
            &ctx,
        );
        assert_eq!(out.subject, "Tom & <Jerry> second line");
        assert_eq!(out.html.as_deref(), Some("<b>Tom &amp; &lt;Jerry&gt;</b>"));
        assert_eq!(out.text.as_deref(), Some("Tom & <Jerry>"));
    }

    #[test]
    fn syntax_errors_have_a_line_and_range() {
        let errors =
            Templates::compile_messages(&[message("ok", None, Some("line one\nHi {{ name"))], None)
                .unwrap_err();
        assert_eq!(errors.len(), 1);
        let e = &errors[0];
        assert_eq!((e.variant, e.part, e.line), (0, Part::Text, Some(2)));
        assert_eq!(
            e.message,
            "unexpected end of input, expected end of variable block"
        );
        assert_eq!(e.range, Some(15..19));
    }

    #[test]
    fn unknown_filters_are_compile_errors() {
        let errors =
            Templates::compile_messages(&[message("{{ person.id | shout }}", None, None)], None)
                .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].message, "filter shout is unknown");
        assert_eq!(errors[0].range, Some(15..20));
    }

    #[test]
    fn runtime_errors_fail_the_render_not_the_process() {
        let templates =
            Templates::compile_messages(&[message("{{ 1 // person.traits.n }}", None, None)], None)
                .unwrap();
        let ctx = Context {
            person: crate::context::PersonCtx {
                traits: serde_json::json!({ "n": 0 }),
                ..Default::default()
            },
            ..Context::default()
        };
        let err = templates.render(0, &ctx).unwrap_err();
        assert_eq!(err.part, "subject");
        assert!(templates.render(7, &ctx).is_err());
    }

    #[test]
    fn variables_lists_what_a_template_reads() {
        let templates = Templates::compile_messages(
            &[message(
                "{{ person.traits.name }} {% set x = 1 %}{{ x }}",
                None,
                None,
            )],
            None,
        )
        .unwrap();
        let vars = templates.variables(0, Part::Subject);
        assert_eq!(vars, HashSet::from(["person.traits.name".to_string()]));
        assert!(templates.variables(0, Part::Html).is_empty());
    }
}
