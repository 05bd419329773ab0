//! Dense f32 matrix multiplication whose every output is computed the same way whatever else is
//! in the batch, reading the weights once per batch on every core.
//!
//! y = x W^T for x (rows, k) and W (out, k). The weights are packed once, at load, into panels
//! of [`LANES`] output columns: panel p holds, for each of the k inputs, the weights of outputs
//! 16p..16p+16 side by side. A micro-kernel keeps up to [`ROWS`] rows × two panels of
//! accumulators in registers and walks k once, so each weight it loads serves every row of the
//! tile, and the rows of a batch share one pass over the weights. The cores split the panels
//! between them (each panel is read by one core, for all rows).
//!
//! Batch invariance: y[r][o] is `fma(x[r][k-1], W[o][k-1], … fma(x[r][0], W[o][0], 0.0))`, a
//! sequential sum over k in one order, whichever tile, panel pair or thread computes it and
//! however many rows come with it. So a row's output does not depend on the batch's size or
//! composition, nor on whether a prompt is prefilled at once, in chunks, or token by token —
//! unlike a BLAS, whose blocking and reduction order change with the shape.
//!
//! The sum is a fused multiply-add where the CPU has one at compile time (the service is built
//! with `-C target-cpu=native`, `.cargo/config.toml`), else a multiply then an add: the same
//! binary gives the same bits on every run; different CPUs may differ in the last bits.

use std::sync::Arc;

use anyhow::{bail, Result};
use candle_core::{quantized::GgmlDType, Storage, Tensor};
use rayon::prelude::*;

/// Calls `f` with the elements of an f32 tensor on the CPU, borrowed where they lie
/// contiguously in its storage, copied otherwise.
pub(crate) fn with_f32<T>(t: &Tensor, f: impl FnOnce(&[f32]) -> T) -> Result<T> {
	{
		let (storage, layout) = t.storage_and_layout();
		if let (Storage::Cpu(cpu), Some((start, end))) = (&*storage, layout.contiguous_offsets()) {
			return Ok(f(&cpu.as_slice::<f32>()?[start..end]));
		}
	}
	let copy = t.flatten_all()?.to_vec1::<f32>()?;
	Ok(f(&copy))
}

/// Output columns per panel (one AVX-512 register of f32, two AVX2 ones).
pub(crate) const LANES: usize = 16;
/// Rows per micro-kernel tile: 6 rows × 2 panels are 12 vector accumulators.
const ROWS: usize = 6;
/// Up to this many rows, a block format is decoded into registers per tile of rows
/// (`Packed::fused_panel`); above, once into memory for all rows (`Packed::block_pair`).
const FUSED_ROWS: usize = 4;
/// Below this many multiply-adds a product runs on the calling thread.
const PARALLEL_MIN: usize = 1 << 16;

/// a·b + c, fused where the CPU has a fused multiply-add at compile time.
#[inline(always)]
pub(crate) fn fma(a: f32, b: f32, c: f32) -> f32 {
	#[cfg(target_feature = "fma")]
	{
		a.mul_add(b, c)
	}
	#[cfg(not(target_feature = "fma"))]
	{
		a * b + c
	}
}

/// Inputs per block of a GGUF block format.
const BLOCK: usize = 32;

/// The GGUF block formats held as they are and decoded in the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
	/// w = (q − 8)·d, q of 4 bits.
	Q4_0,
	/// w = q·d + m, q of 4 bits.
	Q4_1,
	/// w = q·d, q a signed byte.
	Q8_0,
}

impl Format {
	pub(crate) fn of(dtype: GgmlDType) -> Option<Self> {
		match dtype {
			GgmlDType::Q4_0 => Some(Self::Q4_0),
			GgmlDType::Q4_1 => Some(Self::Q4_1),
			GgmlDType::Q8_0 => Some(Self::Q8_0),
			_ => None,
		}
	}

	/// Bytes of one GGUF block.
	fn block_bytes(self) -> usize {
		match self {
			Self::Q4_0 => 18,
			Self::Q4_1 => 20,
			Self::Q8_0 => 34,
		}
	}

	/// Code bytes of one block of one output: two 4-bit codes a byte, or one byte.
	fn codes(self) -> usize {
		match self {
			Self::Q4_0 | Self::Q4_1 => BLOCK / 2,
			Self::Q8_0 => BLOCK,
		}
	}
}

