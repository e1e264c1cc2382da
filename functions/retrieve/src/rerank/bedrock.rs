//! Bedrock's `Rerank` API as a [`Reranker`].

use async_trait::async_trait;
use aws_sdk_bedrockagentruntime::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_bedrockagentruntime::types::{
    BedrockRerankingConfiguration, BedrockRerankingModelConfiguration, RerankDocument, RerankDocumentType, RerankQuery,
    RerankQueryContentType, RerankSource, RerankSourceType, RerankTextDocument, RerankingConfiguration,
    RerankingConfigurationType,
};
use seams_contracts::ErrorName;
use seams_platform::ServiceError;

use super::{Relevance, Reranker};

/// Bedrock's `Rerank` (Agents for Amazon Bedrock runtime) with a foundation reranking model.
pub struct BedrockReranker {
    client: aws_sdk_bedrockagentruntime::Client,
    model_id: String,
    model_arn: String,
}

impl BedrockReranker {
    /// `model_id` is a foundation model id (`amazon.rerank-v1:0`) or a full model ARN.
    pub fn new(sdk: &aws_config::SdkConfig, model_id: &str) -> Self {
        let model_arn = if model_id.starts_with("arn:") {
            model_id.to_owned()
        } else {
            let region = sdk.region().map_or("us-east-1", |r| r.as_ref());
            format!("arn:aws:bedrock:{region}::foundation-model/{model_id}")
        };
        let config = aws_sdk_bedrockagentruntime::config::Builder::from(sdk)
            .interceptor(seams_platform::xray::Subsegments::from_env())
            .build();
        Self {
            client: aws_sdk_bedrockagentruntime::Client::from_conf(config),
            model_id: model_id.to_owned(),
            model_arn,
        }
    }

    fn request_parts(
        &self,
        query: &str,
        passages: &[&str],
        top_n: usize,
    ) -> Result<(RerankQuery, Vec<RerankSource>, RerankingConfiguration), aws_sdk_bedrockagentruntime::error::BuildError>
    {
        let text = |text: &str| RerankTextDocument::builder().text(text).build();
        let query = RerankQuery::builder().r#type(RerankQueryContentType::Text).text_query(text(query)).build()?;
        let sources = passages
            .iter()
            .map(|passage| {
                let document =
                    RerankDocument::builder().r#type(RerankDocumentType::Text).text_document(text(passage)).build()?;
                RerankSource::builder().r#type(RerankSourceType::Inline).inline_document_source(document).build()
            })
            .collect::<Result<Vec<_>, _>>()?;
        let model = BedrockRerankingModelConfiguration::builder().model_arn(&self.model_arn).build()?;
        let configuration = RerankingConfiguration::builder()
            .r#type(RerankingConfigurationType::BedrockRerankingModel)
            .bedrock_reranking_configuration(
                BedrockRerankingConfiguration::builder()
                    .model_configuration(model)
                    .number_of_results(i32::try_from(top_n).unwrap_or(i32::MAX))
                    .build(),
            )
            .build()?;
        Ok((query, sources, configuration))
    }
}

#[async_trait]
impl Reranker for BedrockReranker {
    fn model(&self) -> &str {
        &self.model_id
    }

    async fn rerank(&self, query: &str, passages: &[&str], top_n: usize) -> Result<Vec<Relevance>, ServiceError> {
        if passages.is_empty() {
            return Ok(Vec::new());
        }
        let (query, sources, configuration) = self
            .request_parts(query, passages, top_n.min(passages.len()))
            .map_err(|e| ServiceError::invalid_input("rerank", e.to_string()))?;
        let output = self
            .client
            .rerank()
            .queries(query)
            .set_sources(Some(sources))
            .reranking_configuration(configuration)
            .send()
            .await
            .map_err(|error| {
                let code = error.code().unwrap_or("unreachable").to_owned();
                // The code and message only: never an endpoint or request detail.
                let detail = format!("rerank with {}: {code}: {}", self.model_id, error.message().unwrap_or_default());
                tracing::warn!(error = %DisplayErrorContext(&error), "rerank failed");
                match code.as_str() {
                    "ThrottlingException" | "ServiceQuotaExceededException" => {
                        ServiceError::new(ErrorName::ModelThrottled, detail)
                    }
                    "ValidationException" => ServiceError::invalid_input("rerank", detail),
                    // 5xx, timeouts, and the deployment's own faults (access, a model not
                    // enabled): the caller can only retry later.
                    _ => ServiceError::transient(detail),
                }
            })?;
        let mut relevance: Vec<Relevance> = output
            .results
            .iter()
            .map(|result| Relevance {
                index: usize::try_from(result.index).unwrap_or(usize::MAX),
                score: f64::from(result.relevance_score),
            })
            .collect();
        // Best first, whatever order the service answers in.
        relevance.sort_by(|a, b| b.score.total_cmp(&a.score));
        Ok(relevance)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_ids_become_foundation_model_arns_in_the_sdks_region() {
        let sdk = aws_config::SdkConfig::builder().region(aws_config::Region::new("eu-central-1")).build();
        assert_eq!(
            BedrockReranker::new(&sdk, "cohere.rerank-v3-5:0").model_arn,
            "arn:aws:bedrock:eu-central-1::foundation-model/cohere.rerank-v3-5:0"
        );
        let arn = "arn:aws:bedrock:us-west-2::foundation-model/amazon.rerank-v1:0";
        assert_eq!(BedrockReranker::new(&sdk, arn).model_arn, arn);
    }
}
