//! The log query language (tantivy's syntax over body, severity, service, trace_id and
//! attributes), through Lookout's log search, volume and fields.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let q = common::encode(query);
    let window = "start=2026-01-01T00:00:00Z&end=2026-01-01T00:10:00Z";
    common::get(&format!("/lookout/v1/logs?query={q}&{window}&limit=20"));
    common::get(&format!(
        "/lookout/v1/logs/volume?query={q}&{window}&buckets=5"
    ));
});
