//! Random bytes and random JSON into ingest's parsers and normaliser: errors, never panics.

use std::sync::Arc;
use std::time::Duration;

use ingest::{normalise::normalise, Service, Settings};
use proptest::prelude::*;
use seams_platform::event_bus::LocalEventBus;
use seams_platform::function;
use seams_platform::object_store::FsObjectStore;
use seams_platform::queue::LocalQueue;
use serde_json::Value;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        ".{0,20}".prop_map(Value::String),
        prop::sample::select(vec!["text/plain", "application/pdf", "text/html; charset=shift_jis", "content", "x"])
            .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        let keys = prop::sample::select(vec![
            "document_id",
            "content_type",
            "content",
            "content_base64",
            "attributes",
            "source_uri",
            "documents",
            "Records",
            "detail",
            "detail-type",
            "source",
            "s3",
            "requestContext",
            "routeKey",
            "body",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(keys.prop_map(str::to_owned), inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn service(dir: &std::path::Path) -> Service {
    let queue = Arc::new(LocalQueue::new("process", Duration::from_secs(30)));
    let bus = Arc::new(LocalEventBus::new());
    Service::new(Arc::new(FsObjectStore::new(dir)), queue, bus, Default::default(), Settings::default())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn normalising_random_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512), charset in prop::option::of("[a-z0-9_-]{1,12}")) {
        let _ = normalise(&bytes, charset.as_deref());
    }

    #[test]
    fn random_request_bodies_get_an_answer(body in prop::collection::vec(any::<u8>(), 0..256), json in json_value()) {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        for body in [String::from_utf8_lossy(&body).into_owned(), json.to_string()] {
            let mut event = seams_tests::sample_event("ingest/http-post-documents.json");
            event["body"] = Value::String(body);
            let response = runtime.block_on(function::handle(&service, event)).unwrap();
            prop_assert!(response["statusCode"].as_u64().is_some());
        }
        // Random JSON as a whole event: any trigger shape, any field.
        let _ = runtime.block_on(function::handle(&service, json));
    }
}