/// IEEE half precision to single (exact).
fn f16_to_f32(bits: u16) -> f32 {
	let sign = u32::from(bits >> 15) << 31;
	let exponent = u32::from((bits >> 10) & 0x1f);
	let mantissa = u32::from(bits & 0x3ff);
	let magnitude = match (exponent, mantissa) {
		(0, 0) => 0,
		// Subnormal: mantissa · 2^-24, exact in f32.
		(0, m) => (m as f32 * f32::from_bits(0x3380_0000)).to_bits(),
		(0x1f, m) => 0x7f80_0000 | (m << 13),
		(e, m) => ((e + 112) << 23) | (m << 13),
	};
	f32::from_bits(sign | magnitude)
}

/// One block of one panel: its format, LANES scales, LANES offsets, and code rows.
type Block<'a> = (Format, &'a [f32; LANES], &'a [f32; LANES], &'a [u8]);

/// The packed weights: f32, or a GGUF block format's scales, offsets and codes.
#[derive(Clone)]
enum Panels {
	/// Panel p's element (i, lane) at `(p * k + i) * LANES + lane`.
	F32(Arc<[f32]>),
	/// Per panel and block (p * blocks + b): LANES scales, LANES offsets (Q4_1; zeros
	/// otherwise), and the codes, `format.codes()` rows of LANES bytes (row j of a 4-bit
	/// format holds inputs j and j + 16 in its low and high nibbles).
	Blocks { format: Format, scales: Arc<[f32]>, offsets: Arc<[f32]>, codes: Arc<[u8]> },
}

/// Weights (out, k) packed in panels of [`LANES`] outputs (the last zero-padded), shared by
/// copies of the model (such as one with an adapter merged into other projections).
#[derive(Clone)]
pub(crate) struct Packed {
	out: usize,
	k: usize,
	panels: Panels,
}

impl Packed {
	/// Packs row-major f32 weights (out, k).
	pub(crate) fn new(w: &[f32], out: usize, k: usize) -> Self {
		assert_eq!(w.len(), out * k, "weights of ({out}, {k})");
		let count = out.div_ceil(LANES);
		let mut panels = vec![0f32; count * k * LANES];
		for (o, row) in w.chunks_exact(k.max(1)).enumerate().take(out) {
			let (p, lane) = (o / LANES, o % LANES);
			for (i, &value) in row.iter().enumerate() {
				panels[(p * k + i) * LANES + lane] = value;
			}
		}
		Self { out, k, panels: Panels::F32(panels.into()) }
	}

	/// Packs a GGUF tensor (out, k) of `format` from its raw blocks, without decoding it.
	pub(crate) fn blocks(format: Format, data: &[u8], out: usize, k: usize) -> Result<Self> {
		if !k.is_multiple_of(BLOCK) || data.len() != out * k / BLOCK * format.block_bytes() {
			bail!("{} bytes are not ({out}, {k}) of {format:?}", data.len());
		}
		let (blocks, count, codes) = (k / BLOCK, out.div_ceil(LANES), format.codes());
		let mut scales = vec![0f32; count * blocks * LANES];
		let mut offsets = vec![0f32; count * blocks * LANES];
		let mut packed = vec![0u8; count * blocks * codes * LANES];
		for (index, block) in data.chunks_exact(format.block_bytes()).enumerate() {
			let (o, b) = (index / blocks, index % blocks);
			let (p, lane) = (o / LANES, o % LANES);
			let at = (p * blocks + b) * LANES + lane;
			let half = |i: usize| f16_to_f32(u16::from_le_bytes([block[i], block[i + 1]]));
			scales[at] = half(0);
			let qs = match format {
				Format::Q4_1 => {
					offsets[at] = half(2);
					&block[4..]
				}
				Format::Q4_0 | Format::Q8_0 => &block[2..],
			};
			let base = (p * blocks + b) * codes * LANES;
			for (j, &q) in qs.iter().enumerate() {
				packed[base + j * LANES + lane] = q;
			}
		}
		Ok(Self {
			out,
			k,
			panels: Panels::Blocks {
				format,
				scales: scales.into(),
				offsets: offsets.into(),
				codes: packed.into(),
			},
		})
	}

