use crate::{mock::*, *};
// The pallet, not its storage item of the same name (`crate::Models`).
use crate::mock::Models;
use polkadot_sdk::{
	frame_support::{
		assert_noop, assert_ok,
		traits::{
			fungible::{Inspect, InspectHold, MutateHold},
			BuildGenesisConfig,
		},
	},
	sp_runtime::DispatchError,
};

const NAME: &[u8] = b"river-chat";
const BASE: &[u8] = b"HuggingFaceTB/SmolLM2-135M-Instruct";
const SPEC: &[u8] = b"ipfs://spec";

fn split(provider: u32, owner: u32, data: u32, treasury: u32) -> RoyaltySplit {
	RoyaltySplit {
		provider: Permill::from_percent(provider),
		owner: Permill::from_percent(owner),
		data: Permill::from_percent(data),
		treasury: Permill::from_percent(treasury),
	}
}

fn good_split() -> RoyaltySplit {
	split(50, 20, 25, 5)
}

fn pricing() -> Pricing<Balance> {
	Pricing { base_fee: 10, per_1k_input_tokens: 1, per_1k_output_tokens: 2 }
}

fn base_hash() -> H256 {
	H256::repeat_byte(0xba)
}

fn artifact(seed: u8) -> H256 {
	H256::repeat_byte(seed)
}

fn propose_with(datasets: Vec<DatasetId>, royalty_split: RoyaltySplit) -> DispatchResult {
	Models::propose_model(
		RuntimeOrigin::signed(ALICE),
		NAME.to_vec(),
		BASE.to_vec(),
		base_hash(),
		datasets,
		SPEC.to_vec(),
		pricing(),
		royalty_split,
	)
}

/// Alice proposes a model over datasets 0 and 1; returns its id.
fn propose() -> ModelId {
	let model_id = NextModelId::<Test>::get();
	assert_ok!(propose_with(vec![0, 1], good_split()));
	model_id
}

fn approved() -> ModelId {
	let model_id = propose();
	assert_ok!(Models::approve_model(RuntimeOrigin::root(), model_id));
	model_id
}

fn register(model_id: ModelId, seed: u8, lineage: Vec<(DatasetId, u64)>) -> DispatchResult {
	Models::register_adapter(
		RuntimeOrigin::signed(ALICE),
		model_id,
		artifact(seed),
		16,
		32,
		b"ipfs://adapter".to_vec(),
		lineage,
	)
}

fn model_deposit(datasets: usize) -> Balance {
	MODEL_DEPOSIT
		+ PER_BYTE * (NAME.len() + BASE.len() + SPEC.len()) as Balance
		+ PER_DATASET * datasets as Balance
}

fn adapter_deposit(lineage: usize) -> Balance {
	ADAPTER_DEPOSIT
		+ PER_BYTE * b"ipfs://adapter".len() as Balance
		+ PER_DATASET * lineage as Balance
}

fn held(reason: HoldReason, who: AccountId) -> Balance {
	Balances::balance_on_hold(&RuntimeHoldReason::Models(reason), &who)
}

fn status(model_id: ModelId) -> ModelStatus {
	crate::Models::<Test>::get(model_id).expect("the model exists").status
}

#[test]
fn proposing_records_the_model_and_holds_its_deposit() {
	ExtBuilder.build_and_execute(|| {
		let model_id = propose();
		let model = crate::Models::<Test>::get(model_id).unwrap();
		assert_eq!(model.owner, ALICE);
		assert_eq!(model.name.to_vec(), NAME);
		assert_eq!(model.base_model.to_vec(), BASE);
		assert_eq!(model.base_model_hash, base_hash());
		assert_eq!(model.datasets.to_vec(), vec![0, 1]);
		assert_eq!(model.pricing, pricing());
		assert_eq!(model.royalty_split, good_split());
		assert_eq!(model.status, ModelStatus::Proposed);
		assert_eq!(model.active_adapter, None);
		assert_eq!(model.deposit, model_deposit(2));
		assert_eq!(held(HoldReason::ModelDeposit, ALICE), model_deposit(2));
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT - model_deposit(2));
		System::assert_last_event(
			Event::ModelProposed { model_id, owner: ALICE, deposit: model_deposit(2) }.into(),
		);
		assert_eq!(NextModelId::<Test>::get(), model_id + 1);
	});
}

