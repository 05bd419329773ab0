//! A dataset's index: its segments, merged as records arrive so that they stay few.

use std::{collections::HashSet, sync::Arc};

use anyhow::Result;

use super::{
	search::{attribute, spans, weigh},
	Credit, Record, Segment, Span,
};

/// A dataset's index: segments of records, each with its own suffix array. Records are added
/// as a new segment, and the newest segments merge while the newer is at least half the size
/// of the one before, so a dataset built one record at a time holds O(log n) segments and each
/// token is re-indexed O(log n) times.
///
/// Segments never change once built and are shared: a clone of an index costs a pointer per
/// segment, so a writer extends a clone while readers keep searching the index they hold.
#[derive(Default, Clone)]
pub struct DatasetIndex {
	segments: Vec<Arc<Segment>>,
}

impl DatasetIndex {
	/// An index of one segment holding `records`.
	pub fn build(records: Vec<(Record, Vec<u32>)>) -> Result<Self> {
		Ok(Self { segments: vec![Arc::new(Segment::build(records)?)] })
	}

	pub fn from_segments(segments: Vec<Segment>) -> Self {
		Self { segments: segments.into_iter().map(Arc::new).collect() }
	}

	pub fn segments(&self) -> &[Arc<Segment>] {
		&self.segments
	}

	/// Adds `records` as a new segment and merges the newest segments while the newer is at
	/// least half the size of the one before. Only the last segment is new afterwards; those
	/// before it are unchanged. On failure the index is as it was.
	pub fn extend(&mut self, records: Vec<(Record, Vec<u32>)>) -> Result<()> {
		let mut segments = self.segments.clone();
		segments.push(Arc::new(Segment::build(records)?));
		while let [.., older, newer] = segments.as_slice() {
			let (older_len, newer_len) = (older.len(), newer.len());
			if newer_len * 2 < older_len || older_len + newer_len >= i32::MAX as usize {
				break;
			}
			let merged = Segment::merged(older, newer)?;
			segments.truncate(segments.len() - 2);
			segments.push(Arc::new(merged));
		}
		self.segments = segments;
		Ok(())
	}

	/// The index without the records of `removed` contributions: segments that hold none of
	/// them are shared as they are, the others rebuilt without them (and dropped when left
	/// empty), so it searches as an index built from the records kept. Returns it and the
	/// position of its first segment that is not this index's (its length when all are).
	pub fn without(&self, removed: &HashSet<u32>) -> Result<(Self, usize)> {
		let mut segments = Vec::with_capacity(self.segments.len());
		let mut first = None;
		for segment in &self.segments {
			if !segment.records.iter().any(|r| removed.contains(&r.contribution_id)) {
				segments.push(segment.clone());
				continue;
			}
			first.get_or_insert(segments.len());
			if let Some(rebuilt) = segment.without(removed)? {
				segments.push(Arc::new(rebuilt));
			}
		}
		let first = first.unwrap_or(segments.len());
		Ok((Self { segments }, first))
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

	/// Each record with its tokens, in index order.
	pub fn record_tokens(&self) -> impl Iterator<Item = (&Record, Vec<u32>)> {
		self.segments.iter().flat_map(|s| s.record_tokens())
	}

	/// Each record with its token count (its separator aside), in index order.
	pub fn sized_records(&self) -> impl Iterator<Item = (&Record, usize)> {
		self.segments.iter().flat_map(|s| s.sized_records())
	}

	/// Up to `limit` records whose contribution ids are above `after` (all, without it), with
	/// their token counts, in contribution order; and whether more follow.
	pub fn page(&self, after: Option<u32>, limit: usize) -> (Vec<(&Record, usize)>, bool) {
		let mut page: Vec<(&Record, usize)> = self
			.sized_records()
			.filter(|(record, _)| after.is_none_or(|after| record.contribution_id > after))
			.collect();
		let more = page.len() > limit;
		if more {
			// The `limit` lowest ids without sorting the rest.
			page.select_nth_unstable_by_key(limit, |(record, _)| record.contribution_id);
			page.truncate(limit);
		}
		page.sort_unstable_by_key(|(record, _)| record.contribution_id);
		(page, more)
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
		spans(&self.segments.iter().map(|s| &**s).collect::<Vec<_>>(), output, min_span)
	}

	/// The segments as [`weigh`] and [`attribute`] search them, all under one dataset id.
	fn searched(&self) -> Vec<(u32, &Segment)> {
		self.segments.iter().map(|s| (0, &**s)).collect()
	}

	/// Weighs the records containing each span (see [`weigh`]). Returns the spans and every
	/// record with a weight above zero, in contribution order (whatever order the records were
	/// added in).
	pub fn weigh(&self, output: &[u32], min_span: usize) -> (Vec<Span>, Vec<(Record, u128)>) {
		let (spans, weighed) = weigh(&self.searched(), output, min_span);
		(spans, weighed.into_iter().map(|((_, record), weight)| (record, weight)).collect())
	}

	/// [`Self::weigh`], normalised to one million parts (see [`attribute`]), in contribution
	/// order.
	pub fn attribute(&self, output: &[u32], min_span: usize) -> (Vec<Span>, Vec<Credit>) {
		let (spans, credits) = attribute(&self.searched(), output, min_span);
		(spans, credits.into_iter().map(|(_, credit)| credit).collect())
	}
}
