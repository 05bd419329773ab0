//! LoRA fine-tuning of the base model (the model factory): the base weights frozen as dense
//! f32, each adapted projection's A and B trained with candle's autograd and AdamW (linear
//! warm-up, cosine decay, gradient accumulation, gradient clipping), on records of datasets or
//! a JSONL file (`data`). The result is a PEFT adapter directory the service (and PEFT itself)
//! loads, and `lineage.json`: the datasets trained on with their shares by tokens trained, the
//! arguments of `models.registerAdapter`.
//!
//! Training is deterministic for a given seed on a given machine: the initial A matrices, the
//! order of examples in every epoch and the held-out split come from the seed, and candle's CPU
//! kernels sum in a fixed order for a fixed number of threads. It checkpoints after every
//! epoch (and every `checkpoint_steps`) beside the output, resumes from the checkpoint when
//! run again with the same settings and data, and writes the adapter only when training is
//! complete, renamed into place, so a cancelled or interrupted run leaves no adapter.

pub mod data;
pub mod facts;
mod forward;
pub mod output;
pub mod plot;

use std::{
	path::{Path, PathBuf},
	sync::atomic::{AtomicBool, Ordering},
	time::Instant,
};

use anyhow::{bail, Context, Result};
use candle_core::{DType, Tensor, Var};
use serde::{Deserialize, Serialize};

pub use self::data::{Example, Source, Tokenize};
pub(crate) use self::forward::{Frozen, LoraVars, Pair};
use crate::{adapters::module_dims, model::Model, rng::SplitMix64};

/// How to train.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Settings {
	/// The adapter's rank.
	pub rank: usize,
	/// Its alpha: the update is scaled by alpha / rank.
	pub alpha: u32,
	/// The adapted projections, by name (`q_proj`, …, `down_proj`).
	pub modules: Vec<String>,
	/// Passes over the training examples.
	pub epochs: usize,
	/// The peak learning rate.
	pub learning_rate: f64,
	/// Steps of linear warm-up to the peak, as a share of all steps; a cosine decay to a tenth
	/// of the peak follows.
	pub warmup_ratio: f64,
	/// Sequences in one forward pass.
	pub batch_size: usize,
	/// Forward passes whose gradients are summed into one optimiser step.
	pub accumulation: usize,
	/// Tokens a sequence holds at most; longer records are cut into windows.
	pub max_length: usize,
	/// AdamW's decoupled weight decay.
	pub weight_decay: f64,
	/// The largest global gradient norm; larger gradients are scaled down to it.
	pub max_grad_norm: f64,
	/// The share of examples held out to measure the loss on data not trained on (none when
	/// fewer than ten examples).
	pub holdout: f64,
	pub seed: u64,
	/// Optimiser steps between checkpoints (besides the end of every epoch); 0: epochs only.
	pub checkpoint_steps: usize,
}

impl Default for Settings {
	fn default() -> Self {
		Self {
			rank: 8,
			alpha: 16,
			modules: crate::adapters::MODULES.iter().map(|m| m.to_string()).collect(),
			epochs: 3,
			learning_rate: 2e-4,
			warmup_ratio: 0.1,
			batch_size: 4,
			accumulation: 1,
			max_length: 256,
			weight_decay: 0.0,
			max_grad_norm: 1.0,
			holdout: 0.1,
			seed: 0,
			checkpoint_steps: 0,
		}
	}
}

