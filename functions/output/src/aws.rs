//! Output on AWS: SES for mail, EventBridge buses, and the clients the Lambda function is built
//! from. Behind the `aws` feature, which the local runner leaves out (it mails to files and
//! has one bus), so its first build does not compile the SDK.

use std::sync::Arc;

use async_trait::async_trait;
use seams_platform::event_bus::{EventBridgeBus, EventBus};
use seams_platform::object_store::S3ObjectStore;
use seams_platform::queue::SqsQueue;
use seams_platform::retry::Failure;
use seams_platform::secrets::SecretCache;
use seams_platform::xray::Subsegments;
use seams_platform::ServiceError;

use crate::channels::{Buses, Mail, Mailer};
use crate::{Channels, Config, Service};

impl Service {
    pub fn from_aws(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, ServiceError> {
        let channels = Channels {
            secrets: Arc::new(SecretCache::secrets_manager(sdk, config.secret_ttl)),
            mailer: Arc::new(SesMailer::new(sdk)),
            buses: Arc::new(EventBridgeBuses { client: seams_platform::aws::eventbridge(sdk) }),
        };
        Self::new(
            Arc::new(S3ObjectStore::new(config.aws.s3(sdk), &config.output_bucket)),
            Arc::new(SqsQueue::new(seams_platform::aws::sqs(sdk), &config.dead_letter_queue_url)),
            Arc::new(EventBridgeBus::new(seams_platform::aws::eventbridge(sdk), &config.event_bus_name)),
            channels,
            config.settings.clone(),
        )
    }
}

/// EventBridge buses by name: the destination names the bus.
pub struct EventBridgeBuses {
    pub client: aws_sdk_eventbridge::Client,
}

impl Buses for EventBridgeBuses {
    fn bus(&self, name: &str) -> Arc<dyn EventBus> {
        Arc::new(EventBridgeBus::new(self.client.clone(), name))
    }
}

/// Amazon SES v2.
pub struct SesMailer {
    client: aws_sdk_sesv2::Client,
}

impl SesMailer {
    pub fn new(sdk: &aws_config::SdkConfig) -> Self {
        let config = aws_sdk_sesv2::config::Builder::from(sdk).interceptor(Subsegments::from_env()).build();
        Self { client: aws_sdk_sesv2::Client::from_conf(config) }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send(&self, mail: &Mail) -> Result<String, Failure<ServiceError>> {
        use aws_sdk_sesv2::error::ProvideErrorMetadata;
        use aws_sdk_sesv2::types::{Body, Content, Destination, EmailContent, Message};
        let content = |text: &str| Content::builder().data(text).charset("UTF-8").build();
        let built = (|| {
            let message = Message::builder()
                .subject(content(&mail.subject)?)
                .body(Body::builder().text(content(&mail.text)?).html(content(&mail.html)?).build())
                .build();
            Ok::<_, aws_sdk_sesv2::error::BuildError>(message)
        })()
        .map_err(|e| Failure::Permanent(ServiceError::invalid_input("destination", e.to_string())))?;
        let destination = Destination::builder()
            .set_to_addresses(Some(mail.to.clone()))
            .set_cc_addresses(Some(mail.cc.clone()))
            .build();
        let sent = self
            .client
            .send_email()
            .from_email_address(&mail.from)
            .destination(destination)
            .content(EmailContent::builder().simple(built).build())
            .send()
            .await;
        match sent {
            Ok(answer) => Ok(answer.message_id().unwrap_or_default().to_owned()),
            Err(error) => {
                let code = error.code().unwrap_or_default().to_owned();
                let detail = format!("ses: {}", aws_sdk_sesv2::error::DisplayErrorContext(&error));
                let failure = ServiceError::new(seams_contracts::ErrorName::DeliveryFailed, detail);
                // Throttling and service trouble pass; a refused message does not.
                match code.as_str() {
                    "TooManyRequestsException"
                    | "LimitExceededException"
                    | "InternalFailure"
                    | "ServiceUnavailable"
                    | "" => Err(Failure::transient(failure)),
                    _ => Err(Failure::Permanent(failure)),
                }
            }
        }
    }
}
