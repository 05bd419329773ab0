//! JSON-RPC methods over [`DatasetsApiServer`]: `datasets_dataset`, `datasets_contribution`,
//! `datasets_contributionByHash`, `datasets_contributionsOf` and `datasets_contributorWeight`. Each
//! takes an optional block hash and answers at the best block otherwise.

use std::sync::Arc;

use codec::Codec;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
pub use pallet_datasets_runtime_api::DatasetsApi as DatasetsRuntimeApi;
use pallet_datasets_runtime_api::{ContentHash, ContributionId, DatasetId};
use polkadot_sdk::sp_runtime::traits::Block as BlockT;
use serde::{de::DeserializeOwned, Serialize};
use tributary_rpc_support::{RuntimeClient, RuntimeReader};

#[rpc(server)]
pub trait DatasetsApi<BlockHash, AccountId, Dataset, Contribution> {
	/// A dataset, or null.
	#[method(name = "datasets_dataset")]
	fn dataset(&self, dataset_id: DatasetId, at: Option<BlockHash>) -> RpcResult<Option<Dataset>>;

	/// A contribution, or null.
	#[method(name = "datasets_contribution")]
	fn contribution(
		&self,
		dataset_id: DatasetId,
		contribution_id: ContributionId,
		at: Option<BlockHash>,
	) -> RpcResult<Option<Contribution>>;

	/// The live contribution that registered a content hash: `[datasetId, contributionId,
	/// contribution]`, or null.
	#[method(name = "datasets_contributionByHash")]
	fn contribution_by_hash(
		&self,
		content_hash: ContentHash,
		at: Option<BlockHash>,
	) -> RpcResult<Option<(DatasetId, ContributionId, Contribution)>>;

	/// A page of at most `limit` (the runtime caps it at 100) of a contributor's contributions,
	/// after `start_after`, the `[datasetId, contributionId]` that ended the previous page.
	#[method(name = "datasets_contributionsOf")]
	fn contributions_of(
		&self,
		contributor: AccountId,
		start_after: Option<(DatasetId, ContributionId)>,
		limit: u32,
		at: Option<BlockHash>,
	) -> RpcResult<Vec<(DatasetId, ContributionId, Contribution)>>;

	/// A contributor's accepted weight in a dataset.
	#[method(name = "datasets_contributorWeight")]
	fn contributor_weight(
		&self,
		dataset_id: DatasetId,
		contributor: AccountId,
		at: Option<BlockHash>,
	) -> RpcResult<u64>;
}

/// Serves [`DatasetsApiServer`] from a client's runtime.
pub struct Datasets<Client, Block>(RuntimeReader<Client, Block>);

impl<Client, Block> Datasets<Client, Block> {
	/// Serves from `client`'s runtime.
	pub fn new(client: Arc<Client>) -> Self {
		Self(RuntimeReader::new(client))
	}
}

impl<Client, Block, AccountId, Dataset, Contribution>
	DatasetsApiServer<Block::Hash, AccountId, Dataset, Contribution> for Datasets<Client, Block>
where
	Block: BlockT,
	Client: RuntimeClient<Block>,
	Client::Api: DatasetsRuntimeApi<Block, AccountId, Dataset, Contribution>,
	AccountId: Codec + DeserializeOwned + Send + Sync + 'static,
	Dataset: Codec + Serialize + Send + Sync + 'static,
	Contribution: Codec + Serialize + Send + Sync + 'static,
{
	fn dataset(
		&self,
		dataset_id: DatasetId,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<Dataset>> {
		self.0.call(at, |api, at| api.dataset(at, dataset_id))
	}

	fn contribution(
		&self,
		dataset_id: DatasetId,
		contribution_id: ContributionId,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<Contribution>> {
		self.0.call(at, |api, at| api.contribution(at, dataset_id, contribution_id))
	}

	fn contribution_by_hash(
		&self,
		content_hash: ContentHash,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<(DatasetId, ContributionId, Contribution)>> {
		self.0.call(at, |api, at| api.contribution_by_hash(at, content_hash))
	}

	fn contributions_of(
		&self,
		contributor: AccountId,
		start_after: Option<(DatasetId, ContributionId)>,
		limit: u32,
		at: Option<Block::Hash>,
	) -> RpcResult<Vec<(DatasetId, ContributionId, Contribution)>> {
		self.0.call(at, |api, at| api.contributions_of(at, contributor, start_after, limit))
	}

	fn contributor_weight(
		&self,
		dataset_id: DatasetId,
		contributor: AccountId,
		at: Option<Block::Hash>,
	) -> RpcResult<u64> {
		self.0.call(at, |api, at| api.contributor_weight(at, dataset_id, contributor))
	}
}
