//! The retrieve service: vector, keyword and hybrid search over its own index. Two
//! binaries share this library: the query API (`retrieve`) and the indexer
//! (`retrieve-indexer`, see [`indexer`]). Callers never learn which backend serves them.

pub mod indexer;

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use seams_contracts::retrieve::RetrieveRequest;
use seams_contracts::CorrelationId;
use seams_platform::aws::AwsSettings;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::error::{from_value, parse_json};
use seams_platform::function::{Function, Named, Reply};
use seams_platform::trigger::Trigger;
use seams_platform::{http, ServiceError};

/// Where the index lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// Embedded SQLite; deployed, its snapshot lives in retrieve's own bucket.
    Sqlite { snapshot_bucket: String },
    /// PostgreSQL with pgvector.
    Postgres { database_url: String },
}

impl Backend {
    fn from_env(env: &Env) -> Self {
        match env.choice("SEAMS_SEARCH_BACKEND", &["sqlite", "postgres"], "sqlite").as_str() {
            "postgres" => Backend::Postgres { database_url: env.required("DATABASE_URL") },
            _ => Backend::Sqlite { snapshot_bucket: env.required("SEAMS_INDEX_BUCKET") },
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    pub backend: Backend,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self { aws: AwsSettings::from_env(&env), backend: Backend::from_env(&env) };
        env.finish().map(|()| config)
    }
}

#[derive(Debug, Clone)]
pub enum Request {
    Retrieve(Box<RetrieveRequest>),
}

impl Named for Request {
    fn name(&self) -> &'static str {
        match self {
            Request::Retrieve(_) => "retrieve",
        }
    }
}

pub struct Service {
    pub config: Config,
}

impl Service {
    pub fn new(config: Config) -> Self {
        Self { config }
    }
}

#[async_trait]
impl Function for Service {
    type Request = Request;

    fn from_http(request: &ApiGatewayV2httpRequest) -> Result<Request, ServiceError> {
        match http::route_key(request).as_str() {
            "POST /retrieve" => Ok(Request::Retrieve(Box::new(parse_json(&http::body_bytes(request)?)?))),
            other => Err(ServiceError::not_found(format!("retrieve has no route {other}"))),
        }
    }

    fn from_trigger(trigger: Trigger) -> Result<Request, ServiceError> {
        match trigger {
            Trigger::Direct(payload) => Ok(Request::Retrieve(Box::new(from_value(payload)?))),
            _ => Err(ServiceError::invalid_input("event", "retrieve is triggered by HTTP or a direct invoke")),
        }
    }

    async fn serve(&self, request: Request, _correlation: CorrelationId) -> Result<Reply, ServiceError> {
        Err(ServiceError::not_implemented(format!("retrieve does not handle {} yet", request.name())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_backend_names_what_it_needs() {
        let report = Config::from_env(Env::from_pairs([("SEAMS_SEARCH_BACKEND", "postgres")])).unwrap_err();
        assert_eq!(report.to_string(), "invalid configuration: DATABASE_URL is not set");
        let report = Config::from_env(Env::from_pairs([("SEAMS_SEARCH_BACKEND", "sqlite")])).unwrap_err();
        assert_eq!(report.to_string(), "invalid configuration: SEAMS_INDEX_BUCKET is not set");
        let config = Config::from_env(Env::from_pairs([("SEAMS_INDEX_BUCKET", "idx")])).unwrap();
        assert_eq!(config.backend, Backend::Sqlite { snapshot_bucket: "idx".into() });
    }
}
