//! # Royalties pallet
//!
//! Where an inference fee goes. The inference pallet moves the fee into this pallet's pot
//! and calls [`Settlement::distribute`]; the fee is split by the model's [`RoyaltySplit`]:
//!
//! - the **provider** and the model's **owner** are credited their shares, claimable with
//!   `claim()`;
//! - the **treasury** is paid its share at once, with every planck of rounding dust;
//! - the **data** share goes in two parts. When the output matched records (span
//!   attribution), `SpanShare` of it is the *span part*, credited to those records'
//!   contributors in proportion to their scores (parts per million; scores summing to less
//!   than a million leave the rest to the pools). The remainder — all of it when nothing
//!   matched — is the *pool part*, divided among the adapter's lineage datasets by their
//!   lineage shares.
//!
//! A dataset's pool is a reward-per-weight accumulator: settling adds `amount / total weight`
//! (scaled by [`SCALE`]) to it, in O(1) whatever the number of contributors. A contributor's
//! share is `weight × (accumulator − accumulator when last settled)`; pallet-datasets tells
//! this pallet before any weight changes ([`WeightObserver`]), so earnings
//! under the old weight are settled first. `claim_from_datasets(ids)` pays them. The pool's
//! accounting is exact: what the accumulator's division leaves over, and the fractions of a
//! planck a contributor's settlement rounds away, are kept as the pool's `residue` (in units
//! of 10^-12 planck) and added to its next fill, so a pool pays out everything put into it.
//!
//! Claims are pulled: nothing is pushed to anyone, so nobody receives an amount below the
//! existential deposit they did not ask for. The treasury's share is paid at once; should
//! the treasury account be unable to take it (an amount below the existential deposit to an
//! emptied account), it waits in [`TreasuryPending`] for the next settlement, which never
//! fails for it. The pot keeps everything owed: `try_state` checks that its balance covers
//! every credit, every pool's outstanding rewards and the treasury's pending amount, that
//! each pool's outstanding rewards are exactly its contributors' shares and its residue, and
//! settlement and claims move balances without minting or burning.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use tributary_primitives::{
	ContributionId, DatasetId, DatasetsInspect, Distribution, RoyaltySplit, Settlement, SpanCredit,
	WeightObserver,
};

use polkadot_sdk::{
	frame_support::{
		pallet_prelude::*,
		storage::with_storage_layer,
		traits::{
			fungible::{self, Inspect, Mutate},
			tokens::Preservation,
		},
		PalletId,
	},
	frame_system::pallet_prelude::*,
	sp_core::U256,
	sp_runtime::{
		traits::{AccountIdConversion, SaturatedConversion, Saturating, Zero},
		Perbill, Permill, TokenError,
	},
};
use tributary_primitives::len_u32;

/// The accumulators' fixed-point scale: rewards per unit of weight are kept in units of
/// 10^-12 planck.
pub const SCALE: u128 = 1_000_000_000_000;

/// Parts per million in a whole.
const MILLION: u32 = 1_000_000;

/// The balance type of the currency fees are paid in.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
>>::Balance;

/// What the benchmarks need from the runtime: a dataset in which `who` holds weight.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId> {
	/// Creates dataset number `index` (of those the benchmark creates) with `who` holding
	/// `weight` in it, and returns its id.
	fn dataset_with_contributor(index: u32, who: &AccountId, weight: u64) -> DatasetId;
}

#[polkadot_sdk::frame_support::pallet]
// The pallet macros spell out paths through the umbrella crate that the imports here shorten.
#[allow(unused_qualifications)]
pub mod pallet {
	use super::*;

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Defaults for tests' mock runtimes, which `#[derive_impl]` their configuration from it.
	pub mod config_preludes {
		use super::*;
		use polkadot_sdk::{
			frame_support::{derive_impl, parameter_types, register_default_impl},
			frame_system,
		};

