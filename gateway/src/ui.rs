//! The admin UI (DESIGN.md "Admin UI"): its files, embedded in the binary and served under
//! `/ui/`, and its sessions. The UI uses the JSON API like everyone else; a signed-in browser
//! sends its session cookie instead of the bearer token.
//!
//! - `POST /ui/session {"token"}` signs in: the gateway's `token` to an admin session,
//!   `ui_readonly_token` to a view-only one. The cookie (`dq_session`, `HttpOnly`,
//!   `SameSite=Strict`) is `role.expires.nonce.signature`, signed with a key derived from the
//!   tokens: every gateway sharing them accepts it, a restart keeps it, and changing a token
//!   signs everybody out.
//! - Every request of a session that is not GET or HEAD must carry `X-Dq-Csrf` (given by
//!   `GET`/`POST /ui/session`, derived from the cookie); a view-only session may change
//!   nothing (403 `FORBIDDEN`).
//! - Without a token the UI needs no sign-in, and is served only when the gateway listens on a
//!   loopback address (it says so otherwise).

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};

use crate::AppState;
use crate::error::{ApiError, JsonObject};

/// The session cookie's name.
pub const COOKIE: &str = "dq_session";
/// The header that carries a session's CSRF token on every change.
pub const CSRF_HEADER: &str = "x-dq-csrf";
/// How long a session lasts.
const SESSION_SECONDS: u64 = 12 * 3600;

const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/// What a session may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Admin,
    Viewer,
}

impl Role {
    fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// A JavaScript module of the UI, as built into the binary.
macro_rules! module {
    ($name:literal) => {
        (
            $name,
            "text/javascript; charset=utf-8",
            include_bytes!(concat!("../ui/assets/", $name)) as &[u8],
        )
    };
}

/// The UI's files, as built into the binary: name under `/ui/assets/`, content type, bytes
/// (the list is `gateway/ui/README.md`'s).
const ASSETS: [(&str, &str, &[u8]); 14] = [
    module!("app.js"),
    module!("api.js"),
    module!("dom.js"),
    module!("forms.js"),
    module!("charts.js"),
    module!("page-dashboard.js"),
    module!("page-topics.js"),
    module!("page-subscriptions.js"),
    module!("page-messages.js"),
    module!("page-dead.js"),
    module!("page-xa.js"),
    module!("page-outbox.js"),
    (
        "app.css",
        "text/css; charset=utf-8",
        include_bytes!("../ui/assets/app.css"),
    ),
    (
        "icon.svg",
        "image/svg+xml",
        include_bytes!("../ui/assets/icon.svg"),
    ),
];
const INDEX: &[u8] = include_bytes!("../ui/index.html");

/// The UI's routes (outside the API's operations and the OpenAPI document).
pub fn router() -> Router<Arc<AppState>> {
    Router::new()
        .route("/ui", get(|| async { redirect_to_ui() }))
        .route("/ui/", get(index))
        .route(
            "/ui/session",
            get(show_session).post(sign_in).delete(sign_out),
        )
        .route("/ui/assets/{file}", get(asset))
        .route("/ui/{*page}", get(index))
}

fn redirect_to_ui() -> Response {
    (StatusCode::PERMANENT_REDIRECT, [(header::LOCATION, "/ui/")]).into_response()
}

/// The page every UI path shows (the UI routes in the browser).
async fn index(State(state): State<Arc<AppState>>) -> Response {
    if let Some(refusal) = not_served(&state) {
        return refusal;
    }
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INDEX,
    )
        .into_response();
    secure_headers(response.headers_mut());
    response
}

async fn asset(State(state): State<Arc<AppState>>, Path(file): Path<String>) -> Response {
    if let Some(refusal) = not_served(&state) {
        return refusal;
    }
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, bytes)) => {
            let mut response = (
                [
                    (header::CONTENT_TYPE, *content_type),
                    (header::CACHE_CONTROL, "no-cache"),
                ],
                Body::from(*bytes),
            )
                .into_response();
            secure_headers(response.headers_mut());
            response
        }
        None => ApiError::not_found(format!("no UI file \"{file}\"")).into_response(),
    }
}

