//! Benchmarks for the ledger's own work: pruning the outputs whose retention ends, at most
//! `MaxOutputsPerBlock` of them, each with `MaxAttributions` records. (Recording an output
//! is part of a settlement and weighed by pallet-inference's `submit_result`.)

#[cfg(test)]
use crate::mock;
use crate::*;
use polkadot_sdk::{
	frame_benchmarking::v2::*,
	frame_support::traits::Hooks,
	sp_runtime::traits::{Saturating, Zero},
};

#[benchmarks]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn prune(n: Linear<0, { T::MaxOutputsPerBlock::get() }>) -> Result<(), BenchmarkError> {
		let records: Vec<CitedRecord<T::Balance>> = (0..T::MaxAttributions::get())
			.map(|contribution_id| CitedRecord {
				dataset_id: 0,
				contribution_id,
				score_ppm: 1,
				earned: Zero::zero(),
			})
			.collect();
		for request_id in 0..u64::from(n) {
			<Pallet<T> as OutputLedger<T::Balance>>::record_output(request_id, 0, &records)?;
		}
		let due = polkadot_sdk::frame_system::Pallet::<T>::block_number()
			.saturating_add(T::RetentionPeriod::get());

		#[block]
		{
			Pallet::<T>::on_initialize(due);
		}

		assert_eq!(Outputs::<T>::iter().count(), 0);
		Ok(())
	}

	impl_benchmark_test_suite!(Pallet, mock::new_test_ext(), mock::Test);
}