#[test]
fn proposals_are_checked_before_anything_is_held() {
	ExtBuilder.build_and_execute(|| {
		let propose = |name: &[u8], base: &[u8], datasets: Vec<DatasetId>, uri: &[u8], split| {
			Models::propose_model(
				RuntimeOrigin::signed(ALICE),
				name.to_vec(),
				base.to_vec(),
				base_hash(),
				datasets,
				uri.to_vec(),
				pricing(),
				split,
			)
		};
		assert_noop!(propose(b"", BASE, vec![0], SPEC, good_split()), Error::<Test>::EmptyName);
		assert_noop!(
			propose(&[b'n'; 49], BASE, vec![0], SPEC, good_split()),
			Error::<Test>::NameTooLong
		);
		assert_noop!(
			propose(NAME, &[b'b'; 49], vec![0], SPEC, good_split()),
			Error::<Test>::NameTooLong
		);
		assert_noop!(
			propose(NAME, BASE, vec![0], &[b'u'; 33], good_split()),
			Error::<Test>::UriTooLong
		);
		assert_noop!(propose(NAME, BASE, vec![], SPEC, good_split()), Error::<Test>::NoDatasets);
		assert_noop!(
			propose(NAME, BASE, vec![0, 1, 2, 0], SPEC, good_split()),
			Error::<Test>::TooManyDatasets
		);
		assert_noop!(
			propose(NAME, BASE, vec![0, 1, 0], SPEC, good_split()),
			Error::<Test>::DuplicateDataset
		);
		assert_noop!(
			propose(NAME, BASE, vec![0, 7], SPEC, good_split()),
			Error::<Test>::UnknownDataset
		);
		assert_noop!(
			propose(NAME, BASE, vec![0], SPEC, split(50, 20, 25, 4)),
			Error::<Test>::SplitNotWhole
		);
		assert_noop!(
			propose(NAME, BASE, vec![0], SPEC, split(50, 20, 25, 6)),
			Error::<Test>::SplitNotWhole
		);
		assert_noop!(
			propose(NAME, BASE, vec![0], SPEC, split(60, 25, 9, 6)),
			Error::<Test>::DataShareTooLow
		);
		assert_noop!(
			Models::propose_model(
				RuntimeOrigin::none(),
				NAME.to_vec(),
				BASE.to_vec(),
				base_hash(),
				vec![0],
				SPEC.to_vec(),
				pricing(),
				good_split(),
			),
			DispatchError::BadOrigin
		);
		assert_noop!(
			Models::propose_model(
				RuntimeOrigin::signed(PAUPER),
				NAME.to_vec(),
				BASE.to_vec(),
				base_hash(),
				vec![0, 1, 2],
				SPEC.to_vec(),
				pricing(),
				good_split(),
			),
			Error::<Test>::InsufficientBalance
		);
	});
}

#[test]
fn the_data_share_may_be_exactly_the_minimum() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(propose_with(vec![0], split(60, 25, 10, 5)));
	});
}

#[test]
fn only_governance_approves_or_rejects_and_only_proposals() {
	ExtBuilder.build_and_execute(|| {
		let model_id = propose();
		assert_noop!(
			Models::approve_model(RuntimeOrigin::signed(ALICE), model_id),
			DispatchError::BadOrigin
		);
		assert_noop!(
			Models::reject_model(RuntimeOrigin::signed(ALICE), model_id),
			DispatchError::BadOrigin
		);
		assert_noop!(Models::approve_model(RuntimeOrigin::root(), 9), Error::<Test>::UnknownModel);

		assert_ok!(Models::approve_model(RuntimeOrigin::root(), model_id));
		System::assert_last_event(Event::ModelApproved { model_id }.into());
		assert_eq!(status(model_id), ModelStatus::Approved);
		assert_noop!(
			Models::approve_model(RuntimeOrigin::root(), model_id),
			Error::<Test>::NotProposed
		);
		assert_noop!(
			Models::reject_model(RuntimeOrigin::root(), model_id),
			Error::<Test>::NotProposed
		);
	});
}

#[test]
fn rejection_deletes_the_proposal_and_returns_its_deposit() {
	ExtBuilder.build_and_execute(|| {
		let model_id = propose();
		assert_ok!(Models::reject_model(RuntimeOrigin::root(), model_id));
		System::assert_last_event(Event::ModelRejected { model_id, owner: ALICE }.into());
		assert!(crate::Models::<Test>::get(model_id).is_none());
		assert_eq!(held(HoldReason::ModelDeposit, ALICE), 0);
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT);
		assert_noop!(
			Models::approve_model(RuntimeOrigin::root(), model_id),
			Error::<Test>::UnknownModel
		);
		// Ids are not reused.
		assert_eq!(propose(), model_id + 1);
	});
}

