//! Alerting: Prometheus-format rule files, their evaluation, alert state and notifiers.
//!
//! Not built yet (see the alerting issue). It will ask its questions through a small query
//! trait of its own and never reach into storage.
