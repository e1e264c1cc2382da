//! Amazon Bedrock Guardrails' `ApplyGuardrail`: the guardrail configured in Bedrock (topics,
//! content filters, words, sensitive information) checks the text without a model call.
//! Anonymised findings only: masked, with Bedrock's own output text; anything else it
//! intervened on: blocked.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_bedrockruntime::types::{
    GuardrailAction, GuardrailAssessment, GuardrailContentBlock, GuardrailContentPolicyAction, GuardrailContentSource,
    GuardrailSensitiveInformationPolicyAction, GuardrailTextBlock, GuardrailTopicPolicyAction,
    GuardrailWordPolicyAction,
};
use seams_contracts::guardrail::GuardrailStage;
use seams_contracts::ErrorName;
use seams_platform::ServiceError;

use super::{Assessment, Guardrail};

pub struct BedrockGuardrail {
    client: aws_sdk_bedrockruntime::Client,
    id: String,
    version: String,
}

impl BedrockGuardrail {
    pub fn new(sdk: &aws_config::SdkConfig, id: &str, version: &str, timeout: Duration) -> Self {
        let config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .timeout_config(
                aws_sdk_bedrockruntime::config::timeout::TimeoutConfig::builder().operation_timeout(timeout).build(),
            )
            .interceptor(seams_platform::xray::Subsegments::from_env())
            .build();
        Self {
            client: aws_sdk_bedrockruntime::Client::from_conf(config),
            id: id.to_owned(),
            version: version.to_owned(),
        }
    }
}

#[async_trait]
impl Guardrail for BedrockGuardrail {
    fn name(&self) -> &'static str {
        "bedrock"
    }

    async fn assess(&self, stage: GuardrailStage, text: &str) -> Result<Assessment, ServiceError> {
        let source = match stage {
            GuardrailStage::Question => GuardrailContentSource::Input,
            GuardrailStage::Answer => GuardrailContentSource::Output,
        };
        let block = GuardrailTextBlock::builder()
            .text(text)
            .build()
            .map_err(|e| ServiceError::invalid_input("content", e.to_string()))?;
        let response = self
            .client
            .apply_guardrail()
            .guardrail_identifier(&self.id)
            .guardrail_version(&self.version)
            .source(source)
            .content(GuardrailContentBlock::Text(block))
            .send()
            .await
            .map_err(|error| {
                let detail = format!("bedrock guardrail: {}", DisplayErrorContext(&error));
                match error.code() {
                    Some("ThrottlingException" | "ServiceQuotaExceededException") => {
                        ServiceError::new(ErrorName::Transient, detail)
                    }
                    // A guardrail id or version the operator mistyped: retrying cannot help.
                    Some("ValidationException" | "ResourceNotFoundException") => {
                        ServiceError::new(ErrorName::InvalidInput, detail)
                    }
                    _ => ServiceError::transient(detail),
                }
            })?;
        if response.action() != &GuardrailAction::GuardrailIntervened {
            return Ok(Assessment::Passed);
        }
        let (masked, blocked) = findings(response.assessments());
        if blocked.is_empty() && !masked.is_empty() {
            let text = response.outputs().iter().filter_map(|o| o.text()).collect::<Vec<_>>().join("");
            return Ok(Assessment::Masked { text, policies: masked });
        }
        // Intervened without a finding it names (a grounding check, say): blocked all the same.
        let policies = if blocked.is_empty() { vec!["bedrock".to_owned()] } else { blocked };
        Ok(Assessment::Blocked { policies })
    }
}

/// The policies that anonymised and that blocked, as `bedrock.<policy>:<name>`.
fn findings(assessments: &[GuardrailAssessment]) -> (Vec<String>, Vec<String>) {
    let mut masked = Vec::new();
    let mut blocked = Vec::new();
    let add = |into: &mut Vec<String>, name: String| {
        if !into.contains(&name) {
            into.push(name);
        }
    };
    for assessment in assessments {
        for topic in assessment.topic_policy().map(|p| p.topics()).unwrap_or_default() {
            if topic.action() == &GuardrailTopicPolicyAction::Blocked {
                add(&mut blocked, format!("bedrock.topic:{}", topic.name()));
            }
        }
        for filter in assessment.content_policy().map(|p| p.filters()).unwrap_or_default() {
            if filter.action() == &GuardrailContentPolicyAction::Blocked {
                add(&mut blocked, format!("bedrock.content:{}", filter.r#type().as_str()));
            }
        }
        if let Some(words) = assessment.word_policy() {
            let custom = words.custom_words().iter().map(|w| w.action());
            if custom
                .chain(words.managed_word_lists().iter().map(|w| w.action()))
                .any(|a| a == &GuardrailWordPolicyAction::Blocked)
            {
                add(&mut blocked, "bedrock.word".to_owned());
            }
        }
        if let Some(sensitive) = assessment.sensitive_information_policy() {
            let entities =
                sensitive.pii_entities().iter().map(|e| (format!("bedrock.pii:{}", e.r#type().as_str()), e.action()));
            let regexes = sensitive
                .regexes()
                .iter()
                .map(|r| (format!("bedrock.regex:{}", r.name().unwrap_or("unnamed")), r.action()));
            for (name, action) in entities.chain(regexes) {
                match action {
                    GuardrailSensitiveInformationPolicyAction::Anonymized => add(&mut masked, name),
                    GuardrailSensitiveInformationPolicyAction::Blocked => add(&mut blocked, name),
                    _ => {}
                }
            }
        }
    }
    (masked, blocked)
}
