//! `GET /openapi.json` against the code: every route the router serves is in the document with
//! its methods and path parameters, and nothing else is; every error it lists is the JSON error
//! body (for `POST /v1/xa`, with the transaction's outcome beside it); the token guards exactly the operations the document says; bodies it closes with
//! `additionalProperties: false` are refused with an unknown field; and a method a path does
//! not serve is a JSON 405 whose `Allow` matches the document. The document itself is validated
//! and fuzzed against a live gateway by `tests/it/schemathesis.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dq_core::{DelayQueue, ErrorKind, Registry};
use dq_gateway::{AppState, GatewayConfig, api_routes, app};
use dq_testkit::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "openapi-test-token";
const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "patch", "head", "options", "trace",
];

/// The committed document, as the gateway embeds it.
fn document() -> Value {
    serde_json::from_str(include_str!("../../openapi.json")).expect("gateway/openapi.json is JSON")
}

/// `(METHOD, path template)` of every operation in the document.
fn documented(doc: &Value) -> BTreeMap<(String, String), Value> {
    let mut out = BTreeMap::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            if METHODS.contains(&method.as_str()) {
                out.insert((method.to_uppercase(), path.clone()), operation.clone());
            }
        }
    }
    out
}

/// Follows a local `$ref` (`#/components/...`), once.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    match value.get("$ref").and_then(Value::as_str) {
        Some(reference) => {
            let pointer = reference
                .strip_prefix('#')
                .unwrap_or_else(|| panic!("{reference} is not a local reference"));
            doc.pointer(pointer)
                .unwrap_or_else(|| panic!("{reference} points at nothing"))
        }
        None => value,
    }
}

/// The document's sample value for a path parameter.
fn sample(doc: &Value, name: &str) -> String {
    let parameter = &doc["components"]["parameters"][name];
    parameter["example"]
        .as_str()
        .unwrap_or_else(|| panic!("parameter {name} has no string example"))
        .to_string()
}

/// A path template with each parameter replaced by the document's example.
fn concrete(doc: &Value, template: &str) -> String {
    template
        .split('/')
        .map(
            |part| match part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                Some(name) => sample(doc, name),
                None => part.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

fn template_parameters(template: &str) -> BTreeSet<String> {
    template
        .split('/')
        .filter_map(|part| part.strip_prefix('{').and_then(|p| p.strip_suffix('}')))
        .map(str::to_string)
        .collect()
}

struct Gateway {
    router: Router,
    _scratch: Scratch,
}

fn gateway() -> Gateway {
    let scratch = Scratch::new(&[REDIS]);
    let mut config = GatewayConfig::from_toml("", "test").unwrap();
    config.queue = scratch.config();
    config.token = Some(TOKEN.to_string());
    let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
    let registry = Arc::new(Registry::new(queue.clone()));
    Gateway {
        router: app(AppState::new(queue, registry, &config), 1 << 20),
        _scratch: scratch,
    }
}

/// A response as a client sees it.
struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
}

impl Gateway {
    async fn send(&self, method: &str, uri: &str, body: Option<&Value>, token: bool) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        if token {
            request = request.header(header::AUTHORIZATION, format!("Bearer {TOKEN}"));
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
        Reply {
            status,
            headers,
            body,
        }
    }
}

#[tokio::test]
async fn the_document_is_served_as_json_and_is_openapi_3_1() {
    let gw = gateway();
    let reply = gw.send("GET", "/openapi.json", None, true).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(
        reply.headers[header::CONTENT_TYPE],
        "application/json",
        "content type"
    );
    let doc = document();
    assert_eq!(reply.body, doc, "the gateway serves gateway/openapi.json");
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi {version:?}");
    assert_eq!(
        doc["info"]["version"],
        env!("CARGO_PKG_VERSION"),
        "info.version is the gateway's version"
    );
    assert!(
        doc["servers"].as_array().is_some_and(|s| !s.is_empty()),
        "servers"
    );
}

#[test]
fn every_route_is_in_the_document_and_every_operation_is_routed() {
    let doc = document();
    let routed: BTreeSet<(String, String)> = api_routes()
        .into_iter()
        .map(|(method, path)| (method.to_string(), path.to_string()))
        .collect();
    let described: BTreeSet<(String, String)> = documented(&doc).into_keys().collect();
    let missing: Vec<_> = routed.difference(&described).collect();
    let extra: Vec<_> = described.difference(&routed).collect();
    assert!(
        missing.is_empty(),
        "routes the router serves that gateway/openapi.json does not describe: {missing:?}"
    );
    assert!(
        extra.is_empty(),
        "operations in gateway/openapi.json that the router does not serve (routes::operations): {extra:?}"
    );
}

#[test]
fn path_parameters_match_the_templates() {
    let doc = document();
    let mut ids = BTreeSet::new();
    for ((method, path), operation) in documented(&doc) {
        let id = operation["operationId"].as_str().unwrap_or_default();
        assert!(!id.is_empty(), "{method} {path} has no operationId");
        assert!(ids.insert(id.to_string()), "operationId {id} twice");
        let declared: BTreeSet<String> = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|p| resolve(&doc, p))
            .filter(|p| p["in"] == "path")
            .map(|p| {
                assert_eq!(
                    p["required"], true,
                    "{method} {path}: path parameters are required"
                );
                p["name"].as_str().unwrap().to_string()
            })
            .collect();
        assert_eq!(
            declared,
            template_parameters(&path),
            "{method} {path}: declared path parameters"
        );
    }
}

