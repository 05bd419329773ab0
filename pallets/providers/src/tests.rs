use crate::{mock::*, *};
use polkadot_sdk::frame_support::traits::Hooks;
// The pallet, not its storage item of the same name (`crate::Providers`).
use crate::mock::Providers;
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		dispatch::Pays,
		traits::fungible::{Inspect, InspectHold},
	},
	sp_runtime::DispatchError,
};

fn spec(gpu_count: u32) -> SpecOf<Test> {
	HardwareSpec {
		gpu_model: b"NVIDIA H100".to_vec().try_into().unwrap(),
		vram_gib: 80,
		gpu_count,
		region: b"eu-west".to_vec().try_into().unwrap(),
		endpoint: None,
	}
}

fn register(who: AccountId, operator: AccountId, bond: Balance) -> DispatchResult {
	Providers::register(RuntimeOrigin::signed(who), spec(1), operator, bond)
}

fn record(who: AccountId) -> ProviderOf<Test> {
	crate::Providers::<Test>::get(who).expect("registered")
}

fn held(who: AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Providers(HoldReason::ProviderBond), &who)
}

/// Alice registers (operator ALICE_OP, bond 1,000) and serves model 0.
fn alice_serving() {
	assert_ok!(register(ALICE, ALICE_OP, 1_000));
	assert_ok!(Providers::serve(RuntimeOrigin::signed(ALICE), 0));
}

#[test]
fn registration_holds_the_bond_and_records_the_provider() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		let provider = record(ALICE);
		assert_eq!(provider.operator, ALICE_OP);
		assert_eq!(provider.bonded, 1_000);
		assert_eq!(provider.spec, spec(1));
		assert_eq!(provider.last_heartbeat, 1);
		assert_eq!(held(ALICE), 1_000);
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT - 1_000);
		assert_eq!(ProviderOfOperator::<Test>::get(ALICE_OP), Some(ALICE));
		assert_eq!(Providers::status(&provider), ProviderStatus::Online);
		System::assert_last_event(
			Event::Registered { provider: ALICE, operator: ALICE_OP, bond: 1_000 }.into(),
		);
	});
}

#[test]
fn registration_refusals() {
	ExtBuilder.build_and_execute(|| {
		assert_noop!(register(ALICE, ALICE_OP, MIN_BOND - 1), Error::<Test>::BondTooLow);
		assert_noop!(
			Providers::register(RuntimeOrigin::signed(ALICE), spec(0), ALICE_OP, 1_000),
			Error::<Test>::InvalidSpec
		);
		let mut no_memory = spec(1);
		no_memory.vram_gib = 0;
		assert_noop!(
			Providers::register(RuntimeOrigin::signed(ALICE), no_memory, ALICE_OP, 1_000),
			Error::<Test>::InvalidSpec
		);
		assert_noop!(register(ALICE, ALICE_OP, ENDOWMENT + 1), Error::<Test>::InsufficientBalance);
		assert_noop!(
			Providers::register(RuntimeOrigin::none(), spec(1), ALICE_OP, 1_000),
			DispatchError::BadOrigin
		);
		assert_ok!(register(ALICE, ALICE_OP, MIN_BOND));
		assert_noop!(register(ALICE, 20, 1_000), Error::<Test>::AlreadyRegistered);
		assert_noop!(register(BOB, ALICE_OP, 1_000), Error::<Test>::OperatorInUse);
	});
}

#[test]
fn bonding_extra_adds_to_the_hold() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(Providers::bond_extra(RuntimeOrigin::signed(ALICE), 500));
		assert_eq!(record(ALICE).bonded, 1_500);
		assert_eq!(held(ALICE), 1_500);
		assert_noop!(
			Providers::bond_extra(RuntimeOrigin::signed(ALICE), 0),
			Error::<Test>::ZeroAmount
		);
		assert_noop!(
			Providers::bond_extra(RuntimeOrigin::signed(BOB), 5),
			Error::<Test>::NotProvider
		);
		assert_noop!(
			Providers::bond_extra(RuntimeOrigin::signed(ALICE), ENDOWMENT),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn unbonded_stake_is_withdrawable_exactly_at_the_end_of_the_period() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 400));
		let unlock_at = 1 + UNBONDING;
		System::assert_last_event(
			Event::Unbonding { provider: ALICE, amount: 400, unlock_at }.into(),
		);
		assert_eq!(record(ALICE).bonded, 600);
		assert_eq!(record(ALICE).unlocking.to_vec(), vec![UnlockChunk { value: 400, unlock_at }]);
		// Still held while unlocking.
		assert_eq!(held(ALICE), 1_000);

		run_to(unlock_at - 1);
		assert_noop!(
			Providers::withdraw_unbonded(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::NothingToWithdraw
		);
		run_to(unlock_at);
		assert_ok!(Providers::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::Withdrawn { provider: ALICE, amount: 400 }.into());
		assert_eq!(held(ALICE), 600);
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT - 600);
		assert!(record(ALICE).unlocking.is_empty());
	});
}

