//! JSON-RPC methods over [`ProvidersApiServer`]: `providers_provider`, `providers_providersServing`
//! and `providers_pendingSlashes`. Each takes an optional block hash and answers at the best block
//! otherwise.

use std::sync::Arc;

use codec::Codec;
use jsonrpsee::{core::RpcResult, proc_macros::rpc};
use pallet_providers_runtime_api::ModelId;
pub use pallet_providers_runtime_api::ProvidersApi as ProvidersRuntimeApi;
use polkadot_sdk::sp_runtime::traits::Block as BlockT;
use serde::{de::DeserializeOwned, Serialize};
use tributary_rpc_support::{RuntimeClient, RuntimeReader};

#[rpc(server)]
pub trait ProvidersApi<BlockHash, AccountId, Provider, PendingSlash> {
	/// A provider with its status and capacity, or null.
	#[method(name = "providers_provider")]
	fn provider(&self, provider: AccountId, at: Option<BlockHash>) -> RpcResult<Option<Provider>>;

	/// `[account, provider]` for up to `limit` (the runtime caps it at 100) of the providers
	/// serving a model, from position `start`.
	#[method(name = "providers_providersServing")]
	fn providers_serving(
		&self,
		model_id: ModelId,
		start: u32,
		limit: u32,
		at: Option<BlockHash>,
	) -> RpcResult<Vec<(AccountId, Provider)>>;

	/// The slashes pending against a provider.
	#[method(name = "providers_pendingSlashes")]
	fn pending_slashes(
		&self,
		provider: AccountId,
		at: Option<BlockHash>,
	) -> RpcResult<Vec<PendingSlash>>;
}

/// Serves [`ProvidersApiServer`] from a client's runtime.
pub struct Providers<Client, Block>(RuntimeReader<Client, Block>);

impl<Client, Block> Providers<Client, Block> {
	/// Serves from `client`'s runtime.
	pub fn new(client: Arc<Client>) -> Self {
		Self(RuntimeReader::new(client))
	}
}

impl<Client, Block, AccountId, Provider, PendingSlash>
	ProvidersApiServer<Block::Hash, AccountId, Provider, PendingSlash> for Providers<Client, Block>
where
	Block: BlockT,
	Client: RuntimeClient<Block>,
	Client::Api: ProvidersRuntimeApi<Block, AccountId, Provider, PendingSlash>,
	AccountId: Codec + Serialize + DeserializeOwned + Send + Sync + 'static,
	Provider: Codec + Serialize + Send + Sync + 'static,
	PendingSlash: Codec + Serialize + Send + Sync + 'static,
{
	fn provider(
		&self,
		provider: AccountId,
		at: Option<Block::Hash>,
	) -> RpcResult<Option<Provider>> {
		self.0.call(at, |api, at| api.provider(at, provider))
	}

	fn providers_serving(
		&self,
		model_id: ModelId,
		start: u32,
		limit: u32,
		at: Option<Block::Hash>,
	) -> RpcResult<Vec<(AccountId, Provider)>> {
		self.0.call(at, |api, at| api.providers_serving(at, model_id, start, limit))
	}

	fn pending_slashes(
		&self,
		provider: AccountId,
		at: Option<Block::Hash>,
	) -> RpcResult<Vec<PendingSlash>> {
		self.0.call(at, |api, at| api.pending_slashes(at, provider))
	}
}