#[test]
fn the_first_adapter_activates_the_model_and_its_lineage_is_in_the_ledger() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert_ok!(register(model_id, 1, vec![(0, 3), (1, 1)]));

		let adapter = Adapters::<Test>::get(0).unwrap();
		assert_eq!(adapter.model_id, model_id);
		assert_eq!(adapter.version, 1);
		assert_eq!((adapter.rank, adapter.alpha), (16, 32));
		assert_eq!(adapter.artifact_hash, artifact(1));
		assert_eq!(adapter.deposit, adapter_deposit(2));
		assert_eq!(held(HoldReason::AdapterDeposit, ALICE), adapter_deposit(2));
		assert_eq!(AdapterByHash::<Test>::get(artifact(1)), Some(0));

		let model = crate::Models::<Test>::get(model_id).unwrap();
		assert_eq!(model.status, ModelStatus::Active);
		assert_eq!(model.active_adapter, Some(0));
		assert_eq!(model.adapters.to_vec(), vec![0]);
		assert_eq!(
			pallet_attribution::Pallet::<Test>::lineage(0),
			Some(vec![
				LineageShare { dataset_id: 0, share: Permill::from_percent(75) },
				LineageShare { dataset_id: 1, share: Permill::from_percent(25) },
			])
		);
		assert_eq!(
			pallet_attribution::Pallet::<Test>::adapters_trained_on(1, None, 10),
			vec![(0, Permill::from_percent(25))]
		);
		System::assert_has_event(
			Event::AdapterRegistered {
				model_id,
				adapter_id: 0,
				version: 1,
				artifact_hash: artifact(1),
				deposit: adapter_deposit(2),
			}
			.into(),
		);
		System::assert_last_event(Event::ActiveAdapterSet { model_id, adapter_id: 0 }.into());
	});
}

#[test]
fn later_adapters_are_versions_the_owner_switches_to() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert_ok!(register(model_id, 1, vec![(0, 1)]));
		assert_ok!(register(model_id, 2, vec![(1, 1)]));
		assert_eq!(Adapters::<Test>::get(1).unwrap().version, 2);
		assert_eq!(crate::Models::<Test>::get(model_id).unwrap().active_adapter, Some(0));

		assert_noop!(
			Models::set_active_adapter(RuntimeOrigin::signed(BOB), model_id, 1),
			Error::<Test>::NotOwner
		);
		assert_ok!(Models::set_active_adapter(RuntimeOrigin::signed(ALICE), model_id, 1));
		System::assert_last_event(Event::ActiveAdapterSet { model_id, adapter_id: 1 }.into());
		assert_eq!(crate::Models::<Test>::get(model_id).unwrap().active_adapter, Some(1));
		assert_eq!(Models::model_adapters(model_id).len(), 2);

		// Another model's adapter is not this model's.
		let other = approved();
		assert_ok!(register(other, 3, vec![(0, 1)]));
		assert_noop!(
			Models::set_active_adapter(RuntimeOrigin::signed(ALICE), model_id, 2),
			Error::<Test>::UnknownAdapter
		);
		assert_noop!(
			Models::set_active_adapter(RuntimeOrigin::signed(ALICE), model_id, 42),
			Error::<Test>::UnknownAdapter
		);
	});
}

#[test]
fn adapters_are_refused_for_models_not_approved_or_not_owned() {
	ExtBuilder.build_and_execute(|| {
		let model_id = propose();
		assert_noop!(register(model_id, 1, vec![(0, 1)]), Error::<Test>::NotApproved);
		assert_noop!(register(9, 1, vec![(0, 1)]), Error::<Test>::UnknownModel);
		assert_ok!(Models::approve_model(RuntimeOrigin::root(), model_id));
		assert_noop!(
			Models::register_adapter(
				RuntimeOrigin::signed(BOB),
				model_id,
				artifact(1),
				16,
				32,
				vec![],
				vec![(0, 1)],
			),
			Error::<Test>::NotOwner
		);
		assert_noop!(
			Models::set_active_adapter(RuntimeOrigin::signed(ALICE), model_id, 0),
			Error::<Test>::NotActive
		);
	});
}