#[test]
fn unbonding_in_one_block_merges_and_chunks_are_bounded() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 10));
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 10));
		assert_eq!(record(ALICE).unlocking.len(), 1);
		assert_eq!(record(ALICE).unlocking[0].value, 20);
		for block in 2..=MAX_CHUNKS as u64 {
			run_to(block);
			assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 10));
		}
		run_to(MAX_CHUNKS as u64 + 1);
		assert_noop!(
			Providers::unbond(RuntimeOrigin::signed(ALICE), 10),
			Error::<Test>::TooManyChunks
		);
		assert_noop!(
			Providers::unbond(RuntimeOrigin::signed(ALICE), 2_000),
			Error::<Test>::InsufficientBond
		);
		assert_noop!(Providers::unbond(RuntimeOrigin::signed(ALICE), 0), Error::<Test>::ZeroAmount);
		// Only the chunks that are due are withdrawn.
		run_to(2 + UNBONDING);
		assert_ok!(Providers::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_eq!(record(ALICE).unlocking.len(), 1);
		assert_eq!(held(ALICE), 1_000 - 30);
	});
}

#[test]
fn deregistering_needs_everything_withdrawn() {
	ExtBuilder.build_and_execute(|| {
		alice_serving();
		assert_noop!(
			Providers::deregister(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::StillBonded
		);
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 1_000));
		assert_noop!(
			Providers::deregister(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::StillBonded
		);
		run_to(1 + UNBONDING);
		assert_ok!(Providers::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_ok!(Providers::deregister(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::Deregistered { provider: ALICE }.into());
		assert!(crate::Providers::<Test>::get(ALICE).is_none());
		assert!(ProviderOfOperator::<Test>::get(ALICE_OP).is_none());
		assert!(ServingProviders::<Test>::get(0).is_empty());
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT);
	});
}

#[test]
fn deregistering_waits_for_assignments_and_pending_slashes() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(Providers::slash(
			RuntimeOrigin::root(),
			ALICE,
			Perbill::from_percent(10),
			vec![]
		));
		assert_ok!(<Providers as ProviderAssignment<_>>::start_assignment(&ALICE));
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 1_000));
		run_to(1 + UNBONDING);
		assert_ok!(Providers::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		assert_noop!(
			Providers::deregister(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::HasAssignments
		);
		<Providers as ProviderAssignment<_>>::end_assignment(&ALICE);
		assert_ok!(Providers::deregister(RuntimeOrigin::signed(ALICE)));
	});
}

#[test]
fn spec_and_operator_updates() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(register(BOB, BOB_OP, 1_000));
		assert_ok!(Providers::update_spec(RuntimeOrigin::signed(ALICE), spec(4)));
		assert_eq!(Providers::capacity(&record(ALICE)), 4 * PER_GPU);
		assert_noop!(
			Providers::update_spec(RuntimeOrigin::signed(ALICE), spec(0)),
			Error::<Test>::InvalidSpec
		);
		assert_noop!(
			Providers::set_operator(RuntimeOrigin::signed(ALICE), BOB_OP),
			Error::<Test>::OperatorInUse
		);
		assert_ok!(Providers::set_operator(RuntimeOrigin::signed(ALICE), 21));
		assert_eq!(record(ALICE).operator, 21);
		assert_eq!(ProviderOfOperator::<Test>::get(21), Some(ALICE));
		assert!(ProviderOfOperator::<Test>::get(ALICE_OP).is_none());
		// The old key no longer heartbeats for Alice.
		run_to(10);
		assert_noop!(
			Providers::heartbeat(RuntimeOrigin::signed(ALICE_OP)),
			Error::<Test>::NotOperator
		);
		assert_ok!(Providers::heartbeat(RuntimeOrigin::signed(21)));
	});
}