		parameter_types! {
			/// The pot's account is derived from this.
			pub const RoyaltiesPalletId: PalletId = PalletId(*b"trb/roya");
			/// Half of the data share to the matched records, when an output matched any.
			pub const SpanShare: Perbill = Perbill::from_percent(50);
		}

		/// The values most mock runtimes use; a mock overrides what its tests need otherwise.
		pub struct TestDefaultConfig;

		#[derive_impl(frame_system::config_preludes::TestDefaultConfig, no_aggregated_types)]
		impl frame_system::DefaultConfig for TestDefaultConfig {}

		#[register_default_impl(TestDefaultConfig)]
		impl DefaultConfig for TestDefaultConfig {
			type PalletId = RoyaltiesPalletId;
			type SpanShare = SpanShare;
			type MaxClaimDatasets = ConstU32<4>;
			type WeightInfo = ();
		}
	}

	#[pallet::config(with_default)]
	pub trait Config: polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency fees are paid in.
		#[pallet::no_default]
		type Currency: fungible::Inspect<Self::AccountId> + fungible::Mutate<Self::AccountId>;

		/// Derives the pot's account.
		#[pallet::constant]
		type PalletId: Get<PalletId>;

		/// Where the treasury's share and the dust go.
		#[pallet::no_default]
		type TreasuryAccount: Get<Self::AccountId>;

		/// Contributors' weights in datasets.
		#[pallet::no_default]
		type Datasets: DatasetsInspect<Self::AccountId>;

		/// The part of the data share credited to matched records when the output matched
		/// any (the rest goes to the lineage pools).
		#[pallet::constant]
		type SpanShare: Get<Perbill>;

		/// The most datasets one `claim_from_datasets` names.
		#[pallet::constant]
		type MaxClaimDatasets: Get<u32>;

		/// Weights of this pallet's calls, from its benchmarks.
		type WeightInfo: WeightInfo;

