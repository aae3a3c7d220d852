//! `http` probes: one request; success is an expected status, a matching body (when
//! `body_regex` is set) and a health document, if any, that does not say unhealthy.

use std::time::Duration;

use futures::StreamExt;

use super::config::ProbeConfig;
use super::health::{self, HealthStatus};
use super::result::Outcome;
use super::tls;

/// The most of a body read (for the regex and the health document).
const MAX_BODY: usize = 1 << 20;

/// A ready-to-run `http` probe: its client, built once from its configuration.
pub(crate) struct HttpProbe {
    client: reqwest::Client,
    url: String,
    method: reqwest::Method,
    headers: reqwest::header::HeaderMap,
    expected: Vec<u16>,
    body_regex: Option<regex::Regex>,
    health_json: bool,
}

impl HttpProbe {
    /// Builds the probe; an `Err` is the error text every run reports.
    pub(crate) fn new(config: &ProbeConfig) -> Result<HttpProbe, String> {
        let url = config.url.clone().ok_or_else(|| "no url".to_string())?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("lookout-probe/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(config.timeout)
            .timeout(config.timeout + Duration::from_secs(1))
            .pool_max_idle_per_host(0)
            .tls_info(true);
        if config.uses_tls() {
            let tls = tls::client_config(config.ca_file.as_deref(), &[b"http/1.1"])?;
            builder = builder.tls_backend_preconfigured(tls);
        }
        let client = builder
            .build()
            .map_err(|e| format!("http client: {}", tls::root_cause(&e)))?;
        let method = reqwest::Method::from_bytes(config.method.as_bytes())
            .map_err(|_| format!("not an HTTP method: {:?}", config.method))?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let name = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("not a header name: {name:?}"))?;
            let value = reqwest::header::HeaderValue::from_str(value)
                .map_err(|_| format!("not a valid value of header {name}"))?;
            headers.insert(name, value);
        }
        let body_regex = match &config.body_regex {
            Some(re) => Some(regex::Regex::new(re).map_err(|e| format!("body_regex: {e}"))?),
            None => None,
        };
        Ok(HttpProbe {
            client,
            url,
            method,
            headers,
            expected: config.expected_status.clone(),
            body_regex,
            health_json: config.health_json,
        })
    }

    pub(crate) async fn run(&self) -> Outcome {
        let request = self
            .client
            .request(self.method.clone(), &self.url)
            .headers(self.headers.clone());
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return Outcome::failed(request_error(&e)),
        };
        let code = response.status().as_u16();
        let cert_expiry = response
            .extensions()
            .get::<reqwest::tls::TlsInfo>()
            .and_then(|info| info.peer_certificate())
            .and_then(|der| tls::earliest_expiry([der]));
        let mut outcome = Outcome {
            http_status_code: Some(code),
            cert_expiry_unix_seconds: cert_expiry,
            ..Default::default()
        };
        let body = match read_body(response).await {
            Ok(body) => body,
            Err(e) => {
                outcome.error = Some(e);
                return outcome;
            }
        };
        if self.health_json {
            if let Some(doc) = health::parse(&body) {
                outcome.health = Some(doc.status);
                outcome.checks = doc.checks;
            }
        }
        let expected = if self.expected.is_empty() {
            (200..300).contains(&code)
        } else {
            self.expected.contains(&code)
        };
        if !expected {
            let wanted = if self.expected.is_empty() {
                "2xx".to_string()
            } else {
                let codes: Vec<String> = self.expected.iter().map(u16::to_string).collect();
                codes.join(", ")
            };
            outcome.error = Some(format!("unexpected status {code} (expected {wanted})"));
        } else if let Some(re) = &self.body_regex {
            if !re.is_match(&String::from_utf8_lossy(&body)) {
                outcome.error = Some(format!("body does not match {:?}", re.as_str()));
            }
        }
        if outcome.error.is_none() && outcome.health == Some(HealthStatus::Unhealthy) {
            outcome.error = Some("health status unhealthy".into());
        }
        outcome
    }
}

/// The body, up to [`MAX_BODY`] bytes (the rest is not read).
async fn read_body(response: reqwest::Response) -> Result<Vec<u8>, String> {
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| format!("reading the body: {}", request_error(&e)))?;
        let room = MAX_BODY - body.len();
        body.extend_from_slice(&chunk[..chunk.len().min(room)]);
        if body.len() >= MAX_BODY {
            break;
        }
    }
    Ok(body)
}

fn request_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timeout".into();
    }
    let cause = tls::root_cause(e);
    if e.is_connect() {
        format!("connect: {cause}")
    } else {
        format!("request: {cause}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probes::config::ProbeKind;
    use axum::http::StatusCode;

    fn config(url: &str) -> ProbeConfig {
        serde_json::from_value(serde_json::json!({
            "name": "web", "service_name": "shop", "kind": "http", "url": url,
            "timeout": "2s",
        }))
        .unwrap()
    }

    /// Serves `status` and `body` at `/health` on a loopback port.
    async fn serve(status: u16, body: &'static str) -> std::net::SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(
                move || async move { (StatusCode::from_u16(status).unwrap(), body) },
            ),
        );
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }

    #[tokio::test]
    async fn statuses_bodies_and_health_documents() {
        let healthy = serve(200, r#"{"status":"healthy"}"#).await;
        let degraded = serve(
            200,
            r#"{"status":"degraded","checks":{"db":{"status":"unhealthy"}}}"#,
        )
        .await;
        let down = serve(503, r#"{"status":"unhealthy"}"#).await;
        let plain = serve(200, "all good").await;
        let unhealthy_200 = serve(200, r#"{"status":"fail"}"#).await;

        let run = |addr: std::net::SocketAddr, tweak: fn(&mut ProbeConfig)| async move {
            let mut c = config(&format!("http://{addr}/health"));
            tweak(&mut c);
            assert_eq!(c.kind, ProbeKind::Http);
            HttpProbe::new(&c).unwrap().run().await
        };
        let o = run(healthy, |_| {}).await;
        assert_eq!(
            (o.error, o.health, o.http_status_code),
            (None, Some(HealthStatus::Healthy), Some(200))
        );
        let o = run(degraded, |_| {}).await;
        assert_eq!(o.error, None);
        assert_eq!(o.health, Some(HealthStatus::Degraded));
        assert_eq!(o.checks[0].name, "db");
        let o = run(down, |_| {}).await;
        assert_eq!(
            o.error.as_deref(),
            Some("unexpected status 503 (expected 2xx)")
        );
        assert_eq!(o.http_status_code, Some(503));
        let o = run(down, |c| c.expected_status = vec![200, 503]).await;
        assert_eq!(o.error.as_deref(), Some("health status unhealthy"));
        let o = run(unhealthy_200, |_| {}).await;
        assert_eq!(o.error.as_deref(), Some("health status unhealthy"));
        let o = run(plain, |c| c.body_regex = Some("good$".into())).await;
        assert_eq!((o.error, o.health), (None, None));
        let o = run(plain, |c| c.body_regex = Some("^bad".into())).await;
        assert_eq!(o.error.as_deref(), Some("body does not match \"^bad\""));

        let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = closed.local_addr().unwrap();
        drop(closed);
        let o = run(addr, |_| {}).await;
        let error = o.error.unwrap();
        assert!(error.starts_with("connect: "), "{error}");
        assert!(error.to_lowercase().contains("refused"), "{error}");
        assert_eq!(o.http_status_code, None);
    }
}
