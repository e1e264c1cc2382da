//! The retrieve functions' configuration from the environment: where the index lives, search
//! tuning, and how the index reaches a database.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use seams_embeddings::config::EmbedderConfig;
use seams_platform::aws::{AwsSettings, SdkConfig};
use seams_platform::config::{ConfigReport, Env};
use seams_platform::secrets::SecretCache;
use seams_platform::tenancy::Tenancy;
use seams_platform::ServiceError;

use crate::feedback::VectorFeedback;
use crate::fuse::Fusion;
use crate::index::IndexError;
use crate::manifest::LogPolicy;
use crate::postgres::{self, Connection, ListsAtOnce, PostgresSettings};
use crate::rerank::{self, RerankSettings};

/// Where the PostgreSQL connection comes from.
#[derive(Clone, PartialEq)]
pub enum DatabaseSource {
    /// `DATABASE_URL` (`postgres://user:password@host:5432/db?sslmode=require`).
    Url(String),
    /// A Secrets Manager secret (name or ARN) in the RDS format (`host`, `port`, `username`,
    /// `password`, `dbname`).
    Secret(String),
}

impl std::fmt::Debug for DatabaseSource {
    // The URL may carry the password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DatabaseSource::Url(_) => f.write_str("Url(<hidden>)"),
            DatabaseSource::Secret(arn) => write!(f, "Secret({arn})"),
        }
    }
}

/// Where the index lives.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// Embedded SQLite; deployed, its base and segments live in retrieve's own bucket.
    Sqlite { index_bucket: String },
    /// PostgreSQL with pgvector, in `schema`; vector searches use an HNSW beam of at least
    /// `ef_search`, or probe `ivfflat_probes_percent` of an IVFFlat index's lists; hybrid
    /// searches rank their lists at once on two connections as `hybrid_lists_at_once` says.
    Postgres {
        database: DatabaseSource,
        schema: String,
        ca_file: Option<PathBuf>,
        ef_search: usize,
        ivfflat_probes_percent: usize,
        hybrid_lists_at_once: ListsAtOnce,
    },
}

impl Backend {
    fn from_env(env: &Env) -> Self {
        match env.choice("SEAMS_SEARCH_BACKEND", &["sqlite", "postgres"], "sqlite").as_str() {
            "postgres" => {
                let database = match (env.optional("DATABASE_URL"), env.optional("SEAMS_DATABASE_SECRET")) {
                    (_, Some(arn)) => DatabaseSource::Secret(arn),
                    (Some(url), None) => {
                        if let Err(error) = url.parse::<tokio_postgres::Config>() {
                            env.invalid("DATABASE_URL", "<hidden>", error.to_string());
                        }
                        DatabaseSource::Url(url)
                    }
                    (None, None) => DatabaseSource::Url(env.required("DATABASE_URL")),
                };
                let schema = env.optional("SEAMS_DATABASE_SCHEMA").unwrap_or_else(|| "seams".into());
                if !postgres::valid_schema(&schema) {
                    env.invalid("SEAMS_DATABASE_SCHEMA", &schema, "lower-case letters, digits and _".into());
                }
                Backend::Postgres {
                    database,
                    schema,
                    ca_file: env.optional("SEAMS_DATABASE_CA_FILE").map(PathBuf::from),
                    ef_search: ef_search_from_env(env),
                    ivfflat_probes_percent: ivfflat_probes_percent_from_env(env),
                    hybrid_lists_at_once: hybrid_lists_at_once_from_env(env),
                }
            }
            _ => Backend::Sqlite { index_bucket: env.required("SEAMS_INDEX_BUCKET") },
        }
    }
}

/// `SEAMS_HNSW_EF_SEARCH`: the smallest HNSW beam of pgvector searches; a bad value is
/// recorded in `env`.
pub fn ef_search_from_env(env: &Env) -> usize {
    let most = postgres::HNSW_MAX_EF_SEARCH;
    let expected = format!("1 to {most}, pgvector's widest beam");
    one_to_most_from_env(env, "SEAMS_HNSW_EF_SEARCH", postgres::HNSW_EF_SEARCH, most, &expected)
}