#[test]
fn serving_needs_an_active_model_and_is_bounded() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_noop!(
			Providers::serve(RuntimeOrigin::signed(ALICE), 2),
			Error::<Test>::ModelNotActive
		);
		assert_noop!(
			Providers::serve(RuntimeOrigin::signed(ALICE), 9),
			Error::<Test>::ModelNotActive
		);
		assert_noop!(Providers::serve(RuntimeOrigin::signed(BOB), 0), Error::<Test>::NotProvider);
		assert_ok!(Providers::serve(RuntimeOrigin::signed(ALICE), 0));
		System::assert_last_event(Event::Serving { provider: ALICE, model_id: 0 }.into());
		assert_noop!(
			Providers::serve(RuntimeOrigin::signed(ALICE), 0),
			Error::<Test>::AlreadyServing
		);
		assert_ok!(Providers::serve(RuntimeOrigin::signed(ALICE), 1));
		assert_eq!(MAX_SERVED, 2);
		// A third model would be over the bound: make model 2 active first.
		assert_ok!(pallet_models::Pallet::<Test>::register_adapter(
			RuntimeOrigin::signed(OWNER),
			2,
			polkadot_sdk::sp_core::H256::repeat_byte(3),
			8,
			8,
			vec![],
			vec![(0, 1)],
		));
		assert_noop!(
			Providers::serve(RuntimeOrigin::signed(ALICE), 2),
			Error::<Test>::TooManyServedModels
		);
		assert_eq!(ServingProviders::<Test>::get(0).to_vec(), vec![ALICE]);
		assert_eq!(Providers::providers_serving(0, 0, 10).len(), 1);

		assert_ok!(Providers::stop_serving(RuntimeOrigin::signed(ALICE), 0));
		System::assert_last_event(Event::StoppedServing { provider: ALICE, model_id: 0 }.into());
		assert!(ServingProviders::<Test>::get(0).is_empty());
		assert_noop!(
			Providers::stop_serving(RuntimeOrigin::signed(ALICE), 0),
			Error::<Test>::NotServing
		);
	});
}

#[test]
fn capacity_grows_with_gpus_and_bounds_assignments() {
	ExtBuilder.build_and_execute(|| {
		alice_serving();
		let capacity = Providers::capacity(&record(ALICE));
		assert_eq!(capacity, PER_GPU);
		for _ in 0..capacity {
			assert!(Providers::select_provider(0, &[0; 32]).is_some());
			assert_ok!(<Providers as ProviderAssignment<_>>::start_assignment(&ALICE));
		}
		assert_eq!(record(ALICE).assignments, capacity);
		assert!(Providers::select_provider(0, &[0; 32]).is_none(), "at capacity");
		assert_noop!(
			<Providers as ProviderAssignment<_>>::start_assignment(&ALICE),
			Error::<Test>::AtCapacity
		);
		// More GPUs, more room.
		assert_ok!(Providers::update_spec(RuntimeOrigin::signed(ALICE), spec(3)));
		assert!(Providers::select_provider(0, &[0; 32]).is_some());
		<Providers as ProviderAssignment<_>>::end_assignment(&ALICE);
		assert_eq!(record(ALICE).assignments, capacity - 1);
	});
}

#[test]
fn heartbeats_are_free_when_due_and_refused_otherwise() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		// Registration counted as a heartbeat at block 1.
		run_to(1 + HEARTBEAT_INTERVAL - 1);
		assert_noop!(
			Providers::heartbeat(RuntimeOrigin::signed(ALICE_OP)),
			Error::<Test>::HeartbeatTooSoon
		);
		run_to(1 + HEARTBEAT_INTERVAL);
		let info = Providers::heartbeat(RuntimeOrigin::signed(ALICE_OP)).expect("due");
		assert_eq!(info.pays_fee, Pays::No);
		assert_eq!(record(ALICE).last_heartbeat, 1 + HEARTBEAT_INTERVAL);
		// Not an operator: refused (and so paid for).
		assert_noop!(Providers::heartbeat(RuntimeOrigin::signed(BOB)), Error::<Test>::NotOperator);
		// The provider's own account is not its operator.
		assert_noop!(
			Providers::heartbeat(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::NotOperator
		);
	});
}

