//! # Tributary primitives
//!
//! The vocabulary Tributary's pallets share, so that no pallet depends on another: the ids of
//! datasets, contributions, models, adapters and requests; the records that cross pallet
//! boundaries (lineage shares, attributed and cited records, pricing, royalty splits, span
//! credits and fee distributions); and the traits through which one pallet asks another
//! (as `pallet-nomination-pools` meets staking through `sp-staking`).
//!
//! Each trait is implemented by the pallet that owns the data and named by the pallets that
//! use it in their `Config`; the runtime wires the two (`runtime/src/configs/`). A new
//! cross-pallet question goes here as a trait, in the module of the pallet that answers it.
//!
//! | module | owned by | asked by |
//! |---|---|---|
//! | [`datasets`] | pallet-datasets | models, inference, royalties (and royalties observes weights) |
//! | [`models`] | pallet-models | providers, inference |
//! | [`attribution`] | pallet-attribution | models (lineage), inference (lineage, outputs) |
//! | [`providers`] | pallet-providers | inference |
//! | [`royalties`] | pallet-royalties | inference |
//! | [`inference`] | pallet-inference | the runtime API and the off-chain worker's clients |
//!
//! [`deposits`] holds no trait: it is the storage-deposit pricing and tickets that
//! pallet-datasets and pallet-models share.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod attribution;
pub mod datasets;
pub mod deposits;
pub mod inference;
pub mod models;
pub mod providers;
pub mod royalties;

pub use attribution::{CitedRecord, LineageLedger, LineageShare, OutputLedger};
pub use datasets::{DatasetsInspect, OnContributionRemoved, WeightObserver};
pub use deposits::{RecordFootprint, RecordedTicket, TwoPartStoragePrice};
pub use inference::AttributedRecord;
pub use models::{ModelsInspect, Pricing, RoyaltySplit};
pub use providers::{ProviderAssignment, ProviderJudging};
pub use royalties::{Distribution, Settlement, SpanCredit};

use polkadot_sdk::sp_core::H256;

/// A length as the `u32` that weights and bounds count in. Saturating: a length past
/// `u32::MAX`, which no bounded value or block-limited input reaches, counts as `u32::MAX`
/// rather than wrapping to a small number.
pub fn len_u32(len: usize) -> u32 {
	u32::try_from(len).unwrap_or(u32::MAX)
}

/// Identifies a dataset. Assigned in order of creation, starting at 0.
pub type DatasetId = u32;

/// Identifies a contribution within its dataset. Assigned in order of submission, starting at 0.
pub type ContributionId = u32;

/// The blake2-256 hash of a contributed record's bytes.
pub type ContentHash = H256;

/// Identifies a model. Assigned in order of proposal, starting at 0.
pub type ModelId = u32;

/// A LoRA adapter's id, unique across all models.
pub type AdapterId = u32;

/// An inference request's number. Assigned in order of request, starting at 0.
pub type RequestId = u64;
