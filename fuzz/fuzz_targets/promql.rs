//! PromQL parsing and evaluation over a small store, through Prometheus's HTTP API (instant
//! and range queries).
#![no_main]

#[path = "common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let q = common::encode(query);
    let t = common::T0;
    common::get(&format!("/api/v1/query?query={q}&time={}", t + 600));
    common::get(&format!(
        "/api/v1/query_range?query={q}&start={t}&end={}&step=30",
        t + 900
    ));
});
