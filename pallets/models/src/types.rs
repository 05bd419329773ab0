//! The records this pallet keeps: models and their adapters. Their prices and royalty splits
//! ([`Pricing`], [`RoyaltySplit`]) are in `tributary-primitives`, since other pallets charge and
//! divide fees by them.

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{
	frame_support::{
		traits::Get, BoundedVec, CloneNoBound, DebugNoBound, EqNoBound, PartialEqNoBound,
	},
	sp_core::H256,
};
use scale_info::TypeInfo;
use tributary_primitives::{AdapterId, DatasetId, ModelId, Pricing, RoyaltySplit};

/// Where a model is in its life.
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
pub enum ModelStatus {
	/// Proposed and waiting for a referendum to approve it.
	Proposed,
	/// Approved by governance; its owner may register adapters.
	Approved,
	/// Has an active adapter: it can be served and used.
	Active,
	/// Retired: no more use. Kept on record, with its adapters, their lineage and its deposits,
	/// until it is reaped.
	Retired,
}

/// A model: a base model fine-tuned with LoRA adapters on named datasets, priced and with a
/// royalty split, existing because governance approved it.
#[derive(
	Encode, Decode, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[scale_info(skip_type_params(MaxName, MaxUri, MaxDatasets, MaxAdapters))]
#[codec(mel_bound(AccountId: MaxEncodedLen, Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
#[cfg_attr(
	feature = "std",
	serde(bound(
		serialize = "AccountId: serde::Serialize, Balance: serde::Serialize, BlockNumber: serde::Serialize",
		deserialize = "AccountId: serde::Deserialize<'de>, Balance: serde::Deserialize<'de>, \
	               BlockNumber: serde::Deserialize<'de>"
	))
)]
pub struct Model<AccountId, Balance, BlockNumber, MaxName, MaxUri, MaxDatasets, MaxAdapters>
where
	AccountId: Clone + PartialEq + Eq + core::fmt::Debug,
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxName: Get<u32>,
	MaxUri: Get<u32>,
	MaxDatasets: Get<u32>,
	MaxAdapters: Get<u32>,
{
	/// Who proposed the model, registers its adapters and sets its prices.
	pub owner: AccountId,
	/// A human-readable name (UTF-8).
	pub name: BoundedVec<u8, MaxName>,
	/// The base model the adapters fine-tune, e.g. `HuggingFaceTB/SmolLM2-135M-Instruct`.
	pub base_model: BoundedVec<u8, MaxName>,
	/// The blake2-256 hash of the base model's weights file.
	pub base_model_hash: H256,
	/// The datasets the model trains on; adapters' lineage names only these.
	pub datasets: BoundedVec<DatasetId, MaxDatasets>,
	/// Where the model's specification (training recipe, evaluation) lives.
	pub spec_uri: BoundedVec<u8, MaxUri>,
	/// What an inference costs.
	pub pricing: Pricing<Balance>,
	/// How fees are divided.
	pub royalty_split: RoyaltySplit,
	/// Where the model is in its life.
	pub status: ModelStatus,
	/// Its adapters, oldest first: version `n` is the `n`-th (from 1).
	pub adapters: BoundedVec<AdapterId, MaxAdapters>,
	/// The adapter inference uses; set exactly when the model is `Active`.
	pub active_adapter: Option<AdapterId>,
	/// Held from the owner for the storage the model takes (zero once retired): the model's
	/// deposit ticket (`ModelTicketOf`), kept as the amount it holds, which is all the ticket is.
	pub deposit: Balance,
	/// The block the model was proposed in.
	pub proposed_at: BlockNumber,
}

/// A LoRA adapter of a model: an artifact stored off-chain, named by its hash.
#[derive(
	Encode, Decode, CloneNoBound, PartialEqNoBound, EqNoBound, DebugNoBound, TypeInfo, MaxEncodedLen,
)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
#[scale_info(skip_type_params(MaxUri))]
#[codec(mel_bound(Balance: MaxEncodedLen, BlockNumber: MaxEncodedLen))]
#[cfg_attr(
	feature = "std",
	serde(bound(
		serialize = "Balance: serde::Serialize, BlockNumber: serde::Serialize",
		deserialize = "Balance: serde::Deserialize<'de>, BlockNumber: serde::Deserialize<'de>"
	))
)]
pub struct Adapter<Balance, BlockNumber, MaxUri>
where
	Balance: Clone + PartialEq + Eq + core::fmt::Debug,
	BlockNumber: Clone + PartialEq + Eq + core::fmt::Debug,
	MaxUri: Get<u32>,
{
	/// The model it belongs to.
	pub model_id: ModelId,
	/// Its version within the model, from 1.
	pub version: u32,
	/// Its hash (`tributary-lora adapter hash`: the weights file and the settings that change
	/// its outputs).
	pub artifact_hash: H256,
	/// The LoRA rank r.
	pub rank: u32,
	/// The LoRA alpha; the update is scaled by alpha / r.
	pub alpha: u32,
	/// Where the adapter's files (PEFT layout) can be fetched.
	pub uri: BoundedVec<u8, MaxUri>,
	/// Held from the model's owner for the storage the adapter takes (zero once retired): the
	/// adapter's deposit ticket (`AdapterTicketOf`), kept as the amount it holds.
	pub deposit: Balance,
	/// The block it was registered in.
	pub registered_at: BlockNumber,
}
