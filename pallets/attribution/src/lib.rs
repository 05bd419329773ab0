//! # Attribution pallet
//!
//! The attribution ledger: where a model's outputs come from, in two halves.
//!
//! - **Lineage:** for each LoRA adapter, the datasets it was trained on, as shares of one
//!   (parts per million) normalised from the weights its owner declared, and the reverse index
//!   that answers "which adapters were trained on dataset D". Royalties pay a model's data
//!   share to these datasets' contributors in proportion to the shares. Pallet-models writes
//!   lineage through [`LineageLedger`] when an adapter is registered; it never changes: an
//!   adapter is an artifact whose training data is fixed.
//! - **Outputs:** for each settled inference, the records its output drew on (span
//!   attribution), with their scores and what each earned, written by the inference pallet
//!   through [`OutputLedger`]. Outputs stay on chain for `RetentionPeriod` blocks, then are
//!   pruned a bounded number per block; each is also written to the offchain index, so a node
//!   keeps serving them after. Every contribution keeps running statistics: times cited,
//!   scores summed, total earned.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

use alloc::vec::Vec;
use polkadot_sdk::{
	frame_support::pallet_prelude::*,
	frame_system::pallet_prelude::BlockNumberFor,
	sp_runtime::{traits::AtLeast32BitUnsigned, Permill, Saturating},
};
use tributary_primitives::len_u32;
pub use tributary_primitives::{
	AdapterId, CitedRecord, ContributionId, DatasetId, LineageLedger, LineageShare,
	OnContributionRemoved, OutputLedger, RequestId,
};

/// Where the offchain index keeps a settled output's record: this prefix, then the request id
/// (little-endian u64).
pub const OFFCHAIN_PREFIX: &[u8] = b"tributary/attribution/output/";

/// An output's record as this runtime stores it.
pub type OutputRecordOf<T> =
	OutputRecord<<T as Config>::Balance, BlockNumberFor<T>, <T as Config>::MaxAttributions>;

/// The most entries one page of [`Pallet::adapters_trained_on`] holds.
pub const MAX_ADAPTERS_PAGE: u32 = 100;

/// An adapter's lineage as this runtime stores it.
pub type LineageOf<T> = BoundedVec<LineageShare, <T as Config>::MaxLineage>;

#[polkadot_sdk::frame_support::pallet]
// The pallet macros spell out paths through the umbrella crate that the imports here shorten.
#[allow(unused_qualifications)]
pub mod pallet {
	use super::*;

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Defaults for tests' mock runtimes, which `#[derive_impl]` their configuration from it.
	pub mod config_preludes {
		use super::*;
		use polkadot_sdk::{
			frame_support::{derive_impl, register_default_impl, traits::ConstU64},
			frame_system,
		};

		/// The values most mock runtimes use; a mock overrides what its tests need otherwise.
		pub struct TestDefaultConfig;

		#[derive_impl(frame_system::config_preludes::TestDefaultConfig, no_aggregated_types)]
		impl frame_system::DefaultConfig for TestDefaultConfig {}

		#[register_default_impl(TestDefaultConfig)]
		impl DefaultConfig for TestDefaultConfig {
			type MaxLineage = ConstU32<4>;
			type Balance = u128;
			type MaxAttributions = ConstU32<4>;
			type RetentionPeriod = ConstU64<100>;
			type MaxOutputsPerBlock = ConstU32<8>;
			type WeightInfo = ();
		}
	}

	#[pallet::config(with_default)]
	pub trait Config: polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The most datasets one adapter's lineage names.
		#[pallet::constant]
		type MaxLineage: Get<u32>;

		/// The balance type earnings are counted in.
		type Balance: Parameter + MaxEncodedLen + AtLeast32BitUnsigned + Copy + Default;

		/// The most records one output's attribution names.
		#[pallet::constant]
		type MaxAttributions: Get<u32>;

		/// How many blocks a settled output's attribution stays on chain.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type RetentionPeriod: Get<BlockNumberFor<Self>>;

		/// The most outputs settled (and so pruned) in one block.
		#[pallet::constant]
		type MaxOutputsPerBlock: Get<u32>;

