//! What output reads from its environment: its resources, the outbound policy and the
//! delivery tuning.

use std::time::Duration;

use seams_platform::aws::AwsSettings;
use seams_platform::config::{ConfigReport, Env};
use seams_platform::retry::RetryPolicy;

use crate::outbound::OutboundPolicy;

#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub outbound: OutboundPolicy,
    pub retry: RetryPolicy,
    /// Retries stop before this much time has passed (below the function's timeout).
    pub deadline: Duration,
    /// One HTTP request's timeout.
    pub request_timeout: Duration,
    /// A claim left in progress this long (a crashed delivery) may be taken over.
    pub claim_ttl: Duration,
    /// How long a duplicate waits for a concurrent delivery of the same request.
    pub duplicate_wait: Duration,
    /// Signs webhooks whose destination names no `secret_ref`.
    pub webhook_secret: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            outbound: OutboundPolicy::default(),
            retry: RetryPolicy {
                max_attempts: 5,
                base_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(10),
            },
            deadline: Duration::from_secs(45),
            request_timeout: Duration::from_secs(10),
            claim_ttl: Duration::from_secs(120),
            duplicate_wait: Duration::from_secs(10),
            webhook_secret: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub aws: AwsSettings,
    /// Holds the delivery ledger and `s3` destination records.
    pub output_bucket: String,
    pub dead_letter_queue_url: String,
    pub event_bus_name: String,
    pub settings: Settings,
}

impl Settings {
    /// The tuning variables over the defaults; bad values are recorded in `env`.
    pub fn from_env(env: &Env) -> Self {
        let defaults = Settings::default();
        Settings {
            outbound: OutboundPolicy {
                allowed_hosts: env
                    .optional("SEAMS_OUTBOUND_ALLOWED_HOSTS")
                    .map(|hosts| {
                        hosts.split(',').map(|h| h.trim().to_ascii_lowercase()).filter(|h| !h.is_empty()).collect()
                    })
                    .unwrap_or_default(),
                allow_private: env.flag("SEAMS_OUTBOUND_ALLOW_PRIVATE", false),
                allow_loopback_http: false,
            },
            retry: RetryPolicy {
                max_attempts: env.parse_or("SEAMS_DELIVERY_ATTEMPTS", defaults.retry.max_attempts),
                ..defaults.retry
            },
            deadline: Duration::from_secs(env.parse_or("SEAMS_DELIVERY_DEADLINE_SECONDS", 45)),
            request_timeout: Duration::from_secs(env.parse_or("SEAMS_DELIVERY_TIMEOUT_SECONDS", 10)),
            webhook_secret: env.optional("SEAMS_WEBHOOK_SIGNING_SECRET"),
            ..defaults
        }
    }
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self {
            aws: AwsSettings::from_env(&env),
            output_bucket: env.required("SEAMS_OUTPUT_BUCKET"),
            dead_letter_queue_url: env.required("SEAMS_OUTPUT_DLQ_URL"),
            event_bus_name: env.required("SEAMS_EVENT_BUS_NAME"),
            settings: Settings::from_env(&env),
        };
        env.finish().map(|()| config)
    }
}
