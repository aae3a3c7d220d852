//! `lookout demo`: a server on a temporary data directory, fed continuous, gentle shop traffic
//! by the built-in load generator (traces, logs, metrics, the shop's business metrics), plus a
//! `fraud-check` service that fails in bursts so that an alert fires and resolves, for a newcomer
//! to see every page of the UI with data at once.

use std::time::Duration;

use anyhow::Context;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::otlp::resource::v1::Resource;
use lookout_proto::otlp::trace::v1::{span, status, ResourceSpans, ScopeSpans, Span, Status};
use lookout_proto::requests::string_kv as kv;
use prost::Message;

use crate::loadgen::{Options, Progress, Signal, Transport};
use crate::{Config, Server};

/// The demo's alert: the default rules wait 5 minutes; this one fires within a minute.
const RULES: &str = r#"groups:
  - name: demo
    interval: 10s
    rules:
      - alert: FraudCheckFailing
        expr: |
          sum by (service_name) (rate(traces_span_metrics_calls_total{service_name="fraud-check",status_code="STATUS_CODE_ERROR"}[1m]))
            / sum by (service_name) (rate(traces_span_metrics_calls_total{service_name="fraud-check"}[1m]))
            > 0.1
        for: 30s
        labels:
          severity: critical
        annotations:
          summary: "fraud-check: {{ $value | humanizePercentage }} of checks fail"
"#;

/// How the `fraud-check` service behaves: failing for the first 3 minutes of every 8.
fn failing(elapsed: Duration) -> bool {
    elapsed.as_secs() % 480 < 180
}

/// One second of `fraud-check` requests: 10 server spans, a quarter failing while it fails.
fn fraud_checks(n: u64, failing: bool, now: u64) -> ExportTraceServiceRequest {
    let spans = (0..10u64)
        .map(|i| {
            let seq = n * 10 + i;
            let error = failing && seq.is_multiple_of(4);
            let mix = |x: u64| {
                (x ^ 0x5eed)
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15)
                    .rotate_left(29)
            };
            let mut trace = mix(seq).to_be_bytes().to_vec();
            trace.extend_from_slice(&mix(!seq).to_be_bytes());
            Span {
                trace_id: trace,
                span_id: (seq + 1).to_be_bytes().to_vec(),
                name: "POST /check".into(),
                kind: span::SpanKind::Server as i32,
                start_time_unix_nano: now - (20 + seq % 60) * 1_000_000,
                end_time_unix_nano: now,
                attributes: vec![
                    kv("http.request.method", "POST"),
                    kv("http.route", "/check"),
                ],
                status: Some(Status {
                    code: if error {
                        status::StatusCode::Error as i32
                    } else {
                        status::StatusCode::Unset as i32
                    },
                    message: if error {
                        "card risk provider timed out".into()
                    } else {
                        String::new()
                    },
                }),
                ..Default::default()
            }
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", "fraud-check"),
                    kv("service.namespace", "shop"),
                    kv("service.instance.id", "fraud-check-0"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Starts the demo server and its traffic; returns the server (stop it with
/// [`Server::shutdown`]). `config.data_dir` should be a temporary directory.
pub async fn start(mut config: Config) -> anyhow::Result<Server> {
    let rules = config.data_dir.join("demo-rules.yaml");
    std::fs::create_dir_all(&config.data_dir).context("creating the data directory")?;
    std::fs::write(&rules, RULES).context("writing the demo alert rule")?;
    config.alerting.rule_files.push(rules.display().to_string());
    config.span_metrics.flush_interval = Duration::from_secs(5);
    config.service_activity.flush_interval = Duration::from_secs(5);
    config.service_health.evaluation_interval = Duration::from_secs(10);
    let server = Server::start(config).await?;

    let options = Options {
        endpoint: Some(format!("http://{}", server.otlp_grpc_addr)),
        protocol: Transport::Grpc,
        signals: vec![Signal::Traces, Signal::Logs, Signal::Metrics],
        rate: 300,
        duration: Duration::from_secs(365 * 86_400),
        concurrency: 3,
        batch: 50,
        series: 300,
        progress: Progress::Never,
        allow_loss: true,
        ..Options::default()
    };
    tokio::spawn(async move {
        if let Err(e) = crate::loadgen::run(options).await {
            tracing::warn!(error = %format!("{e:#}"), "demo traffic stopped");
        }
    });
    let url = format!("http://{}/v1/traces", server.otlp_http_addr);
    tokio::spawn(async move {
        let client = reqwest::Client::new();
        let started = std::time::Instant::now();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        for n in 0u64.. {
            tick.tick().await;
            let body = fraud_checks(
                n,
                failing(started.elapsed()),
                lookout_proto::now_unix_nano(),
            )
            .encode_to_vec();
            let sent = client
                .post(&url)
                .header("content-type", "application/x-protobuf")
                .body(body)
                .send()
                .await;
            if let Err(e) = sent {
                tracing::debug!(error = %e, "demo fraud checks not sent");
            }
        }
    });
    Ok(server)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fraud_checks_fail_in_bursts() {
        assert!(failing(Duration::from_secs(10)));
        assert!(!failing(Duration::from_secs(200)));
        assert!(failing(Duration::from_secs(490)));
        let failed = |f| {
            fraud_checks(3, f, 1_000_000_000_000).resource_spans[0].scope_spans[0]
                .spans
                .iter()
                .filter(|s| s.status.as_ref().is_some_and(|s| s.code == 2))
                .count()
        };
        assert_eq!((failed(true), failed(false)), (2, 0));
    }
}
