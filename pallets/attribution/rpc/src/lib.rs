//! JSON-RPC methods over [`AttributionApi`]: `attribution_lineage` and
//! `attribution_adaptersTrainedOn`. Each takes an optional block hash and answers at the best
//! block otherwise.

use std::{marker::PhantomData, sync::Arc};

use jsonrpsee::{core::RpcResult, proc_macros::rpc, types::ErrorObjectOwned};
pub use pallet_attribution_runtime_api::AttributionApi as AttributionRuntimeApi;
use pallet_attribution_runtime_api::{AdapterId, DatasetId, LineageShare, Permill};
use polkadot_sdk::{
	sp_api::{ApiError, ProvideRuntimeApi},
	sp_blockchain::HeaderBackend,
	sp_runtime::traits::Block as BlockT,
};

/// The error code of a runtime API call that failed.
pub const RUNTIME_ERROR: i32 = 1;

#[rpc(server)]
pub trait AttributionApi<BlockHash> {
	/// An adapter's lineage, `[{datasetId, share}]` with shares in parts per million, or null.
	#[method(name = "attribution_lineage")]
	fn lineage(
		&self,
		adapter_id: AdapterId,
		at: Option<BlockHash>,
	) -> RpcResult<Option<Vec<LineageShare>>>;

	/// A page of at most `limit` (the runtime caps it at 100) `[adapterId, share]` pairs for
	/// the adapters trained on a dataset, after `start_after`, the adapter that ended the
	/// previous page.
	#[method(name = "attribution_adaptersTrainedOn")]
	fn adapters_trained_on(
		&self,
		dataset_id: DatasetId,
		start_after: Option<AdapterId>,
		limit: u32,
		at: Option<BlockHash>,
	) -> RpcResult<Vec<(AdapterId, Permill)>>;
}

/// Serves [`AttributionApiServer`] from a client's runtime.
pub struct Attribution<Client, Block> {
	client: Arc<Client>,
	_block: PhantomData<Block>,
}

impl<Client, Block> Attribution<Client, Block> {
	pub fn new(client: Arc<Client>) -> Self {
		Self { client, _block: PhantomData }
	}
}

fn runtime_error(error: ApiError) -> ErrorObjectOwned {
	ErrorObjectOwned::owned(RUNTIME_ERROR, "runtime API call failed", Some(error.to_string()))
}

impl<Client, Block> AttributionApiServer<Block::Hash> for Attribution<Client, Block>
where
	Block: BlockT,
	Client: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	Client::Api: AttributionRuntimeApi<Block>,
{
	fn lineage(
		&self,
		adapter_id: AdapterId,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<Vec<LineageShare>>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		self.client.runtime_api().lineage(at, adapter_id).map_err(runtime_error)
	}

	fn adapters_trained_on(
		&self,
		dataset_id: DatasetId,
		start_after: Option<AdapterId>,
		limit: u32,
		at: Option<Block::Hash>,
	) -> RpcResult<Vec<(AdapterId, Permill)>> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		self.client
			.runtime_api()
			.adapters_trained_on(at, dataset_id, start_after, limit)
			.map_err(runtime_error)
	}
}
