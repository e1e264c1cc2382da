//! The state machines on one machine: `statemachines/*.asl.json` with template.yaml's
//! substitutions mapped to in-process resources, their Task integrations served by the
//! local stack's handlers, queues, bus and directories.

use std::sync::Arc;

use async_trait::async_trait;
use seams_platform::event_bus::{EventBus, OutgoingEvent};
use seams_platform::object_store::{ObjectStore, PutOptions};
use seams_platform::queue::{OutgoingMessage, Queue};
use seams_platform::ServiceError;
use serde_json::{json, Value};

use crate::asl::{StateError, Tasks};
use crate::{commands, invoke, InvokeError, LocalStack};

pub const ANSWER: &str = include_str!("../../statemachines/answer.asl.json");
pub const BACKFILL: &str = include_str!("../../statemachines/backfill.asl.json");

/// The failures queue's local URL (`LocalStack::answer_failures`).
pub const FAILURES_QUEUE_URL: &str = "local://answer-failures";
/// The directory under the data dir a distributed map's ResultWriter writes to.
pub const REPORTS_BUCKET: &str = "reports";

/// template.yaml's DefinitionSubstitutions, as the local runner resolves them: functions by
/// their local names, the failures queue and bus in process, and the template's defaults.
pub const SUBSTITUTIONS: [(&str, &str); 12] = [
    ("RetrieveFunctionArn", "retrieve"),
    ("AnswerFunctionArn", "answer"),
    ("InferFunctionArn", "infer"),
    ("OutputFunctionArn", "output"),
    ("IngestFunctionArn", "ingest"),
    ("FailuresQueueUrl", FAILURES_QUEUE_URL),
    ("EventBusName", "seams"),
    ("ReportBucket", REPORTS_BUCKET),
    ("AccountId", "000000000000"),
    ("Region", "local"),
    ("NoContextAnswer", "I could not find anything about that in the documents."),
    ("DefaultInstructions", "Answer the question using only the context, and cite the ids of the passages you use."),
];

/// A definition's text with every `${Name}` substituted, from [`SUBSTITUTIONS`] and the
/// stack's configuration (`configured`: the `Guardrail` mode); an unknown name is refused.
pub fn definition(text: &str, configured: &[(&str, &str)]) -> Result<Value, String> {
    let filled = SUBSTITUTIONS
        .iter()
        .chain(configured)
        .fold(text.to_owned(), |text, (name, value)| text.replace(&format!("${{{name}}}"), value));
    if let Some(at) = filled.find("${") {
        let name: String = filled[at + 2..].chars().take_while(|c| *c != '}').collect();
        return Err(format!("the local runner has no value for the substitution ${{{name}}}"));
    }
    serde_json::from_str(&filled).map_err(|e| format!("not a JSON state machine definition: {e}"))
}

/// The answer workflow on the local runner: what `POST /answer`'s function runs in `seams up`
/// (the Express state machine when deployed).
pub struct LocalAnswerWorkflow {
    pub stack: Arc<LocalStack>,
}

#[async_trait]
impl answer::Workflow for LocalAnswerWorkflow {
    async fn run(&self, input: Value) -> Result<answer::Outcome, ServiceError> {
        let execution = commands::run(self.stack.clone(), ANSWER, input, |_| {})
            .await
            .map_err(|e| ServiceError::transient(e.to_string()))?;
        Ok(match execution.output {
            Ok(output) => answer::Outcome::Succeeded(output),
            Err(failure) => answer::Outcome::Failed { error: failure.error, cause: failure.cause },
        })
    }
}

/// answer's function in `seams up`: the local answer workflow, conversations kept in the data
/// directory, and the stack's tenancy.
pub fn answer_service(stack: &Arc<LocalStack>) -> answer::Service {
    let workflow = LocalAnswerWorkflow { stack: stack.clone() };
    let sessions = answer::sessions::Sessions::new(stack.sessions.clone(), stack.settings().session_ttl);
    answer::Service::new(Arc::new(workflow), sessions).with_tenancy(stack.settings().tenancy.clone())
}

/// Task integrations served in process.
pub struct LocalTasks {
    pub stack: Arc<LocalStack>,
}