#[test]
fn adapter_parameters_and_lineage_are_checked() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		let with = |rank: u32, alpha: u32, uri: Vec<u8>, lineage: Vec<(DatasetId, u64)>| {
			Models::register_adapter(
				RuntimeOrigin::signed(ALICE),
				model_id,
				artifact(1),
				rank,
				alpha,
				uri,
				lineage,
			)
		};
		assert_noop!(with(0, 8, vec![], vec![(0, 1)]), Error::<Test>::InvalidLoraParameters);
		assert_noop!(
			with(MAX_RANK + 1, 8, vec![], vec![(0, 1)]),
			Error::<Test>::InvalidLoraParameters
		);
		assert_noop!(with(8, 0, vec![], vec![(0, 1)]), Error::<Test>::InvalidLoraParameters);
		assert_noop!(with(8, 8, vec![b'u'; 33], vec![(0, 1)]), Error::<Test>::UriTooLong);
		// Dataset 2 exists but the model does not train on it.
		assert_noop!(with(8, 8, vec![], vec![(0, 1), (2, 1)]), Error::<Test>::LineageOutsideModel);
		assert_noop!(with(8, 8, vec![], vec![]), pallet_attribution::Error::<Test>::EmptyLineage);
		assert_noop!(
			with(8, 8, vec![], vec![(0, 1), (1, 0)]),
			pallet_attribution::Error::<Test>::ZeroLineageWeight
		);
		assert_noop!(
			with(8, 8, vec![], vec![(0, 1), (0, 1)]),
			pallet_attribution::Error::<Test>::DuplicateLineageDataset
		);
		assert_ok!(with(MAX_RANK, 8, vec![], vec![(0, 1)]));
		assert_noop!(register(model_id, 1, vec![(0, 1)]), Error::<Test>::DuplicateArtifact);
	});
}

#[test]
fn a_model_holds_at_most_max_adapters() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		for seed in 0..MAX_ADAPTERS as u8 {
			assert_ok!(register(model_id, seed + 1, vec![(0, 1)]));
		}
		assert_noop!(register(model_id, 100, vec![(0, 1)]), Error::<Test>::TooManyAdapters);
	});
}

#[test]
fn the_adapter_deposit_must_be_covered() {
	ExtBuilder.build_and_execute(|| {
		// The pauper can pay for a one-dataset proposal but not for an adapter as well.
		assert_ok!(Models::propose_model(
			RuntimeOrigin::signed(PAUPER),
			b"m".to_vec(),
			vec![],
			base_hash(),
			vec![0],
			vec![],
			pricing(),
			good_split(),
		));
		assert_ok!(Models::approve_model(RuntimeOrigin::root(), 0));
		assert_noop!(
			Models::register_adapter(
				RuntimeOrigin::signed(PAUPER),
				0,
				artifact(1),
				8,
				8,
				vec![],
				vec![(0, 1)],
			),
			Error::<Test>::InsufficientBalance
		);
		assert!(pallet_attribution::Pallet::<Test>::lineage(0).is_none());
	});
}

#[test]
fn the_owner_updates_pricing_and_only_governance_the_split() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		let new_pricing = Pricing { base_fee: 1, per_1k_input_tokens: 5, per_1k_output_tokens: 7 };
		assert_noop!(
			Models::update_pricing(RuntimeOrigin::signed(BOB), model_id, new_pricing),
			Error::<Test>::NotOwner
		);
		assert_ok!(Models::update_pricing(RuntimeOrigin::signed(ALICE), model_id, new_pricing));
		System::assert_last_event(Event::PricingUpdated { model_id, pricing: new_pricing }.into());
		assert_eq!(crate::Models::<Test>::get(model_id).unwrap().pricing, new_pricing);

		let new_split = split(40, 20, 35, 5);
		assert_noop!(
			Models::set_royalty_split(RuntimeOrigin::signed(ALICE), model_id, new_split),
			DispatchError::BadOrigin
		);
		assert_noop!(
			Models::set_royalty_split(RuntimeOrigin::root(), model_id, split(40, 20, 35, 6)),
			Error::<Test>::SplitNotWhole
		);
		assert_noop!(
			Models::set_royalty_split(RuntimeOrigin::root(), model_id, split(70, 20, 5, 5)),
			Error::<Test>::DataShareTooLow
		);
		assert_ok!(Models::set_royalty_split(RuntimeOrigin::root(), model_id, new_split));
		System::assert_last_event(
			Event::RoyaltySplitSet { model_id, royalty_split: new_split }.into(),
		);
		assert_eq!(crate::Models::<Test>::get(model_id).unwrap().royalty_split, new_split);
	});
}

