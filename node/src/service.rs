//! The node's service: the client and its parts, and the collator that joins a relay chain.
//! The standalone `--dev` mode is in [`crate::dev`].

use std::{sync::Arc, time::Duration};

use polkadot_sdk::*;

use cumulus_client_cli::CollatorOptions;
use cumulus_client_collator::service::CollatorService;
use cumulus_client_consensus_aura::collators::lookahead::{self as aura, Params as AuraParams};
use cumulus_client_consensus_common::ParachainBlockImport as TParachainBlockImport;
use cumulus_client_service::{
	build_network, build_relay_chain_interface, prepare_node_config, start_relay_chain_tasks,
	BuildNetworkParams, DARecoveryProfile, StartRelayChainTasksParams,
};
use cumulus_primitives_core::{relay_chain::ValidationCode, ParaId};
use futures::FutureExt;
use sc_client_api::Backend;
use sc_consensus::ImportQueue;
use sc_executor::{HeapAllocStrategy, WasmExecutor, DEFAULT_HEAP_ALLOC_STRATEGY};
use sc_network::{NetworkBackend, NetworkBlock, NetworkStateInfo};
use sc_service::{Configuration, PartialComponents, TFullBackend, TFullClient, TaskManager};
use sc_telemetry::{Telemetry, TelemetryWorker, TelemetryWorkerHandle};
use sc_transaction_pool_api::OffchainTransactionPoolFactory;
use sp_consensus_aura::sr25519::AuthorityPair as AuraPair;
use tributary_runtime::{apis::RuntimeApi, opaque::Block, Hash};

#[cfg(not(feature = "runtime-benchmarks"))]
pub type HostFunctions = cumulus_client_service::ParachainHostFunctions;
#[cfg(feature = "runtime-benchmarks")]
pub type HostFunctions = (
	cumulus_client_service::ParachainHostFunctions,
	frame_benchmarking::benchmarking::HostFunctions,
);

pub type ParachainExecutor = WasmExecutor<HostFunctions>;
pub type ParachainClient = TFullClient<Block, RuntimeApi, ParachainExecutor>;
pub type ParachainBackend = TFullBackend<Block>;
pub type ParachainBlockImport =
	TParachainBlockImport<Block, Arc<ParachainClient>, ParachainBackend>;
pub type TransactionPool = sc_transaction_pool::TransactionPoolHandle<Block, ParachainClient>;

/// The parts of a node that chain operations (export, revert, …) need, and that both the
/// collator and the dev node start from.
pub type Service = PartialComponents<
	ParachainClient,
	ParachainBackend,
	(),
	sc_consensus::DefaultImportQueue<Block>,
	TransactionPool,
	(ParachainBlockImport, Option<Telemetry>, Option<TelemetryWorkerHandle>),
>;

/// Builds the client, backend, transaction pool and import queue.
pub fn new_partial(config: &Configuration) -> Result<Service, sc_service::Error> {
	new_partial_with(config, ImportChecks::Aura)
}

/// What the import queue checks of the blocks peers send.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum ImportChecks {
	/// Aura seals by the parachain's authorities: every chain but a followed dev chain.
	Aura,
	/// Nothing: a dev chain's blocks carry no seal (`--dev-follow`).
	None,
}

