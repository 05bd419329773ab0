//! Checks of the runtime as a whole: its genesis presets, its metadata and its pallets'
//! integrity.

use polkadot_sdk::*;

use codec::Encode;
use frame_support::{
	assert_ok,
	genesis_builder_helper::{build_state, get_preset},
	traits::{fungible::Inspect, Bounded, IntegrityTest, OnInitialize},
	weights::Weight,
};
use pallet_democracy::{AccountVote, Conviction, Vote};
use pallet_models::{ModelStatus, Pricing, RoyaltySplit};
use sp_keyring::Sr25519Keyring;
use sp_runtime::{
	traits::{BlakeTwo256, Hash},
	Permill,
};

use crate::{
	configs::{
		EnactmentPeriod, LaunchPeriod, MinimumDeposit, VotingPeriod, FAST_TRACK_VOTING_PERIOD,
	},
	genesis_config_presets::{self, ENDOWMENT, PARACHAIN_ID},
	origins::{CouncilCollective, TechnicalCommitteeCollective},
	AccountId, AllPalletsWithSystem, Balance, Balances, BlockNumber, Datasets, Democracy, Models,
	ParachainInfo, Providers, Runtime, RuntimeCall, RuntimeGenesisConfig, RuntimeOrigin, Scheduler,
	Session, System, TRIB,
};

/// Applies a JSON patch the way the node's genesis builder does: objects merge key by key,
/// anything else replaces.
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
	match (base, patch) {
		(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
			for (key, value) in patch {
				merge(base.entry(key).or_insert(serde_json::Value::Null), value);
			}
		}
		(base, patch) => *base = patch,
	}
}

/// Externalities holding the genesis state a preset describes, built the way the node builds it:
/// the preset patched over the default configuration.
fn genesis_of(preset: &str) -> sp_io::TestExternalities {
	let patch = get_preset::<RuntimeGenesisConfig>(
		&Some(preset.into()),
		genesis_config_presets::get_preset,
	)
	.unwrap_or_else(|| panic!("preset {preset} exists"));
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).expect("serializes");
	merge(&mut config, serde_json::from_slice(&patch).expect("the preset is JSON"));
	let config = serde_json::to_vec(&config).expect("serializes");
	let mut ext = sp_io::TestExternalities::default();
	ext.execute_with(|| build_state::<RuntimeGenesisConfig>(config).expect("genesis builds"));
	ext
}

#[test]
fn presets_are_development_and_local_testnet() {
	let names = genesis_config_presets::preset_names();
	assert_eq!(names, vec!["development".to_string(), "local_testnet".to_string()]);
	assert!(genesis_config_presets::get_preset(&"mainnet".to_string()).is_none());
}

#[test]
fn development_genesis_endows_dev_accounts_and_seats_governance() {
	genesis_of("development").execute_with(|| {
		let alice = Sr25519Keyring::Alice.to_account_id();
		for account in Sr25519Keyring::well_known() {
			assert_eq!(Balances::total_balance(&account.to_account_id()), ENDOWMENT);
		}
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(alice.clone()));
		assert_eq!(ParachainInfo::parachain_id(), PARACHAIN_ID.into());
		assert_eq!(
			pallet_collator_selection::Invulnerables::<Runtime>::get().into_inner(),
			vec![alice.clone()]
		);
		assert_eq!(Session::validators(), vec![alice.clone()]);
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 1);
		// Collectives keep their members sorted.
		let mut governors: Vec<_> =
			[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie]
				.iter()
				.map(|k| k.to_account_id())
				.collect();
		governors.sort();
		assert_eq!(pallet_collective::Members::<Runtime, CouncilCollective>::get(), governors);
		assert_eq!(
			pallet_collective::Members::<Runtime, TechnicalCommitteeCollective>::get(),
			governors
		);
	});
}

