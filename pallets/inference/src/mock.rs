//! A runtime with balances, datasets, the attribution ledger, models, providers, royalties
//! and this pallet. Dataset 0 is open with ALICE's record 0 (weight 300) and BOB's record 1
//! (weight 100); model 0 is active with adapter 0 (lineage: dataset 0), priced 100 + 250 per
//! 1,000 input tokens + 1,000 per 1,000 output tokens, split 50/20/25/5; PROVIDER serves it
//! with operator OPERATOR.

use crate as pallet_inference;
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
	sp_runtime::{BuildStorage, Perbill, Permill},
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
	#[runtime::pallet_index(6)]
	pub type Royalties = pallet_royalties;
	#[runtime::pallet_index(7)]
	pub type Inference = pallet_inference;
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
pub const ENDOWMENT: Balance = 1_000_000;

pub const MIN_BOND: Balance = 100;
pub const BOND_PER_ASSIGNMENT: Balance = 10;
pub const PER_GPU: u32 = 2;
pub const MAX_MODEL_DATASETS: u32 = 4;
pub const MAX_PROVIDERS_PER_MODEL: u32 = 8;

parameter_types! {
	pub const TreasuryAccount: AccountId = TREASURY;
	/// Zero unless a test sets it.
	pub storage RequestFee: Balance = 0;
	/// No audits unless a test sets it.
	pub storage Audits: Perbill = Perbill::from_parts(0);
}

pub const CHALLENGE_BOND: Balance = 500;
pub const WRONG_RESULT_SLASH: Balance = 50;

#[derive_impl(pallet_datasets::config_preludes::TestDefaultConfig)]
impl pallet_datasets::Config for Test {
	type Currency = Balances;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type RemoveOrigin = EnsureRoot<AccountId>;
	type WeightObserver = Royalties;
	type OnContributionRemoved = Attribution;
	type MaxContributionsPerDataset = ConstU32<1_000>;
}

#[derive_impl(pallet_attribution::config_preludes::TestDefaultConfig)]
impl pallet_attribution::Config for Test {
	type MaxLineage = ConstU32<MAX_MODEL_DATASETS>;
}

#[derive_impl(pallet_models::config_preludes::TestDefaultConfig)]
impl pallet_models::Config for Test {
	type Currency = Balances;
	type Datasets = Datasets;
	type Lineage = Attribution;
	type GovernanceOrigin = EnsureRoot<AccountId>;
	type MaxModelDatasets = ConstU32<MAX_MODEL_DATASETS>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkSetup;
}

pallet_providers::impl_mock_offchain_signing!(Test, RuntimeCall);

#[derive_impl(pallet_providers::config_preludes::TestDefaultConfig)]
impl pallet_providers::Config for Test {
	type AuthorityId = pallet_providers::offchain::testing::MockAuthId;
	type Currency = Balances;
	type Slash = ResolveTo<TreasuryAccount, Balances>;
	type Models = Models;
	type SlashOrigin = EnsureRoot<AccountId>;
	type MinProviderBond = ConstU128<MIN_BOND>;
	type BondPerAssignment = ConstU128<BOND_PER_ASSIGNMENT>;
	type AssignmentsPerGpu = ConstU32<PER_GPU>;
	type MaxProvidersPerModel = ConstU32<MAX_PROVIDERS_PER_MODEL>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkSetup;
}

fn split() -> RoyaltySplit {
	RoyaltySplit {
		provider: Permill::from_percent(50),
		owner: Permill::from_percent(20),
		data: Permill::from_percent(25),
		treasury: Permill::from_percent(5),
	}
}

pub const PROVIDER: AccountId = 20;
pub const OPERATOR: AccountId = 21;
pub const REQUESTER: AccountId = 30;
pub const TIMEOUT: u64 = 10;
/// Accounts endowed for tests that register more providers of model 0 (as jurors), each with
/// its operator; none is registered unless a test does it.
pub const JURORS: [(AccountId, AccountId); 4] = [(40, 41), (42, 43), (44, 45), (46, 47)];

