//! Checking a claimed greedy output without generating it: teacher forcing. The prompt and the
//! claimed output run through the model in one prefill, and at every position the claimed
//! token must be within [`EPSILON`] logits of the model's own choice there; where the output
//! stops before `max_tokens`, a stop token must be within [`EPSILON`] of the choice after it.
//! A prefill computes all positions at once, so checking an output costs a fraction of
//! generating it, which takes one forward pass per token.
//!
//! The output reaches the verifier as bytes (its tokens' bytes, which need not be UTF-8), and
//! their canonical tokenization is not always the tokens generation chose ("Paris" may have
//! come as "Par" + "is"). Where a canonical token
//! is not within [`EPSILON`], the text is re-segmented from there one token at a time, each time
//! taking the model's best-scored token among those whose bytes continue the text, until the
//! tokens meet a canonical boundary again and the rest is forced in one prefill. At most
//! [`MAX_RESEGMENTED`] tokens are re-segmented.
//!
//! [`EPSILON`] absorbs the honest differences between machines and weight modes (8-bit
//! activations, batched versus single-row arithmetic); docs/verification.md has the
//! measurements it was chosen from.

use std::{
	collections::HashMap,
	sync::atomic::{AtomicBool, Ordering},
};

use anyhow::{ensure, Result};

use crate::{
	adapters::Adapter,
	model::{KvCache, Model},
};

/// How far below the model's own choice, in logits, a claimed token may score and still count
/// as the model's choice.
pub const EPSILON: f32 = 1.0;

/// The most tokens re-segmented in one output.
pub const MAX_RESEGMENTED: usize = 64;

/// The most prefills of the output's canonical tokens: after a re-segmentation the rest is
/// forced again only this many times, so that an output that keeps leaving its canonical
/// tokenization costs a verifier a bounded multiple of one prefill.
pub const MAX_PREFILLS: usize = 8;

/// The vocabulary by bytes: which tokens continue a text.
pub struct Vocabulary {
	bytes: Vec<Vec<u8>>,
	by_bytes: HashMap<Vec<u8>, u32>,
	longest: usize,
	/// Tokens that end generation: never part of an output.
	stops: Vec<u32>,
}

impl Vocabulary {
	/// The vocabulary of `size` tokens, token i's bytes `bytes_of(i)`; `stops` end generation.
	pub fn new(size: usize, bytes_of: impl Fn(u32) -> Vec<u8>, stops: Vec<u32>) -> Self {
		let bytes: Vec<Vec<u8>> = (0..size as u32).map(bytes_of).collect();
		let mut by_bytes = HashMap::with_capacity(size);
		for (id, token) in bytes.iter().enumerate() {
			if token.is_empty() || stops.contains(&(id as u32)) {
				continue;
			}
			// The lowest id keeps bytes that several tokens spell.
			by_bytes.entry(token.clone()).or_insert(id as u32);
		}
		let longest = by_bytes.keys().map(Vec::len).max().unwrap_or(0);
		Self { bytes, by_bytes, longest, stops }
	}

	/// `tokenizer`'s vocabulary; `stops` end generation.
	pub fn of(tokenizer: &tokenizers::Tokenizer, stops: Vec<u32>) -> Self {
		let size = tokenizer.get_vocab_size(true);
		Self::new(size, |id| crate::api::logprobs::token_bytes(tokenizer, id), stops)
	}

	/// Whether another token of another length than `token` continues `text` and scores within
	/// [`EPSILON`] of the model's choice in `logits`.
	fn ambiguous(&self, scores: &Scores<'_>, text: &[u8], token: u32, cut: bool) -> bool {
		let length = self.bytes(token).len();
		self.continuing(text, cut)
			.into_iter()
			.any(|other| self.bytes(other).len() != length && within(scores.gap(other)))
	}

	/// The bytes `tokens` spell, one after another.
	pub fn spell(&self, tokens: &[u32]) -> Vec<u8> {
		tokens.iter().flat_map(|&token| self.bytes(token).to_vec()).collect()
	}

