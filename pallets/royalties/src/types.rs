//! The records this pallet keeps: dataset pools and contributors' positions in them, and what
//! an account may claim. The fee's division ([`crate::Distribution`]) and the span credits it
//! takes ([`crate::SpanCredit`]) are in `tributary-primitives`.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use scale_info::TypeInfo;
use tributary_primitives::DatasetId;

/// What an account could claim: its credits, its shares of dataset pools, and their sum.
#[derive(Encode, Decode, Clone, PartialEq, Eq, Debug, TypeInfo)]
#[cfg_attr(feature = "std", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase"))]
pub struct PendingRoyalties<Balance> {
	/// Credited as provider, model owner or contributor of attributed records (`claim`).
	pub credits: Balance,
	/// `[datasetId, amount]`: shares of dataset pools (`claim_from_datasets`).
	pub pools: Vec<(DatasetId, Balance)>,
	/// Credits and pool shares together: what can be claimed now.
	pub total: Balance,
	/// Credits of settlements still open to challenge (as provider, model owner or contributor
	/// of attributed records), claimable once their challenge windows close and taken back if
	/// a jury finds the result wrong; not in `total`. (Their pool parts reach the pools then.)
	pub vesting: Balance,
}

/// A dataset's reward pool.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	PartialEq,
	Eq,
	Debug,
	Default,
	TypeInfo,
	MaxEncodedLen,
)]
pub struct Pool<Balance> {
	/// Rewards per unit of weight ever added, times [`SCALE`].
	pub reward_per_weight: u128,
	/// What was put into the pool and not yet claimed.
	pub outstanding: Balance,
	/// What no contributor holds yet, in units of 10^-12 planck: the accumulator's division
	/// remainder and the fractions of a planck settlements rounded away. Added to the next
	/// fill.
	pub residue: u128,
}

/// A contributor's position in a dataset's pool: where its share of the pool was last
/// settled, and what it has earned and not yet claimed.
#[derive(
	Encode,
	Decode,
	DecodeWithMemTracking,
	Clone,
	PartialEq,
	Eq,
	Debug,
	Default,
	TypeInfo,
	MaxEncodedLen,
)]
pub struct PoolPosition<Balance> {
	/// The pool's accumulator when this contributor was last settled.
	pub reward_per_weight_paid: u128,
	/// Earned and settled, not yet claimed.
	pub accrued: Balance,
}
