//! # Providers pallet
//!
//! GPU providers stake TRIB, declare their hardware and the models they serve, and put that
//! stake at risk for the work they accept.
//!
//! - A provider (the staking account) registers with a bond of at least `MinProviderBond`,
//!   held with a `fungible` hold, and names an **operator**: the key its node's off-chain
//!   worker signs heartbeats and results with.
//! - Unbonding moves stake into unlocking chunks, released `UnbondingPeriod` blocks later and
//!   slashable until then.
//! - **Liveness:** the operator sends `heartbeat()`, free when it is due (at most one every
//!   `HeartbeatInterval` blocks). A provider with no heartbeat for `OfflineAfter` blocks is
//!   `Offline`: not assigned work, not slashed for it. `go_offline`/`go_online` pause on
//!   purpose.
//! - **Capacity:** a provider takes at most `gpu_count × AssignmentsPerGpu` assignments at
//!   once (`gpu_count` at most `MaxGpusPerProvider`), and at most one per `BondPerAssignment`
//!   of bonded stake: declared hardware does not buy traffic, stake does.
//! - **Slashing:** a missed assignment costs `MissedAssignmentSlash` of the stake (through
//!   [`ProviderAssignment`]); governance slashes proven misbehaviour with `slash`. Every slash
//!   waits `SlashDeferDuration` blocks, during which governance may `cancel_slash`; then it
//!   takes its fraction of the bonded stake and of every unlocking chunk, to the treasury.
//!   Pending slashes are not bounded per provider (every miss is punished), and while one is
//!   pending no unlocking chunk can be withdrawn and the provider cannot leave.
//! - **Juries:** the inference pallet asks [`ProviderJudging::select_jury`] for providers of a
//!   model to judge a result another provider settled (online, bonded at least the minimum,
//!   by stake, without replacement), and schedules a wrong result's slash through the same
//!   deferral with [`ProviderJudging::slash_wrong_result`]: an amount, taken as a fraction of
//!   the stake when scheduled, from which the challenger and jurors are paid when it applies
//!   (the rest to the treasury); a cancelled slash pays nobody.
//! - **Selection:** the inference pallet asks [`ProviderAssignment::select`] for a provider of
//!   a model: one of those online, serving it, bonded at least the minimum and under capacity,
//!   with probability proportional to bonded stake, drawn from a seed the caller supplies.
//! - **Serving lists:** at most `MaxProvidersPerModel` providers serve a model; when the list
//!   is full, a provider with more bonded stake than the least-staked one takes its place.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
mod genesis;
mod impls;
#[cfg(test)]
mod mock;
pub mod offchain;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use genesis::{GenesisProvider, GenesisSpec};
pub use tributary_primitives::{ModelId, ModelsInspect, ProviderAssignment, ProviderJudging};

use polkadot_sdk::{
	frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{self, Credit},
			OnUnbalanced,
		},
	},
	frame_system::pallet_prelude::*,
	sp_runtime::Perbill,
};
use tributary_primitives::len_u32;

/// The most providers one page of [`Pallet::providers_serving`] holds.
pub const MAX_PROVIDERS_PAGE: u32 = 100;

/// The balance type of the currency stake is held in.
pub type BalanceOf<T> = <<T as Config>::Currency as fungible::Inspect<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
>>::Balance;

/// A provider as this runtime stores it.
pub type ProviderOf<T> = Provider<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxSpecLength,
	<T as Config>::MaxUnlockingChunks,
	<T as Config>::MaxServedModels,
>;

/// Hardware as this runtime stores it.
pub type SpecOf<T> = HardwareSpec<<T as Config>::MaxSpecLength>;

/// A pending slash as this runtime stores it.
pub type PendingSlashOf<T> = PendingSlash<BlockNumberFor<T>, <T as Config>::MaxReasonLength>;

/// Slashed stake, on its way to the treasury.
pub type CreditOf<T> =
	Credit<<T as polkadot_sdk::frame_system::Config>::AccountId, <T as Config>::Currency>;

/// The reason recorded for a missed-assignment slash.
pub const MISSED_ASSIGNMENT: &[u8] = b"missed assignment";

