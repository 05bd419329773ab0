//! The service's counters, served at `/metrics` in the Prometheus text format.

use std::sync::atomic::{AtomicU64, Ordering};

/// What the HTTP side counts (the engine counts its own, `scheduler::Stats`).
#[derive(Default)]
pub struct Metrics {
	pub(crate) requests: AtomicU64,
	pub(crate) refused: AtomicU64,
	pub(crate) prompt_tokens: AtomicU64,
	pub(crate) completion_tokens: AtomicU64,
	pub(crate) attributions: AtomicU64,
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
