//! What Tributary's RPC crates share: a client's runtime read at the block a call names (the
//! best block when it names none), and the error they answer with when a runtime API call fails.

use std::{marker::PhantomData, sync::Arc};

use jsonrpsee::{core::RpcResult, types::ErrorObjectOwned};
use polkadot_sdk::{
	sp_api::{ApiError, ProvideRuntimeApi},
	sp_blockchain::HeaderBackend,
	sp_runtime::traits::Block as BlockT,
};

/// The error code of a runtime API call that failed.
pub const RUNTIME_ERROR: i32 = 1;

/// The JSON-RPC error for a runtime API call that failed, with the runtime's reason as its
/// data.
fn runtime_error(error: ApiError) -> ErrorObjectOwned {
	ErrorObjectOwned::owned(RUNTIME_ERROR, "runtime API call failed", Some(error.to_string()))
}

/// A client an RPC server can read the runtime of: it provides the runtime API, knows the best
/// block, and can be shared with the server's threads.
pub trait RuntimeClient<Block: BlockT>:
	ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static
{
}

impl<Block: BlockT, Client> RuntimeClient<Block> for Client where
	Client: ProvideRuntimeApi<Block> + HeaderBackend<Block> + Send + Sync + 'static
{
}

/// A client's runtime, as the RPC crates read it: each call at the block its caller gave, or at
/// the best block, a failed call answered with [`RUNTIME_ERROR`] and the runtime's reason.
pub struct RuntimeReader<Client, Block> {
	client: Arc<Client>,
	_block: PhantomData<Block>,
}

impl<Client, Block> RuntimeReader<Client, Block> {
	/// Reads `client`'s runtime.
	pub fn new(client: Arc<Client>) -> Self {
		Self { client, _block: PhantomData }
	}
}

impl<Client, Block> RuntimeReader<Client, Block>
where
	Block: BlockT,
	Client: ProvideRuntimeApi<Block> + HeaderBackend<Block>,
{
	/// `read`'s answer from the runtime API at `at`, or at the best block when `at` is `None`;
	/// `read` is given the API and the block to call it at.
	pub fn call<R>(
		&self,
		at: Option<Block::Hash>,
		read: impl FnOnce(&Client::Api, Block::Hash) -> Result<R, ApiError>,
	) -> RpcResult<R> {
		let at = at.unwrap_or_else(|| self.client.info().best_hash);
		read(&*self.client.runtime_api(), at).map_err(runtime_error)
	}
}
