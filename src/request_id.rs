//! Request ids and request logging for both servers: every request gets an `x-request-id`
//! (the client's, or a new UUID), echoed in the response and recorded on its log span.

use http::Request;
use tower::ServiceBuilder;
use tower_http::classify::{GrpcErrorsAsFailures, ServerErrorsAsFailures, SharedClassifier};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnFailure, DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::Level;

/// The log span of one request, carrying its id.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestSpan;

impl<B> MakeSpan<B> for RequestSpan {
    fn make_span(&mut self, request: &Request<B>) -> tracing::Span {
        let request_id = request
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        tracing::info_span!(
            "request",
            request_id,
            method = %request.method(),
            path = %request.uri().path(),
        )
    }
}

type Layers<C> = ServiceBuilder<
    tower::layer::util::Stack<
        PropagateRequestIdLayer,
        tower::layer::util::Stack<
            TraceLayer<
                SharedClassifier<C>,
                RequestSpan,
                tower_http::trace::DefaultOnRequest,
                DefaultOnResponse,
                tower_http::trace::DefaultOnBodyChunk,
                tower_http::trace::DefaultOnEos,
                DefaultOnFailure,
            >,
            tower::layer::util::Stack<
                SetRequestIdLayer<MakeRequestUuid>,
                tower::layer::util::Identity,
            >,
        >,
    >,
>;

/// Request ids and request logging around `trace` (whose classifier decides what a failure is).
fn with_request_ids<C>(trace: TraceLayer<SharedClassifier<C>>) -> Layers<C> {
    ServiceBuilder::new()
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .layer(
            trace
                .make_span_with(RequestSpan)
                .on_response(DefaultOnResponse::new().level(Level::DEBUG))
                // Refusals are counted in metrics; a log line each would flood under overload.
                .on_failure(DefaultOnFailure::new().level(Level::DEBUG)),
        )
        .layer(PropagateRequestIdLayer::x_request_id())
}

/// Layers for an HTTP server (5xx responses are failures).
pub fn http_layers() -> Layers<ServerErrorsAsFailures> {
    with_request_ids(TraceLayer::new_for_http())
}

/// Layers for the gRPC server (non-OK statuses are failures).
pub fn grpc_layers() -> Layers<GrpcErrorsAsFailures> {
    with_request_ids(TraceLayer::new_for_grpc())
}
