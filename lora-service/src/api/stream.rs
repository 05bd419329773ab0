//! Streamed answers (`stream: true`): server-sent events as OpenAI sends them. Each event is a
//! chunk of new text; text that could be the start of a stop string, or an incomplete UTF-8
//! sequence, is held back until the next token settles it; the last chunk carries the finish
//! reason, then (when `stream_options.include_usage` asks) a chunk with no choices and the
//! usage (and the attribution, when asked), then `[DONE]`. When the request asks for
//! log-probabilities, each chunk carries those of the tokens that came since the last one
//! (held-back tokens with the chunk that sends their text).

use std::{convert::Infallible, sync::Arc};

use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use serde_json::{json, Value};

use super::{
	attribution,
	completions::{usage, Answer, Generated, Queued, Token},
	logprobs,
	openai::AttributionOptions,
	AppState,
};
use crate::{error::ApiError, scheduler::TokenLogprobs};

/// How much of `text` may be sent: all of it but a tail that could begin a stop string or is
/// an incomplete character (decoded as U+FFFD until the next token completes it).
pub(super) fn settled(text: &str, stops: &[String]) -> usize {
	if let Some(at) = stops.iter().filter_map(|stop| text.find(stop.as_str())).min() {
		return at;
	}
	let mut end = text.len();
	while text[..end].ends_with('\u{FFFD}') {
		end -= '\u{FFFD}'.len_utf8();
	}
	let mut settled = end;
	for stop in stops {
		// The longest tail of the text that is a proper prefix of the stop string.
		if let Some(k) = (1..stop.len())
			.rev()
			.find(|k| stop.is_char_boundary(*k) && text[..end].ends_with(&stop[..*k]))
		{
			settled = settled.min(end - k);
		}
	}
	settled
}

enum Phase {
	Tokens,
	Usage(Generated),
	Done,
	End,
}

struct Streamer {
	queued: Option<Queued>,
	tokens: Option<tokio::sync::mpsc::UnboundedReceiver<Token>>,
	answer: Answer,
	include_usage: bool,
	attribution: Option<AttributionOptions>,
	state: Arc<AppState>,
	stops: Vec<String>,
	output: Vec<u32>,
	sent: usize,
	first: bool,
	phase: Phase,
	/// Whether the request asked for log-probabilities; those of the tokens not yet sent; the
	/// characters of the tokens sent (a completion chunk's `text_offset` starts there).
	logprobs: bool,
	pending: Vec<TokenLogprobs>,
	offset: usize,
}

impl Streamer {
	fn chunk(&mut self, text: &str, finish_reason: Option<&str>) -> Event {
		let pending = std::mem::take(&mut self.pending);
		let tokenizer = &self.state.tokenizer;
		let choice = match self.answer.chat {
			true => {
				let mut delta = json!({ "content": text });
				if std::mem::take(&mut self.first) {
					delta["role"] = json!("assistant");
				}
				let logprobs = self.logprobs.then(|| logprobs::chat(tokenizer, &pending));
				json!({ "index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": logprobs })
			}
			false => {
				let logprobs = self.logprobs.then(|| {
					let (logprobs, end) = logprobs::completion(tokenizer, &pending, self.offset);
					self.offset = end;
					logprobs
				});
				json!({ "index": 0, "text": text, "finish_reason": finish_reason, "logprobs": logprobs })
			}
		};
		self.event(json!([choice]), None)
	}

	fn event(&self, choices: Value, usage: Option<Value>) -> Event {
		let mut body = json!({
			"id": self.answer.id,
			"object": if self.answer.chat { "chat.completion.chunk" } else { "text_completion" },
			"created": self.answer.created,
			"model": self.answer.model,
			"choices": choices,
		});
		if let Some(usage) = usage {
			body["usage"] = usage;
		}
		Event::default().data(body.to_string())
	}

