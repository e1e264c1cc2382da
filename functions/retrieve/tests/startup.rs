#[test]
fn the_query_api_stops_init_naming_what_its_backend_needs() {
    seams_tests::startup::assert_refuses_to_start(
        env!("CARGO_BIN_EXE_retrieve"),
        &[("SEAMS_SEARCH_BACKEND", "postgres")],
        &["DATABASE_URL"],
    );
}

#[test]
fn the_indexer_stops_init_naming_every_variable() {
    seams_tests::startup::assert_refuses_to_start(
        env!("CARGO_BIN_EXE_retrieve-indexer"),
        &[],
        &["SEAMS_INDEX_BUCKET", "SEAMS_RECORDS_BUCKET"],
    );
}