#[polkadot_sdk::frame_support::pallet]
// The pallet macros spell out paths through the umbrella crate that the imports here shorten.
#[allow(unused_qualifications)]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(0);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Defaults for tests' mock runtimes, which `#[derive_impl]` their configuration from it.
	pub mod config_preludes {
		use super::*;
		use polkadot_sdk::{
			frame_support::{
				derive_impl, parameter_types, register_default_impl,
				traits::{ConstU128, ConstU64},
			},
			frame_system,
		};

		parameter_types! {
			/// A hundredth of its stake for each missed assignment.
			pub const MissedAssignmentSlash: Perbill = Perbill::from_percent(1);
		}

		/// The values most mock runtimes use; a mock overrides what its tests need otherwise.
		pub struct TestDefaultConfig;

		#[derive_impl(frame_system::config_preludes::TestDefaultConfig, no_aggregated_types)]
		impl frame_system::DefaultConfig for TestDefaultConfig {}

		#[register_default_impl(TestDefaultConfig)]
		impl DefaultConfig for TestDefaultConfig {
			#[inject_runtime_type]
			type RuntimeHoldReason = ();
			type MinProviderBond = ConstU128<100>;
			type UnbondingPeriod = ConstU64<20>;
			type SlashDeferDuration = ConstU64<5>;
			type HeartbeatInterval = ConstU64<3>;
			type OfflineAfter = ConstU64<10>;
			type AssignmentsPerGpu = ConstU32<2>;
			type MaxGpusPerProvider = ConstU32<16>;
			type BondPerAssignment = ConstU128<10>;
			type MissedAssignmentSlash = MissedAssignmentSlash;
			type MaxUnlockingChunks = ConstU32<3>;
			type MaxServedModels = ConstU32<2>;
			type MaxProvidersPerModel = ConstU32<8>;
			type MaxSlashesPerBlock = ConstU32<4>;
			type MaxSpecLength = ConstU32<32>;
			type MaxReasonLength = ConstU32<32>;
			type MaxSlashRewards = ConstU32<4>;
			type WeightInfo = ();
		}
	}

	#[pallet::config(with_default)]
	pub trait Config:
		polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>>
		+ polkadot_sdk::frame_system::offchain::CreateSignedTransaction<Call<Self>>
	{
		/// Signs the off-chain worker's heartbeats with a local operator key
		/// ([`offchain::crypto::OperatorAuthId`] in a runtime).
		#[pallet::no_default]
		type AuthorityId: polkadot_sdk::frame_system::offchain::AppCrypto<
			Self::Public,
			Self::Signature,
		>;

		/// The currency stake is held in.
		#[pallet::no_default]
		type Currency: fungible::Inspect<Self::AccountId>
			+ fungible::MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ fungible::BalancedHold<Self::AccountId>;

		/// The runtime's hold reasons, which include this pallet's.
		#[pallet::no_default_bounds]
		type RuntimeHoldReason: From<HoldReason>;

		/// Where slashed stake goes (the treasury).
		#[pallet::no_default]
		type Slash: OnUnbalanced<CreditOf<Self>>;

		/// The models providers serve.
		#[pallet::no_default]
		type Models: ModelsInspect<Self::AccountId, BalanceOf<Self>>;

		/// Who slashes for proven misbehaviour and cancels deferred slashes (governance).
		#[pallet::no_default]
		type SlashOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// The least a provider may register with; below it, a provider is not assigned work.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type MinProviderBond: Get<BalanceOf<Self>>;

		/// How many blocks unbonded stake stays held (and slashable).
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type UnbondingPeriod: Get<BlockNumberFor<Self>>;

		/// How many blocks a slash waits before it is applied; shorter than `UnbondingPeriod`,
		/// so stake unbonded after an offence is still there to slash.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type SlashDeferDuration: Get<BlockNumberFor<Self>>;

		/// The fewest blocks between two heartbeats of a provider.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type HeartbeatInterval: Get<BlockNumberFor<Self>>;

		/// After this many blocks without a heartbeat a provider is `Offline`.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type OfflineAfter: Get<BlockNumberFor<Self>>;

		/// Concurrent assignments a provider takes per GPU.
		#[pallet::constant]
		type AssignmentsPerGpu: Get<u32>;

		/// The most GPUs a provider declares.
		#[pallet::constant]
		type MaxGpusPerProvider: Get<u32>;

		/// Bonded stake each concurrent assignment needs: a provider takes at most
		/// `bonded / BondPerAssignment` assignments at once, whatever its GPUs (no bound by stake
		/// when zero).
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type BondPerAssignment: Get<BalanceOf<Self>>;

		/// The share of its stake a provider loses for a missed assignment.
		#[pallet::constant]
		type MissedAssignmentSlash: Get<Perbill>;

		/// The most unlocking chunks a provider has at once.
		#[pallet::constant]
		type MaxUnlockingChunks: Get<u32>;

		/// The most models one provider serves.
		#[pallet::constant]
		type MaxServedModels: Get<u32>;

		/// The most providers serving one model.
		#[pallet::constant]
		type MaxProvidersPerModel: Get<u32>;

		/// The most slashes applied in one block.
		#[pallet::constant]
		type MaxSlashesPerBlock: Get<u32>;

		/// The longest GPU model, region or endpoint, in bytes.
		#[pallet::constant]
		type MaxSpecLength: Get<u32>;

		/// The longest slash reason, in bytes.
		#[pallet::constant]
		type MaxReasonLength: Get<u32>;

		/// The most accounts one slash rewards when it applies (a wrong result's challenger and
		/// the jurors who found it wrong).
		#[pallet::constant]
		type MaxSlashRewards: Get<u32>;

		/// Weights of this pallet's calls, from its benchmarks.
		type WeightInfo: WeightInfo;

		/// Makes an active model for the benchmarks to serve.
		#[cfg(feature = "runtime-benchmarks")]
		#[pallet::no_default]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// A provider's stake, bonded or unlocking.
		ProviderBond,
	}

	/// Every provider, by staking account.
	#[pallet::storage]
	pub type Providers<T: Config> = StorageMap<_, Blake2_128Concat, T::AccountId, ProviderOf<T>>;

	/// The provider each operator key acts for. An operator acts for one provider.
	#[pallet::storage]
	pub type ProviderOfOperator<T: Config> =
		StorageMap<_, Blake2_128Concat, T::AccountId, T::AccountId>;

	/// The providers serving each model, in the order they started.
	#[pallet::storage]
	pub type ServingProviders<T: Config> = StorageMap<
		_,
		Twox64Concat,
		ModelId,
		BoundedVec<T::AccountId, T::MaxProvidersPerModel>,
		ValueQuery,
	>;

	/// The slashes pending against each provider, by id. Not bounded per provider: each comes
	/// from a missed assignment or from governance, at most `MaxSlashesPerBlock` a block, and
	/// leaves `SlashDeferDuration` blocks later; the provider's record counts them.
	#[pallet::storage]
	pub type PendingSlashes<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		SlashId,
		PendingSlashOf<T>,
	>;

	/// The slashes to apply at each block.
	#[pallet::storage]
	pub type SlashQueue<T: Config> = StorageMap<
		_,
		Twox64Concat,
		BlockNumberFor<T>,
		BoundedVec<(T::AccountId, SlashId), T::MaxSlashesPerBlock>,
		ValueQuery,
	>;

	/// The id the next slash will get.
	#[pallet::storage]
	pub type NextSlashId<T> = StorageValue<_, SlashId, ValueQuery>;

	/// What a pending slash pays when it applies, and to whom (from what it takes; the rest
	/// goes to `Slash`). Removed with the slash, applied or cancelled.
	#[pallet::storage]
	pub type SlashRewards<T: Config> = StorageMap<
		_,
		Twox64Concat,
		SlashId,
		BoundedVec<(T::AccountId, BalanceOf<T>), T::MaxSlashRewards>,
	>;

	#[pallet::genesis_config]
	#[derive(polkadot_sdk::frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Providers registered at genesis, serving the models they name.
		pub providers: Vec<GenesisProvider<T::AccountId, BalanceOf<T>>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			for provider in &self.providers {
				if let Err(error) = Pallet::<T>::create_genesis_provider(provider) {
					panic!("genesis provider {:?} is invalid: {error:?}", provider.provider);
				}
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A provider registered with a bond.
		Registered { provider: T::AccountId, operator: T::AccountId, bond: BalanceOf<T> },
		/// More stake was bonded.
		Bonded { provider: T::AccountId, amount: BalanceOf<T> },
		/// Stake started unbonding; it can be withdrawn at `unlock_at`.
		Unbonding { provider: T::AccountId, amount: BalanceOf<T>, unlock_at: BlockNumberFor<T> },
		/// Unlocked stake was released to the provider.
		Withdrawn { provider: T::AccountId, amount: BalanceOf<T> },
		/// The provider declared new hardware.
		SpecUpdated { provider: T::AccountId },
		/// The provider's node signs with a new operator key.
		OperatorSet { provider: T::AccountId, operator: T::AccountId },
		/// The provider left.
		Deregistered { provider: T::AccountId },
		/// The provider serves a model.
		Serving { provider: T::AccountId, model_id: ModelId },
		/// The provider stopped serving a model.
		StoppedServing { provider: T::AccountId, model_id: ModelId },
		/// The model's serving list was full: `provider`, its least-staked server, made way for
		/// `by`, which bonds more.
		Displaced { provider: T::AccountId, model_id: ModelId, by: T::AccountId },
		/// The provider went into maintenance.
		WentOffline { provider: T::AccountId },
		/// The provider came back from maintenance.
		WentOnline { provider: T::AccountId },
		/// A slash was scheduled; it applies at `apply_at` unless cancelled.
		SlashScheduled {
			provider: T::AccountId,
			slash_id: SlashId,
			fraction: Perbill,
			apply_at: BlockNumberFor<T>,
		},
		/// Governance cancelled a pending slash.
		SlashCancelled { provider: T::AccountId, slash_id: SlashId },
		/// A slash took `amount` of the provider's stake to the treasury (less its rewards).
		Slashed { provider: T::AccountId, slash_id: SlashId, amount: BalanceOf<T> },
		/// A slash that applied paid `who` `amount` of what it took.
		SlashRewardPaid { slash_id: SlashId, who: T::AccountId, amount: BalanceOf<T> },
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The account is a provider already.
		AlreadyRegistered,
		/// The account is not a provider.
		NotProvider,
		/// The operator key acts for another provider already.
		OperatorInUse,
		/// The caller is not the operator of any provider.
		NotOperator,
		/// The bond is below `MinProviderBond`.
		BondTooLow,
		/// The amount must be above zero.
		ZeroAmount,
		/// The account cannot cover the bond.
		InsufficientBalance,
		/// Less is bonded than asked to unbond.
		InsufficientBond,
		/// `MaxUnlockingChunks` chunks are unlocking already; withdraw or wait.
		TooManyChunks,
		/// No unlocking chunk has reached its block yet.
		NothingToWithdraw,
		/// A provider needs at least one GPU with some memory.
		InvalidSpec,
		/// More GPUs than `MaxGpusPerProvider`.
		TooManyGpus,
		/// A GPU model, region or endpoint is longer than `MaxSpecLength`.
		SpecTooLong,
		/// Stake is still bonded or unlocking.
		StillBonded,
		/// The provider still has assignments in progress.
		HasAssignments,
		/// A slash is pending against the provider; its stake stays until the slash applies or
		/// is cancelled.
		SlashPending,
		/// Only active models can be served.
		ModelNotActive,
		/// The provider serves this model already.
		AlreadyServing,
		/// The provider does not serve this model.
		NotServing,
		/// The provider serves `MaxServedModels` models already.
		TooManyServedModels,
		/// `MaxProvidersPerModel` providers serve this model already, none with less bonded
		/// stake than the caller.
		TooManyProviders,
		/// The last heartbeat was less than `HeartbeatInterval` blocks ago.
		HeartbeatTooSoon,
		/// The provider is in maintenance already.
		AlreadyOffline,
		/// The provider is not in maintenance.
		AlreadyOnline,
		/// A slash must take more than nothing.
		ZeroFraction,
		/// The slash reason is longer than `MaxReasonLength`.
		ReasonTooLong,
		/// `MaxSlashesPerBlock` slashes are due in that block already.
		SlashQueueFull,
		/// No pending slash against the provider has this id.
		UnknownSlash,
		/// The provider is at capacity.
		AtCapacity,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		/// Applies the slashes due in this block (at most `MaxSlashesPerBlock`).
		fn on_initialize(now: BlockNumberFor<T>) -> Weight {
			let due = SlashQueue::<T>::take(now);
			let count = len_u32(due.len());
			for (provider, slash_id) in due {
				Self::apply_slash(&provider, slash_id);
			}
			T::WeightInfo::on_initialize(count)
		}

		/// Sends the heartbeats due for the operator keys in this node's keystore.
		fn offchain_worker(now: BlockNumberFor<T>) {
			Self::send_heartbeats(now);
		}

		fn integrity_test() {
			assert!(
				T::SlashDeferDuration::get() < T::UnbondingPeriod::get(),
				"slashes must apply before stake unbonded after the offence is released"
			);
			assert!(
				T::HeartbeatInterval::get() < T::OfflineAfter::get(),
				"a provider must be able to heartbeat before it counts as offline"
			);
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
		/// Register the caller as a provider: its hardware, the operator key its node signs
		/// with, and a bond of at least `MinProviderBond`, held.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::register())]
		pub fn register(
			origin: OriginFor<T>,
			spec: SpecOf<T>,
			operator: T::AccountId,
			bond: BalanceOf<T>,
		) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_register(provider, spec, operator, bond)
		}

		/// Bond more stake.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::bond_extra())]
		pub fn bond_extra(origin: OriginFor<T>, amount: BalanceOf<T>) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_bond_extra(provider, amount)
		}

		/// Start unbonding `amount`: it stays held, and slashable, for `UnbondingPeriod`
		/// blocks, then `withdraw_unbonded` releases it.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::unbond())]
		pub fn unbond(origin: OriginFor<T>, amount: BalanceOf<T>) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_unbond(provider, amount)
		}

		/// Release every unlocking chunk whose block has come, once no slash is pending (a
		/// pending slash takes its fraction of the unlocking chunks too).
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::withdraw_unbonded(T::MaxUnlockingChunks::get()))]
		pub fn withdraw_unbonded(origin: OriginFor<T>) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_withdraw_unbonded(provider)
		}

		/// Declare new hardware; capacity follows the GPU count.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::update_spec())]
		pub fn update_spec(origin: OriginFor<T>, spec: SpecOf<T>) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_update_spec(provider, spec)
		}

		/// Name a new operator key.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::set_operator())]
		pub fn set_operator(origin: OriginFor<T>, operator: T::AccountId) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_set_operator(provider, operator)
		}

		/// Leave: once nothing is bonded or unlocking, no assignment is in progress and no
		/// slash is pending. Stops serving every model.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::deregister(T::MaxServedModels::get()))]
		pub fn deregister(origin: OriginFor<T>) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_deregister(provider)
		}

		/// Serve an active model.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::serve())]
		pub fn serve(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_serve(provider, model_id)
		}

		/// Stop serving a model.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::stop_serving())]
		pub fn stop_serving(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			let provider = ensure_signed(origin)?;
			Self::do_stop_serving(provider, model_id)
		}

		/// The operator's sign of life. Free when due (from a registered operator, at least
		/// `HeartbeatInterval` blocks after the last); refused, and paid for, otherwise.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::heartbeat())]
		pub fn heartbeat(origin: OriginFor<T>) -> DispatchResultWithPostInfo {
			let operator = ensure_signed(origin)?;
			Self::do_heartbeat(operator)?;
			Ok(Pays::No.into())
		}

		/// Stop taking work for maintenance (the provider or its operator).
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::go_offline())]
		pub fn go_offline(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_maintenance(who, true)
		}

		/// Take work again after maintenance (the provider or its operator); counts as a
		/// heartbeat.
		#[pallet::call_index(11)]
		#[pallet::weight(T::WeightInfo::go_online())]
		pub fn go_online(origin: OriginFor<T>) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_maintenance(who, false)
		}

		/// Slash a provider for proven misbehaviour (governance): `fraction` of its bonded and
		/// unlocking stake, applied `SlashDeferDuration` blocks from now unless cancelled.
		#[pallet::call_index(12)]
		#[pallet::weight(T::WeightInfo::slash())]
		pub fn slash(
			origin: OriginFor<T>,
			provider: T::AccountId,
			fraction: Perbill,
			reason: Vec<u8>,
		) -> DispatchResult {
			T::SlashOrigin::ensure_origin(origin)?;
			let reason = BoundedVec::try_from(reason).map_err(|_| Error::<T>::ReasonTooLong)?;
			Self::schedule_slash(&provider, fraction, reason).map(|_| ())
		}

		/// Cancel a pending slash (governance).
		#[pallet::call_index(13)]
		#[pallet::weight(T::WeightInfo::cancel_slash())]
		pub fn cancel_slash(
			origin: OriginFor<T>,
			provider: T::AccountId,
			slash_id: SlashId,
		) -> DispatchResult {
			T::SlashOrigin::ensure_origin(origin)?;
			Self::do_cancel_slash(provider, slash_id)
		}
	}
}

/// Makes what the benchmarks need from outside this pallet.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId> {
	/// An active model, owned by `owner` (who has funds for every deposit).
	fn active_model(owner: &AccountId) -> ModelId;
}