	fn bytes(&self, token: u32) -> &[u8] {
		self.bytes.get(token as usize).map_or(&[], Vec::as_slice)
	}

	/// Tokens whose bytes begin `text`, and, when `cut`, those that `text` ends inside (the
	/// output was cut in the middle of its last token).
	fn continuing(&self, text: &[u8], cut: bool) -> Vec<u32> {
		let mut found: Vec<u32> = (1..=self.longest.min(text.len()))
			.filter_map(|length| self.by_bytes.get(&text[..length]).copied())
			.collect();
		if cut && text.len() < self.longest {
			found.extend(self.by_bytes.iter().filter_map(|(bytes, id)| {
				(bytes.len() > text.len() && bytes.starts_with(text)).then_some(*id)
			}));
		}
		found
	}
}

/// What is claimed: the output of greedy decoding after the prompt's tokens.
pub struct Claim<'a> {
	pub prompt: &'a [u32],
	/// The output's bytes: its tokens' bytes one after another, which need not be UTF-8 (a
	/// character's bytes may span tokens, and generation may stop inside one).
	pub output: &'a [u8],
	pub max_tokens: usize,
	/// The output was cut after generation, so it may end inside its last token and says
	/// nothing about where generation stopped.
	pub truncated: bool,
	/// Generation was bounded to this many bytes: it stopped before a token that would pass
	/// them.
	pub max_output_bytes: Option<usize>,
}

impl<'a> Claim<'a> {
	/// A whole greedy output, neither cut nor bounded in bytes.
	pub fn whole(prompt: &'a [u32], output: &'a [u8], max_tokens: usize) -> Self {
		Self { prompt, output, max_tokens, truncated: false, max_output_bytes: None }
	}
}

impl Vocabulary {
	/// The output's canonical tokens: `encode` of each stretch of UTF-8, and a byte token for
	/// each byte outside one, so that their bytes spell the output.
	fn canonical(
		&self,
		output: &[u8],
		encode: impl Fn(&str) -> Result<Vec<u32>>,
	) -> Result<Vec<u32>> {
		let mut tokens = Vec::new();
		for chunk in output.utf8_chunks() {
			if !chunk.valid().is_empty() {
				tokens.extend(encode(chunk.valid())?);
			}
			for &byte in chunk.invalid() {
				tokens.extend(self.by_bytes.get(&[byte][..]));
			}
		}
		Ok(tokens)
	}
}

/// Where an output departs from greedy decoding.
#[derive(Clone, Debug, PartialEq)]
pub enum Divergence {
	/// At byte `offset` of the output (its token `index`), no token that continues the text is
	/// within [`EPSILON`] of the model's choice `chosen`: the best of them is `gap` below it.
	NotGreedy { offset: usize, index: usize, chosen: u32, gap: f32 },
	/// The output stops after fewer than `max_tokens` tokens where the model goes on: its best
	/// stop token (or token too long for the output's byte bound) is `gap` below its choice
	/// `chosen`.
	EndedEarly { chosen: u32, gap: f32 },
	/// The output holds more than `max_tokens` tokens.
	TooLong,
	/// More than [`MAX_RESEGMENTED`] tokens differ from the canonical tokenization.
	Resegmented,
}

/// What teacher forcing found.
#[derive(Clone, Debug, PartialEq)]
pub struct Forced {
	/// The output's tokens as generation chose them (as far as they were followed).
	pub tokens: Vec<u32>,
	/// The largest gap between a claimed token and the model's choice among those accepted.
	pub max_gap: f32,
	/// How many accepted positions had another token within [`EPSILON`] of the model's choice:
	/// where a claim could have said otherwise and still verified.
	pub near_ties: usize,
	/// How many accepted positions had another token within [`EPSILON`] that also continues
	/// the output but is of another length: there generation may have split the text
	/// otherwise, and the output's token count is uncertain by one for each.
	pub ambiguous: usize,
	/// How many tokens were re-segmented away from the canonical tokenization.
	pub resegmented: usize,
	/// Where the output departs from greedy decoding, if it does.
	pub divergence: Option<Divergence>,
}