/// As [`new_partial`], with the import queue's checks chosen.
pub fn new_partial_with(
	config: &Configuration,
	checks: ImportChecks,
) -> Result<Service, sc_service::Error> {
	let telemetry = config
		.telemetry_endpoints
		.clone()
		.filter(|x| !x.is_empty())
		.map(|endpoints| -> Result<_, sc_telemetry::Error> {
			let worker = TelemetryWorker::new(16)?;
			let telemetry = worker.handle().new_telemetry(endpoints);
			Ok((worker, telemetry))
		})
		.transpose()?;

	let heap_pages = config
		.executor
		.default_heap_pages
		.map_or(DEFAULT_HEAP_ALLOC_STRATEGY, |h| HeapAllocStrategy::Static { extra_pages: h as _ });

	let executor = ParachainExecutor::builder()
		.with_execution_method(config.executor.wasm_method)
		.with_onchain_heap_alloc_strategy(heap_pages)
		.with_offchain_heap_alloc_strategy(heap_pages)
		.with_max_runtime_instances(config.executor.max_runtime_instances)
		.with_runtime_cache_size(config.executor.runtime_cache_size)
		.build();

	let (client, backend, keystore_container, task_manager) =
		sc_service::new_full_parts_record_import::<Block, RuntimeApi, _>(
			config,
			telemetry.as_ref().map(|(_, telemetry)| telemetry.handle()),
			executor,
			true,
			Default::default(),
		)?;
	let client = Arc::new(client);

	let telemetry_worker_handle = telemetry.as_ref().map(|(worker, _)| worker.handle());
	let telemetry = telemetry.map(|(worker, telemetry)| {
		task_manager.spawn_handle().spawn("telemetry", None, worker.run());
		telemetry
	});

	let transaction_pool = Arc::from(
		sc_transaction_pool::Builder::new(
			task_manager.spawn_essential_handle(),
			client.clone(),
			config.role.is_authority().into(),
		)
		.with_options(config.transaction_pool.clone())
		.with_prometheus(config.prometheus_registry())
		.build(),
	);

	let block_import = ParachainBlockImport::new(client.clone(), backend.clone());

	let import_queue = match checks {
		ImportChecks::None => sc_consensus_manual_seal::import_queue(
			Box::new(client.clone()),
			&task_manager.spawn_essential_handle(),
			config.prometheus_registry(),
		),
		ImportChecks::Aura => {
			cumulus_client_consensus_aura::equivocation_import_queue::fully_verifying_import_queue::<
				AuraPair,
				_,
				_,
				_,
				_,
			>(
				client.clone(),
				block_import.clone(),
				move |_, _| async move { Ok(sp_timestamp::InherentDataProvider::from_system_time()) },
				&task_manager.spawn_essential_handle(),
				config.prometheus_registry(),
				telemetry.as_ref().map(|telemetry| telemetry.handle()),
			)
		}
	};

	Ok(PartialComponents {
		backend,
		client,
		import_queue,
		keystore_container,
		task_manager,
		transaction_pool,
		select_chain: (),
		other: (block_import, telemetry, telemetry_worker_handle),
	})
}

/// Where the off-chain worker reaches the LoRA service, and the API key it sends it.
#[derive(Clone)]
pub struct LoraService {
	pub url: String,
	pub api_key: Option<String>,
	/// The token the service asks of the routes that change what it holds (records).
	pub admin_token: Option<String>,
	/// Whether the node keeps the service's records in sync with the chain.
	pub record_sync: bool,
	/// Datasets whose records the service keeps besides those of the models served.
	pub sync_datasets: Vec<u32>,
}

/// Stores the LoRA service's URL and API key (or the absence of one) where the runtime's
/// off-chain workers read them.
pub fn store_lora_service(backend: &ParachainBackend, service: &LoraService) {
	match backend.offchain_storage() {
		Some(mut storage) => {
			use tributary_runtime::offchain::{store_lora_service_api_key, store_lora_service_url};
			store_lora_service_url(&mut storage, &service.url);
			store_lora_service_api_key(&mut storage, service.api_key.as_deref());
			let key = if service.api_key.is_some() { "with its API key" } else { "without a key" };
			log::info!("🧠 LoRA service for off-chain workers: {} ({key})", service.url);
		}
		None => {
			log::warn!("No off-chain storage: off-chain workers will not find the LoRA service")
		}
	}
}

/// Turns on off-chain indexing: the attribution ledger writes every settled output there, and
/// `attribution_forRequest` serves it after the on-chain retention window.
pub fn enable_offchain_indexing(config: &mut Configuration) {
	if !config.offchain_worker.indexing_enabled {
		log::info!("📇 Off-chain indexing on (the attribution ledger's history)");
		config.offchain_worker.indexing_enabled = true;
	}
}

