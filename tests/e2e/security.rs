//! Security end to end: bearer tokens with scopes on every listener, TLS and mutual TLS on the
//! OTLP listeners and the API with certificates made in the test (rcgen), and an HTTPS
//! webhook behind a private CA receiving a real alert.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lookout::auth::{Scope, TokenConfig};
use lookout_collector::tls::TlsConfig;
use lookout_proto::otlp::collector::trace::v1::trace_service_client::TraceServiceClient;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::trace::v1::Span;
use prost::Message;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use serde_json::Value;

use crate::common::start;

const INGEST: &str = "ingest-token-for-the-e2e-test";
const QUERY: &str = "query-token-for-the-e2e-test";
const ADMIN: &str = "admin-token-for-the-e2e-test";

/// A CA, a server certificate for localhost and 127.0.0.1, and a client certificate, as PEM
/// files in `dir`.
struct Pki {
    ca: PathBuf,
    server_cert: PathBuf,
    server_key: PathBuf,
    client_pem: String,
    ca_pem: String,
}

fn pki(dir: &Path, name: &str) -> Pki {
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, format!("{name} test CA"));
    let ca_key = KeyPair::generate().unwrap();
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let server_key = KeyPair::generate().unwrap();
    let server_cert =
        CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
            .unwrap()
            .signed_by(&server_key, &issuer)
            .unwrap();
    let client_key = KeyPair::generate().unwrap();
    let mut client_params = CertificateParams::new(vec!["client".to_string()]).unwrap();
    client_params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client_params.signed_by(&client_key, &issuer).unwrap();
    let write = |file: &str, text: String| {
        let path = dir.join(format!("{name}-{file}"));
        std::fs::write(&path, text).unwrap();
        path
    };
    Pki {
        ca: write("ca.pem", ca_cert.pem()),
        server_cert: write("server.pem", server_cert.pem()),
        server_key: write("server-key.pem", server_key.serialize_pem()),
        client_pem: format!("{}{}", client_cert.pem(), client_key.serialize_pem()),
        ca_pem: ca_cert.pem(),
    }
}

fn spans_body() -> ExportTraceServiceRequest {
    let now = lookout_proto::now_unix_nano();
    lookout_proto::requests::traces(
        Some("secure"),
        vec![Span {
            trace_id: vec![7; 16],
            span_id: vec![7; 8],
            name: "GET /".into(),
            start_time_unix_nano: now,
            end_time_unix_nano: now + 1_000_000,
            ..Default::default()
        }],
    )
}

