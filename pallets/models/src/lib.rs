//! # Models pallet
//!
//! A model exists because token holders voted for it. Anyone may propose one, with a deposit:
//! its base model, the datasets it will train on, a specification URI, its pricing and how its
//! fees are split between provider, owner, data and treasury. Approval is a pallet-democracy
//! referendum: `approve_model` and `reject_model` require the governance origin an enacted
//! referendum dispatches with.
//!
//! Once approved, the owner registers LoRA adapters: the hash of the adapter's weights, its
//! rank and alpha, where to fetch it, and its lineage, the datasets it was trained on with
//! their weights, each one of the model's datasets. Lineage goes to the attribution ledger,
//! which keeps it as normalised shares. The first adapter makes the model `Active`; later
//! ones are versions the owner may switch to.
//!
//! Every record is paid for with a deposit held through frame-support's `Consideration` (a
//! `fungible` hold ticket, see [`deposits`]); a rejected proposal gives its deposit back. A
//! retired model keeps its records, and its deposits, until `ReapDelay` has passed, long enough
//! for every request made before retirement to settle or expire; then anyone may reap it, which
//! deletes the model, its adapters, their hash index entries and their lineage, and gives the
//! owner every deposit back.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub use pallet::*;
pub use types::*;
pub use weights::WeightInfo;

#[cfg(feature = "runtime-benchmarks")]
mod benchmarking;
pub mod deposits;
mod genesis;
mod impls;
pub mod migrations;
#[cfg(test)]
mod mock;
#[cfg(test)]
mod tests;
pub mod types;
pub mod weights;

pub use deposits::{
	AdapterDepositReason, AdapterPriceOf, AdapterTicketOf, ModelDepositReason, ModelPriceOf,
	ModelTicketOf,
};
pub use genesis::{GenesisAdapter, GenesisModel};
pub use tributary_primitives::{
	AdapterId, DatasetId, DatasetsInspect, LineageLedger, LineageShare, ModelId, ModelsInspect,
	Pricing, RoyaltySplit,
};

use polkadot_sdk::{
	frame_support::{pallet_prelude::*, traits::fungible},
	frame_system::pallet_prelude::*,
	sp_core::H256,
	sp_runtime::Permill,
};
use tributary_primitives::len_u32;

/// The most models one page of [`Pallet::models`] holds.
pub const MAX_MODELS_PAGE: u32 = 100;

/// The balance type of the currency deposits are held in.
pub type BalanceOf<T> = <<T as Config>::Currency as fungible::Inspect<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
>>::Balance;

/// A model as this runtime stores it.
pub type ModelOf<T> = Model<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxNameLength,
	<T as Config>::MaxUriLength,
	<T as Config>::MaxModelDatasets,
	<T as Config>::MaxAdaptersPerModel,
>;

/// An adapter as this runtime stores it.
pub type AdapterOf<T> = Adapter<BalanceOf<T>, BlockNumberFor<T>, <T as Config>::MaxUriLength>;

/// A model's pricing in this runtime's balance.
pub type PricingOf<T> = Pricing<BalanceOf<T>>;

