use crate::{mock::*, *};
// The pallet, not its storage item of the same name (`crate::Datasets`).
use crate::mock::Datasets;
use codec::Encode;
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::fungible::{Inspect, InspectHold},
	},
	sp_core::H256,
	sp_io::hashing::blake2_256,
	sp_runtime::{traits::BadOrigin, DispatchError, DispatchResult},
	sp_state_machine::IndexOperation,
};

/// A record of `length` bytes, each `seed`: records of one seed and length are the same bytes.
fn record(seed: u8, length: u32) -> Vec<u8> {
	vec![seed; length as usize]
}

/// The content hash of [`record`]`(seed, length)`.
fn hash(seed: u8, length: u32) -> H256 {
	H256::from(blake2_256(&record(seed, length)))
}

/// Asserts that `who` contributing `record(seed, length)` with `uri` to `dataset_id`, as a
/// transaction of its own, fails with `error` and changes nothing.
fn assert_refused(
	who: AccountId,
	dataset_id: DatasetId,
	seed: u8,
	length: u32,
	uri: Option<Vec<u8>>,
	error: impl Into<DispatchError>,
) {
	note_contribution::<Test>(dataset_id, uri.clone(), record(seed, length));
	assert_noop!(
		Datasets::contribute(RuntimeOrigin::signed(who), dataset_id, uri, record(seed, length)),
		error.into()
	);
}

/// `who` contributes `record(seed, length)` with `uri` as a transaction whose call it is.
fn submit(
	who: AccountId,
	dataset_id: DatasetId,
	seed: u8,
	length: u32,
	uri: Option<Vec<u8>>,
) -> DispatchResult {
	note_contribution::<Test>(dataset_id, uri.clone(), record(seed, length));
	Datasets::contribute(RuntimeOrigin::signed(who), dataset_id, uri, record(seed, length))
}

fn held(reason: HoldReason, who: AccountId) -> Balance {
	Balances::balance_on_hold(&reason.into(), &who)
}

fn free(who: AccountId) -> Balance {
	Balances::free_balance(who)
}

fn last_event() -> RuntimeEvent {
	System::events().pop().expect("an event was deposited").event
}

/// Alice creates a dataset named "wiki" (4 bytes) with URI "ipfs://x" (8) and license "MIT" (3).
fn create(policy: Policy) -> DatasetId {
	assert_ok!(Datasets::create_dataset(
		RuntimeOrigin::signed(ALICE),
		b"wiki".to_vec(),
		b"ipfs://x".to_vec(),
		b"MIT".to_vec(),
		policy,
	));
	NextDatasetId::<Test>::get() - 1
}

fn contribute(who: AccountId, dataset_id: DatasetId, seed: u8, length: u32) -> ContributionId {
	assert_ok!(submit(who, dataset_id, seed, length, None));
	dataset(dataset_id).unwrap().next_contribution_id - 1
}

fn dataset(dataset_id: DatasetId) -> Option<DatasetOf<Test>> {
	crate::Datasets::<Test>::get(dataset_id)
}

const WIKI_DEPOSIT: Balance = DATASET_DEPOSIT + PER_BYTE * (4 + 8 + 3);

mod create_dataset {
	use super::*;

	#[test]
	fn curator_pays_a_deposit_by_size() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);

			let dataset = dataset(id).unwrap();
			assert_eq!(id, 0);
			assert_eq!(dataset.curator, ALICE);
			assert_eq!(dataset.name.to_vec(), b"wiki".to_vec());
			assert_eq!(dataset.policy, Policy::Curated);
			assert_eq!(dataset.status, DatasetStatus::Open);
			assert_eq!(dataset.total_weight, 0);
			assert_eq!(dataset.deposit, WIKI_DEPOSIT);
			assert_eq!(held(HoldReason::DatasetDeposit, ALICE), WIKI_DEPOSIT);
			assert_eq!(free(ALICE), ENDOWMENT - WIKI_DEPOSIT);
			assert_eq!(
				last_event(),
				Event::DatasetCreated {
					dataset_id: 0,
					curator: ALICE,
					policy: Policy::Curated,
					deposit: WIKI_DEPOSIT
				}
				.into()
			);
			assert_eq!(create(Policy::Open), 1);
		});
	}

	#[test]
	fn refuses_bad_descriptions() {
		ExtBuilder::default().build_and_execute(|| {
			let call = |name: &[u8], uri: &[u8], license: &[u8]| {
				Datasets::create_dataset(
					RuntimeOrigin::signed(ALICE),
					name.to_vec(),
					uri.to_vec(),
					license.to_vec(),
					Policy::Open,
				)
			};
			assert_noop!(call(b"", b"u", b"MIT"), Error::<Test>::EmptyName);
			assert_noop!(call(&[b'n'; 17], b"u", b"MIT"), Error::<Test>::NameTooLong);
			assert_noop!(call(b"n", &[b'u'; 33], b"MIT"), Error::<Test>::UriTooLong);
			assert_noop!(call(b"n", b"u", &[b'L'; 25]), Error::<Test>::LicenseTooLong);
			assert_noop!(call(b"n", b"u", b""), Error::<Test>::InvalidLicense);
			assert_noop!(call(b"n", b"u", b"MIT; rm"), Error::<Test>::InvalidLicense);
			assert_noop!(call(b"n", b"u", b"MIT  OR X"), Error::<Test>::InvalidLicense);
			assert_ok!(call(b"n", b"u", b"(MIT OR Apache-2.0)"));
		});
	}

	#[test]
	fn needs_a_signed_origin_and_the_deposit() {
		ExtBuilder::default().build_and_execute(|| {
			assert_noop!(
				Datasets::create_dataset(
					RuntimeOrigin::root(),
					b"n".to_vec(),
					vec![],
					b"MIT".to_vec(),
					Policy::Open
				),
				BadOrigin
			);
			assert_noop!(
				Datasets::create_dataset(
					RuntimeOrigin::signed(PAUPER),
					b"n".to_vec(),
					vec![],
					b"MIT".to_vec(),
					Policy::Open
				),
				Error::<Test>::InsufficientBalance
			);
			assert_eq!(free(PAUPER), 50);
		});
	}
}

