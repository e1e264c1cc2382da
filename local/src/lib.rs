//! `seams` on one machine: the five services' own handlers wired to local adapters — a
//! directory per bucket, in-process queues and bus — so the pipeline runs with no AWS
//! account and no API keys.

pub mod agents;
pub mod asl;
pub mod commands;
pub mod config;
pub mod copy_index;
pub mod eval;
pub mod jwt;
pub mod server;
pub mod webhook_secret;
pub mod workflow;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use aws_lambda_events::sqs::SqsEvent;
use infer::provider::ModelProvider;
use retrieve::index::SearchIndex;
use retrieve::sqlite::SqliteIndex;
use seams_embeddings::config::EmbedderConfig;
use seams_embeddings::hashing::HashingEmbedder;
use seams_embeddings::{Embedder, Purpose};
use seams_platform::aws::{AwsSettings, SdkConfig};
use seams_platform::config::Env;
use seams_platform::event_bus::LocalEventBus;
use seams_platform::function;
use seams_platform::object_store::{FsObjectStore, ObjectInfo, ObjectStore, PutOptions, StoreError, UploadSigner};
use seams_platform::queue::{poller, LocalQueue, OutgoingMessage, Queue, QueueError};
use seams_platform::ServiceError;
use serde_json::Value;

/// The functions `seams invoke` can run, by their Lambda binary names.
pub const FUNCTIONS: [&str; 9] =
    ["ingest", "process", "retrieve", "retrieve-indexer", "infer", "infer-stream", "output", "answer", "gateway"];

/// How long a local queue hides a received message, as the deployed queues do.
const VISIBILITY_TIMEOUT: Duration = Duration::from_secs(30);
const MAX_RECEIVE_COUNT: u32 = 5;

/// Every service's local resources, under one data directory.
pub struct LocalStack {
    pub data_dir: PathBuf,
    pub raw: Arc<FsObjectStore>,
    pub records: Arc<FsObjectStore>,
    pub output: Arc<FsObjectStore>,
    pub process_queue: Arc<LocalQueue>,
    pub indexer_queue: Arc<LocalQueue>,
    pub output_dead_letters: Arc<LocalQueue>,
    /// Uploads ingest failed on: what an asynchronous invoke's `OnFailure` destination gets.
    pub ingest_dead_letters: Arc<LocalQueue>,
    /// The answer workflow's failures (`workflow::FAILURES_QUEUE_URL`).
    pub answer_failures: Arc<LocalQueue>,
    pub bus: Arc<LocalEventBus>,
    /// Directories ingest may read `s3://<name>/…` from, and backfill may list.
    pub sources: BTreeMap<String, Arc<dyn ObjectStore>>,
    /// Where a distributed map's ResultWriter writes.
    pub reports: Arc<FsObjectStore>,
    /// The answer workflow's conversations (answer's sessions bucket when deployed).
    pub sessions: Arc<FsObjectStore>,
    /// Shared by the query function and the indexer (by default one SQLite file).
    pub index: Arc<dyn SearchIndex>,
    documents_embedder: Arc<dyn Embedder>,
    queries_embedder: Arc<dyn Embedder>,
    model: Arc<dyn ModelProvider>,
    /// Bedrock's reranker, when `SEAMS_RERANK_MODEL` names one.
    reranker: Option<Arc<dyn retrieve::Reranker>>,
    /// The configured guardrail (`SEAMS_GUARDRAIL`); the offline one from the settings if none.
    guardrail: Option<Arc<dyn infer::guardrail::Guardrail>>,
    /// Set when a server accepts PUTs to the upload URLs ingest hands out.
    upload_signer: Option<Arc<UploadSigner>>,
    output_service: output::Service,
    settings: Settings,
}

