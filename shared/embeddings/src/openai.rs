//! Any OpenAI-compatible `/v1/embeddings` endpoint: OpenAI, Azure-style gateways, Ollama,
//! vLLM, Hugging Face TEI. One request per batch; throttling and server errors retried with
//! backoff, honouring `Retry-After`.

use std::time::Duration;

use async_trait::async_trait;
use seams_platform::retry::{Failure, Refusal, RetryPolicy};
use serde::{Deserialize, Serialize};

use crate::{EmbedError, Embedder, EmbeddingModel};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenAiSettings {
    /// Up to and including `/v1`, e.g. `https://api.openai.com/v1` or `http://localhost:11434/v1`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub model: String,
    /// The vector size the model returns (or is asked for, with `request_dimensions`).
    pub dims: u32,
    /// Send `dimensions` in the request (models that can shorten their vectors).
    pub request_dimensions: bool,
    pub max_batch: usize,
    pub timeout: Duration,
}

pub struct OpenAiEmbedder {
    client: reqwest::Client,
    settings: OpenAiSettings,
    model: EmbeddingModel,
    retry: RetryPolicy,
}

#[derive(Serialize)]
struct EmbeddingsRequest<'a> {
    model: &'a str,
    input: &'a [&'a str],
    encoding_format: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    dimensions: Option<u32>,
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingData>,
}

#[derive(Deserialize)]
struct EmbeddingData {
    index: usize,
    embedding: Vec<f32>,
}

impl OpenAiEmbedder {
    pub fn new(settings: OpenAiSettings) -> Result<Self, EmbedError> {
        let client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .build()
            .map_err(|e| EmbedError::Invalid(format!("cannot build the HTTP client: {e}")))?;
        let model = EmbeddingModel { model: settings.model.clone(), dims: settings.dims };
        Ok(Self { client, settings, model, retry: RetryPolicy { max_attempts: 4, ..RetryPolicy::default() } })
    }

    async fn attempt(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, Failure<EmbedError>> {
        let url = format!("{}/embeddings", self.settings.base_url.trim_end_matches('/'));
        let body = EmbeddingsRequest {
            model: &self.settings.model,
            input: texts,
            encoding_format: "float",
            dimensions: self.settings.request_dimensions.then_some(self.settings.dims),
        };
        let mut request = self.client.post(&url).json(&body);
        if let Some(key) = &self.settings.api_key {
            request = request.bearer_auth(key);
        }
        let response = seams_platform::xray::send(request)
            .await
            .map_err(|e| Failure::transient(EmbedError::Transient(format!("{url}: {e}"))))?;
        if !response.status().is_success() {
            let refusal = Refusal::read(response, 1024).await;
            let detail = format!("{url} answered {}: {}", refusal.status, refusal.body_start(300));
            let retry_after = refusal.retry_after;
            return Err(match refusal.status {
                408 | 429 | 500..=599 => Failure::Transient { error: EmbedError::Transient(detail), retry_after },
                _ => Failure::Permanent(EmbedError::Invalid(detail)),
            });
        }
        let parsed: EmbeddingsResponse = response
            .json()
            .await
            .map_err(|e| Failure::transient(EmbedError::Transient(format!("{url}: unreadable answer: {e}"))))?;
        let mut data = parsed.data;
        // The API may answer out of order; `index` says where each vector belongs.
        data.sort_by_key(|d| d.index);
        Ok(data.into_iter().map(|d| d.embedding).collect())
    }
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model(&self) -> &EmbeddingModel {
        &self.model
    }

    fn max_batch(&self) -> usize {
        self.settings.max_batch
    }

    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, EmbedError> {
        self.retry.run(None, |_| self.attempt(texts)).await.map_err(|failed| failed.error)
    }
}
