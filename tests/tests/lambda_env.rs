//! `scripts/stack.sh lambda-env`, the environment `cargo lambda watch --env-file` runs the
//! functions in: every function's configuration loads from it, and the functions built from
//! it as their `main` builds them work on the resources it made on moto. Ingest takes the
//! sample document; the answer function runs the sample question through the Express
//! workflow on moto, whose tasks are served here as `cargo lambda watch` serves them.
//! The env.json it writes for `sam local invoke --env-vars` is checked the same way, through
//! the environment SAM CLI's own code gives each function of the template (no Docker needed).

use std::path::Path;
use std::sync::Arc;

use aws_sdk_s3::config::Credentials;
use seams_platform::config::Env;
use seams_platform::function::handle;
use seams_tests::invoke_api::{FunctionError, Functions, InvokeApi};
use seams_tests::stack::Moto;
use serde_json::Value;

fn root() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Runs one of scripts/ with the tools' Python, and returns what it printed.
fn python_script(script: &str, args: &[&std::ffi::OsStr]) -> String {
    let python = root().join(".tools/venv/bin/python");
    let ran = std::process::Command::new(&python)
        .arg(root().join("scripts").join(script))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{} (scripts/setup.sh installs it): {e}", python.display()));
    assert!(ran.status.success(), "{script} failed: {}", String::from_utf8_lossy(&ran.stderr));
    String::from_utf8_lossy(&ran.stdout).into_owned()
}

/// Runs scripts/lambda_env.py as `scripts/stack.sh lambda-env` does, and reads the env file
/// it wrote to `out` (and SAM's env.json to `sam_out`).
fn lambda_env(moto: &Moto, region: &str, invoke_port: u16, out: &Path, sam_out: &Path) -> Vec<(String, String)> {
    let stack = seams_tests::unique("seams-env");
    let port = invoke_port.to_string();
    let args = [
        "--endpoint".as_ref(),
        moto.endpoint.as_ref(),
        "--region".as_ref(),
        region.as_ref(),
        "--stack".as_ref(),
        stack.as_ref(),
        "--invoke-port".as_ref(),
        port.as_ref(),
        "--out".as_ref(),
        out.as_os_str(),
        "--sam-out".as_ref(),
        sam_out.as_os_str(),
    ];
    python_script("lambda_env.py", &args);
    let text = std::fs::read_to_string(out).unwrap();
    text.lines()
        .map(|line| {
            let (name, quoted) = line.split_once('=').unwrap_or_else(|| panic!("not KEY=VALUE: {line}"));
            let value: String = serde_json::from_str(quoted).unwrap_or_else(|e| panic!("{line}: {e}"));
            (name.to_owned(), value)
        })
        .collect()
}

fn env(pairs: &[(String, String)]) -> Env {
    Env::from_pairs(pairs.iter().cloned())
}

async fn sdk(settings: &seams_platform::aws::AwsSettings) -> aws_config::SdkConfig {
    // The functions read credentials from the process; these are the file's.
    settings
        .loader()
        .credentials_provider(Credentials::new("testing", "testing", None, None, "lambda-env"))
        .load()
        .await
}

