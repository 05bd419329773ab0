//! Span attribution in the manner of infini-gram / OLMoTrace: a dataset's records, tokenized,
//! form one token array with a separator between records, indexed by a suffix array. For an
//! output, the maximal spans of at least `min_span` tokens that occur in the data are found,
//! and each span credits the records containing it; a span weighs more the rarer it is. The
//! result is deterministic, so anyone holding the data can recompute it.

use anyhow::{bail, Result};
use libsais::SuffixArrayConstruction;

/// Identifies a record: its contribution id and the blake2-256 hash of its bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
	pub contribution_id: u32,
	pub content_hash: [u8; 32],
}

/// Records indexed together: their token stream and its suffix array.
pub struct Segment {
	/// Token ids shifted up by one; 0 ends each record (so no span crosses two).
	text: Vec<u16>,
	suffixes: Vec<i32>,
	/// For each record, where its tokens start in `text`, in order.
	starts: Vec<usize>,
	records: Vec<Record>,
}

/// A dataset's index: segments of records, each with its own suffix array. Records are added
/// as a new segment, and the newest segments merge while the newer is at least half the size
/// of the one before, so a dataset built one record at a time holds O(log n) segments and each
/// token is re-indexed O(log n) times.
#[derive(Default)]
pub struct DatasetIndex {
	segments: Vec<Segment>,
}

/// A span of the output found in the data.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
	/// Start and end (exclusive) in the output's tokens.
	pub start: usize,
	pub end: usize,
	/// How many times it occurs in the data.
	pub occurrences: usize,
}

/// A record's share of the credit, in parts per million.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credit {
	pub record: Record,
	pub score_ppm: u32,
}

/// Token ids shifted up by one, 0 for ids the index cannot hold (which match nothing).
fn shift(tokens: &[u32]) -> Vec<u16> {
	tokens.iter().map(|&t| if t < u32::from(u16::MAX) { t as u16 + 1 } else { 0 }).collect()
}

impl Segment {
	/// Tokens held, separators included.
	pub fn len(&self) -> usize {
		self.text.len()
	}

	pub fn is_empty(&self) -> bool {
		self.text.is_empty()
	}

	fn from_text(text: Vec<u16>, starts: Vec<usize>, records: Vec<Record>) -> Result<Self> {
		if text.len() >= i32::MAX as usize {
			bail!("a segment of {} tokens is too large", text.len());
		}
		let suffixes = SuffixArrayConstruction::for_text(&text)
			.in_owned_buffer32()
			.single_threaded()
			.run()
			.map_err(|e| anyhow::anyhow!("building the suffix array: {e:?}"))?
			.into_vec();
		Ok(Self { text, suffixes, starts, records })
	}

	/// Indexes tokenized records. Token ids must be below 65,535.
	pub fn build(records: Vec<(Record, Vec<u32>)>) -> Result<Self> {
		let mut text = Vec::with_capacity(records.iter().map(|r| r.1.len() + 1).sum());
		let mut starts = Vec::with_capacity(records.len());
		let mut kept = Vec::with_capacity(records.len());
		for (record, tokens) in records {
			starts.push(text.len());
			for token in tokens {
				if token >= u32::from(u16::MAX) {
					bail!("token id {token} is too large for the index");
				}
				text.push(token as u16 + 1);
			}
			text.push(0);
			kept.push(record);
		}
		Self::from_text(text, starts, kept)
	}

	/// One segment holding `self`'s records, then `other`'s.
	fn merge(mut self, other: Segment) -> Result<Self> {
		let offset = self.text.len();
		self.text.extend_from_slice(&other.text);
		self.starts.extend(other.starts.iter().map(|s| s + offset));
		self.records.extend(other.records);
		drop(self.suffixes);
		Self::from_text(self.text, self.starts, self.records)
	}

	/// The suffixes in `range` that continue with `token` at `offset`.
	fn refine(&self, (lo, hi): (usize, usize), offset: usize, token: u16) -> (usize, usize) {
		let slice = &self.suffixes[lo..hi];
		let at = |s: i32| self.text.get(s as usize + offset).copied();
		let first = slice.partition_point(|&s| at(s).is_none_or(|t| t < token));
		let last = first + slice[first..].partition_point(|&s| at(s).is_some_and(|t| t <= token));
		(lo + first, lo + last)
	}

