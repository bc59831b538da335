//! The admin UI's side of the gateway: its files with a strict content security policy, sign-in
//! with the token (admin) or `ui_readonly_token` (view-only) to an `HttpOnly`, `SameSite=Strict`
//! session cookie, the CSRF header every change of a session needs, a view-only session that
//! can change nothing, a wrong token refused, the UI refused without a token off loopback; and
//! `GET /v1/overview`, the dashboard's data.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use dq_core::{DelayQueue, Registry, Topic};
use dq_gateway::{AppState, GatewayConfig, app};
use dq_testkit::*;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;

const TOKEN: &str = "ui-admin-token";
const READONLY: &str = "ui-readonly-token";

struct Ui {
    router: Router,
    state: Arc<AppState>,
    _scratch: Scratch,
}

struct Reply {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: Value,
    text: String,
}

fn ui(token: Option<&str>, listen: &str) -> Ui {
    let scratch = Scratch::new(&[REDIS]);
    let mut config = GatewayConfig::from_toml("", "test").unwrap();
    config.queue = scratch.config();
    config.token = token.map(str::to_string);
    config.ui_readonly_token = Some(READONLY.to_string());
    config.listen = listen.to_string();
    let queue = Arc::new(DelayQueue::new(&config.queue).unwrap());
    let registry = Arc::new(Registry::new(queue.clone()));
    let state = AppState::new(queue, registry, &config);
    Ui {
        router: app(state.clone(), 1 << 20),
        state,
        _scratch: scratch,
    }
}

impl Ui {
    async fn send(
        &self,
        method: &str,
        uri: &str,
        body: Option<Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut request = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(body.map_or_else(Body::empty, |b| Body::from(b.to_string())))
            .unwrap();
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
        }
    }

    /// Signs in with `token`: the cookie (`name=value`) and the CSRF token.
    async fn sign_in(&self, token: &str) -> (String, String) {
        let reply = self
            .send("POST", "/ui/session", Some(json!({"token": token})), &[])
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        let set = reply.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .to_string();
        assert!(
            set.contains("HttpOnly") && set.contains("SameSite=Strict"),
            "{set}"
        );
        let cookie = set.split(';').next().unwrap().to_string();
        (cookie, reply.body["csrf"].as_str().unwrap().to_string())
    }
}

#[tokio::test]
async fn the_ui_is_served_with_a_strict_content_security_policy() {
    let ui = ui(Some(TOKEN), "0.0.0.0:8088");
    for path in [
        "/ui/",
        "/ui/topics/x",
        "/ui/assets/app.js",
        "/ui/assets/app.css",
    ] {
        let reply = ui.send("GET", path, None, &[]).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.text);
        let csp = reply.headers[header::CONTENT_SECURITY_POLICY]
            .to_str()
            .unwrap();
        assert!(csp.contains("script-src 'self'") && csp.contains("frame-ancestors 'none'"));
    }
    let index = ui.send("GET", "/ui/dead", None, &[]).await;
    assert!(
        index.text.contains("/ui/assets/app.js"),
        "the page loads the UI"
    );
    let missing = ui.send("GET", "/ui/assets/nope.js", None, &[]).await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND);
    assert_eq!(missing.body["error"]["code"], "NOT_FOUND");
    let moved = ui.send("GET", "/ui", None, &[]).await;
    assert_eq!(moved.headers[header::LOCATION], "/ui/");
}

