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
