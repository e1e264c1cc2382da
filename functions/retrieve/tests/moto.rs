//! retrieve against moto: the embedded index's segments in S3 (conditional writes, pickup
//! by query functions), the indexer fed by an EventBridge rule through SQS with a DLQ, and
//! the PostgreSQL connection read from a Secrets Manager secret.

use crate::support;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use retrieve::indexer::Indexer;
use retrieve::segments::SegmentedIndex;
use retrieve::{DatabaseSource, Fusion, SearchIndex, Service};
use seams_contracts::events::BusEvent;
use seams_contracts::ingest::DocumentDeleted;
use seams_contracts::process::{to_json_lines, ChunkRecord, DocumentProcessed, EmbeddingModel, RecordHeader};
use seams_contracts::retrieve::{RetrieveRequest, SearchMode};
use seams_contracts::{AttributeValue, Attributes, CorrelationId, ObjectRef, V1};
use seams_platform::event_bus::{EventBridgeBus, EventBus, OutgoingEvent};
use seams_platform::object_store::{ObjectStore, PutOptions, S3ObjectStore};
use seams_platform::queue::{Queue, SqsQueue};
use seams_tests::stack::Moto;
use seams_tests::{drain, sqs_poller, unique};
use serde_json::json;
use support::{at, document, ids, query};

async fn segmented(moto: &Moto, bucket: &str, refresh: Duration) -> SegmentedIndex {
    let store = Arc::new(S3ObjectStore::new(moto.s3(), bucket));
    // Under target/tmp, which `cargo clean` empties: the index outlives this function.
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(unique("segments"));
    SegmentedIndex::open(store, dir, support::model(), refresh).await.unwrap()
}

async fn write_six(index: &SegmentedIndex, prefix: &str) {
    for i in 0..6 {
        let doc = document(&format!("{prefix}{i}"), 1, at(0), &[&format!("shared memo {prefix} {i}")], json!({}));
        index.upsert(&doc).await.unwrap();
    }
}

#[tokio::test]
async fn concurrent_indexers_cannot_lose_an_update() {
    let moto = Moto::connect().await;
    let bucket = moto.create_bucket().await;
    let (a, b) = (segmented(&moto, &bucket, Duration::ZERO).await, segmented(&moto, &bucket, Duration::ZERO).await);
    tokio::join!(write_six(&a, "a"), write_six(&b, "b"));
    let reader = segmented(&moto, &bucket, Duration::ZERO).await;
    let mut found = ids(&reader, &query("shared memo", SearchMode::Keyword, 50, None)).await;
    found.sort();
    let expected: Vec<String> = ["a", "b"].iter().flat_map(|p| (0..6).map(move |i| format!("{p}{i}"))).collect();
    assert_eq!(found, expected);
}

#[tokio::test]
async fn a_query_function_picks_up_new_writes_after_its_refresh_interval() {
    let moto = Moto::connect().await;
    let bucket = moto.create_bucket().await;
    let eager = segmented(&moto, &bucket, Duration::ZERO).await;
    let lazy = segmented(&moto, &bucket, Duration::from_secs(3600)).await;
    let writer = segmented(&moto, &bucket, Duration::ZERO).await;
    writer.upsert(&document("news", 1, at(0), &["the canteen opens at noon"], json!({}))).await.unwrap();
    let canteen = query("canteen", SearchMode::Keyword, 5, None);
    assert_eq!(ids(&eager, &canteen).await, ["news"]);
    // Within its interval a query function does not even look: its loaded copy answers.
    assert!(ids(&lazy, &canteen).await.is_empty());
}

struct Pipeline {
    moto: Moto,
    records: Arc<dyn ObjectStore>,
    bus: EventBridgeBus,
    queue: Arc<dyn Queue>,
    dead_letter: Arc<dyn Queue>,
    index: Arc<dyn SearchIndex>,
    indexer: Indexer,
}

/// The deployed shape: the seams bus, a rule on `DocumentProcessed`/`DocumentDeleted` to the
/// indexer queue (redrive after 2 receives), process's bucket and retrieve's index bucket.
async fn pipeline() -> Pipeline {
    let moto = Moto::connect().await;
    let records: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(moto.s3(), moto.create_bucket().await));
    let (dlq_url, dlq_arn) = moto.create_queue(1, None).await;
    let (queue_url, queue_arn) = moto.create_queue(1, Some((&dlq_arn, 2))).await;
    let pattern = seams_platform::routes::indexer_rule();
    let bus_name = moto.create_bus_with_rule(&pattern, &queue_arn).await;
    let index: Arc<dyn SearchIndex> = Arc::new(segmented(&moto, &moto.create_bucket().await, Duration::ZERO).await);
    Pipeline {
        records: records.clone(),
        bus: EventBridgeBus::new(moto.eventbridge(), bus_name),
        queue: Arc::new(SqsQueue::new(moto.sqs(), queue_url)),
        dead_letter: Arc::new(SqsQueue::new(moto.sqs(), dlq_url)),
        indexer: Indexer::new(index.clone(), records),
        index,
        moto,
    }
}

