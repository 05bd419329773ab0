//! Weights for pallet-royalties. Provisional until `scripts/benchmark.sh pallet_royalties`
//! generates them from the benchmarks.

use polkadot_sdk::frame_support::weights::{constants::RocksDbWeight, Weight};

pub trait WeightInfo {
	fn claim() -> Weight;
	fn claim_from_datasets(n: u32) -> Weight;
}

impl WeightInfo for () {
	fn claim() -> Weight {
		Weight::from_parts(60_000_000, 4_000)
			.saturating_add(RocksDbWeight::get().reads_writes(4, 4))
	}
	fn claim_from_datasets(n: u32) -> Weight {
		Weight::from_parts(60_000_000, 4_000)
			.saturating_add(Weight::from_parts(30_000_000, 3_000).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(3, 2))
			.saturating_add(RocksDbWeight::get().reads_writes(4, 2).saturating_mul(n.into()))
	}
}
