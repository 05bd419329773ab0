//! The runtime API of inference: open requests, as wallets and the node's RPC read them.

#![cfg_attr(not(feature = "std"), no_std)]

use codec::Codec;
pub use pallet_inference::RequestId;

polkadot_sdk::sp_api::decl_runtime_apis! {
	/// Open inference requests.
	pub trait InferenceApi<Request>
	where
		Request: Codec,
	{
		/// An open request (assigned, waiting for its result), or `None` once it has settled
		/// or expired (the attribution ledger keeps a settled one's attribution).
		fn request(request_id: RequestId) -> Option<Request>;
	}
}
