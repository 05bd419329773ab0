//! The runtime API of royalties: what an account could claim.

#![cfg_attr(not(feature = "std"), no_std)]

use codec::Codec;
pub use pallet_royalties::PendingRoyalties;

polkadot_sdk::sp_api::decl_runtime_apis! {
	/// Royalties owed and not yet claimed.
	pub trait RoyaltiesApi<AccountId, Balance>
	where
		AccountId: Codec,
		Balance: Codec,
	{
		/// `who`'s credits (as provider, model owner or contributor of attributed records),
		/// its shares of dataset pools, and their total.
		fn pending(who: AccountId) -> PendingRoyalties<Balance>;
	}
}
