//! What the calls do. Each checks everything first and writes last, so a refused call leaves
//! no trace.

use crate::*;
use alloc::{collections::BTreeMap, vec::Vec};
use polkadot_sdk::{
	frame_support::traits::fungible::InspectHold,
	frame_system,
	sp_runtime::{
		traits::{Saturating, Zero},
		ArithmeticError,
	},
};

/// What a model proposal carries, checked and bounded.
struct CheckedProposal<T: Config> {
	name: BoundedVec<u8, T::MaxNameLength>,
	base_model: BoundedVec<u8, T::MaxNameLength>,
	datasets: BoundedVec<DatasetId, T::MaxModelDatasets>,
	spec_uri: BoundedVec<u8, T::MaxUriLength>,
}

impl<T: Config> Pallet<T> {
	fn bounded<S: Get<u32>, E>(
		items: Vec<E>,
		too_long: Error<T>,
	) -> Result<BoundedVec<E, S>, DispatchError> {
		BoundedVec::try_from(items).map_err(|_| too_long.into())
	}

	fn model(model_id: ModelId) -> Result<ModelOf<T>, DispatchError> {
		Models::<T>::get(model_id).ok_or_else(|| Error::<T>::UnknownModel.into())
	}

	fn model_of_owner(who: &T::AccountId, model_id: ModelId) -> Result<ModelOf<T>, DispatchError> {
		let model = Self::model(model_id)?;
		ensure!(model.owner == *who, Error::<T>::NotOwner);
		Ok(model)
	}

	/// Whether a split is whole and gives data at least the minimum.
	pub fn check_split(split: &RoyaltySplit) -> DispatchResult {
		ensure!(split.total_parts() == 1_000_000, Error::<T>::SplitNotWhole);
		ensure!(split.data >= T::MinDataShare::get(), Error::<T>::DataShareTooLow);
		Ok(())
	}

	fn check_proposal(
		name: Vec<u8>,
		base_model: Vec<u8>,
		datasets: Vec<DatasetId>,
		spec_uri: Vec<u8>,
		royalty_split: &RoyaltySplit,
	) -> Result<CheckedProposal<T>, DispatchError> {
		ensure!(!name.is_empty(), Error::<T>::EmptyName);
		let name = Self::bounded(name, Error::<T>::NameTooLong)?;
		let base_model = Self::bounded(base_model, Error::<T>::NameTooLong)?;
		let spec_uri = Self::bounded(spec_uri, Error::<T>::UriTooLong)?;
		ensure!(!datasets.is_empty(), Error::<T>::NoDatasets);
		let datasets = Self::bounded(datasets, Error::<T>::TooManyDatasets)?;
		for (index, dataset_id) in datasets.iter().enumerate() {
			ensure!(!datasets[..index].contains(dataset_id), Error::<T>::DuplicateDataset);
			ensure!(T::Datasets::dataset_exists(*dataset_id), Error::<T>::UnknownDataset);
		}
		Self::check_split(royalty_split)?;
		Ok(CheckedProposal { name, base_model, datasets, spec_uri })
	}

	/// A base fee of at least `MinBaseFee`, token prices of at most `MaxTokenPrice`.
	fn check_pricing(pricing: &PricingOf<T>) -> DispatchResult {
		ensure!(pricing.base_fee >= T::MinBaseFee::get(), Error::<T>::BaseFeeTooLow);
		let max = T::MaxTokenPrice::get();
		ensure!(
			pricing.per_1k_input_tokens <= max && pricing.per_1k_output_tokens <= max,
			Error::<T>::TokenPriceTooHigh
		);
		Ok(())
	}

	#[allow(clippy::too_many_arguments)]
	pub(crate) fn do_propose_model(
		owner: T::AccountId,
		name: Vec<u8>,
		base_model: Vec<u8>,
		base_model_hash: H256,
		datasets: Vec<DatasetId>,
		spec_uri: Vec<u8>,
		pricing: PricingOf<T>,
		royalty_split: RoyaltySplit,
	) -> Result<ModelId, DispatchError> {
		let CheckedProposal { name, base_model, datasets, spec_uri } =
			Self::check_proposal(name, base_model, datasets, spec_uri, &royalty_split)?;
		Self::check_pricing(&pricing)?;
		let model_id = NextModelId::<T>::get();
		let next_id = model_id.checked_add(1).ok_or(ArithmeticError::Overflow)?;
		let bytes = name.len() + base_model.len() + spec_uri.len();

		let deposit = Self::hold_model_deposit(&owner, bytes, datasets.len())?;
		Models::<T>::insert(
			model_id,
			Model {
				owner: owner.clone(),
				name,
				base_model,
				base_model_hash,
				datasets,
				spec_uri,
				pricing,
				royalty_split,
				status: ModelStatus::Proposed,
				adapters: BoundedVec::new(),
				active_adapter: None,
				deposit,
				proposed_at: frame_system::Pallet::<T>::block_number(),
			},
		);
		NextModelId::<T>::put(next_id);
		Self::deposit_event(Event::ModelProposed { model_id, owner, deposit });
		Ok(model_id)
	}

