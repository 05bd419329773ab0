//! Span attribution in the manner of infini-gram / OLMoTrace: a dataset's records, tokenized,
//! form one token array with a separator between records, indexed by a suffix array. For an
//! output, the maximal spans of at least `min_span` tokens that occur in the data are found,
//! and each span credits the records containing it; a span weighs more the rarer it is. The
//! result is computed in integers and ordered by (dataset, contribution), so anyone holding the
//! same records, tokenized by the same tokenizer, recomputes it byte for byte.

mod blobs;
mod corpus;
mod index;
mod search;
mod segment;

pub use self::{
	blobs::Blobs,
	corpus::{AddError, Corpus, Dataset, Indexes, RemoveError},
	index::DatasetIndex,
	search::{attribute, normalise, spans, weigh},
	segment::Segment,
};

/// Identifies a record: its contribution id and the blake2-256 hash of its bytes. Records are
/// ordered by contribution id (then hash), the order attribution lists and breaks ties in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
	pub contribution_id: u32,
	pub content_hash: [u8; 32],
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

#[cfg(test)]
mod tests {
	use super::*;

	pub(crate) fn record(id: u32) -> Record {
		Record { contribution_id: id, content_hash: [id as u8; 32] }
	}

	/// Records of pseudo-random tokens, so that chance matches are short.
	pub(crate) fn noise(seed: u64, len: usize) -> Vec<u32> {
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

	/// Forty records of noise of varied lengths; records 5, 18 and 31 hold `planted`.
	fn forty_records_planted_with(planted: &[u32]) -> Vec<(Record, Vec<u32>)> {
		(0..40u32)
			.map(|i| {
				let mut tokens = noise(u64::from(i) + 1, 20 + (i as usize * 7) % 50);
				if i % 13 == 5 {
					tokens.splice(3..3, planted.iter().copied());
				}
				(record(i), tokens)
			})
			.collect()
	}

	/// Records added one at a time (merging as they go) attribute exactly as the same records
	/// indexed at once, and the index holds few segments.
	#[test]
	fn an_index_extended_record_by_record_attributes_as_one_built_at_once() {
		let planted: Vec<u32> = (10_000..10_010).collect();
		let records = forty_records_planted_with(&planted);
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

	/// Records removed from an index grown record by record (from several segments, one of
	/// them left empty) leave an index that attributes exactly as one built from the rest.
	#[test]
	fn an_index_with_records_removed_attributes_as_one_built_from_the_rest() {
		let planted: Vec<u32> = (10_000..10_010).collect();
		let records = forty_records_planted_with(&planted);
		let mut grown = DatasetIndex::default();
		for r in records.clone() {
			grown.extend(vec![r]).unwrap();
		}
		// Record 39 is the last segment alone; 18 holds the planted span.
		assert_eq!(grown.segments().last().unwrap().records().len(), 1);
		let removed = std::collections::HashSet::from([2, 3, 18, 39]);
		let (cut, first) = grown.without(&removed).unwrap();
		assert_eq!(first, 0, "records 2 and 3 are in the first segment");
		assert_eq!(cut.segments().len(), grown.segments().len() - 1, "39's segment is dropped");
		let rest: Vec<_> =
			records.into_iter().filter(|(r, _)| !removed.contains(&r.contribution_id)).collect();
		let whole = DatasetIndex::build(rest).unwrap();
		assert_eq!(cut.len(), whole.len());
		assert_eq!(cut.records().count(), 36);
		let mut output = noise(77, 10);
		output.extend(&planted);
		output.extend(noise(78, 10));
		let (spans, credits) = whole.attribute(&output, 8);
		assert_eq!(
			credits.iter().map(|c| c.record.contribution_id).collect::<Vec<_>>(),
			vec![5, 31],
			"the removed record 18 is credited no more"
		);
		let sorted = |mut c: Vec<Credit>| {
			c.sort_by_key(|c| c.record.contribution_id);
			c
		};
		let (cut_spans, cut_credits) = cut.attribute(&output, 8);
		assert_eq!(cut_spans, spans);
		assert_eq!(sorted(cut_credits), credits);
		let (same, first) = cut.without(&std::collections::HashSet::from([18, 99])).unwrap();
		assert_eq!((same.segments().len(), first), (cut.segments().len(), cut.segments().len()));
	}

	/// Pages list records in contribution order, whatever order they were added in.
	#[test]
	fn pages_list_records_in_contribution_order() {
		let mut index = DatasetIndex::default();
		for id in [7u32, 3, 12, 1, 9] {
			index.extend(vec![(record(id), noise(u64::from(id), id as usize))]).unwrap();
		}
		let ids = |(page, more): (Vec<(&Record, usize)>, bool)| {
			(page.iter().map(|(r, tokens)| (r.contribution_id, *tokens)).collect::<Vec<_>>(), more)
		};
		assert_eq!(ids(index.page(None, 2)), (vec![(1, 1), (3, 3)], true));
		assert_eq!(ids(index.page(Some(3), 2)), (vec![(7, 7), (9, 9)], true));
		assert_eq!(ids(index.page(Some(9), 2)), (vec![(12, 12)], false));
		assert_eq!(ids(index.page(Some(8), 3)), (vec![(9, 9), (12, 12)], false));
		assert_eq!(ids(index.page(Some(12), 2)), (vec![], false));
	}

	/// The same records indexed in three orders and layouts: at once, one at a time newest
	/// first, and in batches with some then removed and added again.
	fn indexed_three_ways(records: &[(Record, Vec<u32>)]) -> [DatasetIndex; 3] {
		let at_once = DatasetIndex::build(records.to_vec()).unwrap();
		let mut reversed = DatasetIndex::default();
		for r in records.iter().rev() {
			reversed.extend(vec![r.clone()]).unwrap();
		}
		let mut churned = DatasetIndex::default();
		let (evens, odds): (Vec<_>, Vec<_>) =
			records.iter().cloned().partition(|(r, _)| r.contribution_id % 2 == 0);
		for batch in odds.chunks(5).chain(evens.rchunks(3)) {
			churned.extend(batch.to_vec()).unwrap();
		}
		let gone: std::collections::HashSet<u32> =
			records.iter().map(|(r, _)| r.contribution_id).filter(|id| id % 3 == 2).collect();
		churned = churned.without(&gone).unwrap().0;
		for id in [32u32, 5, 17, 2, 26, 8, 38, 11, 20, 35, 14, 29, 23] {
			assert!(gone.contains(&id));
			churned
				.extend(records.iter().filter(|(r, _)| r.contribution_id == id).cloned().collect())
				.unwrap();
		}
		assert_eq!(churned.records().count(), records.len());
		[at_once, reversed, churned]
	}

	/// However the records were inserted, merged and removed, the spans, weights and credits
	/// are the same, in contribution order, and their JSON is the same byte for byte.
	#[test]
	fn attribution_does_not_depend_on_insertion_order_or_segment_layout() {
		let planted: Vec<u32> = (10_000..10_010).collect();
		let shared: Vec<u32> = (20_000..20_012).collect();
		let mut records = forty_records_planted_with(&planted);
		for id in [7, 22, 36] {
			records[id].1.extend(&shared);
		}
		let indexes = indexed_three_ways(&records);
		assert_ne!(indexes[1].segments().len(), indexes[2].segments().len(), "the layouts differ");
		let mut output = noise(77, 10);
		output.extend(&planted);
		output.extend(noise(78, 10));
		output.extend(&shared[..9]);
		output.extend(&planted[2..]);
		let (spans, credits) = indexes[0].attribute(&output, 8);
		assert_eq!(
			credits.iter().map(|c| c.record.contribution_id).collect::<Vec<_>>(),
			vec![5, 7, 18, 22, 31, 36],
			"in contribution order"
		);
		assert_eq!(credits.iter().map(|c| c.score_ppm).sum::<u32>(), 1_000_000);
		let json = |(spans, credits): &(Vec<Span>, Vec<Credit>)| {
			serde_json::to_vec(&serde_json::json!({
				"spans": spans.iter().map(|s| (s.start, s.end, s.occurrences)).collect::<Vec<_>>(),
				"records": credits
					.iter()
					.map(|c| (c.record.contribution_id, c.record.content_hash, c.score_ppm))
					.collect::<Vec<_>>(),
			}))
			.unwrap()
		};
		let first = (spans, credits);
		for index in &indexes[1..] {
			assert_eq!(index.weigh(&output, 8), indexes[0].weigh(&output, 8));
			let attributed = index.attribute(&output, 8);
			assert_eq!(attributed, first);
			assert_eq!(json(&attributed), json(&first));
		}
	}

	/// Records holding the same span share it within one part per million, and the part left
	/// over goes to the lowest contribution id, whichever was indexed first.
	#[test]
	fn a_tie_goes_to_the_lower_contribution_id_whatever_the_insertion_order() {
		let span: Vec<u32> = (30_000..30_010).collect();
		let holding = |id: u32| {
			let mut tokens = noise(u64::from(id), 40);
			tokens.splice(20..20, span.iter().copied());
			(record(id), tokens)
		};
		let mut output = noise(5, 6);
		output.extend(&span);
		for order in [[12, 4, 9], [9, 12, 4], [4, 9, 12]] {
			let mut index = DatasetIndex::default();
			for id in order {
				index
					.extend(vec![holding(id), (record(id + 100), noise(u64::from(id) + 1_000, 30))])
					.unwrap();
			}
			let (_, credits) = index.attribute(&output, 8);
			let shares: Vec<(u32, u32)> =
				credits.iter().map(|c| (c.record.contribution_id, c.score_ppm)).collect();
			assert_eq!(shares, vec![(4, 333_334), (9, 333_333), (12, 333_333)], "{order:?}");
		}
		// Two records holding the span once each, beside one holding it four times: three equal
		// remainders, and the two parts left over go to the two lowest ids, 1 and 3.
		for order in [[8, 3], [3, 8]] {
			let mut index = DatasetIndex::default();
			for id in order {
				index.extend(vec![holding(id)]).unwrap();
			}
			let mut fourfold = noise(70, 10);
			for k in 0..4 {
				fourfold.extend(&span);
				fourfold.extend(noise(71 + k, 5));
			}
			index.extend(vec![(record(1), fourfold)]).unwrap();
			let (spans, credits) = index.attribute(&output, 8);
			assert_eq!(spans.iter().map(|s| s.occurrences).collect::<Vec<_>>(), vec![6]);
			let shares: Vec<(u32, u32)> =
				credits.iter().map(|c| (c.record.contribution_id, c.score_ppm)).collect();
			assert_eq!(shares, vec![(1, 666_667), (3, 166_667), (8, 166_666)], "{order:?}");
		}
	}
}
