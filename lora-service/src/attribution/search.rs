//! Finding an output's spans in segments of data, weighing the records that hold them, and
//! sharing one million parts among them.
//!
//! Weights and shares are integers, computed the same way on every machine: no floating point
//! (whose `ln` differs between platforms' libm), sums that do not depend on the order they are
//! taken in (so not on how the records were inserted, merged or removed), and ties broken by
//! (dataset, contribution). Two services holding the same records give the same attribution,
//! byte for byte.

use super::{segment::shift, Credit, Record, Segment, Span};

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

/// Fractional bits of [`log2_fixed`]'s answer.
pub const LOG2_FRACTION_BITS: u32 = 32;

/// log2(`x`) in fixed point with [`LOG2_FRACTION_BITS`] fractional bits, for `x` ≥ 1 (0 for 0),
/// in integers alone: the integer part is the position of the highest bit set; each fractional
/// bit is whether the square of the mantissa (`x` / 2^integer part, in [1, 2)) reaches 2, the
/// mantissa halved when it does. The mantissa has 63 fractional bits (exact for `x` < 2^64; the
/// bits below are dropped above that), so its square fits in 128 bits. Exact for powers of two,
/// otherwise at most about 2^-31 below the true value. Below 128 × 2^32 = 2^39.
pub fn log2_fixed(x: u128) -> u64 {
	if x == 0 {
		return 0;
	}
	let whole = 127 - x.leading_zeros();
	let mut mantissa = match whole <= 63 {
		true => x << (63 - whole),
		false => x >> (whole - 63),
	};
	let mut log = u64::from(whole) << LOG2_FRACTION_BITS;
	for bit in (0..LOG2_FRACTION_BITS).rev() {
		// Squaring doubles the logarithm: its next bit is whether the square reaches 2.
		mantissa = (mantissa * mantissa) >> 63;
		if mantissa >= 1 << 64 {
			mantissa >>= 1;
			log |= 1 << bit;
		}
	}
	log
}

/// What each occurrence of a span of `length` tokens, found `occurrences` times in data of
/// `indexed` tokens, weighs: `length × log2(1 + indexed / occurrences) / occurrences` in fixed
/// point (32 fractional bits), the division truncating. The logarithm is taken as
/// log2(occurrences + indexed) − log2(occurrences), so no quotient is rounded before it.
///
/// OLMoTrace's ln differs from log2 by the constant factor ln 2, which scales every weight
/// alike and so cancels when weights are normalised to shares.
///
/// No overflow: the counts are below 2^64 (they count tokens held in memory), so their sum
/// is below 2^65, the logarithm below 2^39 and the product below 2^103.
pub fn span_weight(length: usize, occurrences: usize, indexed: usize) -> u128 {
	let (occurrences, indexed) = (occurrences.max(1) as u128, indexed as u128);
	let rarity = log2_fixed(occurrences + indexed).saturating_sub(log2_fixed(occurrences));
	length as u128 * u128::from(rarity) / occurrences
}

/// A record with its dataset's id: what attribution orders records and breaks ties by.
pub type DatasetRecord = (u32, Record);

