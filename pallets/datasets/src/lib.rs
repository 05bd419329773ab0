//! # Datasets pallet
//!
//! Who contributed which data to which dataset. A curator creates a dataset (name, metadata
//! URI, SPDX license, `Open` or `Curated` policy); contributors submit records, their bytes
//! included. The runtime computes each record's blake2-256 hash and length itself and has the
//! node index the bytes (`sp_io::transaction_index`): they live in the block body, not in state,
//! and nodes serve them by hash (over RPC and IPFS Bitswap). An accepted contribution gives its
//! contributor weight in the dataset equal to its length; royalties are later divided by that
//! weight, and the hash index lets the attribution pipeline name the record an output drew on.
//!
//! Everything a user creates is paid for with a deposit held through frame-support's
//! `Consideration` (a `fungible` hold ticket, see [`deposits`]): the curator's grows with the
//! bytes the dataset's description takes, a contributor's with the length of the record, so
//! weight costs deposit in proportion (and its bytes the length fee of their transaction).
//! A pending contribution the curator leaves undecided for `ReviewPeriod` expires: anyone may
//! then delete it, returning its deposit.
//!
//! Weight changes are announced through [`WeightObserver`] before they happen, so that a
//! reward pool can settle what was earned under the old weight.

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
	ContributionDepositReason, ContributionPriceOf, ContributionTicketOf, DatasetDepositReason,
	DatasetPriceOf, DatasetTicketOf,
};
pub use genesis::{GenesisContribution, GenesisDataset};
pub use impls::is_spdx_expression;
#[cfg(any(feature = "std", feature = "runtime-benchmarks"))]
pub use impls::{note_contribution, note_transaction};
pub use tributary_primitives::{
	ContentHash, ContributionId, DatasetId, DatasetsInspect, OnContributionRemoved, WeightObserver,
};

use polkadot_sdk::{
	frame_support::{
		pallet_prelude::*,
		traits::{
			fungible::{self, Credit},
			OnUnbalanced,
		},
	},
	frame_system::pallet_prelude::*,
};
use tributary_primitives::len_u32;

/// The most contributions one page of [`Pallet::contributions_of`] holds.
pub const MAX_CONTRIBUTIONS_PAGE: u32 = 100;

/// The balance type of the currency deposits are held in.
pub type BalanceOf<T> = <<T as Config>::Currency as fungible::Inspect<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
>>::Balance;

/// A dataset as this runtime stores it.
pub type DatasetOf<T> = Dataset<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxNameLength,
	<T as Config>::MaxUriLength,
	<T as Config>::MaxLicenseLength,
>;

/// A contribution as this runtime stores it.
pub type ContributionOf<T> = Contribution<
	<T as polkadot_sdk::frame_system::Config>::AccountId,
	BalanceOf<T>,
	BlockNumberFor<T>,
	<T as Config>::MaxUriLength,
>;

/// Funds taken from a deposit, on their way to wherever the runtime sends slashes.
pub type CreditOf<T> =
	Credit<<T as polkadot_sdk::frame_system::Config>::AccountId, <T as Config>::Currency>;

#[polkadot_sdk::frame_support::pallet]
// The pallet macros spell out paths through the umbrella crate that the imports here shorten.
#[allow(unused_qualifications)]
pub mod pallet {
	use super::*;
	use alloc::vec::Vec;

	/// The in-code storage version: 1 keys the hash index by dataset ([`migrations::v1`]).
	pub const STORAGE_VERSION: StorageVersion = StorageVersion::new(1);

	#[pallet::pallet]
	#[pallet::storage_version(STORAGE_VERSION)]
	pub struct Pallet<T>(_);

