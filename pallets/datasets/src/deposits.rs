//! Deposits: what a dataset and a contribution cost to keep, held through frame-support's
//! `Consideration`.
//!
//! Each deposit is a [`HoldConsideration`] ticket held under this pallet's [`HoldReason`] and
//! priced by its constants: a dataset's by `LinearStoragePrice` (`DatasetDeposit` plus
//! `DepositPerByte` per byte of name, URI and license), a contribution's by
//! [`TwoPartStoragePrice`] (`ContributionDeposit` plus `DepositPerByte` per URI byte plus
//! `DepositPerDataByte` per declared byte).
//!
//! A record keeps its ticket as the amount it holds, its `deposit` ([`RecordedTicket`]): that
//! amount is the ticket's whole state, so nothing is stored twice, and events, the RPC's JSON and
//! `try_state` read it as a balance. The ticket is fixed here rather than left to the runtime
//! (as pallet-preimage's `Consideration` is) because the pallet relies on it being a hold under
//! its own reasons: `try_state` compares each account's held balance with its records, and a
//! takedown slashes the contribution's hold to the treasury.

use crate::*;
use polkadot_sdk::{
	frame_support::{
		parameter_types,
		traits::{fungible::HoldConsideration, Footprint, Imbalance, LinearStoragePrice},
	},
	sp_runtime::traits::Convert,
};
use tributary_primitives::{RecordFootprint, RecordedTicket, TwoPartStoragePrice};

/// A dataset's price: `DatasetDeposit + DepositPerByte × bytes` of name, URI and license.
pub type DatasetPriceOf<T> =
	LinearStoragePrice<<T as Config>::DatasetDeposit, <T as Config>::DepositPerByte, BalanceOf<T>>;

/// A contribution's price: `ContributionDeposit + DepositPerByte × URI bytes +
/// DepositPerDataByte × declared length`.
pub type ContributionPriceOf<T> = TwoPartStoragePrice<
	<T as Config>::ContributionDeposit,
	<T as Config>::DepositPerByte,
	<T as Config>::DepositPerDataByte,
	BalanceOf<T>,
>;

/// The ticket for a dataset's deposit, held from its curator.
pub type DatasetTicketOf<T> = HoldConsideration<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	<T as Config>::Currency,
	DatasetDepositReason,
	DatasetPriceOf<T>,
	Footprint,
>;

/// The ticket for a contribution's deposit, held from its contributor.
pub type ContributionTicketOf<T> = HoldConsideration<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	<T as Config>::Currency,
	ContributionDepositReason,
	ContributionPriceOf<T>,
	RecordFootprint,
>;

parameter_types! {
	/// The hold reason a dataset's deposit is held under, as the runtime's hold reason (which
	/// converts from [`HoldReason`]).
	pub const DatasetDepositReason: HoldReason = HoldReason::DatasetDeposit;

	/// The hold reason a contribution's deposit is held under, as the runtime's hold reason (which
	/// converts from [`HoldReason`]).
	pub const ContributionDepositReason: HoldReason = HoldReason::ContributionDeposit;
}

impl<T: Config> Pallet<T> {
	/// The deposit for a dataset whose name, URI and license take `bytes` bytes.
	pub fn dataset_deposit(bytes: usize) -> BalanceOf<T> {
		DatasetPriceOf::<T>::convert(Self::dataset_footprint(bytes))
	}

	/// The deposit for a contribution declaring `length` bytes, with a URI of `uri_bytes`.
	pub fn contribution_deposit(length: u64, uri_bytes: usize) -> BalanceOf<T> {
		ContributionPriceOf::<T>::convert(Self::contribution_footprint(length, uri_bytes))
	}

	fn dataset_footprint(bytes: usize) -> Footprint {
		Footprint::from_parts(1, bytes)
	}

	fn contribution_footprint(length: u64, uri_bytes: usize) -> RecordFootprint {
		RecordFootprint { bytes: uri_bytes as u64, items: length }
	}

	/// Holds the deposit for a dataset of `bytes` bytes from `who`: the amount to record.
	pub(crate) fn hold_dataset_deposit(
		who: &T::AccountId,
		bytes: usize,
	) -> Result<BalanceOf<T>, DispatchError> {
		DatasetTicketOf::<T>::hold_for(who, Self::dataset_footprint(bytes))
			.map_err(|_| Error::<T>::InsufficientBalance.into())
	}

	/// Moves `who`'s dataset deposit, recorded as `held`, to a dataset of `bytes` bytes: more is
	/// held or the difference released. The amount to record.
	pub(crate) fn update_dataset_deposit(
		who: &T::AccountId,
		held: BalanceOf<T>,
		bytes: usize,
	) -> Result<BalanceOf<T>, DispatchError> {
		DatasetTicketOf::<T>::update_held(who, held, Self::dataset_footprint(bytes))
			.map_err(|_| Error::<T>::InsufficientBalance.into())
	}

	/// Gives back a dataset deposit recorded as `held`. The ticket holds that much for this
	/// reason, so nothing short of a bug elsewhere makes the release come up short; should it,
	/// the `try_state` check tells.
	pub(crate) fn release_dataset_deposit(who: &T::AccountId, held: BalanceOf<T>) {
		if DatasetTicketOf::<T>::release_held(who, held).is_err() {
			defensive!("a dataset's recorded deposit is held for its reason");
		}
	}

	/// Holds the deposit for a contribution of `length` bytes with a URI of `uri_bytes` from
	/// `who`: the amount to record.
	pub(crate) fn hold_contribution_deposit(
		who: &T::AccountId,
		length: u64,
		uri_bytes: usize,
	) -> Result<BalanceOf<T>, DispatchError> {
		ContributionTicketOf::<T>::hold_for(who, Self::contribution_footprint(length, uri_bytes))
			.map_err(|_| Error::<T>::InsufficientBalance.into())
	}

	/// Gives back a contribution deposit recorded as `held` (as [`Self::release_dataset_deposit`]
	/// does a dataset's).
	pub(crate) fn release_contribution_deposit(who: &T::AccountId, held: BalanceOf<T>) {
		if ContributionTicketOf::<T>::release_held(who, held).is_err() {
			defensive!("a contribution's recorded deposit is held for its reason");
		}
	}

	/// Slashes a contribution deposit recorded as `held` to `T::Slash` (the treasury): what was
	/// slashed.
	///
	/// Not through the ticket: `Consideration` gives a ticket up only by `drop` (back to its
	/// owner) or `burn`, which destroys the funds, whereas a takedown sends them to the treasury.
	/// So the hold the ticket stands for is slashed directly, and the ticket, being that amount
	/// in the record, goes with the record.
	pub(crate) fn slash_contribution_deposit(
		who: &T::AccountId,
		held: BalanceOf<T>,
	) -> BalanceOf<T> {
		let (credit, _) = <T::Currency as fungible::BalancedHold<_>>::slash(
			&HoldReason::ContributionDeposit.into(),
			who,
			held,
		);
		let slashed = credit.peek();
		T::Slash::on_unbalanced(credit);
		slashed
	}
}
