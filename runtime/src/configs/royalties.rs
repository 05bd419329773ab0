//! Royalties: how inference fees are divided and claimed.
//!
//! Half of a fee's data share goes to the records an output matched (when it matched any), the
//! rest to its adapter's lineage datasets' pools; the treasury's share and rounding dust go to
//! the treasury's account.

use polkadot_sdk::*;

use frame_support::{parameter_types, traits::ConstU32, PalletId};
use sp_runtime::Perbill;

use crate::{constants::TreasuryAccount, Balances, Datasets, Runtime};

parameter_types! {
	pub const RoyaltiesPalletId: PalletId = PalletId(*b"trb/roya");
	pub const SpanShare: Perbill = Perbill::from_percent(50);
}

impl pallet_royalties::Config for Runtime {
	type Currency = Balances;
	type PalletId = RoyaltiesPalletId;
	type TreasuryAccount = TreasuryAccount;
	type Datasets = Datasets;
	type SpanShare = SpanShare;
	type MaxClaimDatasets = ConstU32<16>;
	type WeightInfo = pallet_royalties::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = crate::benchmark_helpers::BenchmarkDatasets;
}
