//! Paid inference.
//!
//! A provider has 20 blocks (2 minutes) to answer a request; at most
//! [`MAX_REQUESTS_PER_BLOCK`] requests expire in one block, so at most as many are made in one.
//! Off-chain workers sign their results with the node's operator key ([`crate::offchain`]).
//!
//! Every request pays [`RequestFee`] to the treasury, not refunded: filling every request slot
//! of every block for an hour (600 blocks × [`MAX_REQUESTS_PER_BLOCK`]) costs 384 TRIB in
//! request fees alone, on top of transaction fees (`docs/inference.md`).

use polkadot_sdk::*;

use frame_support::{parameter_types, traits::ConstU32};

use crate::{
	constants::{TreasuryAccount, MAX_ATTRIBUTIONS, MAX_REQUESTS_PER_BLOCK},
	Attribution, Balance, Balances, BlockNumber, Datasets, Models, Providers, Royalties, Runtime,
	RuntimeHoldReason, MILLI_TRIB, MINUTES,
};

parameter_types! {
	pub const RequestTimeout: BlockNumber = 2 * MINUTES;
	/// Paid by every request to the treasury: as much as the sample model's base fee.
	pub const RequestFee: Balance = 10 * MILLI_TRIB;
}

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
	type WeightInfo = pallet_inference::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = crate::benchmark_helpers::BenchmarkInference;
}
