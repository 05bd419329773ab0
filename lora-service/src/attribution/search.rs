//! Finding an output's spans in segments of data, weighing the records that hold them, and
//! sharing one million parts among them.

use super::{segment::shift, Segment, Span};

/// The maximal spans of `output` of at least `min_span` tokens that occur in any of
/// `segments` (searched as one corpus), in order: for each start, the longest match; a span
/// inside the previous one is dropped.
pub fn spans(segments: &[&Segment], output: &[u32], min_span: usize) -> Vec<Span> {
	let shifted = shift(output);
	let mut spans: Vec<Span> = Vec::new();
	for start in 0..shifted.len() {
		// Grow the match while it still occurs in some segment.
		let mut ranges: Vec<(usize, usize)> =
			segments.iter().map(|s| (0, s.suffixes.len())).collect();
		let (mut end, mut occurrences) = (start, 0);
		while end < shifted.len() && shifted[end] != 0 {
			let mut found = 0;
			for (segment, range) in segments.iter().zip(ranges.iter_mut()) {
				if range.0 < range.1 {
					*range = segment.refine(*range, end - start, shifted[end]);
					found += range.1 - range.0;
				}
			}
			if found == 0 {
				break;
			}
			occurrences = found;
			end += 1;
		}
		if end - start < min_span.max(1) {
			continue;
		}
		if spans.last().is_some_and(|last| end <= last.end) {
			continue;
		}
		spans.push(Span { start, end, occurrences });
	}
	spans
}

/// Weighs the records of `segments` (searched as one corpus) that contain each span of
/// `output`: a span weighs ln(1 + tokens / occurrences) per token of length (rarer and longer
/// spans weigh more), shared equally among its occurrences. Returns the spans and, per
/// segment, each record's weight.
pub fn weigh(segments: &[&Segment], output: &[u32], min_span: usize) -> (Vec<Span>, Vec<Vec<f64>>) {
	let spans = spans(segments, output, min_span);
	let mut weights: Vec<Vec<f64>> = segments.iter().map(|s| vec![0f64; s.records.len()]).collect();
	let total_tokens: usize = segments.iter().map(|s| s.len()).sum();
	for span in &spans {
		let pattern = shift(&output[span.start..span.end]);
		let weight = (span.end - span.start) as f64
			* (1.0 + total_tokens as f64 / span.occurrences as f64).ln()
			/ span.occurrences as f64;
		for (segment, weights) in segments.iter().zip(weights.iter_mut()) {
			let (lo, hi) = segment.range(&pattern);
			for k in lo..hi {
				weights[segment.record_at(segment.suffixes[k] as usize)] += weight;
			}
		}
	}
	(spans, weights)
}

/// Shares of one million parts proportional to `weights` (all above zero), summing to exactly
/// one million: each rounded down, the parts left over going to the largest remainders (ties
/// to the earlier).
pub fn normalise(weights: &[f64]) -> Vec<u32> {
	let total: f64 = weights.iter().sum();
	if weights.is_empty() || total <= 0.0 {
		return Vec::new();
	}
	let mut parts: Vec<(u64, f64)> = weights
		.iter()
		.map(|w| {
			let exact = w / total * 1_000_000.0;
			(exact.floor() as u64, exact - exact.floor())
		})
		.collect();
	let assigned: u64 = parts.iter().map(|p| p.0).sum();
	let mut order: Vec<usize> = (0..parts.len()).collect();
	order.sort_by(|&a, &b| parts[b].1.total_cmp(&parts[a].1).then(a.cmp(&b)));
	for &i in order.iter().take(1_000_000u64.saturating_sub(assigned) as usize) {
		parts[i].0 += 1;
	}
	parts.into_iter().map(|(ppm, _)| ppm as u32).collect()
}
