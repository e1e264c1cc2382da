//! Upload URLs for a directory standing in for a bucket. `seams up` serves them the way S3
//! serves presigned PUTs: the URL names the object key and an expiry, and carries an
//! HMAC-SHA256 over the key, the expiry and the content type the client must send. The HMAC
//! key is random per process, so a URL outlives neither its expiry nor the server.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use super::{validate_key, StoreError};

/// The path under which signed uploads are served: `/_uploads/{key}`.
pub const UPLOAD_PATH_PREFIX: &str = "/_uploads/";

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UploadUrlError {
    #[error("the upload URL has no expires or signature parameter")]
    Incomplete,
    #[error("the upload URL expired")]
    Expired,
    /// A wrong key, expiry or content type: the signature covers all three.
    #[error("the signature does not match this key, expiry and content type")]
    SignatureMismatch,
}

/// Signs and checks upload URLs on one server.
pub struct UploadSigner {
    base_url: String,
    secret: [u8; 32],
}

impl UploadSigner {
    /// `base_url` is where the server listens, e.g. `http://127.0.0.1:3000`.
    pub fn new(base_url: impl Into<String>) -> Self {
        Self { base_url: base_url.into().trim_end_matches('/').to_owned(), secret: rand::random() }
    }

    /// A URL to PUT `key`'s bytes to, with `content_type`, until `expires_at` (Unix seconds).
    pub fn url(&self, key: &str, content_type: &str, expires_at: i64) -> Result<String, StoreError> {
        validate_key(key)?;
        // Signed as it appears in the path, so the key must need no escaping.
        if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~/".contains(&b)) {
            let reason = "must be URL-safe (letters, digits, -._~/) to be signed for a local upload";
            return Err(StoreError::InvalidKey { key: key.to_owned(), reason });
        }
        let signature = hex::encode(self.mac(key, content_type, expires_at).finalize().into_bytes());
        Ok(format!("{}{UPLOAD_PATH_PREFIX}{key}?expires={expires_at}&signature={signature}", self.base_url))
    }

    /// Whether a PUT to `/_uploads/{key}` with these query pairs and this content type, at
    /// `now` (Unix seconds), is one this signer allowed.
    pub fn verify(
        &self,
        key: &str,
        query: &[(String, String)],
        content_type: &str,
        now: i64,
    ) -> Result<(), UploadUrlError> {
        let parameter = |name: &str| query.iter().find(|(n, _)| n == name).map(|(_, value)| value.as_str());
        let (Some(expires), Some(signature)) = (parameter("expires"), parameter("signature")) else {
            return Err(UploadUrlError::Incomplete);
        };
        let expires_at: i64 = expires.parse().map_err(|_| UploadUrlError::Incomplete)?;
        let signature = hex::decode(signature).map_err(|_| UploadUrlError::SignatureMismatch)?;
        // Constant time, so the signature cannot be guessed byte by byte.
        self.mac(key, content_type, expires_at)
            .verify_slice(&signature)
            .map_err(|_| UploadUrlError::SignatureMismatch)?;
        if now > expires_at {
            return Err(UploadUrlError::Expired);
        }
        Ok(())
    }

    fn mac(&self, key: &str, content_type: &str, expires_at: i64) -> Hmac<Sha256> {
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
        // Newlines cannot occur in a valid key or header value, so the fields cannot run together.
        mac.update(format!("PUT\n{key}\n{}\n{expires_at}", content_type.trim()).as_bytes());
        mac
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query_of(url: &str) -> Vec<(String, String)> {
        let query = url.split_once('?').unwrap().1;
        query.split('&').map(|pair| pair.split_once('=').unwrap()).map(|(n, v)| (n.into(), v.into())).collect()
    }

    #[test]
    fn a_url_allows_its_key_and_content_type_until_it_expires() {
        let signer = UploadSigner::new("http://127.0.0.1:3000/");
        let url = signer.url("uploads/u-1/document", "application/pdf", 1_000).unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:3000/_uploads/uploads/u-1/document?expires=1000&signature="),
            "{url}"
        );
        let query = query_of(&url);
        assert_eq!(signer.verify("uploads/u-1/document", &query, "application/pdf", 1_000), Ok(()));
        assert_eq!(
            signer.verify("uploads/u-1/document", &query, "application/pdf", 1_001),
            Err(UploadUrlError::Expired)
        );
        let mismatch = Err(UploadUrlError::SignatureMismatch);
        assert_eq!(signer.verify("uploads/u-2/document", &query, "application/pdf", 0), mismatch);
        assert_eq!(signer.verify("uploads/u-1/document", &query, "text/html", 0), mismatch);
        let mut later = query.clone();
        later[0].1 = "2000".into();
        assert_eq!(signer.verify("uploads/u-1/document", &later, "application/pdf", 1_500), mismatch);
        // Another server's URL is not this one's.
        let other = UploadSigner::new("http://127.0.0.1:3000");
        assert_eq!(other.verify("uploads/u-1/document", &query, "application/pdf", 0), mismatch);
        assert_eq!(
            signer.verify("uploads/u-1/document", &query[..1], "application/pdf", 0),
            Err(UploadUrlError::Incomplete)
        );
    }

    #[test]
    fn keys_that_would_need_escaping_are_not_signed() {
        let signer = UploadSigner::new("http://127.0.0.1:3000");
        for key in ["uploads/a b/document", "uploads/ü/document", "uploads/a?b", "../x"] {
            assert!(signer.url(key, "text/plain", 0).is_err(), "{key:?} was signed");
        }
    }
}
