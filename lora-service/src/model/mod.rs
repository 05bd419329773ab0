//! The base model: a llama-architecture decoder read from a GGUF file (`gguf`), its linear
//! layers dense or quantized (`linear`), attention with a key-value cache per sequence
//! (`attention`) and decoder layers (`layer`), run by one forward pass for any rows at once:
//! a prefill is one row of many tokens, a decode step many rows of one token, each row at its
//! own position with its own cache and adapter.

pub mod attention;
pub mod gguf;
pub(crate) mod layer;
pub mod linear;
pub(crate) mod lora;
pub(crate) mod matmul;
pub mod tiny;

use anyhow::{bail, Context, Result};
use candle_core::{quantized::gguf_file::Content, DType, Device, Tensor};
use candle_nn::ops;

use self::{
	attention::Attention,
	layer::{DecoderLayer, Gather, Mlp, Pass, TokenLora},
	linear::Linear,
};
pub use self::{attention::KvCache, gguf::LlamaConfig, linear::Weights};

/// How many positions' logits [`Model::forward_each`] computes at once: 64 of SmolLM2's
/// 49,152-token vocabulary take 12 MiB.
pub const LOGIT_CHUNK: usize = 64;
use crate::adapters::{Adapter, AdapterStack};

/// One sequence in a forward pass: the tokens that continue it after what its cache holds.
pub struct Row<'a> {
	pub tokens: &'a [u32],
	pub cache: &'a mut KvCache,
}

/// Where the rows' LoRA updates come from.
#[derive(Clone, Copy)]
pub enum Lora<'a> {
	/// The base model for every row.
	None,
	/// One adapter for every row, applied with its own matrices (a prefill).
	Adapter(&'a Adapter),
	/// Row i's adapter from slot `slots[i]` of the stack (None: the base model), gathered per
	/// token (a batched step).
	Stack { stack: &'a AdapterStack, slots: &'a [Option<usize>] },
}

impl<'a> From<Option<&'a Adapter>> for Lora<'a> {
	fn from(adapter: Option<&'a Adapter>) -> Self {
		adapter.map_or(Self::None, Self::Adapter)
	}
}

/// The device `name` says: `cpu`, or `cuda` / `cuda:N` (the GPU of that ordinal, in a binary
/// built with the `cuda` feature).
pub fn parse_device(name: &str) -> Result<Device> {
	let ordinal = match name {
		"cpu" => return Ok(Device::Cpu),
		"cuda" => 0,
		_ => match name.strip_prefix("cuda:").map(str::parse::<usize>) {
			Some(Ok(ordinal)) => ordinal,
			_ => bail!("unknown device {name:?}: cpu, cuda or cuda:N"),
		},
	};
	if cfg!(feature = "cuda") {
		Device::new_cuda(ordinal).map_err(|error| {
			// The driver's own words, without the backtrace candle attaches.
			let error = match error {
				candle_core::Error::WithBacktrace { inner, .. } => *inner,
				error => error,
			};
			anyhow::anyhow!("{name}: {error}")
		})
	} else {
		bail!(
			"{name} needs a binary built with the cuda feature (scripts/build-cuda.sh, or \
			 cargo build --release --features cuda in lora-service/)"
		)
	}
}