	/// Defaults for tests' mock runtimes, which `#[derive_impl]` their configuration from it.
	pub mod config_preludes {
		use super::*;
		use polkadot_sdk::{
			frame_support::{
				derive_impl, register_default_impl,
				traits::{ConstU128, ConstU64},
			},
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
			type WeightObserver = ();
			type OnContributionRemoved = ();
			type DatasetDeposit = ConstU128<10>;
			type ContributionDeposit = ConstU128<1>;
			type DepositPerByte = ConstU128<0>;
			type DepositPerDataByte = ConstU128<0>;
			type MaxNameLength = ConstU32<32>;
			type MaxUriLength = ConstU32<32>;
			type MaxLicenseLength = ConstU32<24>;
			type MaxRecordLength = ConstU32<10_000>;
			type ReviewPeriod = ConstU64<100>;
			type MaxContributionsPerDataset = ConstU32<10>;
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
			+ fungible::MutateHold<Self::AccountId, Reason = Self::RuntimeHoldReason>
			+ fungible::BalancedHold<Self::AccountId>;

		/// The runtime's hold reasons, which include this pallet's.
		#[pallet::no_default_bounds]
		type RuntimeHoldReason: From<HoldReason>;

		/// Where deposits slashed by a takedown go (the treasury).
		#[pallet::no_default]
		type Slash: OnUnbalanced<CreditOf<Self>>;

		/// Who may take a contribution down (governance).
		#[pallet::no_default]
		type RemoveOrigin: EnsureOrigin<Self::RuntimeOrigin>;

		/// Told before any contributor's weight changes.
		type WeightObserver: WeightObserver<Self::AccountId>;

		/// Told when an accepted contribution is deleted (what the attribution ledger keeps
		/// about it goes too).
		type OnContributionRemoved: OnContributionRemoved;

		/// The fixed part of a dataset's deposit.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type DatasetDeposit: Get<BalanceOf<Self>>;

		/// The fixed part of a contribution's deposit.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type ContributionDeposit: Get<BalanceOf<Self>>;

		/// Deposit per byte stored on chain (names, URIs, licenses).
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type DepositPerByte: Get<BalanceOf<Self>>;

		/// Deposit per byte of a contributed record.
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type DepositPerDataByte: Get<BalanceOf<Self>>;

		/// The longest dataset name, in bytes.
		#[pallet::constant]
		type MaxNameLength: Get<u32>;

		/// The longest metadata or record URI, in bytes.
		#[pallet::constant]
		type MaxUriLength: Get<u32>;

		/// The longest license expression, in bytes.
		#[pallet::constant]
		type MaxLicenseLength: Get<u32>;

		/// The largest record, in bytes. Every byte is in the body of the block that takes the
		/// contribution, and so in that block's proof of validity.
		#[pallet::constant]
		type MaxRecordLength: Get<u32>;

		/// How long a pending contribution waits for its curator. After it, the contribution
		/// can no longer be accepted and anyone may expire it (its deposit goes back).
		#[pallet::constant]
		#[pallet::no_default_bounds]
		type ReviewPeriod: Get<BlockNumberFor<Self>>;

		/// The most contributions (pending or accepted) one dataset holds at a time.
		#[pallet::constant]
		type MaxContributionsPerDataset: Get<u32>;

		/// Weights of this pallet's calls, from its benchmarks.
		type WeightInfo: WeightInfo;
	}

	/// Why this pallet holds funds.
	#[pallet::composite_enum]
	pub enum HoldReason {
		/// The curator's deposit for a dataset.
		DatasetDeposit,
		/// A contributor's deposit for a contribution.
		ContributionDeposit,
	}

	/// The id the next dataset will get.
	#[pallet::storage]
	pub type NextDatasetId<T> = StorageValue<_, DatasetId, ValueQuery>;

	/// Every dataset, by id.
	#[pallet::storage]
	pub type Datasets<T: Config> = StorageMap<_, Blake2_128Concat, DatasetId, DatasetOf<T>>;

	/// Curatorship offered by a dataset's curator and not yet accepted.
	#[pallet::storage]
	pub type PendingCurator<T: Config> = StorageMap<_, Blake2_128Concat, DatasetId, T::AccountId>;

	/// Every contribution, by dataset and contribution id.
	#[pallet::storage]
	pub type Contributions<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		DatasetId,
		Blake2_128Concat,
		ContributionId,
		ContributionOf<T>,
	>;

	/// Which contribution of a dataset holds a content hash. A hash is registered once in a
	/// dataset while its contribution is pending or accepted; other datasets may hold the same
	/// record.
	#[pallet::storage]
	pub type ContributionByHash<T: Config> =
		StorageDoubleMap<_, Blake2_128Concat, DatasetId, Identity, ContentHash, ContributionId>;

