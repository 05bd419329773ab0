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
//! this pallet before any weight changes ([`pallet_datasets::WeightObserver`]), so earnings
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
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod weights;

pub use pallet_datasets::{ContributionId, DatasetId, DatasetsInspect};
pub use pallet_models::RoyaltySplit;

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

/// The accumulators' fixed-point scale: rewards per unit of weight are kept in units of
/// 10^-12 planck.
pub const SCALE: u128 = 1_000_000_000_000;

/// Parts per million in a whole.
const MILLION: u32 = 1_000_000;

/// The balance type of the currency fees are paid in.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
>>::Balance;

/// What an account could claim: its credits, its shares of dataset pools, and their sum.
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct PendingRoyalties<Balance> {
	/// Credited as provider, model owner or contributor of attributed records (`claim`).
	pub credits: Balance,
	/// `[datasetId, amount]`: shares of dataset pools (`claim_from_datasets`).
	pub pools: Vec<(DatasetId, Balance)>,
	/// Credits and pool shares together.
	pub total: Balance,
}

/// A dataset's reward pool.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	PartialEq,
	Eq,
	Debug,
	Default,
	TypeInfo,
	MaxEncodedLen,
)]
pub struct Pool<Balance> {
	/// Rewards per unit of weight ever added, times [`SCALE`].
	pub reward_per_weight: u128,
	/// What was put into the pool and not yet claimed.
	pub outstanding: Balance,
	/// What no contributor holds yet, in units of 10^-12 planck: the accumulator's division
	/// remainder and the fractions of a planck settlements rounded away. Added to the next
	/// fill.
	pub residue: u128,
}

/// A contributor's position in a dataset's pool.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	PartialEq,
	Eq,
	Debug,
	Default,
	TypeInfo,
	MaxEncodedLen,
)]
pub struct Stake<Balance> {
	/// The pool's accumulator when this contributor was last settled.
	pub reward_per_weight_paid: u128,
	/// Earned and settled, not yet claimed.
	pub accrued: Balance,
}

/// One record the output matched: who contributed it and its score.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SpanCredit<AccountId> {
	pub dataset_id: DatasetId,
	pub contribution_id: ContributionId,
	pub contributor: AccountId,
	pub score_ppm: u32,
}

/// How one fee was divided.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	PartialEq,
	Eq,
	Debug,
	Default,
	TypeInfo,
	MaxEncodedLen,
)]
pub struct Distribution<Balance> {
	pub provider: Balance,
	pub owner: Balance,
	/// The treasury's share, without the dust.
	pub treasury: Balance,
	/// Credited to matched records' contributors.
	pub spans: Balance,
	/// Added to the lineage datasets' pools.
	pub pools: Balance,
	/// Rounding remainders, paid to the treasury.
	pub dust: Balance,
}

/// What the benchmarks need from the runtime: a dataset in which `who` holds weight.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId> {
	/// Creates dataset number `index` (of those the benchmark creates) with `who` holding
	/// `weight` in it, and returns its id.
	fn dataset_with_contributor(index: u32, who: &AccountId, weight: u64) -> DatasetId;
}

/// What the inference pallet calls to divide a fee already in the pot.
pub trait Settlement<AccountId, Balance> {
	/// The account fees are paid into before [`Self::distribute`].
	fn pot() -> AccountId;

	/// Divides `fee` (in the pot) by `split` between `provider`, `owner`, the treasury,
	/// `spans` (scores summing to at most a million) and `pools` (lineage shares summing to a
	/// million). Returns the division and what each span credit earned, in order.
	fn distribute(
		fee: Balance,
		split: &RoyaltySplit,
		provider: &AccountId,
		owner: &AccountId,
		spans: &[SpanCredit<AccountId>],
		pools: &[(DatasetId, u32)],
	) -> Result<(Distribution<Balance>, Vec<Balance>), DispatchError>;
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

	#[pallet::config]
	pub trait Config: polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency fees are paid in.
		type Currency: fungible::Inspect<Self::AccountId> + fungible::Mutate<Self::AccountId>;

