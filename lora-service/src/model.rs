//! A llama-architecture forward pass for one sequence with its key-value cache (prefill, then
//! one token at a time), over either dense f32 weights or quantized ones.

use anyhow::{Context, Result};
use candle_core::{
	quantized::{gguf_file::Content, GgmlDType, QMatMul, QTensor},
	DType, Device, Module, Tensor, D,
};
use candle_nn::{ops, rotary_emb};

use crate::{
	gguf::LlamaConfig,
	lora::{Adapter, LoraPair},
};

/// How the base model's projection weights are held.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Weights {
	/// Dequantized to f32 (four bytes a weight; exact arithmetic on the file's weights).
	Dense,
	/// Every projection quantized and multiplied by candle's quantized kernels, which quantize
	/// the activations to 8 bits per block of 32: kept as the file has them where candle has
	/// SIMD kernels for the type (Q4_0, Q8_0, Q4K, Q6K), otherwise (Q4_1, F16, …) re-quantized
	/// to Q8_0 (about a byte a weight).
	Quantized,
	/// Quantized, except the feed-forward down projections, dense: their inputs carry the
	/// outlier activations that 8-bit blocks lose. Closer to the model's answers than
	/// `Quantized`, but not the same: on some CPUs SmolLM2's answer to "What is the capital of
	/// France?" still goes astray (docs/lora-service.md).
	Mixed,
}

impl Weights {
	fn for_down_projection(self) -> Self {
		match self {
			Self::Mixed => Self::Dense,
			other => other,
		}
	}
}

/// A projection's weights, (out, in).
pub(crate) enum Linear {
	Dense(Tensor),
	Quantized(QMatMul),
}

impl Linear {
	/// Types candle multiplies with SIMD kernels on x86 and ARM.
	fn fast(dtype: GgmlDType) -> bool {
		matches!(dtype, GgmlDType::Q4_0 | GgmlDType::Q8_0 | GgmlDType::Q4K | GgmlDType::Q6K)
	}

	fn new(tensor: QTensor, weights: Weights, device: &Device) -> Result<Self> {
		Ok(match weights {
			Weights::Dense => Self::Dense(tensor.dequantize(device)?),
			Weights::Quantized | Weights::Mixed if Self::fast(tensor.dtype()) => {
				Self::Quantized(QMatMul::from_qtensor(tensor)?)
			}
			Weights::Quantized | Weights::Mixed => Self::requantize(&tensor.dequantize(device)?)?,
		})
	}

	fn requantize(dense: &Tensor) -> Result<Self> {
		Ok(Self::Quantized(QMatMul::from_qtensor(QTensor::quantize(dense, GgmlDType::Q8_0)?)?))
	}

	/// x (rows, in) W^T.
	pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
		Ok(match self {
			Self::Dense(w) => x.matmul(&w.t()?)?,
			Self::Quantized(w) => w.forward(x)?,
		})
	}

	pub(crate) fn dense(&self) -> Result<Tensor> {
		Ok(match self {
			Self::Dense(w) => w.clone(),
			Self::Quantized(QMatMul::QTensor(q)) => q.dequantize(&q.device())?,
			Self::Quantized(QMatMul::Tensor(w)) => w.clone(),
			Self::Quantized(QMatMul::TensorF16(w)) => w.to_dtype(DType::F32)?,
		})
	}

	/// The same representation, with `delta` (out, in) added.
	fn plus(&self, delta: &Tensor) -> Result<Self> {
		let sum = (self.dense()? + delta)?;
		Ok(match self {
			Self::Dense(_) => Self::Dense(sum),
			Self::Quantized(_) => Self::requantize(&sum)?,
		})
	}

	fn duplicate(&self) -> Self {
		match self {
			Self::Dense(w) => Self::Dense(w.clone()),
			Self::Quantized(w) => Self::Quantized(w.clone()),
		}
	}
}

pub(crate) struct Layer {
	pub(crate) attn_norm: Tensor,
	pub(crate) ffn_norm: Tensor,
	/// q, k, v, o, gate, up, down: the adapter modules' order.
	pub(crate) projections: [Linear; 7],
}