	pub(crate) fn do_approve_model(model_id: ModelId) -> DispatchResult {
		let mut model = Self::model(model_id)?;
		ensure!(model.status == ModelStatus::Proposed, Error::<T>::NotProposed);
		model.status = ModelStatus::Approved;
		Models::<T>::insert(model_id, model);
		Self::deposit_event(Event::ModelApproved { model_id });
		Ok(())
	}

	pub(crate) fn do_reject_model(model_id: ModelId) -> DispatchResult {
		let model = Self::model(model_id)?;
		ensure!(model.status == ModelStatus::Proposed, Error::<T>::NotProposed);
		Self::release_model_deposit(&model.owner, model.deposit);
		Models::<T>::remove(model_id);
		Self::deposit_event(Event::ModelRejected { model_id, owner: model.owner });
		Ok(())
	}

	pub(crate) fn do_register_adapter(
		who: T::AccountId,
		model_id: ModelId,
		artifact_hash: H256,
		rank: u32,
		alpha: u32,
		uri: Vec<u8>,
		lineage: Vec<(DatasetId, u64)>,
	) -> Result<AdapterId, DispatchError> {
		let mut model = Self::model_of_owner(&who, model_id)?;
		ensure!(
			matches!(model.status, ModelStatus::Approved | ModelStatus::Active),
			Error::<T>::NotApproved
		);
		ensure!(
			rank > 0 && rank <= T::MaxLoraRank::get() && alpha > 0,
			Error::<T>::InvalidLoraParameters
		);
		let uri = Self::bounded::<T::MaxUriLength, _>(uri, Error::<T>::UriTooLong)?;
		ensure!(!AdapterByHash::<T>::contains_key(artifact_hash), Error::<T>::DuplicateArtifact);
		ensure!(
			lineage.iter().all(|(dataset_id, _)| model.datasets.contains(dataset_id)),
			Error::<T>::LineageOutsideModel
		);
		T::Lineage::check_lineage(&lineage)?;
		let adapter_id = NextAdapterId::<T>::get();
		let next_id = adapter_id.checked_add(1).ok_or(Error::<T>::TooManyAdapters)?;
		model.adapters.try_push(adapter_id).map_err(|_| Error::<T>::TooManyAdapters)?;
		// At most `MaxAdaptersPerModel`, so the count fits.
		let version = len_u32(model.adapters.len());

		let deposit = Self::hold_adapter_deposit(&who, uri.len(), lineage.len())?;
		T::Lineage::record_lineage(adapter_id, &lineage)?;
		Adapters::<T>::insert(
			adapter_id,
			Adapter {
				model_id,
				version,
				artifact_hash,
				rank,
				alpha,
				uri,
				deposit,
				registered_at: frame_system::Pallet::<T>::block_number(),
			},
		);
		AdapterByHash::<T>::insert(artifact_hash, adapter_id);
		NextAdapterId::<T>::put(next_id);
		let first = model.active_adapter.is_none();
		if first {
			model.status = ModelStatus::Active;
			model.active_adapter = Some(adapter_id);
		}
		Models::<T>::insert(model_id, model);
		Self::deposit_event(Event::AdapterRegistered {
			model_id,
			adapter_id,
			version,
			artifact_hash,
			deposit,
		});
		if first {
			Self::deposit_event(Event::ActiveAdapterSet { model_id, adapter_id });
		}
		Ok(adapter_id)
	}

	pub(crate) fn do_set_active_adapter(
		who: T::AccountId,
		model_id: ModelId,
		adapter_id: AdapterId,
	) -> DispatchResult {
		let mut model = Self::model_of_owner(&who, model_id)?;
		ensure!(model.status == ModelStatus::Active, Error::<T>::NotActive);
		ensure!(model.adapters.contains(&adapter_id), Error::<T>::UnknownAdapter);
		model.active_adapter = Some(adapter_id);
		Models::<T>::insert(model_id, model);
		Self::deposit_event(Event::ActiveAdapterSet { model_id, adapter_id });
		Ok(())
	}

	pub(crate) fn do_update_pricing(
		who: T::AccountId,
		model_id: ModelId,
		pricing: PricingOf<T>,
	) -> DispatchResult {
		let mut model = Self::model_of_owner(&who, model_id)?;
		ensure!(model.status != ModelStatus::Retired, Error::<T>::AlreadyRetired);
		Self::check_pricing(&pricing)?;
		model.pricing = pricing;
		Models::<T>::insert(model_id, model);
		Self::deposit_event(Event::PricingUpdated { model_id, pricing });
		Ok(())
	}

