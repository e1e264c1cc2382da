//! What every `ObjectStore` promises, run against S3 (moto) and the filesystem alike.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use seams_platform::idempotency::{Claim, Claimed, Idempotency, IdempotencyError};
use seams_platform::object_store::{ObjectStore, PutCondition, PutOptions, StoreError};

pub async fn put_then_get_returns_the_same_bytes(store: Arc<dyn ObjectStore>) {
    let body = Bytes::from_static("héllo wörld\n".as_bytes());
    let written = store.put("raw/doc-1/v1.bin", body.clone(), PutOptions::default()).await.unwrap();
    let read = store.get("raw/doc-1/v1.bin").await.unwrap();
    assert_eq!(read.body, body);
    assert_eq!(read.info.size, body.len() as u64);
    assert_eq!(read.info.etag, written.etag);
    assert_eq!(store.head("raw/doc-1/v1.bin").await.unwrap().size, body.len() as u64);
}

pub async fn put_if_absent_twice_reports_already_exists(store: Arc<dyn ObjectStore>) {
    store.put_if_absent("dedup/key", Bytes::from_static(b"first")).await.unwrap();
    let second = store.put_if_absent("dedup/key", Bytes::from_static(b"second")).await;
    assert_eq!(second, Err(StoreError::AlreadyExists { key: "dedup/key".into() }));
    assert_eq!(store.get("dedup/key").await.unwrap().body, Bytes::from_static(b"first"));
}

pub async fn concurrent_put_if_absent_has_exactly_one_winner(store: Arc<dyn ObjectStore>) {
    let attempts = (0..20).map(|i| {
        let store = store.clone();
        async move { store.put_if_absent("race/key", Bytes::from(format!("writer {i}"))).await }
    });
    let outcomes = futures::future::join_all(attempts).await;
    let winners = outcomes.iter().filter(|o| o.is_ok()).count();
    let losers = outcomes.iter().filter(|o| matches!(o, Err(StoreError::AlreadyExists { .. }))).count();
    assert_eq!((winners, losers), (1, 19), "{outcomes:?}");
}

pub async fn if_match_with_a_stale_etag_is_refused(store: Arc<dyn ObjectStore>) {
    let first = store.put("snapshot", Bytes::from_static(b"v1"), PutOptions::default()).await.unwrap();
    let etag = first.etag.clone().expect("stores return an etag");
    let if_match = |etag: String| PutOptions { content_type: None, condition: PutCondition::IfMatch(etag) };
    store.put("snapshot", Bytes::from_static(b"v2"), if_match(etag.clone())).await.unwrap();
    let stale = store.put("snapshot", Bytes::from_static(b"v3"), if_match(etag)).await;
    assert_eq!(stale, Err(StoreError::PreconditionFailed { key: "snapshot".into() }));
    assert_eq!(store.get("snapshot").await.unwrap().body, Bytes::from_static(b"v2"));
}

pub async fn missing_objects_are_not_found(store: Arc<dyn ObjectStore>) {
    assert_eq!(store.get("nope").await.unwrap_err(), StoreError::NotFound { key: "nope".into() });
    assert_eq!(store.head("nope").await.unwrap_err(), StoreError::NotFound { key: "nope".into() });
    // Deleting what is not there is not an error.
    store.delete("nope").await.unwrap();
}

pub async fn list_returns_keys_under_a_prefix_in_order(store: Arc<dyn ObjectStore>) {
    for key in ["docs/b/2", "docs/a/1", "other/x", "docs/c"] {
        store.put(key, Bytes::from_static(b"."), PutOptions::default()).await.unwrap();
    }
    let keys: Vec<_> = store.list("docs/").await.unwrap().into_iter().map(|o| o.key).collect();
    assert_eq!(keys, ["docs/a/1", "docs/b/2", "docs/c"]);
    assert!(store.list("none/").await.unwrap().is_empty());
}

pub async fn delete_removes_the_object(store: Arc<dyn ObjectStore>) {
    store.put("gone", Bytes::from_static(b"x"), PutOptions::default()).await.unwrap();
    store.delete("gone").await.unwrap();
    assert!(matches!(store.get("gone").await, Err(StoreError::NotFound { .. })));
}

pub async fn keys_that_could_escape_are_refused(store: Arc<dyn ObjectStore>) {
    for key in ["../outside", "/abs", "a//b"] {
        let result = store.put(key, Bytes::from_static(b"x"), PutOptions::default()).await;
        assert!(matches!(result, Err(StoreError::InvalidKey { .. })), "{key}: {result:?}");
    }
}

fn ledger(store: Arc<dyn ObjectStore>, ttl: Duration) -> Idempotency {
    Idempotency::new(store, "ledger/", ttl)
}

