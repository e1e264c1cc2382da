//! The infer service: builds the prompt from instructions and context (kept apart) and asks
//! the configured model provider. Callers never learn which model answered: switching
//! provider is configuration. Stateless.

pub mod anthropic;
pub mod api_key;
#[cfg(feature = "aws")]
pub mod bedrock;
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

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use seams_contracts::decompose::{DecomposeInvoke, DecomposeRequest, Decomposed};
use seams_contracts::guardrail::{GuardrailCheck, GuardrailInvoke};
use seams_contracts::implicit_filter::{FiltersInferred, ImplicitFilterInvoke, ImplicitFilterRequest};
use seams_contracts::infer::{ContextItem, InferenceOutput, InferenceRequest, InferenceResponse, Usage};
use seams_contracts::session::{RewriteInvoke, RewriteRequest, Rewritten};
use seams_contracts::{CorrelationId, ErrorName, V1};
#[cfg(not(feature = "aws"))]
use seams_platform::aws::left_out;
use seams_platform::aws::SdkConfig;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::{from_value, parse_json};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::secrets::SecretCache;
use seams_platform::trigger::Trigger;
use seams_platform::{http, metrics, ServiceError};

use crate::api_key::KeySource;
use crate::guardrail::{Guardrail, GuardrailMode, GuardrailSettings, PiiAction};
use crate::prompt::Prompt;
use crate::provider::{Completion, ModelProvider, Params, Repair};

/// The model providers infer can be configured with.
pub const PROVIDERS: [&str; 4] = ["offline", "bedrock", "openai", "anthropic"];

/// Where an API key comes from.
#[derive(Clone, PartialEq, Eq)]
pub enum ApiKey {
    Value(String),
    /// A Secrets Manager secret (name or ARN) holding the key as its string.
    Secret(String),
}

impl std::fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiKey::Value(_) => f.write_str("Value(<hidden>)"),
            ApiKey::Secret(id) => write!(f, "Secret({id})"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProviderConfig {
    Offline,
    Bedrock,
    OpenAi { base_url: String, api_key: Option<ApiKey> },
    Anthropic { base_url: String, api_key: ApiKey },
}

impl ProviderConfig {
    /// Whether building the provider calls AWS (Bedrock, or a key in Secrets Manager).
    pub fn needs_aws(&self) -> bool {
        match self {
            ProviderConfig::Offline => false,
            ProviderConfig::Bedrock => true,
            ProviderConfig::OpenAi { api_key, .. } => matches!(api_key, Some(ApiKey::Secret(_))),
            ProviderConfig::Anthropic { api_key, .. } => matches!(api_key, ApiKey::Secret(_)),
        }
    }
}

/// What every request is held to, whichever provider answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The provider's model id used when the request names no alias.
    pub model_id: String,
    /// Aliases callers may name in `model_config.model`, to provider model ids.
    pub aliases: BTreeMap<String, String>,
    /// Whether callers may name a raw provider model id instead of an alias.
    pub allow_raw_model_ids: bool,
    /// The operator's rules, added to the system prompt.
    pub system_rules: Option<String>,
    /// Context beyond this many characters is dropped, lowest-ranked first.
    pub max_context_chars: usize,
    pub default_max_tokens: u32,
    pub max_output_tokens: u32,
    /// Refuse requests without context (for deployments that must always be grounded).
    pub require_context: bool,
    pub timeout: Duration,
    /// The guardrail on questions and answers (the answer workflow's guard steps).
    pub guardrail: GuardrailSettings,
    /// The most sub-questions a compound question is split into.
    pub max_sub_questions: usize,
    /// The attributes a filter may be inferred over (`SEAMS_FILTER_ATTRIBUTES`).
    pub filter_attributes: Vec<implicit_filter::DeclaredAttribute>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            model_id: offline::MODEL.to_owned(),
            aliases: BTreeMap::new(),
            allow_raw_model_ids: false,
            system_rules: None,
            max_context_chars: 48_000,
            default_max_tokens: 1024,
            max_output_tokens: 8192,
            require_context: false,
            timeout: Duration::from_secs(25),
            guardrail: GuardrailSettings::default(),
            max_sub_questions: 4,
            filter_attributes: Vec::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: seams_platform::aws::AwsSettings,
    pub provider: ProviderConfig,
    /// How long a key read from Secrets Manager is kept (`SEAMS_SECRET_TTL_SECONDS`).
    pub secret_ttl: Duration,
    pub settings: Settings,
}

fn api_key(env: &Env, required: bool) -> Option<ApiKey> {
    match (env.optional("SEAMS_MODEL_API_KEY"), env.optional("SEAMS_MODEL_API_KEY_SECRET")) {
        (_, Some(secret)) => Some(ApiKey::Secret(secret)),
        (Some(value), None) => Some(ApiKey::Value(value)),
        (None, None) if required => {
            env.required("SEAMS_MODEL_API_KEY");
            None
        }
        (None, None) => None,
    }
}

