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

/// When a result of a request made in block 1 vests: the deadline (11), the challenge period
/// (5) and the draw's delay (1) later.
const VESTS_AT: u64 = 1 + TIMEOUT + 5 + 1;

/// Runs to the block the result of `request_id` vests in (its window closes).
fn vest(request_id: RequestId) {
	run_to(Results::<Test>::get(request_id).expect("an open result").closes_at);
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

/// The assigned operator's result for `request_id`: `output()`, 20 input and 20 output tokens,
/// attributed to `entries` (dataset, contribution, score).
fn settle(request_id: RequestId, entries: &[(DatasetId, ContributionId, u32)]) -> DispatchResult {
	Inference::submit_result(
		RuntimeOrigin::signed(OPERATOR),
		request_id,
		output(),
		20,
		20,
		attributed(entries),
		false,
	)
}

#[test]
fn a_request_holds_its_cap_and_is_assigned() {
	ExtBuilder.build_and_execute(|| {
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

/// 20 input and 20 output tokens: 100 + 5 + 20 = 125 of a 1,000 cap. Split 50/20/25/5:
/// provider 62, owner 25, treasury 6, data 31, 1 of dust. Half the data share, 15, is the
/// span part: ALICE's record scored 70 % (10), the 30 % unscored (4) joins the pool part,
/// 1 of dust; the pool part, 20, goes to dataset 0 (ALICE 300 : BOB 100). The treasury gets
/// 6 + 2 of dust.
#[test]
fn a_result_settles_to_the_planck() {
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		let requester_before = Balances::total_balance(&REQUESTER);
		let treasury_before = Balances::balance(&TREASURY);
		assert_ok!(settle(id, &[(0, 0, 700_000)]));
		// Until the window closes the fee stays held from the requester, and what it will
		// credit shows as vesting.
		assert_eq!(held(REQUESTER), 125);
		assert_eq!(pallet_royalties::Credits::<Test>::get(PROVIDER), None);
		assert_eq!(Inference::vesting_credits(&PROVIDER), 62);
		assert_eq!(Inference::vesting_credits(&OWNER), 25);
		assert_eq!(Inference::vesting_credits(&ALICE), 10);
		assert!(pallet_attribution::Outputs::<Test>::get(id).is_none());
		vest(id);
		System::assert_has_event(Event::Paid { request_id: id, fee: 125 }.into());
		assert_eq!(Inference::vesting_credits(&PROVIDER), 0);
		assert!(Results::<Test>::get(id).is_none());
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
			pallet_attribution::ContributionStatistics::<Test>::get(0, 0),
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
				input_tokens: 20,
				output_tokens: 20,
				fee: 125,
				refund: 875,
				attributions: 1,
				truncated: false,
				vests_at: VESTS_AT,
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

/// The ledger keeps a settled output for `RetentionPeriod` (100 blocks here) and prunes it
/// then; the record's statistics stay.
#[test]
fn a_settled_output_is_kept_for_the_retention_window_then_pruned() {
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		assert_ok!(settle(id, &[(0, 1, 400_000)]));
		vest(id);
		let settled_at = System::block_number();
		run_to(settled_at + 99);
		assert!(pallet_attribution::Outputs::<Test>::get(id).is_some());
		run_to(settled_at + 100);
		assert!(pallet_attribution::Outputs::<Test>::get(id).is_none());
		assert!(pallet_attribution::PruneQueue::<Test>::get(settled_at + 100).is_empty());
		let stats = pallet_attribution::ContributionStatistics::<Test>::get(0, 1);
		assert_eq!((stats.times_cited, stats.total_score_ppm), (1, 400_000));
		assert!(stats.total_earned > 0);
		Attribution::do_try_state().expect("the ledger's invariants hold after pruning");
	});
}

/// The fee never exceeds the cap: 100 + 5 + 27 = 132 is capped at 110.
#[test]
fn the_fee_is_capped() {
	ExtBuilder.build_and_execute(|| {
		let id = make_request(110);
		let before = Balances::total_balance(&REQUESTER);
		assert_ok!(Inference::submit_result(
			RuntimeOrigin::signed(OPERATOR),
			id,
			output(),
			20,
			27,
			attributed(&[]),
			false,
		));
		vest(id);
		assert_eq!(before - Balances::total_balance(&REQUESTER), 110);
	});
}

#[test]
fn bad_results_are_refused_and_change_nothing() {
	ExtBuilder.build_and_execute(|| {
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
					false,
				)
			};
		assert_noop!(submit(PROVIDER, id, 5, &[]), Error::<Test>::NotAssignedOperator);
		assert_noop!(submit(OPERATOR, id + 1, 5, &[]), Error::<Test>::UnknownRequest);
		assert_noop!(submit(OPERATOR, id, 33, &[]), Error::<Test>::TooManyTokens);
		// More input tokens than the prompt has bytes.
		assert_noop!(
			Inference::submit_result(
				RuntimeOrigin::signed(OPERATOR),
				id,
				output(),
				prompt().len() as u32 + 1,
				5,
				attributed(&[]),
				false
			),
			Error::<Test>::TooManyTokens
		);
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
	ExtBuilder.build_and_execute(|| {
		let before = Balances::balance(&REQUESTER);
		let id = make_request(1_000);
		run_to(1 + TIMEOUT);
		assert!(Requests::<Test>::get(id).is_some(), "still open at its deadline");
		run_to(2 + TIMEOUT);
		assert!(Requests::<Test>::get(id).is_none());
		assert_eq!(held(REQUESTER), 0);
		assert_eq!(Balances::balance(&REQUESTER), before);
		System::assert_has_event(
			Event::Expired { request_id: id, provider: PROVIDER, penalised: true }.into(),
		);
		assert_eq!(pallet_providers::PendingSlashes::<Test>::iter().count(), 1);
	});
}

/// Attack: a provider piles up pending slashes (misses in other blocks) so that its next miss
/// finds no room and goes unpunished while it is still drawn. Pending slashes have no bound per
/// provider: every miss is penalised.
#[test]
fn a_miss_is_penalised_however_many_slashes_are_pending() {
	use pallet_providers::ProviderAssignment as _;
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		// Six misses in the blocks before the expiry, all still pending when it comes.
		for block in TIMEOUT - 2..=TIMEOUT {
			run_to(block);
			for _ in 0..2 {
				assert_ok!(Providers::penalise_missed_assignment(&PROVIDER));
			}
		}
		run_to(2 + TIMEOUT);
		assert_eq!(held(REQUESTER), 0);
		System::assert_has_event(
			Event::Expired { request_id: id, provider: PROVIDER, penalised: true }.into(),
		);
		assert_eq!(Providers::pending_slashes_of(&PROVIDER).len(), 7);
	});
}

/// The owner changing the model's prices while a request is open does not change what it
/// costs: the request keeps the prices of its time.
#[test]
fn a_request_is_charged_at_the_prices_of_its_time() {
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		assert_ok!(Models::update_pricing(
			RuntimeOrigin::signed(OWNER),
			0,
			Pricing { base_fee: 900, per_1k_input_tokens: 0, per_1k_output_tokens: 0 },
		));
		assert_ok!(settle(id, &[]));
		System::assert_has_event(
			Event::Settled {
				request_id: id,
				output_hash: polkadot_sdk::sp_runtime::traits::BlakeTwo256::hash(&output()),
				input_tokens: 20,
				output_tokens: 20,
				fee: 125,
				refund: 875,
				attributions: 0,
				truncated: false,
				vests_at: VESTS_AT,
			}
			.into(),
		);
	});
}

