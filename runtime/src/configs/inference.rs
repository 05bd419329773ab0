//! Paid inference and royalties, and the signed transactions off-chain workers send.
//!
//! A provider has 20 blocks (2 minutes) to answer a request; at most 64 requests expire in one
//! block, so at most 64 are made in one. Half of a fee's data share goes to the records an
//! output matched (when it matched any), the rest to its adapter's lineage datasets' pools.
//!
//! Off-chain workers (providers' heartbeats, inference results) sign with the node's operator
//! key (key type `trib`, sr25519), as the account of that key, through the same transaction
//! extensions as any signed transaction.

#[cfg(feature = "runtime-benchmarks")]
use alloc::vec::Vec;
use polkadot_sdk::*;

use frame_support::{parameter_types, traits::ConstU32, PalletId};
use sp_runtime::Perbill;

use super::governance::TreasuryAccount;
use crate::{
	AccountId, Attribution, Balances, BlockNumber, Datasets, Models, Nonce, Providers, Royalties,
	Runtime, RuntimeCall, RuntimeHoldReason, Signature, System, TxExtension, UncheckedExtrinsic,
	MINUTES,
};

impl frame_system::offchain::SigningTypes for Runtime {
	type Public = <Signature as sp_runtime::traits::Verify>::Signer;
	type Signature = Signature;
}

impl<C> frame_system::offchain::CreateTransactionBase<C> for Runtime
where
	RuntimeCall: From<C>,
{
	type Extrinsic = UncheckedExtrinsic;
	type RuntimeCall = RuntimeCall;
}

impl<C> frame_system::offchain::CreateSignedTransaction<C> for Runtime
where
	RuntimeCall: From<C>,
{
	fn create_signed_transaction<
		A: frame_system::offchain::AppCrypto<Self::Public, Self::Signature>,
	>(
		call: RuntimeCall,
		public: Self::Public,
		account: AccountId,
		nonce: Nonce,
	) -> Option<UncheckedExtrinsic> {
		use codec::Encode;
		use sp_runtime::{
			generic::{Era, SignedPayload},
			traits::{SaturatedConversion, StaticLookup},
		};
		// Mortal for the longest power of two within the block hashes kept.
		let period = polkadot_runtime_common::BlockHashCount::get()
			.checked_next_power_of_two()
			.map(|c| c / 2)
			.unwrap_or(2) as u64;
		let current = System::block_number().saturated_into::<u64>().saturating_sub(1);
		let extension: TxExtension = (
			frame_system::CheckNonZeroSender::<Runtime>::new(),
			frame_system::CheckSpecVersion::<Runtime>::new(),
			frame_system::CheckTxVersion::<Runtime>::new(),
			frame_system::CheckGenesis::<Runtime>::new(),
			frame_system::CheckEra::<Runtime>::from(Era::mortal(period, current)),
			frame_system::CheckNonce::<Runtime>::from(nonce),
			frame_system::CheckWeight::<Runtime>::new(),
			pallet_transaction_payment::ChargeTransactionPayment::<Runtime>::from(0),
		)
			.into();
		let payload = SignedPayload::new(call, extension)
			.map_err(|e| log::warn!(target: "runtime::offchain", "cannot sign: {e:?}"))
			.ok()?;
		let signature = payload.using_encoded(|bytes| A::sign(bytes, public))?;
		let (call, extension, _) = payload.deconstruct();
		let address = <Runtime as frame_system::Config>::Lookup::unlookup(account);
		Some(UncheckedExtrinsic::new_signed(call, address, signature, extension))
	}
}

parameter_types! {
	pub const RoyaltiesPalletId: PalletId = PalletId(*b"trb/roya");
	pub const SpanShare: Perbill = Perbill::from_percent(50);
	pub const RequestTimeout: BlockNumber = 2 * MINUTES;
}

/// The most records one output's attribution names (the attribution ledger's bound too).
pub const MAX_ATTRIBUTIONS: u32 = 64;

/// The most requests made (and so expiring) in one block; the providers' slash queue takes as
/// many a block.
pub const MAX_REQUESTS_PER_BLOCK: u32 = 64;

impl pallet_royalties::Config for Runtime {
	type Currency = Balances;
	type PalletId = RoyaltiesPalletId;
	type TreasuryAccount = TreasuryAccount;
	type Datasets = Datasets;
	type SpanShare = SpanShare;
	type MaxClaimDatasets = ConstU32<16>;
	type WeightInfo = pallet_royalties::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkDatasets;
}

impl pallet_inference::Config for Runtime {
	type AuthorityId = pallet_providers::offchain::crypto::OperatorAuthId;
	type Currency = Balances;
	type RuntimeHoldReason = RuntimeHoldReason;
	type Models = Models;
	type Providers = Providers;
	type Lineage = Attribution;
	type Datasets = Datasets;
	type Royalties = Royalties;
	type Ledger = Attribution;
	type RequestTimeout = RequestTimeout;
	type MaxPromptLength = ConstU32<8_192>;
	type MaxOutputLength = ConstU32<8_192>;
	type MaxTokens = ConstU32<1_024>;
	type MaxAttributions = ConstU32<MAX_ATTRIBUTIONS>;
	type MaxRequestsPerBlock = ConstU32<MAX_REQUESTS_PER_BLOCK>;
	type WeightInfo = pallet_inference::weights::SubstrateWeight<Runtime>;
	#[cfg(feature = "runtime-benchmarks")]
	type BenchmarkHelper = BenchmarkInference;
}

