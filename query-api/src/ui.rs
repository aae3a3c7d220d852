//! The built-in dashboard: the files `ui/` builds into `ui/dist`, embedded in the binary
//! (release builds; debug builds read them from disk), served under `/ui/`. Paths that are
//! not files answer `index.html`, so deep links work on reload; `/` redirects to `/ui/`. A
//! binary built before the UI answers a page saying how to build it.
//!
//! Every answer carries a Content-Security-Policy that allows nothing but this origin, so a
//! string that slips into markup cannot load or run anything.

use std::collections::HashMap;
use std::io::Write as _;
use std::sync::{Mutex, OnceLock, PoisonError};

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

#[derive(rust_embed::Embed)]
#[folder = "../ui/dist"]
#[allow_missing = true]
struct Assets;

pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; font-src 'self'; connect-src 'self'; object-src 'none'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

const NOT_BUILT: &str = "<!doctype html><html lang=en><meta charset=utf-8>\
<title>Lookout: UI not built</title>\
<body style=\"font-family:sans-serif;max-width:40em;margin:3em auto\">\
<h1>The Lookout UI was not built into this binary</h1>\
<p>Build it, then the binary again: <code>cd ui &amp;&amp; npm ci &amp;&amp; npm run build</code> \
and <code>cargo build --release</code> (<code>scripts/run</code> does both).</p>\
<p>Every API works without it: <a href=\"/lookout/v1/openapi.json\">/lookout/v1/openapi.json</a>, \
Prometheus's <code>/api/v1/...</code>, Jaeger's <code>/api/...</code>, Loki's \
<code>/loki/api/v1/...</code>.</p></body></html>";

fn secured(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

/// Gzipped copies of the assets, made once each.
fn gzipped(path: &str, data: &[u8]) -> Option<std::sync::Arc<Vec<u8>>> {
    static CACHE: OnceLock<Mutex<HashMap<String, std::sync::Arc<Vec<u8>>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(hit) = cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(path)
    {
        return Some(hit.clone());
    }
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).ok()?;
    let zipped = std::sync::Arc::new(encoder.finish().ok()?);
    cache
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .insert(path.to_string(), zipped.clone());
    Some(zipped)
}

fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|e| e.split(';').next().is_some_and(|e| e.trim() == "gzip"))
}

fn file(path: &str, headers: &HeaderMap) -> Option<Response> {
    let asset = Assets::get(path)?;
    let mime = asset.metadata.mimetype().to_string();
    // Built file names carry a content hash; index.html must be asked for every time.
    let cache = if path.starts_with("assets/") {
        "public, max-age=31536000, immutable"
    } else {
        "no-cache"
    };
    let compressible = mime.starts_with("text/")
        || mime.contains("javascript")
        || mime.contains("json")
        || mime.contains("svg");
    let mut response = if compressible && accepts_gzip(headers) {
        match gzipped(path, &asset.data) {
            Some(zipped) => (
                [(header::CONTENT_ENCODING, "gzip")],
                zipped.as_ref().clone(),
            )
                .into_response(),
            None => asset.data.into_owned().into_response(),
        }
    } else {
        asset.data.into_owned().into_response()
    };
    let h = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&mime) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::VARY, HeaderValue::from_static("accept-encoding"));
    Some(secured(response))
}

fn index(headers: &HeaderMap) -> Response {
    file("index.html", headers).unwrap_or_else(|| {
        secured(
            (
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                NOT_BUILT,
            )
                .into_response(),
        )
    })
}

/// `/` and `/ui`: to the UI.
pub async fn root() -> Redirect {
    Redirect::temporary("/ui/")
}

/// `/ui/`: the app.
pub async fn app(headers: HeaderMap) -> Response {
    index(&headers)
}

/// `/ui/{*path}`: a built file, else the app (a deep link); a missing asset is a 404.
pub async fn path(Path(path): Path<String>, headers: HeaderMap) -> Response {
    if let Some(response) = file(&path, &headers) {
        return response;
    }
    if path.starts_with("assets/") {
        return secured((StatusCode::NOT_FOUND, "no such asset").into_response());
    }
    index(&headers)
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    #[tokio::test]
    async fn root_redirects_and_deep_links_answer_the_app_with_a_strict_policy() {
        let dir = tempfile::tempdir().unwrap();
        let app = crate::router(crate::testing::state(crate::testing::store(dir.path())));
        let response = app
            .clone()
            .oneshot(Request::get("/").body(Body::empty()).unwrap())
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(response.headers()["location"], "/ui/");
        for uri in ["/ui/", "/ui/services/checkout?from=now-1h&to=now"] {
            let response = app
                .clone()
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(response.status(), StatusCode::OK, "{uri}");
            let csp = response.headers()["content-security-policy"]
                .to_str()
                .unwrap();
            assert!(csp.starts_with("default-src 'self'"), "{csp}");
            assert!(response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html"));
            let body = response.into_body().collect().await.unwrap().to_bytes();
            let text = String::from_utf8_lossy(&body);
            // The built app, or the page saying how to build it.
            assert!(
                text.contains("<html") || text.contains("<!doctype"),
                "{text}"
            );
        }
        let response = app
            .oneshot(
                Request::get("/ui/assets/nope.js")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
