//! A segment: records indexed together, their tokens in one array (a separator after each
//! record, so no span crosses two) and its suffix array; and its file format.

use std::{collections::HashSet, ops::Range};

use anyhow::{bail, Result};
use libsais::SuffixArrayConstruction;

use super::Record;

/// Records indexed together: their token stream and its suffix array.
pub struct Segment {
	/// Token ids shifted up by one; 0 ends each record (so no span crosses two).
	pub(super) text: Vec<u16>,
	pub(super) suffixes: Vec<i32>,
	/// For each record, where its tokens start in `text`, in order.
	pub(super) starts: Vec<usize>,
	pub(super) records: Vec<Record>,
}

/// Token ids shifted up by one, 0 for ids the index cannot hold (which match nothing).
pub(super) fn shift(tokens: &[u32]) -> Vec<u16> {
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

	/// One segment holding `older`'s records, then `newer`'s.
	pub(super) fn merged(older: &Segment, newer: &Segment) -> Result<Self> {
		let offset = older.text.len();
		let mut text = Vec::with_capacity(offset + newer.text.len());
		text.extend_from_slice(&older.text);
		text.extend_from_slice(&newer.text);
		let starts =
			older.starts.iter().copied().chain(newer.starts.iter().map(|s| s + offset)).collect();
		let records = older.records.iter().chain(&newer.records).cloned().collect();
		Self::from_text(text, starts, records)
	}

	/// This segment without the records of `removed` contributions, each kept record's tokens
	/// copied as they are: the segment [`Self::build`] gives for the records kept, or `None`
	/// when none is.
	pub(super) fn without(&self, removed: &HashSet<u32>) -> Result<Option<Self>> {
		let mut text = Vec::with_capacity(self.text.len());
		let mut starts = Vec::with_capacity(self.starts.len());
		let mut kept = Vec::with_capacity(self.records.len());
		for (i, record) in self.records.iter().enumerate() {
			if removed.contains(&record.contribution_id) {
				continue;
			}
			starts.push(text.len());
			text.extend_from_slice(self.text.get(self.tokens_of(i)).unwrap_or_default());
			text.push(0);
			kept.push(record.clone());
		}
		match kept.is_empty() {
			true => Ok(None),
			false => Self::from_text(text, starts, kept).map(Some),
		}
	}

	/// Where record `i`'s tokens lie in `text`: from its start to its separator (a file whose
	/// starts are out of place gives an empty range, never one outside the text).
	fn tokens_of(&self, i: usize) -> Range<usize> {
		let start = self.starts.get(i).copied().unwrap_or(self.text.len());
		let next = self.starts.get(i + 1).copied().unwrap_or(self.text.len());
		start..next.saturating_sub(1).max(start)
	}

	/// Each record with its tokens, in order.
	pub fn record_tokens(&self) -> impl Iterator<Item = (&Record, Vec<u32>)> {
		self.records.iter().enumerate().map(|(i, record)| {
			let shifted = self.text.get(self.tokens_of(i)).unwrap_or_default();
			// Ids the index could not hold are 0: they come back as u32::MAX, which no
			// tokenizer decodes.
			(
				record,
				shifted.iter().map(|&t| u32::from(t).checked_sub(1).unwrap_or(u32::MAX)).collect(),
			)
		})
	}

	/// Each record with its token count (its separator aside), in order.
	pub fn sized_records(&self) -> impl Iterator<Item = (&Record, usize)> {
		self.records.iter().enumerate().map(|(i, record)| (record, self.tokens_of(i).len()))
	}

	/// The suffixes in `range` that continue with `token` at `offset`.
	pub(super) fn refine(
		&self,
		(lo, hi): (usize, usize),
		offset: usize,
		token: u16,
	) -> (usize, usize) {
		let slice = &self.suffixes[lo..hi];
		let at = |s: i32| self.text.get(s as usize + offset).copied();
		let first = slice.partition_point(|&s| at(s).is_none_or(|t| t < token));
		let last = first + slice[first..].partition_point(|&s| at(s).is_some_and(|t| t <= token));
		(lo + first, lo + last)
	}

	/// The range of suffixes that start with `pattern` (shifted token ids).
	pub(super) fn range(&self, pattern: &[u16]) -> (usize, usize) {
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
	pub(super) fn record_at(&self, position: usize) -> usize {
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
		Self::from_bytes(&std::fs::read(path)?)
	}

	/// A segment from the bytes of its file, refused unless its shape is whole.
	pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
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

	pub fn records(&self) -> &[Record] {
		&self.records
	}
}

const MAGIC: &[u8; 8] = b"TRBSEG01";

#[cfg(test)]
mod tests {
	use super::*;
	use crate::attribution::tests::{noise, record};

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

	/// Cutting records out of a segment gives the segment built from the records kept, and each
	/// record's token count leaves its separator aside.
	#[test]
	fn a_segment_without_some_records_is_the_one_built_from_the_rest() {
		let records: Vec<(Record, Vec<u32>)> =
			(0..6u32).map(|i| (record(i), noise(u64::from(i) + 1, 10 + 3 * i as usize))).collect();
		let segment = Segment::build(records.clone()).unwrap();
		assert_eq!(
			segment.sized_records().map(|(r, n)| (r.contribution_id, n)).collect::<Vec<_>>(),
			records.iter().map(|(r, t)| (r.contribution_id, t.len())).collect::<Vec<_>>()
		);
		let removed = HashSet::from([0, 3, 5]);
		let cut = segment.without(&removed).unwrap().unwrap();
		let kept: Vec<_> =
			records.into_iter().filter(|(r, _)| !removed.contains(&r.contribution_id)).collect();
		let built = Segment::build(kept).unwrap();
		assert_eq!(
			(&cut.text, &cut.suffixes, &cut.starts, &cut.records),
			(&built.text, &built.suffixes, &built.starts, &built.records)
		);
		assert!(cut.without(&HashSet::from([1, 2, 4])).unwrap().is_none(), "nothing left");
	}
}
