//! JSON-RPC method over [`InferenceApi`]: `inference_request`. It takes an optional block hash
//! and answers at the best block otherwise.

use std::{marker::PhantomData, sync::Arc};

use codec::Codec;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
pub use pallet_inference_runtime_api::InferenceApi as InferenceRuntimeApi;
use pallet_inference_runtime_api::RequestId;
use polkadot_sdk::{
	sp_api::ProvideRuntimeApi, sp_blockchain::HeaderBackend, sp_runtime::traits::Block as BlockT,
};
use serde::Serialize;
use tributary_rpc_support::{at_or_best, runtime_error};

#[rpc(server)]
pub trait InferenceApi<BlockHash, Request> {
	/// An open request (requester, model, adapter and its hash, provider, operator, prompt,
	/// maxTokens, maxFee, deadline), or null once it has settled or expired.
	#[method(name = "inference_request")]
	fn request(&self, request_id: RequestId, at: Option<BlockHash>) -> RpcResult<Option<Request>>;
}

/// Serves [`InferenceApiServer`] from a client's runtime.
pub struct Inference<Client, Block> {
	client: Arc<Client>,
	_block: PhantomData<Block>,
}

impl<Client, Block> Inference<Client, Block> {
	pub fn new(client: Arc<Client>) -> Self {
		Self { client, _block: PhantomData }
	}
}

impl<Client, Block, Request> InferenceApiServer<Block::Hash, Request> for Inference<Client, Block>
where
	Block: BlockT,
	Client: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static,
	Client::Api: InferenceRuntimeApi<Block, Request>,
	Request: Codec + Serialize + Send + Sync + 'static,
{
	fn request(
		&self,
		request_id: RequestId,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<Request>> {
		let at = at_or_best(&*self.client, at);
		self.client.runtime_api().request(at, request_id).map_err(runtime_error)
	}
}
