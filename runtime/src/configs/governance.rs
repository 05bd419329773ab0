//! On-chain governance: public referenda (democracy) with a council that proposes external
//! referenda and a technical committee that can fast-track them, a treasury, and the scheduler
//! and preimage store they rely on.
//!
//! The short path through governance, used by dev chains and tests as much as by a live
//! network: the council proposes a referendum with `democracy.external_propose_majority`, the
//! technical committee (two thirds) fast-tracks it with `democracy.fast_track` and a voting
//! period of [`FAST_TRACK_VOTING_PERIOD`] blocks, token holders vote, and the scheduler enacts
//! it after the delay the committee chose.

use polkadot_sdk::*;

use frame_support::{
	parameter_types,
	traits::{
		fungible::HoldConsideration, ConstBool, ConstU32, EitherOf, EqualPrivilegeOnly,
		LinearStoragePrice,
	},
	weights::Weight,
};
use frame_system::{EnsureRoot, EnsureSigned, EnsureWithSuccess};
use sp_runtime::{traits::IdentityLookup, Perbill, Permill};

use crate::{
	constants::{RuntimeBlockWeights, TreasuryAccount, TreasuryPalletId},
	deposit,
	origins::{
		CouncilCollective, EnsureCouncilMajority, EnsureTechnicalCommitteeTwoThirds,
		TechnicalCommitteeCollective,
	},
	AccountId, Balance, Balances, BlockNumber, OriginCaller, Preimage, Runtime, RuntimeCall,
	RuntimeEvent, RuntimeHoldReason, RuntimeOrigin, Scheduler, System, Treasury, DAYS, TRIB,
};

parameter_types! {
	pub const PreimageBaseDeposit: Balance = deposit(2, 64);
	pub const PreimageByteDeposit: Balance = deposit(0, 1);
	pub const PreimageHoldReason: RuntimeHoldReason =
		RuntimeHoldReason::Preimage(pallet_preimage::HoldReason::Preimage);
}

impl pallet_preimage::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type WeightInfo = pallet_preimage::weights::SubstrateWeight<Runtime>;
	type Currency = Balances;
	type ManagerOrigin = EnsureRoot<AccountId>;
	type Consideration = HoldConsideration<
		AccountId,
		Balances,
		PreimageHoldReason,
		LinearStoragePrice<PreimageBaseDeposit, PreimageByteDeposit, Balance>,
	>;
}

parameter_types! {
	pub MaximumSchedulerWeight: Weight =
		Perbill::from_percent(80) * RuntimeBlockWeights::get().max_block;
}

impl pallet_scheduler::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type RuntimeOrigin = RuntimeOrigin;
	type PalletsOrigin = OriginCaller;
	type RuntimeCall = RuntimeCall;
	type MaximumWeight = MaximumSchedulerWeight;
	type ScheduleOrigin = EnsureRoot<AccountId>;
	type OriginPrivilegeCmp = EqualPrivilegeOnly;
	type MaxScheduledPerBlock = ConstU32<50>;
	type WeightInfo = pallet_scheduler::weights::SubstrateWeight<Runtime>;
	type Preimages = Preimage;
	type BlockNumberProvider = System;
}

/// Voting period of a referendum the technical committee fast-tracks, in blocks: a few
/// blocks, so that dev chains and tests get through governance without a special build.
pub const FAST_TRACK_VOTING_PERIOD: BlockNumber = 5;

parameter_types! {
	pub const LaunchPeriod: BlockNumber = 7 * DAYS;
	pub const VotingPeriod: BlockNumber = 7 * DAYS;
	pub const FastTrackVotingPeriod: BlockNumber = FAST_TRACK_VOTING_PERIOD;
	pub const EnactmentPeriod: BlockNumber = DAYS;
	pub const VoteLockingPeriod: BlockNumber = 7 * DAYS;
	pub const CooloffPeriod: BlockNumber = 7 * DAYS;
	pub const MinimumDeposit: Balance = 100 * TRIB;
}