/// Each service's tuning, read from the same `SEAMS_*` variables as when deployed.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Whose documents a caller sees (`SEAMS_TENANT_CLAIM`): ingest's, retrieve's and answer's.
    pub tenancy: seams_platform::tenancy::Tenancy,
    pub ingest: ingest::Settings,
    pub process: process::Settings,
    pub retrieve: retrieve::Settings,
    pub infer: infer::Settings,
    pub output: output::Settings,
    /// How long a conversation lasts after its last turn (`SEAMS_SESSION_TTL_SECONDS`).
    pub session_ttl: std::time::Duration,
    /// Decompose every question a request does not say otherwise of
    /// (`SEAMS_DECOMPOSE_QUESTIONS`; the template's `DecomposeQuestions`).
    pub decompose_questions: bool,
}

impl Settings {
    /// Every service's tuning variables; bad values are recorded in `env`.
    fn from_env(env: &Env, embedder: &EmbedderConfig, infer: infer::Settings) -> Self {
        Self {
            tenancy: seams_platform::tenancy::Tenancy::from_env(env),
            ingest: ingest::Settings::from_env(env),
            process: process::Settings::from_env(env),
            retrieve: retrieve::Settings::from_env(env, embedder),
            infer,
            output: output::Settings::from_env(env),
            session_ttl: std::time::Duration::from_secs(
                env.parse_or("SEAMS_SESSION_TTL_SECONDS", answer::DEFAULT_SESSION_TTL_SECONDS),
            ),
            decompose_questions: env.flag("SEAMS_DECOMPOSE_QUESTIONS", false),
        }
    }
}

/// Where the embedded index lives in a data directory.
pub fn sqlite_path(data_dir: &Path) -> PathBuf {
    data_dir.join("retrieve").join("index.sqlite")
}

/// The SDK's configuration, for a configured `choice` that calls AWS.
#[cfg(feature = "aws")]
async fn aws_config(settings: &AwsSettings, _choice: &str) -> Result<SdkConfig, String> {
    Ok(settings.load().await)
}

/// A build without the `aws` feature (the default for `seams`) cannot call AWS.
#[cfg(not(feature = "aws"))]
async fn aws_config(_settings: &AwsSettings, choice: &str) -> Result<SdkConfig, String> {
    Err(seams_platform::aws::left_out(choice).to_string())
}

/// A connection URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

/// A queue kept in `<data dir>/queues/<name>.jsonl`: what was queued when seams stopped (or
/// was killed) is queued again when it starts.
fn durable_queue(data_dir: &Path, name: &str) -> Result<LocalQueue, QueueError> {
    LocalQueue::durable(name, VISIBILITY_TIMEOUT, &data_dir.join("queues").join(format!("{name}.jsonl")))
}

fn queue_with_dead_letter(data_dir: &Path, name: &str) -> Result<Arc<LocalQueue>, QueueError> {
    let dead_letter = Arc::new(durable_queue(data_dir, &format!("{name}-dlq"))?);
    Ok(Arc::new(durable_queue(data_dir, name)?.with_dead_letter(dead_letter, MAX_RECEIVE_COUNT)))
}

impl LocalStack {
    /// The embedded defaults: hashing embedder, SQLite index in the data directory, offline
    /// model. Fails if the index cannot be opened.
    pub fn new(data_dir: &Path) -> Result<Self, ServiceError> {
        let embedder: Arc<dyn Embedder> = Arc::new(HashingEmbedder::default());
        let index = Arc::new(SqliteIndex::open(&sqlite_path(data_dir), embedder.model().clone())?);
        let no_variables = Env::from_pairs(Vec::<(String, String)>::new());
        let hashing = EmbedderConfig::Hashing { dims: embedder.model().dims };
        let settings = Settings::from_env(&no_variables, &hashing, infer::Settings::default());
        Self::with(data_dir, index, embedder.clone(), embedder, Arc::new(infer::offline::OfflineModel), settings)
    }