/// One position's logits and the model's choice among them (ties to the lower id).
struct Scores<'a> {
	logits: &'a [f32],
	choice: u32,
	top: f32,
}

impl<'a> Scores<'a> {
	fn of(logits: &'a [f32]) -> Self {
		let (mut choice, mut top) = (0u32, f32::NEG_INFINITY);
		for (id, &logit) in logits.iter().enumerate() {
			if logit > top {
				(choice, top) = (id as u32, logit);
			}
		}
		Self { logits, choice, top }
	}

	/// How far `token` scores below the model's choice.
	fn gap(&self, token: u32) -> f32 {
		self.logits.get(token as usize).map_or(f32::INFINITY, |&logit| self.top - logit)
	}

	/// Whether a token other than the model's choice is within [`EPSILON`] of it.
	fn near_tie(&self) -> bool {
		let choice = self.choice as usize;
		self.logits.iter().enumerate().any(|(id, &logit)| id != choice && within(self.top - logit))
	}
}

/// Whether a gap is within [`EPSILON`]; a NaN (from non-finite logits) never is.
fn within(gap: f32) -> bool {
	gap <= EPSILON
}

/// Teacher-forces `claim` through `model` with `adapter`, as described in the module's
/// documentation; `encode` is the tokenizer's encoding of text. Gives up with an error as soon
/// as `cancelled` is set.
pub fn force(
	model: &Model,
	adapter: Option<&Adapter>,
	vocabulary: &Vocabulary,
	encode: impl Fn(&str) -> Result<Vec<u32>>,
	claim: &Claim<'_>,
	cancelled: &AtomicBool,
) -> Result<Forced> {
	let canonical = vocabulary.canonical(claim.output, encode)?;
	force_from(model, adapter, vocabulary, &canonical, claim, cancelled)
}