	pub(crate) fn out(&self) -> usize {
		self.out
	}

	pub(crate) fn k(&self) -> usize {
		self.k
	}

	/// Block `b` of panel `p` of a block format: the format, its LANES scales and offsets, and
	/// its code rows.
	#[inline(always)]
	fn block(&self, p: usize, b: usize) -> Option<Block<'_>> {
		let Panels::Blocks { format, scales, offsets, codes } = &self.panels else { return None };
		let (at, per) = (p * (self.k / BLOCK) + b, format.codes() * LANES);
		let d = scales[at * LANES..][..LANES].try_into().expect("LANES scales");
		let m = offsets[at * LANES..][..LANES].try_into().expect("LANES offsets");
		Some((*format, d, m, &codes[at * per..][..per]))
	}

	/// Block `b` of panel `p` decoded to f32, (input, lane): GGUF's own arithmetic, so the
	/// weights are the bits candle's dequantization gives.
	#[inline(always)]
	fn decode(&self, p: usize, b: usize, w: &mut [[f32; LANES]; BLOCK]) {
		let Some((format, d, m, codes)) = self.block(p, b) else { return };
		let row = |j: usize| -> [u8; LANES] {
			codes[j * LANES..][..LANES].try_into().expect("LANES codes")
		};
		match format {
			Format::Q4_0 => {
				for j in 0..BLOCK / 2 {
					(w[j], w[j + BLOCK / 2]) = q4_0_lanes(row(j), d);
				}
			}
			Format::Q4_1 => {
				for j in 0..BLOCK / 2 {
					(w[j], w[j + BLOCK / 2]) = q4_1_lanes(row(j), d, m);
				}
			}
			Format::Q8_0 => {
				for (j, w) in w.iter_mut().enumerate() {
					*w = q8_0_lanes(row(j), d);
				}
			}
		}
	}

	/// The weights back in row-major (out, k), f32.
	pub(crate) fn unpack(&self) -> Vec<f32> {
		let k = self.k;
		let mut w = vec![0f32; self.out * k];
		match &self.panels {
			Panels::F32(panels) => {
				for (o, row) in w.chunks_exact_mut(k.max(1)).enumerate().take(self.out) {
					let (p, lane) = (o / LANES, o % LANES);
					for (i, value) in row.iter_mut().enumerate() {
						*value = panels[(p * k + i) * LANES + lane];
					}
				}
			}
			Panels::Blocks { .. } => {
				let mut block = [[0f32; LANES]; BLOCK];
				for p in 0..self.out.div_ceil(LANES) {
					for b in 0..k / BLOCK {
						self.decode(p, b, &mut block);
						for lane in 0..LANES.min(self.out - p * LANES) {
							let row = &mut w[(p * LANES + lane) * k + b * BLOCK..][..BLOCK];
							for (i, value) in row.iter_mut().enumerate() {
								*value = block[i][lane];
							}
						}
					}
				}
			}
		}
		w
	}

	/// Bytes the packed weights take.
	pub(crate) fn bytes(&self) -> usize {
		match &self.panels {
			Panels::F32(panels) => panels.len() * 4,
			Panels::Blocks { scales, offsets, codes, .. } => {
				(scales.len() + offsets.len()) * 4 + codes.len()
			}
		}
	}

	/// x (rows, k) W^T as a tensor (rows, out).
	pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
		let rows = x.dim(0)?;
		Ok(Tensor::from_vec(self.forward_vec(x)?, (rows, self.out), x.device())?)
	}

	/// x (rows, k) W^T, row-major (rows, out), x borrowed from its tensor.
	pub(crate) fn forward_vec(&self, x: &Tensor) -> Result<Vec<f32>> {
		let (rows, k) = x.dims2()?;
		if k != self.k {
			bail!("an input of {k} for weights of {}", self.k);
		}
		with_f32(x, |x| self.matmul_t(x, rows))
	}

	/// x (rows, k) W^T: (rows, out), row-major.
	pub(crate) fn matmul_t(&self, x: &[f32], rows: usize) -> Vec<f32> {
		let (k, out) = (self.k, self.out);
		assert_eq!(x.len(), rows * k, "input of ({rows}, {k})");
		let count = out.div_ceil(LANES);
		// Each task computes a run of panels for all rows, into (rows, its panels · LANES).
		let tasks = match rows * k * out < PARALLEL_MIN {
			true => 1,
			false => rayon::current_num_threads().min(count.div_ceil(2)).max(1),
		};
		// Pairs of panels per task, as even as the panel count allows.
		let pairs = count.div_ceil(2);
		let bounds: Vec<(usize, usize)> = (0..tasks)
			.map(|t| (2 * (pairs * t / tasks), (2 * (pairs * (t + 1) / tasks)).min(count)))
			.filter(|(a, b)| a < b)
			.collect();
		let run = |&(first, end): &(usize, usize)| {
			let width = (end - first) * LANES;
			let mut y = vec![0f32; rows * width];
			let mut p = first;
			while p < end {
				let two = p + 1 < end;
				let y = &mut y[(p - first) * LANES..];
				match (&self.panels, two) {
					(Panels::F32(panels), true) => f32_pair::<2>(
						rows,
						k,
						x,
						&panels[p * k * LANES..][..2 * k * LANES],
						y,
						width,
					),
					(Panels::F32(panels), false) => {
						f32_pair::<1>(rows, k, x, &panels[p * k * LANES..][..k * LANES], y, width)
					}
					(Panels::Blocks { .. }, _) if rows <= FUSED_ROWS => {
						for q in p..(p + 2).min(end) {
							self.fused_panel(rows, x, q, &mut y[(q - p) * LANES..], width);
						}
					}
					(Panels::Blocks { .. }, true) => self.block_pair::<2>(rows, x, p, y, width),
					(Panels::Blocks { .. }, false) => self.block_pair::<1>(rows, x, p, y, width),
				}
				p += if two { 2 } else { 1 };
			}
			(first, width, y)
		};
		let parts: Vec<(usize, usize, Vec<f32>)> = match bounds.len() {
			1 => bounds.iter().map(run).collect(),
			_ => bounds.par_iter().map(run).collect(),
		};
		let mut y = vec![0f32; rows * out];
		for (first, width, part) in parts {
			let start = first * LANES;
			let keep = width.min(out - start);
			for r in 0..rows {
				y[r * out + start..][..keep].copy_from_slice(&part[r * width..][..keep]);
			}
		}
		y
	}

	/// A few rows times panel p of a block format, into y at `y[r * stride + lane]`: each code
	/// row is decoded into registers and used at once by every row (the low nibbles of a block,
	/// inputs 0..16, before the high ones, 16..32, so each sum keeps its order).
	fn fused_panel(&self, rows: usize, x: &[f32], p: usize, y: &mut [f32], stride: usize) {
		match rows {
			1 => self.fused::<1>(x, p, y, stride),
			2 => self.fused::<2>(x, p, y, stride),
			3 => self.fused::<3>(x, p, y, stride),
			_ => {
				let mut r = 0;
				while r < rows {
					let n = (rows - r).min(FUSED_ROWS);
					let (x, y) = (&x[r * self.k..], &mut y[r * stride..]);
					match n {
						1 => self.fused::<1>(x, p, y, stride),
						2 => self.fused::<2>(x, p, y, stride),
						3 => self.fused::<3>(x, p, y, stride),
						_ => self.fused::<4>(x, p, y, stride),
					}
					r += n;
				}
			}
		}
	}

	// The index walks the inputs, the weight rows and the accumulators in lockstep.
	#[allow(clippy::needless_range_loop)]
	#[inline(always)]
	fn fused<const R: usize>(&self, x: &[f32], p: usize, y: &mut [f32], stride: usize) {
		let k = self.k;
		let rows: [&[f32]; R] = std::array::from_fn(|r| &x[r * k..][..k]);
		let mut acc = [[0f32; LANES]; R];
		for b in 0..k / BLOCK {
			let Some((format, d, m, codes)) = self.block(p, b) else { return };
			let row = |j: usize| -> [u8; LANES] {
				codes[j * LANES..][..LANES].try_into().expect("LANES codes")
			};
			let xs: [&[f32; BLOCK]; R] = std::array::from_fn(|r| {
				rows[r][b * BLOCK..][..BLOCK].try_into().expect("a block of inputs")
			});
			match format {
				Format::Q4_0 | Format::Q4_1 => {
					for high in [false, true] {
						for j in 0..BLOCK / 2 {
							let (low_w, high_w) = match format {
								Format::Q4_0 => q4_0_lanes(row(j), d),
								_ => q4_1_lanes(row(j), d, m),
							};
							let (w, i) = match high {
								false => (low_w, j),
								true => (high_w, j + BLOCK / 2),
							};
							for r in 0..R {
								fma_lanes(&mut acc[r], xs[r][i], &w);
							}
						}
					}
				}
				Format::Q8_0 => {
					for i in 0..BLOCK {
						let w = q8_0_lanes(row(i), d);
						for r in 0..R {
							fma_lanes(&mut acc[r], xs[r][i], &w);
						}
					}
				}
			}
		}
		for (r, acc) in acc.iter().enumerate() {
			y[r * stride..][..LANES].copy_from_slice(acc);
		}
	}

	/// Every row times panels p..p+P of a block format, into y at `y[r * stride + lane]`. Each
	/// block is decoded once for all rows; the rows' accumulators wait in memory between blocks.
	fn block_pair<const P: usize>(
		&self,
		rows: usize,
		x: &[f32],
		p: usize,
		y: &mut [f32],
		stride: usize,
	) {
		let k = self.k;
		let mut acc = vec![[[0f32; LANES]; P]; rows];
		let mut w = [[[0f32; LANES]; BLOCK]; P];
		for b in 0..k / BLOCK {
			for (q, w) in w.iter_mut().enumerate() {
				self.decode(p + q, b, w);
			}
			let mut r = 0;
			while r < rows {
				let n = (rows - r).min(ROWS);
				let x = &x[r * k + b * BLOCK..];
				let acc = &mut acc[r..r + n];
				match n {
					6 => block_tile::<6, P>(k, x, &w, acc),
					5 => block_tile::<5, P>(k, x, &w, acc),
					4 => block_tile::<4, P>(k, x, &w, acc),
					3 => block_tile::<3, P>(k, x, &w, acc),
					2 => block_tile::<2, P>(k, x, &w, acc),
					_ => block_tile::<1, P>(k, x, &w, acc),
				}
				r += n;
			}
		}
		for (r, acc) in acc.iter().enumerate() {
			for (q, lanes) in acc.iter().enumerate() {
				y[r * stride + q * LANES..][..LANES].copy_from_slice(lanes);
			}
		}
	}
}

