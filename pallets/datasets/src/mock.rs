//! A runtime with balances, this pallet, and an observer that records weight changes.

use crate as pallet_datasets;
use crate::*;
use core::cell::RefCell;
use polkadot_sdk::{
	frame_support::{
		derive_impl, parameter_types,
		traits::{tokens::imbalance::ResolveTo, ConstU128, ConstU32, ConstU64},
	},
	frame_system::{self, EnsureRoot},
	pallet_balances, sp_io,
	sp_runtime::BuildStorage,
};

pub type AccountId = u64;
pub type Balance = u128;

type Block = frame_system::mocking::MockBlock<Test>;

#[polkadot_sdk::frame_support::runtime]
mod runtime {
	#[runtime::runtime]
	#[runtime::derive(
		RuntimeCall,
		RuntimeEvent,
		RuntimeError,
		RuntimeOrigin,
		RuntimeHoldReason,
		RuntimeFreezeReason,
		RuntimeTask,
		RuntimeViewFunction
	)]
	pub struct Test;

	#[runtime::pallet_index(0)]
	pub type System = frame_system;
	#[runtime::pallet_index(1)]
	pub type Balances = pallet_balances;
	#[runtime::pallet_index(2)]
	pub type Datasets = pallet_datasets;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type ExistentialDeposit = ConstU128<EXISTENTIAL_DEPOSIT>;
	type AccountStore = System;
}

pub const EXISTENTIAL_DEPOSIT: Balance = 1;
pub const DATASET_DEPOSIT: Balance = 100;
pub const CONTRIBUTION_DEPOSIT: Balance = 10;
pub const PER_BYTE: Balance = 2;
pub const PER_DATA_BYTE: Balance = 1;
pub const MAX_LENGTH: u32 = 10_000;
pub const REVIEW_PERIOD: u64 = 50;
pub const MAX_CONTRIBUTIONS: u32 = 5;

pub const TREASURY: AccountId = 99;
pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CHARLIE: AccountId = 3;
/// An account with too little to pay any deposit.
pub const PAUPER: AccountId = 4;
pub const ENDOWMENT: Balance = 1_000_000;

parameter_types! {
	pub const TreasuryAccount: AccountId = TREASURY;
}

thread_local! {
	/// Every weight change the pallet announced: (dataset, who, old, new).
	pub static WEIGHT_CHANGES: RefCell<Vec<(DatasetId, AccountId, u64, u64)>> =
		const { RefCell::new(Vec::new()) };
}

/// Records the announcements and checks they come before the weight moves.
pub struct RecordingObserver;
impl WeightObserver<AccountId> for RecordingObserver {
	fn on_weight_change(dataset_id: DatasetId, who: &AccountId, old: u64, new: u64) {
		assert_eq!(
			ContributorWeight::<Test>::get(dataset_id, who),
			old,
			"the observer is told before the weight changes"
		);
		WEIGHT_CHANGES.with(|changes| changes.borrow_mut().push((dataset_id, *who, old, new)));
	}
}

pub fn weight_changes() -> Vec<(DatasetId, AccountId, u64, u64)> {
	WEIGHT_CHANGES.with(|changes| changes.borrow().clone())
}

thread_local! {
	/// Every accepted contribution the pallet said was removed.
	pub static REMOVED: RefCell<Vec<(DatasetId, ContributionId)>> = const { RefCell::new(Vec::new()) };
}

impl OnContributionRemoved for RecordingObserver {
	fn on_contribution_removed(dataset_id: DatasetId, contribution_id: ContributionId) {
		REMOVED.with(|removed| removed.borrow_mut().push((dataset_id, contribution_id)));
	}
}

pub fn removed_contributions() -> Vec<(DatasetId, ContributionId)> {
	REMOVED.with(|removed| removed.borrow().clone())
}

#[derive_impl(config_preludes::TestDefaultConfig as DefaultConfig)]
impl Config for Test {
	type Currency = Balances;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type RemoveOrigin = EnsureRoot<AccountId>;
	type WeightObserver = RecordingObserver;
	type OnContributionRemoved = RecordingObserver;
	type DatasetDeposit = ConstU128<DATASET_DEPOSIT>;
	type ContributionDeposit = ConstU128<CONTRIBUTION_DEPOSIT>;
	type DepositPerByte = ConstU128<PER_BYTE>;
	type DepositPerDataByte = ConstU128<PER_DATA_BYTE>;
	type MaxNameLength = ConstU32<16>;
	type MaxRecordLength = ConstU32<MAX_LENGTH>;
	type ReviewPeriod = ConstU64<REVIEW_PERIOD>;
	type MaxContributionsPerDataset = ConstU32<MAX_CONTRIBUTIONS>;
}

/// Test externalities with endowed accounts, for the benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub fn new_test_ext() -> sp_io::TestExternalities {
	ExtBuilder::default().build()
}

#[derive(Default)]
pub struct ExtBuilder {
	datasets: Vec<GenesisDataset<AccountId>>,
}

impl ExtBuilder {
	/// Starts the chain with these genesis datasets.
	pub fn with_datasets(mut self, datasets: Vec<GenesisDataset<AccountId>>) -> Self {
		self.datasets = datasets;
		self
	}

	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		pallet_balances::GenesisConfig::<Test> {
			balances: vec![
				(ALICE, ENDOWMENT),
				(BOB, ENDOWMENT),
				(CHARLIE, ENDOWMENT),
				(PAUPER, 50),
				(TREASURY, EXISTENTIAL_DEPOSIT),
			],
			..Default::default()
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		GenesisConfig::<Test> { datasets: self.datasets }.assimilate_storage(&mut storage).unwrap();
		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| {
			System::set_block_number(1);
			WEIGHT_CHANGES.with(|changes| changes.borrow_mut().clear());
		});
		ext
	}

	/// Runs `test`, then checks this pallet's invariants (the only pallet here with checks
	/// callable from a test: pallet-balances' `do_try_state` is private to its crate), and
	/// that no balance was minted or burnt (slashed deposits go to the treasury).
	pub fn build_and_execute(self, test: impl FnOnce()) {
		self.build().execute_with(|| {
			let issuance = pallet_balances::TotalIssuance::<Test>::get();
			test();
			assert_eq!(pallet_balances::TotalIssuance::<Test>::get(), issuance, "no mint or burn");
			Datasets::do_try_state().expect("invariants hold after the test");
		});
	}
}
