//! `--dev`: the chain runs alone, without a relay chain. The node seals its own blocks, on a
//! timer (`--dev-block-time`) or as soon as a transaction arrives (`--instant-seal`), finalizes
//! each at once, and feeds the runtime relay-chain validation data it makes up, so that the
//! parachain runtime runs unchanged.

use std::{sync::Arc, time::Duration};

use polkadot_sdk::*;

use codec::Encode;
use cumulus_client_parachain_inherent::MockValidationDataInherentDataProvider;
use cumulus_primitives_core::{CollectCollationInfo, GetParachainInfo, ParaId};
use futures::{channel::mpsc, SinkExt};
use polkadot_primitives::{well_known_keys, HeadData, UpgradeGoAhead};
use sc_client_api::HeaderBackend;
use sc_consensus::LongestChain;
use sc_consensus_manual_seal::{consensus::aura::AuraConsensusDataProvider, EngineCommand};
use sc_network::config::FullNetworkConfiguration;
use sc_service::{Configuration, PartialComponents, TaskManager};
use sp_api::ProvideRuntimeApi;
use sp_runtime::traits::Header as HeaderT;
use tributary_runtime::{opaque::Block, Hash};

use crate::service::{
	enable_offchain_indexing, new_partial_with, rpc_builder, spawn_offchain_workers,
	spawn_record_sync, store_lora_service, ImportChecks, LoraService, ParachainClient,
};

/// How the dev node seals blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealMode {
	/// A block every this many milliseconds, empty or not.
	Timer(u64),
	/// A block whenever a transaction enters the pool.
	Instant,
	/// No block: import those of the dev node this one follows (`--dev-follow`).
	Follow,
}

/// The relay chain's slot length, which the mocked relay chain keeps.
const RELAY_CHAIN_SLOT_DURATION_MILLIS: u64 = 6000;

/// Starts the standalone dev chain.
pub fn start_dev_node(
	mut config: Configuration,
	mode: SealMode,
	lora_service: LoraService,
) -> Result<TaskManager, sc_service::Error> {
	enable_offchain_indexing(&mut config);
	let PartialComponents {
		client,
		backend,
		mut task_manager,
		import_queue,
		keystore_container,
		transaction_pool,
		other: (_, mut telemetry, _),
		..
	} = new_partial_with(
		&config,
		if mode == SealMode::Follow { ImportChecks::None } else { ImportChecks::Aura },
	)?;
	store_lora_service(&backend, &lora_service);

	// Dev blocks carry no seal to check: a follower takes its peers' blocks as they come. The
	// sealing node dials nobody (two dev chains on one machine never mix); followers dial it.
	if mode != SealMode::Follow {
		config.network.default_peers_set.out_peers = 0;
	}
	let net_config = FullNetworkConfiguration::<_, _, sc_network::Litep2pNetworkBackend>::new(
		&config.network,
		None,
	);
	let (network, system_rpc_tx, tx_handler_controller, sync_service, _bitswap) =
		sc_service::build_network(sc_service::BuildNetworkParams {
			config: &config,
			client: client.clone(),
			transaction_pool: transaction_pool.clone(),
			spawn_handle: task_manager.spawn_handle(),
			spawn_essential_handle: task_manager.spawn_essential_handle(),
			import_queue,
			net_config,
			block_announce_validator_builder: None,
			warp_sync_config: None,
			block_relay: None,
			metrics: sc_network::NotificationMetrics::new(None),
			gap_sync_body_policy: None,
		})?;

	spawn_offchain_workers(
		&config,
		&task_manager,
		client.clone(),
		&backend,
		keystore_container.keystore(),
		transaction_pool.clone(),
		network.clone(),
	)?;
	spawn_record_sync(
		&config,
		&task_manager,
		client.clone(),
		keystore_container.keystore(),
		&lora_service,
	)?;

	let proposer = sc_basic_authorship::ProposerFactory::new(
		task_manager.spawn_handle(),
		client.clone(),
		transaction_pool.clone(),
		config.prometheus_registry(),
		telemetry.as_ref().map(|t| t.handle()),
	);
	let slot_duration = sc_consensus_aura::slot_duration(&*client)?;
	// Aura digests that match the mocked timestamps, so the runtime's slot checks pass.
	let aura_digest_provider =
		AuraConsensusDataProvider::<Block>::new_with_slot_duration(slot_duration);
	let para_id = parachain_id(&client)?;
	let inherent_data_providers =
		dev_inherent_data_providers(client.clone(), para_id, slot_duration);

	match mode {
		SealMode::Follow => {}
		SealMode::Instant => {
			let authorship = sc_consensus_manual_seal::run_instant_seal_and_finalize(
				sc_consensus_manual_seal::InstantSealParams {
					block_import: client.clone(),
					env: proposer,
					client: client.clone(),
					pool: transaction_pool.clone(),
					select_chain: LongestChain::new(backend.clone()),
					consensus_data_provider: Some(Box::new(aura_digest_provider)),
					create_inherent_data_providers: inherent_data_providers,
				},
			);
			task_manager.spawn_essential_handle().spawn_blocking("instant-seal", None, authorship);
		}
		SealMode::Timer(block_time) => {
			let (mut seal_sink, seal_stream) = mpsc::channel(1024);
			task_manager.spawn_essential_handle().spawn("dev-block-timer", None, async move {
				loop {
					futures_timer::Delay::new(Duration::from_millis(block_time)).await;
					let command = EngineCommand::SealNewBlock {
						create_empty: true,
						finalize: true,
						parent_hash: None,
						sender: None,
					};
					if seal_sink.send(command).await.is_err() {
						log::warn!("The sealing task has stopped; no more dev blocks");
						break;
					}
				}
			});
			let authorship = sc_consensus_manual_seal::run_manual_seal(
				sc_consensus_manual_seal::ManualSealParams {
					block_import: client.clone(),
					env: proposer,
					client: client.clone(),
					pool: transaction_pool.clone(),
					select_chain: LongestChain::new(backend.clone()),
					commands_stream: Box::pin(seal_stream),
					consensus_data_provider: Some(Box::new(aura_digest_provider)),
					create_inherent_data_providers: inherent_data_providers,
				},
			);
			task_manager.spawn_essential_handle().spawn_blocking("manual-seal", None, authorship);
		}
	}
	log::info!("🧪 Dev chain sealing: {mode:?}");

	sc_service::spawn_tasks(sc_service::SpawnTasksParams {
		network,
		client: client.clone(),
		keystore: keystore_container.keystore(),
		task_manager: &mut task_manager,
		transaction_pool: transaction_pool.clone(),
		rpc_builder: rpc_builder(client, transaction_pool, &backend),
		backend,
		system_rpc_tx,
		tx_handler_controller,
		sync_service,
		config,
		telemetry: telemetry.as_mut(),
		tracing_execute_block: None,
	})?;

	Ok(task_manager)
}

