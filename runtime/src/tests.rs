//! Checks of the runtime as a whole: its genesis presets, its metadata and its pallets'
//! integrity.

use polkadot_sdk::*;

use frame_support::{
	genesis_builder_helper::{build_state, get_preset},
	traits::{fungible::Inspect, IntegrityTest},
};
use sp_keyring::Sr25519Keyring;

use crate::{
	configs::{CouncilCollective, TechnicalCommitteeCollective},
	genesis_config_presets::{self, ENDOWMENT, PARACHAIN_ID},
	AllPalletsWithSystem, Balances, Datasets, ParachainInfo, Runtime, RuntimeGenesisConfig,
	Session,
};

/// Applies a JSON patch the way the node's genesis builder does: objects merge key by key,
/// anything else replaces.
fn merge(base: &mut serde_json::Value, patch: serde_json::Value) {
	match (base, patch) {
		(serde_json::Value::Object(base), serde_json::Value::Object(patch)) => {
			for (key, value) in patch {
				merge(base.entry(key).or_insert(serde_json::Value::Null), value);
			}
		}
		(base, patch) => *base = patch,
	}
}

/// Externalities holding the genesis state a preset describes, built the way the node builds it:
/// the preset patched over the default configuration.
fn genesis_of(preset: &str) -> sp_io::TestExternalities {
	let patch = get_preset::<RuntimeGenesisConfig>(
		&Some(preset.into()),
		genesis_config_presets::get_preset,
	)
	.unwrap_or_else(|| panic!("preset {preset} exists"));
	let mut config = serde_json::to_value(RuntimeGenesisConfig::default()).expect("serializes");
	merge(&mut config, serde_json::from_slice(&patch).expect("the preset is JSON"));
	let config = serde_json::to_vec(&config).expect("serializes");
	let mut ext = sp_io::TestExternalities::default();
	ext.execute_with(|| build_state::<RuntimeGenesisConfig>(config).expect("genesis builds"));
	ext
}

#[test]
fn presets_are_development_and_local_testnet() {
	let names = genesis_config_presets::preset_names();
	assert_eq!(names, vec!["development".to_string(), "local_testnet".to_string()]);
	assert!(genesis_config_presets::get_preset(&"mainnet".to_string()).is_none());
}

#[test]
fn development_genesis_endows_dev_accounts_and_seats_governance() {
	genesis_of("development").execute_with(|| {
		let alice = Sr25519Keyring::Alice.to_account_id();
		for account in Sr25519Keyring::well_known() {
			assert_eq!(Balances::total_balance(&account.to_account_id()), ENDOWMENT);
		}
		assert_eq!(pallet_sudo::Key::<Runtime>::get(), Some(alice.clone()));
		assert_eq!(ParachainInfo::parachain_id(), PARACHAIN_ID.into());
		assert_eq!(
			pallet_collator_selection::Invulnerables::<Runtime>::get().into_inner(),
			vec![alice.clone()]
		);
		assert_eq!(Session::validators(), vec![alice.clone()]);
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 1);
		// Collectives keep their members sorted.
		let mut governors: Vec<_> =
			[Sr25519Keyring::Alice, Sr25519Keyring::Bob, Sr25519Keyring::Charlie]
				.iter()
				.map(|k| k.to_account_id())
				.collect();
		governors.sort();
		assert_eq!(pallet_collective::Members::<Runtime, CouncilCollective>::get(), governors);
		assert_eq!(
			pallet_collective::Members::<Runtime, TechnicalCommitteeCollective>::get(),
			governors
		);
	});
}

#[test]
fn development_genesis_has_the_sample_dataset() {
	genesis_of("development").execute_with(|| {
		let dataset = pallet_datasets::Datasets::<Runtime>::get(0).expect("dataset 0 exists");
		assert_eq!(dataset.name.to_vec(), genesis_config_presets::SAMPLE_DATASET_NAME.as_bytes());
		assert_eq!(dataset.curator, Sr25519Keyring::Alice.to_account_id());
		assert_eq!(dataset.policy, pallet_datasets::Policy::Curated);
		let mut total = 0;
		for (contributor, text) in genesis_config_presets::SAMPLE_RECORDS {
			let hash = sp_io::hashing::blake2_256(text.as_bytes()).into();
			let (dataset_id, _, contribution) =
				Datasets::contribution_by_hash(hash).expect("the record is registered");
			assert_eq!(dataset_id, 0);
			assert_eq!(contribution.contributor, contributor.to_account_id());
			assert_eq!(contribution.status, pallet_datasets::ContributionStatus::Accepted);
			assert_eq!(
				pallet_datasets::ContributorWeight::<Runtime>::get(0, contributor.to_account_id()),
				text.len() as u64
			);
			total += text.len() as u64;
		}
		assert_eq!(dataset.total_weight, total);
		Datasets::do_try_state().expect("the datasets' invariants hold at genesis");
	});
}

#[test]
fn local_testnet_genesis_has_alice_and_bob_collating() {
	genesis_of("local_testnet").execute_with(|| {
		let mut collators =
			vec![Sr25519Keyring::Alice.to_account_id(), Sr25519Keyring::Bob.to_account_id()];
		let mut validators = Session::validators();
		validators.sort();
		// Invulnerables are kept sorted.
		collators.sort();
		assert_eq!(
			pallet_collator_selection::Invulnerables::<Runtime>::get().into_inner(),
			collators
		);
		assert_eq!(validators, collators);
		assert_eq!(pallet_aura::Authorities::<Runtime>::get().len(), 2);
	});
}

#[test]
fn metadata_is_served_at_v14_v15_and_v16() {
	// Some pallets read storage while describing their constants.
	sp_io::TestExternalities::default().execute_with(|| {
		let versions = Runtime::metadata_versions();
		for version in [14, 15, 16] {
			assert!(versions.contains(&version), "metadata v{version} in {versions:?}");
			let metadata = Runtime::metadata_at_version(version).expect("served");
			let bytes: &[u8] = &metadata;
			// SCALE length prefix, then the magic "meta" and the version.
			let start = bytes.windows(4).position(|w| w == b"meta").expect("magic");
			assert_eq!(bytes[start + 4] as u32, version);
		}
	});
}

#[test]
fn pallets_pass_their_integrity_tests() {
	sp_io::TestExternalities::default()
		.execute_with(<AllPalletsWithSystem as IntegrityTest>::integrity_test);
}
