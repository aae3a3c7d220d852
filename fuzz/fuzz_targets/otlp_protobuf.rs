//! OTLP protobuf decoding and the one OTLP → model conversion, with the ingest time window:
//! the first byte picks the signal, the rest is the request body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::{convert_logs, convert_metrics, convert_traces, Limits, TimeWindow};
use prost::Message;

fuzz_target!(|data: &[u8]| {
    let Some((&signal, body)) = data.split_first() else {
        return;
    };
    let limits = Limits {
        max_attribute_value_length: 64,
        max_attributes_per_item: 8,
        max_events_per_span: 4,
        max_links_per_span: 4,
        max_log_body_length: 64,
    };
    let window = TimeWindow::around(
        1_767_225_600_000_000_000,
        std::time::Duration::from_secs(86_400),
        std::time::Duration::from_secs(3600),
    );
    match signal % 3 {
        0 => {
            if let Ok(request) = ExportTraceServiceRequest::decode(body) {
                let mut out = convert_traces(request, &limits);
                out.reject_outside(window);
                assert!(out.batch.items.len() as u64 + out.rejections.total() <= out.received);
            }
        }
        1 => {
            if let Ok(request) = ExportLogsServiceRequest::decode(body) {
                let mut out = convert_logs(request, &limits, 1);
                out.reject_outside(window);
                assert!(out.batch.items.len() as u64 + out.rejections.total() <= out.received);
            }
        }
        _ => {
            if let Ok(request) = ExportMetricsServiceRequest::decode(body) {
                let mut out = convert_metrics(request, &limits);
                out.reject_outside(window);
                assert!(out.batch.items.len() as u64 + out.rejections.total() <= out.received);
            }
        }
    }
});
