//! Models, their adapters, and the attribution ledger that keeps adapters' lineage.
//!
//! Models are approved by referendum: `approve_model` needs Root, the origin an enacted
//! pallet-democracy referendum dispatches with.

use polkadot_sdk::*;

use frame_support::{parameter_types, traits::ConstU32};
use frame_system::EnsureRoot;
use sp_runtime::Permill;

use crate::{deposit, AccountId, Balance, Balances, Datasets, Runtime, RuntimeHoldReason};

parameter_types! {
	/// A model: one item, plus its fixed-size fields.
	pub const ModelDeposit: Balance = deposit(1, 192);
	/// An adapter: its record and its hash index entry.
	pub const AdapterDeposit: Balance = deposit(2, 128);
	pub const ModelDepositPerByte: Balance = deposit(0, 1);
	/// A dataset named by a model, or a lineage entry with its reverse-index entry.
	pub const DepositPerDataset: Balance = deposit(1, 48);
	/// Contributors get at least a tenth of every fee.
	pub const MinDataShare: Permill = Permill::from_percent(10);
}

/// The most datasets one model trains on (and one adapter's lineage names).
pub const MAX_MODEL_DATASETS: u32 = 16;

impl pallet_attribution::Config for Runtime {
	type MaxLineage = ConstU32<MAX_MODEL_DATASETS>;
	type Balance = Balance;
	type MaxAttributions = ConstU32<{ super::inference::MAX_ATTRIBUTIONS }>;
	type RetentionPeriod = ConstU32<{ 30 * crate::DAYS }>;
	type MaxOutputsPerBlock = ConstU32<512>;
	type WeightInfo = pallet_attribution::weights::SubstrateWeight<Runtime>;
}

impl pallet_models::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Datasets = Datasets;
	type Lineage = crate::Attribution;
	type GovernanceOrigin = EnsureRoot<AccountId>;
	type ModelDeposit = ModelDeposit;
	type AdapterDeposit = AdapterDeposit;
	type DepositPerByte = ModelDepositPerByte;
	type DepositPerDataset = DepositPerDataset;
	type MinDataShare = MinDataShare;
	type MaxNameLength = ConstU32<128>;
	type MaxUriLength = ConstU32<256>;
	type MaxModelDatasets = ConstU32<MAX_MODEL_DATASETS>;
	type MaxAdaptersPerModel = ConstU32<32>;
	type MaxLoraRank = ConstU32<256>;
	type WeightInfo = pallet_models::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkDatasets;
}

/// Creates the datasets the models benchmarks train on, through the datasets pallet's call.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkDatasets;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_models::BenchmarkHelper<AccountId> for BenchmarkDatasets {
	fn create_dataset(curator: &AccountId) -> pallet_datasets::DatasetId {
		let dataset_id = pallet_datasets::NextDatasetId::<Runtime>::get();
		let created = Datasets::create_dataset(
			crate::RuntimeOrigin::signed(curator.clone()),
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
#[cfg(feature = "runtime-benchmarks")]
pub fn benchmark_model(
	owner: &AccountId,
	datasets: alloc::vec::Vec<pallet_datasets::DatasetId>,
	pricing: pallet_models::Pricing<Balance>,
	split: pallet_models::RoyaltySplit,
) -> pallet_models::ModelId {
	use crate::{Models, RuntimeOrigin};
	let model_id = pallet_models::NextModelId::<Runtime>::get();
	let adapter_id = pallet_models::NextAdapterId::<Runtime>::get();
	let lineage = datasets.iter().map(|id| (*id, 1)).collect();
	let proposed = Models::propose_model(
		RuntimeOrigin::signed(owner.clone()),
		b"benchmark model".to_vec(),
		b"base".to_vec(),
		Default::default(),
		datasets,
		alloc::vec::Vec::new(),
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
		alloc::vec::Vec::new(),
		lineage,
	);
	assert!(registered.is_ok(), "the benchmark adapter is valid: {registered:?}");
	model_id
}
