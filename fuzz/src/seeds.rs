//! The seed corpus: one input for each part of the lifecycle, so that the fuzzers start from
//! calls that succeed and mutate from there (blind, they would rarely build a valid request and
//! a result that settles it). `corpus write fuzz/seeds` writes them; `corpus check fuzz/seeds`
//! runs each through the harness and fails if a committed file is stale or a step that should
//! succeed does not.

use polkadot_sdk::*;

use codec::Encode;
use frame_support::{dispatch::GetDispatchInfo, BoundedVec};
use sp_core::H256;
use sp_runtime::{traits::Hash as _, Perbill};

use pallet_datasets::Policy;
use pallet_inference::DeclineReason;
use pallet_models::{Pricing, RoyaltySplit};
use pallet_providers::HardwareSpec;
use tributary_primitives::AttributedRecord;
use tributary_runtime::{Runtime, RuntimeCall, MILLI_TRIB, TRIB};

use crate::{who::*, Step};

/// A seed: its file name, its steps, and how many of its steps must succeed (all of them
/// unless the seed exercises a failure).
pub struct Seed {
	pub name: &'static str,
	pub steps: Vec<Step>,
	pub must_succeed: usize,
}

impl Seed {
	fn all(name: &'static str, steps: Vec<Step>) -> Self {
		let must_succeed = steps.len();
		Self { name, steps, must_succeed }
	}
}

fn datasets(call: pallet_datasets::Call<Runtime>) -> RuntimeCall {
	RuntimeCall::Datasets(call)
}
fn models(call: pallet_models::Call<Runtime>) -> RuntimeCall {
	RuntimeCall::Models(call)
}
fn providers(call: pallet_providers::Call<Runtime>) -> RuntimeCall {
	RuntimeCall::Providers(call)
}
fn inference(call: pallet_inference::Call<Runtime>) -> RuntimeCall {
	RuntimeCall::Inference(call)
}
fn royalties(call: pallet_royalties::Call<Runtime>) -> RuntimeCall {
	RuntimeCall::Royalties(call)
}
fn sudo(call: RuntimeCall) -> RuntimeCall {
	RuntimeCall::Sudo(pallet_sudo::Call::sudo { call: Box::new(call) })
}

fn request(model_id: u32) -> RuntimeCall {
	inference(pallet_inference::Call::request {
		model_id,
		prompt: BoundedVec::truncate_from(b"Where does a tributary flow?".to_vec()),
		max_tokens: 16,
		max_fee: TRIB,
	})
}

/// The sample provider's result for request `request_id`, citing the sample records 0 and 1.
fn result(request_id: u64) -> RuntimeCall {
	inference(pallet_inference::Call::submit_result {
		request_id,
		output: BoundedVec::truncate_from(b"Into a larger river or a lake.".to_vec()),
		input_tokens: 7,
		output_tokens: 8,
		attribution: BoundedVec::truncate_from(vec![
			AttributedRecord { dataset_id: 0, contribution_id: 0, score_ppm: 600_000 },
			AttributedRecord { dataset_id: 0, contribution_id: 1, score_ppm: 400_000 },
		]),
		truncated: false,
	})
}

/// Registers the origin as a provider with `operator` and `gpu_count` GPUs, bonding 2,000 TRIB.
fn register_provider(operator: u8, gpu_count: u32) -> RuntimeCall {
	providers(pallet_providers::Call::register {
		spec: spec(gpu_count),
		operator: crate::accounts()[usize::from(operator)].clone(),
		bond: 2_000 * TRIB,
	})
}

fn spec(gpu_count: u32) -> HardwareSpec<<Runtime as pallet_providers::Config>::MaxSpecLength> {
	HardwareSpec {
		gpu_model: BoundedVec::truncate_from(b"NVIDIA L4".to_vec()),
		vram_gib: 24,
		gpu_count,
		region: BoundedVec::truncate_from(b"eu-west".to_vec()),
		endpoint: None,
	}
}

/// A council motion's hash, as pallet-collective computes it.
fn motion_hash(proposal: &RuntimeCall) -> H256 {
	<Runtime as frame_system::Config>::Hashing::hash_of(proposal)
}

