//! The off-chain worker: serves the requests assigned to this node's operator keys.
//!
//! Each block, for every operator key in the node's keystore (pallet-providers'
//! `offchain::crypto`), the worker takes the open requests assigned to it and, for each one not already being served
//! or submitted, calls the LoRA service the node was given (`POST {url}/v1/completions`): the
//! adapter id as the model, the adapter's on-chain hash and URI (a service that lacks the adapter
//! fetches it from there and checks it against the hash), the prompt, `max_tokens`,
//! `max_output_bytes` (`MaxOutputLength`: generation ends before a token that would pass it),
//! temperature 0 and attribution over the adapter's lineage datasets, with an HTTP deadline of
//! [`HTTP_DEADLINE_MS`]. The output it submits is the completion's bytes (`text_hex` when they
//! are not UTF-8, else `text`). It maps each attributed record's content hash to its contribution
//! through pallet-datasets' hash index, drops records outside the lineage or not accepted, keeps
//! the `MaxAttributions` best-scored, and submits `submit_result` signed by the operator key.
//!
//! A request is served while a block remains before its deadline (a result sent from the
//! deadline's own block would land after it). A persistent lock per request keeps two workers
//! (one per block, possibly running at once) from serving it twice; a persistent marker keeps
//! a submitted result from being sent again for [`RESUBMIT_AFTER_MS`] (wall-clock time after
//! its submission).
//!
//! - A service that is down, or answers an error that is not the request's doing (an unknown
//!   adapter, a full queue), is logged and the request retried on a later block; if it never
//!   answers, the request expires and the provider is penalised.
//! - A prompt the service refuses as too long for the model or for its byte bound (HTTP 413,
//!   or the error codes `prompt_too_long` and `prompt_too_large`) is declined (`decline`, [`DeclineReason::PromptTooLong`]): the
//!   requester pays the base fee and the provider is not penalised.
//! - An output longer than `MaxOutputLength` (from a service that ignores `max_output_bytes`)
//!   is cut at the last character boundary within it and submitted marked `truncated`, its
//!   output tokens counted in proportion to the bytes kept (rounded down). The completion
//!   carries no token offsets, so the cut falls on a character, not necessarily a token,
//!   boundary; the rounding is in the requester's favour.
//! - Token counts past the request's bounds (more output tokens than `max_tokens` or than the
//!   output has bytes, more prompt tokens than the prompt has bytes) are lowered to them, which
//!   only lowers the fee, and scores summing past a million are scaled down to a million, so
//!   that the chain takes the result.

use alloc::{
	collections::BTreeMap,
	format,
	string::{String, ToString},
	vec,
	vec::Vec,
};

use codec::Encode;
use polkadot_sdk::{
	frame_support::pallet_prelude::*,
	frame_system::{
		self,
		offchain::{Account, SendSignedTransaction, Signer},
		pallet_prelude::*,
	},
	sp_io,
	sp_runtime::offchain::{
		http,
		storage::StorageValueRef,
		storage_lock::{BlockAndTime, StorageLock},
		Duration,
	},
};
use serde::{Deserialize, Serialize};
use tributary_primitives::{
	ContentHash, ContributionId, DatasetId, DatasetsInspect, LineageLedger, ModelsInspect,
};

use crate::{
	AttributedRecord, Call, Config, DeclineReason, Pallet, RequestId, RequestOf, Requests,
};

/// The persistent off-chain storage key under which the node stores the LoRA service's URL
/// (a SCALE-encoded `Vec<u8>` of UTF-8), from its `--lora-service-url`.
pub const LORA_SERVICE_URL_KEY: &[u8] = b"tributary::lora-service-url";

/// The persistent off-chain storage key under which the node stores the key the LoRA service
/// asks generation requests for (its `--api-key`; a SCALE-encoded `Vec<u8>`), from its
/// `--lora-service-api-key-file`. The worker sends it as `Authorization: Bearer <key>`.
pub const LORA_SERVICE_API_KEY_KEY: &[u8] = b"tributary::lora-service-api-key";