/// pallet-collator-selection accepts `set_desired_candidates` above `MaxCandidates` from its
/// update origin (it only logs a warning), after which its own `try_state` fails ("Shouldn't
/// demand more desired candidates than the maximum"). The runtime fuzzer found it, through sudo;
/// only governance can do it, and the fuzzer skips such calls. Should polkadot-sdk start
/// refusing them, this test fails and the fuzzer's exception goes.
#[test]
fn desired_candidates_above_the_maximum_are_accepted_upstream() {
	use frame_support::traits::Get;
	genesis_of("development").execute_with(|| {
		let max: u32 = <Runtime as pallet_collator_selection::Config>::MaxCandidates::get();
		assert!(pallet_collator_selection::Pallet::<Runtime>::set_desired_candidates(
			RuntimeOrigin::root(),
			max + 1
		)
		.is_ok());
		assert_eq!(pallet_collator_selection::DesiredCandidates::<Runtime>::get(), max + 1);
	});
}

#[test]
fn development_genesis_has_the_sample_dataset() {
	genesis_of("development").execute_with(|| {
		let dataset = pallet_datasets::Datasets::<Runtime>::get(0).expect("dataset 0 exists");
		assert_eq!(dataset.name.to_vec(), genesis_config_presets::SAMPLE_DATASET_NAME.as_bytes());
		assert_eq!(dataset.curator, Sr25519Keyring::Alice.to_account_id());
		assert_eq!(dataset.policy, pallet_datasets::Policy::Curated);
		let mut total = 0;
		for (contributor, text) in genesis_config_presets::SAMPLE_RECORDS {
			let hash = sp_io::hashing::blake2_256(text.as_bytes()).into();
			let (_, contribution) =
				Datasets::contribution_by_hash(0, hash).expect("the record is registered");
			assert_eq!(contribution.contributor, contributor.to_account_id());
			assert_eq!(contribution.status, pallet_datasets::ContributionStatus::Accepted);
			assert_eq!(
				pallet_datasets::ContributorWeight::<Runtime>::get(0, contributor.to_account_id()),
				text.len() as u64
			);
			total += text.len() as u64;
		}
		assert_eq!(dataset.total_weight, total);
		Datasets::do_try_state().expect("the datasets' invariants hold at genesis");
	});
}

#[test]
fn local_testnet_genesis_has_alice_and_bob_collating() {
	genesis_of("local_testnet").execute_with(|| {
		let mut collators =
			vec![Sr25519Keyring::Alice.to_account_id(), Sr25519Keyring::Bob.to_account_id()];
		let mut validators = Session::validators();
		validators.sort();
		// Invulnerables are kept sorted.
		collators.sort();
		assert_eq!(
			pallet_collator_selection::Invulnerables::<Runtime>::get().into_inner(),
			collators
		);
		assert_eq!(validators, collators);
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 2);
	});
}

#[test]
fn metadata_is_served_at_v14_v15_and_v16() {
	// Some pallets read storage while describing their constants.
	sp_io::TestExternalities::default().execute_with(|| {
		let versions = Runtime::metadata_versions();
		for version in [14, 15, 16] {
			assert!(versions.contains(&version), "metadata v{version} in {versions:?}");
			let metadata = Runtime::metadata_at_version(version).expect("served");
			let bytes: &[u8] = &metadata;
			// SCALE length prefix, then the magic "meta" and the version.
			let start = bytes.windows(4).position(|w| w == b"meta").expect("magic");
			assert_eq!(bytes[start + 4] as u32, version);
		}
	});
}

#[test]
fn pallets_pass_their_integrity_tests() {
	sp_io::TestExternalities::default()
		.execute_with(<AllPalletsWithSystem as IntegrityTest>::integrity_test);
}

