//! Who may do what: the two collectives and the origins other pallets' configurations name
//! (removing datasets, slashing providers, fast-tracking referenda).

use polkadot_sdk::*;

use frame_support::traits::EitherOf;
use frame_system::EnsureRoot;

use crate::AccountId;

/// The council: proposes external referenda and approves treasury spends.
pub type CouncilCollective = pallet_collective::Instance1;
/// The technical committee: fast-tracks and, unanimously, instantly schedules referenda.
pub type TechnicalCommitteeCollective = pallet_collective::Instance2;

/// Root, or more than half of the council.
pub type EnsureCouncilMajority = EitherOf<
	EnsureRoot<AccountId>,
	pallet_collective::EnsureProportionMoreThan<AccountId, CouncilCollective, 1, 2>,
>;

/// Root, or at least two thirds of the technical committee.
pub type EnsureTechnicalCommitteeTwoThirds = EitherOf<
	EnsureRoot<AccountId>,
	pallet_collective::EnsureProportionAtLeast<AccountId, TechnicalCommitteeCollective, 2, 3>,
>;
