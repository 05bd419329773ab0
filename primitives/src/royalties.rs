//! What pallet-royalties does for the inference pallet: divide a fee already paid into its pot
//! between the provider, the model's owner, the treasury and the data.

use alloc::vec::Vec;
use codec::{Decode, DecodeWithMemTracking, Encode, MaxEncodedLen};
use polkadot_sdk::sp_runtime::DispatchError;
use scale_info::TypeInfo;

use crate::{ContributionId, DatasetId, RoyaltySplit};

/// One record the output matched: who contributed it and its score.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct SpanCredit<AccountId> {
	pub dataset_id: DatasetId,
	pub contribution_id: ContributionId,
	pub contributor: AccountId,
	pub score_ppm: u32,
}

/// How one fee was divided.
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
pub struct Distribution<Balance> {
	pub provider: Balance,
	pub owner: Balance,
	/// The treasury's share, without the dust.
	pub treasury: Balance,
	/// Credited to matched records' contributors.
	pub spans: Balance,
	/// Added to the lineage datasets' pools.
	pub pools: Balance,
	/// Rounding remainders, paid to the treasury.
	pub dust: Balance,
}

/// What the inference pallet calls to divide a fee already in the pot.
pub trait Settlement<AccountId, Balance> {
	/// The account fees are paid into before [`Self::distribute`].
	fn pot() -> AccountId;

	/// Divides `fee` (in the pot) by `split` between `provider`, `owner`, the treasury,
	/// `spans` (scores summing to at most a million) and `pools` (lineage shares summing to a
	/// million). Returns the division and what each span credit earned, in order.
	fn distribute(
		fee: Balance,
		split: &RoyaltySplit,
		provider: &AccountId,
		owner: &AccountId,
		spans: &[SpanCredit<AccountId>],
		pools: &[(DatasetId, u32)],
	) -> Result<(Distribution<Balance>, Vec<Balance>), DispatchError>;

	/// What [`Self::distribute`] would credit to accounts for `fee` (the provider's and owner's
	/// shares and each span credit, in that order; the treasury's share and the pools aside),
	/// without moving anything: what a settlement that is still vesting will credit.
	fn credits(
		fee: Balance,
		split: &RoyaltySplit,
		provider: &AccountId,
		owner: &AccountId,
		spans: &[SpanCredit<AccountId>],
	) -> Vec<(AccountId, Balance)>;
}
