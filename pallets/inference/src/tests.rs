use crate::{mock::*, *};
use polkadot_sdk::frame_support::{
	assert_noop, assert_ok,
	traits::fungible::{Inspect as _, InspectHold as _},
};

fn prompt() -> BoundedVec<u8, ConstU32<64>> {
	BoundedVec::truncate_from(b"Where does the Rhine rise?".to_vec())
}

fn make_request(max_fee: Balance) -> RequestId {
	let id = NextRequestId::<Test>::get();
	assert_ok!(Inference::request(RuntimeOrigin::signed(REQUESTER), 0, prompt(), 32, max_fee));
	id
}

fn held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&HoldReason::InferenceFee.into(), &who)
}

fn attributed(
	entries: &[(DatasetId, ContributionId, u32)],
) -> BoundedVec<AttributedRecord, ConstU32<4>> {
	BoundedVec::truncate_from(
		entries
			.iter()
			.map(|&(dataset_id, contribution_id, score_ppm)| AttributedRecord {
				dataset_id,
				contribution_id,
				score_ppm,
			})
			.collect(),
	)
}

fn output() -> BoundedVec<u8, ConstU32<64>> {
	BoundedVec::truncate_from(b"It rises in the Swiss Alps.".to_vec())
}

#[test]
fn a_request_holds_its_cap_and_is_assigned() {
	build_and_execute(|| {
		let id = make_request(1_000);
		assert_eq!(held(REQUESTER), 1_000);
		let request = Requests::<Test>::get(id).unwrap();
		assert_eq!((request.provider, request.operator), (PROVIDER, OPERATOR));
		assert_eq!(request.adapter_hash, H256::repeat_byte(7));
		assert_eq!(request.deadline, 1 + TIMEOUT);
		assert_eq!(Inference::assigned_to(&OPERATOR), vec![id]);
		System::assert_last_event(
			Event::Requested {
				request_id: id,
				requester: REQUESTER,
				model_id: 0,
				adapter_id: 0,
				provider: PROVIDER,
				operator: OPERATOR,
				deadline: 1 + TIMEOUT,
			}
			.into(),
		);
	});
}

/// 500 input and 20 output tokens: 100 + 5 + 20 = 125 of a 1,000 cap. Split 50/20/25/5:
/// provider 62, owner 25, treasury 6, data 31, 1 of dust. Half the data share, 15, is the
/// span part: ALICE's record scored 70 % (10), the 30 % unscored (4) joins the pool part,
/// 1 of dust; the pool part, 20, goes to dataset 0 (ALICE 300 : BOB 100). The treasury gets
/// 6 + 2 of dust.
#[test]
fn a_result_settles_to_the_planck() {
	build_and_execute(|| {
		let id = make_request(1_000);
		let requester_before = Balances::total_balance(&REQUESTER);
		let treasury_before = Balances::balance(&TREASURY);
		assert_ok!(Inference::submit_result(
			RuntimeOrigin::signed(OPERATOR),
			id,
			output(),
			500,
			20,
			attributed(&[(0, 0, 700_000)]),
		));
		assert_eq!(held(REQUESTER), 0);
		assert_eq!(requester_before - Balances::total_balance(&REQUESTER), 125);
		assert_eq!(Balances::balance(&TREASURY) - treasury_before, 8);
		assert_eq!(pallet_royalties::Credits::<Test>::get(PROVIDER), Some(62));
		assert_eq!(pallet_royalties::Credits::<Test>::get(OWNER), Some(25));
		assert_eq!(Royalties::pending(&ALICE), (10, vec![(0, 15)]));
		assert_eq!(Royalties::pending(&BOB), (0, vec![(0, 5)]));
		assert!(Requests::<Test>::get(id).is_none());
		assert!(Inference::assigned_to(&OPERATOR).is_empty());
		// The ledger has the output's attribution and the record's statistics.
		let recorded = pallet_attribution::Outputs::<Test>::get(id).unwrap();
		assert_eq!(recorded.adapter_id, 0);
		assert_eq!(
			recorded.records.into_inner(),
			vec![CitedRecord { dataset_id: 0, contribution_id: 0, score_ppm: 700_000, earned: 10 }]
		);
		assert_eq!(
			pallet_attribution::Stats::<Test>::get(0, 0),
			pallet_attribution::ContributionStats {
				times_cited: 1,
				total_score_ppm: 700_000,
				total_earned: 10
			}
		);
		System::assert_has_event(
			Event::Settled {
				request_id: id,
				output_hash: polkadot_sdk::sp_runtime::traits::BlakeTwo256::hash(&output()),
				input_tokens: 500,
				output_tokens: 20,
				fee: 125,
				refund: 875,
				attributions: 1,
			}
			.into(),
		);
		// Claims move balances by exactly what was credited.
		let before = Balances::balance(&ALICE);
		assert_ok!(Royalties::claim(RuntimeOrigin::signed(ALICE)));
		assert_ok!(Royalties::claim_from_datasets(
			RuntimeOrigin::signed(ALICE),
			vec![0].try_into().unwrap()
		));
		assert_eq!(Balances::balance(&ALICE) - before, 25);
	});
}