#[polkadot_sdk::frame_support::pallet]
// The pallet macros spell out paths through the umbrella crate that the imports here shorten.
#[allow(unused_qualifications)]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;

	/// The in-code storage version.
	const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

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
			/// A tenth of every fee for the data, at the least.
			pub const MinDataShare: Permill = Permill::from_percent(10);
		}

		/// The values most mock runtimes use; a mock overrides what its tests need otherwise.
		pub struct TestDefaultConfig;

		#[derive_impl(frame_system::config_preludes::TestDefaultConfig, no_aggregated_types)]
		impl frame_system::DefaultConfig for TestDefaultConfig {}

		#[register_default_impl(TestDefaultConfig)]
		impl DefaultConfig for TestDefaultConfig {
			#[inject_runtime_type]
			type RuntimeHoldReason = ();
			type ModelDeposit = ConstU128<10>;
			type AdapterDeposit = ConstU128<10>;
			type DepositPerByte = ConstU128<0>;
			type DepositPerDataset = ConstU128<0>;
			type MinDataShare = MinDataShare;
			type MinBaseFee = ConstU128<0>;
			type MaxTokenPrice = ConstU128<{ u128::MAX }>;
			type MaxNameLength = ConstU32<48>;
			type MaxUriLength = ConstU32<32>;
			type MaxModelDatasets = ConstU32<4>;
			type MaxAdaptersPerModel = ConstU32<4>;
			type MaxLoraRank = ConstU32<64>;
			type ReapDelay = ConstU64<20>;
			type WeightInfo = ();
		}
	}

	#[pallet::config(with_default)]
	pub trait Config: polkadot_sdk::frame_system::Config<RuntimeEvent: From<Event<Self>>> {
		/// The currency deposits are held in. Deposits are `HoldConsideration` tickets, which
		/// price with balances made from `u64` footprints and, in benchmarks, mint what they
		/// hold (`Mutate`).
		#[pallet::no_default]
		type Currency: fungible::Inspect<Self::AccountId, Balance: From<u64>>
			+ fungible::Mutate<Self::AccountId>
			+ fungible::MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>;

		/// The runtime's hold reasons, which include this pallet's.
		#[pallet::no_default_bounds]
		type RuntimeHoldReason: From<HoldReason>;

		/// The datasets models train on.
		#[pallet::no_default]
		type Datasets: DatasetsInspect<Self::AccountId>;

		/// The attribution ledger, which keeps adapters' lineage.
		#[pallet::no_default]
		type Lineage: LineageLedger;

		/// Approves and rejects proposals, sets royalty splits and retires any model: the
		/// origin an enacted referendum dispatches with.
		#[pallet::no_default]
		type GovernanceOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// The fixed part of a model's deposit.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type ModelDeposit: Get<BalanceOf<Self>>;

		/// The fixed part of an adapter's deposit.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type AdapterDeposit: Get<BalanceOf<Self>>;

		/// Deposit per byte stored (names, URIs) and per dataset named (four bytes of id plus
		/// the lineage index entry are charged as `DepositPerDataset`).
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type DepositPerByte: Get<BalanceOf<Self>>;

		/// Deposit per dataset a model names or an adapter's lineage names.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type DepositPerDataset: Get<BalanceOf<Self>>;

		/// The smallest data share a royalty split may give.
		#[pallet::constant]
		type MinDataShare: Get<Permill>;

		/// The smallest base fee a model may charge (at least the existential deposit, so that a
		/// request always costs something).
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type MinBaseFee: Get<BalanceOf<Self>>;

		/// The most a model may charge per 1,000 input or output tokens.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type MaxTokenPrice: Get<BalanceOf<Self>>;

		/// The longest model or base-model name, in bytes.
		#[pallet::constant]
		type MaxNameLength: Get<u32>;

		/// The longest specification or adapter URI, in bytes.
		#[pallet::constant]
		type MaxUriLength: Get<u32>;

		/// The most datasets one model trains on.
		#[pallet::constant]
		type MaxModelDatasets: Get<u32>;

		/// The most adapter versions one model has.
		#[pallet::constant]
		type MaxAdaptersPerModel: Get<u32>;

		/// The largest LoRA rank an adapter may declare.
		#[pallet::constant]
		type MaxLoraRank: Get<u32>;

		/// How long a retired model's records stay before anyone may reap them. At least as long
		/// as a request made just before retirement may wait for its result (inference's
		/// `RequestTimeout`): its settlement reads the model's owner and split and its adapter's
		/// lineage.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type ReapDelay: Get<BlockNumberFor<Self>>;

		/// Weights of this pallet's calls, from its benchmarks.
		type WeightInfo: WeightInfo;

		/// Creates the datasets the benchmarks' models train on.
		#[cfg(feature = "runtime-benchmarks")]
		#[pallet::no_default]
		type BenchmarkHelper: BenchmarkHelper<Self::AccountId>;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The owner's deposit for a model.
		ModelDeposit,
		/// The owner's deposit for an adapter.
		AdapterDeposit,
	}

	/// The id the next model will get.
	#[pallet::storage]
	pub type NextModelId<T> = StorageValue<_, ModelId, ValueQuery>;

	/// Every model, by id.
	#[pallet::storage]
	pub type Models<T: Config> = StorageMap<_, Twox64Concat, ModelId, ModelOf<T>>;

	/// The id the next adapter will get (adapter ids are unique across models).
	#[pallet::storage]
	pub type NextAdapterId<T> = StorageValue<_, AdapterId, ValueQuery>;

	/// Every adapter, by id.
	#[pallet::storage]
	pub type Adapters<T: Config> = StorageMap<_, Twox64Concat, AdapterId, AdapterOf<T>>;

	/// Which adapter registered an artifact hash. An artifact is registered once (again only
	/// after its model was reaped).
	#[pallet::storage]
	pub type AdapterByHash<T: Config> = StorageMap<_, Identity, H256, AdapterId>;

	/// The block from which each retired model may be reaped: its retirement plus `ReapDelay`.
	#[pallet::storage]
	pub type ReapableAt<T: Config> = StorageMap<_, Twox64Concat, ModelId, BlockNumberFor<T>>;

	#[pallet::genesis_config]
	#[derive(polkadot_sdk::frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Approved models to start with (active if they come with adapters).
		pub models: Vec<GenesisModel<T::AccountId, BalanceOf<T>>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			for model in &self.models {
				if let Err(error) = Pallet::<T>::create_genesis_model(model) {
					panic!("genesis model {:?} is invalid: {error:?}", model.name);
				}
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A model was proposed; a referendum on `approve_model(model_id)` decides it.
		ModelProposed { model_id: ModelId, owner: T::AccountId, deposit: BalanceOf<T> },
		/// Governance approved the model; its owner may register adapters.
		ModelApproved { model_id: ModelId },
		/// Governance rejected the proposal: it is deleted and its deposit went back.
		ModelRejected { model_id: ModelId, owner: T::AccountId },
		/// An adapter was registered; its lineage is in the attribution ledger.
		AdapterRegistered {
			model_id: ModelId,
			adapter_id: AdapterId,
			version: u32,
			artifact_hash: H256,
			deposit: BalanceOf<T>,
		},
		/// The model serves with this adapter now (the first one makes the model `Active`).
		ActiveAdapterSet { model_id: ModelId, adapter_id: AdapterId },
		/// The owner changed the model's prices.
		PricingUpdated { model_id: ModelId, pricing: PricingOf<T> },
		/// Governance changed how the model's fees are split.
		RoyaltySplitSet { model_id: ModelId, royalty_split: RoyaltySplit },
		/// The model was retired. A proposal is withdrawn and deleted, and `refunded` went back to
		/// the owner; any other model keeps its records and deposits until anyone reaps it, from
		/// block `reapable_at`.
		ModelRetired {
			model_id: ModelId,
			refunded: BalanceOf<T>,
			reapable_at: Option<BlockNumberFor<T>>,
		},
		/// A retired model was deleted with its adapters and their lineage; `refunded` went back
		/// to its owner.
		ModelReaped {
			model_id: ModelId,
			owner: T::AccountId,
			adapters: u32,
			refunded: BalanceOf<T>,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The model name is empty.
		EmptyName,
		/// The base fee is below `MinBaseFee`.
		BaseFeeTooLow,
		/// A price per 1,000 tokens is above `MaxTokenPrice`.
		TokenPriceTooHigh,
		/// The model or base-model name is longer than `MaxNameLength`.
		NameTooLong,
		/// A URI is longer than `MaxUriLength`.
		UriTooLong,
		/// A model must train on at least one dataset.
		NoDatasets,
		/// A model names more than `MaxModelDatasets` datasets.
		TooManyDatasets,
		/// A model names the same dataset twice.
		DuplicateDataset,
		/// No dataset has this id.
		UnknownDataset,
		/// The royalty split's shares do not sum to exactly one.
		SplitNotWhole,
		/// The royalty split gives data less than `MinDataShare`.
		DataShareTooLow,
		/// No model has this id.
		UnknownModel,
		/// Only the model's owner may do this.
		NotOwner,
		/// Only a proposed model can be approved or rejected.
		NotProposed,
		/// Adapters are registered for approved or active models only.
		NotApproved,
		/// Only an active model can switch adapters.
		NotActive,
		/// The model is retired already.
		AlreadyRetired,
		/// The model has `MaxAdaptersPerModel` adapters, or adapter ids are used up.
		TooManyAdapters,
		/// The rank is zero or above `MaxLoraRank`, or alpha is zero.
		InvalidLoraParameters,
		/// This artifact hash is registered already.
		DuplicateArtifact,
		/// The lineage names a dataset the model does not train on.
		LineageOutsideModel,
		/// No adapter has this id, or it belongs to another model.
		UnknownAdapter,
		/// The account cannot cover the deposit.
		InsufficientBalance,
		/// Only a retired model can be reaped.
		NotRetired,
		/// The model was retired less than `ReapDelay` ago: requests made before may still
		/// settle against it.
		TooEarlyToReap,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		fn integrity_test() {
			assert!(
				T::MaxModelDatasets::get() <= T::Lineage::max_lineage(),
				"the attribution ledger must hold a lineage over all of a model's datasets"
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
		/// Propose a model. A deposit is held: `ModelDeposit`, plus `DepositPerByte` per byte of
		/// name, base-model name and spec URI, plus `DepositPerDataset` per dataset. The split's
		/// four shares must sum to one, with `data` at least `MinDataShare`. The model waits
		/// for governance: put `models.approve_model(model_id)` to a referendum.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::propose_model(
			len_u32(name.len()),
			len_u32(base_model.len()),
			len_u32(spec_uri.len()),
			len_u32(datasets.len()),
		))]
		pub fn propose_model(
			origin: OriginFor<T>,
			name: Vec<u8>,
			base_model: Vec<u8>,
			base_model_hash: H256,
			datasets: Vec<DatasetId>,
			spec_uri: Vec<u8>,
			pricing: PricingOf<T>,
			royalty_split: RoyaltySplit,
		) -> DispatchResult {
			let owner = ensure_signed(origin)?;
			Self::do_propose_model(
				owner,
				name,
				base_model,
				base_model_hash,
				datasets,
				spec_uri,
				pricing,
				royalty_split,
			)
			.map(|_| ())
		}

		/// Approve a proposed model (governance: an enacted referendum).
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::approve_model())]
		pub fn approve_model(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Self::do_approve_model(model_id)
		}

		/// Reject a proposed model (governance): it is deleted and its deposit returned.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::reject_model())]
		pub fn reject_model(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Self::do_reject_model(model_id)
		}

		/// Register a LoRA adapter for an approved or active model (owner only): its hash
		/// (`tributary-lora adapter hash`: its weights file and the settings that change its
		/// outputs), its rank and alpha, where to
		/// fetch it, and its lineage, the model's datasets it was trained on with their
		/// weights. A deposit is held: `AdapterDeposit`, plus `DepositPerByte` per URI byte,
		/// plus `DepositPerDataset` per lineage entry. The first adapter makes the model
		/// `Active`.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::register_adapter(len_u32(uri.len()), len_u32(lineage.len())))]
		pub fn register_adapter(
			origin: OriginFor<T>,
			model_id: ModelId,
			artifact_hash: H256,
			rank: u32,
			alpha: u32,
			uri: Vec<u8>,
			lineage: Vec<(DatasetId, u64)>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_register_adapter(who, model_id, artifact_hash, rank, alpha, uri, lineage)
				.map(|_| ())
		}

		/// Switch an active model to another of its adapters (owner only).
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::set_active_adapter())]
		pub fn set_active_adapter(
			origin: OriginFor<T>,
			model_id: ModelId,
			adapter_id: AdapterId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_set_active_adapter(who, model_id, adapter_id)
		}

		/// Change a model's prices (owner only), within the same bounds as a proposal's.
		/// Requests already made keep their prices and fee cap.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::update_pricing())]
		pub fn update_pricing(
			origin: OriginFor<T>,
			model_id: ModelId,
			pricing: PricingOf<T>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_pricing(who, model_id, pricing)
		}

		/// Change how a model's fees are split (governance only: it changes what
		/// contributors get).
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::set_royalty_split())]
		pub fn set_royalty_split(
			origin: OriginFor<T>,
			model_id: ModelId,
			royalty_split: RoyaltySplit,
		) -> DispatchResult {
			T::GovernanceOrigin::ensure_origin(origin)?;
			Self::do_set_royalty_split(model_id, royalty_split)
		}

		/// Retire a model (its owner or governance): it takes no more requests, servers or
		/// adapters. It stays on record as `Retired`, with its adapters, their lineage and the
		/// deposits for them, until `ReapDelay` has passed and anyone reaps it
		/// (`reap_model`). A model still only proposed is withdrawn: deleted, deposit
		/// returned.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::retire_model())]
		pub fn retire_model(origin: OriginFor<T>, model_id: ModelId) -> DispatchResult {
			let by_owner = match T::GovernanceOrigin::try_origin(origin) {
				Ok(_) => None,
				Err(origin) => Some(ensure_signed(origin)?),
			};
			Self::do_retire_model(by_owner, model_id)
		}

		/// Delete a model retired at least `ReapDelay` ago (anyone may): the model, its
		/// adapters, their hash index entries and their lineage. Every deposit goes back to the
		/// owner, and the artifact hashes may be registered again. Charged for a model with
		/// `MaxAdaptersPerModel` adapters, refunded to what it had.
		#[pallet::call_index(8)]
		#[pallet::weight(T::WeightInfo::reap_model(T::MaxAdaptersPerModel::get()))]
		pub fn reap_model(origin: OriginFor<T>, model_id: ModelId) -> DispatchResultWithPostInfo {
			ensure_signed(origin)?;
			let adapters = Self::do_reap_model(model_id)?;
			Ok(Some(T::WeightInfo::reap_model(adapters)).into())
		}
	}
}

/// Makes what the benchmarks need from outside this pallet.
#[cfg(feature = "runtime-benchmarks")]
pub trait BenchmarkHelper<AccountId> {
	/// Creates a dataset curated by `curator` (who has funds for its deposit).
	fn create_dataset(curator: &AccountId) -> DatasetId;
}
