//! Checks of request bodies and fields, before anything is done for them.

use std::{
	collections::HashSet,
	time::{SystemTime, UNIX_EPOCH},
};

use axum::{extract::rejection::JsonRejection, Json};
use serde_json::{json, Value};

use super::openai::{AttributionOptions, Generation, Stop, Unsupported};
use crate::{
	error::ApiError,
	hash::parse_hash,
	scheduler::{Sampling, MAX_TOP_LOGPROBS},
};

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
	neutral(&options.unsupported)?;
	let temperature = options.temperature.unwrap_or(0.0);
	let top_p = options.top_p.unwrap_or(1.0);
	if !(0.0..=2.0).contains(&temperature) {
		return Err(ApiError::bad("invalid_temperature", "temperature must be in [0, 2]"));
	}
	if !(top_p > 0.0 && top_p <= 1.0) {
		return Err(ApiError::bad("invalid_top_p", "top_p must be in (0, 1]"));
	}
	if options.n.is_some_and(|n| n != 1) {
		return Err(ApiError::bad("unsupported_n", "only n = 1 is served"));
	}
	let seed = options.seed.unwrap_or_else(|| {
		SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(0)
	});
	Ok(Sampling { temperature, top_p, seed })
}

/// Whether a field's value changes nothing.
type Neutral<'a> = dyn Fn(&Value) -> bool + 'a;