		/// Weights of this pallet's calls, from its benchmarks.
		type WeightInfo: WeightInfo;
	}

	/// Settled outputs' attribution, until pruned.
	#[pallet::storage]
	pub type Outputs<T: Config> = StorageMap<_, Twox64Concat, RequestId, OutputRecordOf<T>>;

	/// The outputs pruned at each block.
	#[pallet::storage]
	pub type PruneQueue<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<RequestId, T::MaxOutputsPerBlock>,
		ValueQuery,
	>;

	/// Each contribution's statistics.
	#[pallet::storage]
	pub type ContributionStatistics<T: Config> = StorageDoubleMap<
		_,
		Twox64Concat,
		DatasetId,
		Twox64Concat,
		ContributionId,
		ContributionStats<T::Balance>,
		ValueQuery,
	>;

	/// Each adapter's lineage: its training datasets and their shares, which sum to one.
	#[pallet::storage]
	pub type Lineages<T: Config> = StorageMap<_, Twox64Concat, AdapterId, LineageOf<T>>;

	/// The reverse of [`Lineages`]: for each dataset, the adapters trained on it and the
	/// dataset's share in each.
	#[pallet::storage]
	pub type AdaptersByDataset<T: Config> =
		StorageDoubleMap<_, Twox64Concat, DatasetId, Twox64Concat, AdapterId, Permill, OptionQuery>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// An adapter's lineage was recorded.
		LineageRecorded { adapter_id: AdapterId, lineage: LineageOf<T> },
		/// A reaped adapter's lineage was removed with its model.
		LineageRemoved { adapter_id: AdapterId },
		/// A settled output's attribution was recorded.
		OutputRecorded { request_id: RequestId, adapter_id: AdapterId, records: u32 },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// A lineage must name at least one dataset.
		EmptyLineage,
		/// A lineage names more than `MaxLineage` datasets.
		LineageTooLong,
		/// A lineage names the same dataset twice.
		DuplicateLineageDataset,
		/// Every dataset in a lineage needs a weight above zero.
		ZeroLineageWeight,
		/// This adapter's lineage is recorded already; lineage never changes.
		LineageExists,
		/// This output's attribution is recorded already.
		OutputExists,
		/// More records than `MaxAttributions`.
		TooManyRecords,
		/// `MaxOutputsPerBlock` outputs were settled in this block already.
		TooManyOutputs,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// Prunes the outputs whose retention ends now.
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let due = PruneQueue::<T>::take(now);
			for request_id in &due {
				Outputs::<T>::remove(request_id);
			}
			T::WeightInfo::prune(len_u32(due.len()))
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(
			_n: BlockNumberFor<T>,
		) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}
}

impl<T: Config> Pallet<T> {
	/// Normalises declared weights into shares of one million parts that sum to exactly one
	/// million: each dataset gets its weight's share rounded down, and the parts rounding left
	/// over go one each to the datasets with the largest remainders (the earlier one on a tie),
	/// so the result depends on nothing but the input.
	pub fn normalise(weights: &[(DatasetId, u64)]) -> Result<Vec<LineageShare>, DispatchError> {
		ensure!(!weights.is_empty(), Error::<T>::EmptyLineage);
		ensure!(weights.len() <= T::MaxLineage::get() as usize, Error::<T>::LineageTooLong);
		ensure!(weights.iter().all(|(_, weight)| *weight > 0), Error::<T>::ZeroLineageWeight);
		for (index, (dataset_id, _)) in weights.iter().enumerate() {
			ensure!(
				!weights[..index].iter().any(|(earlier, _)| earlier == dataset_id),
				Error::<T>::DuplicateLineageDataset
			);
		}

		const ONE: u128 = 1_000_000;
		// At most `MaxLineage` u64 weights, each above zero: the sum is above zero and fits in
		// u128 with room to multiply any weight by ONE, so none of the saturating operations
		// below ever saturates.
		let total: u128 = weights
			.iter()
			.fold(0u128, |sum, (_, weight)| sum.saturating_add(u128::from(*weight)))
			.max(1);
		let mut parts: Vec<(u128, u128)> = weights
			.iter()
			.map(|(_, weight)| {
				let scaled = u128::from(*weight).saturating_mul(ONE);
				(scaled / total, scaled % total)
			})
			.collect();
		let assigned: u128 = parts.iter().fold(0u128, |sum, (share, _)| sum.saturating_add(*share));
		let mut by_remainder: Vec<usize> = (0..parts.len()).collect();
		by_remainder.sort_by(|a, b| parts[*b].1.cmp(&parts[*a].1).then(a.cmp(b)));
		// Fewer left-over parts than datasets: each remainder is below `total`.
		let left_over = usize::try_from(ONE.saturating_sub(assigned)).unwrap_or(usize::MAX);
		for index in by_remainder.into_iter().take(left_over) {
			parts[index].0 = parts[index].0.saturating_add(1);
		}
		Ok(weights
			.iter()
			.zip(parts)
			.map(|((dataset_id, _), (share, _))| LineageShare {
				dataset_id: *dataset_id,
				// Each share is at most ONE, which fits in a u32.
				share: Permill::from_parts(u32::try_from(share).unwrap_or(1_000_000)),
			})
			.collect())
	}

