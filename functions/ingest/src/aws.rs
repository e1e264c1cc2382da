//! The Lambda function's adapters: S3, SQS and EventBridge. Behind the `aws` feature, which
//! the local runner leaves out (decision 2).

use std::sync::Arc;

use seams_platform::event_bus::EventBridgeBus;
use seams_platform::object_store::{ObjectStore, S3ObjectStore};
use seams_platform::queue::SqsQueue;

use crate::{Config, Service};

impl Service {
    pub fn from_aws(config: &Config, sdk: &seams_platform::aws::SdkConfig) -> Self {
        let s3 = config.aws.s3(sdk);
        let sources = config
            .source_buckets
            .iter()
            .map(|bucket| (bucket.clone(), Arc::new(S3ObjectStore::new(s3.clone(), bucket)) as Arc<dyn ObjectStore>))
            .collect();
        Self::new(
            Arc::new(S3ObjectStore::new(s3, &config.raw_bucket)),
            Arc::new(SqsQueue::new(seams_platform::aws::sqs(sdk), &config.process_queue_url)),
            Arc::new(EventBridgeBus::new(seams_platform::aws::eventbridge(sdk), &config.event_bus_name)),
            sources,
            config.settings.clone(),
        )
    }
}
