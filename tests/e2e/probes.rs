//! Probes against real targets on loopback: each state change of a target shows in the
//! series (PromQL over the HTTP API) and in `/lookout/v1/probes`; a hanging target fails with
//! "timeout" while OTLP ingest goes on as fast as before.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use lookout::Server;
use lookout_collector::probes::ProbeConfig;
use serde_json::Value;

use crate::common::{get_json, post, start};

fn probe(mut spec: Value) -> ProbeConfig {
    let object = spec.as_object_mut().unwrap();
    object.entry("service_name").or_insert("shop".into());
    object.entry("interval").or_insert("1s".into());
    object.entry("timeout").or_insert("1s".into());
    serde_json::from_value(spec).unwrap()
}

/// The probe's latest result in `/lookout/v1/probes`.
async fn api_result(server: &Server, name: &str) -> Option<Value> {
    let (_, body) = get_json(server, "/lookout/v1/probes").await;
    body["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["probe"] == name)
        .cloned()
}

/// `/lookout/v1/services/{name}`: the HTTP status and the service.
async fn service(server: &Server, name: &str) -> (u16, Value) {
    get_json(server, &format!("/lookout/v1/services/{name}")).await
}

/// Asserts the service's status and its first reason's message.
async fn assert_service(server: &Server, name: &str, status: &str, reason: Option<&str>) {
    let (code, body) = service(server, name).await;
    assert_eq!(code, 200, "{body}");
    assert_eq!(body["status"], status, "{body}");
    assert_eq!(body["reasons"][0]["message"].as_str(), reason, "{body}");
}

/// The values of an instant query, by the value of `label`.
async fn query(server: &Server, promql: &str) -> Vec<(Value, f64)> {
    let query = form_urlencoded::Serializer::new(String::new())
        .append_pair("query", promql)
        .finish();
    let (_, body) = get_json(server, &format!("/api/v1/query?{query}")).await;
    assert_eq!(body["status"], "success", "{promql}: {body}");
    body["data"]["result"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["metric"].clone(),
                r["value"][1].as_str().unwrap().parse().unwrap(),
            )
        })
        .collect()
}