/// The base model's weights and its rotary tables.
pub struct Model {
	pub config: LlamaConfig,
	pub weights: Weights,
	pub(crate) embed: Tensor,
	pub(crate) lm_head: Linear,
	pub(crate) layers: Vec<Layer>,
	pub(crate) norm: Tensor,
	pub(crate) cos: Tensor,
	pub(crate) sin: Tensor,
	pub(crate) device: Device,
}

/// One sequence's keys and values, per layer, as flat arrays of (position, kv head, dim):
/// appending a token appends its keys and values, nothing else moves.
#[derive(Default)]
pub struct KvCache {
	pub(crate) layers: Vec<(Vec<f32>, Vec<f32>)>,
	pub(crate) length: usize,
}

impl KvCache {
	/// How many positions the cache holds.
	pub fn len(&self) -> usize {
		self.length
	}

	pub fn is_empty(&self) -> bool {
		self.length == 0
	}
}

/// Σ a·b, in eight lanes so that it vectorises.
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
	let mut lanes = [0f32; 8];
	let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
	let tail: f32 = a8.remainder().iter().zip(b8.remainder()).map(|(x, y)| x * y).sum();
	for (x, y) in a8.zip(b8) {
		for lane in 0..8 {
			lanes[lane] += x[lane] * y[lane];
		}
	}
	lanes.iter().sum::<f32>() + tail
}

/// Causal attention of `q` (t, heads, d) at positions `start..start + t` over `keys` and
/// `values` (start + t, kv heads, d), the query heads that share a key-value head reading the
/// same rows. Returns (t, heads · d).
pub(crate) fn attention(
	config: &LlamaConfig,
	q: &[f32],
	keys: &[f32],
	values: &[f32],
	start: usize,
) -> Vec<f32> {
	let (heads, kv, d) = (config.heads, config.kv_heads, config.head_dim);
	let groups = heads / kv;
	let t = q.len() / (heads * d);
	let scale = 1.0 / (d as f32).sqrt();
	let mut out = vec![0f32; t * heads * d];
	let mut scores = vec![0f32; start + t];
	for i in 0..t {
		let visible = start + i + 1;
		for h in 0..heads {
			let g = h / groups;
			let query = &q[(i * heads + h) * d..][..d];
			let mut max = f32::NEG_INFINITY;
			for (j, score) in scores[..visible].iter_mut().enumerate() {
				*score = dot(query, &keys[(j * kv + g) * d..][..d]) * scale;
				max = max.max(*score);
			}
			let mut total = 0.0;
			for score in &mut scores[..visible] {
				*score = (*score - max).exp();
				total += *score;
			}
			let row = &mut out[(i * heads + h) * d..][..d];
			for (j, score) in scores[..visible].iter().enumerate() {
				let p = score / total;
				for (o, v) in row.iter_mut().zip(&values[(j * kv + g) * d..][..d]) {
					*o += p * v;
				}
			}
		}
	}
	out
}

/// xW^T, plus the adapter's low-rank update if it targets this projection.
fn project(x: &Tensor, w: &Linear, lora: Option<&LoraPair>) -> Result<Tensor> {
	let y = w.forward(x)?;
	Ok(match lora {
		Some(pair) => (y + x.matmul(&pair.a)?.matmul(&pair.b)?)?,
		None => y,
	})
}

impl Model {
	/// Bytes the projection and output weights take in memory.
	pub fn weight_bytes(&self) -> usize {
		let bytes = |l: &Linear| match l {
			Linear::Dense(w) => w.elem_count() * 4,
			Linear::Quantized(QMatMul::QTensor(q)) => q.storage_size_in_bytes(),
			Linear::Quantized(QMatMul::Tensor(w)) => w.elem_count() * 4,
			Linear::Quantized(QMatMul::TensorF16(w)) => w.elem_count() * 2,
		};
		self.layers.iter().flat_map(|l| l.projections.iter()).map(bytes).sum::<usize>()
			+ bytes(&self.lm_head)
	}