mod update_and_close {
	use super::*;

	#[test]
	fn update_moves_the_deposit_both_ways() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			assert_ok!(Datasets::update_dataset(
				RuntimeOrigin::signed(ALICE),
				id,
				b"ipfs://longer-uri".to_vec(),
				b"CC-BY-4.0".to_vec()
			));
			let bigger = DATASET_DEPOSIT + PER_BYTE * (4 + 17 + 9);
			assert_eq!(dataset(id).unwrap().deposit, bigger);
			assert_eq!(dataset(id).unwrap().license.to_vec(), b"CC-BY-4.0".to_vec());
			assert_eq!(held(HoldReason::DatasetDeposit, ALICE), bigger);
			assert_eq!(
				last_event(),
				Event::DatasetUpdated { dataset_id: id, deposit: bigger }.into()
			);

			assert_ok!(Datasets::update_dataset(
				RuntimeOrigin::signed(ALICE),
				id,
				vec![],
				b"MIT".to_vec()
			));
			let smaller = DATASET_DEPOSIT + PER_BYTE * (4 + 3);
			assert_eq!(held(HoldReason::DatasetDeposit, ALICE), smaller);
			assert_eq!(free(ALICE), ENDOWMENT - smaller);
		});
	}

	#[test]
	fn only_the_curator_updates_or_closes() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			assert_noop!(
				Datasets::update_dataset(RuntimeOrigin::signed(BOB), id, vec![], b"MIT".to_vec()),
				Error::<Test>::NotCurator
			);
			assert_noop!(
				Datasets::update_dataset(RuntimeOrigin::signed(ALICE), 7, vec![], b"MIT".to_vec()),
				Error::<Test>::UnknownDataset
			);
			assert_noop!(
				Datasets::close_dataset(RuntimeOrigin::signed(BOB), id),
				Error::<Test>::NotCurator
			);
		});
	}

	#[test]
	fn closed_dataset_takes_no_contributions_but_decides_pending_ones() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			let pending = contribute(BOB, id, 1, 100);
			assert_ok!(Datasets::close_dataset(RuntimeOrigin::signed(ALICE), id));
			assert_eq!(dataset(id).unwrap().status, DatasetStatus::Closed);
			assert_eq!(last_event(), Event::DatasetClosed { dataset_id: id }.into());

			assert_refused(CHARLIE, id, 2, 10, None, Error::<Test>::DatasetClosed);
			assert_noop!(
				Datasets::close_dataset(RuntimeOrigin::signed(ALICE), id),
				Error::<Test>::AlreadyClosed
			);
			assert_ok!(Datasets::accept_contribution(RuntimeOrigin::signed(ALICE), id, pending));
			assert_eq!(ContributorWeight::<Test>::get(id, BOB), 100);
		});
	}
}

mod curatorship {
	use super::*;

	#[test]
	fn transfer_is_offered_then_accepted_and_the_deposit_follows() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			assert_ok!(Datasets::transfer_curatorship(RuntimeOrigin::signed(ALICE), id, BOB));
			assert_eq!(PendingCurator::<Test>::get(id), Some(BOB));
			assert_eq!(dataset(id).unwrap().curator, ALICE);
			assert_eq!(
				last_event(),
				Event::CuratorshipOffered { dataset_id: id, from: ALICE, to: BOB }.into()
			);

			assert_noop!(
				Datasets::accept_curatorship(RuntimeOrigin::signed(CHARLIE), id),
				Error::<Test>::NotOfferedCuratorship
			);
			assert_ok!(Datasets::accept_curatorship(RuntimeOrigin::signed(BOB), id));
			assert_eq!(dataset(id).unwrap().curator, BOB);
			assert_eq!(PendingCurator::<Test>::get(id), None);
			assert_eq!(held(HoldReason::DatasetDeposit, ALICE), 0);
			assert_eq!(free(ALICE), ENDOWMENT);
			assert_eq!(held(HoldReason::DatasetDeposit, BOB), WIKI_DEPOSIT);
			assert_eq!(
				last_event(),
				Event::CuratorshipTransferred { dataset_id: id, from: ALICE, to: BOB }.into()
			);
			// The new curator decides now; the old one cannot.
			assert_noop!(
				Datasets::close_dataset(RuntimeOrigin::signed(ALICE), id),
				Error::<Test>::NotCurator
			);
			assert_ok!(Datasets::close_dataset(RuntimeOrigin::signed(BOB), id));
		});
	}

	#[test]
	fn transfer_refusals() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			assert_noop!(
				Datasets::transfer_curatorship(RuntimeOrigin::signed(BOB), id, CHARLIE),
				Error::<Test>::NotCurator
			);
			assert_noop!(
				Datasets::transfer_curatorship(RuntimeOrigin::signed(ALICE), id, ALICE),
				Error::<Test>::AlreadyCurator
			);
			assert_noop!(
				Datasets::accept_curatorship(RuntimeOrigin::signed(BOB), 9),
				Error::<Test>::UnknownDataset
			);
			// A successor who cannot cover the deposit stays a successor-to-be.
			assert_ok!(Datasets::transfer_curatorship(RuntimeOrigin::signed(ALICE), id, PAUPER));
			assert_noop!(
				Datasets::accept_curatorship(RuntimeOrigin::signed(PAUPER), id),
				Error::<Test>::InsufficientBalance
			);
			assert_eq!(dataset(id).unwrap().curator, ALICE);
		});
	}
}

