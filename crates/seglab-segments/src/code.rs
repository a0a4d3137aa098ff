//! Segments as code: what the checker knows (the catalog), check, apply, diff,
//! save and delete.

use roaring::RoaringBitmap;
use seglab_lang::Diagnostic;
use seglab_lang::ast::{Condition, File, SegmentDef};
use seglab_store::{Reader, SaveOutcome, SegmentRecord};

use crate::{Checked, Error, Result, SAMPLE, SPEC_EVENTS, SegmentDiff, Segments};

pub(crate) fn condition_of(record: &SegmentRecord) -> Result<Condition> {
    serde_json::from_str(&record.ast)
        .map_err(|e| Error::Corrupt(record.name.clone(), e.to_string()))
}

/// A retention in milliseconds in the largest unit that divides it.
fn duration_of(ms: i64) -> seglab_lang::ast::Duration {
    use seglab_lang::ast::{Duration, TimeUnit};
    let units = [
        TimeUnit::Weeks,
        TimeUnit::Days,
        TimeUnit::Hours,
        TimeUnit::Minutes,
    ];
    let unit = units
        .into_iter()
        .find(|u| ms % u.millis() == 0)
        .unwrap_or(TimeUnit::Seconds);
    Duration {
        amount: (ms / unit.millis()).max(1) as u64,
        unit,
    }
}

impl Segments {
    /// What the checker knows: tracked events and properties, traits, saved
    /// segments.
    pub fn catalog(&self, reader: &Reader) -> Result<seglab_lang::Catalog> {
        let mut catalog = seglab_lang::Catalog::from(&self.engine().timelines().catalog());
        if !catalog.events.is_empty() {
            // Events of the Segment spec are valid names before they are first tracked.
            for name in SPEC_EVENTS {
                catalog.events.entry((*name).to_owned()).or_default();
            }
        }
        for r in reader.segments()? {
            catalog.segments.insert(r.name.clone(), condition_of(&r)?);
        }
        catalog.retention = reader.retention()?.map(|ms| seglab_lang::Retention {
            keep: duration_of(ms),
            now: seglab_event::time::now_millis(),
        });
        Ok(catalog)
    }

    /// Parses and checks `source` against what has been tracked.
    pub fn check(&self, reader: &Reader, source: &str, file_name: &str) -> Result<Checked> {
        let mut checked = self.check_files(reader, &[(file_name.to_owned(), source.to_owned())])?;
        Ok(checked.remove(0))
    }

    /// Parses and checks several files together (`(name, source)`): a segment may
    /// refer to one defined in another file. Every error of every file is
    /// reported.
    pub fn check_files(&self, reader: &Reader, files: &[(String, String)]) -> Result<Vec<Checked>> {
        let mut catalog = self.catalog(reader)?;
        let mut diagnostics = Vec::new();
        let mut rendered = String::new();
        let mut parsed = Vec::new();
        for (name, source) in files {
            match seglab_lang::parse(source) {
                Ok(file) => {
                    catalog.add_file(&file);
                    parsed.push((name, source, file));
                }
                Err(diags) => {
                    rendered += &seglab_lang::render_all(&diags, source, name);
                    diagnostics.extend(diags);
                }
            }
        }
        let mut out = Vec::new();
        for (name, source, file) in parsed {
            let diags = seglab_lang::check(&file, &catalog);
            if diags.iter().any(Diagnostic::is_error) {
                rendered += &seglab_lang::render_all(&diags, source, name);
                diagnostics.extend(diags);
            } else {
                out.push(Checked {
                    file,
                    warnings: diags,
                });
            }
        }
        if diagnostics.iter().any(Diagnostic::is_error) {
            return Err(Error::Invalid {
                diagnostics,
                rendered,
            });
        }
        Ok(out)
    }

