//! The user guide (`docs/segment-language.md`) says what the code does: its
//! examples parse and check, its grammar is the crate's, its RFM grid is
//! `rfm_cell`, its error example is what `render` prints, and it lists every
//! diagnostic code.

use seglab_lang::{Catalog, RFM_GRID, check, codes, parse, render_all};

use crate::support::catalog;

fn guide() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/segment-language.md"
    );
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The fenced blocks of a Markdown text with the given info string.
fn blocks(markdown: &str, info: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in markdown.lines() {
        match &mut current {
            None if line.trim_end() == format!("```{info}") => current = Some(String::new()),
            None => {}
            Some(_) if line.trim_end() == "```" => out.extend(current.take()),
            Some(block) => {
                block.push_str(line);
                block.push('\n');
            }
        }
    }
    out
}

#[test]
fn every_example_parses_and_checks() {
    let guide = guide();
    let examples = blocks(&guide, "seg");
    assert!(examples.len() > 20, "{} examples", examples.len());
    // Any event may be named before events arrive; the models must exist.
    let catalog = Catalog::new().with_model("churn");
    for example in examples {
        let file = parse(&example).unwrap_or_else(|d| panic!("{example}\n{d:#?}"));
        let errors: Vec<_> = check(&file, &catalog)
            .into_iter()
            .filter(|d| d.is_error())
            .collect();
        assert!(errors.is_empty(), "{example}\n{errors:#?}");
    }
}

#[test]
fn grammar_is_the_crate_docs_grammar() {
    let lib = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/src/lib.rs")).unwrap();
    let crate_docs: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l))
        .collect::<Vec<_>>()
        .join("\n");
    let in_crate = blocks(&crate_docs, "ebnf");
    let in_guide = blocks(&guide(), "ebnf");
    assert_eq!(in_crate.len(), 1);
    assert_eq!(in_guide, in_crate);
}

#[test]
fn rfm_grid_is_rfm_cell() {
    let guide = guide();
    for r in 1..=5u8 {
        let row = guide
            .lines()
            .find(|l| l.starts_with(&format!("| **{r}** |")))
            .unwrap_or_else(|| panic!("no row for R = {r}"));
        let cells: Vec<&str> = row
            .split('|')
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .skip(1)
            .collect();
        let expected: Vec<&str> = RFM_GRID[usize::from(r - 1)].to_vec();
        assert_eq!(cells, expected, "R = {r}");
        for f in 1..=5u8 {
            assert_eq!(seglab_lang::rfm_cell(r, f), expected[usize::from(f - 1)]);
        }
    }
}

#[test]
fn error_example_is_what_render_prints() {
    let guide = guide();
    let text = blocks(&guide, "text");
    let source = text
        .iter()
        .find(|b| b.starts_with("# marketing segments"))
        .expect("the error example's source");
    let file = parse(source).unwrap();
    let rendered = render_all(&check(&file, &catalog()), source, "marketing.seg");
    assert!(
        text.iter().any(|b| b.trim_end() == rendered.trim_end()),
        "the guide should show:\n{rendered}"
    );
}

#[test]
fn every_code_is_documented() {
    let guide = guide();
    for code in codes::ALL {
        assert!(guide.contains(&format!("| `{code}` |")), "{code}");
    }
}

#[test]
fn json_example_is_the_json_form() {
    let guide = guide();
    let source = blocks(&guide, "seg")
        .into_iter()
        .find(|b| b.starts_with("segment browsing = count("))
        .expect("the JSON example's source");
    let json = blocks(&guide, "json")
        .into_iter()
        .next()
        .expect("a json block");
    let file = parse(&source).unwrap().without_spans();
    let expected: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        serde_json::to_value(&file.segments[0].condition).unwrap(),
        expected
    );
}
