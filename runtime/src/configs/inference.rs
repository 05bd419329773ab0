//! Paid inference and royalties, and the signed transactions off-chain workers send.
//!
//! A provider has 20 blocks (2 minutes) to answer a request; at most 64 requests expire in one
//! block, so at most 64 are made in one. Half of a fee's data share goes to the records an
//! output matched (when it matched any), the rest to its adapter's lineage datasets' pools.
//!
//! Off-chain workers (providers' heartbeats, inference results) sign with the node's operator
//! key (key type `trib`, sr25519), as the account of that key, through the same transaction
//! extensions as any signed transaction.

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

impl pallet_royalties::Config for Runtime {
	type Currency = Balances;
	type PalletId = RoyaltiesPalletId;
	type TreasuryAccount = TreasuryAccount;
	type Datasets = Datasets;
	type SpanShare = SpanShare;
	type MaxClaimDatasets = ConstU32<16>;
	type WeightInfo = ();
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
	type MaxRequestsPerBlock = ConstU32<64>;
	type WeightInfo = ();
}

/// Benchmarks' datasets, through pallet-datasets' own calls.
#[cfg(feature = "runtime-benchmarks")]
pub struct BenchmarkDatasets;

#[cfg(feature = "runtime-benchmarks")]
impl pallet_royalties::BenchmarkHelper<crate::AccountId> for BenchmarkDatasets {
	fn dataset_with_contributor(index: u32, who: &crate::AccountId, weight: u64) -> u32 {
		use frame_support::traits::fungible::Mutate;
		let curator: crate::AccountId = frame_benchmarking::account("curator", index, 0);
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
