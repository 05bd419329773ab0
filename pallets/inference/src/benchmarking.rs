//! Benchmarks for requests, results and expiry, each at its heaviest: the most providers
//! serving the model to draw from, the longest prompt and output, the most attributed records,
//! the longest lineage (every pool filled), and — for a result — a lineage dataset with from
//! 10 to 100,000 contributors, whose settlement must not grow with them. Closing windows,
//! drawing juries (from as many providers as may serve a model), counting verdicts (each way
//! they end, with a juror missing its vote) and paying a vested result (the most attributed
//! records and lineage datasets) are each measured at their heaviest.

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
	Pallet::<T>::note_draw_randomness(Some([7; 32]), 1);
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

/// `n` results settled from requests of one block (each from a requester of its own), each
/// with the longest output and the most attributed records over the longest lineage, and each
/// challenged when `challenged`: their ids and the block their windows close in.
fn settled_results<T: Config>(n: u32, challenged: bool) -> (Vec<RequestId>, BlockNumberFor<T>)
where
	T::Currency: Mutate<T::AccountId>,
{
	let a = T::MaxAttributions::get();
	let (model_id, records) = T::BenchmarkHelper::served_model(a.max(10), a, n.max(1));
	let score = 1_000_000u32.checked_div(a).unwrap_or(0);
	let attribution: BoundedVec<AttributedRecord, T::MaxAttributions> = BoundedVec::truncate_from(
		records
			.iter()
			.map(|&(dataset_id, contribution_id)| AttributedRecord {
				dataset_id,
				contribution_id,
				score_ppm: score,
			})
			.collect(),
	);
	// `MaxRequestsPerBlock` requests a block (more than one block's for more juries than that).
	let per_block = T::MaxRequestsPerBlock::get().max(1);
	let ids: Vec<RequestId> = (0..n)
		.map(|index| {
			if index > 0 && index % per_block == 0 {
				let now = polkadot_sdk::frame_system::Pallet::<T>::block_number();
				polkadot_sdk::frame_system::Pallet::<T>::set_block_number(now + One::one());
			}
			requested::<T>(&funded::<T>("requester", index), model_id)
		})
		.collect();
	for (index, request_id) in ids.iter().enumerate() {
		let operator = Requests::<T>::get(request_id).expect("the request is open").operator;
		Pallet::<T>::submit_result(
			RawOrigin::Signed(operator).into(),
			*request_id,
			BoundedVec::truncate_from(vec![b'o'; T::MaxOutputLength::get() as usize]),
			T::MaxPromptLength::get(),
			T::MaxTokens::get().min(T::MaxOutputLength::get()),
			attribution.clone(),
			false,
		)
		.expect("the benchmark's result is valid");
		if challenged {
			let challenger = funded::<T>("challenger", index as u32);
			Pallet::<T>::challenge(RawOrigin::Signed(challenger).into(), *request_id)
				.expect("the benchmark's challenge is valid");
		}
	}
	// The last window's close: `close_all` closes every one.
	let closes_at =
		ids.last().and_then(Results::<T>::get).map_or_else(Zero::zero, |result| result.closes_at);
	(ids, closes_at)
}

/// Closes the windows of `ids`, each at its block, ending at the last.
fn close_all<T: Config>(ids: &[RequestId]) {
	let closes: BTreeSet<BlockNumberFor<T>> =
		ids.iter().filter_map(Results::<T>::get).map(|result| result.closes_at).collect();
	for closes_at in closes {
		at_close::<T>(closes_at);
		Pallet::<T>::close_windows(closes_at, true);
	}
}

/// Moves to `closes_at` with relay-chain randomness newer than anything the results saw and
/// every provider online, for the windows' close.
fn at_close<T: Config>(closes_at: BlockNumberFor<T>) {
	polkadot_sdk::frame_system::Pallet::<T>::set_block_number(closes_at);
	T::BenchmarkHelper::keep_providers_online();
	DrawRandomness::<T>::put([9; 32]);
	DrawRelayNumber::<T>::put(u32::MAX / 2);
}

/// `n` juries drawn for challenged results, the first jurors of each having voted `votes`
/// and the rest not: the ids and the block the votes are counted in.
fn juries<T: Config>(n: u32, votes: &[Vote]) -> (Vec<RequestId>, BlockNumberFor<T>)
where
	T::Currency: Mutate<T::AccountId>,
{
	let (ids, closes_at) = settled_results::<T>(n, true);
	close_all::<T>(&ids);
	Pallet::<T>::draw_juries(closes_at);
	let mut verdict_at = closes_at;
	for request_id in &ids {
		let result = Results::<T>::get(request_id).expect("a jury was drawn");
		assert_eq!(result.jurors.len() as u32, T::JurySize::get(), "a full jury");
		let Stage::Judging { verdict_at: at } = result.stage else { panic!("a jury was drawn") };
		verdict_at = at;
		for (juror, vote) in result.jurors.iter().zip(votes) {
			Pallet::<T>::vote(RawOrigin::Signed(juror.operator.clone()).into(), *request_id, *vote)
				.expect("the juror votes");
		}
	}
	polkadot_sdk::frame_system::Pallet::<T>::set_block_number(verdict_at);
	T::BenchmarkHelper::keep_providers_online();
	(ids, verdict_at)
}