/// R rows (x at stride k, from the block's first input) through one decoded block of P panels,
/// continuing their accumulators.
#[inline(always)]
fn block_tile<const R: usize, const P: usize>(
	k: usize,
	x: &[f32],
	w: &[[[f32; LANES]; BLOCK]; P],
	acc: &mut [[[f32; LANES]; P]],
) {
	let mut a: [[[f32; LANES]; P]; R] = std::array::from_fn(|r| acc[r]);
	let x: [&[f32; BLOCK]; R] =
		std::array::from_fn(|r| x[r * k..][..BLOCK].try_into().expect("a block of inputs"));
	for i in 0..BLOCK {
		for r in 0..R {
			let xv = x[r][i];
			for q in 0..P {
				fma_lanes(&mut a[r][q], xv, &w[q][i]);
			}
		}
	}
	acc[..R].copy_from_slice(&a);
}

/// Every row times `P` f32 panels, into y at `y[r * stride + lane]`, [`ROWS`] rows at a time.
fn f32_pair<const P: usize>(
	rows: usize,
	k: usize,
	x: &[f32],
	panels: &[f32],
	y: &mut [f32],
	stride: usize,
) {
	let mut r = 0;
	while r < rows {
		let n = (rows - r).min(ROWS);
		tile::<P>(n, k, &x[r * k..(r + n) * k], panels, &mut y[r * stride..], stride);
		r += n;
	}
}

