//! The gateway (MCP and OpenAI chat) on this machine: over the local pipeline in process, or
//! over a deployed seams API (`seams mcp --api`).

use std::sync::Arc;

use async_trait::async_trait;
use gateway::api::Routes;
use seams_contracts::{ErrorName, Problem};
use seams_platform::proxy::{RouteRequest, RouteResponse};

use crate::{invoke, InvokeError, LocalStack};

/// Routes served by the local stack's handlers, as `seams up` serves them.
pub struct LocalRoutes(pub Arc<LocalStack>);

#[async_trait]
impl Routes for LocalRoutes {
    async fn call(&self, request: RouteRequest) -> Result<RouteResponse, Problem> {
        let Some((route, parameters)) = request.route() else {
            return Err(Problem::new(ErrorName::NotFound, format!("no route {} {}", request.method, request.path)));
        };
        let event = request.event(&route, &parameters, &uuid::Uuid::new_v4().to_string());
        match invoke(&self.0, route.function, event).await {
            Ok(response) => Ok(RouteResponse::from_proxy(&response)),
            Err(InvokeError::Handler(error)) => Err(error.to_problem(None)),
            Err(other) => Err(Problem::new(ErrorName::Transient, other.to_string())),
        }
    }
}

/// Routes of a deployed HTTP API, called over HTTPS with a bearer token.
pub struct RemoteRoutes {
    client: reqwest::Client,
    /// `https://abc123.execute-api.eu-west-1.amazonaws.com`, without a trailing slash.
    base_url: String,
    token: Option<String>,
}

impl RemoteRoutes {
    pub fn new(base_url: &str, token: Option<String>) -> Result<Self, String> {
        let parsed = reqwest::Url::parse(base_url).map_err(|e| format!("--api {base_url:?}: {e}"))?;
        if !matches!(parsed.scheme(), "https" | "http") {
            return Err(format!("--api {base_url:?}: an http(s) URL is needed"));
        }
        let client = reqwest::Client::builder().build().map_err(|e| e.to_string())?;
        Ok(Self { client, base_url: base_url.trim_end_matches('/').to_owned(), token })
    }
}

#[async_trait]
impl Routes for RemoteRoutes {
    async fn call(&self, request: RouteRequest) -> Result<RouteResponse, Problem> {
        let method = reqwest::Method::from_bytes(request.method.as_bytes())
            .map_err(|e| Problem::new(ErrorName::InvalidInput, e.to_string()))?;
        let mut url = reqwest::Url::parse(&format!("{}{}", self.base_url, request.path))
            .map_err(|e| Problem::new(ErrorName::InvalidInput, format!("{}: {e}", request.path)))?;
        if !request.query.is_empty() {
            url.query_pairs_mut().extend_pairs(&request.query);
        }
        let mut call = self.client.request(method, url);
        for (name, value) in &request.headers {
            call = call.header(name, value);
        }
        if let Some(token) = &self.token {
            call = call.bearer_auth(token);
        }
        let unreachable = |e: reqwest::Error| Problem::new(ErrorName::Transient, format!("{}: {e}", self.base_url));
        let response = call.body(request.body).send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect();
        let body = response.bytes().await.map_err(unreachable)?.to_vec();
        Ok(RouteResponse { status, headers, body })
    }
}

/// Serves MCP on stdin/stdout until the client closes it.
pub async fn serve_stdio(seams: gateway::api::Seams, write_tools: bool) -> Result<(), String> {
    use rmcp::ServiceExt;
    let server = gateway::mcp::SeamsMcp::new(seams, gateway::api::Caller::default(), write_tools);
    let running = server.serve(rmcp::transport::stdio()).await.map_err(|e| e.to_string())?;
    running.waiting().await.map_err(|e| e.to_string())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use wiremock::matchers::{header, method, path, query_param};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    use super::*;

    #[tokio::test]
    async fn a_deployed_api_gets_the_token_the_query_and_the_body() {
        let api = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/documents"))
            .and(query_param("after", "a b"))
            .and(header("authorization", "Bearer t-1"))
            .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"documents": []}"#))
            .expect(1)
            .mount(&api)
            .await;
        let routes = RemoteRoutes::new(&format!("{}/", api.uri()), Some("t-1".into())).unwrap();
        let response = routes.call(RouteRequest::new("GET", "/documents").query("after", Some("a b"))).await.unwrap();
        assert_eq!((response.status, response.body), (200, br#"{"documents": []}"#.to_vec()));
    }

    #[tokio::test]
    async fn an_unreachable_api_is_transient_and_a_bad_url_is_refused() {
        let routes = RemoteRoutes::new("http://127.0.0.1:9", None).unwrap();
        let problem = routes.call(RouteRequest::new("GET", "/documents")).await.unwrap_err();
        assert_eq!(problem.error, ErrorName::Transient);
        assert!(RemoteRoutes::new("ftp://example.com", None).is_err());
        assert!(RemoteRoutes::new("not a url", None).is_err());
    }
}
