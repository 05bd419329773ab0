//! The runtime API of the attribution ledger: what a wallet, an indexer or the node's RPC may
//! ask about adapters' lineage, settled outputs' attribution and contributions' citations
//! without decoding storage.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
pub use pallet_attribution::{
	AdapterId, ContributionId, ContributionStats, DatasetId, LineageShare, RequestId,
	OFFCHAIN_PREFIX,
};
pub use polkadot_sdk::sp_runtime::Permill;

polkadot_sdk::sp_api::decl_runtime_apis! {
	/// Adapters' lineage (which datasets each was trained on, and which adapters drew on a
	/// dataset), settled outputs' attribution, and each contribution's citations.
	pub trait AttributionApi<Output, Balance>
	where
		Output: Codec,
		Balance: Codec,
	{
		/// An adapter's lineage: its datasets with their shares, which sum to one.
		fn lineage(adapter_id: AdapterId) -> Option<Vec<LineageShare>>;

		/// Up to `limit` (at most 100) adapters trained on a dataset, with the dataset's share
		/// in each, after `start_after` (the last adapter of the previous page).
		fn adapters_trained_on(
			dataset_id: DatasetId,
			start_after: Option<AdapterId>,
			limit: u32,
		) -> Vec<(AdapterId, Permill)>;

		/// A settled request's attribution, while the chain keeps it (its retention window);
		/// the node's off-chain index keeps it after that.
		fn output(request_id: RequestId) -> Option<Output>;

		/// How often outputs cited a contribution, their scores summed, and what it earned.
		fn contribution_stats(
			dataset_id: DatasetId,
			contribution_id: ContributionId,
		) -> ContributionStats<Balance>;
	}
}
