//! The OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics` and `/v1/logs`, protobuf or JSON,
//! optionally gzip-compressed, answered in the request's encoding.

use std::io::Read;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use prost::Message;

use crate::ingest::{response_json, response_protobuf};
use crate::{Encoding, Ingest, IngestError, Protocol, Signal};

/// `google.rpc.Status`, the body of OTLP/HTTP error responses (details are not used).
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    #[prost(int32, tag = "1")]
    pub code: i32,
    #[prost(string, tag = "2")]
    pub message: String,
}

const PROTOBUF: &str = "application/x-protobuf";
const JSON: &str = "application/json";

/// The OTLP/HTTP routes.
pub fn router(ingest: Ingest) -> Router {
    Router::new()
        .route("/v1/traces", post(traces))
        .route("/v1/metrics", post(metrics))
        .route("/v1/logs", post(logs))
        .with_state(ingest)
}

async fn traces(State(ingest): State<Ingest>, headers: HeaderMap, body: Body) -> Response {
    export(ingest, Signal::Traces, headers, body).await
}

async fn metrics(State(ingest): State<Ingest>, headers: HeaderMap, body: Body) -> Response {
    export(ingest, Signal::Metrics, headers, body).await
}

async fn logs(State(ingest): State<Ingest>, headers: HeaderMap, body: Body) -> Response {
    export(ingest, Signal::Logs, headers, body).await
}

async fn export(ingest: Ingest, signal: Signal, headers: HeaderMap, body: Body) -> Response {
    let encoding = match encoding_of(&headers) {
        Ok(encoding) => encoding,
        Err(error) => {
            ingest.record_refused(Protocol::Http, signal, &error);
            return error_response(Encoding::Json, &error);
        }
    };
    match read_body(&ingest, &headers, body).await {
        Ok(bytes) => match ingest.export(Protocol::Http, signal, encoding, bytes).await {
            Ok(outcome) => {
                let body = match encoding {
                    Encoding::Protobuf => response_protobuf(signal, &outcome),
                    Encoding::Json => response_json(signal, &outcome),
                };
                ([(header::CONTENT_TYPE, content_type(encoding))], body).into_response()
            }
            Err(error) => error_response(encoding, &error),
        },
        Err(error) => {
            ingest.record_refused(Protocol::Http, signal, &error);
            error_response(encoding, &error)
        }
    }
}

/// The encoding named by `Content-Type` (its parameters, such as a charset, are ignored).
fn encoding_of(headers: &HeaderMap) -> Result<Encoding, IngestError> {
    let value = headers
        .get(header::CONTENT_TYPE)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let essence = value
        .as_deref()
        .and_then(|v| v.split(';').next())
        .map(str::trim);
    match essence {
        Some(t) if t.eq_ignore_ascii_case(PROTOBUF) => Ok(Encoding::Protobuf),
        Some(t) if t.eq_ignore_ascii_case(JSON) => Ok(Encoding::Json),
        _ => Err(IngestError::UnsupportedMediaType(format!(
            "content-type {} is not supported, use {PROTOBUF} or {JSON}",
            value.map_or_else(|| "(none)".to_string(), |t| format!("{t:?}")),
        ))),
    }
}

fn content_type(encoding: Encoding) -> HeaderValue {
    HeaderValue::from_static(match encoding {
        Encoding::Protobuf => PROTOBUF,
        Encoding::Json => JSON,
    })
}

/// Reads the body, refusing it once it passes the limit, and inflates gzip with the limit
/// applied to the inflated size.
async fn read_body(ingest: &Ingest, headers: &HeaderMap, body: Body) -> Result<Bytes, IngestError> {
    let limit = ingest.config().max_message_size.as_u64();
    let too_large = move || IngestError::TooLarge { limit };
    let gzip = match headers
        .get(header::CONTENT_ENCODING)
        .map(|v| v.to_str().unwrap_or("").trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("") | Some("identity") => false,
        Some("gzip") => true,
        Some(other) => {
            return Err(IngestError::UnsupportedMediaType(format!(
                "content-encoding {other:?} is not supported, use gzip or none"
            )))
        }
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|len| len > limit) {
        return Err(too_large());
    }
    let bytes = Limited::new(body, limit as usize)
        .collect()
        .await
        .map_err(|e| {
            if e.downcast_ref::<LengthLimitError>().is_some() {
                too_large()
            } else {
                IngestError::Malformed(format!("reading body: {e}"))
            }
        })?
        .to_bytes();
    if !gzip {
        return Ok(bytes);
    }
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || {
        let _entered = span.enter();
        let mut inflated = Vec::with_capacity((bytes.len() * 4).min(limit as usize));
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(limit + 1)
            .read_to_end(&mut inflated)
            .map_err(|e| IngestError::Malformed(format!("invalid gzip body: {e}")))?;
        if inflated.len() as u64 > limit {
            return Err(too_large());
        }
        Ok(Bytes::from(inflated))
    })
    .await
    .map_err(|e| IngestError::Internal(format!("gzip decoding failed: {e}")))?
}

fn error_response(encoding: Encoding, error: &IngestError) -> Response {
    let status = RpcStatus {
        code: error.grpc_code() as i32,
        message: error.to_string(),
    };
    let body = match encoding {
        Encoding::Protobuf => status.encode_to_vec(),
        Encoding::Json => serde_json::json!({ "code": status.code, "message": status.message })
            .to_string()
            .into_bytes(),
    };
    let mut response = (error.http_status(), body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, content_type(encoding));
    if let Some(delay) = error.retry_after() {
        headers.insert(
            header::RETRY_AFTER,
            HeaderValue::from(delay.as_secs().max(1)),
        );
    }
    response
}

impl IntoResponse for IngestError {
    fn into_response(self) -> Response {
        error_response(Encoding::Json, &self)
    }
}