/// Eve's model over the sample dataset.
fn propose_model(base_model_hash: H256) -> RuntimeCall {
	models(pallet_models::Call::propose_model {
		name: b"fuzz model".to_vec(),
		base_model: b"HuggingFaceTB/SmolLM2-135M-Instruct".to_vec(),
		base_model_hash,
		datasets: vec![0],
		spec_uri: b"ipfs://spec".to_vec(),
		pricing: Pricing {
			base_fee: 10 * MILLI_TRIB,
			per_1k_input_tokens: MILLI_TRIB,
			per_1k_output_tokens: 2 * MILLI_TRIB,
		},
		royalty_split: RoyaltySplit {
			provider: sp_runtime::Permill::from_percent(50),
			owner: sp_runtime::Permill::from_percent(20),
			data: sp_runtime::Permill::from_percent(25),
			treasury: sp_runtime::Permill::from_percent(5),
		},
	})
}

/// Eve's adapter for model 1.
fn register_adapter() -> RuntimeCall {
	models(pallet_models::Call::register_adapter {
		model_id: 1,
		artifact_hash: H256::repeat_byte(0xad),
		rank: 8,
		alpha: 16,
		uri: b"ipfs://adapter".to_vec(),
		lineage: vec![(0, 1)],
	})
}

/// A transfer from the rich account to Eve: a step that succeeds while blocks go by.
fn pay_eve() -> RuntimeCall {
	RuntimeCall::Balances(pallet_balances::Call::transfer_keep_alive {
		dest: crate::accounts()[EVE as usize].clone().into(),
		value: TRIB,
	})
}