impl Settings {
	/// Refuses settings training cannot run with, naming the setting.
	pub fn check(&self) -> Result<()> {
		let module_names = crate::adapters::MODULES;
		if self.rank == 0 || self.rank > 256 {
			bail!("rank must be from 1 to 256, not {}", self.rank);
		}
		if self.alpha == 0 {
			bail!("alpha must be at least 1");
		}
		if self.modules.is_empty() {
			bail!("name at least one module to adapt, of {module_names:?}");
		}
		if let Some(bad) = self.modules.iter().find(|m| !module_names.contains(&m.as_str())) {
			bail!("module {bad:?} is none of {module_names:?}");
		}
		if self.epochs == 0 || self.epochs > 1000 {
			bail!("epochs must be from 1 to 1000, not {}", self.epochs);
		}
		if !(self.learning_rate.is_finite() && self.learning_rate > 0.0 && self.learning_rate < 1.0)
		{
			bail!("the learning rate must be above 0 and below 1, not {}", self.learning_rate);
		}
		if !(0.0..=1.0).contains(&self.warmup_ratio) {
			bail!("the warm-up ratio must be from 0 to 1, not {}", self.warmup_ratio);
		}
		if self.batch_size == 0 || self.batch_size > 256 {
			bail!("the batch size must be from 1 to 256, not {}", self.batch_size);
		}
		if self.accumulation == 0 || self.accumulation > 256 {
			bail!("gradient accumulation must be from 1 to 256 passes, not {}", self.accumulation);
		}
		if self.max_length < 2 {
			bail!("the sequence length must be at least 2 tokens, not {}", self.max_length);
		}
		if !(self.weight_decay.is_finite() && (0.0..1.0).contains(&self.weight_decay)) {
			bail!("weight decay must be from 0 to below 1, not {}", self.weight_decay);
		}
		if !(self.max_grad_norm.is_finite() && self.max_grad_norm > 0.0) {
			bail!("the gradient norm bound must be above 0, not {}", self.max_grad_norm);
		}
		if !(0.0..=0.5).contains(&self.holdout) {
			bail!("the held-out share must be from 0 to 0.5, not {}", self.holdout);
		}
		Ok(())
	}

	/// The adapted modules' indexes, in `adapters::MODULES` order.
	pub fn module_indexes(&self) -> Vec<usize> {
		(0..crate::adapters::MODULES.len())
			.filter(|i| self.modules.iter().any(|m| m == crate::adapters::MODULES[*i]))
			.collect()
	}
}

/// Where a run stands, after each optimiser step.
#[derive(Clone, Debug, Serialize)]
pub struct Progress {
	pub step: usize,
	pub steps: usize,
	pub epoch: usize,
	pub epochs: usize,
	/// The step's training loss, mean cross-entropy per target token.
	pub loss: f64,
	/// The held-out loss, measured at the end of an epoch (this step's, when it ended one).
	pub eval_loss: Option<f64>,
	pub learning_rate: f64,
	/// Tokens (targets) trained on since this run started or resumed, and their rate.
	pub tokens: u64,
	pub tokens_per_second: f64,
	/// Seconds left at that rate.
	pub eta_seconds: f64,
}

/// The losses of a run, by optimiser step (0: before the first step).
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Curve {
	pub train: Vec<(usize, f64)>,
	pub eval: Vec<(usize, f64)>,
}

/// What a finished run produced.
pub struct Trained {
	pub dir: PathBuf,
	pub lineage: output::Lineage,
	pub curve: Curve,
	/// Targets trained on (all epochs), and in this run (a resumed run counts only its own).
	pub tokens: u64,
	pub seconds: f64,
}

/// Why a run stopped early.
#[derive(Debug, thiserror::Error)]
pub enum Stopped {
	#[error("cancelled at step {0}; the checkpoint is kept to resume from")]
	Cancelled(usize),
}

/// Examples padded into one forward pass.
struct Batch {
	ids: Tensor,
	positions: Tensor,
	targets: Tensor,
}

/// The optimiser's state of one variable.
struct Moments {
	m: Tensor,
	v: Tensor,
}

/// A run: the frozen model, the trainable adapter and the optimiser.
pub struct Trainer<'a> {
	frozen: Frozen,
	lora: LoraVars,
	moments: Vec<Moments>,
	settings: Settings,
	train: Vec<Example>,
	eval: Vec<Example>,
	/// Each dataset's targets in one epoch.
	per_epoch: Vec<(Option<u32>, u64)>,
	step: usize,
	curve: Curve,
	model_name: &'a str,
	fingerprint: [u8; 32],
}

/// Learning rate at step `step` (from 0) of `steps`: linear warm-up, then cosine decay to a
/// tenth of the peak.
fn learning_rate(settings: &Settings, step: usize, steps: usize) -> f64 {
	let warmup = (settings.warmup_ratio * steps as f64).round() as usize;
	let peak = settings.learning_rate;
	if step < warmup {
		return peak * (step + 1) as f64 / warmup as f64;
	}
	let span = steps.saturating_sub(warmup).max(1) as f64;
	let progress = (step - warmup) as f64 / span;
	let floor = peak / 10.0;
	floor + (peak - floor) * 0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
}

