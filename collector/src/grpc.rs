//! The OTLP/gRPC receiver: `TraceService`, `MetricsService` and `LogsService` `Export`.
//!
//! The services are written against tonic's server machinery with a pass-through codec, so the
//! protobuf body reaches [`Ingest`] as bytes and is decoded on a blocking thread like the
//! OTLP/HTTP one, instead of on the async workers inside tonic.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Service};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

use crate::{Encoding, Ingest, Protocol, Signal};

/// A gRPC codec that passes message bytes through untouched, for servers and clients that
/// encode and decode protobuf themselves.
#[derive(Clone, Copy, Debug, Default)]
pub struct RawCodec;

pub struct RawEncoder;
pub struct RawDecoder;

impl Codec for RawCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = RawEncoder;
    type Decoder = RawDecoder;
    fn encoder(&mut self) -> RawEncoder {
        RawEncoder
    }
    fn decoder(&mut self) -> RawDecoder {
        RawDecoder
    }
}

impl Encoder for RawEncoder {
    type Item = Bytes;
    type Error = Status;
    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for RawDecoder {
    type Item = Bytes;
    type Error = Status;
    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}

/// Names one OTLP gRPC service.
pub trait OtlpService: Send + Sync + 'static {
    const NAME: &'static str;
    const SIGNAL: Signal;
}

pub struct TraceService;
pub struct MetricsService;
pub struct LogsService;

impl OtlpService for TraceService {
    const NAME: &'static str = "opentelemetry.proto.collector.trace.v1.TraceService";
    const SIGNAL: Signal = Signal::Traces;
}
impl OtlpService for MetricsService {
    const NAME: &'static str = "opentelemetry.proto.collector.metrics.v1.MetricsService";
    const SIGNAL: Signal = Signal::Metrics;
}
impl OtlpService for LogsService {
    const NAME: &'static str = "opentelemetry.proto.collector.logs.v1.LogsService";
    const SIGNAL: Signal = Signal::Logs;
}

/// One OTLP service as a tower service, for `tonic::transport::Server::add_service`.
pub struct ExportServer<S> {
    ingest: Ingest,
    _service: PhantomData<fn() -> S>,
}

impl<S> ExportServer<S> {
    pub fn new(ingest: Ingest) -> Self {
        ExportServer {
            ingest,
            _service: PhantomData,
        }
    }
}

impl<S> Clone for ExportServer<S> {
    fn clone(&self) -> Self {
        ExportServer::new(self.ingest.clone())
    }
}

impl<S: OtlpService> NamedService for ExportServer<S> {
    const NAME: &'static str = S::NAME;
}

struct ExportMethod {
    ingest: Ingest,
    signal: Signal,
}

impl UnaryService<Bytes> for ExportMethod {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let ingest = self.ingest.clone();
        let signal = self.signal;
        Box::pin(async move {
            let body = request.into_inner();
            match ingest
                .export(Protocol::Grpc, signal, Encoding::Protobuf, body)
                .await
            {
                Ok(outcome) => Ok(tonic::Response::new(Bytes::from(
                    crate::ingest::response_protobuf(signal, &outcome),
                ))),
                Err(e) => Err(e.to_grpc_status()),
            }
        })
    }
}

impl<S, B> Service<http::Request<B>> for ExportServer<S>
where
    S: OtlpService,
    B: http_body::Body + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<Self::Response, Infallible>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let ingest = self.ingest.clone();
        if request.uri().path() != format!("/{}/Export", S::NAME) {
            return Box::pin(
                async move { Ok(Status::unimplemented("unknown method").into_http()) },
            );
        }
        Box::pin(async move {
            let limit = ingest.config().max_message_size.as_u64() as usize;
            let mut grpc = Grpc::new(RawCodec)
                .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                .send_compressed(tonic::codec::CompressionEncoding::Gzip)
                .max_decoding_message_size(limit)
                .max_encoding_message_size(usize::MAX);
            let method = ExportMethod {
                ingest: ingest.clone(),
                signal: S::SIGNAL,
            };
            let mut response = grpc.unary(method, request).await;
            // tonic refuses an oversized frame with OUT_OF_RANGE, which OTLP clients retry
            // forever; OTLP says RESOURCE_EXHAUSTED without retry info. Our own service never
            // answers OUT_OF_RANGE, so every one here is that refusal.
            let status = response.headers().get("grpc-status").cloned();
            if status.as_ref().map(|v| v.as_bytes()) == Some(b"11") {
                response.headers_mut().insert(
                    "grpc-status",
                    http::HeaderValue::from(Code::ResourceExhausted as i32),
                );
                ingest.record_refused(
                    Protocol::Grpc,
                    S::SIGNAL,
                    &crate::IngestError::TooLarge {
                        limit: limit as u64,
                    },
                );
            }
            Ok(response)
        })
    }
}

/// The three OTLP gRPC services, to be served by `tonic::transport::Server`.
pub fn routes(ingest: Ingest) -> tonic::service::Routes {
    tonic::service::Routes::new(ExportServer::<TraceService>::new(ingest.clone()))
        .add_service(ExportServer::<MetricsService>::new(ingest.clone()))
        .add_service(ExportServer::<LogsService>::new(ingest))
}
