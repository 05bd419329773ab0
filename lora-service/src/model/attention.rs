//! Attention with a key-value cache per sequence: the query, key, value and output
//! projections, rotary position embeddings at each token's own position, and causal
//! attention of each row's tokens over its cache: on this crate's kernels a loop over each
//! (row, head) on the caches' own arrays, on the tensor path two batched matmuls a row over
//! caches held as tensors on the model's device.

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};
use candle_nn::{ops, rotary_emb};
use rayon::prelude::*;

/// Below this many multiply-adds attention runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 15;

use super::{
	gguf::LlamaConfig,
	layer::{Module, Pass},
	linear::Linear,
	matmul::with_f32,
	Kernels, Row,
};

/// One sequence's keys and values, per layer: as flat arrays of (position, kv head, dim) for
/// this crate's kernels, where appending a token appends its keys and values and nothing else
/// moves; on the tensor path as tensors of (kv head, capacity, dim) on the model's device,
/// written in place, so that a head's positions are one matrix that attention reads where it
/// lies.
#[derive(Default)]
pub struct KvCache {
	pub(crate) layers: Vec<(Vec<f32>, Vec<f32>)>,
	/// The tensor path's keys and values per layer; their first `length` positions hold the
	/// sequence.
	pub(crate) tensors: Vec<(Tensor, Tensor)>,
	pub(crate) length: usize,
}

impl KvCache {
	/// An empty cache with room for `positions` (at most the context) in every layer, so that
	/// it never grows while its sequence decodes.
	pub fn reserved(config: &LlamaConfig, positions: usize) -> Self {
		let values = positions.min(config.context_length) * config.kv_heads * config.head_dim;
		let layer = || (Vec::with_capacity(values), Vec::with_capacity(values));
		Self { layers: (0..config.layers).map(|_| layer()).collect(), ..Self::default() }
	}

	/// An empty cache on `device` with room for `positions` (at most the context) in every
	/// layer, for the tensor path.
	pub fn on_device(config: &LlamaConfig, positions: usize, device: &Device) -> Result<Self> {
		let mut cache = Self::default();
		cache.fit(config, positions.min(config.context_length).max(1), device)?;
		Ok(cache)
	}

	/// Positions the tensor path's cache has room for.
	fn capacity(&self) -> usize {
		self.tensors.first().map_or(0, |(keys, _)| keys.dims().get(1).copied().unwrap_or(0))
	}

	/// Makes room on `device` for `positions` positions, the positions held copied over. A
	/// cache that grows at least doubles, but not past the context (unless `positions` does:
	/// the forward pass refuses that itself).
	pub(crate) fn fit(
		&mut self,
		config: &LlamaConfig,
		positions: usize,
		device: &Device,
	) -> Result<()> {
		if self.tensors.is_empty() && self.length > 0 {
			bail!("this cache was filled by the CPU kernels, not the tensor path");
		}
		let held = self.capacity();
		if positions <= held {
			return Ok(());
		}
		let capacity = (2 * held).clamp(positions, config.context_length.max(positions));
		let shape = (config.kv_heads, capacity, config.head_dim);
		let mut grown = Vec::with_capacity(config.layers);
		for layer in 0..config.layers {
			let keys = Tensor::zeros(shape, DType::F32, device)?;
			let values = Tensor::zeros(shape, DType::F32, device)?;
			if let (Some((old_keys, old_values)), true) = (self.tensors.get(layer), self.length > 0)
			{
				keys.slice_set(&old_keys.narrow(1, 0, self.length)?.contiguous()?, 1, 0)?;
				values.slice_set(&old_values.narrow(1, 0, self.length)?.contiguous()?, 1, 0)?;
			}
			grown.push((keys, values));
		}
		self.tensors = grown;
		Ok(())
	}

	/// How many positions the cache holds.
	pub fn len(&self) -> usize {
		self.length
	}

	pub fn is_empty(&self) -> bool {
		self.length == 0
	}

