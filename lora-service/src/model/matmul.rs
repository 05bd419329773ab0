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

use anyhow::{bail, Result};
use candle_core::{Storage, Tensor};
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

/// Weights (out, k) packed in panels of [`LANES`] outputs (the last zero-padded).
#[derive(Clone)]
pub(crate) struct Packed {
	out: usize,
	k: usize,
	/// Panel p's element (i, lane) at `(p * k + i) * LANES + lane` (shared by copies of the
	/// model, such as one with an adapter merged into other projections).
	panels: std::sync::Arc<[f32]>,
}

impl Packed {
	/// Packs row-major weights (out, k).
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
		Self { out, k, panels: panels.into() }
	}

	pub(crate) fn out(&self) -> usize {
		self.out
	}

	pub(crate) fn k(&self) -> usize {
		self.k
	}

	/// The weights back in row-major (out, k).
	pub(crate) fn unpack(&self) -> Vec<f32> {
		let mut w = vec![0f32; self.out * self.k];
		for (o, row) in w.chunks_exact_mut(self.k.max(1)).enumerate().take(self.out) {
			let (p, lane) = (o / LANES, o % LANES);
			for (i, value) in row.iter_mut().enumerate() {
				*value = self.panels[(p * self.k + i) * LANES + lane];
			}
		}
		w
	}

	/// Bytes the packed weights take.
	pub(crate) fn bytes(&self) -> usize {
		self.panels.len() * 4
	}

	/// x (rows, k) W^T as a tensor (rows, out).
	pub(crate) fn forward(&self, x: &Tensor) -> Result<Tensor> {
		let (rows, k) = x.dims2()?;
		if k != self.k {
			bail!("an input of {k} for weights of {}", self.k);
		}
		let y = with_f32(x, |x| self.matmul_t(x, rows))?;
		Ok(Tensor::from_vec(y, (rows, self.out), x.device())?)
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
				let mut r = 0;
				while r < rows {
					let n = (rows - r).min(ROWS);
					let x = &x[r * k..(r + n) * k];
					let y = &mut y[r * width + (p - first) * LANES..];
					match two {
						true => tile::<2>(
							n,
							k,
							x,
							&self.panels[p * k * LANES..][..2 * k * LANES],
							y,
							width,
						),
						false => {
							tile::<1>(n, k, x, &self.panels[p * k * LANES..][..k * LANES], y, width)
						}
					}
					r += n;
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
	use crate::rng::SplitMix64;

	fn random(n: usize, seed: u64) -> Vec<f32> {
		let mut rng = SplitMix64(seed);
		(0..n).map(|_| rng.next_24() as f32 / (1 << 23) as f32 - 1.0).collect()
	}

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

	/// A row's output is the same bits alone, in a batch of any size at any place in it, and
	/// among any other rows.
	#[test]
	fn a_rows_output_does_not_depend_on_its_batch() {
		let (out, k) = (1536, 576);
		let w = random(out * k, 1);
		let packed = Packed::new(&w, out, k);
		let x = random(17 * k, 2);
		let alone: Vec<Vec<f32>> = (0..17).map(|r| packed.matmul_t(&x[r * k..][..k], 1)).collect();
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
