//! output against moto (its bucket, DLQ and bus; SES; Secrets Manager; a destination bus)
//! and local HTTP receivers for webhooks and Slack.

use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use output::aws::EventBridgeBuses;
use output::aws::SesMailer;
use output::outbound::OutboundPolicy;
use output::{signing, Channels, Service, Settings};
use seams_contracts::output::{DeliveryReceipt, DeliveryRequest, DeliveryStatus};
use seams_contracts::ErrorName;
use seams_platform::event_bus::{EventBridgeBus, EventPattern};
use seams_platform::idempotency::{Claim, Idempotency};
use seams_platform::object_store::{ObjectStore, S3ObjectStore};
use seams_platform::queue::{Queue, SqsQueue};
use seams_platform::retry::RetryPolicy;
use seams_platform::secrets::SecretCache;
use seams_tests::stack::Moto;
use seams_tests::{drain, sample_event, unique};
use serde_json::{json, Value};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

struct World {
    moto: Moto,
    store: Arc<dyn ObjectStore>,
    dead_letters: Arc<dyn Queue>,
    events: Arc<dyn Queue>,
    bus_name: String,
}

async fn world() -> World {
    let moto = Moto::connect().await;
    let store: Arc<dyn ObjectStore> = Arc::new(S3ObjectStore::new(moto.s3(), moto.create_bucket().await));
    let (dlq_url, _) = moto.create_queue(30, None).await;
    let (events_url, events_arn) = moto.create_queue(30, None).await;
    let pattern = EventPattern::detail_types(&["AnswerDelivered", "DeliveryFailed"]);
    let bus_name = moto.create_bus_with_rule(&pattern, &events_arn).await;
    World {
        store,
        dead_letters: Arc::new(SqsQueue::new(moto.sqs(), dlq_url)),
        events: Arc::new(SqsQueue::new(moto.sqs(), events_url)),
        bus_name,
        moto,
    }
}

/// Fast retries, and local receivers allowed (loopback, plain http).
fn local_settings() -> Settings {
    Settings {
        outbound: OutboundPolicy { allowed_hosts: Vec::new(), allow_private: true, allow_loopback_http: true },
        retry: RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(50),
            max_delay: Duration::from_millis(200),
        },
        deadline: Duration::from_secs(10),
        ..Settings::default()
    }
}

impl World {
    fn service(&self, settings: Settings) -> Service {
        self.service_keeping_secrets_for(settings, seams_platform::secrets::DEFAULT_TTL)
    }

    fn service_keeping_secrets_for(&self, settings: Settings, secret_ttl: Duration) -> Service {
        let channels = Channels {
            secrets: Arc::new(SecretCache::secrets_manager(&self.moto.sdk, secret_ttl)),
            mailer: Arc::new(SesMailer::new(&self.moto.sdk)),
            buses: Arc::new(EventBridgeBuses { client: self.moto.eventbridge() }),
        };
        let bus = Arc::new(EventBridgeBus::new(self.moto.eventbridge(), &self.bus_name));
        Service::new(self.store.clone(), self.dead_letters.clone(), bus, channels, settings).unwrap()
    }

    async fn secret(&self, value: &str) -> String {
        let name = unique("seams-secret");
        aws_sdk_secretsmanager::Client::new(&self.moto.sdk)
            .create_secret()
            .name(&name)
            .secret_string(value)
            .send()
            .await
            .unwrap();
        name
    }

    async fn events(&self) -> Vec<(String, Value)> {
        drain(self.events.as_ref(), Duration::from_millis(1500))
            .await
            .iter()
            .map(|m| {
                let event: EventBridgeEvent<Value> = serde_json::from_str(&m.body).unwrap();
                (event.detail_type, event.detail)
            })
            .collect()
    }
}

/// The sample delivery request, sent to `destination`.
fn request(destination: Value) -> DeliveryRequest {
    let mut sample = sample_event("output/invoke-delivery.json");
    sample["request_id"] = json!(unique("req"));
    sample["destination"] = destination;
    serde_json::from_value(sample).unwrap()
}

