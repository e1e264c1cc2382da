//! Deployed, the gateway reaches ingest, retrieve and answer with Lambda `Invoke`, sending
//! each the API Gateway event it would get from the HTTP API (with the caller's claims).

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_lambda::primitives::Blob;
use seams_contracts::{ErrorName, Problem};
use seams_platform::aws::error_chain;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::proxy::{RouteRequest, RouteResponse};

use crate::api::Routes;

pub struct Config {
    pub aws: seams_platform::aws::AwsSettings,
    /// The function each route's function name stands for (name or ARN).
    pub functions: HashMap<&'static str, String>,
    pub write_tools: bool,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let functions = HashMap::from([
            ("ingest", env.required("SEAMS_INGEST_FUNCTION")),
            ("retrieve", env.required("SEAMS_RETRIEVE_FUNCTION")),
            ("answer", env.required("SEAMS_ANSWER_FUNCTION")),
        ]);
        let config = Self {
            aws: seams_platform::aws::AwsSettings::from_env(&env),
            functions,
            write_tools: env.flag("SEAMS_MCP_WRITE_TOOLS", false),
        };
        env.finish().map(|()| config)
    }
}

pub struct LambdaRoutes {
    client: aws_sdk_lambda::Client,
    functions: HashMap<&'static str, String>,
}

impl LambdaRoutes {
    pub fn new(sdk: &aws_config::SdkConfig, functions: HashMap<&'static str, String>) -> Self {
        // An invoke is not idempotent (an ingest or an answer would run twice after a lost
        // response): the caller gets the failure and decides.
        let config = aws_sdk_lambda::config::Builder::from(sdk)
            .retry_config(aws_config::retry::RetryConfig::disabled())
            .interceptor(seams_platform::xray::Subsegments::from_env())
            .build();
        Self { client: aws_sdk_lambda::Client::from_conf(config), functions }
    }
}

#[async_trait]
impl Routes for LambdaRoutes {
    async fn call(&self, request: RouteRequest) -> Result<RouteResponse, Problem> {
        let route_name = format!("{} {}", request.method, request.path);
        let Some((route, parameters)) = request.route() else {
            return Err(Problem::new(ErrorName::NotFound, format!("no route {route_name}")));
        };
        let Some(function) = self.functions.get(route.function) else {
            return Err(Problem::new(ErrorName::NotFound, format!("the gateway does not call {}", route.key)));
        };
        let event = request.event(&route, &parameters, &uuid::Uuid::new_v4().to_string());
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        let output =
            self.client.invoke().function_name(function).payload(Blob::new(payload)).send().await.map_err(|e| {
                Problem::new(ErrorName::Transient, format!("{function} could not be invoked: {}", error_chain(&e)))
            })?;
        let payload = output.payload().map(|blob| blob.as_ref()).unwrap_or_default();
        if let Some(kind) = output.function_error() {
            let payload = String::from_utf8_lossy(payload);
            return Err(Problem::new(ErrorName::Transient, format!("{function} failed ({kind}): {payload}")));
        }
        let response = serde_json::from_slice(payload).map_err(|e| {
            Problem::new(ErrorName::Transient, format!("{function} did not answer a proxy response: {e}"))
        })?;
        Ok(RouteResponse::from_proxy(&response))
    }
}
