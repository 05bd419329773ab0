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