/// What the Standard Webhooks project's own Python library (`standardwebhooks`, pinned in
/// scripts/requirements.txt) says of a delivery: `Ok` when it verifies.
fn standard_webhooks_verdict(secret: &str, received: &Request) -> Result<(), String> {
    use std::io::Write;
    let headers: serde_json::Map<String, Value> = received
        .headers
        .iter()
        .filter(|(name, _)| name.as_str().starts_with("webhook-"))
        .map(|(name, value)| (name.to_string(), json!(value.to_str().unwrap())))
        .collect();
    let script = "import json, sys\nfrom standardwebhooks import Webhook\n\
                  Webhook(sys.argv[1]).verify(sys.stdin.buffer.read(), json.loads(sys.argv[2]))";
    let mut child = std::process::Command::new("python3")
        .args(["-c", script, secret, &Value::Object(headers).to_string()])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 runs (scripts/test.sh puts .tools/venv/bin first on PATH)");
    child.stdin.take().unwrap().write_all(&received.body).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(
        !stderr.contains("No module named 'standardwebhooks'"),
        "standardwebhooks is missing: run through scripts/test.sh, which installs it into .tools/venv"
    );
    output.status.success().then_some(()).ok_or(stderr)
}

/// The deployment's default key (the template's generated secret) signs webhooks that name
/// no `secret_ref`.
#[tokio::test]
async fn without_a_secret_ref_the_deployments_secret_signs() {
    let world = world().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let secret = "generated-by-secrets-manager-0123456789";
    let settings = Settings { webhook_secret_ref: Some(world.secret(secret).await), ..local_settings() };
    let request = request(json!({"type": "webhook", "url": format!("{}/hook", receiver.uri())}));
    world.service(settings).deliver(&request).await.unwrap();

    let received = &receiver.received_requests().await.unwrap()[0];
    let header = |name: &str| received.headers.get(name).unwrap().to_str().unwrap().to_owned();
    let timestamp = header(signing::TIMESTAMP_HEADER).parse().unwrap();
    let signatures = header(signing::SIGNATURE_HEADER);
    let now = chrono::Utc::now().timestamp();
    let verify =
        |key: &[u8]| signing::verify(key, &header(signing::ID_HEADER), timestamp, &received.body, &signatures, now);
    assert_eq!(verify(secret.as_bytes()), Ok(()));
    assert_eq!(verify(b"another key"), Err(signing::VerifyError::Mismatch));
}

#[tokio::test]
async fn a_webhook_is_signed_as_standard_webhooks_and_their_library_verifies_it() {
    let world = world().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(204))
        .expect(1)
        .mount(&receiver)
        .await;
    let secret = signing::new_secret();
    let secret_ref = world.secret(&secret).await;
    let request =
        request(json!({"type": "webhook", "url": format!("{}/hook", receiver.uri()), "secret_ref": secret_ref}));
    let receipt = world.service(local_settings()).deliver(&request).await.unwrap();
    assert_eq!(
        (receipt.status, receipt.attempts, receipt.destination.as_str()),
        (DeliveryStatus::Delivered, 1, "webhook")
    );

    let received = &receiver.received_requests().await.unwrap()[0];
    let header = |name: &str| received.headers.get(name).unwrap().to_str().unwrap().to_owned();
    let (id, timestamp) = (header(signing::ID_HEADER), header(signing::TIMESTAMP_HEADER).parse().unwrap());
    let now = chrono::Utc::now().timestamp();
    let key = signing::key(&secret);
    assert_eq!(signing::verify(&key, &id, timestamp, &received.body, &header(signing::SIGNATURE_HEADER), now), Ok(()));
    assert_eq!(id.len(), 32);
    assert_eq!(standard_webhooks_verdict(&secret, received), Ok(()));
    let other = signing::new_secret();
    assert!(standard_webhooks_verdict(&other, received).is_err_and(|e| e.contains("No matching signature")));

    let body: Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(body["request_id"], json!(request.request_id));
    assert!(body["message"].as_str().unwrap().starts_with("No: digital products"));
    assert_eq!(body["metadata"]["ticket"], "SUP-4411");

    let events = world.events().await;
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].0, "AnswerDelivered");
    assert_eq!(events[0].1["receipt"]["request_id"], json!(request.request_id));
}

/// A rotated signing key applies without a cold start: the old one signs until the value's
/// time-to-live has passed, the new one after.
#[tokio::test]
async fn a_rotated_signing_key_applies_once_its_ttl_has_passed() {
    let world = world().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST")).and(path("/hook")).respond_with(ResponseTemplate::new(204)).mount(&receiver).await;
    let (old, new) = (signing::new_secret(), signing::new_secret());
    let secret_ref = world.secret(&old).await;
    let service = world.service_keeping_secrets_for(local_settings(), Duration::from_secs(1));
    let deliver = || async {
        let destination =
            json!({"type": "webhook", "url": format!("{}/hook", receiver.uri()), "secret_ref": secret_ref});
        service.deliver(&request(destination)).await.unwrap();
        let received = receiver.received_requests().await.unwrap();
        let last = received.last().unwrap();
        [&old, &new].map(|key| standard_webhooks_verdict(key, last).is_ok())
    };

    assert_eq!(deliver().await, [true, false]);
    aws_sdk_secretsmanager::Client::new(&world.moto.sdk)
        .put_secret_value()
        .secret_id(&secret_ref)
        .secret_string(&new)
        .send()
        .await
        .unwrap();
    assert_eq!(deliver().await, [true, false], "the value read before is kept for its TTL");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(deliver().await, [false, true], "the rotated value after it");
}