mod contributions {
	use super::*;

	const RECORD_DEPOSIT: Balance = CONTRIBUTION_DEPOSIT + PER_DATA_BYTE * 300;

	#[test]
	fn open_dataset_accepts_at_once_and_weights_add_up() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			assert_ok!(submit(BOB, id, 1, 300, Some(b"ipfs://rec".to_vec())));
			let deposit = RECORD_DEPOSIT + PER_BYTE * 10;
			let contribution = Contributions::<Test>::get(id, 0).unwrap();
			assert_eq!(contribution.status, ContributionStatus::Accepted);
			assert_eq!(contribution.deposit, deposit);
			assert_eq!(contribution.uri.unwrap().to_vec(), b"ipfs://rec".to_vec());
			assert_eq!(held(HoldReason::ContributionDeposit, BOB), deposit);
			assert_eq!(contribution.content_hash, hash(1, 300));
			assert_eq!(contribution.length, 300);
			assert_eq!(ContributionByHash::<Test>::get(id, hash(1, 300)), Some(0));
			assert_eq!(ContributorWeight::<Test>::get(id, BOB), 300);
			assert_eq!(
				last_event(),
				Event::ContributionAccepted {
					dataset_id: id,
					contribution_id: 0,
					contributor: BOB,
					contributor_weight: 300,
					total_weight: 300,
				}
				.into()
			);

