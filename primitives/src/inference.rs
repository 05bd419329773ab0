//! What a result carries across pallets and to clients: the records its output drew on.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;

use crate::{ContributionId, DatasetId};

/// One attributed record: the dataset, the contribution and its score in parts per million.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	TypeInfo,
	MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct AttributedRecord {
	/// The dataset the record is in.
	pub dataset_id: DatasetId,
	pub contribution_id: ContributionId,
	pub score_ppm: u32,
}