/// A permutation of 0..n from the generator (Fisher–Yates).
fn shuffled(n: usize, rng: &mut SplitMix64) -> Vec<usize> {
	let mut order: Vec<usize> = (0..n).collect();
	for i in (1..n).rev() {
		let j = (rng.next_u64() % (i as u64 + 1)) as usize;
		order.swap(i, j);
	}
	order
}

impl<'a> Trainer<'a> {
	/// A run of `settings` over `examples` on `model`, its adapter initialised from the seed
	/// (A uniform in ±1/√in, as PEFT's Kaiming initialisation; B zero, so training starts
	/// from the base model). The held-out loss is measured on `held_out` when given (every
	/// example is trained on then), or on the share `settings.holdout` of the examples.
	pub fn new(
		model: &Model,
		model_name: &'a str,
		settings: Settings,
		examples: Vec<Example>,
		held_out: Option<Vec<Example>>,
	) -> Result<Self> {
		settings.check()?;
		if examples.is_empty() {
			bail!("nothing to train on");
		}
		if let Some(long) = examples.iter().find(|e| e.tokens.len() > model.config.context_length) {
			bail!("an example of {} tokens exceeds the context", long.tokens.len());
		}
		let frozen = Frozen::of(model)?;
		let config = &model.config;
		let device = frozen.device().clone();
		let mut rng = SplitMix64(settings.seed);
		let modules = settings.module_indexes();
		let mut layers = Vec::with_capacity(config.layers);
		for _ in 0..config.layers {
			let mut pairs: [Option<Pair>; 7] = Default::default();
			for &module in &modules {
				let (fan_in, fan_out) = module_dims(config, module);
				let bound = 1.0 / (fan_in as f64).sqrt();
				let a: Vec<f32> = (0..fan_in * settings.rank)
					.map(|_| {
						((f64::from(rng.next_24()) / f64::from(1u32 << 24) * 2.0 - 1.0) * bound)
							as f32
					})
					.collect();
				pairs[module] = Some(Pair {
					a: Var::from_tensor(&Tensor::from_vec(a, (fan_in, settings.rank), &device)?)?,
					b: Var::zeros((settings.rank, fan_out), DType::F32, &device)?,
				});
			}
			layers.push(pairs);
		}
		let lora = LoraVars { layers, scale: f64::from(settings.alpha) / settings.rank as f64 };
		let moments = lora
			.vars()
			.iter()
			.map(|var| Ok(Moments { m: var.zeros_like()?, v: var.zeros_like()? }))
			.collect::<Result<_>>()?;
		// The held-out split, from the seed.
		let mut split_rng = SplitMix64(settings.seed ^ 0x05EE_D0F4_E1D0_u64);
		let held = match (&held_out, examples.len() >= 10) {
			(None, true) => (examples.len() as f64 * settings.holdout).round() as usize,
			_ => 0,
		};
		let order = shuffled(examples.len(), &mut split_rng);
		let held: std::collections::BTreeSet<usize> = order[..held].iter().copied().collect();
		let (mut train, mut eval) = (Vec::new(), Vec::new());
		for (i, example) in examples.into_iter().enumerate() {
			match held.contains(&i) {
				true => eval.push(example),
				false => train.push(example),
			}
		}
		eval.extend(held_out.into_iter().flatten());
		let mut per_epoch: Vec<(Option<u32>, u64)> = Vec::new();
		for example in &train {
			match per_epoch.iter_mut().find(|(d, _)| *d == example.dataset) {
				Some((_, n)) => *n += example.targets() as u64,
				None => per_epoch.push((example.dataset, example.targets() as u64)),
			}
		}
		per_epoch.sort();
		let fingerprint = fingerprint(&settings, &train, &eval);
		Ok(Self {
			frozen,
			lora,
			moments,
			settings,
			train,
			eval,
			per_epoch,
			step: 0,
			curve: Curve::default(),
			model_name,
			fingerprint,
		})
	}

