//! Weights for pallet-inference. Provisional until `scripts/benchmark.sh pallet_inference`
//! generates them from the benchmarks (`docs/benchmarks.md` says why they are not yet): set
//! by hand well above what the calls should cost, with every storage access the worst case
//! makes (the draw among 64 providers, the 16 lineage pools a settlement fills, three reads
//! and two writes per attributed record, six of each per expiry).

use polkadot_sdk::frame_support::weights::{constants::RocksDbWeight, Weight};

pub trait WeightInfo {
	fn request(p: u32) -> Weight;
	fn submit_result(o: u32, a: u32, c: u32) -> Weight;
	fn expire(n: u32) -> Weight;
}

impl WeightInfo for () {
	fn request(p: u32) -> Weight {
		Weight::from_parts(10_000_000, 200_000)
			.saturating_add(Weight::from_parts(1_000, 1).saturating_mul(p.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(74, 6))
	}
	fn submit_result(o: u32, a: u32, _c: u32) -> Weight {
		Weight::from_parts(20_000_000, 60_000)
			.saturating_add(Weight::from_parts(1_000, 1).saturating_mul(o.into()))
			.saturating_add(Weight::from_parts(1_000_000, 3_000).saturating_mul(a.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(48, 28))
			.saturating_add(RocksDbWeight::get().reads_writes(3, 2).saturating_mul(a.into()))
	}
	fn expire(n: u32) -> Weight {
		Weight::from_parts(1_000_000, 2_000)
			.saturating_add(Weight::from_parts(1_000_000, 12_000).saturating_mul(n.into()))
			.saturating_add(RocksDbWeight::get().reads_writes(1, 1))
			.saturating_add(RocksDbWeight::get().reads_writes(6, 6).saturating_mul(n.into()))
	}
}
