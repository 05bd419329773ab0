//! What the benchmarks of Tributary's pallets need from the rest of the runtime, made through
//! the pallets' own calls: datasets, active models, served models with providers. Each pallet
//! names its helper in its `Config` (`BenchmarkHelper`); they all live here, in one place.

use alloc::vec::Vec;
use polkadot_sdk::*;

use frame_support::traits::{fungible::Mutate, Get};
use pallet_models::BenchmarkHelper as _;
use sp_runtime::Permill;

use crate::{
	constants::{ASSIGNMENTS_PER_GPU, MAX_MODEL_DATASETS},
	AccountId, Balance, Balances, Datasets, Models, Providers, Runtime, RuntimeOrigin, TRIB,
};

/// Datasets for the benchmarks, through pallet-datasets' own calls: empty ones for models to
/// train on (pallet-models), and ones with a contributor's weight in them (pallet-royalties).
pub struct BenchmarkDatasets;

impl pallet_models::BenchmarkHelper<AccountId> for BenchmarkDatasets {
	fn create_dataset(curator: &AccountId) -> pallet_datasets::DatasetId {
		let dataset_id = pallet_datasets::NextDatasetId::<Runtime>::get();
		let created = Datasets::create_dataset(
			RuntimeOrigin::signed(curator.clone()),
			b"benchmark dataset".to_vec(),
			b"ipfs://benchmark".to_vec(),
			b"CC0-1.0".to_vec(),
			pallet_datasets::Policy::Open,
		);
		assert!(created.is_ok(), "the benchmark dataset is valid: {created:?}");
		dataset_id
	}
}

/// For the benchmarks of the pallets that need an active model: `owner` proposes a model
/// trained on `datasets` with `pricing` and `split`, Root approves it, and `owner` registers its
/// adapter with each dataset in its lineage at an equal share. Returns the model's id.
pub fn benchmark_model(
	owner: &AccountId,
	datasets: Vec<pallet_datasets::DatasetId>,
	pricing: pallet_models::Pricing<Balance>,
	split: pallet_models::RoyaltySplit,
) -> pallet_models::ModelId {
	let model_id = pallet_models::NextModelId::<Runtime>::get();
	let adapter_id = pallet_models::NextAdapterId::<Runtime>::get();
	let lineage = datasets.iter().map(|id| (*id, 1)).collect();
	let proposed = Models::propose_model(
		RuntimeOrigin::signed(owner.clone()),
		b"benchmark model".to_vec(),
		b"base".to_vec(),
		Default::default(),
		datasets,
		Vec::new(),
		pricing,
		split,
	);
	assert!(proposed.is_ok(), "the benchmark model is valid: {proposed:?}");
	let approved = Models::approve_model(RuntimeOrigin::root(), model_id);
	assert!(approved.is_ok(), "the benchmark model is approved: {approved:?}");
	let mut artifact = [0xbe; 32];
	artifact[..4].copy_from_slice(&adapter_id.to_le_bytes());
	let registered = Models::register_adapter(
		RuntimeOrigin::signed(owner.clone()),
		model_id,
		artifact.into(),
		8,
		8,
		Vec::new(),
		lineage,
	);
	assert!(registered.is_ok(), "the benchmark adapter is valid: {registered:?}");
	model_id
}

/// Active models for the providers benchmarks, through the datasets' and models' calls.
pub struct BenchmarkModels;

impl pallet_providers::BenchmarkHelper<AccountId> for BenchmarkModels {
	fn active_model(owner: &AccountId) -> pallet_models::ModelId {
		let dataset_id = BenchmarkDatasets::create_dataset(owner);
		benchmark_model(
			owner,
			alloc::vec![dataset_id],
			pallet_models::Pricing { base_fee: crate::EXISTENTIAL_DEPOSIT, ..Default::default() },
			pallet_models::RoyaltySplit {
				provider: Permill::from_percent(50),
				owner: Permill::from_percent(20),
				data: Permill::from_percent(25),
				treasury: Permill::from_percent(5),
			},
		)
	}
}

/// Served models for the inference benchmarks, through the pallets' own calls but for the
/// lineage's records, which pallet-datasets' benchmark helper writes.
pub struct BenchmarkInference;

