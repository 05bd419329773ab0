//! `GET /health` (liveness: the engine runs; and the identity of the tokenizer the dataset
//! indexes are built for), `GET /ready` (readiness: it runs and the service is not draining)
//! and `GET /metrics`.

use std::sync::{atomic::Ordering, Arc};

use axum::{
	extract::State,
	http::StatusCode,
	response::{IntoResponse, Response},
	Json,
};
use serde_json::json;

use super::AppState;
use crate::{
	hash::hex,
	metrics::{self, get},
};

pub(super) async fn health(State(state): State<Arc<AppState>>) -> Response {
	let running = !state.engine_thread.is_finished();
	let body = Json(json!({
		"status": if running { "ok" } else { "engine_stopped" },
		"model": state.model_name,
		"queued": state.stats.queued.load(Ordering::Relaxed),
		"resident_adapters": state.adapters.cache().len(),
		"tokenizer_hash": format!("0x{}", hex(&state.tokenizer_identity)),
	}));
	match running {
		true => body.into_response(),
		false => (StatusCode::SERVICE_UNAVAILABLE, body).into_response(),
	}
}

pub(super) async fn ready(State(state): State<Arc<AppState>>) -> Response {
	let status = match (state.engine_thread.is_finished(), state.draining.load(Ordering::Relaxed)) {
		(true, _) => "engine_stopped",
		(false, true) => "draining",
		(false, false) => "ready",
	};
	let body = Json(json!({ "status": status }));
	match status {
		"ready" => body.into_response(),
		_ => (StatusCode::SERVICE_UNAVAILABLE, body).into_response(),
	}
}

pub(super) async fn metrics(State(state): State<Arc<AppState>>) -> impl IntoResponse {
	let m = &state.metrics;
	let e = &state.stats;
	let (resident, resident_bytes, loads, hits, evictions, load_seconds) = {
		let cache = state.adapters.cache();
		(cache.len(), cache.bytes(), cache.loads, cache.hits, cache.evictions, cache.load_seconds)
	};
	let metrics = [
		("requests_total", "counter", "Generation requests received.", get(&m.requests)),
		(
			"in_flight",
			"gauge",
			"Generation requests admitted and not yet answered.",
			get(&state.in_flight),
		),
		(
			"cancelled_total",
			"counter",
			"Requests whose client went away before they were admitted (never prefilled).",
			get(&e.cancelled),
		),
		(
			"failed_total",
			"counter",
			"Requests that failed in the model (alone: the rest of their batch went on).",
			get(&e.failed),
		),
		("refused_total", "counter", "Generation requests refused or failed.", get(&m.refused)),
		(
			"prompt_tokens_total",
			"counter",
			"Prompt tokens of served requests.",
			get(&m.prompt_tokens),
		),
		(
			"completion_tokens_total",
			"counter",
			"Tokens generated for served requests.",
			get(&m.completion_tokens),
		),
		("queue_depth", "gauge", "Requests waiting for a place in the batch.", get(&e.queued)),
		("batch_size", "gauge", "Sequences in the last decode step.", get(&e.batch_size)),
		("decode_steps_total", "counter", "Decode steps taken.", get(&e.steps)),
		(
			"decoded_tokens_total",
			"counter",
			"Tokens decoded (all rows of all steps).",
			get(&e.decoded_tokens),
		),
		("prefill_tokens_total", "counter", "Prompt tokens prefilled.", get(&e.prefill_tokens)),
		(
			"decode_tokens_per_second",
			"gauge",
			"Decode throughput of recent steps.",
			e.tokens_per_second(),
		),
		("adapter_loads_total", "counter", "Adapters loaded from disk.", loads as f64),
		(
			"adapter_fetches_total",
			"counter",
			"Adapters fetched from their URI, checked and registered.",
			get(&m.adapter_fetches),
		),
		(
			"adapter_fetch_failures_total",
			"counter",
			"Adapter fetches that failed or gave another hash.",
			get(&m.adapter_fetch_failures),
		),
		(
			"adapter_fetch_seconds_total",
			"counter",
			"Time spent fetching adapters.",
			get(&m.adapter_fetch_millis) / 1000.0,
		),
		("adapter_load_seconds_total", "counter", "Time spent loading adapters.", load_seconds),
		(
			"adapter_cache_hits_total",
			"counter",
			"Requests served by a resident adapter.",
			hits as f64,
		),
		(
			"adapter_evictions_total",
			"counter",
			"Adapters evicted from the cache.",
			evictions as f64,
		),
		("resident_adapters", "gauge", "Adapters in memory.", resident as f64),
		(
			"resident_adapter_bytes",
			"gauge",
			"Bytes the resident adapters take.",
			resident_bytes as f64,
		),
		(
			"kv_reserved_bytes",
			"gauge",
			"Key-value cache bytes set aside for the running requests (their worst case).",
			get(&e.kv_reserved_bytes),
		),
		(
			"adapter_stack_bytes",
			"gauge",
			"Bytes the batched adapter stack takes (as wide as the widest adapter in the batch).",
			get(&e.stack_bytes),
		),
		("attributions_total", "counter", "Attributions computed.", get(&m.attributions)),
		(
			"verifications_valid_total",
			"counter",
			"Claimed completions verified and found valid.",
			get(&m.verified_valid),
		),
		(
			"verifications_invalid_total",
			"counter",
			"Claimed completions verified and found invalid.",
			get(&m.verified_invalid),
		),
		(
			"verification_seconds_total",
			"counter",
			"Time spent verifying claimed completions.",
			get(&m.verify_millis) / 1000.0,
		),
		(
			"records_removed_total",
			"counter",
			"Records removed from datasets' indexes.",
			get(&m.records_removed),
		),
	];
	let mut body = metrics::render(&metrics);
	for (histogram, name, help) in [
		(
			&e.queue_wait,
			"queue_wait_seconds",
			"From a request's arrival in the queue to its admission.",
		),
		(
			&e.time_to_first_token,
			"time_to_first_token_seconds",
			"From a request's arrival in the queue to its first token.",
		),
		(&e.inter_token, "inter_token_seconds", "Between a row's consecutive tokens."),
	] {
		body.push_str(&histogram.render(name, help));
	}
	body.push_str(&m.render_models());
	([("content-type", "text/plain; version=0.0.4")], body)
}
