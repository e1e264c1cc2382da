//! The infer function's configuration from the environment (provider, model, guardrail,
//! tuning), and the provider and guardrail it builds once at init.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

#[cfg(not(feature = "aws"))]
use seams_platform::aws::left_out;
use seams_platform::aws::SdkConfig;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::secrets::SecretCache;
use seams_platform::ServiceError;

use crate::api_key::KeySource;
#[cfg(feature = "aws")]
use crate::bedrock;
use crate::guardrail::{self, Guardrail, GuardrailMode, GuardrailSettings, PiiAction};
use crate::provider::ModelProvider;
use crate::{anthropic, implicit_filter, offline, openai};

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
            max_sub_questions: max_sub_questions(&env, defaults.max_sub_questions),
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

fn max_sub_questions(env: &Env, default: usize) -> usize {
    let most = crate::decompose::MOST_SUB_QUESTIONS;
    let parts = env.parse_or("SEAMS_MAX_SUB_QUESTIONS", default);
    if !(1..=most).contains(&parts) {
        let reason =
            format!("must be 1 to {most}: the answer workflow holds every part's results in one 256 KiB state");
        env.invalid("SEAMS_MAX_SUB_QUESTIONS", &parts.to_string(), reason);
    }
    parts
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

#[cfg(test)]
mod tests {
    use super::*;

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
        for parts in ["0", "5"] {
            assert!(report(vec![("SEAMS_MAX_SUB_QUESTIONS", parts)]).contains("must be 1 to 4"), "{parts}");
        }
        let most = Config::from_env(Env::from_pairs([("SEAMS_MAX_SUB_QUESTIONS", "4")])).unwrap();
        assert_eq!(most.settings.max_sub_questions, 4);
        let config = Config::from_env(Env::from_pairs([
            ("SEAMS_MODEL_PROVIDER", "anthropic"),
            ("SEAMS_MODEL_ID", "claude"),
            ("SEAMS_MODEL_API_KEY", "sk-ant-secret"),
        ]))
        .unwrap();
        assert!(!format!("{config:?}").contains("sk-ant-secret"));
    }
}
