//! Log-probabilities of the chosen tokens and of their most likely alternatives, for requests
//! that ask (`logprobs`). They are the model's own distribution at that position, the
//! log-softmax of its logits, before the request's temperature and nucleus shape the draw: what
//! OpenAI reports, and the same for a sampled token as for a greedy one.

use anyhow::{ensure, Result};

/// The most alternatives a request may ask for per token (OpenAI's bound for chat).
pub const MAX_TOP_LOGPROBS: usize = 20;

/// One generated token's log-probability and the `top` most likely tokens at its position,
/// most likely first (ties by token id).
#[derive(Clone, Debug, PartialEq)]
pub struct TokenLogprobs {
	pub token: u32,
	pub logprob: f32,
	pub top: Vec<(u32, f32)>,
}

/// The log-probabilities at one position (`logits`, a vector over the vocabulary) of `chosen`
/// and of the `top` most likely tokens.
pub fn logprobs(logits: &[f32], chosen: u32, top: usize) -> Result<TokenLogprobs> {
	ensure!((chosen as usize) < logits.len(), "token {chosen} is outside the logits");
	// log p(i) = l(i) − (max + ln Σ exp(l(j) − max)), in f64 so that a large vocabulary's sum
	// loses nothing.
	let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
	let sum: f64 = logits.iter().map(|&l| f64::from(l - max).exp()).sum();
	let normalizer = f64::from(max) + sum.ln();
	let logprob = |l: f32| (f64::from(l) - normalizer) as f32;
	let mut best: Vec<(u32, f32)> = Vec::with_capacity(top + 1);
	if top > 0 {
		for (id, &l) in logits.iter().enumerate() {
			let better = |other: &(u32, f32)| l > other.1;
			if best.len() < top || best.last().is_some_and(better) {
				let at = best.partition_point(|other| !better(other));
				best.insert(at, (id as u32, l));
				best.truncate(top);
			}
		}
	}
	Ok(TokenLogprobs {
		token: chosen,
		logprob: logprob(logits[chosen as usize]),
		top: best.into_iter().map(|(id, l)| (id, logprob(l))).collect(),
	})
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn log_softmax_with_the_most_likely_first() {
		let logits = [1.0f32, 3.0, 2.0, 3.0, -1.0];
		let found = logprobs(&logits, 2, 3).unwrap();
		let total: f64 = [1.0f64, 3.0, 2.0, 3.0, -1.0].iter().map(|l| l.exp()).sum();
		let expected = |l: f64| (l - total.ln()) as f32;
		assert!((found.logprob - expected(2.0)).abs() < 1e-6);
		// Ties keep the lower id first.
		let ids: Vec<u32> = found.top.iter().map(|t| t.0).collect();
		assert_eq!(ids, vec![1, 3, 2]);
		for (id, lp) in &found.top {
			assert!((lp - expected([1.0, 3.0, 2.0, 3.0, -1.0][*id as usize])).abs() < 1e-6);
		}
		assert!(logprobs(&logits, 0, 0).unwrap().top.is_empty());
		assert_eq!(logprobs(&logits, 0, 9).unwrap().top.len(), 5, "no more than the vocabulary");
		assert!(logprobs(&logits, 5, 1).is_err());
	}
}