	/// Each contributor's accepted weight in each dataset (absent means zero).
	#[pallet::storage]
	pub type ContributorWeight<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		DatasetId,
		Blake2_128Concat,
		T::AccountId,
		u64,
		ValueQuery,
	>;

	/// The contributions each account has (pending or accepted), for paging.
	#[pallet::storage]
	pub type ContributionsOf<T: Config> = StorageDoubleMap<
		_,
		Blake2_128Concat,
		T::AccountId,
		Twox64Concat,
		(DatasetId, ContributionId),
		(),
		OptionQuery,
	>;

	#[pallet::genesis_config]
	#[derive(polkadot_sdk::frame_support::DefaultNoBound)]
	pub struct GenesisConfig<T: Config> {
		/// Datasets to create at genesis; their contributions are accepted.
		pub datasets: Vec<GenesisDataset<T::AccountId>>,
	}

	#[pallet::genesis_build]
	impl<T: Config> BuildGenesisConfig for GenesisConfig<T> {
		fn build(&self) {
			for dataset in &self.datasets {
				if let Err(error) = Pallet::<T>::create_genesis_dataset(dataset) {
					panic!("genesis dataset {:?} is invalid: {error:?}", dataset.name);
				}
			}
		}
	}

	#[pallet::event]
	#[pallet::generate_deposit(pub(super) fn deposit_event)]
	pub enum Event<T: Config> {
		/// A dataset was created.
		DatasetCreated {
			dataset_id: DatasetId,
			curator: T::AccountId,
			policy: Policy,
			deposit: BalanceOf<T>,
		},
		/// A dataset's metadata URI or license changed; its deposit is now `deposit`.
		DatasetUpdated { dataset_id: DatasetId, deposit: BalanceOf<T> },
		/// The curator offered the dataset to `to`, who must accept.
		CuratorshipOffered { dataset_id: DatasetId, from: T::AccountId, to: T::AccountId },
		/// `to` accepted the curatorship; the dataset's deposit is now held from them.
		CuratorshipTransferred { dataset_id: DatasetId, from: T::AccountId, to: T::AccountId },
		/// The dataset takes no more contributions.
		DatasetClosed { dataset_id: DatasetId },
		/// A contribution was submitted: pending in a curated dataset, accepted in an open one.
		ContributionSubmitted {
			dataset_id: DatasetId,
			contribution_id: ContributionId,
			contributor: T::AccountId,
			content_hash: ContentHash,
			length: u64,
			deposit: BalanceOf<T>,
			status: ContributionStatus,
		},
		/// A contribution became part of the dataset and gave its contributor weight.
		ContributionAccepted {
			dataset_id: DatasetId,
			contribution_id: ContributionId,
			contributor: T::AccountId,
			contributor_weight: u64,
			total_weight: u64,
		},
		/// The curator turned a contribution down: it is deleted, its deposit went back and its
		/// content hash is free again.
		ContributionRejected {
			dataset_id: DatasetId,
			contribution_id: ContributionId,
			contributor: T::AccountId,
		},
		/// The contributor withdrew a pending contribution; its deposit went back.
		ContributionWithdrawn {
			dataset_id: DatasetId,
			contribution_id: ContributionId,
			contributor: T::AccountId,
		},
		/// Governance took a contribution down: its weight is gone and its deposit was slashed.
		ContributionRemoved {
			dataset_id: DatasetId,
			contribution_id: ContributionId,
			contributor: T::AccountId,
			slashed: BalanceOf<T>,
		},
		/// A pending contribution outlived its review period and was deleted; its deposit went
		/// back and its content hash is free again.
		ContributionExpired {
			dataset_id: DatasetId,
			contribution_id: ContributionId,
			contributor: T::AccountId,
		},
	}

