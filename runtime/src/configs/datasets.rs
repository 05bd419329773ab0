//! Datasets and their contributions.
//!
//! Deposits follow the runtime's storage price ([`deposit`]); a contribution's also grows by one
//! micro-TRIB per byte of its record, so a megabyte of data holds one TRIB (and pays the length
//! fee of its transaction, ten micro-TRIB a byte, ten TRIB a megabyte, besides).
//!
//! A record is at most 1 MiB. Its bytes are in the body of the block that takes it, so in that
//! block's proof of validity (10 MiB, of which normal transactions' bytes may fill 3.75 MiB,
//! [`crate::constants::RuntimeBlockLength`]): three records of the largest size fit in a block,
//! with room left for the rest of the block's proof. The Polkadot Bulletin chain, which stores
//! data the same way, takes transactions of up to 2 MiB.
//!
//! A curator has 14 days to accept or reject a pending contribution; after that anyone may
//! expire it and its deposit goes back.
//!
//! A dataset holds at most as many contributions as a settlement's benchmark measured in a
//! lineage dataset (100,000): the weight charged for settling against a larger one would be
//! extrapolated, not measured.

use polkadot_sdk::*;

use frame_support::{
	parameter_types,
	traits::{tokens::imbalance::ResolveTo, ConstU32},
};

use crate::{
	constants::{TreasuryAccount, DAYS},
	deposit,
	origins::EnsureCouncilMajority,
	Balance, Balances, BlockNumber, Runtime, RuntimeHoldReason, MICRO_TRIB,
};

/// The largest record, in bytes: 1 MiB.
pub const MAX_RECORD_LENGTH: u32 = 1024 * 1024;

parameter_types! {
	/// A dataset: one item, plus its fixed-size fields.
	pub const DatasetDeposit: Balance = deposit(1, 128);
	/// A contribution: its record and its two index entries.
	pub const ContributionDeposit: Balance = deposit(3, 160);
	pub const DepositPerByte: Balance = deposit(0, 1);
	pub const DepositPerDataByte: Balance = MICRO_TRIB;
	pub const ReviewPeriod: BlockNumber = 14 * DAYS;
}

impl pallet_datasets::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type RemoveOrigin = EnsureCouncilMajority;
	type WeightObserver = crate::Royalties;
	type OnContributionRemoved = crate::Attribution;
	type DatasetDeposit = DatasetDeposit;
	type ContributionDeposit = ContributionDeposit;
	type DepositPerByte = DepositPerByte;
	type DepositPerDataByte = DepositPerDataByte;
	type MaxNameLength = ConstU32<128>;
	type MaxUriLength = ConstU32<256>;
	type MaxLicenseLength = ConstU32<64>;
	type MaxRecordLength = ConstU32<{ MAX_RECORD_LENGTH }>;
	type ReviewPeriod = ReviewPeriod;
	type MaxContributionsPerDataset = ConstU32<{ pallet_inference::MAX_BENCHMARKED_CONTRIBUTORS }>;
	type WeightInfo = pallet_datasets::weights::SubstrateWeight<Runtime>;
}
