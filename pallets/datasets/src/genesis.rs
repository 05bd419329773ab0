//! Datasets a chain starts with, as a chain spec writes them.

use crate::Policy;
use alloc::{string::String, vec::Vec};

/// A dataset created at genesis. Its contributions are accepted, whatever its policy.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisDataset<AccountId> {
	/// The curator, from whom the dataset deposit is held.
	pub curator: AccountId,
	/// The dataset's name.
	pub name: String,
	/// Where its description lives.
	pub metadata_uri: String,
	/// Its SPDX license expression.
	pub license: String,
	/// How it takes new contributions after genesis.
	pub policy: Policy,
	/// Its contributions, accepted at genesis.
	pub contributions: Vec<GenesisContribution<AccountId>>,
}

/// A contribution accepted at genesis; its deposit is held from the contributor. Its text is
/// in the chain spec (genesis has no block body to index it in); its hash and length are
/// computed from it, as `contribute` computes them.
#[derive(Clone, PartialEq, Eq, Debug, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisContribution<AccountId> {
	/// Who contributed it.
	pub contributor: AccountId,
	/// The record, as UTF-8 text.
	pub record: String,
	/// Where the record can be fetched.
	pub uri: Option<String>,
}
