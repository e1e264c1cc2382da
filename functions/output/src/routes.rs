//! What output is asked, whichever trigger asked, and how each request is answered.

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::sqs::{SqsEvent, SqsMessage};
use seams_contracts::answer::AnswerReady;
use seams_contracts::events::BusEvent;
use seams_contracts::output::DeliveryRequest;
use seams_contracts::{CorrelationId, ErrorName, V1};
use seams_platform::error::from_value;
use seams_platform::function::{Function, Named, Reply};
use seams_platform::sqs_batch::parse_body;
use seams_platform::trigger::Trigger;
use seams_platform::ServiceError;
use serde_json::Value;

use crate::Service;

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

fn answer_ready(event: EventBridgeEvent<Value>) -> Result<Request, ServiceError> {
    if event.detail_type != AnswerReady::DETAIL_TYPE {
        let detail = format!("output does not handle {} events", event.detail_type);
        return Err(ServiceError::invalid_input("detail-type", detail));
    }
    Ok(Request::AnswerReady(Box::new(from_value(event.detail)?)))
}

#[async_trait]
impl Function for Service {
    const SERVICE: &'static str = "output";
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
        match request {
            Request::Delivery(request) => Reply::json(200, &self.deliver(&request).await?),
            Request::Batch(event) => Reply::json(200, &self.handle_batch(event).await),
            Request::AnswerReady(event) => {
                let request = DeliveryRequest {
                    schema_version: V1,
                    request_id: event.request_id.clone(),
                    correlation_id: event.correlation_id.clone(),
                    idempotency_key: None,
                    result: event.result.clone(),
                    destination: event.destination.clone(),
                    format: None,
                    template: None,
                    metadata: Default::default(),
                };
                match self.deliver(&request).await {
                    // No caller sees an event's error: refused input goes to the DLQ too.
                    Err(error) if error.name == ErrorName::InvalidInput => {
                        let value = serde_json::to_value(&*event).unwrap_or_default();
                        self.dead_letter(&value, event.correlation_id.as_ref(), &error, 0).await?;
                        Err(error)
                    }
                    outcome => Reply::json(200, &outcome?),
                }
            }
        }
    }
}
