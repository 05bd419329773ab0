//! The batched adapter stack: the adapters of a running batch, each in a slot, per projection
//! of every layer. A batched forward pass runs the base projections as one matmul for all its
//! tokens and adds each token's LoRA update, ((x A) B) scaled, computed for that token alone
//! from the adapter in its row's slot (the BGMV kernel: gathered per row, no weights copied
//! per step), so one batch mixes any adapters at the cost of each row's own rank. Adapters
//! stay in their slots between steps; one joining the batch is copied into a free slot, the
//! rest untouched.

use std::sync::Arc;

use anyhow::{bail, Result};
use candle_core::{DType, Device, Tensor};

use super::peft::{module_dims, Adapter};
use crate::model::{lora, LlamaConfig};

/// One projection's slots: A^T of each slot (`fan_in` rows of the stack's rank) and scaled B^T
/// (rank rows of `fan_out`), zero-padded to the stack's rank: in host memory for this crate's
/// kernels, or for the tensor path as tensors (slots, fan_in, rank) and (slots, rank, fan_out)
/// on the model's device.
struct Stacked {
	fan_in: usize,
	fan_out: usize,
	slots: Slots,
}

/// Where a projection's slots are held.
enum Slots {
	Host { a: Vec<f32>, b: Vec<f32> },
	Device { a: Tensor, b: Tensor },
}

/// Adapters in slots, per projection of every layer.
pub struct AdapterStack {
	rank: usize,
	slots: Vec<Option<Arc<Adapter>>>,
	/// Which projections any slot may target (the others are not stacked).
	modules: [bool; 7],
	layers: Vec<[Option<Stacked>; 7]>,
	/// The tensor path's device (None: host memory).
	device: Option<Device>,
}

/// The projections an adapter targets.
fn targets(adapter: &Adapter) -> [bool; 7] {
	let mut modules = [false; 7];
	for pairs in &adapter.layers {
		for (module, pair) in pairs.iter().enumerate() {
			modules[module] |= pair.is_some();
		}
	}
	modules
}

impl AdapterStack {
	/// An empty stack of `capacity` slots of `rank` for `modules`, in host memory or on
	/// `device` for the tensor path.
	pub fn new(
		capacity: usize,
		rank: usize,
		modules: [bool; 7],
		config: &LlamaConfig,
		device: Option<&Device>,
	) -> Result<Self> {
		let mut layers = Vec::with_capacity(config.layers);
		for _ in 0..config.layers {
			let mut projections: [Option<Stacked>; 7] = Default::default();
			for (module, entry) in projections.iter_mut().enumerate() {
				if !modules[module] || rank == 0 {
					continue;
				}
				let (fan_in, fan_out) = module_dims(config, module);
				let slots = match device {
					None => Slots::Host {
						a: vec![0.0; capacity * rank * fan_in],
						b: vec![0.0; capacity * rank * fan_out],
					},
					Some(device) => Slots::Device {
						a: Tensor::zeros((capacity, fan_in, rank), DType::F32, device)?,
						b: Tensor::zeros((capacity, rank, fan_out), DType::F32, device)?,
					},
				};
				*entry = Some(Stacked { fan_in, fan_out, slots });
			}
			layers.push(projections);
		}
		Ok(Self { rank, slots: vec![None; capacity], modules, layers, device: device.cloned() })
	}

	/// A stack of `capacity` slots with nothing stacked yet (it grows when adapters come), in
	/// host memory or on `device` for the tensor path (`Model::tensor_device`).
	pub fn empty(capacity: usize, device: Option<&Device>) -> Self {
		Self {
			rank: 0,
			slots: vec![None; capacity],
			modules: [false; 7],
			layers: Vec::new(),
			device: device.cloned(),
		}
	}

	/// The tensor path's device (None: the stack is in host memory).
	pub fn device(&self) -> Option<&Device> {
		self.device.as_ref()
	}