pub async fn idempotency_returns_the_first_result_to_repeats(store: Arc<dyn ObjectStore>) {
    let ledger = ledger(store, Duration::from_secs(300));
    let Claim::Acquired(token) = ledger.claim::<String>("req-1/webhook").await.unwrap() else {
        panic!("the first claim must be acquired");
    };
    assert!(matches!(ledger.claim::<String>("req-1/webhook").await.unwrap(), Claim::InProgress { .. }));
    ledger.complete(token, &"receipt-1".to_owned()).await.unwrap();
    assert_eq!(ledger.claim::<String>("req-1/webhook").await.unwrap(), Claim::Completed("receipt-1".to_owned()));
    // Another key is independent.
    assert!(matches!(ledger.claim::<String>("req-1/slack").await.unwrap(), Claim::Acquired(_)));
}

pub async fn idempotency_admits_one_of_twenty_concurrent_claims(store: Arc<dyn ObjectStore>) {
    let ledger = Arc::new(ledger(store, Duration::from_secs(300)));
    let claims = (0..20).map(|_| {
        let ledger = ledger.clone();
        async move { ledger.claim::<String>("req-2/email").await.unwrap() }
    });
    let outcomes = futures::future::join_all(claims).await;
    let acquired = outcomes.iter().filter(|c| matches!(c, Claim::Acquired(_))).count();
    assert_eq!(acquired, 1, "{outcomes:?}");
}

pub async fn idempotency_lets_an_expired_claim_be_taken_over(store: Arc<dyn ObjectStore>) {
    let ledger = ledger(store, Duration::ZERO);
    let Claim::Acquired(stale) = ledger.claim::<String>("req-3/s3").await.unwrap() else { panic!("first claim") };
    // The first claimant "crashed"; its claim has already expired.
    let Claim::Acquired(fresh) = ledger.claim::<String>("req-3/s3").await.unwrap() else {
        panic!("an expired claim must be taken over");
    };
    assert!(ledger.complete(stale, &"late".to_owned()).await.is_err(), "the crashed claimant lost its claim");
    ledger.complete(fresh, &"done".to_owned()).await.unwrap();
    assert_eq!(ledger.claim::<String>("req-3/s3").await.unwrap(), Claim::Completed("done".to_owned()));
}

pub async fn idempotency_release_frees_the_key(store: Arc<dyn ObjectStore>) {
    let ledger = ledger(store, Duration::from_secs(300));
    let Claim::Acquired(token) = ledger.claim::<String>("req-4").await.unwrap() else { panic!("first claim") };
    ledger.release(token).await;
    assert!(matches!(ledger.claim::<String>("req-4").await.unwrap(), Claim::Acquired(_)));
}

pub async fn idempotency_waits_for_a_claim_in_progress_to_complete(store: Arc<dyn ObjectStore>) {
    let ledger = Arc::new(ledger(store, Duration::from_secs(300)));
    let Claimed::Acquired(token) = ledger.claim_or_wait::<String>("req-5", Duration::ZERO).await.unwrap() else {
        panic!("first claim");
    };
    let waiting = {
        let ledger = ledger.clone();
        tokio::spawn(async move { ledger.claim_or_wait::<String>("req-5", Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert!(!waiting.is_finished(), "the duplicate waits while the first claim is in progress");
    ledger.complete(token, &"first".to_owned()).await.unwrap();
    assert_eq!(waiting.await.unwrap().unwrap(), Claimed::Completed("first".to_owned()));
}

pub async fn idempotency_gives_up_waiting_as_in_progress(store: Arc<dyn ObjectStore>) {
    let ledger = ledger(store, Duration::from_secs(300));
    let Claimed::Acquired(_held) = ledger.claim_or_wait::<String>("req-6", Duration::ZERO).await.unwrap() else {
        panic!("first claim");
    };
    let started = std::time::Instant::now();
    let outcome = ledger.claim_or_wait::<String>("req-6", Duration::from_millis(300)).await;
    assert!(matches!(outcome, Err(IdempotencyError::InProgress { ref key }) if key == "req-6"), "{outcome:?}");
    assert!(started.elapsed() >= Duration::from_millis(300), "it waited the whole time first");
}

pub async fn idempotency_releases_the_claims_left_in_progress_and_keeps_the_results(store: Arc<dyn ObjectStore>) {
    let ledger = ledger(store, Duration::from_secs(300));
    let Claim::Acquired(done) = ledger.claim::<String>("req-7/done").await.unwrap() else { panic!("first claim") };
    ledger.complete(done, &"kept".to_owned()).await.unwrap();
    let Claim::Acquired(_abandoned) = ledger.claim::<String>("req-7/abandoned").await.unwrap() else {
        panic!("first claim")
    };
    assert!(matches!(ledger.claim::<String>("req-7/abandoned").await.unwrap(), Claim::InProgress { .. }));

    assert_eq!(ledger.release_in_progress().await.unwrap(), 1);
    assert!(matches!(ledger.claim::<String>("req-7/abandoned").await.unwrap(), Claim::Acquired(_)));
    assert_eq!(ledger.claim::<String>("req-7/done").await.unwrap(), Claim::Completed("kept".to_owned()));
}
