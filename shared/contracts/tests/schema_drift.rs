//! The committed JSON Schemas are what the types generate, and so are the bus events' schemas
//! for EventBridge's registry. To accept a deliberate change:
//! `SEAMS_BLESS_SCHEMAS=1 cargo test -p seams-contracts --test schema_drift`, then
//! `python scripts/check_template.py --write-event-schemas` (template.yaml registers them).

use std::collections::BTreeSet;
use std::path::PathBuf;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn render(schema: &impl serde::Serialize) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a schema is JSON");
    text.push('\n');
    text
}

/// Writes each generated schema under `dir` when blessing; otherwise fails naming those that
/// differ from the committed file.
fn check_committed<S: serde::Serialize>(dir: PathBuf, generated: Vec<(&str, S)>) {
    let bless = std::env::var_os("SEAMS_BLESS_SCHEMAS").is_some();
    let mut drifted = Vec::new();
    for (name, schema) in generated {
        let path = dir.join(format!("{name}.json"));
        let generated = render(&schema);
        if bless {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &generated).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
            drifted.push(name.to_owned());
        }
    }
    assert!(
        drifted.is_empty(),
        "schemas in {} differ from their types (or are missing): {drifted:?}; \
         if the change is intended, re-run with SEAMS_BLESS_SCHEMAS=1 and commit the files",
        dir.display()
    );
}

#[test]
fn committed_schemas_match_the_types() {
    check_committed(schema_dir(), seams_contracts::schemas());
}

#[test]
fn committed_event_registry_schemas_match_the_types() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("eventbridge");
    check_committed(dir, seams_contracts::event_registry_schemas());
}

#[test]
fn no_committed_schema_lacks_a_type() {
    let known: BTreeSet<String> =
        seams_contracts::schemas().into_iter().map(|(name, _)| format!("{name}.json")).collect();
    let committed: BTreeSet<String> = std::fs::read_dir(schema_dir())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let orphans: Vec<_> = committed.difference(&known).collect();
    assert!(orphans.is_empty(), "schemas with no type behind them: {orphans:?}");
}