/// Every seed.
pub fn seeds() -> Vec<Seed> {
	let fuzz_hash = H256::repeat_byte(0xf0);
	let slash = providers(pallet_providers::Call::slash {
		provider: crate::accounts()[ALICE as usize].clone(),
		fraction: Perbill::from_percent(1),
		reason: b"missed requests".to_vec(),
	});
	let slash_hash = motion_hash(&slash);
	let slash_len = slash.encoded_size() as u32;
	let slash_weight = slash.get_dispatch_info().call_weight;
	vec![
		Seed {
			name: "datasets",
			steps: vec![
				(
					0,
					BOB,
					datasets(pallet_datasets::Call::create_dataset {
						name: b"fuzz corpus".to_vec(),
						metadata_uri: b"ipfs://fuzz".to_vec(),
						license: b"CC0-1.0".to_vec(),
						policy: Policy::Curated,
					}),
				),
				(
					0,
					CHARLIE,
					datasets(pallet_datasets::Call::contribute {
						dataset_id: 1,
						uri: None,
						record: vec![1; 120],
					}),
				),
				(
					0,
					DAVE,
					datasets(pallet_datasets::Call::contribute {
						dataset_id: 1,
						uri: None,
						record: vec![2; 40],
					}),
				),
				(
					1,
					BOB,
					datasets(pallet_datasets::Call::accept_contribution {
						dataset_id: 1,
						contribution_id: 0,
					}),
				),
				(
					0,
					BOB,
					datasets(pallet_datasets::Call::reject_contribution {
						dataset_id: 1,
						contribution_id: 1,
					}),
				),
				(
					1,
					CHARLIE,
					datasets(pallet_datasets::Call::withdraw_contribution {
						dataset_id: 1,
						contribution_id: 0,
					}),
				),
				(0, BOB, datasets(pallet_datasets::Call::close_dataset { dataset_id: 1 })),
				// Ten existential deposits do not cover a record's deposit.
				(
					0,
					POOR,
					datasets(pallet_datasets::Call::contribute {
						dataset_id: 0,
						uri: None,
						record: vec![3; 40],
					}),
				),
			],
			must_succeed: 7,
		},
		Seed::all(
			"inference",
			vec![
				(0, BOB, request(0)),
				(1, ALICE, result(0)),
				// The credits vest when the result's window closes: the request's deadline (20
				// blocks), the challenge period (20) and the draw's delay (2) after the request.
				(32, RICH, pay_eve()),
				(10, BOB, royalties(pallet_royalties::Call::claim {})),
				(0, CHARLIE, royalties(pallet_royalties::Call::claim {})),
				(0, ALICE, royalties(pallet_royalties::Call::claim {})),
			],
		),
		Seed::all(
			"verification",
			vec![
				(0, BOB, request(0)),
				(1, ALICE, result(0)),
				// Two more providers of model 0 to sit on the jury (it takes two at least): Dave
				// with Eve as operator, and the rich account as its own.
				(0, DAVE, register_provider(EVE, 1)),
				(0, DAVE, providers(pallet_providers::Call::serve { model_id: 0 })),
				(0, RICH, register_provider(RICH, 1)),
				(0, RICH, providers(pallet_providers::Call::serve { model_id: 0 })),
				(1, CHARLIE, inference(pallet_inference::Call::challenge { request_id: 0 })),
				// The window closes 42 blocks after the request: the jury is Dave's provider
				// and the rich account's.
				(32, RICH, pay_eve()),
				(8, EVE, providers(pallet_providers::Call::heartbeat {})),
				(0, RICH, providers(pallet_providers::Call::heartbeat {})),
				(
					0,
					EVE,
					inference(pallet_inference::Call::vote {
						request_id: 0,
						vote: pallet_inference::Vote::Wrong,
					}),
				),
				(
					0,
					RICH,
					inference(pallet_inference::Call::vote {
						request_id: 0,
						vote: pallet_inference::Vote::Wrong,
					}),
				),
				// The votes are counted two minutes (20 blocks) after the draw; the slash
				// applies two days later, past what one input runs.
				(20, RICH, pay_eve()),
			],
		),
		Seed::all(
			"expiry",
			vec![
				(0, RICH, request(0)),
				(0, EVE, request(0)),
				(
					1,
					ALICE,
					inference(pallet_inference::Call::decline {
						request_id: 1,
						reason: DeclineReason::Refused,
					}),
				),
				(32, ALICE, providers(pallet_providers::Call::heartbeat {})),
			],
		),
		Seed::all(
			"providers",
			vec![
				(0, DAVE, register_provider(EVE, 2)),
				(0, DAVE, providers(pallet_providers::Call::serve { model_id: 0 })),
				// Registering counts as a heartbeat; the next is due an interval (10 blocks) later.
				(10, EVE, providers(pallet_providers::Call::heartbeat {})),
				(0, DAVE, providers(pallet_providers::Call::bond_extra { amount: 500 * TRIB })),
				(0, DAVE, providers(pallet_providers::Call::update_spec { spec: spec(3) })),
				(1, DAVE, providers(pallet_providers::Call::go_offline {})),
				(0, DAVE, providers(pallet_providers::Call::go_online {})),
				(0, DAVE, providers(pallet_providers::Call::unbond { amount: 400 * TRIB })),
				(0, DAVE, providers(pallet_providers::Call::stop_serving { model_id: 0 })),
			],
		),
		Seed::all(
			"governance",
			vec![
				(0, EVE, propose_model(fuzz_hash)),
				(1, ALICE, sudo(models(pallet_models::Call::approve_model { model_id: 1 }))),
				(0, EVE, register_adapter()),
				(
					0,
					EVE,
					models(pallet_models::Call::set_active_adapter { model_id: 1, adapter_id: 1 }),
				),
				(0, ALICE, providers(pallet_providers::Call::serve { model_id: 1 })),
				(1, RICH, request(1)),
				(
					0,
					ALICE,
					RuntimeCall::Council(pallet_collective::Call::propose {
						threshold: 2,
						proposal: Box::new(slash),
						length_bound: slash_len,
					}),
				),
				(
					0,
					ALICE,
					RuntimeCall::Council(pallet_collective::Call::vote {
						proposal: slash_hash,
						index: 0,
						approve: true,
					}),
				),
				(
					0,
					BOB,
					RuntimeCall::Council(pallet_collective::Call::vote {
						proposal: slash_hash,
						index: 0,
						approve: true,
					}),
				),
				(
					1,
					CHARLIE,
					RuntimeCall::Council(pallet_collective::Call::close {
						proposal_hash: slash_hash,
						index: 0,
						proposal_weight_bound: slash_weight,
						length_bound: slash_len,
					}),
				),
			],
		),
		Seed::all(
			"retirement",
			vec![
				(0, EVE, propose_model(fuzz_hash)),
				(1, ALICE, sudo(models(pallet_models::Call::approve_model { model_id: 1 }))),
				(0, EVE, register_adapter()),
				(1, EVE, models(pallet_models::Call::retire_model { model_id: 1 })),
				(32, RICH, pay_eve()),
				(32, RICH, pay_eve()),
				(32, RICH, pay_eve()),
				(8, RICH, models(pallet_models::Call::reap_model { model_id: 1 })),
			],
		),
	]
}
