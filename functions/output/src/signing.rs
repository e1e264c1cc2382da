//! Webhook signatures in the Standard Webhooks format (<https://www.standardwebhooks.com>),
//! so receivers can verify with that project's libraries. Every webhook delivery carries
//!
//! ```text
//! webhook-id:        <the delivery's idempotency key>  (the same on every retry)
//! webhook-timestamp: 1795774500                        (Unix seconds when it was sent)
//! webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>
//! ```
//!
//! The key is a `whsec_<base64>` secret's decoded bytes (the form those libraries take), or
//! any other secret's own bytes. A receiver recomputes the HMAC, compares in constant time,
//! refuses timestamps more than [`REPLAY_WINDOW`] from its clock, and may drop repeats of a
//! webhook id it has seen.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

pub const ID_HEADER: &str = "webhook-id";
pub const TIMESTAMP_HEADER: &str = "webhook-timestamp";
pub const SIGNATURE_HEADER: &str = "webhook-signature";
/// How far a receiver should accept a timestamp from its own clock, in seconds.
pub const REPLAY_WINDOW: i64 = 300;
const SECRET_PREFIX: &str = "whsec_";

/// The HMAC key a secret stands for.
pub fn key(secret: &str) -> Vec<u8> {
    secret
        .strip_prefix(SECRET_PREFIX)
        .and_then(|encoded| STANDARD.decode(encoded).ok())
        .unwrap_or_else(|| secret.as_bytes().to_vec())
}

/// A new random secret in the Standard Webhooks form: 32 bytes, base64, `whsec_` before.
pub fn new_secret() -> String {
    let bytes: [u8; 32] = rand::random();
    format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes))
}

fn mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length, so this cannot fail.
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    mac
}

/// The `webhook-signature` value for a body sent as `id` at `timestamp`.
pub fn sign(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    format!("v1,{}", STANDARD.encode(mac(key, id, timestamp, body).finalize().into_bytes()))
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the timestamp is outside the replay window")]
    Stale,
    #[error("no v1 signature matches")]
    Mismatch,
}

/// What a receiver does: checks the timestamp window, then each space-separated `v1,`
/// signature in constant time.
pub fn verify(
    key: &[u8],
    id: &str,
    timestamp: i64,
    body: &[u8],
    signatures: &str,
    now: i64,
) -> Result<(), VerifyError> {
    if (now - timestamp).abs() > REPLAY_WINDOW {
        return Err(VerifyError::Stale);
    }
    let matches = |signature: &str| {
        let decoded = signature.strip_prefix("v1,").and_then(|encoded| STANDARD.decode(encoded).ok());
        decoded.is_some_and(|expected| mac(key, id, timestamp, body).verify_slice(&expected).is_ok())
    };
    signatures.split(' ').any(matches).then_some(()).ok_or(VerifyError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_only_for_its_id_body_timestamp_and_key() {
        let signature = sign(b"s3cret", "msg_1", 1_795_774_500, b"{\"a\":1}");
        assert!(signature.starts_with("v1,") && signature.len() == 3 + 44, "{signature}");
        let check = |key: &[u8], id, timestamp, body: &[u8], signatures: &str| {
            verify(key, id, timestamp, body, signatures, 1_795_774_510)
        };
        assert_eq!(check(b"s3cret", "msg_1", 1_795_774_500, b"{\"a\":1}", &signature), Ok(()));
        assert_eq!(check(b"s3cret", "msg_1", 1_795_774_500, b"{\"a\":2}", &signature), Err(VerifyError::Mismatch));
        assert_eq!(check(b"s3cret", "msg_2", 1_795_774_500, b"{\"a\":1}", &signature), Err(VerifyError::Mismatch));
        assert_eq!(check(b"other", "msg_1", 1_795_774_500, b"{\"a\":1}", &signature), Err(VerifyError::Mismatch));
        assert_eq!(check(b"s3cret", "msg_1", 1_795_774_501, b"{\"a\":1}", &signature), Err(VerifyError::Mismatch));
        assert_eq!(check(b"s3cret", "msg_1", 1, b"", "v1=00"), Err(VerifyError::Stale));
        assert_eq!(check(b"s3cret", "msg_1", 1_795_774_500, b"", "v1=00 sha256,x"), Err(VerifyError::Mismatch));
        // Several signatures (a receiver rotating keys): any v1 that matches will do.
        let rotated = format!("v1,AAAA {signature}");
        assert_eq!(check(b"s3cret", "msg_1", 1_795_774_500, b"{\"a\":1}", &rotated), Ok(()));
    }

    #[test]
    fn the_scheme_is_hmac_sha256_over_id_timestamp_and_body() {
        // Computed independently: python3 -c "import hmac,hashlib,base64;
        // print(base64.b64encode(hmac.new(b'key', b'msg_1.1.x', hashlib.sha256).digest()))"
        assert_eq!(sign(b"key", "msg_1", 1, b"x"), "v1,RpcHdBs6xO4FdNIWrXIckotYqdgz3I3MkiZmPDmKea4=");
    }

    #[test]
    fn whsec_secrets_are_base64_keys_and_others_their_own_bytes() {
        assert_eq!(key("whsec_a2V5"), b"key");
        assert_eq!(key("whsec-test-123"), b"whsec-test-123");
        assert_eq!(key("whsec_not base64!"), b"whsec_not base64!");
        let secret = new_secret();
        assert!(secret.starts_with("whsec_") && key(&secret).len() == 32, "{secret}");
        assert_ne!(secret, new_secret());
    }
}
