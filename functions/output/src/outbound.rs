//! Outbound safety for webhooks and Slack: https only (plain http only to loopback, and only
//! when running locally), an optional host allow-list, and every resolved address checked at
//! connect time — private, loopback, link-local, unique-local, CGNAT and the instance metadata
//! address are refused unless explicitly allowed. The check runs in the HTTP client's own
//! resolver, so a name cannot resolve to a public address when checked and a private one
//! when connected. Redirects are not followed.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::Url;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OutboundPolicy {
    /// Hosts deliveries may go to (`hooks.slack.com`, `*.example.com`); empty allows any public host.
    pub allowed_hosts: Vec<String>,
    /// Allow private and loopback addresses (a webhook inside a VPC; local receivers).
    pub allow_private: bool,
    /// Allow plain http to loopback hosts (the local runner's receivers).
    pub allow_loopback_http: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// Whether an address is one a delivery must not reach by default.
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_internal_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_internal_v4(v4);
            }
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
                || v6 == Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254) // EC2 metadata over IPv6
        }
    }
}

fn is_internal_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local() // 169.254/16, the instance metadata address included
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || (a == 100 && (64..128).contains(&b)) // carrier-grade NAT 100.64/10
        || a == 0
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()) || host == "[::1]"
}

fn host_allowed(host: &str, allowed: &[String]) -> bool {
    allowed.is_empty()
        || allowed.iter().any(|pattern| match pattern.strip_prefix("*.") {
            Some(domain) => host.ends_with(&format!(".{domain}")),
            None => host.eq_ignore_ascii_case(pattern),
        })
}

impl OutboundPolicy {
    /// Checks a destination URL before anything is sent.
    pub fn check_url(&self, raw: &str) -> Result<Url, Refused> {
        let url = Url::parse(raw).map_err(|e| Refused(format!("{raw:?} is not a URL: {e}")))?;
        let host = url.host_str().ok_or_else(|| Refused(format!("{raw:?} has no host")))?.to_ascii_lowercase();
        match url.scheme() {
            "https" => {}
            "http" if self.allow_loopback_http && is_loopback_host(&host) => {}
            "http" => return Err(Refused(format!("{raw:?} is not https"))),
            other => return Err(Refused(format!("{other}: URLs are not delivered to, only https"))),
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Refused("credentials in the URL are not allowed; use a signing secret".into()));
        }
        if !host_allowed(&host, &self.allowed_hosts) {
            return Err(Refused(format!("{host} is not an allowed host (SEAMS_OUTBOUND_ALLOWED_HOSTS)")));
        }
        // An address written in the URL never reaches the resolver: check it here.
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = literal.parse::<IpAddr>() {
            if is_internal(ip) && !self.allow_private {
                return Err(Refused(format!("{ip} is a private, loopback or link-local address")));
            }
        }
        Ok(url)
    }

    /// The HTTP client deliveries use: this policy's resolver, no redirects, a timeout.
    pub fn client(&self, timeout: Duration) -> Result<reqwest::Client, Refused> {
        reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(Arc::new(CheckedResolver { allow_private: self.allow_private }))
            .build()
            .map_err(|e| Refused(format!("cannot build the HTTP client: {e}")))
    }
}

/// A name resolved only to addresses deliveries may not reach.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to private, loopback or link-local addresses ({addresses:?})")]
pub struct InternalAddress {
    pub host: String,
    pub addresses: Vec<SocketAddr>,
}

/// Resolves with the system resolver and drops internal addresses (unless allowed).
struct CheckedResolver {
    allow_private: bool,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> =
                resolved.iter().copied().filter(|a| allow_private || !is_internal(a.ip())).collect();
            if allowed.is_empty() {
                let error: Box<dyn std::error::Error + Send + Sync> =
                    Box::new(InternalAddress { host, addresses: resolved });
                return Err(error);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_addresses_are_recognised() {
        for internal in [
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "127.0.0.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "::1",
            "fe80::1",
            "fd00::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "fd00:ec2::254",
        ] {
            assert!(is_internal(internal.parse().unwrap()), "{internal}");
        }
        for public in ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"] {
            assert!(!is_internal(public.parse().unwrap()), "{public}");
        }
    }

    #[test]
    fn urls_are_https_allowed_and_public() {
        let policy = OutboundPolicy {
            allowed_hosts: vec!["hooks.slack.com".into(), "*.example.com".into()],
            ..Default::default()
        };
        assert!(policy.check_url("https://hooks.slack.com/services/T/B/X").is_ok());
        assert!(policy.check_url("https://api.example.com/hook").is_ok());
        let refused = |url: &str| policy.check_url(url).unwrap_err().0;
        assert!(refused("http://api.example.com/hook").contains("not https"));
        assert!(refused("https://evil.test/hook").contains("not an allowed host"));
        assert!(refused("https://example.com.evil.test/").contains("not an allowed host"));
        assert!(refused("ftp://api.example.com/").contains("only https"));
        assert!(refused("https://user:pw@api.example.com/").contains("credentials"));
        let open = OutboundPolicy::default();
        assert!(open.check_url("https://169.254.169.254/latest/meta-data/").unwrap_err().0.contains("link-local"));
        assert!(open.check_url("https://[::1]:8443/").is_err());
        assert!(open.check_url("http://127.0.0.1:9000/").is_err(), "plain http is refused outside local runs");
        let local = OutboundPolicy { allow_loopback_http: true, allow_private: true, ..Default::default() };
        assert!(local.check_url("http://127.0.0.1:9000/hook").is_ok());
        assert!(local.check_url("http://intranet.local/hook").is_err(), "http only to loopback");
    }
}
