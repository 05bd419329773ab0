//! Benchmarks for every call, each at its heaviest: the longest inputs, deposits that must be
//! held and released, and observers told of weight changes.

use crate::*;
use alloc::{vec, vec::Vec};
use polkadot_sdk::{
	frame_benchmarking::v2::*,
	frame_support::traits::fungible::Mutate,
	frame_system::{self, RawOrigin},
	sp_runtime::traits::{Bounded, Saturating},
};

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId
where
	T::Currency: Mutate<T::AccountId>,
{
	let who: T::AccountId = account(name, index, 0);
	// A quarter of the maximum covers every deposit, and three such accounts cannot overflow
	// the issuance.
	let balance = BalanceOf::<T>::max_value() / 4u32.into();
	let _ = T::Currency::set_balance(&who, balance);
	who
}

fn license(len: u32) -> Vec<u8> {
	vec![b'A'; len.max(1) as usize]
}

fn dataset<T: Config>(curator: &T::AccountId, policy: Policy) -> DatasetId
where
	T::Currency: Mutate<T::AccountId>,
{
	let name = vec![b'n'; T::MaxNameLength::get() as usize];
	let uri = vec![b'u'; T::MaxUriLength::get() as usize];
	Pallet::<T>::do_create_dataset(
		curator.clone(),
		name,
		uri,
		license(T::MaxLicenseLength::get()),
		policy,
	)
	.expect("the benchmark's dataset is valid")
}

/// A pending contribution of the longest record, with the longest URI.
fn pending<T: Config>(dataset_id: DatasetId, contributor: &T::AccountId) -> ContributionId {
	Pallet::<T>::do_contribute(
		contributor.clone(),
		dataset_id,
		Some(vec![b'u'; T::MaxUriLength::get() as usize]),
		&vec![7; T::MaxRecordLength::get() as usize],
	)
	.expect("the benchmark's contribution is valid")
	.0
}

