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

/// The modules `target_modules` tells PEFT to adapt: every linear layer (`"all-linear"`), or
/// those whose names equal or end with one of these.
#[derive(Clone, Debug, PartialEq)]
pub enum Targets {
	AllLinear,
	Names(Vec<String>),
}

impl Targets {
	/// Whether PEFT adapts the module at `key` (as `model.layers.3.self_attn.q_proj`): its
	/// rule for a list of names, a name equal to the key or ending it after a dot.
	fn adapts(&self, key: &str) -> bool {
		match self {
			Targets::AllLinear => true,
			Targets::Names(names) => names.iter().any(|name| {
				key == name
					|| key.strip_suffix(name.as_str()).is_some_and(|head| head.ends_with('.'))
			}),
		}
	}
}

impl Settings {
	/// Reads `adapter_config.json` and the modules it targets, refusing PEFT settings this
	/// service does not implement.
	pub fn parse(settings: &[u8]) -> Result<(Self, Targets)> {
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
		// Above 0 and finite; 0.0 and -0.0 would also be one function under two hashes.
		if !(alpha.is_finite() && alpha > 0.0) {
			bail!("lora_alpha must be a number above 0, not {alpha}");
		}
		refuse_unsupported(&settings)?;
		let rslora = match &settings["use_rslora"] {
			serde_json::Value::Null => false,
			serde_json::Value::Bool(on) => *on,
			other => bail!("use_rslora must be true or false, not {other}"),
		};
		let targets = match &settings["target_modules"] {
			serde_json::Value::String(all) if all == "all-linear" => Targets::AllLinear,
			serde_json::Value::String(pattern) => bail!(
				"target_modules as a regular expression ({pattern:?}) is not served: list the \
				 modules' names"
			),
			serde_json::Value::Array(names) => Targets::Names(
				names
					.iter()
					.map(|name| {
						name.as_str()
							.map(str::to_string)
							.ok_or_else(|| anyhow!("target_modules holds {name}, not a name"))
					})
					.collect::<Result<_>>()?,
			),
			_ => bail!("adapter_config.json names no target_modules"),
		};
		Ok((Self { rank, alpha, rslora }, targets))
	}

	/// The factor B·A is scaled by.
	fn scale(&self) -> f64 {
		match self.rslora {
			true => self.alpha / (self.rank as f64).sqrt(),
			false => self.alpha / self.rank as f64,
		}
	}
}

/// What a PEFT tensor name says: the adapted module's key in the base model (as
/// `model.layers.3.self_attn.q_proj`), its index in [`MODULES`], its layer, and whether it is
/// the A half. `None` for anything but `base_model.model.model.layers.N.{self_attn,mlp}.
/// {module}.lora_{A,B}.weight` with the module under its own parent.
fn parse_name(name: &str) -> Option<(&str, usize, usize, bool)> {
	let (key, is_a) = match name.strip_suffix(".lora_A.weight") {
		Some(key) => (key, true),
		None => (name.strip_suffix(".lora_B.weight")?, false),
	};
	let key = key.strip_prefix("base_model.model.")?;
	let mut parts = key.split('.');
	let (model, layers, layer, parent, module) =
		(parts.next()?, parts.next()?, parts.next()?, parts.next()?, parts.next()?);
	// Canonical numbers only: `03` or `+3` would name a module the model does not have.
	let layer: usize = layer.parse().ok().filter(|n: &usize| n.to_string() == layer)?;
	let index = MODULES.iter().position(|m| *m == module)?;
	let expected_parent = if index < 4 { "self_attn" } else { "mlp" };
	match (model, layers, parent == expected_parent, parts.next()) {
		("model", "layers", true, None) => Some((key, index, layer, is_a)),
		_ => None,
	}
}

