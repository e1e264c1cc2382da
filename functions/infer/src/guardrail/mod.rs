//! Guardrails on the question before retrieval and on the answer before delivery (the answer
//! workflow's `GuardQuestion` and `GuardAnswer` steps).
//!
//! A [`Guardrail`] assesses one text; [`check`] applies it to a question or answer, text or
//! structured, and turns a block into `Seams.GuardrailIntervened`. Two guardrails: the offline
//! one (a deny-list and personal data, block or mask) and Amazon Bedrock's `ApplyGuardrail`.

#[cfg(feature = "aws")]
pub mod bedrock;
pub mod offline;
pub mod pii;

use async_trait::async_trait;
use seams_contracts::guardrail::{GuardrailAction, GuardrailCheck, GuardrailStage, GuardrailVerdict};
use seams_contracts::infer::InferenceOutput;
use seams_contracts::{ErrorName, V1};
use seams_platform::ServiceError;
use serde_json::Value;

/// Which guardrail checks every question and answer (`SEAMS_GUARDRAIL`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum GuardrailMode {
    /// None by default; a request that asks (`guardrail: true`) gets the offline one.
    #[default]
    Off,
    Offline,
    Bedrock {
        id: String,
        version: String,
    },
}

impl GuardrailMode {
    pub const NAMES: [&'static str; 3] = ["off", "offline", "bedrock"];

    /// The answer state machine's `Guardrail` substitution: whether every request is checked.
    pub fn name(&self) -> &'static str {
        match self {
            GuardrailMode::Off => "off",
            GuardrailMode::Offline => "offline",
            GuardrailMode::Bedrock { .. } => "bedrock",
        }
    }
}

/// What the offline guardrail does with personal data (`SEAMS_GUARDRAIL_PII`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PiiAction {
    #[default]
    Block,
    Mask,
    /// Personal data passes; only the deny-list applies.
    Allow,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuardrailSettings {
    pub mode: GuardrailMode,
    /// Words and phrases that block a question or answer, matched whole and case-blind.
    pub deny_list: Vec<String>,
    pub pii: PiiAction,
}

/// One text, assessed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assessment {
    Passed,
    Masked { text: String, policies: Vec<String> },
    Blocked { policies: Vec<String> },
}

#[async_trait]
pub trait Guardrail: Send + Sync {
    /// `offline` or `bedrock`, as verdicts report it.
    fn name(&self) -> &'static str;
    async fn assess(&self, stage: GuardrailStage, text: &str) -> Result<Assessment, ServiceError>;
}

/// Checks a question or an answer: every string of a structured answer is assessed. Blocked
/// anywhere is `Seams.GuardrailIntervened`, naming the policies but not the text.
pub async fn check(guardrail: &dyn Guardrail, request: &GuardrailCheck) -> Result<GuardrailVerdict, ServiceError> {
    let mut policies = Vec::new();
    let mut blocked = Vec::new();
    let content = match &request.content {
        InferenceOutput::Text(text) => {
            InferenceOutput::Text(assess_into(guardrail, request.stage, text, &mut policies, &mut blocked).await?)
        }
        InferenceOutput::Json(value) => {
            let mut value = value.clone();
            let mut strings = Vec::new();
            collect_strings(&mut value, &mut strings);
            for string in strings {
                *string = assess_into(guardrail, request.stage, string, &mut policies, &mut blocked).await?;
            }
            InferenceOutput::Json(value)
        }
    };
    if !blocked.is_empty() {
        return Err(ServiceError::new(
            ErrorName::GuardrailIntervened,
            format!(
                "the {} was blocked by the {} guardrail: {}",
                request.stage.as_str(),
                guardrail.name(),
                blocked.join(", ")
            ),
        ));
    }
    let action = if policies.is_empty() { GuardrailAction::None } else { GuardrailAction::Masked };
    Ok(GuardrailVerdict { schema_version: V1, action, content, policies, guardrail: guardrail.name().to_owned() })
}

async fn assess_into(
    guardrail: &dyn Guardrail,
    stage: GuardrailStage,
    text: &str,
    masked_by: &mut Vec<String>,
    blocked_by: &mut Vec<String>,
) -> Result<String, ServiceError> {
    let record = |into: &mut Vec<String>, policies: Vec<String>| {
        for policy in policies {
            if !into.contains(&policy) {
                into.push(policy);
            }
        }
    };
    Ok(match guardrail.assess(stage, text).await? {
        Assessment::Passed => text.to_owned(),
        Assessment::Masked { text, policies } => {
            record(masked_by, policies);
            text
        }
        Assessment::Blocked { policies } => {
            record(blocked_by, policies);
            String::new()
        }
    })
}

/// Every string in a JSON value (object keys are field names, not content).
fn collect_strings<'a>(value: &'a mut Value, into: &mut Vec<&'a mut String>) {
    match value {
        Value::String(s) => into.push(s),
        Value::Array(items) => items.iter_mut().for_each(|v| collect_strings(v, into)),
        Value::Object(map) => map.values_mut().for_each(|v| collect_strings(v, into)),
        _ => {}
    }
}
