#[test]
fn missing_configuration_stops_init_naming_every_variable() {
    seams_tests::startup::assert_refuses_to_start(
        env!("CARGO_BIN_EXE_output"),
        &[],
        &["SEAMS_OUTPUT_BUCKET", "SEAMS_OUTPUT_DLQ_URL", "SEAMS_EVENT_BUS_NAME"],
    );
}
