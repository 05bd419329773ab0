//! What Tributary's RPC crates share: the error they answer with when a runtime API call
//! fails, and the block a call reads when it is not given one.

use jsonrpsee::types::ErrorObjectOwned;
use polkadot_sdk::{
	sp_api::ApiError, sp_blockchain::HeaderBackend, sp_runtime::traits::Block as BlockT,
};

/// The error code of a runtime API call that failed.
pub const RUNTIME_ERROR: i32 = 1;

/// The JSON-RPC error for a runtime API call that failed, with the runtime's reason as its
/// data.
pub fn runtime_error(error: ApiError) -> ErrorObjectOwned {
	ErrorObjectOwned::owned(RUNTIME_ERROR, "runtime API call failed", Some(error.to_string()))
}

/// The block a call reads: `at` when the caller gave one, the client's best block otherwise.
pub fn at_or_best<Block: BlockT, Client: HeaderBackend<Block> + ?Sized>(
	client: &Client,
	at: Option<Block::Hash>,
) -> Block::Hash {
	at.unwrap_or_else(|| client.info().best_hash)
}