impl pallet_democracy::Config for Runtime {
	type WeightInfo = pallet_democracy::weights::SubstrateWeight<Runtime>;
	type RuntimeEvent = RuntimeEvent;
	type Scheduler = Scheduler;
	type Preimages = Preimage;
	type Currency = Balances;
	type EnactmentPeriod = EnactmentPeriod;
	type LaunchPeriod = LaunchPeriod;
	type VotingPeriod = VotingPeriod;
	type VoteLockingPeriod = VoteLockingPeriod;
	type MinimumDeposit = MinimumDeposit;
	type InstantAllowed = ConstBool<true>;
	type FastTrackVotingPeriod = FastTrackVotingPeriod;
	type CooloffPeriod = CooloffPeriod;
	type MaxVotes = ConstU32<100>;
	type MaxProposals = ConstU32<100>;
	type MaxDeposits = ConstU32<100>;
	type MaxBlacklisted = ConstU32<100>;
	/// Half of the council may table a super-majority-approve referendum.
	type ExternalOrigin = EitherOf<
		EnsureRoot<AccountId>,
		pallet_collective::EnsureProportionAtLeast<AccountId, CouncilCollective, 1, 2>,
	>;
	/// Half of the council may table a simple-majority referendum.
	type ExternalMajorityOrigin = EitherOf<
		EnsureRoot<AccountId>,
		pallet_collective::EnsureProportionAtLeast<AccountId, CouncilCollective, 1, 2>,
	>;
	/// The whole council may table a negative-turnout-bias referendum.
	type ExternalDefaultOrigin = EitherOf<
		EnsureRoot<AccountId>,
		pallet_collective::EnsureProportionAtLeast<AccountId, CouncilCollective, 1, 1>,
	>;
	type SubmitOrigin = EnsureSigned<AccountId>;
	/// Two thirds of the technical committee may fast-track an external proposal.
	type FastTrackOrigin = EnsureTechnicalCommitteeTwoThirds;
	/// The whole technical committee may go below `FastTrackVotingPeriod`.
	type InstantOrigin = EitherOf<
		EnsureRoot<AccountId>,
		pallet_collective::EnsureProportionAtLeast<AccountId, TechnicalCommitteeCollective, 1, 1>,
	>;
	/// Two thirds of the council may cancel a referendum.
	type CancellationOrigin = EitherOf<
		EnsureRoot<AccountId>,
		pallet_collective::EnsureProportionAtLeast<AccountId, CouncilCollective, 2, 3>,
	>;
	type BlacklistOrigin = EnsureRoot<AccountId>;
	type CancelProposalOrigin = EitherOf<
		EnsureRoot<AccountId>,
		pallet_collective::EnsureProportionAtLeast<AccountId, TechnicalCommitteeCollective, 1, 1>,
	>;
	/// Any technical committee member may veto an external proposal once.
	type VetoOrigin = pallet_collective::EnsureMember<AccountId, TechnicalCommitteeCollective>;
	type PalletsOrigin = OriginCaller;
	type Slash = Treasury;
}

parameter_types! {
	pub const MotionDuration: BlockNumber = 3 * DAYS;
	pub MaxProposalWeight: Weight = Perbill::from_percent(50) * RuntimeBlockWeights::get().max_block;
}

/// The council and the technical committee are configured alike: members set by Root, motions
/// open for three days.
macro_rules! collective_config {
	($instance:ty) => {
		impl pallet_collective::Config<$instance> for Runtime {
			type RuntimeOrigin = RuntimeOrigin;
			type Proposal = RuntimeCall;
			type RuntimeEvent = RuntimeEvent;
			type MotionDuration = MotionDuration;
			type MaxProposals = ConstU32<100>;
			type MaxMembers = ConstU32<100>;
			type DefaultVote = pallet_collective::PrimeDefaultVote;
			type WeightInfo = pallet_collective::weights::SubstrateWeight<Runtime>;
			type SetMembersOrigin = EnsureRoot<AccountId>;
			type MaxProposalWeight = MaxProposalWeight;
			type DisapproveOrigin = EnsureRoot<AccountId>;
			type KillOrigin = EnsureRoot<AccountId>;
			type Consideration = ();
		}
	};
}

collective_config!(CouncilCollective);
collective_config!(TechnicalCommitteeCollective);

parameter_types! {
	pub const SpendPeriod: BlockNumber = 6 * DAYS;
	pub const Burn: Permill = Permill::zero();
	pub const PayoutPeriod: BlockNumber = 30 * DAYS;
	pub const MaxSpend: Balance = Balance::MAX;
}

impl pallet_treasury::Config for Runtime {
	type Currency = Balances;
	type RejectOrigin = EnsureCouncilMajority;
	type RuntimeEvent = RuntimeEvent;
	type SpendPeriod = SpendPeriod;
	type Burn = Burn;
	type PalletId = TreasuryPalletId;
	type BurnDestination = ();
	type WeightInfo = pallet_treasury::weights::SubstrateWeight<Runtime>;
	type SpendFunds = ();
	type MaxApprovals = ConstU32<100>;
	type SpendOrigin = EnsureWithSuccess<EnsureRoot<AccountId>, AccountId, MaxSpend>;
	// Spends are paid in TRIB from the treasury account.
	type AssetKind = ();
	type Beneficiary = AccountId;
	type BeneficiaryLookup = IdentityLookup<AccountId>;
	type Paymaster = frame_support::traits::tokens::pay::PayFromAccount<Balances, TreasuryAccount>;
	type BalanceConverter = frame_support::traits::tokens::UnityAssetBalanceConversion;
	type PayoutPeriod = PayoutPeriod;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = TreasuryBenchmarkArguments;
	type BlockNumberProvider = System;
}

/// Spends in the treasury's benchmarks: TRIB, to an account made from the seed.
#[cfg(feature = "runtime-benchmarks")]
pub struct TreasuryBenchmarkArguments;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_treasury::ArgumentsFactory<(), AccountId> for TreasuryBenchmarkArguments {
	fn create_asset_kind(_seed: u32) {}

	fn create_beneficiary(seed: [u8; 32]) -> AccountId {
		AccountId::from(seed)
	}
}