#[tokio::test]
async fn a_503_is_retried_after_its_retry_after() {
    let world = world().await;
    let receiver = MockServer::start().await;
    Mock::given(path("/hook"))
        .respond_with(ResponseTemplate::new(503).insert_header("retry-after", "1"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&receiver)
        .await;
    Mock::given(path("/hook")).respond_with(ResponseTemplate::new(200)).mount(&receiver).await;
    let started = Instant::now();
    let receipt = world
        .service(local_settings())
        .deliver(&request(json!({"type": "webhook", "url": format!("{}/hook", receiver.uri())})))
        .await
        .unwrap();
    assert_eq!(receipt.attempts, 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "waited {:?}", started.elapsed());
}

#[tokio::test]
async fn a_permanent_400_goes_to_the_dlq_with_its_cause() {
    let world = world().await;
    let receiver = MockServer::start().await;
    Mock::given(path("/hook"))
        .respond_with(ResponseTemplate::new(400).set_body_string("unknown ticket"))
        .expect(1)
        .mount(&receiver)
        .await;
    let request = request(json!({"type": "webhook", "url": format!("{}/hook", receiver.uri())}));
    let error = world.service(local_settings()).deliver(&request).await.unwrap_err();
    assert_eq!(error.name, ErrorName::DeliveryFailed);
    let dead = drain(world.dead_letters.as_ref(), Duration::from_millis(1000)).await;
    assert_eq!(dead.len(), 1);
    let dead: Value = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(dead["request"]["request_id"], json!(request.request_id));
    assert!(dead["cause"].as_str().unwrap().contains("answered 400: unknown ticket"), "{dead}");
    assert_eq!(dead["attempts"], 1);
    let events = world.events().await;
    assert_eq!(events[0].0, "DeliveryFailed");
    assert_eq!(events[0].1["error"], "Seams.DeliveryFailed");
}

#[tokio::test]
async fn a_repeat_returns_the_first_receipt_without_sending() {
    let world = world().await;
    let receiver = MockServer::start().await;
    Mock::given(path("/hook")).respond_with(ResponseTemplate::new(200)).expect(1).mount(&receiver).await;
    let service = world.service(local_settings());
    let request = request(json!({"type": "webhook", "url": format!("{}/hook", receiver.uri())}));
    let first = service.deliver(&request).await.unwrap();
    let second = service.deliver(&request).await.unwrap();
    assert_eq!(second.status, DeliveryStatus::AlreadyDelivered);
    assert_eq!(second.delivered_at, first.delivered_at);
}

#[tokio::test]
async fn twenty_concurrent_duplicates_send_exactly_once() {
    let world = world().await;
    let receiver = MockServer::start().await;
    Mock::given(path("/hook"))
        .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_millis(300)))
        .expect(1)
        .mount(&receiver)
        .await;
    let service = world.service(local_settings());
    let request = request(json!({"type": "webhook", "url": format!("{}/hook", receiver.uri())}));
    let receipts: Vec<DeliveryReceipt> = futures::future::join_all((0..20).map(|_| service.deliver(&request)))
        .await
        .into_iter()
        .map(Result::unwrap)
        .collect();
    let delivered = receipts.iter().filter(|r| r.status == DeliveryStatus::Delivered).count();
    assert_eq!((delivered, receipts.len()), (1, 20));
}

#[tokio::test]
async fn an_expired_in_progress_claim_is_delivered_again() {
    let world = world().await;
    let receiver = MockServer::start().await;
    Mock::given(path("/hook")).respond_with(ResponseTemplate::new(200)).expect(1).mount(&receiver).await;
    let request = request(json!({"type": "webhook", "url": format!("{}/hook", receiver.uri())}));
    // A delivery that crashed after claiming: its claim is in progress, and expires in 1 s.
    let crashed = Idempotency::new(world.store.clone(), "ledger/", Duration::from_secs(1));
    assert!(matches!(crashed.claim::<Value>(&output::ledger_key(&request)).await.unwrap(), Claim::Acquired(_)));
    let settings =
        Settings { claim_ttl: Duration::from_secs(1), duplicate_wait: Duration::from_secs(5), ..local_settings() };
    let receipt = world.service(settings).deliver(&request).await.unwrap();
    assert_eq!(receipt.status, DeliveryStatus::Delivered);
}

