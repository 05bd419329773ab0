//! Models, their adapters, and the attribution ledger that keeps adapters' lineage.
//!
//! Models are approved by referendum: `approve_model` needs Root, the origin an enacted
//! pallet-democracy referendum dispatches with. A retired model may be reaped 10 minutes after
//! retirement, five times as long as a request waits for its result.

use polkadot_sdk::*;

use frame_support::{
	parameter_types,
	traits::{ConstU128, ConstU32},
};
use frame_system::EnsureRoot;
use sp_runtime::Permill;

use crate::{
	constants::{MAX_ATTRIBUTIONS, MAX_MODEL_DATASETS},
	deposit, AccountId, Balance, Balances, BlockNumber, Datasets, Runtime, RuntimeHoldReason,
	EXISTENTIAL_DEPOSIT, MINUTES, TRIB,
};

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
	/// The most a model charges per 1,000 tokens, in or out.
	pub const MaxTokenPrice: Balance = 10 * TRIB;
	/// How long a retired model's records stay for the requests made before its retirement.
	pub const ReapDelay: BlockNumber = 10 * MINUTES;
}

// A request made just before retirement settles against the model's records until its deadline.
const _: () = assert!(ReapDelay::get() > super::inference::RequestTimeout::get());
// `reap_model`'s weight (composed by hand, `pallets/models/src/weights.rs`) counts 16 lineage
// entries per adapter.
const _: () = assert!(MAX_MODEL_DATASETS <= 16);

impl pallet_attribution::Config for Runtime {
	type MaxLineage = ConstU32<MAX_MODEL_DATASETS>;
	type Balance = Balance;
	type MaxAttributions = ConstU32<MAX_ATTRIBUTIONS>;
	type RetentionPeriod = ConstU32<{ 30 * crate::DAYS }>;
	// Outputs are recorded as vested results are paid (`inference.pay`, and in blocks' spare
	// weight), which stop when a block's are recorded rather than fail: a bound on the pruning
	// hook, not on payments.
	type MaxOutputsPerBlock = ConstU32<64>;
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
	type MinBaseFee = ConstU128<EXISTENTIAL_DEPOSIT>;
	type MaxTokenPrice = MaxTokenPrice;
	type MaxNameLength = ConstU32<128>;
	type MaxUriLength = ConstU32<256>;
	type MaxModelDatasets = ConstU32<MAX_MODEL_DATASETS>;
	type MaxAdaptersPerModel = ConstU32<32>;
	type MaxLoraRank = ConstU32<256>;
	type ReapDelay = ReapDelay;
	type WeightInfo = pallet_models::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = crate::benchmark_helpers::BenchmarkDatasets;
}