/// `n` (≤ [`ROWS`]) rows of x (n, k) times `P` panels, written to y at `y[r * stride + lane]`
/// for row r, lane 0..P·LANES.
#[inline(always)]
fn tile<const P: usize>(
	n: usize,
	k: usize,
	x: &[f32],
	panels: &[f32],
	y: &mut [f32],
	stride: usize,
) {
	match n {
		6 => micro::<6, P>(k, x, panels, y, stride),
		5 => micro::<5, P>(k, x, panels, y, stride),
		4 => micro::<4, P>(k, x, panels, y, stride),
		3 => micro::<3, P>(k, x, panels, y, stride),
		2 => micro::<2, P>(k, x, panels, y, stride),
		_ => micro::<1, P>(k, x, panels, y, stride),
	}
}

/// The micro-kernel: R rows × P panels of accumulators, one pass over k.
#[inline(always)]
fn micro<const R: usize, const P: usize>(
	k: usize,
	x: &[f32],
	panels: &[f32],
	y: &mut [f32],
	stride: usize,
) {
	let mut acc = [[[0f32; LANES]; P]; R];
	let x = &x[..R * k];
	let panels = &panels[..P * k * LANES];
	for i in 0..k {
		let mut w = [[0f32; LANES]; P];
		for p in 0..P {
			w[p].copy_from_slice(&panels[(p * k + i) * LANES..][..LANES]);
		}
		for r in 0..R {
			let xv = x[r * k + i];
			for p in 0..P {
				fma_lanes(&mut acc[r][p], xv, &w[p]);
			}
		}
	}
	for r in 0..R {
		for p in 0..P {
			y[r * stride + p * LANES..][..LANES].copy_from_slice(&acc[r][p]);
		}
	}
}