	pub(crate) fn do_set_royalty_split(
		model_id: ModelId,
		royalty_split: RoyaltySplit,
	) -> DispatchResult {
		let mut model = Self::model(model_id)?;
		ensure!(model.status != ModelStatus::Retired, Error::<T>::AlreadyRetired);
		Self::check_split(&royalty_split)?;
		model.royalty_split = royalty_split;
		Models::<T>::insert(model_id, model);
		Self::deposit_event(Event::RoyaltySplitSet { model_id, royalty_split });
		Ok(())
	}

	/// Retires a model, by its owner (`Some`) or governance (`None`). A proposal is deleted
	/// outright: no request can have been made for it.
	pub(crate) fn do_retire_model(
		by_owner: Option<T::AccountId>,
		model_id: ModelId,
	) -> DispatchResult {
		let mut model = match &by_owner {
			Some(who) => Self::model_of_owner(who, model_id)?,
			None => Self::model(model_id)?,
		};
		ensure!(model.status != ModelStatus::Retired, Error::<T>::AlreadyRetired);

		if model.status == ModelStatus::Proposed {
			let refunded = Self::release_model_deposit(&model.owner, model.deposit);
			Models::<T>::remove(model_id);
			Self::deposit_event(Event::ModelRetired { model_id, refunded, reapable_at: None });
			return Ok(());
		}
		let reapable_at =
			frame_system::Pallet::<T>::block_number().saturating_add(T::ReapDelay::get());
		model.status = ModelStatus::Retired;
		model.active_adapter = None;
		Models::<T>::insert(model_id, model);
		ReapableAt::<T>::insert(model_id, reapable_at);
		Self::deposit_event(Event::ModelRetired {
			model_id,
			refunded: Zero::zero(),
			reapable_at: Some(reapable_at),
		});
		Ok(())
	}

	/// Deletes a retired model whose delay has passed, with its adapters, their hash index
	/// entries and lineage, and gives the owner its deposits back. Returns how many adapters it
	/// had, for the call's actual weight.
	pub(crate) fn do_reap_model(model_id: ModelId) -> Result<u32, DispatchError> {
		let model = Self::model(model_id)?;
		ensure!(model.status == ModelStatus::Retired, Error::<T>::NotRetired);
		// Every retired model has its entry (`migrations::v1` gave those retired before).
		let reapable_at = ReapableAt::<T>::get(model_id).ok_or(Error::<T>::NotRetired)?;
		ensure!(
			frame_system::Pallet::<T>::block_number() >= reapable_at,
			Error::<T>::TooEarlyToReap
		);

		let mut refunded = Self::release_model_deposit(&model.owner, model.deposit);
		for adapter_id in &model.adapters {
			T::Lineage::remove_lineage(*adapter_id);
			let Some(adapter) = Adapters::<T>::take(adapter_id) else {
				defensive!("a model's listed adapter is stored");
				continue;
			};
			AdapterByHash::<T>::remove(adapter.artifact_hash);
			refunded = refunded
				.saturating_add(Self::release_adapter_deposit(&model.owner, adapter.deposit));
		}
		Models::<T>::remove(model_id);
		ReapableAt::<T>::remove(model_id);
		let adapters = len_u32(model.adapters.len());
		Self::deposit_event(Event::ModelReaped {
			model_id,
			owner: model.owner,
			adapters,
			refunded,
		});
		Ok(adapters)
	}

	/// The models with ids from `start` to `start + limit` (`limit` at most
	/// [`MAX_MODELS_PAGE`]), by id; rejected proposals leave gaps.
	pub fn models(start: ModelId, limit: u32) -> Vec<(ModelId, ModelOf<T>)> {
		let end = start.saturating_add(limit.min(MAX_MODELS_PAGE)).min(NextModelId::<T>::get());
		(start..end)
			.filter_map(|model_id| Models::<T>::get(model_id).map(|model| (model_id, model)))
			.collect()
	}

	/// A model's adapters, oldest first.
	pub fn model_adapters(model_id: ModelId) -> Vec<(AdapterId, AdapterOf<T>)> {
		Models::<T>::get(model_id)
			.map(|model| {
				model
					.adapters
					.iter()
					.filter_map(|id| Adapters::<T>::get(id).map(|adapter| (*id, adapter)))
					.collect()
			})
			.unwrap_or_default()
	}