			contribute(BOB, id, 2, 50);
			contribute(CHARLIE, id, 3, 25);
			assert_eq!(ContributorWeight::<Test>::get(id, BOB), 350);
			assert_eq!(ContributorWeight::<Test>::get(id, CHARLIE), 25);
			assert_eq!(dataset(id).unwrap().total_weight, 375);
			assert_eq!(
				weight_changes(),
				vec![(id, BOB, 0, 300), (id, BOB, 300, 350), (id, CHARLIE, 0, 25)]
			);
		});
	}

	#[test]
	fn curated_dataset_waits_for_the_curator() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			let first = contribute(BOB, id, 1, 300);
			let second = contribute(CHARLIE, id, 2, 300);
			assert_eq!(
				Contributions::<Test>::get(id, first).unwrap().status,
				ContributionStatus::Pending
			);
			assert_eq!(ContributorWeight::<Test>::get(id, BOB), 0);
			assert!(weight_changes().is_empty());

			assert_ok!(Datasets::accept_contribution(RuntimeOrigin::signed(ALICE), id, first));
			assert_eq!(ContributorWeight::<Test>::get(id, BOB), 300);
			assert_eq!(dataset(id).unwrap().total_weight, 300);
			assert_eq!(weight_changes(), vec![(id, BOB, 0, 300)]);

			assert_ok!(Datasets::reject_contribution(RuntimeOrigin::signed(ALICE), id, second));
			assert_eq!(Contributions::<Test>::get(id, second), None);
			assert_eq!(ContributionsOf::<Test>::get(CHARLIE, (id, second)), None);
			assert_eq!(dataset(id).unwrap().contributions, 1);
			assert_eq!(held(HoldReason::ContributionDeposit, CHARLIE), 0);
			assert_eq!(free(CHARLIE), ENDOWMENT);
			assert_eq!(ContributionByHash::<Test>::get(id, hash(2, 300)), None);
			assert_eq!(ContributorWeight::<Test>::get(id, CHARLIE), 0);
			assert_eq!(
				last_event(),
				Event::ContributionRejected {
					dataset_id: id,
					contribution_id: second,
					contributor: CHARLIE
				}
				.into()
			);
			// The rejected content may go elsewhere.
			let other = create(Policy::Open);
			contribute(CHARLIE, other, 2, 300);
		});
	}

	#[test]
	fn only_pending_contributions_are_decided_once() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			let c = contribute(BOB, id, 1, 300);
			assert_noop!(
				Datasets::accept_contribution(RuntimeOrigin::signed(BOB), id, c),
				Error::<Test>::NotCurator
			);
			assert_noop!(
				Datasets::reject_contribution(RuntimeOrigin::signed(BOB), id, c),
				Error::<Test>::NotCurator
			);
			assert_noop!(
				Datasets::accept_contribution(RuntimeOrigin::signed(ALICE), id, 9),
				Error::<Test>::UnknownContribution
			);
			assert_ok!(Datasets::accept_contribution(RuntimeOrigin::signed(ALICE), id, c));
			assert_noop!(
				Datasets::accept_contribution(RuntimeOrigin::signed(ALICE), id, c),
				Error::<Test>::NotPending
			);
			assert_noop!(
				Datasets::reject_contribution(RuntimeOrigin::signed(ALICE), id, c),
				Error::<Test>::NotPending
			);
			assert_noop!(
				Datasets::withdraw_contribution(RuntimeOrigin::signed(ALICE), id, c),
				Error::<Test>::NotContributor
			);
			assert_eq!(ContributorWeight::<Test>::get(id, BOB), 300);
		});
	}

	#[test]
	fn contribution_refusals_change_nothing() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			contribute(BOB, id, 1, 300);
			assert_refused(CHARLIE, id, 1, 300, None, Error::<Test>::DuplicateContent);
			assert_refused(CHARLIE, 5, 2, 10, None, Error::<Test>::UnknownDataset);
			assert_refused(CHARLIE, id, 2, 0, None, Error::<Test>::EmptyRecord);
			assert_refused(CHARLIE, id, 2, MAX_LENGTH + 1, None, Error::<Test>::RecordTooLong);
			assert_refused(CHARLIE, id, 2, 10, Some(vec![b'u'; 33]), Error::<Test>::UriTooLong);
			// 50 free covers the base deposit but not 100 bytes more.
			assert_refused(PAUPER, id, 2, 100, None, Error::<Test>::InsufficientBalance);
			assert_noop!(
				Datasets::contribute(RuntimeOrigin::none(), id, None, record(2, 10)),
				BadOrigin
			);
			assert_ok!(submit(CHARLIE, id, 2, MAX_LENGTH, None));
		});
	}

	/// Index operations are not rolled back with a failed call: a refused record must never
	/// have asked for one, and an accepted one is indexed once, under its hash, as the last
	/// bytes of its transaction.
	#[test]
	fn only_an_accepted_record_is_indexed() {
		let mut ext = ExtBuilder::default().build();
		let id = ext.execute_with(|| {
			let id = create(Policy::Curated);
			contribute(BOB, id, 1, 300);
			id
		});
		let indexed = |ext: &polkadot_sdk::sp_io::TestExternalities| {
			ext.overlayed_changes()
				.transaction_index_ops()
				.iter()
				.map(|op| match op.clone() {
					IndexOperation::Insert { extrinsic, hash, size } => {
						(extrinsic, H256::from_slice(&hash), size)
					}
					IndexOperation::Renew { .. } => panic!("nothing is renewed"),
				})
				.collect::<Vec<_>>()
		};
		assert_eq!(indexed(&ext), vec![(0, hash(1, 300), 300)]);
		ext.execute_with(|| {
			assert_refused(CHARLIE, id, 1, 300, None, Error::<Test>::DuplicateContent);
			assert_refused(PAUPER, id, 2, 100, None, Error::<Test>::InsufficientBalance);
			assert_refused(CHARLIE, id, 2, 10, Some(vec![b'u'; 33]), Error::<Test>::UriTooLong);
			assert_refused(CHARLIE, id + 1, 2, 10, None, Error::<Test>::UnknownDataset);
		});
		assert_eq!(indexed(&ext), vec![(0, hash(1, 300), 300)], "no refusal was indexed");
		ext.execute_with(|| Datasets::do_try_state().expect("invariants hold"));
	}

	/// The node indexes the last bytes of the transaction, whatever they are. A record
	/// followed by other bytes (a call after it in a batch, a multisig's weight) would have
	/// someone else's bytes stored under its hash, and a failing later call could roll the
	/// contribution back after its index was asked for: refused.
	#[test]
	fn a_record_that_does_not_end_its_transaction_is_refused() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			let call =
				Call::<Test>::contribute { dataset_id: id, uri: None, record: record(1, 64) };
			let mut followed = call.encode();
			followed.extend_from_slice(b"another call");
			note_transaction::<Test>(followed);
			assert_noop!(
				Datasets::contribute(RuntimeOrigin::signed(BOB), id, None, record(1, 64)),
				Error::<Test>::RecordNotLast
			);
			// Nor may a transaction carry other bytes than the call's.
			note_contribution::<Test>(id, None, record(2, 64));
			assert_noop!(
				Datasets::contribute(RuntimeOrigin::signed(BOB), id, None, record(1, 64)),
				Error::<Test>::RecordNotLast
			);
		});
	}

	/// Outside a transaction (a scheduled or governance dispatch in a block's hooks) no block
	/// body carries the bytes, so nothing could be indexed: refused.
	#[test]
	fn a_record_outside_a_transaction_is_refused() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			assert_noop!(
				Datasets::contribute(RuntimeOrigin::signed(BOB), id, None, record(1, 64)),
				Error::<Test>::RecordNotLast
			);
		});
	}

	/// With one hash index across the chain, whoever registered a record first, anywhere,
	/// kept everyone else from contributing it: a curator could park public text as pending
	/// in a curated dataset of their own and never review it. Each dataset now has its own.
	#[test]
	fn nobody_can_park_a_record_for_every_dataset() {
		ExtBuilder::default().build_and_execute(|| {
			let parked = create(Policy::Curated);
			contribute(ALICE, parked, 7, 500);
			let open = create(Policy::Open);
			let c = contribute(BOB, open, 7, 500);
			assert_eq!(ContributionByHash::<Test>::get(open, hash(7, 500)), Some(c));
			assert_eq!(ContributorWeight::<Test>::get(open, BOB), 500);
			// Within one dataset a record is registered once.
			assert_refused(CHARLIE, open, 7, 500, None, Error::<Test>::DuplicateContent);
		});
	}

	/// A pending contribution left undecided expires after the review period: the curator
	/// can no longer accept it, and anyone may delete it, its deposit going back to the
	/// contributor and its hash freed for the dataset.
	#[test]
	fn an_unreviewed_contribution_expires() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			let c = contribute(BOB, id, 1, 300);
			let expire = |who| Datasets::expire_contribution(RuntimeOrigin::signed(who), id, c);
			System::set_block_number(1 + REVIEW_PERIOD - 1);
			assert_noop!(expire(CHARLIE), Error::<Test>::InReview);

			System::set_block_number(1 + REVIEW_PERIOD);
			assert_noop!(
				Datasets::accept_contribution(RuntimeOrigin::signed(ALICE), id, c),
				Error::<Test>::ReviewPeriodOver
			);
			assert_ok!(expire(CHARLIE));
			assert_eq!(
				last_event(),
				Event::ContributionExpired { dataset_id: id, contribution_id: c, contributor: BOB }
					.into()
			);
			assert_eq!(Contributions::<Test>::get(id, c), None);
			assert_eq!(ContributionByHash::<Test>::get(id, hash(1, 300)), None);
			assert_eq!(held(HoldReason::ContributionDeposit, BOB), 0);
			assert_eq!(free(BOB), ENDOWMENT);
			assert_eq!(free(CHARLIE), ENDOWMENT);
			assert_eq!(dataset(id).unwrap().contributions, 0);
			assert_noop!(expire(CHARLIE), Error::<Test>::UnknownContribution);
			// The same bytes may come again.
			contribute(CHARLIE, id, 1, 300);
		});
	}

	/// Only a pending contribution expires: an accepted one keeps its weight for good.
	#[test]
	fn an_accepted_contribution_never_expires() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			let c = contribute(BOB, id, 1, 300);
			System::set_block_number(1 + REVIEW_PERIOD * 10);
			assert_noop!(
				Datasets::expire_contribution(RuntimeOrigin::signed(CHARLIE), id, c),
				Error::<Test>::NotPending
			);
			assert_noop!(Datasets::expire_contribution(RuntimeOrigin::none(), id, c), BadOrigin);
		});
	}

	#[test]
	fn a_dataset_holds_a_bounded_number_of_contributions() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			for seed in 0..MAX_CONTRIBUTIONS as u8 {
				contribute(BOB, id, seed + 1, 10);
			}
			assert_refused(BOB, id, 100, 10, None, Error::<Test>::TooManyContributions);
		});
	}

	#[test]
	fn deposit_grows_with_the_record_length() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			contribute(BOB, id, 1, 10);
			contribute(CHARLIE, id, 2, 1_000);
			assert_eq!(held(HoldReason::ContributionDeposit, BOB), CONTRIBUTION_DEPOSIT + 10);
			assert_eq!(
				held(HoldReason::ContributionDeposit, CHARLIE),
				CONTRIBUTION_DEPOSIT + 1_000
			);
		});
	}

	#[test]
	fn withdraw_returns_the_deposit_and_frees_the_hash() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			let c = contribute(BOB, id, 1, 300);
			assert_noop!(
				Datasets::withdraw_contribution(RuntimeOrigin::signed(CHARLIE), id, c),
				Error::<Test>::NotContributor
			);
			assert_ok!(Datasets::withdraw_contribution(RuntimeOrigin::signed(BOB), id, c));
			assert_eq!(Contributions::<Test>::get(id, c), None);
			assert_eq!(ContributionByHash::<Test>::get(id, hash(1, 300)), None);
			assert_eq!(ContributionsOf::<Test>::get(BOB, (id, c)), None);
			assert_eq!(free(BOB), ENDOWMENT);
			assert_eq!(
				last_event(),
				Event::ContributionWithdrawn {
					dataset_id: id,
					contribution_id: c,
					contributor: BOB
				}
				.into()
			);
			// Ids are not reused.
			assert_eq!(contribute(BOB, id, 1, 300), c + 1);
		});
	}

	/// State that never left: an accepted record's deposit was held for good, with no way for
	/// its contributor to take the record back. Withdrawing it takes its weight out (the
	/// observer told first, so royalties settle what it earned), returns the deposit, and
	/// tells `OnContributionRemoved` so that its statistics go too.
	#[test]
	fn state_that_never_leaves_an_accepted_record_is_withdrawn_with_its_deposit() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			let kept = contribute(BOB, id, 1, 300);
			let withdrawn = contribute(BOB, id, 2, 200);
			assert_eq!(held(HoldReason::ContributionDeposit, BOB), 2 * CONTRIBUTION_DEPOSIT + 500);
			assert_noop!(
				Datasets::withdraw_contribution(RuntimeOrigin::signed(CHARLIE), id, withdrawn),
				Error::<Test>::NotContributor
			);

			assert_ok!(Datasets::withdraw_contribution(RuntimeOrigin::signed(BOB), id, withdrawn));
			assert_eq!(Contributions::<Test>::get(id, withdrawn), None);
			assert_eq!(ContributionByHash::<Test>::get(id, hash(2, 200)), None);
			assert_eq!(ContributorWeight::<Test>::get(id, BOB), 300);
			assert_eq!(dataset(id).unwrap().total_weight, 300);
			assert_eq!(dataset(id).unwrap().contributions, 1);
			assert_eq!(weight_changes().last(), Some(&(id, BOB, 500, 300)));
			assert_eq!(removed_contributions(), vec![(id, withdrawn)]);
			assert_eq!(held(HoldReason::ContributionDeposit, BOB), CONTRIBUTION_DEPOSIT + 300);
			assert_eq!(<Balances as Inspect<_>>::total_balance(&BOB), ENDOWMENT);

			assert_ok!(Datasets::withdraw_contribution(RuntimeOrigin::signed(BOB), id, kept));
			assert!(!ContributorWeight::<Test>::contains_key(id, BOB));
			assert_eq!(dataset(id).unwrap().total_weight, 0);
			assert_eq!(held(HoldReason::ContributionDeposit, BOB), 0);
			assert_eq!(free(BOB), ENDOWMENT);
			assert_eq!(removed_contributions(), vec![(id, withdrawn), (id, kept)]);
		});
	}

	/// A pending record never counted, so its withdrawal or rejection tells no one.
	#[test]
	fn a_pending_record_leaves_without_notice() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			let withdrawn = contribute(BOB, id, 1, 300);
			let rejected = contribute(BOB, id, 2, 300);
			let changes = weight_changes();
			assert_ok!(Datasets::withdraw_contribution(RuntimeOrigin::signed(BOB), id, withdrawn));
			assert_ok!(Datasets::reject_contribution(RuntimeOrigin::signed(ALICE), id, rejected));
			assert!(removed_contributions().is_empty());
			assert_eq!(weight_changes(), changes);
		});
	}

	#[test]
	fn governance_takedown_removes_weight_and_slashes_to_the_treasury() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			let kept = contribute(BOB, id, 1, 300);
			let taken = contribute(BOB, id, 2, 200);
			assert_noop!(
				Datasets::remove_contribution(RuntimeOrigin::signed(ALICE), id, taken),
				BadOrigin
			);
			let deposit = CONTRIBUTION_DEPOSIT + 200;
			assert_ok!(Datasets::remove_contribution(RuntimeOrigin::root(), id, taken));
			assert_eq!(Contributions::<Test>::get(id, taken), None);
			assert_eq!(ContributorWeight::<Test>::get(id, BOB), 300);
			assert_eq!(dataset(id).unwrap().total_weight, 300);
			assert_eq!(held(HoldReason::ContributionDeposit, BOB), CONTRIBUTION_DEPOSIT + 300);
			assert_eq!(<Balances as Inspect<_>>::total_balance(&BOB), ENDOWMENT - deposit);
			assert_eq!(free(TREASURY), EXISTENTIAL_DEPOSIT + deposit);
			assert_eq!(weight_changes().last(), Some(&(id, BOB, 500, 300)));
			assert_eq!(removed_contributions(), vec![(id, taken)]);
			assert_eq!(
				last_event(),
				Event::ContributionRemoved {
					dataset_id: id,
					contribution_id: taken,
					contributor: BOB,
					slashed: deposit,
				}
				.into()
			);

			assert_ok!(Datasets::remove_contribution(RuntimeOrigin::root(), id, kept));
			assert!(!ContributorWeight::<Test>::contains_key(id, BOB));
			assert_noop!(
				Datasets::remove_contribution(RuntimeOrigin::root(), id, kept),
				Error::<Test>::UnknownContribution
			);
		});
	}

	#[test]
	fn a_rejected_contribution_is_gone() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			let c = contribute(BOB, id, 1, 300);
			assert_ok!(Datasets::reject_contribution(RuntimeOrigin::signed(ALICE), id, c));
			assert_noop!(
				Datasets::remove_contribution(RuntimeOrigin::root(), id, c),
				Error::<Test>::UnknownContribution
			);
			assert_noop!(
				Datasets::accept_contribution(RuntimeOrigin::signed(ALICE), id, c),
				Error::<Test>::UnknownContribution
			);
		});
	}

	#[test]
	fn withdrawn_and_rejected_contributions_free_their_slots() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Curated);
			// Many more rounds than the dataset has slots.
			for round in 0..(MAX_CONTRIBUTIONS as u8 * 3) {
				let c = contribute(BOB, id, round + 1, 10);
				if round % 2 == 0 {
					assert_ok!(Datasets::withdraw_contribution(RuntimeOrigin::signed(BOB), id, c));
				} else {
					assert_ok!(Datasets::reject_contribution(RuntimeOrigin::signed(ALICE), id, c));
				}
			}
			let after = dataset(id).unwrap();
			assert_eq!(after.contributions, 0);
			assert_eq!(after.next_contribution_id, MAX_CONTRIBUTIONS * 3);
			assert_eq!(free(BOB), ENDOWMENT);
		});
	}
}