/// A result in the block after the deadline is refused (the request expires at the start of
/// that block, so this is the hook's backstop).
#[test]
fn a_result_after_the_deadline_is_refused() {
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		System::set_block_number(2 + TIMEOUT);
		assert_noop!(
			Inference::submit_result(
				RuntimeOrigin::signed(OPERATOR),
				id,
				output(),
				20,
				20,
				attributed(&[]),
				false,
			),
			Error::<Test>::DeadlinePassed
		);
	});
}

#[test]
fn bad_requests_are_refused() {
	ExtBuilder.build_and_execute(|| {
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

mod offchain_worker {
	use super::*;
	use crate::offchain::LORA_SERVICE_URL_KEY;
	use polkadot_sdk::{
		frame_support::traits::{Hooks, UnfilteredDispatchable},
		sp_core::offchain::testing::PendingRequest,
		sp_runtime::offchain::storage::StorageValueRef,
	};

	const URL: &str = "http://lora.test:8181/";

	fn hash_hex(byte: u8) -> String {
		format!("0x{}", format!("{byte:02x}").repeat(32))
	}

	/// The content hash the service cites for `byte`'s record: ALICE's (300 bytes) and BOB's
	/// (100) from genesis, the 10-byte ones tests add for CHARLIE, OWNER and TREASURY; any other
	/// byte names no record.
	fn cited_hash(byte: u8) -> String {
		let length = match AccountId::from(byte) {
			ALICE => 300,
			BOB => 100,
			CHARLIE | OWNER | TREASURY => 10,
			_ => return hash_hex(byte),
		};
		format!("{:?}", record_hash(byte.into(), length))
	}

	/// The request the worker must make for request 0 (adapter 0, lineage: dataset 0).
	fn expected_request(response: &str) -> PendingRequest {
		PendingRequest {
			method: "POST".into(),
			uri: "http://lora.test:8181/v1/completions".into(),
			headers: vec![("Content-Type".into(), "application/json".into())],
			body: format!(
				r#"{{"model":"0","prompt":"Where does the Rhine rise?","max_tokens":32,"max_output_bytes":64,"temperature":0,"adapter_hash":"{}","adapter_uri":"https://adapters.test/rhine","attribution":{{"datasets":[0]}}}}"#,
				hash_hex(7)
			)
			.into_bytes(),
			response: Some(response.as_bytes().to_vec()),
			sent: true,
			..Default::default()
		}
	}

	/// A completion answering `text` over 7 prompt and 5 output tokens, citing `records`
	/// (content hash byte, score).
	fn completion(text: &str, records: &[(u8, u32)]) -> String {
		let records: Vec<String> = records
			.iter()
			.map(|(byte, score)| {
				format!(
					r#"{{"dataset_id":0,"contribution_id":9,"content_hash":"{}","score_ppm":{score}}}"#,
					cited_hash(*byte)
				)
			})
			.collect();
		format!(
			r#"{{"id":"cmpl-0","object":"text_completion","choices":[{{"index":0,"text":"{text}","finish_reason":"stop"}}],"usage":{{"prompt_tokens":7,"completion_tokens":5,"total_tokens":12}},"attribution":{{"spans":[],"records":[{}]}}}}"#,
			records.join(",")
		)
	}

	/// Runs the worker at block `n` and returns the signed calls it submitted.
	fn worker(
		harness: &pallet_providers::offchain::testing::OffchainHarness,
		n: u64,
	) -> Vec<(AccountId, RuntimeCall)> {
		run_to(n);
		<Inference as Hooks<u64>>::offchain_worker(n);
		harness.take_signed::<RuntimeCall>()
	}

	/// Runs `test` with OPERATOR's key local and the LoRA service at `URL`.
	fn with_worker(test: impl FnOnce(&pallet_providers::offchain::testing::OffchainHarness)) {
		ExtBuilder.build_and_execute_with_worker([OPERATOR], |harness| {
			StorageValueRef::persistent(LORA_SERVICE_URL_KEY).set(&URL.as_bytes().to_vec());
			test(harness);
		});
	}

	/// The worker makes exactly the expected HTTP request, maps content hashes to the
	/// lineage's accepted contributions (dropping others) and submits the result signed by the
	/// operator; the submitted call settles the request.
	#[test]
	fn serves_an_assigned_request_and_submits_its_result() {
		with_worker(|harness| {
			let id = make_request(10_000);
			// ALICE's record (0x01…), BOB's (0x02…), an unknown hash and a malformed one.
			harness.http.write().expect_request(expected_request(&completion(
				"It rises in the Swiss Alps.",
				&[(1, 600_000), (2, 300_000), (0x33, 50_000)],
			)));
			let submitted = worker(harness, 2);
			let expected = Call::submit_result {
				request_id: id,
				output: output(),
				input_tokens: 7,
				output_tokens: 5,
				attribution: attributed(&[(0, 0, 600_000), (0, 1, 300_000)]),
				truncated: false,
			};
			assert_eq!(submitted, vec![(OPERATOR, RuntimeCall::Inference(expected.clone()))]);
			// The next block's worker sees it submitted: no HTTP call, nothing sent.
			assert_eq!(worker(harness, 3), vec![]);
			assert_ok!(expected.dispatch_bypass_filter(RuntimeOrigin::signed(OPERATOR)));
			assert!(Requests::<Test>::get(id).is_none());
			assert!(Inference::assigned_to(&OPERATOR).is_empty());
		});
	}

	/// With the service's API key stored by the node, the worker's request carries it as a
	/// bearer token (and without one, as every other test here checks, no Authorization header).
	#[test]
	fn the_worker_sends_the_services_api_key() {
		with_worker(|harness| {
			make_request(10_000);
			StorageValueRef::persistent(offchain::LORA_SERVICE_API_KEY_KEY)
				.set(&b"k3y-for-generation".to_vec());
			let mut expected = expected_request(&completion("It rises in the Swiss Alps.", &[]));
			expected.headers.push(("Authorization".into(), "Bearer k3y-for-generation".into()));
			harness.http.write().expect_request(expected);
			assert_eq!(worker(harness, 2).len(), 1);
		});
	}

	/// A result submitted and never included is sent again a minute (wall-clock) later.
	#[test]
	fn a_result_never_included_is_sent_again_a_minute_later() {
		with_worker(|harness| {
			make_request(10_000);
			let answer = completion("It rises in the Swiss Alps.", &[]);
			harness.http.write().expect_request(expected_request(&answer));
			assert_eq!(worker(harness, 2).len(), 1);
			// Blocks pass, but not the time: nothing is sent.
			assert_eq!(worker(harness, 8), vec![]);
			let later = harness.http.read().timestamp.add(
				polkadot_sdk::sp_core::offchain::Duration::from_millis(offchain::RESUBMIT_AFTER_MS),
			);
			harness.http.write().timestamp = later;
			harness.http.write().expect_request(expected_request(&answer));
			assert_eq!(worker(harness, 9).len(), 1);
		});
	}

	/// Keys that are not the assigned operator's serve nothing; a request's worker stays
	/// quiet from its deadline's block on (a result sent then would land after it).
	#[test]
	fn serves_only_its_own_requests_before_their_deadline() {
		ExtBuilder.build_and_execute_with_worker([BOB], |harness| {
			StorageValueRef::persistent(LORA_SERVICE_URL_KEY).set(&URL.as_bytes().to_vec());
			make_request(10_000);
			assert_eq!(worker(harness, 2), vec![]);
		});
		with_worker(|harness| {
			let id = make_request(10_000);
			let deadline = Requests::<Test>::get(id).unwrap().deadline;
			// At the deadline (still open until it expires at deadline + 1).
			System::set_block_number(deadline);
			<Inference as Hooks<u64>>::offchain_worker(deadline);
			assert!(harness.take_signed::<RuntimeCall>().is_empty());
		});
	}

	/// An output whose tokens' bytes are not UTF-8 comes with them as hex (`text_hex`, the
	/// text showing U+FFFD in their place): the bytes are what is submitted, so that the output
	/// on chain is its tokens' bytes and can be verified; hex that is not hex is no answer.
	#[test]
	fn an_output_that_is_not_utf8_is_submitted_as_its_bytes() {
		with_worker(|harness| {
			let id = make_request(10_000);
			let answer = completion("Alps \\ufffd", &[])
				.replace(r#""finish_reason""#, r#""text_hex":"0x416c707320ff","finish_reason""#);
			harness.http.write().expect_request(expected_request(&answer));
			let submitted = worker(harness, 2);
			let RuntimeCall::Inference(Call::submit_result { output, .. }) = &submitted[0].1 else {
				panic!("not a result: {submitted:?}")
			};
			assert_eq!(output.to_vec(), b"Alps \xff".to_vec());
			assert_ok!(submitted[0]
				.1
				.clone()
				.dispatch_bypass_filter(RuntimeOrigin::signed(OPERATOR)));
			assert!(Requests::<Test>::get(id).is_none());
		});
		with_worker(|harness| {
			make_request(10_000);
			let answer = completion("Alps", &[])
				.replace(r#""finish_reason""#, r#""text_hex":"0xzz","finish_reason""#);
			harness.http.write().expect_request(expected_request(&answer));
			assert_eq!(worker(harness, 2), vec![]);
		});
	}

	/// An error answer is not a result: nothing is submitted and the next block tries again.
	#[test]
	fn an_error_answer_is_retried_on_a_later_block() {
		with_worker(|harness| {
			make_request(10_000);
			harness.http.write().expect_request(expected_request(
				r#"{"error":{"message":"adapter 0 not found","type":"invalid_request_error","code":"unknown_model"}}"#,
			));
			assert_eq!(worker(harness, 2), vec![]);
			harness
				.http
				.write()
				.expect_request(expected_request(&completion("It rises in the Swiss Alps.", &[])));
			let submitted = worker(harness, 3);
			assert_eq!(submitted.len(), 1);
			let RuntimeCall::Inference(Call::submit_result { attribution, .. }) = &submitted[0].1
			else {
				panic!("not a result: {submitted:?}")
			};
			assert!(attribution.is_empty());
		});
	}

	/// The worker asks the service to stop before `MaxOutputLength` (`max_output_bytes`, in
	/// every request above); an output longer than that from a service that ignores it is
	/// submitted cut to it, marked truncated and billed for the tokens kept; the chain settles
	/// it.
	#[test]
	fn an_output_too_long_is_submitted_truncated_and_billed_for_what_was_kept() {
		with_worker(|harness| {
			let id = make_request(10_000);
			// 80 bytes over 20 tokens; 64 kept, so 16 tokens.
			let long = "abcd".repeat(20);
			let answer = completion(&long, &[])
				.replace(r#""completion_tokens":5"#, r#""completion_tokens":20"#);
			harness.http.write().expect_request(expected_request(&answer));
			let submitted = worker(harness, 2);
			let expected = Call::submit_result {
				request_id: id,
				output: BoundedVec::truncate_from("abcd".repeat(16).into_bytes()),
				input_tokens: 7,
				output_tokens: 16,
				attribution: attributed(&[]),
				truncated: true,
			};
			assert_eq!(submitted, vec![(OPERATOR, RuntimeCall::Inference(expected.clone()))]);
			assert_ok!(expected.dispatch_bypass_filter(RuntimeOrigin::signed(OPERATOR)));
			assert!(System::events().iter().any(|record| matches!(
				record.event,
				RuntimeEvent::Inference(Event::Settled { request_id, output_tokens: 16, truncated: true, .. })
					if request_id == id
			)));
		});
	}

	/// Attack: a requester sends a prompt the service refuses, so that the provider misses the
	/// request and is slashed while the requester gets everything back. The worker declines it
	/// instead: the requester pays the base fee, the provider is not penalised.
	#[test]
	fn a_prompt_the_service_refuses_is_declined_not_left_to_expire() {
		with_worker(|harness| {
			let id = make_request(10_000);
			harness.http.write().expect_request(expected_request(
				r#"{"error":{"message":"the prompt and max_tokens exceed the context","type":"invalid_request_error","code":"prompt_too_long"}}"#,
			));
			let submitted = worker(harness, 2);
			let expected = Call::decline { request_id: id, reason: DeclineReason::PromptTooLong };
			assert_eq!(submitted, vec![(OPERATOR, RuntimeCall::Inference(expected.clone()))]);
			// Sent once: the next block's worker leaves it alone.
			assert_eq!(worker(harness, 3), vec![]);
			assert_ok!(expected.dispatch_bypass_filter(RuntimeOrigin::signed(OPERATOR)));
			assert!(Requests::<Test>::get(id).is_none());
			assert!(Providers::pending_slashes_of(&PROVIDER).is_empty());
		});
	}

	/// Token counts past the request's bounds (more output tokens than asked for or than the
	/// output has bytes, more prompt tokens than the prompt has bytes) are lowered to them; scores summing past a million
	/// are scaled down to a million. The chain takes the result.
	#[test]
	fn an_answer_past_the_requests_bounds_is_brought_within_them() {
		with_worker(|harness| {
			let id = make_request(10_000);
			let answer = completion("It rises in the Swiss Alps.", &[(1, 900_000), (2, 600_000)])
				.replace(r#""completion_tokens":5"#, r#""completion_tokens":33"#)
				.replace(r#""prompt_tokens":7"#, r#""prompt_tokens":27"#);
			harness.http.write().expect_request(expected_request(&answer));
			let submitted = worker(harness, 2);
			let expected = Call::submit_result {
				request_id: id,
				output: output(),
				input_tokens: 26,
				output_tokens: 27,
				attribution: attributed(&[(0, 0, 600_000), (0, 1, 400_000)]),
				truncated: false,
			};
			assert_eq!(submitted, vec![(OPERATOR, RuntimeCall::Inference(expected.clone()))]);
			assert_ok!(expected.dispatch_bypass_filter(RuntimeOrigin::signed(OPERATOR)));
		});
	}

	/// Only the `MaxAttributions` best-scored records are kept.
	#[test]
	fn keeps_the_best_scored_records_within_the_bound() {
		with_worker(|harness| {
			// Two more accepted records in dataset 0, for five in all.
			for contributor in [CHARLIE, OWNER, TREASURY] {
				let record = record_of(contributor, 10);
				pallet_datasets::note_contribution::<Test>(0, None, record.clone());
				assert_ok!(pallet_datasets::Pallet::<Test>::contribute(
					RuntimeOrigin::signed(contributor),
					0,
					None,
					record,
				));
			}
			let id = make_request(10_000);
			harness.http.write().expect_request(expected_request(&completion(
				"It rises in the Swiss Alps.",
				&[(1, 100_000), (2, 400_000), (3, 200_000), (10, 50_000), (99, 250_000)],
			)));
			let submitted = worker(harness, 2);
			let expected =
				attributed(&[(0, 1, 400_000), (0, 4, 250_000), (0, 2, 200_000), (0, 0, 100_000)]);
			assert_eq!(
				submitted,
				vec![(
					OPERATOR,
					RuntimeCall::Inference(Call::submit_result {
						request_id: id,
						output: output(),
						input_tokens: 7,
						output_tokens: 5,
						attribution: expected,
						truncated: false,
					})
				)]
			);
		});
	}
}

#[test]
fn a_prompt_that_is_not_utf8_is_refused() {
	ExtBuilder.build_and_execute(|| {
		assert_noop!(
			Inference::request(
				RuntimeOrigin::signed(REQUESTER),
				0,
				BoundedVec::truncate_from(vec![0xff, 0xfe]),
				32,
				1_000
			),
			Error::<Test>::InvalidPrompt
		);
	});
}

/// Attack: a one-byte output billed as `max_tokens` tokens. A result bills at most one output
/// token per output byte.
#[test]
fn fee_inflation_a_short_output_cannot_bill_many_tokens() {
	ExtBuilder.build_and_execute(|| {
		let id = make_request(10_000);
		let one_byte: BoundedVec<u8, ConstU32<64>> = BoundedVec::truncate_from(b"A".to_vec());
		assert_noop!(
			Inference::submit_result(
				RuntimeOrigin::signed(OPERATOR),
				id,
				one_byte.clone(),
				5,
				32,
				attributed(&[]),
				false
			),
			Error::<Test>::TooManyTokens
		);
		assert_ok!(Inference::submit_result(
			RuntimeOrigin::signed(OPERATOR),
			id,
			one_byte,
			5,
			1,
			attributed(&[]),
			false
		));
	});
}

/// A declined request costs its requester the base fee, paid to the treasury (not to the
/// provider, so declining never pays better than serving); the rest of the cap comes back and
/// the provider is not penalised. Only the assigned operator declines, before the deadline.
#[test]
fn a_declined_request_costs_the_requester_the_base_fee_and_the_provider_nothing() {
	ExtBuilder.build_and_execute(|| {
		let requester = Balances::balance(&REQUESTER);
		let treasury = Balances::balance(&TREASURY);
		let provider = Balances::balance(&PROVIDER);
		let id = make_request(1_000);
		assert_noop!(
			Inference::decline(RuntimeOrigin::signed(REQUESTER), id, DeclineReason::Refused),
			Error::<Test>::NotAssignedOperator
		);
		assert_noop!(
			Inference::decline(RuntimeOrigin::signed(OPERATOR), id + 1, DeclineReason::Refused),
			Error::<Test>::UnknownRequest
		);
		assert_ok!(Inference::decline(
			RuntimeOrigin::signed(OPERATOR),
			id,
			DeclineReason::PromptTooLong
		));
		System::assert_last_event(
			Event::Declined {
				request_id: id,
				provider: PROVIDER,
				reason: DeclineReason::PromptTooLong,
				fee: 100,
			}
			.into(),
		);
		assert_eq!(held(REQUESTER), 0);
		assert_eq!(Balances::balance(&REQUESTER), requester - 100);
		assert_eq!(Balances::balance(&TREASURY), treasury + 100);
		assert_eq!(Balances::balance(&PROVIDER), provider);
		assert!(Requests::<Test>::get(id).is_none());
		assert!(Inference::assigned_to(&OPERATOR).is_empty());
		// After its deadline a request cannot be declined (it expires, and is penalised).
		let late = make_request(1_000);
		let deadline = Requests::<Test>::get(late).unwrap().deadline;
		System::set_block_number(deadline + 1);
		assert_noop!(
			Inference::decline(RuntimeOrigin::signed(OPERATOR), late, DeclineReason::Refused),
			Error::<Test>::DeadlinePassed
		);
		// Nothing of the declined request expires later, and nothing is slashed for it.
		System::set_block_number(deadline);
		run_to(deadline + 1);
		assert_eq!(Providers::pending_slashes_of(&PROVIDER).len(), 1, "only the late one");
	});
}

/// Attack: one account fills every request slot of a block with requests that expire, and gets
/// every cap back. Each request pays `RequestFee` to the treasury when it is made, and that fee
/// is not refunded whatever becomes of the request.
#[test]
fn filling_request_slots_costs_an_unrefunded_fee() {
	ExtBuilder.build_and_execute(|| {
		RequestFee::set(&7);
		let requester = Balances::balance(&REQUESTER);
		let treasury = Balances::balance(&TREASURY);
		// As many as the provider takes at once (fewer than the block's slots here).
		let slots: u32 = 2;
		for _ in 0..slots {
			make_request(1_000);
		}
		run_to(2 + TIMEOUT);
		assert_eq!(held(REQUESTER), 0);
		let paid = 7 * slots as Balance;
		assert_eq!(Balances::balance(&REQUESTER), requester - paid);
		assert_eq!(Balances::balance(&TREASURY), treasury + paid);
	});
}

/// The invariants catch a fee hold that no open request accounts for, and an assignment the
/// providers pallet counts that is no open request.
#[test]
fn try_state_catches_stray_holds_and_assignments() {
	use pallet_providers::ProviderAssignment as _;
	use polkadot_sdk::frame_support::traits::fungible::MutateHold as _;
	ExtBuilder.build_and_execute(|| {
		make_request(1_000);
		assert_ok!(Inference::do_try_state());
		assert_ok!(Balances::hold(&HoldReason::InferenceFee.into(), &ALICE, 5));
		assert!(Inference::do_try_state().is_err());
		assert_ok!(Balances::release(
			&HoldReason::InferenceFee.into(),
			&ALICE,
			5,
			Precision::Exact
		));
		assert_ok!(Inference::do_try_state());
		assert_ok!(Providers::start_assignment(&PROVIDER));
		assert!(Inference::do_try_state().is_err());
		Providers::end_assignment(&PROVIDER);
	});
}

/// BOB serves model 0 as PROVIDER does, with CHARLIE as operator and the same bond: two
/// providers of equal stake, each drawn half the time.
fn a_second_provider() {
	assert_ok!(serving_provider(BOB, CHARLIE));
}

/// Makes `requesters`' requests in this order, returns the provider each was assigned, and
/// undoes it all.
fn draws(requesters: &[AccountId]) -> Vec<(AccountId, AccountId)> {
	use polkadot_sdk::frame_support::storage::{with_transaction, TransactionOutcome};
	with_transaction(|| {
		let mut assigned: Vec<(AccountId, AccountId)> = requesters
			.iter()
			.map(|&who| {
				let id = NextRequestId::<Test>::get();
				assert_ok!(Inference::request(RuntimeOrigin::signed(who), 0, prompt(), 32, 1_000));
				(who, Requests::<Test>::get(id).expect("the request is open").provider)
			})
			.collect();
		assigned.sort();
		TransactionOutcome::Rollback(Ok::<_, DispatchError>(assigned))
	})
	.expect("the requests are valid")
}

/// Attack: a block author routes requests to its own provider. Were requests drawn from the
/// parent block's hash and their request id, the author would know every draw before building
/// the block and order its requests (and so their ids) to suit itself. Requests are drawn from
/// the relay chain's randomness and their own signer: whatever the order of a block's
/// requests, each gets the same provider.
#[test]
fn steering_the_draw_by_ordering_a_blocks_requests_changes_nothing() {
	ExtBuilder.build_and_execute(|| {
		a_second_provider();
		for block in 0u8..16 {
			System::set_parent_hash(H256::repeat_byte(block));
			Inference::note_draw_randomness(Some([block; 32]), 1);
			assert_eq!(draws(&[REQUESTER, ALICE]), draws(&[ALICE, REQUESTER]), "block {block}");
		}
	});
}

/// Attack: a block author who knows the parent hash and the request predicts its draw. The draw
/// follows the relay chain's randomness, which the author does not choose: with the same parent
/// hash and the same request, other randomness draws the other provider.
#[test]
fn the_parent_hash_does_not_decide_the_draw() {
	ExtBuilder.build_and_execute(|| {
		a_second_provider();
		System::set_parent_hash(H256::repeat_byte(1));
		let drawn: alloc::collections::BTreeSet<AccountId> = (0u8..16)
			.map(|byte| {
				Inference::note_draw_randomness(Some([byte; 32]), 1);
				draws(&[REQUESTER])[0].1
			})
			.collect();
		assert_eq!(drawn, [PROVIDER, BOB].into(), "both providers are drawn");
	});
}

/// Without the relay chain's randomness for the block no request is drawn (a fallback to the
/// parent hash would be a draw the author chooses), and nothing changes.
#[test]
fn a_block_without_relay_randomness_takes_no_request() {
	ExtBuilder.build_and_execute(|| {
		Inference::note_draw_randomness(None, 1);
		assert_noop!(
			Inference::request(RuntimeOrigin::signed(REQUESTER), 0, prompt(), 32, 1_000),
			Error::<Test>::NoDrawRandomness
		);
		run_to(2);
		assert_ok!(Inference::request(RuntimeOrigin::signed(REQUESTER), 0, prompt(), 32, 1_000));
	});
}

/// State that never left: a record's citation statistics outlived the record, and an accepted
/// record could not be taken back. A contributor withdrawing an accepted, cited record keeps
/// what it earned (its pool position is settled first) and gets its deposit back; the
/// record's statistics go with it.
#[test]
fn a_withdrawn_record_keeps_its_earnings_and_takes_its_statistics() {
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		assert_ok!(settle(id, &[(0, 0, 700_000)]));
		vest(id);
		assert!(pallet_attribution::ContributionStatistics::<Test>::contains_key(0, 0));
		let deposit = Balances::balance_on_hold(
			&pallet_datasets::HoldReason::ContributionDeposit.into(),
			&ALICE,
		);
		assert!(deposit > 0);
		let free = Balances::balance(&ALICE);

		assert_ok!(Datasets::withdraw_contribution(RuntimeOrigin::signed(ALICE), 0, 0));
		assert!(!pallet_attribution::ContributionStatistics::<Test>::contains_key(0, 0));
		assert_eq!(Balances::balance(&ALICE), free + deposit);
		assert_eq!(pallet_datasets::ContributorWeight::<Test>::get(0, ALICE), 0);
		// The 10 of span credit and the 15 the pool owed under the old weight are still hers.
		assert_eq!(Royalties::pending(&ALICE), (10, vec![(0, 15)]));
		assert_ok!(Royalties::claim(RuntimeOrigin::signed(ALICE)));
		assert_ok!(Royalties::claim_from_datasets(
			RuntimeOrigin::signed(ALICE),
			vec![0].try_into().unwrap()
		));
		assert_eq!(Balances::balance(&ALICE) - free - deposit, 25);
	});
}

#[test]
fn a_withdrawal_racing_a_result_does_not_get_the_result_refused() {
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		// The service drew on ALICE's record 0; she withdraws it just ahead of the submission.
		assert_ok!(Datasets::withdraw_contribution(RuntimeOrigin::signed(ALICE), 0, 0));
		assert_ok!(settle(id, &[(0, 0, 700_000), (0, 1, 100_000)]));
		assert!(!Requests::<Test>::contains_key(id));
		// An id the dataset never issued is still the provider's invention.
		let invented = make_request(1_000);
		assert_noop!(
			settle(invented, &[(0, 1, 10), (0, 2, 10)]),
			Error::<Test>::InvalidAttribution
		);
		assert_ok!(Inference::decline(
			RuntimeOrigin::signed(OPERATOR),
			invented,
			DeclineReason::Refused
		));
		vest(id);
		// The withdrawn record is skipped: not credited, not recorded, its score left to the
		// pool, whose one remaining contributor is BOB.
		let cited: Vec<_> = pallet_attribution::Outputs::<Test>::get(id)
			.unwrap()
			.records
			.iter()
			.map(|record| (record.dataset_id, record.contribution_id))
			.collect();
		assert_eq!(cited, vec![(0, 1)]);
		assert_eq!(Royalties::pending(&ALICE), (0, vec![]));
		let (credit, pools) = Royalties::pending(&BOB);
		assert!(credit > 0 && pools.iter().map(|(_, amount)| amount).sum::<Balance>() > credit);
		assert!(System::events().iter().any(|record| matches!(
			record.event,
			RuntimeEvent::Inference(Event::Settled { attributions: 1, .. })
		)));
	});
}

/// A model retired while a request for it is open keeps its records until the request could
/// have settled: reaping it sooner would make the provider's result fail for want of the
/// model's owner, split and lineage, and the provider be penalised for the expiry.
#[test]
fn a_retired_model_cannot_be_reaped_from_under_an_open_request() {
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		assert_ok!(Models::retire_model(RuntimeOrigin::signed(OWNER), 0));
		assert_noop!(
			Inference::request(RuntimeOrigin::signed(REQUESTER), 0, prompt(), 32, 1_000),
			Error::<Test>::ModelNotActive
		);

		let deadline = Requests::<Test>::get(id).unwrap().deadline;
		System::set_block_number(deadline);
		assert_noop!(
			Models::reap_model(RuntimeOrigin::signed(BOB), 0),
			pallet_models::Error::<Test>::TooEarlyToReap
		);
		assert_ok!(settle(id, &[(0, 0, 500_000)]));
		// The result vests on what settlement kept (owner, split, lineage), whatever becomes
		// of the model meanwhile.
		assert!(Inference::vesting_credits(&OWNER) > 0);
		vest(id);
		assert!(Royalties::pending(&OWNER).0 > 0);

		let reapable = pallet_models::ReapableAt::<Test>::get(0).unwrap();
		System::set_block_number(reapable.max(System::block_number()));
		assert_ok!(Models::reap_model(RuntimeOrigin::signed(BOB), 0));
		assert!(pallet_models::Models::<Test>::get(0).is_none());
		assert_eq!(pallet_attribution::Lineages::<Test>::iter().count(), 0);
	});
}

/// Challenges, audits, juries and verdicts.
mod verification {
	use super::*;
	use polkadot_sdk::frame_support::traits::{tokens::Precision, Hooks};

	fn bond_held(who: AccountId) -> Balance {
		Balances::balance_on_hold(&HoldReason::ChallengeBond.into(), &who)
	}

	/// Registers the first `count` of [`JURORS`] as providers of model 0.
	fn jurors(count: usize) -> Vec<(AccountId, AccountId)> {
		let jurors = JURORS[..count].to_vec();
		for &(juror, operator) in &jurors {
			assert_ok!(serving_provider(juror, operator));
		}
		jurors
	}

	/// Runs to block `n` as `run_to` does, every provider's operator sending its heartbeats
	/// when due, so that all stay online.
	fn run_online_to(n: u64) {
		while System::block_number() < n {
			for (_, record) in pallet_providers::Providers::<Test>::iter() {
				let _ = Providers::heartbeat(RuntimeOrigin::signed(record.operator));
			}
			run_to(System::block_number() + 1);
		}
	}

	/// A request settled by PROVIDER with its record... and a stake large enough for the
	/// slash to take all it asks: returns the request id.
	fn settled(entries: &[(DatasetId, ContributionId, u32)]) -> RequestId {
		assert_ok!(Providers::bond_extra(RuntimeOrigin::signed(PROVIDER), 10_000));
		let id = make_request(1_000);
		assert_ok!(settle(id, entries));
		id
	}

	/// Runs to the close of `id`'s window: returns its jurors' (provider, operator) in the order
	/// drawn.
	fn close(id: RequestId) -> Vec<(AccountId, AccountId)> {
		run_online_to(Results::<Test>::get(id).unwrap().closes_at);
		Results::<Test>::get(id)
			.map(|result| {
				result.jurors.iter().map(|juror| (juror.provider, juror.operator)).collect()
			})
			.unwrap_or_default()
	}

	/// Three jurors registered, a request settled by PROVIDER citing `entries`, challenged by
	/// CHARLIE and run to its close: returns its id and its jury, as [`close`] does.
	fn challenged(
		entries: &[(DatasetId, ContributionId, u32)],
	) -> (RequestId, Vec<(AccountId, AccountId)>) {
		jurors(3);
		let id = settled(entries);
		assert_ok!(Inference::challenge(RuntimeOrigin::signed(CHARLIE), id));
		(id, close(id))
	}

	fn vote(operator: AccountId, id: RequestId, vote: Vote) -> DispatchResultWithPostInfo {
		Inference::vote(RuntimeOrigin::signed(operator), id, vote)
	}

	/// The block the jury judging `id` is counted in.
	fn verdict_at(id: RequestId) -> u64 {
		let Stage::Judging { verdict_at } = Results::<Test>::get(id).unwrap().stage else {
			panic!("a jury judges the result");
		};
		verdict_at
	}

	fn verdict(id: RequestId) {
		run_online_to(verdict_at(id));
	}

	fn pending_slashes(provider: AccountId) -> usize {
		pallet_providers::PendingSlashes::<Test>::iter_prefix(provider).count()
	}

	/// The attack the protocol is for: a provider cites its own record at a million parts (here
	/// ALICE's record stands in for it). A challenger bonds, the jury finds it wrong: the
	/// requester gets the fee back, nothing is credited or recorded, the challenger's bond is
	/// released, the juror that did not vote is penalised, and the provider's slash (50 + 20 ×
	/// the fee of 125) is scheduled; when it applies, the challenger gets 40 % of it and the two
	/// jurors who found it wrong 10 % each.
	#[test]
	fn a_challenged_wrong_result_is_overturned_refunded_and_slashed() {
		ExtBuilder.build_and_execute(|| {
			let drawn = jurors(3);
			let requester_before = Balances::total_balance(&REQUESTER);
			let id = settled(&[(0, 0, 1_000_000)]);
			assert_eq!(Inference::vesting_credits(&ALICE), 15);
			assert_ok!(Inference::challenge(RuntimeOrigin::signed(CHARLIE), id));
			assert_eq!(bond_held(CHARLIE), CHALLENGE_BOND);
			System::assert_last_event(
				Event::Challenged { request_id: id, challenger: CHARLIE, bond: CHALLENGE_BOND }
					.into(),
			);

			let jury = close(id);
			assert_eq!(jury.len(), 3);
			assert!(jury.iter().all(|juror| drawn.contains(juror)));
			assert!(System::events().iter().any(|record| matches!(
				&record.event,
				RuntimeEvent::Inference(Event::JuryDrawn { audit: false, jurors, .. })
					if jurors.len() == 3
			)));
			assert_eq!(Inference::jury_duty_of(&jury[0].1), vec![id]);
			// Only jurors vote, once each, free of charge.
			assert_noop!(vote(OPERATOR, id, Vote::Valid), Error::<Test>::NotJuror);
			let voted = vote(jury[0].1, id, Vote::Wrong).unwrap();
			assert_eq!(voted.pays_fee, Pays::No);
			assert_noop!(vote(jury[0].1, id, Vote::Valid), Error::<Test>::AlreadyVoted);
			assert_ok!(vote(jury[1].1, id, Vote::Wrong));
			assert!(Inference::jury_duty_of(&jury[0].1).is_empty());

			let slashes_before = pending_slashes(jury[2].0);
			verdict(id);
			assert_noop!(vote(jury[2].1, id, Vote::Valid), Error::<Test>::UnknownResult);
			let slash = WRONG_RESULT_SLASH + 20 * 125;
			System::assert_has_event(
				Event::Overturned {
					request_id: id,
					provider: PROVIDER,
					valid: 0,
					wrong: 2,
					missed: 1,
					refund: 125,
					slash,
				}
				.into(),
			);
			assert!(Results::<Test>::get(id).is_none());
			assert_eq!(held(REQUESTER), 0);
			assert_eq!(Balances::total_balance(&REQUESTER), requester_before);
			assert_eq!(bond_held(CHARLIE), 0);
			assert_eq!(Inference::vesting_credits(&ALICE), 0);
			assert_eq!(pallet_royalties::Credits::<Test>::get(PROVIDER), None);
			assert_eq!(Royalties::pending(&ALICE), (0, vec![]));
			assert!(pallet_attribution::Outputs::<Test>::get(id).is_none());
			assert_eq!(pending_slashes(jury[2].0), slashes_before + 1);
			assert_eq!(pending_slashes(PROVIDER), 1);

			// The slash applies after its deferral and pays the challenger and the jurors who
			// found the result wrong; the rest goes to the treasury.
			let charlie = Balances::balance(&CHARLIE);
			let jurors_before: Vec<Balance> =
				jury.iter().map(|(juror, _)| Balances::balance(juror)).collect();
			let stake_before = Balances::balance_on_hold(
				&pallet_providers::HoldReason::ProviderBond.into(),
				&PROVIDER,
			);
			run_online_to(System::block_number() + 6);
			let taken = stake_before
				- Balances::balance_on_hold(
					&pallet_providers::HoldReason::ProviderBond.into(),
					&PROVIDER,
				);
			assert!(taken >= slash && taken <= slash + 2, "took {taken} for a slash of {slash}");
			assert_eq!(Balances::balance(&CHARLIE) - charlie, slash * 40 / 100);
			assert_eq!(Balances::balance(&jury[0].0) - jurors_before[0], slash * 10 / 100);
			assert_eq!(Balances::balance(&jury[1].0) - jurors_before[1], slash * 10 / 100);
		});
	}

	/// A challenge the jury rejects forfeits its bond: half to the provider, half shared by the
	/// jurors who found the result valid; the result is paid.
	#[test]
	fn an_upheld_challenge_forfeits_its_bond_to_the_provider_and_the_jurors() {
		ExtBuilder.build_and_execute(|| {
			let (id, jury) = challenged(&[(0, 0, 700_000)]);
			assert_ok!(vote(jury[0].1, id, Vote::Valid));
			assert_ok!(vote(jury[1].1, id, Vote::Valid));
			assert_ok!(vote(jury[2].1, id, Vote::Wrong));
			let (charlie, provider) =
				(Balances::total_balance(&CHARLIE), Balances::balance(&PROVIDER));
			let juror = Balances::balance(&jury[0].0);
			verdict(id);
			System::assert_has_event(
				Event::Upheld {
					request_id: id,
					valid: 2,
					wrong: 1,
					missed: 0,
					forfeited: CHALLENGE_BOND,
				}
				.into(),
			);
			System::assert_has_event(Event::Paid { request_id: id, fee: 125 }.into());
			assert_eq!(charlie - Balances::total_balance(&CHARLIE), CHALLENGE_BOND);
			assert_eq!(Balances::balance(&PROVIDER) - provider, CHALLENGE_BOND / 2);
			assert_eq!(Balances::balance(&jury[0].0) - juror, CHALLENGE_BOND / 4);
			assert_eq!(pallet_royalties::Credits::<Test>::get(PROVIDER), Some(62));
			assert_eq!(pending_slashes(PROVIDER), 0);
		});
	}

	/// As many valid votes as wrong ones, or none cast at all, do not overturn a result; with
	/// no valid vote the challenger's bond is released rather than forfeited, and every juror
	/// that did not vote is penalised.
	#[test]
	fn a_tie_or_a_silent_jury_upholds_the_result() {
		ExtBuilder.build_and_execute(|| {
			let (id, jury) = challenged(&[]);
			assert_ok!(vote(jury[0].1, id, Vote::Valid));
			assert_ok!(vote(jury[1].1, id, Vote::Wrong));
			assert_ok!(vote(jury[2].1, id, Vote::Abstain));
			verdict(id);
			System::assert_has_event(
				Event::Upheld {
					request_id: id,
					valid: 1,
					wrong: 1,
					missed: 0,
					forfeited: CHALLENGE_BOND,
				}
				.into(),
			);

			let id = make_request(1_000);
			assert_ok!(settle(id, &[]));
			assert_ok!(Inference::challenge(RuntimeOrigin::signed(CHARLIE), id));
			let jury = close(id);
			let before: Vec<usize> =
				jury.iter().map(|(juror, _)| pending_slashes(*juror)).collect();
			let charlie = Balances::total_balance(&CHARLIE);
			verdict(id);
			System::assert_has_event(
				Event::Upheld { request_id: id, valid: 0, wrong: 0, missed: 3, forfeited: 0 }
					.into(),
			);
			assert_eq!(Balances::total_balance(&CHARLIE), charlie);
			assert_eq!(bond_held(CHARLIE), 0);
			for ((juror, _), before) in jury.iter().zip(before) {
				assert_eq!(pending_slashes(*juror), before + 1);
			}

			// One juror alone cannot overturn a result: it takes most of the drawn jury, whoever
			// abstains or stays silent. (The jurors' missed votes took them below the minimum
			// bond; they bond back above it.)
			for (juror, _) in &jury {
				assert_ok!(Providers::bond_extra(RuntimeOrigin::signed(*juror), 10));
			}
			let id = make_request(1_000);
			assert_ok!(settle(id, &[]));
			assert_ok!(Inference::challenge(RuntimeOrigin::signed(CHARLIE), id));
			let jury = close(id);
			assert_ok!(vote(jury[0].1, id, Vote::Wrong));
			assert_ok!(vote(jury[1].1, id, Vote::Abstain));
			verdict(id);
			System::assert_has_event(
				Event::Upheld { request_id: id, valid: 0, wrong: 1, missed: 1, forfeited: 0 }
					.into(),
			);
		});
	}

	/// With `AuditRate` at 100 %, an unchallenged result goes to a jury when its window
	/// closes; found valid, it is paid, and nobody is slashed.
	#[test]
	fn an_audited_result_goes_to_a_jury_without_a_challenger() {
		ExtBuilder.build_and_execute(|| {
			Audits::set(&Perbill::one());
			jurors(2);
			let id = settled(&[(0, 1, 300_000)]);
			let jury = close(id);
			assert_eq!(jury.len(), 2);
			assert!(System::events().iter().any(|record| matches!(
				&record.event,
				RuntimeEvent::Inference(Event::JuryDrawn { audit: true, .. })
			)));
			for (_, operator) in &jury {
				assert_ok!(vote(*operator, id, Vote::Valid));
			}
			verdict(id);
			System::assert_has_event(
				Event::Upheld { request_id: id, valid: 2, wrong: 0, missed: 0, forfeited: 0 }
					.into(),
			);
			System::assert_has_event(Event::Paid { request_id: id, fee: 125 }.into());
			assert_eq!(pending_slashes(PROVIDER), 0);
		});
	}

	/// An audit the jury finds wrong overturns the result as a challenge would, with no
	/// challenger to reward: the jurors who found it wrong share their part.
	#[test]
	fn an_audit_found_wrong_is_overturned_without_a_challenger() {
		ExtBuilder.build_and_execute(|| {
			Audits::set(&Perbill::one());
			jurors(2);
			let requester_before = Balances::total_balance(&REQUESTER);
			let id = settled(&[(0, 0, 1_000_000)]);
			let jury = close(id);
			for (_, operator) in &jury {
				assert_ok!(vote(*operator, id, Vote::Wrong));
			}
			verdict(id);
			assert_eq!(Balances::total_balance(&REQUESTER), requester_before);
			let slash_id = pallet_providers::PendingSlashes::<Test>::iter_prefix(PROVIDER)
				.map(|(slash_id, _)| slash_id)
				.next()
				.unwrap();
			let slash = WRONG_RESULT_SLASH + 20 * 125;
			let mut rewards =
				pallet_providers::SlashRewards::<Test>::get(slash_id).unwrap().into_inner();
			rewards.sort();
			let mut expected: Vec<_> =
				jury.iter().map(|(juror, _)| (*juror, slash * 20 / 100 / 2)).collect();
			expected.sort();
			assert_eq!(rewards, expected);
			// Governance may still cancel the slash, and then nobody is paid from it.
			assert_ok!(Providers::cancel_slash(RuntimeOrigin::root(), PROVIDER, slash_id));
			assert!(pallet_providers::SlashRewards::<Test>::get(slash_id).is_none());
		});
	}

	/// A challenge is refused after the challenge period, a second time, from an account that
	/// cannot cover the bond, and for a result that is not open; a refusal changes nothing.
	#[test]
	fn bad_challenges_are_refused_and_change_nothing() {
		ExtBuilder.build_and_execute(|| {
			let id = settled(&[]);
			let poor = 77;
			assert_noop!(
				Inference::challenge(RuntimeOrigin::signed(poor), id),
				Error::<Test>::InsufficientBond
			);
			assert_noop!(
				Inference::challenge(RuntimeOrigin::signed(CHARLIE), id + 1),
				Error::<Test>::UnknownResult
			);
			assert_ok!(Inference::challenge(RuntimeOrigin::signed(CHARLIE), id));
			assert_noop!(
				Inference::challenge(RuntimeOrigin::signed(BOB), id),
				Error::<Test>::AlreadyChallenged
			);

			let late = make_request(1_000);
			assert_ok!(settle(late, &[]));
			assert_noop!(vote(OPERATOR, late, Vote::Wrong), Error::<Test>::NoJury);
			let until = Results::<Test>::get(late).unwrap().challenge_until;
			run_online_to(until);
			// The block after the challenge period, before its window's close runs (which a
			// postponed close can leave it in).
			System::set_block_number(until + 1);
			assert_noop!(
				Inference::challenge(RuntimeOrigin::signed(BOB), late),
				Error::<Test>::ChallengeClosed
			);
			System::set_block_number(until);
		});
	}

	/// No other provider serves the model: a challenge finds no jury, its bond is released
	/// and the result paid.
	#[test]
	fn a_challenge_with_nobody_to_judge_it_is_dismissed() {
		ExtBuilder.build_and_execute(|| {
			let id = settled(&[]);
			assert_ok!(Inference::challenge(RuntimeOrigin::signed(CHARLIE), id));
			assert!(close(id).is_empty());
			System::assert_has_event(Event::NoJury { request_id: id }.into());
			System::assert_has_event(Event::Paid { request_id: id, fee: 125 }.into());
			assert_eq!(bond_held(CHARLIE), 0);
		});
	}

	/// A jury of one: the challenger runs the only other provider of the model, challenges
	/// honest results and, drawn as their sole juror, votes them wrong, taking the fee back,
	/// the challenger's and the jurors' parts of the slash. No jury is drawn below a majority
	/// of `JurySize` (two of three here): the challenge is dismissed, the bond released, the
	/// result paid, and nobody slashed.
	#[test]
	fn a_challenger_cannot_judge_alone_as_the_only_other_provider() {
		ExtBuilder.build_and_execute(|| {
			assert_eq!(Inference::quorum(), 2);
			let (own_juror, _) = jurors(1)[0];
			let id = settled(&[]);
			assert_ok!(Inference::challenge(RuntimeOrigin::signed(own_juror), id));
			assert!(close(id).is_empty(), "no jury of one");
			System::assert_has_event(Event::NoJury { request_id: id }.into());
			System::assert_has_event(Event::Paid { request_id: id, fee: 125 }.into());
			assert_eq!(bond_held(own_juror), 0);
			assert_eq!(pending_slashes(PROVIDER), 0);
		});
	}

	/// An upheld result may wait blocks for its payment (no spare weight, or a full ledger):
	/// it vests without its jury, and the invariants hold in between.
	#[test]
	fn an_upheld_result_waits_for_its_payment_without_its_jury() {
		ExtBuilder.build_and_execute(|| {
			let (id, jury) = challenged(&[]);
			for (_, operator) in &jury {
				assert_ok!(vote(*operator, id, Vote::Valid));
			}
			let verdict_at = verdict_at(id);
			// The verdict's block, without `on_idle`: the payment waits.
			run_online_to(verdict_at - 1);
			System::set_block_number(verdict_at);
			Inference::count_verdicts(verdict_at);
			let result = Results::<Test>::get(id).unwrap();
			assert_eq!(result.stage, Stage::Vested);
			assert!(result.jurors.is_empty());
			assert_ok!(Inference::do_try_state());
			assert_ok!(Inference::pay(RuntimeOrigin::signed(BOB), id));
			System::assert_has_event(Event::Paid { request_id: id, fee: 125 }.into());
		});
	}

	/// Steering the jury: a challenger who knows the randomness the jury will be drawn from
	/// could challenge only when the draw suits it. The draw waits for the relay chain's
	/// randomness of a block at least two past the one the challenge saw: while the relay chain
	/// stands still, the close is postponed, block after block.
	#[test]
	fn the_jury_is_drawn_from_relay_randomness_the_challenger_never_saw() {
		ExtBuilder.build_and_execute(|| {
			jurors(3);
			let id = settled(&[]);
			let closes_at = Results::<Test>::get(id).unwrap().closes_at;
			run_online_to(closes_at - 1);
			// The relay chain stalls at the relay block of this parachain block.
			let stalled = closes_at as u32 - 1;
			assert_ok!(Inference::challenge(RuntimeOrigin::signed(CHARLIE), id));
			for block in closes_at..closes_at + 3 {
				for (_, record) in pallet_providers::Providers::<Test>::iter() {
					let _ = Providers::heartbeat(RuntimeOrigin::signed(record.operator));
				}
				System::set_block_number(block);
				Providers::on_initialize(block);
				Inference::on_initialize(block);
				Inference::note_draw_randomness(Some(relay_randomness(block)), stalled);
				assert_eq!(Postponed::<Test>::get().into_inner(), vec![id]);
				assert!(Results::<Test>::get(id).unwrap().jurors.is_empty());
			}
			// The relay chain moves on by one block: still not enough.
			Inference::on_initialize(closes_at + 3);
			System::set_block_number(closes_at + 3);
			Inference::note_draw_randomness(Some(relay_randomness(closes_at + 3)), stalled + 1);
			Inference::on_initialize(closes_at + 4);
			System::set_block_number(closes_at + 4);
			assert!(Results::<Test>::get(id).unwrap().jurors.is_empty());
			Inference::note_draw_randomness(Some(relay_randomness(closes_at + 4)), stalled + 2);
			Inference::on_initialize(closes_at + 5);
			assert_eq!(Results::<Test>::get(id).unwrap().jurors.len(), 3);
			assert!(Postponed::<Test>::get().is_empty());
		});
	}

	/// The vesting amounts and the invariants: a fee held beyond its result's life, or a bond
	/// held with no challenge, is caught.
	#[test]
	fn try_state_catches_stray_fees_and_bonds() {
		ExtBuilder.build_and_execute(|| {
			let id = settled(&[]);
			assert_ok!(Inference::challenge(RuntimeOrigin::signed(CHARLIE), id));
			assert_ok!(Inference::do_try_state());
			let result = Results::<Test>::take(id).unwrap();
			assert!(Inference::do_try_state().is_err());
			Results::<Test>::insert(id, result);
			assert_ok!(Balances::hold(&HoldReason::ChallengeBond.into(), &BOB, 1));
			assert!(Inference::do_try_state().is_err());
			assert_ok!(Balances::release(
				&HoldReason::ChallengeBond.into(),
				&BOB,
				1,
				Precision::Exact
			));
			assert_ok!(Inference::do_try_state());
		});
	}
}

/// A vested result is paid in a block's spare weight, in turn, or at once by anyone's `pay`;
/// a result still in its window cannot be paid, and a queue entry left by an early `pay` is
/// skipped.
#[test]
fn a_vested_result_is_paid_in_spare_weight_or_by_anyone() {
	use polkadot_sdk::frame_support::traits::Hooks;
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		assert_ok!(settle(id, &[(0, 0, 700_000)]));
		assert_noop!(Inference::pay(RuntimeOrigin::signed(BOB), id), Error::<Test>::NotVested);
		let closes_at = Results::<Test>::get(id).unwrap().closes_at;
		run_to(closes_at - 1);
		// The close (in the validation inherent), without the block's spare weight.
		System::set_block_number(closes_at);
		Inference::on_initialize(closes_at);
		let _ =
			Inference::note_draw_randomness(Some(relay_randomness(closes_at)), closes_at as u32);
		assert_eq!(Results::<Test>::get(id).unwrap().stage, Stage::Vested);
		System::assert_has_event(Event::Vested { request_id: id }.into());
		assert_eq!(Inference::on_idle(closes_at, Weight::zero()), Weight::zero());
		assert!(Results::<Test>::contains_key(id), "no spare weight, nothing paid");
		assert_ok!(Inference::pay(RuntimeOrigin::signed(BOB), id));
		System::assert_has_event(Event::Paid { request_id: id, fee: 125 }.into());
		assert_eq!(pallet_royalties::Credits::<Test>::get(PROVIDER), Some(62));
		assert_noop!(Inference::pay(RuntimeOrigin::signed(BOB), id), Error::<Test>::UnknownResult);
		// The queue's entry for it is skipped, and the queue left empty.
		let used = Inference::on_idle(closes_at, Weight::MAX);
		assert_eq!(used, <Test as Config>::WeightInfo::pay());
		let (first, next) = QueueBounds::<Test>::get(Queue::Pay);
		assert_eq!(first, next);
	});
}