/// Weighs the records of `segments` (each with its dataset's id; searched as one corpus) that
/// contain each span of `output`: every occurrence of a span credits the record holding it
/// with [`span_weight`] (rarer and longer spans weigh more; a span's weight is shared among
/// its occurrences). Returns the spans and every record with a weight above zero, with its
/// dataset's id, in (dataset, contribution) order.
///
/// A record's weight is a sum of integers, the same in whatever order they are added, so
/// it does not depend on how the records are laid out in segments. It is at most the sum over
/// spans of length × log2(...): below T² × 2^39 for an output of T tokens, 2^103 for any
/// output under 2^32 tokens; the sums saturate rather than wrap beyond that.
pub fn weigh(
	segments: &[(u32, &Segment)],
	output: &[u32],
	min_span: usize,
) -> (Vec<Span>, Vec<(DatasetRecord, u128)>) {
	let searched: Vec<&Segment> = segments.iter().map(|(_, segment)| *segment).collect();
	let spans = spans(&searched, output, min_span);
	let mut weights: Vec<Vec<u128>> = searched.iter().map(|s| vec![0; s.records.len()]).collect();
	let indexed: usize = searched.iter().map(|s| s.len()).sum();
	for span in &spans {
		let pattern = shift(&output[span.start..span.end]);
		let weight = span_weight(span.end - span.start, span.occurrences, indexed);
		for (segment, weights) in searched.iter().zip(weights.iter_mut()) {
			let (lo, hi) = segment.range(&pattern);
			for k in lo..hi {
				let record = &mut weights[segment.record_at(segment.suffixes[k] as usize)];
				*record = record.saturating_add(weight);
			}
		}
	}
	let mut weighed: Vec<(DatasetRecord, u128)> = segments
		.iter()
		.zip(weights)
		.flat_map(|((dataset_id, segment), weights)| {
			segment
				.records
				.iter()
				.zip(weights)
				.filter(|(_, weight)| *weight > 0)
				.map(|(record, weight)| ((*dataset_id, record.clone()), weight))
		})
		.collect();
	weighed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
	(spans, weighed)
}

/// Shares of one million parts proportional to the weights of `weighed`, in its order,
/// summing to exactly one million when any weight is above zero (none otherwise): share i is
/// ⌊wᵢ × 10⁶ / total⌋, and the parts left over (fewer than the records) go one each to the
/// largest remainders wᵢ × 10⁶ mod total, compared exactly (all over the same total), ties
/// to the lower key — (dataset, contribution) for records — whatever order they come in.
///
/// wᵢ × 10⁶ fits in 128 bits while the total is below 2^108 ([`weigh`]'s weights are, for any
/// output under 2^34 tokens); when it is not, every weight is first shifted down alike, by as
/// many bits as bring each below 2^108.
pub fn normalise<K: Ord>(weighed: &[(K, u128)]) -> Vec<u32> {
	const PARTS: u128 = 1_000_000;
	let total = weighed.iter().fold(0u128, |sum, (_, w)| sum.saturating_add(*w));
	let scale = (128 - total.leading_zeros()).saturating_sub(108);
	let weights: Vec<u128> = weighed.iter().map(|(_, w)| w >> scale).collect();
	let total = weights.iter().fold(0u128, |sum, w| sum.saturating_add(*w));
	if total == 0 {
		return Vec::new();
	}
	let mut parts: Vec<(u128, u128)> =
		weights.iter().map(|w| (w * PARTS / total, w * PARTS % total)).collect();
	let assigned: u128 = parts.iter().map(|(share, _)| share).sum();
	let mut order: Vec<usize> = (0..parts.len()).collect();
	order.sort_unstable_by(|&a, &b| {
		parts[b].1.cmp(&parts[a].1).then_with(|| weighed[a].0.cmp(&weighed[b].0))
	});
	for &i in order.iter().take(PARTS.saturating_sub(assigned) as usize) {
		parts[i].0 += 1;
	}
	parts.into_iter().map(|(share, _)| share as u32).collect()
}

/// [`weigh`], normalised to one million parts: the spans, and every credited record with its
/// dataset's id, in (dataset, contribution) order.
pub fn attribute(
	segments: &[(u32, &Segment)],
	output: &[u32],
	min_span: usize,
) -> (Vec<Span>, Vec<(u32, Credit)>) {
	let (spans, weighed) = weigh(segments, output, min_span);
	let credits = normalise(&weighed)
		.into_iter()
		.zip(weighed)
		.map(|(score_ppm, ((dataset_id, record), _))| (dataset_id, Credit { record, score_ppm }))
		.collect();
	(spans, credits)
}

#[cfg(test)]
mod tests {
	use super::*;

