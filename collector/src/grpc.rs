//! The OTLP/gRPC receiver: `TraceService`, `MetricsService` and `LogsService` `Export`.
//!
//! The services are written against tonic's server machinery with a pass-through codec, so the
//! protobuf body reaches [`Ingest`] as bytes and is decoded on a blocking thread like the
//! OTLP/HTTP one, instead of on the async workers inside tonic.

use std::convert::Infallible;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Buf, BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::{BoxFuture, Service};
use tonic::server::{Grpc, NamedService, UnaryService};
use tonic::{Code, Status};

use crate::{Admission, Encoding, Ingest, Protocol, Signal};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

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

/// The admission of one request, shared by its body (which grows it as frames arrive) and the
/// export (which takes it once tonic has decoded the message).
#[derive(Clone)]
struct AdmissionSlot(Arc<Mutex<Option<Admission>>>);

/// A request body that charges the in-flight budget as its bytes arrive, and fails with
/// UNAVAILABLE (and a retry hint) once the budget is spent, before tonic buffers more of it.
struct AdmittedBody<B> {
    inner: Pin<Box<B>>,
    slot: AdmissionSlot,
    seen: usize,
}

impl<B> http_body::Body for AdmittedBody<B>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        match this.inner.as_mut().poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.seen += data.len();
                    let grown = match this.slot.0.lock() {
                        Ok(mut admission) => {
                            admission.as_mut().map_or(Ok(()), |a| a.grow_to(this.seen))
                        }
                        Err(_) => Ok(()),
                    };
                    if let Err(error) = grown {
                        return Poll::Ready(Some(Err(Box::new(error.to_grpc_status()))));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => Poll::Ready(Some(Err(e.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl UnaryService<Bytes> for ExportMethod {
    type Response = Bytes;
    type Future = BoxFuture<tonic::Response<Bytes>, Status>;

    fn call(&mut self, request: tonic::Request<Bytes>) -> Self::Future {
        let ingest = self.ingest.clone();
        let signal = self.signal;
        let admission = request
            .extensions()
            .get::<AdmissionSlot>()
            .and_then(|slot| slot.0.lock().ok()?.take());
        Box::pin(async move {
            let body = request.into_inner();
            let result = match admission {
                Some(admission) => {
                    ingest
                        .export_admitted(
                            admission,
                            Protocol::Grpc,
                            signal,
                            Encoding::Protobuf,
                            false,
                            body,
                        )
                        .await
                }
                None => {
                    ingest
                        .export(Protocol::Grpc, signal, Encoding::Protobuf, body)
                        .await
                }
            };
            match result {
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
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError> + Send + 'static,
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
        // Admit before tonic reads the message, and charge its bytes as they arrive, so bytes
        // being received are bounded by the budget, not by clients x max_message_size.
        let admission = match ingest.admit(0) {
            Ok(admission) => admission,
            Err(error) => {
                ingest.record_refused(Protocol::Grpc, S::SIGNAL, &error);
                return Box::pin(async move { Ok(error.to_grpc_status().into_http()) });
            }
        };
        let slot = AdmissionSlot(Arc::new(Mutex::new(Some(admission))));
        let (mut parts, body) = request.into_parts();
        parts.extensions.insert(slot.clone());
        let request = http::Request::from_parts(
            parts,
            AdmittedBody {
                inner: Box::pin(body),
                slot,
                seen: 0,
            },
        );
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use bytes::{BufMut, BytesMut};
    use http_body_util::{Full, StreamBody};
    use tower::ServiceExt;

    use super::*;
    use crate::ingest::tests::{body, ingest};

    fn export_request<B>(body: B) -> http::Request<B> {
        http::Request::post(format!("/{}/Export", TraceService::NAME))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .body(body)
            .unwrap()
    }

    /// A gRPC message: uncompressed flag, big-endian length, the message.
    fn framed(message: Bytes) -> Full<Bytes> {
        let mut frame = BytesMut::with_capacity(message.len() + 5);
        frame.put_u8(0);
        frame.put_u32(message.len() as u32);
        frame.put(message);
        Full::new(frame.freeze())
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overload_is_refused_before_the_message_is_read() {
        let (ingest, entered, release) = ingest(false);
        let server = ExportServer::<TraceService>::new(ingest);
        let first = tokio::spawn(server.clone().oneshot(export_request(framed(body()))));
        tokio::task::spawn_blocking(move || entered.recv().unwrap())
            .await
            .unwrap();

        // A message that never arrives: waiting for it would hang this request forever.
        let never = futures::stream::pending::<Result<http_body::Frame<Bytes>, std::io::Error>>();
        let second = server.oneshot(export_request(StreamBody::new(never)));
        let response = tokio::time::timeout(Duration::from_secs(30), second)
            .await
            .expect("refused without reading the message")
            .unwrap();
        assert_eq!(response.headers()["grpc-status"], "14", "UNAVAILABLE");

        release.send(()).unwrap();
        let response = first.await.unwrap().unwrap();
        assert_eq!(response.status(), http::StatusCode::OK);
        assert!(
            response.headers().get("grpc-status").is_none(),
            "OK comes in the trailers"
        );
    }
}
