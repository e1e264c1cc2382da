#[test]
fn init_stops_naming_the_state_machine_it_needs() {
    seams_tests::startup::assert_refuses_to_start(
        env!("CARGO_BIN_EXE_answer"),
        &[],
        &["SEAMS_ANSWER_STATE_MACHINE_ARN"],
    );
}