mod queries {
	use super::*;

	#[test]
	fn contributions_are_paged_per_contributor() {
		ExtBuilder::default().build_and_execute(|| {
			let first = create(Policy::Open);
			let second = create(Policy::Curated);
			contribute(BOB, first, 1, 10);
			contribute(BOB, first, 2, 20);
			contribute(CHARLIE, first, 3, 30);
			contribute(BOB, second, 4, 40);

			let mut seen = Vec::new();
			let mut cursor = None;
			loop {
				let page = Datasets::contributions_of(&BOB, cursor, 2);
				assert!(page.len() <= 2);
				let Some((dataset_id, contribution_id, _)) = page.last() else { break };
				cursor = Some((*dataset_id, *contribution_id));
				seen.extend(page.into_iter().map(|(d, c, record)| (d, c, record.length)));
			}
			seen.sort();
			assert_eq!(seen, vec![(first, 0, 10), (first, 1, 20), (second, 0, 40)]);
			assert!(Datasets::contributions_of(&ALICE, None, 10).is_empty());
		});
	}

	#[test]
	fn a_datasets_contributions_are_paged() {
		ExtBuilder::default().build_and_execute(|| {
			let first = create(Policy::Open);
			let second = create(Policy::Curated);
			contribute(BOB, first, 1, 10);
			contribute(CHARLIE, first, 2, 20);
			contribute(BOB, first, 3, 30);
			contribute(BOB, second, 4, 40);

			let mut seen = Vec::new();
			let mut cursor = None;
			loop {
				let page = Datasets::contributions_in(first, cursor, 2);
				assert!(page.len() <= 2);
				let Some((contribution_id, _)) = page.last() else { break };
				cursor = Some(*contribution_id);
				seen.extend(page.into_iter().map(|(c, record)| (c, record.length)));
			}
			seen.sort();
			assert_eq!(seen, vec![(0, 10), (1, 20), (2, 30)]);
			let pending = Datasets::contributions_in(second, None, 10);
			assert_eq!(pending.len(), 1);
			assert_eq!(pending[0].1.status, ContributionStatus::Pending);
			assert!(Datasets::contributions_in(second + 1, None, 10).is_empty());
			// A page is never longer than MAX_CONTRIBUTIONS_PAGE, whatever is asked.
			assert_eq!(Datasets::contributions_in(first, None, u32::MAX).len(), 3);
		});
	}