		/// Sets up what the benchmarks need from other pallets.
		#[cfg(feature = "runtime-benchmarks")]
		#[pallet::no_default]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
	}

	/// What each account may claim with `claim()`: provider, owner and span credits.
	#[pallet::storage]
	pub type Credits<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, BalanceOf<T>>;

	/// The sum of [`Credits`].
	#[pallet::storage]
	pub type TotalCredits<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Each dataset's reward pool.
	#[pallet::storage]
	pub type Pools<T: Config> = StorageMap<_, Twox64Concat, DatasetId, Pool<BalanceOf<T>>>;

	/// The sum of every pool's `outstanding`.
	#[pallet::storage]
	pub type TotalOutstanding<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Each contributor's position in each pool, by account then dataset.
	#[pallet::storage]
	pub type PoolPositions<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		DatasetId,
		PoolPosition<BalanceOf<T>>,
	>;

	/// The treasury's share and dust that its account could not take yet; paid with the next
	/// settlement's.
	#[pallet::storage]
	pub type TreasuryPending<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Every planck of rounding dust given to the treasury so far (sent, or waiting in
	/// [`TreasuryPending`]).
	#[pallet::storage]
	pub type TotalDust<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Every treasury share of a fee so far (sent, or waiting in [`TreasuryPending`]).
	#[pallet::storage]
	pub type TotalTreasuryShares<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Everything the pot has transferred to the treasury so far. With [`TreasuryPending`] it is
	/// exactly [`TotalTreasuryShares`] and [`TotalDust`] (`try_state`): the treasury was sent its
	/// shares and the dust, no more and no less.
	#[pallet::storage]
	pub type TotalSentToTreasury<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	#[pallet::genesis_config]
	#[derive(polkadot_sdk::frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		#[serde(skip)]
		pub _config: core::marker::PhantomData<T>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			// The pot exists from the start, so that fees of any size can be paid into it.
			let pot = Pallet::<T>::pot_account();
			let minimum = T::Currency::minimum_balance();
			if T::Currency::balance(&pot) < minimum {
				let _ = T::Currency::mint_into(&pot, minimum);
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A fee was divided.
		Distributed { fee: BalanceOf<T>, distribution: Distribution<BalanceOf<T>> },
		/// `who` was paid its credits.
		Claimed { who: T::AccountId, amount: BalanceOf<T> },
		/// `who` was paid its shares of dataset pools.
		ClaimedFromDatasets { who: T::AccountId, amount: BalanceOf<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// Nothing to claim.
		NothingToClaim,
		/// The split's shares do not sum to one.
		InvalidSplit,
		/// Span scores sum to more than a million parts.
		ScoresOverflow,
		/// Lineage shares do not sum to a million parts.
		InvalidLineage,
		/// A dataset is named twice.
		DuplicateDataset,
		/// The pot holds less than the fee (it was not paid in).
		FeeNotInPot,
		/// An amount overflowed, or the pot's books disagree with an amount.
		Overflow,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		#[cfg(feature = "try-runtime")]
		fn try_state(
			_n: BlockNumberFor<T>,
		) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Pays the caller everything credited to it (provider, owner and span credits).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::claim())]
		pub fn claim(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let amount = Credits::<T>::get(&who).unwrap_or_default();
			ensure!(!amount.is_zero(), Error::<T>::NothingToClaim);
			let total =
				TotalCredits::<T>::get().checked_sub(&amount).ok_or(Error::<T>::Overflow)?;
			T::Currency::transfer(&Self::pot_account(), &who, amount, Preservation::Preserve)?;
			Credits::<T>::remove(&who);
			TotalCredits::<T>::put(total);
			Self::deposit_event(Event::Claimed { who, amount });
			Ok(())
		}

		/// Pays the caller its shares of the pools of `datasets`.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::claim_from_datasets(len_u32(datasets.len())))]
		pub fn claim_from_datasets(
			origin: OriginFor<T>,
			datasets: BoundedVec<DatasetId, T::MaxClaimDatasets>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			let mut seen: Vec<DatasetId> = Vec::with_capacity(datasets.len());
			for id in datasets.iter() {
				ensure!(!seen.contains(id), Error::<T>::DuplicateDataset);
				seen.push(*id);
			}
			let mut amount = BalanceOf::<T>::zero();
			let mut total = TotalOutstanding::<T>::get();
			for dataset_id in datasets {
				let weight = T::Datasets::contributor_weight(dataset_id, &who);
				// No position is opened for a dataset the caller has no weight in.
				if weight == 0 && !PoolPositions::<T>::contains_key(&who, dataset_id) {
					continue;
				}
				Self::settle(dataset_id, &who, weight);
				let Some(mut stake) = PoolPositions::<T>::get(&who, dataset_id) else { continue };
				let accrued = core::mem::take(&mut stake.accrued);
				// A position without weight has nothing more to earn: it goes.
				if weight == 0 {
					PoolPositions::<T>::remove(&who, dataset_id);
				} else {
					PoolPositions::<T>::insert(&who, dataset_id, stake);
				}
				if accrued.is_zero() {
					continue;
				}
				let mut pool = Pools::<T>::get(dataset_id).ok_or(Error::<T>::Overflow)?;
				pool.outstanding =
					pool.outstanding.checked_sub(&accrued).ok_or(Error::<T>::Overflow)?;
				Pools::<T>::insert(dataset_id, pool);
				total = total.checked_sub(&accrued).ok_or(Error::<T>::Overflow)?;
				amount = amount.saturating_add(accrued);
			}
			ensure!(!amount.is_zero(), Error::<T>::NothingToClaim);
			TotalOutstanding::<T>::put(total);
			T::Currency::transfer(&Self::pot_account(), &who, amount, Preservation::Preserve)?;
			Self::deposit_event(Event::ClaimedFromDatasets { who, amount });
			Ok(())
		}
	}
}
