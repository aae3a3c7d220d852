//! Query parameters of the Jaeger, Prometheus, Loki and Lookout APIs: the input is a path's
//! query string, sent to each of the endpoints below.
#![no_main]

#[path = "common/mod.rs"]
mod common;

use libfuzzer_sys::fuzz_target;

const PATHS: &[&str] = &[
    "/api/traces",
    "/api/services/shop/operations",
    "/api/dependencies",
    "/api/v3/traces",
    "/api/v3/operations",
    "/api/v1/series",
    "/api/v1/labels",
    "/api/v1/label/__name__/values",
    "/api/v1/query_exemplars",
    "/loki/api/v1/labels",
    "/loki/api/v1/series",
    "/loki/api/v1/index/stats",
    "/lookout/v1/traces",
    "/lookout/v1/service-map",
    "/lookout/v1/errors",
    "/lookout/v1/logs/fields",
    "/lookout/v1/services",
];

fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else {
        return;
    };
    let Ok(query) = std::str::from_utf8(rest) else {
        return;
    };
    if query.contains(['#', ' ']) {
        return; // not a query string an HTTP client can send
    }
    let path = PATHS[usize::from(which) % PATHS.len()];
    common::get(&format!("{path}?{query}"));
});
