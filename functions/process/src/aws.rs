//! The Lambda function's adapters: S3 and EventBridge. Behind the `aws` feature, which the
//! local runner leaves out (decision 2).

use std::sync::Arc;

use seams_embeddings::Embedder;
use seams_platform::event_bus::EventBridgeBus;
use seams_platform::object_store::S3ObjectStore;

use crate::{Config, Service};

impl Service {
    pub fn from_aws(config: &Config, sdk: &seams_platform::aws::SdkConfig, embedder: Arc<dyn Embedder>) -> Self {
        let s3 = config.aws.s3(sdk);
        Self::new(
            Arc::new(S3ObjectStore::new(s3.clone(), &config.raw_bucket)),
            Arc::new(S3ObjectStore::new(s3, &config.records_bucket)),
            Arc::new(EventBridgeBus::new(seams_platform::aws::eventbridge(sdk), &config.event_bus_name)),
            embedder,
            config.settings,
        )
    }
}
