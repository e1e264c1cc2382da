//! Amazon Titan Text Embeddings V2 through Bedrock's InvokeModel: one text per call, calls
//! within a batch made concurrently; throttling and service errors retried with backoff.

use async_trait::async_trait;
use aws_sdk_bedrockruntime::error::ProvideErrorMetadata;
use aws_sdk_bedrockruntime::primitives::Blob;
use futures::stream::{self, StreamExt, TryStreamExt};
use seams_platform::retry::{Failure, RetryPolicy};
use serde::{Deserialize, Serialize};

use crate::{EmbedError, Embedder, EmbeddingModel};

pub const DEFAULT_MODEL_ID: &str = "amazon.titan-embed-text-v2:0";

/// Titan V2's documented sizes.
pub const TITAN_V2_DIMS: [u32; 3] = [256, 512, 1024];

pub struct BedrockEmbedder {
    client: aws_sdk_bedrockruntime::Client,
    model: EmbeddingModel,
    normalize: bool,
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

impl BedrockEmbedder {
    /// The SDK's own retries are off: this embedder retries with its own policy, so one
    /// throttled call is not retried twelve times.
    pub fn new(sdk: &aws_config::SdkConfig, model_id: impl Into<String>, dims: u32, normalize: bool) -> Self {
        let config = aws_sdk_bedrockruntime::config::Builder::from(sdk)
            .retry_config(aws_sdk_bedrockruntime::config::retry::RetryConfig::disabled())
            .build();
        Self {
            client: aws_sdk_bedrockruntime::Client::from_conf(config),
            model: EmbeddingModel { model: model_id.into(), dims },
            normalize,
            concurrency: 4,
            retry: RetryPolicy { max_attempts: 4, ..RetryPolicy::default() },
        }
    }

    async fn embed_one(&self, text: &str) -> Result<Vec<f32>, Failure<EmbedError>> {
        let body = serde_json::to_vec(&TitanRequest {
            input_text: text,
            dimensions: self.model.dims,
            normalize: self.normalize,
        })
        .map_err(|e| Failure::Permanent(EmbedError::Invalid(e.to_string())))?;
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
        let parsed: TitanResponse = serde_json::from_slice(output.body.as_ref())
            .map_err(|e| Failure::transient(EmbedError::Transient(format!("unreadable Titan answer: {e}"))))?;
        Ok(parsed.embedding)
    }
}

#[async_trait]
impl Embedder for BedrockEmbedder {
    fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    fn max_batch(&self) -> usize {
        // Titan embeds one text per call; a "batch" is how many calls run at once per embed.
        16
    }

    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        // By index: a closure over `&str` trips async-trait's lifetime inference.
        stream::iter(0..texts.len())
            .map(|i| {
                let text = texts[i];
                async move { self.retry.run(None, |_| self.embed_one(text)).await.map_err(|f| f.error) }
            })
            .buffered(self.concurrency)
            .try_collect()
            .await
    }
}
