//! The output service: formats inference results and delivers them to their destination,
//! at most once per (request, destination), retrying what is transient and dead-lettering
//! what is not.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use seams_contracts::answer::AnswerReady;
use seams_contracts::events::BusEvent;
use seams_contracts::output::DeliveryRequest;
use seams_contracts::CorrelationId;
use seams_platform::aws::AwsSettings;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::from_value;
use seams_platform::event_bus::{EventBridgeBus, EventBus};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::object_store::{ObjectStore, S3ObjectStore};
use seams_platform::queue::{Queue, SqsQueue};
use seams_platform::sqs_batch::parse_body;
use seams_platform::trigger::Trigger;
use seams_platform::ServiceError;
use serde_json::Value;

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    /// Holds the delivery ledger and `s3` destination records.
    pub output_bucket: String,
    pub dead_letter_queue_url: String,
    pub event_bus_name: String,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self {
            aws: AwsSettings::from_env(&env),
            output_bucket: env.required("SEAMS_OUTPUT_BUCKET"),
            dead_letter_queue_url: env.required("SEAMS_OUTPUT_DLQ_URL"),
            event_bus_name: env.required("SEAMS_EVENT_BUS_NAME"),
        };
        env.finish().map(|()| config)
    }
}

#[derive(Debug, Clone)]
pub enum Request {
    /// A direct invoke (Step Functions).
    Delivery(Box<DeliveryRequest>),
    /// Delivery requests from output's queue; failures are reported per record.
    Batch(SqsEvent),
    AnswerReady(Box<AnswerReady>),
}

impl Named for Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Delivery(_) => "delivery",
            Request::Batch(_) => "delivery-batch",
            Request::AnswerReady(_) => "answer-ready",
        }
    }
}

/// A delivery request carried by one record of output's queue.
pub fn parse_message(message: &SqsMessage) -> Result<DeliveryRequest, ServiceError> {
    parse_body(message)
}

pub struct Service {
    pub ledger: Arc<dyn ObjectStore>,
    pub dead_letters: Arc<dyn Queue>,
    pub bus: Arc<dyn EventBus>,
}

impl Service {
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Self {
        Self {
            ledger: Arc::new(S3ObjectStore::new(config.aws.s3(sdk), &config.output_bucket)),
            dead_letters: Arc::new(SqsQueue::new(seams_platform::aws::sqs(sdk), &config.dead_letter_queue_url)),
            bus: Arc::new(EventBridgeBus::new(seams_platform::aws::eventbridge(sdk), &config.event_bus_name)),
        }
    }
}

fn answer_ready(event: EventBridgeEvent<Value>) -> Result<Request, ServiceError> {
    if event.detail_type != AnswerReady::DETAIL_TYPE {
        let detail = format!("output does not handle {} events", event.detail_type);
        return Err(ServiceError::invalid_input("detail-type", detail));
    }
    Ok(Request::AnswerReady(Box::new(from_value(event.detail)?)))
}

#[async_trait]
impl Function for Service {
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        let route = seams_platform::http::route_key(request);
        Err(ServiceError::not_found(format!("output has no HTTP route ({route})")))
    }

    fn from_trigger(trigger: Trigger) -> Result<Request, ServiceError> {
        match trigger {
            Trigger::Direct(payload) => Ok(Request::Delivery(Box::new(from_value(payload)?))),
            Trigger::Sqs(event) => Ok(Request::Batch(event)),
            Trigger::EventBridge(event) => answer_ready(*event),
            Trigger::S3(_) | Trigger::Http(_) => {
                Err(ServiceError::invalid_input("event", "output is triggered by a direct invoke, SQS or EventBridge"))
            }
        }
    }

    async fn serve(&self, request: Request, _correlation: CorrelationId) -> Result<Reply, ServiceError> {
        Err(ServiceError::not_implemented(format!("output does not handle {} yet", request.name())))
    }
}
