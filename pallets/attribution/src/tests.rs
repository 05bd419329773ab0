use crate::{mock::*, *};
use polkadot_sdk::frame_support::{assert_noop, assert_ok};

fn share(dataset_id: DatasetId, parts: u32) -> LineageShare {
	LineageShare { dataset_id, share: Permill::from_parts(parts) }
}

#[test]
fn one_dataset_takes_the_whole_lineage() {
	ExtBuilder.build_and_execute(|| {
		assert_eq!(Attribution::record_lineage(7, &[(3, 42)]), Ok(vec![share(3, 1_000_000)]));
		assert_eq!(Attribution::lineage(7), Some(vec![share(3, 1_000_000)]));
		assert_eq!(AdaptersByDataset::<Test>::get(3, 7), Some(Permill::one()));
		System::assert_last_event(
			Event::LineageRecorded {
				adapter_id: 7,
				lineage: vec![share(3, 1_000_000)].try_into().unwrap(),
			}
			.into(),
		);
	});
}

#[test]
fn shares_are_proportional_to_the_declared_weights() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(Attribution::record_lineage(0, &[(0, 1), (1, 3)]));
		assert_eq!(Attribution::lineage(0), Some(vec![share(0, 250_000), share(1, 750_000)]));
	});
}

#[test]
fn rounding_left_overs_go_to_the_largest_remainders_and_the_sum_is_exactly_one() {
	// Thirds: 333,333 each and one part over, which goes to the first on the tie.
	assert_eq!(
		Attribution::normalise(&[(5, 1), (6, 1), (7, 1)]),
		Ok(vec![share(5, 333_334), share(6, 333_333), share(7, 333_333)])
	);
	// 1/7 = 142,857.14..., 6/7 = 857,142.857...: the larger remainder takes the part.
	assert_eq!(
		Attribution::normalise(&[(0, 1), (1, 6)]),
		Ok(vec![share(0, 142_857), share(1, 857_143)])
	);
	// Weights near u64::MAX do not overflow.
	let huge = Attribution::normalise(&[(0, u64::MAX), (1, u64::MAX), (2, 1)]).unwrap();
	assert_eq!(huge.iter().map(|entry| entry.share.deconstruct()).sum::<u32>(), 1_000_000);
	assert_eq!(huge[2].share, Permill::zero());
}

#[test]
fn invalid_lineages_are_refused_and_nothing_is_written() {
	ExtBuilder.build_and_execute(|| {
		assert_noop!(Attribution::record_lineage(0, &[]), Error::<Test>::EmptyLineage);
		assert_noop!(
			Attribution::record_lineage(0, &[(0, 1), (1, 1), (2, 1), (3, 1), (4, 1)]),
			Error::<Test>::LineageTooLong
		);
		assert_noop!(
			Attribution::record_lineage(0, &[(0, 1), (1, 2), (0, 3)]),
			Error::<Test>::DuplicateLineageDataset
		);
		assert_noop!(
			Attribution::record_lineage(0, &[(0, 1), (1, 0)]),
			Error::<Test>::ZeroLineageWeight
		);
		assert_eq!(
			Attribution::check_lineage(&[(0, 0)]),
			Err(Error::<Test>::ZeroLineageWeight.into())
		);
		assert_ok!(Attribution::check_lineage(&[(0, 1)]));
		assert_eq!(Lineages::<Test>::iter().count(), 0);
	});
}

#[test]
fn a_lineage_is_recorded_once() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(Attribution::record_lineage(1, &[(0, 1)]));
		assert_noop!(Attribution::record_lineage(1, &[(2, 1)]), Error::<Test>::LineageExists);
		assert_eq!(Attribution::lineage(1), Some(vec![share(0, 1_000_000)]));
	});
}

#[test]
fn adapters_trained_on_a_dataset_come_in_pages() {
	ExtBuilder.build_and_execute(|| {
		for adapter_id in 0..5 {
			assert_ok!(Attribution::record_lineage(adapter_id, &[(9, 1), (10 + adapter_id, 1)]));
		}
		assert_ok!(Attribution::record_lineage(5, &[(11, 1)]));

		let mut seen = Vec::new();
		let mut start_after = None;
		loop {
			let page = Attribution::adapters_trained_on(9, start_after, 2);
			assert!(page.len() <= 2);
			let Some((last, _)) = page.last().copied() else { break };
			seen.extend(page);
			start_after = Some(last);
		}
		seen.sort();
		assert_eq!(seen, (0..5).map(|id| (id, Permill::from_percent(50))).collect::<Vec<_>>());

		let mut on_eleven = Attribution::adapters_trained_on(11, None, 10);
		on_eleven.sort();
		assert_eq!(on_eleven, vec![(1, Permill::from_percent(50)), (5, Permill::one())]);
		assert!(Attribution::adapters_trained_on(42, None, 10).is_empty());
	});
}

#[test]
fn a_page_holds_at_most_a_hundred_adapters() {
	ExtBuilder.build_and_execute(|| {
		for adapter_id in 0..(MAX_ADAPTERS_PAGE + 5) {
			assert_ok!(Attribution::record_lineage(adapter_id, &[(0, 1)]));
		}
		assert_eq!(Attribution::adapters_trained_on(0, None, u32::MAX).len(), 100);
	});
}

#[test]
fn try_state_catches_a_reverse_index_out_of_step() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(Attribution::record_lineage(0, &[(0, 1), (1, 1)]));
		AdaptersByDataset::<Test>::insert(2, 0, Permill::one());
		assert!(Attribution::do_try_state().is_err());
		AdaptersByDataset::<Test>::remove(2, 0);
		AdaptersByDataset::<Test>::insert(1, 0, Permill::one());
		assert!(Attribution::do_try_state().is_err());
		AdaptersByDataset::<Test>::insert(1, 0, Permill::from_percent(50));
		assert_ok!(Attribution::do_try_state());
	});
}

/// The invariants catch a prune-queue entry that names no stored output.
#[test]
fn try_state_catches_a_prune_entry_without_its_output() {
	ExtBuilder.build_and_execute(|| {
		PruneQueue::<Test>::mutate(7, |queue| queue.try_push(42).unwrap());
		assert!(Attribution::do_try_state().is_err());
		PruneQueue::<Test>::remove(7);
		assert_ok!(Attribution::do_try_state());
	});
}
