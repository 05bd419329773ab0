//! Each token's LoRA update, y += ((x A) B) scaled, computed for that token alone and always in
//! the same order, whether its adapter's matrices are its own (a prefill) or a slot of the
//! batched stack (a decode step, `adapters::stack`): a token's output does not depend on which
//! path, batch or chunk computed it. The tokens of a pass are split across the cores.
//!
//! The order, for each of the rank columns j of x·A: [`SUMS`] running sums, input i going to
//! sum i mod SUMS in index order, added at the end as (s0 + s1) + (s2 + s3); then
//! y = fma(l_j, B^T[j], y) for j in order. A column's bits depend on x and on that column of
//! A alone, so it does not matter how many columns are computed together (the rank, the
//! stack's stride) either. Four sums keep four multiply-adds in flight: one sum, held in
//! memory because the rank is known only at run time, waited on each multiply-add and the
//! store before it.

use rayon::prelude::*;

use super::matmul::fma;

/// One adapter's update of one projection: A^T as `fan_in` rows of `stride` (the first `rank`
/// columns used) and scaled B^T as rows of `fan_out`, at least `rank` of them.
#[derive(Clone, Copy)]
pub(crate) struct Update<'a> {
	pub(crate) a: &'a [f32],
	pub(crate) stride: usize,
	pub(crate) b: &'a [f32],
	pub(crate) rank: usize,
}

/// Below this many multiply-adds the tokens' updates run on the calling thread.
const PARALLEL_MIN: usize = 1 << 15;
/// Running sums per column of x·A (the module's order, above).
const SUMS: usize = 4;
/// Columns of x·A computed together, in registers.
const COLUMNS: usize = 8;

impl Update<'_> {
	/// Whether it fits a projection of `fan_in` inputs and `fan_out` outputs.
	pub(crate) fn fits(&self, fan_in: usize, fan_out: usize) -> bool {
		self.rank <= self.stride
			&& self.a.len() == fan_in * self.stride
			&& self.b.len() >= self.rank * fan_out
	}

	/// y += Σ_{j < rank} (x·A)_j B^T[j], in the module's order. The update must fit x and y
	/// ([`Update::fits`]).
	pub(crate) fn add(&self, x: &[f32], y: &mut [f32]) {
		let (rank, fan_out) = (self.rank.min(self.stride), y.len());
		if rank == 0 || !self.fits(x.len(), fan_out) {
			return;
		}
		let mut low = vec![0f32; rank];
		let mut c = 0;
		while c < rank {
			match rank - c >= COLUMNS {
				true => {
					low[c..c + COLUMNS].copy_from_slice(&self.columns::<COLUMNS>(x, c));
					c += COLUMNS;
				}
				false => {
					low[c] = self.columns::<1>(x, c)[0];
					c += 1;
				}
			}
		}
		for (j, &l) in low.iter().enumerate() {
			for (y, b) in y.iter_mut().zip(&self.b[j * fan_out..][..fan_out]) {
				*y = fma(l, *b, *y);
			}
		}
	}

	/// Columns c..c+W of x·A, each in the module's order. A must fit x.
	// The index walks the sums, the inputs and the columns in lockstep.
	#[allow(clippy::needless_range_loop)]
	#[inline(always)]
	fn columns<const W: usize>(&self, x: &[f32], c: usize) -> [f32; W] {
		let stride = self.stride;
		let row = |i: usize| -> &[f32; W] {
			self.a[i * stride + c..][..W].try_into().expect("W columns of A")
		};
		let mut sums = [[0f32; W]; SUMS];
		let mut chunks = x.chunks_exact(SUMS);
		let mut i = 0;
		for xs in &mut chunks {
			for s in 0..SUMS {
				let a = row(i + s);
				for w in 0..W {
					sums[s][w] = fma(xs[s], a[w], sums[s][w]);
				}
			}
			i += SUMS;
		}
		for (s, &xi) in chunks.remainder().iter().enumerate() {
			let a = row(i + s);
			for w in 0..W {
				sums[s][w] = fma(xi, a[w], sums[s][w]);
			}
		}
		std::array::from_fn(|w| (sums[0][w] + sums[1][w]) + (sums[2][w] + sums[3][w]))
	}
}

/// Adds token t's update `update(t)` (if any) to row t of `y` (tokens, fan_out), from row t of
/// `x` (tokens, fan_in); an update that does not fit the projection is an error, and nothing
/// is added.
pub(crate) fn add_per_token<'a>(
	x: &[f32],
	y: &mut [f32],
	tokens: usize,
	update: impl Fn(usize) -> Option<Update<'a>> + Sync,
) -> anyhow::Result<()> {
	if tokens == 0 {
		return Ok(());
	}
	let (fan_in, fan_out) = (x.len() / tokens, y.len() / tokens);
	if let Some(t) = (0..tokens).find(|&t| update(t).is_some_and(|u| !u.fits(fan_in, fan_out))) {
		anyhow::bail!("token {t}'s adapter does not fit a projection of ({fan_in}, {fan_out})");
	}
	let each = |(t, (x, y)): (usize, (&[f32], &mut [f32]))| {
		if let Some(u) = update(t) {
			u.add(x, y);
		}
	};
	let work = tokens * (fan_in + fan_out) * 16;
	match work < PARALLEL_MIN || fan_in == 0 || fan_out == 0 {
		true => {
			x.chunks(fan_in.max(1)).zip(y.chunks_mut(fan_out.max(1))).enumerate().for_each(each)
		}
		false => x.par_chunks(fan_in).zip(y.par_chunks_mut(fan_out)).enumerate().for_each(each),
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::testing::random;

	/// The module's order written out one multiply-add at a time.
	fn reference(x: &[f32], a: &[f32], stride: usize, b: &[f32], rank: usize, y: &mut [f32]) {
		let low: Vec<f32> = (0..rank)
			.map(|j| {
				let mut sums = [0f32; SUMS];
				for (i, &xi) in x.iter().enumerate() {
					sums[i % SUMS] = fma(xi, a[i * stride + j], sums[i % SUMS]);
				}
				(sums[0] + sums[1]) + (sums[2] + sums[3])
			})
			.collect();
		let fan_out = y.len();
		for (j, &l) in low.iter().enumerate() {
			for (o, y) in y.iter_mut().enumerate() {
				*y = fma(l, b[j * fan_out + o], *y);
			}
		}
	}

	/// Every rank from 1 to 19 (whole and partial groups of columns), inputs that are and are
	/// not a multiple of the sums, and a stride wider than the rank (a stack's slot holding a
	/// lower-rank adapter): the bits of the order written out, and a column's value does not
	/// depend on the columns computed beside it.
	#[test]
	fn updates_follow_the_documented_order_to_the_bit() {
		for (fan_in, fan_out) in [(1, 3), (7, 5), (64, 33), (577, 40)] {
			for rank in 1..=19 {
				for stride in [rank, rank + 5] {
					let seed = (fan_in * 1000 + rank * 10 + stride) as u64;
					let (x, a) = (random(fan_in, seed), random(fan_in * stride, seed + 1));
					let b = random(rank * fan_out, seed + 2);
					let start = random(fan_out, seed + 3);
					let update = Update { a: &a, stride, b: &b, rank };
					let mut y = start.clone();
					update.add(&x, &mut y);
					let mut expected = start.clone();
					reference(&x, &a, stride, &b, rank, &mut expected);
					assert_eq!(
						y.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
						expected.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
						"fan_in {fan_in}, fan_out {fan_out}, rank {rank}, stride {stride}"
					);
				}
			}
		}
	}
}
