//! Reranking: a cross-encoder reads the query beside each of the search's first candidates
//! and scores them together, which ranks better than comparing two separately made
//! vectors. Bedrock's `Rerank` API (`amazon.rerank-v1:0`, `cohere.rerank-v3-5:0`) is the
//! reranker deployed; [`reorder`], the pure part, is tested without it.

use async_trait::async_trait;
use aws_sdk_bedrockagentruntime::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_bedrockagentruntime::types::{
    BedrockRerankingConfiguration, BedrockRerankingModelConfiguration, RerankDocument, RerankDocumentType, RerankQuery,
    RerankQueryContentType, RerankSource, RerankSourceType, RerankTextDocument, RerankingConfiguration,
    RerankingConfigurationType,
};
use seams_contracts::ErrorName;
use seams_platform::ServiceError;

use crate::index::Hit;

pub const DEFAULT_MODEL: &str = "amazon.rerank-v1:0";

/// Candidates sent to the reranker when the caller asks for fewer: the reranker can only
/// promote what the search found.
pub const DEFAULT_CANDIDATES: usize = 50;

/// Bedrock's limit on the documents of one `Rerank` request.
pub const MAX_CANDIDATES: usize = 1000;

/// When and with what retrieve reranks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RerankSettings {
    /// The reranking model (`SEAMS_RERANK_MODEL`); without one, a request to rerank is refused.
    pub model: Option<String>,
    /// Whether requests that do not say are reranked (`SEAMS_RERANK`).
    pub by_default: bool,
    /// How many of the search's first results the model reads (`SEAMS_RERANK_CANDIDATES`).
    pub candidates: usize,
}

impl Default for RerankSettings {
    fn default() -> Self {
        Self { model: None, by_default: false, candidates: DEFAULT_CANDIDATES }
    }
}

/// A passage's relevance to the query, by its position in what was sent.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Relevance {
    pub index: usize,
    pub score: f64,
}

/// One reranking model.
#[async_trait]
pub trait Reranker: Send + Sync {
    /// The model id results name as `rerank_model`.
    fn model(&self) -> &str;

    /// The `top_n` passages most relevant to `query`, best first.
    async fn rerank(&self, query: &str, passages: &[&str], top_n: usize) -> Result<Vec<Relevance>, ServiceError>;
}

/// `hits` in the reranker's order, each with its relevance, cut to `top_k`. A relevance
/// naming a passage that was not sent, or one named twice, is a reranker fault.
pub fn reorder(hits: Vec<Hit>, relevance: &[Relevance], top_k: usize) -> Result<Vec<(Hit, f64)>, ServiceError> {
    let mut slots: Vec<Option<Hit>> = hits.into_iter().map(Some).collect();
    let mut reordered = Vec::with_capacity(relevance.len().min(top_k));
    for scored in relevance.iter().take(top_k) {
        let hit = slots.get_mut(scored.index).and_then(Option::take).ok_or_else(|| {
            ServiceError::transient(format!("the reranker returned passage {} twice or out of range", scored.index))
        })?;
        reordered.push((hit, scored.score));
    }
    Ok(reordered)
}

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
    use crate::index::IndexedChunk;
    use seams_contracts::retrieve::{Citation, Ranks};

    fn hits(ids: &[&str]) -> Vec<Hit> {
        let hit = |id: &&str| Hit {
            document_id: format!("doc-{id}"),
            version: 1,
            chunk: IndexedChunk {
                chunk_id: (*id).to_owned(),
                ordinal: 0,
                text: format!("passage {id}"),
                citation: Citation { source_uri: None, title: None, heading_path: Vec::new(), page: None },
                metadata: serde_json::Map::new(),
                embedding: Vec::new(),
                parent: None,
            },
            score: 1.0,
            ranks: Ranks::default(),
        };
        ids.iter().map(hit).collect()
    }

    fn ids(reordered: &[(Hit, f64)]) -> Vec<String> {
        reordered.iter().map(|(hit, _)| hit.chunk.chunk_id.clone()).collect()
    }

    #[test]
    fn results_follow_the_rerankers_order_and_carry_its_scores() {
        let relevance = [Relevance { index: 2, score: 0.9 }, Relevance { index: 0, score: 0.4 }];
        let reordered = reorder(hits(&["a", "b", "c"]), &relevance, 5).unwrap();
        assert_eq!(ids(&reordered), ["c", "a"]);
        assert_eq!(reordered[0].1, 0.9);
        assert_eq!(reordered[0].0.score, 1.0, "the search's own score is kept");
    }

    #[test]
    fn results_are_cut_to_top_k() {
        let relevance = [Relevance { index: 1, score: 0.9 }, Relevance { index: 0, score: 0.4 }];
        assert_eq!(ids(&reorder(hits(&["a", "b"]), &relevance, 1).unwrap()), ["b"]);
    }

    #[test]
    fn a_passage_named_twice_or_out_of_range_is_refused() {
        let twice = [Relevance { index: 0, score: 0.9 }, Relevance { index: 0, score: 0.4 }];
        assert_eq!(reorder(hits(&["a", "b"]), &twice, 5).unwrap_err().name, ErrorName::Transient);
        let outside = [Relevance { index: 7, score: 0.9 }];
        assert!(reorder(hits(&["a"]), &outside, 5).is_err());
    }

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