#[test]
fn a_silent_provider_goes_offline_and_a_heartbeat_brings_it_back() {
	ExtBuilder.build_and_execute(|| {
		alice_serving();
		run_to(1 + OFFLINE_AFTER);
		assert_eq!(Providers::status(&record(ALICE)), ProviderStatus::Online);
		run_to(2 + OFFLINE_AFTER);
		assert_eq!(Providers::status(&record(ALICE)), ProviderStatus::Offline);
		assert!(Providers::select_provider(0, &[0; 32]).is_none(), "offline: not assigned");
		// Offline is not slashed.
		assert!(Providers::pending_slashes_of(&ALICE).is_empty());
		assert_eq!(held(ALICE), 1_000);
		assert_ok!(Providers::heartbeat(RuntimeOrigin::signed(ALICE_OP)));
		assert_eq!(Providers::status(&record(ALICE)), ProviderStatus::Online);
		assert!(Providers::select_provider(0, &[0; 32]).is_some());
	});
}

#[test]
fn maintenance_takes_a_provider_out_of_selection() {
	ExtBuilder.build_and_execute(|| {
		alice_serving();
		assert_ok!(Providers::go_offline(RuntimeOrigin::signed(ALICE_OP)));
		System::assert_last_event(Event::WentOffline { provider: ALICE }.into());
		assert_eq!(Providers::status(&record(ALICE)), ProviderStatus::Maintenance);
		assert!(Providers::select_provider(0, &[0; 32]).is_none());
		assert_noop!(
			Providers::go_offline(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::AlreadyOffline
		);
		run_to(50);
		assert_ok!(Providers::go_online(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::WentOnline { provider: ALICE }.into());
		assert_eq!(Providers::status(&record(ALICE)), ProviderStatus::Online);
		assert_noop!(
			Providers::go_online(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::AlreadyOnline
		);
		assert_noop!(Providers::go_offline(RuntimeOrigin::signed(BOB)), Error::<Test>::NotProvider);
	});
}

#[test]
fn a_provider_below_the_minimum_bond_is_not_assigned() {
	ExtBuilder.build_and_execute(|| {
		alice_serving();
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 1_000 - MIN_BOND + 1));
		assert!(Providers::select_provider(0, &[0; 32]).is_none());
		assert_ok!(Providers::bond_extra(RuntimeOrigin::signed(ALICE), 1));
		assert!(Providers::select_provider(0, &[0; 32]).is_some());
	});
}

#[test]
fn slashes_wait_out_the_deferral_and_take_bonded_and_unlocking_stake() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 400));
		assert_noop!(
			Providers::slash(RuntimeOrigin::signed(BOB), ALICE, Perbill::from_percent(10), vec![]),
			DispatchError::BadOrigin
		);
		assert_ok!(Providers::slash(
			RuntimeOrigin::root(),
			ALICE,
			Perbill::from_percent(10),
			b"wrong outputs".to_vec()
		));
		let apply_at = 1 + DEFER;
		System::assert_last_event(
			Event::SlashScheduled {
				provider: ALICE,
				slash_id: 0,
				fraction: Perbill::from_percent(10),
				apply_at,
			}
			.into(),
		);
		assert_eq!(Providers::pending_slashes_of(&ALICE).len(), 1);
		let treasury = Balances::balance(&TREASURY);

		run_to(apply_at - 1);
		assert_eq!(held(ALICE), 1_000, "nothing taken before the deferral ends");
		run_to(apply_at);
		System::assert_last_event(
			Event::Slashed { provider: ALICE, slash_id: 0, amount: 100 }.into(),
		);
		let provider = record(ALICE);
		assert_eq!(provider.bonded, 540);
		assert_eq!(provider.unlocking[0].value, 360);
		assert_eq!(held(ALICE), 900);
		assert_eq!(Balances::balance(&TREASURY), treasury + 100);
		assert!(Providers::pending_slashes_of(&ALICE).is_empty());
		assert!(SlashQueue::<Test>::get(apply_at).is_empty());
	});
}

