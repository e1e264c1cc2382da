//! The infer service: builds the prompt from instructions and context (kept apart) and asks
//! the configured model provider. Callers never learn which model answered: switching
//! provider is configuration. Stateless.

pub mod anthropic;
pub mod api_key;
#[cfg(feature = "aws")]
pub mod bedrock;
pub mod config;
pub mod decompose;
pub mod guardrail;
pub mod implicit_filter;
pub mod offline;
pub mod openai;
pub mod prompt;
pub mod provider;
pub mod rewrite;
pub mod stream;
pub mod structured;

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use seams_contracts::decompose::{DecomposeInvoke, DecomposeRequest, Decomposed};
use seams_contracts::guardrail::{GuardrailCheck, GuardrailInvoke};
use seams_contracts::implicit_filter::{FiltersInferred, ImplicitFilterInvoke, ImplicitFilterRequest};
use seams_contracts::infer::{ContextItem, InferenceOutput, InferenceRequest, InferenceResponse, Usage};
use seams_contracts::session::{RewriteInvoke, RewriteRequest, Rewritten};
use seams_contracts::{CorrelationId, ErrorName, V1};
use seams_platform::aws::SdkConfig;
use seams_platform::error::{from_value, parse_json};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::trigger::Trigger;
use seams_platform::{http, metrics, ServiceError};

pub use crate::config::{build_guardrail, build_provider, ApiKey, Config, ProviderConfig, Settings, PROVIDERS};

use crate::guardrail::Guardrail;
use crate::prompt::Prompt;
use crate::provider::{Completion, ModelProvider, Params, Repair};

/// A rewritten question, or a few sub-questions: this bounds what such a call can cost.
const SHORT_ANSWER_MAX_TOKENS: u32 = 300;

#[derive(Debug, Clone)]
pub enum Request {
    Inference(Box<InferenceRequest>),
    /// A guard step of the answer workflow: `{"guardrail": {…}}`.
    Guardrail(Box<GuardrailCheck>),
    /// The answer workflow's follow-up rewrite: `{"rewrite": {…}}`.
    Rewrite(Box<RewriteRequest>),
    /// The answer workflow's split of a compound question: `{"decompose": {…}}`.
    Decompose(Box<DecomposeRequest>),
    /// The answer workflow's filter inferred from the question: `{"implicit_filter": {…}}`.
    ImplicitFilter(Box<ImplicitFilterRequest>),
}

impl Named for Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Inference(_) => "inference",
            Request::Guardrail(_) => "guardrail",
            Request::Rewrite(_) => "rewrite",
            Request::Decompose(_) => "decompose",
            Request::ImplicitFilter(_) => "implicit-filter",
        }
    }
}

pub struct Service {
    provider: Arc<dyn ModelProvider>,
    guardrail: Arc<dyn Guardrail>,
    settings: Settings,
}

impl Service {
    /// With the offline guardrail of `settings`.
    pub fn new(provider: Arc<dyn ModelProvider>, settings: Settings) -> Self {
        let guardrail = Arc::new(guardrail::offline::OfflineGuardrail::new(&settings.guardrail));
        Self::with_guardrail(provider, guardrail, settings)
    }

    /// With a guardrail built once ([`build_guardrail`]).
    pub fn with_guardrail(provider: Arc<dyn ModelProvider>, guardrail: Arc<dyn Guardrail>, settings: Settings) -> Self {
        Self { provider, guardrail, settings }
    }

    pub async fn from_config(config: &Config, sdk: &SdkConfig) -> Result<Self, ServiceError> {
        let provider = build_provider(config, sdk).await?;
        let guardrail = build_guardrail(&config.settings, sdk)?;
        Ok(Self::with_guardrail(provider, guardrail, config.settings.clone()))
    }

    /// Checks a question or answer with the guardrail (`Seams.GuardrailIntervened` when blocked).
    pub async fn guard(
        &self,
        check: &GuardrailCheck,
    ) -> Result<seams_contracts::guardrail::GuardrailVerdict, ServiceError> {
        guardrail::check(self.guardrail.as_ref(), check).await
    }

