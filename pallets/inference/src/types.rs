//! The records this pallet keeps: requests waiting for their result. The attributed records a
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
use tributary_primitives::{AdapterId, ModelId, Pricing};

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