/// One code row of a Q4_0 block, (q − 8)·d: the low nibbles' weights and the high ones'.
#[inline(always)]
fn q4_0_lanes(c: [u8; LANES], d: &[f32; LANES]) -> ([f32; LANES], [f32; LANES]) {
	let (mut low, mut high) = ([0f32; LANES], [0f32; LANES]);
	for lane in 0..LANES {
		low[lane] = ((c[lane] & 0x0f) as i16 - 8) as f32 * d[lane];
		high[lane] = ((c[lane] >> 4) as i16 - 8) as f32 * d[lane];
	}
	(low, high)
}

/// One code row of a Q4_1 block, q·d + m: the low nibbles' weights and the high ones'.
#[inline(always)]
fn q4_1_lanes(c: [u8; LANES], d: &[f32; LANES], m: &[f32; LANES]) -> ([f32; LANES], [f32; LANES]) {
	let (mut low, mut high) = ([0f32; LANES], [0f32; LANES]);
	for lane in 0..LANES {
		low[lane] = (c[lane] & 0x0f) as f32 * d[lane] + m[lane];
		high[lane] = (c[lane] >> 4) as f32 * d[lane] + m[lane];
	}
	(low, high)
}

/// One code row of a Q8_0 block, q·d.
#[inline(always)]
fn q8_0_lanes(c: [u8; LANES], d: &[f32; LANES]) -> [f32; LANES] {
	let mut w = [0f32; LANES];
	for lane in 0..LANES {
		w[lane] = c[lane] as i8 as f32 * d[lane];
	}
	w
}

