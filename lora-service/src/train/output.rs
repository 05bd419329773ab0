//! What a finished run writes: the PEFT adapter directory (`adapter_config.json`,
//! `adapter_model.safetensors` in PEFT's names and layout, q and k rows in the Hugging Face
//! order), `lineage.json` (the arguments of `models.registerAdapter`), `loss.json` and
//! `loss.png` (the loss curves). Everything is written into a directory beside the output and
//! renamed into place at the end: the output appears whole or not at all.

use std::{collections::HashMap, path::Path};

use anyhow::{bail, Context, Result};
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::{Curve, Trainer};
use crate::{
	adapters::{peft_prefix, MODULES},
	hash::hex,
};

/// A dataset's share of what an adapter was trained on.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Share {
	pub dataset_id: u32,
	/// Targets (tokens predicted) trained on from its records, over all epochs.
	pub tokens: u64,
	/// Its share in parts per million of the datasets' tokens; the shares sum to 1,000,000.
	pub share_ppm: u64,
}

/// `lineage.json`: what `models.registerAdapter` takes besides the model and the URI.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Lineage {
	/// The adapter's hash (`tributary-lora adapter hash`), `0x` and hex: `artifact_hash`.
	pub adapter_hash: String,
	pub rank: usize,
	pub alpha: u32,
	/// The datasets trained on, by dataset id: `lineage` as `[[dataset_id, share_ppm], …]`.
	pub datasets: Vec<Share>,
	/// Targets trained on from records of no dataset (a JSONL file): credited to nobody.
	pub unattributed_tokens: u64,
	/// `lineage` exactly as the call takes it.
	pub lineage: Vec<(u32, u64)>,
	/// The base model trained on.
	pub base_model: String,
}

/// Shares in parts per million of `tokens`, summing to 1,000,000 exactly: each share rounded
/// down, and the parts left over given one each to the largest remainders (ties to the lower
/// dataset id).
pub fn shares_ppm(tokens: &[(u32, u64)]) -> Vec<Share> {
	let total: u128 = tokens.iter().map(|(_, n)| u128::from(*n)).sum();
	if total == 0 {
		return Vec::new();
	}
	let mut shares: Vec<(Share, u128)> = tokens
		.iter()
		.map(|&(dataset_id, n)| {
			let scaled = u128::from(n) * 1_000_000;
			let share_ppm = (scaled / total) as u64;
			(Share { dataset_id, tokens: n, share_ppm }, scaled % total)
		})
		.collect();
	let given: u64 = shares.iter().map(|(s, _)| s.share_ppm).sum();
	let mut by_remainder: Vec<usize> = (0..shares.len()).collect();
	by_remainder.sort_by(|&a, &b| {
		shares[b].1.cmp(&shares[a].1).then(shares[a].0.dataset_id.cmp(&shares[b].0.dataset_id))
	});
	for &i in by_remainder.iter().cycle().take((1_000_000 - given) as usize) {
		shares[i].0.share_ppm += 1;
	}
	let mut shares: Vec<Share> = shares.into_iter().map(|(s, _)| s).collect();
	// A dataset of too few tokens to round to a part still counts for one: the chain takes
	// weights above zero. The largest share gives the parts.
	for i in 0..shares.len() {
		if shares[i].share_ppm == 0 {
			if let Some(largest) = (0..shares.len()).max_by_key(|&j| shares[j].share_ppm) {
				shares[largest].share_ppm -= 1;
				shares[i].share_ppm = 1;
			}
		}
	}
	shares.sort_by_key(|s| s.dataset_id);
	shares
}

/// PEFT's `adapter_config.json` for the run.
fn adapter_config(trainer: &Trainer<'_>) -> Result<String> {
	let settings = trainer.settings();
	let mut modules: Vec<&str> =
		settings.module_indexes().into_iter().map(|i| MODULES[i]).collect();
	modules.sort_unstable();
	let config = serde_json::json!({
		"base_model_name_or_path": trainer.model_name(),
		"bias": "none",
		"fan_in_fan_out": false,
		"inference_mode": true,
		"init_lora_weights": true,
		"lora_alpha": settings.alpha,
		"lora_dropout": 0.0,
		"peft_type": "LORA",
		"r": settings.rank,
		"target_modules": modules,
		"task_type": "CAUSAL_LM",
	});
	Ok(serde_json::to_string_pretty(&config)? + "\n")
}

