//! The pallets `frame-omni-bencher` and `tributary-node benchmark pallet` can benchmark.

use alloc::vec::Vec;
use polkadot_sdk::*;

pub use cumulus_pallet_session_benchmarking::Pallet as SessionBench;
pub use frame_system_benchmarking::Pallet as SystemBench;

frame_benchmarking::define_benchmarks!(
	[frame_system, SystemBench::<Runtime>]
	[cumulus_pallet_parachain_system, ParachainSystem]
	[pallet_timestamp, Timestamp]
	[pallet_balances, Balances]
	[pallet_sudo, Sudo]
	[pallet_utility, Utility]
	[pallet_collator_selection, CollatorSelection]
	[pallet_session, SessionBench::<Runtime>]
	[cumulus_pallet_xcmp_queue, XcmpQueue]
	[pallet_message_queue, MessageQueue]
	[pallet_preimage, Preimage]
	[pallet_scheduler, Scheduler]
	[pallet_democracy, Democracy]
	[pallet_collective, Council]
	[pallet_treasury, Treasury]
	[pallet_attribution, Attribution]
	[pallet_datasets, Datasets]
	[pallet_models, Models]
	[pallet_providers, Providers]
	[pallet_royalties, Royalties]
	[pallet_inference, Inference]
);

// Public, so that `apis` finds the pallets the benchmark macros name.
pub use crate::{
	Attribution, Balances, CollatorSelection, Council, Datasets, Democracy, Inference,
	MessageQueue, Models, ParachainSystem, Preimage, Providers, Royalties, Runtime, Scheduler,
	Sudo, System, Timestamp, Treasury, Utility, XcmpQueue,
};

// What the system and session benchmarks ask of a parachain runtime.
impl frame_system_benchmarking::Config for Runtime {
	fn setup_set_code_requirements(
		code: &Vec<u8>,
	) -> Result<(), frame_benchmarking::BenchmarkError> {
		ParachainSystem::initialize_for_set_code_benchmark(code.len() as u32);
		Ok(())
	}

	fn verify_set_code() {
		System::assert_last_event(
			cumulus_pallet_parachain_system::Event::<Runtime>::ValidationFunctionStored.into(),
		);
	}
}

impl cumulus_pallet_session_benchmarking::Config for Runtime {
	fn generate_session_keys_and_proof(owner: crate::AccountId) -> (crate::SessionKeys, Vec<u8>) {
		use codec::Encode;
		let generated = crate::SessionKeys::generate(&owner.encode(), None);
		(generated.keys, generated.proof.encode())
	}
}
