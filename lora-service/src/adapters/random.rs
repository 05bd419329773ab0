//! Random LoRA adapters in the PEFT layout, for demonstrations and tests: not trained, and they
//! say so in their metadata. The bytes depend only on the model's shape, the rank and the seed
//! (for SmolLM2, the same as `scripts/sample-adapter.py` writes), so a hash registered on chain
//! matches the file on any machine.
//!
//! Values come from splitmix64: each step's top 24 bits, as u in [0, 1), become
//! (2u - 1) · bound, with bound = 1/sqrt(in_features) for lora_A (PEFT's Kaiming-uniform
//! initialisation) and 0.01 for lora_B; tensors are little-endian f32 in name order, behind a
//! compact JSON header with sorted keys, padded with spaces to a multiple of 8 bytes.

use std::fmt::Write as _;

use crate::{model::LlamaConfig, rng::SplitMix64};

const B_BOUND: f64 = 0.01;

/// The dimensions an adapter's tensors follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
	pub layers: usize,
	pub hidden: usize,
	/// Key-value heads times the head dimension.
	pub kv: usize,
	pub intermediate: usize,
}

impl Shape {
	/// SmolLM2-135M.
	pub const SMOLLM2: Self = Self { layers: 30, hidden: 576, kv: 192, intermediate: 1536 };

	pub fn of(config: &LlamaConfig) -> Self {
		Self {
			layers: config.layers,
			hidden: config.hidden,
			kv: config.kv_heads * config.head_dim,
			intermediate: config.intermediate,
		}
	}

	/// (in, out) features of module `module` (in [`super::MODULES`] order).
	pub fn dims(&self, module: usize) -> (usize, usize) {
		let (h, kv, i) = (self.hidden, self.kv, self.intermediate);
		match module {
			0 | 3 => (h, h),
			1 | 2 => (h, kv),
			4 | 5 => (h, i),
			_ => (i, h),
		}
	}
}

/// (2u - 1) · bound with u the next 24-bit fraction, computed as `sample-adapter.py` does.
fn uniform(rng: &mut SplitMix64, bound: f64) -> f32 {
	let scale = 2.0 * bound / f64::from(1u32 << 24);
	(f64::from(rng.next_24()) * scale - bound) as f32
}

/// `adapter_model.safetensors` of the random adapter for `shape` with this rank and seed.
pub fn safetensors(shape: Shape, rank: usize, seed: u64) -> Vec<u8> {
	let mut specs: Vec<(String, [usize; 2], f64)> = Vec::new();
	for layer in 0..shape.layers {
		for module in 0..super::MODULES.len() {
			let (fan_in, fan_out) = shape.dims(module);
			let prefix = super::peft_prefix(layer, module);
			specs.push((
				format!("{prefix}.lora_A.weight"),
				[rank, fan_in],
				1.0 / (fan_in as f64).sqrt(),
			));
			specs.push((format!("{prefix}.lora_B.weight"), [fan_out, rank], B_BOUND));
		}
	}
	specs.sort_by(|a, b| a.0.cmp(&b.0));
	let mut rng = SplitMix64(seed);
	let mut header = format!(
		"{{\"__metadata__\":{{\"format\":\"pt\",\"generator\":\"tributary sample-adapter seed={seed}\"}}"
	);
	let mut data = Vec::new();
	for (name, shape, bound) in specs {
		let start = data.len();
		for _ in 0..shape[0] * shape[1] {
			data.extend_from_slice(&uniform(&mut rng, bound).to_le_bytes());
		}
		let _ = write!(
			header,
			",\"{name}\":{{\"data_offsets\":[{start},{}],\"dtype\":\"F32\",\"shape\":[{},{}]}}",
			data.len(),
			shape[0],
			shape[1]
		);
	}
	header.push('}');
	while header.len() % 8 != 0 {
		header.push(' ');
	}
	let mut out = Vec::with_capacity(8 + header.len() + data.len());
	out.extend_from_slice(&(header.len() as u64).to_le_bytes());
	out.extend_from_slice(header.as_bytes());
	out.extend_from_slice(&data);
	out
}

/// Writes the random adapter for `shape` into `dir` (created if missing) and returns its hash
/// (`peft::adapter_hash`: the weights, rank and alpha, all seven projections).
pub fn write(
	dir: &std::path::Path,
	shape: Shape,
	rank: usize,
	alpha: u32,
	seed: u64,
) -> std::io::Result<[u8; 32]> {
	std::fs::create_dir_all(dir)?;
	let weights = safetensors(shape, rank, seed);
	std::fs::write(dir.join("adapter_model.safetensors"), &weights)?;
	std::fs::write(dir.join("adapter_config.json"), config(rank, alpha))?;
	Ok(hash(rank, alpha, &weights))
}

/// The hash of a random adapter of `rank` and `alpha` whose weights file is `weights`.
pub fn hash(rank: usize, alpha: u32, weights: &[u8]) -> [u8; 32] {
	let settings = super::Settings { rank, alpha: f64::from(alpha), rslora: false };
	super::adapter_hash(&settings, &super::MODULES, weights)
}

/// `adapter_config.json` of a random adapter.
pub fn config(rank: usize, alpha: u32) -> String {
	let mut modules: Vec<&str> = super::MODULES.to_vec();
	modules.sort_unstable();
	let modules = modules.iter().map(|m| format!("    \"{m}\"")).collect::<Vec<_>>().join(",\n");
	format!(
		"{{\n  \"base_model_name_or_path\": \"HuggingFaceTB/SmolLM2-135M-Instruct\",\n  \"bias\": \
		 \"none\",\n  \"fan_in_fan_out\": false,\n  \"inference_mode\": true,\n  \"lora_alpha\": \
		 {alpha},\n  \"lora_dropout\": 0.0,\n  \"peft_type\": \"LORA\",\n  \"r\": {rank},\n  \
		 \"target_modules\": [\n{modules}\n  ],\n  \"task_type\": \"CAUSAL_LM\"\n}}\n"
	)
}

#[cfg(test)]
mod tests {
	/// Byte for byte what `scripts/sample-adapter.py` writes, whose hash the development chain
	/// registers for the sample adapter.
	#[test]
	fn matches_the_sample_adapter_script() {
		let dir = crate::testing::sample_adapter_script(0, 4);
		let script_bytes = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
		let script_config = std::fs::read_to_string(dir.join("adapter_config.json")).unwrap();
		std::fs::remove_dir_all(dir).ok();
		assert_eq!(super::safetensors(super::Shape::SMOLLM2, 4, 0), script_bytes);
		assert_eq!(super::config(4, 8), script_config);
	}
}
