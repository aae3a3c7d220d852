//! The LogQL parser and evaluator (log and metric queries), through Loki's HTTP API.
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
    common::get(&format!(
        "/loki/api/v1/query_range?query={q}&start={t}&end={}&step=10&limit=50",
        t + 60
    ));
    common::get(&format!("/loki/api/v1/query?query={q}&time={}", t + 30));
});
