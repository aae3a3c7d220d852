//! `lookout demo` as a newcomer runs it: it prints the UI's address, its shop traffic shows
//! up as services, business metrics and a firing alert, and Ctrl-C (SIGTERM here) stops it
//! and deletes its temporary data.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::binary::http_request;

#[test]
fn demo_fills_every_signal_fires_an_alert_and_cleans_up() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_lookout"))
        .args([
            "demo",
            "--http-addr",
            "127.0.0.1:0",
            "--otlp-grpc-addr",
            "127.0.0.1:0",
            "--otlp-http-addr",
            "127.0.0.1:0",
        ])
        .env("LOOKOUT_LOG_FORMAT", "json")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut http, mut data_dir) = (String::new(), String::new());
    while http.is_empty() || data_dir.is_empty() {
        let line = lines
            .next()
            .expect("the demo prints its addresses")
            .unwrap();
        if let Some(rest) = line.trim().strip_prefix("Lookout demo: open http://") {
            http = rest.trim_end_matches("/ui/").to_string();
        }
        if let Some((_, rest)) = line.split_once("data in ") {
            data_dir = rest.trim_end_matches(" (deleted at exit)").to_string();
        }
    }
    assert!(std::path::Path::new(&data_dir).is_dir(), "{data_dir}");
    let (status, _) = http_request(&http, "GET", "/ui/", "");
    assert_eq!(status, 200);

    let deadline = Instant::now() + Duration::from_secs(150);
    let wanted = [
        ("/lookout/v1/services?since=5m", "\"fraud-check\""),
        ("/lookout/v1/services?since=5m", "\"checkout\""),
        ("/api/v1/query?query=shop_active_users", "shop/checkout"),
        (
            "/api/v1/query?query=sum(shop_orders_total)%20%3E%200",
            "\"result\":[{",
        ),
        ("/lookout/v1/logs?since=5m&limit=1", "\"body\""),
        ("/api/v1/alerts", "\"FraudCheckFailing\""),
    ];
    let mut missing: Vec<_> = wanted.to_vec();
    while !missing.is_empty() {
        missing.retain(|(path, needle)| {
            let (status, body) = http_request(&http, "GET", path, "");
            !(status == 200 && body.contains(needle))
        });
        assert!(
            Instant::now() < deadline,
            "the demo never showed {missing:?}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (_, body) = http_request(&http, "GET", "/api/v1/alerts", "");
        if body.contains("\"state\":\"firing\"") && body.contains("FraudCheckFailing") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the demo's alert never fired: {body}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }

    let pid = child.id() as libc::pid_t;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        !std::path::Path::new(&data_dir).exists(),
        "{data_dir} was not deleted"
    );
}
