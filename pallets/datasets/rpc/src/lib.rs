//! JSON-RPC methods over [`DatasetsApiServer`]: `datasets_dataset`, `datasets_contribution`,
//! `datasets_contributionByHash`, `datasets_contributionsOf` and `datasets_contributorWeight`. Each
//! takes an optional block hash and answers at the best block otherwise.
//!
//! And [`RecordsApiServer`]: `datasets_recordBytes`, a record's bytes by content hash, read from
//! the block body that indexed them (`BlockBackend::indexed_transaction`), not from the runtime.

use std::{marker::PhantomData, sync::Arc};

use codec::Codec;
use jsonrpsee::{core::RpcResult, proc_macros::rpc, types::ErrorObjectOwned};
pub use pallet_datasets_runtime_api::DatasetsApi as DatasetsRuntimeApi;
use pallet_datasets_runtime_api::{ContentHash, ContributionId, DatasetId};
use polkadot_sdk::{
	sc_client_api::BlockBackend,
	sp_core::{Bytes, H256},
	sp_runtime::traits::Block as BlockT,
};
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

	/// The dataset's live contribution that registered a content hash: `[contributionId,
	/// contribution]`, or null.
	#[method(name = "datasets_contributionByHash")]
	fn contribution_by_hash(
		&self,
		dataset_id: DatasetId,
		content_hash: ContentHash,
		at: Option<BlockHash>,
	) -> RpcResult<Option<(ContributionId, Contribution)>>;

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
		dataset_id: DatasetId,
		content_hash: ContentHash,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<(ContributionId, Contribution)>> {
		self.0.call(at, |api, at| api.contribution_by_hash(at, dataset_id, content_hash))
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

/// The error code of a failed read of the node's database.
pub const DATABASE_ERROR: i32 = 2;

#[rpc(server)]
pub trait RecordsApi {
	/// A record's bytes, by the blake2-256 hash of them, as the block that took the
	/// contribution indexed them; null when this node holds no such bytes (it did not import
	/// that block in full, pruned its body, or no contribution indexed them).
	#[method(name = "datasets_recordBytes")]
	fn record_bytes(&self, content_hash: H256) -> RpcResult<Option<Bytes>>;
}

/// Serves [`RecordsApiServer`] from a client's block bodies.
pub struct Records<Client, Block> {
	client: Arc<Client>,
	_block: PhantomData<fn() -> Block>,
}

impl<Client, Block> Records<Client, Block> {
	/// Serves from `client`'s database.
	pub fn new(client: Arc<Client>) -> Self {
		Self { client, _block: PhantomData }
	}
}

impl<Client, Block> RecordsApiServer for Records<Client, Block>
where
	Block: BlockT,
	Client: BlockBackend<Block> + Send + Sync + 'static,
{
	fn record_bytes(&self, content_hash: H256) -> RpcResult<Option<Bytes>> {
		self.client.indexed_transaction(content_hash).map(|bytes| bytes.map(Bytes)).map_err(
			|error| {
				ErrorObjectOwned::owned(
					DATABASE_ERROR,
					"reading indexed records failed",
					Some(error.to_string()),
				)
			},
		)
	}
}
