//! The runtime API of the providers pallet: what a wallet, an indexer or the node's RPC may
//! ask about GPU providers without decoding storage.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
pub use pallet_providers::{ModelId, ProviderView};

polkadot_sdk::sp_api::decl_runtime_apis! {
	/// GPU providers, the models they serve and the slashes pending against them.
	///
	/// Version 2: the provider an operator key works for.
	#[api_version(2)]
	pub trait ProvidersApi<AccountId, Provider, PendingSlash>
	where
		AccountId: Codec,
		Provider: Codec,
		PendingSlash: Codec,
	{
		/// A provider with its status and capacity, if registered.
		fn provider(provider: AccountId) -> Option<Provider>;

		/// Up to `limit` (at most 100) of the providers serving a model, from position `start`
		/// in the order they started serving.
		fn providers_serving(model_id: ModelId, start: u32, limit: u32) -> Vec<(AccountId, Provider)>;

		/// The slashes pending against a provider.
		fn pending_slashes(provider: AccountId) -> Vec<PendingSlash>;

		/// The provider whose operator key `operator` is, if any.
		#[api_version(2)]
		fn provider_of_operator(operator: AccountId) -> Option<AccountId>;
	}
}
