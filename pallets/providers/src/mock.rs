//! A runtime with balances, datasets, the attribution ledger, models and this pallet, started
//! with two active models (0 and 1) and one approved but not active (2).

use crate as pallet_providers;
use crate::*;
use polkadot_sdk::{
	frame_support::{
		derive_impl, parameter_types,
		traits::{tokens::imbalance::ResolveTo, ConstU128, ConstU32, ConstU64, Hooks},
	},
	frame_system::{self, EnsureRoot},
	pallet_balances,
	sp_core::H256,
	sp_io,
	sp_runtime::{BuildStorage, Permill},
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
	#[runtime::pallet_index(5)]
	pub type Providers = pallet_providers;
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
pub const OWNER: AccountId = 10;
pub const ALICE: AccountId = 1;
pub const BOB: AccountId = 2;
pub const CHARLIE: AccountId = 3;
/// Operators: ALICE's node signs with 11, BOB's with 12, CHARLIE's with 13.
pub const ALICE_OP: AccountId = 11;
pub const BOB_OP: AccountId = 12;
pub const CHARLIE_OP: AccountId = 13;
pub const ENDOWMENT: Balance = 1_000_000;

pub const MIN_BOND: Balance = 100;
pub const UNBONDING: u64 = 20;
pub const DEFER: u64 = 5;
pub const HEARTBEAT_INTERVAL: u64 = 3;
pub const OFFLINE_AFTER: u64 = 10;
pub const PER_GPU: u32 = 2;
pub const MAX_CHUNKS: u32 = 3;
pub const MAX_SERVED: u32 = 2;

parameter_types! {
	pub const TreasuryAccount: AccountId = TREASURY;
}

#[derive_impl(pallet_datasets::config_preludes::TestDefaultConfig)]
impl pallet_datasets::Config for Test {
	type Currency = Balances;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type RemoveOrigin = EnsureRoot<AccountId>;
}

#[derive_impl(pallet_attribution::config_preludes::TestDefaultConfig)]
impl pallet_attribution::Config for Test {}

#[derive_impl(pallet_models::config_preludes::TestDefaultConfig)]
impl pallet_models::Config for Test {
	type Currency = Balances;
	type Datasets = Datasets;
	type Lineage = Attribution;
	type GovernanceOrigin = EnsureRoot<AccountId>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkModels;
}

pallet_providers::impl_mock_offchain_signing!(Test, RuntimeCall);

#[derive_impl(config_preludes::TestDefaultConfig as DefaultConfig)]
impl Config for Test {
	type AuthorityId = offchain::testing::MockAuthId;
	type Currency = Balances;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type Models = Models;
	type SlashOrigin = EnsureRoot<AccountId>;
	type MinProviderBond = ConstU128<MIN_BOND>;
	type UnbondingPeriod = ConstU64<UNBONDING>;
	type SlashDeferDuration = ConstU64<DEFER>;
	type HeartbeatInterval = ConstU64<HEARTBEAT_INTERVAL>;
	type OfflineAfter = ConstU64<OFFLINE_AFTER>;
	type AssignmentsPerGpu = ConstU32<PER_GPU>;
	type MaxUnlockingChunks = ConstU32<MAX_CHUNKS>;
	type MaxServedModels = ConstU32<MAX_SERVED>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkModels;
}

/// Datasets and active models for the benchmarks, through the pallets' own calls.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkModels;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_models::BenchmarkHelper<AccountId> for BenchmarkModels {
	fn create_dataset(curator: &AccountId) -> pallet_datasets::DatasetId {
		let dataset_id = pallet_datasets::NextDatasetId::<Test>::get();
		Datasets::create_dataset(
			RuntimeOrigin::signed(*curator),
			b"data".to_vec(),
			vec![],
			b"CC0-1.0".to_vec(),
			pallet_datasets::Policy::Open,
		)
		.expect("valid");
		dataset_id
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl BenchmarkHelper<AccountId> for BenchmarkModels {
	fn active_model(owner: &AccountId) -> ModelId {
		let model_id = pallet_models::NextModelId::<Test>::get();
		let adapter_seed = (model_id as u8).wrapping_add(100);
		assert!(Models::propose_model(
			RuntimeOrigin::signed(*owner),
			b"bench".to_vec(),
			vec![],
			H256::zero(),
			vec![0],
			vec![],
			Default::default(),
			split(),
		)
		.is_ok());
		assert!(Models::approve_model(RuntimeOrigin::root(), model_id).is_ok());
		assert!(Models::register_adapter(
			RuntimeOrigin::signed(*owner),
			model_id,
			H256::repeat_byte(adapter_seed),
			8,
			8,
			vec![],
			vec![(0, 1)],
		)
		.is_ok());
		model_id
	}
}

fn split() -> pallet_models::RoyaltySplit {
	pallet_models::RoyaltySplit {
		provider: Permill::from_percent(50),
		owner: Permill::from_percent(20),
		data: Permill::from_percent(25),
		treasury: Permill::from_percent(5),
	}
}

fn genesis_model(adapter: Option<u8>) -> pallet_models::GenesisModel<AccountId, Balance> {
	pallet_models::GenesisModel {
		owner: OWNER,
		name: "model".into(),
		base_model: "base".into(),
		base_model_hash: H256::zero(),
		datasets: vec![0],
		spec_uri: String::new(),
		pricing: Default::default(),
		royalty_split: split(),
		adapters: adapter
			.map(|seed| pallet_models::GenesisAdapter {
				artifact_hash: H256::repeat_byte(seed),
				rank: 8,
				alpha: 8,
				uri: String::new(),
				lineage: vec![(0, 1)],
			})
			.into_iter()
			.collect(),
	}
}

/// Test externalities with the endowed accounts and the three models, for the benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub fn new_test_ext() -> sp_io::TestExternalities {
	ExtBuilder.build()
}

/// Endowed accounts, dataset 0 and the three models, at block 1: every test starts from this
/// chain.
pub struct ExtBuilder;

impl ExtBuilder {
	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		pallet_balances::GenesisConfig::<Test> {
			balances: [ALICE, BOB, CHARLIE, ALICE_OP, BOB_OP, CHARLIE_OP, OWNER, TREASURY]
				.into_iter()
				.map(|who| (who, ENDOWMENT))
				.collect(),
			..Default::default()
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		pallet_datasets::GenesisConfig::<Test> {
			datasets: vec![pallet_datasets::GenesisDataset {
				curator: OWNER,
				name: "data".into(),
				metadata_uri: String::new(),
				license: "CC0-1.0".into(),
				policy: pallet_datasets::Policy::Open,
				contributions: vec![],
			}],
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		pallet_models::GenesisConfig::<Test> {
			models: vec![genesis_model(Some(1)), genesis_model(Some(2)), genesis_model(None)],
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| System::set_block_number(1));
		ext
	}

	/// Runs `test`, then checks the invariants of every pallet here that has them.
	pub fn build_and_execute(self, test: impl FnOnce()) {
		execute_and_check(self.build(), test);
	}

	/// Runs `test` with an off-chain worker whose local operator keys are `keys` (`test` gets its
	/// harness), then checks the invariants of every pallet here that has them.
	pub fn build_and_execute_with_worker(
		self,
		keys: impl IntoIterator<Item = AccountId>,
		test: impl FnOnce(&offchain::testing::OffchainHarness),
	) {
		let mut ext = self.build();
		let harness = offchain::testing::offchain_harness(&mut ext, keys);
		execute_and_check(ext, || test(&harness));
	}
}

/// Runs `test` on `ext`, then checks the invariants of datasets, the attribution ledger,
/// models and this pallet (pallet-balances' are private to its crate), and that no balance was
/// minted or burnt (slashes go to the treasury).
fn execute_and_check(mut ext: sp_io::TestExternalities, test: impl FnOnce()) {
	ext.execute_with(|| {
		let issuance = pallet_balances::TotalIssuance::<Test>::get();
		test();
		assert_eq!(pallet_balances::TotalIssuance::<Test>::get(), issuance, "no mint or burn");
		Datasets::do_try_state().expect("datasets invariants hold after the test");
		Attribution::do_try_state().expect("attribution invariants hold after the test");
		Models::do_try_state().expect("models invariants hold after the test");
		Providers::do_try_state().expect("providers invariants hold after the test");
	});
}

/// Moves to block `n`, running this pallet's `on_initialize` at each block on the way.
pub fn run_to(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Providers::on_initialize(next);
	}
}
