use std::time::Duration;

use lookout_storage::StorageError;

/// Why an export request was refused as a whole. Each kind maps once to a gRPC code and an HTTP
/// status ([`IngestError::grpc_code`], [`IngestError::http_status`]), following the OTLP rules:
/// permanent errors are not retried by clients, the others are retried after the hint.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The body does not decode as the declared encoding.
    #[error("malformed request: {0}")]
    Malformed(String),
    /// The body (after decompression) is larger than the configured maximum.
    #[error("request too large: more than {limit} bytes")]
    TooLarge { limit: u64 },
    /// A content type or content encoding the receiver does not speak.
    #[error("unsupported media type: {0}")]
    UnsupportedMediaType(String),
    /// Too many bytes are being ingested already: retry after the hint.
    #[error("overloaded: {inflight_limit} bytes of requests already in flight, retry later")]
    Overloaded {
        inflight_limit: u64,
        retry_after: Duration,
    },
    /// The request waited `otlp.max_queue_wait` for its turn to be written: retry after the
    /// hint (nothing of it was written).
    #[error("overloaded: waited {waited:?} for a turn to be written, retry later")]
    Backlogged {
        waited: Duration,
        retry_after: Duration,
    },
    /// Storage failed or is shutting down: retry after the hint.
    #[error("storage unavailable: {source}")]
    Unavailable {
        source: StorageError,
        retry_after: Duration,
    },
    /// Damaged stored data, or a failure inside Lookout: retrying will not help.
    #[error("internal error: {0}")]
    Internal(String),
}

impl IngestError {
    pub fn grpc_code(&self) -> tonic::Code {
        match self {
            IngestError::Malformed(_) => tonic::Code::InvalidArgument,
            IngestError::TooLarge { .. } => tonic::Code::ResourceExhausted,
            IngestError::UnsupportedMediaType(_) => tonic::Code::Unimplemented,
            IngestError::Overloaded { .. }
            | IngestError::Backlogged { .. }
            | IngestError::Unavailable { .. } => tonic::Code::Unavailable,
            IngestError::Internal(_) => tonic::Code::Internal,
        }
    }

    pub fn http_status(&self) -> http::StatusCode {
        match self {
            IngestError::Malformed(_) => http::StatusCode::BAD_REQUEST,
            IngestError::TooLarge { .. } => http::StatusCode::PAYLOAD_TOO_LARGE,
            IngestError::UnsupportedMediaType(_) => http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            IngestError::Overloaded { .. } | IngestError::Backlogged { .. } => {
                http::StatusCode::TOO_MANY_REQUESTS
            }
            IngestError::Unavailable { .. } => http::StatusCode::SERVICE_UNAVAILABLE,
            IngestError::Internal(_) => http::StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// When the client should try again, for retryable errors.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            IngestError::Overloaded { retry_after, .. }
            | IngestError::Backlogged { retry_after, .. }
            | IngestError::Unavailable { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    /// A short stable name, for the `reason` label of the rejection counter.
    pub fn reason(&self) -> &'static str {
        match self {
            IngestError::Malformed(_) => "malformed",
            IngestError::TooLarge { .. } => "too_large",
            IngestError::UnsupportedMediaType(_) => "unsupported_media_type",
            IngestError::Overloaded { .. } => "overloaded",
            IngestError::Backlogged { .. } => "queue_wait",
            IngestError::Unavailable { .. } => "storage_unavailable",
            IngestError::Internal(_) => "storage_error",
        }
    }

    pub(crate) fn from_storage(source: StorageError, retry_after: Duration) -> Self {
        if source.is_transient() {
            IngestError::Unavailable {
                source,
                retry_after,
            }
        } else {
            IngestError::Internal(source.to_string())
        }
    }

    /// The gRPC status: with a `RetryInfo` detail when retryable.
    pub fn to_grpc_status(&self) -> tonic::Status {
        use tonic_types::{ErrorDetails, StatusExt};
        match self.retry_after() {
            Some(delay) => tonic::Status::with_error_details(
                self.grpc_code(),
                self.to_string(),
                ErrorDetails::with_retry_info(Some(delay)),
            ),
            None => tonic::Status::new(self.grpc_code(), self.to_string()),
        }
    }
}