	/// Bytes the stacked weights take, wherever they are.
	pub fn bytes(&self) -> usize {
		let values = |s: &Stacked| match &s.slots {
			Slots::Host { a, b } => a.len() + b.len(),
			Slots::Device { a, b } => a.elem_count() + b.elem_count(),
		};
		self.layers.iter().flatten().flatten().map(|s| values(s) * 4).sum()
	}

	/// How many slots hold an adapter.
	pub fn occupied(&self) -> usize {
		self.slots.iter().filter(|s| s.is_some()).count()
	}

	/// Copies `adapter` into slot `slot` (zeros where it has no update).
	fn write(&mut self, slot: usize, adapter: &Arc<Adapter>) -> Result<()> {
		// Empty until fully written, so a failure leaves no slot naming half-written weights.
		self.slots[slot] = None;
		let r = self.rank;
		for (layer, stacked) in self.layers.iter_mut().enumerate() {
			for (module, entry) in stacked.iter_mut().enumerate() {
				let Some(stacked) = entry else { continue };
				let (fan_in, fan_out) = (stacked.fan_in, stacked.fan_out);
				let pair = &adapter.layers[layer][module];
				// The slot's A^T (in, r) and B^T (r, out), zero where the adapter has nothing.
				let fill = |a: &mut [f32], b: &mut [f32]| -> Result<()> {
					a.fill(0.0);
					b.fill(0.0);
					if let Some(pair) = pair {
						// pair.a is A^T (in, own rank): row i goes to row i of the slot, padded.
						let own = pair.a.dim(1)?;
						let a_t = pair.a.flatten_all()?.to_vec1::<f32>()?;
						for (slot_row, row) in
							a.chunks_exact_mut(r).zip(a_t.chunks_exact(own.max(1)))
						{
							slot_row[..own].copy_from_slice(row);
						}
						let b_t = pair.b.flatten_all()?.to_vec1::<f32>()?;
						b[..b_t.len()].copy_from_slice(&b_t);
					}
					Ok(())
				};
				match &mut stacked.slots {
					Slots::Host { a, b } => fill(
						&mut a[slot * r * fan_in..][..r * fan_in],
						&mut b[slot * r * fan_out..][..r * fan_out],
					)?,
					Slots::Device { a: a_slots, b: b_slots } => {
						let (mut a, mut b) = (vec![0f32; r * fan_in], vec![0f32; r * fan_out]);
						fill(&mut a, &mut b)?;
						let device = a_slots.device();
						a_slots.slice_set(
							&Tensor::from_vec(a, (1, fan_in, r), device)?,
							0,
							slot,
						)?;
						b_slots.slice_set(
							&Tensor::from_vec(b, (1, r, fan_out), device)?,
							0,
							slot,
						)?;
					}
				}
			}
		}
		self.slots[slot] = Some(adapter.clone());
		Ok(())
	}