#[benchmarks(where T::Currency: Mutate<T::AccountId>)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn create_dataset(
		n: Linear<1, { T::MaxNameLength::get() }>,
		u: Linear<0, { T::MaxUriLength::get() }>,
		l: Linear<1, { T::MaxLicenseLength::get() }>,
	) {
		let curator = funded::<T>("curator", 0);
		let dataset_id = NextDatasetId::<T>::get();

		#[extrinsic_call]
		_(
			RawOrigin::Signed(curator.clone()),
			vec![b'n'; n as usize],
			vec![b'u'; u as usize],
			license(l),
			Policy::Curated,
		);

		let dataset = Datasets::<T>::get(dataset_id).expect("created");
		assert_eq!(dataset.curator, curator);
		assert_eq!(dataset.deposit, Pallet::<T>::dataset_deposit((n + u + l) as usize));
	}

	#[benchmark]
	fn update_dataset(
		u: Linear<0, { T::MaxUriLength::get() }>,
		l: Linear<1, { T::MaxLicenseLength::get() }>,
	) {
		let curator = funded::<T>("curator", 0);
		// A short description first, so the update holds more deposit.
		let dataset_id = Pallet::<T>::do_create_dataset(
			curator.clone(),
			b"n".to_vec(),
			Vec::new(),
			license(1),
			Policy::Curated,
		)
		.expect("valid");

		#[extrinsic_call]
		_(RawOrigin::Signed(curator), dataset_id, vec![b'u'; u as usize], license(l));

		assert_eq!(Datasets::<T>::get(dataset_id).expect("exists").license.len(), l as usize);
	}

	#[benchmark]
	fn transfer_curatorship() {
		let curator = funded::<T>("curator", 0);
		let successor = funded::<T>("successor", 0);
		let dataset_id = dataset::<T>(&curator, Policy::Curated);

		#[extrinsic_call]
		_(RawOrigin::Signed(curator), dataset_id, successor.clone());

		assert_eq!(PendingCurator::<T>::get(dataset_id), Some(successor));
	}

	#[benchmark]
	fn accept_curatorship() {
		let curator = funded::<T>("curator", 0);
		let successor = funded::<T>("successor", 0);
		let dataset_id = dataset::<T>(&curator, Policy::Curated);
		Pallet::<T>::do_transfer_curatorship(curator, dataset_id, successor.clone())
			.expect("offered");

		#[extrinsic_call]
		_(RawOrigin::Signed(successor.clone()), dataset_id);

		assert_eq!(Datasets::<T>::get(dataset_id).expect("exists").curator, successor);
	}

	#[benchmark]
	fn close_dataset() {
		let curator = funded::<T>("curator", 0);
		let dataset_id = dataset::<T>(&curator, Policy::Curated);

		#[extrinsic_call]
		_(RawOrigin::Signed(curator), dataset_id);

		assert_eq!(Datasets::<T>::get(dataset_id).expect("exists").status, DatasetStatus::Closed);
	}

	// An open dataset: the contribution is accepted at once, so weights move too. The record
	// is hashed, found at the end of its transaction (which the executive notes before
	// dispatching) and indexed.
	#[benchmark]
	fn contribute(
		u: Linear<0, { T::MaxUriLength::get() }>,
		b: Linear<1, { T::MaxRecordLength::get() }>,
	) {
		let curator = funded::<T>("curator", 0);
		let contributor = funded::<T>("contributor", 0);
		let dataset_id = dataset::<T>(&curator, Policy::Open);
		let uri = Some(vec![b'u'; u as usize]);
		let record = vec![b'r'; b as usize];
		note_contribution::<T>(dataset_id, uri.clone(), record.clone());

		#[extrinsic_call]
		_(RawOrigin::Signed(contributor.clone()), dataset_id, uri, record);

		assert_eq!(ContributorWeight::<T>::get(dataset_id, &contributor), u64::from(b));
	}

	#[benchmark]
	fn accept_contribution() {
		let curator = funded::<T>("curator", 0);
		let contributor = funded::<T>("contributor", 0);
		let dataset_id = dataset::<T>(&curator, Policy::Curated);
		let contribution_id = pending::<T>(dataset_id, &contributor);

		#[extrinsic_call]
		_(RawOrigin::Signed(curator), dataset_id, contribution_id);

		assert_eq!(
			ContributorWeight::<T>::get(dataset_id, &contributor),
			u64::from(T::MaxRecordLength::get())
		);
	}

	#[benchmark]
	fn reject_contribution() {
		let curator = funded::<T>("curator", 0);
		let contributor = funded::<T>("contributor", 0);
		let dataset_id = dataset::<T>(&curator, Policy::Curated);
		let contribution_id = pending::<T>(dataset_id, &contributor);

		#[extrinsic_call]
		_(RawOrigin::Signed(curator), dataset_id, contribution_id);

		assert!(Contributions::<T>::get(dataset_id, contribution_id).is_none());
	}

	#[benchmark]
	fn withdraw_contribution() {
		let curator = funded::<T>("curator", 0);
		let contributor = funded::<T>("contributor", 0);
		let dataset_id = dataset::<T>(&curator, Policy::Curated);
		let contribution_id = pending::<T>(dataset_id, &contributor);

		#[extrinsic_call]
		_(RawOrigin::Signed(contributor), dataset_id, contribution_id);

		assert!(Contributions::<T>::get(dataset_id, contribution_id).is_none());
	}

	// An accepted contribution: weights move and the deposit is slashed.
	#[benchmark]
	fn remove_contribution() -> Result<(), BenchmarkError> {
		let curator = funded::<T>("curator", 0);
		let contributor = funded::<T>("contributor", 0);
		let dataset_id = dataset::<T>(&curator, Policy::Curated);
		let contribution_id = pending::<T>(dataset_id, &contributor);
		Pallet::<T>::do_accept_contribution(curator, dataset_id, contribution_id)
			.expect("accepted");
		let origin =
			T::RemoveOrigin::try_successful_origin().map_err(|_| BenchmarkError::Weightless)?;

		#[extrinsic_call]
		_(origin as T::RuntimeOrigin, dataset_id, contribution_id);

		assert_eq!(ContributorWeight::<T>::get(dataset_id, &contributor), 0);
		Ok(())
	}

	// The review period is over; the deposit goes back.
	#[benchmark]
	fn expire_contribution() {
		let curator = funded::<T>("curator", 0);
		let contributor = funded::<T>("contributor", 0);
		let caller = funded::<T>("caller", 0);
		let dataset_id = dataset::<T>(&curator, Policy::Curated);
		let contribution_id = pending::<T>(dataset_id, &contributor);
		let over = frame_system::Pallet::<T>::block_number().saturating_add(T::ReviewPeriod::get());
		frame_system::Pallet::<T>::set_block_number(over);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), dataset_id, contribution_id);

		assert!(Contributions::<T>::get(dataset_id, contribution_id).is_none());
	}

	impl_benchmark_test_suite!(Pallet, mock::new_test_ext(), mock::Test);
}