#[test]
fn governance_cancels_a_pending_slash() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(Providers::slash(
			RuntimeOrigin::root(),
			ALICE,
			Perbill::from_percent(50),
			vec![]
		));
		assert_ok!(Providers::slash(
			RuntimeOrigin::root(),
			ALICE,
			Perbill::from_percent(10),
			vec![]
		));
		assert_noop!(
			Providers::cancel_slash(RuntimeOrigin::signed(ALICE), ALICE, 0),
			DispatchError::BadOrigin
		);
		assert_noop!(
			Providers::cancel_slash(RuntimeOrigin::root(), ALICE, 7),
			Error::<Test>::UnknownSlash
		);
		assert_ok!(Providers::cancel_slash(RuntimeOrigin::root(), ALICE, 0));
		System::assert_last_event(Event::SlashCancelled { provider: ALICE, slash_id: 0 }.into());
		run_to(1 + DEFER);
		// Only the 10 % slash applied.
		assert_eq!(record(ALICE).bonded, 900);
		assert_eq!(held(ALICE), 900);
	});
}

#[test]
fn slash_refusals() {
	ExtBuilder.build_and_execute(|| {
		assert_noop!(
			Providers::slash(RuntimeOrigin::root(), ALICE, Perbill::from_percent(10), vec![]),
			Error::<Test>::NotProvider
		);
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_noop!(
			Providers::slash(RuntimeOrigin::root(), ALICE, Perbill::zero(), vec![]),
			Error::<Test>::ZeroFraction
		);
		assert_noop!(
			Providers::slash(RuntimeOrigin::root(), ALICE, Perbill::one(), vec![b'r'; 33]),
			Error::<Test>::ReasonTooLong
		);
		// The per-block queue is bounded.
		let per_block: u32 = <<Test as Config>::MaxSlashesPerBlock as Get<u32>>::get();
		for _ in 1..per_block {
			assert_ok!(Providers::slash(RuntimeOrigin::root(), ALICE, Perbill::one(), vec![]));
		}
		for who in [BOB, CHARLIE] {
			assert_ok!(register(who, who + 10, 1_000));
		}
		assert_ok!(Providers::slash(RuntimeOrigin::root(), BOB, Perbill::one(), vec![]));
		assert_noop!(
			Providers::slash(RuntimeOrigin::root(), CHARLIE, Perbill::one(), vec![]),
			Error::<Test>::SlashQueueFull
		);
	});
}

#[test]
fn a_missed_assignment_costs_the_fixed_fraction_after_the_deferral() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(<Providers as ProviderAssignment<_>>::penalise_missed_assignment(&ALICE));
		let pending = Providers::pending_slashes_of(&ALICE);
		assert_eq!(pending[0].fraction, Perbill::from_percent(1));
		assert_eq!(pending[0].reason.to_vec(), MISSED_ASSIGNMENT);
		run_to(1 + DEFER);
		assert_eq!(record(ALICE).bonded, 990);
	});
}

#[test]
fn a_full_slash_empties_unlocking_chunks() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 1_000));
		assert_ok!(Providers::slash(RuntimeOrigin::root(), ALICE, Perbill::one(), vec![]));
		run_to(1 + DEFER);
		let provider = record(ALICE);
		assert_eq!(provider.bonded, 0);
		assert!(provider.unlocking.is_empty());
		assert_eq!(held(ALICE), 0);
		assert_ok!(Providers::deregister(RuntimeOrigin::signed(ALICE)));
	});
}

