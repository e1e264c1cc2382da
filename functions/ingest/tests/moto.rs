//! ingest end to end against moto: S3 for its bucket, SQS for the processing queue, and
//! EventBridge with a rule delivering `seams.ingest` events to an SQS queue.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use ingest::{Service, Settings};
use seams_contracts::ingest::{DocumentDeleted, DocumentIngested, DocumentStatus, IngestResponse, ProcessDocument};
use seams_contracts::CorrelationId;
use seams_platform::event_bus::{EventBridgeBus, EventPattern};
use seams_platform::function;
use seams_platform::object_store::{ObjectStore, S3ObjectStore};
use seams_platform::queue::{Queue, ReceivedMessage, SqsQueue};
use seams_tests::stack::Moto;
use seams_tests::{drain, sample_event};
use serde_json::{json, Value};

const QUIET: Duration = Duration::from_millis(1500);

struct World {
    service: Arc<Service>,
    raw: Arc<dyn ObjectStore>,
    process_queue: Arc<dyn Queue>,
    /// Receives what ingest publishes on the bus.
    events: Arc<dyn Queue>,
}

async fn world_reading(sources: &[&str]) -> World {
    let moto = Moto::connect().await;
    let bucket = moto.create_bucket().await;
    let raw: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(moto.s3(), &bucket));
    let (queue_url, _) = moto.create_queue(30, None).await;
    let process_queue: Arc<dyn Queue> = Arc::new(SqsQueue::new(moto.sqs(), queue_url));
    let (events_url, events_arn) = moto.create_queue(30, None).await;
    let pattern = EventPattern { source: vec!["seams.ingest".into()], detail_type: vec![] };
    let bus_name = moto.create_bus_with_rule(&pattern, &events_arn).await;
    let bus = Arc::new(EventBridgeBus::new(moto.eventbridge(), bus_name));
    let sources: BTreeMap<String, Arc<dyn ObjectStore>> = sources
        .iter()
        .map(|name| ((*name).to_owned(), Arc::new(S3ObjectStore::new(moto.s3(), *name)) as Arc<dyn ObjectStore>))
        .collect();
    let service = Arc::new(Service::new(raw.clone(), process_queue.clone(), bus, sources, Settings::default()));
    let events: Arc<dyn Queue> = Arc::new(SqsQueue::new(moto.sqs(), events_url));
    World { service, raw, process_queue, events }
}

/// An HTTP API event for `POST /documents` with `body`, from the sample.
fn post_documents(body: Value) -> Value {
    let mut event = sample_event("ingest/http-post-documents.json");
    event["body"] = Value::String(body.to_string());
    event
}

/// The HTTP response's status and JSON body.
async fn call(world: &World, event: Value) -> (u64, Value) {
    let response = function::handle(world.service.as_ref(), event).await.expect("HTTP always gets a response");
    let body = serde_json::from_str(response["body"].as_str().unwrap_or("null")).unwrap();
    (response["statusCode"].as_u64().unwrap(), body)
}

fn claims(messages: &[ReceivedMessage]) -> Vec<ProcessDocument> {
    messages.iter().map(|m| serde_json::from_str(&m.body).unwrap()).collect()
}

fn details<T: serde::de::DeserializeOwned>(messages: &[ReceivedMessage], detail_type: &str) -> Vec<T> {
    messages
        .iter()
        .map(|m| serde_json::from_str::<EventBridgeEvent<Value>>(&m.body).unwrap())
        .filter(|e| e.detail_type == detail_type)
        .map(|e| serde_json::from_value(e.detail).unwrap())
        .collect()
}

#[tokio::test]
async fn the_post_documents_sample_is_stored_queued_and_announced() {
    let world = world_reading(&[]).await;
    let (status, body) = call(&world, sample_event("ingest/http-post-documents.json")).await;
    assert_eq!(status, 202, "{body}");
    let response: IngestResponse = serde_json::from_value(body).unwrap();
    assert_eq!((response.document_id.as_str(), response.version, response.duplicate), ("refund-policy", 1, false));

    let stored = world.raw.list("raw/refund-policy/").await.unwrap();
    assert_eq!(stored.len(), 1);
    let text = world.raw.get(&stored[0].key).await.unwrap().body;
    assert!(std::str::from_utf8(&text).unwrap().starts_with("# Refund policy\n"));

    let messages = drain(world.process_queue.as_ref(), QUIET).await;
    assert_eq!(messages.len(), 1);
    assert_eq!(messages[0].attributes[CorrelationId::ATTRIBUTE], "corr-sample-0001");
    let claim = &claims(&messages)[0];
    assert_eq!(claim.raw.bucket, world.raw.location());
    assert_eq!(claim.raw.key, stored[0].key);
    assert_eq!(claim.fingerprint, response.fingerprint);
    assert_eq!(claim.content_type, "text/markdown");
    assert_eq!(claim.attributes["category"], seams_contracts::AttributeValue::String("policy".into()));
    assert_eq!(claim.inline_content.as_deref(), std::str::from_utf8(&text).ok());

    let announced: Vec<DocumentIngested> = details(&drain(world.events.as_ref(), QUIET).await, "DocumentIngested");
    assert_eq!(announced.len(), 1);
    assert_eq!((announced[0].version, &announced[0].fingerprint), (1, &response.fingerprint));
}

