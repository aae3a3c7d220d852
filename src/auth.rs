//! Bearer-token authentication of the three listeners.
//!
//! Off while no token is configured (the default, with listeners on loopback). With tokens,
//! every request needs one with the scope of what it does: `ingest` (OTLP over gRPC and HTTP),
//! `query` (every read API and the UI), `admin` (`POST /-/reload`, dashboard writes; implies
//! `query`). A token is sent as `Authorization: Bearer <token>` (gRPC: the `authorization`
//! metadata), or as the password of HTTP Basic authentication, so that a browser asks for it
//! and sends it with every request of the UI. Tokens are compared in constant time, never
//! logged, and a refusal names no token.

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::Request;
use axum::http::{header, HeaderMap, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Ingest,
    Query,
    Admin,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Query => "query",
            Scope::Admin => "admin",
        }
    }
}

/// The `auth:` section.
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// The accepted tokens; none turns authentication off.
    pub tokens: Vec<TokenConfig>,
    /// `/ready` and `/metrics` need a `query` token too (`/health` is always open, for
    /// liveness probes).
    pub protect_health: bool,
}

/// One token: exactly one of `token`, `token_env` and `token_file`.
#[derive(Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TokenConfig {
    /// A name for logs and metrics (the token itself is never shown).
    pub name: String,
    pub token: Option<String>,
    /// An environment variable holding the token.
    pub token_env: Option<String>,
    /// A file holding the token (surrounding whitespace ignored).
    pub token_file: Option<PathBuf>,
    pub scopes: Vec<Scope>,
}

impl std::fmt::Debug for TokenConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenConfig")
            .field("name", &self.name)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("token_env", &self.token_env)
            .field("token_file", &self.token_file)
            .field("scopes", &self.scopes)
            .finish()
    }
}

/// A token's secret, read from where its configuration says.
fn secret(t: &TokenConfig) -> Result<String, String> {
    let value = match (&t.token, &t.token_env, &t.token_file) {
        (Some(v), None, None) => v.clone(),
        (None, Some(var), None) => {
            std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?
        }
        (None, None, Some(path)) => std::fs::read_to_string(path)
            .map_err(|e| format!("token_file {}: {e}", path.display()))?,
        (None, None, None) => return Err("one of token, token_env, token_file is required".into()),
        _ => return Err("only one of token, token_env, token_file may be set".into()),
    };
    let value = value.trim().to_owned();
    if value.len() < 16 {
        return Err("the token must be at least 16 characters".into());
    }
    Ok(value)
}

impl AuthConfig {
    /// Every problem, each with its path below `prefix`.
    pub fn validate(&self, prefix: &str, problems: &mut Vec<String>) {
        let mut names = std::collections::BTreeSet::new();
        for (i, t) in self.tokens.iter().enumerate() {
            let at = format!("{prefix}.tokens[{i}]");
            if t.name.is_empty() {
                problems.push(format!("{at}.name: must not be empty"));
            } else if !names.insert(&t.name) {
                problems.push(format!("{at}.name: {:?} is used twice", t.name));
            }
            if t.scopes.is_empty() {
                problems.push(format!("{at}.scopes: at least one of ingest, query, admin"));
            }
            if let Err(e) = secret(t) {
                problems.push(format!("{at}: {e}"));
            }
        }
    }

    /// The tokens, read; `None` when authentication is off.
    pub fn load(&self) -> anyhow::Result<Option<Arc<Tokens>>> {
        if self.tokens.is_empty() {
            return Ok(None);
        }
        let mut entries = Vec::with_capacity(self.tokens.len());
        for t in &self.tokens {
            let value = secret(t).map_err(|e| anyhow::anyhow!("auth token {}: {e}", t.name))?;
            entries.push(Token {
                name: t.name.clone(),
                secret: value.into_bytes(),
                scopes: t.scopes.clone(),
            });
        }
        Ok(Some(Arc::new(Tokens {
            entries,
            protect_health: self.protect_health,
        })))
    }
}

struct Token {
    name: String,
    secret: Vec<u8>,
    scopes: Vec<Scope>,
}

/// The loaded tokens.
pub struct Tokens {
    entries: Vec<Token>,
    protect_health: bool,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokens")
            .field("count", &self.entries.len())
            .finish()
    }
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// No credentials, or none that match (401 / UNAUTHENTICATED).
    Unauthenticated(&'static str),
    /// A valid token without the scope (403 / PERMISSION_DENIED).
    Forbidden(Scope),
}

impl Refusal {
    pub fn message(&self) -> String {
        match self {
            Refusal::Unauthenticated(why) => why.to_string(),
            Refusal::Forbidden(scope) => {
                format!("the token lacks the {} scope", scope.as_str())
            }
        }
    }
}

