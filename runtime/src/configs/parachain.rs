//! Being a parachain: the relay-chain interface and weight reclaim. The message queues that
//! carry XCM are configured with XCM (`xcm_config.rs`).

use polkadot_sdk::{staging_parachain_info as parachain_info, *};

use codec::Encode;
use cumulus_pallet_parachain_system::{
	OnSystemEvent, RelayChainStateProof, RelayNumberMonotonicallyIncreases,
};
use cumulus_primitives_core::{
	relay_chain::well_known_keys, AggregateMessageOrigin, PersistedValidationData,
};
use frame_support::{parameter_types, traits::ConstU32, weights::Weight};

use crate::{ConsensusHook, MessageQueue, Runtime, RuntimeEvent, XcmpQueue, MAXIMUM_BLOCK_WEIGHT};

parameter_types! {
	pub const ReservedXcmpWeight: Weight = MAXIMUM_BLOCK_WEIGHT.saturating_div(4);
	pub const ReservedDmpWeight: Weight = MAXIMUM_BLOCK_WEIGHT.saturating_div(4);
	pub const RelayOrigin: AggregateMessageOrigin = AggregateMessageOrigin::Parent;
}

impl cumulus_pallet_parachain_system::Config for Runtime {
	type RuntimeEvent = RuntimeEvent;
	type OnSystemEvent = RelayRandomness;
	type SelfParaId = parachain_info::Pallet<Runtime>;
	type OutboundXcmpMessageSource = XcmpQueue;
	type DmpQueue = frame_support::traits::EnqueueWithOrigin<MessageQueue, RelayOrigin>;
	type ReservedDmpWeight = ReservedDmpWeight;
	type XcmpMessageHandler = XcmpQueue;
	type ReservedXcmpWeight = ReservedXcmpWeight;
	type CheckAssociatedRelayNumber = RelayNumberMonotonicallyIncreases;
	type WeightInfo = cumulus_pallet_parachain_system::weights::SubstrateWeight<Runtime>;
	type ConsensusHook = ConsensusHook;
	// Build on the newest relay block.
	type RelayParentOffset = ConstU32<0>;
	type SchedulingSignatureVerifier = ();
}

/// Hands the relay chain's BABE randomness to the inference pallet's draws, once a block, from
/// the relay state proof the validation-data inherent has just verified (before any
/// transaction of the block): the randomness of the relay block this block builds on (its VRF
/// output, which neither a requester nor this chain's block author chooses), or where a relay
/// block has none, the epoch randomness of one epoch ago mixed with the relay block's number.
pub struct RelayRandomness;

impl OnSystemEvent for RelayRandomness {
	fn on_validation_data(_: &PersistedValidationData) {}

	fn on_validation_code_applied() {}

	fn on_relay_state_proof(proof: &RelayChainStateProof) -> Weight {
		let current = proof
			.read_optional_entry::<Option<[u8; 32]>>(well_known_keys::CURRENT_BLOCK_RANDOMNESS)
			.ok()
			.flatten()
			.flatten();
		let relay_number = cumulus_pallet_parachain_system::ValidationData::<Runtime>::get()
			.map(|data| data.relay_parent_number)
			.unwrap_or_default();
		let randomness = current.or_else(|| {
			let epoch = proof
				.read_optional_entry::<[u8; 32]>(well_known_keys::ONE_EPOCH_AGO_RANDOMNESS)
				.ok()
				.flatten()?;
			Some(sp_io::hashing::blake2_256(&(epoch, relay_number).encode()))
		});
		// The windows due close, and juries waiting are drawn, here: before any transaction of
		// the block (`pallet_inference`'s `note_draw_randomness`).
		let closes =
			pallet_inference::Pallet::<Runtime>::note_draw_randomness(randomness, relay_number);
		// Two entries read from the proof and the validation data, two values written.
		<Runtime as frame_system::Config>::DbWeight::get().reads_writes(3, 2).saturating_add(closes)
	}
}

impl parachain_info::Config for Runtime {}

impl cumulus_pallet_weight_reclaim::Config for Runtime {
	// The crate keeps its generated weights private: its extension's weight is taken as zero
	// (`docs/benchmarks.md`).
	type WeightInfo = ();
}