impl pallet_inference::BenchmarkHelper<AccountId> for BenchmarkInference {
	fn served_model(
		contributors: u32,
		records: u32,
		assignments: u32,
	) -> (pallet_models::ModelId, Vec<(u32, u32)>) {
		type MaxProvidersPerModel = <Runtime as pallet_providers::Config>::MaxProvidersPerModel;
		let funded = |name: &'static str, index: u32| -> AccountId {
			let who: AccountId = frame_benchmarking::account(name, index, 0);
			let _ = Balances::mint_into(&who, 100_000 * TRIB);
			who
		};
		let signed = |who: &AccountId| RuntimeOrigin::signed(who.clone());
		let owner = funded("owner", 0);
		// The longest lineage: the first dataset holds `contributors` records, each of the
		// others one, so that every pool settles. The records are written straight into
		// storage (without deposits), so that 100,000 of them take seconds.
		let datasets: Vec<u32> =
			(0..MAX_MODEL_DATASETS).map(|_| BenchmarkDatasets::create_dataset(&owner)).collect();
		let dataset_id = datasets[0];
		let contributed = Datasets::benchmark_contributions(dataset_id, 0, contributors, 64);
		assert!(contributed.is_ok(), "the benchmark records are valid: {contributed:?}");
		for (index, other) in (contributors..).zip(&datasets[1..]) {
			let contributed = Datasets::benchmark_contributions(*other, index, 1, 64);
			assert!(contributed.is_ok(), "the benchmark record is valid: {contributed:?}");
		}
		let model_id = benchmark_model(
			&owner,
			datasets,
			pallet_models::Pricing {
				base_fee: TRIB / 100,
				per_1k_input_tokens: TRIB / 1_000,
				per_1k_output_tokens: TRIB / 500,
			},
			pallet_models::RoyaltySplit {
				provider: Permill::from_percent(45),
				owner: Permill::from_percent(20),
				data: Permill::from_percent(30),
				treasury: Permill::from_percent(5),
			},
		);
		// As many providers as may serve one model, for the draw to choose from.
		let providers = MaxProvidersPerModel::get();
		for index in 0..providers {
			let provider = funded("provider", index);
			let operator = funded("operator", index);
			let spec = pallet_providers::HardwareSpec {
				gpu_model: Default::default(),
				vram_gib: 80,
				gpu_count: assignments.div_ceil(ASSIGNMENTS_PER_GPU).max(1),
				region: Default::default(),
				endpoint: None,
			};
			// Bonded enough for every assignment (capacity costs stake).
			let bond = <Runtime as pallet_providers::Config>::BondPerAssignment::get()
				.saturating_mul(assignments.into())
				.max(<Runtime as pallet_providers::Config>::MinProviderBond::get());
			let registered = Providers::register(signed(&provider), spec, operator, bond);
			assert!(registered.is_ok(), "the benchmark provider is valid: {registered:?}");
			let serving = Providers::serve(signed(&provider), model_id);
			assert!(serving.is_ok(), "the benchmark provider serves: {serving:?}");
		}
		(model_id, (0..records).map(|id| (dataset_id, id)).collect())
	}

	fn keep_providers_online() {
		let now = frame_system::Pallet::<Runtime>::block_number();
		for (who, mut record) in pallet_providers::Providers::<Runtime>::iter() {
			record.last_heartbeat = now;
			pallet_providers::Providers::<Runtime>::insert(who, record);
		}
	}
}

impl pallet_royalties::BenchmarkHelper<AccountId> for BenchmarkDatasets {
	fn dataset_with_contributor(index: u32, who: &AccountId, weight: u64) -> u32 {
		let curator: AccountId = frame_benchmarking::account("curator", index, 0);
		let _ = Balances::mint_into(&curator, 1_000 * TRIB);
		let _ = Balances::mint_into(who, 1_000 * TRIB);
		let dataset_id = pallet_datasets::NextDatasetId::<Runtime>::get();
		Datasets::create_dataset(
			RuntimeOrigin::signed(curator),
			b"bench".to_vec(),
			Default::default(),
			b"CC0-1.0".to_vec(),
			pallet_datasets::Policy::Open,
		)
		.expect("the benchmark dataset is valid");
		let record = alloc::vec![index as u8; weight as usize];
		pallet_datasets::note_contribution::<Runtime>(dataset_id, None, record.clone());
		Datasets::contribute(RuntimeOrigin::signed(who.clone()), dataset_id, None, record)
			.expect("a valid contribution");
		dataset_id
	}
}