#[test]
fn the_whole_lifecycle_returns_every_deposit() {
	ExtBuilder.build_and_execute(|| {
		let model_id = propose();
		assert_eq!(status(model_id), ModelStatus::Proposed);
		assert_ok!(Models::approve_model(RuntimeOrigin::root(), model_id));
		assert_eq!(status(model_id), ModelStatus::Approved);
		assert_ok!(register(model_id, 1, vec![(0, 1)]));
		assert_ok!(register(model_id, 2, vec![(0, 1), (1, 1)]));
		assert_eq!(status(model_id), ModelStatus::Active);
		assert_eq!(
			Balances::balance(&ALICE),
			ENDOWMENT - model_deposit(2) - adapter_deposit(1) - adapter_deposit(2)
		);

		assert_noop!(
			Models::retire_model(RuntimeOrigin::signed(BOB), model_id),
			Error::<Test>::NotOwner
		);
		let retired_at = System::block_number();
		assert_ok!(Models::retire_model(RuntimeOrigin::signed(ALICE), model_id));
		let reapable_at = retired_at + <<Test as Config>::ReapDelay as Get<u64>>::get();
		System::assert_last_event(
			Event::ModelRetired { model_id, refunded: 0, reapable_at: Some(reapable_at) }.into(),
		);
		let model = crate::Models::<Test>::get(model_id).unwrap();
		assert_eq!(model.status, ModelStatus::Retired);
		assert_eq!(model.active_adapter, None);
		// The records, their lineage and their deposits stay while requests may settle.
		assert_eq!(Models::model_adapters(model_id).len(), 2);
		assert!(pallet_attribution::Pallet::<Test>::lineage(1).is_some());
		assert_eq!(held(HoldReason::ModelDeposit, ALICE), model_deposit(2));
		assert_eq!(
			held(HoldReason::AdapterDeposit, ALICE),
			adapter_deposit(1) + adapter_deposit(2)
		);

		assert_noop!(
			Models::retire_model(RuntimeOrigin::root(), model_id),
			Error::<Test>::AlreadyRetired
		);
		assert_noop!(register(model_id, 3, vec![(0, 1)]), Error::<Test>::NotApproved);
		assert_noop!(
			Models::set_active_adapter(RuntimeOrigin::signed(ALICE), model_id, 0),
			Error::<Test>::NotActive
		);
		assert_noop!(
			Models::update_pricing(RuntimeOrigin::signed(ALICE), model_id, pricing()),
			Error::<Test>::AlreadyRetired
		);
		assert_noop!(
			Models::set_royalty_split(RuntimeOrigin::root(), model_id, good_split()),
			Error::<Test>::AlreadyRetired
		);

		System::set_block_number(reapable_at);
		assert_ok!(Models::reap_model(RuntimeOrigin::signed(BOB), model_id));
		System::assert_last_event(
			Event::ModelReaped {
				model_id,
				owner: ALICE,
				adapters: 2,
				refunded: model_deposit(2) + adapter_deposit(1) + adapter_deposit(2),
			}
			.into(),
		);
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT);
		assert_eq!(held(HoldReason::ModelDeposit, ALICE), 0);
		assert_eq!(held(HoldReason::AdapterDeposit, ALICE), 0);
	});
}

#[test]
fn a_reaped_model_leaves_no_state_behind() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert_ok!(register(model_id, 1, vec![(0, 1), (1, 3)]));
		assert_ok!(register(model_id, 2, vec![(1, 1)]));
		assert_ok!(Models::retire_model(RuntimeOrigin::root(), model_id));
		System::set_block_number(ReapableAt::<Test>::get(model_id).unwrap());
		assert_ok!(Models::reap_model(RuntimeOrigin::signed(BOB), model_id));

		assert!(crate::Models::<Test>::get(model_id).is_none());
		assert_eq!(Adapters::<Test>::iter().count(), 0);
		assert_eq!(AdapterByHash::<Test>::iter().count(), 0);
		assert_eq!(ReapableAt::<Test>::iter().count(), 0);
		assert_eq!(pallet_attribution::Lineages::<Test>::iter().count(), 0);
		assert_eq!(pallet_attribution::AdaptersByDataset::<Test>::iter().count(), 0);
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT);
		assert_noop!(
			Models::reap_model(RuntimeOrigin::signed(BOB), model_id),
			Error::<Test>::UnknownModel
		);

		// The artifacts may be registered again, for another model.
		let next = approved();
		assert_ok!(register(next, 1, vec![(0, 1)]));
	});
}

