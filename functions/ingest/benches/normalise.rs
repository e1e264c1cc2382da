//! Normalise + fingerprint throughput on a fixed corpus of mixed encodings, and the
//! handler's latency for `POST /documents` on local adapters (no S3/SQS round trips).
//! `cargo bench -p ingest`; figures go in bench/RESULTS.md.

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ingest::normalise::normalise;
use ingest::{fingerprint_hex, Service, Settings};
use seams_platform::event_bus::LocalEventBus;
use seams_platform::function;
use seams_platform::object_store::FsObjectStore;
use seams_platform::queue::LocalQueue;

/// About 1 MiB of each kind of input, the same every run.
fn corpus() -> Vec<(&'static str, Vec<u8>, Option<&'static str>)> {
    let english = "## Refunds\n\nDigital products can be refunded within 14 days of purchase — if they were not downloaded. Café vouchers: 50 € each.\r\n";
    let japanese = "返金ポリシー：デジタル製品は購入後十四日以内に返金できます。ダウンロード済みの場合は対象外です。\n";
    let repeat = |text: &str| text.repeat((1 << 20) / text.len() + 1);
    let utf8 = repeat(english);
    let mut utf16 = vec![0xFF, 0xFE];
    utf16.extend(utf8.encode_utf16().flat_map(u16::to_le_bytes));
    vec![
        ("utf-8", utf8.clone().into_bytes(), None),
        ("utf-16le bom", utf16, None),
        ("windows-1252 declared", encoding_rs::WINDOWS_1252.encode(&utf8).0.into_owned(), Some("windows-1252")),
        ("windows-1252 detected", encoding_rs::WINDOWS_1252.encode(&utf8).0.into_owned(), None),
        ("shift_jis detected", encoding_rs::SHIFT_JIS.encode(&repeat(japanese)).0.into_owned(), None),
    ]
}

fn normalise_and_fingerprint(c: &mut Criterion) {
    let mut group = c.benchmark_group("normalise+fingerprint");
    group.measurement_time(Duration::from_secs(4));
    for (name, bytes, charset) in corpus() {
        group.throughput(Throughput::Bytes(bytes.len() as u64));
        group.bench_function(name, |b| {
            b.iter(|| {
                let text = normalise(black_box(&bytes), charset).expect("the corpus decodes");
                fingerprint_hex(text.as_bytes())
            })
        });
    }
    group.finish();
}

fn handler_latency(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let queue = Arc::new(LocalQueue::new("process", Duration::from_secs(30)));
    let bus = Arc::new(LocalEventBus::new());
    let raw = Arc::new(FsObjectStore::new(dir.path()));
    let service = Service::new(raw, queue.clone(), bus, Default::default(), Settings::default());
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    let sample: serde_json::Value =
        serde_json::from_str(include_str!("../../../events/ingest/http-post-documents.json"))
            .expect("the sample is JSON");
    let mut counter = 0u64;
    c.bench_function("POST /documents, new 4 KiB document (local adapters)", |b| {
        b.iter_batched(
            || {
                counter += 1;
                let body = serde_json::json!({
                    "document_id": format!("bench-{counter}"),
                    "content_type": "text/markdown",
                    "content": format!("# Doc {counter}\n\n{}", "Refunds are issued within 14 days. ".repeat(120)),
                });
                let mut event = sample.clone();
                event["body"] = serde_json::Value::String(body.to_string());
                event
            },
            |event| runtime.block_on(function::handle(&service, event)).expect("a response"),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("POST /documents, duplicate (local adapters)", |b| {
        b.iter(|| runtime.block_on(function::handle(&service, sample.clone())).expect("a response"))
    });
}

criterion_group!(benches, normalise_and_fingerprint, handler_latency);
criterion_main!(benches);
