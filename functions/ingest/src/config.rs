//! What ingest reads from its environment: where its resources are and what can be tuned.

use std::time::Duration;

use seams_platform::aws::AwsSettings;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::tenancy::Tenancy;

use crate::validate::Limits;

/// Checked once at init.
#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    pub raw_bucket: String,
    pub process_queue_url: String,
    pub event_bus_name: String,
    pub settings: Settings,
    /// Upstream buckets `DocumentPublished` events may point at with `s3_uri`.
    pub source_buckets: Vec<String>,
}

/// What can be tuned without code.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub limits: Limits,
    pub upload_url_ttl: Duration,
    /// Texts up to this size ride inside the claim check, saving process a read.
    pub inline_claim_bytes: usize,
    /// Whose documents a caller may store and see (`SEAMS_TENANT_CLAIM`).
    pub tenancy: Tenancy,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            upload_url_ttl: Duration::from_secs(900),
            inline_claim_bytes: 64 * 1024,
            tenancy: Tenancy::single(),
        }
    }
}

fn list(value: Option<String>) -> Vec<String> {
    value.map(|v| v.split(',').map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()).collect()).unwrap_or_default()
}

impl Settings {
    /// The tuning variables (`SEAMS_CONTENT_TYPES`, `SEAMS_INLINE_MAX_BYTES`,
    /// `SEAMS_UPLOAD_MAX_BYTES`, `SEAMS_UPLOAD_URL_TTL_SECONDS`) over the defaults; bad values
    /// are recorded in `env`.
    pub fn from_env(env: &Env) -> Self {
        let defaults = Settings::default();
        let mut limits = defaults.limits.clone();
        let content_types = list(env.optional("SEAMS_CONTENT_TYPES"));
        if !content_types.is_empty() {
            limits.content_types = content_types.iter().map(|t| t.to_ascii_lowercase()).collect();
        }
        limits.inline_max_bytes = env.parse_or("SEAMS_INLINE_MAX_BYTES", limits.inline_max_bytes);
        limits.upload_max_bytes = env.parse_or("SEAMS_UPLOAD_MAX_BYTES", limits.upload_max_bytes);
        let ttl = env.parse_or("SEAMS_UPLOAD_URL_TTL_SECONDS", defaults.upload_url_ttl.as_secs());
        let tenancy = Tenancy::from_env(env);
        Settings { limits, upload_url_ttl: Duration::from_secs(ttl), tenancy, ..defaults }
    }
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self {
            aws: AwsSettings::from_env(&env),
            raw_bucket: env.required("SEAMS_RAW_BUCKET"),
            process_queue_url: env.required("SEAMS_PROCESS_QUEUE_URL"),
            event_bus_name: env.required("SEAMS_EVENT_BUS_NAME"),
            settings: Settings::from_env(&env),
            source_buckets: list(env.optional("SEAMS_SOURCE_BUCKETS")),
        };
        env.finish().map(|()| config)
    }
}
