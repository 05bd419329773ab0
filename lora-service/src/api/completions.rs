//! `POST /v1/completions` and `POST /v1/chat/completions`: a request is checked, tokenized,
//! bounded, queued for the scheduler (429 when the queue is full) and answered when its row
//! finishes, or streamed token by token (`stream: true`, `stream`); a client that goes away
//! takes its row out of the batch.

use std::{
	sync::{atomic::Ordering, Arc},
	time::{Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
	extract::{rejection::JsonRejection, State},
	response::{IntoResponse, Response},
	Json,
};
use serde_json::{json, Value};

use super::{
	adapters, attribution, lock, logprobs,
	openai::{
		ChatRequest, CompletionRequest, Generation, Prompt, CHAT_MAX_TOKENS, COMPLETION_MAX_TOKENS,
		GENERATION_FIELDS,
	},
	stream,
	validate::{self, parse, sampling, stops},
	AppState,
};
use crate::{
	error::ApiError,
	metrics::bump,
	scheduler::{self, stop, Finish, Outcome, Request, TokenLogprobs},
};

/// The tokens' bytes as 0x-prefixed hex, cut where the first of `stops` begins, when they
/// are not UTF-8; none when the text is their bytes.
fn raw_bytes(state: &AppState, tokens: &[u32], stops: &[String]) -> Option<String> {
	let mut bytes: Vec<u8> =
		tokens.iter().flat_map(|&t| logprobs::token_bytes(&state.tokenizer, t)).collect();
	if std::str::from_utf8(&bytes).is_ok() {
		return None;
	}
	let at = stops
		.iter()
		.filter(|stop| !stop.is_empty())
		.filter_map(|stop| bytes.windows(stop.len()).position(|w| w == stop.as_bytes()))
		.min();
	if let Some(at) = at {
		bytes.truncate(at);
	}
	Some(format!("0x{}", crate::hash::hex(&bytes)))
}

/// Generated text, why it ended, the token counts, and each token's log-probabilities when the
/// request asked.
pub(super) struct Generated {
	pub(super) text: String,
	/// The text's bytes as 0x-prefixed hex, when the tokens' bytes are not UTF-8 (the text
	/// shows U+FFFD in their place): what a verifier needs to check the output.
	pub(super) text_hex: Option<String>,
	pub(super) finish_reason: &'static str,
	pub(super) prompt_tokens: usize,
	pub(super) completion_tokens: usize,
	pub(super) logprobs: Vec<TokenLogprobs>,
}

/// Which endpoint a generation answers, with what it names its answers.
#[derive(Clone)]
pub(super) struct Answer {
	pub(super) chat: bool,
	pub(super) id: String,
	pub(super) created: u64,
	pub(super) model: String,
}

impl Answer {
	fn new(state: &AppState, chat: bool, model: &str) -> Self {
		let number = state.ids.fetch_add(1, Ordering::Relaxed);
		let id = if chat { format!("chatcmpl-{number}") } else { format!("cmpl-{number}") };
		let created =
			SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
		Self { chat, id, created, model: model.to_string() }
	}
}

/// A request in the scheduler's hands: its tokens as they come (when streamed), its outcome,
/// and what ends with it (its cancellation when dropped, its place among those in flight).
pub(super) struct Queued {
	pub(super) state: Arc<AppState>,
	pub(super) model: String,
	pub(super) prompt_tokens: usize,
	pub(super) stops: Vec<String>,
	/// Whether the request asked for log-probabilities.
	pub(super) logprobs: bool,
	pub(super) tokens: Option<tokio::sync::mpsc::UnboundedReceiver<Token>>,
	pub(super) outcome: tokio::sync::oneshot::Receiver<Outcome>,
	pub(super) started: Instant,
	_cancel: CancelOnDrop,
	_in_flight: InFlight,
}

impl Queued {
	/// The outcome, decoded and cut at the first stop string.
	pub(super) async fn finish(self) -> Result<Generated, ApiError> {
		let stopped = || ApiError::Unavailable("engine_stopped", "the engine stopped".into());
		let generation = self
			.outcome
			.await
			.map_err(|_| stopped())?
			.map_err(|e| ApiError::internal("generation_failed", e))?;
		let mut text = self
			.state
			.tokenizer
			.decode(&generation.tokens, false)
			.map_err(|e| ApiError::internal("detokenization_failed", e))?;
		stop::truncate(&mut text, &self.stops);
		let text_hex = raw_bytes(&self.state, &generation.tokens, &self.stops);
		Ok(Generated {
			text,
			text_hex,
			finish_reason: match generation.finish {
				Finish::Stop => "stop",
				Finish::Length => "length",
			},
			prompt_tokens: self.prompt_tokens,
			completion_tokens: generation.tokens.len(),
			logprobs: generation.logprobs,
		})
	}

	/// Counts and logs a finished generation.
	pub(super) fn record(
		state: &AppState,
		model: &str,
		started: Instant,
		generated: &Result<Generated, ApiError>,
	) {
		match generated {
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
			Err(e) => refused(state, model, e),
		}
	}
}

fn refused(state: &AppState, model: &str, error: &ApiError) {
	tracing::info!(model, code = error.code(), "refused: {error}");
	bump(&state.metrics.refused, 1);
}

/// A generated token as it comes, with its log-probabilities when the request asks.
pub(super) type Token = (u32, Option<TokenLogprobs>);

/// Checks, tokenizes and queues a generation; its tokens are sent as they come when `stream`.
async fn submit(
	state: &Arc<AppState>,
	answer: &Answer,
	prompt: Input<'_>,
	max_tokens: usize,
	options: &Generation,
	stream: bool,
) -> Result<Queued, ApiError> {
	let model = answer.model.as_str();
	bump(&state.metrics.requests, 1);
	let queued = queue(state, answer, prompt, max_tokens, options, stream).await;
	if let Err(e) = &queued {
		refused(state, model, e);
	}
	queued
}

async fn queue(
	state: &Arc<AppState>,
	answer: &Answer,
	prompt: Input<'_>,
	max_tokens: usize,
	options: &Generation,
	stream: bool,
) -> Result<Queued, ApiError> {
	if state.draining.load(Ordering::Relaxed) {
		return Err(ApiError::Unavailable("shutting_down", "the service is shutting down".into()));
	}
	let model = answer.model.as_str();
	let in_flight = InFlight::new(state.clone());
	let sampling = sampling(options)?;
	let logprobs = validate::logprobs(options, answer.chat)?;
	let stop_texts = stops(options)?;
	let adapter = match model {
		"base" => None,
		id => Some(
			adapters::resident(
				state,
				id,
				options.adapter_hash.as_deref(),
				options.adapter_uri.as_deref(),
			)
			.await?,
		),
	};
	let prompt = match prompt {
		Input::Text(text) => {
			let max = state.options.max_text_bytes;
			validate::text_bytes("prompt_too_large", "the prompt", text, max)?;
			state
				.tokenizer
				.encode(text, false)
				.map_err(|e| ApiError::bad("untokenizable_prompt", e.to_string()))?
				.get_ids()
				.to_vec()
		}
		Input::Tokens(tokens) => {
			let vocab = state.config.vocab_size;
			if let Some(bad) = tokens.iter().find(|&&id| id as usize >= vocab) {
				return Err(ApiError::bad(
					"invalid_token",
					format!("token {bad} is outside the vocabulary of {vocab}"),
				));
			}
			tokens.to_vec()
		}
	};
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
	let worst = scheduler::kv_bytes(&state.config, prompt.len() + max_tokens);
	if worst > state.options.kv_budget() {
		return Err(ApiError::bad(
			"prompt_too_long",
			format!(
				"{} prompt tokens and {max_tokens} to generate need {worst} bytes of key-value \
				 cache, above this service's budget of {}",
				prompt.len(),
				state.options.kv_budget()
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
	// Set when the returned `Queued` is dropped: when the client goes away, the engine drops
	// the request (before its prefill if it has not started).
	let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
	let (sender, outcome) = tokio::sync::oneshot::channel();
	let (on_token, tokens) = match stream {
		true => {
			let (sender, receiver) = tokio::sync::mpsc::unbounded_channel();
			let on_token: scheduler::OnToken = Box::new(move |token, logprobs| {
				let _ = sender.send((token, logprobs.cloned()));
			});
			(Some(on_token), Some(receiver))
		}
		false => (None, None),
	};
	let prompt_tokens = prompt.len();
	let sent = lock(&state.engine).send(Request {
		prompt,
		max_tokens,
		stop_tokens: state.stop_tokens.clone(),
		stop_check,
		on_token,
		sampling,
		logprobs,
		adapter,
		byte_limit: options
			.max_output_bytes
			.map(|max| scheduler::ByteLimit { max, lengths: state.token_lengths.clone() }),
		cancelled: Some(cancelled.clone()),
		reply: Box::new(move |result| {
			let _ = sender.send(result);
		}),
		queued_at: Instant::now(),
	});
	if sent.is_err() {
		state.stats.queued.fetch_sub(1, Ordering::Relaxed);
		return Err(ApiError::Unavailable("engine_stopped", "the engine stopped".into()));
	}
	state.metrics.count_model(model);
	Ok(Queued {
		state: state.clone(),
		model: model.to_string(),
		prompt_tokens,
		stops: stop_texts,
		logprobs: logprobs.is_some(),
		tokens,
		outcome,
		started: Instant::now(),
		_cancel: CancelOnDrop(cancelled),
		_in_flight: in_flight,
	})
}

/// A prompt as text, or as token ids.
#[derive(Clone, Copy)]
enum Input<'a> {
	Text(&'a str),
	Tokens(&'a [u32]),
}

/// Counts a generation among those in flight for as long as it lives.
pub(super) struct InFlight(Arc<AppState>);

impl InFlight {
	pub(super) fn new(state: Arc<AppState>) -> Self {
		state.in_flight.fetch_add(1, Ordering::Relaxed);
		Self(state)
	}
}

impl Drop for InFlight {
	fn drop(&mut self) {
		self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
	}
}

/// Sets its flag when dropped.
pub(super) struct CancelOnDrop(pub(super) Arc<std::sync::atomic::AtomicBool>);

impl Drop for CancelOnDrop {
	fn drop(&mut self) {
		self.0.store(true, Ordering::Relaxed);
	}
}

pub(super) fn usage(generated: &Generated) -> Value {
	json!({
		"prompt_tokens": generated.prompt_tokens,
		"completion_tokens": generated.completion_tokens,
		"total_tokens": generated.prompt_tokens + generated.completion_tokens,
	})
}

/// Generates for `prompt` and answers as `answer` says: one JSON body, or a stream.
async fn answer(
	state: Arc<AppState>,
	answer: Answer,
	prompt: Input<'_>,
	max_tokens: usize,
	options: Generation,
) -> Result<Response, ApiError> {
	let streamed = options.stream == Some(true);
	let queued = submit(&state, &answer, prompt, max_tokens, &options, streamed).await?;
	if streamed {
		let include_usage = options.stream_options.as_ref().is_some_and(|o| o.include_usage);
		return Ok(stream::sse(queued, answer, include_usage, options.attribution).into_response());
	}
	let (started, asked) = (queued.started, queued.logprobs);
	let generated = queued.finish().await;
	Queued::record(&state, &answer.model, started, &generated);
	let generated = generated?;
	let tokenizer = &state.tokenizer;
	let choice = match answer.chat {
		true => json!({
			"index": 0,
			"message": { "role": "assistant", "content": generated.text },
			"finish_reason": generated.finish_reason,
			"logprobs": asked.then(|| logprobs::chat(tokenizer, &generated.logprobs)),
		}),
		false => json!({
			"index": 0,
			"text": generated.text,
			"finish_reason": generated.finish_reason,
			"logprobs": asked.then(|| logprobs::completion(tokenizer, &generated.logprobs, 0).0),
		}),
	};
	let mut choice = choice;
	if let Some(hex) = &generated.text_hex {
		choice["text_hex"] = json!(hex);
	}
	let mut response = json!({
		"id": answer.id,
		"object": if answer.chat { "chat.completion" } else { "text_completion" },
		"created": answer.created,
		"model": answer.model,
		"choices": [choice],
		"usage": usage(&generated),
	});
	if let Some(attribution) = &options.attribution {
		response["attribution"] =
			attribution::attribute_text(&state, &generated.text, attribution).await?;
	}
	Ok(Json(response).into_response())
}

pub(super) async fn completions(
	State(state): State<Arc<AppState>>,
	body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
	let request: CompletionRequest = parse(body, &["model", "prompt"], &GENERATION_FIELDS)?;
	attribution::check(&state, request.generation.attribution.as_ref())?;
	let prompt = match &request.prompt {
		Prompt::Text(text) => Input::Text(text),
		Prompt::Tokens(tokens) => Input::Tokens(tokens),
		Prompt::Texts(texts) if texts.len() == 1 => Input::Text(&texts[0]),
		Prompt::TokenLists(lists) if lists.len() == 1 => Input::Tokens(&lists[0]),
		Prompt::Texts(_) | Prompt::TokenLists(_) => {
			return Err(ApiError::bad("unsupported_prompts", "one prompt per request is served"))
		}
	};
	let max_tokens = request.max_tokens.unwrap_or(COMPLETION_MAX_TOKENS);
	let named = Answer::new(&state, false, &request.model);
	answer(state, named, prompt, max_tokens, request.generation).await
}

pub(super) async fn chat_completions(
	State(state): State<Arc<AppState>>,
	body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
	let request: ChatRequest =
		parse(body, &["model", "messages", "max_completion_tokens"], &GENERATION_FIELDS)?;
	let prompt = state.chat.render(&request.messages)?;
	attribution::check(&state, request.generation.attribution.as_ref())?;
	let max_tokens = request.max_tokens.unwrap_or(CHAT_MAX_TOKENS);
	let named = Answer::new(&state, true, &request.model);
	answer(state, named, Input::Text(&prompt), max_tokens, request.generation).await
}