/// The fee never exceeds the cap: 100 + 10 + 32 = 142 is capped at 110.
#[test]
fn the_fee_is_capped() {
	build_and_execute(|| {
		let id = make_request(110);
		let before = Balances::total_balance(&REQUESTER);
		assert_ok!(Inference::submit_result(
			RuntimeOrigin::signed(OPERATOR),
			id,
			output(),
			1_000,
			32,
			attributed(&[]),
		));
		assert_eq!(before - Balances::total_balance(&REQUESTER), 110);
	});
}

#[test]
fn bad_results_are_refused_and_change_nothing() {
	build_and_execute(|| {
		let id = make_request(1_000);
		let submit =
			|who: AccountId, request: RequestId, tokens: u32, entries: &[(u32, u32, u32)]| {
				Inference::submit_result(
					RuntimeOrigin::signed(who),
					request,
					output(),
					10,
					tokens,
					attributed(entries),
				)
			};
		assert_noop!(submit(PROVIDER, id, 5, &[]), Error::<Test>::NotAssignedOperator);
		assert_noop!(submit(OPERATOR, id + 1, 5, &[]), Error::<Test>::UnknownRequest);
		assert_noop!(submit(OPERATOR, id, 33, &[]), Error::<Test>::TooManyTokens);
		assert_noop!(submit(OPERATOR, id, 5, &[(1, 0, 10)]), Error::<Test>::InvalidAttribution);
		assert_noop!(submit(OPERATOR, id, 5, &[(0, 9, 10)]), Error::<Test>::InvalidAttribution);
		assert_noop!(
			submit(OPERATOR, id, 5, &[(0, 0, 10), (0, 0, 10)]),
			Error::<Test>::DuplicateAttribution
		);
		assert_noop!(
			submit(OPERATOR, id, 5, &[(0, 0, 600_000), (0, 1, 400_001)]),
			Error::<Test>::ScoresOverflow
		);
		run_to(1 + TIMEOUT);
		// The deadline block itself still accepts it; the next does not (it expired).
		assert_ok!(submit(OPERATOR, id, 5, &[]));
		let late = make_request(1_000);
		run_to(System::block_number() + TIMEOUT + 1);
		assert_noop!(submit(OPERATOR, late, 5, &[]), Error::<Test>::UnknownRequest);
	});
}

#[test]
fn an_unanswered_request_expires_with_a_full_refund_and_a_penalty() {
	build_and_execute(|| {
		let before = Balances::balance(&REQUESTER);
		let id = make_request(1_000);
		run_to(1 + TIMEOUT);
		assert!(Requests::<Test>::get(id).is_some(), "still open at its deadline");
		run_to(2 + TIMEOUT);
		assert!(Requests::<Test>::get(id).is_none());
		assert_eq!(held(REQUESTER), 0);
		assert_eq!(Balances::balance(&REQUESTER), before);
		System::assert_has_event(Event::Expired { request_id: id, provider: PROVIDER }.into());
		assert_eq!(pallet_providers::PendingSlashes::<Test>::iter().count(), 1);
	});
}

#[test]
fn bad_requests_are_refused() {
	build_and_execute(|| {
		let request = |model: u32, prompt: Vec<u8>, tokens: u32, fee: Balance| {
			Inference::request(
				RuntimeOrigin::signed(REQUESTER),
				model,
				BoundedVec::truncate_from(prompt),
				tokens,
				fee,
			)
		};
		assert_noop!(request(1, b"hi".to_vec(), 8, 1_000), Error::<Test>::ModelNotActive);
		assert_noop!(request(0, vec![], 8, 1_000), Error::<Test>::InvalidPrompt);
		assert_noop!(request(0, b"hi".to_vec(), 0, 1_000), Error::<Test>::InvalidMaxTokens);
		assert_noop!(request(0, b"hi".to_vec(), 257, 1_000), Error::<Test>::InvalidMaxTokens);
		assert_noop!(request(0, b"hi".to_vec(), 8, 99), Error::<Test>::FeeCapTooLow);
		// The provider (one GPU, two assignments) is full after two.
		make_request(1_000);
		make_request(1_000);
		assert_noop!(request(0, b"hi".to_vec(), 8, 1_000), Error::<Test>::NoProviderAvailable);
	});
}