/// Waits until the probe's API result satisfies `api` and each query has the single value
/// given, after `since_ms` (a result of the new state).
async fn wait_for_state(
    server: &Server,
    name: &str,
    since_ms: i64,
    api: impl Fn(&Value) -> bool,
    series: &[(&str, f64)],
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut last = (None, Vec::new());
    loop {
        let result = api_result(server, name).await;
        if let Some(r) = &result {
            if r["time_unix_ms"].as_i64().unwrap_or(0) >= since_ms && api(r) {
                let mut values = Vec::new();
                for (promql, _) in series {
                    values.push(query(server, promql).await);
                }
                let all = series
                    .iter()
                    .zip(&values)
                    .all(|((_, want), got)| got.len() == 1 && got[0].1 == *want);
                if all {
                    return r.clone();
                }
                last = (result.clone(), values);
            }
        }
        assert!(
            Instant::now() < deadline,
            "{name}: state not reached; last result {:?}, series {:?}",
            last.0.or(result),
            last.1
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn now_ms() -> i64 {
    (lookout_proto::now_unix_nano() / 1_000_000) as i64
}

/// An HTTP target whose answer the test sets; `stop` closes its listener.
struct Target {
    addr: SocketAddr,
    answer: Arc<Mutex<(u16, String)>>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
}

impl Target {
    async fn start(status: u16, body: &str) -> Target {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let answer = Arc::new(Mutex::new((status, body.to_string())));
        let shared = Arc::clone(&answer);
        let app = axum::Router::new().route(
            "/health",
            axum::routing::get(move || {
                let (status, body) = shared.lock().unwrap().clone();
                async move { (StatusCode::from_u16(status).unwrap(), body) }
            }),
        );
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await
                .unwrap();
        });
        Target {
            addr,
            answer,
            stop: Some(stop),
            task,
        }
    }

    fn set(&self, status: u16, body: &str) {
        *self.answer.lock().unwrap() = (status, body.to_string());
    }

    async fn close(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probe_follows_its_target_through_every_state() {
    let target = Target::start(200, r#"{"status":"healthy"}"#).await;
    let url = format!("http://{}/health", target.addr);
    let dir = tempfile::tempdir().unwrap();
    let web = probe(serde_json::json!({"name": "web", "kind": "http", "url": url}));
    let server = start(dir.path(), |c| c.probes = vec![web]).await;
    let sel = r#"{probe="web",service_name="shop"}"#;
    let success = format!("probe_success{sel}");
    let code = format!("probe_http_status_code{sel}");
    let status = |s: &str| format!(r#"probe_health_status{{probe="web",status="{s}"}}"#);

    let healthy = wait_for_state(
        &server,
        "web",
        0,
        |r| r["success"] == true && r["status"] == "healthy",
        &[
            (&success, 1.0),
            (&code, 200.0),
            (&status("healthy"), 1.0),
            (&status("degraded"), 0.0),
        ],
    )
    .await;
    assert_eq!(healthy["instance"], url.as_str());
    assert_eq!(healthy["service_name"], "shop");
    let instance = query(&server, &success).await;
    assert_eq!(instance[0].0["instance"], url.as_str());
    assert!(query(&server, &format!("probe_duration_seconds{sel}")).await[0].1 > 0.0);
    assert_service(&server, "shop", "healthy", None).await;

    let since = now_ms();
    target.set(
        200,
        r#"{"status":"degraded","checks":{"db":{"status":"unhealthy"}}}"#,
    );
    let degraded = wait_for_state(
        &server,
        "web",
        since,
        |r| r["status"] == "degraded",
        &[
            (&success, 1.0),
            (&status("degraded"), 1.0),
            (&status("healthy"), 0.0),
        ],
    )
    .await;
    assert_eq!(degraded["success"], true);
    assert_eq!(
        degraded["checks"],
        serde_json::json!([{"name": "db", "status": "unhealthy"}])
    );
    assert_service(
        &server,
        "shop",
        "degraded",
        Some("probe web reports degraded (failing: db)"),
    )
    .await;

    let since = now_ms();
    target.set(503, "overloaded");
    let failing = wait_for_state(
        &server,
        "web",
        since,
        |r| r["success"] == false,
        &[(&success, 0.0), (&code, 503.0), (&status("unhealthy"), 1.0)],
    )
    .await;
    assert_eq!(failing["error"], "unexpected status 503 (expected 2xx)");
    assert_eq!(failing["http_status_code"], 503);
    assert_service(
        &server,
        "shop",
        "unhealthy",
        Some("probe web failed: unexpected status 503 (expected 2xx)"),
    )
    .await;

    let since = now_ms();
    target.close().await;
    let gone = wait_for_state(
        &server,
        "web",
        since,
        |r| r["success"] == false && r.get("http_status_code").is_none(),
        &[(&success, 0.0), (&code, 0.0)],
    )
    .await;
    let error = gone["error"].as_str().unwrap();
    assert!(error.starts_with("connect: "), "{error}");
    assert_service(
        &server,
        "shop",
        "unhealthy",
        Some(&format!("probe web failed: {error}")),
    )
    .await;
    server.shutdown().await.unwrap();
}

/// A TLS server with `cert` that answers every request with a healthy document.
async fn tls_target(cert: &rcgen::Certificate, key: &rcgen::KeyPair) -> SocketAddr {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![cert.der().clone()],
        rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut tls) = acceptor.accept(stream).await else {
                    return;
                };
                let mut request = Vec::new();
                let mut buf = [0u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    match tls.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => request.extend_from_slice(&buf[..n]),
                    }
                }
                let body = r#"{"status":"healthy"}"#;
                let answer = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = tls.write_all(answer.as_bytes()).await;
                let _ = tls.shutdown().await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_tcp_and_grpc_targets() {
    use tonic_health::ServingStatus;

    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
    params.not_after = rcgen::date_time_ymd(2031, 1, 1);
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = params.self_signed(&key).unwrap();
    let expiry = 1_924_992_000.0; // 2031-01-01T00:00:00Z
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, cert.pem()).unwrap();
    let tls_addr = tls_target(&cert, &key).await;
    let url = format!("https://localhost:{}/health", tls_addr.port());

    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp_addr = tcp.local_addr().unwrap();

    let (reporter, health) = tonic_health::server::health_reporter();
    reporter
        .set_service_status("shop.Cart", ServingStatus::Serving)
        .await;
    let grpc = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let grpc_addr = grpc.local_addr().unwrap();
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(health)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(grpc)),
    );

    let probes = vec![
        probe(serde_json::json!({"name": "tls-default-roots", "kind": "http", "url": url})),
        probe(serde_json::json!({"name": "tls-ca", "kind": "http", "url": url, "ca_file": ca})),
        probe(serde_json::json!({
            "name": "port", "kind": "tcp", "address": tcp_addr.to_string(),
            "service_name": "inventory",
        })),
        probe(serde_json::json!({
            "name": "tls-port", "kind": "tcp", "address": format!("localhost:{}", tls_addr.port()),
            "tls": true, "ca_file": ca,
        })),
        probe(serde_json::json!({
            "name": "cart", "kind": "grpc", "address": grpc_addr.to_string(),
            "grpc_service": "shop.Cart", "service_name": "cart",
        })),
    ];
    let data = tempfile::tempdir().unwrap();
    let server = start(data.path(), |c| c.probes = probes).await;

    let refused = wait_for_state(
        &server,
        "tls-default-roots",
        0,
        |r| r["success"] == false,
        &[(r#"probe_success{probe="tls-default-roots"}"#, 0.0)],
    )
    .await;
    let error = refused["error"].as_str().unwrap();
    assert!(
        error.contains("UnknownIssuer") || error.contains("certificate"),
        "{error}"
    );
    assert!(
        refused.get("cert_expiry_unix_seconds").is_none(),
        "{refused}"
    );

    let verified = wait_for_state(
        &server,
        "tls-ca",
        0,
        |r| r["success"] == true,
        &[
            (r#"probe_success{probe="tls-ca"}"#, 1.0),
            (r#"probe_ssl_earliest_cert_expiry{probe="tls-ca"}"#, expiry),
        ],
    )
    .await;
    assert_eq!(verified["cert_expiry_unix_seconds"], 1_924_992_000i64);
    assert_eq!(verified["status"], "healthy");

    wait_for_state(
        &server,
        "tls-port",
        0,
        |r| r["success"] == true && r["cert_expiry_unix_seconds"] == 1_924_992_000i64,
        &[(
            r#"probe_ssl_earliest_cert_expiry{probe="tls-port"}"#,
            expiry,
        )],
    )
    .await;
    wait_for_state(
        &server,
        "port",
        0,
        |r| r["success"] == true,
        &[(r#"probe_success{probe="port"}"#, 1.0)],
    )
    .await;
    assert_service(&server, "inventory", "healthy", None).await;
    let since = now_ms();
    drop(tcp);
    let closed = wait_for_state(
        &server,
        "port",
        since,
        |r| r["success"] == false,
        &[(r#"probe_success{probe="port"}"#, 0.0)],
    )
    .await;
    assert!(closed["error"].as_str().unwrap().starts_with("connect: "));
    let (_, inventory) = service(&server, "inventory").await;
    assert_eq!(inventory["status"], "unhealthy");
    assert_eq!(inventory["reasons"][0]["kind"], "probe");

    wait_for_state(
        &server,
        "cart",
        0,
        |r| r["success"] == true,
        &[(r#"probe_success{probe="cart",instance!=""}"#, 1.0)],
    )
    .await;
    assert_service(&server, "cart", "healthy", None).await;
    let since = now_ms();
    reporter
        .set_service_status("shop.Cart", ServingStatus::NotServing)
        .await;
    let not_serving = wait_for_state(
        &server,
        "cart",
        since,
        |r| r["success"] == false,
        &[
            (r#"probe_success{probe="cart"}"#, 0.0),
            (
                r#"probe_health_status{probe="cart",status="unhealthy"}"#,
                1.0,
            ),
        ],
    )
    .await;
    assert_eq!(not_serving["error"], "not serving (NOT_SERVING)");
    assert_service(
        &server,
        "cart",
        "unhealthy",
        Some("probe cart failed: not serving (NOT_SERVING)"),
    )
    .await;
    // A certificate that does not verify makes its service unhealthy, naming the probe.
    let (_, shop) = service(&server, "shop").await;
    assert_eq!(shop["status"], "unhealthy");
    assert!(shop["reasons"][0]["message"]
        .as_str()
        .unwrap()
        .starts_with("probe tls-default-roots failed: "));
    server.shutdown().await.unwrap();
}

/// Milliseconds to get one small OTLP/HTTP export acknowledged.
async fn ingest_ms(server: &Server) -> f64 {
    let now = lookout_proto::now_unix_nano();
    let body = serde_json::json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{
        "name": "probe_test_gauge",
        "gauge": {"dataPoints": [{"asDouble": 1.0, "timeUnixNano": now.to_string()}]}}]}]}]});
    let started = Instant::now();
    let response = post(
        server,
        "/v1/metrics",
        "application/json",
        body.to_string(),
        &[],
    )
    .await;
    assert_eq!(response.status(), 200);
    started.elapsed().as_secs_f64() * 1000.0
}

fn percentile(mut v: Vec<f64>, p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() - 1) as f64 * p).round() as usize]
}

/// A target that accepts connections and never answers; counts the connections open now
/// (a probe's connection closes when it gives up).
async fn hanging_target() -> (SocketAddr, Arc<AtomicUsize>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&open);
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let counter = Arc::clone(&counter);
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
                counter.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, open)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_target_times_out_without_slowing_ingest() {
    let (hang_addr, open) = hanging_target().await;
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut before = Vec::new();
    for _ in 0..30 {
        before.push(ingest_ms(&server).await);
    }
    // More hanging probes than run at once, each hanging far longer than the exports below
    // take: every probe slot is held by a hang for the whole of them.
    let max = lookout_collector::probes::MAX_IN_FLIGHT;
    let hanging = |timeout: &str, interval: &str| -> Vec<ProbeConfig> {
        (0..max + 4)
            .map(|i| {
                probe(serde_json::json!({
                    "name": format!("hang-{i}"), "kind": "http",
                    "url": format!("http://{hang_addr}/health"),
                    "timeout": timeout, "interval": interval,
                }))
            })
            .collect()
    };
    let long = hanging("60s", "120s");
    assert_eq!(server.prober().reload(&long), long.len());
    let deadline = Instant::now() + Duration::from_secs(20);
    while open.load(Ordering::SeqCst) < max {
        assert!(Instant::now() < deadline, "probes did not reach the target");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut during = Vec::new();
    for _ in 0..30 {
        let held_before = open.load(Ordering::SeqCst);
        during.push(ingest_ms(&server).await);
        let held_after = open.load(Ordering::SeqCst);
        // Each export was acknowledged while every probe slot hung, and no more probes than
        // the limit ran at once.
        assert_eq!((held_before, held_after), (max, max));
    }
    for i in 0..max + 4 {
        assert!(api_result(&server, &format!("hang-{i}")).await.is_none());
    }
    let (b50, b99) = (percentile(before.clone(), 0.5), percentile(before, 0.99));
    let (d50, d99) = (percentile(during.clone(), 0.5), percentile(during, 0.99));
    println!(
        "ingest latency without probes p50 {b50:.2} ms p99 {b99:.2} ms; \
         with {max} probes hanging p50 {d50:.2} ms p99 {d99:.2} ms"
    );

    // A hang past the timeout fails the probe with "timeout" (the long hangs are cancelled by
    // the reload and their connections closed).
    let short = hanging("1s", "2s");
    let since = now_ms();
    server.prober().reload(&short);
    let timed_out = wait_for_state(
        &server,
        "hang-0",
        since,
        |r| r["success"] == false,
        &[(r#"probe_success{probe="hang-0"}"#, 0.0)],
    )
    .await;
    assert_eq!(timed_out["error"], "timeout");
    let took = timed_out["duration_seconds"].as_f64().unwrap();
    assert!(took >= 1.0, "{timed_out}");
    let (_, shop) = service(&server, "shop").await;
    assert_eq!(shop["status"], "unhealthy");
    server.shutdown().await.unwrap();
}
