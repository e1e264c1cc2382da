//! The committed JSON Schemas are what the types generate. To accept a deliberate change:
//! `SEAMS_BLESS_SCHEMAS=1 cargo test -p seams-contracts --test schema_drift`.

use std::collections::BTreeSet;
use std::path::PathBuf;

fn schema_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("schemas")
}

fn render(schema: &schemars::Schema) -> String {
    let mut text = serde_json::to_string_pretty(schema).expect("a schema is JSON");
    text.push('\n');
    text
}

#[test]
fn committed_schemas_match_the_types() {
    let bless = std::env::var_os("SEAMS_BLESS_SCHEMAS").is_some();
    let mut drifted = Vec::new();
    for (name, schema) in seams_contracts::schemas() {
        let path = schema_dir().join(format!("{name}.json"));
        let generated = render(&schema);
        if bless {
            std::fs::write(&path, &generated).unwrap();
        } else if std::fs::read_to_string(&path).ok().as_deref() != Some(generated.as_str()) {
            drifted.push(name);
        }
    }
    assert!(
        drifted.is_empty(),
        "schemas differ from their types (or are missing): {drifted:?}; \
         if the change is intended, re-run with SEAMS_BLESS_SCHEMAS=1 and commit the files"
    );
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