	/// Puts every row's adapter in a slot (keeping those already in one, writing the others
	/// into slots no row of this batch uses, lowest first) and returns each row's slot. The
	/// stack is rebuilt, larger, when an adapter does not fit it (more adapters than slots,
	/// a higher rank, or a projection it does not stack).
	pub fn place(
		&mut self,
		rows: &[Option<Arc<Adapter>>],
		config: &LlamaConfig,
	) -> Result<Vec<Option<usize>>> {
		let mut wanted: Vec<&Arc<Adapter>> = Vec::new();
		for adapter in rows.iter().flatten() {
			if !wanted.iter().any(|w| Arc::ptr_eq(w, adapter)) {
				wanted.push(adapter);
			}
		}
		let rank = wanted.iter().map(|a| a.rank).max().unwrap_or(0);
		let mut needed = [false; 7];
		for adapter in &wanted {
			for (module, targeted) in targets(adapter).into_iter().enumerate() {
				needed[module] |= targeted;
			}
		}
		let grow = wanted.len() > self.slots.len()
			|| rank > self.rank
			|| needed.iter().zip(&self.modules).any(|(needed, held)| *needed && !held);
		// A stack is as wide as its widest adapter ever was: when the widest left, rebuild it
		// for those that remain once it is at least twice as wide as they need.
		let shrink = self.rank >= 2 * rank.max(1);
		if grow || shrink {
			let modules = match shrink {
				true => needed,
				false => std::array::from_fn(|m| needed[m] || self.modules[m]),
			};
			let rank = if shrink { rank } else { rank.max(self.rank) };
			let capacity = wanted.len().max(self.slots.len());
			*self = Self::new(capacity, rank, modules, config, self.device.as_ref())?;
		}
		let slot_of = |slots: &[Option<Arc<Adapter>>], adapter: &Arc<Adapter>| {
			slots.iter().position(|s| s.as_ref().is_some_and(|s| Arc::ptr_eq(s, adapter)))
		};
		for adapter in &wanted {
			if slot_of(&self.slots, adapter).is_some() {
				continue;
			}
			let free = (0..self.slots.len()).find(|&i| {
				self.slots[i]
					.as_ref()
					.is_none_or(|held| !wanted.iter().any(|w| Arc::ptr_eq(w, held)))
			});
			let Some(free) = free else { bail!("no free adapter slot") };
			self.write(free, adapter)?;
		}
		Ok(rows
			.iter()
			.map(|row| row.as_ref().and_then(|adapter| slot_of(&self.slots, adapter)))
			.collect())
	}

	/// The rank of the adapter in each of `slots` (0 for none); an error for a slot that
	/// holds no adapter.
	pub fn ranks(&self, slots: &[Option<usize>]) -> Result<Vec<usize>> {
		slots
			.iter()
			.map(|slot| match slot {
				None => Ok(0),
				Some(s) => match self.slots.get(*s) {
					Some(Some(adapter)) => Ok(adapter.rank),
					_ => bail!("adapter slot {s} holds no adapter"),
				},
			})
			.collect()
	}

	/// The tensor path's slots of projection `module` in layer `layer`: A^T (slots, in, rank)
	/// and scaled B^T (slots, rank, out).
	pub(crate) fn tensors(&self, layer: usize, module: usize) -> Option<(&Tensor, &Tensor)> {
		match &self.layers.get(layer)?[module].as_ref()?.slots {
			Slots::Device { a, b } => Some((a, b)),
			Slots::Host { .. } => None,
		}
	}

	/// Slot `slot`'s update of projection `module` in layer `layer`, for [`lora::Update`].
	pub(crate) fn update(
		&self,
		layer: usize,
		module: usize,
		slot: usize,
	) -> Option<lora::Update<'_>> {
		let stacked = self.layers.get(layer)?[module].as_ref()?;
		let Slots::Host { a, b } = &stacked.slots else { return None };
		let r = self.rank;
		Some(lora::Update {
			a: a.get(slot * r * stacked.fan_in..)?.get(..r * stacked.fan_in)?,
			stride: r,
			b: b.get(slot * r * stacked.fan_out..)?.get(..r * stacked.fan_out)?,
			rank: r,
		})
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{
		model::{Kernels, KvCache, Lora, Model, Row, Weights},
		testing::{max_diff, tiny_adapter, tiny_model_with, tiny_path},
	};

	/// Nine sequences at different positions, one with no adapter and eight with adapters of
	/// ranks 2 to 16, decoded together, each get the logits they get decoded alone; then the
	/// adapters change places (some leave, new ones join slots others left) and it still holds.
	fn mixed_batch_decodes_as_each_sequence_alone(weights: Weights) {
		let model = tiny_model_with(weights);
		mixed_batch_decodes_as_reference_alone(&model, &tiny_model_with(weights));
	}

