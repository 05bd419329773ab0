//! `POST /v1/verify`: a claimed greedy completion checked without generating it. The output
//! is teacher-forced through the model (`crate::verify`), its token counts compared with the
//! claim, and its attribution recomputed over the records the claim was made on and compared
//! with the claimed one. The answer is a verdict, `valid` or `invalid`, with every reason.
//!
//! Verifications run one at a time beside generation, on a blocking thread; at most
//! [`MAX_WAITING`] wait, and more are refused with 429.

use std::{
	collections::{BTreeMap, HashSet},
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc,
	},
	time::Instant,
};

use axum::{
	extract::{rejection::JsonRejection, State},
	Json,
};
use serde_json::{json, Value};

use super::{
	adapters, blocking,
	completions::{CancelOnDrop, InFlight},
	openai::{ClaimedAttribution, VerifyRequest},
	read,
	validate::{self, parse},
	AppState,
};
use crate::{
	attribution::{self, Segment},
	error::ApiError,
	hash::hex,
	metrics::bump,
	verify::{self, Claim, Divergence, Vocabulary, EPSILON},
};

/// The most verifications waiting for the one running.
pub const MAX_WAITING: u64 = 16;

/// The fields of a verification request.
pub(crate) const VERIFY_FIELDS: [&str; 12] = [
	"model",
	"adapter_hash",
	"adapter_uri",
	"prompt",
	"output",
	"output_hex",
	"max_tokens",
	"truncated",
	"max_output_bytes",
	"prompt_tokens",
	"completion_tokens",
	"attribution",
];

/// A reason a claim is not what the model and the records give.
fn reason(code: &str, message: String) -> Value {
	json!({ "code": code, "message": message })
}

pub(super) async fn verify(
	State(state): State<Arc<AppState>>,
	body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Value>, ApiError> {
	let request: VerifyRequest = parse(body, &VERIFY_FIELDS, &[])?;
	if state.draining.load(Ordering::Relaxed) {
		return Err(ApiError::Unavailable("shutting_down", "the service is shutting down".into()));
	}
	let _in_flight = InFlight::new(state.clone());
	let output = output_bytes(&request)?;
	let max_text = state.options.max_text_bytes;
	validate::text_bytes("prompt_too_large", "the prompt", &request.prompt, max_text)?;
	if output.len() > max_text {
		return Err(ApiError::bad(
			"output_too_large",
			format!("the output holds {} bytes, above the limit of {max_text}", output.len()),
		));
	}
	if request.truncated && request.max_output_bytes.is_none() {
		return Err(ApiError::bad(
			"invalid_truncation",
			"an output marked truncated needs max_output_bytes, the bound it was cut at",
		));
	}
	if let Some(claimed) = &request.attribution {
		check_attribution(&state, claimed)?;
	}
	let prompt = state
		.tokenizer
		.encode(request.prompt.as_str(), false)
		.map_err(|e| ApiError::bad("untokenizable_prompt", e.to_string()))?
		.get_ids()
		.to_vec();
	if prompt.is_empty() {
		return Err(ApiError::bad("empty_prompt", "the prompt is empty"));
	}
	let context = state.config.context_length;
	if prompt.len() > state.options.max_prompt_tokens
		|| request.max_tokens > context.saturating_sub(prompt.len())
	{
		return Err(ApiError::bad(
			"prompt_too_long",
			format!(
				"{} prompt tokens and {} to generate exceed the limits ({} prompt tokens, \
				 {context} in all)",
				prompt.len(),
				request.max_tokens,
				state.options.max_prompt_tokens,
			),
		));
	}
	let adapter = match request.model.as_str() {
		"base" => None,
		id => Some(
			adapters::resident(
				&state,
				id,
				request.adapter_hash.as_deref(),
				request.adapter_uri.as_deref(),
			)
			.await?,
		),
	};

	// One at a time, a bounded number waiting (counted while this future waits, however it
	// ends).
	let waiting = Waiting::new(&state)?;
	let permit = state.verifications.clone().acquire_owned().await.map_err(|_| {
		ApiError::Unavailable("shutting_down", "the service is shutting down".into())
	})?;
	drop(waiting);
	// Set when this future is dropped (the client went away): the verification stops at its
	// next step.
	let cancelled = Arc::new(AtomicBool::new(false));
	let _cancel = CancelOnDrop(cancelled.clone());
	let started = Instant::now();
	let state_for_work = state.clone();
	let verdict = blocking(move || {
		let _permit = permit;
		judge(&state_for_work, &request, &prompt, &output, adapter.as_deref(), &cancelled)
	})
	.await;
	let millis = started.elapsed().as_millis() as u64;
	bump(&state.metrics.verify_millis, millis);
	let verdict = verdict?;
	let valid = verdict["verdict"] == "valid";
	bump(if valid { &state.metrics.verified_valid } else { &state.metrics.verified_invalid }, 1);
	tracing::info!(
		valid,
		reasons = verdict["reasons"].as_array().map_or(0, Vec::len),
		"verified a claimed completion in {millis} ms"
	);
	Ok(Json(verdict))
}

/// A verification waiting for its turn, counted until dropped.
struct Waiting<'a>(&'a AppState);