#[tokio::test(flavor = "multi_thread")]
async fn the_functions_run_on_the_environment_lambda_env_writes() {
    let moto = Moto::isolated().await;
    let region = moto.sdk.region().map(|r| r.to_string()).unwrap_or_default();
    let dir = tempfile::tempdir().unwrap();
    let pairs = lambda_env(&moto, &region, 9000, &dir.path().join("lambda.env"), &dir.path().join("env.json"));

    // Every function's configuration is complete (none names a missing or bad variable).
    let ingest = ingest::Config::from_env(env(&pairs)).unwrap_or_else(|r| panic!("ingest: {r}"));
    process::Config::from_env(env(&pairs)).unwrap_or_else(|r| panic!("process: {r}"));
    let retrieve = retrieve::Config::from_env(env(&pairs)).unwrap_or_else(|r| panic!("retrieve: {r}"));
    retrieve::indexer::Config::from_env(env(&pairs)).unwrap_or_else(|r| panic!("retrieve-indexer: {r}"));
    let infer = infer::Config::from_env(env(&pairs)).unwrap_or_else(|r| panic!("infer: {r}"));
    let output = output::Config::from_env(env(&pairs)).unwrap_or_else(|r| panic!("output: {r}"));
    let answer = answer::Config::from_env(env(&pairs)).unwrap_or_else(|r| panic!("answer: {r}"));
    gateway::lambda_routes::Config::from_env(env(&pairs)).unwrap_or_else(|r| panic!("gateway: {r}"));

    // Ingest stores the sample document in the raw bucket and queues it for process.
    let ingest = ingest::Service::from_aws(&ingest, &sdk(&ingest.aws).await);
    let event = seams_tests::sample_event("ingest/http-post-documents.json");
    let answered = handle(&ingest, event).await.unwrap();
    assert_eq!(answered["statusCode"], 202, "{answered}");

    // The answer function: moto runs the workflow and invokes its tasks where cargo lambda
    // watch would serve them (here, in this process).
    let retrieve = Arc::new(retrieve::Service::from_config(&retrieve, &sdk(&retrieve.aws).await).await.unwrap());
    let infer = Arc::new(infer::Service::from_config(&infer, &sdk(&infer.aws).await).await.unwrap());
    let output = Arc::new(output::Service::from_aws(&output, &sdk(&output.aws).await).unwrap());
    // answer's function is a task too: the workflow's session steps.
    let sdk = sdk(&answer.aws).await;
    let workflow =
        answer::step_functions::ExpressWorkflow::new(&answer.aws, &sdk, &answer.state_machine_arn, answer.wait);
    let store = seams_platform::object_store::S3ObjectStore::new(answer.aws.s3(&sdk), &answer.sessions_bucket);
    let sessions = answer::sessions::Sessions::new(Arc::new(store), answer.session_ttl);
    let answer = Arc::new(answer::Service::new(Arc::new(workflow), sessions).with_tenancy(answer.tenancy.clone()));
    let answer_task = answer.clone();
    let functions: Functions = Arc::new(move |name: String, event: Value| {
        let (retrieve, infer, output, answer) = (retrieve.clone(), infer.clone(), output.clone(), answer_task.clone());
        Box::pin(async move {
            let handled = match name.as_str() {
                "retrieve" => handle(retrieve.as_ref(), event).await,
                "infer" => handle(infer.as_ref(), event).await,
                "output" => handle(output.as_ref(), event).await,
                "answer" => handle(answer.as_ref(), event).await,
                other => {
                    Err(seams_platform::ServiceError::invalid_input("FunctionName", format!("no function {other}")))
                }
            };
            handled.map_err(|e| FunctionError { error_type: e.name.as_str().to_owned(), message: e.to_string() })
        })
    });
    let invoke_api = InvokeApi::start(functions).await;
    moto.run_functions_at(&invoke_api.endpoint).await;
    let answered = handle(answer.as_ref(), seams_tests::sample_event("answer/http-answer.json")).await.unwrap();
    assert_eq!(answered["statusCode"], 200, "{answered}");
    let body: Value = serde_json::from_str(answered["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["delivery"]["destination"], "http_response", "{body}");
    assert!(body["answer"]["text"].as_str().is_some_and(|text| !text.is_empty()), "{body}");
    // The turn is kept in the sessions bucket, under the id the answer returned.
    let session = body["session_id"].as_str().unwrap_or_else(|| panic!("a session id: {body}"));
    let load = serde_json::json!({"session": {"step": "load", "session_id": session}});
    let history = handle(answer.as_ref(), load).await.unwrap();
    assert_eq!(history["turns"].as_array().map(Vec::len), Some(1), "{history}");
}

/// `sam local invoke --env-vars .tools/run/env.json`: SAM passes a function only the variables
/// the template declares for it, so each function's configuration must load from what SAM
/// would give it, and ingest must reach the stack's moto (not AWS) with it.
#[tokio::test(flavor = "multi_thread")]
async fn sam_local_invoke_runs_every_function_on_the_env_json_lambda_env_writes() {
    let moto = Moto::isolated().await;
    // SAM's own region unless --region is given.
    let dir = tempfile::tempdir().unwrap();
    let sam_out = dir.path().join("env.json");
    lambda_env(&moto, "us-east-1", 9000, &dir.path().join("lambda.env"), &sam_out);
    let printed = python_script("sam_env.py", &["--env-vars".as_ref(), sam_out.as_os_str()]);
    let functions: std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> =
        serde_json::from_str(&printed).unwrap_or_else(|e| panic!("sam_env.py printed {printed}: {e}"));
    let env_of = |id: &str| {
        let vars = functions.get(id).unwrap_or_else(|| panic!("{id} is not a function of the template"));
        Env::from_pairs(vars.clone())
    };
    let names: Vec<&str> = functions.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        [
            "AnswerFunction",
            "GatewayFunction",
            "InferFunction",
            "InferStreamFunction",
            "IngestFunction",
            "OutputFunction",
            "ProcessFunction",
            "RetrieveFunction",
            "RetrieveIndexerFunction"
        ],
        "a function was added or renamed: check its configuration here"
    );
    let ingest = ingest::Config::from_env(env_of("IngestFunction")).unwrap_or_else(|r| panic!("ingest: {r}"));
    process::Config::from_env(env_of("ProcessFunction")).unwrap_or_else(|r| panic!("process: {r}"));
    retrieve::Config::from_env(env_of("RetrieveFunction")).unwrap_or_else(|r| panic!("retrieve: {r}"));
    retrieve::indexer::Config::from_env(env_of("RetrieveIndexerFunction"))
        .unwrap_or_else(|r| panic!("retrieve-indexer: {r}"));
    infer::Config::from_env(env_of("InferFunction")).unwrap_or_else(|r| panic!("infer: {r}"));
    infer::Config::from_env(env_of("InferStreamFunction")).unwrap_or_else(|r| panic!("infer-stream: {r}"));
    let output = output::Config::from_env(env_of("OutputFunction")).unwrap_or_else(|r| panic!("output: {r}"));
    // The signing key by reference, as deployed: the secret lambda_env.py made on moto.
    assert_eq!(output.settings.webhook_secret, None);
    let reference = output.settings.webhook_secret_ref.clone().unwrap_or_else(|| panic!("no key: {output:?}"));
    let key = seams_platform::secrets::secret_string(&sdk(&output.aws).await, &reference).await.unwrap();
    assert!(key.starts_with("whsec_"), "the signing key on moto: {key}");
    answer::Config::from_env(env_of("AnswerFunction")).unwrap_or_else(|r| panic!("answer: {r}"));
    gateway::lambda_routes::Config::from_env(env_of("GatewayFunction")).unwrap_or_else(|r| panic!("gateway: {r}"));

    // Every AWS call goes to the stack's moto, path-style; the sample document is stored.
    assert_eq!(ingest.aws.endpoint_url.as_deref(), Some(moto.endpoint.as_str()));
    let service = ingest::Service::from_aws(&ingest, &sdk(&ingest.aws).await);
    let answered = handle(&service, seams_tests::sample_event("ingest/http-post-documents.json")).await.unwrap();
    assert_eq!(answered["statusCode"], 202, "{answered}");
}
