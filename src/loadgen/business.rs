//! The shop's business metrics, as a shop's own instrumentation would report them: a model of
//! visitors checking out, and its cumulative counters, sent once a second beside the generated
//! traffic. Their Prometheus names are what the "Business" example dashboard charts:
//!
//! | OTLP metric | type, unit | Prometheus |
//! |---|---|---|
//! | `shop.active_users` | gauge, `{user}` | `shop_active_users` |
//! | `shop.orders` (attribute `status`: completed, failed, cancelled) | monotonic sum, `{order}` | `shop_orders_total{status}` |
//! | `shop.revenue` | monotonic sum, `EUR` | `shop_revenue_EUR_total` |
//! | `shop.checkout.started` | monotonic sum, `{checkout}` | `shop_checkout_started_total` |
//! | `shop.checkout.completed` | monotonic sum, `{checkout}` | `shop_checkout_completed_total` |
//!
//! All from the resource of the `checkout` service (`job="shop/checkout"`).

use lookout_proto::otlp::collector::metrics::v1::ExportMetricsServiceRequest;
use lookout_proto::otlp::metrics::v1::{
    metric::Data, number_data_point, AggregationTemporality, Gauge, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};

use super::template::Rng;
use super::traffic::{kv, resource, s, scope};

/// The shop's state: what its counters have counted since the run started.
pub struct Shop {
    rng: Rng,
    start_unix_nano: u64,
    active_users: u64,
    started: u64,
    /// completed, failed, cancelled
    orders: [u64; 3],
    revenue_cents: u64,
}

const STATUSES: [&str; 3] = ["completed", "failed", "cancelled"];

impl Shop {
    pub fn new(seed: u64, start_unix_nano: u64) -> Shop {
        Shop {
            rng: Rng::new(seed ^ 0x5407),
            start_unix_nano,
            active_users: 120,
            started: 0,
            orders: [0; 3],
            revenue_cents: 0,
        }
    }

    /// One second of shop: users come and go, a few start a checkout, most complete it.
    pub fn tick(&mut self) {
        let drift = self.rng.range(0, 21) as i64 - 10;
        self.active_users = (self.active_users as i64 + drift).clamp(40, 400) as u64;
        let checkouts = self.rng.range(0, self.active_users / 20 + 1);
        for _ in 0..checkouts {
            self.started += 1;
            let outcome = match self.rng.below(100) {
                0..=67 => 0,
                68..=71 => 1,
                _ => 2,
            };
            self.orders[outcome] += 1;
            if outcome == 0 {
                self.revenue_cents += self.rng.range(900, 12_000);
            }
        }
    }

    /// Completed checkouts: completed orders.
    pub fn completed(&self) -> u64 {
        self.orders[0]
    }

    /// The current values as one export: (request, data points).
    pub fn export(&self, now_unix_nano: u64) -> (ExportMetricsServiceRequest, u64) {
        let counter = |name: &str, unit: &str, points: Vec<(Option<&str>, f64)>| Metric {
            name: name.into(),
            unit: unit.into(),
            description: format!("{name} of the shop"),
            data: Some(Data::Sum(Sum {
                data_points: points
                    .into_iter()
                    .map(|(status, value)| NumberDataPoint {
                        attributes: status
                            .map(|st| vec![kv("status", s(st))])
                            .unwrap_or_default(),
                        start_time_unix_nano: self.start_unix_nano,
                        time_unix_nano: now_unix_nano,
                        value: Some(number_data_point::Value::AsDouble(value)),
                        ..Default::default()
                    })
                    .collect(),
                aggregation_temporality: AggregationTemporality::Cumulative as i32,
                is_monotonic: true,
            })),
            ..Default::default()
        };
        let metrics = vec![
            Metric {
                name: "shop.active_users".into(),
                unit: "{user}".into(),
                description: "Users with a session active in the last 5 minutes".into(),
                data: Some(Data::Gauge(Gauge {
                    data_points: vec![NumberDataPoint {
                        time_unix_nano: now_unix_nano,
                        value: Some(number_data_point::Value::AsInt(self.active_users as i64)),
                        ..Default::default()
                    }],
                })),
                ..Default::default()
            },
            counter(
                "shop.orders",
                "{order}",
                STATUSES
                    .iter()
                    .zip(self.orders)
                    .map(|(st, n)| (Some(*st), n as f64))
                    .collect(),
            ),
            counter(
                "shop.revenue",
                "EUR",
                vec![(None, self.revenue_cents as f64 / 100.0)],
            ),
            counter(
                "shop.checkout.started",
                "{checkout}",
                vec![(None, self.started as f64)],
            ),
            counter(
                "shop.checkout.completed",
                "{checkout}",
                vec![(None, self.completed() as f64)],
            ),
        ];
        let request = ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource("checkout", 0),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        (request, 7)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_only_grow_and_add_up() {
        let mut shop = Shop::new(1, 0);
        let mut last = 0.0;
        for _ in 0..600 {
            shop.tick();
            let revenue = shop.revenue_cents as f64;
            assert!(revenue >= last);
            last = revenue;
            assert!((40..=400).contains(&shop.active_users));
        }
        assert_eq!(shop.orders.iter().sum::<u64>(), shop.started);
        assert!(shop.completed() * 2 > shop.started);
        let (request, points) = shop.export(1);
        let counted: usize = request.resource_metrics[0].scope_metrics[0]
            .metrics
            .iter()
            .map(|m| match &m.data {
                Some(Data::Sum(s)) => s.data_points.len(),
                Some(Data::Gauge(g)) => g.data_points.len(),
                _ => 0,
            })
            .sum();
        assert_eq!(counted as u64, points);
    }
}