	/// An adapter's lineage, if recorded.
	pub fn lineage(adapter_id: AdapterId) -> Option<Vec<LineageShare>> {
		Lineages::<T>::get(adapter_id).map(BoundedVec::into_inner)
	}

	/// Up to `limit` (at most [`MAX_ADAPTERS_PAGE`]) adapters trained on a dataset, with the
	/// dataset's share in each, after `start_after` (the last adapter of the previous page).
	pub fn adapters_trained_on(
		dataset_id: DatasetId,
		start_after: Option<AdapterId>,
		limit: u32,
	) -> Vec<(AdapterId, Permill)> {
		let entries = match start_after {
			Some(adapter_id) => AdaptersByDataset::<T>::iter_prefix_from(
				dataset_id,
				AdaptersByDataset::<T>::hashed_key_for(dataset_id, adapter_id),
			),
			None => AdaptersByDataset::<T>::iter_prefix(dataset_id),
		};
		entries.take(limit.min(MAX_ADAPTERS_PAGE) as usize).collect()
	}

	/// Checks the ledger's invariants: every lineage is non-empty, names each dataset once and
	/// has shares summing to exactly one; the reverse index holds exactly the lineages' entries.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		let mut entries = 0usize;
		for (adapter_id, lineage) in Lineages::<T>::iter() {
			ensure!(!lineage.is_empty(), "a lineage is empty");
			let total: u64 = lineage.iter().map(|entry| u64::from(entry.share.deconstruct())).sum();
			ensure!(total == 1_000_000, "lineage shares do not sum to one");
			for (index, entry) in lineage.iter().enumerate() {
				ensure!(
					!lineage[..index].iter().any(|earlier| earlier.dataset_id == entry.dataset_id),
					"a lineage names a dataset twice"
				);
				ensure!(
					AdaptersByDataset::<T>::get(entry.dataset_id, adapter_id) == Some(entry.share),
					"the reverse index disagrees with a lineage"
				);
			}
			entries += lineage.len();
		}
		ensure!(
			AdaptersByDataset::<T>::iter().count() == entries,
			"the reverse index holds entries no lineage has"
		);
		let mut outputs = 0usize;
		for (request_id, output) in Outputs::<T>::iter() {
			let prune_at = output.settled_at.saturating_add(T::RetentionPeriod::get());
			ensure!(
				PruneQueue::<T>::get(prune_at).contains(&request_id),
				"a recorded output is queued for pruning"
			);
			outputs += 1;
		}
		let mut queued = 0usize;
		for (prune_at, queue) in PruneQueue::<T>::iter() {
			for request_id in queue {
				ensure!(
					Outputs::<T>::get(request_id).is_some_and(|output| output
						.settled_at
						.saturating_add(T::RetentionPeriod::get())
						== prune_at),
					"a prune-queue entry names no output settled for that block"
				);
				queued += 1;
			}
		}
		ensure!(queued == outputs, "an output is queued for pruning more than once");
		Ok(())
	}
}