	/// The range of suffixes that start with `pattern` (shifted token ids).
	fn range(&self, pattern: &[u16]) -> (usize, usize) {
		let mut range = (0, self.suffixes.len());
		for (offset, &token) in pattern.iter().enumerate() {
			range = self.refine(range, offset, token);
			if range.0 >= range.1 {
				break;
			}
		}
		range
	}

	/// The record a text position belongs to.
	fn record_at(&self, position: usize) -> usize {
		self.starts.partition_point(|&start| start <= position).saturating_sub(1)
	}

	/// Writes the segment: a header, the records, the text and the suffix array.
	pub fn write(&self, path: &std::path::Path) -> Result<()> {
		use std::io::Write;
		let tmp = path.with_extension("tmp");
		let mut out = std::io::BufWriter::new(std::fs::File::create(&tmp)?);
		out.write_all(MAGIC)?;
		out.write_all(&(self.records.len() as u64).to_le_bytes())?;
		out.write_all(&(self.text.len() as u64).to_le_bytes())?;
		for (record, start) in self.records.iter().zip(&self.starts) {
			out.write_all(&record.contribution_id.to_le_bytes())?;
			out.write_all(&record.content_hash)?;
			out.write_all(&(*start as u64).to_le_bytes())?;
		}
		for t in &self.text {
			out.write_all(&t.to_le_bytes())?;
		}
		for s in &self.suffixes {
			out.write_all(&s.to_le_bytes())?;
		}
		out.into_inner().map_err(|e| e.into_error())?.sync_all()?;
		std::fs::rename(&tmp, path)?;
		Ok(())
	}

	/// Reads a segment [`Self::write`] wrote, checking its shape.
	pub fn read(path: &std::path::Path) -> Result<Self> {
		let bytes = std::fs::read(path)?;
		let mut at = 0;
		let mut take = |n: usize| -> Result<&[u8]> {
			let slice = bytes.get(at..at + n).ok_or_else(|| anyhow::anyhow!("truncated"))?;
			at += n;
			Ok(slice)
		};
		if take(MAGIC.len())? != MAGIC {
			bail!("not a segment file");
		}
		let u64_of = |b: &[u8]| u64::from_le_bytes(b.try_into().expect("eight bytes")) as usize;
		let records = u64_of(take(8)?);
		let length = u64_of(take(8)?);
		// Each record takes 44 bytes and each token 6: counts beyond the file are corrupt.
		if records > bytes.len() / 44 || length > bytes.len() / 6 {
			bail!("a header larger than its file");
		}
		let mut kept = Vec::with_capacity(records);
		let mut starts = Vec::with_capacity(records);
		for _ in 0..records {
			let contribution_id = u32::from_le_bytes(take(4)?.try_into().expect("four bytes"));
			let content_hash: [u8; 32] = take(32)?.try_into().expect("32 bytes");
			kept.push(Record { contribution_id, content_hash });
			starts.push(u64_of(take(8)?));
		}
		let text: Vec<u16> =
			take(2 * length)?.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
		let suffixes: Vec<i32> = take(4 * length)?
			.chunks_exact(4)
			.map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]]))
			.collect();
		if starts.windows(2).any(|w| w[0] > w[1]) || starts.last().is_some_and(|s| *s > length) {
			bail!("record starts out of order");
		}
		if suffixes.iter().any(|s| *s < 0 || *s as usize >= length.max(1)) {
			bail!("suffix array out of range");
		}
		Ok(Self { text, suffixes, starts, records: kept })
	}
}

const MAGIC: &[u8; 8] = b"TRBSEG01";

impl DatasetIndex {
	/// An index of one segment holding `records`.
	pub fn build(records: Vec<(Record, Vec<u32>)>) -> Result<Self> {
		Ok(Self { segments: vec![Segment::build(records)?] })
	}

	pub fn from_segments(segments: Vec<Segment>) -> Self {
		Self { segments }
	}

	pub fn segments(&self) -> &[Segment] {
		&self.segments
	}

	/// Adds `records` as a new segment and merges the newest segments while the newer is at
	/// least half the size of the one before. Only the last segment is new afterwards; those
	/// before it are unchanged.
	pub fn extend(&mut self, records: Vec<(Record, Vec<u32>)>) -> Result<()> {
		self.segments.push(Segment::build(records)?);
		while self.segments.len() >= 2 {
			let n = self.segments.len();
			let (older, newer) = (self.segments[n - 2].text.len(), self.segments[n - 1].text.len());
			if newer * 2 < older || older + newer >= i32::MAX as usize {
				break;
			}
			let newer = self.segments.pop().expect("two segments");
			let older = self.segments.pop().expect("two segments");
			self.segments.push(older.merge(newer)?);
		}
		Ok(())
	}

