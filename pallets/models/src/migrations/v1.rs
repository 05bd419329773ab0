//! Version 1: retired models wait to be reaped.
//!
//! Before it, a retired model stayed on record for good, its deposits given back at retirement.
//! Reaping needs every retired model's [`ReapableAt`]; a model retired before the upgrade gets
//! `ReapDelay` from the upgrade, as though retired then, since a request made just before may
//! still be open.

use crate::*;
use core::marker::PhantomData;
use polkadot_sdk::{
	frame_support::{
		migrations::VersionedMigration, traits::UncheckedOnRuntimeUpgrade, weights::Weight,
	},
	frame_system,
	sp_runtime::traits::Saturating,
};

/// Writes [`ReapableAt`] for every retired model, unversioned: use [`MigrateV0ToV1`].
pub struct InnerMigrateV0ToV1<T>(PhantomData<T>);

impl<T: Config> UncheckedOnRuntimeUpgrade for InnerMigrateV0ToV1<T> {
	fn on_runtime_upgrade() -> Weight {
		let reapable_at =
			frame_system::Pallet::<T>::block_number().saturating_add(T::ReapDelay::get());
		let (mut reads, mut writes) = (0u64, 0u64);
		// Every model once: models are few (each is a referendum), and this runs once.
		for (model_id, model) in Models::<T>::iter() {
			reads.saturating_inc();
			if model.status == ModelStatus::Retired && !ReapableAt::<T>::contains_key(model_id) {
				ReapableAt::<T>::insert(model_id, reapable_at);
				reads.saturating_inc();
				writes.saturating_inc();
			}
		}
		<T as frame_system::Config>::DbWeight::get().reads_writes(reads, writes)
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
