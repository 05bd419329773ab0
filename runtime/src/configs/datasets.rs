//! Datasets and their contributions.
//!
//! Deposits follow the runtime's storage price ([`deposit`]); a contribution's also grows by one
//! micro-TRIB per declared byte, so a megabyte of claimed data costs one TRIB held.
//!
//! A dataset holds at most as many contributions as a settlement's benchmark measured in a
//! lineage dataset (100,000): the weight charged for settling against a larger one would be
//! extrapolated, not measured.

use polkadot_sdk::*;

use frame_support::{
	parameter_types,
	traits::{tokens::imbalance::ResolveTo, ConstU32, ConstU64},
};

use crate::{
	constants::TreasuryAccount, deposit, origins::EnsureCouncilMajority, Balance, Balances,
	Runtime, RuntimeHoldReason, MICRO_TRIB,
};

parameter_types! {
	/// A dataset: one item, plus its fixed-size fields.
	pub const DatasetDeposit: Balance = deposit(1, 128);
	/// A contribution: its record and its two index entries.
	pub const ContributionDeposit: Balance = deposit(3, 160);
	pub const DepositPerByte: Balance = deposit(0, 1);
	pub const DepositPerDataByte: Balance = MICRO_TRIB;
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
	// 64 MiB.
	type MaxContributionLength = ConstU64<{ 64 * 1024 * 1024 }>;
	type MaxContributionsPerDataset = ConstU32<{ pallet_inference::MAX_BENCHMARKED_CONTRIBUTORS }>;
	type WeightInfo = pallet_datasets::weights::SubstrateWeight<Runtime>;
}