/// How long the worker waits for the LoRA service to answer one request.
pub const HTTP_DEADLINE_MS: u64 = 90_000;

/// Milliseconds after its submission (wall-clock time) a result that has not settled its
/// request is sent again.
pub const RESUBMIT_AFTER_MS: u64 = 60_000;

/// The largest answer the worker reads from the service.
pub const MAX_ANSWER_BYTES: usize = 1 << 20;

const LOCK_PREFIX: &[u8] = b"tributary/inference/serving/";
const SERVED_PREFIX: &[u8] = b"tributary/inference/served/";
const LOG_TARGET: &str = "runtime::inference";

/// Why a request was not served this time.
#[derive(PartialEq, Eq, Debug)]
pub enum ServeError {
	/// The node was given no LoRA service URL.
	NoServiceUrl,
	/// The request's adapter has no lineage.
	NoLineage,
	/// The HTTP request failed or passed its deadline.
	Http(&'static str),
	/// The service answered with this status (and body).
	Status(u16, String),
	/// The service's answer is not the JSON a completion is.
	Malformed,
	/// The transaction pool refused the signed result.
	Pool,
}

/// What the service answered.
enum Answer {
	/// A completion.
	Completion(Completion),
	/// A refusal that is the request's doing: the request is declined.
	Refused(DeclineReason),
}

#[derive(Serialize)]
struct CompletionBody<'a> {
	model: String,
	prompt: &'a str,
	max_tokens: u32,
	/// `MaxOutputLength`: the service ends generation before a token that would pass it, so
	/// that the output is never cut and every token of it can be verified.
	max_output_bytes: u32,
	temperature: u8,
	adapter_hash: String,
	/// Where the service fetches the adapter from if it lacks it (checked against
	/// `adapter_hash` there); left out when the adapter has no URI, or one that is not UTF-8.
	#[serde(skip_serializing_if = "Option::is_none")]
	adapter_uri: Option<String>,
	attribution: AttributionBody,
}

#[derive(Serialize)]
struct AttributionBody {
	datasets: Vec<DatasetId>,
}

#[derive(Deserialize)]
struct Completion {
	choices: Vec<Choice>,
	usage: Usage,
	attribution: Option<Attribution>,
}

#[derive(Deserialize)]
struct Choice {
	text: String,
	/// The output's bytes as `0x…` hex, given when they are not UTF-8 (`text` then shows
	/// U+FFFD in their place): what is submitted, so that the output is its tokens' bytes.
	text_hex: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
	prompt_tokens: u32,
	completion_tokens: u32,
}

#[derive(Deserialize)]
struct Attribution {
	records: Vec<CitedRecord>,
}

#[derive(Deserialize)]
struct CitedRecord {
	dataset_id: DatasetId,
	content_hash: String,
	score_ppm: u32,
}

/// An OpenAI-style error answer.
#[derive(Deserialize)]
struct ErrorAnswer {
	error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
	code: Option<String>,
}

/// The LoRA service URL the node stored, if any.
pub fn lora_service_url() -> Option<Vec<u8>> {
	StorageValueRef::persistent(LORA_SERVICE_URL_KEY).get::<Vec<u8>>().ok().flatten()
}

/// The LoRA service's API key the node stored, if any: visible ASCII only, as the node writes
/// it (anything else, which only the unsafe off-chain storage RPC could have written, counts as
/// none and is never put into a header).
pub fn lora_service_api_key() -> Option<Vec<u8>> {
	StorageValueRef::persistent(LORA_SERVICE_API_KEY_KEY)
		.get::<Vec<u8>>()
		.ok()
		.flatten()
		.filter(|key| !key.is_empty() && key.iter().all(u8::is_ascii_graphic))
}

impl<T: Config> Pallet<T> {
	/// Serves the open requests assigned to this node's operator keys.
	pub(crate) fn serve_assigned(now: BlockNumberFor<T>) {
		for account in Signer::<T, T::AuthorityId>::keystore_accounts() {
			for request_id in Self::assigned_to(&account.id) {
				Self::serve_once(now, &account, request_id);
			}
		}
	}