/// `SEAMS_IVFFLAT_PROBES_PERCENT`: the share of an IVFFlat index's lists pgvector searches
/// probe; a bad value is recorded in `env`.
pub fn ivfflat_probes_percent_from_env(env: &Env) -> usize {
    one_to_most_from_env(env, "SEAMS_IVFFLAT_PROBES_PERCENT", postgres::IVFFLAT_PROBES_PERCENT, 100, "1 to 100")
}

/// `SEAMS_POSTGRES_HYBRID_AT_ONCE`: whether pgvector hybrid searches rank their vector and
/// keyword lists at once, on two connections (decision 41): `true` while the database runs
/// no other query of the role (decision 47), `always`, or `false` (the default); a bad value
/// is recorded in `env`.
pub fn hybrid_lists_at_once_from_env(env: &Env) -> ListsAtOnce {
    const NAME: &str = "SEAMS_POSTGRES_HYBRID_AT_ONCE";
    match env.optional(NAME).map(|value| value.trim().to_ascii_lowercase()).as_deref() {
        None | Some("false" | "0" | "no") => ListsAtOnce::Never,
        Some("true" | "1" | "yes") => ListsAtOnce::WhileIdle,
        Some("always") => ListsAtOnce::Always,
        Some(other) => {
            env.invalid(NAME, other, "expected true, false or always".into());
            ListsAtOnce::Never
        }
    }
}

/// A number from 1 to `most` in `variable`, else `default`; a bad value is recorded in `env`.
fn one_to_most_from_env(env: &Env, variable: &str, default: usize, most: usize, expected: &str) -> usize {
    let value = env.parse_or(variable, default);
    if !(1..=most).contains(&value) {
        env.invalid(variable, &value.to_string(), expected.to_owned());
    }
    value
}

/// The largest write that may ride in the embedded index's manifest: each query function
/// reads the manifest on every refresh, and it carries up to a fanout's worth of them.
const MAX_INDEX_INLINE_BYTES: u64 = 64 << 10;

/// Search tuning: change it here, never in callers.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub fusion: Fusion,
    /// Pseudo-relevance feedback for vector and hybrid searches.
    pub feedback: VectorFeedback,
    pub rerank: RerankSettings,
    /// Query functions look for new writes to the embedded index at most this often.
    pub index_refresh: Duration,
    /// A write to the embedded index of at most this many bytes rides in its manifest (0:
    /// never; readers older than inline writes cannot read them, decision 0034).
    pub index_inline_bytes: u64,
    /// Where the embedded index's local copy lives (Lambda's /tmp).
    pub index_dir: PathBuf,
    /// Whose documents an HTTP caller may find (`SEAMS_TENANT_CLAIM`).
    pub tenancy: Tenancy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            fusion: Fusion::default(),
            feedback: VectorFeedback::OFF,
            rerank: RerankSettings::default(),
            index_refresh: Duration::from_secs(30),
            index_inline_bytes: LogPolicy::DEFAULT.inline_max_bytes,
            index_dir: std::env::temp_dir().join("seams-index"),
            tenancy: Tenancy::single(),
        }
    }
}