/// A handler's error as Lambda reports it to Step Functions: its name, and the error payload
/// (`errorType` first, compact) as the cause.
fn function_error(name: &str, message: &str) -> StateError {
    StateError::new(name, format!(r#"{{"errorType":{},"errorMessage":{}}}"#, json!(name), json!(message)))
}

fn text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

#[async_trait]
impl Tasks for LocalTasks {
    async fn call(&self, resource: &str, parameters: Value) -> Result<Value, StateError> {
        let failed = |service: &str, e: &dyn std::fmt::Display| {
            StateError::new(format!("{service}.SdkClientException"), e.to_string())
        };
        match resource {
            "arn:aws:states:::lambda:invoke" => {
                let function = parameters["FunctionName"].as_str().unwrap_or_default();
                let name = function.rsplit(':').next().unwrap_or(function);
                match invoke(&self.stack, name, parameters["Payload"].clone()).await {
                    Ok(payload) => Ok(json!({"Payload": payload, "StatusCode": 200, "ExecutedVersion": "$LATEST"})),
                    Err(InvokeError::Handler(error)) => Err(function_error(error.name.as_str(), &error.to_string())),
                    Err(other) => Err(StateError::new("Lambda.ResourceNotFoundException", other.to_string())),
                }
            }
            "arn:aws:states:::sqs:sendMessage" => {
                if parameters["QueueUrl"] != json!(FAILURES_QUEUE_URL) {
                    return Err(StateError::new(
                        "SQS.QueueDoesNotExistException",
                        format!("{}", parameters["QueueUrl"]),
                    ));
                }
                let mut message = OutgoingMessage::new(text(&parameters["MessageBody"]));
                for (name, attribute) in parameters["MessageAttributes"].as_object().into_iter().flatten() {
                    message = message.with_attribute(name, text(&attribute["StringValue"]));
                }
                let id = self.stack.answer_failures.send(message).await.map_err(|e| failed("SQS", &e))?;
                Ok(json!({"MessageId": id}))
            }
            "arn:aws:states:::events:putEvents" => {
                let entries = parameters["Entries"].as_array().cloned().unwrap_or_default();
                let events = entries
                    .iter()
                    .map(|entry| OutgoingEvent {
                        source: text(&entry["Source"]),
                        detail_type: text(&entry["DetailType"]),
                        detail: match &entry["Detail"] {
                            Value::String(detail) => serde_json::from_str(detail).unwrap_or(Value::Null),
                            detail => detail.clone(),
                        },
                    })
                    .collect::<Vec<_>>();
                let count = events.len();
                self.stack.bus.publish(events).await.map_err(|e| failed("EventBridge", &e))?;
                Ok(
                    json!({"FailedEntryCount": 0, "Entries": vec![json!({"EventId": uuid::Uuid::new_v4().to_string()}); count]}),
                )
            }
            "arn:aws:states:::s3:listObjectsV2" => {
                let bucket = text(&parameters["Bucket"]);
                let source = self.stack.sources.get(&bucket).ok_or_else(|| {
                    StateError::new(
                        "S3.NoSuchBucket",
                        format!("{bucket} is not a local source (seams run --source {bucket}=<directory>)"),
                    )
                })?;
                let prefix = parameters["Prefix"].as_str().unwrap_or_default();
                let listed = source.list(prefix).await.map_err(|e| failed("S3", &e))?;
                let contents: Vec<Value> = listed.iter().map(|o| json!({"Key": o.key, "Size": o.size})).collect();
                Ok(json!({"Contents": contents, "KeyCount": contents.len()}))
            }
            "arn:aws:states:::s3:putObject" if parameters["Bucket"] == json!(REPORTS_BUCKET) => {
                let key = text(&parameters["Key"]);
                let body = serde_json::to_vec_pretty(&parameters["Body"]).unwrap_or_default();
                let options = PutOptions { content_type: Some("application/json".into()), ..PutOptions::default() };
                self.stack.reports.put(&key, body.into(), options).await.map_err(|e| failed("S3", &e))?;
                Ok(json!({}))
            }
            other => Err(StateError::new("States.Runtime", format!("the local runner has no integration {other}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_definitions_have_every_substitution_and_the_template_defaults() {
        for text in [ANSWER, BACKFILL] {
            definition(text, &[("Guardrail", "off"), ("DecomposeQuestions", "off"), ("ImplicitFilters", "off")])
                .unwrap();
        }
        let template = include_str!("../../template.yaml");
        for name in ["NoContextAnswer", "DefaultInstructions"] {
            let value = SUBSTITUTIONS.iter().find(|(n, _)| *n == name).unwrap().1;
            let declared = template.split(&format!("\n  {name}:\n")).nth(1).unwrap_or_default();
            assert!(
                declared.contains(&format!("Default: {value}\n")),
                "{name}'s local value is not the template default"
            );
        }
        assert!(definition(r#"{"x": "${Unknown}"}"#, &[]).unwrap_err().contains("${Unknown}"));
        assert!(definition(ANSWER, &[]).unwrap_err().contains("${Guardrail}"), "the mode comes from the stack");
    }
}