#[benchmarks(where T::Currency: Mutate<T::AccountId>)]
mod benchmarks {
	use super::*;

	#[benchmark]
	fn request(p: Linear<1, { T::MaxPromptLength::get() }>) {
		let (model_id, _) = T::BenchmarkHelper::served_model(10, 0, 1);
		let requester = funded::<T>("requester", 0);
		Pallet::<T>::note_draw_randomness(Some([7; 32]), 1);
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

	#[benchmark]
	fn challenge() {
		let (ids, _) = settled_results::<T>(1, false);
		let challenger = funded::<T>("challenger", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(challenger), ids[0]);

		assert!(Results::<T>::get(ids[0]).is_some_and(|result| result.challenge.is_some()));
	}

	#[benchmark]
	fn vote() {
		let (ids, closes_at) = settled_results::<T>(1, true);
		at_close::<T>(closes_at);
		Pallet::<T>::close_windows(closes_at, true);
		Pallet::<T>::draw_juries(closes_at);
		let result = Results::<T>::get(ids[0]).expect("a jury was drawn");
		// The last juror: the search for the caller goes through the whole jury.
		let operator = result.jurors.last().expect("a jury was drawn").operator.clone();

		#[extrinsic_call]
		_(RawOrigin::Signed(operator), ids[0], Vote::Wrong);

		assert!(Results::<T>::get(ids[0])
			.is_some_and(|result| result.jurors.iter().any(|j| j.vote == Some(Vote::Wrong))));
	}

	/// `n` windows closing unchallenged (each result's audit drawn, and it vests; a
	/// challenged one is queued for its jury instead, at the same cost). A block closes one
	/// block's requests and those postponed to it, at most twice `MaxRequestsPerBlock`: the
	/// weight is linear in `n`.
	#[benchmark]
	fn close(n: Linear<1, { T::MaxRequestsPerBlock::get() }>) {
		let (ids, closes_at) = settled_results::<T>(n, false);
		at_close::<T>(closes_at);

		#[block]
		{
			Pallet::<T>::close_windows(closes_at, true);
		}

		assert!(ids
			.iter()
			.all(|id| Results::<T>::get(id).is_some_and(|result| result.stage != Stage::Open)));
	}

	/// `n` juries drawn, each full, from every provider serving the model.
	#[benchmark]
	fn draw_juries(n: Linear<1, { T::MaxJuriesPerBlock::get() }>) {
		let (ids, closes_at) = settled_results::<T>(n, true);
		close_all::<T>(&ids);

		#[block]
		{
			Pallet::<T>::draw_juries(closes_at);
		}

		assert!(ids.iter().all(|id| Results::<T>::get(id)
			.is_some_and(|result| matches!(result.stage, Stage::Judging { .. }))));
	}

	/// A vested result paid: its fee divided over the most attributed records and lineage
	/// pools, its attribution recorded (what `on_idle` does for each, and `pay` for one).
	#[benchmark]
	fn pay() {
		let (ids, closes_at) = settled_results::<T>(1, false);
		at_close::<T>(closes_at);
		Pallet::<T>::close_windows(closes_at, true);
		// Vested, whatever the audit draw said.
		Results::<T>::mutate(ids[0], |result| {
			if let Some(result) = result {
				result.stage = Stage::Vested;
			}
		});
		let caller = funded::<T>("payer", 0);

		#[extrinsic_call]
		_(RawOrigin::Signed(caller), ids[0]);

		assert!(!Results::<T>::contains_key(ids[0]));
	}

	/// `n` verdicts overturning their results: the fee refunded, the bond released, the
	/// provider's slash scheduled with rewards for the challenger and two jurors, and the third
	/// juror's missed vote penalised.
	#[benchmark]
	fn verdict_overturned(n: Linear<1, { T::MaxJuriesPerBlock::get() }>) {
		let (ids, verdict_at) = juries::<T>(n, &[Vote::Wrong, Vote::Wrong]);

		#[block]
		{
			Pallet::<T>::count_verdicts(verdict_at);
		}

		assert!(ids.iter().all(|id| !Results::<T>::contains_key(id)));
	}

	/// `n` verdicts upholding their results: the bond forfeited to the provider and the juror
	/// who found the result valid, the other jurors' missed votes penalised, and the result
	/// vested.
	#[benchmark]
	fn verdict_upheld(n: Linear<1, { T::MaxJuriesPerBlock::get() }>) {
		let (ids, verdict_at) = juries::<T>(n, &[Vote::Valid]);

		#[block]
		{
			Pallet::<T>::count_verdicts(verdict_at);
		}

		assert!(ids
			.iter()
			.all(|id| Results::<T>::get(id).is_some_and(|result| result.stage == Stage::Vested)));
	}

	impl_benchmark_test_suite!(Pallet, mock::new_test_ext(), mock::Test);
}
