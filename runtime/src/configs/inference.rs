//! Paid inference and royalties.
//!
//! A provider has 20 blocks (2 minutes) to answer a request; at most 64 requests expire in one
//! block, so at most 64 are made in one. Half of a fee's data share goes to the records an
//! output matched (when it matched any), the rest to its adapter's lineage datasets' pools.

use polkadot_sdk::*;

use frame_support::{parameter_types, traits::ConstU32, PalletId};
use sp_runtime::Perbill;

use super::governance::TreasuryAccount;
use crate::{
	Attribution, Balances, BlockNumber, Datasets, Models, Providers, Royalties, Runtime,
	RuntimeHoldReason, MINUTES,
};

parameter_types! {
	pub const RoyaltiesPalletId: PalletId = PalletId(*b"trb/roya");
	pub const SpanShare: Perbill = Perbill::from_percent(50);
	pub const RequestTimeout: BlockNumber = 2 * MINUTES;
}

/// The most records one output's attribution names (the attribution ledger's bound too).
pub const MAX_ATTRIBUTIONS: u32 = 64;

impl pallet_royalties::Config for Runtime {
	type Currency = Balances;
	type PalletId = RoyaltiesPalletId;
	type TreasuryAccount = TreasuryAccount;
	type Datasets = Datasets;
	type SpanShare = SpanShare;
	type MaxClaimDatasets = ConstU32<16>;
	type WeightInfo = ();
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkDatasets;
}

impl pallet_inference::Config for Runtime {
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Models = Models;
	type Providers = Providers;
	type Lineage = Attribution;
	type Datasets = Datasets;
	type Royalties = Royalties;
	type Ledger = Attribution;
	type RequestTimeout = RequestTimeout;
	type MaxPromptLength = ConstU32<8_192>;
	type MaxOutputLength = ConstU32<8_192>;
	type MaxTokens = ConstU32<1_024>;
	type MaxAttributions = ConstU32<MAX_ATTRIBUTIONS>;
	type MaxRequestsPerBlock = ConstU32<64>;
	type WeightInfo = ();
}

/// Benchmarks' datasets, through pallet-datasets' own calls.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkDatasets;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_royalties::BenchmarkHelper<crate::AccountId> for BenchmarkDatasets {
	fn dataset_with_contributor(index: u32, who: &crate::AccountId, weight: u64) -> u32 {
		use frame_support::traits::fungible::Mutate;
		let curator: crate::AccountId = frame_benchmarking::account("curator", index, 0);
		let _ = Balances::mint_into(&curator, 1_000 * crate::TRIB);
		let _ = Balances::mint_into(who, 1_000 * crate::TRIB);
		let dataset_id = pallet_datasets::NextDatasetId::<Runtime>::get();
		Datasets::create_dataset(
			crate::RuntimeOrigin::signed(curator),
			b"bench".to_vec(),
			Default::default(),
			b"CC0-1.0".to_vec(),
			pallet_datasets::Policy::Open,
		)
		.expect("a valid dataset");
		Datasets::contribute(
			crate::RuntimeOrigin::signed(who.clone()),
			dataset_id,
			sp_core::H256::repeat_byte(index as u8),
			weight,
			None,
		)
		.expect("a valid contribution");
		dataset_id
	}
}
