//! Weights for pallet-inference. Provisional until `scripts/benchmark.sh pallet_inference`
//! generates them from the benchmarks.

use polkadot_sdk::frame_support::weights::{constants::RocksDbWeight, Weight};

pub trait WeightInfo {
	fn request(p: u32) -> Weight;
	fn submit_result(o: u32, a: u32, c: u32) -> Weight;
	fn expire(n: u32) -> Weight;
}

impl WeightInfo for () {
	fn request(p: u32) -> Weight {
		Weight::from_parts(80_000_000, 8_000)
			.saturating_add(Weight::from_parts(1_000, 1).saturating_mul(p.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(10, 6))
	}
	fn submit_result(o: u32, a: u32, _c: u32) -> Weight {
		Weight::from_parts(150_000_000, 12_000)
			.saturating_add(Weight::from_parts(1_000, 1).saturating_mul(o.into()))
			.saturating_add(Weight::from_parts(20_000_000, 3_000).saturating_mul(a.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(16, 12))
			.saturating_add(RocksDbWeight::get().reads_writes(2, 1).saturating_mul(a.into()))
	}
	fn expire(n: u32) -> Weight {
		Weight::from_parts(5_000_000, 2_000)
			.saturating_add(Weight::from_parts(60_000_000, 6_000).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(1, 1))
			.saturating_add(RocksDbWeight::get().reads_writes(6, 6).saturating_mul(n.into()))
	}
}
