//! Benchmarks for the claims, each at its heaviest: the claimant's account created by the
//! payment, and every dataset named holding a pool share to settle and pay.

#[cfg(test)]
use crate::mock;
use crate::*;
use polkadot_sdk::{
	frame_benchmarking::v2::*,
	frame_support::traits::fungible::Mutate,
	frame_system::RawOrigin,
	sp_runtime::traits::{UniqueSaturatedInto, Zero},
};

/// Funds the pot with `amount` beside what it holds.
fn fund_pot<T: Config>(amount: BalanceOf<T>)
where
	T::Currency: Mutate<T::AccountId>,
{
	let pot = Pallet::<T>::pot_account();
	let minimum = T::Currency::minimum_balance();
	let _ = T::Currency::mint_into(&pot, amount.saturating_add(minimum));
}

/// 10^20 planck: a hundred million units of a 12-decimal token.
fn large<T: Config>() -> BalanceOf<T> {
	100_000_000_000_000_000_000u128.unique_saturated_into()
}

#[benchmarks(where T::Currency: Mutate<T::AccountId>)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn claim() {
		let who: T::AccountId = account("claimant", 0, 0);
		let amount = large::<T>();
		fund_pot::<T>(amount);
		Pallet::<T>::credit(&who, amount).expect("a credit that fits");

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()));

		assert_eq!(T::Currency::balance(&who), amount);
		assert!(Credits::<T>::get(&who).is_none());
	}

	#[benchmark]
	fn claim_from_datasets(n: Linear<1, { T::MaxClaimDatasets::get() }>) {
		let who: T::AccountId = account("contributor", 0, 0);
		let amount = large::<T>();
		let mut datasets = Vec::new();
		for index in 0..n {
			let dataset_id = T::BenchmarkHelper::dataset_with_contributor(index, &who, 1_000);
			fund_pot::<T>(amount);
			Pallet::<T>::fill_pool(dataset_id, amount).expect("a pool that fits");
			datasets.push(dataset_id);
		}
		let datasets: BoundedVec<_, _> = datasets.try_into().expect("at most the maximum");

		#[extrinsic_call]
		_(RawOrigin::Signed(who.clone()), datasets);

		assert!(T::Currency::balance(&who) > BalanceOf::<T>::zero());
		assert!(TotalOutstanding::<T>::get().is_zero(), "everything claimed");
	}

	impl_benchmark_test_suite!(Pallet, mock::new_test_ext(), mock::Test);
}
