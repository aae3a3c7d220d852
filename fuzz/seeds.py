"""Writes the seed corpora of the fuzz targets (python3 seeds.py; needs opentelemetry-proto
from PyPI for the protobuf seeds)."""
import json
import os
import struct

from google.protobuf.json_format import MessageToJson
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as ls
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as ms
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as ts
from opentelemetry.proto.common.v1 import common_pb2 as c
from opentelemetry.proto.metrics.v1 import metrics_pb2 as m
from opentelemetry.proto.resource.v1 import resource_pb2 as r

T0 = 1_767_225_600 * 10**9


def kv(k, v):
    return c.KeyValue(key=k, value=c.AnyValue(string_value=v))


def resource():
    return r.Resource(attributes=[kv("service.name", "shop"), kv("host.name", "h1")])


def traces():
    req = ts.ExportTraceServiceRequest()
    rs = req.resource_spans.add(resource=resource())
    ss = rs.scope_spans.add()
    for i in range(3):
        s = ss.spans.add(trace_id=bytes([1] * 16), span_id=bytes([i + 1] * 8), name=f"GET /{i}",
                         kind=2, start_time_unix_nano=T0 + i, end_time_unix_nano=T0 + i + 5000)
        if i:
            s.parent_span_id = bytes([1] * 8)
        s.attributes.extend([kv("http.route", "/x"), kv("user.id", "u-1")])
        e = s.events.add(name="exception", time_unix_nano=T0 + i)
        e.attributes.extend([kv("exception.type", "E"), kv("exception.message", "boom")])
        s.status.code = 2 if i == 2 else 0
    return req


def logs():
    req = ls.ExportLogsServiceRequest()
    sl = req.resource_logs.add(resource=resource()).scope_logs.add()
    for i in range(3):
        rec = sl.log_records.add(time_unix_nano=T0 + i, severity_number=9 + 4 * i, severity_text="INFO",
                                 body=c.AnyValue(string_value=f"user u-{i} checkout ok"))
        rec.attributes.extend([kv("user.id", "u-1")])
        rec.trace_id = bytes([1] * 16)
    return req


def metrics():
    req = ms.ExportMetricsServiceRequest()
    sm = req.resource_metrics.add(resource=resource()).scope_metrics.add()
    g = sm.metrics.add(name="queue_depth", unit="1")
    for i in range(3):
        g.gauge.data_points.add(time_unix_nano=T0 + i * 15 * 10**9, as_double=i)
    s = sm.metrics.add(name="requests", unit="{request}")
    s.sum.aggregation_temporality = 2
    s.sum.is_monotonic = True
    s.sum.data_points.add(start_time_unix_nano=T0, time_unix_nano=T0 + 10**9, as_int=5)
    h = sm.metrics.add(name="latency", unit="ms")
    h.histogram.aggregation_temporality = 2
    h.histogram.data_points.add(start_time_unix_nano=T0, time_unix_nano=T0 + 10**9, count=3, sum=12.0,
                                bucket_counts=[1, 1, 1], explicit_bounds=[1.0, 10.0])
    e = sm.metrics.add(name="sizes")
    e.exponential_histogram.aggregation_temporality = 2
    p = e.exponential_histogram.data_points.add(time_unix_nano=T0, count=2, scale=1, zero_count=0)
    p.positive.offset = 1
    p.positive.bucket_counts.extend([1, 1])
    su = sm.metrics.add(name="rpc_duration")
    q = su.summary.data_points.add(time_unix_nano=T0, count=2, sum=3.0)
    q.quantile_values.add(quantile=0.5, value=1.0)
    return req


def write(target, name, data):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


for i, req in enumerate([traces(), logs(), metrics()]):
    write("otlp_protobuf", f"seed-{i}", bytes([i]) + req.SerializeToString())
    write("otlp_json", f"seed-{i}", bytes([i]) + MessageToJson(req).encode())


def chunk(samples):
    """A chunk as ChunkEncoder::encode writes it is not reproduced here: raw samples bytes let
    the fuzzer find the format from the decoder's comparisons."""
    out = struct.pack(">H", len(samples))
    for t, v in samples:
        out += struct.pack(">qd", t, v)
    return out