	#[test]
	fn a_hash_leads_to_its_contribution() {
		ExtBuilder::default().build_and_execute(|| {
			let id = create(Policy::Open);
			contribute(CHARLIE, id, 9, 77);
			let (contribution_id, record) =
				Datasets::contribution_by_hash(id, hash(9, 77)).unwrap();
			assert_eq!((contribution_id, record.contributor, record.length), (0, CHARLIE, 77));
			assert!(Datasets::contribution_by_hash(id, hash(8, 77)).is_none());
			assert!(Datasets::contribution_by_hash(id + 1, hash(9, 77)).is_none());
			assert_eq!(Datasets::accepted_contributor(id, 0), Some(CHARLIE));
			assert_eq!(Datasets::total_weight(id), Some(77));
			assert!(Datasets::dataset_exists(id));
			assert!(!Datasets::dataset_exists(id + 1));
		});
	}
}

mod genesis {
	use super::*;

	#[test]
	fn genesis_datasets_hold_deposits_and_accept_contributions() {
		let sample = GenesisDataset {
			curator: ALICE,
			name: "sample".into(),
			metadata_uri: "ipfs://sample".into(),
			license: "CC-BY-4.0".into(),
			policy: Policy::Curated,
			contributions: vec![
				GenesisContribution { contributor: BOB, record: "b".repeat(120), uri: None },
				GenesisContribution {
					contributor: CHARLIE,
					record: "c".repeat(80),
					uri: Some("ipfs://r2".into()),
				},
			],
		};
		ExtBuilder::default().with_datasets(vec![sample]).build_and_execute(|| {
			let dataset = dataset(0).unwrap();
			assert_eq!(dataset.policy, Policy::Curated);
			assert_eq!(dataset.total_weight, 200);
			assert_eq!(ContributorWeight::<Test>::get(0, BOB), 120);
			assert_eq!(ContributorWeight::<Test>::get(0, CHARLIE), 80);
			let (_, record) =
				Datasets::contribution_by_hash(0, blake2_256(&[b'c'; 80]).into()).unwrap();
			assert_eq!((record.contributor, record.length), (CHARLIE, 80));
			assert_eq!(held(HoldReason::DatasetDeposit, ALICE), dataset.deposit);
			assert_eq!(
				held(HoldReason::ContributionDeposit, CHARLIE),
				CONTRIBUTION_DEPOSIT + 80 + PER_BYTE * 9
			);
		});
	}