#[tokio::test]
async fn slack_gets_block_kit_from_the_url_in_its_secret() {
    let world = world().await;
    let receiver = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/services/T000/B000/XXXX"))
        .respond_with(|request: &Request| {
            let body: Value = serde_json::from_slice(&request.body).unwrap();
            assert_eq!(body["blocks"][0]["type"], "section");
            assert_eq!(body["blocks"][1]["elements"][0]["text"], "`refund-policy:1:0`");
            ResponseTemplate::new(200).set_body_string("ok")
        })
        .expect(1)
        .mount(&receiver)
        .await;
    let secret = world.secret(&format!("{}/services/T000/B000/XXXX", receiver.uri())).await;
    let receipt = world
        .service(local_settings())
        .deliver(&request(json!({"type": "slack", "webhook_secret_ref": secret})))
        .await
        .unwrap();
    assert_eq!(receipt.destination, "slack");
}

#[tokio::test]
async fn email_goes_through_ses_from_a_verified_sender_only() {
    let world = world().await;
    let sesv2 = aws_sdk_sesv2::Client::new(&world.moto.sdk);
    sesv2.create_email_identity().email_identity("answers@example.com").send().await.unwrap();
    let destination = json!({"type": "email", "from": "answers@example.com", "to": ["ops@example.com"],
                             "subject_template": "Answer {{ request_id }}"});
    let receipt = world.service(local_settings()).deliver(&request(destination)).await.unwrap();
    assert!(receipt.provider_message_id.is_some_and(|id| !id.is_empty()));

    let unverified = json!({"type": "email", "from": "nobody@unverified.example", "to": ["ops@example.com"]});
    let error = world.service(local_settings()).deliver(&request(unverified)).await.unwrap_err();
    assert_eq!(error.name, ErrorName::DeliveryFailed, "{error}");
    assert_eq!(drain(world.dead_letters.as_ref(), Duration::from_millis(1000)).await.len(), 1);
}

#[tokio::test]
async fn an_s3_record_lands_at_its_templated_key() {
    let world = world().await;
    let request = request(json!({"type": "s3", "key_template": "answers/{{ metadata.ticket }}/{{ request_id }}.json"}));
    let receipt = world.service(local_settings()).deliver(&request).await.unwrap();
    let key = format!("deliveries/answers/SUP-4411/{}.json", request.request_id);
    assert_eq!(receipt.provider_message_id.as_deref(), Some(key.as_str()));
    let record: Value = serde_json::from_slice(&world.store.get(&key).await.unwrap().body).unwrap();
    assert_eq!(record["result"]["citations"], json!(["refund-policy:1:0"]));
}

/// A put the store refuses is refused again: dead-lettered after one attempt, not slept
/// through the retry policy's backoff. Here `seams up`'s directory store and a key segment
/// longer than a file name may be (S3 would take it).
#[tokio::test]
async fn a_refused_put_is_not_retried() {
    let mut world = world().await;
    let dir = tempfile::tempdir().unwrap();
    world.store = Arc::new(seams_platform::object_store::FsObjectStore::new(dir.path()));
    let key_template = format!("answers/{}/{{{{ request_id }}}}.json", "w".repeat(300));
    let request = request(json!({"type": "s3", "key_template": key_template}));
    let error = world.service(local_settings()).deliver(&request).await.unwrap_err();
    assert_eq!(error.name, ErrorName::DeliveryFailed, "{error}");
    let dead = drain(world.dead_letters.as_ref(), Duration::from_millis(1000)).await;
    let dead: Value = serde_json::from_str(&dead[0].body).unwrap();
    assert_eq!(dead["attempts"], 1, "{dead}");
}