impl Pipeline {
    /// Writes a processed record as process would, and returns its event.
    async fn processed(&self, document_id: &str, texts: &[&str], embedding: EmbeddingModel) -> DocumentProcessed {
        let chunks: Vec<ChunkRecord> = texts
            .iter()
            .enumerate()
            .map(|(i, text)| ChunkRecord {
                chunk_id: format!("{document_id}:1:{i}"),
                ordinal: i as u32,
                text: (*text).into(),
                heading_path: vec!["Policies".into()],
                page: None,
                char_start: 0,
                char_end: text.len() as u64,
                token_count: 10,
                parent: None,
                embedding: if embedding.dims == 384 {
                    support::vector(text)
                } else {
                    vec![0.5; embedding.dims as usize]
                },
            })
            .collect();
        let attributes = Attributes::from([("category".to_owned(), AttributeValue::String("policy".into()))]);
        let header = RecordHeader {
            schema_version: V1,
            document_id: document_id.into(),
            version: 1,
            fingerprint: format!("sha256:{document_id}"),
            content_type: "text/markdown".into(),
            source_uri: Some(format!("s3://upstream/{document_id}.md")),
            title: Some("Refunds".into()),
            language: Some("en".into()),
            char_count: 100,
            token_count: 20,
            chunk_count: chunks.len() as u32,
            embedding: embedding.clone(),
            attributes,
            ingested_at: Utc::now(),
            processed_at: Utc::now(),
        };
        let key = format!("records/{document_id}/0000000001.jsonl");
        let body = Bytes::from(to_json_lines(&header, &chunks).unwrap());
        self.records.put(&key, body, PutOptions::default()).await.unwrap();
        DocumentProcessed {
            schema_version: V1,
            correlation_id: CorrelationId::new(format!("corr-{document_id}")),
            document_id: document_id.into(),
            version: 1,
            fingerprint: header.fingerprint,
            record: ObjectRef { bucket: self.records.location().into(), key },
            chunk_count: header.chunk_count,
            token_count: 20,
            embedding,
        }
    }

    async fn publish<E: BusEvent>(&self, event: &E) {
        self.bus.publish(vec![OutgoingEvent::from_detail(event).unwrap()]).await.unwrap();
    }

    async fn deliver(&self) -> Vec<String> {
        sqs_poller::deliver(self.queue.as_ref(), |event| self.indexer.handle_batch(event)).await
    }

    fn service(&self) -> Service {
        Service::new(self.index.clone(), Arc::new(support::embedder()), Fusion::default())
    }
}

#[tokio::test]
async fn a_processed_document_on_the_bus_becomes_searchable_and_its_deletion_removes_it() {
    let p = pipeline().await;
    let event = p
        .processed(
            "refunds",
            &["Refunds for digital products within 14 days.", "Physical goods: 30 days."],
            support::model(),
        )
        .await;
    p.publish(&event).await;
    assert!(p.deliver().await.is_empty());

    let request: RetrieveRequest = serde_json::from_value(json!({
        "query": "What is our refund policy for digital products?", "top_k": 5,
        "filters": {"category": "policy"}, "search_mode": "hybrid"}))
    .unwrap();
    let response = p.service().retrieve(&request).await.unwrap();
    assert_eq!(response.results.len(), 2);
    let best = &response.results[0];
    assert_eq!((best.document_id.as_str(), best.chunk_id.as_str()), ("refunds", "refunds:1:0"));
    assert_eq!(best.citation.source_uri.as_deref(), Some("s3://upstream/refunds.md"));
    assert_eq!(best.metadata.get("category"), Some(&AttributeValue::String("policy".into())));
    assert!(best.embedding.is_none());
    assert_eq!(response.embedding_model, "seams-hashing-v1-384");

    let deleted = DocumentDeleted {
        schema_version: V1,
        correlation_id: None,
        document_id: "refunds".into(),
        deleted_at: Some(Utc::now()),
        tenant: None,
    };
    p.publish(&deleted).await;
    assert!(p.deliver().await.is_empty());
    assert!(p.service().retrieve(&request).await.unwrap().results.is_empty());
    let _ = &p.moto;
}