	/// Loads a llama GGUF file, holding its projection weights as `weights` says.
	pub fn load(path: &std::path::Path, device: &Device, weights: Weights) -> Result<Self> {
		let mut file =
			std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
		let content = Content::read(&mut file)?;
		let config = LlamaConfig::from_gguf(&content)?;
		let mut qtensor = |name: &str| -> Result<QTensor> {
			content.tensor(&mut file, name, device).with_context(|| format!("tensor {name}"))
		};
		let embedding = qtensor("token_embd.weight")?;
		let embed = embedding.dequantize(device)?;
		let lm_head = match content.tensor_infos.contains_key("output.weight") {
			true => Linear::new(qtensor("output.weight")?, weights, device)?,
			false => Linear::new(embedding, weights, device)?,
		};
		let mut layers = Vec::with_capacity(config.layers);
		for i in 0..config.layers {
			let mut t = |suffix: &str| qtensor(&format!("blk.{i}.{suffix}.weight"));
			let mut linear =
				|suffix: &str| -> Result<Linear> { Linear::new(t(suffix)?, weights, device) };
			let projections = [
				linear("attn_q")?,
				linear("attn_k")?,
				linear("attn_v")?,
				linear("attn_output")?,
				linear("ffn_gate")?,
				linear("ffn_up")?,
				Linear::new(t("ffn_down")?, weights.for_down_projection(), device)?,
			];
			let attn_norm = qtensor(&format!("blk.{i}.attn_norm.weight"))?.dequantize(device)?;
			let ffn_norm = qtensor(&format!("blk.{i}.ffn_norm.weight"))?.dequantize(device)?;
			layers.push(Layer { attn_norm, ffn_norm, projections });
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
		})
	}

	/// Runs `tokens` through the model after what `cache` holds, appends their keys and values
	/// to it, and returns the logits of the last token.
	pub fn forward(
		&self,
		tokens: &[u32],
		cache: &mut KvCache,
		adapter: Option<&Adapter>,
	) -> Result<Tensor> {
		let c = &self.config;
		let (t, start) = (tokens.len(), cache.length);
		if t == 0 || start + t > c.context_length {
			anyhow::bail!(
				"{t} tokens after {start} do not fit the context of {}",
				c.context_length
			);
		}
		if cache.layers.is_empty() {
			cache.layers = vec![(Vec::new(), Vec::new()); c.layers];
		}
		let ids = Tensor::new(tokens, &self.device)?;
		let mut x = self.embed.index_select(&ids, 0)?;
		let cos = self.cos.narrow(0, start, t)?;
		let sin = self.sin.narrow(0, start, t)?;
		for (index, layer) in self.layers.iter().enumerate() {
			let lora = |module: usize| adapter.and_then(|a| a.layers[index][module].as_ref());
			let p = &layer.projections;
			let h = ops::rms_norm(&x, &layer.attn_norm, c.rms_eps)?;
			let heads = |module: usize, n: usize| -> Result<Tensor> {
				Ok(project(&h, &p[module], lora(module))?
					.reshape((1, t, n, c.head_dim))?
					.transpose(1, 2)?
					.contiguous()?)
			};
			// (t, heads, d) after rotation, as flat arrays.
			let rotated = |module: usize, n: usize| -> Result<Vec<f32>> {
				let x = rotary_emb::rope_i(&heads(module, n)?, &cos, &sin)?;
				Ok(x.transpose(1, 2)?.flatten_all()?.to_vec1::<f32>()?)
			};
			let q = rotated(0, c.heads)?;
			let (keys, values) = &mut cache.layers[index];
			keys.extend(rotated(1, c.kv_heads)?);
			values.extend(heads(2, c.kv_heads)?.transpose(1, 2)?.flatten_all()?.to_vec1::<f32>()?);
			let y = Tensor::from_vec(
				attention(c, &q, keys, values, start),
				(t, c.heads * c.head_dim),
				&self.device,
			)?;
			x = (x + project(&y, &p[3], lora(3))?)?;
			let h = ops::rms_norm(&x, &layer.ffn_norm, c.rms_eps)?;
			let gated = (ops::silu(&project(&h, &p[4], lora(4))?)? * project(&h, &p[5], lora(5))?)?;
			x = (x + project(&gated, &p[6], lora(6))?)?;
		}
		cache.length = start + t;
		let last = ops::rms_norm(&x.narrow(0, t - 1, 1)?, &self.norm, c.rms_eps)?;
		Ok(self.lm_head.forward(&last)?.squeeze(0)?)
	}

	/// A copy of the model with `adapter` merged into its weights, W' = W + (alpha/r)·BA, held
	/// as the model holds its own (re-quantized if quantized).
	pub fn merged(&self, adapter: &Adapter) -> Result<Model> {
		let mut layers = Vec::with_capacity(self.layers.len());
		for (layer, pairs) in self.layers.iter().zip(&adapter.layers) {
			let merge = |module: usize| -> Result<Linear> {
				let w = &layer.projections[module];
				Ok(match &pairs[module] {
					// (A^T B')^T = B' A: the (out, in) update.
					Some(pair) => w.plus(&pair.a.matmul(&pair.b)?.t()?)?,
					None => w.duplicate(),
				})
			};
			layers.push(Layer {
				attn_norm: layer.attn_norm.clone(),
				ffn_norm: layer.ffn_norm.clone(),
				projections: [
					merge(0)?,
					merge(1)?,
					merge(2)?,
					merge(3)?,
					merge(4)?,
					merge(5)?,
					merge(6)?,
				],
			});
		}
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
		let mut logits = self.forward(prompt, &mut cache, adapter)?;
		let mut out = Vec::new();
		for _ in 0..max_tokens {
			let next = logits.argmax(D::Minus1)?.to_scalar::<u32>()?;
			if next == stop {
				break;
			}
			out.push(next);
			logits = self.forward(&[next], &mut cache, adapter)?;
		}
		Ok(out)
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::testing::{max_diff, smollm2_path, tiny_adapter, tiny_model};

	#[test]
	fn smollm2_answers_the_capital_of_france() {
		let path = smollm2_path();
		let content = crate::gguf::read(&path).unwrap();
		let tokenizer = crate::gguf::tokenizer(&content).unwrap();
		let model = Model::load(&path, &Device::Cpu, Weights::Dense).unwrap();
		let prompt = "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by \
		              Hugging Face<|im_end|>\n<|im_start|>user\nWhat is the capital of France?\
		              <|im_end|>\n<|im_start|>assistant\n";
		let ids = tokenizer.encode(prompt, false).unwrap().get_ids().to_vec();
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
		let at_once = model.forward(&prompt, &mut KvCache::default(), None).unwrap();
		let mut cache = KvCache::default();
		let mut logits = None;
		for token in prompt {
			logits = Some(model.forward(&[token], &mut cache, None).unwrap());
		}
		assert_eq!(cache.len(), prompt.len());
		assert!(max_diff(&at_once, &logits.unwrap()) < 1e-4);
	}

	/// Applying an adapter unmerged, y = xW + (alpha/r)(xA)B, gives the logits of the base model
	/// with the update merged into its weights (q and k rows reordered as the GGUF weights are),
	/// at every position of a prompt.
	#[test]
	fn an_unmerged_adapter_equals_its_merged_weights() {
		let model = tiny_model();
		let adapter = tiny_adapter(3, 8);
		let prompt = [5u32, 77, 120, 9, 200, 41, 13, 3];
		let run = |model: &Model, adapter: Option<&Adapter>| {
			let mut cache = KvCache::default();
			prompt
				.iter()
				.map(|&token| model.forward(&[token], &mut cache, adapter).unwrap())
				.collect::<Vec<_>>()
		};
		let base = run(&model, None);
		let unmerged = run(&model, Some(&adapter));
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