	#[pallet::error]
	pub enum Error<T> {
		/// The dataset name is empty.
		EmptyName,
		/// The dataset name is longer than `MaxNameLength`.
		NameTooLong,
		/// A URI is longer than `MaxUriLength`.
		UriTooLong,
		/// The license expression is longer than `MaxLicenseLength`.
		LicenseTooLong,
		/// The license is not an SPDX expression (letters, digits, `.`, `-`, `+`, `:`,
		/// parentheses and single spaces between terms).
		InvalidLicense,
		/// No dataset has this id.
		UnknownDataset,
		/// Only the dataset's curator may do this.
		NotCurator,
		/// The dataset is closed to new contributions.
		DatasetClosed,
		/// The dataset is closed already.
		AlreadyClosed,
		/// The account is the curator already.
		AlreadyCurator,
		/// The caller was not offered this dataset's curatorship.
		NotOfferedCuratorship,
		/// No contribution has this id in this dataset.
		UnknownContribution,
		/// This dataset holds a contribution of the same bytes already.
		DuplicateContent,
		/// A record must have at least one byte.
		EmptyRecord,
		/// The record is longer than `MaxRecordLength`.
		RecordTooLong,
		/// The dataset holds `MaxContributionsPerDataset` pending or accepted contributions
		/// already, or has used up its contribution ids.
		TooManyContributions,
		/// Only a pending contribution can be accepted, rejected or withdrawn.
		NotPending,
		/// Only the contributor may withdraw a contribution.
		NotContributor,
		/// The account cannot cover the deposit.
		InsufficientBalance,
		/// The dataset's total weight would overflow.
		WeightOverflow,
		/// The record is not the last bytes of its transaction, which the node indexes: submit
		/// `contribute` as the transaction's call, or as the last call of a batch or proxy.
		RecordNotLast,
		/// The contribution's review period is over: it can only be expired, rejected or
		/// withdrawn.
		ReviewPeriodOver,
		/// The contribution is still in its review period.
		InReview,
	}

	#[pallet::hooks]
	impl<T: Config> Hooks<BlockNumberFor<T>> for Pallet<T> {
		#[cfg(feature = "try-runtime")]
		fn try_state(
			_n: BlockNumberFor<T>,
		) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
			Self::do_try_state()
		}
	}

