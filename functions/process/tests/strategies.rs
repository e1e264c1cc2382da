//! The chunking strategies through the service: a document's `chunking` attribute picks
//! one, and the processed record shows what it did. Local stores; the embedder is hashing.

use std::sync::Arc;

use chrono::Utc;
use process::{Service, Settings};
use seams_contracts::error::ErrorName;
use seams_contracts::ingest::ProcessDocument;
use seams_contracts::process::{from_json_lines, ChunkRecord};
use seams_contracts::{AttributeValue, Attributes, CorrelationId, ObjectRef, V1};
use seams_embeddings::hashing::HashingEmbedder;
use seams_platform::event_bus::LocalEventBus;
use seams_platform::object_store::{FsObjectStore, ObjectStore};

struct World {
    service: Service,
    records: Arc<dyn ObjectStore>,
    _dir: tempfile::TempDir,
}

fn world(settings: Settings) -> World {
    world_embedding_with(settings, Arc::new(HashingEmbedder::default()))
}

fn world_embedding_with(settings: Settings, embedder: Arc<dyn seams_embeddings::Embedder>) -> World {
    let dir = tempfile::tempdir().unwrap();
    let records: Arc<dyn ObjectStore> = Arc::new(FsObjectStore::new(dir.path().join("records")));
    let service = Service::new(
        Arc::new(FsObjectStore::new(dir.path().join("raw"))),
        records.clone(),
        Arc::new(LocalEventBus::new()),
        embedder,
        settings,
    );
    World { service, records, _dir: dir }
}

fn claim(document_id: &str, text: &str, chunking: Option<&str>) -> ProcessDocument {
    let mut attributes = Attributes::new();
    if let Some(name) = chunking {
        attributes.insert("chunking".into(), AttributeValue::String(name.into()));
    }
    ProcessDocument {
        schema_version: V1,
        correlation_id: CorrelationId::new(format!("corr-{document_id}")),
        document_id: document_id.into(),
        version: 1,
        fingerprint: format!("sha256:{document_id}"),
        content_type: "text/markdown".into(),
        byte_size: text.len() as u64,
        source_uri: None,
        attributes,
        raw: ObjectRef { bucket: "raw".into(), key: format!("raw/{document_id}") },
        inline_content: Some(text.into()),
        ingested_at: Utc::now(),
    }
}

async fn chunks(world: &World, document_id: &str) -> Vec<ChunkRecord> {
    let key = process::record::record_key(document_id, 1);
    let object = world.records.get(&key).await.unwrap();
    from_json_lines(&object.body).unwrap().1
}

/// Two topics with no word in common, each several sentences long.
fn two_topics() -> String {
    let trains = "Trains leave the station at dawn. The train carriages fill with commuters. \
                  Railway tickets for the train are sold at the station. Trains run on time. ";
    let cooking = "Simmer onions in butter slowly. Add garlic and simmer the sauce. \
                   Season the sauce with pepper and herbs. Serve the sauce warm. ";
    format!("{}{}", trains.repeat(3), cooking.repeat(3))
}

#[tokio::test]
async fn semantic_chunking_cuts_where_the_topic_changes() {
    let world = world(Settings::default());
    let text = two_topics();
    world.service.process_document(&claim("semantic", &text, Some("semantic"))).await.unwrap();
    let semantic = chunks(&world, "semantic").await;
    assert!(semantic.len() >= 2, "{semantic:#?}");
    assert!(
        semantic.iter().all(|c| !(c.text.contains("Train") && c.text.contains("sauce"))),
        "no chunk mixes the topics: {semantic:#?}"
    );
    assert!(semantic.iter().any(|c| c.text.ends_with("Trains run on time.")), "a chunk ends at the change");

    world.service.process_document(&claim("fixed", &text, None)).await.unwrap();
    let fixed = chunks(&world, "fixed").await;
    assert_eq!(fixed.len(), 1, "the text fits one fixed chunk: {fixed:#?}");
}

#[tokio::test]
async fn hierarchical_children_carry_their_parent() {
    let settings = Settings { parent_tokens: 80, ..Settings::default() };
    let settings = Settings { chunking: process::chunk::ChunkSettings::new(20, 10), ..settings };
    let world = world(settings);
    let text = two_topics();
    world.service.process_document(&claim("tree", &text, Some("hierarchical"))).await.unwrap();
    let children = chunks(&world, "tree").await;
    let mut parents: Vec<&str> = children.iter().map(|c| c.parent.as_ref().unwrap().chunk_id.as_str()).collect();
    parents.dedup();
    assert!(parents.len() >= 2 && children.len() > parents.len(), "{children:#?}");
    assert_eq!(parents[0], "tree:1:p0");
    for child in &children {
        let parent = child.parent.as_ref().unwrap();
        assert!(parent.text.contains(&child.text), "{child:?}");
        assert!(child.token_count <= 20);
    }
}

#[tokio::test]
async fn none_keeps_the_document_whole_and_a_bad_strategy_is_invalid_input() {
    let world = world(Settings::default());
    let text = two_topics().repeat(10);
    world.service.process_document(&claim("whole", &text, Some("none"))).await.unwrap();
    let whole = chunks(&world, "whole").await;
    assert_eq!(whole.len(), 1);
    assert_eq!(whole[0].text, text.trim());

    let error = world.service.process_document(&claim("bad", &text, Some("by-page"))).await.unwrap_err();
    assert_eq!(error.name, ErrorName::InvalidInput);
    assert!(error.detail.contains("\"by-page\""), "{error}");
}

/// The hashing embedder with a reading limit, as a local model has.
struct Limited(HashingEmbedder);

#[async_trait::async_trait]
impl seams_embeddings::Embedder for Limited {
    fn token_counter(&self) -> Option<(Arc<dyn seams_embeddings::TokenCounter>, usize)> {
        Some((Arc::new(process::Tokenizer), 40))
    }
    fn model(&self) -> &seams_contracts::process::EmbeddingModel {
        self.0.model()
    }
    fn max_batch(&self) -> usize {
        self.0.max_batch()
    }
    async fn embed(&self, texts: &[&str]) -> Result<Vec<Vec<f32>>, seams_embeddings::EmbedError> {
        self.0.embed(texts).await
    }
}

#[tokio::test]
async fn none_is_refused_above_the_embedders_limit_naming_it() {
    let world = world_embedding_with(Settings::default(), Arc::new(Limited(HashingEmbedder::default())));
    let error = world.service.process_document(&claim("long", &two_topics(), Some("none"))).await.unwrap_err();
    assert_eq!(error.name, ErrorName::InvalidInput);
    assert!(error.detail.ends_with("at most the embedder's limit (40)"), "{error}");
    world.service.process_document(&claim("short", "Trains leave at dawn.", Some("none"))).await.unwrap();
    assert!(world.records.get(&process::record::record_key("short", 1)).await.is_ok());
}