/// The draw is the documented stake line: only providers that may take work now (online,
/// under capacity, bonded at least the minimum) and serve the model stand on it, in the order
/// they started serving, each for as much as it has bonded (unlocking stake does not count);
/// the seed's first 16 bytes pick the point. Over many seeds a provider with three times the
/// bond is drawn three times as often, within what chance allows for the sample.
#[test]
fn selection_draws_assignable_providers_in_proportion_to_bonded_stake() {
	ExtBuilder.build_and_execute(|| {
		use polkadot_sdk::frame_support::traits::{fungible::Mutate, tokens::Preservation};
		// Five more providers, each bonding 9,000 (more than ALICE and BOB together), none of
		// which may be drawn for model 0: were one counted it would take most draws.
		let (silent, resting, full, underbonded, elsewhere) = (31, 32, 33, 34, 35);
		let operator = |who: AccountId| who + 10;
		for who in [silent, resting, full, underbonded, elsewhere] {
			assert_ok!(Balances::transfer(&OWNER, &who, 20_000, Preservation::Preserve));
		}
		let serve = |who: AccountId, model_id: ModelId| {
			assert_ok!(Providers::serve(RuntimeOrigin::signed(who), model_id));
		};
		// First on the stake line, then no heartbeat past `OfflineAfter`.
		assert_ok!(register(silent, operator(silent), 9_000));
		serve(silent, 0);
		run_to(2 + OFFLINE_AFTER);
		// ALICE holds 1,500 with 500 of it unlocking: 1,000 bonded.
		assert_ok!(register(ALICE, ALICE_OP, 1_500));
		serve(ALICE, 0);
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 500));
		assert_ok!(register(resting, operator(resting), 9_000));
		serve(resting, 0);
		assert_ok!(Providers::go_offline(RuntimeOrigin::signed(resting)));
		assert_ok!(register(full, operator(full), 9_000));
		serve(full, 0);
		for _ in 0..Providers::capacity(&record(full)) {
			assert_ok!(<Providers as ProviderAssignment<_>>::start_assignment(&full));
		}
		assert_ok!(register(underbonded, operator(underbonded), 9_000));
		serve(underbonded, 0);
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(underbonded), 9_000 - MIN_BOND + 1));
		// BOB holds 5,000 but has 2,000 of it unlocking: 3,000 bonded, three times ALICE.
		assert_ok!(register(BOB, BOB_OP, 5_000));
		serve(BOB, 0);
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(BOB), 2_000));
		assert_ok!(register(elsewhere, operator(elsewhere), 9_000));
		serve(elsewhere, 1);
		// Each is kept out by one thing only.
		assert_eq!(Providers::status(&record(silent)), ProviderStatus::Offline);
		assert_eq!(Providers::status(&record(resting)), ProviderStatus::Maintenance);
		assert_eq!(record(full).assignments, Providers::capacity(&record(full)));
		assert!(record(underbonded).bonded < MIN_BOND);
		assert_eq!(ServingProviders::<Test>::get(0).len(), 6);
		for who in [silent, resting, full, underbonded, ALICE, BOB] {
			assert_eq!(record(who).served.to_vec(), vec![0]);
		}
		let drawn = |model_id: ModelId, seed: &[u8; 32]| {
			Providers::select_provider(model_id, seed).map(|(who, _)| who)
		};
		// `elsewhere` may be drawn: it is the only one on model 1's line.
		assert_eq!(drawn(1, &[0; 32]), Some(elsewhere));

		// The line for model 0 is ALICE's [0, 1,000) then BOB's [1,000, 4,000), taken modulo
		// 4,000; the seed's last 16 bytes play no part.
		let at = |point: u128, tail: u8| {
			let mut seed = [tail; 32];
			seed[..16].copy_from_slice(&point.to_le_bytes());
			seed
		};
		for (point, expected) in [
			(0, ALICE),
			(999, ALICE),
			(1_000, BOB),
			(3_999, BOB),
			(4_000, ALICE),
			(4_000 * 1_000_003 + 999, ALICE),
			(4_000 * 1_000_003 + 1_000, BOB),
			(u128::MAX, BOB),
		] {
			for tail in [0x00, 0x5a, 0xff] {
				assert_eq!(drawn(0, &at(point, tail)), Some(expected), "point {point}");
			}
		}
		assert_eq!(
			<Providers as ProviderAssignment<_>>::select(0, &at(1_000, 0)),
			Some((BOB, BOB_OP))
		);

		// Many seeds: each draw is where its seed falls, every draw is ALICE or BOB, both are
		// reached, and BOB's share is 3/4 within five standard deviations of the sample's.
		let draws = 20_000u32;
		let mut bob = 0u32;
		for i in 0..draws {
			let seed = polkadot_sdk::sp_io::hashing::blake2_256(&i.to_le_bytes());
			let who = drawn(0, &seed).expect("ALICE and BOB are assignable");
			let point = u128::from_le_bytes(seed[..16].try_into().unwrap()) % 4_000;
			assert_eq!(who, if point < 1_000 { ALICE } else { BOB }, "seed {i}");
			if who == BOB {
				bob += 1;
			}
		}
		let (n, p) = (f64::from(draws), 0.75);
		let tolerance = 5.0 * (n * p * (1.0 - p)).sqrt();
		let off = (f64::from(bob) - n * p).abs();
		assert!(off <= tolerance, "BOB drawn {bob} of {draws} times: {off:.0} from 3/4");
		assert!(bob > 0 && bob < draws, "both ALICE and BOB are reached");

		// Nobody serves model 2.
		assert_eq!(drawn(2, &at(0, 0)), None);
	});
}

