//! JSON-RPC methods over [`AttributionApiServer`]: `attribution_lineage`,
//! `attribution_adaptersTrainedOn`, `attribution_forRequest` and `attribution_contributionStats`.
//! Each takes an optional block hash and answers at the best block otherwise.
//!
//! `attribution_forRequest` answers from the chain while the output is within its retention
//! window, and from the node's off-chain index after that (a node started with off-chain
//! indexing, which `tributary-node` turns on, keeps every output it imported).

use std::sync::Arc;

use codec::Codec;
use jsonrpsee::{core::RpcResult, proc_macros::rpc, types::ErrorObjectOwned};
pub use pallet_attribution_runtime_api::AttributionApi as AttributionRuntimeApi;
use pallet_attribution_runtime_api::{
	AdapterId, ContributionId, ContributionStats, DatasetId, LineageShare, Permill, RequestId,
	OFFCHAIN_PREFIX,
};
use polkadot_sdk::{
	sp_core::offchain::{OffchainStorage, STORAGE_PREFIX},
	sp_runtime::traits::Block as BlockT,
};
use serde::Serialize;
use tributary_rpc_support::{RuntimeClient, RuntimeReader};

/// The error code of an off-chain index entry that does not decode (runtime API calls that fail
/// answer with [`tributary_rpc_support::RUNTIME_ERROR`]).
pub const INDEX_ERROR: i32 = 2;

#[rpc(server)]
pub trait AttributionApi<BlockHash, Output, Balance> {
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

	/// A settled request's attribution, `{adapterId, settledAt, records: [{datasetId,
	/// contributionId, scorePpm, earned}]}`, from the chain or, after the retention window,
	/// from the node's off-chain index; null if neither has it.
	#[method(name = "attribution_forRequest")]
	fn for_request(
		&self,
		request_id: RequestId,
		at: Option<BlockHash>,
	) -> RpcResult<Option<Output>>;

	/// A contribution's citations: `{timesCited, totalScorePpm, totalEarned}`.
	#[method(name = "attribution_contributionStats")]
	fn contribution_stats(
		&self,
		dataset_id: DatasetId,
		contribution_id: ContributionId,
		at: Option<BlockHash>,
	) -> RpcResult<ContributionStats<Balance>>;
}

/// Serves [`AttributionApiServer`] from a client's runtime and its off-chain storage.
pub struct Attribution<Client, Block, Storage> {
	runtime: RuntimeReader<Client, Block>,
	offchain: Option<Storage>,
}

impl<Client, Block, Storage> Attribution<Client, Block, Storage> {
	/// `offchain`: the node's off-chain storage (`backend.offchain_storage()`), where the
	/// ledger's indexed outputs are.
	pub fn new(client: Arc<Client>, offchain: Option<Storage>) -> Self {
		Self { runtime: RuntimeReader::new(client), offchain }
	}
}

/// The off-chain index key of a request's output, as the ledger writes it.
pub fn index_key(request_id: RequestId) -> Vec<u8> {
	let mut key = OFFCHAIN_PREFIX.to_vec();
	key.extend_from_slice(&request_id.to_le_bytes());
	key
}

impl<Client, Block, Storage, Output, Balance> AttributionApiServer<Block::Hash, Output, Balance>
	for Attribution<Client, Block, Storage>
where
	Block: BlockT,
	Client: RuntimeClient<Block>,
	Client::Api: AttributionRuntimeApi<Block, Output, Balance>,
	Storage: OffchainStorage + 'static,
	Output: Codec + Serialize + Send + Sync + 'static,
	Balance: Codec + Serialize + Send + Sync + 'static,
{
	fn lineage(
		&self,
		adapter_id: AdapterId,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<Vec<LineageShare>>> {
		self.runtime.call(at, |api, at| api.lineage(at, adapter_id))
	}

	fn adapters_trained_on(
		&self,
		dataset_id: DatasetId,
		start_after: Option<AdapterId>,
		limit: u32,
		at: Option<Block::Hash>,
	) -> RpcResult<Vec<(AdapterId, Permill)>> {
		self.runtime.call(at, |api, at| api.adapters_trained_on(at, dataset_id, start_after, limit))
	}

	fn for_request(
		&self,
		request_id: RequestId,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<Output>> {
		if let Some(output) = self.runtime.call(at, |api, at| api.output(at, request_id))? {
			return Ok(Some(output));
		}
		let Some(bytes) =
			self.offchain.as_ref().and_then(|s| s.get(STORAGE_PREFIX, &index_key(request_id)))
		else {
			return Ok(None);
		};
		Output::decode(&mut &bytes[..]).map(Some).map_err(|e| {
			ErrorObjectOwned::owned(
				INDEX_ERROR,
				"the off-chain index entry does not decode",
				Some(e.to_string()),
			)
		})
	}

	fn contribution_stats(
		&self,
		dataset_id: DatasetId,
		contribution_id: ContributionId,
		at: Option<Block::Hash>,
	) -> RpcResult<ContributionStats<Balance>> {
		self.runtime.call(at, |api, at| api.contribution_stats(at, dataset_id, contribution_id))
	}
}
