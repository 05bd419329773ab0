//! Benchmarks for every call, each at its heaviest: the longest inputs, the most datasets and
//! lineage entries, deposits held and released.

use crate::*;
use alloc::{vec, vec::Vec};
use polkadot_sdk::{
	frame_benchmarking::v2::*, frame_support::traits::fungible::Mutate, frame_system,
	frame_system::RawOrigin, sp_runtime::traits::Bounded,
};

fn funded<T: Config>(name: &'static str) -> T::AccountId
where
	T::Currency: Mutate<T::AccountId>,
{
	let who: T::AccountId = account(name, 0, 0);
	// A quarter of the maximum covers every deposit, and a few such accounts cannot overflow
	// the issuance.
	let balance = BalanceOf::<T>::max_value() / 4u32.into();
	let _ = T::Currency::set_balance(&who, balance);
	who
}

fn split() -> RoyaltySplit {
	RoyaltySplit {
		provider: Permill::from_percent(40),
		owner: Permill::from_percent(20),
		data: Permill::from_percent(35),
		treasury: Permill::from_percent(5),
	}
}

fn datasets<T: Config>(count: u32) -> Vec<DatasetId>
where
	T::Currency: Mutate<T::AccountId>,
{
	let curator = funded::<T>("curator");
	(0..count).map(|_| T::BenchmarkHelper::create_dataset(&curator)).collect()
}

fn hash(seed: u32) -> H256 {
	let mut bytes = [0u8; 32];
	bytes[..4].copy_from_slice(&seed.to_le_bytes());
	bytes[31] = 0xad;
	H256(bytes)
}

/// The cheapest base fee and the dearest token prices allowed.
fn pricing<T: Config>() -> PricingOf<T> {
	Pricing {
		base_fee: T::MinBaseFee::get(),
		per_1k_input_tokens: T::MaxTokenPrice::get(),
		per_1k_output_tokens: T::MaxTokenPrice::get(),
	}
}

/// A proposed model over `MaxModelDatasets` datasets, with the longest names.
fn proposed<T: Config>(owner: &T::AccountId) -> ModelId
where
	T::Currency: Mutate<T::AccountId>,
{
	Pallet::<T>::do_propose_model(
		owner.clone(),
		vec![b'n'; T::MaxNameLength::get() as usize],
		vec![b'b'; T::MaxNameLength::get() as usize],
		hash(0),
		datasets::<T>(T::MaxModelDatasets::get()),
		vec![b'u'; T::MaxUriLength::get() as usize],
		pricing::<T>(),
		split(),
	)
	.expect("the benchmark's proposal is valid")
}

fn approved<T: Config>(owner: &T::AccountId) -> ModelId
where
	T::Currency: Mutate<T::AccountId>,
{
	let model_id = proposed::<T>(owner);
	Pallet::<T>::do_approve_model(model_id).expect("proposed");
	model_id
}

fn lineage<T: Config>(model_id: ModelId, entries: u32) -> Vec<(DatasetId, u64)> {
	let model = Models::<T>::get(model_id).expect("exists");
	model.datasets.iter().take(entries as usize).map(|id| (*id, u64::from(*id) + 1)).collect()
}

fn adapter<T: Config>(owner: &T::AccountId, model_id: ModelId, seed: u32) -> AdapterId {
	Pallet::<T>::do_register_adapter(
		owner.clone(),
		model_id,
		hash(seed),
		T::MaxLoraRank::get(),
		T::MaxLoraRank::get(),
		vec![b'u'; T::MaxUriLength::get() as usize],
		lineage::<T>(model_id, T::MaxModelDatasets::get()),
	)
	.expect("the benchmark's adapter is valid")
}

#[benchmarks(where T::Currency: Mutate<T::AccountId>)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn propose_model(
		n: Linear<1, { T::MaxNameLength::get() }>,
		b: Linear<0, { T::MaxNameLength::get() }>,
		u: Linear<0, { T::MaxUriLength::get() }>,
		d: Linear<1, { T::MaxModelDatasets::get() }>,
	) {
		let owner = funded::<T>("owner");
		let datasets = datasets::<T>(d);
		let model_id = NextModelId::<T>::get();

		#[extrinsic_call]
		_(
			RawOrigin::Signed(owner.clone()),
			vec![b'n'; n as usize],
			vec![b'b'; b as usize],
			hash(0),
			datasets,
			vec![b'u'; u as usize],
			pricing::<T>(),
			split(),
		);

		let model = Models::<T>::get(model_id).expect("proposed");
		assert_eq!(model.deposit, Pallet::<T>::model_deposit((n + b + u) as usize, d as usize));
	}

	#[benchmark]
	fn approve_model() -> Result<(), BenchmarkError> {
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let model_id = proposed::<T>(&funded::<T>("owner"));

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, model_id);

		assert_eq!(Models::<T>::get(model_id).expect("exists").status, ModelStatus::Approved);
		Ok(())
	}

	#[benchmark]
	fn reject_model() -> Result<(), BenchmarkError> {
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let model_id = proposed::<T>(&funded::<T>("owner"));

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, model_id);

		assert!(Models::<T>::get(model_id).is_none());
		Ok(())
	}

	// The first adapter: it also activates the model.
	#[benchmark]
	fn register_adapter(
		u: Linear<0, { T::MaxUriLength::get() }>,
		l: Linear<1, { T::MaxModelDatasets::get() }>,
	) {
		let owner = funded::<T>("owner");
		let model_id = approved::<T>(&owner);
		let lineage = lineage::<T>(model_id, l);

		#[extrinsic_call]
		_(
			RawOrigin::Signed(owner),
			model_id,
			hash(1),
			T::MaxLoraRank::get(),
			T::MaxLoraRank::get(),
			vec![b'u'; u as usize],
			lineage,
		);

		assert_eq!(Models::<T>::get(model_id).expect("exists").status, ModelStatus::Active);
	}

	#[benchmark]
	fn set_active_adapter() {
		let owner = funded::<T>("owner");
		let model_id = approved::<T>(&owner);
		adapter::<T>(&owner, model_id, 1);
		let second = adapter::<T>(&owner, model_id, 2);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), model_id, second);

		assert_eq!(Models::<T>::get(model_id).expect("exists").active_adapter, Some(second));
	}

	#[benchmark]
	fn update_pricing() {
		let owner = funded::<T>("owner");
		let model_id = approved::<T>(&owner);
		let pricing = Pricing {
			base_fee: polkadot_sdk::sp_runtime::Saturating::saturating_add(
				T::MinBaseFee::get(),
				3u32.into(),
			),
			per_1k_input_tokens: 5u32.into(),
			per_1k_output_tokens: 7u32.into(),
		};

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), model_id, pricing);

		assert_eq!(Models::<T>::get(model_id).expect("exists").pricing, pricing);
	}

	#[benchmark]
	fn set_royalty_split() -> Result<(), BenchmarkError> {
		let origin =
			T::GovernanceOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let model_id = approved::<T>(&funded::<T>("owner"));
		let mut new_split = split();
		new_split.provider = Permill::from_percent(30);
		new_split.data = Permill::from_percent(45);

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, model_id, new_split);

		assert_eq!(Models::<T>::get(model_id).expect("exists").royalty_split, new_split);
		Ok(())
	}

	// By the owner, which is checked after the governance origin, with `a` adapters whose
	// deposits all come back.
	/// The heavier of retirement's two ways: a proposal is withdrawn, its deposit released
	/// (an approved model is only marked, and its `ReapableAt` written).
	#[benchmark]
	fn retire_model() {
		let owner = funded::<T>("owner");
		let model_id = proposed::<T>(&owner);

		#[extrinsic_call]
		_(RawOrigin::Signed(owner), model_id);

		assert!(!Models::<T>::contains_key(model_id));
	}

	/// A model with `a` adapters, each with a lineage over all of the model's datasets.
	#[benchmark]
	fn reap_model(a: Linear<0, { T::MaxAdaptersPerModel::get() }>) {
		let owner = funded::<T>("owner");
		let model_id = approved::<T>(&owner);
		for seed in 0..a {
			adapter::<T>(&owner, model_id, seed + 1);
		}
		Pallet::<T>::do_retire_model(None, model_id).expect("approved");
		let reapable_at = ReapableAt::<T>::get(model_id).expect("retired");
		frame_system::Pallet::<T>::set_block_number(reapable_at);
		let reaper = funded::<T>("reaper");
		let lineages = T::Lineage::lineage_count();

		#[extrinsic_call]
		_(RawOrigin::Signed(reaper), model_id);

		assert!(!Models::<T>::contains_key(model_id));
		assert!(!ReapableAt::<T>::contains_key(model_id));
		assert_eq!(T::Lineage::lineage_count(), lineages - a);
	}

	impl_benchmark_test_suite!(Pallet, mock::new_test_ext(), mock::Test);
}