impl Settings {
    /// The tuning variables (fusion, feedback, index refresh and directory) over the
    /// defaults; bad values are recorded in `env`. Hybrid's vector weight and vector feedback
    /// follow the `embedder` unless set: vectors that carry no meaning get neither.
    pub fn from_env(env: &Env, embedder: &EmbedderConfig) -> Self {
        let defaults = Settings::default();
        let vector_weight = if embedder.carries_meaning() { defaults.fusion.vector_weight } else { 0.0 };
        let feedback = if embedder.carries_meaning() { VectorFeedback::DEFAULT } else { VectorFeedback::OFF };
        let feedback = VectorFeedback {
            chunks: env.parse_or("SEAMS_VECTOR_FEEDBACK_CHUNKS", feedback.chunks),
            weight: env.parse_or("SEAMS_VECTOR_FEEDBACK_WEIGHT", feedback.weight),
        };
        if !(feedback.weight >= 0.0 && feedback.chunks <= 100) {
            env.invalid(
                "SEAMS_VECTOR_FEEDBACK_WEIGHT",
                &feedback.weight.to_string(),
                "the weight must be zero or more, and at most 100 chunks".into(),
            );
        }
        let fusion = Fusion {
            k: env.parse_or("SEAMS_RRF_K", defaults.fusion.k),
            vector_weight: env.parse_or("SEAMS_HYBRID_VECTOR_WEIGHT", vector_weight),
            keyword_weight: env.parse_or("SEAMS_HYBRID_KEYWORD_WEIGHT", defaults.fusion.keyword_weight),
            candidates: env.parse_or("SEAMS_HYBRID_CANDIDATES", defaults.fusion.candidates),
        };
        if !(fusion.k >= 0.0 && fusion.vector_weight >= 0.0 && fusion.keyword_weight >= 0.0) {
            env.invalid("SEAMS_RRF_K", &fusion.k.to_string(), "k and the hybrid weights must be zero or more".into());
        }
        let rerank = RerankSettings {
            model: env.optional("SEAMS_RERANK_MODEL").filter(|model| model != "none"),
            by_default: env.parse_or("SEAMS_RERANK", false),
            candidates: env.parse_or("SEAMS_RERANK_CANDIDATES", defaults.rerank.candidates),
        };
        if rerank.by_default && rerank.model.is_none() {
            env.invalid("SEAMS_RERANK", "true", "reranking by default needs a model in SEAMS_RERANK_MODEL".into());
        }
        if !(1..=rerank::MAX_CANDIDATES).contains(&rerank.candidates) {
            env.invalid(
                "SEAMS_RERANK_CANDIDATES",
                &rerank.candidates.to_string(),
                format!("1 to {}, the most one rerank request takes", rerank::MAX_CANDIDATES),
            );
        }
        let index_inline_bytes = env.parse_or("SEAMS_INDEX_INLINE_BYTES", defaults.index_inline_bytes);
        if index_inline_bytes > MAX_INDEX_INLINE_BYTES {
            env.invalid(
                "SEAMS_INDEX_INLINE_BYTES",
                &index_inline_bytes.to_string(),
                format!(
                    "at most {MAX_INDEX_INLINE_BYTES}: every manifest carries up to {} such writes",
                    LogPolicy::DEFAULT.merge_fanout
                ),
            );
        }
        Self {
            fusion,
            feedback,
            rerank,
            index_inline_bytes,
            index_refresh: Duration::from_secs(env.parse_or("SEAMS_INDEX_REFRESH_SECONDS", 30)),
            index_dir: env.optional("SEAMS_INDEX_DIR").map_or(defaults.index_dir, PathBuf::from),
            tenancy: Tenancy::from_env(env),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    pub backend: Backend,
    pub embedder: EmbedderConfig,
    /// How long a database secret's value is kept (`SEAMS_SECRET_TTL_SECONDS`).
    pub secret_ttl: Duration,
    pub settings: Settings,
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let embedder = EmbedderConfig::from_env(&env);
        let config = Self {
            aws: AwsSettings::from_env(&env),
            backend: Backend::from_env(&env),
            secret_ttl: seams_platform::secrets::ttl_from_env(&env),
            settings: Settings::from_env(&env, &embedder),
            embedder,
        };
        env.finish().map(|()| config)
    }
}

/// Which binary opens the index: the indexer also creates and migrates it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Query,
    Indexer,
}