/// Served models for the inference benchmarks, through the pallets' own calls but for the
/// lineage's records, which pallet-datasets' benchmark helper writes.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkInference;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_inference::BenchmarkHelper<AccountId> for BenchmarkInference {
	fn served_model(
		contributors: u32,
		records: u32,
		assignments: u32,
	) -> (pallet_models::ModelId, Vec<(u32, u32)>) {
		use frame_support::traits::fungible::Mutate;
		use pallet_models::BenchmarkHelper as _;
		use sp_runtime::Permill;
		type MaxProvidersPerModel = <Runtime as pallet_providers::Config>::MaxProvidersPerModel;
		let funded = |name: &'static str, index: u32| -> AccountId {
			let who: AccountId = frame_benchmarking::account(name, index, 0);
			let _ = Balances::mint_into(&who, 100_000 * crate::TRIB);
			who
		};
		let signed = |who: &AccountId| crate::RuntimeOrigin::signed(who.clone());
		let owner = funded("owner", 0);
		// The longest lineage: the first dataset holds `contributors` records, each of the
		// others one, so that every pool settles. The records are written straight into
		// storage (without deposits), so that 100,000 of them take seconds.
		let datasets: Vec<u32> = (0..super::models::MAX_MODEL_DATASETS)
			.map(|_| super::models::BenchmarkDatasets::create_dataset(&owner))
			.collect();
		let dataset_id = datasets[0];
		let contributed = Datasets::benchmark_contributions(dataset_id, 0, contributors, 64);
		assert!(contributed.is_ok(), "the benchmark records are valid: {contributed:?}");
		for (index, other) in (contributors..).zip(&datasets[1..]) {
			let contributed = Datasets::benchmark_contributions(*other, index, 1, 64);
			assert!(contributed.is_ok(), "the benchmark record is valid: {contributed:?}");
		}
		let model_id = super::models::benchmark_model(
			&owner,
			datasets,
			pallet_models::Pricing {
				base_fee: crate::TRIB / 100,
				per_1k_input_tokens: crate::TRIB / 1_000,
				per_1k_output_tokens: crate::TRIB / 500,
			},
			pallet_models::RoyaltySplit {
				provider: Permill::from_percent(45),
				owner: Permill::from_percent(20),
				data: Permill::from_percent(30),
				treasury: Permill::from_percent(5),
			},
		);
		// As many providers as may serve one model, for the draw to choose from.
		let providers = <MaxProvidersPerModel as frame_support::traits::Get<u32>>::get();
		for index in 0..providers {
			let provider = funded("provider", index);
			let operator = funded("operator", index);
			let spec = pallet_providers::HardwareSpec {
				gpu_model: Default::default(),
				vram_gib: 80,
				gpu_count: assignments.div_ceil(super::providers::ASSIGNMENTS_PER_GPU).max(1),
				region: Default::default(),
				endpoint: None,
			};
			let registered = Providers::register(
				signed(&provider),
				spec,
				operator,
				super::providers::MinProviderBond::get(),
			);
			assert!(registered.is_ok(), "the benchmark provider is valid: {registered:?}");
			let serving = Providers::serve(signed(&provider), model_id);
			assert!(serving.is_ok(), "the benchmark provider serves: {serving:?}");
		}
		(model_id, (0..records).map(|id| (dataset_id, id)).collect())
	}
}

/// Benchmarks' datasets, through pallet-datasets' own calls.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkDatasets;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_royalties::BenchmarkHelper<AccountId> for BenchmarkDatasets {
	fn dataset_with_contributor(index: u32, who: &AccountId, weight: u64) -> u32 {
		use frame_support::traits::fungible::Mutate;
		let curator: AccountId = frame_benchmarking::account("curator", index, 0);
		let _ = Balances::mint_into(&curator, 1_000 * crate::TRIB);
		let _ = Balances::mint_into(who, 1_000 * crate::TRIB);
		let dataset_id = pallet_datasets::NextDatasetId::<Runtime>::get();
		Datasets::create_dataset(
			crate::RuntimeOrigin::signed(curator),
			b"bench".to_vec(),
			Default::default(),
			b"CC0-1.0".to_vec(),
			pallet_datasets::Policy::Open,
		)
		.expect("a valid dataset");
		Datasets::contribute(
			crate::RuntimeOrigin::signed(who.clone()),
			dataset_id,
			sp_core::H256::repeat_byte(index as u8),
			weight,
			None,
		)
		.expect("a valid contribution");
		dataset_id
	}
}