/// [`force`], given the output's canonical tokens.
fn force_from(
	model: &Model,
	adapter: Option<&Adapter>,
	vocabulary: &Vocabulary,
	canonical: &[u32],
	claim: &Claim<'_>,
	cancelled: &AtomicBool,
) -> Result<Forced> {
	ensure!(!claim.prompt.is_empty(), "the prompt is empty");
	let check = || -> Result<()> {
		ensure!(!cancelled.load(Ordering::Relaxed), "the verification was cancelled");
		Ok(())
	};
	let text = claim.output;
	// Where each canonical token starts in the text, if the tokens spell it.
	let mut offsets = Vec::with_capacity(canonical.len() + 1);
	offsets.push(0);
	for &token in canonical {
		offsets.push(offsets[offsets.len() - 1] + vocabulary.bytes(token).len());
	}
	let starts: HashMap<usize, usize> = match offsets.last() == Some(&text.len()) {
		true => offsets.iter().enumerate().map(|(index, &offset)| (offset, index)).collect(),
		false => HashMap::new(),
	};
	let kv_row = model.config.kv_heads * model.config.head_dim;
	let cut = claim.truncated;

	let mut cache = KvCache::default();
	let mut next = Vec::new();
	let last = claim.prompt.len() - 1;
	model.forward_each(claim.prompt, &mut cache, adapter, last, |_, logits| {
		next = logits.to_vec();
		Ok(false)
	})?;
	let mut forced = Forced {
		tokens: Vec::new(),
		max_gap: 0.0,
		near_ties: 0,
		ambiguous: 0,
		resegmented: 0,
		divergence: None,
	};
	// Takes `token` at byte `offset` whose logits were `logits`, if it is within ε and not a
	// stop token (a stop token ends generation: it is never part of an output).
	let take = |forced: &mut Forced, logits: &[f32], token: u32, offset: usize| -> bool {
		let scores = Scores::of(logits);
		let g = scores.gap(token);
		if vocabulary.stops.contains(&token) || !within(g) {
			return false;
		}
		forced.max_gap = forced.max_gap.max(g);
		forced.near_ties += usize::from(scores.near_tie());
		forced.ambiguous += usize::from(vocabulary.ambiguous(&scores, &text[offset..], token, cut));
		forced.tokens.push(token);
		true
	};
	let (mut offset, mut prefills) = (0, 0);
	while offset < text.len() {
		check()?;
		let room = claim.max_tokens.saturating_sub(forced.tokens.len());
		if room == 0 {
			forced.divergence = Some(Divergence::TooLong);
			return Ok(forced);
		}
		if let Some(&start) = starts.get(&offset).filter(|_| prefills < MAX_PREFILLS) {
			// Forced in one prefill: every canonical token from here while each is within ε,
			// no more than `max_tokens` in all.
			let rest = &canonical[start..canonical.len().min(start + room)];
			if take(&mut forced, &next, rest[0], offset) {
				prefills += 1;
				let before = cache.len();
				let mut accepted = 1;
				let mut diverged = false;
				model.forward_each(rest, &mut cache, adapter, 0, |i, logits| {
					check()?;
					next = logits.to_vec();
					let Some(&token) = rest.get(i + 1) else { return Ok(false) };
					diverged = !take(&mut forced, logits, token, offsets[start + i + 1]);
					accepted += usize::from(!diverged);
					Ok(!diverged)
				})?;
				cache.truncate(before + accepted, kv_row);
				offset = offsets[start + accepted];
				if !diverged {
					continue;
				}
			}
		}
		// Re-segmented: the best-scored token that continues the text, if it is within ε.
		let candidates = vocabulary.continuing(&text[offset..], cut);
		let scores = Scores::of(&next);
		let best = candidates
			.iter()
			.map(|&token| (token, scores.gap(token)))
			.min_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
		let chosen = scores.choice;
		let Some((token, _)) = best.filter(|&(token, _)| take(&mut forced, &next, token, offset))
		else {
			let gap = best.map_or(f32::INFINITY, |b| b.1);
			let index = forced.tokens.len();
			forced.divergence = Some(Divergence::NotGreedy { offset, index, chosen, gap });
			return Ok(forced);
		};
		forced.resegmented += 1;
		if forced.resegmented > MAX_RESEGMENTED {
			forced.divergence = Some(Divergence::Resegmented);
			return Ok(forced);
		}
		offset = (offset + vocabulary.bytes(token).len()).min(text.len());
		// The logits after it, unless it is the last token `max_tokens` allows.
		if forced.tokens.len() < claim.max_tokens {
			model.forward_each(&[token], &mut cache, adapter, 0, |_, logits| {
				next = logits.to_vec();
				Ok(false)
			})?;
		}
	}
	if !claim.truncated && forced.tokens.len() < claim.max_tokens {
		// Generation stopped on its own: the model's choice was a stop token, or a token that
		// would have taken the output past its bound.
		let scores = Scores::of(&next);
		let chosen = scores.choice;
		let stop = vocabulary.stops.iter().map(|&token| scores.gap(token));
		let room = claim.max_output_bytes.map(|bound| bound.saturating_sub(text.len()));
		let past_bound = (0..vocabulary.bytes.len() as u32)
			.filter(|&token| room.is_some_and(|room| vocabulary.bytes(token).len() > room))
			.map(|token| scores.gap(token));
		let g = stop.chain(past_bound).fold(f32::INFINITY, f32::min);
		if within(g) {
			forced.max_gap = forced.max_gap.max(g);
		} else {
			forced.divergence = Some(Divergence::EndedEarly { chosen, gap: g });
		}
	}
	Ok(forced)
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{
		model::{gguf, tiny},
		testing::{tiny_adapter, tiny_model, tiny_path},
	};

	struct Tiny {
		model: Model,
		adapter: Adapter,
		tokenizer: tokenizers::Tokenizer,
		vocabulary: Vocabulary,
	}

	fn tiny() -> Tiny {
		let tokenizer = gguf::tokenizer(&gguf::read(tiny_path()).unwrap()).unwrap();
		let vocabulary = Vocabulary::of(&tokenizer, vec![0, 1, 2]);
		Tiny { model: tiny_model(), adapter: tiny_adapter(5, 4), tokenizer, vocabulary }
	}

	impl Tiny {
		fn generate(&self, prompt: &[u32], max_tokens: usize) -> Vec<u32> {
			let eos = tiny::config().eos_token_id;
			self.model.generate_greedy(prompt, max_tokens, eos, Some(&self.adapter)).unwrap()
		}

		fn bytes(&self, tokens: &[u32]) -> Vec<u8> {
			self.vocabulary.spell(tokens)
		}

		fn force(
			&self,
			prompt: &[u32],
			output: &[u8],
			max_tokens: usize,
			truncated: bool,
		) -> Forced {
			let encode = |text: &str| -> Result<Vec<u32>> {
				Ok(self
					.tokenizer
					.encode(text, false)
					.map_err(anyhow::Error::msg)?
					.get_ids()
					.to_vec())
			};
			let claim = Claim { prompt, output, max_tokens, truncated, max_output_bytes: None };
			let cancelled = AtomicBool::new(false);
			force(&self.model, Some(&self.adapter), &self.vocabulary, encode, &claim, &cancelled)
				.unwrap()
		}

		/// [`force_from`] with this model and adapter, never cancelled.
		fn force_from(
			&self,
			vocabulary: &Vocabulary,
			canonical: &[u32],
			claim: &Claim<'_>,
		) -> Forced {
			let cancelled = AtomicBool::new(false);
			force_from(&self.model, Some(&self.adapter), vocabulary, canonical, claim, &cancelled)
				.unwrap()
		}

		/// The logits after `prompt` and `output`.
		fn logits_after(&self, prompt: &[u32], output: &[u32]) -> Vec<f32> {
			let tokens: Vec<u32> = prompt.iter().chain(output).copied().collect();
			let mut last = Vec::new();
			let mut cache = KvCache::default();
			self.model
				.forward_each(&tokens, &mut cache, Some(&self.adapter), tokens.len() - 1, |_, l| {
					last = l.to_vec();
					Ok(true)
				})
				.unwrap();
			last
		}
	}

	const PROMPTS: [&[u32]; 4] =
		[&[5, 77, 120, 9], &[200, 41, 13], &[3, 3, 3, 3, 3, 99], &[150, 151, 152, 30, 31]];

	/// Greedy outputs verify with the tokens generation chose, whatever the canonical
	/// tokenization of their bytes (the tiny vocabulary's merges make them differ), and the
	/// logits of one prefill agree with those of token-by-token decoding.
	#[test]
	fn greedy_outputs_verify_as_generated() {
		let tiny = tiny();
		for prompt in PROMPTS {
			let generated = tiny.generate(prompt, 40);
			assert_eq!(generated.len(), 40, "the tiny model does not stop on its own");
			let forced = tiny.force(prompt, &tiny.bytes(&generated), 40, false);
			assert_eq!(forced.divergence, None, "prompt {prompt:?}");
			assert_eq!(forced.tokens, generated);
			assert!(forced.max_gap < 1e-3, "gap {}", forced.max_gap);
		}
	}

	/// Where the canonical tokenization merges two generated tokens into one that is not the
	/// model's choice, the two are found by re-segmentation and the rest forced again.
	#[test]
	fn a_canonical_token_generation_split_is_resegmented() {
		let tiny = tiny();
		let prompt = PROMPTS[3];
		let generated = tiny.generate(prompt, 24);
		// Token 0 (a control token, never generated) spells generated tokens 5 and 6 together.
		let merged = tiny.bytes(&generated[5..7]);
		let bytes_of = |id: u32| match id {
			0 => merged.clone(),
			id => tiny.vocabulary.bytes(id).to_vec(),
		};
		let vocabulary = Vocabulary::new(tiny::config().vocab_size, bytes_of, vec![1, 2]);
		let mut canonical = generated.clone();
		canonical.splice(5..7, [0]);
		let output = tiny.bytes(&generated);
		let claim = Claim::whole(prompt, &output, 24);
		let forced = tiny.force_from(&vocabulary, &canonical, &claim);
		assert_eq!(forced.divergence, None);
		assert_eq!(forced.tokens, generated);
		assert_eq!(forced.resegmented, 2);
	}

	/// A token replaced anywhere in a 40-token output is found at that token.
	#[test]
	fn a_substituted_token_is_found_where_it_is() {
		let tiny = tiny();
		let prompt = PROMPTS[0];
		let generated = tiny.generate(prompt, 40);
		for index in [0, 17, 39] {
			// The model's least likely byte token there: surely not its choice.
			let logits = tiny.logits_after(prompt, &generated[..index]);
			let worst = (3..259u32)
				.min_by(|&a, &b| logits[a as usize].total_cmp(&logits[b as usize]))
				.unwrap();
			assert!(Scores::of(&logits).gap(worst) > EPSILON);
			let mut forged = generated.clone();
			forged[index] = worst;
			let forced = tiny.force(prompt, &tiny.bytes(&forged), 40, false);
			let Some(Divergence::NotGreedy { index: found, gap, .. }) = forced.divergence else {
				panic!("substitution at {index} not found: {:?}", forced.divergence);
			};
			assert!(found <= index && gap > EPSILON, "found at {found}, gap {gap}");
			assert_eq!(forced.tokens, generated[..found]);
		}
	}

	/// An output that stops before `max_tokens` where the model goes on, or holds more than
	/// `max_tokens`, is refused; one cut after generation (`truncated`) may end inside its
	/// last token.
	#[test]
	fn outputs_stopped_early_too_long_or_cut() {
		let tiny = tiny();
		let prompt = PROMPTS[1];
		let generated = tiny.generate(prompt, 40);
		let bytes = tiny.bytes(&generated);
		let early = tiny.force(prompt, &bytes, 41, false);
		assert!(matches!(early.divergence, Some(Divergence::EndedEarly { .. })), "{early:?}");
		let long = tiny.force(prompt, &bytes, 39, false);
		assert_eq!(long.divergence, Some(Divergence::TooLong));
		// Cut inside its last token of two or more bytes.
		let last = generated.iter().rposition(|&t| tiny.vocabulary.bytes(t).len() > 1);
		let last = last.expect("a merged token among 40");
		let end = tiny.bytes(&generated[..last]).len() + 1;
		let cut = tiny.force(prompt, &bytes[..end], 41, true);
		assert_eq!(cut.divergence, None, "{cut:?}");
		assert_eq!(cut.tokens.len(), last + 1);
		// Without the mark, the same bytes are not a whole output.
		assert!(tiny.force(prompt, &bytes[..end], 41, false).divergence.is_some());
	}

	/// An output that ended with a stop token verifies when it says fewer than `max_tokens`.
	#[test]
	fn an_output_the_model_stopped_verifies() {
		let tiny = tiny();
		// Find a point where the model's choice is a stop token: make it one by asking the
		// vocabulary to treat the model's choice after the prompt as one.
		let prompt = PROMPTS[2];
		let choice = Scores::of(&tiny.logits_after(prompt, &[])).choice;
		let vocabulary = Vocabulary::of(&tiny.tokenizer, vec![choice]);
		let tiny = Tiny { vocabulary, ..tiny };
		let forced = tiny.force(prompt, b"", 10, false);
		assert_eq!(forced.divergence, None);
		assert!(forced.tokens.is_empty());
		let elsewhere = Vocabulary::of(&tiny.tokenizer, vec![(choice + 1) % 259]);
		let tiny = Tiny { vocabulary: elsewhere, ..tiny };
		assert!(matches!(
			tiny.force(prompt, b"", 10, false).divergence,
			Some(Divergence::EndedEarly { .. })
		));
	}

	/// A stop token spelled inside an output (its control text) is never taken as the model
	/// stopping and going on: generation ends at a stop token, so nothing follows one.
	#[test]
	fn a_stop_token_inside_an_output_is_not_greedy() {
		let tiny = tiny();
		let prompt = PROMPTS[2];
		let choice = Scores::of(&tiny.logits_after(prompt, &[])).choice;
		let mut after: Vec<u32> = prompt.to_vec();
		after.push(choice);
		let continuation = tiny.generate(&after, 8);
		// The model's choice after the prompt treated as a stop token, then what follows it.
		let vocabulary = Vocabulary::of(&tiny.tokenizer, vec![choice]);
		let mut canonical = vec![choice];
		canonical.extend(&continuation);
		let output: Vec<u8> = tiny.vocabulary.spell(&canonical);
		let claim = Claim::whole(prompt, &output, 9);
		let forced = tiny.force_from(&vocabulary, &canonical, &claim);
		assert!(
			matches!(forced.divergence, Some(Divergence::NotGreedy { index: 0, .. })),
			"{forced:?}"
		);
	}

	/// An output longer than `max_tokens` is refused without running more than `max_tokens` of
	/// it through the model, so a claim can never run past the context.
	#[test]
	fn a_claim_past_the_context_is_too_long_not_an_error() {
		let tiny = tiny();
		let prompt = PROMPTS[0];
		let context = tiny::config().context_length;
		let bytes = vec![0xffu8; context + 10];
		let forced = tiny.force(prompt, &bytes, context - prompt.len(), false);
		assert!(
			matches!(forced.divergence, Some(Divergence::TooLong | Divergence::NotGreedy { .. })),
			"{forced:?}"
		);
		// Greedy bytes, one past max_tokens.
		let generated = tiny.generate(prompt, 30);
		assert_eq!(
			tiny.force(prompt, &tiny.bytes(&generated), 29, false).divergence,
			Some(Divergence::TooLong)
		);
	}

	/// A verification given up midway answers an error, not a verdict.
	#[test]
	fn a_cancelled_verification_gives_no_verdict() {
		let tiny = tiny();
		let prompt = PROMPTS[1];
		let output = tiny.bytes(&tiny.generate(prompt, 20));
		let claim = Claim::whole(prompt, &output, 20);
		let cancelled = AtomicBool::new(true);
		let encode = |_: &str| -> Result<Vec<u32>> { Ok(Vec::new()) };
		assert!(force(
			&tiny.model,
			Some(&tiny.adapter),
			&tiny.vocabulary,
			encode,
			&claim,
			&cancelled
		)
		.is_err());
	}

	/// An output bounded in bytes stopped where the model's next choice would not fit: valid
	/// with its bound, and ended early with room to spare.
	#[test]
	fn an_output_stopped_at_its_byte_bound_verifies() {
		let tiny = tiny();
		let prompt = PROMPTS[1];
		let generated = tiny.generate(prompt, 41);
		let bytes = tiny.bytes(&generated[..40]);
		let next = tiny.vocabulary.bytes(generated[40]).len();
		let encode = |text: &str| -> Result<Vec<u32>> {
			Ok(tiny.tokenizer.encode(text, false).map_err(anyhow::Error::msg)?.get_ids().to_vec())
		};
		let bounded = |bound: usize| {
			let claim = Claim {
				prompt,
				output: &bytes,
				max_tokens: 41,
				truncated: false,
				max_output_bytes: Some(bound),
			};
			let cancelled = AtomicBool::new(false);
			force(&tiny.model, Some(&tiny.adapter), &tiny.vocabulary, encode, &claim, &cancelled)
				.unwrap()
		};
		assert_eq!(bounded(bytes.len() + next - 1).divergence, None);
		assert!(matches!(
			bounded(bytes.len() + 100).divergence,
			Some(Divergence::EndedEarly { .. })
		));
	}
}
