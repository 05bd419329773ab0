//! The ledger's own records. The lineage and cited-record types and the traits other pallets
//! write through are in `tributary-primitives` ([`crate::LineageShare`], [`crate::CitedRecord`],
//! [`crate::LineageLedger`], [`crate::OutputLedger`]).

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use core::fmt::Debug;
use polkadot_sdk::frame_support::{
	traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use scale_info::TypeInfo;
use tributary_primitives::{AdapterId, CitedRecord};

/// A contribution's record in the ledger: how often outputs cited it, their scores summed, and
/// what it earned.
#[derive(
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Default,
	Encode,
	Decode,
	DecodeWithMemTracking,
	MaxEncodedLen,
	TypeInfo,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct ContributionStats<Balance> {
	pub times_cited: u32,
	pub total_score_ppm: u64,
	pub total_earned: Balance,
}

/// A settled output's attribution.
#[derive(
	Encode, Decode, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[cfg_attr(
	feature = "std",
	serde(bound(
		serialize = "Balance: serde::Serialize, BlockNumber: serde::Serialize",
		deserialize = "Balance: serde::Deserialize<'de>, BlockNumber: serde::Deserialize<'de>"
	))
)]
#[scale_info(skip_type_params(MaxRecords))]
#[codec(mel_bound(Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
pub struct OutputRecord<Balance, BlockNumber, MaxRecords: Get<u32>>
where
	Balance: Clone + PartialEq + Eq + Debug,
	BlockNumber: Clone + PartialEq + Eq + Debug,
{
	pub adapter_id: AdapterId,
	pub settled_at: BlockNumber,
	pub records: BoundedVec<CitedRecord<Balance>, MaxRecords>,
}
