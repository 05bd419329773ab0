//! What pallet-datasets answers about datasets and contributions, and what it tells of weight
//! changes.

use crate::{ContentHash, ContributionId, DatasetId};

/// Told whenever a contributor's weight in a dataset is about to change, so that rewards
/// accrued under the old weight can be settled first.
pub trait WeightObserver<AccountId> {
	/// `who`'s weight in `dataset_id` moves from `old` to `new`.
	fn on_weight_change(dataset_id: DatasetId, who: &AccountId, old: u64, new: u64);
}

impl<AccountId> WeightObserver<AccountId> for () {
	fn on_weight_change(_: DatasetId, _: &AccountId, _: u64, _: u64) {}
}

/// Told when an accepted contribution leaves its dataset (withdrawn by its contributor or taken
/// down), so that what other pallets keep about it leaves with it. An implementation does at
/// most one storage write: the dataset calls that remove contributions charge for one.
pub trait OnContributionRemoved {
	/// The accepted contribution `contribution_id` of `dataset_id` is gone.
	fn on_contribution_removed(dataset_id: DatasetId, contribution_id: ContributionId);
}

impl OnContributionRemoved for () {
	fn on_contribution_removed(_: DatasetId, _: ContributionId) {}
}

/// What other pallets may ask about datasets (models name the datasets they train on; the
/// attribution ledger and royalties credit contributions).
pub trait DatasetsInspect<AccountId> {
	/// Whether the dataset exists.
	fn dataset_exists(dataset_id: DatasetId) -> bool;
	/// The dataset's total accepted weight, if it exists.
	fn total_weight(dataset_id: DatasetId) -> Option<u64>;
	/// `who`'s accepted weight in the dataset (0 if none).
	fn contributor_weight(dataset_id: DatasetId, who: &AccountId) -> u64;
	/// The contributor of an accepted contribution.
	fn accepted_contributor(
		dataset_id: DatasetId,
		contribution_id: ContributionId,
	) -> Option<AccountId>;
	/// The dataset's contribution that holds a content hash (pending or accepted).
	fn contribution_by_hash(dataset_id: DatasetId, hash: ContentHash) -> Option<ContributionId>;
	/// Whether `contribution_id` was ever issued in the dataset (whatever became of the record
	/// since), or the dataset is gone and nothing can be said: false only for an id that an
	/// existing dataset has not reached.
	fn contribution_issued(dataset_id: DatasetId, contribution_id: ContributionId) -> bool;
	/// The id the dataset's next contribution will get (every id below it was issued), if the
	/// dataset exists.
	fn next_contribution_id(dataset_id: DatasetId) -> Option<ContributionId>;
	/// The accepted weight of the dataset's contributions with ids from `first` on. Reads each
	/// of them: for off-chain workers, never for a block.
	fn accepted_weight_from(dataset_id: DatasetId, first: ContributionId) -> u64;
}
