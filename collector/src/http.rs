//! The OTLP/HTTP receiver: `POST /v1/traces`, `/v1/metrics` and `/v1/logs`, protobuf or JSON,
//! optionally gzip-compressed, answered in the request's encoding.

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use bytes::BytesMut;
use http_body_util::BodyExt;
use prost::Message;

use crate::ingest::Admission;
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
        Ok((admission, gzip, bytes)) => match ingest
            .export_admitted(admission, Protocol::Http, signal, encoding, gzip, bytes)
            .await
        {
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

/// Admits the request against the in-flight budget before reading its body (charged its
/// `Content-Length` when given), then reads the body, growing the admission as it arrives and
/// refusing it once it passes the size limit. Returns the admission, whether the body is gzip
/// (inflated later, by the worker), and the body.
async fn read_body(
    ingest: &Ingest,
    headers: &HeaderMap,
    body: Body,
) -> Result<(Admission, bool, Bytes), IngestError> {
    let limit = ingest.config().max_message_size.as_u64();
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
    let mut body = body;
    if declared.is_some_and(|len| len > limit) {
        drain(&mut body).await;
        return Err(IngestError::TooLarge { limit });
    }
    let mut admission = ingest.admit(declared.unwrap_or(0) as usize)?;
    let mut bytes = BytesMut::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| IngestError::Malformed(format!("reading body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            let total = bytes.len() + data.len();
            if total as u64 > limit {
                drop((admission, bytes));
                drain(&mut body).await;
                return Err(IngestError::TooLarge { limit });
            }
            admission.grow_to(total)?;
            bytes.extend_from_slice(&data);
        }
    }
    Ok((admission, gzip, bytes.freeze()))
}

/// Reads and discards what is left of a refused body (up to `DRAIN_BYTES`, for at most
/// `DRAIN_TIME`) before the 413 is sent. A client still writing a body the server stopped
/// reading can get a broken pipe instead of the answer, and treat that as retryable: it would
/// send the oversized request again and again. Nothing drained is kept or charged.
async fn drain(body: &mut Body) {
    const DRAIN_BYTES: usize = 64 << 20;
    const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);
    let discard = async {
        let mut seen = 0;
        while let Some(Ok(frame)) = body.frame().await {
            seen += frame.data_ref().map_or(0, |d| d.len());
            if seen > DRAIN_BYTES {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(DRAIN_TIME, discard).await;
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::Request;
    use tower::ServiceExt;

    use super::*;
    use crate::ingest::tests::{body, ingest};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn overload_is_refused_before_the_body_is_read() {
        let (ingest, entered, release) = ingest(false);
        let app = router(ingest.clone());
        let first = tokio::spawn(
            app.clone().oneshot(
                Request::post("/v1/traces")
                    .header("content-type", PROTOBUF)
                    .body(Body::from(body()))
                    .unwrap(),
            ),
        );
        tokio::task::spawn_blocking(move || entered.recv().unwrap())
            .await
            .unwrap();

        // A body that never arrives: waiting for it would hang this request forever.
        let never = futures::stream::pending::<Result<Bytes, std::io::Error>>();
        let second = app.oneshot(
            Request::post("/v1/traces")
                .header("content-type", PROTOBUF)
                .header("content-length", "100")
                .body(Body::from_stream(never))
                .unwrap(),
        );
        let response = tokio::time::timeout(Duration::from_secs(30), second)
            .await
            .expect("refused without reading the body")
            .unwrap();
        assert_eq!(response.status(), http::StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(response.headers()["retry-after"], "1");

        release.send(()).unwrap();
        assert_eq!(first.await.unwrap().unwrap().status(), http::StatusCode::OK);
    }
}