    /// A follow-up question rewritten to stand on its own, from the turns before it: by the
    /// provider's model, or offline by carrying the previous question's key terms.
    pub async fn rewrite(&self, request: &RewriteRequest) -> Result<Rewritten, ServiceError> {
        let question = request.question.trim();
        if question.is_empty() {
            return Err(ServiceError::invalid_input("rewrite.question", "the question is empty"));
        }
        let question = if request.history.is_empty() {
            question.to_owned()
        } else if self.provider.name() == "offline" {
            rewrite::carry_terms(question, &request.history)
        } else {
            let prompt = rewrite::prompt(question, &request.history);
            let completion = self.provider.complete(&prompt, &self.short_answer_params(), None).await?;
            rewrite::from_reply(&completion.text, question)
        };
        Ok(Rewritten { question })
    }

    /// A compound question split into the questions it asks (at most
    /// `SEAMS_MAX_SUB_QUESTIONS`): by the provider's model, or offline where a new question
    /// starts. A question that asks one thing is one question, itself.
    pub async fn decompose(&self, request: &DecomposeRequest) -> Result<Decomposed, ServiceError> {
        let question = request.question.trim();
        if question.is_empty() {
            return Err(ServiceError::invalid_input("decompose.question", "the question is empty"));
        }
        let max = self.settings.max_sub_questions.max(1);
        let questions = if self.provider.name() == "offline" {
            decompose::split(question, max)
        } else {
            let completion =
                self.provider.complete(&decompose::prompt(question, max), &self.short_answer_params(), None).await?;
            decompose::from_reply(&completion.text, question, max)
        };
        Ok(Decomposed { questions })
    }

    /// The caller's filters narrowed by one inferred from the question over the declared
    /// attributes: proposed by the provider's model, or offline from the values the
    /// question names. A proposal that does not hold is dropped and logged, never used.
    pub async fn infer_filter(&self, request: &ImplicitFilterRequest) -> Result<FiltersInferred, ServiceError> {
        let declared = &self.settings.filter_attributes;
        let proposal = if declared.is_empty() {
            Ok(None)
        } else if self.provider.name() == "offline" {
            Ok(implicit_filter::propose_offline(&request.question, declared))
        } else {
            let prompt = implicit_filter::prompt(&request.question, declared);
            let completion = self.provider.complete(&prompt, &self.short_answer_params(), None).await?;
            implicit_filter::from_reply(&completion.text)
        };
        let joined = proposal.and_then(|p| match p {
            Some(filter) => implicit_filter::check(&filter, declared)
                .and_then(|()| implicit_filter::join(request.filters.clone(), filter.clone()))
                .map(|filters| (Some(filters), Some(filter))),
            None => Ok((request.filters.clone(), None)),
        });
        Ok(match joined {
            Ok((filters, proposed)) => FiltersInferred { filters, proposed, dropped: None },
            Err(refused) => {
                tracing::warn!(reason = %refused, "the inferred filter was dropped");
                FiltersInferred { filters: request.filters.clone(), proposed: None, dropped: Some(refused.to_string()) }
            }
        })
    }

    /// The parameters of the workflow's small model calls (rewrite, decompose): the default
    /// model, deterministic, a few sentences long.
    fn short_answer_params(&self) -> Params {
        Params {
            model: self.settings.model_id.clone(),
            max_tokens: SHORT_ANSWER_MAX_TOKENS.min(self.settings.max_output_tokens),
            temperature: Some(0.0),
            top_p: None,
            stop: Vec::new(),
            response_schema: None,
        }
    }

