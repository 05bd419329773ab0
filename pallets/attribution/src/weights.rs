//! Weights for pallet-attribution. Provisional until `scripts/benchmark.sh pallet_attribution`
//! generates them from the benchmarks.

use polkadot_sdk::frame_support::weights::{constants::RocksDbWeight, Weight};

pub trait WeightInfo {
	fn prune(n: u32) -> Weight;
}

impl WeightInfo for () {
	fn prune(n: u32) -> Weight {
		Weight::from_parts(5_000_000, 1_500)
			.saturating_add(Weight::from_parts(5_000_000, 0).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(1, 1))
			.saturating_add(RocksDbWeight::get().writes(1).saturating_mul(n.into()))
	}
}
