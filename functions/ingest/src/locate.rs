//! Where documents come from outside a request body: keys in S3 event notifications, and
//! `s3://` URIs in upstream events. Pure: no I/O.

use percent_encoding::percent_decode_str;
use seams_platform::ServiceError;

/// S3 event notifications URL-encode object keys, with `+` for a space.
pub fn decode_event_key(key: &str) -> Result<String, ServiceError> {
    let spaced = key.replace('+', " ");
    percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| decoded.into_owned())
        .map_err(|e| ServiceError::invalid_input("s3.object.key", format!("{key:?} does not decode to UTF-8: {e}")))
}

/// `s3://bucket/key` → `(bucket, key)`.
pub fn parse_s3_uri(uri: &str) -> Result<(String, String), ServiceError> {
    let invalid = || ServiceError::invalid_input("s3_uri", format!("{uri:?} is not s3://bucket/key"));
    let rest = uri.strip_prefix("s3://").ok_or_else(invalid)?;
    let (bucket, key) = rest.split_once('/').ok_or_else(invalid)?;
    if bucket.is_empty() || key.is_empty() {
        return Err(invalid());
    }
    Ok((bucket.to_owned(), key.to_owned()))
}

/// The upload id in `uploads/{upload_id}/{file name}`.
pub fn upload_id(key: &str) -> Result<&str, ServiceError> {
    match key.split('/').collect::<Vec<_>>().as_slice() {
        ["uploads", id, _name] if !id.is_empty() => Ok(id),
        _ => Err(ServiceError::invalid_input("s3.object.key", format!("{key:?} is not under uploads/{{upload_id}}/"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_are_decoded() {
        let key = "uploads/annual-report-2026/Annual+Report+2026%E2%80%93Q3.pdf";
        assert_eq!(decode_event_key(key).unwrap(), "uploads/annual-report-2026/Annual Report 2026–Q3.pdf");
        assert_eq!(decode_event_key("a%2Bb").unwrap(), "a+b");
        assert!(decode_event_key("bad%FF").is_err());
    }

    #[test]
    fn s3_uris_split_into_bucket_and_key() {
        assert_eq!(parse_s3_uri("s3://cms/handbook/ch3.html").unwrap(), ("cms".into(), "handbook/ch3.html".into()));
        for bad in ["https://x/y", "s3://bucket", "s3:///key", "s3://bucket/"] {
            assert_eq!(parse_s3_uri(bad).unwrap_err().field.as_deref(), Some("s3_uri"), "{bad}");
        }
    }

    #[test]
    fn upload_ids_come_from_the_upload_prefix() {
        assert_eq!(upload_id("uploads/u-1/report.pdf").unwrap(), "u-1");
        assert!(upload_id("raw/u-1/report.pdf").is_err());
        assert!(upload_id("uploads/u-1/nested/report.pdf").is_err());
    }
}