    /// Checks the request against the settings and turns it into provider parameters.
    pub fn check(&self, request: &InferenceRequest) -> Result<Params, ServiceError> {
        if request.request_id.trim().is_empty() {
            return Err(ServiceError::invalid_input("request_id", "the request id is empty"));
        }
        if request.instructions.trim().is_empty() {
            return Err(ServiceError::invalid_input("instructions", "the instructions are empty"));
        }
        if self.settings.require_context && request.context.is_empty() {
            return Err(ServiceError::invalid_input(
                "context",
                "this deployment answers from context only; the context is empty",
            ));
        }
        for (i, item) in request.context.iter().enumerate() {
            let (field, text) = match item {
                ContextItem::Text(text) => (format!("context[{i}]"), text),
                ContextItem::Passage(p) if p.id.trim().is_empty() => {
                    return Err(ServiceError::invalid_input(format!("context[{i}].id"), "the id is empty"))
                }
                ContextItem::Passage(p) => (format!("context[{i}].text"), &p.text),
            };
            if text.trim().is_empty() {
                return Err(ServiceError::invalid_input(field, "the context item has no text"));
            }
        }
        let config = &request.model_config;
        let max_tokens =
            config.max_tokens.unwrap_or(self.settings.default_max_tokens.min(self.settings.max_output_tokens));
        if !(1..=self.settings.max_output_tokens).contains(&max_tokens) {
            return Err(ServiceError::invalid_input(
                "model_config.max_tokens",
                format!("must be 1 to {}", self.settings.max_output_tokens),
            ));
        }
        if config.temperature.is_some_and(|t| !(0.0..=1.0).contains(&t)) {
            return Err(ServiceError::invalid_input("model_config.temperature", "must be 0 to 1"));
        }
        if config.top_p.is_some_and(|p| !(p > 0.0 && p <= 1.0)) {
            return Err(ServiceError::invalid_input("model_config.top_p", "must be above 0 and at most 1"));
        }
        let stop = config.stop.clone().unwrap_or_default();
        if stop.len() > 4 || stop.iter().any(|s| s.is_empty()) {
            return Err(ServiceError::invalid_input("model_config.stop", "up to 4 non-empty stop sequences"));
        }
        let model = match config.model.as_deref() {
            None => self.settings.model_id.clone(),
            Some(alias) => match self.settings.aliases.get(alias) {
                Some(id) => id.clone(),
                None if self.settings.allow_raw_model_ids => alias.to_owned(),
                None => {
                    let known: Vec<&str> = self.settings.aliases.keys().map(String::as_str).collect();
                    return Err(ServiceError::invalid_input(
                        "model_config.model",
                        format!("unknown model alias {alias:?}; known: {known:?}"),
                    ));
                }
            },
        };
        if let Some(schema) = &config.response_format {
            structured::check_schema(schema).map_err(|e| {
                ServiceError::invalid_input("model_config.response_format", format!("not a usable JSON Schema: {e}"))
            })?;
        }
        Ok(Params {
            model,
            max_tokens,
            temperature: config.temperature,
            top_p: config.top_p,
            stop,
            response_schema: config.response_format.clone(),
        })
    }

    pub fn prompt(&self, request: &InferenceRequest) -> Prompt {
        prompt::assemble(self.settings.system_rules.as_deref(), request, self.settings.max_context_chars)
    }

    /// The model's name as the response reports it.
    fn model_name(&self, params: &Params) -> String {
        if self.provider.name() == "offline" {
            offline::MODEL.to_owned()
        } else {
            params.model.clone()
        }
    }

    pub async fn infer(&self, request: &InferenceRequest) -> Result<InferenceResponse, ServiceError> {
        let started = Instant::now();
        let params = self.check(request)?;
        let prompt = self.prompt(request);
        let completion = self.provider.complete(&prompt, &params, None).await?;
        let (output, completion, usage) = match &params.response_schema {
            None => (InferenceOutput::Text(completion.text.clone()), completion.clone(), completion.usage),
            Some(schema) => self.structured(&prompt, &params, schema, completion).await?,
        };
        let mut citations = prompt::cited_ids(&completion.text, &prompt.passages);
        if let InferenceOutput::Json(value) = &output {
            collect_ids(value, &prompt, &mut citations);
        }
        Ok(InferenceResponse {
            schema_version: V1,
            request_id: request.request_id.clone(),
            output,
            citations,
            model: self.model_name(&params),
            provider: self.provider.name().to_owned(),
            usage,
            finish_reason: completion.finish_reason,
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            truncated_context: prompt.truncated,
        })
    }