	/// Serves `request_id` unless another worker is serving it or already has.
	fn serve_once(now: BlockNumberFor<T>, account: &Account<T>, request_id: RequestId) {
		let Some(request) = Requests::<T>::get(request_id) else { return };
		// A transaction sent now lands in the next block at the earliest.
		if now >= request.deadline {
			return;
		}
		let lock_key = (LOCK_PREFIX, request_id).encode();
		let mut lock =
			StorageLock::<BlockAndTime<frame_system::Pallet<T>>>::with_block_and_time_deadline(
				&lock_key,
				1,
				Duration::from_millis(HTTP_DEADLINE_MS.saturating_add(10_000)),
			);
		let Ok(_guard) = lock.try_lock() else { return };
		let served_key = (SERVED_PREFIX, request_id).encode();
		let served = StorageValueRef::persistent(&served_key);
		let time = || sp_io::offchain::timestamp().unix_millis();
		// When a result or a decline for it was last submitted to the pool (milliseconds since
		// the Unix epoch).
		if let Ok(Some(at)) = served.get::<u64>() {
			if time() < at.saturating_add(RESUBMIT_AFTER_MS) {
				return;
			}
		}
		match Self::serve(account, request_id, &request) {
			Ok(()) => served.set(&time()),
			Err(error) => log::warn!(
				target: LOG_TARGET,
				"request {request_id}: not served ({error:?}); retrying on a later block"
			),
		}
	}

	/// Calls the LoRA service for `request` and submits its result, or declines the request
	/// if the service refused it for the request's own sake.
	pub fn serve(
		account: &Account<T>,
		request_id: RequestId,
		request: &RequestOf<T>,
	) -> Result<(), ServeError> {
		let url = lora_service_url().ok_or(ServeError::NoServiceUrl)?;
		let lineage: Vec<DatasetId> = T::Lineage::lineage(request.adapter_id)
			.ok_or(ServeError::NoLineage)?
			.iter()
			.map(|share| share.dataset_id)
			.collect();
		// `request` refuses prompts that are not UTF-8.
		let prompt = core::str::from_utf8(&request.prompt).map_err(|_| ServeError::Malformed)?;
		let body = CompletionBody {
			model: request.adapter_id.to_string(),
			prompt,
			max_tokens: request.max_tokens,
			max_output_bytes: T::MaxOutputLength::get(),
			temperature: 0,
			adapter_hash: format!("{:?}", request.adapter_hash),
			adapter_uri: T::Models::adapter_uri(request.adapter_id)
				.and_then(|uri| String::from_utf8(uri).ok())
				.filter(|uri| !uri.is_empty()),
			attribution: AttributionBody { datasets: lineage.clone() },
		};
		let completion = match post_completion(&completions_url(&url), &body)? {
			Answer::Completion(completion) => completion,
			Answer::Refused(reason) => {
				log::info!(
					target: LOG_TARGET,
					"request {request_id}: the service refused it ({reason:?}); declining it"
				);
				return Self::send_signed(account, Call::decline { request_id, reason });
			}
		};
		let choice = completion.choices.into_iter().next().ok_or(ServeError::Malformed)?;
		let bytes = match choice.text_hex {
			Some(hex) => parse_hex(&hex).ok_or(ServeError::Malformed)?,
			None => choice.text.into_bytes(),
		};
		let Usage { prompt_tokens, completion_tokens } = completion.usage;
		// A service that ignores `max_output_bytes` may answer more: cut, as a last resort.
		let (output, counted_tokens, truncated) =
			cut_to(bytes, T::MaxOutputLength::get() as usize, completion_tokens);
		if truncated {
			log::info!(
				target: LOG_TARGET,
				"request {request_id}: the output is longer than MaxOutputLength; submitting its first {} bytes, marked truncated",
				output.len()
			);
		}
		let output: BoundedVec<u8, T::MaxOutputLength> = BoundedVec::truncate_from(output);
		// Within what `submit_result` takes (a byte-level token covers at least one byte of the
		// prompt, and of the output): counting fewer tokens only lowers the fee.
		let prompt_bytes = u32::try_from(request.prompt.len()).unwrap_or(u32::MAX);
		let output_bytes = u32::try_from(output.len()).unwrap_or(u32::MAX);
		let input_tokens = prompt_tokens.min(prompt_bytes);
		let output_tokens = counted_tokens.min(request.max_tokens).min(output_bytes);
		if (input_tokens, output_tokens) != (prompt_tokens, counted_tokens) {
			log::warn!(
				target: LOG_TARGET,
				"request {request_id}: the service counted {prompt_tokens} prompt and {completion_tokens} output tokens; submitting {input_tokens} and {output_tokens}, the request's bounds"
			);
		}
		let cited = completion.attribution.map(|a| a.records).unwrap_or_default();
		let attribution = Self::onchain_attribution(request_id, &lineage, cited);
		log::info!(target: LOG_TARGET, "request {request_id}: submitting its result");
		Self::send_signed(
			account,
			Call::submit_result {
				request_id,
				output,
				input_tokens,
				output_tokens,
				attribution,
				truncated,
			},
		)
	}

