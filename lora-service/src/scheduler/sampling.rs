//! Choosing each next token: greedy, or sampled with a temperature and nucleus from a seeded
//! generator of the request's own.

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

/// The order tokens are kept in for the nucleus: most probable first, ties by token id.
fn likelier(a: &(u32, f32), b: &(u32, f32)) -> std::cmp::Ordering {
	b.1.total_cmp(&a.1).then(a.0.cmp(&b.0))
}

/// The most probable tokens first (in [`likelier`] order), as few as reach `top_p` of
/// `total`: the prefix of a full sort, found by partial selection (the 64 most probable, then
/// 4× more while they fall short), so a peaked distribution never sorts the vocabulary.
fn nucleus(mut probs: Vec<(u32, f32)>, total: f32, top_p: f32) -> Vec<(u32, f32)> {
	let (mut sorted, mut kept, mut next) = (0, 0.0f32, 0);
	let mut wanted = 64;
	loop {
		let (all, take) = (probs.len(), wanted.min(probs.len()));
		if take > sorted {
			if take < all {
				probs[sorted..].select_nth_unstable_by(take - sorted - 1, likelier);
			}
			probs[sorted..take].sort_unstable_by(likelier);
			sorted = take;
		}
		while next < sorted {
			kept += probs[next].1 / total;
			next += 1;
			if kept >= top_p {
				probs.truncate(next);
				return probs;
			}
		}
		if sorted == probs.len() {
			return probs;
		}
		wanted = wanted.saturating_mul(4);
	}
}

/// Chooses a token from one row of logits.
pub(crate) fn sample(logits: &[f32], sampling: &Sampling, rng: &mut Rng) -> u32 {
	if sampling.temperature <= 0.0 || logits.is_empty() {
		return argmax(logits);
	}
	let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
	let probs: Vec<(u32, f32)> = logits
		.iter()
		.enumerate()
		.map(|(i, l)| (i as u32, ((l - max) / sampling.temperature).exp()))
		.collect();
	let total: f32 = probs.iter().map(|p| p.1).sum();
	let probs = nucleus(probs, total, sampling.top_p);
	let mass: f32 = probs.iter().map(|p| p.1).sum();
	let mut draw = rng.next_f32() * mass;
	for (token, p) in &probs {
		if draw < *p {
			return *token;
		}
		draw -= p;
	}
	probs.last().map(|p| p.0).unwrap_or(0)
}

/// The first index of the largest logit (candle's argmax).
pub(crate) fn argmax(logits: &[f32]) -> u32 {
	let mut best = 0;
	for (i, &l) in logits.iter().enumerate() {
		if l > logits[best] {
			best = i;
		}
	}
	best as u32
}

#[cfg(test)]
mod tests {
	use super::*;

	/// The nucleus by partial selection is the prefix a full sort gives, for peaked and flat
	/// distributions, ties included, at any top_p.
	#[test]
	fn the_nucleus_is_the_prefix_of_a_full_sort() {
		let mut rng = SplitMix64(9);
		for (n, spread) in [(49_152, 0.05f32), (49_152, 30.0), (1000, 1.0), (70, 2.0), (5, 1.0)] {
			let logits: Vec<f32> = (0..n)
				.map(|i| match i % 97 {
					// Ties.
					0 => 1.5,
					_ => (rng.next_24() as f32 / (1 << 24) as f32) * spread,
				})
				.collect();
			let probs: Vec<(u32, f32)> =
				logits.iter().enumerate().map(|(i, l)| (i as u32, l.exp())).collect();
			let total: f32 = probs.iter().map(|p| p.1).sum();
			for top_p in [1e-9, 0.1, 0.5, 0.95, 1.0] {
				let mut full = probs.clone();
				full.sort_by(likelier);
				let mut kept = 0.0;
				let mut cut = full.len();
				for (i, (_, p)) in full.iter().enumerate() {
					kept += p / total;
					if kept >= top_p {
						cut = i + 1;
						break;
					}
				}
				full.truncate(cut);
				assert_eq!(nucleus(probs.clone(), total, top_p), full, "{n} {spread} {top_p}");
			}
		}
	}

	#[test]
	fn argmax_takes_the_first_largest() {
		assert_eq!(argmax(&[1.0, 3.0, 2.0, 3.0]), 1);
		assert_eq!(argmax(&[-1.0]), 0);
	}
}