impl<'a> Waiting<'a> {
	fn new(state: &'a AppState) -> Result<Self, ApiError> {
		let waiting = state.verify_waiting.fetch_add(1, Ordering::Relaxed);
		let guard = Self(state);
		if waiting >= MAX_WAITING {
			return Err(ApiError::TooManyRequests(
				"verifications_queue_full",
				format!("{waiting} verifications are waiting; try again shortly"),
			));
		}
		Ok(guard)
	}
}

impl Drop for Waiting<'_> {
	fn drop(&mut self) {
		self.0.verify_waiting.fetch_sub(1, Ordering::Relaxed);
	}
}

/// The output's bytes: `output` as text, or `output_hex` for bytes that are not UTF-8.
pub(super) fn output_bytes(request: &VerifyRequest) -> Result<Vec<u8>, ApiError> {
	match (&request.output, &request.output_hex) {
		(Some(text), None) => Ok(text.as_bytes().to_vec()),
		(None, Some(hex)) => parse_hex(hex).ok_or_else(|| {
			ApiError::bad("invalid_output_hex", "output_hex is not 0x-prefixed hex of bytes")
		}),
		_ => Err(ApiError::bad(
			"invalid_output",
			"give the output as output or output_hex, one of them",
		)),
	}
}

fn parse_hex(text: &str) -> Option<Vec<u8>> {
	let digits = text.strip_prefix("0x")?;
	if digits.len() % 2 != 0 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
		return None;
	}
	(0..digits.len() / 2)
		.map(|i| u8::from_str_radix(digits.get(2 * i..2 * i + 2)?, 16).ok())
		.collect()
}

