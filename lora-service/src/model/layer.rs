//! A decoder layer (attention, then the gated feed-forward block, each after an RMS norm and
//! added to the residual stream) and what one forward pass shares across its layers: the
//! rows' token counts, the rotary tables at each token's position, and each token's LoRA
//! update.

use anyhow::Result;
use candle_core::{CpuStorage, InplaceOp2, Layout, Tensor};
use candle_nn::ops;

use super::{
	attention::Attention,
	gguf::LlamaConfig,
	linear::Linear,
	lora::{self, Update},
	matmul::with_f32,
	Kernels, Row,
};
use crate::adapters::{Adapter, AdapterStack};

/// A layer's projections, in the order adapters name them (`adapters::MODULES`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Module {
	Q = 0,
	K = 1,
	V = 2,
	O = 3,
	Gate = 4,
	Up = 5,
	Down = 6,
}

/// The gated feed-forward block: down(silu(gate(x)) · up(x)).
pub(crate) struct Mlp {
	pub(crate) gate: Linear,
	pub(crate) up: Linear,
	pub(crate) down: Linear,
}

impl Mlp {
	fn forward(&self, h: &Tensor, layer: usize, pass: &Pass<'_>) -> Result<Tensor> {
		let gate = ops::silu(&pass.project(h, &self.gate, layer, Module::Gate)?)?;
		let gated = (gate * pass.project(h, &self.up, layer, Module::Up)?)?;
		pass.project(&gated, &self.down, layer, Module::Down)
	}
}

/// One decoder layer.
pub(crate) struct DecoderLayer {
	pub(crate) attn_norm: Tensor,
	pub(crate) attention: Attention,
	pub(crate) ffn_norm: Tensor,
	pub(crate) mlp: Mlp,
}

impl DecoderLayer {
	/// The residual stream `x` (tokens, hidden) after this layer, layer number `layer`.
	pub(crate) fn forward(
		&self,
		config: &LlamaConfig,
		x: &Tensor,
		layer: usize,
		pass: &Pass<'_>,
		rows: &mut [Row<'_>],
	) -> Result<Tensor> {
		let h = ops::rms_norm(x, &self.attn_norm, config.rms_eps)?;
		let x = (x + self.attention.forward(config, &h, layer, pass, rows)?)?;
		let h = ops::rms_norm(&x, &self.ffn_norm, config.rms_eps)?;
		Ok((&x + self.mlp.forward(&h, layer, pass)?)?)
	}

	/// The projections, in [`Module`] order.
	pub(crate) fn projections(&self) -> [&Linear; 7] {
		let (a, m) = (&self.attention, &self.mlp);
		[&a.q, &a.k, &a.v, &a.o, &m.gate, &m.up, &m.down]
	}

	/// The same layer with each projection replaced by `f(module, projection)`.
	pub(crate) fn map(
		&self,
		mut f: impl FnMut(usize, &Linear) -> Result<Linear>,
	) -> Result<DecoderLayer> {
		let p = self.projections();
		Ok(DecoderLayer {
			attn_norm: self.attn_norm.clone(),
			attention: Attention { q: f(0, p[0])?, k: f(1, p[1])?, v: f(2, p[2])?, o: f(3, p[3])? },
			ffn_norm: self.ffn_norm.clone(),
			mlp: Mlp { gate: f(4, p[4])?, up: f(5, p[5])?, down: f(6, p[6])? },
		})
	}
}

/// What every layer of one forward pass shares.
pub(crate) struct Pass<'a> {
	/// Each row's number of tokens; the rows' tokens follow one another in the pass.
	pub(crate) lengths: Vec<usize>,
	/// The rotary tables at each token's position, (tokens, 1, head_dim / 2).
	pub(crate) cos: Tensor,
	pub(crate) sin: Tensor,
	pub(crate) lora: TokenLora<'a>,
	pub(crate) kernels: Kernels,
	/// On the tensor path, each row's causal mask (tokens, positions held after them) on the
	/// model's device, when the row has several tokens; empty on this crate's kernels.
	pub(crate) masks: Vec<Option<Tensor>>,
}

/// On the tensor path, which tokens of a pass have an adapter, and where their A and B are:
/// the tokens of one-token rows (decoding) gathered with their slots, the rows of several
/// tokens (prompts) each multiplied by its slot's matrices, and every such token's index in the
/// pass in the order their updates come (the single tokens', then each row's).
pub(crate) struct Gather {
	pub(crate) singles: Option<(Tensor, Tensor)>,
	/// (first token, tokens, slot) of each row of several tokens.
	pub(crate) runs: Vec<(usize, usize, usize)>,
	pub(crate) tokens: Tensor,
}

/// Each token's LoRA update.
pub(crate) enum TokenLora<'a> {
	None,
	/// One adapter for every token, applied with its own matrices.
	Adapter(&'a Adapter),
	/// Token i's adapter from slot `slots[i]` of the stack, of rank `ranks[i]`.
	Stack {
		stack: &'a AdapterStack,
		slots: Vec<Option<usize>>,
		ranks: Vec<usize>,
		/// On the tensor path, the tokens that have an adapter (None: no token has one, or
		/// this crate's kernels).
		gather: Option<Gather>,
	},
}

