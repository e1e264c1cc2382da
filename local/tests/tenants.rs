//! Tenant isolation on `seams up --jwt-secret`, as a deployment with a JWT authorizer: three
//! tenants store documents under the same ids, then each tries every route to reach the
//! others' (by id, by filter, by question, by deletion). Not one may succeed.

use crate::common;

use common::Server;
use serde_json::{json, Value};

const SECRET: &str = "tenant-test-secret";
const TENANTS: [(&str, &str); 3] = [("acme", "aardvark"), ("beta", "bumblebee"), ("gamma", "chameleon")];

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Client {
    fn new(base: &str, claims: Value) -> Self {
        Self { http: reqwest::Client::new(), base: base.to_owned(), token: seams::jwt::sign(SECRET, &claims).unwrap() }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.http.request(method, format!("{}{path}", self.base)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }
}

/// The document ids a response names, wherever they are.
fn document_ids(value: &Value, ids: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("document_id", Value::String(id)) => ids.push(id.clone()),
                    _ => document_ids(value, ids),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| document_ids(item, ids)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_tenant_reads_answers_from_or_deletes_another_tenants_documents() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(data.path(), &["up", "--port", "0", "--jwt-secret", SECRET]);
    let base = server.base.clone();

    // Without a valid token nothing is served; a token without a tenant is refused.
    let anonymous = reqwest::Client::new().post(format!("{base}/retrieve")).json(&json!({"query": "x"}));
    assert_eq!(anonymous.send().await.unwrap().status(), 401);
    let forged = Client {
        token: seams::jwt::sign("guessed", &json!({"tenant": "acme"})).unwrap(),
        ..Client::new(&base, json!({}))
    };
    assert_eq!(forged.post("/retrieve", json!({"query": "x"})).await.0, 401);
    let tenantless = Client::new(&base, json!({"sub": "someone"}));
    let (status, problem) = tenantless.post("/retrieve", json!({"query": "x"})).await;
    assert_eq!((status, problem["error"].as_str()), (403, Some("Seams.Forbidden")), "{problem}");

    let clients: Vec<(&str, &str, Client)> =
        TENANTS.iter().map(|(tenant, word)| (*tenant, *word, Client::new(&base, json!({"tenant": tenant})))).collect();
    for (tenant, word, client) in &clients {
        for (id, text) in [
            ("shared-id", format!("The {word} protocol is {tenant}'s secret. Refunds take {word} days.")),
            (&format!("own-{tenant}") as &str, format!("Only {tenant} keeps {word} notes on refunds.")),
        ] {
            let document = json!({"document_id": id, "content_type": "text/plain", "content": text});
            let (status, stored) = client.post("/documents", document).await;
            assert_eq!(status, 202, "{stored}");
            assert_eq!(stored["document_id"], format!("{tenant}:{id}"), "stored under the tenant's name");
        }
        // Through an upload URL too: the ticket keeps the tenant for when the file lands.
        let text = format!("{tenant} uploaded the {word} handbook.");
        let ticket = json!({"document_id": "uploaded", "content_type": "text/plain", "byte_size": text.len()});
        let (status, ticket) = client.post("/documents/uploads", ticket).await;
        assert_eq!(status, 201, "{ticket}");
        let put = client.http.put(ticket["url"].as_str().unwrap()).header("content-type", "text/plain").body(text);
        assert_eq!(put.send().await.unwrap().status(), 200);
        // A caller cannot stamp another tenant, nor name the tenant a search runs for.
        let other = if *tenant == "beta" { "acme" } else { "beta" };
        let stamped = json!({"content_type": "text/plain", "content": "x", "attributes": {"tenant": other}});
        assert_eq!(client.post("/documents", stamped).await.0, 400);
        assert_eq!(client.post("/retrieve", json!({"query": word, "tenant": other})).await.0, 400);
    }
    // The processing queues are drained in the background; wait until every word is found.
    for (_, word, client) in &clients {
        for _ in 0..100 {
            let (_, found) = client.post("/retrieve", json!({"query": word, "search_mode": "keyword"})).await;
            if found["results"].as_array().is_some_and(|results| results.len() == 3) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }

    let mut leaks: Vec<String> = Vec::new();
    let mut checked = 0;
    for (tenant, word, client) in &clients {
        let own = |id: &str| id.starts_with(&format!("{tenant}:"));
        let others: Vec<(&str, &str)> =
            TENANTS.iter().filter(|(other, _)| other != tenant).map(|(t, w)| (*t, *w)).collect();
        let mut seen = |route: &str, response: &Value, leaks: &mut Vec<String>| {
            checked += 1;
            let mut ids = Vec::new();
            document_ids(response, &mut ids);
            let text = response.to_string();
            for id in ids.iter().filter(|id| !own(id)) {
                leaks.push(format!("{tenant} saw {id} through {route}"));
            }
            for (other, other_word) in &others {
                if text.contains(other_word) {
                    leaks.push(format!("{tenant} read {other}'s word through {route}"));
                }
            }
        };

        // Search for every tenant's words, with every filter a caller might try.
        for (_, query_word) in TENANTS {
            for other in ["acme", "beta", "gamma"] {
                let filters = [
                    Value::Null,
                    json!({"tenant": other}),
                    json!({"notEquals": {"key": "tenant", "value": tenant}}),
                    json!({"orAll": [{"equals": {"key": "tenant", "value": other}}, {"startsWith": {"key": "tenant", "value": ""}}]}),
                ];
                for filter in filters {
                    for mode in ["keyword", "vector", "hybrid"] {
                        let body = json!({"query": format!("{query_word} protocol"), "search_mode": mode, "top_k": 20, "filters": filter});
                        let (status, found) = client.post("/retrieve", body).await;
                        assert!(status == 200 || status == 400, "{found}");
                        seen("/retrieve", &found, &mut leaks);
                    }
                }
            }
            let question = json!({"question": format!("What is the {query_word} protocol?"), "destination": {"type": "http_response"}});
            let (status, answered) = client.post("/answer", question).await;
            let chat = json!({"model": "seams", "messages": [{"role": "user", "content": format!("What is the {query_word} protocol?")}]});
            let (chat_status, chatted) = client.post("/v1/chat/completions", chat).await;
            if query_word == *word {
                // Its own question is answered, from its own documents.
                assert_eq!(status, 200, "{answered}");
                assert!(answered["citations"].as_array().is_some_and(|c| !c.is_empty()), "{answered}");
                assert_eq!(chat_status, 200, "{chatted}");
                assert!(chatted.to_string().contains(word), "{chatted}");
            }
            seen("/answer", &answered, &mut leaks);
            seen("/v1/chat/completions", &chatted, &mut leaks);
            let search = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call",
                                "params": {"name": "search", "arguments": {"query": query_word, "top_k": 20}}});
            let mcp = client.http.post(format!("{base}/mcp")).bearer_auth(&client.token);
            let mcp = mcp.header("accept", "application/json, text/event-stream").json(&search);
            let searched: Value = mcp.send().await.unwrap().json().await.unwrap();
            if query_word == *word {
                assert!(searched.to_string().contains(word), "MCP search finds its own: {searched}");
            }
            seen("/mcp search", &searched, &mut leaks);
        }
        let (status, listed) = client.get("/documents").await;
        assert_eq!((status, listed["documents"].as_array().map(Vec::len)), (200, Some(3)), "{listed}");
        seen("GET /documents", &listed, &mut leaks);

        // By id: the other tenants' ids, spelled every way, name only this tenant's documents.
        for (other, _) in &others {
            for id in [format!("{other}:shared-id"), format!("{other}:own-{other}"), format!("own-{other}")] {
                let (status, found) = client.get(&format!("/documents/{id}")).await;
                assert_eq!(status, 404, "{tenant} GET {id}: {found}");
                let (status, deleted) = client.send(reqwest::Method::DELETE, &format!("/documents/{id}"), None).await;
                assert_eq!(status, 404, "{tenant} DELETE {id}: {deleted}");
            }
        }
        let (status, mine) = client.get("/documents/shared-id").await;
        assert_eq!((status, mine["document_id"].as_str()), (200, Some(&*format!("{tenant}:shared-id"))), "{mine}");
    }
    println!("tenants: {checked} answers to 3 tenants checked, {} leaks", leaks.len());
    assert_eq!(leaks, Vec::<String>::new());
    assert!(checked > 100, "{checked} responses checked");

    // Every tenant still has both its documents and finds its own word in them.
    for (tenant, word, client) in &clients {
        let (_, found) = client.post("/retrieve", json!({"query": word, "search_mode": "keyword"})).await;
        let mut ids = Vec::new();
        document_ids(&found, &mut ids);
        ids.sort();
        ids.dedup();
        let expected = [format!("{tenant}:own-{tenant}"), format!("{tenant}:shared-id"), format!("{tenant}:uploaded")];
        assert_eq!(ids, expected, "{found}");
    }
    server.stop();
}