impl Tokens {
    /// Checks the `Authorization` value against `scope`.
    pub fn check(&self, authorization: Option<&[u8]>, scope: Scope) -> Result<(), Refusal> {
        let Some(value) = authorization else {
            return Err(Refusal::Unauthenticated(
                "authentication required: send Authorization: Bearer <token>",
            ));
        };
        let presented = presented_token(value).ok_or(Refusal::Unauthenticated(
            "the Authorization header is not Bearer or Basic credentials",
        ))?;
        // Compare with every token, whatever matched, so the time taken says nothing.
        let mut found: Option<&Token> = None;
        for t in &self.entries {
            if bool::from(t.secret.as_slice().ct_eq(presented.as_slice())) {
                found = Some(t);
            }
        }
        let token = found.ok_or(Refusal::Unauthenticated("invalid token"))?;
        let allowed = token
            .scopes
            .iter()
            .any(|s| *s == scope || (*s == Scope::Admin && scope == Scope::Query));
        if allowed {
            Ok(())
        } else {
            tracing::debug!(token = %token.name, scope = scope.as_str(), "request refused: scope");
            Err(Refusal::Forbidden(scope))
        }
    }
}

/// The token of a `Bearer <token>` or `Basic base64(user:token)` header value.
fn presented_token(value: &[u8]) -> Option<Vec<u8>> {
    let text = std::str::from_utf8(value).ok()?.trim();
    let (kind, rest) = text.split_once(' ')?;
    let rest = rest.trim();
    if kind.eq_ignore_ascii_case("bearer") {
        Some(rest.as_bytes().to_vec())
    } else if kind.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let colon = decoded.iter().position(|&b| b == b':')?;
        Some(decoded[colon + 1..].to_vec())
    } else {
        None
    }
}

/// What the HTTP API needs for a request: `None` when it is open.
pub fn api_scope(tokens: &Tokens, method: &Method, path: &str) -> Option<Scope> {
    match path {
        "/health" => None,
        "/ready" | "/metrics" if !tokens.protect_health => None,
        "/-/reload" => Some(Scope::Admin),
        p if p.starts_with("/lookout/v1/dashboards") && method != Method::GET => Some(Scope::Admin),
        _ => Some(Scope::Query),
    }
}

/// The HTTP API's middleware: checks the token, and refuses `POST /-/reload` without auth
/// unless `http.enable_lifecycle` is set (Prometheus's `--web.enable-lifecycle`).
pub async fn api(
    axum::extract::State(state): axum::extract::State<ApiAuth>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    match &state.tokens {
        Some(tokens) => {
            if let Some(scope) = api_scope(tokens, request.method(), path) {
                if let Err(refusal) = tokens.check(authorization(request.headers()), scope) {
                    return refuse_http(&refusal);
                }
            }
        }
        None if path == "/-/reload" && !state.enable_lifecycle => {
            return (
                StatusCode::FORBIDDEN,
                "lifecycle APIs are not enabled: set http.enable_lifecycle: true, or configure auth tokens and use one with the admin scope\n",
            )
                .into_response();
        }
        None => {}
    }
    next.run(request).await
}

/// The OTLP/HTTP listener's middleware: every request needs an `ingest` token.
pub async fn ingest_http(
    axum::extract::State(tokens): axum::extract::State<Option<Arc<Tokens>>>,
    request: Request,
    next: Next,
) -> Response {
    if let Some(tokens) = &tokens {
        if let Err(refusal) = tokens.check(authorization(request.headers()), Scope::Ingest) {
            return refuse_http(&refusal);
        }
    }
    next.run(request).await
}