#[derive_impl(pallet_royalties::config_preludes::TestDefaultConfig)]
impl pallet_royalties::Config for Test {
	type Currency = Balances;
	type TreasuryAccount = TreasuryAccount;
	type Datasets = Datasets;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkSetup;
}

#[derive_impl(config_preludes::TestDefaultConfig as DefaultConfig)]
impl Config for Test {
	type AuthorityId = pallet_providers::offchain::testing::MockAuthId;
	type Currency = Balances;
	type Models = Models;
	type Providers = Providers;
	type Lineage = Attribution;
	type Datasets = Datasets;
	type Royalties = Royalties;
	type Ledger = Attribution;
	type Treasury = TreasuryAccount;
	type RequestFee = RequestFee;
	type RequestTimeout = ConstU64<TIMEOUT>;
	type Judging = Providers;
	type ChallengeBond = ConstU128<CHALLENGE_BOND>;
	type WrongResultSlash = ConstU128<WRONG_RESULT_SLASH>;
	type AuditRate = Audits;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkSetup;
}

/// Served models for the benchmarks, through the pallets' own calls (and what the other
/// pallets' benchmarks would need of this runtime).
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkSetup;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_models::BenchmarkHelper<AccountId> for BenchmarkSetup {
	fn create_dataset(curator: &AccountId) -> DatasetId {
		let dataset_id = pallet_datasets::NextDatasetId::<Test>::get();
		Datasets::create_dataset(
			RuntimeOrigin::signed(*curator),
			b"bench".to_vec(),
			Vec::new(),
			b"CC0-1.0".to_vec(),
			pallet_datasets::Policy::Open,
		)
		.unwrap();
		dataset_id
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl pallet_royalties::BenchmarkHelper<AccountId> for BenchmarkSetup {
	fn dataset_with_contributor(index: u32, who: &AccountId, weight: u64) -> DatasetId {
		use pallet_models::BenchmarkHelper as _;
		let dataset_id = Self::create_dataset(&OWNER);
		let _ = index;
		let record = vec![b'r'; weight as usize];
		pallet_datasets::note_contribution::<Test>(dataset_id, None, record.clone());
		Datasets::contribute(RuntimeOrigin::signed(*who), dataset_id, None, record).unwrap();
		dataset_id
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl pallet_providers::BenchmarkHelper<AccountId> for BenchmarkSetup {
	fn active_model(_owner: &AccountId) -> ModelId {
		BenchmarkSetup::served_model(1, 0, 1).0
	}
}

#[cfg(feature = "runtime-benchmarks")]
impl BenchmarkHelper<AccountId> for BenchmarkSetup {
	fn served_model(
		contributors: u32,
		records: u32,
		assignments: u32,
	) -> (ModelId, Vec<(DatasetId, ContributionId)>) {
		use polkadot_sdk::frame_support::traits::fungible::Mutate;
		let fund = |who: AccountId| {
			let _ = Balances::mint_into(&who, ENDOWMENT);
		};
		use pallet_models::BenchmarkHelper as _;
		let curator: AccountId = 1_000;
		fund(curator);
		// The longest lineage: the first dataset holds `contributors` records, each of the
		// others one.
		let datasets: Vec<DatasetId> =
			(0..MAX_MODEL_DATASETS).map(|_| Self::create_dataset(&curator)).collect();
		let dataset_id = datasets[0];
		Datasets::benchmark_contributions(dataset_id, 0, contributors, 1).unwrap();
		for (index, other) in (contributors..).zip(&datasets[1..]) {
			Datasets::benchmark_contributions(*other, index, 1, 1).unwrap();
		}
		let model_id = pallet_models::NextModelId::<Test>::get();
		let mut model = genesis_model();
		Models::propose_model(
			RuntimeOrigin::signed(OWNER),
			b"bench".to_vec(),
			b"base".to_vec(),
			H256::zero(),
			datasets.clone(),
			Vec::new(),
			model.pricing,
			model.royalty_split,
		)
		.unwrap();
		Models::approve_model(RuntimeOrigin::root(), model_id).unwrap();
		let adapter = model.adapters.remove(0);
		Models::register_adapter(
			RuntimeOrigin::signed(OWNER),
			model_id,
			H256::repeat_byte(9),
			adapter.rank,
			adapter.alpha,
			Vec::new(),
			datasets.iter().map(|id| (*id, 1)).collect(),
		)
		.unwrap();
		for index in 0..MAX_PROVIDERS_PER_MODEL {
			let (provider, operator) = (2_000 + u64::from(index), 3_000 + u64::from(index));
			fund(provider);
			fund(operator);
			Providers::register(
				RuntimeOrigin::signed(provider),
				pallet_providers::HardwareSpec {
					gpu_model: BoundedVec::truncate_from(b"H100".to_vec()),
					vram_gib: 80,
					gpu_count: assignments.div_ceil(PER_GPU),
					region: BoundedVec::truncate_from(b"eu".to_vec()),
					endpoint: None,
				},
				operator,
				// Bonded enough for every assignment (capacity costs stake).
				MIN_BOND.max(u128::from(assignments) * BOND_PER_ASSIGNMENT),
			)
			.unwrap();
			Providers::serve(RuntimeOrigin::signed(provider), model_id).unwrap();
		}
		(model_id, (0..records).map(|id| (dataset_id, id)).collect())
	}

	fn keep_providers_online() {
		let now = System::block_number();
		for (who, mut record) in pallet_providers::Providers::<Test>::iter() {
			record.last_heartbeat = now;
			pallet_providers::Providers::<Test>::insert(who, record);
		}
	}

	fn max_contributors() -> u32 {
		1_000
	}
}

/// The record `contributor` contributes in these tests: its id as a byte, `length` times (ALICE's
/// 300 and BOB's 100 bytes at genesis).
pub fn record_of(contributor: AccountId, length: u64) -> Vec<u8> {
	vec![contributor as u8; length as usize]
}

/// The content hash of [`record_of`].
pub fn record_hash(contributor: AccountId, length: u64) -> H256 {
	H256::from(sp_io::hashing::blake2_256(&record_of(contributor, length)))
}

fn genesis_model() -> pallet_models::GenesisModel<AccountId, Balance> {
	pallet_models::GenesisModel {
		owner: OWNER,
		name: "model".into(),
		base_model: "base".into(),
		base_model_hash: H256::zero(),
		datasets: vec![0],
		spec_uri: String::new(),
		pricing: Pricing { base_fee: 100, per_1k_input_tokens: 250, per_1k_output_tokens: 1_000 },
		royalty_split: split(),
		adapters: vec![pallet_models::GenesisAdapter {
			artifact_hash: H256::repeat_byte(7),
			rank: 8,
			alpha: 8,
			uri: "https://adapters.test/rhine".into(),
			lineage: vec![(0, 1)],
		}],
	}
}

/// The chain every test starts from, for the benchmarks.
#[cfg(feature = "runtime-benchmarks")]
pub fn new_test_ext() -> sp_io::TestExternalities {
	ExtBuilder.build()
}

/// The chain described at the top of this file, at block 1: every test starts from it.
pub struct ExtBuilder;

impl ExtBuilder {
	pub fn build(self) -> sp_io::TestExternalities {
		let mut storage = frame_system::GenesisConfig::<Test>::default().build_storage().unwrap();
		pallet_balances::GenesisConfig::<Test> {
			balances: [ALICE, BOB, CHARLIE, OWNER, TREASURY, PROVIDER, OPERATOR, REQUESTER]
				.into_iter()
				.chain(JURORS.iter().flat_map(|&(juror, operator)| [juror, operator]))
				.map(|who| (who, ENDOWMENT))
				.collect(),
			..Default::default()
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		let record = |contributor: AccountId, length: u64| pallet_datasets::GenesisContribution {
			contributor,
			record: String::from_utf8(record_of(contributor, length)).expect("ASCII"),
			uri: None,
		};
		pallet_datasets::GenesisConfig::<Test> {
			datasets: vec![pallet_datasets::GenesisDataset {
				curator: OWNER,
				name: "data".into(),
				metadata_uri: String::new(),
				license: "CC0-1.0".into(),
				policy: pallet_datasets::Policy::Open,
				contributions: vec![record(ALICE, 300), record(BOB, 100)],
			}],
		}
		.assimilate_storage(&mut storage)
		.unwrap();
		pallet_models::GenesisConfig::<Test> { models: vec![genesis_model()] }
			.assimilate_storage(&mut storage)
			.unwrap();
		pallet_royalties::GenesisConfig::<Test>::default()
			.assimilate_storage(&mut storage)
			.unwrap();
		let mut ext = sp_io::TestExternalities::new(storage);
		ext.execute_with(|| {
			System::set_block_number(1);
			serving_provider(PROVIDER, OPERATOR).unwrap();
			// What the runtime notes from the relay state proof in every block's validation
			// inherent (the relay chain is outside what these tests run).
			Inference::note_draw_randomness(Some(relay_randomness(1)), 1);
		});
		ext
	}

	/// Runs `test`, then checks the invariants of every pallet here that has them and that no
	/// balance was minted or burnt.
	pub fn build_and_execute(self, test: impl FnOnce()) {
		execute_and_check(self.build(), test);
	}

	/// Runs `test` with an off-chain worker whose local operator keys are `keys` (`test` gets its
	/// harness), then checks as `build_and_execute` does.
	pub fn build_and_execute_with_worker(
		self,
		keys: impl IntoIterator<Item = AccountId>,
		test: impl FnOnce(&pallet_providers::offchain::testing::OffchainHarness),
	) {
		let mut ext = self.build();
		let harness = pallet_providers::offchain::testing::offchain_harness(&mut ext, keys);
		execute_and_check(ext, || test(&harness));
	}
}

/// Runs `test` on `ext`, then checks the invariants of datasets, the attribution ledger,
/// models, providers, royalties and this pallet (pallet-balances' are private to its crate),
/// and that no balance was minted or burnt.
fn execute_and_check(mut ext: sp_io::TestExternalities, test: impl FnOnce()) {
	ext.execute_with(|| {
		let issuance = pallet_balances::TotalIssuance::<Test>::get();
		test();
		Datasets::do_try_state().expect("datasets invariants hold after the test");
		Attribution::do_try_state().expect("attribution invariants hold after the test");
		Models::do_try_state().expect("models invariants hold after the test");
		Providers::do_try_state().expect("providers invariants hold after the test");
		Royalties::do_try_state().expect("royalties invariants hold after the test");
		Inference::do_try_state().expect("inference invariants hold after the test");
		assert_eq!(pallet_balances::TotalIssuance::<Test>::get(), issuance, "no mint or burn");
	});
}

/// Registers `provider` with `operator` on one H100, bonding `MIN_BOND`, and serves model 0.
pub fn serving_provider(provider: AccountId, operator: AccountId) -> DispatchResult {
	Providers::register(
		RuntimeOrigin::signed(provider),
		pallet_providers::HardwareSpec {
			gpu_model: BoundedVec::truncate_from(b"H100".to_vec()),
			vram_gib: 80,
			gpu_count: 1,
			region: BoundedVec::truncate_from(b"eu".to_vec()),
			endpoint: None,
		},
		operator,
		MIN_BOND,
	)?;
	Providers::serve(RuntimeOrigin::signed(provider), 0)
}

/// Moves to block `n`, running the hooks at each block on the way.
pub fn run_to(n: u64) {
	while System::block_number() < n {
		let next = System::block_number() + 1;
		System::set_block_number(next);
		Attribution::on_initialize(next);
		Providers::on_initialize(next);
		Inference::on_initialize(next);
		Inference::note_draw_randomness(Some(relay_randomness(next)), next as u32);
		// The block's spare weight, after its transactions: vested results are paid.
		Inference::on_idle(next, Weight::MAX);
	}
}

/// The relay chain's randomness at parachain block `n` in these tests: a different value each
/// block, as the relay chain's BABE randomness is.
pub fn relay_randomness(n: u64) -> [u8; 32] {
	sp_io::hashing::blake2_256(&n.to_le_bytes())
}
