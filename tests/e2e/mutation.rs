//! Mangled export bodies (bit flips, truncations, duplicated runs of bytes) over HTTP and gRPC:
//! every one gets 200 or 400 / INVALID_ARGUMENT, none a 500 (a panic while decoding would be
//! one), and the server stays ready. Deterministic: the same seed, the same bodies.

use bytes::Bytes;
use lookout_collector::grpc::RawCodec;
use lookout_proto::otlp::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;
use tonic::Code;

use crate::common::{assert_ready, client, start};

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut XorShift, original: &[u8]) -> Vec<u8> {
    let mut body = original.to_vec();
    for _ in 0..=rng.below(3) {
        match rng.below(4) {
            0 if !body.is_empty() => {
                let i = rng.below(body.len());
                body[i] ^= 1 << rng.below(8);
            }
            1 if !body.is_empty() => {
                let i = rng.below(body.len());
                body[i] = rng.next() as u8;
            }
            2 => body.truncate(rng.below(body.len() + 1)),
            _ if !body.is_empty() => {
                let start = rng.below(body.len());
                let end = (start + rng.below(64)).min(body.len());
                let run = body[start..end].to_vec();
                let at = rng.below(body.len());
                body.splice(at..at, run);
            }
            _ => {}
        }
    }
    body
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/e2e/data")
            .join(name),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mangled_bodies_get_clear_answers_and_never_crash() {
    let dir = tempfile::tempdir().unwrap();
    let server = start(dir.path(), |_| {}).await;
    let mut rng = XorShift(0x2545_f491_4f6c_dd1d);
    let trace_json = fixture("trace.json");
    let trace_protobuf: Vec<u8> = serde_json::from_slice::<ExportTraceServiceRequest>(&trace_json)
        .unwrap()
        .encode_to_vec();
    let cases = [
        ("/v1/traces", "application/json", trace_json.clone()),
        ("/v1/logs", "application/json", fixture("logs.json")),
        (
            "/v1/metrics",
            "application/json",
            fixture("metrics-more.json"),
        ),
        (
            "/v1/traces",
            "application/x-protobuf",
            trace_protobuf.clone(),
        ),
    ];
    let http = client();
    let mut statuses = std::collections::BTreeMap::new();
    for round in 0..300 {
        let (path, content_type, original) = &cases[round % cases.len()];
        let body = mutate(&mut rng, original);
        let response = http
            .post(format!("http://{}{path}", server.otlp_http_addr))
            .header("content-type", *content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        assert!(
            matches!(status, 200 | 400),
            "{path} {content_type}: status {status}"
        );
        *statuses.entry(status).or_insert(0) += 1;
    }
    assert!(
        statuses.len() == 2,
        "both outcomes are exercised: {statuses:?}"
    );

    let channel =
        tonic::transport::Endpoint::from_shared(format!("http://{}", server.otlp_grpc_addr))
            .unwrap()
            .connect()
            .await
            .unwrap();
    for _ in 0..200 {
        let body = Bytes::from(mutate(&mut rng, &trace_protobuf));
        let mut grpc = tonic::client::Grpc::new(channel.clone());
        grpc.ready().await.unwrap();
        let path = http::uri::PathAndQuery::from_static(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        );
        if let Err(status) = grpc.unary(tonic::Request::new(body), path, RawCodec).await {
            assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        }
    }
    assert_ready(&server).await;
    server.shutdown().await.unwrap();
}
