//! What ingest accepts: supported content types, size limits, well-formed base64, sane ids
//! and attributes. Each refusal names the offending field. Pure: no I/O.

use base64::Engine;
use seams_contracts::{AttributeValue, Attributes};
use seams_platform::ServiceError;

pub const MIB: u64 = 1024 * 1024;

/// The media types ingest accepts by default (`SEAMS_CONTENT_TYPES` overrides).
pub const DEFAULT_CONTENT_TYPES: [&str; 5] =
    ["text/plain", "text/markdown", "text/html", "application/pdf", "application/json"];

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    pub content_types: Vec<String>,
    /// Largest document accepted in a request body.
    pub inline_max_bytes: u64,
    /// Largest document accepted through a presigned upload.
    pub upload_max_bytes: u64,
    pub max_attributes: usize,
    pub max_attribute_key_chars: usize,
    pub max_attribute_value_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            content_types: DEFAULT_CONTENT_TYPES.iter().map(|t| (*t).to_owned()).collect(),
            inline_max_bytes: 5 * MIB,
            upload_max_bytes: 50 * MIB,
            max_attributes: 50,
            max_attribute_key_chars: 128,
            max_attribute_value_chars: 2048,
        }
    }
}

/// A parsed `Content-Type`: its lower-case essence and `charset` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaType {
    pub essence: String,
    pub charset: Option<String>,
}

impl MediaType {
    pub fn is_pdf(&self) -> bool {
        self.essence == "application/pdf"
    }
}

/// The media type a file name's extension implies, for the types ingest reads.
pub fn content_type_for_name(name: &str) -> Option<&'static str> {
    let extension = name.rsplit_once('.')?.1.to_ascii_lowercase();
    Some(match extension.as_str() {
        "md" | "markdown" => "text/markdown",
        "html" | "htm" => "text/html",
        "txt" | "text" => "text/plain",
        "json" => "application/json",
        "pdf" => "application/pdf",
        _ => return None,
    })
}

pub fn media_type(content_type: &str, limits: &Limits) -> Result<MediaType, ServiceError> {
    let invalid = |detail: String| ServiceError::invalid_input("content_type", detail);
    let parsed: mime::Mime =
        content_type.trim().parse().map_err(|e| invalid(format!("{content_type:?} is not a media type: {e}")))?;
    let essence = parsed.essence_str().to_ascii_lowercase();
    if !limits.content_types.contains(&essence) {
        return Err(invalid(format!("{essence} is not supported; supported: {}", limits.content_types.join(", "))));
    }
    let charset = parsed.get_param(mime::CHARSET).map(|c| c.as_str().to_owned());
    Ok(MediaType { essence, charset })
}

/// The document's bytes from exactly one of `content` and `content_base64`, within `max_bytes`.
pub fn content_bytes(
    content: Option<&str>,
    content_base64: Option<&str>,
    max_bytes: u64,
) -> Result<Vec<u8>, ServiceError> {
    let bytes = match (content, content_base64) {
        (Some(text), None) => text.as_bytes().to_vec(),
        (None, Some(encoded)) => {
            // Base64 grows data by 4/3: refuse an oversized payload before decoding it.
            if encoded.len() as u64 > max_bytes.saturating_mul(4) / 3 + 4 {
                return Err(too_large("content_base64", max_bytes));
            }
            base64::engine::general_purpose::STANDARD
                .decode(encoded.trim())
                .map_err(|e| ServiceError::invalid_input("content_base64", format!("not valid base64: {e}")))?
        }
        (None, None) => {
            return Err(ServiceError::invalid_input("content", "one of content and content_base64 is required"))
        }
        (Some(_), Some(_)) => {
            return Err(ServiceError::invalid_input("content", "give content or content_base64, not both"));
        }
    };
    if bytes.len() as u64 > max_bytes {
        let field = if content.is_some() { "content" } else { "content_base64" };
        return Err(too_large(field, max_bytes));
    }
    Ok(bytes)
}

pub fn too_large(field: &str, max_bytes: u64) -> ServiceError {
    ServiceError::content_too_large(
        field,
        format!("the document is larger than {} bytes ({} MiB)", max_bytes, max_bytes / MIB),
    )
}

/// Document ids become object keys: 1 to 200 characters of letters, digits and `-_.:`.
pub fn document_id(id: &str) -> Result<(), ServiceError> {
    let valid = !id.is_empty()
        && id.len() <= 200
        && id.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':'))
        && !id.starts_with('.');
    if valid {
        Ok(())
    } else {
        Err(ServiceError::invalid_input(
            "document_id",
            format!("{id:?} must be 1 to 200 letters, digits or -_.: (not starting with .)"),
        ))
    }
}

pub fn source_uri(uri: &str) -> Result<(), ServiceError> {
    if uri.is_empty() || uri.len() > 2048 || uri.chars().any(char::is_control) {
        return Err(ServiceError::invalid_input(
            "source_uri",
            "must be 1 to 2048 characters without control characters",
        ));
    }
    Ok(())
}

