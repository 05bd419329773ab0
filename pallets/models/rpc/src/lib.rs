//! JSON-RPC methods over [`ModelsApiServer`]: `models_model`, `models_models`, `models_adapter` and
//! `models_modelAdapters`. Each takes an optional block hash and answers at the best block
//! otherwise.

use std::sync::Arc;

use codec::Codec;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
pub use pallet_models_runtime_api::ModelsApi as ModelsRuntimeApi;
use pallet_models_runtime_api::{AdapterId, ModelId};
use polkadot_sdk::sp_runtime::traits::Block as BlockT;
use serde::Serialize;
use tributary_rpc_support::{RuntimeClient, RuntimeReader};

#[rpc(server)]
pub trait ModelsApi<BlockHash, Model, Adapter> {
	/// A model, or null.
	#[method(name = "models_model")]
	fn model(&self, model_id: ModelId, at: Option<BlockHash>) -> RpcResult<Option<Model>>;

	/// `[modelId, model]` for the models with ids from `start` to `start + limit` (the runtime
	/// caps `limit` at 100).
	#[method(name = "models_models")]
	fn models(
		&self,
		start: ModelId,
		limit: u32,
		at: Option<BlockHash>,
	) -> RpcResult<Vec<(ModelId, Model)>>;

	/// An adapter, or null.
	#[method(name = "models_adapter")]
	fn adapter(&self, adapter_id: AdapterId, at: Option<BlockHash>) -> RpcResult<Option<Adapter>>;

	/// `[adapterId, adapter]` for each of a model's adapters, oldest first.
	#[method(name = "models_modelAdapters")]
	fn model_adapters(
		&self,
		model_id: ModelId,
		at: Option<BlockHash>,
	) -> RpcResult<Vec<(AdapterId, Adapter)>>;
}

/// Serves [`ModelsApiServer`] from a client's runtime.
pub struct Models<Client, Block>(RuntimeReader<Client, Block>);

impl<Client, Block> Models<Client, Block> {
	/// Serves from `client`'s runtime.
	pub fn new(client: Arc<Client>) -> Self {
		Self(RuntimeReader::new(client))
	}
}

impl<Client, Block, Model, Adapter> ModelsApiServer<Block::Hash, Model, Adapter>
	for Models<Client, Block>
where
	Block: BlockT,
	Client: RuntimeClient<Block>,
	Client::Api: ModelsRuntimeApi<Block, Model, Adapter>,
	Model: Codec + Serialize + Send + Sync + 'static,
	Adapter: Codec + Serialize + Send + Sync + 'static,
{
	fn model(&self, model_id: ModelId, at: Option<Block::Hash>) -> RpcResult<Option<Model>> {
		self.0.call(at, |api, at| api.model(at, model_id))
	}

	fn models(
		&self,
		start: ModelId,
		limit: u32,
		at: Option<Block::Hash>,
	) -> RpcResult<Vec<(ModelId, Model)>> {
		self.0.call(at, |api, at| api.models(at, start, limit))
	}

	fn adapter(
		&self,
		adapter_id: AdapterId,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<Adapter>> {
		self.0.call(at, |api, at| api.adapter(at, adapter_id))
	}

	fn model_adapters(
		&self,
		model_id: ModelId,
		at: Option<Block::Hash>,
	) -> RpcResult<Vec<(AdapterId, Adapter)>> {
		self.0.call(at, |api, at| api.model_adapters(at, model_id))
	}
}