#[tokio::test]
async fn a_workflow_that_names_no_tenant_searches_nothing() {
    let data = tempfile::tempdir().unwrap();
    let variables =
        [("SEAMS_TENANT_CLAIM".to_owned(), "tenant".to_owned()), ("SEAMS_EMBEDDER".to_owned(), "hashing".to_owned())];
    let stack = std::sync::Arc::new(seams::LocalStack::configured(data.path(), variables.into()).await.unwrap());
    // The answer workflow's direct invoke: trusted, but it must say whose documents.
    let unnamed = json!({"query": "refunds", "top_k": 3});
    let error = seams::invoke(&stack, "retrieve", unnamed).await.unwrap_err();
    assert!(error.to_string().contains("tenant: required"), "{error}");
    let named = json!({"query": "refunds", "top_k": 3, "tenant": "acme"});
    assert!(seams::invoke(&stack, "retrieve", named).await.is_ok());
    // So must an upstream event.
    let mut published = seams_tests::sample_event("ingest/eventbridge-document-published.json");
    published["detail"] =
        json!({"document_id": "notes", "content_type": "text/plain", "content": "Refunds take a week."});
    let error = seams::invoke(&stack, "ingest", published.clone()).await.unwrap_err();
    assert!(error.to_string().contains("detail.tenant: required"), "{error}");
    published["detail"]["tenant"] = json!("acme");
    let stored = seams::invoke(&stack, "ingest", published).await.unwrap();
    assert!(stored["document_id"].as_str().unwrap().starts_with("acme:"), "{stored}");
}