	/// How many tokens the index holds (separators included).
	pub fn len(&self) -> usize {
		self.segments.iter().map(|s| s.text.len()).sum()
	}

	pub fn is_empty(&self) -> bool {
		self.len() == 0
	}

	pub fn records(&self) -> impl Iterator<Item = &Record> {
		self.segments.iter().flat_map(|s| s.records.iter())
	}

	/// Bytes held in memory: text, suffix arrays and record tables.
	pub fn bytes(&self) -> usize {
		self.segments
			.iter()
			.map(|s| s.text.len() * 2 + s.suffixes.len() * 4 + s.records.len() * (36 + 8))
			.sum()
	}

	/// The maximal spans of `output` of at least `min_span` tokens that occur in the data, in
	/// order: for each start, the longest match; a span inside the previous one is dropped.
	pub fn spans(&self, output: &[u32], min_span: usize) -> Vec<Span> {
		spans(&self.segments.iter().collect::<Vec<_>>(), output, min_span)
	}

	/// Weighs the records containing each span (see [`weigh`]). Returns the spans and every
	/// record with a weight above zero, in index order.
	pub fn weigh(&self, output: &[u32], min_span: usize) -> (Vec<Span>, Vec<(Record, f64)>) {
		let segments: Vec<&Segment> = self.segments.iter().collect();
		let (spans, weights) = weigh(&segments, output, min_span);
		let weighed = segments
			.iter()
			.zip(weights)
			.flat_map(|(segment, weights)| {
				segment.records.iter().zip(weights).filter(|(_, w)| *w > 0.0)
			})
			.map(|(record, w)| (record.clone(), w))
			.collect();
		(spans, weighed)
	}

	/// [`Self::weigh`], normalised to one million parts.
	pub fn attribute(&self, output: &[u32], min_span: usize) -> (Vec<Span>, Vec<Credit>) {
		let (spans, weighed) = self.weigh(output, min_span);
		let credits = normalise(weighed.iter().map(|(_, w)| *w).collect::<Vec<_>>().as_slice())
			.into_iter()
			.zip(weighed)
			.map(|(score_ppm, (record, _))| Credit { record, score_ppm })
			.collect();
		(spans, credits)
	}
}

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

impl Segment {
	pub fn records(&self) -> &[Record] {
		&self.records
	}
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

#[cfg(test)]
mod tests {
	use super::*;

	fn record(id: u32) -> Record {
		Record { contribution_id: id, content_hash: [id as u8; 32] }
	}

	/// Records of pseudo-random tokens, so that chance matches are short.
	fn noise(seed: u64, len: usize) -> Vec<u32> {
		let mut state = seed;
		(0..len)
			.map(|_| {
				state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
				((state >> 33) % 5_000) as u32
			})
			.collect()
	}

	#[test]
	fn planted_spans_credit_the_records_that_hold_them() {
		let planted_a: Vec<u32> = (10_000..10_012).collect();
		let planted_b: Vec<u32> = (20_000..20_009).collect();
		let mut r0 = noise(1, 300);
		r0.splice(100..100, planted_a.iter().copied());
		let mut r2 = noise(3, 300);
		r2.splice(50..50, planted_b.iter().copied());
		let index =
			DatasetIndex::build(vec![(record(0), r0), (record(1), noise(2, 300)), (record(2), r2)])
				.unwrap();

		let mut output = noise(99, 20);
		output.extend(&planted_a);
		output.extend(noise(98, 10));
		output.extend(&planted_b);
		let (spans, credits) = index.attribute(&output, 8);
		assert_eq!(
			spans.iter().map(|s| (s.start, s.end, s.occurrences)).collect::<Vec<_>>(),
			vec![(20, 32, 1), (42, 51, 1)]
		);
		assert_eq!(
			credits.iter().map(|c| c.record.contribution_id).collect::<Vec<_>>(),
			vec![0, 2]
		);
		assert_eq!(credits.iter().map(|c| c.score_ppm).sum::<u32>(), 1_000_000);
		// The longer span weighs more.
		assert!(credits[0].score_ppm > credits[1].score_ppm);
		// Deterministic.
		assert_eq!(index.attribute(&output, 8), (spans, credits));
	}

