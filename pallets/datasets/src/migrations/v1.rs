//! Version 1: the hash index is kept per dataset.
//!
//! Before it, [`ContributionByHash`] mapped a content hash to one `(dataset, contribution)`
//! across the whole chain, so whoever registered a record first, in any dataset, kept everyone
//! else from contributing the same bytes anywhere (a curator could park public text as pending
//! in a dataset of their own for good). Now it maps `(dataset, hash)` to a contribution.
//!
//! The index is rebuilt from [`Contributions`], the records it indexes, in one block: the chains
//! that exist at this version (development and test networks) hold few contributions. A chain
//! with many would need a multi-block migration instead.

use crate::*;
use core::marker::PhantomData;
use polkadot_sdk::{
	frame_support::{
		migrations::VersionedMigration, traits::UncheckedOnRuntimeUpgrade, weights::Weight,
	},
	frame_system,
	sp_runtime::traits::Saturating,
};

/// Rebuilds [`ContributionByHash`] keyed by dataset, unversioned: use [`MigrateV0ToV1`].
pub struct InnerMigrateV0ToV1<T>(PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for InnerMigrateV0ToV1<T> {
	fn on_runtime_upgrade() -> Weight {
		// Every old entry goes: their keys (the hash alone) have the new map's prefix, but not
		// its shape.
		let cleared = ContributionByHash::<T>::clear(u32::MAX, None);
		let mut reads = u64::from(cleared.loops);
		let mut writes = u64::from(cleared.backend);
		for (dataset_id, contribution_id, contribution) in Contributions::<T>::iter() {
			reads.saturating_inc();
			ContributionByHash::<T>::insert(dataset_id, contribution.content_hash, contribution_id);
			writes.saturating_inc();
		}
		<T as frame_system::Config>::DbWeight::get().reads_writes(reads, writes)
	}

	#[cfg(feature = "try-runtime")]
	fn pre_upgrade() -> Result<Vec<u8>, polkadot_sdk::sp_runtime::TryRuntimeError> {
		use codec::Encode;
		Ok((Contributions::<T>::iter().count() as u64).encode())
	}

	#[cfg(feature = "try-runtime")]
	fn post_upgrade(state: Vec<u8>) -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use codec::Decode;
		let contributions =
			u64::decode(&mut &state[..]).map_err(|_| "the pre-upgrade count does not decode")?;
		ensure!(
			ContributionByHash::<T>::iter().count() as u64 == contributions,
			"the hash index does not hold one entry per contribution"
		);
		Pallet::<T>::do_try_state()
	}
}

/// Migrates storage version 0 to 1 ([`InnerMigrateV0ToV1`]), then records version 1; does
/// nothing on a chain at version 1 already.
pub type MigrateV0ToV1<T> = VersionedMigration<
	0,
	1,
	InnerMigrateV0ToV1<T>,
	Pallet<T>,
	<T as frame_system::Config>::DbWeight,
>;
