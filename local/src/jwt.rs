//! Bearer tokens for `seams up --jwt-secret`: the check API Gateway's JWT authorizer makes
//! when deployed, done locally for HS256 tokens (a shared secret, as a developer would mint
//! them for tests). Only HS256 is accepted: a token naming another algorithm, or `none`, is
//! refused before its signature is looked at.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token (Authorization: Bearer <JWT>)")]
    Missing,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's algorithm is not HS256")]
    Algorithm,
    #[error("the token's signature does not match")]
    Signature,
    #[error("the token has expired or is not valid yet")]
    Expired,
}

pub struct JwtVerifier {
    secret: Vec<u8>,
}

impl JwtVerifier {
    pub fn new(secret: &str) -> Self {
        Self { secret: secret.as_bytes().to_vec() }
    }

    /// The claims of an `Authorization` header's token, as API Gateway hands them to a
    /// function: every value a string (strings as they are, anything else as JSON).
    pub fn claims(&self, authorization: Option<&str>, now: i64) -> Result<HashMap<String, String>, TokenError> {
        let token = authorization
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(TokenError::Missing)?;
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed);
        };
        let decode = |part: &str| URL_SAFE_NO_PAD.decode(part).map_err(|_| TokenError::Malformed);
        let algorithm: Value = serde_json::from_slice(&decode(header)?).map_err(|_| TokenError::Malformed)?;
        if algorithm.get("alg").and_then(Value::as_str) != Some("HS256") {
            return Err(TokenError::Algorithm);
        }
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        // The signature covers `header.payload` as sent.
        mac.update(format!("{header}.{payload}").as_bytes());
        mac.verify_slice(&decode(signature)?).map_err(|_| TokenError::Signature)?;
        let claims: serde_json::Map<String, Value> =
            serde_json::from_slice(&decode(payload)?).map_err(|_| TokenError::Malformed)?;
        let time = |name: &str| claims.get(name).and_then(Value::as_i64);
        if time("exp").is_some_and(|exp| now >= exp) || time("nbf").is_some_and(|nbf| now < nbf) {
            return Err(TokenError::Expired);
        }
        Ok(claims
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect())
    }
}

/// An HS256 token over `claims` (for tests and for minting local tokens).
pub fn sign(secret: &str, claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(format!("{header}.{payload}").as_bytes());
    format!("{header}.{payload}.{}", URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn only_a_current_hs256_token_signed_with_the_secret_passes() {
        let verifier = JwtVerifier::new("s3cret");
        let token = sign("s3cret", &json!({"sub": "u-1", "tenant": "acme", "exp": 2_000, "roles": ["a"]}));
        let claims = verifier.claims(Some(&format!("Bearer {token}")), 1_000).unwrap();
        assert_eq!((claims["tenant"].as_str(), claims["roles"].as_str()), ("acme", r#"["a"]"#));
        assert_eq!(verifier.claims(Some(&format!("Bearer {token}")), 2_000), Err(TokenError::Expired));
        let forged = sign("guess", &json!({"tenant": "acme"}));
        assert_eq!(verifier.claims(Some(&format!("Bearer {forged}")), 0), Err(TokenError::Signature));
        assert_eq!(verifier.claims(None, 0), Err(TokenError::Missing));
        assert_eq!(verifier.claims(Some("Bearer a.b"), 0), Err(TokenError::Malformed));
        // A changed payload under the old signature, and the `none` algorithm, are refused.
        let (head, _, signature) = (token.split('.').next().unwrap(), (), token.rsplit('.').next().unwrap());
        let other = URL_SAFE_NO_PAD.encode(br#"{"tenant":"beta"}"#);
        assert_eq!(verifier.claims(Some(&format!("Bearer {head}.{other}.{signature}")), 0), Err(TokenError::Signature));
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(verifier.claims(Some(&format!("Bearer {none}.{other}.")), 0), Err(TokenError::Algorithm));
    }
}
