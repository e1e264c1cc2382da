//! From the bytes a caller sent to a document ready to store: checked, normalised to UTF-8
//! NFC, fingerprinted and named. Pure: no I/O.

use bytes::Bytes;
use seams_contracts::{AttributeValue, Attributes};
use seams_platform::tenancy::{refuse_callers_tenant, Tenant, TENANT_ATTRIBUTE};
use seams_platform::ServiceError;
use sha2::{Digest, Sha256};

use crate::normalise;
use crate::validate::{self, Limits, MediaType};

/// A document on its way in, whatever brought it.
#[derive(Debug, Clone, PartialEq)]
pub struct Incoming {
    pub document_id: Option<String>,
    pub source_uri: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
    pub attributes: Attributes,
    /// In a multi-tenant deployment, whose document it is: its id is qualified with the
    /// tenant and the tenant is stamped on its attributes.
    pub tenant: Option<Tenant>,
}

/// A document ready to store: checked, normalised and fingerprinted. Pure.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub document_id: String,
    pub source_uri: Option<String>,
    pub media: MediaType,
    /// Normalised UTF-8 text, or a PDF's own bytes.
    pub body: Bytes,
    pub fingerprint_hex: String,
    pub attributes: Attributes,
}

impl Prepared {
    pub fn fingerprint(&self) -> String {
        format!("sha256:{}", self.fingerprint_hex)
    }

    pub(crate) fn text(&self) -> Option<&str> {
        if self.media.is_pdf() {
            None
        } else {
            std::str::from_utf8(&self.body).ok()
        }
    }
}

/// The hex SHA-256 of a document's stored bytes: equal for the same text in any encoding,
/// since it is taken after normalisation.
pub fn fingerprint_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

