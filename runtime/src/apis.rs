//! The runtime APIs the node and clients call: the parachain template's set (block building,
//! Aura, collation, transaction payment, nonces, genesis presets), metadata at every version
//! the runtime supports (v14, v15 and v16), the off-chain worker entry point, and Tributary's
//! own: `DatasetsApi`, `ModelsApi`, `AttributionApi`, `ProvidersApi`, `RoyaltiesApi` and
//! `InferenceApi`.

#[cfg(feature = "runtime-benchmarks")]
use alloc::string::String;
use alloc::vec::Vec;

use polkadot_sdk::*;

use cumulus_primitives_core::{ParaId, RelayProofRequest};
use frame_support::{
	genesis_builder_helper::{build_state, get_preset},
	weights::Weight,
};
use pallet_aura::Authorities;
use sp_api::impl_runtime_apis;
use sp_core::{crypto::KeyTypeId, OpaqueMetadata};
use sp_runtime::{
	traits::Block as BlockT,
	transaction_validity::{TransactionSource, TransactionValidity},
	ApplyExtrinsicResult, Permill,
};
use sp_version::RuntimeVersion;

use pallet_attribution::{AdapterId, LineageShare, RequestId};
use pallet_datasets::{ContentHash, ContributionId, DatasetId};
use pallet_models::ModelId;

use crate::{
	AccountId, AdapterRecord, Attribution, AuraId, Balance, Block, ConsensusHook,
	ContributionRecord, DatasetRecord, Datasets, Executive, InferenceRequest, InherentDataExt,
	ModelRecord, Models, Nonce, OutputRecord, ParachainInfo, ParachainSystem, PendingSlashRecord,
	ProviderRecord, Providers, Royalties, Runtime, RuntimeCall, RuntimeGenesisConfig, SessionKeys,
	System, TransactionPayment, SLOT_DURATION, VERSION,
};