	/// [`mixed_batch_decodes_as_each_sequence_alone`] with the batches run by `model` and each
	/// sequence alone by `reference`.
	fn mixed_batch_decodes_as_reference_alone(model: &Model, reference: &Model) {
		let weights = model.weights;
		let adapters: Vec<Arc<Adapter>> = (0..12)
			.map(|i| Arc::new(tiny_adapter(100 + i, [2, 4, 8, 16][i as usize % 4])))
			.collect();
		let prompts: Vec<Vec<u32>> =
			(0..9u32).map(|i| (0..=i * 3).map(|j| (j * 37 + i * 11) % 250 + 3).collect()).collect();
		let modules = [true, false, true, false, false, false, false];
		let mut stack =
			AdapterStack::new(2, 2, modules, &model.config, model.tensor_device()).unwrap();
		for round in 0..2 {
			let rows: Vec<Option<Arc<Adapter>>> = (0..9)
				.map(|i| (i > 0).then(|| adapters[(i - 1 + round * 4) % 12].clone()))
				.collect();
			let mut alone: Vec<KvCache> = Vec::new();
			let mut together: Vec<KvCache> = Vec::new();
			let mut next = Vec::new();
			for (prompt, adapter) in prompts.iter().zip(&rows) {
				let mut cache = KvCache::default();
				let logits =
					reference.forward_sequence(prompt, &mut cache, adapter.as_deref()).unwrap();
				next.push(logits.argmax(0).unwrap().to_scalar::<u32>().unwrap());
				alone.push(cache);
				let mut cache = KvCache::default();
				model.forward_sequence(prompt, &mut cache, adapter.as_deref()).unwrap();
				together.push(cache);
			}
			let slots = stack.place(&rows, &model.config).unwrap();
			assert_eq!(slots[0], None);
			assert!(stack.occupied() >= 8);
			for _ in 0..4 {
				let mut batch: Vec<Row> = together
					.iter_mut()
					.zip(&next)
					.map(|(cache, token)| Row { tokens: std::slice::from_ref(token), cache })
					.collect();
				let batched = model
					.forward(&mut batch, Lora::Stack { stack: &stack, slots: &slots })
					.unwrap();
				for (row, adapter) in rows.iter().enumerate() {
					let single = reference
						.forward_sequence(&[next[row]], &mut alone[row], adapter.as_deref())
						.unwrap();
					let diff = max_diff(&batched.get(row).unwrap(), &single);
					assert!(diff < 1e-3, "{weights:?} round {round} row {row} differs by {diff}");
				}
				next = batched.argmax(1).unwrap().to_vec1::<u32>().unwrap();
			}
		}
	}

	#[test]
	fn a_mixed_batch_decodes_as_each_sequence_alone() {
		mixed_batch_decodes_as_each_sequence_alone(Weights::Dense);
	}

	#[test]
	fn a_mixed_batch_decodes_as_each_sequence_alone_over_quantized_weights() {
		mixed_batch_decodes_as_each_sequence_alone(Weights::Quantized);
	}

	/// On the tensor path (the stack's slots as tensors, gathered per token), run on the CPU,
	/// a mixed batch decodes as this crate's kernels decode each sequence alone.
	#[test]
	fn a_mixed_batch_on_the_tensor_path_decodes_as_each_sequence_alone() {
		let device = Device::Cpu;
		let model = Model::load_with(tiny_path(), &device, Weights::Dense, Kernels::Tensors);
		mixed_batch_decodes_as_reference_alone(&model.unwrap(), &tiny_model_with(Weights::Dense));
	}

	/// A stack held where the model's kernels do not run is refused, not read as empty.
	#[test]
	fn a_stack_held_elsewhere_is_refused() {
		let device = Device::Cpu;
		let tensors =
			Model::load_with(tiny_path(), &device, Weights::Dense, Kernels::Tensors).unwrap();
		let host = tiny_model_with(Weights::Dense);
		let adapter = Arc::new(tiny_adapter(5, 4));
		for (model, other) in [(&host, &tensors), (&tensors, &host)] {
			let mut stack = AdapterStack::empty(1, other.tensor_device());
			let slots = stack.place(&[Some(adapter.clone())], &model.config).unwrap();
			let mut cache = KvCache::default();
			let rows = &mut [Row { tokens: &[5, 6], cache: &mut cache }];
			let error = model.forward(rows, Lora::Stack { stack: &stack, slots: &slots });
			assert!(error.unwrap_err().to_string().contains("adapter stack"));
			assert_eq!(cache.len(), 0);
		}
	}

