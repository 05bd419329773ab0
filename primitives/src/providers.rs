//! What pallet-providers does for the inference pallet: draw a provider for a request, count
//! its assignments, and penalise a missed one.

use alloc::vec::Vec;
use polkadot_sdk::sp_runtime::DispatchResult;

use crate::ModelId;

/// What the inference pallet asks of providers: a provider for a request, capacity
/// accounting, and the penalty for a missed assignment.
pub trait ProviderAssignment<AccountId> {
	/// Picks a provider for `model_id` among those online, serving it, bonded at least the
	/// minimum and under capacity, with probability proportional to bonded stake, from
	/// `seed`. The same seed and state give the same provider. Returns the provider and its
	/// operator.
	fn select(model_id: ModelId, seed: &[u8; 32]) -> Option<(AccountId, AccountId)>;
	/// Counts an assignment against the provider's capacity.
	fn start_assignment(provider: &AccountId) -> DispatchResult;
	/// Ends an assignment (result submitted, or expired).
	fn end_assignment(provider: &AccountId);
	/// Schedules the fixed missed-assignment slash.
	fn penalise_missed_assignment(provider: &AccountId) -> DispatchResult;
	/// Every provider with assignments in progress, and how many, for the inference pallet's
	/// invariant checks (it reads every provider: not for use in a block).
	fn assignments() -> Vec<(AccountId, u32)>;
}

/// What the inference pallet asks of providers to judge a settled result: a jury of other
/// providers, and the slash of a provider whose result a jury found wrong.
pub trait ProviderJudging<AccountId, Balance> {
	/// Up to `size` distinct providers of `model_id` other than `accused`, among those online,
	/// serving it and bonded at least the minimum (capacity aside: judging is not serving),
	/// drawn one after another with probability proportional to bonded stake, without
	/// replacement, from `seed`. The same seed and state give the same jury. Returns each
	/// juror and its operator.
	fn select_jury(
		model_id: ModelId,
		seed: &[u8; 32],
		accused: &AccountId,
		size: u32,
	) -> Vec<(AccountId, AccountId)>;
	/// Schedules a slash of `amount` of the provider's stake (bonded and unlocking, as a
	/// fraction of it now, rounded up) through the deferral governance may cancel. When it
	/// applies, `rewards` are paid from what it took, in order, and the rest goes where slashes
	/// go; a cancelled slash pays nobody.
	fn slash_wrong_result(
		provider: &AccountId,
		amount: Balance,
		rewards: Vec<(AccountId, Balance)>,
	) -> DispatchResult;
}