impl_runtime_apis! {
	impl sp_consensus_aura::AuraApi<Block, AuraId> for Runtime {
		fn slot_duration() -> sp_consensus_aura::SlotDuration {
			sp_consensus_aura::SlotDuration::from_millis(SLOT_DURATION)
		}

		fn authorities() -> Vec<AuraId> {
			Authorities::<Runtime>::get().into_inner()
		}
	}

	impl cumulus_primitives_aura::AuraUnincludedSegmentApi<Block> for Runtime {
		fn can_build_upon(
			included_hash: <Block as BlockT>::Hash,
			slot: cumulus_primitives_aura::Slot,
		) -> bool {
			ConsensusHook::can_build_upon(included_hash, slot)
		}
	}

	impl cumulus_primitives_core::RelayParentOffsetApi<Block> for Runtime {
		fn relay_parent_offset() -> u32 {
			0
		}

		fn max_claim_queue_offset() -> u8 {
			1
		}
	}

	impl cumulus_primitives_core::GetParachainInfo<Block> for Runtime {
		fn parachain_id() -> ParaId {
			ParachainInfo::parachain_id()
		}
	}

	impl cumulus_primitives_core::KeyToIncludeInRelayProof<Block> for Runtime {
		fn keys_to_prove() -> RelayProofRequest {
			RelayProofRequest::default()
		}
	}

	impl sp_api::Core<Block> for Runtime {
		fn version() -> RuntimeVersion {
			VERSION
		}

		fn execute_block(block: <Block as BlockT>::LazyBlock) {
			Executive::execute_block(block)
		}

		fn initialize_block(header: &<Block as BlockT>::Header) -> sp_runtime::ExtrinsicInclusionMode {
			Executive::initialize_block(header)
		}
	}

	impl sp_api::Metadata<Block> for Runtime {
		fn metadata() -> OpaqueMetadata {
			OpaqueMetadata::new(Runtime::metadata().into())
		}

		fn metadata_at_version(version: u32) -> Option<OpaqueMetadata> {
			Runtime::metadata_at_version(version)
		}

		fn metadata_versions() -> Vec<u32> {
			Runtime::metadata_versions()
		}
	}

	impl sp_block_builder::BlockBuilder<Block> for Runtime {
		fn apply_extrinsic(extrinsic: <Block as BlockT>::Extrinsic) -> ApplyExtrinsicResult {
			Executive::apply_extrinsic(extrinsic)
		}

		fn finalize_block() -> <Block as BlockT>::Header {
			Executive::finalize_block()
		}

		fn inherent_extrinsics(data: sp_inherents::InherentData) -> Vec<<Block as BlockT>::Extrinsic> {
			data.create_extrinsics()
		}

		fn check_inherents(
			block: <Block as BlockT>::LazyBlock,
			data: sp_inherents::InherentData,
		) -> sp_inherents::CheckInherentsResult {
			data.check_extrinsics(&block)
		}
	}

	impl sp_transaction_pool::runtime_api::TaggedTransactionQueue<Block> for Runtime {
		fn validate_transaction(
			source: TransactionSource,
			tx: <Block as BlockT>::Extrinsic,
			block_hash: <Block as BlockT>::Hash,
		) -> TransactionValidity {
			Executive::validate_transaction(source, tx, block_hash)
		}
	}

	impl pallet_datasets_runtime_api::DatasetsApi<Block, AccountId, DatasetRecord, ContributionRecord>
		for Runtime
	{
		fn dataset(dataset_id: DatasetId) -> Option<DatasetRecord> {
			pallet_datasets::Datasets::<Runtime>::get(dataset_id)
		}

		fn contribution(
			dataset_id: DatasetId,
			contribution_id: ContributionId,
		) -> Option<ContributionRecord> {
			pallet_datasets::Contributions::<Runtime>::get(dataset_id, contribution_id)
		}

		fn contribution_by_hash(
			dataset_id: DatasetId,
			content_hash: ContentHash,
		) -> Option<(ContributionId, ContributionRecord)> {
			Datasets::contribution_by_hash(dataset_id, content_hash)
		}

		fn contributions_of(
			contributor: AccountId,
			start_after: Option<(DatasetId, ContributionId)>,
			limit: u32,
		) -> Vec<(DatasetId, ContributionId, ContributionRecord)> {
			Datasets::contributions_of(&contributor, start_after, limit)
		}

		fn contributor_weight(dataset_id: DatasetId, contributor: AccountId) -> u64 {
			pallet_datasets::ContributorWeight::<Runtime>::get(dataset_id, contributor)
		}

		fn contributions(
			dataset_id: DatasetId,
			start_after: Option<ContributionId>,
			limit: u32,
		) -> Vec<(ContributionId, ContributionRecord)> {
			Datasets::contributions_in(dataset_id, start_after, limit)
		}
	}

	impl pallet_models_runtime_api::ModelsApi<Block, ModelRecord, AdapterRecord> for Runtime {
		fn model(model_id: ModelId) -> Option<ModelRecord> {
			pallet_models::Models::<Runtime>::get(model_id)
		}

		fn models(start: ModelId, limit: u32) -> Vec<(ModelId, ModelRecord)> {
			Models::models(start, limit)
		}

		fn adapter(adapter_id: AdapterId) -> Option<AdapterRecord> {
			pallet_models::Adapters::<Runtime>::get(adapter_id)
		}

		fn model_adapters(model_id: ModelId) -> Vec<(AdapterId, AdapterRecord)> {
			Models::model_adapters(model_id)
		}
	}

	impl pallet_attribution_runtime_api::AttributionApi<Block, OutputRecord, Balance> for Runtime {
		fn lineage(adapter_id: AdapterId) -> Option<Vec<LineageShare>> {
			Attribution::lineage(adapter_id)
		}

		fn adapters_trained_on(
			dataset_id: DatasetId,
			start_after: Option<AdapterId>,
			limit: u32,
		) -> Vec<(AdapterId, Permill)> {
			Attribution::adapters_trained_on(dataset_id, start_after, limit)
		}

		fn output(request_id: RequestId) -> Option<OutputRecord> {
			pallet_attribution::Outputs::<Runtime>::get(request_id)
		}

		fn contribution_stats(
			dataset_id: DatasetId,
			contribution_id: ContributionId,
		) -> pallet_attribution::ContributionStats<Balance> {
			pallet_attribution::ContributionStatistics::<Runtime>::get(dataset_id, contribution_id)
		}
	}

	impl pallet_royalties_runtime_api::RoyaltiesApi<Block, AccountId, Balance> for Runtime {
		fn pending(who: AccountId) -> pallet_royalties::PendingRoyalties<Balance> {
			let mut pending = Royalties::pending_royalties(&who);
			pending.vesting = pallet_inference::Pallet::<Runtime>::vesting_credits(&who);
			pending
		}
	}

	impl pallet_inference_runtime_api::InferenceApi<Block, InferenceRequest> for Runtime {
		fn request(request_id: RequestId) -> Option<InferenceRequest> {
			pallet_inference::Requests::<Runtime>::get(request_id)
		}
	}

	impl pallet_providers_runtime_api::ProvidersApi<Block, AccountId, ProviderRecord, PendingSlashRecord>
		for Runtime
	{
		fn provider(provider: AccountId) -> Option<ProviderRecord> {
			Providers::provider_view(&provider)
		}

		fn providers_serving(model_id: ModelId, start: u32, limit: u32) -> Vec<(AccountId, ProviderRecord)> {
			Providers::providers_serving(model_id, start, limit)
		}

		fn pending_slashes(provider: AccountId) -> Vec<PendingSlashRecord> {
			Providers::pending_slashes_of(&provider)
		}

		fn provider_of_operator(operator: AccountId) -> Option<AccountId> {
			pallet_providers::ProviderOfOperator::<Runtime>::get(operator)
		}
	}

	impl sp_offchain::OffchainWorkerApi<Block> for Runtime {
		fn offchain_worker(header: &<Block as BlockT>::Header) {
			Executive::offchain_worker(header)
		}
	}

	impl sp_session::SessionKeys<Block> for Runtime {
		fn generate_session_keys(
			owner: Vec<u8>,
			seed: Option<Vec<u8>>,
		) -> sp_session::OpaqueGeneratedSessionKeys {
			SessionKeys::generate(&owner, seed).into()
		}

		fn decode_session_keys(
			encoded: Vec<u8>,
		) -> Option<Vec<(Vec<u8>, KeyTypeId)>> {
			SessionKeys::decode_into_raw_public_keys(&encoded)
		}
	}

	impl frame_system_rpc_runtime_api::AccountNonceApi<Block, AccountId, Nonce> for Runtime {
		fn account_nonce(account: AccountId) -> Nonce {
			System::account_nonce(account)
		}
	}

	impl pallet_transaction_payment_rpc_runtime_api::TransactionPaymentApi<Block, Balance> for Runtime {
		fn query_info(
			uxt: <Block as BlockT>::Extrinsic,
			len: u32,
		) -> pallet_transaction_payment_rpc_runtime_api::RuntimeDispatchInfo<Balance> {
			TransactionPayment::query_info(uxt, len)
		}
		fn query_fee_details(
			uxt: <Block as BlockT>::Extrinsic,
			len: u32,
		) -> pallet_transaction_payment::FeeDetails<Balance> {
			TransactionPayment::query_fee_details(uxt, len)
		}
		fn query_weight_to_fee(weight: Weight) -> Balance {
			TransactionPayment::weight_to_fee(weight)
		}
		fn query_length_to_fee(length: u32) -> Balance {
			TransactionPayment::length_to_fee(length)
		}
	}

	impl pallet_transaction_payment_rpc_runtime_api::TransactionPaymentCallApi<Block, Balance, RuntimeCall>
		for Runtime
	{
		fn query_call_info(
			call: RuntimeCall,
			len: u32,
		) -> pallet_transaction_payment::RuntimeDispatchInfo<Balance> {
			TransactionPayment::query_call_info(call, len)
		}
		fn query_call_fee_details(
			call: RuntimeCall,
			len: u32,
		) -> pallet_transaction_payment::FeeDetails<Balance> {
			TransactionPayment::query_call_fee_details(call, len)
		}
		fn query_weight_to_fee(weight: Weight) -> Balance {
			TransactionPayment::weight_to_fee(weight)
		}
		fn query_length_to_fee(length: u32) -> Balance {
			TransactionPayment::length_to_fee(length)
		}
	}

	impl cumulus_primitives_core::CollectCollationInfo<Block> for Runtime {
		fn collect_collation_info(header: &<Block as BlockT>::Header) -> cumulus_primitives_core::CollationInfo {
			ParachainSystem::collect_collation_info(header)
		}
	}

	impl sp_genesis_builder::GenesisBuilder<Block> for Runtime {
		fn build_state(config: Vec<u8>) -> sp_genesis_builder::Result {
			build_state::<RuntimeGenesisConfig>(config)
		}

		fn get_preset(id: &Option<sp_genesis_builder::PresetId>) -> Option<Vec<u8>> {
			get_preset::<RuntimeGenesisConfig>(id, crate::genesis_config_presets::get_preset)
		}

		fn preset_names() -> Vec<sp_genesis_builder::PresetId> {
			crate::genesis_config_presets::preset_names()
		}
	}

	#[cfg(feature = "try-runtime")]
	impl frame_try_runtime::TryRuntime<Block> for Runtime {
		fn on_runtime_upgrade(checks: frame_try_runtime::UpgradeCheckSelect) -> (Weight, Weight) {
			let weight = Executive::try_runtime_upgrade(checks).unwrap();
			(weight, crate::constants::RuntimeBlockWeights::get().max_block)
		}

		fn execute_block(
			block: <Block as BlockT>::LazyBlock,
			state_root_check: bool,
			signature_check: bool,
			select: frame_try_runtime::TryStateSelect,
		) -> Weight {
			Executive::try_execute_block(block, state_root_check, signature_check, select).unwrap()
		}
	}

	#[cfg(feature = "runtime-benchmarks")]
	impl frame_benchmarking::Benchmark<Block> for Runtime {
		fn benchmark_metadata(extra: bool) -> (
			Vec<frame_benchmarking::BenchmarkList>,
			Vec<frame_support::traits::StorageInfo>,
		) {
			use frame_benchmarking::BenchmarkList;
			use frame_support::traits::StorageInfoTrait;
			use crate::benchmarks::*;

			let mut list = Vec::<BenchmarkList>::new();
			list_benchmarks!(list, extra);

			let storage_info = crate::AllPalletsWithSystem::storage_info();
			(list, storage_info)
		}

		fn dispatch_benchmark(
			config: frame_benchmarking::BenchmarkConfig
		) -> Result<Vec<frame_benchmarking::BenchmarkBatch>, String> {
			use frame_benchmarking::BenchmarkBatch;
			use frame_support::traits::WhitelistedStorageKeys;
			use crate::benchmarks::*;

			let whitelist = crate::AllPalletsWithSystem::whitelisted_storage_keys();
			let mut batches = Vec::<BenchmarkBatch>::new();
			let params = (&config, &whitelist);
			add_benchmarks!(params, batches);

			if batches.is_empty() {
				return Err("Benchmark not found for this pallet.".into());
			}
			Ok(batches)
		}
	}
}