#[test]
fn development_genesis_has_an_active_sample_model_over_the_sample_dataset() {
	genesis_of("development").execute_with(|| {
		let model = pallet_models::Models::<Runtime>::get(0).expect("model 0 exists");
		assert_eq!(model.name.to_vec(), genesis_config_presets::SAMPLE_MODEL_NAME.as_bytes());
		assert_eq!(model.base_model.to_vec(), genesis_config_presets::SAMPLE_BASE_MODEL.as_bytes());
		assert_eq!(model.base_model_hash, genesis_config_presets::SMOLLM2_BLAKE2_256.into());
		assert_eq!(model.owner, Sr25519Keyring::Alice.to_account_id());
		assert_eq!(model.status, ModelStatus::Active);
		assert_eq!(model.datasets.to_vec(), vec![0]);
		assert_eq!(model.active_adapter, Some(0));
		let adapter = pallet_models::Adapters::<Runtime>::get(0).expect("adapter 0 exists");
		assert_eq!(adapter.artifact_hash, genesis_config_presets::SAMPLE_ADAPTER_HASH.into());
		assert_eq!((adapter.rank, adapter.alpha), (4, 8));
		assert_eq!(
			pallet_attribution::Pallet::<Runtime>::lineage(0).map(|lineage| lineage.len()),
			Some(1)
		);
		Models::do_try_state().expect("the models' invariants hold at genesis");
	});
}

fn account(keyring: Sr25519Keyring) -> AccountId {
	keyring.to_account_id()
}

fn signed(keyring: Sr25519Keyring) -> RuntimeOrigin {
	RuntimeOrigin::signed(account(keyring))
}

/// Bob proposes a model over the sample dataset; returns its id.
fn propose_model() -> pallet_models::ModelId {
	let model_id = pallet_models::NextModelId::<Runtime>::get();
	assert_ok!(Models::propose_model(
		signed(Sr25519Keyring::Bob),
		b"river-chat".to_vec(),
		genesis_config_presets::SAMPLE_BASE_MODEL.as_bytes().to_vec(),
		genesis_config_presets::SMOLLM2_BLAKE2_256.into(),
		vec![0],
		b"ipfs://river-chat".to_vec(),
		Pricing { base_fee: TRIB / 100, per_1k_input_tokens: 0, per_1k_output_tokens: TRIB / 1000 },
		RoyaltySplit {
			provider: Permill::from_percent(45),
			owner: Permill::from_percent(20),
			data: Permill::from_percent(30),
			treasury: Permill::from_percent(5),
		},
	));
	model_id
}

fn approve_call(
	model_id: pallet_models::ModelId,
) -> (RuntimeCall, Bounded<RuntimeCall, BlakeTwo256>) {
	let call = RuntimeCall::Models(pallet_models::Call::approve_model { model_id });
	let inline = Bounded::Inline(call.encode().try_into().expect("a short call is inlined"));
	(call, inline)
}

/// Jumps to block `n` and runs democracy's and the scheduler's hooks, as block `n`'s
/// initialisation would. The blocks jumped over have nothing scheduled (checked), so the
/// scheduler is told its agendas are serviced up to `n` instead of walking each of them.
fn initialize_block(n: BlockNumber) {
	assert!(
		pallet_scheduler::Agenda::<Runtime>::iter_keys().all(|when| when >= n),
		"a task is scheduled in a block jumped over"
	);
	System::set_block_number(n);
	pallet_scheduler::IncompleteSince::<Runtime>::put(n);
	Democracy::on_initialize(n);
	Scheduler::on_initialize(n);
}

fn vote_aye(voter: Sr25519Keyring, referendum: u32) {
	let vote = AccountVote::Standard {
		vote: Vote { aye: true, conviction: Conviction::Locked1x },
		balance: ENDOWMENT / 2,
	};
	assert_ok!(Democracy::vote(signed(voter), referendum, vote));
}

fn model_status(model_id: pallet_models::ModelId) -> ModelStatus {
	pallet_models::Models::<Runtime>::get(model_id).expect("the model exists").status
}