fn guardrail_settings(env: &Env) -> GuardrailSettings {
    let mode = match env.choice("SEAMS_GUARDRAIL", &GuardrailMode::NAMES, "off").as_str() {
        "offline" => GuardrailMode::Offline,
        "bedrock" => GuardrailMode::Bedrock {
            id: env.required("SEAMS_GUARDRAIL_ID"),
            version: env.optional("SEAMS_GUARDRAIL_VERSION").unwrap_or_else(|| "DRAFT".into()),
        },
        _ => GuardrailMode::Off,
    };
    let pii = match env.choice("SEAMS_GUARDRAIL_PII", &["block", "mask", "allow"], "block").as_str() {
        "mask" => PiiAction::Mask,
        "allow" => PiiAction::Allow,
        _ => PiiAction::Block,
    };
    let text = env.optional("SEAMS_GUARDRAIL_DENY_LIST").unwrap_or_default();
    let deny_list: Vec<String> = text.split(',').map(str::trim).filter(|p| !p.is_empty()).map(str::to_owned).collect();
    if let Err(error) = guardrail::offline::deny_pattern(&deny_list) {
        env.invalid("SEAMS_GUARDRAIL_DENY_LIST", &text, format!("the list does not compile: {error}"));
    }
    GuardrailSettings { mode, deny_list, pii }
}

/// `SEAMS_FILTER_ATTRIBUTES`: a JSON list of `{name, type, description, values}`.
fn filter_attributes(env: &Env) -> Vec<implicit_filter::DeclaredAttribute> {
    let Some(text) = env.optional("SEAMS_FILTER_ATTRIBUTES") else { return Vec::new() };
    serde_json::from_str(&text).unwrap_or_else(|error| {
        env.invalid(
            "SEAMS_FILTER_ATTRIBUTES",
            &text,
            format!("not a JSON list of {{name, type, description, values}}: {error}"),
        );
        Vec::new()
    })
}

/// `fast=model-a,smart=model-b`.
fn parse_aliases(env: &Env) -> BTreeMap<String, String> {
    let Some(text) = env.optional("SEAMS_MODEL_ALIASES") else { return BTreeMap::new() };
    let mut aliases = BTreeMap::new();
    for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match pair.split_once('=') {
            Some((alias, id)) if !alias.trim().is_empty() && !id.trim().is_empty() => {
                aliases.insert(alias.trim().to_owned(), id.trim().to_owned());
            }
            _ => env.invalid("SEAMS_MODEL_ALIASES", &text, format!("{pair:?} is not alias=model-id")),
        }
    }
    aliases
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let name = env.choice("SEAMS_MODEL_PROVIDER", &PROVIDERS, "offline");
        let provider = match name.as_str() {
            "bedrock" => ProviderConfig::Bedrock,
            "openai" => {
                ProviderConfig::OpenAi { base_url: env.required("SEAMS_MODEL_BASE_URL"), api_key: api_key(&env, false) }
            }
            "anthropic" => ProviderConfig::Anthropic {
                base_url: env.optional("SEAMS_MODEL_BASE_URL").unwrap_or_else(|| "https://api.anthropic.com".into()),
                api_key: api_key(&env, true).unwrap_or(ApiKey::Value(String::new())),
            },
            _ => ProviderConfig::Offline,
        };
        let defaults = Settings::default();
        let model_id = match provider {
            ProviderConfig::Offline => offline::MODEL.to_owned(),
            _ => env.required("SEAMS_MODEL_ID"),
        };
        let settings = Settings {
            model_id,
            aliases: parse_aliases(&env),
            allow_raw_model_ids: env.flag("SEAMS_ALLOW_RAW_MODEL_IDS", false),
            system_rules: env.optional("SEAMS_SYSTEM_PROMPT"),
            max_context_chars: env.parse_or("SEAMS_MAX_CONTEXT_CHARS", defaults.max_context_chars),
            default_max_tokens: env.parse_or("SEAMS_DEFAULT_MAX_TOKENS", defaults.default_max_tokens),
            max_output_tokens: env.parse_or("SEAMS_MAX_OUTPUT_TOKENS", defaults.max_output_tokens),
            require_context: env.flag("SEAMS_REQUIRE_CONTEXT", false),
            timeout: Duration::from_secs(env.parse_or("SEAMS_MODEL_TIMEOUT_SECONDS", 25)),
            guardrail: guardrail_settings(&env),
            max_sub_questions: env.parse_or("SEAMS_MAX_SUB_QUESTIONS", defaults.max_sub_questions),
            filter_attributes: filter_attributes(&env),
        };
        let config = Self {
            aws: seams_platform::aws::AwsSettings::from_env(&env),
            provider,
            secret_ttl: seams_platform::secrets::ttl_from_env(&env),
            settings,
        };
        env.finish().map(|()| config)
    }
}

