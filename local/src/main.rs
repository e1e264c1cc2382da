//! The `seams` command.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};
use seams::commands::{self, IngestSummary, Question};
use seams::config::{self, Choices};
use seams::{invoke, InvokeError, LocalStack};
use serde_json::Value;

#[derive(Parser)]
#[command(name = "seams", version, about = "The seams pipeline on one machine, on embedded defaults.")]
struct Cli {
    /// Where the local buckets and the index live.
    #[arg(long, global = true, default_value = ".seams")]
    data_dir: PathBuf,
    /// Settings file (default: ./seams.toml when present).
    #[arg(long, global = true)]
    config: Option<PathBuf>,
    /// The model provider: offline, bedrock, openai or anthropic (SEAMS_MODEL_PROVIDER).
    #[arg(long, global = true)]
    model: Option<String>,
    /// The provider's model id (SEAMS_MODEL_ID).
    #[arg(long, global = true)]
    model_id: Option<String>,
    /// The embedder: hashing, local (the model scripts/setup.sh installs), bedrock or openai
    /// (SEAMS_EMBEDDER).
    #[arg(long, global = true)]
    embedder: Option<String>,
    /// The search index: sqlite, or a postgres:// URL (SEAMS_SEARCH).
    #[arg(long, global = true)]
    search: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Ingests examples/docs, then answers the sample questions in examples/questions.json.
    Demo,
    /// Serves the HTTP API's routes on 127.0.0.1 with the queues consumed in the background,
    /// until Ctrl-C (in-flight work is finished first).
    Up {
        #[arg(long, default_value_t = 3000)]
        port: u16,
        /// Offer MCP's `ingest_document` tool at /mcp.
        #[arg(long)]
        mcp_write_tools: bool,
        /// Require an HS256 bearer token signed with this secret (else SEAMS_JWT_SECRET), as
        /// the HTTP API's JWT authorizer does; its `tenant` claim (SEAMS_TENANT_CLAIM names
        /// another) makes the server multi-tenant.
        #[arg(long, conflicts_with = "jwks")]
        jwt_secret: Option<String>,
        /// Like --jwt-secret, for tokens from an identity provider: the JSON Web Key Set its
        /// jwks_uri serves, saved to a file (else SEAMS_JWKS_FILE). RS256, ES256 and EdDSA keys.
        #[arg(long, value_name = "FILE")]
        jwks: Option<PathBuf>,
        /// With a token check, also require this `iss` claim (else SEAMS_JWT_ISSUER), as
        /// JwtIssuer does when deployed.
        #[arg(long)]
        jwt_issuer: Option<String>,
        /// With a token check, also require this `aud` claim (else SEAMS_JWT_AUDIENCE), as
        /// JwtAudience does when deployed.
        #[arg(long)]
        jwt_audience: Option<String>,
    },
    /// Serves MCP on stdin/stdout for desktop agents: over the local pipeline (its data
    /// directory, queues consumed in the background), or over a deployed API with --api.
    Mcp {
        /// A deployed HTTP API's URL (the stack's ApiUrl output).
        #[arg(long)]
        api: Option<String>,
        /// The bearer token for --api (else SEAMS_API_TOKEN).
        #[arg(long)]
        token: Option<String>,
        /// Offer the `ingest_document` tool.
        #[arg(long)]
        write_tools: bool,
    },
    /// Ingests files, directories or glob patterns, then processes and indexes them.
    Ingest {
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// Answers a question through the answer workflow.
    Ask {
        question: String,
        /// key=value: only chunks whose metadata or attributes have this value.
        #[arg(long = "filter", value_parser = key_value)]
        filters: Vec<(String, String)>,
        /// vector, keyword or hybrid.
        #[arg(long)]
        mode: Option<String>,
        #[arg(long)]
        top_k: Option<u32>,
        /// Check the question and the answer with the guardrail (SEAMS_GUARDRAIL_* configure it).
        #[arg(long)]
        guardrail: bool,
        /// Ask a follow-up in this conversation (the session id an earlier answer printed).
        #[arg(long)]
        session: Option<String>,
        /// Split a compound question, retrieve for each part and answer once.
        #[arg(long)]
        decompose: bool,
        /// Print the workflow's output as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Executes a state machine definition locally, printing each transition.
    Run {
        /// e.g. statemachines/answer.asl.json
        definition: PathBuf,
        /// The execution input (JSON).
        #[arg(long, default_value = "{}")]
        input: String,
        /// name=directory: a local bucket ingest may read and a distributed map may list.
        #[arg(long = "source", value_parser = key_value)]
        sources: Vec<(String, String)>,
    },
    /// Measures retrieval on a test collection in the BEIR layout (corpus.jsonl,
    /// queries.jsonl, qrels/test.tsv): every document through ingest, process and the
    /// indexer, every judged query through retrieve; nDCG@10, recall@10/100, MRR@10 and
    /// latency per search mode. Uses a fresh data directory (PostgreSQL: schema
    /// seams_eval_<embedder>_<chunking>).
    Eval {
        dataset: PathBuf,
        /// Only this mode (vector, keyword or hybrid); every mode by default.
        #[arg(long)]
        mode: Option<String>,
        /// The chunking strategy (fixed, hierarchical, semantic, none), or `all` for one
        /// report per strategy; SEAMS_CHUNKING's (fixed by default) otherwise.
        #[arg(long)]
        chunking: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
        /// Also write each mode's rankings as a TREC run file (DIR/<mode>.trec).
        #[arg(long, value_name = "DIR")]
        runs: Option<PathBuf>,
    },
    /// Copies the embedded index in the data directory into an empty PostgreSQL schema by one
    /// bulk load (COPY, indexes built after the load). Then run with --search <URL>.
    CopyIndex {
        /// The database: postgres://user:password@host/db.
        url: String,
        /// The schema to fill (else SEAMS_DATABASE_SCHEMA, else seams).
        #[arg(long)]
        schema: Option<String>,
    },
    /// Builds the current vector index of a PostgreSQL schema that was too big for the
    /// indexer to rebuild on upgrade (decision 37). Searches go on meanwhile; writes wait.
    UpgradeIndex {
        /// The database: postgres://user:password@host/db.
        url: String,
        /// The schema (else SEAMS_DATABASE_SCHEMA, else seams).
        #[arg(long)]
        schema: Option<String>,
    },
    /// Runs one function's handler on a sample event and prints its response: the offline
    /// twin of `sam local invoke -e` and `cargo lambda invoke --data-file`.
    Invoke {
        /// ingest, process, retrieve, retrieve-indexer, infer, infer-stream, output, answer or gateway.
        function: String,
        /// An event file, e.g. events/ingest/http-post-documents.json.
        event: PathBuf,
    },
}

/// The PostgreSQL schema a maintenance command works on.
fn database_schema(given: &Option<String>) -> String {
    given.clone().or_else(|| std::env::var("SEAMS_DATABASE_SCHEMA").ok()).unwrap_or_else(|| "seams".into())
}

fn key_value(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.is_empty() => Ok((key.to_owned(), value.to_owned())),
        _ => Err(format!("{text:?} is not key=value")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(message) => {
            eprintln!("seams: {message}");
            ExitCode::from(2)
        }
    }
}

/// The local stack with the providers and backend the settings, environment and flags choose.
async fn open_stack(cli: &Cli, sources: &[(String, String)]) -> Result<LocalStack, String> {
    open_stack_with(cli, sources, &[]).await
}

/// [`open_stack`], with `defaults` for variables neither the environment nor seams.toml set.
async fn open_stack_with(
    cli: &Cli,
    sources: &[(String, String)],
    defaults: &[(&str, &str)],
) -> Result<LocalStack, String> {
    let choices = Choices {
        model: cli.model.clone(),
        model_id: cli.model_id.clone(),
        embedder: cli.embedder.clone(),
        search: cli.search.clone(),
    };
    let mut variables = config::variables(cli.config.as_deref(), std::env::vars(), &choices)?;
    for (name, value) in defaults {
        variables.entry((*name).to_owned()).or_insert_with(|| (*value).to_owned());
    }
    let searches_sqlite = variables.get(config::SEARCH_VAR).is_none_or(|search| search == "sqlite");
    let index_model = searches_sqlite
        .then(|| retrieve::sqlite::SqliteIndex::stored_model(&seams::sqlite_path(&cli.data_dir)))
        .flatten()
        .map(|model| model.model);
    if let Some(notice) = config::default_embedder(&mut variables, index_model.as_deref()) {
        eprintln!("seams: {notice}");
    }
    let stack = LocalStack::configured(&cli.data_dir, variables).await?;
    Ok(sources.iter().fold(stack, |stack, (name, dir)| stack.with_source(name, Path::new(dir))))
}

async fn run(cli: Cli) -> Result<ExitCode, String> {
    match &cli.command {
        Command::Invoke { function, event } => {
            if !seams::FUNCTIONS.contains(&function.as_str()) {
                return Err(InvokeError::UnknownFunction(function.clone()).to_string());
            }
            let event_json = read_json(event)?;
            match invoke(&Arc::new(open_stack(&cli, &[]).await?), function, event_json).await {
                Ok(response) => {
                    println!("{}", pretty(&response));
                    Ok(ExitCode::SUCCESS)
                }
                // Printed as Lambda reports a function error, for the same tooling.
                Err(InvokeError::Handler(error)) => {
                    println!(
                        "{}",
                        serde_json::json!({"errorType": error.name.as_str(), "errorMessage": error.to_string()})
                    );
                    Ok(ExitCode::FAILURE)
                }
                Err(other) => Err(other.to_string()),
            }
        }
        Command::Ingest { paths } => {
            let stack = open_stack(&cli, &[]).await?;
            let summary = ingest_with_progress(&stack, paths).await;
            print_summary(&summary);
            Ok(if summary.rejected.is_empty() && summary.failed_downstream.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Ask { question, filters, mode, top_k, guardrail, session, decompose, json } => {
            let question = Question {
                text: question.clone(),
                filters: filters.clone(),
                search_mode: mode.clone(),
                top_k: *top_k,
                guardrail: *guardrail,
                session_id: session.clone(),
                decompose: decompose.then_some(true),
            };
            let execution =
                commands::ask(Arc::new(open_stack(&cli, &[]).await?), &question).await.map_err(|e| e.to_string())?;
            if *json {
                match &execution.output {
                    Ok(output) => println!("{}", pretty(output)),
                    Err(error) => println!("{}", pretty(&serde_json::to_value(error).unwrap_or_default())),
                }
            } else {
                print!("{}", commands::describe_answer(&question, &execution));
            }
            Ok(if execution.output.is_ok() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
        }
        Command::Run { definition, input, sources } => {
            let text = std::fs::read_to_string(definition)
                .map_err(|e| format!("cannot read {}: {e}", definition.display()))?;
            let input: Value = serde_json::from_str(input).map_err(|e| format!("--input is not valid JSON: {e}"))?;
            let stack = Arc::new(open_stack(&cli, sources).await?);
            let execution = commands::run(stack.clone(), &text, input, |transition| println!("{transition}"))
                .await
                .map_err(|e| format!("{}: {e}", definition.display()))?;
            // What the execution queued (a backfill's documents) is processed and indexed too.
            let failed = stack.drain().await.map_err(|e| e.to_string())?;
            if !failed.is_empty() {
                println!("{} message(s) failed in process or the indexer", failed.len());
            }
            match &execution.output {
                Ok(output) => {
                    println!("succeeded:\n{}", pretty(output));
                    Ok(ExitCode::SUCCESS)
                }
                Err(error) => {
                    println!("failed: {}: {}", error.error, error.cause);
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        Command::Demo => demo(open_stack(&cli, &[]).await?).await,
        Command::CopyIndex { url, schema } => {
            let schema = database_schema(schema);
            let started = std::time::Instant::now();
            let copied = seams::copy_index::copy_index(&cli.data_dir, url, &schema).await?;
            println!(
                "Copied {} chunks of {} documents into schema {schema} in {:.1} s. Search it with --search <URL>.",
                copied.chunks,
                copied.documents,
                started.elapsed().as_secs_f64()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::UpgradeIndex { url, schema } => {
            let schema = database_schema(schema);
            let started = std::time::Instant::now();
            let built = seams::copy_index::upgrade_index(url, &schema).await?;
            let seconds = started.elapsed().as_secs_f64();
            match built {
                true => println!("Built the vector index of schema {schema} in {seconds:.1} s."),
                false => println!("The vector index of schema {schema} is current; nothing to do."),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Eval { dataset, mode, chunking, json, runs } => {
            evaluate(&cli, dataset, mode.as_deref(), chunking.as_deref(), *json, runs.as_deref()).await
        }
        Command::Mcp { api, token, write_tools } => {
            let routes: Arc<dyn gateway::api::Routes> = match api {
                Some(api) => {
                    let token = token.clone().or_else(|| std::env::var("SEAMS_API_TOKEN").ok());
                    Arc::new(seams::agents::RemoteRoutes::new(api, token)?)
                }
                None => {
                    let stack = Arc::new(open_stack(&cli, &[]).await?);
                    seams::server::consume_in_background(stack.clone());
                    Arc::new(seams::agents::LocalRoutes(stack))
                }
            };
            seams::agents::serve_stdio(gateway::api::Seams::new(routes), *write_tools).await?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Up { port, mcp_write_tools, jwt_secret, jwks, jwt_issuer, jwt_audience } => {
            let port = *port;
            let (verifier, token_kind) = match token_verifier(jwt_secret, jwks, jwt_issuer, jwt_audience)? {
                Some((verifier, kind)) => (Some(Arc::new(verifier)), kind),
                None => (None, String::new()),
            };
            let tenancy: &[(&str, &str)] =
                if verifier.is_some() { &[(seams_platform::tenancy::TENANT_CLAIM_VAR, "tenant")] } else { &[] };
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| match e.kind() {
                std::io::ErrorKind::AddrInUse => format!("port {port} is in use; choose another with --port"),
                _ => format!("cannot listen on 127.0.0.1:{port}: {e}"),
            })?;
            let address = listener.local_addr().map_err(|e| e.to_string())?;
            let stack =
                Arc::new(open_stack_with(&cli, &[], tenancy).await?.serving_uploads(&format!("http://{address}")));
            stack.release_abandoned_claims().await.map_err(|e| e.to_string())?;
            println!(
                "seams: serving http://{address} (data in {}, embedding with {}); Ctrl-C stops",
                cli.data_dir.display(),
                stack.embedding_model()
            );
            // Not println!: a caller may read only the first line (the address) and close the pipe.
            let _ = writeln!(
                std::io::stdout(),
                "seams: webhooks are signed (Standard Webhooks) with SEAMS_WEBHOOK_SIGNING_SECRET, else the key in {}",
                seams::webhook_secret::path(&cli.data_dir).display()
            );
            let _ = std::io::stdout().flush();
            let agents = gateway::Options {
                write_tools: *mcp_write_tools,
                allowed_hosts: Some(vec![
                    "127.0.0.1".into(),
                    "localhost".into(),
                    format!("127.0.0.1:{}", address.port()),
                    format!("localhost:{}", address.port()),
                ]),
            };
            if verifier.is_some() {
                let claim = stack.settings().tenancy.claim().unwrap_or("tenant").to_owned();
                let _ = writeln!(
                    std::io::stdout(),
                    "seams: every route needs {token_kind}; its {claim} claim is the caller's tenant"
                );
            }
            seams::server::serve(stack, listener, agents, verifier, stopped()).await.map_err(|e| e.to_string())?;
            // Not println!: whoever started us may have stopped reading stdout.
            let _ = writeln!(std::io::stdout(), "seams: stopped; queued work finished");
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// The bearer-token check `seams up` makes, from its flags or their environment variables,
/// and how to name the tokens it wants; `None` leaves the server single-tenant.
fn token_verifier(
    secret: &Option<String>,
    jwks: &Option<PathBuf>,
    issuer: &Option<String>,
    audience: &Option<String>,
) -> Result<Option<(seams::jwt::JwtVerifier, String)>, String> {
    let from_env = |name: &str| std::env::var(name).ok().filter(|value| !value.is_empty());
    let jwks = jwks.clone().or_else(|| from_env("SEAMS_JWKS_FILE").map(PathBuf::from));
    let (verifier, kind) = match (secret.clone().or_else(|| from_env("SEAMS_JWT_SECRET")), jwks) {
        (Some(_), Some(_)) => return Err("choose one of --jwt-secret and --jwks".to_owned()),
        (Some(secret), None) => {
            let verifier = seams::jwt::JwtVerifier::with_secret(&secret).map_err(|e| e.to_string())?;
            (verifier, "an HS256 bearer token".to_owned())
        }
        (None, Some(path)) => {
            let json = std::fs::read_to_string(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let verifier =
                seams::jwt::JwtVerifier::with_key_set(&json).map_err(|e| format!("{}: {e}", path.display()))?;
            (verifier, format!("a bearer token signed by a key in {}", path.display()))
        }
        (None, None) => return Ok(None),
    };
    let issuer = issuer.clone().or_else(|| from_env("SEAMS_JWT_ISSUER"));
    let audience = audience.clone().or_else(|| from_env("SEAMS_JWT_AUDIENCE"));
    Ok(Some((verifier.requiring(issuer, audience), kind)))
}

/// Ctrl-C or SIGTERM.
async fn stopped() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(_) => return std::future::pending().await,
        };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

async fn demo(stack: LocalStack) -> Result<ExitCode, String> {
    let examples = ["examples", concat!(env!("CARGO_MANIFEST_DIR"), "/../examples")]
        .iter()
        .map(PathBuf::from)
        .find(|dir| dir.join("docs").is_dir())
        .ok_or("examples/docs not found: run the demo from the repository")?;
    let docs = examples.join("docs").to_string_lossy().into_owned();
    println!("Ingesting {docs} (embedding with {}) …", stack.embedding_model());
    let summary = ingest_with_progress(&stack, &[docs]).await;
    print_summary(&summary);
    let questions: Vec<Value> = serde_json::from_value(read_json(&examples.join("questions.json"))?)
        .map_err(|e| format!("examples/questions.json: {e}"))?;
    let stack = Arc::new(stack);
    let mut failures = 0;
    for entry in questions {
        let filters = entry["filters"]
            .as_object()
            .map(|f| f.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned())).collect())
            .unwrap_or_default();
        let question = Question {
            text: entry["question"].as_str().unwrap_or_default().to_owned(),
            filters,
            ..Question::default()
        };
        let execution = commands::ask(stack.clone(), &question).await.map_err(|e| e.to_string())?;
        failures += usize::from(execution.output.is_err());
        println!("\n{}", commands::describe_answer(&question, &execution));
    }
    Ok(if failures == 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

async fn evaluate(
    cli: &Cli,
    dir: &Path,
    mode: Option<&str>,
    chunking: Option<&str>,
    json: bool,
    runs: Option<&Path>,
) -> Result<ExitCode, String> {
    use seams::eval;
    use seams_contracts::retrieve::SearchMode;
    let modes = match mode {
        Some(mode) => vec![eval::parse_mode(mode)?],
        None => vec![SearchMode::Keyword, SearchMode::Vector, SearchMode::Hybrid],
    };
    let strategies = eval::parse_chunking(chunking)?;
    let dataset = eval::dataset::Dataset::load(dir).map_err(|e| e.to_string())?;
    let choices = Choices {
        model: cli.model.clone(),
        model_id: cli.model_id.clone(),
        embedder: cli.embedder.clone(),
        search: cli.search.clone(),
    };
    let mut variables = config::variables(cli.config.as_deref(), std::env::vars(), &choices)?;
    if let Some(notice) = config::default_embedder(&mut variables, None) {
        eprintln!("seams: {notice}");
    }
    let mut reports = Vec::new();
    for strategy in strategies {
        let mut variables = variables.clone();
        if let Some(strategy) = strategy {
            variables.insert("SEAMS_CHUNKING".into(), strategy.name().into());
        }
        let report = evaluate_once(&dataset, &modes, variables).await?;
        if let Some(runs) = runs {
            let runs = if chunking == Some("all") { runs.join(&report.chunking) } else { runs.to_owned() };
            std::fs::create_dir_all(&runs).map_err(|e| format!("cannot make {}: {e}", runs.display()))?;
            for mode in &report.modes {
                let path = runs.join(eval::trec_run_file(mode.mode));
                std::fs::write(&path, eval::trec_run(mode))
                    .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            }
        }
        if !json {
            print!("{}", eval::describe(&report));
        }
        reports.push(report);
    }
    if json {
        let value = match reports.as_slice() {
            [one] => serde_json::to_value(one),
            all => serde_json::to_value(all),
        };
        println!("{}", pretty(&value.unwrap_or_default()));
    }
    Ok(ExitCode::SUCCESS)
}

/// One run of `seams eval` with these variables, in a data directory (and PostgreSQL
/// schema) of its own: never the user's data.
async fn evaluate_once(
    dataset: &seams::eval::dataset::Dataset,
    modes: &[seams_contracts::retrieve::SearchMode],
    mut variables: std::collections::BTreeMap<String, String>,
) -> Result<seams::eval::Report, String> {
    use seams::eval::{self, Progress};
    let data = tempfile::tempdir().map_err(|e| format!("cannot make a data directory: {e}"))?;
    // One schema per embedder and strategy: an index holds one model's vectors.
    let name = |key: &str, default: &str| -> String {
        variables
            .get(key)
            .map_or(default, String::as_str)
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '_' })
            .collect()
    };
    let schema = format!("seams_eval_{}_{}", name("SEAMS_EMBEDDER", "hashing"), name("SEAMS_CHUNKING", "fixed"));
    variables.entry("SEAMS_DATABASE_SCHEMA".into()).or_insert(schema);
    let stack = LocalStack::configured(data.path(), variables).await?;
    eprintln!("seams: embedding with {}, chunking {}", stack.embedding_model(), stack.settings().process.strategy);
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = eval::run(&stack, dataset, modes, |progress| {
        let (message, done, total) = match progress {
            Progress::Ingested { done, total } => ("ingesting".to_owned(), done, total),
            Progress::Asked { mode, done, total } => (format!("asking ({mode:?})").to_lowercase(), done, total),
        };
        bar.set_message(message);
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await?;
    bar.finish_and_clear();
    Ok(report)
}

async fn ingest_with_progress(stack: &LocalStack, paths: &[String]) -> IngestSummary {
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let summary = commands::ingest_files(stack, paths, |done, total, current| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
        bar.set_message(current.to_owned());
    })
    .await;
    bar.finish_and_clear();
    summary
}

fn print_summary(summary: &IngestSummary) {
    println!(
        "ingested {}, duplicates {}, rejected {}",
        summary.ingested.len(),
        summary.duplicates.len(),
        summary.rejected.len()
    );
    for (path, reason) in &summary.rejected {
        println!("  rejected {path}: {reason}");
    }
    if !summary.failed_downstream.is_empty() {
        println!(
            "  {} message(s) failed in process or the indexer; they are retried, then dead-lettered",
            summary.failed_downstream.len()
        );
    }
}

fn read_json(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{} is not valid JSON: {e}", path.display()))
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default()
}
