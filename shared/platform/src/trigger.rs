//! One Lambda function, several triggers: tell them apart by shape, so a service can serve
//! API Gateway, direct invokes from Step Functions, SQS, S3 and EventBridge from one handler.

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;

use crate::error::{from_value, ServiceError};

/// A Lambda event, by the service that sent it.
#[derive(Debug, Clone)]
pub enum Trigger {
    /// API Gateway HTTP API, payload format 2.0.
    Http(Box<ApiGatewayV2httpRequest>),
    Sqs(SqsEvent),
    S3(S3Event),
    EventBridge(Box<EventBridgeEvent<Value>>),
    /// Anything else: a direct invoke (Step Functions, another function, `seams invoke`).
    Direct(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerKind {
    Http,
    Sqs,
    S3,
    EventBridge,
    Direct,
}

impl TriggerKind {
    /// Decides by the fields each service's events always carry.
    pub fn of(event: &Value) -> TriggerKind {
        if event.pointer("/requestContext/http").is_some() && event.get("routeKey").is_some() {
            return TriggerKind::Http;
        }
        match event.pointer("/Records/0/eventSource").and_then(Value::as_str) {
            Some("aws:sqs") => return TriggerKind::Sqs,
            Some("aws:s3") => return TriggerKind::S3,
            _ => {}
        }
        if event.get("detail-type").is_some() && event.get("source").is_some() && event.get("detail").is_some() {
            return TriggerKind::EventBridge;
        }
        TriggerKind::Direct
    }
}

impl Trigger {
    /// A malformed event of a recognised kind is `Seams.InvalidInput` naming the field.
    pub fn classify(event: Value) -> Result<Trigger, ServiceError> {
        Ok(match TriggerKind::of(&event) {
            TriggerKind::Http => Trigger::Http(Box::new(from_value(event)?)),
            TriggerKind::Sqs => Trigger::Sqs(from_value(event)?),
            TriggerKind::S3 => Trigger::S3(from_value(event)?),
            TriggerKind::EventBridge => Trigger::EventBridge(Box::new(from_value(event)?)),
            TriggerKind::Direct => Trigger::Direct(event),
        })
    }

    pub fn kind(&self) -> TriggerKind {
        match self {
            Trigger::Http(_) => TriggerKind::Http,
            Trigger::Sqs(_) => TriggerKind::Sqs,
            Trigger::S3(_) => TriggerKind::S3,
            Trigger::EventBridge(_) => TriggerKind::EventBridge,
            Trigger::Direct(_) => TriggerKind::Direct,
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn each_event_shape_is_recognised() {
        let http = json!({"version": "2.0", "routeKey": "POST /retrieve", "rawPath": "/retrieve",
            "requestContext": {"http": {"method": "POST", "path": "/retrieve"}, "timeEpoch": 0}});
        let sqs = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m", "body": "{}"}]});
        let s3 =
            json!({"Records": [{"eventSource": "aws:s3", "s3": {"bucket": {"name": "b"}, "object": {"key": "k"}}}]});
        let bus = json!({"detail-type": "DocumentPublished", "source": "crm", "detail": {}});
        let direct = json!({"query": "refunds"});
        let kinds: Vec<_> = [http, sqs, s3, bus, direct].iter().map(TriggerKind::of).collect();
        assert_eq!(
            kinds,
            [TriggerKind::Http, TriggerKind::Sqs, TriggerKind::S3, TriggerKind::EventBridge, TriggerKind::Direct]
        );
    }

    #[test]
    fn a_broken_event_of_a_known_kind_is_invalid_input() {
        let error = Trigger::classify(json!({"detail-type": 7, "source": "crm", "detail": {}})).unwrap_err();
        assert_eq!(error.name, seams_contracts::ErrorName::InvalidInput);
        assert_eq!(error.field.as_deref(), Some("detail-type"));
    }
}