fn secure_headers(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// Without a token the UI is open to whoever reaches it: only on a loopback listener.
fn not_served(state: &AppState) -> Option<Response> {
    if state.live().token.is_some() || listens_on_loopback(&state.listen) {
        return None;
    }
    Some(
        ApiError::forbidden(format!(
            "the admin UI needs a token when the gateway listens on {} (not a loopback address): set `token` (and `ui_readonly_token` for view-only sessions), or listen on 127.0.0.1",
            state.listen
        ))
        .into_response(),
    )
}

fn listens_on_loopback(listen: &str) -> bool {
    let host = listen
        .rsplit_once(':')
        .map_or(listen, |(host, _)| host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `{"role","csrf","auth"}` of the request's session; 401 without one.
async fn show_session(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(refusal) = not_served(&state) {
        return refusal;
    }
    let keys = Keys::of(&state);
    let Some(keys) = keys else {
        return axum::Json(json!({"role": "admin", "csrf": "", "auth": false})).into_response();
    };
    match cookie(&headers).and_then(|c| keys.verify(c).map(|role| (role, c))) {
        Some((role, cookie)) => axum::Json(session_body(&keys, role, cookie)).into_response(),
        None => ApiError::from(dq_core::Error::new(
            dq_core::ErrorKind::Unauthorized,
            "not signed in: POST /ui/session {\"token\": ...}",
        ))
        .into_response(),
    }
}

fn session_body(keys: &Keys, role: Role, cookie: &str) -> Value {
    json!({"role": role.as_str(), "csrf": keys.csrf(cookie), "auth": true})
}

/// Signs in with the gateway's token (admin) or `ui_readonly_token` (viewer).
async fn sign_in(
    State(state): State<Arc<AppState>>,
    JsonObject(fields): JsonObject,
) -> Result<Response, ApiError> {
    if let Some(refusal) = not_served(&state) {
        return Ok(refusal);
    }
    let given = match fields.get("token") {
        Some(Value::String(token)) => token.trim().to_string(),
        _ => {
            return Err(ApiError::invalid(
                "token is missing: send {\"token\": \"...\"}",
            ));
        }
    };
    let Some(keys) = Keys::of(&state) else {
        return Ok(axum::Json(json!({"role": "admin", "csrf": "", "auth": false})).into_response());
    };
    let live = state.live();
    let role = if live
        .token
        .as_deref()
        .is_some_and(|t| constant_time_eq(t.as_bytes(), given.as_bytes()))
    {
        Role::Admin
    } else if live
        .ui_readonly_token
        .as_deref()
        .is_some_and(|t| constant_time_eq(t.as_bytes(), given.as_bytes()))
    {
        Role::Viewer
    } else {
        tracing::warn!("UI sign-in with a wrong token");
        return Err(
            dq_core::Error::new(dq_core::ErrorKind::Unauthorized, "the token is wrong").into(),
        );
    };
    let cookie = keys.issue(role);
    tracing::info!(role = role.as_str(), "UI session signed in");
    let mut response = axum::Json(session_body(&keys, role, &cookie)).into_response();
    let set =
        format!("{COOKIE}={cookie}; HttpOnly; SameSite=Strict; Path=/; Max-Age={SESSION_SECONDS}");
    if let Ok(value) = HeaderValue::from_str(&set) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    Ok(response)
}

/// Signs out: the cookie is cleared (with the session's CSRF token, like every change).
async fn sign_out(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    if let Some(keys) = Keys::of(&state)
        && let Some(cookie) = cookie(&headers)
        && keys.verify(cookie).is_some()
        && !keys.csrf_matches(cookie, &headers)
    {
        return ApiError::forbidden(format!(
            "signing out needs the session's {CSRF_HEADER} header"
        ))
        .into_response();
    }
    let mut response = StatusCode::NO_CONTENT.into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("dq_session=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0"),
    );
    response
}

/// What a request's session allows, for the API's token check: `None` when it has no valid
/// session; otherwise whether it may go on, or the refusal.
pub fn session_check(
    state: &AppState,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Result<(), ApiError>> {
    let keys = Keys::of(state)?;
    let cookie = cookie(headers)?;
    let role = keys.verify(cookie)?;
    if method == Method::GET || method == Method::HEAD {
        return Some(Ok(()));
    }
    if !keys.csrf_matches(cookie, headers) {
        return Some(Err(ApiError::forbidden(format!(
            "a change from a UI session needs its {CSRF_HEADER} header (GET /ui/session gives it)"
        ))));
    }
    if role == Role::Viewer {
        return Some(Err(ApiError::forbidden(
            "this is a view-only session (ui_readonly_token): sign in with the gateway's token to change anything",
        )));
    }
    Some(Ok(()))
}

/// The `dq_session` cookie of a request.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The signing key of sessions, derived from the tokens.
struct Keys {
    key: String,
}

impl Keys {
    /// `None` without a token: no sign-in.
    fn of(state: &AppState) -> Option<Keys> {
        let live = state.live();
        let token = live.token.as_deref()?;
        let readonly = live.ui_readonly_token.as_deref().unwrap_or("");
        Some(Keys {
            key: dq_core::sign(token, format!("dq-ui-session|{readonly}").as_bytes()),
        })
    }

    fn issue(&self, role: Role) -> String {
        let expires = now_s() + SESSION_SECONDS;
        let nonce = format!("{:016x}", fastrand::u64(..));
        let payload = format!("{}.{expires}.{nonce}", role.as_str());
        let signature = dq_core::sign(&self.key, payload.as_bytes());
        format!("{payload}.{signature}")
    }

    /// The role of a cookie this gateway (or one with the same tokens) issued and that has
    /// not expired.
    fn verify(&self, cookie: &str) -> Option<Role> {
        let (payload, signature) = cookie.rsplit_once('.')?;
        let expected = dq_core::sign(&self.key, payload.as_bytes());
        if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return None;
        }
        let mut parts = payload.split('.');
        let role = Role::parse(parts.next()?)?;
        let expires: u64 = parts.next()?.parse().ok()?;
        (expires > now_s()).then_some(role)
    }

    fn csrf(&self, cookie: &str) -> String {
        dq_core::sign(&self.key, format!("csrf|{cookie}").as_bytes())
    }

    fn csrf_matches(&self, cookie: &str, headers: &HeaderMap) -> bool {
        headers
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|given| constant_time_eq(given.as_bytes(), self.csrf(cookie).as_bytes()))
    }
}

fn now_s() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_are_signed_expire_and_carry_their_role() {
        let keys = Keys {
            key: "k".to_string(),
        };
        let admin = keys.issue(Role::Admin);
        assert_eq!(keys.verify(&admin), Some(Role::Admin));
        let viewer = keys.issue(Role::Viewer);
        assert_eq!(keys.verify(&viewer), Some(Role::Viewer));
        // A viewer cookie edited to say admin no longer matches its signature.
        let forged = viewer.replacen("viewer", "admin", 1);
        assert_eq!(keys.verify(&forged), None);
        let other = Keys {
            key: "other".to_string(),
        };
        assert_eq!(other.verify(&admin), None, "another token's key");
        let payload = format!("admin.{}.00", now_s() - 1);
        let expired = format!("{payload}.{}", dq_core::sign("k", payload.as_bytes()));
        assert_eq!(keys.verify(&expired), None);
        assert_ne!(keys.csrf(&admin), keys.csrf(&viewer));
    }

    #[test]
    fn every_file_of_the_ui_is_served() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/ui/assets");
        for file in std::fs::read_dir(dir).unwrap() {
            let name = file.unwrap().file_name().into_string().unwrap();
            assert!(
                ASSETS.iter().any(|(served, _, _)| *served == name),
                "gateway/ui/assets/{name} is not in ASSETS (gateway/src/ui.rs)"
            );
        }
    }

    #[test]
    fn the_cookie_is_found_among_others_and_loopback_is_known() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; dq_session=x.y; b=2"),
        );
        assert_eq!(cookie(&headers), Some("x.y"));
        assert!(listens_on_loopback("127.0.0.1:8088"));
        assert!(listens_on_loopback("[::1]:8088"));
        assert!(listens_on_loopback("localhost:8088"));
        assert!(!listens_on_loopback("0.0.0.0:8088"));
        assert!(!listens_on_loopback("10.0.0.5:8088"));
    }
}
