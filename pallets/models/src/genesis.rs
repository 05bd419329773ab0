//! Models a chain starts with, as a chain spec writes them.

use crate::*;
use alloc::{string::String, vec::Vec};

/// A model created at genesis, approved (its chain's authors are its governance); with
/// adapters it is `Active`, served by the first of them. Deposits are held from the owner.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisModel<AccountId, Balance> {
	/// The owner.
	pub owner: AccountId,
	/// The model's name.
	pub name: String,
	/// The base model its adapters fine-tune.
	pub base_model: String,
	/// The blake2-256 hash of the base model's weights file.
	pub base_model_hash: H256,
	/// The datasets it trains on (created earlier in the same genesis).
	pub datasets: Vec<DatasetId>,
	/// Where its specification lives.
	pub spec_uri: String,
	/// What an inference costs.
	pub pricing: Pricing<Balance>,
	/// How fees are split.
	pub royalty_split: RoyaltySplit,
	/// Its adapters, oldest first.
	pub adapters: Vec<GenesisAdapter>,
}

/// An adapter registered at genesis.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisAdapter {
	/// Its hash (`tributary-lora adapter hash`: the weights file and the settings that change
	/// its outputs).
	pub artifact_hash: H256,
	/// The LoRA rank.
	pub rank: u32,
	/// The LoRA alpha.
	pub alpha: u32,
	/// Where it can be fetched.
	pub uri: String,
	/// The datasets it was trained on, with their weights.
	pub lineage: Vec<(DatasetId, u64)>,
}

impl<T: Config> Pallet<T> {
	/// Creates a genesis model through the same checks as the calls.
	pub(crate) fn create_genesis_model(
		model: &GenesisModel<T::AccountId, BalanceOf<T>>,
	) -> Result<ModelId, DispatchError> {
		let model_id = Self::do_propose_model(
			model.owner.clone(),
			model.name.clone().into_bytes(),
			model.base_model.clone().into_bytes(),
			model.base_model_hash,
			model.datasets.clone(),
			model.spec_uri.clone().into_bytes(),
			model.pricing,
			model.royalty_split,
		)?;
		Self::do_approve_model(model_id)?;
		for adapter in &model.adapters {
			Self::do_register_adapter(
				model.owner.clone(),
				model_id,
				adapter.artifact_hash,
				adapter.rank,
				adapter.alpha,
				adapter.uri.clone().into_bytes(),
				adapter.lineage.clone(),
			)?;
		}
		Ok(model_id)
	}
}
