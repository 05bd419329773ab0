//! The runtime API of the models pallet: what a wallet, an indexer or the node's RPC may ask
//! about models and their adapters without decoding storage.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
pub use pallet_models::{AdapterId, ModelId};

polkadot_sdk::sp_api::decl_runtime_apis! {
	/// Models and their LoRA adapters.
	pub trait ModelsApi<Model, Adapter>
	where
		Model: Codec,
		Adapter: Codec,
	{
		/// A model, if it exists.
		fn model(model_id: ModelId) -> Option<Model>;

		/// The models with ids from `start` to `start + limit` (`limit` at most 100).
		fn models(start: ModelId, limit: u32) -> Vec<(ModelId, Model)>;

		/// An adapter, if it exists.
		fn adapter(adapter_id: AdapterId) -> Option<Adapter>;

		/// A model's adapters, oldest first.
		fn model_adapters(model_id: ModelId) -> Vec<(AdapterId, Adapter)>;
	}
}