impl Pass<'_> {
	/// x W^T for the projection `module` of layer `layer`, plus each token's update: on this
	/// crate's kernels each token's row computed alone (`lora`), added in place to the
	/// product's own storage; on the tensor path as tensors on the model's device.
	pub(crate) fn project(
		&self,
		x: &Tensor,
		w: &Linear,
		layer: usize,
		module: Module,
	) -> Result<Tensor> {
		match self.kernels {
			Kernels::Host => self.lora.project(x, w, layer, module),
			Kernels::Tensors => self.lora.project_tensors(x, w, layer, module),
		}
	}
}

impl TokenLora<'_> {
	/// The tensor path's [`Pass::project`]: x W^T plus (x A) B for every token with an adapter:
	/// decoding tokens' A and B gathered from the stack's slots (BGMV as batched matmuls), a
	/// prompt's tokens multiplied by their slot's matrices together, and the updates added to
	/// their tokens' rows at once.
	fn project_tensors(
		&self,
		x: &Tensor,
		w: &Linear,
		layer: usize,
		module: Module,
	) -> Result<Tensor> {
		let y = w.forward(x)?;
		let module = module as usize;
		Ok(match self {
			Self::None => y,
			Self::Adapter(adapter) => match &adapter.layers[layer][module] {
				Some(pair) => {
					let (a, b) = (pair.a.to_device(y.device())?, pair.b.to_device(y.device())?);
					(y + x.matmul(&a)?.matmul(&b)?)?
				}
				None => y,
			},
			Self::Stack { stack, gather: Some(gather), .. } => match stack.tensors(layer, module) {
				Some((a, b)) => {
					let mut updates = Vec::with_capacity(1 + gather.runs.len());
					if let Some((tokens, slots)) = &gather.singles {
						let xs = x.index_select(tokens, 0)?.unsqueeze(1)?;
						let (a, b) = (a.index_select(slots, 0)?, b.index_select(slots, 0)?);
						updates.push(xs.matmul(&a)?.matmul(&b)?.squeeze(1)?);
					}
					for &(first, t, slot) in &gather.runs {
						let xs = x.narrow(0, first, t)?;
						updates.push(xs.matmul(&a.get(slot)?)?.matmul(&b.get(slot)?)?);
					}
					y.index_add(&gather.tokens, &Tensor::cat(&updates, 0)?, 0)?
				}
				None => y,
			},
			Self::Stack { gather: None, .. } => y,
		})
	}

	/// This crate's kernels' [`Pass::project`].
	fn project(&self, x: &Tensor, w: &Linear, layer: usize, module: Module) -> Result<Tensor> {
		let y = w.forward(x)?;
		let module = module as usize;
		match self {
			Self::None => {}
			Self::Adapter(adapter) => {
				if let Some(pair) = &adapter.layers[layer][module] {
					let rank = pair.a.dim(1)?;
					with_f32(&pair.a, |a| {
						with_f32(&pair.b, |b| {
							let update = Update { a, stride: rank, b, rank };
							y.inplace_op2(x, &AddUpdates(|_| Some(update)))
						})
					})???;
				}
			}
			Self::Stack { stack, slots, ranks, .. } => {
				if slots.iter().any(Option::is_some) {
					y.inplace_op2(
						x,
						&AddUpdates(|t| {
							let update = stack.update(layer, module, slots[t]?)?;
							Some(Update { rank: update.rank.min(ranks[t]), ..update })
						}),
					)?;
				}
			}
		}
		Ok(y)
	}
}

/// Adds token t's update to row t of a projection's output (tokens, out), in place, from row
/// t of its input (tokens, in): `lora::add_per_token` on the tensors' own storage.
struct AddUpdates<F>(F);

impl<'a, F: Fn(usize) -> Option<Update<'a>> + Sync> InplaceOp2 for AddUpdates<F> {
	fn name(&self) -> &'static str {
		"lora-updates"
	}

	fn cpu_fwd(
		&self,
		y: &mut CpuStorage,
		y_layout: &Layout,
		x: &CpuStorage,
		x_layout: &Layout,
	) -> candle_core::Result<()> {
		let (CpuStorage::F32(y), CpuStorage::F32(x)) = (y, x) else {
			candle_core::bail!("LoRA updates of f32 tensors only");
		};
		let (Some((y_start, y_end)), Some((x_start, x_end))) =
			(y_layout.contiguous_offsets(), x_layout.contiguous_offsets())
		else {
			candle_core::bail!("LoRA updates of contiguous tensors only");
		};
		let tokens = y_layout.dims().first().copied().unwrap_or(0);
		if x_layout.dims().first() != Some(&tokens) {
			candle_core::bail!(
				"an input of {:?} for an output of {:?}",
				x_layout.dims(),
				y_layout.dims()
			);
		}
		lora::add_per_token(&x[x_start..x_end], &mut y[y_start..y_end], tokens, &self.0)
			.map_err(|e| candle_core::Error::Msg(e.to_string()))
	}
}
