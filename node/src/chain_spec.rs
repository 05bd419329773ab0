//! Chain specifications built from the runtime's genesis presets.

use polkadot_sdk::*;

use sc_chain_spec::{ChainSpecExtension, ChainSpecGroup, ChainType};
use serde::{Deserialize, Serialize};
use sp_genesis_builder::{DEV_RUNTIME_PRESET, LOCAL_TESTNET_RUNTIME_PRESET};
use tributary_runtime::{
	genesis_config_presets::PARACHAIN_ID, SS58_PREFIX, TOKEN_DECIMALS, TOKEN_SYMBOL,
};

/// A chain spec of this node: the runtime's genesis plus where the parachain lives.
pub type ChainSpec = sc_service::GenericChainSpec<Extensions>;

/// The relay chain this parachain runs on, and its id there.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ChainSpecGroup, ChainSpecExtension)]
pub struct Extensions {
	/// The relay chain's spec id, e.g. `rococo-local`.
	#[serde(alias = "relayChain", alias = "RelayChain")]
	pub relay_chain: String,
	/// The parachain id the relay chain registered this chain under.
	#[serde(alias = "paraId", alias = "ParaId")]
	pub para_id: u32,
}

impl Extensions {
	/// The extensions of a loaded chain spec, if it has them.
	pub fn try_get(chain_spec: &dyn sc_service::ChainSpec) -> Option<&Self> {
		sc_chain_spec::get_extension(chain_spec.extensions())
	}
}

/// TRIB, 12 decimals, SS58 prefix 42: what wallets and polkadot.js show.
fn properties() -> sc_chain_spec::Properties {
	let mut properties = sc_chain_spec::Properties::new();
	properties.insert("tokenSymbol".into(), TOKEN_SYMBOL.into());
	properties.insert("tokenDecimals".into(), TOKEN_DECIMALS.into());
	properties.insert("ss58Format".into(), SS58_PREFIX.into());
	properties
}

fn wasm_binary() -> Result<&'static [u8], String> {
	tributary_runtime::WASM_BINARY.ok_or_else(|| {
		"The runtime's WASM blob is not in this build; rebuild without SKIP_WASM_BUILD.".into()
	})
}

/// The `--dev` chain: Alice collates alone, blocks are sealed by the node itself.
pub fn development_config() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(
		wasm_binary()?,
		Extensions { relay_chain: "rococo-local".into(), para_id: PARACHAIN_ID },
	)
	.with_name("Tributary Development")
	.with_id("tributary_dev")
	.with_chain_type(ChainType::Development)
	.with_genesis_config_preset_name(DEV_RUNTIME_PRESET)
	.with_properties(properties())
	.build())
}

/// A local testnet on a `rococo-local` relay chain, with Alice and Bob collating.
pub fn local_testnet_config() -> Result<ChainSpec, String> {
	Ok(ChainSpec::builder(
		wasm_binary()?,
		Extensions { relay_chain: "rococo-local".into(), para_id: PARACHAIN_ID },
	)
	.with_name("Tributary Local Testnet")
	.with_id("tributary_local")
	.with_chain_type(ChainType::Local)
	.with_genesis_config_preset_name(LOCAL_TESTNET_RUNTIME_PRESET)
	.with_protocol_id("tributary-local")
	.with_properties(properties())
	.build())
}