		/// Derives the pot's account.
		#[pallet::constant]
		type PalletId: Get<PalletId>;

		/// Where the treasury's share and the dust go.
		type TreasuryAccount: Get<Self::AccountId>;

		/// Contributors' weights in datasets.
		type Datasets: DatasetsInspect<Self::AccountId>;

		/// The part of the data share credited to matched records when the output matched
		/// any (the rest goes to the lineage pools).
		#[pallet::constant]
		type SpanShare: Get<Perbill>;

		/// The most datasets one `claim_from_datasets` names.
		#[pallet::constant]
		type MaxClaimDatasets: Get<u32>;

		type WeightInfo: WeightInfo;

		/// Sets up what the benchmarks need from other pallets.
		#[cfg(feature = "runtime-benchmarks")]
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
	pub type Stakes<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		DatasetId,
		Stake<BalanceOf<T>>,
	>;

	/// The treasury's share and dust that its account could not take yet; paid with the next
	/// settlement's.
	#[pallet::storage]
	pub type TreasuryPending<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

	/// Every planck of rounding dust given to the treasury so far (sent, or waiting in
	/// [`TreasuryPending`]).
	#[pallet::storage]
	pub type TotalDust<T: Config> = StorageValue<_, BalanceOf<T>, ValueQuery>;

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
		#[pallet::weight(T::WeightInfo::claim_from_datasets(datasets.len() as u32))]
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
				if weight == 0 && !Stakes::<T>::contains_key(&who, dataset_id) {
					continue;
				}
				Self::settle(dataset_id, &who, weight);
				let Some(mut stake) = Stakes::<T>::get(&who, dataset_id) else { continue };
				let accrued = core::mem::take(&mut stake.accrued);
				// A position without weight has nothing more to earn: it goes.
				if weight == 0 {
					Stakes::<T>::remove(&who, dataset_id);
				} else {
					Stakes::<T>::insert(&who, dataset_id, stake);
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

	impl<T: Config> Pallet<T> {
		/// The pot: fees are paid into it and claims paid out of it.
		pub fn pot_account() -> T::AccountId {
			T::PalletId::get().into_account_truncating()
		}

		/// `who`'s unsettled earnings in `dataset_id` at `weight`, in whole planck.
		fn unsettled(dataset_id: DatasetId, who: &T::AccountId, weight: u64) -> BalanceOf<T> {
			let accumulator = Pools::<T>::get(dataset_id).map_or(0, |p| p.reward_per_weight);
			let paid = Stakes::<T>::get(who, dataset_id).map_or(0, |s| s.reward_per_weight_paid);
			earnings(weight, accumulator, paid).0.saturated_into()
		}

		/// Moves `who`'s earnings at `weight` since it was last settled into its accrued
		/// rewards (the fraction of a planck left over into the pool's residue), and marks it
		/// settled at the pool's current accumulator. A position is kept while it may earn
		/// (`weight`, the weight earned under, is about to change when the datasets pallet
		/// calls this); `claim_from_datasets` removes one left without weight.
		pub(crate) fn settle(dataset_id: DatasetId, who: &T::AccountId, weight: u64) {
			let mut pool = Pools::<T>::get(dataset_id);
			let accumulator = pool.as_ref().map_or(0, |p| p.reward_per_weight);
			let mut stake = Stakes::<T>::get(who, dataset_id).unwrap_or_default();
			let (whole, fraction) = earnings(weight, accumulator, stake.reward_per_weight_paid);
			stake.accrued = stake.accrued.saturating_add(whole.saturated_into());
			stake.reward_per_weight_paid = accumulator;
			if let Some(pool) = pool.as_mut().filter(|_| fraction != 0) {
				pool.residue = pool.residue.saturating_add(fraction);
				Pools::<T>::insert(dataset_id, pool);
			}
			Stakes::<T>::insert(who, dataset_id, stake);
		}

		/// What `who` could claim now, as the runtime API answers it.
		pub fn pending_royalties(who: &T::AccountId) -> PendingRoyalties<BalanceOf<T>> {
			let (credits, pools) = Self::pending(who);
			let total =
				pools.iter().fold(credits, |total, (_, amount)| total.saturating_add(*amount));
			PendingRoyalties { credits, pools, total }
		}

		/// What `who` could claim now: credits, and its shares of every pool it has a
		/// position in.
		pub fn pending(who: &T::AccountId) -> (BalanceOf<T>, Vec<(DatasetId, BalanceOf<T>)>) {
			let credits = Credits::<T>::get(who).unwrap_or_default();
			let pools = Stakes::<T>::iter_prefix(who)
				.map(|(dataset_id, stake)| {
					let weight = T::Datasets::contributor_weight(dataset_id, who);
					let unsettled = Self::unsettled(dataset_id, who, weight);
					(dataset_id, stake.accrued.saturating_add(unsettled))
				})
				.filter(|(_, amount)| !amount.is_zero())
				.collect();
			(credits, pools)
		}

		pub(crate) fn credit(who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
			if amount.is_zero() {
				return Ok(());
			}
			let total =
				TotalCredits::<T>::get().checked_add(&amount).ok_or(Error::<T>::Overflow)?;
			let mine = Credits::<T>::get(who)
				.unwrap_or_default()
				.checked_add(&amount)
				.ok_or(Error::<T>::Overflow)?;
			Credits::<T>::insert(who, mine);
			TotalCredits::<T>::put(total);
			Ok(())
		}

		/// `amount × parts / 1,000,000`, rounded down.
		pub(crate) fn part(amount: BalanceOf<T>, parts: u32) -> BalanceOf<T> {
			Permill::from_parts(parts.min(MILLION)).mul_floor(amount)
		}

		/// Adds `amount` to `dataset_id`'s pool, with the pool's residue, and returns what was
		/// added: all of `amount`, or nothing for a pool with no weight (whose part is dust).
		pub(crate) fn fill_pool(
			dataset_id: DatasetId,
			amount: BalanceOf<T>,
		) -> Result<BalanceOf<T>, DispatchError> {
			let total_weight = T::Datasets::total_weight(dataset_id).unwrap_or(0);
			if total_weight == 0 || amount.is_zero() {
				return Ok(Zero::zero());
			}
			let amount_u128: u128 = amount.try_into().map_err(|_| Error::<T>::Overflow)?;
			let mut pool = Pools::<T>::get(dataset_id).unwrap_or_default();
			let scaled = U256::from(amount_u128)
				.saturating_mul(U256::from(SCALE))
				.saturating_add(U256::from(pool.residue));
			let weight = U256::from(total_weight);
			let increment: u128 = scaled
				.checked_div(weight)
				.and_then(|increment| increment.try_into().ok())
				.ok_or(Error::<T>::Overflow)?;
			// Below `total_weight`, so below u64::MAX.
			pool.residue = scaled.checked_rem(weight).map_or(0, |rest| rest.low_u128());
			pool.reward_per_weight =
				pool.reward_per_weight.checked_add(increment).ok_or(Error::<T>::Overflow)?;
			pool.outstanding = pool.outstanding.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
			let total =
				TotalOutstanding::<T>::get().checked_add(&amount).ok_or(Error::<T>::Overflow)?;
			Pools::<T>::insert(dataset_id, pool);
			TotalOutstanding::<T>::put(total);
			Ok(amount)
		}

		/// The pot covers every credit, every pool's outstanding rewards and the treasury's
		/// pending amount; each pool's outstanding rewards are exactly what its contributors
		/// hold (accrued, and unsettled at their weight) plus its residue.
		pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			let credits = Credits::<T>::iter_values()
				.fold(BalanceOf::<T>::zero(), |sum, c| sum.saturating_add(c));
			ensure!(credits == TotalCredits::<T>::get(), "TotalCredits is the sum of Credits");
			let pools = Pools::<T>::iter_values()
				.fold(BalanceOf::<T>::zero(), |sum, p| sum.saturating_add(p.outstanding));
			ensure!(pools == TotalOutstanding::<T>::get(), "TotalOutstanding is the pools' sum");
			let owed = credits
				.saturating_add(pools)
				.saturating_add(TreasuryPending::<T>::get())
				.saturating_add(T::Currency::minimum_balance());
			ensure!(
				T::Currency::balance(&Self::pot_account()) >= owed,
				"the pot covers everything owed"
			);
			// Per pool: what its positions hold (in 10^-12 planck) and their weight.
			let mut held: alloc::collections::BTreeMap<DatasetId, (U256, u64)> = Default::default();
			for (who, dataset_id, stake) in Stakes::<T>::iter() {
				let pool = Pools::<T>::get(dataset_id).unwrap_or_default();
				ensure!(
					stake.reward_per_weight_paid <= pool.reward_per_weight,
					"no stake is settled beyond its pool"
				);
				let weight = T::Datasets::contributor_weight(dataset_id, &who);
				let accrued: u128 = stake.accrued.try_into().map_err(|_| "an accrued overflow")?;
				let unsettled = U256::from(weight).saturating_mul(U256::from(
					pool.reward_per_weight.saturating_sub(stake.reward_per_weight_paid),
				));
				let entry = held.entry(dataset_id).or_insert((U256::zero(), 0));
				entry.0 = entry
					.0
					.saturating_add(U256::from(accrued).saturating_mul(U256::from(SCALE)))
					.saturating_add(unsettled);
				entry.1 = entry.1.saturating_add(weight);
			}
			for (dataset_id, pool) in Pools::<T>::iter() {
				let (positions, staked_weight) =
					held.get(&dataset_id).copied().unwrap_or((U256::zero(), 0));
				// Contributors without a position have held their weight since the pool began.
				let unstaked = T::Datasets::total_weight(dataset_id)
					.unwrap_or(0)
					.checked_sub(staked_weight)
					.ok_or("positions hold more weight than the dataset")?;
				let outstanding: u128 =
					pool.outstanding.try_into().map_err(|_| "an outstanding overflow")?;
				ensure!(
					U256::from(outstanding).saturating_mul(U256::from(SCALE))
						== positions
							.saturating_add(
								U256::from(unstaked)
									.saturating_mul(U256::from(pool.reward_per_weight))
							)
							.saturating_add(U256::from(pool.residue)),
					"a pool's outstanding rewards are its contributors' shares and its residue"
				);
			}
			Ok(())
		}
	}
}

