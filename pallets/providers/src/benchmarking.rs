//! Benchmarks for every call and for applying due slashes, each at its heaviest: the longest
//! specs, full lists, the most chunks to withdraw and slashes to apply.

use crate::*;
use alloc::{vec, vec::Vec};
use polkadot_sdk::{
	frame_benchmarking::v2::*,
	frame_support::traits::{fungible::Mutate, Hooks},
	frame_system::{self, RawOrigin},
	sp_runtime::{
		traits::{Bounded, One, Saturating},
		SaturatedConversion,
	},
};

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId
where
	T::Currency: Mutate<T::AccountId>,
{
	let who: T::AccountId = account(name, index, 0);
	// Enough for every bond and deposit, and up to a thousand such accounts (a model's
	// providers, say) cannot overflow the issuance.
	let balance = BalanceOf::<T>::max_value() / 1024u32.into();
	let _ = T::Currency::set_balance(&who, balance);
	who
}

fn long_spec<T: Config>() -> SpecOf<T> {
	let text = || BoundedVec::truncate_from(vec![b's'; T::MaxSpecLength::get() as usize]);
	HardwareSpec {
		gpu_model: text(),
		vram_gib: 80,
		gpu_count: 8,
		region: text(),
		endpoint: Some(text()),
	}
}

fn bond<T: Config>() -> BalanceOf<T> {
	T::MinProviderBond::get().saturating_mul(10u32.into())
}

fn registered<T: Config>(index: u32) -> T::AccountId
where
	T::Currency: Mutate<T::AccountId>,
{
	let provider = funded::<T>("provider", index);
	let operator: T::AccountId = account("operator", index, 0);
	Pallet::<T>::do_register(provider.clone(), long_spec::<T>(), operator, bond::<T>())
		.expect("the benchmark's provider is valid");
	provider
}

fn set_block<T: Config>(n: BlockNumberFor<T>) {
	frame_system::Pallet::<T>::set_block_number(n);
}