#[tokio::test]
async fn the_same_document_twice_is_stored_and_queued_once() {
    let world = world_reading(&[]).await;
    let (_, first) = call(&world, sample_event("ingest/http-post-documents.json")).await;
    let (status, second) = call(&world, sample_event("ingest/http-post-documents.json")).await;
    assert_eq!(status, 202);
    assert_eq!(second["duplicate"], true);
    assert_eq!(second["status"], "duplicate");
    assert_eq!(
        (second["version"].clone(), second["fingerprint"].clone()),
        (first["version"].clone(), first["fingerprint"].clone())
    );
    assert_eq!(world.raw.list("raw/").await.unwrap().len(), 1);
    assert_eq!(drain(world.process_queue.as_ref(), QUIET).await.len(), 1);
}

#[tokio::test]
async fn twenty_concurrent_identical_requests_queue_exactly_one_message() {
    let world = world_reading(&[]).await;
    let body = json!({"document_id": "race", "content_type": "text/plain", "content": "one and only"});
    let calls = (0..20).map(|_| call(&world, post_documents(body.clone())));
    let responses = futures::future::join_all(calls).await;
    assert!(responses.iter().all(|(status, _)| *status == 202), "{responses:?}");
    let fresh = responses.iter().filter(|(_, body)| body["duplicate"] == false).count();
    assert_eq!(fresh, 1, "{responses:?}");
    assert_eq!(drain(world.process_queue.as_ref(), QUIET).await.len(), 1);
    assert_eq!(world.raw.list("raw/race/").await.unwrap().len(), 1);
}

#[tokio::test]
async fn new_content_for_the_same_id_is_version_two() {
    let world = world_reading(&[]).await;
    let v1 = json!({"document_id": "faq", "content_type": "text/plain", "content": "first answer"});
    let v2 = json!({"document_id": "faq", "content_type": "text/plain", "content": "second answer"});
    let (_, first) = call(&world, post_documents(v1)).await;
    let (_, second) = call(&world, post_documents(v2)).await;
    assert_eq!((first["version"].as_u64(), second["version"].as_u64()), (Some(1), Some(2)));
    assert_eq!(second["duplicate"], false);
    let versions: Vec<u32> =
        claims(&drain(world.process_queue.as_ref(), QUIET).await).iter().map(|c| c.version).collect();
    assert_eq!(versions.len(), 2);
    assert!(versions.contains(&1) && versions.contains(&2));

    let mut get = sample_event("ingest/http-get-document.json");
    get["pathParameters"]["id"] = json!("faq");
    let (status, body) = call(&world, get).await;
    assert_eq!(status, 200);
    let document: DocumentStatus = serde_json::from_value(body).unwrap();
    assert_eq!(document.versions.iter().map(|v| v.version).collect::<Vec<_>>(), [1, 2]);
    assert!(!document.deleted);
}

#[tokio::test]
async fn a_presigned_upload_is_ingested_when_s3_announces_it() {
    let world = world_reading(&[]).await;
    let (status, ticket) = call(&world, sample_event("ingest/http-post-uploads.json")).await;
    assert_eq!(status, 201, "{ticket}");
    // The client PUTs the file to the presigned URL, as a browser or curl would.
    let pdf = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n";
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), pdf).unwrap();
    let put = std::process::Command::new("curl")
        .args(["-sf", "-X", "PUT", "-H", "content-type: application/pdf", "--data-binary"])
        .arg(format!("@{}", file.path().display()))
        .arg(ticket["url"].as_str().unwrap())
        .status()
        .expect("curl runs");
    assert!(put.success(), "the presigned PUT was refused");

    let mut event = sample_event("ingest/s3-object-created.json");
    let upload_id = ticket["upload_id"].as_str().unwrap();
    event["Records"][0]["s3"]["bucket"]["name"] = json!(world.raw.location());
    event["Records"][0]["s3"]["object"]["key"] = json!(format!("uploads/{upload_id}/document"));
    let response = function::handle(world.service.as_ref(), event).await.unwrap();
    assert_eq!(response[0]["document_id"], "annual-report-2026");
    let claim = &claims(&drain(world.process_queue.as_ref(), QUIET).await)[0];
    assert_eq!((claim.content_type.as_str(), claim.byte_size), ("application/pdf", pdf.len() as u64));
    assert_eq!(claim.inline_content, None);
    assert_eq!(world.raw.get(&claim.raw.key).await.unwrap().body.as_ref(), pdf);
    assert!(world.raw.list("uploads/").await.unwrap().is_empty(), "the upload is cleaned up");
}