	#[test]
	fn spans_shorter_than_min_span_are_ignored() {
		let planted: Vec<u32> = (10_000..10_006).collect();
		let mut r0 = noise(1, 100);
		r0.splice(10..10, planted.iter().copied());
		let index = DatasetIndex::build(vec![(record(0), r0)]).unwrap();
		let mut output = noise(7, 5);
		output.extend(&planted);
		assert!(index.attribute(&output, 8).1.is_empty());
		assert_eq!(index.attribute(&output, 6).1.len(), 1);
	}

	#[test]
	fn a_common_span_is_shared_and_weighs_less_than_a_rare_one() {
		let common: Vec<u32> = (30_000..30_008).collect();
		let rare: Vec<u32> = (40_000..40_008).collect();
		let with = |seed, extra: &[u32]| {
			let mut r = noise(seed, 50);
			r.extend(extra);
			r
		};
		let index = DatasetIndex::build(vec![
			(record(0), with(1, &common)),
			(record(1), with(2, &common)),
			(record(2), with(3, &rare)),
		])
		.unwrap();
		let mut output = common.clone();
		output.extend(noise(5, 3));
		output.extend(&rare);
		let (_, credits) = index.attribute(&output, 8);
		let score = |id| credits.iter().find(|c| c.record.contribution_id == id).unwrap().score_ppm;
		assert!(score(0).abs_diff(score(1)) <= 1, "the common span is shared equally");
		assert!(score(2) > score(0) + score(1), "the rare span outweighs the common one");
	}

	#[test]
	fn spans_never_cross_records() {
		let index = DatasetIndex::build(vec![
			(record(0), (1..=5).collect()),
			(record(1), (6..=10).collect()),
		])
		.unwrap();
		let spans = index.spans(&(1..=10).collect::<Vec<_>>(), 1);
		assert_eq!(
			spans.iter().map(|s| (s.start, s.end)).collect::<Vec<_>>(),
			vec![(0, 5), (5, 10)]
		);
	}

	/// Records added one at a time (merging as they go) attribute exactly as the same records
	/// indexed at once, and the index holds few segments.
	#[test]
	fn an_index_extended_record_by_record_attributes_as_one_built_at_once() {
		let planted: Vec<u32> = (10_000..10_010).collect();
		let records: Vec<(Record, Vec<u32>)> = (0..40u32)
			.map(|i| {
				let mut tokens = noise(u64::from(i) + 1, 20 + (i as usize * 7) % 50);
				if i % 13 == 5 {
					tokens.splice(3..3, planted.iter().copied());
				}
				(record(i), tokens)
			})
			.collect();
		let whole = DatasetIndex::build(records.clone()).unwrap();
		let mut grown = DatasetIndex::default();
		for r in records {
			grown.extend(vec![r]).unwrap();
		}
		assert!(grown.segments().len() <= 7, "{} segments", grown.segments().len());
		assert_eq!(grown.len(), whole.len());
		let mut output = noise(77, 10);
		output.extend(&planted);
		output.extend(noise(78, 10));
		let (spans, credits) = whole.attribute(&output, 8);
		assert_eq!(credits.len(), 3, "records 5, 18 and 31 hold the planted span");
		let sorted = |mut c: Vec<Credit>| {
			c.sort_by_key(|c| c.record.contribution_id);
			c
		};
		let (grown_spans, grown_credits) = grown.attribute(&output, 8);
		assert_eq!(grown_spans, spans);
		assert_eq!(sorted(grown_credits), sorted(credits));
	}

	#[test]
	fn segments_survive_a_write_and_read() {
		let segment =
			Segment::build(vec![(record(4), noise(4, 50)), (record(9), noise(9, 30))]).unwrap();
		let path = std::env::temp_dir().join(format!("segment-{}.bin", std::process::id()));
		segment.write(&path).unwrap();
		let read = Segment::read(&path).unwrap();
		assert_eq!(
			(&read.text, &read.suffixes, &read.starts, &read.records),
			(&segment.text, &segment.suffixes, &segment.starts, &segment.records)
		);
		let mut bytes = std::fs::read(&path).unwrap();
		bytes.truncate(bytes.len() - 3);
		std::fs::write(&path, bytes).unwrap();
		assert!(Segment::read(&path).is_err(), "a truncated file is refused");
		std::fs::remove_file(path).ok();
	}
}