    /// The providers and backend `variables` select (the deployed functions' `SEAMS_*`
    /// variables, see [`config`]); AWS is only contacted when a choice needs it.
    pub async fn configured(data_dir: &Path, variables: BTreeMap<String, String>) -> Result<Self, String> {
        let env = Env::from_pairs(variables.clone());
        let embedder = EmbedderConfig::from_env(&env);
        let search = env.optional(config::SEARCH_VAR).unwrap_or_else(|| "sqlite".into());
        let schema = env.optional("SEAMS_DATABASE_SCHEMA").unwrap_or_else(|| "seams".into());
        let ef_search = retrieve::ef_search_from_env(&env);
        let ivfflat_probes_percent = retrieve::ivfflat_probes_percent_from_env(&env);
        let hybrid_lists_at_once = retrieve::hybrid_lists_at_once_from_env(&env);
        let infer = infer::Config::from_env(Env::from_pairs(variables)).map_err(|e| e.to_string())?;
        let mut settings = Settings::from_env(&env, &embedder, infer.settings.clone());
        if settings.output.webhook_secret.is_none() && settings.output.webhook_secret_ref.is_none() {
            settings.output.webhook_secret = Some(webhook_secret::kept_or_new(data_dir)?);
        }
        env.finish().map_err(|e| e.to_string())?;
        let aws_choice = [
            (matches!(embedder, EmbedderConfig::Bedrock { .. }), "SEAMS_EMBEDDER=bedrock"),
            (infer.provider.needs_aws(), "SEAMS_MODEL_PROVIDER (Bedrock, or a key in Secrets Manager)"),
            (settings.retrieve.rerank.model.is_some(), "SEAMS_RERANK_MODEL (Bedrock's reranker)"),
            (
                matches!(infer.settings.guardrail.mode, infer::guardrail::GuardrailMode::Bedrock { .. }),
                "SEAMS_GUARDRAIL=bedrock",
            ),
        ]
        .into_iter()
        .find_map(|(needed, choice)| needed.then_some(choice));
        let sdk = match aws_choice {
            Some(choice) => aws_config(&infer.aws, choice).await?,
            None => seams_platform::aws::empty_config(),
        };
        let built = |purpose| embedder.build(&sdk, purpose).map_err(|e| e.to_string());
        let documents = built(Purpose::Documents)?;
        // A model in process is loaded once; only providers that embed by purpose need two.
        let queries = match embedder {
            EmbedderConfig::Local { .. } | EmbedderConfig::Hashing { .. } => documents.clone(),
            _ => built(Purpose::Queries)?,
        };
        let model = queries.model().clone();
        let index: Arc<dyn SearchIndex> = match search.as_str() {
            "sqlite" => Arc::new(SqliteIndex::open(&sqlite_path(data_dir), model).map_err(|e| e.to_string())?),
            url if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
                let connection = url.parse().map_err(|e| format!("{}: {e}", config::SEARCH_VAR))?;
                let connection = retrieve::postgres::Connection::Fixed(connection);
                let settings = retrieve::postgres::PostgresSettings { connection, schema, ca_file: None };
                let index = retrieve::postgres::PostgresIndex::new(settings, model)
                    .map_err(|e| e.to_string())?
                    .with_ef_search(ef_search)
                    .with_ivfflat_probes_percent(ivfflat_probes_percent)
                    .with_hybrid_lists_at_once(hybrid_lists_at_once);
                index.migrate().await.map_err(|e| format!("PostgreSQL at {}: {e}", redact(url)))?;
                Arc::new(index)
            }
            other => return Err(format!("{}: {other:?} is neither sqlite nor a postgres:// URL", config::SEARCH_VAR)),
        };
        let provider = infer::build_provider(&infer, &sdk).await.map_err(|e| e.to_string())?;
        #[cfg(feature = "aws")]
        let reranker =
            settings.retrieve.rerank.model.as_deref().map(|model| {
                Arc::new(retrieve::rerank::BedrockReranker::new(&sdk, model)) as Arc<dyn retrieve::Reranker>
            });
        // A reranking model needs AWS, which `aws_config` refused above.
        #[cfg(not(feature = "aws"))]
        let reranker = None;
        let stack = Self::with(data_dir, index, documents, queries, provider, settings).map_err(|e| e.to_string())?;
        let guardrail = Some(infer::build_guardrail(&infer.settings, &sdk).map_err(|e| e.to_string())?);
        Ok(Self { reranker, guardrail, ..stack })
    }

    fn with(
        data_dir: &Path,
        index: Arc<dyn SearchIndex>,
        documents_embedder: Arc<dyn Embedder>,
        queries_embedder: Arc<dyn Embedder>,
        model: Arc<dyn ModelProvider>,
        settings: Settings,
    ) -> Result<Self, ServiceError> {
        let bus = Arc::new(LocalEventBus::new());
        let indexer_queue = queue_with_dead_letter(data_dir, "indexer")?;
        // The same rule template.yaml gives EventBridge: processed and deleted documents feed the indexer.
        bus.add_rule(seams_platform::routes::indexer_rule(), indexer_queue.clone());
        let output = Arc::new(FsObjectStore::new(data_dir.join("output")));
        let output_dead_letters = Arc::new(durable_queue(data_dir, "output-dlq")?);
        let output_service = local_output(&output, &output_dead_letters, &bus, &settings.output)?;
        Ok(Self {
            data_dir: data_dir.to_owned(),
            // One directory per owning service, as one bucket per service when deployed.
            raw: Arc::new(FsObjectStore::new(data_dir.join("ingest"))),
            records: Arc::new(FsObjectStore::new(data_dir.join("process"))),
            output,
            process_queue: queue_with_dead_letter(data_dir, "process")?,
            indexer_queue,
            output_dead_letters,
            ingest_dead_letters: Arc::new(durable_queue(data_dir, "ingest-dlq")?),
            answer_failures: Arc::new(durable_queue(data_dir, "answer-failures")?),
            bus,
            sources: BTreeMap::new(),
            reports: Arc::new(FsObjectStore::new(data_dir.join(workflow::REPORTS_BUCKET))),
            sessions: Arc::new(FsObjectStore::new(data_dir.join("answer"))),
            index,
            documents_embedder,
            queries_embedder,
            model,
            reranker: None,
            guardrail: None,
            upload_signer: None,
            output_service,
            settings,
        })
    }

    /// The model documents and queries are embedded with, as the index records it.
    /// Each service's tuning, as read from the variables.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn embedding_model(&self) -> &str {
        &self.queries_embedder.model().model
    }

    /// Lets ingest read (and backfill list) the directory `dir` as the bucket `name`.
    pub fn with_source(mut self, name: &str, dir: &Path) -> Self {
        self.sources.insert(name.to_owned(), Arc::new(FsObjectStore::new(dir)));
        self
    }

    /// Lets ingest hand out upload URLs that a server at `base_url` accepts ([`Self::receive_upload`]).
    pub fn serving_uploads(mut self, base_url: &str) -> Self {
        let signer = Arc::new(UploadSigner::new(base_url));
        self.raw = Arc::new(FsObjectStore::new(self.data_dir.join("ingest")).with_upload_signer(signer.clone()));
        self.upload_signer = Some(signer);
        self
    }

    pub fn upload_signer(&self) -> Option<&UploadSigner> {
        self.upload_signer.as_deref()
    }

    /// What S3 does with a PUT to a presigned URL: stores the object, then has ingest take it
    /// from the `ObjectCreated` notification, tried up to three times as an asynchronous
    /// invoke is. An upload ingest still fails on is in `ingest-dlq` with its cause.
    pub async fn receive_upload(self: &Arc<Self>, key: &str, body: bytes::Bytes) -> Result<ObjectInfo, StoreError> {
        let size = body.len();
        let stored = self.raw.put(key, body, PutOptions::default()).await?;
        let event = serde_json::json!({"Records": [{
            "eventVersion": "2.1",
            "eventSource": "aws:s3",
            "eventTime": chrono::Utc::now().to_rfc3339(),
            "eventName": "ObjectCreated:Put",
            "awsRegion": "local",
            "userIdentity": {"principalId": "seams-up"},
            "requestParameters": {"sourceIPAddress": "127.0.0.1"},
            "responseElements": {},
            "s3": {
                "s3SchemaVersion": "1.0",
                "bucket": {"name": self.raw.location()},
                "object": {"key": key, "size": size, "eTag": stored.etag.as_deref().unwrap_or_default().trim_matches('"')},
            },
        }]});
        let mut attempts = 0;
        let failure = loop {
            attempts += 1;
            match invoke(self, "ingest", event.clone()).await {
                Ok(_) => return Ok(stored),
                Err(InvokeError::Handler(error)) if error.name.is_retryable() && attempts < 3 => continue,
                Err(InvokeError::Handler(error)) => break (error.name.as_str().to_owned(), error.to_string()),
                Err(error) => break ("Unhandled".to_owned(), error.to_string()),
            }
        };
        let (error_type, cause) = failure;
        eprintln!("seams: the upload {key} was not ingested ({cause}); it is in the ingest-dlq queue");
        let record = serde_json::json!({
            "requestContext": {"condition": "RetriesExhausted", "functionArn": "ingest", "approximateInvokeCount": attempts},
            "requestPayload": event,
            "responsePayload": {"errorType": error_type, "errorMessage": cause},
        });
        if let Err(error) = self.ingest_dead_letters.send(OutgoingMessage::new(record.to_string())).await {
            eprintln!("seams: the ingest-dlq queue did not take the failed upload {key}: {error}");
        }
        Ok(stored)
    }

    /// Frees the ingest and delivery claims a killed run left in progress: this process now
    /// owns the data directory, so no one else will finish them.
    pub async fn release_abandoned_claims(&self) -> Result<usize, ServiceError> {
        Ok(self.ingest().release_abandoned_claims().await? + self.output().release_abandoned_claims().await?)
    }

    /// Plays the SQS event source mappings until nothing is left: process's queue, then the
    /// indexer's (fed by the bus rule). Returns the message ids a handler reported as failed;
    /// they are back on their queue, and past the receive limit in its dead-letter queue.
    pub async fn drain(&self) -> Result<Vec<String>, QueueError> {
        let process = self.process();
        let indexer = self.indexer();
        let mut failed = Vec::new();
        while !self.process_queue.is_empty() || !self.indexer_queue.is_empty() {
            let before = failed.len();
            failed.extend(poller::deliver(self.process_queue.as_ref(), |event| process.handle_batch(event)).await?);
            failed.extend(poller::deliver(self.indexer_queue.as_ref(), |event| indexer.handle_batch(event)).await?);
            if failed.len() > before {
                // Failed messages are invisible until their timeout: report them, do not wait.
                break;
            }
        }
        Ok(failed)
    }

    pub fn ingest(&self) -> ingest::Service {
        let sources = self.sources.clone();
        let settings = self.settings.ingest.clone();
        ingest::Service::new(self.raw.clone(), self.process_queue.clone(), self.bus.clone(), sources, settings)
    }

    pub fn process(&self) -> process::Service {
        let settings = self.settings.process;
        process::Service::new(
            self.raw.clone(),
            self.records.clone(),
            self.bus.clone(),
            self.documents_embedder.clone(),
            settings,
        )
    }

    pub fn retrieve(&self) -> retrieve::Service {
        let settings = &self.settings.retrieve;
        let service = retrieve::Service::new(self.index.clone(), self.queries_embedder.clone(), settings.fusion)
            .with_feedback(settings.feedback)
            .with_tenancy(self.settings.tenancy.clone());
        match &self.reranker {
            Some(reranker) => service.with_reranker(reranker.clone(), settings.rerank.clone()),
            None => service,
        }
    }

    pub fn indexer(&self) -> retrieve::indexer::Indexer {
        retrieve::indexer::Indexer::new(self.index.clone(), self.records.clone())
    }

    pub fn infer(&self) -> infer::Service {
        let settings = self.settings.infer.clone();
        match &self.guardrail {
            Some(guardrail) => infer::Service::with_guardrail(self.model.clone(), guardrail.clone(), settings),
            None => infer::Service::new(self.model.clone(), settings),
        }
    }

    /// Output's service, built once: its HTTP client reads the system's root certificates,
    /// which cost more than a delivery when done for each one.
    pub fn output(&self) -> &output::Service {
        &self.output_service
    }
}

