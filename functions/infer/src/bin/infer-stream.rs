//! infer behind a Lambda function URL with `InvokeMode: RESPONSE_STREAM`: the same requests
//! as `POST /inference`, answered as server-sent events while the model writes.

use std::convert::Infallible;

use futures::StreamExt;
use http::{HeaderMap, HeaderValue, StatusCode};
use lambda_runtime::{service_fn, LambdaEvent, MetadataPrelude, StreamResponse};
use seams_platform::config::{or_exit, Env};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    seams_platform::logging::init();
    let config = or_exit(infer::Config::from_env(Env::from_process()));
    let sdk = config.aws.load().await;
    let service = infer::Service::from_config(&config, &sdk).await?;
    let service = &service;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<aws_lambda_events::apigw::ApiGatewayV2httpRequest>| async move {
            let invocation = seams_platform::logging::Invocation::from_context(&event.context);
            let reply =
                seams_platform::logging::invocation_scope(invocation, service.stream_http(&event.payload)).await;
            let mut headers = HeaderMap::new();
            headers.insert("content-type", HeaderValue::from_static(reply.content_type));
            if let Ok(value) = HeaderValue::from_str(reply.correlation.as_str()) {
                headers.insert("x-correlation-id", value);
            }
            let metadata_prelude = MetadataPrelude {
                status_code: StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                headers,
                cookies: Vec::new(),
            };
            Ok::<_, Infallible>(StreamResponse { metadata_prelude, stream: reply.body.map(Ok::<_, Infallible>) })
        },
    ))
    .await
}