#[test]
fn a_public_referendum_approves_a_model() {
	genesis_of("development").execute_with(|| {
		initialize_block(1);
		// Two extrinsics: the proposal, and the public democracy proposal to approve it.
		let model_id = propose_model();
		let (_, proposal) = approve_call(model_id);
		assert_ok!(Democracy::propose(
			signed(Sr25519Keyring::Bob),
			proposal,
			MinimumDeposit::get()
		));

		// The next launch period tables it as a referendum.
		let launch = LaunchPeriod::get();
		initialize_block(launch);
		let referendum = pallet_democracy::ReferendumCount::<Runtime>::get() - 1;
		assert!(pallet_democracy::ReferendumInfoOf::<Runtime>::get(referendum).is_some());

		vote_aye(Sr25519Keyring::Charlie, referendum);
		vote_aye(Sr25519Keyring::Dave, referendum);
		assert_eq!(model_status(model_id), ModelStatus::Proposed);

		// The vote closes, and the approval is enacted after the enactment period.
		let end = launch + VotingPeriod::get();
		initialize_block(end);
		assert_eq!(model_status(model_id), ModelStatus::Proposed);
		initialize_block(end + EnactmentPeriod::get());
		assert_eq!(model_status(model_id), ModelStatus::Approved);
		System::assert_has_event(pallet_models::Event::ModelApproved { model_id }.into());
		Models::do_try_state().expect("invariants hold");
	});
}

/// Proposes `call` to a collective of Alice, Bob and Charlie with a threshold of two, has Alice
/// and Bob vote aye, and closes the motion, which executes the call.
fn pass_motion<I: 'static>(call: RuntimeCall)
where
	Runtime: pallet_collective::Config<I, Proposal = RuntimeCall, RuntimeOrigin = RuntimeOrigin>,
{
	let length = call.encoded_size() as u32;
	let hash = BlakeTwo256::hash_of(&call);
	let index = pallet_collective::ProposalCount::<Runtime, I>::get();
	assert_ok!(pallet_collective::Pallet::<Runtime, I>::propose(
		signed(Sr25519Keyring::Alice),
		2,
		Box::new(call),
		length
	));
	// Proposing is not voting: the proposer votes too.
	for member in [Sr25519Keyring::Alice, Sr25519Keyring::Bob] {
		assert_ok!(pallet_collective::Pallet::<Runtime, I>::vote(
			signed(member),
			hash,
			index,
			true
		));
	}
	assert_ok!(pallet_collective::Pallet::<Runtime, I>::close(
		signed(Sr25519Keyring::Charlie),
		hash,
		index,
		Weight::MAX,
		length
	));
	assert!(pallet_collective::ProposalOf::<Runtime, I>::get(hash).is_none(), "the motion closed");
}

#[test]
fn the_council_and_technical_committee_fast_track_a_model_referendum() {
	genesis_of("development").execute_with(|| {
		let start = 1;
		initialize_block(start);
		let model_id = propose_model();
		let (call, proposal) = approve_call(model_id);

		pass_motion::<CouncilCollective>(RuntimeCall::Democracy(
			pallet_democracy::Call::external_propose_majority { proposal },
		));
		let delay = 1;
		pass_motion::<TechnicalCommitteeCollective>(RuntimeCall::Democracy(
			pallet_democracy::Call::fast_track {
				proposal_hash: BlakeTwo256::hash_of(&call),
				voting_period: FAST_TRACK_VOTING_PERIOD,
				delay,
			},
		));
		let referendum = pallet_democracy::ReferendumCount::<Runtime>::get() - 1;
		vote_aye(Sr25519Keyring::Dave, referendum);

		let end = start + FAST_TRACK_VOTING_PERIOD;
		initialize_block(end);
		initialize_block(end + delay);
		assert_eq!(model_status(model_id), ModelStatus::Approved);
	});
}