/// Output on the local stores: secrets are environment variables, mail is files under
/// `output/mail/`, every bus is the local one, and webhooks may be plain http to loopback
/// receivers.
fn local_output(
    store: &Arc<FsObjectStore>,
    dead_letters: &Arc<LocalQueue>,
    bus: &Arc<LocalEventBus>,
    settings: &output::Settings,
) -> Result<output::Service, ServiceError> {
    let channels = output::Channels {
        secrets: Arc::new(output::channels::EnvSecrets),
        mailer: Arc::new(output::channels::FileMailer { store: store.clone() }),
        buses: Arc::new(output::channels::OneBus(bus.clone())),
    };
    let mut settings = settings.clone();
    settings.outbound.allow_loopback_http = true;
    settings.outbound.allow_private = true;
    output::Service::new(store.clone(), dead_letters.clone(), bus.clone(), channels, settings)
}

/// Why an invoke produced no response.
#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error("unknown function {0:?}; expected one of {list}", list = FUNCTIONS.join(", "))]
    UnknownFunction(String),
    #[error("{function} takes SQS events: {reason}")]
    NotSqs { function: String, reason: String },
    /// The handler failed, as Lambda would report it.
    #[error("{0}")]
    Handler(ServiceError),
}

fn sqs_event(function: &str, event: Value) -> Result<SqsEvent, InvokeError> {
    serde_json::from_value(event)
        .map_err(|e| InvokeError::NotSqs { function: function.to_owned(), reason: e.to_string() })
}

