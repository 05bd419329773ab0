//! JSON-RPC method over [`RoyaltiesApiServer`]: `royalties_pending`. It takes an optional block
//! hash and answers at the best block otherwise.

use std::sync::Arc;

use codec::Codec;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use pallet_royalties_runtime_api::PendingRoyalties;
pub use pallet_royalties_runtime_api::RoyaltiesApi as RoyaltiesRuntimeApi;
use polkadot_sdk::sp_runtime::traits::Block as BlockT;
use serde::{de::DeserializeOwned, Serialize};
use tributary_rpc_support::{RuntimeClient, RuntimeReader};

#[rpc(server)]
pub trait RoyaltiesApi<BlockHash, AccountId, Balance> {
	/// `{credits, pools: [[datasetId, amount]], total}`: what `who` could claim now with
	/// `royalties.claim` (credits) and `royalties.claimFromDatasets` (pool shares).
	#[method(name = "royalties_pending")]
	fn pending(
		&self,
		who: AccountId,
		at: Option<BlockHash>,
	) -> RpcResult<PendingRoyalties<Balance>>;
}

/// Serves [`RoyaltiesApiServer`] from a client's runtime.
pub struct Royalties<Client, Block>(RuntimeReader<Client, Block>);

impl<Client, Block> Royalties<Client, Block> {
	/// Serves from `client`'s runtime.
	pub fn new(client: Arc<Client>) -> Self {
		Self(RuntimeReader::new(client))
	}
}

impl<Client, Block, AccountId, Balance> RoyaltiesApiServer<Block::Hash, AccountId, Balance>
	for Royalties<Client, Block>
where
	Block: BlockT,
	Client: RuntimeClient<Block>,
	Client::Api: RoyaltiesRuntimeApi<Block, AccountId, Balance>,
	AccountId: Codec + DeserializeOwned + Send + Sync + 'static,
	Balance: Codec + Serialize + Send + Sync + 'static,
{
	fn pending(
		&self,
		who: AccountId,
		at: Option<Block::Hash>,
	) -> RpcResult<PendingRoyalties<Balance>> {
		self.0.call(at, |api, at| api.pending(at, who))
	}
}