	#[test]
	#[should_panic(expected = "genesis dataset")]
	fn an_invalid_genesis_dataset_is_refused() {
		let broken = GenesisDataset {
			curator: ALICE,
			name: String::new(),
			metadata_uri: String::new(),
			license: "MIT".into(),
			policy: Policy::Open,
			contributions: vec![],
		};
		ExtBuilder::default().with_datasets(vec![broken]).build();
	}
}

#[test]
fn try_state_catches_a_broken_total() {
	ExtBuilder::default().build_and_execute(|| {
		let id = create(Policy::Open);
		contribute(BOB, id, 1, 10);
		assert_ok!(Datasets::do_try_state());
		crate::Datasets::<Test>::mutate(id, |dataset| dataset.as_mut().unwrap().total_weight = 11);
		assert!(Datasets::do_try_state().is_err());
		crate::Datasets::<Test>::mutate(id, |dataset| dataset.as_mut().unwrap().total_weight = 10);
	});
}

#[test]
fn spdx_expressions() {
	for good in
		["MIT", "Apache-2.0", "GPL-3.0+", "MIT OR Apache-2.0", "LicenseRef-x:y", "(A AND B)"]
	{
		assert!(is_spdx_expression(good.as_bytes()), "{good}");
	}
	for bad in ["", " MIT", "MIT ", "MIT  OR X", "MIT,X", "()", "é"] {
		assert!(!is_spdx_expression(bad.as_bytes()), "{bad}");
	}
	let _: DispatchError = Error::<Test>::InvalidLicense.into();
}