#[test]
fn genesis_providers_are_registered_and_serving() {
	ExtBuilder.build_and_execute(|| {
		use polkadot_sdk::frame_support::traits::BuildGenesisConfig;
		GenesisConfig::<Test> {
			providers: vec![GenesisProvider {
				provider: ALICE,
				operator: ALICE_OP,
				spec: GenesisSpec {
					gpu_model: "NVIDIA H100".into(),
					vram_gib: 80,
					gpu_count: 1,
					region: "eu".into(),
					endpoint: Some("http://127.0.0.1:8181".into()),
				},
				bond: 1_000,
				serves: vec![0],
			}],
		}
		.build();
		assert_eq!(record(ALICE).served.to_vec(), vec![0]);
		assert_eq!(ServingProviders::<Test>::get(0).to_vec(), vec![ALICE]);
		Providers::do_try_state().unwrap();
	});
}

#[test]
fn try_state_catches_stake_that_is_not_held() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		crate::Providers::<Test>::mutate(ALICE, |p| p.as_mut().unwrap().bonded += 1);
		assert!(Providers::do_try_state().is_err());
		crate::Providers::<Test>::mutate(ALICE, |p| p.as_mut().unwrap().bonded -= 1);
	});
}

/// The off-chain worker sends a heartbeat for a local operator key once its provider is due
/// one, not again while it waits in the pool, and none for a provider in maintenance.
#[test]
fn the_offchain_worker_sends_heartbeats_when_due() {
	ExtBuilder.build_and_execute_with_worker([ALICE_OP, CHARLIE_OP], |harness| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(register(BOB, BOB_OP, 1_000));
		assert_ok!(register(CHARLIE, CHARLIE_OP, 1_000));
		assert_ok!(Providers::go_offline(RuntimeOrigin::signed(CHARLIE)));
		let worker = |n: u64| {
			run_to(n);
			<Providers as Hooks<u64>>::offchain_worker(n);
			harness.take_signed::<RuntimeCall>()
		};
		// Not due yet.
		assert_eq!(worker(1 + HEARTBEAT_INTERVAL - 1), vec![]);
		// Due: ALICE_OP's key sends one; BOB_OP's key is not local; CHARLIE is in maintenance.
		let heartbeat = RuntimeCall::Providers(Call::heartbeat {});
		assert_eq!(worker(1 + HEARTBEAT_INTERVAL), vec![(ALICE_OP, heartbeat.clone())]);
		// Still in the pool: not sent again within an interval.
		assert_eq!(worker(2 + HEARTBEAT_INTERVAL), vec![]);
		// Never included: sent again an interval later.
		assert_eq!(worker(1 + 2 * HEARTBEAT_INTERVAL), vec![(ALICE_OP, heartbeat.clone())]);
		// Included: the next one is due an interval after it.
		assert_ok!(Providers::heartbeat(RuntimeOrigin::signed(ALICE_OP)));
		let included = System::block_number();
		assert_eq!(worker(included + HEARTBEAT_INTERVAL - 1), vec![]);
		assert_eq!(worker(included + HEARTBEAT_INTERVAL), vec![(ALICE_OP, heartbeat)]);
		Providers::do_try_state().expect("invariants hold");
	});
}

/// Attack: a provider that expects a slash starts unbonding and withdraws its unlocking stake
/// before the slash applies. Unlocking stake stays held while a slash is pending, and the slash
/// takes its fraction of it.
#[test]
fn slash_escape_unlocking_stake_waits_for_a_pending_slash() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(register(ALICE, ALICE_OP, 1_000));
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 1_000));
		let unlock_at = 1 + UNBONDING;
		// The miss comes late in the unbonding period: the slash applies after the chunk
		// unlocks.
		run_to(unlock_at - 1);
		assert_ok!(<Providers as ProviderAssignment<_>>::penalise_missed_assignment(&ALICE));
		let apply_at = unlock_at - 1 + DEFER;
		run_to(unlock_at);
		assert_noop!(
			Providers::withdraw_unbonded(RuntimeOrigin::signed(ALICE)),
			Error::<Test>::SlashPending
		);
		assert_eq!(held(ALICE), 1_000);
		run_to(apply_at);
		System::assert_has_event(
			Event::Slashed { provider: ALICE, slash_id: 0, amount: 10 }.into(),
		);
		assert_ok!(Providers::withdraw_unbonded(RuntimeOrigin::signed(ALICE)));
		System::assert_last_event(Event::Withdrawn { provider: ALICE, amount: 990 }.into());
		assert_eq!(held(ALICE), 0);
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT - 10);
	});
}