/// Refuses a claimed attribution's options before any work: bad bounds, unknown datasets, a
/// record or a restriction outside the datasets named.
fn check_attribution(state: &AppState, claimed: &ClaimedAttribution) -> Result<(), ApiError> {
	validate::attribution_options(&claimed.options)?;
	let datasets: HashSet<u32> = claimed.options.datasets.iter().copied().collect();
	let indexes = read(&state.indexes).clone();
	if let Some(unknown) = datasets.iter().find(|id| !indexes.contains_key(id)) {
		return Err(ApiError::not_found(
			"unknown_dataset",
			format!("no records for dataset {unknown}"),
		));
	}
	let outside = |id: u32| {
		ApiError::bad(
			"invalid_attribution",
			format!("dataset {id} is not among the datasets attributed over"),
		)
	};
	if let Some(record) = claimed.records.iter().find(|r| !datasets.contains(&r.dataset_id)) {
		return Err(outside(record.dataset_id));
	}
	if let Some(view) = claimed.as_of.iter().find(|v| !datasets.contains(&v.dataset_id)) {
		return Err(outside(view.dataset_id));
	}
	if claimed.max_records == Some(0) {
		return Err(ApiError::bad("invalid_attribution", "max_records keeps at least one record"));
	}
	let mut stood = HashSet::new();
	if let Some(view) = claimed.as_of.iter().find(|v| !stood.insert(v.dataset_id)) {
		return Err(ApiError::bad(
			"invalid_attribution",
			format!("as_of names dataset {} more than once", view.dataset_id),
		));
	}
	let excluded: usize = claimed.as_of.iter().map(|v| v.excluded.len()).sum();
	if claimed.records.len() > MAX_CLAIMED_RECORDS || excluded > MAX_EXCLUDED {
		return Err(ApiError::bad(
			"invalid_attribution",
			format!(
				"at most {MAX_CLAIMED_RECORDS} claimed records and {MAX_EXCLUDED} excluded \
				 contributions"
			),
		));
	}
	Ok(())
}

/// The most records a claim may cite, and contributions it may exclude.
const MAX_CLAIMED_RECORDS: usize = 10_000;
const MAX_EXCLUDED: usize = 100_000;

