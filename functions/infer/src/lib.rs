//! The infer service: builds the prompt from instructions and context (kept apart) and asks
//! the configured model provider. Callers never learn which model answered. Stateless.

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use seams_contracts::infer::InferenceRequest;
use seams_contracts::CorrelationId;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::{from_value, parse_json};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::trigger::Trigger;
use seams_platform::{http, ServiceError};

/// The model providers infer can be configured with.
pub const PROVIDERS: [&str; 4] = ["offline", "bedrock", "openai", "anthropic"];

#[derive(Debug, Clone)]
pub struct Config {
    pub provider: String,
    /// The provider's model id (e.g. a Bedrock model id); the offline provider needs none.
    pub model_id: Option<String>,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let provider = env.choice("SEAMS_MODEL_PROVIDER", &PROVIDERS, "offline");
        let model_id = env.optional("SEAMS_MODEL_ID");
        if provider != "offline" && model_id.is_none() {
            env.invalid("SEAMS_MODEL_ID", "", format!("is required for provider {provider}"));
        }
        env.finish().map(|()| Self { provider, model_id })
    }
}

#[derive(Debug, Clone)]
pub enum Request {
    Inference(Box<InferenceRequest>),
}

impl Named for Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Inference(_) => "inference",
        }
    }
}

pub struct Service {
    pub config: Config,
}

impl Service {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Function for Service {
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        match http::route_key(request).as_str() {
            "POST /inference" => Ok(Request::Inference(Box::new(parse_json(&http::body_bytes(request)?)?))),
            other => Err(ServiceError::not_found(format!("infer has no route {other}"))),
        }
    }

    fn from_trigger(trigger: Trigger) -> Result<Request, ServiceError> {
        match trigger {
            Trigger::Direct(payload) => Ok(Request::Inference(Box::new(from_value(payload)?))),
            _ => Err(ServiceError::invalid_input("event", "infer is triggered by HTTP or a direct invoke")),
        }
    }

    async fn serve(&self, request: Request, _correlation: CorrelationId) -> Result<Reply, ServiceError> {
        Err(ServiceError::not_implemented(format!(
            "infer does not handle {} with provider {} yet",
            request.name(),
            self.config.provider
        )))
    }
}
