//! Bearer tokens for `seams up`: the check API Gateway's JWT authorizer makes when deployed,
//! done locally. The keys are either a shared secret (`--jwt-secret`: HS256, as a developer
//! mints tokens for tests) or an identity provider's public keys (`--jwks <file>`: the JSON
//! Web Key Set its `jwks_uri` serves, so the tokens are the ones callers get in production).
//! The algorithm comes from the key, never from the token: a token naming another one, or
//! `none`, is refused before its signature is looked at. `--jwt-issuer` and `--jwt-audience`
//! check `iss` and `aud` as the deployed authorizer's `JwtIssuer` and `JwtAudience` do.

use std::collections::HashMap;

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no bearer token (Authorization: Bearer <JWT>)")]
    Missing,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token's algorithm is not its key's")]
    Algorithm,
    #[error("the token names no key of the key set")]
    UnknownKey,
    #[error("the token's signature does not match")]
    Signature,
    #[error("the token has expired or is not valid yet")]
    Expired,
    #[error("the token's issuer is not the one configured")]
    Issuer,
    #[error("the token's audience is not the one configured")]
    Audience,
}

/// Why the keys cannot be used; named at start-up, before any request.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the JWT secret is empty")]
    EmptySecret,
    #[error("the key set is not a JSON Web Key Set ({0})")]
    Json(#[from] serde_json::Error),
    #[error("the key set has no keys")]
    Empty,
    #[error("key {kid:?} cannot verify signatures: {reason}")]
    Key { kid: String, reason: String },
}

/// A verifying key and the one algorithm tokens signed with it must name.
struct TrustedKey {
    kid: Option<String>,
    algorithm: Algorithm,
    key: DecodingKey,
}

pub struct JwtVerifier {
    keys: Vec<TrustedKey>,
    issuer: Option<String>,
    audience: Option<String>,
}

impl JwtVerifier {
    /// Tokens signed with HS256 and this shared secret.
    pub fn with_secret(secret: &str) -> Result<Self, KeyError> {
        let key = DecodingKey::from_secret(secret.as_bytes()).map_err(|_| KeyError::EmptySecret)?;
        Ok(Self {
            keys: vec![TrustedKey { kid: None, algorithm: Algorithm::HS256, key }],
            issuer: None,
            audience: None,
        })
    }

    /// Tokens signed by a private key whose public half is in this JSON Web Key Set.
    /// Symmetric (`oct`) keys are refused: a key set is public.
    pub fn with_key_set(json: &str) -> Result<Self, KeyError> {
        let set: JwkSet = serde_json::from_str(json)?;
        if set.keys.is_empty() {
            return Err(KeyError::Empty);
        }
        let keys = set.keys.iter().map(trusted_key).collect::<Result<_, _>>()?;
        Ok(Self { keys, issuer: None, audience: None })
    }

    /// Also require this `iss` and this `aud` (each when given).
    pub fn requiring(self, issuer: Option<String>, audience: Option<String>) -> Self {
        Self { issuer, audience, ..self }
    }

    /// The claims of an `Authorization` header's token, as API Gateway hands them to a
    /// function: every value a string (strings as they are, anything else as JSON).
    pub fn claims(&self, authorization: Option<&str>) -> Result<HashMap<String, String>, TokenError> {
        let token = authorization
            .and_then(|value| value.strip_prefix("Bearer ").or_else(|| value.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or(TokenError::Missing)?;
        let header = jsonwebtoken::decode_header(token).map_err(|error| match error.kind() {
            // `none`, or a name no one signs with: a well-formed header asking for an
            // algorithm this server never accepts.
            ErrorKind::Json(_) if names_an_algorithm(token) => TokenError::Algorithm,
            _ => TokenError::Malformed,
        })?;
        let key = self.key_for(header.kid.as_deref())?;
        if header.alg != key.algorithm {
            return Err(TokenError::Algorithm);
        }
        let claims = jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, &key.key, &self.validation(key))
            .map_err(|error| refusal(error.kind()))?
            .claims;
        Ok(claims
            .into_iter()
            .map(|(name, value)| match value {
                Value::String(text) => (name, text),
                other => (name, other.to_string()),
            })
            .collect())
    }

    /// The key a token's `kid` names; without a `kid`, the only key there is.
    fn key_for(&self, kid: Option<&str>) -> Result<&TrustedKey, TokenError> {
        match kid {
            Some(kid) => self.keys.iter().find(|key| key.kid.as_deref() == Some(kid)),
            None if self.keys.len() == 1 => self.keys.first(),
            None => None,
        }
        .ok_or(TokenError::UnknownKey)
    }

    fn validation(&self, key: &TrustedKey) -> Validation {
        let mut validation = Validation::new(key.algorithm);
        // As before and as API Gateway: `exp` and `nbf` are checked when present, to the second.
        validation.required_spec_claims.clear();
        validation.validate_nbf = true;
        validation.leeway = 0;
        if let Some(issuer) = &self.issuer {
            validation.set_issuer(&[issuer]);
            validation.required_spec_claims.insert("iss".to_owned());
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                validation.required_spec_claims.insert("aud".to_owned());
            }
            None => validation.validate_aud = false,
        }
        validation
    }
}

