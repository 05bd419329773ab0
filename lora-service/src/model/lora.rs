//! Each token's LoRA update, y += ((x A) B) scaled, computed for that token alone and always in
//! the same order, whether its adapter's matrices are its own (a prefill) or a slot of the
//! batched stack (a decode step, `adapters::stack`): a token's output does not depend on which
//! path, batch or chunk computed it. The tokens of a pass are split across the cores.

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

impl Update<'_> {
	/// Whether it fits a projection of `fan_in` inputs and `fan_out` outputs.
	pub(crate) fn fits(&self, fan_in: usize, fan_out: usize) -> bool {
		self.rank <= self.stride
			&& self.a.len() == fan_in * self.stride
			&& self.b.len() >= self.rank * fan_out
	}

	/// y += Σ_{j < rank} (Σ_i x_i A^T[i][j]) B^T[j], each sum in index order. The update
	/// must fit x and y ([`Update::fits`]).
	pub(crate) fn add(&self, x: &[f32], y: &mut [f32]) {
		let (rank, stride, fan_out) = (self.rank.min(self.stride), self.stride, y.len());
		if rank == 0 || !self.fits(x.len(), fan_out) {
			return;
		}
		let mut low = vec![0f32; rank];
		for (i, &xi) in x.iter().enumerate() {
			let row = &self.a[i * stride..][..rank];
			for (l, a) in low.iter_mut().zip(row) {
				*l = fma(xi, *a, *l);
			}
		}
		for (j, &l) in low.iter().enumerate() {
			for (y, b) in y.iter_mut().zip(&self.b[j * fan_out..][..fan_out]) {
				*y = fma(l, *b, *y);
			}
		}
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