	/// Optimiser steps in one epoch.
	pub fn steps_per_epoch(&self) -> usize {
		self.train.len().div_ceil(self.settings.batch_size * self.settings.accumulation)
	}

	pub fn steps(&self) -> usize {
		self.steps_per_epoch() * self.settings.epochs
	}

	pub fn held_out(&self) -> usize {
		self.eval.len()
	}

	pub fn training_examples(&self) -> usize {
		self.train.len()
	}

	/// A padded batch of examples: ids (batch, t), the flat positions (row · t + column) that
	/// predict a target, and those targets.
	fn batch(&self, examples: &[&Example]) -> Result<Batch> {
		let t = examples.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
		let mut ids = Vec::with_capacity(examples.len() * t);
		let (mut positions, mut targets) = (Vec::new(), Vec::new());
		for (row, example) in examples.iter().enumerate() {
			ids.extend_from_slice(&example.tokens);
			ids.extend(std::iter::repeat_n(0, t - example.tokens.len()));
			for (i, on) in example.trained.iter().enumerate() {
				if *on {
					positions.push((row * t + i) as u32);
					targets.push(example.tokens[i + 1]);
				}
			}
		}
		let device = self.frozen.device();
		let count = positions.len();
		Ok(Batch {
			ids: Tensor::from_vec(ids, (examples.len(), t), device)?,
			positions: Tensor::from_vec(positions, count, device)?,
			targets: Tensor::from_vec(targets, count, device)?,
		})
	}

	fn loss_sum(&self, batch: &Batch) -> Result<Tensor> {
		self.frozen.loss_sum(&batch.ids, &batch.positions, &batch.targets, &self.lora)
	}

	/// The mean cross-entropy per target token over `examples`, with the adapter as it is.
	pub fn loss(&self, examples: &[Example]) -> Result<f64> {
		let (mut total, mut count) = (0f64, 0usize);
		let refs: Vec<&Example> = examples.iter().collect();
		for chunk in refs.chunks(self.settings.batch_size) {
			let sum = self.loss_sum(&self.batch(chunk)?)?.detach();
			total += f64::from(sum.to_scalar::<f32>()?);
			count += chunk.iter().map(|e| e.targets()).sum::<usize>();
		}
		Ok(total / count.max(1) as f64)
	}

	/// The held-out loss, if any example is held out.
	pub fn eval_loss(&self) -> Result<Option<f64>> {
		match self.eval.is_empty() {
			true => Ok(None),
			false => self.loss(&self.eval).map(Some),
		}
	}

	/// The loss over the training examples.
	pub fn train_loss(&self) -> Result<f64> {
		self.loss(&self.train)
	}

