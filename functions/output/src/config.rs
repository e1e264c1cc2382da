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
    /// Signs webhooks whose destination names no `secret_ref`: the secret itself
    /// (`SEAMS_WEBHOOK_SIGNING_SECRET`) ...
    pub webhook_secret: Option<String>,
    /// ... or a Secrets Manager secret's id (`SEAMS_WEBHOOK_SIGNING_SECRET_REF`, the one the
    /// template creates), read like a destination's `secret_ref`.
    pub webhook_secret_ref: Option<String>,
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
            webhook_secret_ref: None,
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
    /// How long a secret's value is kept (`SEAMS_SECRET_TTL_SECONDS`).
    pub secret_ttl: Duration,
    pub settings: Settings,
}

impl Settings {
    /// The tuning variables over the defaults; bad values are recorded in `env`.
    pub fn from_env(env: &Env) -> Self {
        let defaults = Settings::default();
        let settings = Settings {
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
            webhook_secret_ref: env.optional("SEAMS_WEBHOOK_SIGNING_SECRET_REF"),
            ..defaults
        };
        if let (Some(_), Some(reference)) = (&settings.webhook_secret, &settings.webhook_secret_ref) {
            let reason = "set it or SEAMS_WEBHOOK_SIGNING_SECRET, not both".into();
            env.invalid("SEAMS_WEBHOOK_SIGNING_SECRET_REF", reference, reason);
        }
        settings
    }
}

impl Config {
    pub fn from_env(env: Env) -> Result<Self, ConfigReport> {
        let config = Self {
            aws: AwsSettings::from_env(&env),
            output_bucket: env.required("SEAMS_OUTPUT_BUCKET"),
            dead_letter_queue_url: env.required("SEAMS_OUTPUT_DLQ_URL"),
            event_bus_name: env.required("SEAMS_EVENT_BUS_NAME"),
            secret_ttl: seams_platform::secrets::ttl_from_env(&env),
            settings: Settings::from_env(&env),
        };
        env.finish().map(|()| config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_signing_secret_is_a_value_or_a_reference_not_both() {
        let env =
            Env::from_pairs([("SEAMS_WEBHOOK_SIGNING_SECRET_REF", "arn:aws:secretsmanager:eu-west-1:1:secret:s")]);
        let settings = Settings::from_env(&env);
        assert!(env.finish().is_ok());
        assert_eq!(settings.webhook_secret_ref.as_deref(), Some("arn:aws:secretsmanager:eu-west-1:1:secret:s"));

        let env = Env::from_pairs([("SEAMS_WEBHOOK_SIGNING_SECRET_REF", "s"), ("SEAMS_WEBHOOK_SIGNING_SECRET", "x")]);
        Settings::from_env(&env);
        let report = env.finish().unwrap_err().to_string();
        assert!(report.contains("SEAMS_WEBHOOK_SIGNING_SECRET_REF") && report.contains("not both"), "{report}");
    }
}