/// A request made just before retirement settles against the model's owner, split and lineage
/// up to its deadline: reaping sooner would make its result fail, and the provider who served it
/// be penalised.
#[test]
fn reaping_before_open_requests_could_settle_is_refused() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert_ok!(register(model_id, 1, vec![(0, 1)]));
		assert_ok!(Models::retire_model(RuntimeOrigin::signed(ALICE), model_id));
		let reapable_at = ReapableAt::<Test>::get(model_id).unwrap();
		assert_eq!(
			reapable_at,
			System::block_number() + <<Test as Config>::ReapDelay as Get<u64>>::get()
		);

		System::set_block_number(reapable_at - 1);
		assert_noop!(
			Models::reap_model(RuntimeOrigin::signed(BOB), model_id),
			Error::<Test>::TooEarlyToReap
		);
		assert!(pallet_attribution::Pallet::<Test>::lineage(0).is_some());
	});
}

#[test]
fn only_retired_models_are_reaped() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert_noop!(
			Models::reap_model(RuntimeOrigin::signed(BOB), model_id),
			Error::<Test>::NotRetired
		);
		assert_ok!(register(model_id, 1, vec![(0, 1)]));
		System::set_block_number(1_000);
		assert_noop!(
			Models::reap_model(RuntimeOrigin::signed(BOB), model_id),
			Error::<Test>::NotRetired
		);
		assert_noop!(
			Models::reap_model(RuntimeOrigin::signed(BOB), 9),
			Error::<Test>::UnknownModel
		);
		assert_noop!(Models::reap_model(RuntimeOrigin::none(), model_id), DispatchError::BadOrigin);
	});
}

/// Anyone may reap, but what the model's deposits held goes to its owner alone.
#[test]
fn a_reaper_cannot_take_the_owners_deposits() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert_ok!(register(model_id, 1, vec![(0, 1)]));
		assert_ok!(Models::retire_model(RuntimeOrigin::signed(ALICE), model_id));
		System::set_block_number(ReapableAt::<Test>::get(model_id).unwrap());
		let reaper_before = Balances::balance(&BOB);
		assert_ok!(Models::reap_model(RuntimeOrigin::signed(BOB), model_id));
		assert_eq!(Balances::balance(&BOB), reaper_before);
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT);
	});
}

#[test]
fn governance_retires_any_model() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert_ok!(Models::retire_model(RuntimeOrigin::root(), model_id));
		assert_eq!(status(model_id), ModelStatus::Retired);
		assert_eq!(held(HoldReason::ModelDeposit, ALICE), model_deposit(2));
		assert_noop!(Models::retire_model(RuntimeOrigin::root(), 9), Error::<Test>::UnknownModel);
		assert_noop!(
			Models::retire_model(RuntimeOrigin::none(), model_id),
			DispatchError::BadOrigin
		);
	});
}

#[test]
fn retiring_a_proposal_withdraws_it() {
	ExtBuilder.build_and_execute(|| {
		let model_id = propose();
		assert_ok!(Models::retire_model(RuntimeOrigin::signed(ALICE), model_id));
		System::assert_last_event(
			Event::ModelRetired { model_id, refunded: model_deposit(2), reapable_at: None }.into(),
		);
		assert!(crate::Models::<Test>::get(model_id).is_none());
		assert_eq!(Balances::balance(&ALICE), ENDOWMENT);
	});
}

#[test]
fn other_pallets_see_active_models_their_adapter_pricing_and_split() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert!(!<Models as ModelsInspect<_, _>>::is_active(model_id));
		assert_eq!(<Models as ModelsInspect<_, _>>::active_adapter(model_id), None);
		assert_ok!(register(model_id, 1, vec![(0, 1)]));
		assert!(<Models as ModelsInspect<_, _>>::is_active(model_id));
		assert_eq!(
			<Models as ModelsInspect<_, _>>::active_adapter(model_id),
			Some((0, artifact(1)))
		);
		assert_eq!(<Models as ModelsInspect<_, _>>::owner(model_id), Some(ALICE));
		assert_eq!(<Models as ModelsInspect<_, _>>::pricing(model_id), Some(pricing()));
		assert_eq!(<Models as ModelsInspect<_, _>>::royalty_split(model_id), Some(good_split()));
		assert!(!<Models as ModelsInspect<_, _>>::is_active(9));
	});
}

