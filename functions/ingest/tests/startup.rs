#[test]
fn missing_configuration_stops_init_naming_every_variable() {
    seams_tests::startup::assert_refuses_to_start(
        env!("CARGO_BIN_EXE_ingest"),
        &[("AWS_ENDPOINT_URL", "localhost:4566")],
        &["SEAMS_RAW_BUCKET", "SEAMS_PROCESS_QUEUE_URL", "SEAMS_EVENT_BUS_NAME", "AWS_ENDPOINT_URL"],
    );
}
