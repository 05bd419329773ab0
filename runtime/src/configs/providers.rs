//! GPU providers: stake, capacity, liveness and slashing.
//!
//! Blocks are 6 s: unbonding takes 7 days, slashes wait 2 days (governance's window to cancel
//! them), an operator heartbeats at most once a minute and a provider silent for 10 minutes is
//! offline.

use polkadot_sdk::*;

use frame_support::{
	parameter_types,
	traits::{tokens::imbalance::ResolveTo, ConstU32},
};
use sp_runtime::Perbill;

use super::{governance::TreasuryAccount, EnsureCouncilMajority};
use crate::{
	Balance, Balances, BlockNumber, Models, Runtime, RuntimeHoldReason, DAYS, MINUTES, TRIB,
};

parameter_types! {
	pub const MinProviderBond: Balance = 1_000 * TRIB;
	pub const UnbondingPeriod: BlockNumber = 7 * DAYS;
	pub const SlashDeferDuration: BlockNumber = 2 * DAYS;
	pub const HeartbeatInterval: BlockNumber = MINUTES;
	pub const OfflineAfter: BlockNumber = 10 * MINUTES;
	/// A missed assignment costs a tenth of a percent of the stake.
	pub const MissedAssignmentSlash: Perbill = Perbill::from_parts(1_000_000);
}

/// Concurrent assignments per GPU.
pub const ASSIGNMENTS_PER_GPU: u32 = 4;

impl pallet_providers::Config for Runtime {
	type AuthorityId = pallet_providers::offchain::crypto::OperatorAuthId;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type Models = Models;
	type SlashOrigin = EnsureCouncilMajority;
	type MinProviderBond = MinProviderBond;
	type UnbondingPeriod = UnbondingPeriod;
	type SlashDeferDuration = SlashDeferDuration;
	type HeartbeatInterval = HeartbeatInterval;
	type OfflineAfter = OfflineAfter;
	type AssignmentsPerGpu = ConstU32<ASSIGNMENTS_PER_GPU>;
	type MissedAssignmentSlash = MissedAssignmentSlash;
	type MaxUnlockingChunks = ConstU32<16>;
	type MaxServedModels = ConstU32<16>;
	type MaxProvidersPerModel = ConstU32<64>;
	type MaxPendingSlashes = ConstU32<16>;
	// As many as requests may expire in one block, each penalising its provider.
	type MaxSlashesPerBlock = ConstU32<{ super::inference::MAX_REQUESTS_PER_BLOCK }>;
	type MaxSpecLength = ConstU32<64>;
	type MaxReasonLength = ConstU32<128>;
	type WeightInfo = pallet_providers::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkModels;
}

/// Active models for the providers benchmarks, through the datasets' and models' calls.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkModels;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_providers::BenchmarkHelper<crate::AccountId> for BenchmarkModels {
	fn active_model(owner: &crate::AccountId) -> pallet_models::ModelId {
		use pallet_models::BenchmarkHelper as _;
		use sp_runtime::Permill;
		let dataset_id = super::models::BenchmarkDatasets::create_dataset(owner);
		super::models::benchmark_model(
			owner,
			alloc::vec![dataset_id],
			Default::default(),
			pallet_models::RoyaltySplit {
				provider: Permill::from_percent(50),
				owner: Permill::from_percent(20),
				data: Permill::from_percent(25),
				treasury: Permill::from_percent(5),
			},
		)
	}
}