#[benchmarks(where T::Currency: Mutate<T::AccountId>)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn register() {
		let provider = funded::<T>("provider", 0);
		let operator: T::AccountId = account("operator", 0, 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), long_spec::<T>(), operator, bond::<T>());

		assert!(Providers::<T>::contains_key(&provider));
	}

	#[benchmark]
	fn bond_extra() {
		let provider = registered::<T>(0);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), bond::<T>());

		assert_eq!(
			Providers::<T>::get(&provider).expect("exists").bonded,
			bond::<T>().saturating_mul(2u32.into())
		);
	}

	// With all but one chunk taken, so the search for a chunk to merge with reads them all.
	#[benchmark]
	fn unbond() {
		let provider = registered::<T>(0);
		for block in 1..T::MaxUnlockingChunks::get() {
			set_block::<T>(block.into());
			Pallet::<T>::do_unbond(provider.clone(), One::one()).expect("bonded");
		}
		set_block::<T>(T::MaxUnlockingChunks::get().into());

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), One::one());

		assert_eq!(
			Providers::<T>::get(&provider).expect("exists").unlocking.len() as u32,
			T::MaxUnlockingChunks::get()
		);
	}

	#[benchmark]
	fn withdraw_unbonded(c: Linear<1, { T::MaxUnlockingChunks::get() }>) {
		let provider = registered::<T>(0);
		for block in 1..=c {
			set_block::<T>(block.into());
			Pallet::<T>::do_unbond(provider.clone(), One::one()).expect("bonded");
		}
		set_block::<T>(BlockNumberFor::<T>::from(c).saturating_add(T::UnbondingPeriod::get()));

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()));

		assert!(Providers::<T>::get(&provider).expect("exists").unlocking.is_empty());
	}

	#[benchmark]
	fn update_spec() {
		let provider = registered::<T>(0);
		let mut spec = long_spec::<T>();
		spec.gpu_count = 16;

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), spec);

		assert_eq!(Providers::<T>::get(&provider).expect("exists").spec.gpu_count, 16);
	}

	#[benchmark]
	fn set_operator() {
		let provider = registered::<T>(0);
		let operator: T::AccountId = account("new-operator", 0, 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), operator.clone());

		assert_eq!(ProviderOfOperator::<T>::get(&operator), Some(provider));
	}

	// Serving `s` models, each of which lists it.
	#[benchmark]
	fn deregister(s: Linear<0, { T::MaxServedModels::get() }>) {
		let owner = funded::<T>("owner", 0);
		let provider = registered::<T>(0);
		for _ in 0..s {
			let model_id = T::BenchmarkHelper::active_model(&owner);
			Pallet::<T>::do_serve(provider.clone(), model_id).expect("active");
		}
		let staked = bond::<T>();
		Pallet::<T>::do_unbond(provider.clone(), staked).expect("bonded");
		set_block::<T>(frame_system::Pallet::<T>::block_number() + T::UnbondingPeriod::get());
		Pallet::<T>::do_withdraw_unbonded(provider.clone()).expect("due");

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()));

		assert!(!Providers::<T>::contains_key(&provider));
	}

	// The model's provider list is nearly full.
	#[benchmark]
	// The list is full: every server's record is read to find the least staked, which makes
	// way for the caller.
	fn serve() {
		let owner = funded::<T>("owner", 0);
		let model_id = T::BenchmarkHelper::active_model(&owner);
		for index in 1..=T::MaxProvidersPerModel::get() {
			let other = registered::<T>(index);
			Pallet::<T>::do_serve(other, model_id).expect("room");
		}
		let provider = registered::<T>(0);
		Pallet::<T>::do_bond_extra(provider.clone(), T::MinProviderBond::get()).expect("funded");

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), model_id);

		let serving = ServingProviders::<T>::get(model_id);
		assert!(serving.contains(&provider));
		assert_eq!(serving.len() as u32, T::MaxProvidersPerModel::get());
	}

	#[benchmark]
	fn stop_serving() {
		let owner = funded::<T>("owner", 0);
		let model_id = T::BenchmarkHelper::active_model(&owner);
		let provider = registered::<T>(0);
		Pallet::<T>::do_serve(provider.clone(), model_id).expect("active");
		for index in 1..T::MaxProvidersPerModel::get() {
			let other = registered::<T>(index);
			Pallet::<T>::do_serve(other, model_id).expect("room");
		}

		#[extrinsic_call]
		_(RawOrigin::Signed(provider.clone()), model_id);

		assert!(!ServingProviders::<T>::get(model_id).contains(&provider));
	}

	#[benchmark]
	fn heartbeat() {
		let provider = registered::<T>(0);
		let operator = Providers::<T>::get(&provider).expect("exists").operator;
		let now = frame_system::Pallet::<T>::block_number() + T::HeartbeatInterval::get();
		set_block::<T>(now);

		#[extrinsic_call]
		_(RawOrigin::Signed(operator));

		assert_eq!(Providers::<T>::get(&provider).expect("exists").last_heartbeat, now);
	}

	// By the operator: the provider is looked up through it.
	#[benchmark]
	fn go_offline() {
		let provider = registered::<T>(0);
		let operator = Providers::<T>::get(&provider).expect("exists").operator;

		#[extrinsic_call]
		_(RawOrigin::Signed(operator));

		assert!(Providers::<T>::get(&provider).expect("exists").maintenance);
	}

	#[benchmark]
	fn go_online() {
		let provider = registered::<T>(0);
		let operator = Providers::<T>::get(&provider).expect("exists").operator;
		Pallet::<T>::do_set_maintenance(operator.clone(), true).expect("online");

		#[extrinsic_call]
		_(RawOrigin::Signed(operator));

		assert!(!Providers::<T>::get(&provider).expect("exists").maintenance);
	}

	// With all but one pending slash taken, and the block's queue nearly full.
	#[benchmark]
	fn slash() -> Result<(), BenchmarkError> {
		let origin =
			T::SlashOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let provider = registered::<T>(0);
		let reason = || BoundedVec::truncate_from(vec![b'r'; T::MaxReasonLength::get() as usize]);
		for _ in 1..T::MaxSlashesPerBlock::get() {
			Pallet::<T>::schedule_slash(&provider, Perbill::from_percent(1), reason())
				.expect("room");
		}
		let fraction = Perbill::from_percent(5);
		let reason: Vec<u8> = reason().into_inner();

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, provider.clone(), fraction, reason);

		assert!(Pallet::<T>::pending_slashes_of(&provider)
			.iter()
			.any(|pending| pending.fraction == fraction));
		Ok(())
	}

	#[benchmark]
	fn cancel_slash() -> Result<(), BenchmarkError> {
		let origin =
			T::SlashOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;
		let provider = registered::<T>(0);
		let count = T::MaxSlashesPerBlock::get();
		let mut last = 0;
		for _ in 0..count {
			last =
				Pallet::<T>::schedule_slash(&provider, Perbill::from_percent(1), BoundedVec::new())
					.expect("room");
		}

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, provider.clone(), last);

		assert_eq!(Pallet::<T>::pending_slashes_of(&provider).len() as u32, count - 1);
		Ok(())
	}

	// `n` slashes due, each against a provider with every unlocking chunk in use, and each
	// paying the most rewards a slash pays, each to an account that did not exist.
	#[benchmark]
	fn on_initialize(n: Linear<0, { T::MaxSlashesPerBlock::get() }>) {
		let mut providers = Vec::new();
		for index in 0..n {
			let provider = registered::<T>(index);
			for block in 1..=T::MaxUnlockingChunks::get() {
				set_block::<T>(block.into());
				Pallet::<T>::do_unbond(provider.clone(), One::one()).expect("bonded");
			}
			providers.push(provider);
		}
		set_block::<T>(One::one());
		for (index, provider) in providers.iter().enumerate() {
			let slash_id =
				Pallet::<T>::schedule_slash(provider, Perbill::from_percent(10), BoundedVec::new())
					.expect("room");
			let stake: u128 =
				Pallet::<T>::total_stake(&Providers::<T>::get(provider).expect("registered"))
					.saturated_into();
			let rewards = T::MaxSlashRewards::get();
			// Together half of what the slash takes, each above the existential deposit.
			let each = (stake / 20 / u128::from(rewards.max(1))).saturated_into::<BalanceOf<T>>();
			let paid: Vec<(T::AccountId, BalanceOf<T>)> = (0..rewards)
				.map(|r| (account("rewarded", index as u32 * rewards + r, 0), each))
				.collect();
			SlashRewards::<T>::insert(slash_id, BoundedVec::truncate_from(paid));
		}
		let due = BlockNumberFor::<T>::one().saturating_add(T::SlashDeferDuration::get());
		set_block::<T>(due);

		#[block]
		{
			Pallet::<T>::on_initialize(due);
		}

		for provider in &providers {
			assert!(Pallet::<T>::pending_slashes_of(provider).is_empty());
		}
	}

	impl_benchmark_test_suite!(Pallet, mock::new_test_ext(), mock::Test);
}