/// Runs the off-chain workers on every imported block, with HTTP requests enabled so that
/// they can reach the LoRA service. With a dev key seed (`--dev`, `--alice`…), the seed's
/// operator key (key type `trib`) is put in the keystore first, so the dev provider's node
/// serves its requests and sends its heartbeats.
pub fn spawn_offchain_workers(
	config: &Configuration,
	task_manager: &TaskManager,
	client: Arc<ParachainClient>,
	backend: &ParachainBackend,
	keystore: sp_keystore::KeystorePtr,
	transaction_pool: Arc<TransactionPool>,
	network: Arc<dyn sc_network::service::traits::NetworkService>,
) -> Result<(), sc_service::Error> {
	if !config.offchain_worker.enabled {
		return Ok(());
	}
	if let Some(seed) = config.dev_key_seed.as_deref() {
		use sp_keystore::Keystore;
		let key_type = tributary_runtime::offchain::OPERATOR_KEY_TYPE;
		let public = keystore.sr25519_generate_new(key_type, Some(seed)).map_err(|e| {
			sc_service::Error::Other(format!("inserting the dev operator key: {e}"))
		})?;
		log::info!("🔑 Operator key {seed} ({public}) for the off-chain workers");
	}
	let offchain_workers = sc_offchain::OffchainWorkers::new(sc_offchain::OffchainWorkerOptions {
		runtime_api_provider: client.clone(),
		keystore: Some(keystore),
		offchain_db: backend.offchain_storage(),
		transaction_pool: Some(OffchainTransactionPoolFactory::new(transaction_pool)),
		network_provider: Arc::new(network),
		is_validator: config.role.is_authority(),
		enable_http_requests: true,
		custom_extensions: move |_| vec![],
	})?;
	task_manager.spawn_handle().spawn(
		"offchain-workers-runner",
		"offchain-work",
		offchain_workers.run(client, task_manager.spawn_handle()).boxed(),
	);
	Ok(())
}

/// Keeps the LoRA service's records in sync with the chain's for the datasets this node's
/// providers serve ([`crate::record_sync`]), unless `--no-record-sync`.
pub fn spawn_record_sync(
	config: &Configuration,
	task_manager: &TaskManager,
	client: Arc<ParachainClient>,
	keystore: sp_keystore::KeystorePtr,
	service: &LoraService,
) -> Result<(), sc_service::Error> {
	if !service.record_sync {
		log::info!("📚 Record sync off: the LoRA service's records are fed by other means");
		return Ok(());
	}
	let sync = crate::record_sync::RecordSync::new(
		client,
		keystore,
		service,
		config.prometheus_registry(),
	)
	.map_err(sc_service::Error::Other)?;
	let token =
		if service.admin_token.is_some() { "with its admin token" } else { "without a token" };
	log::info!("📚 Record sync to {} ({token})", service.url);
	task_manager.spawn_handle().spawn("record-sync", "record-sync", sync.run().boxed());
	Ok(())
}

/// The RPC builder both modes hand to `sc_service::spawn_tasks`.
pub fn rpc_builder(
	client: Arc<ParachainClient>,
	pool: Arc<TransactionPool>,
	backend: &ParachainBackend,
) -> Box<
	dyn Fn(sc_rpc::SubscriptionTaskExecutor) -> Result<jsonrpsee::RpcModule<()>, sc_service::Error>,
> {
	let offchain = backend.offchain_storage();
	Box::new(move |_| {
		crate::rpc::create_full(crate::rpc::FullDeps {
			client: client.clone(),
			pool: pool.clone(),
			offchain: offchain.clone(),
		})
		.map_err(Into::into)
	})
}

