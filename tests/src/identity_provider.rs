//! An identity provider for tests: fresh RSA and P-256 keys, their public halves as JSON Web
//! Keys, and tokens signed with them. The tokens are assembled here by hand, not by the crate
//! the code under test verifies them with, so a shared mistake cannot pass unseen.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, RsaKeyPair, ECDSA_P256_SHA256_FIXED_SIGNING, RSA_PKCS1_SHA256};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};

/// `header.claims.signature`, with `sign_input` signing the first two parts as sent.
pub fn token(header: &Value, claims: &Value, sign_input: impl Fn(&[u8]) -> Vec<u8>) -> String {
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sign_input(input.as_bytes())))
}

/// A token whose header says `header` and whose signature is HMAC-SHA256 under `key`.
pub fn hmac_token(key: &[u8], header: &Value, claims: &Value) -> String {
    token(header, claims, |input| {
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key).unwrap();
        mac.update(input);
        mac.finalize().into_bytes().to_vec()
    })
}

/// An RS256 signing key, as Cognito, Auth0 or Entra ID hold one.
pub struct RsaSigner(RsaKeyPair);

impl RsaSigner {
    pub fn generate() -> Self {
        Self(RsaKeyPair::generate(KeySize::Rsa2048).unwrap())
    }

    pub fn jwk(&self, kid: &str) -> Value {
        let public = self.0.public_key();
        let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
        let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
        json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": n, "e": e})
    }

    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        token(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), claims, |input| {
            let mut signature = vec![0; self.0.public_modulus_len()];
            self.0.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), input, &mut signature).unwrap();
            signature
        })
    }
}

/// An ES256 signing key on P-256.
pub struct EcSigner(EcdsaKeyPair);

impl EcSigner {
    pub fn generate() -> Self {
        Self(EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).unwrap())
    }

    /// Without `alg`, as many providers publish EC keys: the curve names it.
    pub fn jwk(&self, kid: &str) -> Value {
        // An uncompressed point: 0x04, then x and y.
        let point = self.0.public_key().as_ref();
        let (x, y) = (URL_SAFE_NO_PAD.encode(&point[1..33]), URL_SAFE_NO_PAD.encode(&point[33..]));
        json!({"kty": "EC", "crv": "P-256", "kid": kid, "x": x, "y": y})
    }

    pub fn sign(&self, kid: &str, claims: &Value) -> String {
        token(&json!({"alg": "ES256", "kid": kid}), claims, |input| {
            self.0.sign(&SystemRandom::new(), input).unwrap().as_ref().to_vec()
        })
    }
}
