//! The records this pallet keeps: requests waiting for their result, and settled results
//! still open to challenge, with their challenge and jury. The attributed records a
//! result carries ([`crate::AttributedRecord`]) are in `tributary-primitives`.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use core::fmt::Debug;
use polkadot_sdk::{
	frame_support::{
		traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
	},
	sp_core::H256,
};
use scale_info::TypeInfo;
use tributary_primitives::{
	AdapterId, AttributedRecord, ContributionId, DatasetId, ModelId, Pricing, RoyaltySplit,
};

/// A request waiting for its result.
#[derive(
	Encode, Decode, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[cfg_attr(
	feature = "std",
	serde(bound(
		serialize = "AccountId: serde::Serialize, Balance: serde::Serialize, BlockNumber: serde::Serialize",
		deserialize = "AccountId: serde::Deserialize<'de>, Balance: serde::Deserialize<'de>, \
	               BlockNumber: serde::Deserialize<'de>"
	))
)]
#[scale_info(skip_type_params(MaxPrompt))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
pub struct Request<AccountId, Balance, BlockNumber, MaxPrompt: Get<u32>>
where
	AccountId: Clone + PartialEq + Eq + Debug,
	Balance: Clone + PartialEq + Eq + Debug,
	BlockNumber: Clone + PartialEq + Eq + Debug,
{
	pub requester: AccountId,
	pub model_id: ModelId,
	pub adapter_id: AdapterId,
	/// The adapter file's blake2-256, which the provider's service checks.
	pub adapter_hash: H256,
	pub provider: AccountId,
	/// The account that submits the result.
	pub operator: AccountId,
	pub prompt: BoundedVec<u8, MaxPrompt>,
	pub max_tokens: u32,
	/// Held from the requester until settlement or expiry.
	pub max_fee: Balance,
	/// The model's prices when the request was made: what the result is charged at, whatever
	/// the owner changes meanwhile.
	pub pricing: Pricing<Balance>,
	/// The last block the result is accepted in.
	pub deadline: BlockNumber,
}

/// Why a provider's service refused a request (`decline`).
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
pub enum DeclineReason {
	/// The prompt and `max_tokens` do not fit the model's context.
	PromptTooLong,
	/// The service refused the prompt for another reason (its content, say).
	Refused,
}

/// A juror's finding on a result it checked with its own service (`POST /v1/verify`).
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
pub enum Vote {
	/// The output is the model's greedy output for the prompt, and the counts and the
	/// attribution are exact.
	Valid,
	/// The output, a count or the attribution is not what the model and the records give.
	Wrong,
	/// The juror could not check the result (its service lacks the adapter or records as they
	/// stood at settlement). Counts for neither side, and is not a missed vote.
	Abstain,
}

/// A provider drawn to judge a result, and its vote once cast.
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct Juror<AccountId> {
	/// The provider, whose stake answers for a missed vote.
	pub provider: AccountId,
	/// Its operator when drawn: the account that votes.
	pub operator: AccountId,
	pub vote: Option<Vote>,
}

/// A challenge of a settled result, with the bond held from the challenger.
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct Challenge<AccountId, Balance> {
	pub challenger: AccountId,
	pub bond: Balance,
}

/// One dataset of the adapter's lineage as it stood at settlement: what a juror recomputes
/// the attribution over.
#[derive(Encode, Decode, Clone, Copy, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct LineageAt {
	pub dataset_id: DatasetId,
	/// Its lineage share, in parts per million: how its pool shares the fee.
	pub share_ppm: u32,
	/// The dataset's next contribution id at settlement: records from it on came later.
	pub next_contribution_id: ContributionId,
	/// The dataset's accepted weight at settlement: with the weight accepted since from
	/// records issued later, it tells a juror whether a record the settlement drew on has been
	/// removed since (or an earlier pending one accepted).
	pub total_weight: u64,
}

/// A result that settled and is still open to challenge: its fee stays held from the
/// requester until the window closes (and a jury, if one was drawn, has found it valid).
#[derive(
	Encode, Decode, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[cfg_attr(
	feature = "std",
	serde(bound(
		serialize = "AccountId: serde::Serialize, Balance: serde::Serialize, BlockNumber: serde::Serialize",
		deserialize = "AccountId: serde::Deserialize<'de>, Balance: serde::Deserialize<'de>, \
	               BlockNumber: serde::Deserialize<'de>"
	))
)]
#[scale_info(skip_type_params(MaxAttributions, MaxLineage, JurySize))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
pub struct SettledResult<AccountId, Balance, BlockNumber, MaxAttributions, MaxLineage, JurySize>
where
	AccountId: Clone + PartialEq + Eq + Debug,
	Balance: Clone + PartialEq + Eq + Debug,
	BlockNumber: Clone + PartialEq + Eq + Debug,
	MaxAttributions: Get<u32>,
	MaxLineage: Get<u32>,
	JurySize: Get<u32>,
{
	pub requester: AccountId,
	pub model_id: ModelId,
	pub adapter_id: AdapterId,
	pub adapter_hash: H256,
	pub provider: AccountId,
	/// The model's owner at settlement, credited its share when the window closes.
	pub owner: AccountId,
	pub max_tokens: u32,
	/// blake2-256 of the output (the bytes are in the `submit_result` extrinsic, and in the
	/// offchain index under [`crate::result_key`]).
	pub output_hash: H256,
	pub input_tokens: u32,
	pub output_tokens: u32,
	pub truncated: bool,
	/// Held from the requester until the result vests or is overturned.
	pub fee: Balance,
	/// The model's royalty split at settlement.
	pub split: RoyaltySplit,
	/// The attribution as submitted.
	pub attribution: BoundedVec<AttributedRecord, MaxAttributions>,
	/// The contributor of each attributed record at settlement, in the same order; `None` for a
	/// record no longer accepted then (its score is left to the pools).
	pub contributors: BoundedVec<Option<AccountId>, MaxAttributions>,
	/// The adapter's lineage at settlement.
	pub lineage: BoundedVec<LineageAt, MaxLineage>,
	/// The block the result settled in.
	pub settled_at: BlockNumber,
	/// The last block a challenge is accepted in.
	pub challenge_until: BlockNumber,
	/// The block the window closes in: the result is audited or paid then, and a challenged
	/// one goes to its jury.
	pub closes_at: BlockNumber,
	/// The relay-chain block the last event (settlement, challenge) saw: the draw at closing
	/// waits for randomness of a later relay block.
	pub seen_relay: u32,
	pub challenge: Option<Challenge<AccountId, Balance>>,
	/// The jury, once drawn.
	pub jurors: BoundedVec<Juror<AccountId>, JurySize>,
	/// Where the result stands.
	pub stage: Stage<BlockNumber>,
}

/// Where a settled result stands.
#[derive(Encode, Decode, Clone, Copy, PartialEq, Eq, Debug, TypeInfo, MaxEncodedLen)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub enum Stage<BlockNumber> {
	/// In its window: it may be challenged; queued to close.
	Open,
	/// Its window closed and it was challenged or picked for audit (`audit`): queued for a
	/// jury, drawn in its turn from the randomness of the block that draws it.
	AwaitingJury { audit: bool },
	/// Its jury is voting; the votes are counted at the start of `verdict_at`.
	Judging { verdict_at: BlockNumber },
	/// Vested (unchallenged and unaudited, or upheld): queued to be paid, in a block's spare
	/// weight or by anyone's `pay`.
	Vested,
}

/// The queues of settled results.
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
pub enum Queue {
	/// Results waiting for their jury.
	Jury,
	/// Vested results waiting to be paid.
	Pay,
}