impl ApiKey {
    fn source(&self, secrets: &Arc<SecretCache>) -> KeySource {
        match self {
            ApiKey::Value(value) => KeySource::Fixed(value.clone()),
            ApiKey::Secret(id) => KeySource::Secret { cache: secrets.clone(), secret_id: id.clone() },
        }
    }
}

/// Builds the configured provider once, at init (reading its key from Secrets Manager).
pub async fn build_provider(config: &Config, sdk: &SdkConfig) -> Result<Arc<dyn ModelProvider>, ServiceError> {
    let timeout = config.settings.timeout;
    let secrets = Arc::new(SecretCache::secrets_manager(sdk, config.secret_ttl));
    Ok(match &config.provider {
        ProviderConfig::Offline => Arc::new(offline::OfflineModel),
        #[cfg(feature = "aws")]
        ProviderConfig::Bedrock => Arc::new(bedrock::BedrockModel::new(sdk, timeout)),
        #[cfg(not(feature = "aws"))]
        ProviderConfig::Bedrock => return Err(left_out("SEAMS_MODEL_PROVIDER=bedrock")),
        ProviderConfig::OpenAi { base_url, api_key } => {
            let key = api_key.as_ref().map(|key| key.source(&secrets));
            if let Some(key) = &key {
                key.check().await?;
            }
            Arc::new(openai::OpenAiModel::new(base_url, key, timeout)?)
        }
        ProviderConfig::Anthropic { base_url, api_key } => {
            let key = api_key.source(&secrets);
            key.check().await?;
            Arc::new(anthropic::AnthropicModel::new(base_url, key, timeout)?)
        }
    })
}

/// The configured guardrail: Bedrock's when `SEAMS_GUARDRAIL=bedrock`, else the offline one
/// (which also serves requests that ask for a guardrail where none is on by default).
pub fn build_guardrail(settings: &Settings, sdk: &SdkConfig) -> Result<Arc<dyn Guardrail>, ServiceError> {
    Ok(match &settings.guardrail.mode {
        #[cfg(feature = "aws")]
        GuardrailMode::Bedrock { id, version } => {
            Arc::new(guardrail::bedrock::BedrockGuardrail::new(sdk, id, version, settings.timeout))
        }
        #[cfg(not(feature = "aws"))]
        GuardrailMode::Bedrock { .. } => {
            let _ = sdk;
            return Err(left_out("SEAMS_GUARDRAIL=bedrock"));
        }
        GuardrailMode::Off | GuardrailMode::Offline => {
            Arc::new(guardrail::offline::OfflineGuardrail::new(&settings.guardrail))
        }
    })
}

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
        let checked = proposal.and_then(|p| match p {
            Some(filter) => implicit_filter::check(&filter, declared).map(|()| Some(filter)),
            None => Ok(None),
        });
        let (proposed, dropped) = match checked {
            Ok(proposed) => (proposed, None),
            Err(refused) => {
                tracing::warn!(reason = %refused, "the inferred filter was dropped");
                (None, Some(refused.to_string()))
            }
        };
        let filters = implicit_filter::join(request.filters.clone(), proposed.clone());
        Ok(FiltersInferred { filters, proposed, dropped })
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

    #[test]
    fn each_provider_names_what_it_needs() {
        let report = |pairs: Vec<(&str, &str)>| Config::from_env(Env::from_pairs(pairs)).unwrap_err().to_string();
        assert!(report(vec![("SEAMS_MODEL_PROVIDER", "bedrock")]).contains("SEAMS_MODEL_ID"));
        let openai = report(vec![("SEAMS_MODEL_PROVIDER", "openai")]);
        assert!(openai.contains("SEAMS_MODEL_BASE_URL") && openai.contains("SEAMS_MODEL_ID"), "{openai}");
        assert!(report(vec![("SEAMS_MODEL_PROVIDER", "anthropic"), ("SEAMS_MODEL_ID", "m")])
            .contains("SEAMS_MODEL_API_KEY"));
        assert!(report(vec![("SEAMS_MODEL_ALIASES", "fast")]).contains("SEAMS_MODEL_ALIASES"));
        let undeclared_type = r#"[{"name": "year", "type": "date", "description": "d"}]"#;
        assert!(report(vec![("SEAMS_FILTER_ATTRIBUTES", undeclared_type)]).contains("SEAMS_FILTER_ATTRIBUTES"));
        let config = Config::from_env(Env::from_pairs([
            ("SEAMS_MODEL_PROVIDER", "anthropic"),
            ("SEAMS_MODEL_ID", "claude"),
            ("SEAMS_MODEL_API_KEY", "sk-ant-secret"),
        ]))
        .unwrap();
        assert!(!format!("{config:?}").contains("sk-ant-secret"));
    }
}