#[tokio::test]
async fn a_session_reads_and_changes_with_its_csrf_token() {
    let ui = ui(Some(TOKEN), "127.0.0.1:8088");
    let none = ui.send("GET", "/ui/session", None, &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    let wrong = ui
        .send("POST", "/ui/session", Some(json!({"token": "guess"})), &[])
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(header::SET_COOKIE).is_none());
    let (cookie, csrf) = ui.sign_in(TOKEN).await;
    let shown = ui
        .send("GET", "/ui/session", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(
        shown.body,
        json!({"role": "admin", "csrf": csrf, "auth": true})
    );
    // Reading needs only the cookie.
    let topics = ui
        .send("GET", "/v1/topics", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(topics.status, StatusCode::OK, "{}", topics.text);
    // A change without the CSRF header (a forged cross-site request) is refused.
    let put = json!({"callback": "http://127.0.0.1:9/x"});
    let forged = ui
        .send(
            "PUT",
            "/v1/topics/ui.t",
            Some(put.clone()),
            &[("cookie", &cookie)],
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    assert_eq!(forged.body["error"]["code"], "FORBIDDEN");
    let other = ui
        .send(
            "PUT",
            "/v1/topics/ui.t",
            Some(put.clone()),
            &[("cookie", &cookie), ("x-dq-csrf", "0000")],
        )
        .await;
    assert_eq!(other.status, StatusCode::FORBIDDEN);
    let made = ui
        .send(
            "PUT",
            "/v1/topics/ui.t",
            Some(put),
            &[("cookie", &cookie), ("x-dq-csrf", &csrf)],
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text);
    // A cookie someone edited is no session at all.
    let edited = cookie.replace("admin", "viewer");
    let refused = ui
        .send("GET", "/v1/topics", None, &[("cookie", &edited)])
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let out = ui
        .send(
            "DELETE",
            "/ui/session",
            None,
            &[("cookie", &cookie), ("x-dq-csrf", &csrf)],
        )
        .await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert!(
        out.headers[header::SET_COOKIE]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test]
async fn a_view_only_session_changes_nothing() {
    let ui = ui(Some(TOKEN), "127.0.0.1:8088");
    ui.state
        .registry
        .put(Topic::new("ui.ro", "http://127.0.0.1:9/x"))
        .await
        .unwrap();
    let (cookie, csrf) = ui.sign_in(READONLY).await;
    let shown = ui
        .send("GET", "/ui/session", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(shown.body["role"], "viewer");
    let read = ui
        .send("GET", "/v1/topics/ui.ro", None, &[("cookie", &cookie)])
        .await;
    assert_eq!(read.status, StatusCode::OK);
    for (method, uri) in [
        ("PATCH", "/v1/topics/ui.ro"),
        ("DELETE", "/v1/topics/ui.ro"),
        ("POST", "/v1/topics/ui.ro/messages"),
    ] {
        let reply = ui
            .send(
                method,
                uri,
                Some(json!({"status": "paused"})),
                &[("cookie", &cookie), ("x-dq-csrf", &csrf)],
            )
            .await;
        assert_eq!(
            reply.status,
            StatusCode::FORBIDDEN,
            "{method} {uri}: {}",
            reply.text
        );
        assert!(
            reply.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("view-only")
        );
    }
    // The read-only token is no bearer token for the API.
    let bearer = ui
        .send(
            "GET",
            "/v1/topics",
            None,
            &[("authorization", &format!("Bearer {READONLY}"))],
        )
        .await;
    assert_eq!(bearer.status, StatusCode::UNAUTHORIZED);
    assert!(ui.state.registry.get("ui.ro").is_some());
}

#[tokio::test]
async fn without_a_token_the_ui_is_open_on_loopback_only() {
    let local = ui(None, "127.0.0.1:8088");
    let shown = local.send("GET", "/ui/session", None, &[]).await;
    assert_eq!(
        shown.body,
        json!({"role": "admin", "csrf": "", "auth": false})
    );
    assert_eq!(
        local.send("GET", "/ui/", None, &[]).await.status,
        StatusCode::OK
    );
    let open = ui(None, "0.0.0.0:8088");
    let refused = open.send("GET", "/ui/", None, &[]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert!(
        refused.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("needs a token")
    );
}

#[tokio::test]
async fn the_overview_has_every_topic_and_subscription() {
    let ui = ui(Some(TOKEN), "127.0.0.1:8088");
    ui.state
        .registry
        .put(Topic::new("ui.o", "http://127.0.0.1:9/x"))
        .await
        .unwrap();
    let auth = format!("Bearer {TOKEN}");
    let added = ui
        .send(
            "POST",
            "/v1/topics/ui.o/messages",
            Some(json!({"id": "m1", "body": {}, "delay": 3600})),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text);
    let sub = ui
        .send(
            "PUT",
            "/v1/subscriptions/ui.s",
            Some(json!({"queue": "q", "callback": "http://127.0.0.1:9/x", "status": "paused"})),
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(sub.status, StatusCode::CREATED, "{}", sub.text);
    let overview = ui
        .send("GET", "/v1/overview", None, &[("authorization", &auth)])
        .await;
    assert_eq!(overview.status, StatusCode::OK, "{}", overview.text);
    let topic = &overview.body["topics"][0];
    assert_eq!(topic["name"], "ui.o");
    assert_eq!(topic["delayed"], 1);
    assert_eq!(topic["delivered_total"], 0);
    assert_eq!(topic["lateness_p99_ms"], Value::Null);
    let subscription = &overview.body["subscriptions"][0];
    assert_eq!(subscription["name"], "ui.s");
    assert_eq!(subscription["state"], "paused");
    assert_eq!(subscription["dead"], 0, "no dead-letter queue yet");
    assert!(overview.body["health"]["redis"].is_array());
    assert!(overview.body["at"].as_f64().unwrap() > 1.7e9);
}