pub fn attributes(attributes: &Attributes, limits: &Limits) -> Result<(), ServiceError> {
    if attributes.len() > limits.max_attributes {
        let detail = format!("{} attributes given; at most {}", attributes.len(), limits.max_attributes);
        return Err(ServiceError::invalid_input("attributes", detail));
    }
    for (key, value) in attributes {
        let field = format!("attributes.{key}");
        let key_ok = !key.is_empty()
            && key.chars().count() <= limits.max_attribute_key_chars
            && key.chars().all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
        if !key_ok {
            let detail = format!("keys are 1 to {} letters, digits or _-.:", limits.max_attribute_key_chars);
            return Err(ServiceError::invalid_input(field, detail));
        }
        // PostgreSQL cannot store a NUL: such a document would fail in its indexer, after the 202.
        let string_ok = |s: &String| s.chars().count() <= limits.max_attribute_value_chars && !s.contains('\0');
        let value_ok = match value {
            AttributeValue::Bool(_) => true,
            AttributeValue::Number(n) => n.is_finite(),
            AttributeValue::String(s) => string_ok(s),
            AttributeValue::StringList(items) => items.len() <= limits.max_attributes && items.iter().all(string_ok),
        };
        if !value_ok {
            let detail = format!(
                "values are booleans, finite numbers, strings of at most {} characters without NUL (U+0000), \
                 or lists of at most {} such strings",
                limits.max_attribute_value_chars, limits.max_attributes
            );
            return Err(ServiceError::invalid_input(field, detail));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(result: Result<impl std::fmt::Debug, ServiceError>) -> String {
        result.unwrap_err().field.unwrap_or_default()
    }

    #[test]
    fn extensions_name_the_types_ingest_reads() {
        assert_eq!(content_type_for_name("docs/Guide.MD"), Some("text/markdown"));
        assert_eq!(content_type_for_name("a/b.c/report.pdf"), Some("application/pdf"));
        assert_eq!(content_type_for_name("index.htm"), Some("text/html"));
        assert_eq!(content_type_for_name("photo.png"), None);
        assert_eq!(content_type_for_name("README"), None);
    }

    #[test]
    fn media_types_are_parsed_with_their_charset() {
        let parsed = media_type("Text/Plain; charset=Shift_JIS", &Limits::default()).unwrap();
        assert_eq!(parsed, MediaType { essence: "text/plain".into(), charset: Some("shift_jis".into()) });
        assert_eq!(field(media_type("image/png", &Limits::default())), "content_type");
        assert_eq!(field(media_type("not a type", &Limits::default())), "content_type");
    }

    #[test]
    fn content_comes_from_exactly_one_field() {
        assert_eq!(content_bytes(Some("hi"), None, 10).unwrap(), b"hi");
        assert_eq!(content_bytes(None, Some("aGk="), 10).unwrap(), b"hi");
        assert_eq!(field(content_bytes(None, None, 10)), "content");
        assert_eq!(field(content_bytes(Some("a"), Some("YQ=="), 10)), "content");
        assert_eq!(field(content_bytes(None, Some("not base64!"), 10)), "content_base64");
    }

    #[test]
    fn oversized_content_is_refused_before_and_after_decoding() {
        assert_eq!(field(content_bytes(Some("12345678901"), None, 10)), "content");
        assert_eq!(field(content_bytes(None, Some(&"QUFB".repeat(100)), 10)), "content_base64");
        assert_eq!(field(content_bytes(None, Some("MTIzNDU2Nzg5MDE="), 10)), "content_base64");
    }

    #[test]
    fn ids_and_attributes_are_checked() {
        assert!(document_id("refund-policy_v2:en.md").is_ok());
        for bad in ["", "a/b", ".hidden", "sp ace", &"x".repeat(201)] {
            assert_eq!(field(document_id(bad)), "document_id", "{bad:?}");
        }
        let limits = Limits::default();
        let mut attrs = Attributes::new();
        attrs.insert("category".into(), AttributeValue::String("policy".into()));
        assert!(attributes(&attrs, &limits).is_ok());
        attrs.insert("bad key".into(), AttributeValue::Bool(true));
        assert_eq!(field(attributes(&attrs, &limits)), "attributes.bad key");
        let many: Attributes = (0..51).map(|i| (format!("k{i}"), AttributeValue::Bool(true))).collect();
        assert_eq!(field(attributes(&many, &limits)), "attributes");
        let nan: Attributes = [("n".to_owned(), AttributeValue::Number(f64::NAN))].into();
        assert_eq!(field(attributes(&nan, &limits)), "attributes.n");
        let nul: Attributes = [("team".to_owned(), AttributeValue::String("ops\0".into()))].into();
        assert_eq!(field(attributes(&nul, &limits)), "attributes.team");
        let nul_item: Attributes =
            [("tags".to_owned(), AttributeValue::StringList(vec!["a".into(), "\0".into()]))].into();
        assert_eq!(field(attributes(&nul_item, &limits)), "attributes.tags");
        let controls: Attributes = [("note".to_owned(), AttributeValue::String("tab\tand line\n".into()))].into();
        assert!(attributes(&controls, &limits).is_ok(), "other control characters are stored as given");
    }
}
