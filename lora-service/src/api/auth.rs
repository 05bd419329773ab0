//! Who may call what. Endpoints that change what the service holds (adapters, blobs, records)
//! take `Authorization: Bearer <admin token>`; generation, attribution and the listings take
//! the API key (or the admin token) when one is set. `/health` and `/metrics` are open, for
//! probes and scrapers. A missing or wrong token is a 401; tokens are compared in constant time.

use std::{path::Path, sync::Arc};

use anyhow::{bail, Context};
use axum::{
	extract::{Request, State},
	http::{header, HeaderValue},
	middleware::Next,
	response::{IntoResponse, Response},
};

use super::AppState;
use crate::error::ApiError;

/// A token from the flag (or its environment variable) or from a file (its first line).
pub(super) fn token(
	value: Option<&str>,
	file: Option<&Path>,
	what: &str,
) -> anyhow::Result<Option<String>> {
	let token = match (value, file) {
		(Some(_), Some(_)) => bail!("give the {what} or a file holding it, not both"),
		(Some(value), None) => value.to_string(),
		(None, Some(file)) => std::fs::read_to_string(file)
			.with_context(|| format!("reading the {what} from {}", file.display()))?
			.lines()
			.next()
			.unwrap_or_default()
			.to_string(),
		(None, None) => return Ok(None),
	};
	let token = token.trim().to_string();
	// What a client can send in an Authorization header, and the node's worker reads as it.
	if token.len() < 16 || !token.bytes().all(|b| b.is_ascii_graphic()) {
		bail!("the {what} must be at least 16 visible ASCII characters (no spaces)");
	}
	Ok(Some(token))
}

/// Whether `given` equals `expected`, in time that depends on their lengths only.
fn same(given: &[u8], expected: &[u8]) -> bool {
	given.len() == expected.len()
		&& given.iter().zip(expected).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
}

/// The bearer token of `request`, if it has one.
fn bearer(request: &Request) -> Option<&[u8]> {
	let value = request.headers().get(header::AUTHORIZATION)?.as_bytes();
	value.strip_prefix(b"Bearer ").map(|token| token.trim_ascii())
}

fn unauthorized(message: &str) -> Response {
	let mut response = ApiError::Unauthorized("unauthorized", message.into()).into_response();
	response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
	response
}

/// Lets through requests that carry the admin token, when one is set.
pub(super) async fn admin(
	State(state): State<Arc<AppState>>,
	request: Request,
	next: Next,
) -> Response {
	match (&state.admin_token, bearer(&request)) {
		(None, _) => next.run(request).await,
		(Some(expected), Some(given)) if same(given, expected.as_bytes()) => {
			next.run(request).await
		}
		(Some(_), _) => {
			unauthorized("this endpoint changes what the service holds: it takes the admin token")
		}
	}
}

/// Lets through requests that carry the API key or the admin token, when an API key is set.
pub(super) async fn client(
	State(state): State<Arc<AppState>>,
	request: Request,
	next: Next,
) -> Response {
	let Some(key) = &state.api_key else { return next.run(request).await };
	let given = bearer(&request).unwrap_or_default();
	let admin = state.admin_token.as_ref().is_some_and(|token| same(given, token.as_bytes()));
	match same(given, key.as_bytes()) || admin {
		true => next.run(request).await,
		false => unauthorized("this service takes an API key: Authorization: Bearer <key>"),
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn tokens_compare_exactly() {
		assert!(same(b"0123456789abcdef", b"0123456789abcdef"));
		assert!(!same(b"0123456789abcdeF", b"0123456789abcdef"));
		assert!(!same(b"0123456789abcde", b"0123456789abcdef"));
		assert!(!same(b"", b"0123456789abcdef"));
	}

	#[test]
	fn tokens_come_from_a_flag_or_a_file_and_are_long_enough() {
		let dir = crate::testing::scratch("tokens");
		let file = dir.join("token");
		std::fs::write(&file, "  a-token-from-a-file-0001 \nsecond line\n").unwrap();
		assert_eq!(
			token(None, Some(&file), "admin token").unwrap().as_deref(),
			Some("a-token-from-a-file-0001")
		);
		assert_eq!(
			token(Some("a-token-on-the-flag-01"), None, "x").unwrap().as_deref(),
			Some("a-token-on-the-flag-01")
		);
		assert!(token(Some("short"), None, "x").is_err());
		assert!(token(Some("a token with spaces in it"), None, "x").is_err());
		assert!(token(Some("a-token-with-an-é-in-it"), None, "x").is_err());
		assert!(token(Some("a-token-on-the-flag-01"), Some(&file), "x").is_err());
		assert_eq!(token(None, None, "x").unwrap(), None);
	}
}
