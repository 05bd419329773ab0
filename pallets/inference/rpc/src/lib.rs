//! JSON-RPC method over [`InferenceApiServer`]: `inference_request`. It takes an optional block
//! hash and answers at the best block otherwise.

use std::sync::Arc;

use codec::Codec;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
pub use pallet_inference_runtime_api::InferenceApi as InferenceRuntimeApi;
use pallet_inference_runtime_api::RequestId;
use polkadot_sdk::sp_runtime::traits::Block as BlockT;
use serde::Serialize;
use tributary_rpc_support::{RuntimeClient, RuntimeReader};

#[rpc(server)]
pub trait InferenceApi<BlockHash, Request> {
	/// An open request (requester, model, adapter and its hash, provider, operator, prompt,
	/// maxTokens, maxFee, deadline), or null once it has settled or expired.
	#[method(name = "inference_request")]
	fn request(&self, request_id: RequestId, at: Option<BlockHash>) -> RpcResult<Option<Request>>;
}

/// Serves [`InferenceApiServer`] from a client's runtime.
pub struct Inference<Client, Block>(RuntimeReader<Client, Block>);

impl<Client, Block> Inference<Client, Block> {
	/// Serves from `client`'s runtime.
	pub fn new(client: Arc<Client>) -> Self {
		Self(RuntimeReader::new(client))
	}
}

impl<Client, Block, Request> InferenceApiServer<Block::Hash, Request> for Inference<Client, Block>
where
	Block: BlockT,
	Client: RuntimeClient<Block>,
	Client::Api: InferenceRuntimeApi<Block, Request>,
	Request: Codec + Serialize + Send + Sync + 'static,
{
	fn request(
		&self,
		request_id: RequestId,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<Request>> {
		self.0.call(at, |api, at| api.request(at, request_id))
	}
}
