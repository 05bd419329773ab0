//! Checks of request bodies and fields, before anything is done for them.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::{extract::rejection::JsonRejection, Json};
use serde_json::Value;

use super::openai::{Generation, Stop};
use crate::{error::ApiError, hash::parse_hash, scheduler::Sampling};

/// Reads a JSON body into `T`, refusing fields other than `own` and `shared` (serde cannot
/// deny unknown fields across a flattened struct).
pub(super) fn parse<T: serde::de::DeserializeOwned>(
	body: Result<Json<Value>, JsonRejection>,
	own: &[&str],
	shared: &[&str],
) -> Result<T, ApiError> {
	let Json(value) = body.map_err(ApiError::invalid_json)?;
	if let Some(fields) = value.as_object() {
		if let Some(unknown) =
			fields.keys().find(|k| !own.contains(&k.as_str()) && !shared.contains(&k.as_str()))
		{
			return Err(ApiError::bad("invalid_json", format!("unknown field `{unknown}`")));
		}
	}
	serde_json::from_value(value).map_err(|e| ApiError::bad("invalid_json", e.to_string()))
}

pub(super) fn sampling(options: &Generation) -> Result<Sampling, ApiError> {
	if !(0.0..=2.0).contains(&options.temperature) {
		return Err(ApiError::bad("invalid_temperature", "temperature must be in [0, 2]"));
	}
	if !(options.top_p > 0.0 && options.top_p <= 1.0) {
		return Err(ApiError::bad("invalid_top_p", "top_p must be in (0, 1]"));
	}
	if options.n.is_some_and(|n| n != 1) {
		return Err(ApiError::bad("unsupported_n", "only n = 1 is served"));
	}
	if options.stream == Some(true) {
		return Err(ApiError::bad("unsupported_stream", "streaming is not served"));
	}
	let seed = options.seed.unwrap_or_else(|| {
		SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
	});
	Ok(Sampling { temperature: options.temperature, top_p: options.top_p, seed })
}

pub(super) fn stops(options: &Generation) -> Result<Vec<String>, ApiError> {
	let stops = match &options.stop {
		None => Vec::new(),
		Some(Stop::One(s)) => vec![s.clone()],
		Some(Stop::Many(many)) => many.clone(),
	};
	if stops.len() > 4 || stops.iter().any(|s| s.is_empty()) {
		return Err(ApiError::bad("invalid_stop", "stop is up to four non-empty strings"));
	}
	Ok(stops)
}

/// An adapter id is a directory name: letters, digits, `-` and `_`, at most 64.
pub(super) fn valid_id(id: &str) -> bool {
	!id.is_empty()
		&& id.len() <= 64
		&& id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
		&& id != "base"
}

/// A 32-byte hash in hex (`0x` optional), or a 400 naming the field.
pub(super) fn hash(code: &'static str, text: &str) -> Result<[u8; 32], ApiError> {
	parse_hash(text).ok_or_else(|| ApiError::bad(code, format!("{text:?} is not 32 bytes of hex")))
}
