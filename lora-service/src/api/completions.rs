//! `POST /v1/completions` and `POST /v1/chat/completions`: a request is checked, tokenized,
//! bounded, queued for the scheduler (429 when the queue is full) and answered when its row
//! finishes; a client that goes away takes its row out of the batch.

use std::{
	sync::{atomic::Ordering, Arc},
	time::{SystemTime, UNIX_EPOCH},
};

use axum::{
	extract::{rejection::JsonRejection, State},
	Json,
};
use serde_json::{json, Value};

use super::{
	adapters, attribution, lock,
	openai::{ChatRequest, CompletionRequest, Generation, CHAT_MAX_TOKENS, GENERATION_FIELDS},
	validate::{self, parse, sampling, stops},
	AppState,
};
use crate::{
	error::ApiError,
	metrics::bump,
	scheduler::{stop, Finish, Request},
};

/// Generated text, why it ended, and the token counts.
struct Generated {
	text: String,
	finish_reason: &'static str,
	prompt_tokens: usize,
	completion_tokens: usize,
}

async fn generate(
	state: &AppState,
	model: &str,
	prompt: &str,
	max_tokens: usize,
	options: &Generation,
) -> Result<Generated, ApiError> {
	bump(&state.metrics.requests, 1);
	let started = std::time::Instant::now();
	let generated = generate_counted(state, model, prompt, max_tokens, options).await;
	match &generated {
		Ok(done) => {
			tracing::info!(
				model,
				prompt_tokens = done.prompt_tokens,
				completion_tokens = done.completion_tokens,
				finish = done.finish_reason,
				"generated in {:.2?}",
				started.elapsed()
			);
			bump(&state.metrics.prompt_tokens, done.prompt_tokens as u64);
			bump(&state.metrics.completion_tokens, done.completion_tokens as u64);
		}
		Err(e) => {
			tracing::info!(model, code = e.code(), "refused: {e}");
			bump(&state.metrics.refused, 1)
		}
	}
	generated
}

async fn generate_counted(
	state: &AppState,
	model: &str,
	prompt: &str,
	max_tokens: usize,
	options: &Generation,
) -> Result<Generated, ApiError> {
	let sampling = sampling(options)?;
	let stop_texts = stops(options)?;
	let adapter = match model {
		"base" => None,
		id => Some(adapters::resident(state, id, options.adapter_hash.as_deref())?),
	};
	validate::text_bytes("prompt_too_large", "the prompt", prompt, state.options.max_text_bytes)?;
	let prompt = state
		.tokenizer
		.encode(prompt, false)
		.map_err(|e| ApiError::bad("untokenizable_prompt", e.to_string()))?
		.get_ids()
		.to_vec();
	if prompt.is_empty() {
		return Err(ApiError::bad("empty_prompt", "the prompt is empty"));
	}
	if prompt.len() > state.options.max_prompt_tokens
		|| max_tokens > state.config.context_length.saturating_sub(prompt.len())
	{
		return Err(ApiError::bad(
			"prompt_too_long",
			format!(
				"{} prompt tokens and {} to generate exceed the limits ({} prompt tokens, {} in all)",
				prompt.len(),
				max_tokens,
				state.options.max_prompt_tokens,
				state.config.context_length
			),
		));
	}
	let queued = state.stats.queued.fetch_add(1, Ordering::Relaxed);
	if queued >= state.options.max_queue as u64 {
		state.stats.queued.fetch_sub(1, Ordering::Relaxed);
		return Err(ApiError::TooManyRequests(
			"queue_full",
			format!("{queued} requests are waiting; try again shortly"),
		));
	}
	let stop_check = stop::check(state.tokenizer.clone(), stop_texts.clone());
	let stopped = || ApiError::Unavailable("engine_stopped", "the engine stopped".into());
	// Dropped with this future: when the client goes away, the engine drops the request.
	let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
	let _guard = CancelOnDrop(cancelled.clone());
	let (sender, receiver) = tokio::sync::oneshot::channel();
	let prompt_tokens = prompt.len();
	let sent = lock(&state.engine).send(Request {
		prompt,
		max_tokens,
		stop_tokens: state.stop_tokens.clone(),
		stop_check,
		sampling,
		adapter,
		cancelled: Some(cancelled),
		reply: Box::new(move |result| {
			let _ = sender.send(result);
		}),
	});
	if sent.is_err() {
		state.stats.queued.fetch_sub(1, Ordering::Relaxed);
		return Err(stopped());
	}
	let (output, finish) = receiver
		.await
		.map_err(|_| stopped())?
		.map_err(|e| ApiError::internal("generation_failed", e))?;
	let mut text = state
		.tokenizer
		.decode(&output, false)
		.map_err(|e| ApiError::internal("detokenization_failed", e))?;
	stop::truncate(&mut text, &stop_texts);
	Ok(Generated {
		text,
		finish_reason: match finish {
			Finish::Stop => "stop",
			Finish::Length => "length",
		},
		prompt_tokens,
		completion_tokens: output.len(),
	})
}

/// Sets its flag when dropped.
struct CancelOnDrop(Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
	fn drop(&mut self) {
		self.0.store(true, Ordering::Relaxed);
	}
}

fn usage(generated: &Generated) -> Value {
	json!({
		"prompt_tokens": generated.prompt_tokens,
		"completion_tokens": generated.completion_tokens,
		"total_tokens": generated.prompt_tokens + generated.completion_tokens,
	})
}

fn now() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub(super) async fn completions(
	State(state): State<Arc<AppState>>,
	body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
	let request: CompletionRequest = parse(body, &["model", "prompt"], &GENERATION_FIELDS)?;
	let options = &request.generation;
	attribution::check(&state, options.attribution.as_ref())?;
	let generated =
		generate(&state, &request.model, &request.prompt, request.max_tokens, options).await?;
	let mut response = json!({
		"id": format!("cmpl-{}", state.ids.fetch_add(1, Ordering::Relaxed)),
		"object": "text_completion",
		"created": now(),
		"model": request.model,
		"choices": [{
			"index": 0,
			"text": generated.text,
			"finish_reason": generated.finish_reason,
			"logprobs": null,
		}],
		"usage": usage(&generated),
	});
	if let Some(attribution) = &options.attribution {
		response["attribution"] =
			attribution::attribute_text(&state, &generated.text, attribution)?;
	}
	Ok(Json(response))
}

pub(super) async fn chat_completions(
	State(state): State<Arc<AppState>>,
	body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
	let request: ChatRequest =
		parse(body, &["model", "messages", "max_completion_tokens"], &GENERATION_FIELDS)?;
	let prompt = state.chat.render(&request.messages)?;
	let options = &request.generation;
	attribution::check(&state, options.attribution.as_ref())?;
	let max_tokens = request.max_tokens.unwrap_or(CHAT_MAX_TOKENS);
	let generated = generate(&state, &request.model, &prompt, max_tokens, options).await?;
	let mut response = json!({
		"id": format!("chatcmpl-{}", state.ids.fetch_add(1, Ordering::Relaxed)),
		"object": "chat.completion",
		"created": now(),
		"model": request.model,
		"choices": [{
			"index": 0,
			"message": { "role": "assistant", "content": generated.text },
			"finish_reason": generated.finish_reason,
			"logprobs": null,
		}],
		"usage": usage(&generated),
	});
	if let Some(attribution) = &options.attribution {
		response["attribution"] =
			attribution::attribute_text(&state, &generated.text, attribution)?;
	}
	Ok(Json(response))
}