	fn log2_of(x: u128) -> f64 {
		log2_fixed(x) as f64 / f64::from(1u32 << 16) / f64::from(1u32 << 16)
	}

	/// Powers of two have exact logarithms; others are within 2^-30 of f64's, below it or
	/// equal, and the logarithm never decreases as its argument grows.
	#[test]
	fn fixed_point_log2_is_exact_for_powers_of_two_and_close_otherwise() {
		assert_eq!(log2_fixed(1), 0);
		for power in 0..128u32 {
			assert_eq!(log2_fixed(1 << power), u64::from(power) << 32, "2^{power}");
		}
		let samples: [u128; 14] = [
			3,
			5,
			7,
			10,
			1_000,
			1_000_001,
			(1 << 20) + 1,
			(1 << 32) - 1,
			12_345_678_901,
			u64::MAX as u128 - 1,
			u64::MAX as u128,
			(1 << 64) + 12_345,
			1 << 100 | 1 << 99 | 7,
			u128::MAX,
		];
		for x in samples {
			let exact = (x as f64).log2();
			let fixed = log2_of(x);
			assert!((fixed - exact).abs() < 2f64.powi(-30), "log2({x}): {fixed} vs {exact}");
		}
		assert!(log2_of(3) <= 3f64.log2() && log2_of(10) <= 10f64.log2(), "rounded down");
		let mut previous = 0;
		for x in 1..5_000u128 {
			let log = log2_fixed(x * 997);
			assert!(log >= previous, "monotone at {}", x * 997);
			previous = log;
		}
		// The ratio of twice a count to the count weighs exactly one.
		assert_eq!(log2_fixed(2 * 1_234_567) - log2_fixed(1_234_567), 1 << 32);
	}

	/// A span's weight: longer weighs more, rarer weighs more, integers throughout.
	#[test]
	fn span_weights_are_integers_that_favour_long_and_rare_spans() {
		// log2(1 + 3/1) = 2: eight tokens weigh 16, in 32 fractional bits.
		assert_eq!(span_weight(8, 1, 3), 16 << 32);
		// log2(1 + 7/7) = 1, shared by seven occurrences, truncated.
		assert_eq!(span_weight(8, 7, 7), (8u128 << 32) / 7);
		assert!(span_weight(9, 2, 1_000) > span_weight(8, 2, 1_000));
		assert!(span_weight(8, 1, 1_000) > 2 * span_weight(8, 2, 1_000));
		let largest = span_weight(usize::MAX, 1, usize::MAX);
		assert!(largest > 0 && largest < 1 << 103, "no overflow");
	}

	/// Shares sum to a million; the parts rounding leaves go to the largest remainders, ties
	/// to the lower key whatever order the records come in.
	#[test]
	fn shares_sum_to_a_million_and_ties_go_to_the_lower_key() {
		assert_eq!(normalise(&[(1, 1), (2, 1), (3, 1)]), vec![333_334, 333_333, 333_333]);
		assert_eq!(normalise(&[(3, 1), (1, 1), (2, 1)]), vec![333_333, 333_334, 333_333]);
		assert_eq!(normalise(&[(5, 2), (4, 1)]), vec![666_667, 333_333]);
		assert_eq!(normalise(&[(1, 0u128)]), Vec::<u32>::new());
		assert_eq!(normalise::<u32>(&[]), Vec::<u32>::new());
		let huge = [(1, u128::MAX), (2, u128::MAX / 3), (3, 1)];
		let shares = normalise(&huge);
		assert_eq!(shares.iter().sum::<u32>(), 1_000_000, "{shares:?}");
		assert_eq!(shares, vec![750_000, 250_000, 0]);
		let many: Vec<(u32, u128)> = (0..7u32).map(|i| (i, u128::from(i) * 31 + 5)).collect();
		assert_eq!(normalise(&many).iter().sum::<u32>(), 1_000_000);
	}
}
