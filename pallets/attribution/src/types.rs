//! The ledger's records and the trait pallet-models writes lineage through.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use pallet_datasets::DatasetId;
use polkadot_sdk::{sp_runtime::DispatchError, sp_runtime::DispatchResult, sp_runtime::Permill};
use scale_info::TypeInfo;

/// A LoRA adapter's id, unique across all models.
pub type AdapterId = u32;

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
}