/// A removed contribution's statistics go with it: they describe a record that no longer is.
impl<T: Config> OnContributionRemoved for Pallet<T> {
	fn on_contribution_removed(dataset_id: DatasetId, contribution_id: ContributionId) {
		ContributionStatistics::<T>::remove(dataset_id, contribution_id);
	}
}

impl<T: Config> OutputLedger<T::Balance> for Pallet<T> {
	fn has_room() -> bool {
		let now = polkadot_sdk::frame_system::Pallet::<T>::block_number();
		PruneQueue::<T>::decode_len(now.saturating_add(T::RetentionPeriod::get()))
			.is_none_or(|len| len < T::MaxOutputsPerBlock::get() as usize)
	}

	fn record_output(
		request_id: RequestId,
		adapter_id: AdapterId,
		records: &[CitedRecord<T::Balance>],
	) -> DispatchResult {
		ensure!(!Outputs::<T>::contains_key(request_id), Error::<T>::OutputExists);
		let bounded = BoundedVec::<_, T::MaxAttributions>::try_from(records.to_vec())
			.map_err(|_| Error::<T>::TooManyRecords)?;
		let now = polkadot_sdk::frame_system::Pallet::<T>::block_number();
		PruneQueue::<T>::try_mutate(now.saturating_add(T::RetentionPeriod::get()), |queue| {
			queue.try_push(request_id)
		})
		.map_err(|_| Error::<T>::TooManyOutputs)?;
		for record in records {
			ContributionStatistics::<T>::mutate(
				record.dataset_id,
				record.contribution_id,
				|stats| {
					stats.times_cited = stats.times_cited.saturating_add(1);
					stats.total_score_ppm =
						stats.total_score_ppm.saturating_add(u64::from(record.score_ppm));
					stats.total_earned = stats.total_earned.saturating_add(record.earned);
				},
			);
		}
		let output = OutputRecord { adapter_id, settled_at: now, records: bounded };
		let mut key = OFFCHAIN_PREFIX.to_vec();
		key.extend_from_slice(&request_id.to_le_bytes());
		polkadot_sdk::sp_io::offchain_index::set(&key, &output.encode());
		Outputs::<T>::insert(request_id, output);
		Self::deposit_event(Event::OutputRecorded {
			request_id,
			adapter_id,
			records: len_u32(records.len()),
		});
		Ok(())
	}
}

impl<T: Config> LineageLedger for Pallet<T> {
	fn max_lineage() -> u32 {
		T::MaxLineage::get()
	}

	fn check_lineage(weights: &[(DatasetId, u64)]) -> DispatchResult {
		Self::normalise(weights).map(|_| ())
	}

	fn record_lineage(
		adapter_id: AdapterId,
		weights: &[(DatasetId, u64)],
	) -> Result<Vec<LineageShare>, DispatchError> {
		ensure!(!Lineages::<T>::contains_key(adapter_id), Error::<T>::LineageExists);
		let shares = Self::normalise(weights)?;
		let lineage =
			LineageOf::<T>::try_from(shares.clone()).map_err(|_| Error::<T>::LineageTooLong)?;
		for entry in &shares {
			AdaptersByDataset::<T>::insert(entry.dataset_id, adapter_id, entry.share);
		}
		Lineages::<T>::insert(adapter_id, lineage.clone());
		Self::deposit_event(Event::LineageRecorded { adapter_id, lineage });
		Ok(shares)
	}

	fn lineage(adapter_id: AdapterId) -> Option<Vec<LineageShare>> {
		Self::lineage(adapter_id)
	}

	fn remove_lineage(adapter_id: AdapterId) {
		let Some(lineage) = Lineages::<T>::take(adapter_id) else { return };
		for entry in &lineage {
			AdaptersByDataset::<T>::remove(entry.dataset_id, adapter_id);
		}
		Self::deposit_event(Event::LineageRemoved { adapter_id });
	}

	fn lineage_count() -> u32 {
		len_u32(Lineages::<T>::iter_keys().count())
	}
}