	/// Back to its first `length` positions, `kv_row` values a position in each layer's keys
	/// and values: what a forward pass that failed part-way had appended is gone (on the tensor
	/// path it lies past `length`, where the next pass overwrites it).
	pub fn truncate(&mut self, length: usize, kv_row: usize) {
		for (keys, values) in &mut self.layers {
			keys.truncate(length * kv_row);
			values.truncate(length * kv_row);
		}
		self.length = self.length.min(length);
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

/// Causal attention of query head `h` of `q` (t, heads, d) at positions `start..start + t` over
/// `keys` and `values` (start + t, kv heads, d), the query heads that share a key-value head
/// reading the same rows. Returns (t, d). Each token's output is computed alone, over the
/// positions it sees in order, so it does not depend on how many tokens come with it.
pub(crate) fn attention_head(
	config: &LlamaConfig,
	q: &[f32],
	keys: &[f32],
	values: &[f32],
	start: usize,
	h: usize,
) -> Vec<f32> {
	let (heads, kv, d) = (config.heads, config.kv_heads, config.head_dim);
	let g = h / (heads / kv);
	let t = q.len() / (heads * d);
	let scale = 1.0 / (d as f32).sqrt();
	let mut out = vec![0f32; t * d];
	let mut scores = vec![0f32; start + t];
	for i in 0..t {
		let visible = start + i + 1;
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
		let row = &mut out[i * d..][..d];
		for (j, score) in scores[..visible].iter().enumerate() {
			let p = score / total;
			for (o, v) in row.iter_mut().zip(&values[(j * kv + g) * d..][..d]) {
				*o += p * v;
			}
		}
	}
	out
}

/// Self-attention's projections.
pub(crate) struct Attention {
	pub(crate) q: Linear,
	pub(crate) k: Linear,
	pub(crate) v: Linear,
	pub(crate) o: Linear,
}

impl Attention {
	/// Attention of every row's tokens in `h` (tokens, hidden), in row order, over its cache
	/// after appending their keys and values to it at layer `layer`.
	pub(crate) fn forward(
		&self,
		config: &LlamaConfig,
		h: &Tensor,
		layer: usize,
		pass: &Pass<'_>,
		rows: &mut [Row<'_>],
	) -> Result<Tensor> {
		let (n, d) = (h.dim(0)?, config.head_dim);
		// (tokens, heads, 1, d): each token its own position, rotated with its own angles.
		let heads = |module: Module, w: &Linear, count: usize| -> Result<Tensor> {
			Ok(pass.project(h, w, layer, module)?.reshape((n, count, 1, d))?)
		};
		let rotated = |x: Tensor| rotary_emb::rope_i(&x, &pass.cos, &pass.sin);
		let q = rotated(heads(Module::Q, &self.q, config.heads)?)?;
		let k = rotated(heads(Module::K, &self.k, config.kv_heads)?)?;
		let v = heads(Module::V, &self.v, config.kv_heads)?;
		if pass.kernels == Kernels::Tensors {
			let y = attend_tensors(config, &q, &k, &v, layer, pass, rows)?;
			return pass.project(&y, &self.o, layer, Module::O);
		}
		let (q_row, kv_row) = (config.heads * d, config.kv_heads * d);
		// Each row's keys and values join its cache, read where the projections left them.
		let mut seen = Vec::with_capacity(rows.len());
		with_f32(&k, |k| {
			with_f32(&v, |v| {
				let mut first = 0;
				for (row, &t) in rows.iter_mut().zip(&pass.lengths) {
					let start = row.cache.length;
					let (keys, values) = &mut row.cache.layers[layer];
					keys.extend_from_slice(&k[first * kv_row..(first + t) * kv_row]);
					values.extend_from_slice(&v[first * kv_row..(first + t) * kv_row]);
					seen.push((first, t, start));
					first += t;
				}
			})
		})??;
		// Then every (row, head) is attended to on whichever core is free.
		let units: Vec<(usize, usize)> =
			(0..rows.len()).flat_map(|r| (0..config.heads).map(move |h| (r, h))).collect();
		let rows = &*rows;
		let work: usize = seen.iter().map(|&(_, t, start)| t * (start + t)).sum::<usize>() * q_row;
		let heads: Vec<Vec<f32>> = with_f32(&q, |q| {
			let head = |&(r, h): &(usize, usize)| {
				let (first, t, start) = seen[r];
				let (keys, values) = &rows[r].cache.layers[layer];
				let q = &q[first * q_row..(first + t) * q_row];
				attention_head(config, q, keys, values, start, h)
			};
			match work < PARALLEL_MIN {
				true => units.iter().map(head).collect(),
				false => units.par_iter().map(head).collect(),
			}
		})?;
		let mut y = vec![0f32; n * q_row];
		for (&(r, h), out) in units.iter().zip(&heads) {
			let (first, t, _) = seen[r];
			for i in 0..t {
				y[(first + i) * q_row + h * d..][..d].copy_from_slice(&out[i * d..][..d]);
			}
		}
		let y = Tensor::from_vec(y, (n, q_row), h.device())?;
		pass.project(&y, &self.o, layer, Module::O)
	}
}

/// The tensor path's attention of every row's tokens, rotated queries `q` (tokens, heads, 1, d)
/// and keys `k` and values `v` (tokens, kv heads, 1, d), over its cache after writing their
/// keys and values into it at layer `layer`. For each row and key-value head, the queries of
/// the heads that share it, all the row's tokens, are one matrix: scores = Q Kᵀ / √d over the
/// positions held (the row's causal mask, `Pass::masks`, when it has several tokens), softmax,
/// times V, as two batched matmuls over the key-value heads that read the cache where it lies.
/// Returns (tokens, heads · d).
fn attend_tensors(
	config: &LlamaConfig,
	q: &Tensor,
	k: &Tensor,
	v: &Tensor,
	layer: usize,
	pass: &Pass<'_>,
	rows: &mut [Row<'_>],
) -> Result<Tensor> {
	let (heads, kv, d) = (config.heads, config.kv_heads, config.head_dim);
	let group = heads / kv;
	let scale = 1.0 / (d as f64).sqrt();
	let mut outputs = Vec::with_capacity(rows.len());
	let mut first = 0;
	for ((row, &t), mask) in rows.iter_mut().zip(&pass.lengths).zip(&pass.masks) {
		let start = row.cache.length;
		let seen = start + t;
		let Some((keys, values)) = row.cache.tensors.get(layer) else {
			bail!("a row's cache has no room on the device at layer {layer}");
		};
		// The row's (t, kv, 1, d) keys and values as (kv, t, d), at its next positions.
		let write = |cache: &Tensor, x: &Tensor| -> Result<()> {
			let x = x.narrow(0, first, t)?.reshape((t, kv, d))?.transpose(0, 1)?.contiguous()?;
			Ok(cache.slice_set(&x, 1, start)?)
		};
		write(keys, k)?;
		write(values, v)?;
		// Query head h reads key-value head h / group: (kv, group · t, d).
		let query = q.narrow(0, first, t)?.reshape((t, kv, group, d))?;
		let query = query.permute((1, 2, 0, 3))?.reshape((kv, group * t, d))?;
		let scores = (query.matmul(&keys.narrow(1, 0, seen)?.t()?)? * scale)?;
		let scores = match mask {
			Some(mask) => scores.reshape((kv, group, t, seen))?.broadcast_add(mask)?.reshape((
				kv,
				group * t,
				seen,
			))?,
			None => scores,
		};
		let probs = ops::softmax_last_dim(&scores)?;
		let out = probs.matmul(&values.narrow(1, 0, seen)?)?.reshape((kv, group, t, d))?;
		outputs.push(out.permute((2, 0, 1, 3))?.reshape((t, heads * d))?);
		first += t;
	}
	Ok(Tensor::cat(&outputs, 0)?)
}