	/// Sends `call` signed by `account`.
	pub(crate) fn send_signed(account: &Account<T>, call: Call<T>) -> Result<(), ServeError> {
		let sent = Signer::<T, T::AuthorityId>::all_accounts()
			.with_filter(vec![account.public.clone()])
			.send_signed_transaction(|_| call.clone());
		if sent.iter().any(|(_, result)| result.is_ok()) {
			Ok(())
		} else {
			Err(ServeError::Pool)
		}
	}

	/// The service's attributed records as the chain names them: each content hash mapped to
	/// its contribution, records outside the lineage or not accepted dropped, the best-scored
	/// `MaxAttributions` kept.
	fn onchain_attribution(
		request_id: RequestId,
		lineage: &[DatasetId],
		cited: Vec<CitedRecord>,
	) -> BoundedVec<AttributedRecord, T::MaxAttributions> {
		let mut scores: BTreeMap<(DatasetId, ContributionId), u32> = BTreeMap::new();
		for record in cited {
			let dataset_id = record.dataset_id;
			let found = parse_hash(&record.content_hash)
				.filter(|_| lineage.contains(&dataset_id))
				.and_then(|hash| T::Datasets::contribution_by_hash(dataset_id, hash))
				.map(|contribution_id| (dataset_id, contribution_id))
				.filter(|(dataset_id, contribution_id)| {
					T::Datasets::accepted_contributor(*dataset_id, *contribution_id).is_some()
				});
			match found {
				Some(key) => {
					let score = scores.entry(key).or_default();
					*score = score.saturating_add(record.score_ppm);
				}
				None => log::debug!(
					target: LOG_TARGET,
					"request {request_id}: dropping record {} (not an accepted contribution of the lineage)",
					record.content_hash
				),
			}
		}
		let mut records: Vec<AttributedRecord> = scores
			.into_iter()
			.map(|((dataset_id, contribution_id), score_ppm)| AttributedRecord {
				dataset_id,
				contribution_id,
				score_ppm,
			})
			.collect();
		// Best first; ties by id, so every node names the same records.
		records.sort_by(|a, b| {
			b.score_ppm
				.cmp(&a.score_ppm)
				.then((a.dataset_id, a.contribution_id).cmp(&(b.dataset_id, b.contribution_id)))
		});
		let max = T::MaxAttributions::get() as usize;
		if records.len() > max {
			log::info!(
				target: LOG_TARGET,
				"request {request_id}: {} records attributed, keeping the {max} best",
				records.len()
			);
			records.truncate(max);
		}
		// The service's scores sum to a million at most; should they not, scale them down.
		let total: u64 = records.iter().map(|record| u64::from(record.score_ppm)).sum();
		if total > 1_000_000 {
			log::warn!(
				target: LOG_TARGET,
				"request {request_id}: scores sum to {total} ppm; scaling them to a million"
			);
			for record in &mut records {
				let scaled = u64::from(record.score_ppm).saturating_mul(1_000_000) / total;
				record.score_ppm = u32::try_from(scaled).unwrap_or(u32::MAX);
			}
		}
		BoundedVec::truncate_from(records)
	}
}