write("chunk_decode", "seed-0", chunk([(1000, 1.0), (2000, 2.0), (3000, 2.5)]))
write("chunk_decode", "seed-1", b"")

PROMQL = [
    "queue_depth", "rate(queue_depth[5m])", "sum by (job) (queue_depth)",
    "histogram_quantile(0.9, sum by (le) (rate(latency_bucket[5m])))",
    'queue_depth{service_name=~"sh.*"} offset 1m', "max_over_time(queue_depth[10m:1m])",
    "queue_depth > bool 3", "label_replace(queue_depth, \"x\", \"$1\", \"job\", \"(.*)\")",
    "topk(1, queue_depth) or vector(0)", "sort_desc(absent(nope))", "time() - queue_depth @ end()",
    "count_values(\"v\", queue_depth)", "quantile_over_time(0.5, queue_depth[15m])",
    "predict_linear(queue_depth[10m], 60)", "-queue_depth ^ 2 % 3", "1 / 0", "{__name__=~\".+\"}",
]
LOGQL = [
    '{service_name="shop"}', '{service_name="shop"} |= "checkout" != "ok"',
    '{service_name="shop"} |~ "u-[0-9]+" | logfmt | level="info"',
    '{service_name="shop"} | json | line_format "{{.body}}"',
    'sum(count_over_time({service_name="shop"}[1m]))',
    'sum by (level) (rate({service_name="shop"}[30s]))',
    'bytes_over_time({service_name=~"s.*"}[1m])', 'max(count_over_time({level="error"}[5m]))',
]
LOG_QUERY = [
    "checkout", "checkout AND NOT ok", '"checkout failed"', "severity:error", "service:shop",
    "attributes.user.id:u-1", "u-* OR failed", "body:(user AND ok)", "NOT failed", "*",
]
PARAMS = [
    b"\x00service=shop&limit=20&start=1767225600000000&end=1767229200000000",
    b"\x00service=shop&tags=%7B%22http.route%22%3A%22%2Fx%22%7D&minDuration=1ms&maxDuration=1s",
    b"\x03query.service_name=shop&query.start_time_min=2026-01-01T00:00:00Z&query.start_time_max=2026-01-01T01:00:00Z",
    b"\x05match[]=queue_depth&start=1767225600&end=1767229200",
    b"\x06start=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z",
    b"\x09since=1h", b"\x0aquery=%7Bservice_name%3D%22shop%22%7D&start=1767225600&end=1767229200",
    b"\x0cservice=shop&operation=GET%20%2F1&since=1h&limit=5&error=true",
    b"\x0dstart=2026-01-01T00:00:00Z&end=2026-01-01T01:00:00Z", b"\x0ebuckets=10&since=2h&service=shop",
    b"\x0fsince=1h&fields=level,service", b"\x10since=1h",
]
for i, q in enumerate(PROMQL):
    write("promql", f"seed-{i}", q)
for i, q in enumerate(LOGQL):
    write("logql", f"seed-{i}", q)
for i, q in enumerate(LOG_QUERY):
    write("log_query", f"seed-{i}", q)
for i, q in enumerate(PARAMS):
    write("query_params", f"seed-{i}", q)
with open("../alerting/rules/default.yaml") as f:
    write("rule_file", "default-rules", f.read())
write("rule_file", "template-0", "{{ $labels.service_name }} at {{ $value | humanize }}{{ if gt $value 1.0 }} high{{ end }}")
write("rule_file", "template-1", "{{- range $k, $v := $labels }}{{ $k }}={{ $v }} {{ end -}}{{ $externalLabels.cluster | toUpper }}")
write("rule_file", "groups-0", "groups:\n  - name: g\n    interval: 30s\n    query_offset: 1m\n    limit: 10\n    rules:\n      - alert: A\n        expr: up == 0\n        for: 5m\n        keep_firing_for: 1m\n        labels: {severity: page}\n        annotations: {summary: '{{ $labels.instance }} down'}\n      - record: job:up:sum\n        expr: sum by (job) (up)\n")