    /// Validates a structured answer; one repair attempt, then `Seams.InvalidModelOutput`.
    async fn structured(
        &self,
        prompt: &Prompt,
        params: &Params,
        schema: &serde_json::Value,
        first: Completion,
    ) -> Result<(InferenceOutput, Completion, Usage), ServiceError> {
        let problem = match structured::validate(schema, &first.text) {
            Ok(value) => return Ok((InferenceOutput::Json(value), first.clone(), first.usage)),
            Err(problem) => problem,
        };
        tracing::warn!(%problem, "structured answer refused; asking the model to repair it");
        let repair = Repair { previous: first.text.clone(), problem };
        let second = self.provider.complete(prompt, params, Some(&repair)).await?;
        let usage = Usage {
            input_tokens: first.usage.input_tokens.saturating_add(second.usage.input_tokens),
            output_tokens: first.usage.output_tokens.saturating_add(second.usage.output_tokens),
        };
        match structured::validate(schema, &second.text) {
            Ok(value) => Ok((InferenceOutput::Json(value), second, usage)),
            Err(problem) => Err(ServiceError::new(
                ErrorName::InvalidModelOutput,
                format!("the model's answer did not satisfy response_format after one repair: {problem}"),
            )),
        }
    }
}

/// Strings in a structured answer that are context ids (a `citations` field, say).
fn collect_ids(value: &serde_json::Value, prompt: &Prompt, cited: &mut Vec<String>) {
    match value {
        serde_json::Value::String(s) if prompt.passages.iter().any(|p| &p.id == s) && !cited.contains(s) => {
            cited.push(s.clone());
        }
        serde_json::Value::Array(items) => items.iter().for_each(|v| collect_ids(v, prompt, cited)),
        serde_json::Value::Object(map) => map.values().for_each(|v| collect_ids(v, prompt, cited)),
        _ => {}
    }
}

