//! LoRA adapters in the PEFT layout (`adapter_config.json` + `adapter_model.safetensors`),
//! kept unmerged: y = xW^T + (alpha / r) · (x A^T) B^T.

use std::{collections::HashMap, path::Path};

use anyhow::{anyhow, bail, Context, Result};
use candle_core::{Device, Tensor};

use crate::model::LlamaConfig;

/// The projections an adapter may target, in the order a layer holds them.
pub const MODULES: [&str; 7] =
	["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

/// (in, out) features of module `module` (in [`MODULES`] order).
pub fn module_dims(config: &LlamaConfig, module: usize) -> (usize, usize) {
	super::random::Shape::of(config).dims(module)
}

/// Where PEFT names module `module` (in [`MODULES`] order) of layer `layer`.
pub fn peft_prefix(layer: usize, module: usize) -> String {
	let parent = if module < 4 { "self_attn" } else { "mlp" };
	format!("base_model.model.model.layers.{layer}.{parent}.{}", MODULES[module])
}

/// One projection's low-rank update: `a` is A^T (in, r), `b` is (alpha / r) · B^T (r, out),
/// with B's rows in the base weights' order.
pub struct LoraPair {
	pub a: Tensor,
	pub b: Tensor,
}

/// An adapter: per layer, per module (in [`MODULES`] order), the update if targeted.
pub struct Adapter {
	pub rank: usize,
	pub alpha: f64,
	/// blake2-256 of `adapter_model.safetensors` as loaded.
	pub hash: [u8; 32],
	pub layers: Vec<[Option<LoraPair>; 7]>,
}

/// llama.cpp stores q and k rows interleaved per head (what `rope_i` expects); PEFT's B rows
/// follow the Hugging Face order. Reorder them the same way: row h·d + s·d/2 + j of the
/// Hugging Face layout becomes row h·d + 2j + s.
fn permute_rows(b: &Tensor, heads: usize, head_dim: usize) -> Result<Tensor> {
	let (out, r) = b.dims2()?;
	Ok(b.reshape((heads, 2, head_dim / 2, r))?.transpose(1, 2)?.contiguous()?.reshape((out, r))?)
}

/// Refuses PEFT settings that change what the adapter computes and that this service does not
/// implement: serving such an adapter as plain LoRA would give other outputs than PEFT does.
fn refuse_unsupported(settings: &serde_json::Value) -> Result<()> {
	let set = |key: &str| match &settings[key] {
		serde_json::Value::Null | serde_json::Value::Bool(false) => false,
		serde_json::Value::Array(items) => !items.is_empty(),
		serde_json::Value::Object(entries) => !entries.is_empty(),
		_ => true,
	};
	if let Some(kind) = settings["peft_type"].as_str().filter(|kind| *kind != "LORA") {
		bail!("peft_type {kind} is not served (only LORA)");
	}
	for (key, what) in [
		("use_dora", "DoRA"),
		("modules_to_save", "modules_to_save (fully trained modules besides LoRA)"),
		("rank_pattern", "rank_pattern (per-module ranks)"),
		("alpha_pattern", "alpha_pattern (per-module alphas)"),
		("fan_in_fan_out", "fan_in_fan_out (weights stored transposed)"),
	] {
		if set(key) {
			bail!("{what} is not served: `{key}` must be unset");
		}
	}
	if let Some(bias) = settings["bias"].as_str().filter(|bias| *bias != "none") {
		bail!("bias {bias:?} is not served: `bias` must be \"none\"");
	}
	Ok(())
}

impl Adapter {
	/// Loads a PEFT adapter directory for a model with this configuration.
	pub fn load(dir: &Path, config: &LlamaConfig, device: &Device) -> Result<Self> {
		let settings = std::fs::read(dir.join("adapter_config.json"))
			.with_context(|| format!("reading {}/adapter_config.json", dir.display()))?;
		let weights = dir.join("adapter_model.safetensors");
		let bytes =
			std::fs::read(&weights).with_context(|| format!("reading {}", weights.display()))?;
		Self::from_bytes(&settings, &bytes, config, device)
	}

	/// An adapter from the bytes of its `adapter_config.json` and `adapter_model.safetensors`.
	pub fn from_bytes(
		settings: &[u8],
		bytes: &[u8],
		config: &LlamaConfig,
		device: &Device,
	) -> Result<Self> {
		let settings: serde_json::Value =
			serde_json::from_slice(settings).context("adapter_config.json is not JSON")?;
		let rank =
			settings["r"].as_u64().ok_or_else(|| anyhow!("adapter_config.json has no r"))? as usize;
		let alpha = settings["lora_alpha"]
			.as_f64()
			.ok_or_else(|| anyhow!("adapter_config.json has no lora_alpha"))?;
		if rank == 0 {
			bail!("the adapter's rank is 0");
		}
		refuse_unsupported(&settings)?;
		let scale = if settings["use_rslora"].as_bool().unwrap_or(false) {
			alpha / (rank as f64).sqrt()
		} else {
			alpha / rank as f64
		};
		let hash = crate::hash::blake2_256(bytes);
		let tensors: HashMap<String, Tensor> = candle_core::safetensors::load_buffer(bytes, device)
			.context("adapter_model.safetensors is not a safetensors file")?;
		// Every tensor must be one this service applies: anything else (biases, embeddings, a
		// layer the model does not have) would change what PEFT computes and be ignored here.
		let expected: std::collections::HashSet<String> = (0..config.layers)
			.flat_map(|layer| {
				(0..MODULES.len()).flat_map(move |module| {
					let prefix = peft_prefix(layer, module);
					[format!("{prefix}.lora_A.weight"), format!("{prefix}.lora_B.weight")]
				})
			})
			.collect();
		let mut names: Vec<&String> = tensors.keys().collect();
		names.sort();
		if let Some(unknown) = names.into_iter().find(|name| !expected.contains(*name)) {
			bail!("tensor {unknown} is not the LoRA A or B of a projection of this model");
		}
		let mut layers = Vec::with_capacity(config.layers);
		for layer in 0..config.layers {
			let mut pairs: [Option<LoraPair>; 7] = Default::default();
			for (slot, module) in MODULES.iter().enumerate() {
				let prefix = peft_prefix(layer, slot);
				let (Some(a), Some(b)) = (
					tensors.get(&format!("{prefix}.lora_A.weight")),
					tensors.get(&format!("{prefix}.lora_B.weight")),
				) else {
					continue;
				};
				let a = a.to_dtype(candle_core::DType::F32)?;
				let mut b = b.to_dtype(candle_core::DType::F32)?;
				let (fan_in, fan_out) = module_dims(config, slot);
				if a.dims() != [rank, fan_in] || b.dims() != [fan_out, rank] {
					bail!(
						"{prefix}: A is {:?} and B {:?}, not [{rank}, {fan_in}] and [{fan_out}, {rank}]",
						a.dims(),
						b.dims()
					);
				}
				match *module {
					"q_proj" => b = permute_rows(&b, config.heads, config.head_dim)?,
					"k_proj" => b = permute_rows(&b, config.kv_heads, config.head_dim)?,
					_ => {}
				}
				pairs[slot] =
					Some(LoraPair { a: a.t()?.contiguous()?, b: (b.t()? * scale)?.contiguous()? });
			}
			layers.push(pairs);
		}
		if layers.iter().all(|pairs| pairs.iter().all(Option::is_none)) {
			bail!("the adapter targets none of {MODULES:?} in any layer");
		}
		Ok(Self { rank, alpha, hash, layers })
	}

	/// Bytes its weights take in memory.
	pub fn bytes(&self) -> usize {
		self.layers
			.iter()
			.flatten()
			.flatten()
			.map(|pair| (pair.a.elem_count() + pair.b.elem_count()) * 4)
			.sum()
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{adapters::random, model::tiny};

	fn load(settings: &serde_json::Value, weights: &[u8]) -> Result<Adapter> {
		Adapter::from_bytes(
			&serde_json::to_vec(settings).unwrap(),
			weights,
			&tiny::config(),
			&Device::Cpu,
		)
	}

	/// PEFT features the service does not implement are refused, never silently ignored, and
	/// so is a tensor it would not apply.
	#[test]
	fn unsupported_peft_features_are_refused() {
		let shape = random::Shape::of(&tiny::config());
		let weights = random::safetensors(shape, 4, 1);
		let settings: serde_json::Value = serde_json::from_str(&random::config(4, 8)).unwrap();
		assert!(load(&settings, &weights).is_ok(), "the plain adapter loads");
		for (key, value) in [
			("use_dora", serde_json::json!(true)),
			("modules_to_save", serde_json::json!(["lm_head"])),
			("rank_pattern", serde_json::json!({ "q_proj": 8 })),
			("alpha_pattern", serde_json::json!({ "q_proj": 16 })),
			("bias", serde_json::json!("lora_only")),
			("peft_type", serde_json::json!("IA3")),
		] {
			let mut changed = settings.clone();
			changed[key] = value;
			let error = load(&changed, &weights).err().map(|e| format!("{e:#}"));
			assert!(
				error.as_deref().is_some_and(|e| e.contains(key) || e.contains("IA3")),
				"{key}: {error:?}"
			);
		}
		// Neutral values of those settings are fine.
		let mut neutral = settings.clone();
		neutral["use_dora"] = serde_json::json!(false);
		neutral["modules_to_save"] = serde_json::Value::Null;
		neutral["rank_pattern"] = serde_json::json!({});
		neutral["bias"] = serde_json::json!("none");
		assert!(load(&neutral, &weights).is_ok());
		// A tensor beside the LoRA pairs (here, a bias) is refused.
		let mut tensors: HashMap<String, Tensor> =
			candle_core::safetensors::load_buffer(&weights, &Device::Cpu).unwrap();
		tensors.insert(
			format!("{}.lora_B.bias", peft_prefix(0, 0)),
			Tensor::zeros(4, candle_core::DType::F32, &Device::Cpu).unwrap(),
		);
		let path = crate::testing::scratch("peft-extra").join("extra.safetensors");
		candle_core::safetensors::save(&tensors, &path).unwrap();
		let error = load(&settings, &std::fs::read(&path).unwrap()).err().map(|e| format!("{e:#}"));
		assert!(error.as_deref().is_some_and(|e| e.contains("lora_B.bias")), "{error:?}");
	}
}
