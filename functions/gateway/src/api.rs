//! The seams API as the gateway uses it: typed calls over [`Routes`], which carries a route
//! request to the function behind it (in process in `seams up`, Lambda `Invoke` when
//! deployed, HTTPS to a deployed API from `seams mcp --api`).

use std::sync::Arc;

use async_trait::async_trait;
use seams_contracts::answer::{AnswerRequest, AnswerResponse};
use seams_contracts::ingest::{DocumentList, DocumentStatus, IngestDocumentRequest, IngestResponse};
use seams_contracts::retrieve::{RetrieveRequest, RetrieveResponse};
use seams_contracts::{CorrelationId, ErrorName, Problem};
use seams_platform::logging::{current_invocation, invocation_scope, Invocation};
use seams_platform::proxy::{RouteRequest, RouteResponse};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Carries a request to the route it names and brings back the function's response; a
/// failure to reach the function at all is a problem (`Seams.Transient`).
#[async_trait]
pub trait Routes: Send + Sync {
    async fn call(&self, request: RouteRequest) -> Result<RouteResponse, Problem>;
}

/// Who called the gateway: what it passes on to the routes it calls for them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Caller {
    /// `authorization` and `x-correlation-id`, when the caller sent them.
    pub headers: Vec<(String, String)>,
    /// The HTTP API authorizer's context (JWT claims).
    pub authorizer: Option<Value>,
    /// The Lambda invocation serving the call. The MCP server runs each tool in a task of its
    /// own, which would lose the invocation's log fields and X-Ray trace: route calls run in
    /// it again.
    pub invocation: Option<Invocation>,
}

impl Caller {
    /// The headers a route call carries on from the caller.
    pub const FORWARDED: [&'static str; 2] = ["authorization", CorrelationId::HEADER];

    pub fn from_headers<'a>(headers: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let headers = headers
            .into_iter()
            .filter(|(name, _)| Self::FORWARDED.iter().any(|f| name.eq_ignore_ascii_case(f)))
            .map(|(name, value)| (name.to_ascii_lowercase(), value.to_owned()))
            .collect();
        Self { headers, authorizer: None, invocation: None }
    }
}

/// The routes the gateway calls, typed.
#[derive(Clone)]
pub struct Seams {
    routes: Arc<dyn Routes>,
}

impl Seams {
    pub fn new(routes: Arc<dyn Routes>) -> Self {
        Self { routes }
    }

    pub async fn retrieve(&self, caller: &Caller, request: &RetrieveRequest) -> Result<RetrieveResponse, Problem> {
        self.send(caller, RouteRequest::new("POST", "/retrieve").json(request)).await
    }

    pub async fn answer(&self, caller: &Caller, request: &AnswerRequest) -> Result<AnswerResponse, Problem> {
        self.send(caller, RouteRequest::new("POST", "/answer").json(request)).await
    }

    pub async fn document(&self, caller: &Caller, document_id: &str) -> Result<DocumentStatus, Problem> {
        if document_id.is_empty() || document_id.contains('/') {
            return Err(Problem::new(ErrorName::InvalidInput, "document_id: must be a non-empty id without '/'")
                .with_field("document_id"));
        }
        self.send(caller, RouteRequest::new("GET", format!("/documents/{document_id}"))).await
    }

    pub async fn documents(
        &self,
        caller: &Caller,
        after: Option<&str>,
        limit: Option<u32>,
    ) -> Result<DocumentList, Problem> {
        self.send(caller, RouteRequest::new("GET", "/documents").query("after", after).query("limit", limit)).await
    }

    pub async fn ingest(&self, caller: &Caller, request: &IngestDocumentRequest) -> Result<IngestResponse, Problem> {
        self.send(caller, RouteRequest::new("POST", "/documents").json(request)).await
    }

