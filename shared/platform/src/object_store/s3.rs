use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use super::{validate_key, Object, ObjectInfo, ObjectStore, PutCondition, PutOptions, StoreError};
use crate::aws::{error_chain, is_transient, status_of, HasStatus};

/// One S3 bucket. Conditional puts use S3's `If-None-Match: *` and `If-Match` (412 when
/// the condition fails).
#[derive(Clone, Debug)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3ObjectStore {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self { client, bucket: bucket.into() }
    }
}

fn map_error<E, R>(key: &str, condition: &PutCondition, error: aws_sdk_s3::error::SdkError<E, R>) -> StoreError
where
    E: std::error::Error + aws_sdk_s3::error::ProvideErrorMetadata + Send + Sync + 'static,
    R: HasStatus + std::fmt::Debug + Send + Sync + 'static,
{
    let key = key.to_owned();
    match status_of(&error) {
        Some(412) | Some(409) if *condition == PutCondition::IfAbsent => StoreError::AlreadyExists { key },
        Some(412) | Some(409) => StoreError::PreconditionFailed { key },
        Some(404) => StoreError::NotFound { key },
        _ if is_transient(&error) => StoreError::Transient(error_chain(&error)),
        _ => StoreError::Refused(error_chain(&error)),
    }
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    fn location(&self) -> &str {
        &self.bucket
    }

    async fn put(&self, key: &str, body: Bytes, options: PutOptions) -> Result<ObjectInfo, StoreError> {
        validate_key(key)?;
        let size = body.len() as u64;
        let mut request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(body))
            .set_content_type(options.content_type.clone());
        request = match &options.condition {
            PutCondition::Always => request,
            PutCondition::IfAbsent => request.if_none_match("*"),
            PutCondition::IfMatch(etag) => request.if_match(etag),
        };
        let output = request.send().await.map_err(|e| map_error(key, &options.condition, e))?;
        Ok(ObjectInfo { key: key.to_owned(), size, etag: output.e_tag })
    }

    async fn get(&self, key: &str) -> Result<Object, StoreError> {
        validate_key(key)?;
        let output = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| map_error(key, &PutCondition::Always, e))?;
        let etag = output.e_tag.clone();
        let body =
            output.body.collect().await.map_err(|e| StoreError::Transient(format!("reading {key}: {e}")))?.into_bytes();
        let info = ObjectInfo { key: key.to_owned(), size: body.len() as u64, etag };
        Ok(Object { info, body })
    }

    async fn head(&self, key: &str) -> Result<ObjectInfo, StoreError> {
        validate_key(key)?;
        let output = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| map_error(key, &PutCondition::Always, e))?;
        let size = output.content_length.unwrap_or_default().max(0) as u64;
        Ok(ObjectInfo { key: key.to_owned(), size, etag: output.e_tag })
    }

    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut pages = self.client.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| map_error(prefix, &PutCondition::Always, e))?;
            for object in page.contents.unwrap_or_default() {
                let Some(key) = object.key else { continue };
                let size = object.size.unwrap_or_default().max(0) as u64;
                objects.push(ObjectInfo { key, size, etag: object.e_tag });
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn presign_put(&self, key: &str, content_type: &str, expires_in: Duration) -> Result<String, StoreError> {
        validate_key(key)?;
        let config = PresigningConfig::expires_in(expires_in).map_err(|e| StoreError::Refused(e.to_string()))?;
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .presigned(config)
            .await
            .map_err(|e| map_error(key, &PutCondition::Always, e))?;
        Ok(request.uri().to_owned())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| map_error(key, &PutCondition::Always, e))?;
        Ok(())
    }
}
