//! Prometheus rule files (YAML, PromQL, durations, templates) and Go templates expanded with
//! labels and a value.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use lookout_alerting::template::{Data, Template};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = lookout_alerting::rules::parse(Path::new("fuzz.yaml"), text, Duration::from_secs(60));
    if let Ok(template) = Template::parse(text) {
        let data = Data {
            labels: BTreeMap::from([
                ("service_name".to_string(), "shop".to_string()),
                ("instance".to_string(), "10.0.0.1:9090".to_string()),
            ]),
            external_labels: BTreeMap::from([("cluster".to_string(), "eu".to_string())]),
            value: 0.125,
        };
        let _ = template.expand(&data);
    }
});
