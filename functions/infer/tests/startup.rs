#[test]
fn an_unknown_provider_stops_init() {
    seams_tests::startup::assert_refuses_to_start(
        env!("CARGO_BIN_EXE_infer"),
        &[("SEAMS_MODEL_PROVIDER", "gpt")],
        &["SEAMS_MODEL_PROVIDER=\"gpt\" is not valid: expected one of offline, bedrock, openai, anthropic"],
    );
}

#[test]
fn a_network_provider_without_a_model_id_stops_init() {
    seams_tests::startup::assert_refuses_to_start(
        env!("CARGO_BIN_EXE_infer"),
        &[("SEAMS_MODEL_PROVIDER", "bedrock")],
        &["SEAMS_MODEL_ID"],
    );
}
