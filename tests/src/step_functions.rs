//! The answer state machine on moto's Step Functions interpreter: a failures queue, a bus
//! whose `AnswerFailed` events reach a queue, queued Lambda results, and executions read back
//! with their history.

use std::time::Duration;

use aws_sdk_sfn::types::{ExecutionStatus, HistoryEvent, HistoryEventType, StateMachineType};
use seams_platform::event_bus::EventPattern;
use serde_json::Value;

use crate::answer_scenarios::answer_definition;
use crate::stack::Moto;
use crate::unique;

const ACCOUNT: &str = "123456789012";

pub struct Deployment {
    pub moto: Moto,
    pub region: String,
    pub failures_queue: String,
    pub announced_queue: String,
    pub bus: String,
}

impl Deployment {
    /// The failures queue, a bus whose `AnswerFailed` events reach a queue, and the Lambda
    /// results the tasks will get, in the order they are invoked.
    pub async fn new(lambda_results: &[Value]) -> Deployment {
        let moto = Moto::isolated().await;
        let region = moto.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let (failures_queue, _) = moto.create_queue(30, None).await;
        let (announced_queue, announced_arn) = moto.create_queue(30, None).await;
        let pattern = EventPattern::detail_types(&["AnswerFailed"]);
        let bus = moto.create_bus_with_rule(&pattern, &announced_arn).await;
        moto.queue_lambda_results(lambda_results).await;
        Deployment { moto, region, failures_queue, announced_queue, bus }
    }

    pub fn function_arn(&self, name: &str) -> String {
        format!("arn:aws:lambda:{}:{ACCOUNT}:function:{name}", self.region)
    }

    /// The definition as CloudFormation would deploy it.
    pub fn definition(&self) -> String {
        let functions = ["seams-retrieve", "seams-infer", "seams-output", "seams-answer"].map(|f| self.function_arn(f));
        answer_definition([&functions[0], &functions[1], &functions[2], &functions[3]], &self.failures_queue, &self.bus)
    }

    pub async fn create(&self, kind: StateMachineType) -> String {
        let created = self
            .moto
            .sfn()
            .create_state_machine()
            .name(unique("answer"))
            .definition(self.definition())
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/seams-answer"))
            .r#type(kind)
            .send()
            .await
            .expect("moto creates the state machine");
        created.state_machine_arn
    }

    /// Runs a Standard execution to its end: its status, output or error, and history.
    pub async fn run(&self, input: &Value) -> Execution {
        self.run_as(StateMachineType::Standard, input).await
    }

    pub async fn run_as(&self, kind: StateMachineType, input: &Value) -> Execution {
        let sfn = self.moto.sfn();
        let machine = self.create(kind).await;
        // Step Functions names every execution; moto leaves `$$.Execution.Name` null unless given one.
        let started = sfn
            .start_execution()
            .state_machine_arn(machine)
            .name(unique("execution"))
            .input(input.to_string())
            .send()
            .await;
        let arn = started.expect("the execution starts").execution_arn;
        for _ in 0..300 {
            let described = sfn.describe_execution().execution_arn(&arn).send().await.expect("DescribeExecution");
            if described.status != ExecutionStatus::Running {
                let history = sfn
                    .get_execution_history()
                    .execution_arn(&arn)
                    .max_results(1000)
                    .send()
                    .await
                    .expect("GetExecutionHistory")
                    .events;
                return Execution {
                    status: described.status,
                    output: described.output.map(|o| serde_json::from_str(&o).expect("JSON output")),
                    error: described.error,
                    cause: described.cause,
                    history,
                };
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the execution did not finish in 30 s");
    }

    pub async fn messages(&self, queue: &str) -> Vec<Value> {
        let received = self
            .moto
            .sqs()
            .receive_message()
            .queue_url(queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .expect("ReceiveMessage");
        received.messages().iter().filter_map(|m| m.body()).map(|b| serde_json::from_str(b).expect("JSON")).collect()
    }
}

pub struct Execution {
    pub status: ExecutionStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub cause: Option<String>,
    pub history: Vec<HistoryEvent>,
}

impl Execution {
    /// The states entered, in order.
    pub fn states(&self) -> Vec<String> {
        self.history.iter().filter_map(|e| e.state_entered_event_details()).map(|d| d.name().to_owned()).collect()
    }

    /// The payloads sent to Lambda, in order, with the function each went to.
    pub fn invocations(&self) -> Vec<(String, Value)> {
        self.history
            .iter()
            .filter(|e| e.r#type == HistoryEventType::TaskScheduled)
            .filter_map(|e| e.task_scheduled_event_details())
            .filter(|d| d.resource_type == "lambda")
            .map(|d| {
                let parameters: Value = serde_json::from_str(&d.parameters).expect("JSON parameters");
                let function = parameters["FunctionName"].as_str().unwrap_or_default();
                let name = function.rsplit(':').next().unwrap_or_default().to_owned();
                (name, parameters["Payload"].clone())
            })
            .collect()
    }

    pub fn failed_tasks(&self) -> Vec<String> {
        self.history.iter().filter_map(|e| e.task_failed_event_details()).filter_map(|d| d.error.clone()).collect()
    }
}