/// An identity provider's tokens, as in production: `seams up --jwks` with its key set, its
/// issuer and the API's audience. Its tenants are kept apart just as with a shared secret.
#[tokio::test(flavor = "multi_thread")]
async fn up_checks_an_identity_providers_tokens_against_its_key_set() {
    use seams_tests::identity_provider::{hmac_token, EcSigner, RsaSigner};

    let (rsa, ec) = (RsaSigner::generate(), EcSigner::generate());
    let keys = json!({"keys": [rsa.jwk("2026-11"), ec.jwk("2026-12")]});
    let scratch = tempfile::tempdir().unwrap();
    let jwks = scratch.path().join("jwks.json");
    std::fs::write(&jwks, keys.to_string()).unwrap();
    let issuer = "https://id.example.com/";
    let data = tempfile::tempdir().unwrap();
    let server = Server::start_with(
        data.path(),
        &["up", "--port", "0", "--jwks", &jwks.to_string_lossy(), "--jwt-issuer", issuer, "--jwt-audience", "seams"],
    );
    let client = |token: String| Client { http: reqwest::Client::new(), base: server.base.clone(), token };
    let claims = |tenant: &str| json!({"iss": issuer, "aud": "seams", "tenant": tenant, "exp": chrono::Utc::now().timestamp() + 300});

    let acme = client(rsa.sign("2026-11", &claims("acme")));
    let beta = client(ec.sign("2026-12", &claims("beta")));
    let document = |word: &str| json!({"document_id": "notes", "content_type": "text/plain", "content": format!("The {word} notes.")});
    let (status, stored) = acme.post("/documents", document("aardvark")).await;
    assert_eq!((status, stored["document_id"].as_str()), (202, Some("acme:notes")), "{stored}");
    let (status, stored) = beta.post("/documents", document("bumblebee")).await;
    assert_eq!((status, stored["document_id"].as_str()), (202, Some("beta:notes")), "{stored}");
    for (reader, own, other) in [(&acme, "acme:notes", "beta:notes"), (&beta, "beta:notes", "acme:notes")] {
        let (status, found) = reader.get("/documents/notes").await;
        assert_eq!((status, found["document_id"].as_str()), (200, Some(own)), "{found}");
        assert_eq!(reader.get(&format!("/documents/{other}")).await.0, 404);
    }

    // Wrong audience, wrong issuer, an unknown key, a stranger's key, HS256 over the public
    // key set, no token: 401 with a problem body. No tenant claim: 403.
    let mut wrong_audience = claims("acme");
    wrong_audience["aud"] = json!("another-api");
    let mut wrong_issuer = claims("acme");
    wrong_issuer["iss"] = json!("https://evil.example.com/");
    let refused = [
        rsa.sign("2026-11", &wrong_audience),
        rsa.sign("2026-11", &wrong_issuer),
        rsa.sign("2025-01", &claims("acme")),
        RsaSigner::generate().sign("2026-11", &claims("acme")),
        hmac_token(keys.to_string().as_bytes(), &json!({"alg": "HS256", "kid": "2026-11"}), &claims("acme")),
        String::new(),
    ];
    for token in refused {
        let (status, problem) = client(token.clone()).get("/documents/notes").await;
        assert_eq!(status, 401, "{token}: {problem}");
        assert!(problem["type"].as_str().is_some_and(|t| t.ends_with("unauthorized")), "{problem}");
    }
    let tenantless = client(rsa.sign("2026-11", &json!({"iss": issuer, "aud": "seams", "sub": "u-1"})));
    assert_eq!(tenantless.get("/documents/notes").await.0, 403);
    server.stop();
}
