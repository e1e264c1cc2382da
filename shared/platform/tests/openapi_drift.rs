//! `docs/openapi.json` is the document `seams up` serves. To accept a deliberate change:
//! `SEAMS_BLESS_SCHEMAS=1 cargo test -p seams-platform --test openapi_drift`.

use std::path::PathBuf;

#[test]
fn the_committed_openapi_document_is_the_one_served() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../docs/openapi.json");
    let mut generated = serde_json::to_string_pretty(&seams_platform::openapi::openapi_document()).unwrap();
    generated.push('\n');
    if std::env::var_os("SEAMS_BLESS_SCHEMAS").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json differs from the contract types; if the change is intended, re-run with \
         SEAMS_BLESS_SCHEMAS=1 and commit it"
    );
}