/// Refuses OpenAI fields the service does not implement unless they are at a value that
/// changes nothing.
pub(super) fn neutral(fields: &Unsupported) -> Result<(), ApiError> {
	let zero = |v: &Value| v.as_f64() == Some(0.0);
	let checks: [(&str, &Option<Value>, &Neutral<'_>, &str); 13] = [
		("frequency_penalty", &fields.frequency_penalty, &zero, "0"),
		("presence_penalty", &fields.presence_penalty, &zero, "0"),
		(
			"response_format",
			&fields.response_format,
			&|v| *v == json!({ "type": "text" }),
			"{\"type\": \"text\"}",
		),
		("logit_bias", &fields.logit_bias, &|v| v.as_object().is_some_and(|o| o.is_empty()), "{}"),
		("echo", &fields.echo, &|v| *v == json!(false), "false"),
		("best_of", &fields.best_of, &|v| v.as_f64() == Some(1.0), "1"),
		("suffix", &fields.suffix, &|v| v.as_str() == Some(""), "\"\""),
		("tools", &fields.tools, &|v| v.as_array().is_some_and(|a| a.is_empty()), "[]"),
		(
			"tool_choice",
			&fields.tool_choice,
			&|v| matches!(v.as_str(), Some("none" | "auto")),
			"\"none\"",
		),
		("parallel_tool_calls", &fields.parallel_tool_calls, &Value::is_boolean, "a boolean"),
		("store", &fields.store, &Value::is_boolean, "a boolean"),
		("metadata", &fields.metadata, &Value::is_object, "an object"),
		(
			"service_tier",
			&fields.service_tier,
			&|v| matches!(v.as_str(), Some("auto" | "default")),
			"\"auto\"",
		),
	];
	for (field, value, neutral, expected) in checks {
		match value {
			Some(value) if !value.is_null() && !neutral(value) => {
				return Err(ApiError::bad(
					"unsupported_parameter",
					format!("{field} is not served: it may only be {expected} (or absent)"),
				))
			}
			_ => {}
		}
	}
	Ok(())
}

/// How many alternatives each token's log-probability comes with, or `None` for no
/// log-probabilities. Chat asks with `logprobs: true` and `top_logprobs: N`; the legacy
/// completions with `logprobs: N` (and no `top_logprobs`). N is 0 to `MAX_TOP_LOGPROBS`.
pub(super) fn logprobs(options: &Generation, chat: bool) -> Result<Option<usize>, ApiError> {
	let invalid = |message: String| ApiError::bad("invalid_logprobs", message);
	// A whole number (`2` or `2.0`) from 0 to the bound.
	let count = |field: &str, value: &Value| match value.as_f64() {
		Some(n) if n.fract() == 0.0 && (0.0..=MAX_TOP_LOGPROBS as f64).contains(&n) => {
			Ok(n as usize)
		}
		_ => Err(invalid(format!("{field} must be an integer from 0 to {MAX_TOP_LOGPROBS}"))),
	};
	let given = |value: &Option<Value>| value.clone().filter(|v| !v.is_null());
	let (logprobs, top) = (given(&options.logprobs), given(&options.top_logprobs));
	let top = top.map(|v| count("top_logprobs", &v)).transpose()?;
	match chat {
		true => {
			let asked = match logprobs {
				None | Some(Value::Bool(false)) => false,
				Some(Value::Bool(true)) => true,
				// Some clients send 0 for "no".
				Some(v) if v.as_f64() == Some(0.0) => false,
				Some(_) => {
					return Err(invalid("logprobs of a chat completion is true or false".into()))
				}
			};
			match (asked, top) {
				(true, top) => Ok(Some(top.unwrap_or(0))),
				(false, Some(n)) if n > 0 => {
					Err(invalid("top_logprobs needs logprobs: true".into()))
				}
				(false, _) => Ok(None),
			}
		}
		false => {
			if top.is_some_and(|n| n > 0) {
				return Err(invalid(
					"a completion takes logprobs: N for N alternatives, not top_logprobs".into(),
				));
			}
			match logprobs {
				None | Some(Value::Bool(false)) => Ok(None),
				Some(value) => count("logprobs", &value).map(Some),
			}
		}
	}
}

pub(super) fn stops(options: &Generation) -> Result<Vec<String>, ApiError> {
	let stops = match &options.stop {
		None => Vec::new(),
		Some(Stop::One(s)) => vec![s.clone()],
		Some(Stop::Many(many)) => many.clone(),
	};
	if stops.len() > MAX_STOPS || stops.iter().any(|s| s.is_empty() || s.len() > MAX_STOP_BYTES) {
		return Err(ApiError::bad(
			"invalid_stop",
			format!(
				"stop is up to {MAX_STOPS} non-empty strings of at most {MAX_STOP_BYTES} bytes"
			),
		));
	}
	Ok(stops)
}

/// The most stop strings a request may give (OpenAI's bound), and the longest: after each
/// token the output's tail as long as the longest is decoded and searched.
pub(super) const MAX_STOPS: usize = 4;
pub(super) const MAX_STOP_BYTES: usize = 256;

/// The shortest span attribution counts: below it, a span of one or two common tokens would
/// credit (and walk) every record that holds them.
pub(super) const MIN_SPAN_FLOOR: usize = 4;
/// The most datasets one attribution searches (a model's lineage on chain has at most 16).
pub(super) const MAX_ATTRIBUTION_DATASETS: usize = 64;

/// Refuses attribution options out of bounds.
pub(super) fn attribution_options(options: &AttributionOptions) -> Result<(), ApiError> {
	if options.min_span < MIN_SPAN_FLOOR {
		return Err(ApiError::bad(
			"invalid_min_span",
			format!("min_span must be at least {MIN_SPAN_FLOOR}"),
		));
	}
	if options.datasets.is_empty() || options.datasets.len() > MAX_ATTRIBUTION_DATASETS {
		return Err(ApiError::bad(
			"invalid_datasets",
			format!("datasets names 1 to {MAX_ATTRIBUTION_DATASETS} datasets"),
		));
	}
	Ok(())
}

/// Refuses a text longer than `max` bytes, before it is tokenized.
pub(super) fn text_bytes(
	code: &'static str,
	what: &str,
	text: &str,
	max: usize,
) -> Result<(), ApiError> {
	match text.len() > max {
		true => Err(ApiError::bad(
			code,
			format!("{what} is {} bytes, above the limit of {max}", text.len()),
		)),
		false => Ok(()),
	}
}

/// A 32-byte hash in hex (`0x` optional), or a 400 naming the field.
pub(super) fn hash(code: &'static str, text: &str) -> Result<[u8; 32], ApiError> {
	parse_hash(text).ok_or_else(|| ApiError::bad(code, format!("{text:?} is not 32 bytes of hex")))
}

/// How many records a listing's page holds unless `limit` says, and the most it may.
pub(super) const DEFAULT_RECORDS_PAGE: usize = 1000;
pub(super) const MAX_RECORDS_PAGE: usize = 10_000;

/// A records listing's query: the contribution id to list after (`after`, none by default) and
/// the page's size (`limit`). Other parameters are ignored.
pub(super) fn records_page(query: &[(String, String)]) -> Result<(Option<u32>, usize), ApiError> {
	let (mut after, mut limit) = (None, None);
	for (name, value) in query {
		match name.as_str() {
			"after" => {
				let id = number(value).filter(|_| after.is_none()).ok_or_else(|| {
					ApiError::bad("invalid_after", "after is one contribution id (below 2^32)")
				})?;
				after = Some(id);
			}
			"limit" => {
				let n = number(value)
					.filter(|n| limit.is_none() && (1..=MAX_RECORDS_PAGE as u32).contains(n))
					.ok_or_else(|| {
						ApiError::bad(
							"invalid_limit",
							format!("limit is one number from 1 to {MAX_RECORDS_PAGE}"),
						)
					})?;
				limit = Some(n as usize);
			}
			_ => {}
		}
	}
	Ok((after, limit.unwrap_or(DEFAULT_RECORDS_PAGE)))
}

/// The most records one removal names.
pub(super) const MAX_REMOVED_RECORDS: usize = 1000;

/// A comma-separated list of 1 to [`MAX_REMOVED_RECORDS`] distinct contribution ids.
pub(super) fn contribution_ids(list: &str) -> Result<Vec<u32>, ApiError> {
	let invalid = |why: String| ApiError::bad("invalid_contribution_ids", why);
	let mut ids = Vec::new();
	let mut seen = HashSet::new();
	for (i, item) in list.split(',').enumerate() {
		if i == MAX_REMOVED_RECORDS {
			return Err(invalid(format!("at most {MAX_REMOVED_RECORDS} contribution ids")));
		}
		let id = number(item).ok_or_else(|| {
			invalid(format!("item {} is not a contribution id (a number below 2^32)", i + 1))
		})?;
		if !seen.insert(id) {
			return Err(invalid(format!("contribution {id} is named twice")));
		}
		ids.push(id);
	}
	Ok(ids)
}

/// Decimal digits that make a `u32` (no sign, no spaces).
fn number(text: &str) -> Option<u32> {
	match !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
		true => text.parse().ok(),
		false => None,
	}
}
