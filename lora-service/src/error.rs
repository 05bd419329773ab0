//! The service's one error type. Every refusal and failure is a status and a stable code, and
//! answers with a JSON body `{"error": {"message", "type", "code"}}` (`type` is OpenAI's
//! `invalid_request_error` for 4xx, `server_error` for 5xx).

use axum::{
	extract::rejection::{BytesRejection, JsonRejection},
	http::StatusCode,
	response::{IntoResponse, Response},
	Json,
};
use serde_json::json;

/// A refusal or failure: each variant is an HTTP status, with a code and a message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
	/// 400: malformed, or out of the service's bounds.
	#[error("{1}")]
	BadRequest(&'static str, String),
	/// 401: a token is required and was not given, or is wrong.
	#[error("{1}")]
	Unauthorized(&'static str, String),
	/// 404: no such endpoint, adapter, dataset or blob.
	#[error("{1}")]
	NotFound(&'static str, String),
	/// 405.
	#[error("{1}")]
	MethodNotAllowed(&'static str, String),
	/// 409: it exists already, or its hash is not the one expected.
	#[error("{1}")]
	Conflict(&'static str, String),
	/// 413: the body is larger than the route takes.
	#[error("{1}")]
	PayloadTooLarge(&'static str, String),
	/// 415: the body is not JSON.
	#[error("{1}")]
	UnsupportedMediaType(&'static str, String),
	/// 422: well-formed, but not something the service can use (an adapter it cannot load).
	#[error("{1}")]
	Unprocessable(&'static str, String),
	/// 429: the queue is full; try again shortly.
	#[error("{1}")]
	TooManyRequests(&'static str, String),
	/// 500: the service failed.
	#[error("{1}")]
	Internal(&'static str, String),
	/// 502: a source the service fetches from (an adapter's URI) failed.
	#[error("{1}")]
	BadGateway(&'static str, String),
	/// 503: the service cannot serve now (the engine stopped, or it is shutting down).
	#[error("{1}")]
	Unavailable(&'static str, String),
}

impl ApiError {
	pub fn bad(code: &'static str, message: impl Into<String>) -> Self {
		Self::BadRequest(code, message.into())
	}

	pub fn not_found(code: &'static str, message: impl Into<String>) -> Self {
		Self::NotFound(code, message.into())
	}

	pub fn conflict(code: &'static str, message: impl Into<String>) -> Self {
		Self::Conflict(code, message.into())
	}

	pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
		Self::Unprocessable(code, message.into())
	}

	pub fn internal(code: &'static str, error: impl std::fmt::Display) -> Self {
		Self::Internal(code, error.to_string())
	}

	pub fn status(&self) -> StatusCode {
		match self {
			Self::BadRequest(..) => StatusCode::BAD_REQUEST,
			Self::Unauthorized(..) => StatusCode::UNAUTHORIZED,
			Self::NotFound(..) => StatusCode::NOT_FOUND,
			Self::MethodNotAllowed(..) => StatusCode::METHOD_NOT_ALLOWED,
			Self::Conflict(..) => StatusCode::CONFLICT,
			Self::PayloadTooLarge(..) => StatusCode::PAYLOAD_TOO_LARGE,
			Self::UnsupportedMediaType(..) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
			Self::Unprocessable(..) => StatusCode::UNPROCESSABLE_ENTITY,
			Self::TooManyRequests(..) => StatusCode::TOO_MANY_REQUESTS,
			Self::Internal(..) => StatusCode::INTERNAL_SERVER_ERROR,
			Self::BadGateway(..) => StatusCode::BAD_GATEWAY,
			Self::Unavailable(..) => StatusCode::SERVICE_UNAVAILABLE,
		}
	}

	/// The stable, machine-readable code (`queue_full`, `unknown_adapter`, …).
	pub fn code(&self) -> &'static str {
		match self {
			Self::BadRequest(code, _)
			| Self::Unauthorized(code, _)
			| Self::NotFound(code, _)
			| Self::MethodNotAllowed(code, _)
			| Self::Conflict(code, _)
			| Self::PayloadTooLarge(code, _)
			| Self::UnsupportedMediaType(code, _)
			| Self::Unprocessable(code, _)
			| Self::TooManyRequests(code, _)
			| Self::Internal(code, _)
			| Self::BadGateway(code, _)
			| Self::Unavailable(code, _) => code,
		}
	}

	/// A JSON body the extractor refused: too large, not JSON, or not the shape expected.
	pub fn invalid_json(rejection: JsonRejection) -> Self {
		Self::rejected(rejection.status(), rejection.body_text())
	}

	/// A body that could not be read: too large, or cut short.
	pub fn unreadable_body(rejection: BytesRejection) -> Self {
		Self::rejected(rejection.status(), rejection.body_text())
	}

	fn rejected(status: StatusCode, message: String) -> Self {
		match status {
			StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge("body_too_large", message),
			StatusCode::UNSUPPORTED_MEDIA_TYPE => {
				Self::UnsupportedMediaType("invalid_json", message)
			}
			_ => Self::BadRequest("invalid_json", message),
		}
	}
}

impl IntoResponse for ApiError {
	fn into_response(self) -> Response {
		let status = self.status();
		let kind = if status.is_client_error() { "invalid_request_error" } else { "server_error" };
		if status.is_server_error() {
			tracing::warn!(code = self.code(), "{self}");
		}
		let body =
			json!({ "error": { "message": self.to_string(), "type": kind, "code": self.code() } });
		(status, Json(body)).into_response()
	}
}

/// What a panic said: its message when it had one (`panic!` with a literal or a format).
pub fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
	panic
		.downcast_ref::<&str>()
		.map(|s| s.to_string())
		.or_else(|| panic.downcast_ref::<String>().cloned())
		.unwrap_or_else(|| "a panic".into())
}
