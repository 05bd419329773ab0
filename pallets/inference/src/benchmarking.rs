//! Benchmarks for requests, results and expiry, each at its heaviest: the most providers
//! serving the model to draw from, the longest prompt and output, the most attributed records,
//! the longest lineage (every pool filled), and — for a result — a lineage dataset with from
//! 10 to 100,000 contributors, whose settlement must not grow with them.

#[cfg(test)]
use crate::mock;
use crate::*;
use alloc::{collections::BTreeSet, vec};
use polkadot_sdk::{
	frame_benchmarking::v2::*,
	frame_support::traits::{fungible::Mutate, Hooks},
	frame_system::RawOrigin,
	sp_runtime::traits::Bounded,
};

fn funded<T: Config>(name: &'static str, index: u32) -> T::AccountId
where
	T::Currency: Mutate<T::AccountId>,
{
	let who: T::AccountId = account(name, index, 0);
	let _ = T::Currency::set_balance(&who, BalanceOf::<T>::max_value() / 1024u32.into());
	who
}

/// A prompt of `bytes` bytes (the most input tokens a result may report).
fn prompt<T: Config>(bytes: u32) -> BoundedVec<u8, T::MaxPromptLength> {
	BoundedVec::truncate_from(vec![b'p'; bytes.max(1) as usize])
}

/// Makes a request of `requester` for `model_id` with the longest prompt; returns its id.
fn requested<T: Config>(requester: &T::AccountId, model_id: ModelId) -> RequestId
where
	T::Currency: Mutate<T::AccountId>,
{
	// What the validation inherent notes in every block of a chain.
	Pallet::<T>::note_draw_randomness(Some([7; 32]));
	let request_id = NextRequestId::<T>::get();
	Pallet::<T>::request(
		RawOrigin::Signed(requester.clone()).into(),
		model_id,
		prompt::<T>(T::MaxPromptLength::get()),
		T::MaxTokens::get(),
		BalanceOf::<T>::max_value() / 1_000_000u32.into(),
	)
	.expect("the benchmark's request is valid");
	request_id
}

#[benchmarks(where T::Currency: Mutate<T::AccountId>)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn request(p: Linear<1, { T::MaxPromptLength::get() }>) {
		let (model_id, _) = T::BenchmarkHelper::served_model(10, 0, 1);
		let requester = funded::<T>("requester", 0);
		Pallet::<T>::note_draw_randomness(Some([7; 32]));
		let request_id = NextRequestId::<T>::get();

		#[extrinsic_call]
		_(
			RawOrigin::Signed(requester),
			model_id,
			prompt::<T>(p),
			T::MaxTokens::get(),
			BalanceOf::<T>::max_value() / 1_000_000u32.into(),
		);

		assert!(Requests::<T>::contains_key(request_id));
	}

	#[benchmark]
	fn submit_result(
		o: Linear<1, { T::MaxOutputLength::get() }>,
		a: Linear<0, { T::MaxAttributions::get() }>,
		c: Linear<10, { T::BenchmarkHelper::max_contributors() }>,
	) {
		let (model_id, records) = T::BenchmarkHelper::served_model(c.max(a), a, 1);
		let requester = funded::<T>("requester", 0);
		let request_id = requested::<T>(&requester, model_id);
		let operator = Requests::<T>::get(request_id).expect("the request is open").operator;
		let score = 1_000_000u32.checked_div(a).unwrap_or(0);
		let attribution: BoundedVec<_, _> = records
			.iter()
			.map(|&(dataset_id, contribution_id)| AttributedRecord {
				dataset_id,
				contribution_id,
				score_ppm: score,
			})
			.collect::<Vec<_>>()
			.try_into()
			.expect("at most MaxAttributions records");
		let output = BoundedVec::truncate_from(vec![b'o'; o as usize]);

		#[extrinsic_call]
		_(
			RawOrigin::Signed(operator),
			request_id,
			output,
			T::MaxPromptLength::get(),
			T::MaxTokens::get().min(o),
			attribution,
			false,
		);

		assert!(!Requests::<T>::contains_key(request_id));
	}

	#[benchmark]
	fn decline() {
		let (model_id, _) = T::BenchmarkHelper::served_model(10, 0, 1);
		let requester = funded::<T>("requester", 0);
		let request_id = requested::<T>(&requester, model_id);
		let operator = Requests::<T>::get(request_id).expect("the request is open").operator;

		#[extrinsic_call]
		_(RawOrigin::Signed(operator), request_id, DeclineReason::Refused);

		assert!(!Requests::<T>::contains_key(request_id));
	}

	/// From one request: a block without expiries costs a single read, which the fit over
	/// `n` from 1 overstates rather than letting the fit's intercept understate the heavy end.
	#[benchmark]
	fn expire(n: Linear<1, { T::MaxRequestsPerBlock::get() }>) {
		let (model_id, _) = T::BenchmarkHelper::served_model(10, 0, 1);
		// The worst case: each request from a requester of its own (every refund touches
		// another account) and assigned to a provider of its own (every penalty another
		// provider). Filling each drawn provider's capacity leaves the next draw to the others;
		// this needs `MaxRequestsPerBlock` providers serving the model.
		let ids: Vec<RequestId> = (0..n)
			.map(|index| {
				let requester = funded::<T>("requester", index);
				let request_id = requested::<T>(&requester, model_id);
				let provider =
					Requests::<T>::get(request_id).expect("the request is open").provider;
				for _ in 0..T::MaxRequestsPerBlock::get() {
					if T::Providers::start_assignment(&provider).is_err() {
						break;
					}
				}
				request_id
			})
			.collect();
		let providers: BTreeSet<_> =
			ids.iter().filter_map(Requests::<T>::get).map(|r| r.provider).collect();
		assert_eq!(providers.len(), ids.len(), "each request has a provider of its own");
		let expires_at = polkadot_sdk::frame_system::Pallet::<T>::block_number()
			.saturating_add(T::RequestTimeout::get())
			.saturating_add(One::one());

		#[block]
		{
			Pallet::<T>::on_initialize(expires_at);
		}

		assert!(ids.iter().all(|id| !Requests::<T>::contains_key(id)));
	}

	impl_benchmark_test_suite!(Pallet, mock::new_test_ext(), mock::Test);
}
