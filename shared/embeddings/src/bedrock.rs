//! Embedding models on Bedrock through InvokeModel: Amazon Titan Text Embeddings V2 (one
//! text per call, calls made concurrently) and Cohere Embed (up to 96 texts per call).
//! Throttling and service errors are retried with backoff.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use futures::stream::{self, StreamExt, TryStreamExt};
use seams_platform::retry::{Failure, RetryPolicy};
use serde::{Deserialize, Serialize};

use crate::config::is_cohere;
use crate::{EmbedError, Embedder, EmbeddingModel, Purpose};

/// Cohere's limit on texts per request.
const COHERE_MAX_TEXTS: usize = 96;

pub struct BedrockEmbedder {
    client: aws_sdk_bedrockruntime::Client,
    model: EmbeddingModel,
    normalize: bool,
    purpose: Purpose,
    concurrency: usize,
    retry: RetryPolicy,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TitanRequest<'a> {
    input_text: &'a str,
    dimensions: u32,
    normalize: bool,
}

#[derive(Deserialize)]
struct TitanResponse {
    embedding: Vec<f32>,
}

#[derive(Serialize)]
struct CohereRequest<'a> {
    texts: &'a [&'a str],
    input_type: &'static str,
    truncate: &'static str,
}

#[derive(Deserialize)]
struct CohereResponse {
    embeddings: Vec<Vec<f32>>,
}

impl BedrockEmbedder {
    /// The SDK's own retries are off: this embedder retries with its own policy, so one
    /// throttled call is not retried twelve times.
    pub fn new(
        sdk: &aws_config::SdkConfig,
        model_id: impl Into<String>,
        dims: u32,
        normalize: bool,
        purpose: Purpose,
    ) -> Self {
        let config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
            .interceptor(seams_platform::xray::Subsegments::from_env())
            .build();
        Self {
            client: aws_sdk_bedrockruntime::Client::from_conf(config),
            model: EmbeddingModel { model: model_id.into(), dims },
            normalize,
            purpose,
            concurrency: 4,
            retry: RetryPolicy { max_attempts: 4, ..RetryPolicy::default() },
        }
    }

    async fn invoke(&self, body: Vec<u8>) -> Result<Vec<u8>, Failure<EmbedError>> {
        let output = self
            .client
            .invoke_model()
            .model_id(&self.model.model)
            .content_type("application/json")
            .accept("application/json")
            .body(Blob::new(body))
            .send()
            .await
            .map_err(|error| {
                let code = error.code().unwrap_or("unknown").to_owned();
                let detail = format!("bedrock {}: {code}: {}", self.model.model, error.message().unwrap_or_default());
                let transient = matches!(
                    code.as_str(),
                    "ThrottlingException"
                        | "ServiceUnavailableException"
                        | "ModelTimeoutException"
                        | "InternalServerException"
                        | "ModelNotReadyException"
                        | "unknown"
                );
                if transient {
                    Failure::transient(EmbedError::Transient(detail))
                } else {
                    Failure::Permanent(EmbedError::Invalid(detail))
                }
            })?;
        Ok(output.body.into_inner())
    }

    async fn embed_titan(&self, text: &str) -> Result<Vec<f32>, Failure<EmbedError>> {
        let request = TitanRequest { input_text: text, dimensions: self.model.dims, normalize: self.normalize };
        let body = serde_json::to_vec(&request).map_err(|e| Failure::Permanent(EmbedError::Invalid(e.to_string())))?;
        let answer = self.invoke(body).await?;
        let parsed: TitanResponse = serde_json::from_slice(&answer)
            .map_err(|e| Failure::transient(EmbedError::Transient(format!("unreadable Titan answer: {e}"))))?;
        Ok(parsed.embedding)
    }

    async fn embed_cohere(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Failure<EmbedError>> {
        let input_type = match self.purpose {
            Purpose::Documents => "search_document",
            Purpose::Queries => "search_query",
        };
        let request = CohereRequest { texts, input_type, truncate: "END" };
        let body = serde_json::to_vec(&request).map_err(|e| Failure::Permanent(EmbedError::Invalid(e.to_string())))?;
        let answer = self.invoke(body).await?;
        let parsed: CohereResponse = serde_json::from_slice(&answer)
            .map_err(|e| Failure::transient(EmbedError::Transient(format!("unreadable Cohere answer: {e}"))))?;
        Ok(parsed.embeddings)
    }
}

#[async_trait]
impl Embedder for BedrockEmbedder {
    fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    fn max_batch(&self) -> usize {
        if is_cohere(&self.model.model) {
            COHERE_MAX_TEXTS
        } else {
            // Titan embeds one text per call; a "batch" is the calls one `embed` makes.
            16
        }
    }

    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        if is_cohere(&self.model.model) {
            return self.retry.run(None, |_| self.embed_cohere(texts)).await.map_err(|f| f.error);
        }
        // By index: a closure over `&str` trips async-trait's lifetime inference.
        stream::iter(0..texts.len())
            .map(|i| {
                let text = texts[i];
                async move { self.retry.run(None, |_| self.embed_titan(text)).await.map_err(|f| f.error) }
            })
            .buffered(self.concurrency)
            .try_collect()
            .await
    }
}
