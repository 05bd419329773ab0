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
//!
//! ## Verification (`docs/verification.md`)
//!
//! A settled result is a claim until its window closes, `ChallengePeriod + DrawDelay + 1`
//! blocks after the request's deadline. Its fee stays held from the requester meanwhile (what
//! it will credit shows as vesting in `royalties_pending`), and its prompt and output go to the
//! offchain index ([`result_key`]) for jurors to read.
//!
//! - Anyone may `challenge` it until `ChallengePeriod` blocks after the deadline, holding
//!   `ChallengeBond`; one challenge per result.
//! - When the window closes, the result waits for a jury if it was challenged, or if the audit
//!   draw picks it (`AuditRate`); otherwise it vests, and is paid in a later block's spare
//!   weight (`on_idle`, first in first out) or by anyone's `pay`: the fee goes to the royalties
//!   pot and is divided as before, and its attribution recorded. Juries are drawn
//!   `MaxJuriesPerBlock` a block, in turn. Both draws, the audit and the jury, use
//!   the relay chain's randomness of a relay block later than the one the settlement and the
//!   challenge saw (`DrawDelay` blocks later at least, and the close waits further if the
//!   relay chain has not moved), so neither the provider, the challenger nor a block author
//!   knows them when they act.
//! - A jury is `JurySize` other providers serving the model, drawn by stake; with fewer than a
//!   majority of `JurySize` eligible (`quorum`), none is drawn and the result is paid. Their
//!   operators `vote` within `VotingPeriod` blocks (free when accepted); a juror that does not
//!   vote is penalised as for a missed assignment.
//! - `Wrong` votes from more than half the drawn jury overturn the result: the requester gets
//!   the fee back, nothing is credited, the challenger's bond is released, and the provider is
//!   slashed `WrongResultSlash + WrongResultFeeMultiple × fee` through pallet-providers'
//!   deferral, from which the challenger (`ChallengerReward`) and the jurors who found it wrong
//!   (`JurorsReward`, shared) are paid when it applies. Otherwise the result is paid; a
//!   challenge that at least one juror found valid forfeits its bond, half to the provider and
//!   half shared by the jurors who found it valid (with no valid vote cast, it is released).

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod impls;
pub mod jury;
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
	sp_runtime::{
		traits::{Hash, One, Saturating, Zero},
		Perbill,
	},
};
use tributary_primitives::len_u32;
pub use tributary_primitives::{
	AdapterId, AttributedRecord, CitedRecord, ContributionId, DatasetId, DatasetsInspect,
	LineageLedger, ModelId, ModelsInspect, OutputLedger, Pricing, ProviderAssignment,
	ProviderJudging, RequestId, RoyaltySplit, Settlement, SpanCredit,
};

mod verification;
use verification::SettledFacts;
pub use verification::RELAY_BLOCKS_AHEAD;

/// Where a settled result's prompt and output (SCALE-encoded `(prompt, output)` bytes) are in
/// the offchain index, for jurors' off-chain workers to read.
pub fn result_key(request_id: RequestId) -> Vec<u8> {
	(b"tributary/inference/result/", request_id).encode()
}

/// The most datasets an adapter's lineage names, as the lineage ledger bounds it.
pub struct MaxLineageOf<T>(PhantomData<T>);

impl<T: Config> Get<u32> for MaxLineageOf<T> {
	fn get() -> u32 {
		T::Lineage::max_lineage()
	}
}

/// The most contributors of a lineage dataset `submit_result`'s benchmark measures.
pub const MAX_BENCHMARKED_CONTRIBUTORS: u32 = 100_000;

/// The balance type of the currency fees are paid in.
pub type BalanceOf<T> = <<T as Config>::Currency as Inspect<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
>>::Balance;

/// A settled result open to challenge, as this runtime stores it.
pub type SettledResultOf<T> = SettledResult<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxAttributions,
	MaxLineageOf<T>,
	<T as Config>::JurySize,
