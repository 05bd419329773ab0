//! # Inference pallet
//!
//! Paid inference. A user `request`s an inference from an active model with a prompt, the most
//! tokens to generate and a fee cap; the cap is held from them and the request is assigned at
//! once to a provider serving the model, drawn by stake from a seed of the relay chain's BABE
//! randomness (noted once a block from the verified relay state proof, with
//! [`Pallet::note_draw_randomness`]) and the requester's account and nonce: neither the
//! requester nor the block author chooses it, and reordering a block's requests changes no
//! request's draw. The provider's operator submits the result before the deadline with
//! `submit_result`: the output, its token counts and its attribution (records of the adapter's
//! lineage datasets, with scores in parts per million).
//!
//! Settlement: the fee is `min(cap, base fee + input and output token prices)`; it moves from
//! the requester's hold into the royalties pot and is divided there
//! ([`Settlement`], which pallet-royalties implements); the rest of the cap is released. A
//! result bills at most one output token per output byte. The worker asks the service to end
//! generation within `MaxOutputLength` bytes; an output longer than that (from a service that
//! ignores it) is submitted cut and marked `truncated`, billed for what was kept.
//!
//! A request the provider's service refuses (a prompt too long for the model, say) is
//! `decline`d by the operator: the requester pays the base fee, to the treasury rather than to
//! the provider (so declining never pays better than serving), and the provider is not
//! penalised. A request not answered by its deadline expires in `on_initialize` (a bounded queue
//! per block): the requester's cap is released in full and the provider penalised.
//!
//! Every request also pays `RequestFee` to the treasury when it is made, whatever becomes of
//! it: the requests one block takes are bounded (`MaxRequestsPerBlock`), and filling them costs
//! money that does not come back.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
#[cfg(test)]
mod mock;
pub mod offchain;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

use alloc::vec::Vec;
use polkadot_sdk::{
	frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{self, Inspect, InspectHold, Mutate, MutateHold},
			tokens::{Fortitude, Precision, Preservation, Restriction},
		},
	},
	frame_system::pallet_prelude::*,
	sp_core::H256,
	sp_runtime::traits::{Hash, One, Saturating, Zero},
};
use tributary_primitives::len_u32;
pub use tributary_primitives::{
	AdapterId, AttributedRecord, CitedRecord, ContributionId, DatasetId, DatasetsInspect,
	LineageLedger, ModelId, ModelsInspect, OutputLedger, Pricing, ProviderAssignment, RequestId,
	Settlement, SpanCredit,
};

/// The most contributors of a lineage dataset `submit_result`'s benchmark measures.
pub const MAX_BENCHMARKED_CONTRIBUTORS: u32 = 100_000;

/// The balance type of the currency fees are paid in.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
>>::Balance;

/// A request as this runtime stores it.
pub type RequestOf<T> = Request<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxPromptLength,
>;

