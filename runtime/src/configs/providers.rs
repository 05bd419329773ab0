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

use crate::{
	constants::{
		TreasuryAccount, ASSIGNMENTS_PER_GPU, JURY_SIZE, MAX_JURIES_PER_BLOCK,
		MAX_REQUESTS_PER_BLOCK,
	},
	origins::EnsureCouncilMajority,
	Balance, Balances, BlockNumber, Models, Runtime, RuntimeHoldReason, DAYS, MINUTES, TRIB,
};

parameter_types! {
	pub const MinProviderBond: Balance = 1_000 * TRIB;
	pub const UnbondingPeriod: BlockNumber = UNBONDING_PERIOD;
	pub const SlashDeferDuration: BlockNumber = 2 * DAYS;
	pub const HeartbeatInterval: BlockNumber = MINUTES;
	pub const OfflineAfter: BlockNumber = 10 * MINUTES;
	/// A missed assignment costs a tenth of a percent of the stake.
	pub const MissedAssignmentSlash: Perbill = Perbill::from_parts(1_000_000);
	/// The minimum bond covers one GPU's assignments; each further one needs as much again.
	pub const BondPerAssignment: Balance = MinProviderBond::get() / ASSIGNMENTS_PER_GPU as Balance;
}

/// Seven days before unbonded stake can be withdrawn.
pub const UNBONDING_PERIOD: BlockNumber = 7 * DAYS;

/// The most slashes applied in one block: room for everything one block's `on_initialize`
/// schedules (below).
const MAX_SLASHES_PER_BLOCK: u32 = MAX_REQUESTS_PER_BLOCK + MAX_JURIES_PER_BLOCK * (JURY_SIZE + 1);

// Slashes are scheduled in `on_initialize`, before any extrinsic of the block, for the block
// `SlashDeferDuration` later: one per expiring request (at most `MAX_REQUESTS_PER_BLOCK`), and
// per verdict (at most `MAX_JURIES_PER_BLOCK`) one for each juror that did not vote and one for
// a wrong result. Governance's slashes take what room is left. With room for all of them, a
// missed assignment or vote is always punished.
const _: () = assert!(
	MAX_REQUESTS_PER_BLOCK + MAX_JURIES_PER_BLOCK * (JURY_SIZE + 1) <= MAX_SLASHES_PER_BLOCK
);

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
	type MaxGpusPerProvider = ConstU32<64>;
	type BondPerAssignment = BondPerAssignment;
	type MissedAssignmentSlash = MissedAssignmentSlash;
	type MaxUnlockingChunks = ConstU32<16>;
	type MaxServedModels = ConstU32<16>;
	type MaxProvidersPerModel = ConstU32<64>;
	type MaxSlashesPerBlock = ConstU32<MAX_SLASHES_PER_BLOCK>;
	type MaxSpecLength = ConstU32<64>;
	type MaxReasonLength = ConstU32<128>;
	// A wrong result's challenger and the jurors who found it wrong.
	type MaxSlashRewards = ConstU32<{ JURY_SIZE + 1 }>;
	type WeightInfo = pallet_providers::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = crate::benchmark_helpers::BenchmarkModels;
}
