//! The records this pallet keeps: datasets and the contributions made to them.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::frame_support::{
	traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
};
use scale_info::TypeInfo;
use tributary_primitives::{ContentHash, ContributionId};

/// How a dataset takes new contributions.
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
	serde::Serialize,
	serde::Deserialize,
)]
pub enum Policy {
	/// Contributions are accepted as they arrive.
	Open,
	/// Contributions wait, pending, until the curator accepts or rejects them.
	Curated,
}

/// Whether a dataset still takes contributions.
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
	serde::Serialize,
	serde::Deserialize,
)]
pub enum DatasetStatus {
	/// New contributions are taken.
	Open,
	/// No new contributions; pending ones can still be decided or withdrawn.
	Closed,
}

/// Where a contribution stands. A contribution the curator rejects is deleted (its deposit
/// returned, its hash freed); the `ContributionRejected` event is its record, so that nobody can
/// grow unpaid storage by having contributions rejected.
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
	serde::Serialize,
	serde::Deserialize,
)]
pub enum ContributionStatus {
	/// Waiting for the curator.
	Pending,
	/// Part of the dataset: it gives its contributor weight.
	Accepted,
}

/// A dataset: a named, licensed collection of records whose contributors are on record.
#[derive(
	Encode, Decode, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[scale_info(skip_type_params(MaxName, MaxUri, MaxLicense))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
#[cfg_attr(
	feature = "std",
	serde(bound(
		serialize = "AccountId: serde::Serialize, Balance: serde::Serialize, BlockNumber: serde::Serialize",
		deserialize = "AccountId: serde::Deserialize<'de>, Balance: serde::Deserialize<'de>, \
	               BlockNumber: serde::Deserialize<'de>"
	))
)]
pub struct Dataset<AccountId, Balance, BlockNumber, MaxName, MaxUri, MaxLicense>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxName: Get<u32>,
	MaxUri: Get<u32>,
	MaxLicense: Get<u32>,
{
	/// Who decides on contributions and edits the dataset's description.
	pub curator: AccountId,
	/// A human-readable name (UTF-8).
	pub name: BoundedVec<u8, MaxName>,
	/// Where the dataset's description, schema and data live off-chain.
	pub metadata_uri: BoundedVec<u8, MaxUri>,
	/// The SPDX license expression the data is offered under, e.g. `CC-BY-4.0`.
	pub license: BoundedVec<u8, MaxLicense>,
	/// How new contributions are taken.
	pub policy: Policy,
	/// Whether new contributions are taken at all.
	pub status: DatasetStatus,
	/// The sum of the lengths of the accepted contributions: the weight royalties divide.
	pub total_weight: u64,
	/// The id the next contribution will get (ids are never reused).
	pub next_contribution_id: ContributionId,
	/// How many contributions the dataset holds now, pending or accepted.
	pub contributions: u32,
	/// Held from the curator for the storage the dataset takes: the dataset's deposit ticket
	/// (`DatasetTicketOf`), kept as the amount it holds, which is all the ticket is.
	pub deposit: Balance,
	/// The block the dataset was created in.
	pub created_at: BlockNumber,
}

/// A record of data stored off-chain, contributed to a dataset.
#[derive(
	Encode, Decode, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[scale_info(skip_type_params(MaxUri))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
#[cfg_attr(
	feature = "std",
	serde(bound(
		serialize = "AccountId: serde::Serialize, Balance: serde::Serialize, BlockNumber: serde::Serialize",
		deserialize = "AccountId: serde::Deserialize<'de>, Balance: serde::Deserialize<'de>, \
	               BlockNumber: serde::Deserialize<'de>"
	))
)]
pub struct Contribution<AccountId, Balance, BlockNumber, MaxUri>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxUri: Get<u32>,
{
	/// Who contributed the record, and is credited for it.
	pub contributor: AccountId,
	/// The blake2-256 hash of the record's bytes.
	pub content_hash: ContentHash,
	/// The record's length in bytes: its weight in the dataset once accepted.
	pub length: u64,
	/// Where the record can be fetched, if published.
	pub uri: Option<BoundedVec<u8, MaxUri>>,
	/// Where the contribution stands.
	pub status: ContributionStatus,
	/// Held from the contributor while the contribution is pending or accepted: the
	/// contribution's deposit ticket (`ContributionTicketOf`), kept as the amount it holds.
	pub deposit: Balance,
	/// The block the contribution was submitted in.
	pub submitted_at: BlockNumber,
}
