//! The deployed workflow: a synchronous execution of the Express answer state machine.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sfn::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_sfn::config::retry::RetryConfig;
use aws_sdk_sfn::config::timeout::TimeoutConfig;
use aws_sdk_sfn::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_sfn::error::SdkError;
use aws_sdk_sfn::operation::start_sync_execution::StartSyncExecutionError;
use aws_sdk_sfn::types::SyncExecutionStatus;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::endpoint::EndpointPrefix;
use seams_platform::aws::{error_chain, AwsSettings};
use seams_platform::ServiceError;
use serde_json::Value;

use crate::{Outcome, Workflow};

pub struct ExpressWorkflow {
    client: aws_sdk_sfn::Client,
    state_machine_arn: String,
    wait: Duration,
}

impl ExpressWorkflow {
    /// `wait`: how long to wait for the execution's end, below API Gateway's 30 s, so the
    /// caller gets a problem document rather than API Gateway's bare 503.
    pub fn new(
        settings: &AwsSettings,
        sdk: &aws_config::SdkConfig,
        state_machine_arn: impl Into<String>,
        wait: Duration,
    ) -> Self {
        let timeouts = sdk.timeout_config().cloned().unwrap_or_else(TimeoutConfig::disabled);
        let mut config = aws_sdk_sfn::config::Builder::from(sdk)
            .timeout_config(timeouts.to_builder().operation_timeout(wait).build())
            // StartSyncExecution is not idempotent: a retried call after a lost response would
            // run (and deliver) the workflow twice. The caller gets a 503 and decides.
            .retry_config(RetryConfig::disabled())
            .interceptor(seams_platform::xray::Subsegments::from_env());
        if settings.endpoint_url.as_deref().is_some_and(is_local_endpoint) {
            config = config.interceptor(WithoutHostPrefix);
        }
        let client = aws_sdk_sfn::Client::from_conf(config.build());
        Self { client, state_machine_arn: state_machine_arn.into(), wait }
    }
}

#[async_trait]
impl Workflow for ExpressWorkflow {
    async fn run(&self, input: Value) -> Result<Outcome, ServiceError> {
        let execution = self
            .client
            .start_sync_execution()
            .state_machine_arn(&self.state_machine_arn)
            .input(input.to_string())
            .send()
            .await
            .map_err(|e| start_error(e, self.wait))?;
        Ok(match execution.status {
            SyncExecutionStatus::Succeeded => {
                let output = execution.output.as_deref().unwrap_or("null");
                Outcome::Succeeded(
                    serde_json::from_str(output).map_err(|e| {
                        ServiceError::transient(format!("the answer workflow's output is not JSON: {e}"))
                    })?,
                )
            }
            SyncExecutionStatus::Failed => Outcome::Failed {
                error: execution.error.unwrap_or_default(),
                cause: execution.cause.unwrap_or_default(),
            },
            _ => Outcome::TimedOut,
        })
    }
}

fn start_error(error: SdkError<StartSyncExecutionError>, wait: Duration) -> ServiceError {
    if let SdkError::TimeoutError(_) = error {
        // The execution goes on; a failure still reaches the failures queue and AnswerFailed.
        let detail = format!("the answer workflow did not finish within {} s", wait.as_secs_f32());
        return ServiceError::transient(detail).with_public_detail();
    }
    let chain = error_chain(&error);
    match error.as_service_error() {
        Some(StartSyncExecutionError::InvalidExecutionInput(_)) => ServiceError::invalid_input("body", chain),
        Some(
            StartSyncExecutionError::InvalidArn(_)
            | StartSyncExecutionError::StateMachineDoesNotExist(_)
            | StartSyncExecutionError::StateMachineDeleting(_)
            | StartSyncExecutionError::StateMachineTypeNotSupported(_),
        ) => {
            // The deployment's fault, not the caller's: logged whole, answered briefly.
            tracing::error!(cause = %chain, "the answer state machine cannot be started");
            ServiceError::transient("the answer workflow is not available")
        }
        _ => ServiceError::transient(format!("the answer workflow could not be started: {chain}")),
    }
}

/// Whether requests go to a stand-in on this machine (moto, LocalStack) by address.
fn is_local_endpoint(url: &str) -> bool {
    let Ok(uri) = url.parse::<http::Uri>() else { return false };
    let host = uri.host().unwrap_or_default().trim_start_matches('[').trim_end_matches(']');
    host == "localhost" || host.parse::<std::net::IpAddr>().is_ok()
}

/// StartSyncExecution is served on `sync-states.<region>…`: the SDK puts `sync-` before the
/// endpoint's host. Before an address (`sync-127.0.0.1`) that names no host, so for a local
/// endpoint the prefix is dropped, as botocore's `inject_host_prefix = False` does.
#[derive(Debug)]
struct WithoutHostPrefix;

impl Intercept for WithoutHostPrefix {
    fn name(&self) -> &'static str {
        "WithoutHostPrefix"
    }

    // Runs after the operation has stored its prefix and before the endpoint is applied.
    fn read_before_attempt(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        cfg.interceptor_state().unset::<EndpointPrefix>();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_localhost_are_local_endpoints() {
        for url in ["http://127.0.0.1:5000", "http://localhost:4566/", "http://[::1]:5000", "http://10.0.0.7"] {
            assert!(is_local_endpoint(url), "{url}");
        }
        for url in ["https://states.eu-west-1.amazonaws.com", "https://vpce-1.states.eu-west-1.vpce.amazonaws.com"] {
            assert!(!is_local_endpoint(url), "{url}");
        }
    }
}