#[tokio::test]
async fn a_record_of_another_embedding_model_ends_in_the_dead_letter_queue() {
    let p = pipeline().await;
    let titan = EmbeddingModel { model: "amazon.titan-embed-text-v2:0".into(), dims: 1024 };
    let alien = p.processed("alien", &["vectors of another model"], titan).await;
    let good = p.processed("good", &["vectors of this model"], support::model()).await;
    p.publish(&alien).await;
    p.publish(&good).await;
    assert_eq!(p.deliver().await.len(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(p.deliver().await.len(), 1);
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert!(p.deliver().await.is_empty());
    let dead = drain(p.dead_letter.as_ref(), Duration::from_millis(1500)).await;
    assert_eq!(dead.len(), 1);
    assert!(dead[0].body.contains("\"alien\""), "{}", dead[0].body);
    assert_eq!(ids(p.index.as_ref(), &query("vectors model", SearchMode::Keyword, 5, None)).await, ["good"]);
}

#[tokio::test]
async fn the_database_connection_can_come_from_a_secrets_manager_secret() {
    let moto = Moto::connect().await;
    let url: tokio_postgres::Config = seams_tests::stack::database_url().parse().unwrap();
    let host = match &url.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("expected a TCP host, got {other:?}"),
    };
    let secret = json!({"engine": "postgres", "host": host, "port": url.get_ports()[0],
        "username": url.get_user().unwrap(), "password": "", "dbname": url.get_dbname().unwrap()});
    let arn = aws_sdk_secretsmanager::Client::new(&moto.sdk)
        .create_secret()
        .name(unique("seams-db"))
        .secret_string(secret.to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let schema = unique("from_secret").replace('-', "_").to_lowercase();
    let settings =
        retrieve::postgres_settings(&moto.sdk, &DatabaseSource::Secret(arn), &schema, None, Duration::from_secs(300))
            .await
            .unwrap();
    let index = retrieve::postgres::PostgresIndex::new(settings, support::model()).unwrap();
    index.migrate().await.unwrap();
    index.upsert(&document("via-secret", 1, at(0), &["reached through a secret"], json!({}))).await.unwrap();
    assert_eq!(ids(&index, &query("secret", SearchMode::Keyword, 5, None)).await, ["via-secret"]);
}

/// A rotated database secret applies when a connection is next opened, without a cold start:
/// the secret moves from one role to another, the first role's connection is closed by the
/// server, and the index reconnects as the second role.
#[tokio::test]
async fn a_rotated_database_secret_applies_when_the_connection_is_reopened() {
    let moto = Moto::connect().await;
    let url: tokio_postgres::Config = seams_tests::stack::database_url().parse().unwrap();
    let (admin, connection) = url.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let tag = unique("rot").replace('-', "_").to_lowercase();
    let (before, after) = (format!("{tag}_before"), format!("{tag}_after"));
    for role in [&before, &after] {
        admin.batch_execute(&format!("CREATE ROLE {role} LOGIN SUPERUSER")).await.unwrap();
    }
    let host = match &url.get_hosts()[0] {
        tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("expected a TCP host, got {other:?}"),
    };
    let secret_for = |role: &str| {
        json!({"engine": "postgres", "host": host, "port": url.get_ports()[0], "username": role,
            "password": "", "dbname": url.get_dbname().unwrap()})
        .to_string()
    };
    let secrets = aws_sdk_secretsmanager::Client::new(&moto.sdk);
    let arn = secrets
        .create_secret()
        .name(unique("seams-db"))
        .secret_string(secret_for(&before))
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();
    let schema = format!("{tag}_index");
    let settings =
        retrieve::postgres_settings(&moto.sdk, &DatabaseSource::Secret(arn.clone()), &schema, None, Duration::ZERO)
            .await
            .unwrap();
    let index = retrieve::postgres::PostgresIndex::new(settings, support::model()).unwrap();
    index.migrate().await.unwrap();
    index.upsert(&document("rotated", 1, at(0), &["reached after a rotation"], json!({}))).await.unwrap();
    let sessions = |role: String| {
        let admin = &admin;
        async move {
            let sql = "SELECT count(*) FROM pg_stat_activity WHERE usename = $1";
            admin.query_one(sql, &[&role]).await.unwrap().get::<_, i64>(0)
        }
    };
    assert_eq!((sessions(before.clone()).await, sessions(after.clone()).await), (1, 0));

    secrets.put_secret_value().secret_id(&arn).secret_string(secret_for(&after)).send().await.unwrap();
    let sql = "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1";
    admin.execute(sql, &[&before]).await.unwrap();
    // The first search may meet the closed connection (a transient error); the next reopens it.
    let mut found = Vec::new();
    for _ in 0..20 {
        match index.search(&query("rotation", SearchMode::Keyword, 5, None)).await {
            Ok(hits) => {
                found = hits.into_iter().map(|hit| hit.document_id).collect();
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    assert_eq!(found, ["rotated"]);
    assert_eq!((sessions(before).await, sessions(after).await), (0, 1));
}
