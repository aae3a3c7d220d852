//! End-to-end tests: a real Lookout (in process, or the real binary) on ephemeral ports and a
//! temporary data directory, fed by real OpenTelemetry SDK exporters and raw OTLP requests.

mod alerting;
mod bad_input;
mod binary;
mod common;
mod demo;
mod hardening;
mod json;
mod loadgen;
mod logs;
mod metrics;
mod mutation;
mod probes;
mod promdiff;
mod restart;
mod retention;
mod sdk;
mod security;
mod services;
mod traces;