/// Where `scripts/fetch-model.sh` puts SmolLM2, the default model of the commands that take one.
pub fn default_path() -> std::path::PathBuf {
	let home = std::env::var_os("HOME").unwrap_or_default();
	std::path::Path::new(&home).join(".cache/tributary/models/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// Which kernels run a model's forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernels {
	/// This crate's CPU kernels: projections that compute each row alone in one order
	/// (`matmul`), LoRA updates per token in registers (`lora`), attention over the caches' own
	/// arrays. A greedy output is the same alone or in any batch.
	Host,
	/// candle's tensor operations on the model's device, which may be a GPU (cuBLAS and
	/// candle's CUDA kernels): weights, key-value caches and the adapter stack live on the
	/// device, each row's attention is two batched matmuls over its cache, and the adapters'
	/// updates are gathered per token (BGMV) as tensors. The products' order of summation is
	/// the library's, which may change with the batch.
	Tensors,
}

/// The base model's weights and its rotary tables.
pub struct Model {
	pub config: LlamaConfig,
	pub weights: Weights,
	pub(crate) embed: Tensor,
	pub(crate) lm_head: Linear,
	pub(crate) layers: Vec<DecoderLayer>,
	pub(crate) norm: Tensor,
	pub(crate) cos: Tensor,
	pub(crate) sin: Tensor,
	pub(crate) device: Device,
	pub(crate) kernels: Kernels,
}

impl Model {
	/// Bytes the projection and output weights take in memory.
	pub fn weight_bytes(&self) -> usize {
		self.layers.iter().flat_map(|l| l.projections()).map(Linear::bytes).sum::<usize>()
			+ self.lm_head.bytes()
	}

	/// Loads a llama GGUF file onto `device`, holding its projection weights as `weights` says:
	/// on the CPU for this crate's kernels, on any other device for candle's.
	pub fn load(path: &std::path::Path, device: &Device, weights: Weights) -> Result<Self> {
		let kernels = if device.is_cpu() { Kernels::Host } else { Kernels::Tensors };
		Self::load_with(path, device, weights, kernels)
	}

	/// [`Model::load`] with the kernels named: the tensor path runs on the CPU too (the tests
	/// compare it there with this crate's kernels).
	pub fn load_with(
		path: &std::path::Path,
		device: &Device,
		weights: Weights,
		kernels: Kernels,
	) -> Result<Self> {
		if kernels == Kernels::Host && !device.is_cpu() {
			bail!("this crate's own kernels run on the CPU only");
		}
		let mut file =
			std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
		let content = Content::read(&mut file)?;
		let config = LlamaConfig::from_gguf(&content)?;
		let mut qtensor = |name: &str| {
			content.tensor(&mut file, name, device).with_context(|| format!("tensor {name}"))
		};
		let embedding = qtensor("token_embd.weight")?;
		let embed = embedding.dequantize(device)?;
		let lm_head = match content.tensor_infos.contains_key("output.weight") {
			true => Linear::new(qtensor("output.weight")?, weights, device, kernels)?,
			false => Linear::new(embedding, weights, device, kernels)?,
		};
		let mut layers = Vec::with_capacity(config.layers);
		for i in 0..config.layers {
			let mut t = |suffix: &str| qtensor(&format!("blk.{i}.{suffix}"));
			let mut linear = |suffix: &str, weights: Weights| -> Result<Linear> {
				Linear::new(t(&format!("{suffix}.weight"))?, weights, device, kernels)
			};
			let attention = Attention {
				q: linear("attn_q", weights)?,
				k: linear("attn_k", weights)?,
				v: linear("attn_v", weights)?,
				o: linear("attn_output", weights)?,
			};
			let mlp = Mlp {
				gate: linear("ffn_gate", weights)?,
				up: linear("ffn_up", weights)?,
				down: match weights {
					Weights::Mixed => linear("ffn_down", Weights::Dense)?,
					_ => linear("ffn_down", weights)?,
				},
			};
			let attn_norm = t("attn_norm.weight")?.dequantize(device)?;
			let ffn_norm = t("ffn_norm.weight")?.dequantize(device)?;
			layers.push(DecoderLayer { attn_norm, attention, ffn_norm, mlp });
		}
		let norm = qtensor("output_norm.weight")?.dequantize(device)?;

		let half = config.head_dim / 2;
		let inv_freq: Vec<f32> = (0..half)
			.map(|i| 1.0 / config.rope_theta.powf(2.0 * i as f32 / config.head_dim as f32))
			.collect();
		let inv_freq = Tensor::from_vec(inv_freq, (1, half), device)?;
		let positions = Tensor::arange(0u32, config.context_length as u32, device)?
			.to_dtype(DType::F32)?
			.reshape((config.context_length, 1))?;
		let angles = positions.broadcast_mul(&inv_freq)?;
		Ok(Self {
			cos: angles.cos()?,
			sin: angles.sin()?,
			config,
			weights,
			embed,
			lm_head,
			layers,
			norm,
			device: device.clone(),
			kernels,
		})
	}

	/// The device of the tensor path (None: this crate's CPU kernels).
	pub fn tensor_device(&self) -> Option<&Device> {
		(self.kernels == Kernels::Tensors).then_some(&self.device)
	}

	/// A key-value cache for a sequence of up to `positions` positions, reserved up front where
	/// the forward pass keeps it: in host memory, or on the tensor path's device.
	pub fn cache(&self, positions: usize) -> Result<KvCache> {
		match self.tensor_device() {
			None => Ok(KvCache::reserved(&self.config, positions)),
			Some(device) => KvCache::on_device(&self.config, positions, device),
		}
	}

	/// Runs every row's tokens through the model after what its cache holds, appends their
	/// keys and values to it, and returns the logits of each row's last token, (rows, vocab).
	pub fn forward(&self, rows: &mut [Row<'_>], lora: Lora<'_>) -> Result<Tensor> {
		let (x, lengths) = self.hidden(rows, lora)?;
		let mut last = Vec::with_capacity(lengths.len());
		let mut end = 0u32;
		for t in &lengths {
			end += *t as u32;
			last.push(end - 1);
		}
		let x = x.index_select(&Tensor::new(last.as_slice(), &self.device)?, 0)?;
		self.lm_head.forward(&ops::rms_norm(&x, &self.norm, self.config.rms_eps)?)
	}

	/// One sequence: runs `tokens` after what `cache` holds and calls `each(i, logits)` with the
	/// logits after token i, (vocab), for each i from `from` on, in order, until it answers
	/// `false`. The output layer runs [`LOGIT_CHUNK`] positions at a time, so a long sequence
	/// never holds all its logits at once, and none for positions before `from` or after `each`
	/// has had enough.
	pub fn forward_each(
		&self,
		tokens: &[u32],
		cache: &mut KvCache,
		adapter: Option<&Adapter>,
		from: usize,
		mut each: impl FnMut(usize, &[f32]) -> Result<bool>,
	) -> Result<()> {
		let (x, _) = self.hidden(&mut [Row { tokens, cache }], adapter.into())?;
		let x = ops::rms_norm(&x, &self.norm, self.config.rms_eps)?;
		let mut start = from;
		while start < tokens.len() {
			let length = LOGIT_CHUNK.min(tokens.len() - start);
			let logits = self.lm_head.forward(&x.narrow(0, start, length)?)?.to_vec2::<f32>()?;
			for (i, row) in logits.iter().enumerate() {
				if !each(start + i, row)? {
					return Ok(());
				}
			}
			start += length;
		}
		Ok(())
	}

	/// The tensor path's [`Gather`] of a pass whose rows, of `lengths` tokens, have adapters in
	/// `slots`; None when no row has one.
	fn gather(&self, slots: &[Option<usize>], lengths: &[usize]) -> Result<Option<Gather>> {
		let (mut singles, mut single_slots, mut runs, mut in_runs) =
			(Vec::new(), Vec::new(), Vec::new(), Vec::new());
		let mut first = 0;
		for (&slot, &t) in slots.iter().zip(lengths) {
			match slot {
				Some(slot) if t == 1 => {
					singles.push(first as u32);
					single_slots.push(slot as u32);
				}
				Some(slot) => {
					runs.push((first, t, slot));
					in_runs.extend(first as u32..(first + t) as u32);
				}
				None => {}
			}
			first += t;
		}
		if singles.is_empty() && runs.is_empty() {
			return Ok(None);
		}
		let singles_on_device = match singles.is_empty() {
			true => None,
			false => Some((
				Tensor::new(singles.as_slice(), &self.device)?,
				Tensor::new(single_slots.as_slice(), &self.device)?,
			)),
		};
		singles.extend(in_runs);
		Ok(Some(Gather {
			singles: singles_on_device,
			runs,
			tokens: Tensor::new(singles.as_slice(), &self.device)?,
		}))
	}

	/// The tensor path's causal mask of `row`, (tokens, positions held after them): token i sees
	/// the positions up to the cache's length plus i. None for a row of one token, which sees
	/// every position.
	fn causal_mask(&self, row: &Row<'_>) -> Result<Option<Tensor>> {
		let (start, t) = (row.cache.length, row.tokens.len());
		if t < 2 {
			return Ok(None);
		}
		let seen = start + t;
		let mask: Vec<f32> = (0..t)
			.flat_map(|i| {
				(0..seen).map(move |j| if j <= start + i { 0.0 } else { f32::NEG_INFINITY })
			})
			.collect();
		Ok(Some(Tensor::from_vec(mask, (t, seen), &self.device)?))
	}

	/// The residual stream after the last layer, (tokens, hidden), of every row's tokens in row
	/// order, and each row's token count; the rows' caches hold their tokens afterwards.
	fn hidden(&self, rows: &mut [Row<'_>], lora: Lora<'_>) -> Result<(Tensor, Vec<usize>)> {
		let c = &self.config;
		if rows.is_empty() {
			bail!("a forward pass needs a row");
		}
		let mut ids = Vec::new();
		let mut positions = Vec::new();
		for row in rows.iter() {
			let (t, start) = (row.tokens.len(), row.cache.length);
			if t == 0 {
				bail!("a row has no tokens");
			}
			if start + t > c.context_length {
				bail!("{t} tokens after {start} do not fit the context of {}", c.context_length);
			}
			if let Some(bad) = row.tokens.iter().find(|&&id| id as usize >= c.vocab_size) {
				bail!("token {bad} is outside the vocabulary");
			}
			ids.extend_from_slice(row.tokens);
			positions.extend(start as u32..(start + t) as u32);
		}
		let lengths: Vec<usize> = rows.iter().map(|row| row.tokens.len()).collect();
		let lora = match lora {
			Lora::None => TokenLora::None,
			Lora::Adapter(adapter) => TokenLora::Adapter(adapter),
			Lora::Stack { stack, slots } => {
				if slots.len() != rows.len() {
					bail!("{} rows and {} adapter slots", rows.len(), slots.len());
				}
				let ranks = stack.ranks(slots)?;
				let per_token = |values: &[usize]| -> Vec<usize> {
					values
						.iter()
						.zip(&lengths)
						.flat_map(|(v, t)| std::iter::repeat_n(*v, *t))
						.collect()
				};
				let slots_of_tokens: Vec<Option<usize>> = slots
					.iter()
					.zip(&lengths)
					.flat_map(|(slot, t)| std::iter::repeat_n(*slot, *t))
					.collect();
				if stack.device().is_some() != (self.kernels == Kernels::Tensors) {
					bail!("the adapter stack is not held where the model's kernels run");
				}
				let gather = match self.kernels {
					Kernels::Host => None,
					Kernels::Tensors => self.gather(slots, &lengths)?,
				};
				TokenLora::Stack { stack, slots: slots_of_tokens, ranks: per_token(&ranks), gather }
			}
		};
		for row in rows.iter_mut() {
			match self.kernels {
				Kernels::Host if row.cache.layers.is_empty() => {
					if !row.cache.tensors.is_empty() {
						bail!("this cache was filled by the tensor path, not the CPU kernels");
					}
					row.cache.layers = vec![(Vec::new(), Vec::new()); c.layers];
				}
				Kernels::Host => {}
				Kernels::Tensors => {
					let positions = row.cache.length + row.tokens.len();
					row.cache.fit(c, positions, &self.device)?;
				}
			}
		}
		let n = ids.len();
		let half = c.head_dim / 2;
		let positions = Tensor::new(positions.as_slice(), &self.device)?;
		let masks = match self.kernels {
			Kernels::Host => Vec::new(),
			Kernels::Tensors => {
				rows.iter().map(|row| self.causal_mask(row)).collect::<Result<Vec<_>>>()?
			}
		};
		let pass = Pass {
			masks,
			cos: self.cos.index_select(&positions, 0)?.reshape((n, 1, half))?,
			sin: self.sin.index_select(&positions, 0)?.reshape((n, 1, half))?,
			lengths,
			lora,
			kernels: self.kernels,
		};
		let mut x = self.embed.index_select(&Tensor::new(ids.as_slice(), &self.device)?, 0)?;
		for (index, layer) in self.layers.iter().enumerate() {
			x = layer.forward(c, &x, index, &pass, rows)?;
		}
		for (row, t) in rows.iter_mut().zip(&pass.lengths) {
			row.cache.length += t;
		}
		Ok((x, pass.lengths))
	}

	/// One sequence: runs `tokens` after what `cache` holds and returns the logits of the last
	/// token, (vocab).
	pub fn forward_sequence(
		&self,
		tokens: &[u32],
		cache: &mut KvCache,
		adapter: Option<&Adapter>,
	) -> Result<Tensor> {
		Ok(self.forward(&mut [Row { tokens, cache }], adapter.into())?.squeeze(0)?)
	}

	/// A copy of the model with `adapter` merged into its weights, W' = W + (alpha/r)·BA, held
	/// as the model holds its own (re-quantized if quantized).
	pub fn merged(&self, adapter: &Adapter) -> Result<Model> {
		let layers = self
			.layers
			.iter()
			.zip(&adapter.layers)
			.map(|(layer, pairs)| {
				layer.map(|module, w| match &pairs[module] {
					// (A^T B')^T = B' A: the (out, in) update.
					Some(pair) => w.plus(&pair.a.matmul(&pair.b)?.t()?),
					None => Ok(w.duplicate()),
				})
			})
			.collect::<Result<_>>()?;
		Ok(Model {
			config: self.config.clone(),
			weights: self.weights,
			embed: self.embed.clone(),
			lm_head: self.lm_head.duplicate(),
			layers,
			norm: self.norm.clone(),
			cos: self.cos.clone(),
			sin: self.sin.clone(),
			device: self.device.clone(),
			kernels: self.kernels,
		})
	}

	/// Greedy decoding of up to `max_tokens` after `prompt`, stopping at `stop`.
	pub fn generate_greedy(
		&self,
		prompt: &[u32],
		max_tokens: usize,
		stop: u32,
		adapter: Option<&Adapter>,
	) -> Result<Vec<u32>> {
		let mut cache = KvCache::default();
		let mut logits = self.forward_sequence(prompt, &mut cache, adapter)?;
		let mut out = Vec::new();
		for _ in 0..max_tokens {
			let next = crate::scheduler::sampling::argmax(&logits.to_vec1::<f32>()?);
			if next == stop {
				break;
			}
			out.push(next);
			logits = self.forward_sequence(&[next], &mut cache, adapter)?;
		}
		Ok(out)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::testing::{max_diff, smollm2_path, tiny_adapter, tiny_model, tiny_path};

	/// SmolLM2's chat prompt asking for the capital of France.
	const FRANCE: &str = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, \
	                      trained by Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the \
	                      capital of France?<|im_end|>\n<|im_start|>assistant\n";

	fn tiny_tensor_model() -> Model {
		Model::load_with(tiny_path(), &Device::Cpu, Weights::Dense, Kernels::Tensors).unwrap()
	}

	/// The tensor path (candle's operations, as on a GPU), run on the CPU, gives the logits of
	/// this crate's kernels: a prompt prefilled in two chunks (the second after what the cache
	/// holds, several tokens under the causal mask), then decoded token by token, the cache
	/// growing from empty, with and without an adapter.
	#[test]
	fn the_tensor_path_gives_the_cpu_kernels_logits() {
		let (host, tensors) = (tiny_model(), tiny_tensor_model());
		assert_eq!(tensors.tensor_device().map(Device::is_cpu), Some(true));
		let adapter = tiny_adapter(3, 8);
		let prompt = [5u32, 77, 120, 9, 200, 41, 13, 3, 99, 18];
		for adapter in [None, Some(&adapter)] {
			let run = |model: &Model| {
				let mut cache = KvCache::default();
				let mut logits = vec![
					model.forward_sequence(&prompt[..4], &mut cache, adapter).unwrap(),
					model.forward_sequence(&prompt[4..], &mut cache, adapter).unwrap(),
				];
				for token in [7u32, 150, 2] {
					logits.push(model.forward_sequence(&[token], &mut cache, adapter).unwrap());
				}
				assert_eq!(cache.len(), prompt.len() + 3);
				logits
			};
			for (step, (a, b)) in run(&host).iter().zip(run(&tensors)).enumerate() {
				let diff = max_diff(a, &b);
				assert!(diff < 1e-4, "step {step} differs by {diff}");
			}
		}
	}

	/// A cache filled by one kind of kernels is refused by the other (its positions are not
	/// where the other reads them), and the refusal leaves it as it was.
	#[test]
	fn a_cache_stays_with_the_kernels_that_filled_it() {
		let (host, tensors) = (tiny_model(), tiny_tensor_model());
		for (fill, other) in [(&host, &tensors), (&tensors, &host)] {
			let mut cache = KvCache::default();
			fill.forward_sequence(&[5, 77, 120], &mut cache, None).unwrap();
			let error = other.forward_sequence(&[9], &mut cache, None).unwrap_err();
			assert!(error.to_string().contains("filled by"), "{error}");
			assert_eq!(cache.len(), 3);
			fill.forward_sequence(&[9], &mut cache, None).unwrap();
		}
		// A cache reserved for the tensor path lives on its device, with room for the request.
		let c = &tensors.config;
		let cache = tensors.cache(40).unwrap();
		assert_eq!((cache.len(), cache.tensors.len()), (0, tensors.config.layers));
		assert_eq!(cache.tensors[0].0.dims(), [c.kv_heads, 40, c.head_dim]);
		// Never more room than the context.
		let cache = tensors.cache(c.context_length + 100).unwrap();
		assert_eq!(cache.tensors[0].0.dims()[1], c.context_length);
	}

	/// SmolLM2's answer, on the tensor path: the weights as the CPU kernels hold them in
	/// `dense`, multiplied by candle.
	#[test]
	fn smollm2_answers_the_capital_of_france_on_the_tensor_path() {
		let path = smollm2_path();
		let tokenizer = gguf::tokenizer(&gguf::read(&path).unwrap()).unwrap();
		let model =
			Model::load_with(&path, &Device::Cpu, Weights::Dense, Kernels::Tensors).unwrap();
		let ids = tokenizer.encode(FRANCE, false).unwrap().get_ids().to_vec();
		let im_end = tokenizer.token_to_id("<|im_end|>").unwrap();
		let out = model.generate_greedy(&ids, 24, im_end, None).unwrap();
		assert_eq!(tokenizer.decode(&out, false).unwrap(), "The capital of France is Paris.");
	}

	/// Devices by name: the CPU, a GPU only in a binary built for one, anything else refused.
	#[test]
	fn devices_are_named() {
		assert!(parse_device("cpu").unwrap().is_cpu());
		assert!(parse_device("tpu").unwrap_err().to_string().contains("unknown device"));
		assert!(parse_device("cuda:x").is_err());
		if !cfg!(feature = "cuda") {
			let error = parse_device("cuda:0").unwrap_err().to_string();
			assert!(error.contains("cuda feature"), "{error}");
		}
	}

	#[test]
	fn smollm2_answers_the_capital_of_france() {
		let path = smollm2_path();
		let content = gguf::read(&path).unwrap();
		let tokenizer = gguf::tokenizer(&content).unwrap();
		let model = Model::load(&path, &Device::Cpu, Weights::Dense).unwrap();
		let ids = tokenizer.encode(FRANCE, false).unwrap().get_ids().to_vec();
		let im_end = tokenizer.token_to_id("<|im_end|>").unwrap();
		let out = model.generate_greedy(&ids, 24, im_end, None).unwrap();
		let text = tokenizer.decode(&out, false).unwrap();
		assert_eq!(text, "The capital of France is Paris.");
	}

	/// Prefilling a prompt at once, or token by token through the cache, gives the same logits.
	#[test]
	fn prefill_equals_token_by_token() {
		let model = tiny_model();
		let prompt = [5u32, 77, 120, 9, 200, 41];
		let at_once = model.forward_sequence(&prompt, &mut KvCache::default(), None).unwrap();
		let mut cache = KvCache::default();
		let mut logits = None;
		for token in prompt {
			logits = Some(model.forward_sequence(&[token], &mut cache, None).unwrap());
		}
		assert_eq!(cache.len(), prompt.len());
		assert!(max_diff(&at_once, &logits.unwrap()) < 1e-4);
	}

	/// Applying an adapter unmerged, y = xW + (alpha/r)(xA)B, gives the logits of the base model
	/// with the update merged into its weights (q and k rows reordered as the GGUF weights are),
	/// at every position of a prompt.
	#[test]
	fn an_unmerged_adapter_equals_its_merged_weights() {
		unmerged_adapter_equals_its_merged_weights(&tiny_model());
	}

	/// On the tensor path too (weights held as candle's `QMatMul`), the single adapter's
	/// update carried from where the adapter lives.
	#[test]
	fn an_unmerged_adapter_equals_its_merged_weights_on_the_tensor_path() {
		unmerged_adapter_equals_its_merged_weights(&tiny_tensor_model());
	}

	fn unmerged_adapter_equals_its_merged_weights(model: &Model) {
		let adapter = tiny_adapter(3, 8);
		let prompt = [5u32, 77, 120, 9, 200, 41, 13, 3];
		let run = |model: &Model, adapter: Option<&Adapter>| {
			let mut cache = KvCache::default();
			prompt
				.iter()
				.map(|&token| model.forward_sequence(&[token], &mut cache, adapter).unwrap())
				.collect::<Vec<_>>()
		};
		let base = run(model, None);
		let unmerged = run(model, Some(&adapter));
		let merged = run(&model.merged(&adapter).unwrap(), None);
		for position in 0..prompt.len() {
			assert!(max_diff(&base[position], &unmerged[position]) > 1e-3, "the adapter matters");
			assert!(
				max_diff(&unmerged[position], &merged[position]) < 1e-4,
				"unmerged and merged agree at position {position}"
			);
		}
	}
}