/// The verdict on a claim: teacher forcing, the token counts, the attribution.
fn judge(
	state: &AppState,
	request: &VerifyRequest,
	prompt: &[u32],
	output: &[u8],
	adapter: Option<&crate::adapters::Adapter>,
	cancelled: &AtomicBool,
) -> Result<Value, ApiError> {
	let vocabulary = state
		.vocabulary
		.get_or_init(|| Arc::new(Vocabulary::of(&state.tokenizer, state.stop_tokens.clone())));
	let encode = |text: &str| -> anyhow::Result<Vec<u32>> {
		Ok(state.tokenizer.encode(text, false).map_err(anyhow::Error::msg)?.get_ids().to_vec())
	};
	let claim = Claim {
		prompt,
		output,
		max_tokens: request.max_tokens,
		truncated: request.truncated,
		max_output_bytes: request.max_output_bytes,
	};
	let forced = verify::force(&state.model, adapter, vocabulary, encode, &claim, cancelled)
		.map_err(|e| ApiError::internal("verification_failed", format!("{e:#}")))?;

	let mut reasons = Vec::new();
	let describe = |token: u32| {
		String::from_utf8_lossy(&crate::api::logprobs::token_bytes(&state.tokenizer, token))
			.into_owned()
	};
	match &forced.divergence {
		None => {}
		Some(Divergence::NotGreedy { offset, index, chosen, gap }) => reasons.push(reason(
			"not_greedy",
			format!(
				"at byte {offset} (token {index}) the output goes on otherwise than the model, \
				 which chooses {:?}: the output's best continuation scores {gap:.3} logits \
				 below it, more than {EPSILON}",
				describe(*chosen)
			),
		)),
		Some(Divergence::EndedEarly { chosen, gap }) => reasons.push(reason(
			"ended_early",
			format!(
				"the output stops after {} tokens, fewer than max_tokens ({}), where the model \
				 goes on with {:?}: a stop token scores {gap:.3} logits below it",
				forced.tokens.len(),
				request.max_tokens,
				describe(*chosen)
			),
		)),
		Some(Divergence::TooLong) => reasons.push(reason(
			"too_many_tokens",
			format!("the output holds more than max_tokens ({}) tokens", request.max_tokens),
		)),
		Some(Divergence::Resegmented) => reasons.push(reason(
			"not_greedy",
			format!(
				"more than {} of the output's tokens are not its canonical tokenization and \
				 not the model's choice",
				verify::MAX_RESEGMENTED
			),
		)),
	}
	if request.prompt_tokens != prompt.len() {
		reasons.push(reason(
			"prompt_tokens_differ",
			format!("the prompt holds {} tokens, not {}", prompt.len(), request.prompt_tokens),
		));
	}
	// An output holds no more than its bound; a cut one was cut at it (within a character of
	// it), and counts the tokens that hold its bytes, the last one cut.
	if let Some(bound) = request.max_output_bytes.filter(|&bound| output.len() > bound) {
		reasons.push(reason(
			"too_many_bytes",
			format!(
				"the output holds {} bytes, more than max_output_bytes ({bound})",
				output.len()
			),
		));
	}
	if let (true, Some(bound)) = (request.truncated, request.max_output_bytes) {
		if output.len().saturating_add(4) <= bound {
			reasons.push(reason(
				"not_truncated",
				format!(
					"the output is marked cut at {bound} bytes but holds {} (a cut keeps all \
					 but the last character's bytes within the bound)",
					output.len()
				),
			));
		}
	}
	// Where generation may have split the text otherwise (a near-tie between tokens of
	// different lengths), its count may differ by one.
	let tokens = forced.tokens.len();
	if forced.divergence.is_none() && request.completion_tokens.abs_diff(tokens) > forced.ambiguous
	{
		reasons.push(reason(
			"completion_tokens_differ",
			format!(
				"the output holds {tokens} tokens ({} of them where another split scores within \
				 ε), not {}",
				forced.ambiguous, request.completion_tokens
			),
		));
	}

	let attribution = match &request.attribution {
		None => Value::Null,
		Some(claimed) => {
			let text = String::from_utf8_lossy(output);
			let found = recompute(state, &text, claimed)?;
			let mut claimed_records: Vec<(u32, u32, u32)> = claimed
				.records
				.iter()
				.map(|r| (r.dataset_id, r.contribution_id, r.score_ppm))
				.collect();
			claimed_records.sort_unstable();
			let recomputed: Vec<(u32, u32, u32)> =
				found.iter().map(|r| (r.dataset_id, r.contribution_id, r.score_ppm)).collect();
			if claimed_records != recomputed {
				reasons.push(reason(
					"attribution_differs",
					differences(&claimed_records, &recomputed),
				));
			}
			json!({
				"records": found.iter().map(|r| json!({
					"dataset_id": r.dataset_id,
					"contribution_id": r.contribution_id,
					"content_hash": format!("0x{}", hex(&r.content_hash)),
					"score_ppm": r.score_ppm,
				})).collect::<Vec<_>>(),
			})
		}
	};
	let divergence = forced.divergence.as_ref().map(|d| match d {
		Divergence::NotGreedy { offset, index, chosen, gap } => json!({
			"kind": "not_greedy", "offset": offset, "token_index": index,
			"model_token": chosen, "gap": gap,
		}),
		Divergence::EndedEarly { chosen, gap } => {
			json!({ "kind": "ended_early", "model_token": chosen, "gap": gap })
		}
		Divergence::TooLong => json!({ "kind": "too_many_tokens" }),
		Divergence::Resegmented => json!({ "kind": "resegmented" }),
	});
	Ok(json!({
		"object": "verification",
		"verdict": if reasons.is_empty() { "valid" } else { "invalid" },
		"reasons": reasons,
		"epsilon": EPSILON,
		"prompt_tokens": prompt.len(),
		"completion_tokens": tokens,
		"output": {
			"max_gap": forced.max_gap,
			"ambiguous_positions": forced.ambiguous,
			"resegmented_tokens": forced.resegmented,
			"divergence": divergence,
		},
		"attribution": attribution,
	}))
}

/// A recomputed record's credit.
struct Recomputed {
	dataset_id: u32,
	contribution_id: u32,
	content_hash: [u8; 32],
	score_ppm: u32,
}

