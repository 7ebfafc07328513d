//! `docs/CONFIG.md` is the reference operators read; the code is what runs.
//! This test reads the fields each section accepts from the code itself (the
//! parser's own list, which it names when it refuses an unknown field) and
//! fails when the reference documents a field the code lacks, lacks one the
//! code has, or breaks a section's table.

use civitas_config::Config;
use std::collections::{BTreeMap, BTreeSet};

/// The fields the parser accepts where `probe` puts an unknown one (`None`:
/// refused for another reason, e.g. a table given where a list is wanted).
fn accepted(probe: &str) -> Option<BTreeSet<String>> {
    let e = toml::from_str::<Config>(probe).expect_err("an unknown field is refused");
    let msg = e.message();
    let list = msg
        .split_once("unknown field `zzz_not_a_field`, expected ")?
        .1;
    // "`a`, `b`, or `c`": the names are between the backticks.
    Some(
        list.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect(),
    )
}

/// Each `` ## `[section]` `` (or `[[section]]`) of the reference, with the
/// field names of its table (the names in its first column).
fn documented() -> BTreeMap<String, BTreeSet<String>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CONFIG.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeMap::new();
    let mut section: Option<String> = None;
    let mut table_ended = false;
    let mut in_table = false;
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## `[") {
            let name = h.trim_start_matches('[').split(']').next().unwrap();
            out.insert(name.to_owned(), BTreeSet::new());
            section = Some(name.to_owned());
            (in_table, table_ended) = (false, false);
            continue;
        }
        let Some(s) = &section else { continue };
        if line.starts_with('|') {
            assert!(
                !table_ended,
                "CONFIG.md [{s}]: its table is broken by a blank line before {line:?}"
            );
            in_table = true;
            let first = line
                .trim_start_matches('|')
                .split('|')
                .next()
                .unwrap()
                .trim();
            // One row may name several fields: "`secret_env` / `secret_file`".
            let names = first.split('`').skip(1).step_by(2).map(str::to_owned);
            out.get_mut(s).unwrap().extend(names);
        } else if in_table {
            (in_table, table_ended) = (false, true);
        }
    }
    out
}

#[test]
fn the_reference_documents_every_field_the_code_accepts_and_no_other() {
    let docs = documented();
    let sections = accepted("zzz_not_a_field = 1").expect("the top level names its sections");
    assert!(
        sections.contains("store") && sections.contains("camera"),
        "{sections:?}"
    );
    let mut problems = Vec::new();
    for s in &sections {
        let code = accepted(&format!("[{s}]\nzzz_not_a_field = 1\n"))
            .or_else(|| accepted(&format!("[[{s}]]\nzzz_not_a_field = 1\n")))
            .unwrap_or_else(|| panic!("[{s}]: the parser names no fields"));
        let Some(doc) = docs.get(s) else {
            problems.push(format!("[{s}] has no section in CONFIG.md"));
            continue;
        };
        for f in code.difference(doc) {
            problems.push(format!("[{s}] {f}: accepted by the code, not in CONFIG.md"));
        }
        for f in doc.difference(&code) {
            problems.push(format!("[{s}] {f}: in CONFIG.md, not accepted by the code"));
        }
    }
    for s in docs.keys() {
        if !sections.contains(s) {
            problems.push(format!(
                "CONFIG.md documents [{s}], which the code does not read"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "docs/CONFIG.md and the code differ:\n{}",
        problems.join("\n")
    );
}

/// The default column of each section's table, by field (rows naming
/// several fields give each the same text).
fn documented_defaults() -> BTreeMap<(String, String), String> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/CONFIG.md");
    let text = std::fs::read_to_string(path).unwrap();
    let mut out = BTreeMap::new();
    let (mut section, mut col) = (String::new(), None);
    for line in text.lines() {
        if let Some(h) = line.strip_prefix("## `[") {
            section = h
                .trim_start_matches('[')
                .split(']')
                .next()
                .unwrap()
                .to_owned();
            col = None;
            continue;
        }
        if !line.starts_with('|') {
            continue;
        }
        // `\|` inside a cell is a pipe, not a column break.
        let line = line.replace("\\|", "/");
        let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
        if cells.first() == Some(&"field") {
            col = cells.iter().position(|c| *c == "default");
            continue;
        }
        let Some(c) = col else { continue };
        for name in cells[0].split('`').skip(1).step_by(2) {
            out.insert((section.clone(), name.to_owned()), cells[c].to_owned());
        }
    }
    out
}

/// A documented default in the code's terms: numbers as numbers, text
/// without its backticks; `None` for words (`none`, `required`, `anywhere`).
fn literal(doc: &str) -> Option<toml::Value> {
    let t = doc.trim().trim_matches('`');
    if let Ok(v) = toml::from_str::<toml::Table>(&format!("v = {t}")) {
        return v.get("v").cloned();
    }
    doc.starts_with('`')
        .then(|| toml::Value::String(t.to_owned()))
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-6 * a.abs().max(b.abs()).max(1.0)
}

fn same(code: &toml::Value, doc: &toml::Value) -> bool {
    match (code, doc) {
        (toml::Value::Float(a), toml::Value::Integer(b))
        | (toml::Value::Integer(b), toml::Value::Float(a)) => close(*a, *b as f64),
        // f32 fields come back widened (0.4 as 0.4000000059604645).
        (toml::Value::Float(a), toml::Value::Float(b)) => close(*a, *b),
        _ => code == doc,
    }
}

#[test]
fn every_documented_default_is_the_codes_default() {
    let defaults = toml::Value::try_from(Config::parse("").unwrap()).unwrap();
    let docs = documented_defaults();
    let mut problems = Vec::new();
    let mut checked = 0;
    for ((section, field), doc) in &docs {
        let Some(code) = defaults.get(section).and_then(|s| s.get(field)) else {
            continue; // a list section ([[camera]]) or a field without a default (none)
        };
        let Some(doc_value) = literal(doc) else {
            problems.push(format!(
                "[{section}] {field}: default {doc:?} in CONFIG.md, {code} in the code"
            ));
            continue;
        };
        checked += 1;
        if !same(code, &doc_value) {
            problems.push(format!(
                "[{section}] {field}: default {doc} in CONFIG.md, {code} in the code"
            ));
        }
    }
    assert!(checked > 40, "only {checked} defaults compared");
    assert!(
        problems.is_empty(),
        "docs/CONFIG.md's defaults and the code's differ:\n{}",
        problems.join("\n")
    );
}
