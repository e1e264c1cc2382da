//! The conformance suites, run against each adapter: AWS ones through moto, local ones in
//! process. One test per behaviour and backend, so a failure names both.

use std::sync::Arc;

use seams_platform::event_bus::{EventBridgeBus, EventBus, LocalEventBus};
use seams_platform::object_store::{FsObjectStore, ObjectStore, S3ObjectStore};
use seams_platform::queue::{LocalQueue, Queue, SqsQueue};
use seams_tests::stack::Moto;
use seams_tests::{event_bus_suite, object_store_suite, queue_suite, Fixture};

async fn s3_store() -> Fixture<dyn ObjectStore> {
    let moto = Moto::connect().await;
    let bucket = moto.create_bucket().await;
    Fixture::new(Arc::new(S3ObjectStore::new(moto.s3(), bucket)))
}

async fn fs_store() -> Fixture<dyn ObjectStore> {
    let dir = tempfile::tempdir().unwrap();
    Fixture::with_dir(Arc::new(FsObjectStore::new(dir.path())), dir)
}

macro_rules! object_store_conformance {
    ($($case:ident),* $(,)?) => {
        mod s3_object_store { $( #[tokio::test] async fn $case() { super::object_store_suite::$case(super::s3_store().await.it).await } )* }
        mod fs_object_store { $( #[tokio::test] async fn $case() { super::object_store_suite::$case(super::fs_store().await.it).await } )* }
    };
}

object_store_conformance!(
    put_then_get_returns_the_same_bytes,
    put_if_absent_twice_reports_already_exists,
    concurrent_put_if_absent_has_exactly_one_winner,
    if_match_with_a_stale_etag_is_refused,
    missing_objects_are_not_found,
    list_returns_keys_under_a_prefix_in_order,
    delete_removes_the_object,
    keys_that_could_escape_are_refused,
    idempotency_returns_the_first_result_to_repeats,
    idempotency_admits_one_of_twenty_concurrent_claims,
    idempotency_waits_for_a_claim_in_progress_to_complete,
    idempotency_gives_up_waiting_as_in_progress,
    idempotency_lets_an_expired_claim_be_taken_over,
    idempotency_release_frees_the_key,
    idempotency_releases_the_claims_left_in_progress_and_keeps_the_results,
);

/// A queue redriving to a DLQ, and the DLQ.
struct Queues {
    queue: Arc<dyn Queue>,
    dead_letter: Arc<dyn Queue>,
}

async fn sqs_queues() -> Queues {
    let moto = Moto::connect().await;
    let visibility = queue_suite::VISIBILITY.as_secs() as u32;
    let (dlq_url, dlq_arn) = moto.create_queue(visibility, None).await;
    let (url, _) = moto.create_queue(visibility, Some((&dlq_arn, queue_suite::MAX_RECEIVE_COUNT))).await;
    Queues {
        queue: Arc::new(SqsQueue::new(moto.sqs(), url)),
        dead_letter: Arc::new(SqsQueue::new(moto.sqs(), dlq_url)),
    }
}

async fn local_queues() -> Queues {
    let dead_letter = Arc::new(LocalQueue::new("dlq", queue_suite::VISIBILITY));
    let queue = LocalQueue::new("queue", queue_suite::VISIBILITY)
        .with_dead_letter(dead_letter.clone(), queue_suite::MAX_RECEIVE_COUNT);
    Queues { queue: Arc::new(queue), dead_letter }
}

macro_rules! queue_conformance {
    ($($case:ident),* $(,)?) => {
        mod sqs_queue {
            $( #[tokio::test] async fn $case() { super::queue_suite::$case(super::sqs_queues().await.queue).await } )*
            #[tokio::test]
            async fn a_message_moves_to_the_dlq_after_max_receive_count() {
                let queues = super::sqs_queues().await;
                super::queue_suite::a_message_moves_to_the_dlq_after_max_receive_count(queues.queue, queues.dead_letter).await
            }
        }
        mod local_queue {
            $( #[tokio::test] async fn $case() { super::queue_suite::$case(super::local_queues().await.queue).await } )*
            #[tokio::test]
            async fn a_message_moves_to_the_dlq_after_max_receive_count() {
                let queues = super::local_queues().await;
                super::queue_suite::a_message_moves_to_the_dlq_after_max_receive_count(queues.queue, queues.dead_letter).await
            }
        }
    };
}

queue_conformance!(
    a_sent_message_is_received_with_its_attributes,
    a_deleted_message_does_not_come_back,
    an_undeleted_message_returns_after_the_visibility_timeout,
    an_oversized_message_is_refused_before_sending,
);

/// A bus with one rule (the indexer's pattern) targeting a queue.
struct BusWithRule {
    bus: Arc<dyn EventBus>,
    target: Arc<dyn Queue>,
}

async fn eventbridge_bus() -> BusWithRule {
    let moto = Moto::connect().await;
    let (queue_url, queue_arn) = moto.create_queue(30, None).await;
    let bus_name = moto.create_bus_with_rule(&event_bus_suite::indexer_pattern(), &queue_arn).await;
    BusWithRule {
        bus: Arc::new(EventBridgeBus::new(moto.eventbridge(), bus_name)),
        target: Arc::new(SqsQueue::new(moto.sqs(), queue_url)),
    }
}

async fn local_bus() -> BusWithRule {
    let bus = LocalEventBus::new();
    let target: Arc<dyn Queue> = Arc::new(LocalQueue::new("indexer", std::time::Duration::from_secs(30)));
    bus.add_rule(event_bus_suite::indexer_pattern(), target.clone());
    BusWithRule { bus: Arc::new(bus), target }
}

macro_rules! event_bus_conformance {
    ($($case:ident),* $(,)?) => {
        mod eventbridge_bus { $( #[tokio::test] async fn $case() { let b = super::eventbridge_bus().await; super::event_bus_suite::$case(b.bus, b.target).await } )* }
        mod local_event_bus { $( #[tokio::test] async fn $case() { let b = super::local_bus().await; super::event_bus_suite::$case(b.bus, b.target).await } )* }
    };
}

event_bus_conformance!(
    a_matching_event_reaches_the_rule_target_in_the_eventbridge_envelope,
    a_non_matching_event_is_not_delivered,
    more_than_ten_events_are_all_published,
);