fn token(name: &str, value: &str, scopes: &[Scope]) -> TokenConfig {
    TokenConfig {
        name: name.into(),
        token: Some(value.into()),
        scopes: scopes.to_vec(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_scopes_guard_every_listener() {
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("admin-token");
    std::fs::write(&token_file, format!("{ADMIN}\n")).unwrap();
    let server = start(dir.path(), |c| {
        c.host_metrics.enabled = false;
        c.auth.tokens = vec![
            token("collector", INGEST, &[Scope::Ingest]),
            token("grafana", QUERY, &[Scope::Query]),
            TokenConfig {
                name: "ops".into(),
                token_file: Some(token_file),
                scopes: vec![Scope::Admin],
                ..Default::default()
            },
        ];
    })
    .await;
    let http = reqwest::Client::new();
    let otlp = format!("http://{}/v1/traces", server.otlp_http_addr);
    let body = spans_body().encode_to_vec();
    let export = |token: Option<&str>| {
        let mut request = http
            .post(&otlp)
            .header("content-type", "application/x-protobuf")
            .body(body.clone());
        if let Some(t) = token {
            request = request.bearer_auth(t);
        }
        request.send()
    };
    let refused = export(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    let text = refused.text().await.unwrap();
    assert!(text.contains("authentication required"), "{text}");
    assert_eq!(export(Some(QUERY)).await.unwrap().status(), 403);
    assert_eq!(
        export(Some("a-wrong-token-of-some-length"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(export(Some(INGEST)).await.unwrap().status(), 200);

    // gRPC: the `authorization` metadata.
    let channel =
        tonic::transport::Channel::from_shared(format!("http://{}", server.otlp_grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
    let mut grpc = TraceServiceClient::new(channel);
    let status = grpc.export(spans_body()).await.unwrap_err();
    assert_eq!(status.code(), tonic::Code::Unauthenticated, "{status:?}");
    assert!(!status.message().contains(INGEST));
    let mut request = tonic::Request::new(spans_body());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {INGEST}").parse().unwrap());
    grpc.export(request).await.unwrap();
    let mut request = tonic::Request::new(spans_body());
    request
        .metadata_mut()
        .insert("authorization", format!("Bearer {QUERY}").parse().unwrap());
    assert_eq!(
        grpc.export(request).await.unwrap_err().code(),
        tonic::Code::PermissionDenied
    );

    // The API: queries need `query` (or admin), writes `admin`, /health nothing.
    let api = |path: &str| format!("http://{}{path}", server.http_addr);
    let r = http.get(api("/api/v1/labels")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(
        http.get(api("/api/v1/labels"))
            .bearer_auth(INGEST)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    for t in [QUERY, ADMIN] {
        assert_eq!(
            http.get(api("/api/traces/07070707070707070707070707070707"))
                .bearer_auth(t)
                .send()
                .await
                .unwrap()
                .status(),
            200
        );
    }
    // A browser sends the token as the Basic password (the UI may not be built here: any
    // answer but a refusal will do).
    let ui = http
        .get(api("/ui/"))
        .basic_auth("me", Some(QUERY))
        .send()
        .await
        .unwrap();
    assert!(
        ![401, 403].contains(&ui.status().as_u16()),
        "{}",
        ui.status()
    );
    assert_eq!(http.get(api("/ui/")).send().await.unwrap().status(), 401);
    assert_eq!(http.get(api("/health")).send().await.unwrap().status(), 200);
    assert_eq!(
        http.get(api("/metrics")).send().await.unwrap().status(),
        200
    );
    let dashboard = serde_json::json!({"title": "mine", "panels": []});
    assert_eq!(
        http.post(api("/lookout/v1/dashboards"))
            .bearer_auth(QUERY)
            .json(&dashboard)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let created = http
        .post(api("/lookout/v1/dashboards"))
        .bearer_auth(ADMIN)
        .json(&dashboard)
        .send()
        .await
        .unwrap();
    assert!(
        created.status().is_success(),
        "{}",
        created.text().await.unwrap()
    );
    assert_eq!(
        http.post(api("/-/reload"))
            .bearer_auth(QUERY)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    assert_eq!(
        http.post(api("/-/reload"))
            .bearer_auth(ADMIN)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_needs_the_lifecycle_setting_without_auth() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |c| c.host_metrics.enabled = false).await;
    let r = reqwest::Client::new()
        .post(format!("http://{}/-/reload", server.http_addr))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    assert!(r.text().await.unwrap().contains("http.enable_lifecycle"));
    server.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_over_tls_and_mutual_tls_and_the_api_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "lookout");
    let otlp_tls = TlsConfig {
        cert_file: pki.server_cert.clone(),
        key_file: pki.server_key.clone(),
        client_ca_file: Some(pki.ca.clone()),
    };
    let http_tls = TlsConfig {
        client_ca_file: None,
        ..otlp_tls.clone()
    };
    let server = start(dir.path(), |c| {
        c.host_metrics.enabled = false;
        c.otlp.tls = Some(otlp_tls);
        c.http.tls = Some(http_tls);
    })
    .await;
    let ca = reqwest::Certificate::from_pem(pki.ca_pem.as_bytes()).unwrap();
    let identity = reqwest::Identity::from_pem(pki.client_pem.as_bytes()).unwrap();
    let with_cert = reqwest::Client::builder()
        .tls_certs_only([ca.clone()])
        .identity(identity)
        .build()
        .unwrap();
    let without_cert = reqwest::Client::builder()
        .tls_certs_only([ca.clone()])
        .build()
        .unwrap();
    let otlp = format!(
        "https://localhost:{}/v1/traces",
        server.otlp_http_addr.port()
    );
    let body = spans_body().encode_to_vec();
    let sent = with_cert
        .post(&otlp)
        .header("content-type", "application/x-protobuf")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), 200);
    let refused = without_cert
        .post(&otlp)
        .header("content-type", "application/x-protobuf")
        .body(body.clone())
        .send()
        .await;
    assert!(
        refused.is_err(),
        "a client without a certificate was served: {refused:?}"
    );
    // Plain HTTP on a TLS port gets nothing.
    assert!(reqwest::Client::new()
        .post(format!(
            "http://127.0.0.1:{}/v1/traces",
            server.otlp_http_addr.port()
        ))
        .body(body)
        .send()
        .await
        .is_err());

    // gRPC with and without a client certificate.
    let tls = |identity: bool| {
        let mut config = tonic::transport::ClientTlsConfig::new()
            .ca_certificate(tonic::transport::Certificate::from_pem(&pki.ca_pem))
            .domain_name("localhost");
        if identity {
            let (cert, key) = pki
                .client_pem
                .split_at(pki.client_pem.find("-----BEGIN PRIVATE KEY").unwrap());
            config = config.identity(tonic::transport::Identity::from_pem(cert, key));
        }
        config
    };
    let endpoint = format!("https://localhost:{}", server.otlp_grpc_addr.port());
    let channel = tonic::transport::Channel::from_shared(endpoint.clone())
        .unwrap()
        .tls_config(tls(true))
        .unwrap()
        .connect()
        .await
        .unwrap();
    TraceServiceClient::new(channel)
        .export(spans_body())
        .await
        .unwrap();
    let refused = async {
        let channel = tonic::transport::Channel::from_shared(endpoint)
            .unwrap()
            .tls_config(tls(false))
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        TraceServiceClient::new(channel)
            .export(spans_body())
            .await
            .map_err(|e| e.to_string())
    }
    .await;
    assert!(
        refused.is_err(),
        "a gRPC client without a certificate was served"
    );

    // The API over TLS: trusted with the CA, refused by a client that does not trust it.
    let api = format!(
        "https://localhost:{}/api/traces/07070707070707070707070707070707",
        server.http_addr.port()
    );
    let answer: Value = without_cert
        .get(&api)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // One span over OTLP/HTTP, one over gRPC, both with the client certificate.
    assert_eq!(
        answer["data"][0]["spans"].as_array().map(Vec::len),
        Some(2),
        "{answer}"
    );
    let untrusting = reqwest::Client::new().get(&api).send().await.unwrap_err();
    let chain = format!("{:?}", untrusting);
    assert!(
        chain.contains("UnknownIssuer") || chain.contains("certificate"),
        "{chain}"
    );
    server.shutdown().await.unwrap();
}

/// An HTTPS webhook receiver with `pki`'s server certificate; counts the bodies it gets.
async fn https_hook(pki: &Pki) -> (String, Arc<Mutex<Vec<Value>>>) {
    let bodies = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&bodies);
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let kept = Arc::clone(&kept);
            async move {
                kept.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let config = TlsConfig {
        cert_file: pki.server_cert.clone(),
        key_file: pki.server_key.clone(),
        client_ca_file: None,
    };
    let tls = lookout::listener::Tls::new(&config).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let incoming = lookout::listener::accept("hook", listener, Some(tls), 16).unwrap();
    tokio::spawn(async move { axum::serve(incoming, app).await });
    (format!("https://localhost:{port}/hook"), bodies)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_https_webhook_behind_a_private_ca_gets_the_alert_and_an_untrusted_one_does_not() {
    let dir = tempfile::tempdir().unwrap();
    let trusted = pki(dir.path(), "trusted");
    let other = pki(dir.path(), "other");
    let (trusted_url, trusted_bodies) = https_hook(&trusted).await;
    let (other_url, other_bodies) = https_hook(&other).await;
    let rules = dir.path().join("rules.yaml");
    std::fs::write(
        &rules,
        "groups:\n  - name: g\n    interval: 1s\n    rules:\n      - alert: Always\n        expr: vector(1) > 0\n",
    )
    .unwrap();
    let webhook = |name: &str, url: &str| -> lookout_alerting::notify::WebhookConfig {
        serde_json::from_value(serde_json::json!({
            "name": name, "url": url, "group_wait": "0s", "group_interval": "1s",
        }))
        .unwrap()
    };
    let ca = trusted.ca.clone();
    let server = start(dir.path(), move |c| {
        c.host_metrics.enabled = false;
        c.alerting.default_rules = false;
        c.alerting.rule_files = vec![rules.display().to_string()];
        c.alerting.tls_ca_file = Some(ca);
        c.alerting.webhooks = vec![
            webhook("other", &other_url),
            webhook("trusted", &trusted_url),
        ];
    })
    .await;
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = trusted_bodies.lock().unwrap().clone();
        if let Some(body) = got.first() {
            assert_eq!(body["status"], "firing");
            assert_eq!(body["alerts"][0]["labels"]["alertname"], "Always");
            break;
        }
        assert!(Instant::now() < deadline, "the HTTPS webhook got nothing");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The untrusted receiver's deliveries fail (and are counted); the trusted one was not held
    // up by them.
    let metrics = reqwest::get(format!("http://{}/metrics", server.http_addr))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("lookout_alert_notifications_total{outcome=\"failed\"}"),
        "{metrics}"
    );
    assert!(other_bodies.lock().unwrap().is_empty());
    server.shutdown().await.unwrap();
}

/// `lookout loadgen --ca-file` sends to an https endpoint signed by a private CA, over gRPC and
/// OTLP/HTTP, with an ingest token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn loadgen_sends_over_tls_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let pki = pki(dir.path(), "lookout");
    let server = start(dir.path(), |c| {
        c.host_metrics.enabled = false;
        c.otlp.tls = Some(TlsConfig {
            cert_file: pki.server_cert.clone(),
            key_file: pki.server_key.clone(),
            client_ca_file: None,
        });
        c.auth.tokens = vec![token("loadgen", INGEST, &[Scope::Ingest])];
    })
    .await;
    for (protocol, port) in [
        (
            lookout::loadgen::Transport::Grpc,
            server.otlp_grpc_addr.port(),
        ),
        (
            lookout::loadgen::Transport::HttpProtobuf,
            server.otlp_http_addr.port(),
        ),
    ] {
        let options = lookout::loadgen::Options {
            endpoint: Some(format!("https://localhost:{port}")),
            protocol,
            items: Some(200),
            batch: 100,
            concurrency: 1,
            ca_file: Some(pki.ca.clone()),
            headers: vec![("authorization".into(), format!("Bearer {INGEST}"))],
            progress: lookout::loadgen::Progress::Never,
            ..Default::default()
        };
        let summary = lookout::loadgen::run(options).await.unwrap();
        assert_eq!(summary.lost(), 0, "{protocol:?}: {:?}", summary.signals);
        // Whole traces: a few spans past the count asked for.
        assert!(summary.signals[0].accepted >= 200, "{protocol:?}");
    }
    server.shutdown().await.unwrap();
}