/// Checks, normalises and fingerprints a document; derives its id when none was given
/// (from `source_uri`, else from the content).
pub fn prepare(incoming: Incoming, limits: &Limits) -> Result<Prepared, ServiceError> {
    let media = validate::media_type(&incoming.content_type, limits)?;
    if let Some(id) = &incoming.document_id {
        validate::document_id(id)?;
    }
    if let Some(uri) = &incoming.source_uri {
        validate::source_uri(uri)?;
    }
    validate::attributes(&incoming.attributes, limits)?;
    let mut attributes = incoming.attributes;
    if let Some(tenant) = &incoming.tenant {
        let own = AttributeValue::String(tenant.as_str().to_owned());
        match attributes.insert(TENANT_ATTRIBUTE.to_owned(), own.clone()) {
            Some(given) if given != own => return Err(refuse_callers_tenant("attributes.tenant")),
            _ => {}
        }
    }
    let body = if media.is_pdf() {
        if !incoming.bytes.starts_with(b"%PDF-") {
            return Err(ServiceError::invalid_input("content", "application/pdf content does not start with %PDF-"));
        }
        incoming.bytes
    } else {
        let text = normalise::normalise(&incoming.bytes, media.charset.as_deref())
            .map_err(|e| ServiceError::invalid_input("content", e.to_string()))?;
        if media.essence == "application/json" {
            serde_json::from_str::<serde::de::IgnoredAny>(&text)
                .map_err(|e| ServiceError::invalid_input("content", format!("not valid JSON: {e}")))?;
        }
        text.into_bytes()
    };
    let fingerprint_hex = fingerprint_hex(&body);
    let document_id = match (incoming.document_id, &incoming.source_uri) {
        (Some(id), _) => id,
        (None, Some(uri)) => format!("src-{}", &hex::encode(Sha256::digest(uri.as_bytes()))[..32]),
        (None, None) => format!("sha-{}", &fingerprint_hex[..32]),
    };
    let document_id = match &incoming.tenant {
        Some(tenant) => {
            let qualified = tenant.qualify(&document_id);
            validate::document_id(&qualified)?;
            qualified
        }
        None => document_id,
    };
    Ok(Prepared {
        document_id,
        source_uri: incoming.source_uri,
        media,
        body: Bytes::from(body),
        fingerprint_hex,
        attributes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incoming(content_type: &str, bytes: &[u8]) -> Incoming {
        Incoming {
            document_id: None,
            source_uri: None,
            content_type: content_type.into(),
            bytes: bytes.to_vec(),
            attributes: Attributes::new(),
            tenant: None,
        }
    }

    #[test]
    fn a_tenants_document_is_named_and_stamped_as_the_tenants() {
        let limits = Limits::default();
        let acme = Tenant::new("acme").unwrap();
        let stamped = AttributeValue::String("acme".into());
        let named = Incoming {
            document_id: Some("refunds".into()),
            tenant: Some(acme.clone()),
            ..incoming("text/plain", b"x")
        };
        let prepared = prepare(named, &limits).unwrap();
        assert_eq!(prepared.document_id, "acme:refunds");
        assert_eq!(prepared.attributes.get(TENANT_ATTRIBUTE), Some(&stamped));
        // A derived id is qualified too; the tenant's own value may be repeated, another may not.
        let mut unnamed = Incoming { tenant: Some(acme.clone()), ..incoming("text/plain", b"y") };
        unnamed.attributes.insert(TENANT_ATTRIBUTE.into(), stamped.clone());
        assert!(prepare(unnamed.clone(), &limits).unwrap().document_id.starts_with("acme:sha-"));
        unnamed.attributes.insert(TENANT_ATTRIBUTE.into(), AttributeValue::String("beta".into()));
        let refused = prepare(unnamed, &limits).unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("attributes.tenant"));
        // Single-tenant: ids and attributes are the caller's own.
        let single = Incoming { document_id: Some("refunds".into()), ..incoming("text/plain", b"x") };
        assert_eq!(prepare(single, &limits).unwrap().document_id, "refunds");
    }

    #[test]
    fn the_same_text_in_two_encodings_has_one_fingerprint() {
        let limits = Limits::default();
        let utf8 = prepare(incoming("text/plain", "Crème brûlée".as_bytes()), &limits).unwrap();
        let latin1 = encoding_rs::WINDOWS_1252.encode("Crème brûlée").0.into_owned();
        let declared = prepare(incoming("text/plain; charset=windows-1252", &latin1), &limits).unwrap();
        assert_eq!(utf8.fingerprint(), declared.fingerprint());
        assert_eq!(utf8.document_id, declared.document_id, "ids derived from content agree");
        assert!(utf8.fingerprint().starts_with("sha256:") && utf8.fingerprint_hex.len() == 64);
    }

    #[test]
    fn ids_derive_from_source_uri_before_content() {
        let mut with_uri = incoming("text/plain", b"v1");
        with_uri.source_uri = Some("https://example.com/a".into());
        let mut same_uri = incoming("text/plain", b"v2");
        same_uri.source_uri = Some("https://example.com/a".into());
        let limits = Limits::default();
        let first = prepare(with_uri, &limits).unwrap();
        let second = prepare(same_uri, &limits).unwrap();
        assert_eq!(first.document_id, second.document_id);
        assert!(first.document_id.starts_with("src-"));
        assert_ne!(first.fingerprint(), second.fingerprint());
    }

    #[test]
    fn pdf_bytes_are_kept_as_they_are() {
        let pdf = b"%PDF-1.7\n\x00\xFF binary";
        let prepared = prepare(incoming("application/pdf", pdf), &Limits::default()).unwrap();
        assert_eq!(prepared.body.as_ref(), pdf);
        let refused = prepare(incoming("application/pdf", b"hello"), &Limits::default()).unwrap_err();
        assert_eq!(refused.field.as_deref(), Some("content"));
    }

    #[test]
    fn json_documents_must_parse() {
        assert!(prepare(incoming("application/json", br#"{"a": [1, 2]}"#), &Limits::default()).is_ok());
        let refused = prepare(incoming("application/json", b"{oops"), &Limits::default()).unwrap_err();
        assert!(refused.detail.contains("not valid JSON"), "{refused}");
    }
}
