//! Which embedder a function uses, from its environment: one reading shared by process
//! (documents) and retrieve (queries), so both build the same model.

use std::sync::Arc;
use std::time::Duration;

#[cfg(not(feature = "aws"))]
use seams_platform::aws::left_out;
use seams_platform::aws::SdkConfig;
use seams_platform::config::Env;

use crate::hashing::{HashingEmbedder, DEFAULT_DIMS};
use crate::local_model::LocalEmbedder;
use crate::openai::{OpenAiEmbedder, OpenAiSettings};
use crate::{EmbedError, Embedder, Purpose};

pub const PROVIDERS: [&str; 4] = ["hashing", "local", "bedrock", "openai"];
/// Bedrock's default embedding model.
pub const DEFAULT_MODEL_ID: &str = "amazon.titan-embed-text-v2:0";

/// Titan V2's documented sizes.
pub const TITAN_V2_DIMS: [u32; 3] = [256, 512, 1024];

/// Whether a model id is Cohere's, which embeds batches and needs to know the purpose.
pub fn is_cohere(model_id: &str) -> bool {
    model_id.starts_with("cohere.") || model_id.contains(".cohere.")
}

/// Where the local model's files are when `SEAMS_MODEL_DIR` is not set: a Lambda layer's.
pub const DEFAULT_MODEL_DIR: &str = "/opt/models/all-MiniLM-L6-v2";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmbedderConfig {
    Hashing {
        dims: u32,
    },
    /// A model run in process from `dir` ([`crate::local_model`]).
    Local {
        dir: std::path::PathBuf,
    },
    Bedrock {
        model_id: String,
        dims: u32,
        normalize: bool,
    },
    OpenAi(OpenAiSettings),
}

impl EmbedderConfig {
    /// Whether this embedder's vectors carry meaning. The hashing embedder's do not (they
    /// match words, as keyword search does, only worse), so hybrid search gives them no weight.
    pub fn carries_meaning(&self) -> bool {
        !matches!(self, EmbedderConfig::Hashing { .. })
    }

    /// `SEAMS_EMBEDDER` and the variables its provider needs; problems are recorded in `env`.
    pub fn from_env(env: &Env) -> Self {
        match env.choice("SEAMS_EMBEDDER", &PROVIDERS, "hashing").as_str() {
            "bedrock" => {
                let model_id = env.optional("SEAMS_EMBEDDING_MODEL").unwrap_or_else(|| DEFAULT_MODEL_ID.to_owned());
                let dims = env.parse_or("SEAMS_EMBEDDING_DIMS", 1024);
                if !is_cohere(&model_id) && !TITAN_V2_DIMS.contains(&dims) {
                    env.invalid("SEAMS_EMBEDDING_DIMS", &dims.to_string(), "Titan V2 makes 256, 512 or 1024".into());
                }
                EmbedderConfig::Bedrock { model_id, dims, normalize: env.flag("SEAMS_EMBEDDING_NORMALIZE", true) }
            }
            "openai" => EmbedderConfig::OpenAi(OpenAiSettings {
                base_url: env.required("SEAMS_OPENAI_BASE_URL"),
                api_key: env.optional("SEAMS_OPENAI_API_KEY"),
                model: env.required("SEAMS_EMBEDDING_MODEL"),
                dims: env.parse_required("SEAMS_EMBEDDING_DIMS"),
                request_dimensions: env.flag("SEAMS_EMBEDDING_REQUEST_DIMS", false),
                max_batch: env.parse_or("SEAMS_EMBEDDING_BATCH", 256),
                timeout: Duration::from_secs(env.parse_or("SEAMS_EMBEDDING_TIMEOUT_SECONDS", 30)),
            }),
            "local" => EmbedderConfig::Local {
                dir: env.optional("SEAMS_MODEL_DIR").unwrap_or_else(|| DEFAULT_MODEL_DIR.to_owned()).into(),
            },
            _ => EmbedderConfig::Hashing { dims: env.parse_or("SEAMS_EMBEDDING_DIMS", DEFAULT_DIMS) },
        }
    }

    /// Builds the embedder once, at init. Bedrock needs the function's AWS configuration.
    pub fn build(&self, sdk: &SdkConfig, purpose: Purpose) -> Result<Arc<dyn Embedder>, EmbedError> {
        Ok(match self {
            EmbedderConfig::Hashing { dims } => Arc::new(HashingEmbedder::new(*dims)),
            EmbedderConfig::Local { dir } => {
                Arc::new(LocalEmbedder::load(dir).map_err(|e| EmbedError::Invalid(e.to_string()))?)
            }
            #[cfg(feature = "aws")]
            EmbedderConfig::Bedrock { model_id, dims, normalize } => {
                Arc::new(crate::bedrock::BedrockEmbedder::new(sdk, model_id, *dims, *normalize, purpose))
            }
            #[cfg(not(feature = "aws"))]
            EmbedderConfig::Bedrock { .. } => {
                let _ = (sdk, purpose);
                return Err(EmbedError::Invalid(left_out("SEAMS_EMBEDDER=bedrock").detail));
            }
            EmbedderConfig::OpenAi(settings) => Arc::new(OpenAiEmbedder::new(settings.clone())?),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashing_is_the_default() {
        let env = Env::from_pairs::<&str, &str>([]);
        assert_eq!(EmbedderConfig::from_env(&env), EmbedderConfig::Hashing { dims: 384 });
        assert!(env.finish().is_ok());
    }

    #[test]
    fn openai_names_what_it_needs() {
        let env = Env::from_pairs([("SEAMS_EMBEDDER", "openai")]);
        EmbedderConfig::from_env(&env);
        let text = env.finish().unwrap_err().to_string();
        for name in ["SEAMS_OPENAI_BASE_URL", "SEAMS_EMBEDDING_MODEL", "SEAMS_EMBEDDING_DIMS"] {
            assert!(text.contains(name), "{name} missing: {text}");
        }
    }

    #[test]
    fn bedrock_defaults_to_titan_v2_and_checks_its_sizes() {
        let env = Env::from_pairs([("SEAMS_EMBEDDER", "bedrock")]);
        let config = EmbedderConfig::from_env(&env);
        assert!(env.finish().is_ok());
        let expected = EmbedderConfig::Bedrock { model_id: DEFAULT_MODEL_ID.into(), dims: 1024, normalize: true };
        assert_eq!(config, expected);
        let env = Env::from_pairs([("SEAMS_EMBEDDER", "bedrock"), ("SEAMS_EMBEDDING_DIMS", "384")]);
        EmbedderConfig::from_env(&env);
        assert!(env.finish().unwrap_err().to_string().contains("Titan V2 makes 256, 512 or 1024"));
    }
}
