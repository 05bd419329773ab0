//! What pallet-models answers about models, and the prices and royalty splits other pallets
//! charge and divide fees by.

use alloc::vec::Vec;

use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::{sp_core::H256, sp_runtime::Permill};
use scale_info::TypeInfo;

use crate::{AdapterId, ModelId};

/// What one inference costs: a base fee plus a price per 1,000 input and per 1,000 output
/// tokens.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	Copy,
	PartialEq,
	Eq,
	Debug,
	Default,
	TypeInfo,
	MaxEncodedLen,
	serde::Serialize,
	serde::Deserialize,
)]
#[serde(rename_all = "camelCase")]
pub struct Pricing<Balance> {
	/// Charged for every request.
	pub base_fee: Balance,
	/// Per 1,000 prompt tokens.
	pub per_1k_input_tokens: Balance,
	/// Per 1,000 generated tokens.
	pub per_1k_output_tokens: Balance,
}

/// How a model's inference fees are divided. The four shares sum to exactly one.
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
pub struct RoyaltySplit {
	/// To the GPU provider that ran the inference.
	pub provider: Permill,
	/// To the model's owner.
	pub owner: Permill,
	/// To the contributors of the data the model was trained on and the output drew on.
	pub data: Permill,
	/// To the treasury.
	pub treasury: Permill,
}

impl RoyaltySplit {
	/// The sum of the four shares in parts per million (one million when the split is whole).
	pub fn total_parts(&self) -> u32 {
		[self.provider, self.owner, self.data, self.treasury]
			.iter()
			.map(|share| share.deconstruct())
			.fold(0u32, u32::saturating_add)
	}
}

/// What other pallets may ask about models (providers serve active models; inference prices
/// and routes requests; royalties split fees).
pub trait ModelsInspect<AccountId, Balance> {
	/// The model's owner, if it exists.
	fn owner(model_id: ModelId) -> Option<AccountId>;
	/// Whether the model is `Active`.
	fn is_active(model_id: ModelId) -> bool;
	/// The active adapter and its artifact hash, if the model is `Active`.
	fn active_adapter(model_id: ModelId) -> Option<(AdapterId, H256)>;
	/// Where the adapter's files are published (its URI as registered, UTF-8 or not), if the
	/// adapter exists.
	fn adapter_uri(adapter_id: AdapterId) -> Option<Vec<u8>>;
	/// The model's pricing, if it exists.
	fn pricing(model_id: ModelId) -> Option<Pricing<Balance>>;
	/// The model's royalty split, if it exists.
	fn royalty_split(model_id: ModelId) -> Option<RoyaltySplit>;
}