>;

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
		/// A request's fee cap, until settlement or expiry; then its fee, until the result's
		/// challenge window closes (and its jury, if any, has found it valid).
		InferenceFee,
		/// A challenger's bond, until the jury's verdict.
		ChallengeBond,
	}

	/// Defaults for tests' mock runtimes, which `#[derive_impl]` their configuration from it.
	pub mod config_preludes {
		use super::*;
		use polkadot_sdk::{
			frame_support::{derive_impl, register_default_impl, traits::ConstU64},
			frame_system,
		};

		polkadot_sdk::frame_support::parameter_types! {
			/// No result is audited unless a test says so.
			pub const AuditRate: Perbill = Perbill::from_parts(0);
			/// Two fifths of a wrong result's slash to its challenger.
			pub const ChallengerReward: Perbill = Perbill::from_percent(40);
			/// A fifth of it to the jurors who found it wrong.
			pub const JurorsReward: Perbill = Perbill::from_percent(20);
		}

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
			type ChallengePeriod = ConstU64<5>;
			type DrawDelay = ConstU64<1>;
			type VotingPeriod = ConstU64<4>;
			type AuditRate = AuditRate;
			type JurySize = ConstU32<3>;
			type MaxJuriesPerBlock = ConstU32<4>;
			type WrongResultFeeMultiple = ConstU32<20>;
			type ChallengerReward = ChallengerReward;
			type JurorsReward = JurorsReward;
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

		/// Providers: juries for challenged and audited results, and a wrong result's slash.
		#[pallet::no_default]
		type Judging: ProviderJudging<Self::AccountId, BalanceOf<Self>>;

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

		/// Blocks after a request's deadline in which its result may be challenged.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type ChallengePeriod: Get<BlockNumberFor<Self>>;

		/// Blocks between the last one a challenge is accepted in and the window's close, where
		/// the audit and the jury are drawn (at least one: the draw must use randomness no
		/// challenger saw).
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type DrawDelay: Get<BlockNumberFor<Self>>;

		/// Blocks a jury has to vote.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type VotingPeriod: Get<BlockNumberFor<Self>>;

		/// Held from a challenger until the verdict.
		#[pallet::constant]
		#[pallet::no_default]
		type ChallengeBond: Get<BalanceOf<Self>>;

		/// The share of unchallenged results judged anyway.
		#[pallet::constant]
		type AuditRate: Get<Perbill>;

		/// The most juries drawn in one block (and so counted in one); the rest wait their turn.
		#[pallet::constant]
		type MaxJuriesPerBlock: Get<u32>;

		/// The providers drawn for a jury (fewer if fewer others serve the model).
		#[pallet::constant]
		type JurySize: Get<u32>;

		/// What a wrong result's slash takes at least, whatever its fee.
		#[pallet::constant]
		#[pallet::no_default]
		type WrongResultSlash: Get<BalanceOf<Self>>;

		/// How many times its fee a wrong result's slash takes beyond `WrongResultSlash`.
		#[pallet::constant]
		type WrongResultFeeMultiple: Get<u32>;

		/// The share of a wrong result's slash paid to its challenger.
		#[pallet::constant]
		type ChallengerReward: Get<Perbill>;

		/// The share of a wrong result's slash shared by the jurors who found it wrong.
		#[pallet::constant]
		type JurorsReward: Get<Perbill>;

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

	/// The relay-chain block [`DrawRandomness`] comes from.
	#[pallet::storage]
	pub type DrawRelayNumber<T: Config> = StorageValue<_, u32, ValueQuery>;

	/// Settled results whose challenge window has not closed, or whose jury has not yet
	/// decided.
	#[pallet::storage]
	pub type Results<T: Config> = StorageMap<_, Twox64Concat, RequestId, SettledResultOf<T>>;

	/// The results whose windows close at the start of each block. A result's closing block
	/// follows from its request's deadline, so one block closes at most the requests of one
	/// block.
	#[pallet::storage]
	pub type Closes<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<RequestId, T::MaxRequestsPerBlock>,
		ValueQuery,
	>;

	/// Results whose closing found no relay-chain randomness newer than their last event (the
	/// relay chain had not moved): they close at the start of the next block, first.
	#[pallet::storage]
	pub type Postponed<T: Config> =
		StorageValue<_, BoundedVec<RequestId, T::MaxRequestsPerBlock>, ValueQuery>;

	/// The juries whose votes are counted at the start of each block (as many as one block
	/// draws at most).
	#[pallet::storage]
	pub type Verdicts<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<RequestId, T::MaxJuriesPerBlock>,
		ValueQuery,
	>;

	/// The two queues of settled results, first in, first out: to be judged (drawn
	/// `MaxJuriesPerBlock` a block) and to be paid (in blocks' spare weight, or by `pay`).
	/// Each entry is a result's id; an entry whose result has moved on (paid by `pay` ahead
	/// of its turn) is skipped.
	#[pallet::storage]
	pub type Queued<T: Config> =
		StorageDoubleMap<_, Twox64Concat, Queue, Twox64Concat, u64, RequestId>;

	/// Each queue's first entry and the index its next entry gets.
	#[pallet::storage]
	pub type QueueBounds<T: Config> = StorageMap<_, Twox64Concat, Queue, (u64, u64), ValueQuery>;

	/// The results each operator is drawn to judge and has not voted on (what its off-chain
	/// worker checks).
	#[pallet::storage]
	pub type JuryDuty<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, T::AccountId, Twox64Concat, RequestId, ()>;

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
		/// A result was accepted and charged `fee` (held from the requester until the result
		/// vests at `vests_at`, or is overturned). `attributions`: the records it will credit (a
		/// cited record withdrawn since the service drew on it is not). `truncated`: the output
		/// was cut at `MaxOutputLength` (and billed for what was kept).
		Settled {
			request_id: RequestId,
			output_hash: H256,
			input_tokens: u32,
			output_tokens: u32,
			fee: BalanceOf<T>,
			refund: BalanceOf<T>,
			attributions: u32,
			truncated: bool,
			vests_at: BlockNumberFor<T>,
		},
		/// A settled result was challenged; its bond is held until the verdict.
		Challenged { request_id: RequestId, challenger: T::AccountId, bond: BalanceOf<T> },
		/// A result's window closed and it was challenged, or picked by the audit draw
		/// (`audit`): it waits for its jury.
		AwaitingJury { request_id: RequestId, audit: bool },
		/// A jury was drawn for a result (`audit`: unchallenged, picked by the audit draw); its
		/// votes are counted at `verdict_at`.
		JuryDrawn {
			request_id: RequestId,
			jurors: Vec<T::AccountId>,
			audit: bool,
			verdict_at: BlockNumberFor<T>,
		},
		/// A challenged or audited result found too few other providers of its model to
		/// judge it (fewer than a majority of `JurySize`): the challenger's bond was released
		/// and the result paid.
		NoJury { request_id: RequestId },
		/// A juror voted.
		Voted { request_id: RequestId, juror: T::AccountId, vote: Vote },
		/// The jury did not find the result wrong; it is paid. `forfeited`: the challenger's
		/// bond, paid to the provider and the jurors who found the result valid.
		Upheld {
			request_id: RequestId,
			valid: u32,
			wrong: u32,
			missed: u32,
			forfeited: BalanceOf<T>,
		},
		/// The jury found the result wrong: the requester got `refund` (the fee) back, nothing
		/// was credited, and the provider's slash of `slash` was scheduled.
		Overturned {
			request_id: RequestId,
			provider: T::AccountId,
			valid: u32,
			wrong: u32,
			missed: u32,
			refund: BalanceOf<T>,
			slash: BalanceOf<T>,
		},
		/// A result vested: it is queued to be paid (or may be paid at once with `pay`).
		Vested { request_id: RequestId },
		/// A vested result was paid: its fee divided and its attribution recorded.
		Paid { request_id: RequestId, fee: BalanceOf<T> },
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
		/// No settled result open to challenge or judgement has this id.
		UnknownResult,
		/// The result's challenge period is over.
		ChallengeClosed,
		/// The result is challenged already.
		AlreadyChallenged,
		/// The account cannot cover the challenge bond.
		InsufficientBond,
		/// The result has no jury (yet).
		NoJury,
		/// The caller is not the operator of a juror of this result.
		NotJuror,
		/// This juror has voted.
		AlreadyVoted,
		/// The jury's votes are counted already.
		VotingClosed,
		/// The result has not vested (its window is open, or a jury is judging it).
		NotVested,
		/// The attribution ledger has recorded as many outputs in this block as it records in
		/// one: pay in a later block.
		LedgerFull,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// Expires unanswered requests, then counts the votes of the juries due.
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let expiring = Expiries::<T>::take(now);
			let count = len_u32(expiring.len());
			for request_id in expiring {
				Self::expire(request_id);
			}
			let verdicts = Self::count_verdicts(now);
			// Each verdict at the dearer of the ways it can end. (Windows close, and juries are
			// drawn, in the validation-data inherent: `note_draw_randomness`.)
			let verdict = T::WeightInfo::verdict_overturned(verdicts)
				.max(T::WeightInfo::verdict_upheld(verdicts));
			T::WeightInfo::expire(count).saturating_add(verdict)
		}

		/// Pays vested results, first in first out, in the block's spare weight.
		fn on_idle(_now: BlockNumberFor<T>, remaining: Weight) -> Weight {
			Self::pay_queued(remaining)
		}

		fn integrity_test() {
			assert!(
				!T::DrawDelay::get().is_zero(),
				"the draw must come after the last block a challenge is accepted in"
			);
			assert!(!T::VotingPeriod::get().is_zero(), "a jury needs at least a block to vote");
			assert!(T::JurySize::get() > 0, "a jury has a juror");
		}

		/// Serves the requests assigned to this node's operator keys through the LoRA service,
		/// and judges the results they are drawn to judge with it.
		fn offchain_worker(now: BlockNumberFor<T>) {
			Self::serve_assigned(now);
			Self::judge_assigned(now);
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
			let mut contributors: Vec<Option<T::AccountId>> = Vec::with_capacity(attribution.len());
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
				let contributor =
					T::Datasets::accepted_contributor(entry.dataset_id, entry.contribution_id);
				// A record of the lineage that was issued but is no longer accepted (withdrawn
				// or removed since the service drew on it) is skipped, its score left to the
				// pools: refusing the whole result would let a contributor who is also the
				// requester withdraw a cited record just ahead of each submission and run the
				// request past its deadline. An id never issued is the provider's invention.
				ensure!(
					contributor.is_some()
						|| T::Datasets::contribution_issued(
							entry.dataset_id,
							entry.contribution_id
						),
					Error::<T>::InvalidAttribution
				);
				contributors.push(contributor);
			}
			ensure!(scores <= 1_000_000, Error::<T>::ScoresOverflow);
			let lineage: Vec<LineageAt> = lineage
				.iter()
				.map(|share| LineageAt {
					dataset_id: share.dataset_id,
					share_ppm: share.share.deconstruct(),
					next_contribution_id: T::Datasets::next_contribution_id(share.dataset_id)
						.unwrap_or_default(),
					total_weight: T::Datasets::total_weight(share.dataset_id).unwrap_or_default(),
				})
				.collect();

			let fee = Self::fee(&request, input_tokens, output_tokens);
			let split =
				T::Models::royalty_split(request.model_id).ok_or(Error::<T>::ModelNotActive)?;
			let owner = T::Models::owner(request.model_id).ok_or(Error::<T>::ModelNotActive)?;
			let credited = len_u32(contributors.iter().flatten().count());
			let output_hash = polkadot_sdk::sp_runtime::traits::BlakeTwo256::hash(&output);
			let vests_at = Self::settle(
				request_id,
				&request,
				SettledFacts {
					output_hash,
					input_tokens,
					output_tokens,
					truncated,
					fee,
					split,
					owner,
					attribution,
					contributors,
					lineage,
				},
			)?;
			// For jurors: the prompt and output, which a later block's state no longer holds.
			polkadot_sdk::sp_io::offchain_index::set(
				&result_key(request_id),
				&(&request.prompt, &output).encode(),
			);
			let refund = request.max_fee.saturating_sub(fee);

			Self::close(request_id, &request);
			Self::deposit_event(Event::Settled {
				request_id,
				output_hash,
				input_tokens,
				output_tokens,
				fee,
				refund,
				attributions: credited,
				truncated,
				vests_at,
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

		/// Challenges the settled result of `request_id`, holding `ChallengeBond` from the
		/// caller until the verdict: a jury of other providers checks it when its window closes.
		/// Accepted until `ChallengePeriod` blocks after the request's deadline, once per
		/// result.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::challenge())]
		pub fn challenge(origin: OriginFor<T>, request_id: RequestId) -> DispatchResult {
			let challenger = ensure_signed(origin)?;
			Self::do_challenge(challenger, request_id)
		}

		/// Pays the vested result of `request_id` now rather than in its turn (anyone may; the
		/// caller pays the transaction fee).
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::pay())]
		pub fn pay(origin: OriginFor<T>, request_id: RequestId) -> DispatchResult {
			ensure_signed(origin)?;
			let result = Results::<T>::get(request_id).ok_or(Error::<T>::UnknownResult)?;
			ensure!(result.stage == Stage::Vested, Error::<T>::NotVested);
			ensure!(T::Ledger::has_room(), Error::<T>::LedgerFull);
			Self::pay_out(request_id, &result);
			Ok(())
		}

		/// A juror's vote on the result of `request_id`, from its operator, before the votes
		/// are counted. Free when accepted.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::vote())]
		pub fn vote(
			origin: OriginFor<T>,
			request_id: RequestId,
			vote: Vote,
		) -> DispatchResultWithPostInfo {
			let operator = ensure_signed(origin)?;
			Self::do_vote(operator, request_id, vote)?;
			Ok(Pays::No.into())
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

	/// Marks every provider as heard from now, so that all are online for a jury's draw
	/// however many blocks the benchmark skipped.
	fn keep_providers_online();
}