/// How the index reaches the database. A secret is read once here, so a deployment with a
/// wrong one fails at init rather than at the first search.
pub async fn postgres_settings(
    sdk: &SdkConfig,
    database: &DatabaseSource,
    schema: &str,
    ca_file: Option<PathBuf>,
    secret_ttl: Duration,
) -> Result<PostgresSettings, ServiceError> {
    let connection = match database {
        DatabaseSource::Url(url) => {
            Connection::Fixed(url.parse().map_err(|e| ServiceError::invalid_input("DATABASE_URL", format!("{e}")))?)
        }
        DatabaseSource::Secret(arn) => {
            let cache = Arc::new(SecretCache::secrets_manager(sdk, secret_ttl));
            let connection = Connection::Secret { cache, secret_id: arn.clone() };
            connection.config().await.map_err(|e| match e {
                IndexError::Invalid(detail) => ServiceError::invalid_input("SEAMS_DATABASE_SECRET", detail),
                other => ServiceError::from(other),
            })?;
            connection
        }
    };
    Ok(PostgresSettings { connection, schema: schema.to_owned(), ca_file })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings `pairs` configure, with the one variable the default backend needs.
    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigReport> {
        let mut pairs = pairs.to_vec();
        pairs.push(("SEAMS_INDEX_BUCKET", "idx"));
        Config::from_env(Env::from_pairs(pairs)).map(|config| config.settings)
    }

    #[test]
    fn hybrid_weighs_vectors_only_when_they_carry_meaning() {
        let weight = |pairs: &[(&str, &str)]| settings(pairs).unwrap().fusion.vector_weight;
        assert_eq!(weight(&[]), 0.0, "the hashing embedder's vectors would only add noise");
        assert_eq!(weight(&[("SEAMS_EMBEDDER", "bedrock")]), 1.0);
        assert_eq!(weight(&[("SEAMS_HYBRID_VECTOR_WEIGHT", "0.3")]), 0.3, "an explicit weight wins");
    }

    #[test]
    fn small_index_writes_ride_in_the_manifest_unless_turned_off() {
        let inline = |pairs: &[(&str, &str)]| settings(pairs).map(|s| s.index_inline_bytes);
        assert_eq!(inline(&[]).unwrap(), 4096);
        assert_eq!(inline(&[("SEAMS_INDEX_INLINE_BYTES", "0")]).unwrap(), 0, "off while old readers run");
        for bad in ["-1", "65537"] {
            let report = inline(&[("SEAMS_INDEX_INLINE_BYTES", bad)]).unwrap_err().to_string();
            assert!(report.contains("SEAMS_INDEX_INLINE_BYTES"), "{report}");
        }
        assert_eq!(inline(&[("SEAMS_INDEX_INLINE_BYTES", "65536")]).unwrap(), 65536);
    }

    #[test]
    fn vector_feedback_follows_the_embedder_unless_set() {
        let feedback = |pairs: &[(&str, &str)]| settings(pairs).map(|s| s.feedback);
        assert_eq!(feedback(&[]).unwrap(), VectorFeedback::OFF);
        assert_eq!(feedback(&[("SEAMS_EMBEDDER", "bedrock")]).unwrap(), VectorFeedback::DEFAULT);
        let set = feedback(&[("SEAMS_VECTOR_FEEDBACK_CHUNKS", "5"), ("SEAMS_VECTOR_FEEDBACK_WEIGHT", "0.25")]);
        assert_eq!(set.unwrap(), VectorFeedback { chunks: 5, weight: 0.25 });
        let bad = feedback(&[("SEAMS_VECTOR_FEEDBACK_WEIGHT", "-1")]).unwrap_err().to_string();
        assert!(bad.contains("SEAMS_VECTOR_FEEDBACK_WEIGHT"), "{bad}");
    }

    #[test]
    fn reranking_needs_a_model_and_a_candidate_count_bedrock_takes() {
        let rerank = |pairs: &[(&str, &str)]| settings(pairs).map(|s| s.rerank);
        assert_eq!(rerank(&[]).unwrap(), RerankSettings::default(), "off unless a model is named");
        assert_eq!(rerank(&[("SEAMS_RERANK_MODEL", "none")]).unwrap().model, None);
        let on = rerank(&[("SEAMS_RERANK_MODEL", "cohere.rerank-v3-5:0"), ("SEAMS_RERANK", "true")]).unwrap();
        assert_eq!((on.model.as_deref(), on.by_default), (Some("cohere.rerank-v3-5:0"), true));
        let orphan = rerank(&[("SEAMS_RERANK", "true")]).unwrap_err().to_string();
        assert!(orphan.contains("SEAMS_RERANK_MODEL"), "{orphan}");
        let too_many = rerank(&[("SEAMS_RERANK_MODEL", "amazon.rerank-v1:0"), ("SEAMS_RERANK_CANDIDATES", "1001")]);
        assert!(too_many.unwrap_err().to_string().contains("SEAMS_RERANK_CANDIDATES"));
    }

    #[test]
    fn each_backend_names_what_it_needs() {
        let report = Config::from_env(Env::from_pairs([("SEAMS_SEARCH_BACKEND", "postgres")])).unwrap_err();
        assert_eq!(report.to_string(), "invalid configuration: DATABASE_URL is not set");
        let report = Config::from_env(Env::from_pairs([("SEAMS_SEARCH_BACKEND", "sqlite")])).unwrap_err();
        assert_eq!(report.to_string(), "invalid configuration: SEAMS_INDEX_BUCKET is not set");
        let config = Config::from_env(Env::from_pairs([("SEAMS_INDEX_BUCKET", "idx")])).unwrap();
        assert_eq!(config.backend, Backend::Sqlite { index_bucket: "idx".into() });
    }

    #[test]
    fn hybrid_lists_at_once_is_off_unless_asked_and_refuses_what_is_not_a_choice() {
        let backend_with = |value: Option<&str>| {
            let mut pairs = vec![("SEAMS_SEARCH_BACKEND", "postgres"), ("DATABASE_URL", "postgres://db/seams")];
            pairs.extend(value.map(|value| ("SEAMS_POSTGRES_HYBRID_AT_ONCE", value)));
            Config::from_env(Env::from_pairs(pairs)).map(|config| config.backend)
        };
        let at_once = |value| match backend_with(value).unwrap() {
            Backend::Postgres { hybrid_lists_at_once, .. } => hybrid_lists_at_once,
            Backend::Sqlite { .. } => unreachable!("asked for postgres"),
        };
        assert_eq!(at_once(None), ListsAtOnce::Never);
        assert_eq!(at_once(Some("true")), ListsAtOnce::WhileIdle);
        assert_eq!(at_once(Some("always")), ListsAtOnce::Always);
        assert_eq!(at_once(Some("false")), ListsAtOnce::Never);
        let report = backend_with(Some("twice")).unwrap_err().to_string();
        assert!(report.contains("SEAMS_POSTGRES_HYBRID_AT_ONCE"), "{report}");
        assert!(report.contains("expected true, false or always"), "{report}");
    }

    #[test]
    fn pgvectors_search_widths_have_defaults_and_take_pgvectors_ranges() {
        // (variable, the default, a value taken, values refused)
        let widths = [
            ("SEAMS_HNSW_EF_SEARCH", postgres::HNSW_EF_SEARCH, 100, ["0", "1001", "-5", "wide"]),
            ("SEAMS_IVFFLAT_PROBES_PERCENT", postgres::IVFFLAT_PROBES_PERCENT, 10, ["0", "101", "-5", "a third"]),
        ];
        for (variable, default, taken, refused) in widths {
            let backend_with = |value: Option<&str>| {
                let mut pairs = vec![("SEAMS_SEARCH_BACKEND", "postgres"), ("DATABASE_URL", "postgres://db/seams")];
                pairs.extend(value.map(|value| (variable, value)));
                Config::from_env(Env::from_pairs(pairs)).map(|config| config.backend)
            };
            let width = |backend: Backend| match backend {
                Backend::Postgres { ef_search, .. } if variable == "SEAMS_HNSW_EF_SEARCH" => ef_search,
                Backend::Postgres { ivfflat_probes_percent, .. } => ivfflat_probes_percent,
                Backend::Sqlite { .. } => 0,
            };
            assert_eq!(width(backend_with(None).unwrap()), default, "{variable}");
            assert_eq!(width(backend_with(Some(&taken.to_string())).unwrap()), taken, "{variable}");
            for refused in refused {
                let report = backend_with(Some(refused)).unwrap_err().to_string();
                assert!(report.contains(variable), "{variable}={refused}: {report}");
            }
        }
    }

    #[test]
    fn a_database_url_never_appears_in_errors_or_debug_output() {
        let secret = "postgres://seams:hunter2@db:5432/seams?sslmode=bogus";
        let report =
            Config::from_env(Env::from_pairs([("SEAMS_SEARCH_BACKEND", "postgres"), ("DATABASE_URL", secret)]))
                .unwrap_err()
                .to_string();
        assert!(report.contains("DATABASE_URL") && !report.contains("hunter2"), "{report}");
        let config = Config::from_env(Env::from_pairs([
            ("SEAMS_SEARCH_BACKEND", "postgres"),
            ("DATABASE_URL", "postgres://seams:hunter2@db/seams"),
        ]))
        .unwrap();
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
