//! # Tributary runtime
//!
//! The parachain runtime of Tributary, a chain for open and attributed AI. This file is the
//! table of contents: the types the rest of the runtime and the node share, the constants that
//! fix time and money, and the list of pallets. Each pallet's configuration lives in
//! [`configs`], the runtime APIs in [`apis`], and the chains' genesis in
//! [`genesis_config_presets`].

#![cfg_attr(not(feature = "std"), no_std)]
// `construct_runtime` recurses deeply.
#![recursion_limit = "256"]

// The WASM blob built by `build.rs`, for the node to put in genesis.
#[cfg(feature = "std")]
include!(concat!(env!("OUT_DIR"), "/wasm_binary.rs"));

// Declared first: `define_benchmarks!` there defines the `list_benchmarks!` and
// `add_benchmarks!` macros `apis` uses.
#[cfg(feature = "runtime-benchmarks")]
#[macro_use]
mod benchmarks;
pub mod apis;
#[cfg(feature = "runtime-benchmarks")]
mod benchmark_helpers;
pub mod configs;
pub mod constants;
pub mod genesis_config_presets;
pub mod offchain;
pub mod origins;
#[cfg(test)]
mod tests;

extern crate alloc;

use alloc::vec::Vec;
use polkadot_sdk::{staging_parachain_info as parachain_info, *};

use frame_support::weights::{
	constants::ExtrinsicBaseWeight, Weight, WeightToFeeCoefficient, WeightToFeeCoefficients,
	WeightToFeePolynomial,
};
use smallvec::smallvec;
use sp_runtime::{
	generic, impl_opaque_keys,
	traits::{BlakeTwo256, IdentifyAccount, Verify},
	MultiSignature,
};
use sp_version::RuntimeVersion;

pub use constants::*;
pub use sp_consensus_aura::sr25519::AuthorityId as AuraId;
pub use sp_runtime::{MultiAddress, Perbill, Permill};

/// A transaction signature: sr25519, ed25519 or ecdsa, as polkadot.js signs.
pub type Signature = MultiSignature;

/// An account: the public key of the signature scheme.
pub type AccountId = <<Signature as Verify>::Signer as IdentifyAccount>::AccountId;

/// An amount of TRIB in its smallest unit (10^-12 TRIB).
pub type Balance = u128;

/// A transaction counter per account.
pub type Nonce = u32;

/// The hash of a block or of data on chain.
pub type Hash = sp_core::H256;

/// A block height.
pub type BlockNumber = u32;

/// How a transaction names an account.
pub type Address = MultiAddress<AccountId, ()>;

/// Block header type.
pub type Header = generic::Header<BlockNumber, BlakeTwo256>;

/// Block type.
pub type Block = generic::Block<Header, UncheckedExtrinsic>;

/// A dataset, as the runtime stores it and `DatasetsApi` returns it.
pub type DatasetRecord = pallet_datasets::DatasetOf<Runtime>;

/// A contribution, as the runtime stores it and `DatasetsApi` returns it.
pub type ContributionRecord = pallet_datasets::ContributionOf<Runtime>;

/// A model, as the runtime stores it and `ModelsApi` returns it.
pub type ModelRecord = pallet_models::ModelOf<Runtime>;

/// An adapter, as the runtime stores it and `ModelsApi` returns it.
pub type AdapterRecord = pallet_models::AdapterOf<Runtime>;

/// A provider with its status and capacity, as `ProvidersApi` returns it.
pub type ProviderRecord = pallet_providers::ProviderView<pallet_providers::ProviderOf<Runtime>>;

/// A pending slash, as `ProvidersApi` returns it.
pub type PendingSlashRecord = pallet_providers::PendingSlashOf<Runtime>;

/// A settled output's attribution, as `AttributionApi` returns it and the off-chain index
/// keeps it.
pub type OutputRecord = pallet_attribution::OutputRecordOf<Runtime>;

/// An open inference request, as `InferenceApi` returns it.
pub type InferenceRequest = pallet_inference::RequestOf<Runtime>;