#[polkadot_sdk::frame_support::pallet]
// The pallet macros spell out paths through the umbrella crate that the imports here shorten.
#[allow(unused_qualifications)]
pub mod pallet {
	use super::*;

	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A request's fee cap, until settlement or expiry.
		InferenceFee,
	}

	/// Defaults for tests' mock runtimes, which `#[derive_impl]` their configuration from it.
	pub mod config_preludes {
		use super::*;
		use polkadot_sdk::{
			frame_support::{derive_impl, register_default_impl, traits::ConstU64},
			frame_system,
		};

		/// The values most mock runtimes use; a mock overrides what its tests need otherwise.
		pub struct TestDefaultConfig;

		#[derive_impl(frame_system::config_preludes::TestDefaultConfig, no_aggregated_types)]
		impl frame_system::DefaultConfig for TestDefaultConfig {}

		#[register_default_impl(TestDefaultConfig)]
		impl DefaultConfig for TestDefaultConfig {
			#[inject_runtime_type]
			type RuntimeHoldReason = ();
			type RequestTimeout = ConstU64<10>;
			type MaxPromptLength = ConstU32<64>;
			type MaxOutputLength = ConstU32<64>;
			type MaxTokens = ConstU32<256>;
			type MaxAttributions = ConstU32<4>;
			type MaxRequestsPerBlock = ConstU32<3>;
			type WeightInfo = ();
		}
	}

	#[pallet::config(with_default)]
	pub trait Config:
		polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>>
		+ polkadot_sdk::frame_system::offchain::CreateSignedTransaction<Call<Self>>
	{
		/// Signs the off-chain worker's results with a local operator key
		/// (the operator key of pallet-providers' `offchain::crypto` in a runtime).
		#[pallet::no_default]
		type AuthorityId: polkadot_sdk::frame_system::offchain::AppCrypto<
			Self::Public,
			Self::Signature,
		>;

		/// The currency fees are paid in; a request's fee cap is held in it until settlement.
		#[pallet::no_default]
		type Currency: fungible::Inspect<Self::AccountId>
			+ fungible::Mutate<Self::AccountId>
			+ fungible::InspectHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ fungible::MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		#[pallet::no_default_bounds]
		type RuntimeHoldReason: From<HoldReason>;

		/// Models: whether one is active, its adapter, owner, prices and royalty split.
		#[pallet::no_default]
		type Models: ModelsInspect<Self::AccountId, BalanceOf<Self>>;

		/// Providers: the draw of one for a request, its capacity, and the penalty for a missed
		/// assignment.
		#[pallet::no_default]
		type Providers: ProviderAssignment<Self::AccountId>;

		/// The adapters' lineage: which datasets a result's attributed records may come from.
		#[pallet::no_default]
		type Lineage: LineageLedger;

		/// Datasets: who contributed an attributed record.
		#[pallet::no_default]
		type Datasets: DatasetsInspect<Self::AccountId>;

		/// Where a fee is paid and divided.
		#[pallet::no_default]
		type Royalties: Settlement<Self::AccountId, BalanceOf<Self>>;

		/// Where each settled output's attribution is recorded.
		#[pallet::no_default]
		type Ledger: OutputLedger<BalanceOf<Self>>;

		/// The treasury's account: it receives request fees and the base fees of declined
		/// requests.
		#[pallet::no_default]
		type Treasury: Get<Self::AccountId>;

		/// Paid by every request to the treasury when it is made, and not refunded.
		#[pallet::constant]
		#[pallet::no_default]
		type RequestFee: Get<BalanceOf<Self>>;

		/// Blocks a provider has to answer.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type RequestTimeout: Get<BlockNumberFor<Self>>;

		/// The longest prompt, in bytes.
		#[pallet::constant]
		type MaxPromptLength: Get<u32>;

		/// The longest output a result carries, in bytes.
		#[pallet::constant]
		type MaxOutputLength: Get<u32>;

		/// The most tokens one request may ask for.
		#[pallet::constant]
		type MaxTokens: Get<u32>;

		/// The most attributed records one result carries.
		#[pallet::constant]
		type MaxAttributions: Get<u32>;

		/// The most requests expiring in one block (and so made in one block).
		#[pallet::constant]
		type MaxRequestsPerBlock: Get<u32>;

		/// Weights of this pallet's calls, from its benchmarks.
		type WeightInfo: WeightInfo;

		/// Makes what the benchmarks need from outside this pallet.
		#[cfg(feature = "runtime-benchmarks")]
		#[pallet::no_default]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
	}

	/// Requests waiting for their result.
	#[pallet::storage]
	pub type Requests<T: Config> = StorageMap<_, Twox64Concat, RequestId, RequestOf<T>>;

	/// The id the next request gets.
	#[pallet::storage]
	pub type NextRequestId<T: Config> = StorageValue<_, RequestId, ValueQuery>;

	/// The requests that expire at the start of each block (the block after their deadline).
	#[pallet::storage]
	pub type Expiries<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<RequestId, T::MaxRequestsPerBlock>,
		ValueQuery,
	>;

	/// The randomness this block's requests are drawn from: the relay chain's BABE randomness of
	/// the relay block this block builds on, noted by the runtime from the verified relay state
	/// proof in the validation-data inherent, before any transaction of the block. None until
	/// the first block with a relay state proof; requests are refused while it is missing.
	#[pallet::storage]
	pub type DrawRandomness<T: Config> = StorageValue<_, [u8; 32]>;

	/// The open requests assigned to each operator (what its off-chain worker serves).
	#[pallet::storage]
	pub type AssignmentsByOperator<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, RequestId, ()>;

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A request was made and assigned.
		Requested {
			request_id: RequestId,
			requester: T::AccountId,
			model_id: ModelId,
			adapter_id: AdapterId,
			provider: T::AccountId,
			operator: T::AccountId,
			deadline: BlockNumberFor<T>,
		},
		/// A result was accepted and paid for. `attributions`: the records credited (a cited
		/// record withdrawn since the service drew on it is not). `truncated`: the output was cut
		/// at `MaxOutputLength` (and billed for what was kept).
		Settled {
			request_id: RequestId,
			output_hash: H256,
			input_tokens: u32,
			output_tokens: u32,
			fee: BalanceOf<T>,
			refund: BalanceOf<T>,
			attributions: u32,
			truncated: bool,
		},
		/// The provider's service refused the request: the requester paid `fee` (the base fee)
		/// to the treasury and the rest of the cap was released; the provider is not penalised.
		Declined {
			request_id: RequestId,
			provider: T::AccountId,
			reason: DeclineReason,
			fee: BalanceOf<T>,
		},
		/// A request got no result in time: its cap was released and its provider penalised
		/// (`penalised` is false only if the slash queue of the block it would apply in is
		/// full, which a runtime that makes room for every expiry of a block never sees).
		Expired { request_id: RequestId, provider: T::AccountId, penalised: bool },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The model is not active.
		ModelNotActive,
		/// No provider serving the model is available.
		NoProviderAvailable,
		/// The prompt is empty, too long or not UTF-8.
		InvalidPrompt,
		/// `max_tokens` is zero or above the maximum.
		InvalidMaxTokens,
		/// The fee cap is below the model's base fee.
		FeeCapTooLow,
		/// Too many requests expire in the same block; try in the next.
		TooManyRequests,
		/// No such open request.
		UnknownRequest,
		/// Only the assigned operator submits the result.
		NotAssignedOperator,
		/// The deadline has passed.
		DeadlinePassed,
		/// An attributed record is outside the adapter's lineage, or was never issued.
		InvalidAttribution,
		/// Attribution scores sum to more than a million parts.
		ScoresOverflow,
		/// The same record is attributed twice.
		DuplicateAttribution,
		/// More output tokens than were asked for or than the output has bytes, or more input
		/// tokens than the prompt has bytes.
		TooManyTokens,
		/// The adapter has no lineage recorded.
		NoLineage,
		/// No relay-chain randomness was noted for this block, so no provider can be drawn
		/// that the block author could not choose.
		NoDrawRandomness,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let expiring = Expiries::<T>::take(now);
			let count = len_u32(expiring.len());
			for request_id in expiring {
				Self::expire(request_id);
			}
			T::WeightInfo::expire(count)
		}

		/// Serves the requests assigned to this node's operator keys through the LoRA service.
		fn offchain_worker(now: BlockNumberFor<T>) {
			Self::serve_assigned(now);
		}

		#[cfg(feature = "try-runtime")]
		fn try_state(
			_n: BlockNumberFor<T>,
		) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Requests an inference from `model_id`'s active adapter: at most `max_tokens` after
		/// `prompt`, paying at most `max_fee` (held until settlement or expiry).
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::request(len_u32(prompt.len())))]
		pub fn request(
			origin: OriginFor<T>,
			model_id: ModelId,
			prompt: BoundedVec<u8, T::MaxPromptLength>,
			max_tokens: u32,
			max_fee: BalanceOf<T>,
		) -> DispatchResult {
			let requester = ensure_signed(origin)?;
			ensure!(
				!prompt.is_empty() && core::str::from_utf8(&prompt).is_ok(),
				Error::<T>::InvalidPrompt
			);
			ensure!(
				max_tokens > 0 && max_tokens <= T::MaxTokens::get(),
				Error::<T>::InvalidMaxTokens
			);
			let (adapter_id, adapter_hash) =
				T::Models::active_adapter(model_id).ok_or(Error::<T>::ModelNotActive)?;
			let pricing = T::Models::pricing(model_id).ok_or(Error::<T>::ModelNotActive)?;
			ensure!(max_fee >= pricing.base_fee, Error::<T>::FeeCapTooLow);
			let seed = Self::draw_seed(&requester)?;
			let (provider, operator) =
				T::Providers::select(model_id, &seed).ok_or(Error::<T>::NoProviderAvailable)?;
			Self::pay_request_fee(&requester)?;

			let request_id = NextRequestId::<T>::get();
			let deadline = polkadot_sdk::frame_system::Pallet::<T>::block_number()
				.saturating_add(T::RequestTimeout::get());
			Expiries::<T>::try_mutate(deadline.saturating_add(One::one()), |queue| {
				queue.try_push(request_id)
			})
			.map_err(|_| Error::<T>::TooManyRequests)?;
			T::Providers::start_assignment(&provider)?;
			T::Currency::hold(&HoldReason::InferenceFee.into(), &requester, max_fee)?;

			NextRequestId::<T>::put(request_id.saturating_add(1));
			AssignmentsByOperator::<T>::insert(&operator, request_id, ());
			Requests::<T>::insert(
				request_id,
				Request {
					requester: requester.clone(),
					model_id,
					adapter_id,
					adapter_hash,
					provider: provider.clone(),
					operator: operator.clone(),
					prompt,
					max_tokens,
					max_fee,
					pricing,
					deadline,
				},
			);
			Self::deposit_event(Event::Requested {
				request_id,
				requester,
				model_id,
				adapter_id,
				provider,
				operator,
				deadline,
			});
			Ok(())
		}

		/// The assigned operator's result for `request_id`: the output, its token counts and
		/// its attribution, and whether the output was cut at `MaxOutputLength`. Settles the
		/// request.
		#[pallet::call_index(1)]
		// Charged for a lineage dataset of the benchmarks' largest (100,000 contributors): a
		// dataset's pool settles at the same cost whatever its size.
		#[pallet::weight(T::WeightInfo::submit_result(
			len_u32(output.len()),
			len_u32(attribution.len()),
			MAX_BENCHMARKED_CONTRIBUTORS,
		))]
		pub fn submit_result(
			origin: OriginFor<T>,
			request_id: RequestId,
			output: BoundedVec<u8, T::MaxOutputLength>,
			input_tokens: u32,
			output_tokens: u32,
			attribution: BoundedVec<AttributedRecord, T::MaxAttributions>,
			truncated: bool,
		) -> DispatchResult {
			let operator = ensure_signed(origin)?;
			let request = Self::assigned_request(request_id, &operator)?;
			ensure!(output_tokens <= request.max_tokens, Error::<T>::TooManyTokens);
			// A byte-level token covers at least one byte of the output.
			ensure!(output_tokens as usize <= output.len(), Error::<T>::TooManyTokens);
			// Every token of a byte-level tokenizer covers at least one byte of the prompt.
			ensure!(input_tokens as usize <= request.prompt.len(), Error::<T>::TooManyTokens);

			// The attribution: accepted records of the adapter's lineage, each once.
			let lineage = T::Lineage::lineage(request.adapter_id).ok_or(Error::<T>::NoLineage)?;
			let mut scores = 0u32;
			let mut spans: Vec<SpanCredit<T::AccountId>> = Vec::with_capacity(attribution.len());
			for (i, entry) in attribution.iter().enumerate() {
				ensure!(
					lineage.iter().any(|share| share.dataset_id == entry.dataset_id),
					Error::<T>::InvalidAttribution
				);
				ensure!(
					!attribution[..i].iter().any(|earlier| earlier.dataset_id == entry.dataset_id
						&& earlier.contribution_id == entry.contribution_id),
					Error::<T>::DuplicateAttribution
				);
				scores = scores.checked_add(entry.score_ppm).ok_or(Error::<T>::ScoresOverflow)?;
				let Some(contributor) =
					T::Datasets::accepted_contributor(entry.dataset_id, entry.contribution_id)
				else {
					// A record of the lineage that was issued but is no longer accepted (withdrawn
					// or removed since the service drew on it) is skipped, its score left to the
					// pools: refusing the whole result would let a contributor who is also the
					// requester withdraw a cited record just ahead of each submission and run the
					// request past its deadline. An id never issued is the provider's invention.
					ensure!(
						T::Datasets::contribution_issued(entry.dataset_id, entry.contribution_id),
						Error::<T>::InvalidAttribution
					);
					continue;
				};
				spans.push(SpanCredit {
					dataset_id: entry.dataset_id,
					contribution_id: entry.contribution_id,
					contributor,
					score_ppm: entry.score_ppm,
				});
			}
			ensure!(scores <= 1_000_000, Error::<T>::ScoresOverflow);
			let pools: Vec<(DatasetId, u32)> =
				lineage.iter().map(|share| (share.dataset_id, share.share.deconstruct())).collect();

			let fee = Self::fee(&request, input_tokens, output_tokens);
			let split =
				T::Models::royalty_split(request.model_id).ok_or(Error::<T>::ModelNotActive)?;
			let owner = T::Models::owner(request.model_id).ok_or(Error::<T>::ModelNotActive)?;
			let refund = Self::pay_from_cap(&request, fee, &T::Royalties::pot())?;
			let (_, earned) =
				T::Royalties::distribute(fee, &split, &request.provider, &owner, &spans, &pools)?;
			let cited: Vec<CitedRecord<BalanceOf<T>>> = spans
				.iter()
				.zip(earned)
				.map(|(span, earned)| CitedRecord {
					dataset_id: span.dataset_id,
					contribution_id: span.contribution_id,
					score_ppm: span.score_ppm,
					earned,
				})
				.collect();
			T::Ledger::record_output(request_id, request.adapter_id, &cited)?;

			Self::close(request_id, &request);
			Self::deposit_event(Event::Settled {
				request_id,
				output_hash: polkadot_sdk::sp_runtime::traits::BlakeTwo256::hash(&output),
				input_tokens,
				output_tokens,
				fee,
				refund,
				attributions: len_u32(spans.len()),
				truncated,
			});
			Ok(())
		}

		/// The assigned operator declines `request_id`, which its service refused for `reason`:
		/// the requester pays the base fee to the treasury, the rest of the cap is released, and
		/// the provider is not penalised.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::decline())]
		pub fn decline(
			origin: OriginFor<T>,
			request_id: RequestId,
			reason: DeclineReason,
		) -> DispatchResult {
			let operator = ensure_signed(origin)?;
			let request = Self::assigned_request(request_id, &operator)?;
			let fee = Self::settle_decline(&request)?;
			Self::close(request_id, &request);
			Self::deposit_event(Event::Declined {
				request_id,
				provider: request.provider,
				reason,
				fee,
			});
			Ok(())
		}
	}
}

/// Makes what the benchmarks need from outside this pallet.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId> {
	/// An active model whose active adapter's lineage is the longest allowed: the first
	/// dataset holding `contributors` accepted records, each from an account of its own, the
	/// others one record each; served by as many providers as may serve one model, each with
	/// room for `assignments` requests at once and its operator funded for fees. Returns the
	/// model and the first `records` records of the first dataset.
	fn served_model(
		contributors: u32,
		records: u32,
		assignments: u32,
	) -> (ModelId, Vec<(DatasetId, ContributionId)>);

	/// The most contributors `submit_result`'s benchmark puts in a lineage dataset. A test
	/// runtime may ask for fewer, to run the benchmark quickly as a test.
	fn max_contributors() -> u32 {
		MAX_BENCHMARKED_CONTRIBUTORS
	}
}
