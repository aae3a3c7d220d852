//! OTLP/JSON decoding (serde, as the OTLP/HTTP receiver does) and the conversion.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lookout_proto::otlp::collector::logs::v1::ExportLogsServiceRequest;
use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use lookout_proto::{convert_logs, convert_metrics, convert_traces, Limits};

fuzz_target!(|data: &[u8]| {
    let Some((&signal, body)) = data.split_first() else {
        return;
    };
    let limits = Limits::default();
    match signal % 3 {
        0 => {
            if let Ok(request) = serde_json::from_slice::<ExportTraceServiceRequest>(body) {
                let _ = convert_traces(request, &limits);
            }
        }
        1 => {
            if let Ok(request) = serde_json::from_slice::<ExportLogsServiceRequest>(body) {
                let _ = convert_logs(request, &limits, 1);
            }
        }
        _ => {
            if let Ok(request) = serde_json::from_slice::<ExportMetricsServiceRequest>(body) {
                let _ = convert_metrics(request, &limits);
            }
        }
    }
});
