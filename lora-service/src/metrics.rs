//! The service's counters, served at `/metrics` in the Prometheus text format.

use std::{
	collections::BTreeMap,
	sync::{
		atomic::{AtomicU64, Ordering},
		Mutex,
	},
};

/// What the HTTP side counts (the engine counts its own, `scheduler::Stats`).
#[derive(Default)]
pub struct Metrics {
	pub(crate) requests: AtomicU64,
	pub(crate) refused: AtomicU64,
	pub(crate) prompt_tokens: AtomicU64,
	pub(crate) completion_tokens: AtomicU64,
	pub(crate) attributions: AtomicU64,
	/// Records removed from datasets' indexes (`DELETE /v1/datasets/{id}/records/{ids}`).
	pub(crate) records_removed: AtomicU64,
	/// Adapters fetched from their URI and registered, fetches that failed (or fetched an
	/// adapter with another hash), and the time all of them took.
	pub(crate) adapter_fetches: AtomicU64,
	pub(crate) adapter_fetch_failures: AtomicU64,
	pub(crate) adapter_fetch_millis: AtomicU64,
	/// Verifications that found the claim valid, invalid, and the time all of them took.
	pub(crate) verified_valid: AtomicU64,
	pub(crate) verified_invalid: AtomicU64,
	pub(crate) verify_millis: AtomicU64,
	/// Requests admitted per model (`base` or an adapter id), for the first
	/// [`MAX_COUNTED_MODELS`]; the rest under `other`.
	pub(crate) per_model: Mutex<BTreeMap<String, u64>>,
}

/// How many models `/metrics` counts apart: the label's cardinality stays bounded whatever
/// clients ask for.
pub const MAX_COUNTED_MODELS: usize = 64;

impl Metrics {
	/// Counts a request admitted for `model` (an id the service knows).
	pub(crate) fn count_model(&self, model: &str) {
		let mut counts = self.per_model.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
		let key = match counts.contains_key(model) || counts.len() < MAX_COUNTED_MODELS {
			true => model,
			false => "other",
		};
		*counts.entry(key.to_string()).or_default() += 1;
	}

	/// The per-model counts in the Prometheus text format.
	pub(crate) fn render_models(&self) -> String {
		let counts = self.per_model.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
		let mut body = String::from(
			"# HELP tributary_lora_model_requests_total Requests admitted, per model (base or \
			 an adapter; past 64 models, `other`).\n# TYPE tributary_lora_model_requests_total \
			 counter\n",
		);
		for (model, count) in counts.iter() {
			body.push_str(&format!(
				"tributary_lora_model_requests_total{{model=\"{model}\"}} {count}\n"
			));
		}
		body
	}
}

/// Upper bounds, in seconds, of the latency histograms' buckets.
pub const LATENCY_BUCKETS: [f64; 14] =
	[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// A histogram of latencies, in seconds, over [`LATENCY_BUCKETS`].
pub struct Histogram {
	counts: [AtomicU64; LATENCY_BUCKETS.len()],
	count: AtomicU64,
	/// The sum, in microseconds.
	sum_micros: AtomicU64,
}

impl Default for Histogram {
	fn default() -> Self {
		Self {
			counts: std::array::from_fn(|_| AtomicU64::new(0)),
			count: AtomicU64::new(0),
			sum_micros: AtomicU64::new(0),
		}
	}
}

impl Histogram {
	pub fn observe(&self, seconds: f64) {
		if let Some(bucket) = LATENCY_BUCKETS.iter().position(|bound| seconds <= *bound) {
			self.counts[bucket].fetch_add(1, Ordering::Relaxed);
		}
		self.count.fetch_add(1, Ordering::Relaxed);
		self.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
	}

	/// How many were observed.
	pub fn count(&self) -> u64 {
		self.count.load(Ordering::Relaxed)
	}

	/// The Prometheus text format of the histogram `tributary_lora_{name}` (cumulative buckets).
	pub(crate) fn render(&self, name: &str, help: &str) -> String {
		let mut body = format!(
			"# HELP tributary_lora_{name} {help}\n# TYPE tributary_lora_{name} histogram\n"
		);
		let mut cumulative = 0;
		for (bound, count) in LATENCY_BUCKETS.iter().zip(&self.counts) {
			cumulative += count.load(Ordering::Relaxed);
			body.push_str(&format!(
				"tributary_lora_{name}_bucket{{le=\"{bound}\"}} {cumulative}\n"
			));
		}
		let count = self.count();
		body.push_str(&format!("tributary_lora_{name}_bucket{{le=\"+Inf\"}} {count}\n"));
		let sum = self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
		body.push_str(&format!(
			"tributary_lora_{name}_sum {sum}\ntributary_lora_{name}_count {count}\n"
		));
		body
	}
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
	counter.fetch_add(by, Ordering::Relaxed);
}

pub(crate) fn get(counter: &AtomicU64) -> f64 {
	counter.load(Ordering::Relaxed) as f64
}

/// One metric: its name (after `tributary_lora_`), kind, help text and value.
pub(crate) type Sample<'a> = (&'a str, &'a str, &'a str, f64);

/// The Prometheus text format of `samples`.
pub(crate) fn render(samples: &[Sample<'_>]) -> String {
	let mut body = String::new();
	for (name, kind, help, value) in samples {
		body.push_str(&format!(
			"# HELP tributary_lora_{name} {help}\n# TYPE tributary_lora_{name} {kind}\n\
			 tributary_lora_{name} {value}\n"
		));
	}
	body
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn histograms_count_into_cumulative_buckets() {
		let histogram = Histogram::default();
		for seconds in [0.001, 0.02, 0.02, 3.0, 500.0] {
			histogram.observe(seconds);
		}
		let text = histogram.render("x_seconds", "help");
		assert!(text.contains("tributary_lora_x_seconds_bucket{le=\"0.005\"} 1\n"), "{text}");
		assert!(text.contains("tributary_lora_x_seconds_bucket{le=\"0.025\"} 3\n"), "{text}");
		assert!(text.contains("tributary_lora_x_seconds_bucket{le=\"5\"} 4\n"), "{text}");
		assert!(text.contains("tributary_lora_x_seconds_bucket{le=\"120\"} 4\n"), "{text}");
		assert!(text.contains("tributary_lora_x_seconds_bucket{le=\"+Inf\"} 5\n"), "{text}");
		assert!(text.contains("tributary_lora_x_seconds_count 5\n"), "{text}");
		assert!(text.contains("tributary_lora_x_seconds_sum 503.041\n"), "{text}");
	}

	/// However many models clients name, the per-model label takes at most 65 values.
	#[test]
	fn per_model_counts_are_bounded() {
		let metrics = Metrics::default();
		for i in 0..200 {
			metrics.count_model(&format!("adapter-{}", i % 100));
		}
		metrics.count_model("adapter-0");
		let text = metrics.render_models();
		let lines =
			text.lines().filter(|l| l.starts_with("tributary_lora_model_requests_total{")).count();
		assert_eq!(lines, MAX_COUNTED_MODELS + 1);
		assert!(text.contains("{model=\"adapter-0\"} 3\n"), "{text}");
		assert!(text.contains("{model=\"other\"} 72\n"), "{text}");
	}
}