#[test]
fn every_error_is_the_json_error_body() {
    let doc = document();
    let codes: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.name()).collect();
    let listed: Vec<&str> =
        doc["components"]["schemas"]["Error"]["properties"]["error"]["properties"]["code"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap())
            .collect();
    assert_eq!(
        listed, codes,
        "Error.code lists every ErrorKind name, in code order"
    );
    let error = json!({"$ref": "#/components/schemas/Error"});
    // POST /v1/xa's errors: the same `error` object, and the transaction's outcome beside it.
    let xa_failed = json!({"$ref": "#/components/schemas/XaFailed"});
    assert_eq!(
        doc["components"]["schemas"]["XaFailed"]["properties"]["error"],
        json!({"$ref": "#/components/schemas/Error/properties/error"}),
        "XaFailed's error is Error's"
    );
    for ((method, path), operation) in documented(&doc) {
        let responses = operation["responses"].as_object().unwrap();
        let secured = operation.get("security") != Some(&json!([]));
        let mut always = vec!["400", "413", "414", "431"];
        if secured {
            always.push("401");
        }
        for status in always {
            assert!(
                responses.contains_key(status),
                "{method} {path} does not list {status}"
            );
        }
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} lists no success"
        );
        for (status, response) in responses {
            assert!(
                status.len() == 3 && status.parse::<u16>().is_ok(),
                "{method} {path}: status {status:?} (no ranges or default: each status is listed)"
            );
            if status.starts_with('2') || (path == "/healthz" && status == "503") {
                continue;
            }
            let response = resolve(&doc, response);
            let schema = &response["content"]["application/json"]["schema"];
            assert!(
                *schema == error || *schema == xa_failed,
                "{method} {path} {status} is the JSON error: {schema}"
            );
        }
    }
}

#[tokio::test]
async fn the_token_guards_exactly_what_the_document_says() {
    let doc = document();
    let gw = gateway();
    for ((method, path), operation) in documented(&doc) {
        let uri = concrete(&doc, &path);
        let reply = gw.send(&method, &uri, None, false).await;
        let secured = operation.get("security") != Some(&json!([]));
        if secured {
            assert_eq!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} without a token: {}",
                reply.body
            );
            assert_eq!(reply.body["error"]["code"], "UNAUTHORIZED");
            assert_eq!(reply.headers[header::WWW_AUTHENTICATE], "Bearer");
        } else {
            assert_ne!(
                reply.status,
                StatusCode::UNAUTHORIZED,
                "{method} {uri} is public in the document: {}",
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn closed_bodies_refuse_an_unknown_field() {
    let doc = document();
    let gw = gateway();
    let topic = sample(&doc, "topic");
    let put = json!({"callback": "http://127.0.0.1:9/x"});
    let created = gw
        .send("PUT", &format!("/v1/topics/{topic}"), Some(&put), true)
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let subscription = sample(&doc, "subscription");
    let put = json!({"queue": "q", "callback": "http://127.0.0.1:9/x"});
    let created = gw
        .send(
            "PUT",
            &format!("/v1/subscriptions/{subscription}"),
            Some(&put),
            true,
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let mut closed = 0;
    for ((method, path), operation) in documented(&doc) {
        let Some(body) = operation.get("requestBody") else {
            continue;
        };
        let schema = resolve(&doc, &body["content"]["application/json"]["schema"]);
        if schema["additionalProperties"] != false {
            continue;
        }
        closed += 1;
        let mut example = schema["example"].clone();
        let fields = example
            .as_object_mut()
            .unwrap_or_else(|| panic!("{method} {path}: the body schema has no example object"));
        fields.insert("not_a_field".into(), json!(1));
        let uri = concrete(&doc, &path);
        let reply = gw.send(&method, &uri, Some(&example), true).await;
        assert_eq!(
            reply.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{method} {uri} with an unknown field: {}",
            reply.body
        );
        let message = reply.body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("not_a_field"),
            "{method} {uri}: {message:?} names the field"
        );
    }
    assert!(
        closed >= 4,
        "topics, messages and exchanges close their bodies"
    );
    for schema in [
        "TopicPut",
        "TopicPatch",
        "NewMessage",
        "Publish",
        "Call",
        "XaRequest",
        "XaStatement",
    ] {
        assert_eq!(
            doc["components"]["schemas"][schema]["additionalProperties"], false,
            "{schema} is closed: the gateway refuses unknown fields"
        );
    }
}

#[tokio::test]
async fn a_method_a_path_does_not_serve_is_a_json_405_whose_allow_matches_the_document() {
    let doc = document();
    let gw = gateway();
    let described = documented(&doc);
    let paths: BTreeSet<&String> = described.keys().map(|(_, path)| path).collect();
    for path in paths {
        let mut allowed: BTreeSet<String> = described
            .keys()
            .filter(|(_, p)| p == path)
            .map(|(m, _)| m.clone())
            .collect();
        if allowed.contains("GET") {
            allowed.insert("HEAD".into());
        }
        let refused = ["GET", "PUT", "POST", "DELETE", "PATCH"]
            .into_iter()
            .find(|m| !allowed.contains(*m))
            .unwrap_or("TRACE");
        let uri = concrete(&doc, path);
        let reply = gw.send(refused, &uri, None, true).await;
        assert_eq!(
            reply.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{refused} {uri}: {}",
            reply.body
        );
        assert_eq!(
            reply.body["error"]["code"], "INVALID_ARGUMENT",
            "{}",
            reply.body
        );
        let allow: BTreeSet<String> = reply.headers[header::ALLOW]
            .to_str()
            .unwrap()
            .split(',')
            .map(|m| m.trim().to_string())
            .collect();
        assert_eq!(allow, allowed, "Allow of {uri}");
    }
    let documented_405 = resolve(&doc, &doc["components"]["responses"]["MethodNotAllowed"]);
    assert_eq!(
        documented_405["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Error"
    );
}