/// The checks every signed transaction goes through, wrapped in storage-weight reclaim so a
/// transaction pays for the proof size it actually used.
pub type TxExtension = cumulus_pallet_weight_reclaim::StorageWeightReclaim<
	Runtime,
	(
		frame_system::CheckNonZeroSender<Runtime>,
		frame_system::CheckSpecVersion<Runtime>,
		frame_system::CheckTxVersion<Runtime>,
		frame_system::CheckGenesis<Runtime>,
		frame_system::CheckEra<Runtime>,
		frame_system::CheckNonce<Runtime>,
		frame_system::CheckWeight<Runtime>,
		pallet_transaction_payment::ChargeTransactionPayment<Runtime>,
		// Lets an offline signer (a Ledger) sign against the metadata's hash: with mode 1 the
		// signed payload includes the hash the runtime was built with (RFC-0078).
		frame_metadata_hash_extension::CheckMetadataHash<Runtime>,
	),
>;

/// A transaction as it arrives from outside.
pub type UncheckedExtrinsic =
	generic::UncheckedExtrinsic<Address, RuntimeCall, Signature, TxExtension>;

/// Storage migrations run on a runtime upgrade, beyond those the pallets declare. Each is
/// versioned: it runs once, on a chain whose pallet storage is at the version it migrates from.
type Migrations = (
	pallet_models::migrations::v1::MigrateV0ToV1<Runtime>,
	pallet_datasets::migrations::v1::MigrateV0ToV1<Runtime>,
);

/// Dispatches blocks and transactions to the pallets.
pub type Executive = frame_executive::Executive<
	Runtime,
	Block,
	frame_system::ChainContext<Runtime>,
	Runtime,
	AllPalletsWithSystem,
	Migrations,
>;

/// Maps weight to fee by whichever of its two dimensions takes the larger share of a block:
/// compute (ref time) or proof size, the parachain block's scarcer resource. A whole block of
/// either costs the same; the base weight of one transaction costs 0.1 milli-TRIB.
pub struct WeightToFee;
impl frame_support::weights::WeightToFee for WeightToFee {
	type Balance = Balance;
	fn weight_to_fee(weight: &Weight) -> Balance {
		// Proof size as the ref time of the same share of the block.
		let proof_as_ref_time = u128::from(weight.proof_size())
			.saturating_mul(u128::from(MAXIMUM_BLOCK_WEIGHT.ref_time()))
			/ u128::from(MAXIMUM_BLOCK_WEIGHT.proof_size().max(1));
		let larger = weight.ref_time().max(u64::try_from(proof_as_ref_time).unwrap_or(u64::MAX));
		<RefTimeToFee as frame_support::weights::WeightToFee>::weight_to_fee(&Weight::from_parts(
			larger, 0,
		))
	}
}

/// Maps ref time to fee: the base weight of one transaction costs 0.1 milli-TRIB.
pub struct RefTimeToFee;
impl WeightToFeePolynomial for RefTimeToFee {
	type Balance = Balance;
	fn polynomial() -> WeightToFeeCoefficients<Self::Balance> {
		let p = MILLI_TRIB / 10;
		let q = Balance::from(ExtrinsicBaseWeight::get().ref_time());
		smallvec![WeightToFeeCoefficient {
			degree: 1,
			negative: false,
			coeff_frac: Perbill::from_rational(p % q, q),
			coeff_integer: p / q,
		}]
	}
}

/// Types the node needs without knowing the runtime's call type.
pub mod opaque {
	use super::*;
	pub use polkadot_sdk::sp_runtime::OpaqueExtrinsic as UncheckedExtrinsic;

	/// Opaque block header type.
	pub type Header = generic::Header<BlockNumber, BlakeTwo256>;
	/// Opaque block type.
	pub type Block = generic::Block<Header, UncheckedExtrinsic>;
}

impl_opaque_keys! {
	/// The keys a collator registers for its session.
	pub struct SessionKeys {
		pub aura: Aura,
	}
}

#[sp_version::runtime_version]
pub const VERSION: RuntimeVersion = RuntimeVersion {
	spec_name: alloc::borrow::Cow::Borrowed("tributary"),
	impl_name: alloc::borrow::Cow::Borrowed("tributary"),
	authoring_version: 1,
	spec_version: 10,
	impl_version: 0,
	apis: apis::RUNTIME_API_VERSIONS,
	transaction_version: 2,
	system_version: 1,
};

