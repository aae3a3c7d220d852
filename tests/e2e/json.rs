//! Hand-written OTLP/JSON requests (opentelemetry-proto's `examples/*.json`, and one of ours
//! with 64-bit integers as strings) over HTTP, read back from storage.

use lookout_proto::model::{MetricKind, PointValue};
use lookout_proto::otlp::common::v1::any_value::Value;
use lookout_proto::otlp::metrics::v1::number_data_point;
use lookout_proto::TraceId;
use lookout_storage::{LogReader, MetricReader, SpanReader, TimeRange};

use crate::common::{attr, post, start, string};

fn fixture(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/e2e/data")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_json_examples_are_stored_as_sent() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), crate::common::keep_otlp_points).await;
    for (path, file) in [
        ("/v1/traces", "trace.json"),
        ("/v1/logs", "logs.json"),
        ("/v1/metrics", "metrics.json"),
        ("/v1/metrics", "metrics-more.json"),
    ] {
        let response = post(&server, path, "application/json", fixture(file), &[]).await;
        assert_eq!(response.status(), 200, "{file}");
        assert_eq!(response.headers()["content-type"], "application/json");
        assert_eq!(
            response.text().await.unwrap(),
            "{}",
            "{file}: full success has no partialSuccess"
        );
    }
    let store = server.store().clone();

    let trace_id: TraceId = "5b8efff798038103d269b633813fc60c".parse().unwrap();
    let spans = store.trace(&trace_id).unwrap();
    assert_eq!(spans.len(), 1);
    let span = &spans[0];
    assert_eq!(span.span.name, "I'm a server span");
    assert_eq!(
        span.span.span_id,
        const_hex::decode("eee19b7ec3c1b174").unwrap()
    );
    assert_eq!(
        span.span.parent_span_id,
        const_hex::decode("eee19b7ec3c1b173").unwrap()
    );
    assert_eq!(span.span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.span.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(span.span.kind, 2);
    assert_eq!(
        attr(&span.span.attributes, "my.span.attr"),
        Some(&string("some value"))
    );
    assert_eq!(span.resource.service_name(), Some("my.service"));
    assert_eq!(
        (span.scope.name.as_str(), span.scope.version.as_str()),
        ("my.library", "1.0.0")
    );
    assert_eq!(
        attr(&span.scope.attributes, "my.scope.attribute"),
        Some(&string("some scope attribute"))
    );

    let logs = store.logs(TimeRange::ALL, 10).unwrap();
    assert_eq!(logs.len(), 1);
    let log = &logs[0];
    assert_eq!(log.time_unix_nano, 1_544_712_660_300_000_000);
    assert_eq!(log.record.severity_text, "Information");
    assert_eq!(log.record.trace_id, trace_id.as_bytes().to_vec());
    assert_eq!(
        log.record.body.as_ref().unwrap().value,
        Some(string("Example log record"))
    );
    let attrs = &log.record.attributes;
    assert_eq!(
        attr(attrs, "boolean.attribute"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(attr(attrs, "int.attribute"), Some(&Value::IntValue(10)));
    assert_eq!(
        attr(attrs, "double.attribute"),
        Some(&Value::DoubleValue(637.704))
    );
    let Some(Value::ArrayValue(array)) = attr(attrs, "array.attribute") else {
        panic!("array")
    };
    assert_eq!(array.values.len(), 2);
    let Some(Value::KvlistValue(map)) = attr(attrs, "map.attribute") else {
        panic!("map")
    };
    assert_eq!(map.values[0].key, "some.map.key");

    let points = store.metric_points(TimeRange::ALL, 100).unwrap();
    let names: Vec<_> = points.iter().map(|p| p.point.name.as_str()).collect();
    assert_eq!(names.len(), 5, "{names:?}");
    let find = |name: &str| &points.iter().find(|p| p.point.name == name).unwrap().point;
    let counter = find("my.counter");
    assert_eq!(
        (
            counter.kind,
            counter.aggregation_temporality,
            counter.is_monotonic
        ),
        (MetricKind::Sum as i32, 1, true)
    );
    assert_eq!(counter.description, "I`m a Counter");
    let Some(PointValue::Number(n)) = &counter.value else {
        panic!("number")
    };
    assert_eq!(n.value, Some(number_data_point::Value::AsDouble(5.0)));
    let Some(PointValue::Histogram(h)) = &find("my.histogram").value else {
        panic!("histogram")
    };
    assert_eq!(
        (h.count, h.sum, h.min, h.max),
        (3, Some(3.0), Some(1.0), Some(1.0))
    );
    assert_eq!(
        (h.bucket_counts.clone(), h.explicit_bounds.clone()),
        (vec![1, 1, 1], vec![1.0])
    );
    let exponential = find("my.exponential");
    assert_eq!(exponential.kind, MetricKind::ExponentialHistogram as i32);
    let Some(PointValue::ExponentialHistogram(e)) = &exponential.value else {
        panic!("exp")
    };
    assert_eq!((e.count, e.zero_count, e.scale), (4, 1, 1));
    assert_eq!(e.positive.as_ref().unwrap().bucket_counts, vec![1, 2]);
    assert_eq!(e.time_unix_nano, 1_544_712_660_300_000_000);
    let Some(PointValue::Summary(s)) = &find("my.summary").value else {
        panic!("summary")
    };
    assert_eq!((s.count, s.sum), (10, 55.5));
    assert_eq!(s.quantile_values[1].quantile, 0.99);
    assert_eq!(s.quantile_values[1].value, f64::INFINITY);

    server.shutdown().await.unwrap();
}