#[test]
fn development_genesis_has_alice_serving_the_sample_model() {
	genesis_of("development").execute_with(|| {
		let alice = Sr25519Keyring::Alice.to_account_id();
		let provider = Providers::provider_view(&alice).expect("Alice is a provider");
		assert_eq!(provider.record.operator, alice);
		assert_eq!(provider.record.bonded, genesis_config_presets::SAMPLE_PROVIDER_BOND);
		assert_eq!(provider.record.served.to_vec(), vec![0]);
		assert_eq!(provider.status, pallet_providers::ProviderStatus::Online);
		assert_eq!(pallet_providers::ServingProviders::<Runtime>::get(0).to_vec(), vec![alice]);
		Providers::do_try_state().expect("the providers' invariants hold at genesis");
	});
}

/// A settlement is charged for `MAX_BENCHMARKED_CONTRIBUTORS` in a lineage dataset, the most
/// its benchmark measures: no dataset may grow past that, or settling against it would cost
/// more than it is charged.
#[test]
fn datasets_hold_no_more_contributors_than_settlement_was_measured_for() {
	use frame_support::traits::Get;
	assert!(
		<<Runtime as pallet_datasets::Config>::MaxContributionsPerDataset as Get<u32>>::get()
			<= pallet_inference::MAX_BENCHMARKED_CONTRIBUTORS
	);
}

/// The heaviest result (the longest output, `MaxAttributions` records, the longest lineage
/// with 100,000 contributors in a dataset) fits in one block, by time and by proof size; the
/// hooks' worst cases (the most expiries, closes, jury draws, verdicts, slashes and output
/// prunes one block can hold) fit in the share of a block set aside for them, so that the
/// largest transaction a block admits still fits beside them. `cargo test --release
/// --workspace block_capacity -- --nocapture` prints how many settlements fit
/// (docs/performance.md).
#[test]
fn block_capacity_for_settlements_and_hooks() {
	use frame_support::{dispatch::DispatchClass, traits::Get};
	use pallet_attribution::WeightInfo as _;
	use pallet_inference::WeightInfo as _;
	use pallet_providers::WeightInfo as _;

	type ProviderWeights = <Runtime as pallet_providers::Config>::WeightInfo;
	type InferenceWeights = <Runtime as pallet_inference::Config>::WeightInfo;
	type LedgerWeights = <Runtime as pallet_attribution::Config>::WeightInfo;
	let block = <Runtime as frame_system::Config>::BlockWeights::get();
	let normal = block.get(DispatchClass::Normal);
	let (Some(max_extrinsic), Some(max_total)) = (normal.max_extrinsic, normal.max_total) else {
		panic!("normal extrinsics have limits");
	};
	let settlement = InferenceWeights::submit_result(
		<Runtime as pallet_inference::Config>::MaxOutputLength::get(),
		<Runtime as pallet_inference::Config>::MaxAttributions::get(),
		pallet_inference::MAX_BENCHMARKED_CONTRIBUTORS,
	)
	.saturating_add(normal.base_extrinsic);
	assert!(settlement.all_lte(max_extrinsic), "a settlement fits: {settlement:?}");
	let by_time = max_total.ref_time() / settlement.ref_time().max(1);
	let by_proof = max_total.proof_size() / settlement.proof_size().max(1);
	println!(
		"heaviest settlement {settlement:?}; normal class {max_total:?}: {by_time} by time, \
		 {by_proof} by proof size"
	);

	let requests = <Runtime as pallet_inference::Config>::MaxRequestsPerBlock::get();
	let juries = <Runtime as pallet_inference::Config>::MaxJuriesPerBlock::get();
	// A block expires one block's requests, closes one block's results and as many postponed,
	// draws and counts at most `MaxJuriesPerBlock` juries (vested results are paid in spare
	// weight, `on_idle`, which takes no share of this).
	let verification = InferenceWeights::close(2 * requests)
		.saturating_add(InferenceWeights::draw_juries(juries))
		.saturating_add(
			InferenceWeights::verdict_overturned(juries)
				.max(InferenceWeights::verdict_upheld(juries)),
		);
	let hooks = InferenceWeights::expire(requests)
		.saturating_add(verification)
		.saturating_add(LedgerWeights::prune(
			<Runtime as pallet_attribution::Config>::MaxOutputsPerBlock::get(),
		))
		.saturating_add(ProviderWeights::on_initialize(
			<Runtime as pallet_providers::Config>::MaxSlashesPerBlock::get(),
		));
	let reserved = crate::AVERAGE_ON_INITIALIZE_RATIO * block.max_block;
	println!(
		"hooks' worst case {hooks:?} of a block of {:?}, {reserved:?} reserved",
		block.max_block
	);
	assert!(hooks.all_lte(reserved), "the hooks fit in what is set aside for them: {hooks:?}");
	let largest = normal.max_extrinsic.unwrap_or(max_total);
	assert!(
		hooks.saturating_add(largest).all_lte(block.max_block),
		"the largest transaction fits beside the hooks' worst case"
	);
}