/// Blocks the runtime accepts before the relay chain includes them (async backing).
const UNINCLUDED_SEGMENT_CAPACITY: u32 = 3;
/// Parachain blocks per relay-chain block.
const BLOCK_PROCESSING_VELOCITY: u32 = 1;
/// Relay-chain slot length in milliseconds.
const RELAY_CHAIN_SLOT_DURATION_MILLIS: u32 = 6000;

/// Checks that each parachain block fits the relay chain's pace.
type ConsensusHook = cumulus_pallet_aura_ext::FixedVelocityConsensusHook<
	Runtime,
	RELAY_CHAIN_SLOT_DURATION_MILLIS,
	BLOCK_PROCESSING_VELOCITY,
	UNINCLUDED_SEGMENT_CAPACITY,
>;

#[frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeFreezeReason,
		RuntimeHoldReason,
		RuntimeSlashReason,
		RuntimeLockId,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Runtime;

	// System.
	#[runtime::pallet_index(0)]
	pub type System = frame_system;
	#[runtime::pallet_index(1)]
	pub type ParachainSystem = cumulus_pallet_parachain_system;
	#[runtime::pallet_index(2)]
	pub type Timestamp = pallet_timestamp;
	#[runtime::pallet_index(3)]
	pub type ParachainInfo = parachain_info;
	#[runtime::pallet_index(4)]
	pub type WeightReclaim = cumulus_pallet_weight_reclaim;

	// Money.
	#[runtime::pallet_index(10)]
	pub type Balances = pallet_balances;
	#[runtime::pallet_index(11)]
	pub type TransactionPayment = pallet_transaction_payment;

	// Administration.
	#[runtime::pallet_index(15)]
	pub type Sudo = pallet_sudo;
	#[runtime::pallet_index(16)]
	pub type Utility = pallet_utility;

	// Collators. Authorship must come before Session, and Session before Aura.
	#[runtime::pallet_index(20)]
	pub type Authorship = pallet_authorship;
	#[runtime::pallet_index(21)]
	pub type CollatorSelection = pallet_collator_selection;
	#[runtime::pallet_index(22)]
	pub type Session = pallet_session;
	#[runtime::pallet_index(23)]
	pub type Aura = pallet_aura;
	#[runtime::pallet_index(24)]
	pub type AuraExt = cumulus_pallet_aura_ext;

	// XCM.
	#[runtime::pallet_index(30)]
	pub type XcmpQueue = cumulus_pallet_xcmp_queue;
	#[runtime::pallet_index(31)]
	pub type PolkadotXcm = pallet_xcm;
	#[runtime::pallet_index(32)]
	pub type CumulusXcm = cumulus_pallet_xcm;
	#[runtime::pallet_index(33)]
	pub type MessageQueue = pallet_message_queue;

	// Governance.
	#[runtime::pallet_index(40)]
	pub type Preimage = pallet_preimage;
	#[runtime::pallet_index(41)]
	pub type Scheduler = pallet_scheduler;
	#[runtime::pallet_index(42)]
	pub type Democracy = pallet_democracy;
	#[runtime::pallet_index(43)]
	pub type Council = pallet_collective<Instance1>;
	#[runtime::pallet_index(44)]
	pub type TechnicalCommittee = pallet_collective<Instance2>;
	#[runtime::pallet_index(45)]
	pub type Treasury = pallet_treasury;

	// Tributary: data, models, compute and royalties.
	#[runtime::pallet_index(50)]
	pub type Datasets = pallet_datasets;
	#[runtime::pallet_index(51)]
	pub type Models = pallet_models;
	#[runtime::pallet_index(52)]
	pub type Attribution = pallet_attribution;
	#[runtime::pallet_index(53)]
	pub type Providers = pallet_providers;
	#[runtime::pallet_index(54)]
	pub type Inference = pallet_inference;
	#[runtime::pallet_index(55)]
	pub type Royalties = pallet_royalties;
}

cumulus_pallet_parachain_system::register_validate_block! {
	Runtime = Runtime,
	BlockExecutor = cumulus_pallet_aura_ext::BlockExecutor::<Runtime, Executive>,
}