/// Attack: a provider bonds the minimum and declares a million GPUs to soak up a model's
/// traffic. GPUs are bounded, and capacity is bounded by bonded stake (one assignment per
/// `BondPerAssignment`), whatever the hardware says.
#[test]
fn self_declared_capacity_is_bounded_and_costs_stake() {
	ExtBuilder.build_and_execute(|| {
		let max_gpus: u32 = <<Test as Config>::MaxGpusPerProvider as Get<u32>>::get();
		assert_noop!(
			Providers::register(
				RuntimeOrigin::signed(ALICE),
				spec(max_gpus + 1),
				ALICE_OP,
				MIN_BOND
			),
			Error::<Test>::TooManyGpus
		);
		assert_ok!(Providers::register(
			RuntimeOrigin::signed(ALICE),
			spec(max_gpus),
			ALICE_OP,
			MIN_BOND
		));
		let per_assignment: Balance = <<Test as Config>::BondPerAssignment as Get<Balance>>::get();
		let by_stake = (MIN_BOND / per_assignment) as u32;
		assert!(by_stake < max_gpus * PER_GPU, "the stake, not the hardware, binds here");
		assert_eq!(Providers::capacity(&record(ALICE)), by_stake);
		assert_noop!(
			Providers::update_spec(RuntimeOrigin::signed(ALICE), spec(max_gpus + 1)),
			Error::<Test>::TooManyGpus
		);
		// More stake, more room, up to what the hardware allows.
		assert_ok!(Providers::bond_extra(RuntimeOrigin::signed(ALICE), 10 * MIN_BOND));
		assert_eq!(Providers::capacity(&record(ALICE)), max_gpus * PER_GPU);
		// Assignments stop at the stake-bound capacity.
		assert_ok!(Providers::unbond(RuntimeOrigin::signed(ALICE), 10 * MIN_BOND));
		assert_ok!(Providers::serve(RuntimeOrigin::signed(ALICE), 0));
		for _ in 0..by_stake {
			assert_ok!(<Providers as ProviderAssignment<_>>::start_assignment(&ALICE));
		}
		assert_noop!(
			<Providers as ProviderAssignment<_>>::start_assignment(&ALICE),
			Error::<Test>::AtCapacity
		);
		assert!(Providers::select_provider(0, &[0; 32]).is_none());
	});
}

/// Attack: sybils with the minimum bond fill a model's serving list so that no one else can
/// serve it. A provider with more bonded stake than the least-staked server takes its place;
/// one with no more is refused.
#[test]
fn a_full_serving_list_makes_way_for_more_stake() {
	ExtBuilder.build_and_execute(|| {
		use polkadot_sdk::frame_support::traits::{fungible::Mutate, tokens::Preservation};
		let max: u32 = <<Test as Config>::MaxProvidersPerModel as Get<u32>>::get();
		let sybils: Vec<AccountId> = (100..100 + max as u64).collect();
		for &sybil in &sybils {
			assert_ok!(Balances::transfer(&OWNER, &sybil, 10 * MIN_BOND, Preservation::Preserve));
			assert_ok!(register(sybil, sybil + 1_000, MIN_BOND));
			assert_ok!(Providers::serve(RuntimeOrigin::signed(sybil), 0));
		}
		// The second sybil bonds a little more: the first is the least staked.
		assert_ok!(Providers::bond_extra(RuntimeOrigin::signed(sybils[1]), 1));

		assert_ok!(register(BOB, BOB_OP, MIN_BOND));
		assert_noop!(
			Providers::serve(RuntimeOrigin::signed(BOB), 0),
			Error::<Test>::TooManyProviders
		);

		assert_ok!(register(ALICE, ALICE_OP, MIN_BOND + 1));
		assert_ok!(Providers::serve(RuntimeOrigin::signed(ALICE), 0));
		System::assert_has_event(
			Event::Displaced { provider: sybils[0], model_id: 0, by: ALICE }.into(),
		);
		let serving = ServingProviders::<Test>::get(0);
		assert_eq!(serving.len() as u32, max);
		assert!(serving.contains(&ALICE));
		assert!(!serving.contains(&sybils[0]));
		assert!(record(sybils[0]).served.is_empty());
	});
}
