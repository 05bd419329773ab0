//! A runtime with balances, the datasets pallet (telling this pallet of weight changes) and
//! this pallet; dataset 0 is open, with ALICE's 300 and BOB's 100 weight accepted.

use crate as pallet_royalties;
use crate::*;
use polkadot_sdk::{
	frame_support::{
		derive_impl, parameter_types,
		traits::{tokens::imbalance::ResolveTo, ConstU128, ConstU32},
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
	#[runtime::pallet_index(3)]
	pub type Royalties = pallet_royalties;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type ExistentialDeposit = ConstU128<ED>;
	type AccountStore = System;
}

pub const ED: Balance = 5;
pub const TREASURY: AccountId = 99;
pub const PAYER: AccountId = 50;
pub const PROVIDER: AccountId = 20;
pub const OWNER: AccountId = 10;
pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CHARLIE: AccountId = 3;
pub const ENDOWMENT: Balance = 1_000_000_000_000;

parameter_types! {
	pub const TreasuryAccount: AccountId = TREASURY;
}

#[derive_impl(pallet_datasets::config_preludes::TestDefaultConfig)]
impl pallet_datasets::Config for Test {
	type Currency = Balances;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type RemoveOrigin = EnsureRoot<AccountId>;
	type WeightObserver = Royalties;
	type MaxRecordLength = ConstU32<1_000_000>;
	type MaxContributionsPerDataset = ConstU32<20>;
}

#[derive_impl(config_preludes::TestDefaultConfig as DefaultConfig)]
impl Config for Test {
	type Currency = Balances;
	type TreasuryAccount = TreasuryAccount;
	type Datasets = Datasets;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = DatasetsHelper;
}

/// Benchmarks' datasets: created by OWNER, open, with the contributor's weight accepted.
#[cfg(feature = "runtime-benchmarks")]
pub struct DatasetsHelper;

#[cfg(feature = "runtime-benchmarks")]
impl BenchmarkHelper<AccountId> for DatasetsHelper {
	fn dataset_with_contributor(_index: u32, who: &AccountId, weight: u64) -> DatasetId {
		use polkadot_sdk::frame_support::traits::fungible::Mutate;
		let _ = Balances::mint_into(who, 1_000);
		let dataset_id = create_open_dataset(b"bench", b"MIT");
		contribute(*who, dataset_id, weight);
		dataset_id
	}
}

/// Creates an open dataset named `name` (metadata at `ipfs://name`) by OWNER.
pub fn create_open_dataset(name: &[u8], license: &[u8]) -> DatasetId {
	let dataset_id = pallet_datasets::NextDatasetId::<Test>::get();
	pallet_datasets::Pallet::<Test>::create_dataset(
		RuntimeOrigin::signed(OWNER),
		name.to_vec(),
		[b"ipfs://", name].concat(),
		license.to_vec(),
		pallet_datasets::Policy::Open,
	)
	.unwrap();
	dataset_id
}

/// Contributes a record of `length` bytes to an open dataset (accepted at once): `who`'s weight
/// grows by it. Each call moves to the next block, whose number fills the record, so that no
/// two records of a test are the same bytes.
pub fn contribute(who: AccountId, dataset_id: DatasetId, length: u64) -> ContributionId {
	let next = pallet_datasets::Datasets::<Test>::get(dataset_id).unwrap().next_contribution_id;
	System::set_block_number(System::block_number() + 1);
	let mut record = System::block_number().to_le_bytes().to_vec();
	record.resize(length as usize, 0);
	pallet_datasets::note_contribution::<Test>(dataset_id, None, record.clone());
	pallet_datasets::Pallet::<Test>::contribute(
		RuntimeOrigin::signed(who),
		dataset_id,
		None,
		record,
	)
	.unwrap();
	next
}

/// The chain every test starts from, for the benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub fn new_test_ext() -> sp_io::TestExternalities {
	ExtBuilder.build()
}

/// Endowed accounts, two open datasets by OWNER (0 and 1) and ALICE's 300 and BOB's 100 weight
/// in dataset 0: every test starts from this chain.
pub struct ExtBuilder;

impl ExtBuilder {
	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		pallet_balances::GenesisConfig::<Test> {
			balances: [ALICE, BOB, CHARLIE, PAYER, OWNER, PROVIDER, TREASURY]
				.into_iter()
				.map(|who| (who, ENDOWMENT))
				.collect(),
			..Default::default()
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		GenesisConfig::<Test>::default().assimilate_storage(&mut storage).unwrap();
		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| {
			System::set_block_number(1);
			for _ in 0..2 {
				create_open_dataset(b"rivers", b"CC-BY-4.0");
			}
			contribute(ALICE, 0, 300);
			contribute(BOB, 0, 100);
		});
		ext
	}

	/// Runs `test`, then checks the invariants of datasets and this pallet (pallet-balances' are
	/// private to its crate) and that no balance was minted or burnt.
	pub fn build_and_execute(self, test: impl FnOnce()) {
		self.build().execute_with(|| {
			let issuance = pallet_balances::TotalIssuance::<Test>::get();
			test();
			Datasets::do_try_state().expect("datasets invariants hold after the test");
			Royalties::do_try_state().expect("royalties invariants hold after the test");
			assert_eq!(pallet_balances::TotalIssuance::<Test>::get(), issuance, "no mint or burn");
		});
	}
}