	#[pallet::call]
	impl<T: Config> Pallet<T> {
		/// Create a dataset with the caller as curator. A deposit is held from the caller:
		/// `DatasetDeposit` plus `DepositPerByte` for each byte of name, URI and license.
		#[pallet::call_index(0)]
		#[pallet::weight(T::WeightInfo::create_dataset(
			len_u32(name.len()),
			len_u32(metadata_uri.len()),
			len_u32(license.len()),
		))]
		pub fn create_dataset(
			origin: OriginFor<T>,
			name: Vec<u8>,
			metadata_uri: Vec<u8>,
			license: Vec<u8>,
			policy: Policy,
		) -> DispatchResult {
			let curator = ensure_signed(origin)?;
			Self::do_create_dataset(curator, name, metadata_uri, license, policy).map(|_| ())
		}

		/// Change a dataset's metadata URI and license (curator only). The deposit follows
		/// the new size: more is held, or the difference is released.
		#[pallet::call_index(1)]
		#[pallet::weight(T::WeightInfo::update_dataset(
			len_u32(metadata_uri.len()),
			len_u32(license.len()),
		))]
		pub fn update_dataset(
			origin: OriginFor<T>,
			dataset_id: DatasetId,
			metadata_uri: Vec<u8>,
			license: Vec<u8>,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_update_dataset(who, dataset_id, metadata_uri, license)
		}

		/// Offer the dataset's curatorship to `new_curator` (curator only). Nothing changes
		/// until they call `accept_curatorship`; a new offer replaces an earlier one.
		#[pallet::call_index(2)]
		#[pallet::weight(T::WeightInfo::transfer_curatorship())]
		pub fn transfer_curatorship(
			origin: OriginFor<T>,
			dataset_id: DatasetId,
			new_curator: T::AccountId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_transfer_curatorship(who, dataset_id, new_curator)
		}

		/// Accept the curatorship offered to the caller. The dataset's deposit is held from
		/// the caller and released to the previous curator.
		#[pallet::call_index(3)]
		#[pallet::weight(T::WeightInfo::accept_curatorship())]
		pub fn accept_curatorship(origin: OriginFor<T>, dataset_id: DatasetId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_accept_curatorship(who, dataset_id)
		}

		/// Close the dataset to new contributions (curator only). Pending contributions can
		/// still be accepted, rejected or withdrawn; accepted ones keep their weight.
		#[pallet::call_index(4)]
		#[pallet::weight(T::WeightInfo::close_dataset())]
		pub fn close_dataset(origin: OriginFor<T>, dataset_id: DatasetId) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_close_dataset(who, dataset_id)
		}

		/// Contribute a record, its bytes the last argument, and optionally a URI where it is
		/// also published. The runtime computes the record's blake2-256 hash and length, and once
		/// everything is checked the node indexes the bytes under the hash (they stay in the
		/// block body). A deposit is held: `ContributionDeposit`, plus `DepositPerDataByte` per
		/// byte of the record, plus `DepositPerByte` per byte of `uri`. In an open dataset the
		/// contribution is accepted at once; in a curated one it waits up to `ReviewPeriod`.
		///
		/// The node indexes the last bytes of the transaction, so the record must be them: this
		/// call must be the transaction's own, or the last call of a batch or proxy.
		#[pallet::call_index(5)]
		#[pallet::weight(T::WeightInfo::contribute(
			uri.as_ref().map_or(0, |uri| len_u32(uri.len())),
			len_u32(record.len()),
		))]
		pub fn contribute(
			origin: OriginFor<T>,
			dataset_id: DatasetId,
			uri: Option<Vec<u8>>,
			record: Vec<u8>,
		) -> DispatchResult {
			let contributor = ensure_signed(origin)?;
			Self::do_contribute_indexed(contributor, dataset_id, uri, &record)
		}

		/// Accept a pending contribution (curator only): its contributor gains its length
		/// as weight.
		#[pallet::call_index(6)]
		#[pallet::weight(T::WeightInfo::accept_contribution())]
		pub fn accept_contribution(
			origin: OriginFor<T>,
			dataset_id: DatasetId,
			contribution_id: ContributionId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_accept_contribution(who, dataset_id, contribution_id)
		}

		/// Reject a pending contribution (curator only). It is deleted, the deposit goes back to
		/// the contributor, and the content hash can be contributed again.
		#[pallet::call_index(7)]
		#[pallet::weight(T::WeightInfo::reject_contribution())]
		pub fn reject_contribution(
			origin: OriginFor<T>,
			dataset_id: DatasetId,
			contribution_id: ContributionId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_reject_contribution(who, dataset_id, contribution_id)
		}

		/// Withdraw one's own contribution, pending or accepted: it is deleted and its deposit
		/// returned. An accepted one first takes its weight out of the dataset: the royalties
		/// earned under that weight are settled to the contributor (still theirs to claim), and
		/// the record's citation statistics go.
		#[pallet::call_index(8)]
		// An accepted record's withdrawal does what `remove_contribution` measured (the weight
		// change and its observer, the statistics it removes included), releasing the deposit
		// rather than slashing it to the treasury.
		#[pallet::weight(T::WeightInfo::withdraw_contribution()
			.max(T::WeightInfo::remove_contribution()))]
		pub fn withdraw_contribution(
			origin: OriginFor<T>,
			dataset_id: DatasetId,
			contribution_id: ContributionId,
		) -> DispatchResult {
			let who = ensure_signed(origin)?;
			Self::do_withdraw_contribution(who, dataset_id, contribution_id)
		}

		/// Take a contribution down (governance, for takedowns): it is deleted, the weight it
		/// gave is removed and its deposit is slashed to the treasury.
		#[pallet::call_index(9)]
		#[pallet::weight(T::WeightInfo::remove_contribution())]
		pub fn remove_contribution(
			origin: OriginFor<T>,
			dataset_id: DatasetId,
			contribution_id: ContributionId,
		) -> DispatchResult {
			T::RemoveOrigin::ensure_origin(origin)?;
			Self::do_remove_contribution(dataset_id, contribution_id)
		}

		/// Expire a pending contribution whose review period is over (anyone may): it is
		/// deleted, its deposit goes back to the contributor, and its content hash is free for
		/// the dataset again.
		#[pallet::call_index(10)]
		#[pallet::weight(T::WeightInfo::expire_contribution())]
		pub fn expire_contribution(
			origin: OriginFor<T>,
			dataset_id: DatasetId,
			contribution_id: ContributionId,
		) -> DispatchResult {
			ensure_signed(origin)?;
			Self::do_expire_contribution(dataset_id, contribution_id)
		}
	}
}
