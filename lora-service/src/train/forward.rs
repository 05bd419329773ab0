//! The base model's forward pass written with candle's differentiable tensor operations, for
//! training: the same arithmetic as `model` (RMS norms, interleaved rotary embeddings on the
//! GGUF's q and k row order, grouped-query causal attention, the gated feed-forward block),
//! over a batch of padded sequences, with every adapted projection's low-rank update taken
//! from trainable variables. The base weights are frozen f32 tensors: backpropagation computes
//! gradients for the LoRA variables only.

use anyhow::{bail, Result};
use candle_core::{CpuStorage, CustomOp1, Device, Layout, Shape, Storage, Tensor, Var, D};

use crate::model::{LlamaConfig, Model};

/// The base model's weights as plain f32 tensors.
pub(crate) struct Frozen {
	pub(crate) config: LlamaConfig,
	embed: Tensor,
	/// Per layer: attention norm, feed-forward norm, and the seven projections (out, in).
	layers: Vec<(Tensor, Tensor, [Tensor; 7])>,
	norm: Tensor,
	lm_head: Tensor,
	cos: Tensor,
	sin: Tensor,
	device: Device,
}

impl Frozen {
	/// The model's weights, dequantized once where the model holds them quantized, in host
	/// memory: training runs on the CPU wherever the model serves.
	pub(crate) fn of(model: &Model) -> Result<Self> {
		let host = |t: Tensor| t.to_device(&Device::Cpu);
		let layers = model
			.layers
			.iter()
			.map(|layer| {
				let p = layer.projections();
				let mut dense = Vec::with_capacity(7);
				for linear in p {
					dense.push(host(linear.dense()?)?.detach());
				}
				let dense: [Tensor; 7] =
					dense.try_into().map_err(|_| anyhow::anyhow!("seven projections"))?;
				Ok((host(layer.attn_norm.clone())?, host(layer.ffn_norm.clone())?, dense))
			})
			.collect::<Result<_>>()?;
		Ok(Self {
			config: model.config.clone(),
			embed: host(model.embed.clone())?,
			layers,
			norm: host(model.norm.clone())?,
			lm_head: host(model.lm_head.dense()?)?.detach(),
			cos: host(model.cos.clone())?,
			sin: host(model.sin.clone())?,
			device: Device::Cpu,
		})
	}

	pub(crate) fn device(&self) -> &Device {
		&self.device
	}
}

/// One projection's trainable update: `a` is A^T (in, r), `b` is B^T (r, out) with its columns
/// in the GGUF's row order, and the update is scale · (x a) b.
pub(crate) struct Pair {
	pub(crate) a: Var,
	pub(crate) b: Var,
}

/// The trainable adapter: per layer, per module (in `adapters::MODULES` order), a pair if the
/// module is adapted.
pub(crate) struct LoraVars {
	pub(crate) layers: Vec<[Option<Pair>; 7]>,
	pub(crate) scale: f64,
}

impl LoraVars {
	/// Every variable, in a fixed order (layer, module, a before b).
	pub(crate) fn vars(&self) -> Vec<&Var> {
		self.layers.iter().flatten().flatten().flat_map(|pair| [&pair.a, &pair.b]).collect()
	}
}

/// x W^T with W frozen: backpropagation gives x its gradient, grad W, and computes none for
/// W (candle's matmul would compute both halves, doubling the work of every projection).
struct FrozenMatmul {
	/// (out, in).
	w: Tensor,
}

impl CustomOp1 for FrozenMatmul {
	fn name(&self) -> &'static str {
		"frozen-matmul"
	}

	fn cpu_fwd(
		&self,
		storage: &CpuStorage,
		layout: &Layout,
	) -> candle_core::Result<(CpuStorage, Shape)> {
		let Some((start, end)) = layout.contiguous_offsets() else {
			candle_core::bail!("frozen-matmul takes a contiguous input");
		};
		let x = Tensor::from_slice(
			&storage.as_slice::<f32>()?[start..end],
			layout.shape(),
			&Device::Cpu,
		)?;
		let y = x.matmul(&self.w.t()?)?;
		let (storage, _) = y.storage_and_layout();
		match &*storage {
			Storage::Cpu(cpu) => Ok((cpu.clone(), y.shape().clone())),
			_ => candle_core::bail!("frozen-matmul runs on the CPU"),
		}
	}

	fn bwd(&self, _x: &Tensor, _y: &Tensor, grad: &Tensor) -> candle_core::Result<Option<Tensor>> {
		Ok(Some(grad.matmul(&self.w)?))
	}
}

/// x (n, in) W^T for a frozen W (out, in).
fn frozen_matmul(x: &Tensor, w: &Tensor) -> Result<Tensor> {
	Ok(x.contiguous()?.apply_op1(FrozenMatmul { w: w.clone() })?)
}

fn rms_norm(x: &Tensor, weight: &Tensor, eps: f32) -> Result<Tensor> {
	let mean = x.sqr()?.mean_keepdim(D::Minus1)?;
	let normed = x.broadcast_div(&(mean + f64::from(eps))?.sqrt()?)?;
	Ok(normed.broadcast_mul(weight)?)
}