fn trusted_key(jwk: &Jwk) -> Result<TrustedKey, KeyError> {
    let kid = jwk.common.key_id.clone();
    let refuse = |reason: &str| KeyError::Key { kid: kid.clone().unwrap_or_default(), reason: reason.to_owned() };
    // The key type fixes the algorithm where the key does not say it.
    let by_type = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => Algorithm::RS256,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => return Err(refuse("an unsupported curve")),
        },
        AlgorithmParameters::OctetKeyPair(_) => Algorithm::EdDSA,
        AlgorithmParameters::OctetKey(_) => return Err(refuse("a symmetric key has no place in a public key set")),
        _ => return Err(refuse("an unsupported key type")),
    };
    let algorithm = match jwk.common.key_algorithm {
        Some(named) => Algorithm::try_from(named).map_err(|_| refuse("its alg cannot sign tokens"))?,
        None => by_type,
    };
    if algorithm.family() != by_type.family() {
        return Err(refuse("its alg does not fit its key type"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|error| refuse(&error.to_string()))?;
    Ok(TrustedKey { kid, algorithm, key })
}

/// Whether the token's header is JSON with an `alg` string (one `decode_header` cannot name).
fn names_an_algorithm(token: &str) -> bool {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let header = token.split('.').next().unwrap_or_default();
    URL_SAFE_NO_PAD
        .decode(header)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Value>(&bytes).ok())
        .is_some_and(|header| header.get("alg").is_some_and(Value::is_string))
}

fn refusal(kind: &ErrorKind) -> TokenError {
    match kind {
        ErrorKind::InvalidSignature => TokenError::Signature,
        ErrorKind::ExpiredSignature | ErrorKind::ImmatureSignature => TokenError::Expired,
        ErrorKind::InvalidAlgorithm => TokenError::Algorithm,
        ErrorKind::InvalidIssuer => TokenError::Issuer,
        ErrorKind::InvalidAudience => TokenError::Audience,
        ErrorKind::MissingRequiredClaim(claim) if claim == "iss" => TokenError::Issuer,
        ErrorKind::MissingRequiredClaim(claim) if claim == "aud" => TokenError::Audience,
        _ => TokenError::Malformed,
    }
}

/// An HS256 token over `claims` (for tests and for minting local tokens).
pub fn sign(secret: &str, claims: &Value) -> Result<String, KeyError> {
    let key = jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).map_err(|_| KeyError::EmptySecret)?;
    jsonwebtoken::encode(&jsonwebtoken::Header::new(Algorithm::HS256), claims, &key)
        .map_err(|error| KeyError::Key { kid: String::new(), reason: error.to_string() })
}

#[cfg(test)]
mod tests {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    use seams_tests::identity_provider::{hmac_token, token, EcSigner, RsaSigner};
    use serde_json::json;

    use super::*;

    fn bearer(token: &str) -> String {
        format!("Bearer {token}")
    }

    fn now() -> i64 {
        chrono::Utc::now().timestamp()
    }

