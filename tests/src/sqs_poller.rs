//! Lambda's SQS event source mapping for tests: [`seams_platform::queue::poller`], failing
//! the test if the queue does not answer.

use std::future::Future;

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use seams_platform::queue::Queue;

/// Every message visible on `queue` now, handed to `handler`; the ids it reported as failed.
pub async fn deliver<F, Fut>(queue: &dyn Queue, handler: F) -> Vec<String>
where
    F: Fn(SqsEvent) -> Fut,
    Fut: Future<Output = SqsBatchResponse>,
{
    seams_platform::queue::poller::deliver(queue, handler).await.expect("the queue answers")
}