/// The benchmarks' helper leaves the state `contribute` would, but for deposits: accepted
/// records from accounts of their own, their weights told to the observer, the dataset's
/// counts and total moved, the invariants holding; and it refuses what `contribute` refuses.
#[cfg(feature = "runtime-benchmarks")]
#[test]
fn benchmark_contributions_write_accepted_records() {
	ExtBuilder::default().build_and_execute(|| {
		let dataset_id = create(Policy::Curated);
		assert_eq!(Datasets::benchmark_contributions(dataset_id, 5, 3, 7), Ok(0));
		let dataset = crate::Datasets::<Test>::get(dataset_id).unwrap();
		assert_eq!((dataset.contributions, dataset.next_contribution_id), (3, 3));
		assert_eq!(dataset.total_weight, 21);
		let accounts: Vec<AccountId> = (5..8)
			.map(|i| polkadot_sdk::frame_benchmarking::account("contributor", i, 0))
			.collect();
		for (id, who) in accounts.iter().enumerate() {
			let record = Contributions::<Test>::get(dataset_id, id as u32).unwrap();
			assert_eq!(record.contributor, *who);
			assert_eq!(record.status, ContributionStatus::Accepted);
			assert_eq!((record.length, record.deposit), (7, 0));
			assert_eq!(
				ContributionByHash::<Test>::get(dataset_id, record.content_hash),
				Some(id as u32)
			);
			assert!(ContributionsOf::<Test>::contains_key(who, (dataset_id, id as u32)));
			assert_eq!(ContributorWeight::<Test>::get(dataset_id, who), 7);
		}
		assert_eq!(
			weight_changes(),
			accounts.iter().map(|who| (dataset_id, *who, 0, 7)).collect::<Vec<_>>()
		);
		// The same indices again hash to the same records.
		assert_eq!(
			Datasets::benchmark_contributions(dataset_id, 5, 1, 7),
			Err(Error::<Test>::DuplicateContent.into())
		);
		assert_eq!(
			Datasets::benchmark_contributions(dataset_id, 8, MAX_CONTRIBUTIONS, 7),
			Err(Error::<Test>::TooManyContributions.into())
		);
		assert_eq!(
			Datasets::benchmark_contributions(dataset_id, 8, 1, u64::from(MAX_LENGTH) + 1),
			Err(Error::<Test>::RecordTooLong.into())
		);
		assert_eq!(
			Datasets::benchmark_contributions(99, 8, 1, 7),
			Err(Error::<Test>::UnknownDataset.into())
		);
	});
}

mod migration {
	use super::*;
	use polkadot_sdk::frame_support::{
		storage_alias,
		traits::{GetStorageVersion, OnRuntimeUpgrade, StorageVersion},
		Identity,
	};

	/// The hash index before version 1: one entry per hash across the chain.
	#[storage_alias]
	type ContributionByHash =
		StorageMap<Datasets, Identity, H256, (DatasetId, ContributionId), OptionQuery>;

	#[test]
	fn v1_keys_the_hash_index_by_dataset() {
		ExtBuilder::default().build_and_execute(|| {
			let first = create(Policy::Open);
			let second = create(Policy::Curated);
			contribute(BOB, first, 1, 10);
			contribute(CHARLIE, first, 2, 20);
			let pending = contribute(BOB, second, 3, 30);
			// The chain as version 0 left it.
			let _ = crate::ContributionByHash::<Test>::clear(u32::MAX, None);
			ContributionByHash::insert(hash(1, 10), (first, 0));
			ContributionByHash::insert(hash(2, 20), (first, 1));
			ContributionByHash::insert(hash(3, 30), (second, pending));
			StorageVersion::new(0).put::<Datasets>();
			assert!(Datasets::do_try_state().is_err(), "the old index is not the new one");

			migrations::v1::MigrateV0ToV1::<Test>::on_runtime_upgrade();
			assert_eq!(Datasets::on_chain_storage_version(), 1);
			assert_eq!(crate::ContributionByHash::<Test>::get(first, hash(2, 20)), Some(1));
			assert_eq!(crate::ContributionByHash::<Test>::get(second, hash(3, 30)), Some(pending));
			assert_eq!(crate::ContributionByHash::<Test>::iter().count(), 3);
			// A second run does nothing.
			assert_eq!(
				migrations::v1::MigrateV0ToV1::<Test>::on_runtime_upgrade(),
				<<Test as polkadot_sdk::frame_system::Config>::DbWeight as Get<
					polkadot_sdk::frame_support::weights::RuntimeDbWeight,
				>>::get()
				.reads(1)
			);
		});
	}
}