	/// Placing keeps adapters in their slots, reuses the slots of adapters no row wants any
	/// more, and the base rows need none.
	#[test]
	fn adapters_keep_their_slots() {
		let model = tiny_model_with(Weights::Dense);
		let adapters: Vec<Arc<Adapter>> = (0..3).map(|i| Arc::new(tiny_adapter(i, 4))).collect();
		let mut stack = AdapterStack::new(2, 4, [true; 7], &model.config, None).unwrap();
		let a = |i: usize| Some(adapters[i].clone());
		assert_eq!(
			stack.place(&[a(0), None, a(1)], &model.config).unwrap(),
			vec![Some(0), None, Some(1)]
		);
		assert_eq!(stack.place(&[a(1), a(2)], &model.config).unwrap(), vec![Some(1), Some(0)]);
		assert_eq!(
			stack.place(&[a(1), a(2), a(1)], &model.config).unwrap(),
			vec![Some(1), Some(0), Some(1)]
		);
		// Three at once do not fit two slots: the stack grows.
		assert_eq!(
			stack.place(&[a(0), a(1), a(2)], &model.config).unwrap(),
			vec![Some(0), Some(1), Some(2)]
		);
	}

	#[test]
	fn a_step_refuses_mismatched_rows() {
		let model = tiny_model_with(Weights::Dense);
		let stack = AdapterStack::new(1, 4, [true; 7], &model.config, None).unwrap();
		let mut cache = KvCache::default();
		model.forward_sequence(&[5, 6], &mut cache, None).unwrap();
		let step = |cache: &mut KvCache, slots: &[Option<usize>]| {
			let mut rows = [Row { tokens: &[1], cache }];
			model.forward(&mut rows, Lora::Stack { stack: &stack, slots }).map(|_| ())
		};
		assert!(step(&mut cache, &[Some(0)]).is_err(), "empty slot");
		assert!(step(&mut cache, &[None, None]).is_err(), "more slots than rows");
		assert_eq!(cache.len(), 2, "a refused step leaves the cache as it was");
		assert!(step(&mut cache, &[None]).is_ok());
	}

	/// A stack rebuilt wide for a rank-16 adapter shrinks once only narrow ones remain, and
	/// still computes what each row gets alone.
	#[test]
	fn the_stack_shrinks_when_wide_adapters_leave() {
		let model = tiny_model_with(Weights::Dense);
		let wide = Arc::new(tiny_adapter(7, 16));
		let narrow = Arc::new(tiny_adapter(8, 2));
		let mut stack = AdapterStack::empty(2, None);
		stack.place(&[Some(wide.clone()), Some(narrow.clone())], &model.config).unwrap();
		let wide_bytes = stack.bytes();
		let slots = stack.place(&[Some(narrow.clone())], &model.config).unwrap();
		assert!(stack.bytes() * 4 <= wide_bytes, "{} then {}", wide_bytes, stack.bytes());
		let prompt = [5u32, 6, 7];
		let mut cache = KvCache::default();
		let mut alone = KvCache::default();
		model.forward_sequence(&prompt, &mut cache, Some(&narrow)).unwrap();
		model.forward_sequence(&prompt, &mut alone, Some(&narrow)).unwrap();
		let mut rows = [Row { tokens: &[9], cache: &mut cache }];
		let batched =
			model.forward(&mut rows, Lora::Stack { stack: &stack, slots: &slots }).unwrap();
		let single = model.forward_sequence(&[9], &mut alone, Some(&narrow)).unwrap();
		assert!(max_diff(&batched.get(0).unwrap(), &single) < 1e-4);
	}
}