fn parachain_id(client: &ParachainClient) -> Result<ParaId, sc_service::Error> {
	let best = client.info().best_hash;
	client
		.runtime_api()
		.parachain_id(best)
		.map_err(|e| sc_service::Error::Other(format!("Reading the parachain id: {e}")))
}

type DevInherentDataProviders =
	(sp_timestamp::InherentDataProvider, MockValidationDataInherentDataProvider<()>);

/// The inherents of a dev block: a timestamp, and relay-chain validation data made up so that
/// each parachain block sits on a relay slot of its own, starting two hours in the past (so
/// the timestamps do not run into the future when blocks come faster than every six seconds).
fn dev_inherent_data_providers(
	client: Arc<ParachainClient>,
	para_id: ParaId,
	slot_duration: sp_consensus_aura::SlotDuration,
) -> impl Fn(
	Hash,
	(),
) -> futures::future::Ready<
	Result<DevInherentDataProviders, Box<dyn std::error::Error + Send + Sync>>,
> + Send
       + Sync {
	let two_hours_ago = std::time::SystemTime::now()
		.duration_since(std::time::UNIX_EPOCH)
		.unwrap_or_default()
		.saturating_sub(Duration::from_secs(2 * 60 * 60));
	let initial_relay_slot = two_hours_ago.as_millis() as u64 / RELAY_CHAIN_SLOT_DURATION_MILLIS;
	let relay_blocks_per_para_block =
		(slot_duration.as_millis() / RELAY_CHAIN_SLOT_DURATION_MILLIS).max(1) as u32;

	move |parent: Hash, ()| {
		futures::future::ready(mock_inherents(
			&client,
			parent,
			para_id,
			initial_relay_slot,
			relay_blocks_per_para_block,
		))
	}
}

fn mock_inherents(
	client: &ParachainClient,
	parent: Hash,
	para_id: ParaId,
	initial_relay_slot: u64,
	relay_blocks_per_para_block: u32,
) -> Result<DevInherentDataProviders, Box<dyn std::error::Error + Send + Sync>> {
	let parent_header = client
		.header(parent)?
		.ok_or_else(|| format!("The parent block {parent} is not in the database"))?;
	let block_number = parent_header.number().saturating_add(1);

	// A runtime upgrade is waiting for the relay chain's go-ahead: give it, as a relay chain
	// would, so that upgrades work on dev chains.
	let upgrade_pending = client
		.runtime_api()
		.collect_collation_info(parent, &parent_header)
		.map(|info| info.new_validation_code.is_some())
		.unwrap_or_default();

	let relay_slot = initial_relay_slot
		.saturating_add(u64::from(block_number) * u64::from(relay_blocks_per_para_block));
	let relay_offset = (relay_slot as u32)
		.saturating_sub(relay_blocks_per_para_block.saturating_mul(block_number));

	let validation_data = MockValidationDataInherentDataProvider::<()> {
		current_para_block: block_number,
		para_id,
		current_para_block_head: Some(HeadData(parent_header.encode())),
		relay_blocks_per_para_block,
		relay_offset,
		para_blocks_per_relay_epoch: 10,
		// The relay block's BABE randomness, which the runtime draws requests from; a relay
		// chain's comes from its block author's VRF, this stand-in from the parent block.
		additional_key_values: Some(vec![(
			well_known_keys::CURRENT_BLOCK_RANDOMNESS.to_vec(),
			Some(sp_io::hashing::blake2_256(&(parent, relay_slot).encode())).encode(),
		)]),
		upgrade_go_ahead: upgrade_pending.then(|| {
			log::info!("A runtime upgrade is pending: sending the relay chain's go-ahead");
			UpgradeGoAhead::GoAhead
		}),
		..Default::default()
	};
	let timestamp = sp_timestamp::InherentDataProvider::new(
		(relay_slot * RELAY_CHAIN_SLOT_DURATION_MILLIS).into(),
	);
	Ok((timestamp, validation_data))
}