/// Rotary embeddings on adjacent pairs (the GGUF's q and k row order, as `rope_i`): x is
/// (batch, heads, t, d), cos and sin (t, d / 2).
fn rope_interleaved(x: &Tensor, cos: &Tensor, sin: &Tensor) -> Result<Tensor> {
	let (b, h, t, d) = x.dims4()?;
	let pairs = x.reshape((b, h, t, d / 2, 2))?;
	let (x0, x1) = (pairs.narrow(4, 0, 1)?, pairs.narrow(4, 1, 1)?);
	let cos = cos.reshape((t, d / 2, 1))?;
	let sin = sin.reshape((t, d / 2, 1))?;
	let out0 = (x0.broadcast_mul(&cos)? - x1.broadcast_mul(&sin)?)?;
	let out1 = (x0.broadcast_mul(&sin)? + x1.broadcast_mul(&cos)?)?;
	Ok(Tensor::cat(&[out0, out1], 4)?.reshape((b, h, t, d))?)
}

impl Frozen {
	/// x (n, in) through projection `module` of layer `layer`, plus the adapter's update.
	fn project(&self, x: &Tensor, layer: usize, module: usize, lora: &LoraVars) -> Result<Tensor> {
		let y = frozen_matmul(x, &self.layers[layer].2[module])?;
		match &lora.layers[layer][module] {
			Some(pair) => {
				let update = x.matmul(pair.a.as_tensor())?.matmul(pair.b.as_tensor())?;
				Ok((y + (update * lora.scale)?)?)
			}
			None => Ok(y),
		}
	}

	/// The logits at every position of `ids` (batch, t), (batch · t, vocab).
	#[cfg(test)]
	pub(crate) fn logits(&self, ids: &Tensor, lora: &LoraVars) -> Result<Tensor> {
		let x = rms_norm(&self.hidden(ids, lora)?, &self.norm, self.config.rms_eps)?;
		Ok(x.matmul(&self.lm_head.t()?)?)
	}

	/// The summed cross-entropy of predicting `targets[k]` at flat position `positions[k]`
	/// (row · t + column) of `ids` (batch, t), as a scalar tensor. The output layer runs at
	/// those positions only.
	pub(crate) fn loss_sum(
		&self,
		ids: &Tensor,
		positions: &Tensor,
		targets: &Tensor,
		lora: &LoraVars,
	) -> Result<Tensor> {
		let x = self.hidden(ids, lora)?.index_select(positions, 0)?;
		let logits = frozen_matmul(&rms_norm(&x, &self.norm, self.config.rms_eps)?, &self.lm_head)?;
		let log_p = candle_nn::ops::log_softmax(&logits, D::Minus1)?;
		Ok(log_p.gather(&targets.unsqueeze(1)?, 1)?.sum_all()?.neg()?)
	}

	/// The residual stream after the last layer at every position of `ids` (batch, t),
	/// (batch · t, hidden). Every sequence starts at position 0; a padded sequence's padding
	/// comes after its tokens, which causal attention keeps them from seeing.
	fn hidden(&self, ids: &Tensor, lora: &LoraVars) -> Result<Tensor> {
		let c = &self.config;
		let (batch, t) = ids.dims2()?;
		if t > c.context_length {
			bail!("{t} tokens do not fit the context of {}", c.context_length);
		}
		let (heads, kv, d) = (c.heads, c.kv_heads, c.head_dim);
		let groups = heads / kv;
		let n = batch * t;
		let cos = self.cos.narrow(0, 0, t)?;
		let sin = self.sin.narrow(0, 0, t)?;
		let mask: Vec<f32> = (0..t)
			.flat_map(|i| (0..t).map(move |j| if j <= i { 0.0 } else { f32::NEG_INFINITY }))
			.collect();
		let mask = Tensor::from_vec(mask, (t, t), &self.device)?;
		let scale = 1.0 / (d as f64).sqrt();
		let mut x = self.embed.index_select(&ids.flatten_all()?, 0)?;
		for (index, (attn_norm, ffn_norm, _)) in self.layers.iter().enumerate() {
			let h = rms_norm(&x, attn_norm, c.rms_eps)?;
			let split = |y: Tensor, count: usize| -> Result<Tensor> {
				Ok(y.reshape((batch, t, count, d))?.transpose(1, 2)?.contiguous()?)
			};
			let q = split(self.project(&h, index, 0, lora)?, heads)?;
			let k = split(self.project(&h, index, 1, lora)?, kv)?;
			let v = split(self.project(&h, index, 2, lora)?, kv)?;
			let q = rope_interleaved(&q, &cos, &sin)?;
			let k = rope_interleaved(&k, &cos, &sin)?;
			// Each key-value head serves `groups` query heads in a row.
			let widen = |x: Tensor| -> Result<Tensor> {
				Ok(x.unsqueeze(2)?
					.broadcast_as((batch, kv, groups, t, d))?
					.contiguous()?
					.reshape((batch, heads, t, d))?)
			};
			let (k, v) = (widen(k)?, widen(v)?);
			let scores = (q.matmul(&k.t()?.contiguous()?)? * scale)?.broadcast_add(&mask)?;
			let weights = candle_nn::ops::softmax(&scores, D::Minus1)?;
			let y = weights.matmul(&v)?.transpose(1, 2)?.contiguous()?.reshape((n, heads * d))?;
			x = (x + self.project(&y, index, 3, lora)?)?;
			let h = rms_norm(&x, ffn_norm, c.rms_eps)?;
			let gate = self.project(&h, index, 4, lora)?.silu()?;
			let up = self.project(&h, index, 5, lora)?;
			x = (&x + self.project(&(gate * up)?, index, 6, lora)?)?;
		}
		Ok(x)
	}
}