	/// One optimiser step over `examples`: their summed loss, divided by their targets, is
	/// backpropagated pass by pass, and the summed gradients update the adapter. Returns the
	/// mean loss per target.
	fn optimise(&mut self, examples: &[&Example], lr: f64) -> Result<f64> {
		let targets: usize = examples.iter().map(|e| e.targets()).sum();
		let vars: Vec<Var> = self.lora.vars().into_iter().cloned().collect();
		let mut grads: Vec<Option<Tensor>> = vec![None; vars.len()];
		let mut total = 0f64;
		for chunk in examples.chunks(self.settings.batch_size) {
			let sum = self.loss_sum(&self.batch(chunk)?)?;
			total += f64::from(sum.to_scalar::<f32>()?);
			let store = (sum / targets.max(1) as f64)?.backward()?;
			for (grad, var) in grads.iter_mut().zip(&vars) {
				// Detached: a gradient computed from the graph would otherwise keep the whole
				// forward pass alive through the optimiser's moments, step after step.
				if let Some(g) = store.get(var.as_tensor()).map(Tensor::detach) {
					*grad = Some(match grad.take() {
						Some(sum) => (sum + g)?,
						None => g,
					});
				}
			}
		}
		let mut norm = 0f64;
		for g in grads.iter().flatten() {
			norm += f64::from(g.sqr()?.sum_all()?.to_scalar::<f32>()?);
		}
		let norm = norm.sqrt();
		let clip = match norm > self.settings.max_grad_norm {
			true => self.settings.max_grad_norm / norm,
			false => 1.0,
		};
		self.step += 1;
		let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8);
		let t = self.step as i32;
		let (correction1, correction2) = (1.0 - beta1.powi(t), 1.0 - beta2.powi(t));
		for ((var, grad), moments) in vars.iter().zip(&grads).zip(&mut self.moments) {
			let Some(grad) = grad else { continue };
			let grad = (grad * clip)?;
			moments.m = ((&moments.m * beta1)? + (&grad * (1.0 - beta1))?)?.detach();
			moments.v = ((&moments.v * beta2)? + (grad.sqr()? * (1.0 - beta2))?)?.detach();
			let m_hat = (&moments.m / correction1)?;
			let v_hat = (&moments.v / correction2)?;
			let update = (m_hat / (v_hat.sqrt()? + eps)?)?;
			let decayed = (var.as_tensor() * (1.0 - lr * self.settings.weight_decay))?;
			var.set(&(decayed - (update * lr)?)?)?;
		}
		Ok(total / targets.max(1) as f64)
	}

	/// Trains to the end (from where a checkpoint left off), calling `progress` after every
	/// step and stopping with [`Stopped::Cancelled`] (after a checkpoint) once `cancel` is set.
	/// Checkpoints go to `checkpoint` when given.
	pub fn run(
		&mut self,
		checkpoint: Option<&Path>,
		cancel: &AtomicBool,
		mut progress: impl FnMut(&Progress),
	) -> Result<u64> {
		if let Some(dir) = checkpoint {
			if self.resume(dir)? {
				tracing::info!(
					step = self.step,
					"resumed from the checkpoint in {}",
					dir.display()
				);
			}
		}
		let (per_epoch, steps) = (self.steps_per_epoch(), self.steps());
		if self.step == 0 && self.curve.train.is_empty() {
			let before = self.train_loss()?;
			self.curve.train.push((0, before));
			if let Some(eval) = self.eval_loss()? {
				self.curve.eval.push((0, eval));
			}
		}
		let started = Instant::now();
		let first_step = self.step;
		let mut tokens = 0u64;
		let group = self.settings.batch_size * self.settings.accumulation;
		while self.step < steps {
			if cancel.load(Ordering::Relaxed) {
				if let Some(dir) = checkpoint {
					self.save_checkpoint(dir)?;
				}
				return Err(Stopped::Cancelled(self.step).into());
			}
			let epoch = self.step / per_epoch;
			let order = shuffled(
				self.train.len(),
				&mut SplitMix64(self.settings.seed.wrapping_add(epoch as u64 + 1)),
			);
			let within = self.step % per_epoch;
			let chosen: Vec<usize> =
				order.iter().skip(within * group).take(group).copied().collect();
			let examples: Vec<Example> = chosen.iter().map(|&i| self.train[i].clone()).collect();
			let refs: Vec<&Example> = examples.iter().collect();
			let lr = learning_rate(&self.settings, self.step, steps);
			let loss = self.optimise(&refs, lr)?;
			tokens += refs.iter().map(|e| e.targets() as u64).sum::<u64>();
			self.curve.train.push((self.step, loss));
			let ended_epoch = self.step.is_multiple_of(per_epoch);
			let eval_loss = match ended_epoch {
				true => self.eval_loss()?,
				false => None,
			};
			if let Some(eval) = eval_loss {
				self.curve.eval.push((self.step, eval));
			}
			let elapsed = started.elapsed().as_secs_f64();
			let rate = tokens as f64 / elapsed.max(1e-9);
			let done = (self.step - first_step).max(1) as f64;
			progress(&Progress {
				step: self.step,
				steps,
				epoch: epoch + 1,
				epochs: self.settings.epochs,
				loss,
				eval_loss,
				learning_rate: lr,
				tokens,
				tokens_per_second: rate,
				eta_seconds: elapsed / done * (steps - self.step) as f64,
			});
			let every = self.settings.checkpoint_steps;
			if let Some(dir) = checkpoint {
				if ended_epoch || (every > 0 && self.step.is_multiple_of(every)) {
					self.save_checkpoint(dir)?;
				}
			}
		}
		Ok(tokens)
	}

	/// Targets trained on per dataset over all epochs, `None` for a file's records.
	pub fn tokens_trained(&self) -> Vec<(Option<u32>, u64)> {
		let epochs = self.settings.epochs as u64;
		self.per_epoch.iter().map(|(d, n)| (*d, n.saturating_mul(epochs))).collect()
	}

	pub fn curve(&self) -> &Curve {
		&self.curve
	}

	pub fn settings(&self) -> &Settings {
		&self.settings
	}

	pub(crate) fn lora(&self) -> &LoraVars {
		&self.lora
	}

	pub(crate) fn frozen(&self) -> &Frozen {
		&self.frozen
	}

	pub fn model_name(&self) -> &str {
		self.model_name
	}

	fn save_checkpoint(&self, dir: &Path) -> Result<()> {
		std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
		let mut tensors = std::collections::HashMap::new();
		for (i, (var, moments)) in self.lora.vars().iter().zip(&self.moments).enumerate() {
			tensors.insert(format!("{i}.value"), var.as_tensor().clone());
			tensors.insert(format!("{i}.m"), moments.m.clone());
			tensors.insert(format!("{i}.v"), moments.v.clone());
		}
		let weights = dir.join("state.safetensors.tmp");
		candle_core::safetensors::save(&tensors, &weights)?;
		std::fs::rename(&weights, dir.join("state.safetensors"))?;
		let state = CheckpointState {
			fingerprint: crate::hash::hex(&self.fingerprint),
			step: self.step,
			curve: self.curve.clone(),
		};
		let tmp = dir.join("checkpoint.json.tmp");
		std::fs::write(&tmp, serde_json::to_vec_pretty(&state)?)?;
		std::fs::rename(tmp, dir.join("checkpoint.json"))?;
		Ok(())
	}

	/// Loads the checkpoint in `dir` if there is one of this run (same settings, same data);
	/// one of another run is refused.
	fn resume(&mut self, dir: &Path) -> Result<bool> {
		let bytes = match std::fs::read(dir.join("checkpoint.json")) {
			Ok(bytes) => bytes,
			Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
			Err(e) => return Err(e.into()),
		};
		let state: CheckpointState = serde_json::from_slice(&bytes)?;
		if state.fingerprint != crate::hash::hex(&self.fingerprint) {
			bail!(
				"{} holds a checkpoint of another run (other settings or data): remove it to \
				 start afresh",
				dir.display()
			);
		}
		let tensors =
			candle_core::safetensors::load(dir.join("state.safetensors"), self.frozen.device())?;
		let get = |name: String| {
			tensors.get(&name).cloned().with_context(|| format!("the checkpoint lacks {name}"))
		};
		for (i, (var, moments)) in self.lora.vars().iter().zip(&mut self.moments).enumerate() {
			var.set(&get(format!("{i}.value"))?)?;
			moments.m = get(format!("{i}.m"))?;
			moments.v = get(format!("{i}.v"))?;
		}
		self.step = state.step;
		self.curve = state.curve;
		Ok(true)
	}
}

#[derive(Serialize, Deserialize)]
struct CheckpointState {
	fingerprint: String,
	step: usize,
	curve: Curve,
}

/// blake2-256 of the settings and every example: a checkpoint resumes only the run it is of.
fn fingerprint(settings: &Settings, train: &[Example], eval: &[Example]) -> [u8; 32] {
	// How often it checkpoints does not change what it computes.
	let settings = Settings { checkpoint_steps: 0, ..settings.clone() };
	let mut bytes = serde_json::to_vec(&settings).unwrap_or_default();
	for example in train.iter().chain(eval) {
		bytes.extend_from_slice(&(example.tokens.len() as u64).to_le_bytes());
		for (token, on) in example.tokens.iter().zip(&example.trained) {
			bytes.extend_from_slice(&token.to_le_bytes());
			bytes.push(u8::from(*on));
		}
		bytes.extend_from_slice(&example.dataset.map_or(u64::MAX, u64::from).to_le_bytes());
	}
	crate::hash::blake2_256(&bytes)
}

#[cfg(test)]
mod tests;
