use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{MessageAttributeValue, MessageSystemAttributeName};

use super::{check_size, OutgoingMessage, Queue, QueueError, ReceivedMessage};
use crate::aws::{error_chain, is_transient, HasStatus};

/// An SQS queue, by URL.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: aws_sdk_sqs::Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into() }
    }
}

fn map_error<E, R>(error: aws_sdk_sqs::error::SdkError<E, R>) -> QueueError
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: HasStatus + std::fmt::Debug + Send + Sync + 'static,
{
    if is_transient(&error) {
        QueueError::Transient(error_chain(&error))
    } else {
        QueueError::Refused(error_chain(&error))
    }
}

#[async_trait]
impl Queue for SqsQueue {
    fn address(&self) -> &str {
        &self.url
    }

    async fn send(&self, message: OutgoingMessage) -> Result<String, QueueError> {
        check_size(&message)?;
        let mut request = self.client.send_message().queue_url(&self.url).message_body(message.body);
        for (name, value) in message.attributes {
            let value = MessageAttributeValue::builder()
                .data_type("String")
                .string_value(value)
                .build()
                .map_err(|e| QueueError::Refused(e.to_string()))?;
            request = request.message_attributes(name, value);
        }
        let output = request.send().await.map_err(map_error)?;
        Ok(output.message_id.unwrap_or_default())
    }

    async fn receive(&self, max: u32, wait: Duration) -> Result<Vec<ReceivedMessage>, QueueError> {
        let output = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(max.clamp(1, 10) as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(map_error)?;
        let messages = output.messages.unwrap_or_default().into_iter().map(|message| {
            let receive_count = message
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|count| count.parse().ok())
                .unwrap_or(1);
            let attributes: BTreeMap<String, String> = message
                .message_attributes
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(name, value)| value.string_value.map(|v| (name, v)))
                .collect();
            ReceivedMessage {
                message_id: message.message_id.unwrap_or_default(),
                body: message.body.unwrap_or_default(),
                attributes,
                receipt_handle: message.receipt_handle.unwrap_or_default(),
                receive_count,
            }
        });
        Ok(messages.collect())
    }

    async fn delete(&self, receipt_handle: &str) -> Result<(), QueueError> {
        self.client
            .delete_message()
            .queue_url(&self.url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(map_error)?;
        Ok(())
    }
}
