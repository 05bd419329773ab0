//! `POST /v1/attribution`, and the attribution of generated outputs: an output's spans found
//! in the selected datasets' records, and every credited record's share in parts per million.

use std::sync::Arc;

use axum::{
	extract::{rejection::JsonRejection, State},
	Json,
};
use serde_json::{json, Value};

use super::{
	blocking,
	openai::{AttributionOptions, AttributionRequest},
	read,
	validate::{self, parse},
	AppState,
};
use crate::{
	attribution::{normalise, weigh, Record, Segment},
	error::ApiError,
	hash::hex,
	metrics::bump,
};

/// Refuses attribution options before anything is generated for them.
pub(super) fn check(
	state: &AppState,
	options: Option<&AttributionOptions>,
) -> Result<(), ApiError> {
	let Some(options) = options else { return Ok(()) };
	validate::attribution_options(options)?;
	let indexes = read(&state.indexes).clone();
	if let Some(unknown) = options.datasets.iter().find(|id| !indexes.contains_key(id)) {
		return Err(ApiError::not_found(
			"unknown_dataset",
			format!("no records for dataset {unknown}"),
		));
	}
	Ok(())
}

/// Attribution of `text` over the datasets: the spans found and every credited record, scores
/// normalised across all the datasets to one million parts. The search runs off the async
/// workers, over the indexes published when it starts.
pub(super) async fn attribute_text(
	state: &Arc<AppState>,
	text: &str,
	options: &AttributionOptions,
) -> Result<Value, ApiError> {
	let (state, text, options) = (state.clone(), text.to_string(), options.clone());
	blocking(move || attribution_of(&state, &text, &options)).await
}

fn attribution_of(
	state: &AppState,
	text: &str,
	options: &AttributionOptions,
) -> Result<Value, ApiError> {
	validate::attribution_options(options)?;
	validate::text_bytes("text_too_large", "the text", text, state.options.max_text_bytes)?;
	let tokens = state
		.tokenizer
		.encode(text, false)
		.map_err(|e| ApiError::bad("untokenizable_text", e.to_string()))?
		.get_ids()
		.to_vec();
	let indexes = read(&state.indexes).clone();
	// Every selected dataset's segments, searched as one corpus.
	let mut segments: Vec<(u32, &Segment)> = Vec::new();
	let mut seen = std::collections::HashSet::new();
	for dataset_id in &options.datasets {
		if !seen.insert(dataset_id) {
			continue;
		}
		let Some(index) = indexes.get(dataset_id) else {
			return Err(ApiError::not_found(
				"unknown_dataset",
				format!("no records for dataset {dataset_id}"),
			));
		};
		segments.extend(index.segments().iter().map(|s| (*dataset_id, &**s)));
	}
	let searched: Vec<&Segment> = segments.iter().map(|s| s.1).collect();
	let (found, weights) = weigh(&searched, &tokens, options.min_span);
	let spans: Vec<Value> = found
		.iter()
		.map(|span| {
			json!({
				"start": span.start,
				"end": span.end,
				"occurrences": span.occurrences,
				"text": state.tokenizer.decode(&tokens[span.start..span.end], false).unwrap_or_default(),
			})
		})
		.collect();
	let weighed: Vec<(u32, &Record, f64)> = segments
		.iter()
		.zip(&weights)
		.flat_map(|((dataset_id, segment), weights)| {
			segment
				.records()
				.iter()
				.zip(weights)
				.filter(|(_, w)| **w > 0.0)
				.map(|(r, w)| (*dataset_id, r, *w))
		})
		.collect();
	bump(&state.metrics.attributions, 1);
	let scores = normalise(&weighed.iter().map(|w| w.2).collect::<Vec<_>>());
	let records: Vec<Value> = weighed
		.into_iter()
		.zip(scores)
		.map(|((dataset_id, record, _), score_ppm)| {
			json!({
				"dataset_id": dataset_id,
				"contribution_id": record.contribution_id,
				"content_hash": format!("0x{}", hex(&record.content_hash)),
				"score_ppm": score_ppm,
			})
		})
		.collect();
	Ok(json!({ "spans": spans, "records": records }))
}

pub(super) async fn attribute(
	State(state): State<Arc<AppState>>,
	body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
	let request: AttributionRequest = parse(body, &["text", "datasets", "min_span"], &[])?;
	attribute_text(&state, &request.text, &request.options).await.map(Json)
}