    async fn send<T: DeserializeOwned>(&self, caller: &Caller, mut request: RouteRequest) -> Result<T, Problem> {
        request.headers.extend(caller.headers.iter().cloned());
        request.authorizer = caller.authorizer.clone();
        let response = match caller.invocation.clone() {
            Some(invocation) if current_invocation().is_none() => {
                invocation_scope(invocation, self.routes.call(request)).await?
            }
            _ => self.routes.call(request).await?,
        };
        if !response.is_success() {
            return Err(serde_json::from_slice::<Problem>(&response.body).unwrap_or_else(|_| {
                let body = String::from_utf8_lossy(&response.body);
                Problem::new(ErrorName::Transient, format!("the route answered {}: {body}", response.status))
            }));
        }
        serde_json::from_slice(&response.body).map_err(|e| {
            Problem::new(ErrorName::Transient, format!("the route's response is not the expected contract: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;

    /// Answers every call with one response and keeps the requests it was given.
    struct Recorded {
        response: RouteResponse,
        requests: Mutex<Vec<RouteRequest>>,
    }

    #[async_trait]
    impl Routes for Recorded {
        async fn call(&self, request: RouteRequest) -> Result<RouteResponse, Problem> {
            self.requests.lock().unwrap().push(request);
            Ok(self.response.clone())
        }
    }

    fn answering(status: u16, body: &str) -> Arc<Recorded> {
        Arc::new(Recorded {
            response: RouteResponse { status, headers: vec![], body: body.as_bytes().to_vec() },
            requests: Mutex::default(),
        })
    }

    #[tokio::test]
    async fn calls_carry_the_callers_token_claims_and_query() {
        let routes = answering(200, r#"{"documents": []}"#);
        let caller = Caller {
            authorizer: Some(serde_json::json!({"jwt": {"claims": {"tenant": "a"}}})),
            ..Caller::from_headers([("Authorization", "Bearer t"), ("Cookie", "c"), ("X-Correlation-Id", "c-1")])
        };
        let list = Seams::new(routes.clone()).documents(&caller, Some("doc-9"), Some(10)).await.unwrap();
        assert!(list.documents.is_empty());
        let sent = routes.requests.lock().unwrap()[0].clone();
        assert_eq!((sent.method.as_str(), sent.path.as_str()), ("GET", "/documents"));
        assert_eq!(sent.query, vec![("after".into(), "doc-9".into()), ("limit".into(), "10".into())]);
        assert_eq!(
            sent.headers,
            vec![("authorization".into(), "Bearer t".into()), ("x-correlation-id".into(), "c-1".into())],
            "only the forwarded headers travel, never cookies"
        );
        assert_eq!(sent.authorizer, caller.authorizer);
    }

    #[tokio::test]
    async fn a_routes_problem_comes_back_as_that_problem() {
        let problem = Problem::new(ErrorName::NotFound, "no document x");
        let routes = answering(404, &serde_json::to_string(&problem).unwrap());
        let error = Seams::new(routes).document(&Caller::default(), "x").await.unwrap_err();
        assert_eq!((error.error, error.detail.as_str()), (ErrorName::NotFound, "no document x"));
    }

    #[tokio::test]
    async fn what_is_not_a_problem_or_the_contract_is_transient() {
        let error = Seams::new(answering(502, "Bad Gateway")).document(&Caller::default(), "x").await.unwrap_err();
        assert_eq!(error.error, ErrorName::Transient);
        assert!(error.detail.contains("502"), "{}", error.detail);
        let error = Seams::new(answering(200, "{}")).document(&Caller::default(), "x").await.unwrap_err();
        assert!(error.detail.contains("contract"), "{}", error.detail);
    }

    #[tokio::test]
    async fn ids_that_would_name_another_route_are_refused_before_any_call() {
        let routes = answering(200, "{}");
        let error = Seams::new(routes.clone()).document(&Caller::default(), "a/b").await.unwrap_err();
        assert_eq!(error.error, ErrorName::InvalidInput);
        assert!(routes.requests.lock().unwrap().is_empty());
    }
}