/// Starts a collator (or a full node) of the parachain, with an embedded relay chain node.
pub async fn start_parachain_node<Net: NetworkBackend<Block, Hash>>(
	parachain_config: Configuration,
	polkadot_config: Configuration,
	collator_options: CollatorOptions,
	para_id: ParaId,
	hwbench: Option<sc_sysinfo::HwBench>,
	lora_service: LoraService,
) -> sc_service::error::Result<TaskManager> {
	let mut parachain_config = prepare_node_config(parachain_config);
	enable_offchain_indexing(&mut parachain_config);

	let params = new_partial(&parachain_config)?;
	let (block_import, mut telemetry, telemetry_worker_handle) = params.other;
	let client = params.client.clone();
	let backend = params.backend.clone();
	let mut task_manager = params.task_manager;
	store_lora_service(&backend, &lora_service);

	let prometheus_registry = parachain_config.prometheus_registry().cloned();
	let net_config = sc_network::config::FullNetworkConfiguration::<_, _, Net>::new(
		&parachain_config.network,
		prometheus_registry.clone(),
	);
	let metrics = Net::register_notification_metrics(prometheus_registry.as_ref());

	let (relay_chain_interface, collator_key, relay_chain_network, _paranode_rx) =
		build_relay_chain_interface(
			polkadot_config,
			&parachain_config,
			telemetry_worker_handle,
			&mut task_manager,
			collator_options.clone(),
			hwbench.clone(),
		)
		.await
		.map_err(|e| sc_service::Error::Application(Box::new(e) as Box<_>))?;

	let validator = parachain_config.role.is_authority();
	let transaction_pool = params.transaction_pool.clone();
	let import_queue_service = params.import_queue.service();

	let (network, system_rpc_tx, tx_handler_controller, sync_service, _bitswap) =
		build_network(BuildNetworkParams {
			parachain_config: &parachain_config,
			net_config,
			client: client.clone(),
			transaction_pool: transaction_pool.clone(),
			para_id,
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			relay_chain_interface: relay_chain_interface.clone(),
			import_queue: params.import_queue,
			metrics,
			gap_sync_body_policy: None,
		})
		.await?;

	spawn_offchain_workers(
		&parachain_config,
		&task_manager,
		client.clone(),
		&backend,
		params.keystore_container.keystore(),
		transaction_pool.clone(),
		network.clone(),
	)?;
	spawn_record_sync(
		&parachain_config,
		&task_manager,
		client.clone(),
		params.keystore_container.keystore(),
		&lora_service,
	)?;

	sc_service::spawn_tasks(sc_service::SpawnTasksParams {
		rpc_builder: rpc_builder(client.clone(), transaction_pool.clone(), &backend),
		client: client.clone(),
		transaction_pool: transaction_pool.clone(),
		task_manager: &mut task_manager,
		config: parachain_config,
		keystore: params.keystore_container.keystore(),
		backend: backend.clone(),
		network: network.clone(),
		sync_service: sync_service.clone(),
		system_rpc_tx,
		tx_handler_controller,
		telemetry: telemetry.as_mut(),
		tracing_execute_block: None,
	})?;

	if let Some(hwbench) = hwbench {
		sc_sysinfo::print_hwbench(&hwbench);
	}

	let announce_block = {
		let sync_service = sync_service.clone();
		Arc::new(move |hash, data| sync_service.announce_block(hash, data))
	};

	let relay_chain_slot_duration = Duration::from_secs(6);
	let overseer_handle = relay_chain_interface
		.overseer_handle()
		.map_err(|e| sc_service::Error::Application(Box::new(e)))?;

	start_relay_chain_tasks(StartRelayChainTasksParams {
		client: client.clone(),
		announce_block: announce_block.clone(),
		para_id,
		relay_chain_interface: relay_chain_interface.clone(),
		task_manager: &mut task_manager,
		da_recovery_profile: if validator {
			DARecoveryProfile::Collator
		} else {
			DARecoveryProfile::FullNode
		},
		import_queue: import_queue_service,
		relay_chain_slot_duration,
		recovery_handle: Box::new(overseer_handle.clone()),
		sync_service: sync_service.clone(),
		prometheus_registry: prometheus_registry.as_ref(),
	})?;

	if validator {
		let proposer = sc_basic_authorship::ProposerFactory::new(
			task_manager.spawn_handle(),
			client.clone(),
			transaction_pool,
			prometheus_registry.as_ref(),
			telemetry.as_ref().map(|t| t.handle()),
		);
		let collator_service = CollatorService::new(client.clone(), announce_block, client.clone());
		let code_hash_client = client.clone();
		let params = AuraParams {
			create_inherent_data_providers: move |_, ()| async move { Ok(()) },
			block_import,
			para_client: client.clone(),
			para_backend: backend,
			relay_client: relay_chain_interface,
			code_hash_provider: move |block_hash| {
				code_hash_client.code_at(block_hash).ok().map(|c| ValidationCode::from(c).hash())
			},
			keystore: params.keystore_container.keystore(),
			collator_key: collator_key.ok_or("A collator needs a collator key")?,
			collator_peer_id: relay_chain_network.local_peer_id(),
			para_id,
			overseer_handle,
			relay_chain_slot_duration,
			proposer,
			collator_service,
			authoring_duration: Duration::from_millis(2000),
			reinitialize: false,
			max_pov_percentage: None,
		};
		let collator = aura::run::<Block, AuraPair, _, _, _, _, _, _, _, _>(params);
		task_manager.spawn_essential_handle().spawn("aura", None, collator);
	}

	Ok(task_manager)
}