/// Attack: fill a block's proof allowance (the parachain block's scarcer resource) while
/// paying only for compute. A transaction pays for whichever of its two dimensions takes the
/// larger share of the block, a whole block of either at the same price.
#[test]
fn proof_heavy_transactions_pay_for_their_share_of_the_block() {
	use frame_support::weights::WeightToFee as _;
	let fee = |ref_time: u64, proof_size: u64| {
		crate::WeightToFee::weight_to_fee(&Weight::from_parts(ref_time, proof_size))
	};
	let (time, proof) =
		(crate::MAXIMUM_BLOCK_WEIGHT.ref_time(), crate::MAXIMUM_BLOCK_WEIGHT.proof_size());
	assert!(fee(time, 0) > 0);
	assert_eq!(fee(0, proof), fee(time, 0), "a block of proof costs a block of compute");
	// Half the block's proof and a tenth of its compute: charged for half a block.
	assert_eq!(fee(time / 10, proof / 2), fee(time / 2, 0));
	assert!(fee(time / 10, proof / 2) > fee(time / 10, 0));
	// Half its compute and a tenth of its proof: charged for the compute, as before.
	assert_eq!(fee(time / 2, proof / 10), fee(time / 2, 0));
}

/// Attack: store bytes on every node for nothing. A record's bytes pay the length fee as any
/// transaction's do (ten micro-TRIB a byte, besides the call's weight), and a block's normal
/// transactions carry at most three of the largest records.
#[test]
fn record_bytes_pay_the_length_fee() {
	use crate::configs::{TransactionByteFee, MAX_RECORD_LENGTH};
	use frame_support::{dispatch::GetDispatchInfo, traits::Get};
	let call = RuntimeCall::Datasets(pallet_datasets::Call::contribute {
		dataset_id: 0,
		uri: None,
		record: vec![7; MAX_RECORD_LENGTH as usize],
	});
	// The call's bytes, a signed extrinsic's header (address, signature, extensions) below.
	let length = call.encoded_size() as u32;
	let info = call.get_dispatch_info();
	// At the fee multiplier of an idle chain (one).
	let fee = sp_io::TestExternalities::new_empty().execute_with(|| {
		pallet_transaction_payment::Pallet::<Runtime>::compute_fee(length, &info, 0)
	});
	let length_fee = TransactionByteFee::get() * Balance::from(MAX_RECORD_LENGTH);
	assert!(fee > length_fee, "{fee} pays for the record's {MAX_RECORD_LENGTH} bytes");
	assert_eq!(length_fee, 10 * TRIB + 485_760 * crate::MICRO_TRIB);

	let block = <Runtime as frame_system::Config>::BlockLength::get();
	let normal = *block.max.get(frame_support::dispatch::DispatchClass::Normal);
	let fit = normal / (length + 256);
	println!("a block's normal transactions carry {fit} records of {MAX_RECORD_LENGTH} bytes");
	assert_eq!(fit, 3);
}
