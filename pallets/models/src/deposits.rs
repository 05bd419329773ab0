//! Deposits: what a model and an adapter cost to keep, held through frame-support's
//! `Consideration`.
//!
//! Each deposit is a [`HoldConsideration`] ticket held under this pallet's [`HoldReason`] and
//! priced by [`TwoPartStoragePrice`] from its constants: a model's is `ModelDeposit` plus
//! `DepositPerByte` per byte of name, base-model name and spec URI plus `DepositPerDataset` per
//! dataset; an adapter's is `AdapterDeposit` plus `DepositPerByte` per URI byte plus
//! `DepositPerDataset` per lineage entry.
//!
//! A record keeps its ticket as the amount it holds, its `deposit` ([`RecordedTicket`]): that
//! amount is the ticket's whole state, so nothing is stored twice, and events, the RPC's JSON and
//! `try_state` read it as a balance. The ticket is fixed here rather than left to the runtime
//! (as pallet-preimage's `Consideration` is) because `try_state` relies on it being a hold under
//! this pallet's reasons, comparing each owner's held balance with their records.

use crate::*;
use polkadot_sdk::{
	frame_support::{parameter_types, traits::fungible::HoldConsideration},
	sp_runtime::traits::{Convert, Zero},
};
use tributary_primitives::{RecordFootprint, RecordedTicket, TwoPartStoragePrice};

/// A model's price: `ModelDeposit + DepositPerByte × bytes + DepositPerDataset × datasets`.
pub type ModelPriceOf<T> = TwoPartStoragePrice<
	<T as Config>::ModelDeposit,
	<T as Config>::DepositPerByte,
	<T as Config>::DepositPerDataset,
	BalanceOf<T>,
>;

/// An adapter's price: `AdapterDeposit + DepositPerByte × URI bytes + DepositPerDataset ×
/// lineage entries`.
pub type AdapterPriceOf<T> = TwoPartStoragePrice<
	<T as Config>::AdapterDeposit,
	<T as Config>::DepositPerByte,
	<T as Config>::DepositPerDataset,
	BalanceOf<T>,
>;

/// The ticket for a model's deposit, held from its owner.
pub type ModelTicketOf<T> = HoldConsideration<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	<T as Config>::Currency,
	ModelDepositReason,
	ModelPriceOf<T>,
	RecordFootprint,
>;

/// The ticket for an adapter's deposit, held from its model's owner.
pub type AdapterTicketOf<T> = HoldConsideration<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	<T as Config>::Currency,
	AdapterDepositReason,
	AdapterPriceOf<T>,
	RecordFootprint,
>;

parameter_types! {
	/// The hold reason a model's deposit is held under, as the runtime's hold reason (which
	/// converts from [`HoldReason`]).
	pub const ModelDepositReason: HoldReason = HoldReason::ModelDeposit;

	/// The hold reason an adapter's deposit is held under, as the runtime's hold reason (which
	/// converts from [`HoldReason`]).
	pub const AdapterDepositReason: HoldReason = HoldReason::AdapterDeposit;
}

impl<T: Config> Pallet<T> {
	/// The deposit for a model whose names and spec URI take `bytes` bytes and which names
	/// `datasets` datasets.
	pub fn model_deposit(bytes: usize, datasets: usize) -> BalanceOf<T> {
		ModelPriceOf::<T>::convert(Self::footprint(bytes, datasets))
	}

	/// The deposit for an adapter with a URI of `uri_bytes` and `lineage` lineage entries.
	pub fn adapter_deposit(uri_bytes: usize, lineage: usize) -> BalanceOf<T> {
		AdapterPriceOf::<T>::convert(Self::footprint(uri_bytes, lineage))
	}

	/// `bytes` stored and `datasets` named.
	fn footprint(bytes: usize, datasets: usize) -> RecordFootprint {
		RecordFootprint { bytes: bytes as u64, items: datasets as u64 }
	}

	/// Holds the deposit for a model of `bytes` bytes naming `datasets` datasets from `who`: the
	/// amount to record.
	pub(crate) fn hold_model_deposit(
		who: &T::AccountId,
		bytes: usize,
		datasets: usize,
	) -> Result<BalanceOf<T>, DispatchError> {
		ModelTicketOf::<T>::hold_for(who, Self::footprint(bytes, datasets))
			.map_err(|_| Error::<T>::InsufficientBalance.into())
	}

	/// Holds the deposit for an adapter with a URI of `uri_bytes` and `lineage` lineage entries
	/// from `who`: the amount to record.
	pub(crate) fn hold_adapter_deposit(
		who: &T::AccountId,
		uri_bytes: usize,
		lineage: usize,
	) -> Result<BalanceOf<T>, DispatchError> {
		AdapterTicketOf::<T>::hold_for(who, Self::footprint(uri_bytes, lineage))
			.map_err(|_| Error::<T>::InsufficientBalance.into())
	}

	/// Gives back a model deposit recorded as `held`: `held`, or nothing if the ticket could not
	/// be given back. The ticket holds that much for this reason, so nothing short of
	/// a bug elsewhere makes the release come up short; should it, that is reported as a
	/// defensive failure and the `try_state` check tells.
	pub(crate) fn release_model_deposit(who: &T::AccountId, held: BalanceOf<T>) -> BalanceOf<T> {
		ModelTicketOf::<T>::release_held(who, held).map_or_else(
			|_| {
				defensive!("a model's recorded deposit is held for its reason");
				Zero::zero()
			},
			|()| held,
		)
	}

	/// Gives back an adapter deposit recorded as `held` (as [`Self::release_model_deposit`]
	/// does a model's).
	pub(crate) fn release_adapter_deposit(who: &T::AccountId, held: BalanceOf<T>) -> BalanceOf<T> {
		AdapterTicketOf::<T>::release_held(who, held).map_or_else(
			|_| {
				defensive!("an adapter's recorded deposit is held for its reason");
				Zero::zero()
			},
			|()| held,
		)
	}
}