#[test]
fn models_come_in_pages_by_id() {
	ExtBuilder.build_and_execute(|| {
		for _ in 0..5 {
			propose();
		}
		assert_ok!(Models::reject_model(RuntimeOrigin::root(), 1));
		let ids = |start, limit| {
			Models::models(start, limit).into_iter().map(|(id, _)| id).collect::<Vec<_>>()
		};
		assert_eq!(ids(0, 3), vec![0, 2]);
		assert_eq!(ids(3, 3), vec![3, 4]);
		assert_eq!(ids(5, 3), Vec::<ModelId>::new());
		assert_eq!(ids(0, u32::MAX), vec![0, 2, 3, 4]);
	});
}

#[test]
fn genesis_models_are_approved_and_active_with_adapters() {
	let model = |adapters| GenesisModel {
		owner: ALICE,
		name: "genesis-chat".into(),
		base_model: "base".into(),
		base_model_hash: base_hash(),
		datasets: vec![0, 2],
		spec_uri: "ipfs://spec".into(),
		pricing: pricing(),
		royalty_split: good_split(),
		adapters,
	};
	ExtBuilder.build_and_execute(|| {
		let config = GenesisConfig::<Test> {
			models: vec![
				model(vec![]),
				model(vec![GenesisAdapter {
					artifact_hash: artifact(9),
					rank: 8,
					alpha: 16,
					uri: "ipfs://a".into(),
					lineage: vec![(2, 1)],
				}]),
			],
		};
		config.build();
		assert_eq!(status(0), ModelStatus::Approved);
		assert_eq!(status(1), ModelStatus::Active);
		assert_eq!(
			pallet_attribution::Pallet::<Test>::lineage(0),
			Some(vec![LineageShare { dataset_id: 2, share: Permill::one() }])
		);
		Models::do_try_state().unwrap();
	});
}

#[test]
fn try_state_catches_a_deposit_that_is_not_held() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		crate::Models::<Test>::mutate(model_id, |model| {
			model.as_mut().unwrap().deposit += 1;
		});
		assert!(Models::do_try_state().is_err());
		crate::Models::<Test>::mutate(model_id, |model| {
			model.as_mut().unwrap().deposit -= 1;
		});
	});
}

#[test]
fn try_state_catches_an_active_model_without_an_adapter() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		crate::Models::<Test>::mutate(model_id, |model| {
			model.as_mut().unwrap().status = ModelStatus::Active
		});
		assert!(Models::do_try_state().is_err());
		crate::Models::<Test>::mutate(model_id, |model| {
			model.as_mut().unwrap().status = ModelStatus::Approved
		});
	});
}

#[test]
fn try_state_catches_a_lineage_left_without_its_adapter() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert_ok!(register(model_id, 1, vec![(0, 1)]));
		let adapter = Adapters::<Test>::take(0).unwrap();
		let hash = AdapterByHash::<Test>::take(adapter.artifact_hash).unwrap();
		let listed = crate::Models::<Test>::mutate(model_id, |model| {
			core::mem::take(&mut model.as_mut().unwrap().adapters)
		});
		crate::Models::<Test>::mutate(model_id, |model| {
			let model = model.as_mut().unwrap();
			model.status = ModelStatus::Approved;
			model.active_adapter = None;
		});
		// Only the lineage is left (and the adapter's deposit, which nothing records now).
		assert_eq!(Models::do_try_state(), Err("a lineage outlived its adapter".into()));
		crate::Models::<Test>::mutate(model_id, |model| {
			let model = model.as_mut().unwrap();
			model.status = ModelStatus::Active;
			model.active_adapter = Some(0);
			model.adapters = listed;
		});
		AdapterByHash::<Test>::insert(adapter.artifact_hash, hash);
		Adapters::<Test>::insert(0, adapter);
	});
}

#[test]
fn try_state_catches_a_model_waiting_to_be_reaped_that_is_not_retired() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		ReapableAt::<Test>::insert(model_id, 5);
		assert_eq!(
			Models::do_try_state(),
			Err("a retired model does not know when it may be reaped".into())
		);
		ReapableAt::<Test>::remove(model_id);
		ReapableAt::<Test>::insert(9, 5);
		assert_eq!(
			Models::do_try_state(),
			Err("a model waiting to be reaped is not retired".into())
		);
		ReapableAt::<Test>::remove(9);
	});
}

