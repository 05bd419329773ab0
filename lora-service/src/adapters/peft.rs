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
	/// The adapter's hash, the one the chain registers it by ([`adapter_hash`]).
	pub hash: [u8; 32],
	/// blake2-256 of `adapter_model.safetensors` as loaded.
	pub weights_hash: [u8; 32],
	pub layers: Vec<[Option<LoraPair>; 7]>,
}

/// What an adapter computes, as far as its `adapter_config.json` says: rank, alpha, and
/// whether the scale is alpha/√r (rsLoRA) instead of alpha/r.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Settings {
	pub rank: usize,
	pub alpha: f64,
	pub rslora: bool,
}

impl Settings {
	/// Reads `adapter_config.json`, refusing PEFT settings this service does not implement.
	pub fn parse(settings: &[u8]) -> Result<Self> {
		let settings: serde_json::Value =
			serde_json::from_slice(settings).context("adapter_config.json is not JSON")?;
		let rank =
			settings["r"].as_u64().ok_or_else(|| anyhow!("adapter_config.json has no r"))? as usize;
		let alpha = settings["lora_alpha"]
			.as_f64()
			.ok_or_else(|| anyhow!("adapter_config.json has no lora_alpha"))?;
		if rank == 0 || rank > u32::MAX as usize {
			bail!("the adapter's rank is {rank}");
		}
		refuse_unsupported(&settings)?;
		Ok(Self { rank, alpha, rslora: settings["use_rslora"].as_bool().unwrap_or(false) })
	}

	/// The factor B·A is scaled by.
	fn scale(&self) -> f64 {
		match self.rslora {
			true => self.alpha / (self.rank as f64).sqrt(),
			false => self.alpha / self.rank as f64,
		}
	}
}

/// The modules (in [`MODULES`] order) that tensors named `names` adapt in some layer.
pub fn targeted<'a>(names: impl IntoIterator<Item = &'a str> + Clone) -> Vec<&'static str> {
	MODULES
		.into_iter()
		.filter(|module| {
			let suffix = format!(".{module}.lora_A.weight");
			names.clone().into_iter().any(|name| name.ends_with(&suffix))
		})
		.collect()
}

/// An adapter's hash: blake2-256 of everything that decides its outputs, so that two adapters
/// with one hash answer alike. It covers the weights file (by its blake2-256) and what
/// `adapter_config.json` changes in the output besides it: the bytes
///
/// `"tributary/adapter/v1"` ‖ r (u32, little-endian) ‖ lora_alpha (f64, little-endian) ‖
/// use_rslora (one byte, 0 or 1) ‖ the number of targeted modules (one byte) ‖ each module's
/// name (one byte of length, then the name; in the order q, k, v, o, gate, up, down) ‖
/// blake2-256(adapter_model.safetensors).
pub fn adapter_hash(settings: &Settings, modules: &[&str], weights: &[u8]) -> [u8; 32] {
	let mut bytes = b"tributary/adapter/v1".to_vec();
	bytes.extend_from_slice(&(settings.rank as u32).to_le_bytes());
	bytes.extend_from_slice(&settings.alpha.to_le_bytes());
	bytes.push(u8::from(settings.rslora));
	bytes.push(modules.len() as u8);
	for module in modules {
		bytes.push(module.len() as u8);
		bytes.extend_from_slice(module.as_bytes());
	}
	bytes.extend_from_slice(&crate::hash::blake2_256(weights));
	crate::hash::blake2_256(&bytes)
}