/// acc[lane] = fma(x, w[lane], acc[lane]) for every lane (one vector instruction).
#[inline(always)]
fn fma_lanes(acc: &mut [f32; LANES], x: f32, w: &[f32; LANES]) {
	for lane in 0..LANES {
		acc[lane] = fma(x, w[lane], acc[lane]);
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::testing::random;

	/// The sum the kernel claims, one output at a time: a sequential fused multiply-add over k.
	fn reference(x: &[f32], w: &[f32], rows: usize, out: usize, k: usize) -> Vec<f32> {
		let mut y = vec![0f32; rows * out];
		for r in 0..rows {
			for o in 0..out {
				let mut acc = 0f32;
				for i in 0..k {
					acc = fma(x[r * k + i], w[o * k + i], acc);
				}
				y[r * out + o] = acc;
			}
		}
		y
	}

	/// Every output equals the sequential sum bit for bit, for shapes with partial panels,
	/// partial tiles and one row, on one thread and on several.
	#[test]
	fn equals_the_sequential_sum_to_the_bit() {
		for (rows, out, k) in
			[(1, 576, 576), (7, 100, 33), (16, 192, 64), (13, 49, 130), (3, 16, 1)]
		{
			let x = random(rows * k, rows as u64);
			let w = random(out * k, out as u64);
			let packed = Packed::new(&w, out, k);
			assert_eq!(packed.unpack(), w);
			let y = packed.matmul_t(&x, rows);
			let want = reference(&x, &w, rows, out, k);
			assert!(
				y.iter().zip(&want).all(|(a, b)| a.to_bits() == b.to_bits()),
				"({rows}, {out}, {k})"
			);
		}
	}

	/// A GGUF block tensor packed as it is decodes to the bits candle's dequantization gives,
	/// and multiplies to the bits of those weights packed as f32, for every block format.
	#[test]
	fn block_formats_equal_their_dequantized_weights_to_the_bit() {
		use candle_core::{quantized::QTensor, Device};
		for (out, k, rows) in [(40, 96, 7), (576, 576, 1), (33, 64, 13)] {
			let w = random(out * k, 5);
			let dense = Tensor::from_vec(w, (out, k), &Device::Cpu).unwrap();
			for dtype in [GgmlDType::Q4_0, GgmlDType::Q4_1, GgmlDType::Q8_0] {
				let q = QTensor::quantize(&dense, dtype).unwrap();
				let want = q.dequantize(&Device::Cpu).unwrap().flatten_all().unwrap();
				let want = want.to_vec1::<f32>().unwrap();
				let format = Format::of(dtype).unwrap();
				let packed = Packed::blocks(format, &q.data().unwrap(), out, k).unwrap();
				let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
				assert_eq!(bits(&packed.unpack()), bits(&want), "{dtype:?} ({out}, {k})");
				let x = random(rows * k, 6);
				let y = packed.matmul_t(&x, rows);
				assert_eq!(bits(&y), bits(&Packed::new(&want, out, k).matmul_t(&x, rows)));
				assert_eq!(bits(&y), bits(&reference(&x, &want, rows, out, k)));
			}
		}
		assert!(Packed::blocks(Format::Q8_0, &[0; 33], 1, 32).is_err(), "a short tensor");
	}

	/// Half precision to single, exactly, across normal, subnormal and special values.
	#[test]
	fn half_precision_converts_exactly() {
		assert_eq!(f16_to_f32(0x3c00), 1.0);
		assert_eq!(f16_to_f32(0xc000), -2.0);
		assert_eq!(f16_to_f32(0x0001), 2f32.powi(-24));
		assert_eq!(f16_to_f32(0x7bff), 65504.0);
		assert_eq!(f16_to_f32(0x7c00), f32::INFINITY);
		assert!(f16_to_f32(0x7e00).is_nan());
		assert_eq!(f16_to_f32(0x8000).to_bits(), (-0.0f32).to_bits());
		assert_eq!(f16_to_f32(0x0200), 2f32.powi(-15));
	}

	/// A row's output is the same bits alone, in a batch of any size at any place in it, and
	/// among any other rows.
	#[test]
	fn a_rows_output_does_not_depend_on_its_batch() {
		use candle_core::{quantized::QTensor, Device};
		let (out, k) = (1536, 576);
		let w = random(out * k, 1);
		let dense = Tensor::from_vec(w.clone(), (out, k), &Device::Cpu).unwrap();
		let q = QTensor::quantize(&dense, GgmlDType::Q4_1).unwrap();
		for packed in [
			Packed::new(&w, out, k),
			Packed::blocks(Format::Q4_1, &q.data().unwrap(), out, k).unwrap(),
		] {
			let x = random(17 * k, 2);
			let alone: Vec<Vec<f32>> =
				(0..17).map(|r| packed.matmul_t(&x[r * k..][..k], 1)).collect();
			for rows in [2, 5, 6, 7, 12, 17] {
				let y = packed.matmul_t(&x[..rows * k], rows);
				for r in 0..rows {
					assert_eq!(&y[r * out..][..out], alone[r].as_slice(), "row {r} of {rows}");
				}
			}
			let mut other = random(6 * k, 3);
			other[2 * k..3 * k].copy_from_slice(&x[5 * k..6 * k]);
			let y = packed.matmul_t(&other, 6);
			assert_eq!(&y[2 * out..][..out], alone[5].as_slice());
		}
	}
}