	fn error(error: &ApiError) -> Event {
		let kind =
			if error.status().is_client_error() { "invalid_request_error" } else { "server_error" };
		Event::default().data(
			json!({ "error": { "message": error.to_string(), "type": kind, "code": error.code() } })
				.to_string(),
		)
	}

	/// The next event, or `None` once the stream is over.
	async fn next(&mut self) -> Option<Event> {
		loop {
			match std::mem::replace(&mut self.phase, Phase::End) {
				Phase::Tokens => {
					if let Some(tokens) = self.tokens.as_mut() {
						if let Some((token, logprobs)) = tokens.recv().await {
							self.phase = Phase::Tokens;
							self.output.push(token);
							self.pending.extend(logprobs);
							let text = self
								.state
								.tokenizer
								.decode(&self.output, false)
								.unwrap_or_default();
							let ready = settled(&text, &self.stops);
							if ready > self.sent && text.is_char_boundary(self.sent) {
								let piece = text[self.sent..ready].to_string();
								self.sent = ready;
								return Some(self.chunk(&piece, None));
							}
							continue;
						}
						self.tokens = None;
					}
					// Every token has come: the outcome settles the rest.
					let queued = self.queued.take()?;
					let (state, model, started) =
						(queued.state.clone(), queued.model.clone(), queued.started);
					let generated = queued.finish().await;
					Queued::record(&state, &model, started, &generated);
					let generated = match generated {
						Ok(generated) => generated,
						Err(e) => return Some(Self::error(&e)),
					};
					let rest = match generated.text.is_char_boundary(self.sent)
						&& self.sent <= generated.text.len()
					{
						true => generated.text[self.sent..].to_string(),
						false => String::new(),
					};
					let finish = generated.finish_reason;
					self.phase = Phase::Usage(generated);
					return Some(self.chunk(&rest, Some(finish)));
				}
				Phase::Usage(generated) => {
					self.phase = Phase::Done;
					if !self.include_usage {
						continue;
					}
					let mut usage = usage(&generated);
					if let Some(options) = &self.attribution {
						match attribution::attribute_text(&self.state, &generated.text, options)
							.await
						{
							Ok(found) => usage["attribution"] = found,
							Err(e) => return Some(Self::error(&e)),
						}
					}
					return Some(self.event(json!([]), Some(usage)));
				}
				Phase::Done => {
					self.phase = Phase::End;
					return Some(Event::default().data("[DONE]"));
				}
				Phase::End => return None,
			}
		}
	}
}

/// The server-sent events of `queued`'s generation. Dropping the stream (the client went away)
/// cancels the request.
pub(super) fn sse(
	mut queued: Queued,
	answer: Answer,
	include_usage: bool,
	attribution: Option<AttributionOptions>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
	let streamer = Streamer {
		tokens: queued.tokens.take(),
		logprobs: queued.logprobs,
		pending: Vec::new(),
		offset: 0,
		state: queued.state.clone(),
		stops: queued.stops.clone(),
		queued: Some(queued),
		answer,
		include_usage,
		attribution,
		output: Vec::new(),
		sent: 0,
		first: true,
		phase: Phase::Tokens,
	};
	let events = stream::unfold(streamer, |mut streamer| async move {
		streamer.next().await.map(|event| (Ok(event), streamer))
	});
	Sse::new(events).keep_alive(KeepAlive::default())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn text_that_could_begin_a_stop_string_is_held_back() {
		let stops = vec!["STOP".to_string(), "\n\n".to_string()];
		assert_eq!(settled("hello", &stops), 5);
		assert_eq!(settled("hello ST", &stops), 6, "ST may begin STOP");
		assert_eq!(settled("hello S", &stops), 6);
		assert_eq!(settled("hello\n", &stops), 5, "a newline may begin a blank line");
		assert_eq!(settled("hello STOP and more", &stops), 6, "cut at the stop");
		assert_eq!(settled("caf\u{FFFD}", &[]), 3, "an incomplete character waits");
		assert_eq!(settled("", &stops), 0);
	}
}