fn to_json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

/// A function URL's streamed answer, gathered: the status, content type and every frame.
async fn stream_reply(service: &infer::Service, event: Value) -> Value {
    use futures::StreamExt;
    let request = match serde_json::from_value(event) {
        Ok(request) => request,
        Err(e) => return serde_json::json!({"statusCode": 400, "body": format!("not a function URL event: {e}")}),
    };
    let reply = service.stream_http(&request).await;
    let body: Vec<u8> = reply.body.collect::<Vec<_>>().await.concat();
    serde_json::json!({
        "statusCode": reply.status,
        "headers": {"content-type": reply.content_type, "x-correlation-id": reply.correlation.as_str()},
        "body": String::from_utf8_lossy(&body),
    })
}

/// Runs one function's handler on one event, as Lambda would, and returns its response.
pub async fn invoke(stack: &Arc<LocalStack>, function: &str, event: Value) -> Result<Value, InvokeError> {
    let handled = match function {
        "ingest" => function::handle(&stack.ingest(), event).await,
        "retrieve" => function::handle(&stack.retrieve(), event).await,
        "infer" => function::handle(&stack.infer(), event).await,
        "output" => function::handle(stack.output(), event).await,
        "process" => Ok(to_json(&stack.process().handle_batch(sqs_event(function, event)?).await)),
        "retrieve-indexer" => Ok(to_json(&stack.indexer().handle_batch(sqs_event(function, event)?).await)),
        "infer-stream" => Ok(stream_reply(&stack.infer(), event).await),
        "answer" => function::handle(&workflow::answer_service(stack), event).await,
        "gateway" => {
            let event = serde_json::from_value(event)
                .map_err(|e| ServiceError::invalid_input("event", format!("the gateway takes HTTP API events: {e}")));
            match event {
                Ok(event) => {
                    let seams = gateway::api::Seams::new(Arc::new(agents::LocalRoutes(stack.clone())));
                    let router = gateway::router(seams, gateway::Options::default());
                    Ok(to_json(&gateway::handle_event(router, event).await))
                }
                Err(error) => Err(error),
            }
        }
        other => return Err(InvokeError::UnknownFunction(other.to_owned())),
    };
    handled.map_err(InvokeError::Handler)
}