    /// Saves every segment of a checked file (a new version when changed) and
    /// defines it in the engine.
    pub fn apply(
        &self,
        reader: &Reader,
        checked: &Checked,
        source: &str,
    ) -> Result<Vec<(String, SaveOutcome)>> {
        let mut out = Vec::new();
        for def in &checked.file.segments {
            let text = def_source(def, source);
            let ast = serde_json::to_string(&def.condition.without_spans())
                .map_err(|e| Error::Corrupt(def.name.text.clone(), e.to_string()))?;
            let outcome = reader.save_segment(&def.name.text, def.title.as_deref(), &text, &ast)?;
            out.push((def.name.text.clone(), outcome));
        }
        self.sync_definitions(reader)?;
        Ok(out)
    }

    /// Saves one segment given as a condition (the API's JSON form).
    pub fn save_condition(
        &self,
        reader: &Reader,
        name: &str,
        title: Option<&str>,
        condition: &Condition,
    ) -> Result<SaveOutcome> {
        let def = SegmentDef {
            name: seglab_lang::ast::Name::new(name),
            title: title.map(str::to_owned),
            condition: condition.without_spans(),
            span: Default::default(),
        };
        let file = File {
            segments: vec![def],
        };
        let source = seglab_lang::print(&file);
        let checked = self.check(reader, &source, name)?;
        let mut saved = self.apply(reader, &checked, &source)?;
        Ok(saved
            .pop()
            .map(|(_, o)| o)
            .unwrap_or(SaveOutcome::Unchanged { version: 0 }))
    }

    /// Deletes a saved segment.
    pub fn delete(&self, reader: &Reader, name: &str) -> Result<()> {
        let users: Vec<String> = self
            .engine()
            .definitions()
            .iter()
            .filter(|(n, c)| *n != name && c.segment_refs().iter().any(|r| r.text == name))
            .map(|(n, _)| n.clone())
            .collect();
        if !users.is_empty() {
            return Err(Error::InUse(name.to_owned(), users.join(", ")));
        }
        if !reader.delete_segment(name)? {
            return Err(Error::NotFound(name.to_owned()));
        }
        self.sync_definitions(reader).map(drop)
    }

    /// What applying the files would change at `now`: per segment, the definition's
    /// status and who would enter and leave.
    pub fn diff(&self, reader: &Reader, checked: &[Checked], now: i64) -> Result<Vec<SegmentDiff>> {
        let engine = self.engine();
        let new_list: Vec<(String, Condition)> = checked
            .iter()
            .flat_map(|c| &c.file.segments)
            .map(|d| (d.name.text.clone(), d.condition.without_spans()))
            .collect();
        let after = engine
            .evaluate_all(&new_list, now)
            .map_err(|e| Error::Engine("diff".into(), e))?;
        let mut out = Vec::new();
        for ((name, condition), (_, after)) in new_list.iter().zip(after) {
            let stored = reader.segment(name)?;
            let (status, before) = match &stored {
                None => ("new", RoaringBitmap::new()),
                Some(r) => {
                    let old = condition_of(r)?;
                    let status = if old == *condition {
                        "unchanged"
                    } else {
                        "changed"
                    };
                    let before = engine
                        .evaluate_segment(name, now)
                        .map_err(|e| Error::Engine(name.clone(), e))?;
                    (status, before)
                }
            };
            let entering = &after - &before;
            let leaving = &before - &after;
            out.push(SegmentDiff {
                name: name.clone(),
                status,
                before: before.len(),
                after: after.len(),
                entering: entering.len(),
                leaving: leaving.len(),
                entering_sample: engine.members(&entering, 0, SAMPLE),
                leaving_sample: engine.members(&leaving, 0, SAMPLE),
            });
        }
        Ok(out)
    }
}

/// The text of one definition in its file.
fn def_source(def: &SegmentDef, source: &str) -> String {
    let (start, end) = (def.span.start as usize, def.span.end as usize);
    match source.get(start..end) {
        Some(text) if !text.trim().is_empty() => text.trim().to_owned(),
        _ => seglab_lang::print(&File {
            segments: vec![def.clone()],
        })
        .trim()
        .to_owned(),
    }
}