/// The hash of the adapter in `dir` ([`adapter_hash`]), without a model to load it for: its
/// settings are checked as loading checks them, its tensors only by name.
pub fn hash_dir(dir: &Path) -> Result<[u8; 32]> {
	let settings = std::fs::read(dir.join("adapter_config.json"))
		.with_context(|| format!("reading {}/adapter_config.json", dir.display()))?;
	let path = dir.join("adapter_model.safetensors");
	let weights = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
	let settings = Settings::parse(&settings)?;
	let tensors = candle_core::safetensors::load_buffer(&weights, &Device::Cpu)
		.context("adapter_model.safetensors is not a safetensors file")?;
	let modules = targeted(tensors.keys().map(String::as_str));
	Ok(adapter_hash(&settings, &modules, &weights))
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
		let settings = Settings::parse(settings)?;
		let (rank, scale) = (settings.rank, settings.scale());
		let weights_hash = crate::hash::blake2_256(bytes);
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
		if let Some(unknown) = names.iter().find(|name| !expected.contains(**name)) {
			bail!("tensor {unknown} is not the LoRA A or B of a projection of this model");
		}
		// A half without its other would be skipped here and count as targeted in the hash.
		for name in &names {
			let other = match name.strip_suffix("lora_A.weight") {
				Some(prefix) => format!("{prefix}lora_B.weight"),
				None => name.replace("lora_B.weight", "lora_A.weight"),
			};
			if !tensors.contains_key(&other) {
				bail!("tensor {name} has no {other} beside it");
			}
		}
		let hash = adapter_hash(&settings, &targeted(names.iter().map(|n| n.as_str())), bytes);
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
		Ok(Self { rank, alpha: settings.alpha, hash, weights_hash, layers })
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

	/// The hash covers what changes the output: the same weights with another alpha, rsLoRA,
	/// or fewer targeted modules hash otherwise; `hash_dir` (no model needed) agrees with
	/// loading; a LoRA A without its B is refused.
	#[test]
	fn the_hash_covers_the_settings_and_the_targets() {
		let shape = random::Shape::of(&tiny::config());
		let weights = random::safetensors(shape, 4, 3);
		let settings: serde_json::Value = serde_json::from_str(&random::config(4, 8)).unwrap();
		let plain = load(&settings, &weights).unwrap();
		assert_eq!(plain.hash, random::hash(4, 8, &weights));
		assert_ne!(plain.hash, crate::hash::blake2_256(&weights), "not the weights alone");
		assert_eq!(plain.weights_hash, crate::hash::blake2_256(&weights));
		let mut hashes = vec![plain.hash];
		for (key, value) in
			[("lora_alpha", serde_json::json!(16)), ("use_rslora", serde_json::json!(true))]
		{
			let mut changed = settings.clone();
			changed[key] = value;
			hashes.push(load(&changed, &weights).unwrap().hash);
		}
		// Only q_proj's pairs: another function, another hash.
		let mut tensors: HashMap<String, Tensor> =
			candle_core::safetensors::load_buffer(&weights, &Device::Cpu).unwrap();
		tensors.retain(|name, _| name.contains(".q_proj."));
		let dir = crate::testing::scratch("peft-hash");
		candle_core::safetensors::save(&tensors, dir.join("adapter_model.safetensors")).unwrap();
		std::fs::write(dir.join("adapter_config.json"), random::config(4, 8)).unwrap();
		let only_q = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
		let loaded = load(&settings, &only_q).unwrap();
		hashes.push(loaded.hash);
		assert_eq!(hash_dir(&dir).unwrap(), loaded.hash, "the CLI's hash is the loader's");
		let settings_q = Settings { rank: 4, alpha: 8.0, rslora: false };
		assert_eq!(loaded.hash, adapter_hash(&settings_q, &["q_proj"], &only_q));
		let mut distinct = hashes.clone();
		distinct.sort();
		distinct.dedup();
		assert_eq!(distinct.len(), hashes.len(), "every change, another hash");
		// A lone A.
		tensors.retain(|name, _| !name.ends_with(&format!("{}.lora_B.weight", peft_prefix(0, 0))));
		candle_core::safetensors::save(&tensors, dir.join("adapter_model.safetensors")).unwrap();
		let lone = std::fs::read(dir.join("adapter_model.safetensors")).unwrap();
		let error = load(&settings, &lone).err().map(|e| format!("{e:#}"));
		assert!(error.as_deref().is_some_and(|e| e.contains("has no")), "{error:?}");
		std::fs::remove_dir_all(dir).ok();
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
