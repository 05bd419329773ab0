//! What fixes time, money, block size and the bounds several pallets share. Each pallet's
//! configuration in [`crate::configs`] takes what it needs from here, so that no configuration
//! file reads another's.

use polkadot_sdk::*;

use frame_support::{
	dispatch::DispatchClass,
	parameter_types,
	weights::{
		constants::{BlockExecutionWeight, ExtrinsicBaseWeight, WEIGHT_REF_TIME_PER_SECOND},
		Weight,
	},
	PalletId,
};
use frame_system::limits::{BlockLength, BlockWeights};
use sp_runtime::{traits::AccountIdConversion, Perbill};

use crate::{AccountId, Balance, BlockNumber};

// Time.

/// Target block time on a relay chain. `--dev` seals faster and mocks the relay chain, so a dev
/// chain's clock runs ahead; time in the runtime is counted in blocks.
pub const MILLI_SECS_PER_BLOCK: u64 = 6000;
/// Aura slot length. Changing it on a live chain stops block production.
pub const SLOT_DURATION: u64 = MILLI_SECS_PER_BLOCK;

pub const MINUTES: BlockNumber = 60_000 / (MILLI_SECS_PER_BLOCK as BlockNumber);
pub const HOURS: BlockNumber = MINUTES * 60;
pub const DAYS: BlockNumber = HOURS * 24;

// Money.

/// The token symbol. (`build.rs` names it again for the metadata hash.)
pub const TOKEN_SYMBOL: &str = "TRIB";
/// Decimal places of one TRIB. (`build.rs` names them again for the metadata hash.)
pub const TOKEN_DECIMALS: u8 = 12;
/// The SS58 address format: 42, the generic Substrate prefix.
pub const SS58_PREFIX: u16 = 42;

/// One TRIB.
pub const TRIB: Balance = 1_000_000_000_000;
pub const MILLI_TRIB: Balance = TRIB / 1_000;
pub const MICRO_TRIB: Balance = TRIB / 1_000_000;

/// The least balance an account must hold to exist.
pub const EXISTENTIAL_DEPOSIT: Balance = MILLI_TRIB;

/// A deposit for `items` storage items taking `bytes` bytes.
pub const fn deposit(items: u32, bytes: u32) -> Balance {
	(items as Balance) * 20 * TRIB / 100 + (bytes as Balance) * 100 * MICRO_TRIB
}

// Blocks.

/// The share of block weight set aside for the hooks that run before a block's transactions
/// (`on_initialize` and the validation-data inherent's closes and draws): their worst case
/// (expiries, windows closed, juries drawn and judged, slashes and output pruning at their
/// bounds, about 5.3 MB of proof, each storage item a call touches charged in full) fits in it
/// (`tests::block_capacity_for_settlements_and_hooks`). The largest transaction a block admits
/// is what is left of the normal share (75 % − 55 % = 20 % of a block), so that one always
/// fits beside the hooks.
pub const AVERAGE_ON_INITIALIZE_RATIO: Perbill = Perbill::from_percent(55);

/// Normal transactions may fill 75% of a block; the rest is kept for operational ones.
pub const NORMAL_DISPATCH_RATIO: Perbill = Perbill::from_percent(75);

/// Two seconds of compute per block, and the relay chain's proof-of-validity limit.
pub const MAXIMUM_BLOCK_WEIGHT: Weight = Weight::from_parts(
	WEIGHT_REF_TIME_PER_SECOND.saturating_mul(2),
	cumulus_primitives_core::relay_chain::MAX_POV_SIZE as u64,
);

parameter_types! {
	/// 5 MiB a block, of which normal transactions may fill [`NORMAL_DISPATCH_RATIO`].
	pub RuntimeBlockLength: BlockLength = BlockLength::builder()
		.max_length(5 * 1024 * 1024)
		.modify_max_length_for_class(DispatchClass::Normal, |max| {
			*max = NORMAL_DISPATCH_RATIO * *max;
		})
		.build();
	/// [`MAXIMUM_BLOCK_WEIGHT`] a block, of which normal transactions may fill
	/// [`NORMAL_DISPATCH_RATIO`].
	pub RuntimeBlockWeights: BlockWeights = BlockWeights::builder()
		.base_block(BlockExecutionWeight::get())
		.for_class(DispatchClass::all(), |weights| {
			weights.base_extrinsic = ExtrinsicBaseWeight::get();
		})
		.for_class(DispatchClass::Normal, |weights| {
			weights.max_total = Some(NORMAL_DISPATCH_RATIO * MAXIMUM_BLOCK_WEIGHT);
		})
		.for_class(DispatchClass::Operational, |weights| {
			weights.max_total = Some(MAXIMUM_BLOCK_WEIGHT);
			// Operational transactions still fit when normal ones have filled their share.
			weights.reserved = Some(
				MAXIMUM_BLOCK_WEIGHT - NORMAL_DISPATCH_RATIO * MAXIMUM_BLOCK_WEIGHT
			);
		})
		.avg_block_initialization(AVERAGE_ON_INITIALIZE_RATIO)
		.build_or_panic();
}

// The treasury, which several pallets pay into.

parameter_types! {
	pub const TreasuryPalletId: PalletId = PalletId(*b"py/trsry");
	/// The treasury's account: slashes, the treasury's share of fees and rounding dust go there.
	pub TreasuryAccount: AccountId = TreasuryPalletId::get().into_account_truncating();
}

// Bounds that tie pallets together.

/// The most datasets one model trains on, and so the most one adapter's lineage names
/// (pallet-models and the attribution ledger).
pub const MAX_MODEL_DATASETS: u32 = 16;

/// The most records one output's attribution names (pallet-inference and the attribution
/// ledger).
pub const MAX_ATTRIBUTIONS: u32 = 64;

/// The most requests made (and so expiring) in one block; the providers' slash queue takes as
/// many a block, since each expiry may penalise its provider.
pub const MAX_REQUESTS_PER_BLOCK: u32 = 64;

/// The providers drawn to judge a challenged or audited result.
pub const JURY_SIZE: u32 = 3;

/// The most juries drawn in one block; the rest wait their turn. Four a block is a sixteenth
/// of the most results one block settles, above the twentieth `AuditRate` draws, so that at
/// full load the audits leave room for challenges; the hooks' worst case
/// (`tests::block_capacity_for_settlements_and_hooks`) is what keeps it from being higher.
pub const MAX_JURIES_PER_BLOCK: u32 = 4;

/// Concurrent inference assignments per GPU a provider declares.
pub const ASSIGNMENTS_PER_GPU: u32 = 4;