/// `{base}/v1/completions` for the stored URL's bytes (a trailing `/` dropped).
fn completions_url(base: &[u8]) -> String {
	let base = String::from_utf8_lossy(base);
	format!("{}/v1/completions", base.trim_end_matches('/'))
}

/// `bytes` cut to at most `bound` at a character boundary, the tokens counted for what is kept
/// (`tokens` in proportion to the bytes kept, rounded down), and whether they were cut.
fn cut_to(mut bytes: Vec<u8>, bound: usize, tokens: u32) -> (Vec<u8>, u32, bool) {
	let total = bytes.len();
	if total <= bound {
		return (bytes, tokens, false);
	}
	// Back to the start of the character the bound falls in (at most three continuation
	// bytes; bytes that are not UTF-8 are cut where they are).
	let mut end = bound;
	while end > 0 && bound - end < 3 && bytes[end] & 0xC0 == 0x80 {
		end -= 1;
	}
	if bytes[end] & 0xC0 == 0x80 {
		end = bound;
	}
	bytes.truncate(end);
	let kept = u64::from(tokens).saturating_mul(end as u64) / total as u64;
	(bytes, u32::try_from(kept).unwrap_or(u32::MAX), true)
}

/// Whether the service's refusal (`status`, `body`) is the request's doing, and why: a prompt
/// too long for the model. Anything else (an unknown adapter, a full queue, a fault of the
/// service) is the provider's to fix, and the request is retried.
fn refusal(status: u16, body: &[u8]) -> Option<DeclineReason> {
	if status == 413 {
		return Some(DeclineReason::PromptTooLong);
	}
	let answer: ErrorAnswer = serde_json::from_slice(body).ok()?;
	match answer.error.code.as_deref() {
		// Too many tokens for the model, or too many bytes for the service's bound.
		Some("prompt_too_long" | "prompt_too_large") => Some(DeclineReason::PromptTooLong),
		_ => None,
	}
}

/// POSTs a completion request and reads the answer: a completion, or a refusal that is the
/// request's doing.
fn post_completion<Body: Serialize>(url: &str, body: &Body) -> Result<Answer, ServeError> {
	let (status, bytes) = post_json(url, body)?;
	if let Some(reason) = refusal(status, &bytes) {
		return Ok(Answer::Refused(reason));
	}
	if status != 200 {
		return Err(ServeError::Status(status, String::from_utf8_lossy(&bytes).into_owned()));
	}
	serde_json::from_slice(&bytes).map(Answer::Completion).map_err(|_| ServeError::Malformed)
}

/// POSTs `body` as JSON to `url` and reads the answer's status and bytes, within
/// [`HTTP_DEADLINE_MS`]; with the service's API key, when the node was given one.
pub(crate) fn post_json<Body: Serialize>(
	url: &str,
	body: &Body,
) -> Result<(u16, Vec<u8>), ServeError> {
	let body = serde_json::to_vec(body).map_err(|_| ServeError::Malformed)?;
	let deadline = sp_io::offchain::timestamp().add(Duration::from_millis(HTTP_DEADLINE_MS));
	let mut request =
		http::Request::post(url, vec![body]).add_header("Content-Type", "application/json");
	if let Some(key) = lora_service_api_key() {
		let authorization = format!("Bearer {}", String::from_utf8_lossy(&key));
		request = request.add_header("Authorization", &authorization);
	}
	let pending =
		request.deadline(deadline).send().map_err(|_| ServeError::Http("could not send"))?;
	let response = pending
		.try_wait(deadline)
		.map_err(|_| ServeError::Http("deadline reached"))?
		.map_err(|_| ServeError::Http("request failed"))?;
	let mut answer = response.body();
	answer.deadline(deadline);
	let bytes: Vec<u8> = (&mut answer).take(MAX_ANSWER_BYTES.saturating_add(1)).collect();
	if answer.error().is_some() {
		return Err(ServeError::Http("reading the answer failed"));
	}
	if bytes.len() > MAX_ANSWER_BYTES {
		return Err(ServeError::Http("the answer is larger than MAX_ANSWER_BYTES"));
	}
	Ok((response.code, bytes))
}

