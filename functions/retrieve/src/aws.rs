//! The Lambda functions' wiring: the index over S3 or PostgreSQL, Bedrock's reranker, the
//! records bucket. Behind the `aws` feature, which the local runner leaves out (decision 2).

use std::sync::Arc;

use seams_embeddings::{Embedder, Purpose};
use seams_platform::aws::SdkConfig;
use seams_platform::object_store::S3ObjectStore;
use seams_platform::ServiceError;

use crate::indexer::{self, Indexer};
use crate::manifest::LogPolicy;
use crate::postgres::PostgresIndex;
use crate::segments::SegmentedIndex;
use crate::{postgres_settings, rerank, Backend, Config, Role, SearchIndex, Service};

/// The query embedder and the index its vectors search, as one of the two binaries
/// builds them at init.
pub async fn open_configured(
    config: &Config,
    sdk: &SdkConfig,
    role: Role,
) -> Result<(Arc<dyn Embedder>, Arc<dyn SearchIndex>), ServiceError> {
    let embedder = config.embedder.build(sdk, Purpose::Queries)?;
    let index = open_index(config, sdk, embedder.model().clone(), role).await?;
    Ok((embedder, index))
}

/// Opens the configured index for `model`.
pub async fn open_index(
    config: &Config,
    sdk: &SdkConfig,
    model: seams_contracts::process::EmbeddingModel,
    role: Role,
) -> Result<Arc<dyn SearchIndex>, ServiceError> {
    Ok(match &config.backend {
        Backend::Sqlite { index_bucket } => {
            let store = Arc::new(S3ObjectStore::new(config.aws.s3(sdk), index_bucket));
            let settings = &config.settings;
            let policy = LogPolicy { inline_max_bytes: settings.index_inline_bytes, ..LogPolicy::DEFAULT };
            let index = SegmentedIndex::open(store, settings.index_dir.clone(), model, settings.index_refresh).await?;
            Arc::new(index.with_policy(policy))
        }
        Backend::Postgres { database, schema, ca_file, ef_search, ivfflat_probes_percent, hybrid_lists_at_once } => {
            let settings = postgres_settings(sdk, database, schema, ca_file.clone(), config.secret_ttl).await?;
            let index = PostgresIndex::new(settings, model)?
                .with_ef_search(*ef_search)
                .with_ivfflat_probes_percent(*ivfflat_probes_percent)
                .with_hybrid_lists_at_once(*hybrid_lists_at_once);
            if role == Role::Indexer {
                index.migrate().await?;
            }
            Arc::new(index)
        }
    })
}

impl Service {
    /// Builds the query service from configuration, as `main` does.
    pub async fn from_config(config: &Config, sdk: &SdkConfig) -> Result<Self, ServiceError> {
        let (embedder, index) = open_configured(config, sdk, Role::Query).await?;
        let settings = &config.settings;
        let service = Self::new(index, embedder, settings.fusion)
            .with_feedback(settings.feedback)
            .with_tenancy(settings.tenancy.clone());
        Ok(match &settings.rerank.model {
            Some(model) => {
                let reranker = Arc::new(rerank::BedrockReranker::new(sdk, model));
                service.with_reranker(reranker, settings.rerank.clone())
            }
            None => service,
        })
    }
}

impl Indexer {
    /// Builds the indexer from configuration, as `main` does: creates or migrates the index.
    pub async fn from_config(config: &indexer::Config, sdk: &SdkConfig) -> Result<Self, ServiceError> {
        let (_, index) = open_configured(&config.index, sdk, Role::Indexer).await?;
        let records = Arc::new(S3ObjectStore::new(config.index.aws.s3(sdk), &config.records_bucket));
        Ok(Self::new(index, records))
    }
}
