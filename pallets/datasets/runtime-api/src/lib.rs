//! The runtime API of the datasets pallet: what a wallet, an indexer or the node's RPC may ask
//! about datasets and contributions without decoding storage.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

use alloc::vec::Vec;
use codec::Codec;
pub use pallet_datasets::{ContentHash, ContributionId, DatasetId};

polkadot_sdk::sp_api::decl_runtime_apis! {
	/// Datasets, their contributions and contributor weights.
	///
	/// Version 2: a content hash is looked up in one dataset (each dataset has its own hash
	/// index). Version 3: a dataset's contributions, page by page.
	#[api_version(3)]
	pub trait DatasetsApi<AccountId, Dataset, Contribution>
	where
		AccountId: Codec,
		Dataset: Codec,
		Contribution: Codec,
	{
		/// A dataset, if it exists.
		fn dataset(dataset_id: DatasetId) -> Option<Dataset>;

		/// A contribution, if it exists.
		fn contribution(dataset_id: DatasetId, contribution_id: ContributionId) -> Option<Contribution>;

		/// The pending or accepted contribution that registered a content hash.
		#[changed_in(2)]
		fn contribution_by_hash(content_hash: ContentHash) -> Option<(DatasetId, ContributionId, Contribution)>;

		/// The dataset's pending or accepted contribution that registered a content hash.
		fn contribution_by_hash(dataset_id: DatasetId, content_hash: ContentHash) -> Option<(ContributionId, Contribution)>;

		/// Up to `limit` (at most 100) of a contributor's contributions (pending or accepted),
		/// after `start_after`, which is the last key of the previous page.
		fn contributions_of(
			contributor: AccountId,
			start_after: Option<(DatasetId, ContributionId)>,
			limit: u32,
		) -> Vec<(DatasetId, ContributionId, Contribution)>;

		/// A contributor's accepted weight in a dataset (0 if none).
		fn contributor_weight(dataset_id: DatasetId, contributor: AccountId) -> u64;

		/// Up to `limit` (at most 100) of a dataset's contributions (pending or accepted), in
		/// storage order, after `start_after`, which is the last id of the previous page.
		#[api_version(3)]
		fn contributions(
			dataset_id: DatasetId,
			start_after: Option<ContributionId>,
			limit: u32,
		) -> Vec<(ContributionId, Contribution)>;
	}
}
