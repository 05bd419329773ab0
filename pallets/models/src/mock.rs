//! A runtime with balances, the datasets pallet, the attribution ledger and this pallet: the
//! pallets models work with, as they are.

use crate as pallet_models;
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
	pub type Attribution = pallet_attribution;
	#[runtime::pallet_index(4)]
	pub type Models = pallet_models;
}

#[derive_impl(frame_system::config_preludes::TestDefaultConfig)]
impl frame_system::Config for Test {
	type Block = Block;
	type AccountData = pallet_balances::AccountData<Balance>;
}

#[derive_impl(pallet_balances::config_preludes::TestDefaultConfig)]
impl pallet_balances::Config for Test {
	type Balance = Balance;
	type AccountStore = System;
}

pub const TREASURY: AccountId = 99;
pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
/// An account with too little to pay any deposit.
pub const PAUPER: AccountId = 4;
/// The most a model charges per 1,000 tokens here.
pub const MAX_TOKEN_PRICE: Balance = 1_000;
pub const ENDOWMENT: Balance = 1_000_000;

parameter_types! {
	pub const TreasuryAccount: AccountId = TREASURY;
}

#[derive_impl(pallet_datasets::config_preludes::TestDefaultConfig)]
impl pallet_datasets::Config for Test {
	type Currency = Balances;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type RemoveOrigin = EnsureRoot<AccountId>;
	type DatasetDeposit = ConstU128<100>;
	type ContributionDeposit = ConstU128<10>;
	type DepositPerByte = ConstU128<1>;
	type DepositPerDataByte = ConstU128<1>;
}

#[derive_impl(pallet_attribution::config_preludes::TestDefaultConfig)]
impl pallet_attribution::Config for Test {
	type MaxLineage = ConstU32<MAX_MODEL_DATASETS>;
}

pub const MODEL_DEPOSIT: Balance = 1_000;
pub const ADAPTER_DEPOSIT: Balance = 200;
pub const PER_BYTE: Balance = 2;
pub const PER_DATASET: Balance = 10;
pub const MAX_MODEL_DATASETS: u32 = 3;
pub const MAX_ADAPTERS: u32 = 3;
pub const MAX_RANK: u32 = 64;

#[derive_impl(config_preludes::TestDefaultConfig as DefaultConfig)]
impl Config for Test {
	type Currency = Balances;
	type Datasets = Datasets;
	type Lineage = Attribution;
	type GovernanceOrigin = EnsureRoot<AccountId>;
	type ModelDeposit = ConstU128<MODEL_DEPOSIT>;
	type AdapterDeposit = ConstU128<ADAPTER_DEPOSIT>;
	type DepositPerByte = ConstU128<PER_BYTE>;
	type DepositPerDataset = ConstU128<PER_DATASET>;
	type MaxModelDatasets = ConstU32<MAX_MODEL_DATASETS>;
	type MaxAdaptersPerModel = ConstU32<MAX_ADAPTERS>;
	type MaxLoraRank = ConstU32<MAX_RANK>;
	type MinBaseFee = ConstU128<1>;
	type MaxTokenPrice = ConstU128<MAX_TOKEN_PRICE>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = DatasetMaker;
}

/// Creates datasets through the datasets pallet's own call.
#[cfg(feature = "runtime-benchmarks")]
pub struct DatasetMaker;
#[cfg(feature = "runtime-benchmarks")]
impl BenchmarkHelper<AccountId> for DatasetMaker {
	fn create_dataset(curator: &AccountId) -> DatasetId {
		let dataset_id = pallet_datasets::NextDatasetId::<Test>::get();
		Datasets::create_dataset(
			RuntimeOrigin::signed(*curator),
			b"benchmark data".to_vec(),
			b"ipfs://data".to_vec(),
			b"CC0-1.0".to_vec(),
			pallet_datasets::Policy::Open,
		)
		.expect("the benchmark dataset is valid");
		dataset_id
	}
}

/// Test externalities with endowed accounts, for the benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub fn new_test_ext() -> sp_io::TestExternalities {
	ExtBuilder.build()
}

/// Endowed accounts and three datasets (ids 0, 1, 2) curated by Bob, at block 1: every test
/// starts from this chain.
pub struct ExtBuilder;

impl ExtBuilder {
	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		pallet_balances::GenesisConfig::<Test> {
			balances: vec![(ALICE, ENDOWMENT), (BOB, ENDOWMENT), (PAUPER, 1_050), (TREASURY, 1)],
			..Default::default()
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		pallet_datasets::GenesisConfig::<Test> {
			datasets: ["rivers", "lakes", "seas"]
				.into_iter()
				.map(|name| pallet_datasets::GenesisDataset {
					curator: BOB,
					name: name.into(),
					metadata_uri: format!("ipfs://{name}"),
					license: "CC-BY-4.0".into(),
					policy: pallet_datasets::Policy::Open,
					contributions: vec![],
				})
				.collect(),
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| System::set_block_number(1));
		ext
	}

	/// Runs `test`, then checks the invariants of every pallet here that has them: datasets,
	/// the attribution ledger and this one (pallet-balances' are private to its crate), and
	/// that no balance was minted or burnt.
	pub fn build_and_execute(self, test: impl FnOnce()) {
		self.build().execute_with(|| {
			let issuance = pallet_balances::TotalIssuance::<Test>::get();
			test();
			assert_eq!(pallet_balances::TotalIssuance::<Test>::get(), issuance, "no mint or burn");
			pallet_datasets::Pallet::<Test>::do_try_state()
				.expect("datasets invariants hold after the test");
			Attribution::do_try_state().expect("attribution invariants hold after the test");
			Models::do_try_state().expect("models invariants hold after the test");
		});
	}
}