	/// Checks the pallet's invariants: held deposits equal the recorded ones, per owner; a
	/// model is `Active` exactly when it has an active adapter, which is one of its own; every
	/// adapter belongs to the model that lists it, at its version, is indexed by its hash and
	/// has a lineage over the model's datasets, and no lineage is left without its adapter;
	/// exactly the retired models wait to be reaped; no account holds a deposit its records do
	/// not account for; the split is whole.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		let mut model_deposits = BTreeMap::<T::AccountId, BalanceOf<T>>::new();
		let mut adapter_deposits = BTreeMap::<T::AccountId, BalanceOf<T>>::new();
		let mut adapters_listed = 0usize;
		for (model_id, model) in Models::<T>::iter() {
			ensure!(model_id < NextModelId::<T>::get(), "a model's id is not below NextModelId");
			ensure!(model.royalty_split.total_parts() == 1_000_000, "a royalty split is not whole");
			ensure!(
				(model.status == ModelStatus::Retired) == ReapableAt::<T>::contains_key(model_id),
				"a retired model does not know when it may be reaped"
			);
			let active = model.status == ModelStatus::Active;
			ensure!(
				active == model.active_adapter.is_some(),
				"active models and active adapters disagree"
			);
			if let Some(active_adapter) = model.active_adapter {
				ensure!(
					model.adapters.contains(&active_adapter),
					"an active adapter is not the model's"
				);
			}
			let entry = model_deposits.entry(model.owner.clone()).or_default();
			*entry = entry.saturating_add(model.deposit);
			for (index, adapter_id) in model.adapters.iter().enumerate() {
				let adapter =
					Adapters::<T>::get(adapter_id).ok_or("a listed adapter is missing")?;
				ensure!(adapter.model_id == model_id, "an adapter is listed by another model");
				ensure!(adapter.version as usize == index + 1, "an adapter's version is off");
				ensure!(
					AdapterByHash::<T>::get(adapter.artifact_hash) == Some(*adapter_id),
					"an adapter's hash is not indexed"
				);
				let lineage =
					T::Lineage::lineage(*adapter_id).ok_or("an adapter has no lineage")?;
				ensure!(
					lineage.iter().all(|entry| model.datasets.contains(&entry.dataset_id)),
					"a lineage names a dataset outside its model"
				);
				ensure!(
					lineage.iter().all(|entry| T::Datasets::dataset_exists(entry.dataset_id)),
					"a lineage names a dataset that does not exist"
				);
				let entry = adapter_deposits.entry(model.owner.clone()).or_default();
				*entry = entry.saturating_add(adapter.deposit);
			}
			adapters_listed += model.adapters.len();
		}
		ensure!(
			Adapters::<T>::iter().count() == adapters_listed,
			"an adapter is not listed by its model"
		);
		ensure!(AdapterByHash::<T>::iter().count() == adapters_listed, "a hash indexes no adapter");
		ensure!(
			T::Lineage::lineage_count() as usize == adapters_listed,
			"a lineage outlived its adapter"
		);
		for model_id in ReapableAt::<T>::iter_keys() {
			ensure!(
				Models::<T>::get(model_id)
					.is_some_and(|model| model.status == ModelStatus::Retired),
				"a model waiting to be reaped is not retired"
			);
		}
		// Every account, so that a hold its records no longer account for is seen too.
		for who in frame_system::Account::<T>::iter_keys() {
			for (reason, deposits) in [
				(HoldReason::ModelDeposit, &model_deposits),
				(HoldReason::AdapterDeposit, &adapter_deposits),
			] {
				ensure!(
					T::Currency::balance_on_hold(&reason.into(), &who)
						== deposits.get(&who).copied().unwrap_or_else(Zero::zero),
					"held deposits differ from the recorded ones"
				);
			}
		}
		Ok(())
	}
}

impl<T: Config> ModelsInspect<T::AccountId, BalanceOf<T>> for Pallet<T> {
	fn owner(model_id: ModelId) -> Option<T::AccountId> {
		Models::<T>::get(model_id).map(|model| model.owner)
	}

	fn is_active(model_id: ModelId) -> bool {
		Models::<T>::get(model_id).is_some_and(|model| model.status == ModelStatus::Active)
	}

	fn active_adapter(model_id: ModelId) -> Option<(AdapterId, H256)> {
		let adapter_id = Models::<T>::get(model_id)?.active_adapter?;
		Adapters::<T>::get(adapter_id).map(|adapter| (adapter_id, adapter.artifact_hash))
	}

	fn adapter_uri(adapter_id: AdapterId) -> Option<Vec<u8>> {
		Adapters::<T>::get(adapter_id).map(|adapter| adapter.uri.into_inner())
	}

	fn pricing(model_id: ModelId) -> Option<PricingOf<T>> {
		Models::<T>::get(model_id).map(|model| model.pricing)
	}

	fn royalty_split(model_id: ModelId) -> Option<RoyaltySplit> {
		Models::<T>::get(model_id).map(|model| model.royalty_split)
	}
}
