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
	attribution::{self, Segment},
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
/// normalised across all the datasets to one million parts, records in (dataset, contribution)
/// order whatever order the request names the datasets in. The search runs off the async
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
	// The selected datasets are searched as one corpus, so their order changes nothing but the
	// output's; ascending, each once, makes that explicit.
	let mut selected = options.datasets.clone();
	selected.sort_unstable();
	selected.dedup();
	let mut segments: Vec<(u32, &Segment)> = Vec::new();
	for dataset_id in selected {
		let Some(index) = indexes.get(&dataset_id) else {
			return Err(ApiError::not_found(
				"unknown_dataset",
				format!("no records for dataset {dataset_id}"),
			));
		};
		segments.extend(index.segments().iter().map(|s| (dataset_id, &**s)));
	}
	let (found, credits) = attribution::attribute(&segments, &tokens, options.min_span);
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
	bump(&state.metrics.attributions, 1);
	// In (dataset, contribution) order, as `attribute` gives them.
	let records: Vec<Value> = credits
		.into_iter()
		.map(|(dataset_id, credit)| {
			json!({
				"dataset_id": dataset_id,
				"contribution_id": credit.record.contribution_id,
				"content_hash": format!("0x{}", hex(&credit.record.content_hash)),
				"score_ppm": credit.score_ppm,
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