#[tokio::test]
async fn the_document_published_sample_is_read_from_its_allowed_bucket() {
    let mut event = sample_event("ingest/eventbridge-document-published.json");
    let moto = Moto::connect().await;
    let source = moto.create_bucket().await;
    let html = "<h1>Handbook</h1><p>Chapter 3: expenses.</p>".as_bytes().to_vec();
    moto.s3().put_object().bucket(&source).key("handbook/ch3.html").body(html.into()).send().await.unwrap();
    event["detail"]["s3_uri"] = json!(format!("s3://{source}/handbook/ch3.html"));

    let world = world_reading(&[&source]).await;
    let response = function::handle(world.service.as_ref(), event.clone()).await.unwrap();
    assert_eq!((response["document_id"].as_str(), response["version"].as_u64()), (Some("handbook-ch3"), Some(1)));
    let messages = drain(world.process_queue.as_ref(), QUIET).await;
    assert_eq!(messages[0].attributes[CorrelationId::ATTRIBUTE], "corr-cms-7781");
    assert_eq!(claims(&messages)[0].inline_content.as_deref(), Some("<h1>Handbook</h1><p>Chapter 3: expenses.</p>"));

    // The backfill state machine leaves the content type out: the key's extension gives it.
    let mut untyped = event.clone();
    untyped["detail"]["document_id"] = json!("handbook-ch3-backfilled");
    untyped["detail"].as_object_mut().unwrap().remove("content_type");
    let response = function::handle(world.service.as_ref(), untyped.clone()).await.unwrap();
    assert_eq!(response["document_id"], "handbook-ch3-backfilled");
    assert_eq!(claims(&drain(world.process_queue.as_ref(), QUIET).await)[0].content_type, "text/html");
    untyped["detail"]["s3_uri"] = json!(format!("s3://{source}/handbook/ch3"));
    let refused = function::handle(world.service.as_ref(), untyped).await.unwrap_err();
    assert_eq!(refused.field.as_deref(), Some("content_type"));

    // A bucket not in SEAMS_SOURCE_BUCKETS is refused, and the invocation fails.
    let without_sources = world_reading(&[]).await;
    let refused = function::handle(without_sources.service.as_ref(), event).await.unwrap_err();
    assert_eq!(refused.name, seams_contracts::ErrorName::InvalidInput);
    assert_eq!(refused.field.as_deref(), Some("s3_uri"));
}

#[tokio::test]
async fn deleting_a_document_tombstones_it_and_announces_it() {
    let world = world_reading(&[]).await;
    call(&world, sample_event("ingest/http-post-documents.json")).await;
    let (status, body) = call(&world, sample_event("ingest/http-delete-document.json")).await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(body["deleted"], true);
    let deleted: Vec<DocumentDeleted> = details(&drain(world.events.as_ref(), QUIET).await, "DocumentDeleted");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0].document_id, "refund-policy");
    let (_, status_body) = call(&world, sample_event("ingest/http-get-document.json")).await;
    assert_eq!(status_body["deleted"], true);

    // Sending the same content again brings it back, under its old version.
    drain(world.process_queue.as_ref(), Duration::from_millis(200)).await;
    let (_, again) = call(&world, sample_event("ingest/http-post-documents.json")).await;
    assert_eq!((again["duplicate"].as_bool(), again["version"].as_u64()), (Some(false), Some(1)));
    assert_eq!(drain(world.process_queue.as_ref(), QUIET).await.len(), 1);
    let (_, revived) = call(&world, sample_event("ingest/http-get-document.json")).await;
    assert_eq!(revived["deleted"], false);
}

