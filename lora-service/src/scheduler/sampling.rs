//! Choosing each next token: greedy, or sampled with a temperature and nucleus from a seeded
//! generator of the request's own.

use anyhow::Result;
use candle_core::Tensor;

use crate::rng::SplitMix64;

/// How the next token is chosen. Temperature 0 is greedy (argmax); otherwise the logits are
/// divided by the temperature, cut to the smallest set of tokens whose probability reaches
/// `top_p`, and drawn from with a generator seeded by `seed`, so the same request with the
/// same seed gives the same output, alone or batched with any others.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Sampling {
	pub temperature: f32,
	pub top_p: f32,
	pub seed: u64,
}

impl Sampling {
	pub const GREEDY: Self = Self { temperature: 0.0, top_p: 1.0, seed: 0 };
}

/// Draws in [0, 1) for sampling.
#[derive(Clone)]
pub(crate) struct Rng(pub(crate) SplitMix64);

impl Rng {
	fn next_f32(&mut self) -> f32 {
		self.0.next_24() as f32 / (1u32 << 24) as f32
	}
}

/// Chooses a token from one row of logits.
pub(crate) fn sample(logits: &Tensor, sampling: &Sampling, rng: &mut Rng) -> Result<u32> {
	if sampling.temperature <= 0.0 {
		return Ok(logits.argmax(0)?.to_scalar::<u32>()?);
	}
	let logits = logits.to_vec1::<f32>()?;
	let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
	let mut probs: Vec<(u32, f32)> = logits
		.iter()
		.enumerate()
		.map(|(i, l)| (i as u32, ((l - max) / sampling.temperature).exp()))
		.collect();
	let total: f32 = probs.iter().map(|p| p.1).sum();
	probs.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
	let mut kept = 0.0;
	let mut cut = probs.len();
	for (i, (_, p)) in probs.iter().enumerate() {
		kept += p / total;
		if kept >= sampling.top_p {
			cut = i + 1;
			break;
		}
	}
	probs.truncate(cut.max(1));
	let mass: f32 = probs.iter().map(|p| p.1).sum();
	let mut draw = rng.next_f32() * mass;
	for (token, p) in &probs {
		if draw < *p {
			return Ok(*token);
		}
		draw -= p;
	}
	Ok(probs.last().map(|p| p.0).unwrap_or(0))
}
