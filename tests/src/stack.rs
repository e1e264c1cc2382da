//! The stand-ins `scripts/stack.sh` starts. A test that needs one and cannot reach it fails
//! with a message saying how to start it; it never skips.

use aws_config::SdkConfig;
use aws_sdk_s3::config::Credentials;
use seams_platform::aws::AwsSettings;
use seams_platform::event_bus::EventPattern;

pub const MOTO_VAR: &str = "SEAMS_TEST_MOTO_ENDPOINT";
pub const DATABASE_VAR: &str = "SEAMS_TEST_DATABASE_URL";

fn required(var: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: this test needs the local stand-ins. Run scripts/test.sh, or \
             `scripts/stack.sh start && source .tools/run/stack.env` before cargo test"
        )
    })
}

/// Clients pointed at moto, built the way the functions build theirs ([`AwsSettings`]).
pub struct Moto {
    pub endpoint: String,
    pub settings: AwsSettings,
    pub sdk: SdkConfig,
    /// Held while a test owns its region ([`Moto::isolated`]); released when dropped.
    _lease: Option<std::fs::File>,
}

/// The regions [`Moto::isolated`] hands out. us-east-1 is left to [`Moto::connect`], whose
/// tests keep apart by unique resource names.
const ISOLATED_REGIONS: [&str; 24] = [
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "sa-east-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-central-2",
    "eu-north-1",
    "eu-south-1",
    "eu-south-2",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ap-east-1",
    "me-south-1",
    "af-south-1",
];

/// A region no other live test holds: an exclusive lock on one file per region, shared by
/// every test process of this moto server (nextest runs each test in its own process). The
/// kernel drops the lock when the holder ends, however it ends.
fn lease_region(endpoint: &str) -> (&'static str, std::fs::File) {
    let port: String = endpoint.chars().filter(char::is_ascii_digit).collect();
    let dir = std::env::temp_dir().join(format!("seams-moto-regions-{port}"));
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        for region in ISOLATED_REGIONS {
            let path = dir.join(region);
            let file = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            match file.try_lock() {
                Ok(()) => return (region, file),
                Err(std::fs::TryLockError::WouldBlock) => {}
                Err(std::fs::TryLockError::Error(e)) => panic!("{}: {e}", path.display()),
            }
        }
        assert!(std::time::Instant::now() < deadline, "no moto region came free in 120 s");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

impl Moto {
    pub async fn connect() -> Moto {
        Self::connect_in("us-east-1").await
    }

    /// Clients for a region of their own: moto keeps each region's state machines, buses and
    /// queued Lambda results apart, and no other test holds this one while these clients live.
    pub async fn isolated() -> Moto {
        let (region, lease) = lease_region(&required(MOTO_VAR));
        Moto { _lease: Some(lease), ..Self::connect_in(region).await }
    }

    /// Clients for one named region, shared with any other test that names it.
    async fn connect_in(region: &str) -> Moto {
        let endpoint = required(MOTO_VAR);
        let reachable = tokio::net::TcpStream::connect(endpoint.trim_start_matches("http://")).await;
        if let Err(e) = reachable {
            panic!(
                "moto server at {endpoint} ({MOTO_VAR}) is not reachable: {e}. Start it with scripts/stack.sh start"
            );
        }
        let settings = AwsSettings {
            endpoint_url: Some(endpoint.clone()),
            region: Some(region.into()),
            s3_force_path_style: true,
            tls_roots: Default::default(),
            attempt_timeout: seams_platform::aws::DEFAULT_ATTEMPT_TIMEOUT,
        };
        let credentials = Credentials::new("testing", "testing", None, None, "seams-tests");
        let sdk = settings.loader().credentials_provider(credentials).load().await;
        Moto { endpoint, settings, sdk, _lease: None }
    }

    pub fn s3(&self) -> aws_sdk_s3::Client {
        self.settings.s3(&self.sdk)
    }

    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        seams_platform::aws::sqs(&self.sdk)
    }

    pub fn eventbridge(&self) -> aws_sdk_eventbridge::Client {
        seams_platform::aws::eventbridge(&self.sdk)
    }

    pub fn sfn(&self) -> aws_sdk_sfn::Client {
        aws_sdk_sfn::Client::new(&self.sdk)
    }

    /// Sets the results moto's Docker-free Lambda returns, in order, to invocations in this
    /// region, replacing any an earlier holder of the region left. A result shaped
    /// `{"errorType", "errorMessage"}` is a function error (scripts/moto_server.py).
    pub async fn queue_lambda_results(&self, results: &[serde_json::Value]) {
        let region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        // Function errors in Lambda's own key order, as Step Functions then quotes them.
        let results: Vec<String> = results
            .iter()
            .map(|r| crate::answer_scenarios::function_error_cause(r).map(|(_, cause)| cause).unwrap_or(r.to_string()))
            .collect();
        let body = serde_json::json!({"results": results, "region": region, "replace": true});
        let response = reqwest::Client::new()
            .post(format!("{}/moto-api/static/lambda-simple/response", self.endpoint))
            .json(&body)
            .send()
            .await
            .expect("moto's API answers");
        assert!(response.status().is_success(), "moto refused the Lambda results: {}", response.status());
    }

    /// This region's Lambda invocations (a state machine's tasks among them) go to a server
    /// of Lambda's Invoke API at `endpoint` instead of queued results (scripts/moto_server.py),
    /// until results are next queued for the region.
    pub async fn run_functions_at(&self, endpoint: &str) {
        let region = self.sdk.region().map(|r| r.to_string()).unwrap_or_default();
        let body = serde_json::json!({"region": region, "endpoint": endpoint});
        let response = reqwest::Client::new()
            .post(format!("{}/moto-api/static/lambda-simple/endpoint", self.endpoint))
            .json(&body)
            .send()
            .await
            .expect("moto's API answers");
        assert!(
            response.status().is_success(),
            "moto refused the function endpoint ({}): is it scripts/moto_server.py?",
            response.status()
        );
    }

    pub async fn create_bucket(&self) -> String {
        let bucket = crate::unique("seams-test");
        self.s3().create_bucket().bucket(&bucket).send().await.expect("moto creates a bucket");
        bucket
    }

    /// A queue with the given visibility timeout and, optionally, a redrive policy to `dlq_arn`.
    pub async fn create_queue(&self, visibility_seconds: u32, redrive: Option<(&str, u32)>) -> (String, String) {
        use aws_sdk_sqs::types::QueueAttributeName;
        let mut request = self
            .sqs()
            .create_queue()
            .queue_name(crate::unique("seams-test"))
            .attributes(QueueAttributeName::VisibilityTimeout, visibility_seconds.to_string());
        if let Some((dlq_arn, max_receive_count)) = redrive {
            let policy = serde_json::json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count});
            request = request.attributes(QueueAttributeName::RedrivePolicy, policy.to_string());
        }
        let url = request.send().await.expect("moto creates a queue").queue_url.expect("a queue URL");
        let arn = self.queue_arn(&url).await;
        (url, arn)
    }

    pub async fn queue_arn(&self, url: &str) -> String {
        use aws_sdk_sqs::types::QueueAttributeName;
        let attributes = self
            .sqs()
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::QueueArn)
            .send()
            .await
            .expect("moto answers GetQueueAttributes");
        attributes.attributes.and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned()).expect("a queue ARN")
    }
}