/// Checks an adapter's tensor names against its configuration: each is a LoRA A or B of a
/// projection, beside its other half, in a module `targets` names (a tensor PEFT would not
/// load is refused rather than applied). Returns the modules targeted (in [`MODULES`] order)
/// and the highest layer.
fn check_tensors<'a>(
	names: impl IntoIterator<Item = &'a str>,
	targets: &Targets,
) -> Result<(Vec<&'static str>, usize)> {
	let names: std::collections::BTreeSet<&str> = names.into_iter().collect();
	let mut targeted = [false; 7];
	let mut top_layer = 0;
	for name in &names {
		let (key, index, layer, is_a) = parse_name(name).ok_or_else(|| {
			anyhow!("tensor {name} is not the LoRA A or B of a projection of this model")
		})?;
		let other = format!("{key}.lora_{}.weight", if is_a { "B" } else { "A" });
		if !names.contains(format!("base_model.model.{other}").as_str()) {
			bail!("tensor {name} has no base_model.model.{other} beside it");
		}
		if !targets.adapts(key) {
			bail!("tensor {name} adapts {key}, which target_modules does not name: PEFT would not load it");
		}
		targeted[index] = true;
		top_layer = top_layer.max(layer);
	}
	let modules = MODULES.into_iter().zip(targeted).filter(|(_, t)| *t).map(|(m, _)| m).collect();
	Ok((modules, top_layer))
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
/// settings and its tensors' names are checked as loading checks them (the shapes, which
/// depend on the model, are not).
pub fn hash_dir(dir: &Path) -> Result<[u8; 32]> {
	let settings = std::fs::read(dir.join("adapter_config.json"))
		.with_context(|| format!("reading {}/adapter_config.json", dir.display()))?;
	let path = dir.join("adapter_model.safetensors");
	let weights = std::fs::read(&path).with_context(|| format!("reading {}", path.display()))?;
	let (settings, targets) = Settings::parse(&settings)?;
	let tensors = candle_core::safetensors::load_buffer(&weights, &Device::Cpu)
		.context("adapter_model.safetensors is not a safetensors file")?;
	let (modules, _) = check_tensors(tensors.keys().map(String::as_str), &targets)?;
	if modules.is_empty() {
		bail!("the adapter targets none of {MODULES:?}");
	}
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
		("layers_to_transform", "layers_to_transform (LoRA on chosen layers only)"),
		("layers_pattern", "layers_pattern (LoRA on chosen layers only)"),
		("layer_replication", "layer_replication (a model with repeated layers)"),
		("exclude_modules", "exclude_modules"),
		("alora_invocation_tokens", "aLoRA (activated LoRA)"),
		("use_qalora", "QALoRA"),
	] {
		if set(key) {
			bail!("{what} is not served: `{key}` must be unset");
		}
	}
	if let Some(bias) = settings["bias"].as_str().filter(|bias| *bias != "none") {
		bail!("bias {bias:?} is not served: `bias` must be \"none\"");
	}
	// PiSSA, OLoRA, LoftQ, CorDA and EVA adapters assume base weights changed at training.
	match &settings["init_lora_weights"] {
		serde_json::Value::Null | serde_json::Value::Bool(_) => {}
		serde_json::Value::String(init) if init == "gaussian" => {}
		other => bail!(
			"init_lora_weights {other} is not served: such an adapter assumes changed base \
			 weights (convert it to plain LoRA first)"
		),
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
		let (settings, targets) = Settings::parse(settings)?;
		let (rank, scale) = (settings.rank, settings.scale());
		let weights_hash = crate::hash::blake2_256(bytes);
		let tensors: HashMap<String, Tensor> = candle_core::safetensors::load_buffer(bytes, device)
			.context("adapter_model.safetensors is not a safetensors file")?;
		// Every tensor must be one this service applies: anything else (biases, embeddings, a
		// layer the model does not have) would change what PEFT computes and be ignored here.
		let (modules, top_layer) = check_tensors(tensors.keys().map(String::as_str), &targets)?;
		if !tensors.is_empty() && top_layer >= config.layers {
			bail!("the adapter adapts layer {top_layer}; the model has {}", config.layers);
		}
		let hash = adapter_hash(&settings, &modules, bytes);
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
			("layers_to_transform", serde_json::json!([0])),
			("layers_pattern", serde_json::json!("layers")),
			("layer_replication", serde_json::json!([[0, 1]])),
			("exclude_modules", serde_json::json!(["q_proj"])),
			("alora_invocation_tokens", serde_json::json!([1, 2])),
			("use_qalora", serde_json::json!(true)),
			("init_lora_weights", serde_json::json!("pissa")),
			("use_rslora", serde_json::json!("true")),
			("lora_alpha", serde_json::json!(0)),
			("lora_alpha", serde_json::json!(-8)),
			("target_modules", serde_json::json!("q_proj|v_proj")),
			// The weights adapt all seven projections; PEFT would load q_proj's alone.
			("target_modules", serde_json::json!(["q_proj"])),
			("target_modules", serde_json::Value::Null),
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
		neutral["init_lora_weights"] = serde_json::json!("gaussian");
		neutral["layers_to_transform"] = serde_json::Value::Null;
		neutral["target_modules"] = serde_json::json!("all-linear");
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
		// A layer number PEFT would not find in the model (`03`), or one the model lacks.
		for layer in ["03", "99"] {
			let mut renamed: HashMap<String, Tensor> =
				candle_core::safetensors::load_buffer(&weights, &Device::Cpu).unwrap();
			for half in ["A", "B"] {
				let tensor =
					renamed.remove(&format!("{}.lora_{half}.weight", peft_prefix(0, 0))).unwrap();
				let name = format!(
					"base_model.model.model.layers.{layer}.self_attn.q_proj.lora_{half}.weight"
				);
				renamed.insert(name, tensor);
			}
			candle_core::safetensors::save(&renamed, &path).unwrap();
			let error =
				load(&settings, &std::fs::read(&path).unwrap()).err().map(|e| format!("{e:#}"));
			assert!(error.as_deref().is_some_and(|e| e.contains("layer")), "{layer}: {error:?}");
		}
	}
}