/// The OTLP/gRPC interceptor: every call needs an `ingest` token.
pub fn ingest_grpc(
    tokens: Option<Arc<Tokens>>,
) -> impl Fn(tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> + Clone {
    move |request: tonic::Request<()>| {
        let Some(tokens) = &tokens else {
            return Ok(request);
        };
        let value = request
            .metadata()
            .get("authorization")
            .map(|v| v.as_bytes());
        match tokens.check(value, Scope::Ingest) {
            Ok(()) => Ok(request),
            Err(r @ Refusal::Unauthenticated(_)) => {
                Err(tonic::Status::unauthenticated(r.message()))
            }
            Err(r @ Refusal::Forbidden(_)) => Err(tonic::Status::permission_denied(r.message())),
        }
    }
}

/// The HTTP API's auth settings.
#[derive(Clone, Debug)]
pub struct ApiAuth {
    pub tokens: Option<Arc<Tokens>>,
    pub enable_lifecycle: bool,
}

fn authorization(headers: &HeaderMap) -> Option<&[u8]> {
    headers.get(header::AUTHORIZATION).map(|v| v.as_bytes())
}

fn refuse_http(refusal: &Refusal) -> Response {
    let status = match refusal {
        Refusal::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
        Refusal::Forbidden(_) => StatusCode::FORBIDDEN,
    };
    let mut response = (status, format!("{}\n", refusal.message())).into_response();
    if status == StatusCode::UNAUTHORIZED {
        // Basic, so that a browser opening the UI asks for the token (as the password).
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Basic realm=\"lookout\", charset=\"UTF-8\""),
        );
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens() -> Tokens {
        Tokens {
            entries: vec![
                Token {
                    name: "collector".into(),
                    secret: b"ingest-token-0123456789".to_vec(),
                    scopes: vec![Scope::Ingest],
                },
                Token {
                    name: "ops".into(),
                    secret: b"admin-token-0123456789".to_vec(),
                    scopes: vec![Scope::Admin],
                },
            ],
            protect_health: false,
        }
    }

    #[test]
    fn scopes_are_checked_and_admin_implies_query() {
        let t = tokens();
        let bearer = |s: &str| format!("Bearer {s}").into_bytes();
        assert_eq!(
            t.check(Some(&bearer("ingest-token-0123456789")), Scope::Ingest),
            Ok(())
        );
        assert_eq!(
            t.check(Some(&bearer("ingest-token-0123456789")), Scope::Query),
            Err(Refusal::Forbidden(Scope::Query))
        );
        assert_eq!(
            t.check(Some(&bearer("admin-token-0123456789")), Scope::Query),
            Ok(())
        );
        assert_eq!(
            t.check(Some(&bearer("admin-token-0123456789")), Scope::Ingest),
            Err(Refusal::Forbidden(Scope::Ingest))
        );
        assert!(matches!(
            t.check(Some(&bearer("admin-token-012345678")), Scope::Query),
            Err(Refusal::Unauthenticated(_))
        ));
        assert!(matches!(
            t.check(None, Scope::Query),
            Err(Refusal::Unauthenticated(_))
        ));
    }

    #[test]
    fn basic_credentials_carry_the_token_as_password() {
        let t = tokens();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("anyone:admin-token-0123456789")
        );
        assert_eq!(t.check(Some(basic.as_bytes()), Scope::Admin), Ok(()));
        assert!(t.check(Some(b"Digest abc"), Scope::Query).is_err());
    }

    #[test]
    fn refusals_name_no_token() {
        let t = tokens();
        for value in [
            &b"Bearer admin-token-0123456789"[..],
            b"Bearer wrong-token-0123456789",
        ] {
            if let Err(r) = t.check(Some(value), Scope::Ingest) {
                assert!(!r.message().contains("token-0123456789"), "{}", r.message());
            }
        }
    }

    #[test]
    fn the_api_needs_admin_for_writes_and_nothing_for_health() {
        let t = tokens();
        assert_eq!(api_scope(&t, &Method::GET, "/health"), None);
        assert_eq!(api_scope(&t, &Method::GET, "/metrics"), None);
        assert_eq!(
            api_scope(&t, &Method::POST, "/-/reload"),
            Some(Scope::Admin)
        );
        assert_eq!(
            api_scope(&t, &Method::PUT, "/lookout/v1/dashboards/x"),
            Some(Scope::Admin)
        );
        assert_eq!(
            api_scope(&t, &Method::GET, "/lookout/v1/dashboards/x"),
            Some(Scope::Query)
        );
        assert_eq!(api_scope(&t, &Method::GET, "/ui/"), Some(Scope::Query));
        let protected = Tokens {
            protect_health: true,
            ..tokens()
        };
        assert_eq!(
            api_scope(&protected, &Method::GET, "/metrics"),
            Some(Scope::Query)
        );
    }

    #[test]
    fn config_problems_name_their_path_and_never_the_token() {
        let config = AuthConfig {
            tokens: vec![
                TokenConfig {
                    name: "a".into(),
                    token: Some("short".into()),
                    scopes: vec![Scope::Query],
                    ..Default::default()
                },
                TokenConfig {
                    name: "a".into(),
                    token_env: Some("LOOKOUT_TEST_UNSET_TOKEN_VAR".into()),
                    ..Default::default()
                },
            ],
            protect_health: false,
        };
        let mut problems = Vec::new();
        config.validate("auth", &mut problems);
        assert_eq!(
            problems,
            [
                "auth.tokens[0]: the token must be at least 16 characters",
                "auth.tokens[1].name: \"a\" is used twice",
                "auth.tokens[1].scopes: at least one of ingest, query, admin",
                "auth.tokens[1]: environment variable LOOKOUT_TEST_UNSET_TOKEN_VAR is not set",
            ]
        );
        assert!(!format!("{config:?}").contains("short"));
    }
}
