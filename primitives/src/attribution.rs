//! What the attribution ledger (pallet-attribution) keeps for other pallets: adapters'
//! lineage, which pallet-models writes and inference reads, and settled outputs' cited
//! records, which inference writes.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::sp_runtime::{DispatchError, DispatchResult, Permill};
use scale_info::TypeInfo;

use crate::{AdapterId, ContributionId, DatasetId, RequestId};

/// One dataset of an adapter's lineage and its share of the training data.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct LineageShare {
	/// The dataset.
	pub dataset_id: DatasetId,
	/// Its share of the adapter's training data, in parts per million.
	pub share: Permill,
}

/// Where an adapter's lineage is kept (the attribution ledger).
pub trait LineageLedger {
	/// The most datasets one lineage may name.
	fn max_lineage() -> u32;

	/// Whether these declared weights make a valid lineage, without recording anything.
	fn check_lineage(weights: &[(DatasetId, u64)]) -> DispatchResult;

	/// Records a new adapter's lineage from its declared weights and returns the normalised
	/// shares. Refused if the weights are invalid or the adapter has a lineage already.
	fn record_lineage(
		adapter_id: AdapterId,
		weights: &[(DatasetId, u64)],
	) -> Result<Vec<LineageShare>, DispatchError>;

	/// An adapter's lineage, if recorded.
	fn lineage(adapter_id: AdapterId) -> Option<Vec<LineageShare>>;

	/// Forgets a reaped adapter's lineage and its entries in the per-dataset index. Nothing
	/// happens if it has none.
	fn remove_lineage(adapter_id: AdapterId);

	/// How many lineages are recorded. Iterates them all: for invariant checks, never for a
	/// dispatchable.
	fn lineage_count() -> u32;
}

/// A record an output drew on: its score and what it earned.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct CitedRecord<Balance> {
	pub dataset_id: DatasetId,
	pub contribution_id: ContributionId,
	/// Its share of the output's attribution, in parts per million.
	pub score_ppm: u32,
	/// What the output's settlement credited its contributor for it.
	pub earned: Balance,
}

/// Where settled outputs' attribution is recorded (the attribution ledger).
pub trait OutputLedger<Balance> {
	/// Records `request_id`'s attribution: the adapter that produced it and the records it
	/// drew on, and adds them to the records' statistics.
	fn record_output(
		request_id: RequestId,
		adapter_id: AdapterId,
		records: &[CitedRecord<Balance>],
	) -> DispatchResult;

	/// Whether an output can be recorded in this block: the ledger records a bounded number a
	/// block, and a payer checks before paying rather than fail after.
	fn has_room() -> bool;
}