impl Moto {
    /// A new event bus with one rule sending events that match `pattern` to the SQS queue
    /// `target_arn` (the way the template wires consumers, since moto cannot target Lambda).
    pub async fn create_bus_with_rule(&self, pattern: &EventPattern, target_arn: &str) -> String {
        let eventbridge = self.eventbridge();
        let bus_name = crate::unique("seams-bus");
        eventbridge.create_event_bus().name(&bus_name).send().await.expect("moto creates a bus");
        let rule = crate::unique("rule");
        eventbridge
            .put_rule()
            .name(&rule)
            .event_bus_name(&bus_name)
            .event_pattern(pattern.to_json())
            .send()
            .await
            .expect("moto creates a rule");
        let target = aws_sdk_eventbridge::types::Target::builder()
            .id("queue")
            .arn(target_arn)
            .build()
            .expect("a target has an id and an ARN");
        eventbridge
            .put_targets()
            .rule(&rule)
            .event_bus_name(&bus_name)
            .targets(target)
            .send()
            .await
            .expect("moto adds the SQS target");
        bus_name
    }
}

/// The pgvector PostgreSQL's connection URL.
pub fn database_url() -> String {
    required(DATABASE_VAR)
}

/// A connection to the pgvector PostgreSQL, for a test to set up or inspect by SQL.
pub async fn database_client() -> tokio_postgres::Client {
    let url = database_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL at {url} is not reachable: {e}. Start it with scripts/stack.sh start"));
    tokio::spawn(connection);
    client
}

/// An SDK configuration sending every service to `endpoint` (a provider stand-in replaying an
/// AWS API's JSON), in us-east-1, with test credentials and without the SDK's retries, so
/// a test sees each answer the stand-in gives.
pub async fn sdk_for_stand_in(endpoint: &str) -> aws_config::SdkConfig {
    let credentials = Credentials::new("test", "test", None, None, "seams-tests");
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(credentials)
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}