/// The attribution of `text` over the claim's datasets as they stood (`as_of`), kept to the
/// claim's `max_records` best as the chain keeps them (score, then dataset and contribution),
/// in (dataset, contribution) order.
fn recompute(
	state: &AppState,
	text: &str,
	claimed: &ClaimedAttribution,
) -> Result<Vec<Recomputed>, ApiError> {
	let tokens = state
		.tokenizer
		.encode(text, false)
		.map_err(|e| ApiError::bad("untokenizable_text", e.to_string()))?
		.get_ids()
		.to_vec();
	let indexes = read(&state.indexes).clone();
	let mut datasets: Vec<u32> = claimed.options.datasets.clone();
	datasets.sort_unstable();
	datasets.dedup();
	let mut views = Vec::with_capacity(datasets.len());
	for dataset_id in datasets {
		let index = indexes.get(&dataset_id).ok_or_else(|| {
			ApiError::not_found("unknown_dataset", format!("no records for dataset {dataset_id}"))
		})?;
		// The records the claim was made on: those issued before `next_contribution_id`,
		// without the `excluded`.
		let mut left_out: HashSet<u32> = HashSet::new();
		for view in claimed.as_of.iter().filter(|v| v.dataset_id == dataset_id) {
			left_out.extend(&view.excluded);
			left_out.extend(
				index
					.records()
					.map(|r| r.contribution_id)
					.filter(|id| *id >= view.next_contribution_id),
			);
		}
		let view = match left_out.is_empty() {
			true => index.clone(),
			false => {
				index
					.without(&left_out)
					.map_err(|e| ApiError::internal("index_failed", format!("{e:#}")))?
					.0
			}
		};
		views.push((dataset_id, view));
	}
	let segments: Vec<(u32, &Segment)> = views
		.iter()
		.flat_map(|(id, index)| index.segments().iter().map(move |s| (*id, &**s)))
		.collect();
	let (_, credits) = attribution::attribute(&segments, &tokens, claimed.options.min_span);
	let mut found: Vec<Recomputed> = credits
		.into_iter()
		.map(|(dataset_id, credit)| Recomputed {
			dataset_id,
			contribution_id: credit.record.contribution_id,
			content_hash: credit.record.content_hash,
			score_ppm: credit.score_ppm,
		})
		.collect();
	if let Some(max) = claimed.max_records {
		found.sort_by(|a, b| {
			b.score_ppm
				.cmp(&a.score_ppm)
				.then((a.dataset_id, a.contribution_id).cmp(&(b.dataset_id, b.contribution_id)))
		});
		found.truncate(max);
	}
	found.sort_by_key(|r| (r.dataset_id, r.contribution_id));
	Ok(found)
}

/// The first differences between the claimed and the recomputed records, (dataset,
/// contribution, ppm) in order.
fn differences(claimed: &[(u32, u32, u32)], recomputed: &[(u32, u32, u32)]) -> String {
	let by_id = |records: &[(u32, u32, u32)]| -> BTreeMap<(u32, u32), u32> {
		records.iter().map(|&(d, c, s)| ((d, c), s)).collect()
	};
	let claimed_len = claimed.len();
	let (claimed, recomputed) = (by_id(claimed), by_id(recomputed));
	let mut keys: Vec<&(u32, u32)> = claimed.keys().chain(recomputed.keys()).collect();
	keys.sort_unstable();
	keys.dedup();
	let listed: Vec<String> = keys
		.into_iter()
		.filter(|k| claimed.get(k) != recomputed.get(k))
		.take(8)
		.map(|(d, c)| {
			let ppm = |s: Option<&u32>| s.map_or("none".to_string(), |s| format!("{s} ppm"));
			format!(
				"record {c} of dataset {d}: claimed {}, recomputed {}",
				ppm(claimed.get(&(*d, *c))),
				ppm(recomputed.get(&(*d, *c)))
			)
		})
		.collect();
	let repeated = claimed_len != claimed.len();
	format!(
		"the attribution differs from the one recomputed: {}{}",
		listed.join("; "),
		if repeated { "; the claim names a record more than once" } else { "" }
	)
}