/// The inverse of the loader's row order: row h·d + 2j + s of the GGUF layout (adjacent pairs
/// rotated together) becomes row h·d + s·d/2 + j of the Hugging Face layout.
fn unpermute_rows(b: &Tensor, heads: usize, head_dim: usize) -> Result<Tensor> {
	let (out, r) = b.dims2()?;
	Ok(b.reshape((heads, head_dim / 2, 2, r))?.transpose(1, 2)?.contiguous()?.reshape((out, r))?)
}

/// The adapter's tensors in PEFT's names and layout: lora_A (r, in), lora_B (out, r).
pub(crate) fn peft_tensors(trainer: &Trainer<'_>) -> Result<HashMap<String, Tensor>> {
	let config = &trainer.frozen().config;
	let mut tensors = HashMap::new();
	for (layer, pairs) in trainer.lora().layers.iter().enumerate() {
		for (module, pair) in pairs.iter().enumerate() {
			let Some(pair) = pair else { continue };
			let prefix = peft_prefix(layer, module);
			let a = pair.a.as_tensor().t()?.contiguous()?;
			let mut b = pair.b.as_tensor().t()?.contiguous()?;
			match MODULES[module] {
				"q_proj" => b = unpermute_rows(&b, config.heads, config.head_dim)?,
				"k_proj" => b = unpermute_rows(&b, config.kv_heads, config.head_dim)?,
				_ => {}
			}
			tensors.insert(format!("{prefix}.lora_A.weight"), a);
			tensors.insert(format!("{prefix}.lora_B.weight"), b);
		}
	}
	Ok(tensors)
}

/// Writes the adapter, `lineage.json`, `loss.json` and `loss.png` into `out`, which must not
/// exist: into `out` with `.partial` appended first, then renamed. Returns the lineage.
pub fn write(trainer: &Trainer<'_>, out: &Path) -> Result<Lineage> {
	if out.exists() {
		bail!("{} exists: name a new directory for the adapter", out.display());
	}
	let partial = partial_dir(out);
	if partial.exists() {
		std::fs::remove_dir_all(&partial)
			.with_context(|| format!("removing the unfinished {}", partial.display()))?;
	}
	std::fs::create_dir_all(&partial).with_context(|| format!("creating {}", partial.display()))?;
	candle_core::safetensors::save(
		&peft_tensors(trainer)?,
		partial.join("adapter_model.safetensors"),
	)?;
	std::fs::write(partial.join("adapter_config.json"), adapter_config(trainer)?)?;
	// Hashed as the service hashes it on loading: what the chain registers.
	let hash = crate::adapters::hash_dir(&partial)?;
	let tokens = trainer.tokens_trained();
	let by_dataset: Vec<(u32, u64)> =
		tokens.iter().filter_map(|(d, n)| d.map(|d| (d, *n))).collect();
	let datasets = shares_ppm(&by_dataset);
	let settings = trainer.settings();
	let lineage = Lineage {
		adapter_hash: format!("0x{}", hex(&hash)),
		rank: settings.rank,
		alpha: settings.alpha,
		lineage: datasets.iter().map(|s| (s.dataset_id, s.share_ppm)).collect(),
		datasets,
		unattributed_tokens: tokens.iter().filter(|(d, _)| d.is_none()).map(|(_, n)| n).sum(),
		base_model: trainer.model_name().to_string(),
	};
	std::fs::write(partial.join("lineage.json"), serde_json::to_string_pretty(&lineage)? + "\n")?;
	write_curve(trainer.curve(), &partial)?;
	std::fs::rename(&partial, out)
		.with_context(|| format!("moving {} to {}", partial.display(), out.display()))?;
	Ok(lineage)
}

/// `loss.json` and `loss.png` of a curve, into `dir`.
pub fn write_curve(curve: &Curve, dir: &Path) -> Result<()> {
	std::fs::write(dir.join("loss.json"), serde_json::to_string(curve)? + "\n")?;
	super::plot::loss_png(curve, &dir.join("loss.png"))
}

/// `out` with `suffix` appended to its name.
fn beside(out: &Path, suffix: &str) -> std::path::PathBuf {
	let mut name = out.file_name().map(|n| n.to_os_string()).unwrap_or_default();
	name.push(suffix);
	out.with_file_name(name)
}

/// Where the output is assembled before it is renamed into place.
pub fn partial_dir(out: &Path) -> std::path::PathBuf {
	beside(out, ".partial")
}

/// Where a run's checkpoint is kept, beside its output.
pub fn checkpoint_dir(out: &Path) -> std::path::PathBuf {
	beside(out, ".checkpoint")
}