#[tokio::test]
async fn an_eventbridge_destination_gets_its_detail_type() {
    let world = world().await;
    let (url, arn) = world.moto.create_queue(30, None).await;
    let bus = world.moto.create_bus_with_rule(&EventPattern::detail_types(&["SupportAnswer"]), &arn).await;
    let request = request(json!({"type": "eventbridge", "bus_name": bus, "detail_type": "SupportAnswer"}));
    world.service(local_settings()).deliver(&request).await.unwrap();
    let received = drain(&SqsQueue::new(world.moto.sqs(), url), Duration::from_millis(1500)).await;
    let event: EventBridgeEvent<Value> = serde_json::from_str(&received[0].body).unwrap();
    assert_eq!(
        (event.source.as_str(), event.detail["request_id"].clone()),
        ("seams.output", json!(request.request_id))
    );
}

#[tokio::test]
async fn an_http_response_returns_the_formatted_answer() {
    let world = world().await;
    let mut request = request(json!({"type": "http_response"}));
    request.metadata.insert(
        "sources".into(),
        json!({"refund-policy:1:0": {"title": "Refund policy", "source_uri": "https://intra/refunds"}}),
    );
    let receipt = world.service(local_settings()).deliver(&request).await.unwrap();
    let body = receipt.body.unwrap();
    assert!(body.contains("[Refund policy](https://intra/refunds)"), "{body}");
}

#[tokio::test]
async fn internal_targets_and_hosts_off_the_allow_list_are_refused() {
    let world = world().await;
    let strict = Settings {
        outbound: OutboundPolicy {
            allowed_hosts: vec!["hooks.example.com".into(), "localhost".into()],
            ..OutboundPolicy::default()
        },
        ..local_settings()
    };
    let service = world.service(strict);
    for (url, field) in [
        ("https://169.254.169.254/latest/meta-data/iam", "destination.url"),
        ("https://10.0.0.8/hook", "destination.url"),
        ("http://hooks.example.com/hook", "destination.url"),
        ("https://other.example.com/hook", "destination.url"),
    ] {
        let error = service.deliver(&request(json!({"type": "webhook", "url": url}))).await.unwrap_err();
        assert_eq!((error.name, error.field.as_deref()), (ErrorName::InvalidInput, Some(field)), "{url}: {error}");
    }
    // A name that resolves to loopback is refused when connecting, and is not retried.
    let error =
        service.deliver(&request(json!({"type": "webhook", "url": "https://localhost:9/hook"}))).await.unwrap_err();
    assert_eq!(error.name, ErrorName::DeliveryFailed);
    assert!(error.detail.contains("after 1 attempts") && error.detail.contains("loopback"), "{error}");
}

#[tokio::test]
async fn bad_requests_name_their_field_and_send_nothing() {
    let world = world().await;
    let service = world.service(local_settings());
    let cases = [
        (json!({"destination": {"type": "fax", "number": "1"}}), "destination.type"),
        (
            json!({"destination": {"type": "email", "from": "not-an-address", "to": ["a@example.com"]}}),
            "destination.from",
        ),
        (json!({"destination": {"type": "email", "from": "a@example.com", "to": ["b@example"]}}), "destination.to"),
        (json!({"template": "{% for x in %}"}), "template"),
        (json!({"template": "x".repeat(10_001)}), "template"),
        (json!({"destination": {"type": "s3", "key_template": "{{ '../' }}x"}}), "destination.key_template"),
    ];
    for (patch, field) in cases {
        let mut event = sample_event("output/invoke-delivery.json");
        event["destination"] = json!({"type": "http_response"});
        for (k, v) in patch.as_object().unwrap() {
            event[k] = v.clone();
        }
        let error = seams_platform::function::handle(&service, event).await.unwrap_err();
        assert_eq!((error.name, error.field.as_deref()), (ErrorName::InvalidInput, Some(field)), "{patch}: {error}");
    }
    assert!(world.events().await.is_empty(), "nothing was delivered");
}

#[tokio::test]
async fn a_queue_batch_dead_letters_what_it_cannot_deliver_and_loses_nothing() {
    let world = world().await;
    let mut event = sample_event("output/sqs-delivery-batch.json");
    let records = event["Records"].as_array().unwrap().len();
    event["Records"][0]["body"] = json!("{not json");
    let mut good = request(json!({"type": "http_response"}));
    good.request_id = unique("req");
    event["Records"][records - 1]["body"] = json!(serde_json::to_string(&good).unwrap());
    let response = seams_platform::function::handle(&world.service(local_settings()), event).await.unwrap();
    assert_eq!(response["batchItemFailures"], json!([]), "{response}");
    let dead = drain(world.dead_letters.as_ref(), Duration::from_millis(1000)).await;
    assert!(dead.iter().any(|m| m.body.contains("{not json") && m.body.contains("Seams.InvalidInput")), "{dead:?}");
}
