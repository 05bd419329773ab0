//! The node's RPC: the standard Substrate set (added by `sc-service`), plus the modules merged
//! here. Pallet RPC modules (`pallets/<name>/rpc`) are merged in [`create_full`], and nowhere
//! else.

use std::sync::Arc;

use polkadot_sdk::*;

use jsonrpsee::RpcModule;
use sc_transaction_pool_api::TransactionPool;
use sp_api::ProvideRuntimeApi;
use sp_block_builder::BlockBuilder;
use sp_blockchain::{Error as BlockChainError, HeaderBackend, HeaderMetadata};
use sp_core::offchain::OffchainStorage;
use tributary_runtime::{
	opaque::Block, AccountId, AdapterRecord, Balance, ContributionRecord, DatasetRecord,
	InferenceRequest, ModelRecord, Nonce, OutputRecord, PendingSlashRecord, ProviderRecord,
};

/// What the RPC modules need.
pub struct FullDeps<C, P, S> {
	/// The client.
	pub client: Arc<C>,
	/// The transaction pool.
	pub pool: Arc<P>,
	/// The node's off-chain storage, where the attribution ledger's outputs are indexed.
	pub offchain: Option<S>,
}

/// All of the node's RPC modules beyond the standard set.
pub fn create_full<C, P, S>(
	deps: FullDeps<C, P, S>,
) -> Result<RpcModule<()>, Box<dyn std::error::Error + Send + Sync>>
where
	C: ProvideRuntimeApi<Block>
		+ sc_client_api::BlockBackend<Block>
		+ HeaderBackend<Block>
		+ HeaderMetadata<Block, Error = BlockChainError>
		+ Send
		+ Sync
		+ 'static,
	C::Api: pallet_transaction_payment_rpc::TransactionPaymentRuntimeApi<Block, Balance>
		+ substrate_frame_rpc_system::AccountNonceApi<Block, AccountId, Nonce>
		+ pallet_datasets_rpc::DatasetsRuntimeApi<Block, AccountId, DatasetRecord, ContributionRecord>
		+ pallet_models_rpc::ModelsRuntimeApi<Block, ModelRecord, AdapterRecord>
		+ pallet_attribution_rpc::AttributionRuntimeApi<Block, OutputRecord, Balance>
		+ pallet_royalties_rpc::RoyaltiesRuntimeApi<Block, AccountId, Balance>
		+ pallet_inference_rpc::InferenceRuntimeApi<Block, InferenceRequest>
		+ pallet_providers_rpc::ProvidersRuntimeApi<
			Block,
			AccountId,
			ProviderRecord,
			PendingSlashRecord,
		> + BlockBuilder<Block>,
	P: TransactionPool + Sync + Send + 'static,
	S: OffchainStorage + 'static,
{
	use pallet_attribution_rpc::{Attribution, AttributionApiServer};
	use pallet_datasets_rpc::{Datasets, DatasetsApiServer, Records, RecordsApiServer};
	use pallet_inference_rpc::{Inference, InferenceApiServer};
	use pallet_models_rpc::{Models, ModelsApiServer};
	use pallet_providers_rpc::{Providers, ProvidersApiServer};
	use pallet_royalties_rpc::{Royalties, RoyaltiesApiServer};
	use pallet_transaction_payment_rpc::{TransactionPayment, TransactionPaymentApiServer};
	use substrate_frame_rpc_system::{System, SystemApiServer};

	let FullDeps { client, pool, offchain } = deps;
	let mut module = RpcModule::new(());
	module.merge(System::new(client.clone(), pool).into_rpc())?;
	module.merge(TransactionPayment::new(client.clone()).into_rpc())?;
	module.merge(Datasets::new(client.clone()).into_rpc())?;
	module.merge(Records::new(client.clone()).into_rpc())?;
	module.merge(Models::new(client.clone()).into_rpc())?;
	module.merge(Attribution::new(client.clone(), offchain).into_rpc())?;
	module.merge(Providers::new(client.clone()).into_rpc())?;
	module.merge(Royalties::new(client.clone()).into_rpc())?;
	module.merge(Inference::new(client).into_rpc())?;
	Ok(module)
}