/// A `0x`-prefixed (or bare) 64-digit hex hash.
fn parse_hash(hex: &str) -> Option<ContentHash> {
	let hash: [u8; 32] = parse_hex(hex)?.try_into().ok()?;
	Some(ContentHash::from(hash))
}

/// Bytes from hex digits, with or without `0x`.
fn parse_hex(hex: &str) -> Option<Vec<u8>> {
	let hex = hex.strip_prefix("0x").unwrap_or(hex).as_bytes();
	if hex.len() % 2 != 0 {
		return None;
	}
	let digit = |c: u8| (c as char).to_digit(16);
	hex.chunks_exact(2).map(|pair| Some((digit(pair[0])? * 16 + digit(pair[1])?) as u8)).collect()
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn hashes_parse_with_or_without_prefix_and_nothing_else_does() {
		let hex = "00ff".repeat(16);
		let expected = ContentHash::from({
			let mut h = [0u8; 32];
			h.iter_mut().enumerate().for_each(|(i, b)| *b = if i % 2 == 0 { 0 } else { 0xff });
			h
		});
		assert_eq!(parse_hash(&hex), Some(expected));
		assert_eq!(parse_hash(&format!("0x{}", hex.to_uppercase())), Some(expected));
		assert_eq!(parse_hash(&hex[2..]), None);
		assert_eq!(parse_hash(&format!("{}zz", &hex[2..])), None);
	}

	#[test]
	fn outputs_are_cut_at_a_character_boundary_and_tokens_counted_for_what_is_kept() {
		let cut = |text: &[u8], bound, tokens| cut_to(text.to_vec(), bound, tokens);
		assert_eq!(cut(b"abcdef", 6, 3), (b"abcdef".to_vec(), 3, false));
		assert_eq!(cut(b"abcdef", 4, 3), (b"abcd".to_vec(), 2, true));
		// "é" is two bytes: a cut inside it moves back before it.
		assert_eq!(cut("aéb".as_bytes(), 2, 3), (b"a".to_vec(), 0, true));
		// Bytes that are not UTF-8 are cut at the bound.
		assert_eq!(
			cut(&[0x61, 0x80, 0x80, 0x80, 0x80, 0x62], 4, 3),
			(vec![0x61, 0x80, 0x80, 0x80], 2, true)
		);
	}

	#[test]
	fn only_refusals_of_the_prompt_itself_are_declined() {
		let error = |code: &str| {
			format!(
				r#"{{"error":{{"message":"m","type":"invalid_request_error","code":"{code}"}}}}"#
			)
		};
		assert_eq!(refusal(413, b""), Some(DeclineReason::PromptTooLong));
		for code in ["prompt_too_long", "prompt_too_large"] {
			assert_eq!(refusal(400, error(code).as_bytes()), Some(DeclineReason::PromptTooLong));
		}
		for (status, code) in [
			(404, "unknown_model"),
			(409, "adapter_hash_mismatch"),
			(429, "queue_full"),
			(400, "invalid_adapter_hash"),
		] {
			assert_eq!(refusal(status, error(code).as_bytes()), None, "{code}");
		}
		assert_eq!(refusal(500, b"not json"), None);
	}

	#[test]
	fn the_completions_url_joins_with_one_slash() {
		assert_eq!(
			completions_url(b"http://127.0.0.1:8181"),
			"http://127.0.0.1:8181/v1/completions"
		);
		assert_eq!(completions_url(b"http://h:1/"), "http://h:1/v1/completions");
	}
}
