//! splitmix64: the generator behind the random adapters, the tiny model and sampling.

/// splitmix64 (Steele, Lea and Flood): one u64 of state, every output a bijective mix of it.
#[derive(Clone)]
pub(crate) struct SplitMix64(pub(crate) u64);

impl SplitMix64 {
	pub(crate) fn next_u64(&mut self) -> u64 {
		self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
		let mut z = self.0;
		z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
		z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
		z ^ (z >> 31)
	}

	/// The top 24 bits of the next value.
	pub(crate) fn next_24(&mut self) -> u32 {
		(self.next_u64() >> 40) as u32
	}
}
