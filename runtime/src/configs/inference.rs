//! Paid inference.
//!
//! A provider has 20 blocks (2 minutes) to answer a request; at most
//! [`MAX_REQUESTS_PER_BLOCK`] requests expire in one block, so at most as many are made in one.
//! Off-chain workers sign their results with the node's operator key ([`crate::offchain`]).
//!
//! A settled result can be challenged for [`ChallengePeriod`] after its deadline, one in twenty
//! is audited, a jury of [`JURY_SIZE`] other providers votes within [`VotingPeriod`], and a
//! wrong result is slashed [`WrongResultSlash`] and 40 times its fee (`docs/verification.md`).
//!
//! Every request pays [`RequestFee`] to the treasury, not refunded: filling every request slot
//! of every block for an hour (600 blocks × [`MAX_REQUESTS_PER_BLOCK`]) costs 384 TRIB in
//! request fees alone, on top of transaction fees (`docs/inference.md`).

use polkadot_sdk::*;

use frame_support::{parameter_types, traits::ConstU32};
use sp_runtime::Perbill;

use crate::{
	constants::{
		TreasuryAccount, JURY_SIZE, MAX_ATTRIBUTIONS, MAX_JURIES_PER_BLOCK, MAX_REQUESTS_PER_BLOCK,
	},
	Attribution, Balance, Balances, BlockNumber, Datasets, Models, Providers, Royalties, Runtime,
	RuntimeHoldReason, MILLI_TRIB, MINUTES, TRIB,
};

parameter_types! {
	pub const RequestTimeout: BlockNumber = 2 * MINUTES;
	/// Paid by every request to the treasury: as much as the sample model's base fee.
	pub const RequestFee: Balance = 10 * MILLI_TRIB;
	/// Two minutes after its deadline to challenge a result.
	pub const ChallengePeriod: BlockNumber = 2 * MINUTES;
	/// Two minutes for a jury to vote: beyond a verification's HTTP deadline (90 s) and a
	/// few tries.
	pub const VotingPeriod: BlockNumber = 2 * MINUTES;
	/// What a challenge puts at stake: a hundred requests' fees.
	pub const ChallengeBond: Balance = TRIB;
	/// One result in twenty is judged without a challenge. A storage parameter: governance
	/// (Root) may change it with `system.setStorage` at `twox128(":AuditRate:")`, within the
	/// bound the slash is sized for (below).
	pub storage AuditRate: Perbill = Perbill::from_percent(AUDIT_PERCENT);
	/// A wrong result costs its provider 10 TRIB and 40 times its fee, at least.
	pub const WrongResultSlash: Balance = 10 * TRIB;
	pub const ChallengerReward: Perbill = Perbill::from_percent(40);
	pub const JurorsReward: Perbill = Perbill::from_percent(20);
}

/// The percentage of results audited.
const AUDIT_PERCENT: u32 = 5;

/// How many times its fee a wrong result's slash takes (beyond `WrongResultSlash`).
const WRONG_RESULT_FEE_MULTIPLE: u32 = 40;

// Cheating must not pay even when only audits catch it: a wrong result is judged with
// probability at least `AuditRate` and then earns nothing and loses more than
// `WRONG_RESULT_FEE_MULTIPLE` fees, which must exceed the one fee it could otherwise earn,
// twice over.
const _: () = assert!(WRONG_RESULT_FEE_MULTIPLE * AUDIT_PERCENT >= 2 * 100);

// A provider cannot take its stake out of reach of a wrong result's slash: the verdict comes
// before stake unbonded when the result settled could be withdrawn (and a pending slash then
// holds it).
const _: () = assert!(
	2 * MINUTES + 2 * MINUTES + DRAW_DELAY + 2 * MINUTES + 10 * MINUTES
		< crate::configs::providers::UNBONDING_PERIOD
);

// Audits keep up at full load: the results of a block's requests (at most
// `MAX_REQUESTS_PER_BLOCK`, settled at most as many a block), audited at `AUDIT_PERCENT`, take
// fewer juries than a block draws, leaving the rest for challenges. Governance raising
// `AuditRate` past this lets the jury queue grow (docs/verification.md, "A long jury queue").
const _: () = assert!(AUDIT_PERCENT * MAX_REQUESTS_PER_BLOCK < 100 * MAX_JURIES_PER_BLOCK);

/// Blocks from the last one a challenge is accepted in to the draw.
const DRAW_DELAY: BlockNumber = 2;

impl pallet_inference::Config for Runtime {
	type AuthorityId = pallet_providers::offchain::crypto::OperatorAuthId;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Models = Models;
	type Providers = Providers;
	type Lineage = Attribution;
	type Datasets = Datasets;
	type Royalties = Royalties;
	type Ledger = Attribution;
	type Treasury = TreasuryAccount;
	type RequestFee = RequestFee;
	type RequestTimeout = RequestTimeout;
	type MaxPromptLength = ConstU32<8_192>;
	type MaxOutputLength = ConstU32<8_192>;
	type MaxTokens = ConstU32<1_024>;
	type MaxAttributions = ConstU32<MAX_ATTRIBUTIONS>;
	type MaxRequestsPerBlock = ConstU32<MAX_REQUESTS_PER_BLOCK>;
	type Judging = Providers;
	type ChallengePeriod = ChallengePeriod;
	type DrawDelay = ConstU32<DRAW_DELAY>;
	type VotingPeriod = VotingPeriod;
	type ChallengeBond = ChallengeBond;
	type AuditRate = AuditRate;
	type JurySize = ConstU32<JURY_SIZE>;
	type MaxJuriesPerBlock = ConstU32<MAX_JURIES_PER_BLOCK>;
	type WrongResultSlash = WrongResultSlash;
	type WrongResultFeeMultiple = ConstU32<WRONG_RESULT_FEE_MULTIPLE>;
	type ChallengerReward = ChallengerReward;
	type JurorsReward = JurorsReward;
	type WeightInfo = pallet_inference::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = crate::benchmark_helpers::BenchmarkInference;
}