#[async_trait]
impl Function for Service {
    const SERVICE: &'static str = "infer";
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        match http::route_key(request).as_str() {
            seams_platform::routes::POST_INFERENCE => {
                Ok(Request::Inference(Box::new(parse_json(&http::body_bytes(request)?)?)))
            }
            other => Err(ServiceError::not_found(format!("infer has no route {other}"))),
        }
    }

    fn from_trigger(trigger: Trigger) -> Result<Request, ServiceError> {
        match trigger {
            Trigger::Direct(payload) if payload.get("guardrail").is_some() => {
                Ok(Request::Guardrail(Box::new(from_value::<GuardrailInvoke>(payload)?.guardrail)))
            }
            Trigger::Direct(payload) if payload.get("implicit_filter").is_some() => {
                Ok(Request::ImplicitFilter(Box::new(from_value::<ImplicitFilterInvoke>(payload)?.implicit_filter)))
            }
            Trigger::Direct(payload) if payload.get("decompose").is_some() => {
                Ok(Request::Decompose(Box::new(from_value::<DecomposeInvoke>(payload)?.decompose)))
            }
            Trigger::Direct(payload) if payload.get("rewrite").is_some() => {
                Ok(Request::Rewrite(Box::new(from_value::<RewriteInvoke>(payload)?.rewrite)))
            }
            Trigger::Direct(payload) => Ok(Request::Inference(Box::new(from_value(payload)?))),
            _ => Err(ServiceError::invalid_input("event", "infer is triggered by HTTP or a direct invoke")),
        }
    }

    async fn serve(&self, request: Request, _correlation: CorrelationId) -> Result<Reply, ServiceError> {
        match request {
            Request::Inference(request) => {
                if request.stream {
                    return Err(ServiceError::invalid_input(
                        "stream",
                        "streamed answers are served by infer's function URL (infer-stream)",
                    ));
                }
                let response = self.infer(&request).await?;
                tracing::info!(
                    provider = %response.provider, model = %response.model, latency_ms = response.latency_ms,
                    input_tokens = response.usage.input_tokens, output_tokens = response.usage.output_tokens, "inferred"
                );
                let provider = Some(("provider", response.provider.clone()));
                metrics::count("ModelCalls", 1.0, provider.clone());
                metrics::count("InputTokens", f64::from(response.usage.input_tokens), provider.clone());
                metrics::count("OutputTokens", f64::from(response.usage.output_tokens), provider.clone());
                metrics::record("ModelLatency", response.latency_ms as f64, metrics::Unit::Milliseconds, provider);
                Reply::json(200, &response)
            }
            Request::ImplicitFilter(request) => {
                let inferred = self.infer_filter(&request).await?;
                tracing::info!(
                    proposed = inferred.proposed.is_some(),
                    dropped = inferred.dropped.is_some(),
                    "filter inferred"
                );
                Reply::json(200, &inferred)
            }
            Request::Decompose(request) => {
                let decomposed = self.decompose(&request).await?;
                tracing::info!(questions = decomposed.questions.len(), "question decomposed");
                Reply::json(200, &decomposed)
            }
            Request::Rewrite(request) => {
                let rewritten = self.rewrite(&request).await?;
                tracing::info!(
                    turns = request.history.len(),
                    rewritten = rewritten.question != request.question,
                    "question rewritten"
                );
                Reply::json(200, &rewritten)
            }
            Request::Guardrail(check) => {
                let stage = Some(("stage", check.stage.as_str().to_owned()));
                let verdict = self.guard(&check).await.inspect_err(|error| {
                    tracing::warn!(stage = check.stage.as_str(), error = %error, "guardrail intervened");
                    if error.name == ErrorName::GuardrailIntervened {
                        metrics::count("GuardrailBlocked", 1.0, stage.clone());
                    }
                })?;
                let action = if verdict.policies.is_empty() { "GuardrailPassed" } else { "GuardrailMasked" };
                metrics::count(action, 1.0, stage);
                tracing::info!(stage = check.stage.as_str(), action = ?verdict.action, policies = ?verdict.policies, "guardrail checked");
                Reply::json(200, &verdict)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn service(settings: Settings) -> Service {
        Service::new(Arc::new(offline::OfflineModel), settings)
    }

    fn request(value: serde_json::Value) -> InferenceRequest {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn each_bad_request_names_its_field() {
        let mut settings = Settings::default();
        settings.aliases.insert("fast".into(), "model-a".into());
        let service = service(settings);
        let base = json!({"request_id": "r", "instructions": "x", "context": ["a"]});
        let with = |patch: serde_json::Value| {
            let mut value = base.clone();
            for (k, v) in patch.as_object().unwrap() {
                value[k] = v.clone();
            }
            service.check(&request(value)).unwrap_err().field.unwrap_or_default()
        };
        assert_eq!(with(json!({"request_id": " "})), "request_id");
        assert_eq!(with(json!({"instructions": ""})), "instructions");
        assert_eq!(with(json!({"context": ["ok", "  "]})), "context[1]");
        assert_eq!(with(json!({"context": [{"id": "d", "text": ""}]})), "context[0].text");
        assert_eq!(with(json!({"model_config": {"max_tokens": 0}})), "model_config.max_tokens");
        assert_eq!(with(json!({"model_config": {"max_tokens": 100000}})), "model_config.max_tokens");
        assert_eq!(with(json!({"model_config": {"temperature": 1.5}})), "model_config.temperature");
        assert_eq!(with(json!({"model_config": {"top_p": 0}})), "model_config.top_p");
        assert_eq!(with(json!({"model_config": {"stop": ["a", "b", "c", "d", "e"]}})), "model_config.stop");
        assert_eq!(with(json!({"model_config": {"model": "anthropic.claude-opus"}})), "model_config.model");
        assert_eq!(with(json!({"model_config": {"response_format": {"type": 7}}})), "model_config.response_format");
        assert_eq!(with(json!({"model_config": {"response_format": false}})), "model_config.response_format");
        assert_eq!(with(json!({"model_config": {"response_format": true}})), "model_config.response_format");
        let params = service
            .check(&request(json!({"request_id": "r", "instructions": "x", "model_config": {"model": "fast"}})))
            .unwrap();
        assert_eq!(params.model, "model-a");
    }

    /// A provider that answers every prompt with one reply, and keeps the prompts.
    struct Scripted(&'static str, std::sync::Mutex<Vec<Prompt>>);

    #[async_trait]
    impl ModelProvider for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }

        async fn complete(
            &self,
            prompt: &Prompt,
            _params: &Params,
            _repair: Option<&Repair>,
        ) -> Result<Completion, provider::ProviderError> {
            self.1.lock().unwrap().push(prompt.clone());
            let usage = Usage { input_tokens: 1, output_tokens: 1 };
            Ok(Completion { text: self.0.to_owned(), usage, finish_reason: seams_contracts::infer::FinishReason::Stop })
        }
    }

    fn scripted(reply: &'static str) -> (Service, Arc<Scripted>) {
        let model = Arc::new(Scripted(reply, Default::default()));
        let declared = json!([{"name": "category", "type": "string", "description": "the handbook section",
            "values": ["policies", "engineering"]}]);
        let settings = Settings { filter_attributes: serde_json::from_value(declared).unwrap(), ..Settings::default() };
        (Service::new(model.clone(), settings), model)
    }

    #[tokio::test]
    async fn a_models_filter_that_does_not_hold_is_dropped_and_never_used() {
        let callers: seams_contracts::retrieve::Filter = serde_json::from_value(json!({"year": 2026})).unwrap();
        let request = ImplicitFilterRequest { question: "Refunds at acme?".into(), filters: Some(callers.clone()) };
        let (service, _) = scripted(r#"{"equals": {"key": "tenant", "value": "acme"}}"#);
        let inferred = service.infer_filter(&request).await.unwrap();
        assert_eq!((inferred.filters, inferred.proposed), (Some(callers.clone()), None));
        assert!(inferred.dropped.unwrap().contains("tenant is not a declared attribute"));
        let (service, model) = scripted(r#"{"equals": {"key": "category", "value": "policies"}}"#);
        let inferred = service.infer_filter(&request).await.unwrap();
        assert!(inferred.proposed.is_some() && inferred.dropped.is_none());
        let joined = serde_json::to_value(inferred.filters).unwrap();
        assert_eq!(joined["andAll"][1]["equals"]["value"], "policies", "{joined}");
        assert!(model.1.lock().unwrap()[0].user.contains("\"values\":[\"policies\",\"engineering\"]"));
    }

    #[tokio::test]
    async fn a_model_rewrites_and_decomposes_from_its_own_reply() {
        let turn = seams_contracts::session::Turn {
            question: "Refund window?".into(),
            standalone_question: "What is the refund window for physical products?".into(),
            answer: InferenceOutput::Text("30 days.".into()),
            cited: vec![],
        };
        let (service, model) = scripted("What is the refund window for digital products?");
        let rewrite = RewriteRequest { question: "And digital ones?".into(), history: vec![turn] };
        assert_eq!(
            service.rewrite(&rewrite).await.unwrap().question,
            "What is the refund window for digital products?"
        );
        assert!(model.1.lock().unwrap()[0].user.contains("physical products"), "the turns are in the prompt");
        let (service, _) = scripted("1. What is the refund window?\n2. How long is shipping?");
        let decomposed =
            service.decompose(&DecomposeRequest { question: "Refunds and shipping?".into() }).await.unwrap();
        assert_eq!(decomposed.questions, ["What is the refund window?", "How long is shipping?"]);
    }

    #[test]
    fn required_context_is_enforced_only_when_configured() {
        let bare = request(json!({"request_id": "r", "instructions": "x"}));
        assert!(service(Settings::default()).check(&bare).is_ok());
        let strict = service(Settings { require_context: true, ..Settings::default() });
        assert_eq!(strict.check(&bare).unwrap_err().field.as_deref(), Some("context"));
    }
}