/// Attack: fill a block's attribution ledger (it records `MaxOutputsPerBlock` outputs a block)
/// with other results' payments, so that a vested result paid after them in the block fails to
/// record and its fee goes back to the requester rather than to the provider and the
/// contributors. A full ledger refuses the payment instead, and leaves the result queued.
#[test]
fn a_full_ledger_defers_payments_rather_than_refund_them() {
	use polkadot_sdk::frame_support::traits::{Get, Hooks};
	use tributary_primitives::OutputLedger as _;
	type PerBlock = <Test as pallet_attribution::Config>::MaxOutputsPerBlock;
	ExtBuilder.build_and_execute(|| {
		let id = make_request(1_000);
		assert_ok!(settle(id, &[(0, 0, 700_000)]));
		let closes_at = Results::<Test>::get(id).unwrap().closes_at;
		run_to(closes_at - 1);
		System::set_block_number(closes_at);
		Inference::on_initialize(closes_at);
		let _ =
			Inference::note_draw_randomness(Some(relay_randomness(closes_at)), closes_at as u32);
		assert_eq!(Results::<Test>::get(id).unwrap().stage, Stage::Vested);
		// Other outputs take every place the ledger has in this block.
		let per_block: u32 = <PerBlock as Get<u32>>::get();
		for other in 0..u64::from(per_block) {
			assert_ok!(Attribution::record_output(1_000_000 + other, 0, &[]));
		}
		assert!(!Attribution::has_room());
		assert_noop!(Inference::pay(RuntimeOrigin::signed(BOB), id), Error::<Test>::LedgerFull);
		Inference::on_idle(closes_at, Weight::MAX);
		assert_eq!(Results::<Test>::get(id).unwrap().stage, Stage::Vested, "still owed");
		// The next block has room: the provider is paid, the requester's fee is not returned.
		System::set_block_number(closes_at + 1);
		Inference::on_idle(closes_at + 1, Weight::MAX);
		System::assert_has_event(Event::Paid { request_id: id, fee: 125 }.into());
		assert_eq!(pallet_royalties::Credits::<Test>::get(PROVIDER), Some(62));
	});
}
