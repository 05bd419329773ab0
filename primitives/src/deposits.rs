//! Storage deposits as frame-support's `Consideration`: what pallet-datasets and pallet-models
//! hold for the records they keep.
//!
//! A record's deposit is a [`HoldConsideration`] ticket, kept in the record as the amount it
//! holds ([`RecordedTicket`]). A one-part price (a base plus so much a
//! byte) is frame-support's [`LinearStoragePrice`] over a [`Footprint`]; a price in two parts
//! (so much a byte stored, so much for something else the record names or declares) is
//! [`TwoPartStoragePrice`] over a [`RecordFootprint`].
//!
//! [`LinearStoragePrice`]: polkadot_sdk::frame_support::traits::LinearStoragePrice
//! [`Footprint`]: polkadot_sdk::frame_support::traits::Footprint

use codec::{Decode, Encode};
use core::marker::PhantomData;
use polkadot_sdk::{
	frame_support::traits::{
		fungible::{HoldConsideration, MutateHold},
		Consideration, Get,
	},
	sp_runtime::{
		traits::{Convert, Saturating},
		DispatchError,
	},
};

/// What a deposit priced in two parts pays for: the bytes a record keeps in state, and a second
/// quantity charged at its own rate (the bytes of off-chain data a contribution declares, the
/// datasets a model or an adapter's lineage names).
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub struct RecordFootprint {
	/// Bytes kept in state: names, URIs, licenses.
	pub bytes: u64,
	/// The second quantity.
	pub items: u64,
}

/// `Base + PerByte × bytes + PerItem × items`, saturating: the two-part counterpart of
/// frame-support's `LinearStoragePrice` (`Base + Slope × size`), which has one slope only.
pub struct TwoPartStoragePrice<Base, PerByte, PerItem, Balance>(
	PhantomData<(Base, PerByte, PerItem, Balance)>,
);

impl<Base, PerByte, PerItem, Balance> Convert<RecordFootprint, Balance>
	for TwoPartStoragePrice<Base, PerByte, PerItem, Balance>
where
	Base: Get<Balance>,
	PerByte: Get<Balance>,
	PerItem: Get<Balance>,
	Balance: From<u64> + Saturating,
{
	fn convert(footprint: RecordFootprint) -> Balance {
		Base::get()
			.saturating_add(PerByte::get().saturating_mul(footprint.bytes.into()))
			.saturating_add(PerItem::get().saturating_mul(footprint.items.into()))
	}
}

/// A deposit ticket that a record keeps as the amount it holds, taken, moved and given back
/// through that amount.
///
/// A [`HoldConsideration`] is nothing but the amount it holds, and it encodes as exactly that
/// balance: a record's `deposit: Balance` field is, byte for byte, the ticket stored in the record
/// as pallet-preimage stores its own. Typed as a balance, it is what events report, what the RPC
/// serves as `"deposit": <amount>` and what `try_state` sums, with nothing stored twice.
/// frame-support offers no way from that amount back to the ticket (its field is private), so the
/// ticket is decoded from it, as storage decodes a stored ticket.
pub trait RecordedTicket<AccountId, Footprint> {
	/// The balance the ticket holds.
	type Balance;

	/// Takes a ticket for `footprint` from `who`: the amount to record, the footprint's price.
	fn hold_for(who: &AccountId, footprint: Footprint) -> Result<Self::Balance, DispatchError>;

	/// Moves the ticket recorded as `held` to `footprint`, holding more from `who` or giving
	/// some back: the amount to record now.
	fn update_held(
		who: &AccountId,
		held: Self::Balance,
		footprint: Footprint,
	) -> Result<Self::Balance, DispatchError>;

	/// Gives the ticket recorded as `held` back to `who`.
	fn release_held(who: &AccountId, held: Self::Balance) -> Result<(), DispatchError>;
}

impl<AccountId, Currency, Reason, Price, Footprint> RecordedTicket<AccountId, Footprint>
	for HoldConsideration<AccountId, Currency, Reason, Price, Footprint>
where
	Currency: MutateHold<AccountId>,
	Price: Convert<Footprint, Currency::Balance>,
	Footprint: Clone,
	Self: Consideration<AccountId, Footprint>,
{
	type Balance = Currency::Balance;

	fn hold_for(who: &AccountId, footprint: Footprint) -> Result<Self::Balance, DispatchError> {
		// The ticket holds exactly its footprint's price.
		let _ticket = Self::new(who, footprint.clone())?;
		Ok(Price::convert(footprint))
	}

	fn update_held(
		who: &AccountId,
		held: Self::Balance,
		footprint: Footprint,
	) -> Result<Self::Balance, DispatchError> {
		let _ticket = recorded::<Self>(held)?.update(who, footprint.clone())?;
		Ok(Price::convert(footprint))
	}

	fn release_held(who: &AccountId, held: Self::Balance) -> Result<(), DispatchError> {
		recorded::<Self>(held)?.drop(who)
	}
}

/// The ticket a record kept as the amount `held`.
fn recorded<Ticket: Decode>(held: impl Encode) -> Result<Ticket, DispatchError> {
	Ticket::decode(&mut &held.encode()[..]).map_err(|_| DispatchError::Corruption)
}

#[cfg(test)]
mod tests {
	use super::*;
	use polkadot_sdk::frame_support::traits::ConstU128;

	type Price = TwoPartStoragePrice<ConstU128<100>, ConstU128<3>, ConstU128<7>, u128>;

	#[test]
	fn two_part_price_charges_the_base_and_both_rates() {
		assert_eq!(Price::convert(RecordFootprint::default()), 100);
		assert_eq!(Price::convert(RecordFootprint { bytes: 10, items: 2 }), 100 + 30 + 14);
	}

	#[test]
	fn two_part_price_saturates() {
		type Steep =
			TwoPartStoragePrice<ConstU128<1>, ConstU128<{ u128::MAX }>, ConstU128<0>, u128>;
		assert_eq!(Steep::convert(RecordFootprint { bytes: 2, items: 0 }), u128::MAX);
	}
}