/// `weight × (accumulator − paid)` in whole planck, and the fraction of a planck left over
/// (in 10^-12 planck).
fn earnings(weight: u64, accumulator: u128, paid: u128) -> (u128, u128) {
	let product = U256::from(weight).saturating_mul(U256::from(accumulator.saturating_sub(paid)));
	let scale = U256::from(SCALE);
	let whole = product.checked_div(scale).unwrap_or_default();
	let fraction = product.checked_rem(scale).unwrap_or_default();
	(whole.try_into().unwrap_or(u128::MAX), fraction.low_u128())
}

impl<T: Config> Settlement<T::AccountId, BalanceOf<T>> for Pallet<T> {
	fn pot() -> T::AccountId {
		Self::pot_account()
	}

	fn distribute(
		fee: BalanceOf<T>,
		split: &RoyaltySplit,
		provider: &T::AccountId,
		owner: &T::AccountId,
		spans: &[SpanCredit<T::AccountId>],
		pools: &[(DatasetId, u32)],
	) -> Result<(Distribution<BalanceOf<T>>, Vec<BalanceOf<T>>), DispatchError> {
		ensure!(split.total_parts() == MILLION, Error::<T>::InvalidSplit);
		let scores = spans.iter().try_fold(0u32, |sum, s| sum.checked_add(s.score_ppm));
		ensure!(scores.is_some_and(|s| s <= MILLION), Error::<T>::ScoresOverflow);
		let scores = scores.unwrap_or(0);
		let lineage = pools.iter().try_fold(0u32, |sum, p| sum.checked_add(p.1));
		ensure!(pools.is_empty() || lineage == Some(MILLION), Error::<T>::InvalidLineage);
		for (i, (dataset_id, _)) in pools.iter().enumerate() {
			ensure!(
				!pools[..i].iter().any(|(earlier, _)| earlier == dataset_id),
				Error::<T>::DuplicateDataset
			);
		}
		// The fee must be in the pot beside everything already owed (and the pot's own
		// existential deposit).
		let owed = TotalCredits::<T>::get()
			.saturating_add(TotalOutstanding::<T>::get())
			.saturating_add(TreasuryPending::<T>::get())
			.saturating_add(T::Currency::minimum_balance());
		ensure!(
			T::Currency::balance(&Self::pot_account()) >= owed.saturating_add(fee),
			Error::<T>::FeeNotInPot
		);

		let provider_share = split.provider.mul_floor(fee);
		let owner_share = split.owner.mul_floor(fee);
		let treasury_share = split.treasury.mul_floor(fee);
		let data = split.data.mul_floor(fee);
		let shares = provider_share
			.saturating_add(owner_share)
			.saturating_add(treasury_share)
			.saturating_add(data);
		let mut dust = fee.saturating_sub(shares);

		// The span part, by score; what scores leave unassigned joins the pool part.
		let span_part =
			if spans.is_empty() { Zero::zero() } else { T::SpanShare::get().mul_floor(data) };
		let mut earned = Vec::with_capacity(spans.len());
		let mut spans_paid = BalanceOf::<T>::zero();
		for span in spans {
			let amount = Self::part(span_part, span.score_ppm);
			Self::credit(&span.contributor, amount)?;
			spans_paid = spans_paid.saturating_add(amount);
			earned.push(amount);
		}
		let unassigned = Self::part(span_part, MILLION.saturating_sub(scores));
		dust = dust.saturating_add(span_part.saturating_sub(spans_paid).saturating_sub(unassigned));
		let pool_part = data.saturating_sub(span_part).saturating_add(unassigned);

		// The pool part, by lineage share.
		let mut pools_paid = BalanceOf::<T>::zero();
		for (dataset_id, share) in pools {
			let amount = Self::part(pool_part, *share);
			let claimable = Self::fill_pool(*dataset_id, amount)?;
			pools_paid = pools_paid.saturating_add(claimable);
		}
		dust = dust.saturating_add(pool_part.saturating_sub(pools_paid));

		Self::credit(provider, provider_share)?;
		Self::credit(owner, owner_share)?;
		let to_treasury =
			TreasuryPending::<T>::get().saturating_add(treasury_share).saturating_add(dust);
		if !to_treasury.is_zero() {
			let paid = with_storage_layer(|| {
				T::Currency::transfer(
					&Self::pot_account(),
					&T::TreasuryAccount::get(),
					to_treasury,
					Preservation::Preserve,
				)
			});
			// An emptied treasury account cannot take less than the existential deposit: the
			// amount waits for the next settlement rather than failing this one.
			match paid {
				Ok(_) => TreasuryPending::<T>::kill(),
				Err(DispatchError::Token(TokenError::BelowMinimum | TokenError::CannotCreate)) => {
					TreasuryPending::<T>::put(to_treasury)
				}
				Err(error) => return Err(error),
			}
		}
		TotalDust::<T>::mutate(|total| *total = total.saturating_add(dust));
		let distribution = Distribution {
			provider: provider_share,
			owner: owner_share,
			treasury: treasury_share,
			spans: spans_paid,
			pools: pools_paid,
			dust,
		};
		Self::deposit_event(Event::Distributed { fee, distribution: distribution.clone() });
		Ok((distribution, earned))
	}
}

impl<T: Config> pallet_datasets::WeightObserver<T::AccountId> for Pallet<T> {
	fn on_weight_change(dataset_id: DatasetId, who: &T::AccountId, old: u64, new: u64) {
		// Earnings under the old weight first.
		Pallet::<T>::settle(dataset_id, who, old);
		// A position left without weight and with nothing to claim goes.
		if new == 0 && Stakes::<T>::get(who, dataset_id).is_some_and(|s| s.accrued.is_zero()) {
			Stakes::<T>::remove(who, dataset_id);
		}
	}
}