#[tokio::test]
async fn the_document_deleted_sample_deletes_and_unknown_documents_are_not_found() {
    let world = world_reading(&[]).await;
    let mut event = sample_event("ingest/eventbridge-document-deleted.json");
    let error = function::handle(world.service.as_ref(), event.clone()).await.unwrap_err();
    assert_eq!(error.name, seams_contracts::ErrorName::NotFound);

    let body = json!({"document_id": "handbook-ch3", "content_type": "text/html", "content": "<p>x</p>"});
    call(&world, post_documents(body)).await;
    event["detail"]["document_id"] = json!("handbook-ch3");
    let response = function::handle(world.service.as_ref(), event).await.unwrap();
    assert_eq!(response["deleted"], true);

    let (status, problem) = call(&world, {
        let mut get = sample_event("ingest/http-get-document.json");
        get["pathParameters"]["id"] = json!("never-seen");
        get
    })
    .await;
    assert_eq!((status, problem["type"].as_str()), (404, Some("urn:seams:problem:not-found")));
}

#[tokio::test]
async fn a_batch_answers_each_document_in_order() {
    let world = world_reading(&[]).await;
    let mut event = sample_event("ingest/http-post-documents-batch.json");
    let mut batch: Value = serde_json::from_str(event["body"].as_str().unwrap()).unwrap();
    batch["documents"].as_array_mut().unwrap().push(json!({"content_type": "image/png", "content": "x"}));
    event["body"] = json!(batch.to_string());
    let (status, body) = call(&world, event).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(
        (results[0]["outcome"].as_str(), results[0]["document_id"].as_str()),
        (Some("accepted"), Some("refund-policy"))
    );
    assert_eq!(results[1]["outcome"], "accepted");
    assert_eq!(results[2]["outcome"], "rejected");
    assert_eq!(results[2]["field"], "documents[2].content_type");
    let claims = claims(&drain(world.process_queue.as_ref(), QUIET).await);
    assert_eq!(claims.len(), 2);
    // The windows-1252 item was transcoded: its claim check carries UTF-8 text.
    let shipping = claims.iter().find(|c| c.content_type == "text/html").unwrap();
    assert!(shipping.inline_content.as_deref().unwrap().contains("– café orders"), "{shipping:?}");
}

#[tokio::test]
async fn documents_are_listed_in_id_order_a_page_at_a_time_with_their_latest_attributes() {
    let world = world_reading(&[]).await;
    for (id, text, title) in
        [("b-doc", "one", "Bee"), ("a-doc", "two", "Ay"), ("c-doc", "three", "Sea"), ("b-doc", "four", "Bee 2")]
    {
        let body = json!({"document_id": id, "content_type": "text/plain", "content": text,
            "source_uri": format!("https://example.com/{id}"), "attributes": {"title": title, "category": "x"}});
        assert_eq!(call(&world, post_documents(body)).await.0, 202);
    }
    call(&world, sample_event("ingest/http-post-documents.json")).await;
    call(&world, sample_event("ingest/http-delete-document.json")).await;

    let list = |query: &str| {
        let mut event = sample_event("ingest/http-get-documents.json");
        event["rawQueryString"] = json!(query);
        event["queryStringParameters"] = json!(form(query).into_iter().collect::<BTreeMap<String, String>>());
        event
    };
    let (status, page) = call(&world, list("limit=2")).await;
    assert_eq!(status, 200, "{page}");
    let ids: Vec<&str> =
        page["documents"].as_array().unwrap().iter().map(|d| d["document_id"].as_str().unwrap()).collect();
    assert_eq!((ids, page["next_after"].as_str()), (vec!["a-doc", "b-doc"], Some("b-doc")));
    let b = &page["documents"][1];
    assert_eq!(
        (b["title"].as_str(), b["latest_version"].as_u64(), b["version_count"].as_u64()),
        (Some("Bee 2"), Some(2), Some(2))
    );
    assert_eq!(b["source_uri"], "https://example.com/b-doc");

    let (_, rest) = call(&world, list("after=b-doc")).await;
    let ids: Vec<&str> =
        rest["documents"].as_array().unwrap().iter().map(|d| d["document_id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["c-doc", "refund-policy"]);
    assert!(rest.get("next_after").is_none(), "{rest}");
    assert_eq!(rest["documents"][1]["deleted"], true, "a deleted document is listed as deleted");

    for bad in ["limit=0", "limit=1001", "limit=ten"] {
        let (status, problem) = call(&world, list(bad)).await;
        assert_eq!((status, problem["field"].as_str()), (400, Some("limit")), "{bad}: {problem}");
    }
}

fn form(query: &str) -> Vec<(String, String)> {
    query.split('&').filter_map(|pair| pair.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
}
