#[test]
fn missing_configuration_stops_init_naming_every_variable() {
    seams_tests::startup::assert_refuses_to_start(
        env!("CARGO_BIN_EXE_process"),
        &[("SEAMS_BATCH_CONCURRENCY", "many")],
        &["SEAMS_RAW_BUCKET", "SEAMS_RECORDS_BUCKET", "SEAMS_EVENT_BUS_NAME", "SEAMS_BATCH_CONCURRENCY"],
    );
}