    #[test]
    fn only_a_current_hs256_token_signed_with_the_secret_passes() {
        let verifier = JwtVerifier::with_secret("s3cret").unwrap();
        let token =
            sign("s3cret", &json!({"sub": "u-1", "tenant": "acme", "exp": now() + 60, "roles": ["a"]})).unwrap();
        let claims = verifier.claims(Some(&bearer(&token))).unwrap();
        assert_eq!((claims["tenant"].as_str(), claims["roles"].as_str()), ("acme", r#"["a"]"#));
        let expired = sign("s3cret", &json!({"tenant": "acme", "exp": now() - 1})).unwrap();
        assert_eq!(verifier.claims(Some(&bearer(&expired))), Err(TokenError::Expired));
        let early = sign("s3cret", &json!({"tenant": "acme", "nbf": now() + 60})).unwrap();
        assert_eq!(verifier.claims(Some(&bearer(&early))), Err(TokenError::Expired));
        let forged = sign("guess", &json!({"tenant": "acme"})).unwrap();
        assert_eq!(verifier.claims(Some(&bearer(&forged))), Err(TokenError::Signature));
        assert_eq!(verifier.claims(None), Err(TokenError::Missing));
        assert!(matches!(JwtVerifier::with_secret(""), Err(KeyError::EmptySecret)));
        assert_eq!(verifier.claims(Some("Bearer a.b")), Err(TokenError::Malformed));
        // A changed payload under the old signature, and the `none` algorithm, are refused.
        let (head, signature) = (token.split('.').next().unwrap(), token.rsplit('.').next().unwrap());
        let other = URL_SAFE_NO_PAD.encode(br#"{"tenant":"beta"}"#);
        assert_eq!(verifier.claims(Some(&format!("Bearer {head}.{other}.{signature}"))), Err(TokenError::Signature));
        let none = URL_SAFE_NO_PAD.encode(br#"{"alg":"none"}"#);
        assert_eq!(verifier.claims(Some(&format!("Bearer {none}.{other}."))), Err(TokenError::Algorithm));
    }

    #[test]
    fn a_key_set_verifies_rs256_and_es256_tokens_by_their_kid() {
        let (rsa, ec) = (RsaSigner::generate(), EcSigner::generate());
        let set = json!({"keys": [rsa.jwk("rsa-1"), ec.jwk("ec-1")]});
        let verifier = JwtVerifier::with_key_set(&set.to_string()).unwrap();

        let claims = json!({"tenant": "acme", "exp": now() + 60});
        assert_eq!(verifier.claims(Some(&bearer(&rsa.sign("rsa-1", &claims)))).unwrap()["tenant"], "acme");
        let from_ec = ec.sign("ec-1", &json!({"tenant": "beta"}));
        assert_eq!(verifier.claims(Some(&bearer(&from_ec))).unwrap()["tenant"], "beta");

        // Another key's kid, an unknown kid, no kid among two keys, a stranger's key.
        assert_eq!(verifier.claims(Some(&bearer(&rsa.sign("ec-1", &claims)))), Err(TokenError::Algorithm));
        assert_eq!(verifier.claims(Some(&bearer(&rsa.sign("rsa-9", &claims)))), Err(TokenError::UnknownKey));
        let unnamed = token(&json!({"alg": "RS256"}), &claims, |_| vec![1; 256]);
        assert_eq!(verifier.claims(Some(&bearer(&unnamed))), Err(TokenError::UnknownKey));
        let stranger = RsaSigner::generate().sign("rsa-1", &claims);
        assert_eq!(verifier.claims(Some(&bearer(&stranger))), Err(TokenError::Signature));
    }

    #[test]
    fn a_public_key_is_never_an_hmac_secret() {
        // The classic confusion: HS256 "signed" with the public key's own text.
        let jwk = RsaSigner::generate().jwk("rsa-1");
        let verifier = JwtVerifier::with_key_set(&json!({"keys": [jwk.clone()]}).to_string()).unwrap();
        let confused = hmac_token(
            jwk.to_string().as_bytes(),
            &json!({"alg": "HS256", "kid": "rsa-1"}),
            &json!({"tenant": "acme"}),
        );
        assert_eq!(verifier.claims(Some(&bearer(&confused))), Err(TokenError::Algorithm));
    }

    #[test]
    fn issuer_and_audience_are_required_when_configured() {
        let rsa = RsaSigner::generate();
        let verifier = JwtVerifier::with_key_set(&json!({"keys": [rsa.jwk("k")]}).to_string())
            .unwrap()
            .requiring(Some("https://id.example.com/".to_owned()), Some("seams".to_owned()));
        let good = json!({"iss": "https://id.example.com/", "aud": "seams", "tenant": "acme"});
        assert!(verifier.claims(Some(&bearer(&rsa.sign("k", &good)))).is_ok());
        let cases = [
            (json!({"iss": "https://evil.example.com/", "aud": "seams"}), TokenError::Issuer),
            (json!({"aud": "seams"}), TokenError::Issuer),
            (json!({"iss": "https://id.example.com/", "aud": "other"}), TokenError::Audience),
            (json!({"iss": "https://id.example.com/"}), TokenError::Audience),
        ];
        for (claims, refusal) in cases {
            assert_eq!(verifier.claims(Some(&bearer(&rsa.sign("k", &claims)))), Err(refusal), "{claims}");
        }
    }

    #[test]
    fn a_key_set_that_cannot_verify_is_refused_at_start() {
        assert!(matches!(JwtVerifier::with_key_set(r#"{"keys": []}"#), Err(KeyError::Empty)));
        assert!(matches!(JwtVerifier::with_key_set("not json"), Err(KeyError::Json(_))));
        let secret = json!({"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]});
        assert!(matches!(JwtVerifier::with_key_set(&secret.to_string()), Err(KeyError::Key { .. })));
        let mut mislabelled = RsaSigner::generate().jwk("k");
        mislabelled["alg"] = json!("ES256");
        let set = json!({"keys": [mislabelled]});
        assert!(matches!(JwtVerifier::with_key_set(&set.to_string()), Err(KeyError::Key { .. })));
    }
}