#[test]
fn try_state_catches_a_retired_model_that_cannot_be_reaped() {
	ExtBuilder.build_and_execute(|| {
		let model_id = approved();
		assert_ok!(Models::retire_model(RuntimeOrigin::signed(ALICE), model_id));
		let reapable_at = ReapableAt::<Test>::take(model_id).unwrap();
		assert_eq!(
			Models::do_try_state(),
			Err("a retired model does not know when it may be reaped".into())
		);
		ReapableAt::<Test>::insert(model_id, reapable_at);
	});
}

#[test]
fn try_state_catches_a_deposit_held_for_no_record() {
	ExtBuilder.build_and_execute(|| {
		assert_ok!(Balances::hold(&HoldReason::AdapterDeposit.into(), &BOB, 7));
		assert_eq!(
			Models::do_try_state(),
			Err("held deposits differ from the recorded ones".into())
		);
		assert_ok!(Balances::release(
			&HoldReason::AdapterDeposit.into(),
			&BOB,
			7,
			polkadot_sdk::frame_support::traits::tokens::Precision::Exact
		));
	});
}

/// A chain upgraded from storage version 0 has models retired for good: each gets `ReapDelay`
/// from the upgrade, as though retired then, and can be reaped after it.
#[test]
fn models_retired_before_the_upgrade_become_reapable() {
	use polkadot_sdk::frame_support::traits::{
		GetStorageVersion, OnRuntimeUpgrade, StorageVersion,
	};
	ExtBuilder.build_and_execute(|| {
		let retired = approved();
		assert_ok!(register(retired, 1, vec![(0, 1)]));
		assert_ok!(Models::retire_model(RuntimeOrigin::signed(ALICE), retired));
		let active = approved();
		assert_ok!(register(active, 2, vec![(0, 1)]));
		// As version 0 left it.
		ReapableAt::<Test>::remove(retired);
		StorageVersion::new(0).put::<Models>();

		System::set_block_number(40);
		migrations::v1::MigrateV0ToV1::<Test>::on_runtime_upgrade();
		let reapable_at = 40 + <<Test as Config>::ReapDelay as Get<u64>>::get();
		assert_eq!(ReapableAt::<Test>::get(retired), Some(reapable_at));
		assert_eq!(ReapableAt::<Test>::get(active), None);
		assert_eq!(Models::on_chain_storage_version(), 1);

		// Once only: a second run at version 1 changes nothing.
		System::set_block_number(50);
		migrations::v1::MigrateV0ToV1::<Test>::on_runtime_upgrade();
		assert_eq!(ReapableAt::<Test>::get(retired), Some(reapable_at));

		System::set_block_number(reapable_at);
		assert_ok!(Models::reap_model(RuntimeOrigin::signed(BOB), retired));
	});
}

/// Attack: a model priced at nothing (or at everything): requests that cost nothing fill the
/// chain's request slots for free, and a price near the balance type's end overflows fee
/// arithmetic. The base fee is at least `MinBaseFee` and token prices at most `MaxTokenPrice`,
/// in proposals and in updates; a refused one changes nothing.
#[test]
fn unchecked_pricing_is_refused() {
	ExtBuilder.build_and_execute(|| {
		let propose = |pricing: Pricing<Balance>| {
			Models::propose_model(
				RuntimeOrigin::signed(ALICE),
				b"model".to_vec(),
				b"base".to_vec(),
				H256::zero(),
				vec![0],
				vec![],
				pricing,
				good_split(),
			)
		};
		let free = Pricing { base_fee: 0, per_1k_input_tokens: 0, per_1k_output_tokens: 0 };
		assert_noop!(propose(free), Error::<Test>::BaseFeeTooLow);
		let dear = |input, output| Pricing {
			base_fee: 1,
			per_1k_input_tokens: input,
			per_1k_output_tokens: output,
		};
		assert_noop!(propose(dear(MAX_TOKEN_PRICE + 1, 0)), Error::<Test>::TokenPriceTooHigh);
		assert_noop!(propose(dear(0, Balance::MAX)), Error::<Test>::TokenPriceTooHigh);
		let model_id = NextModelId::<Test>::get();
		assert_ok!(propose(dear(MAX_TOKEN_PRICE, MAX_TOKEN_PRICE)));
		for (pricing, error) in [
			(free, Error::<Test>::BaseFeeTooLow),
			(dear(0, MAX_TOKEN_PRICE + 1), Error::<Test>::TokenPriceTooHigh),
		] {
			assert_noop!(
				Models::update_pricing(RuntimeOrigin::signed(ALICE), model_id, pricing),
				error
			);
		}
	});
}
