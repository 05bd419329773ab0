//! What the calls do. Each checks everything first and writes last, so a refused call leaves
//! no trace.

use crate::*;
use alloc::vec::Vec;
use polkadot_sdk::{
	frame_support::traits::fungible::InspectHold,
	frame_system, sp_io,
	sp_runtime::{traits::Saturating, ArithmeticError},
};

impl<T: Config> Pallet<T> {
	fn dataset_of_curator(
		who: &T::AccountId,
		dataset_id: DatasetId,
	) -> Result<DatasetOf<T>, DispatchError> {
		let dataset = Datasets::<T>::get(dataset_id).ok_or(Error::<T>::UnknownDataset)?;
		ensure!(dataset.curator == *who, Error::<T>::NotCurator);
		Ok(dataset)
	}

	fn bounded<S: Get<u32>>(
		bytes: Vec<u8>,
		too_long: Error<T>,
	) -> Result<BoundedVec<u8, S>, DispatchError> {
		BoundedVec::try_from(bytes).map_err(|_| too_long.into())
	}

	fn checked_license(
		license: Vec<u8>,
	) -> Result<BoundedVec<u8, T::MaxLicenseLength>, DispatchError> {
		let license = Self::bounded(license, Error::<T>::LicenseTooLong)?;
		ensure!(is_spdx_expression(&license), Error::<T>::InvalidLicense);
		Ok(license)
	}

	pub(crate) fn do_create_dataset(
		curator: T::AccountId,
		name: Vec<u8>,
		metadata_uri: Vec<u8>,
		license: Vec<u8>,
		policy: Policy,
	) -> Result<DatasetId, DispatchError> {
		ensure!(!name.is_empty(), Error::<T>::EmptyName);
		let name = Self::bounded(name, Error::<T>::NameTooLong)?;
		let metadata_uri = Self::bounded(metadata_uri, Error::<T>::UriTooLong)?;
		let license = Self::checked_license(license)?;
		let dataset_id = NextDatasetId::<T>::get();
		let next_id = dataset_id.checked_add(1).ok_or(ArithmeticError::Overflow)?;
		let bytes = name.len() + metadata_uri.len() + license.len();

		let deposit = Self::hold_dataset_deposit(&curator, bytes)?;
		Datasets::<T>::insert(
			dataset_id,
			Dataset {
				curator: curator.clone(),
				name,
				metadata_uri,
				license,
				policy,
				status: DatasetStatus::Open,
				total_weight: 0,
				next_contribution_id: 0,
				contributions: 0,
				deposit,
				created_at: frame_system::Pallet::<T>::block_number(),
			},
		);
		NextDatasetId::<T>::put(next_id);
		Self::deposit_event(Event::DatasetCreated { dataset_id, curator, policy, deposit });
		Ok(dataset_id)
	}

	pub(crate) fn do_update_dataset(
		who: T::AccountId,
		dataset_id: DatasetId,
		metadata_uri: Vec<u8>,
		license: Vec<u8>,
	) -> DispatchResult {
		let mut dataset = Self::dataset_of_curator(&who, dataset_id)?;
		let metadata_uri = Self::bounded(metadata_uri, Error::<T>::UriTooLong)?;
		let license = Self::checked_license(license)?;
		let bytes = dataset.name.len() + metadata_uri.len() + license.len();

		let deposit = Self::update_dataset_deposit(&who, dataset.deposit, bytes)?;
		dataset.metadata_uri = metadata_uri;
		dataset.license = license;
		dataset.deposit = deposit;
		Datasets::<T>::insert(dataset_id, dataset);
		Self::deposit_event(Event::DatasetUpdated { dataset_id, deposit });
		Ok(())
	}

	pub(crate) fn do_transfer_curatorship(
		who: T::AccountId,
		dataset_id: DatasetId,
		new_curator: T::AccountId,
	) -> DispatchResult {
		Self::dataset_of_curator(&who, dataset_id)?;
		ensure!(new_curator != who, Error::<T>::AlreadyCurator);

		PendingCurator::<T>::insert(dataset_id, new_curator.clone());
		Self::deposit_event(Event::CuratorshipOffered { dataset_id, from: who, to: new_curator });
		Ok(())
	}

	pub(crate) fn do_accept_curatorship(
		who: T::AccountId,
		dataset_id: DatasetId,
	) -> DispatchResult {
		let mut dataset = Datasets::<T>::get(dataset_id).ok_or(Error::<T>::UnknownDataset)?;
		ensure!(
			PendingCurator::<T>::get(dataset_id).as_ref() == Some(&who),
			Error::<T>::NotOfferedCuratorship
		);

		let bytes = dataset.name.len() + dataset.metadata_uri.len() + dataset.license.len();

		// The new curator's ticket first: one who cannot pay is refused with nothing changed. It
		// is priced now, so it holds what the old one did unless an upgrade changed the price.
		let deposit = Self::hold_dataset_deposit(&who, bytes)?;
		let previous = core::mem::replace(&mut dataset.curator, who.clone());
		Self::release_dataset_deposit(&previous, dataset.deposit);
		dataset.deposit = deposit;
		Datasets::<T>::insert(dataset_id, dataset);
		PendingCurator::<T>::remove(dataset_id);
		Self::deposit_event(Event::CuratorshipTransferred { dataset_id, from: previous, to: who });
		Ok(())
	}

	pub(crate) fn do_close_dataset(who: T::AccountId, dataset_id: DatasetId) -> DispatchResult {
		let mut dataset = Self::dataset_of_curator(&who, dataset_id)?;
		ensure!(dataset.status == DatasetStatus::Open, Error::<T>::AlreadyClosed);

		dataset.status = DatasetStatus::Closed;
		Datasets::<T>::insert(dataset_id, dataset);
		Self::deposit_event(Event::DatasetClosed { dataset_id });
		Ok(())
	}

	/// `contribute` as a transaction calls it: the record must be the last bytes of the
	/// transaction being applied, which the node indexes under the record's hash once the
	/// contribution is in. Index operations are not rolled back when a call fails, so the index
	/// is asked for only when nothing can fail any more; and since the record ends its
	/// transaction, no call of a batch or proxy runs after it to fail and roll it back.
	pub(crate) fn do_contribute_indexed(
		contributor: T::AccountId,
		dataset_id: DatasetId,
		uri: Option<Vec<u8>>,
		record: &[u8],
	) -> DispatchResult {
		let extrinsic = Self::transaction_ending_with(record)?;
		let (_, content_hash) = Self::do_contribute(contributor, dataset_id, uri, record)?;
		// The record's length is at most `MaxRecordLength`, a `u32`.
		sp_io::transaction_index::index(extrinsic, len_u32(record.len()), content_hash.into());
		Ok(())
	}

	/// The index of the transaction being applied, if `record` is its last bytes.
	fn transaction_ending_with(record: &[u8]) -> Result<u32, DispatchError> {
		let extrinsic =
			frame_system::Pallet::<T>::extrinsic_index().ok_or(Error::<T>::RecordNotLast)?;
		let encoded = frame_system::Pallet::<T>::extrinsic_data(extrinsic);
		ensure!(encoded.ends_with(record), Error::<T>::RecordNotLast);
		Ok(extrinsic)
	}

	/// Registers `record` as a contribution to the dataset, its hash and length computed here.
	/// Genesis calls it directly: genesis has no block body to index.
	pub(crate) fn do_contribute(
		contributor: T::AccountId,
		dataset_id: DatasetId,
		uri: Option<Vec<u8>>,
		record: &[u8],
	) -> Result<(ContributionId, ContentHash), DispatchError> {
		let mut dataset = Datasets::<T>::get(dataset_id).ok_or(Error::<T>::UnknownDataset)?;
		ensure!(!record.is_empty(), Error::<T>::EmptyRecord);
		ensure!(record.len() <= T::MaxRecordLength::get() as usize, Error::<T>::RecordTooLong);
		let content_hash = ContentHash::from(sp_io::hashing::blake2_256(record));
		let length = record.len() as u64;
		Self::check_new_record(dataset_id, &dataset, &content_hash)?;
		let contribution_id = dataset.next_contribution_id;
		let next_contribution_id =
			contribution_id.checked_add(1).ok_or(Error::<T>::TooManyContributions)?;
		let uri = uri.map(|uri| Self::bounded(uri, Error::<T>::UriTooLong)).transpose()?;
		let accept_now = dataset.policy == Policy::Open;
		let status =
			if accept_now { ContributionStatus::Accepted } else { ContributionStatus::Pending };
		let uri_bytes = uri.as_ref().map_or(0, |uri| uri.len());
		let old_weight = ContributorWeight::<T>::get(dataset_id, &contributor);
		let (new_weight, new_total) = if accept_now {
			Self::weights_after_adding(&dataset, old_weight, length)?
		} else {
			(old_weight, dataset.total_weight)
		};

		let deposit = Self::hold_contribution_deposit(&contributor, length, uri_bytes)?;
		dataset.next_contribution_id = next_contribution_id;
		dataset.contributions = dataset.contributions.saturating_add(1);
		Self::insert_contribution(
			dataset_id,
			contribution_id,
			Contribution {
				contributor: contributor.clone(),
				content_hash,
				length,
				uri,
				status,
				deposit,
				submitted_at: frame_system::Pallet::<T>::block_number(),
			},
		);
		Self::deposit_event(Event::ContributionSubmitted {
			dataset_id,
			contribution_id,
			contributor: contributor.clone(),
			content_hash,
			length,
			deposit,
			status,
		});
		if accept_now {
			Self::set_weight(
				&mut dataset,
				dataset_id,
				&contributor,
				old_weight,
				new_weight,
				new_total,
			);
			Self::deposit_event(Event::ContributionAccepted {
				dataset_id,
				contribution_id,
				contributor,
				contributor_weight: new_weight,
				total_weight: new_total,
			});
		}
		Datasets::<T>::insert(dataset_id, dataset);
		Ok((contribution_id, content_hash))
	}

	/// Refuses a new record with `content_hash` that `dataset` cannot take.
	fn check_new_record(
		dataset_id: DatasetId,
		dataset: &DatasetOf<T>,
		content_hash: &ContentHash,
	) -> DispatchResult {
		ensure!(dataset.status == DatasetStatus::Open, Error::<T>::DatasetClosed);
		ensure!(
			!ContributionByHash::<T>::contains_key(dataset_id, content_hash),
			Error::<T>::DuplicateContent
		);
		ensure!(
			dataset.contributions < T::MaxContributionsPerDataset::get(),
			Error::<T>::TooManyContributions
		);
		Ok(())
	}

	/// Writes a new record and its two indexes: by content hash and by contributor.
	fn insert_contribution(
		dataset_id: DatasetId,
		contribution_id: ContributionId,
		contribution: ContributionOf<T>,
	) {
		ContributionByHash::<T>::insert(dataset_id, contribution.content_hash, contribution_id);
		ContributionsOf::<T>::insert(&contribution.contributor, (dataset_id, contribution_id), ());
		Contributions::<T>::insert(dataset_id, contribution_id, contribution);
	}

	/// The contributor's and the dataset's weights once `length` more is accepted.
	fn weights_after_adding(
		dataset: &DatasetOf<T>,
		old_weight: u64,
		length: u64,
	) -> Result<(u64, u64), DispatchError> {
		let total = dataset.total_weight.checked_add(length).ok_or(Error::<T>::WeightOverflow)?;
		// A contributor's weight is part of the total, so it cannot overflow when the total
		// does not.
		Ok((old_weight.saturating_add(length), total))
	}

	/// Records a contributor's new weight and the dataset's new total, telling the observer
	/// first.
	fn set_weight(
		dataset: &mut DatasetOf<T>,
		dataset_id: DatasetId,
		who: &T::AccountId,
		old: u64,
		new: u64,
		new_total: u64,
	) {
		T::WeightObserver::on_weight_change(dataset_id, who, old, new);
		if new == 0 {
			ContributorWeight::<T>::remove(dataset_id, who);
		} else {
			ContributorWeight::<T>::insert(dataset_id, who, new);
		}
		dataset.total_weight = new_total;
	}

	fn pending_contribution(
		dataset_id: DatasetId,
		contribution_id: ContributionId,
	) -> Result<ContributionOf<T>, DispatchError> {
		let contribution = Contributions::<T>::get(dataset_id, contribution_id)
			.ok_or(Error::<T>::UnknownContribution)?;
		ensure!(contribution.status == ContributionStatus::Pending, Error::<T>::NotPending);
		Ok(contribution)
	}

	pub(crate) fn do_accept_contribution(
		who: T::AccountId,
		dataset_id: DatasetId,
		contribution_id: ContributionId,
	) -> DispatchResult {
		let mut dataset = Self::dataset_of_curator(&who, dataset_id)?;
		let mut contribution = Self::pending_contribution(dataset_id, contribution_id)?;
		ensure!(!Self::review_over(&contribution), Error::<T>::ReviewPeriodOver);
		let contributor = contribution.contributor.clone();
		let old_weight = ContributorWeight::<T>::get(dataset_id, &contributor);
		let (new_weight, new_total) =
			Self::weights_after_adding(&dataset, old_weight, contribution.length)?;

		Self::set_weight(&mut dataset, dataset_id, &contributor, old_weight, new_weight, new_total);
		contribution.status = ContributionStatus::Accepted;
		Contributions::<T>::insert(dataset_id, contribution_id, contribution);
		Datasets::<T>::insert(dataset_id, dataset);
		Self::deposit_event(Event::ContributionAccepted {
			dataset_id,
			contribution_id,
			contributor,
			contributor_weight: new_weight,
			total_weight: new_total,
		});
		Ok(())
	}

	/// Whether a pending contribution's review period is over.
	fn review_over(contribution: &ContributionOf<T>) -> bool {
		frame_system::Pallet::<T>::block_number()
			>= contribution.submitted_at.saturating_add(T::ReviewPeriod::get())
	}

	pub(crate) fn do_expire_contribution(
		dataset_id: DatasetId,
		contribution_id: ContributionId,
	) -> DispatchResult {
		let contribution = Self::pending_contribution(dataset_id, contribution_id)?;
		ensure!(Self::review_over(&contribution), Error::<T>::InReview);
		let contributor = contribution.contributor.clone();

		Self::release_contribution_deposit(&contributor, contribution.deposit);
		Self::delete_contribution(dataset_id, contribution_id, &contribution);
		Self::deposit_event(Event::ContributionExpired {
			dataset_id,
			contribution_id,
			contributor,
		});
		Ok(())
	}

	pub(crate) fn do_reject_contribution(
		who: T::AccountId,
		dataset_id: DatasetId,
		contribution_id: ContributionId,
	) -> DispatchResult {
		Self::dataset_of_curator(&who, dataset_id)?;
		let contribution = Self::pending_contribution(dataset_id, contribution_id)?;
		let contributor = contribution.contributor.clone();

		Self::release_contribution_deposit(&contributor, contribution.deposit);
		Self::delete_contribution(dataset_id, contribution_id, &contribution);
		Self::deposit_event(Event::ContributionRejected {
			dataset_id,
			contribution_id,
			contributor,
		});
		Ok(())
	}

	pub(crate) fn do_withdraw_contribution(
		who: T::AccountId,
		dataset_id: DatasetId,
		contribution_id: ContributionId,
	) -> DispatchResult {
		let contribution = Contributions::<T>::get(dataset_id, contribution_id)
			.ok_or(Error::<T>::UnknownContribution)?;
		ensure!(contribution.contributor == who, Error::<T>::NotContributor);

		Self::remove_accepted_weight(dataset_id, &contribution)?;
		Self::release_contribution_deposit(&who, contribution.deposit);
		Self::delete_contribution(dataset_id, contribution_id, &contribution);
		Self::deposit_event(Event::ContributionWithdrawn {
			dataset_id,
			contribution_id,
			contributor: who,
		});
		Ok(())
	}

	pub(crate) fn do_remove_contribution(
		dataset_id: DatasetId,
		contribution_id: ContributionId,
	) -> DispatchResult {
		let contribution = Contributions::<T>::get(dataset_id, contribution_id)
			.ok_or(Error::<T>::UnknownContribution)?;
		let contributor = contribution.contributor.clone();

		Self::remove_accepted_weight(dataset_id, &contribution)?;
		let slashed = Self::slash_contribution_deposit(&contributor, contribution.deposit);
		Self::delete_contribution(dataset_id, contribution_id, &contribution);
		Self::deposit_event(Event::ContributionRemoved {
			dataset_id,
			contribution_id,
			contributor,
			slashed,
		});
		Ok(())
	}

	/// Takes an accepted contribution's length out of its contributor's weight and the
	/// dataset's total (telling the observer first); nothing for a pending one.
	fn remove_accepted_weight(
		dataset_id: DatasetId,
		contribution: &ContributionOf<T>,
	) -> DispatchResult {
		if contribution.status != ContributionStatus::Accepted {
			return Ok(());
		}
		let mut dataset = Datasets::<T>::get(dataset_id).ok_or(Error::<T>::UnknownDataset)?;
		let contributor = &contribution.contributor;
		let old_weight = ContributorWeight::<T>::get(dataset_id, contributor);
		// An accepted contribution's length is part of both (`do_try_state`), so neither
		// subtraction saturates.
		let new_weight = old_weight.saturating_sub(contribution.length);
		let new_total = dataset.total_weight.saturating_sub(contribution.length);
		Self::set_weight(&mut dataset, dataset_id, contributor, old_weight, new_weight, new_total);
		Datasets::<T>::insert(dataset_id, dataset);
		Ok(())
	}

	/// Deletes a contribution and both of its index entries, freeing its slot in the dataset,
	/// and for an accepted one tells `OnContributionRemoved`. Its id is not reused.
	fn delete_contribution(
		dataset_id: DatasetId,
		contribution_id: ContributionId,
		contribution: &ContributionOf<T>,
	) {
		if contribution.status == ContributionStatus::Accepted {
			T::OnContributionRemoved::on_contribution_removed(dataset_id, contribution_id);
		}
		Datasets::<T>::mutate(dataset_id, |dataset| {
			if let Some(dataset) = dataset {
				dataset.contributions = dataset.contributions.saturating_sub(1);
			}
		});
		Contributions::<T>::remove(dataset_id, contribution_id);
		ContributionByHash::<T>::remove(dataset_id, contribution.content_hash);
		ContributionsOf::<T>::remove(&contribution.contributor, (dataset_id, contribution_id));
	}

	/// Creates a genesis dataset with its contributions accepted, deposits held as usual.
	pub(crate) fn create_genesis_dataset(
		dataset: &GenesisDataset<T::AccountId>,
	) -> Result<DatasetId, DispatchError> {
		let dataset_id = Self::do_create_dataset(
			dataset.curator.clone(),
			dataset.name.clone().into_bytes(),
			dataset.metadata_uri.clone().into_bytes(),
			dataset.license.clone().into_bytes(),
			dataset.policy,
		)?;
		for contribution in &dataset.contributions {
			let (contribution_id, _) = Self::do_contribute(
				contribution.contributor.clone(),
				dataset_id,
				contribution.uri.clone().map(|uri| uri.into_bytes()),
				contribution.record.as_bytes(),
			)?;
			if dataset.policy == Policy::Curated {
				Self::do_accept_contribution(dataset.curator.clone(), dataset_id, contribution_id)?;
			}
		}
		Ok(dataset_id)
	}

	/// A page of at most `limit` (capped at [`MAX_CONTRIBUTIONS_PAGE`]) of `who`'s
	/// contributions, in storage order, after the key `start_after` (the last one of the
	/// previous page).
	pub fn contributions_of(
		who: &T::AccountId,
		start_after: Option<(DatasetId, ContributionId)>,
		limit: u32,
	) -> Vec<(DatasetId, ContributionId, ContributionOf<T>)> {
		let keys = match start_after {
			Some(key) => ContributionsOf::<T>::iter_key_prefix_from(
				who,
				ContributionsOf::<T>::hashed_key_for(who, key),
			),
			None => ContributionsOf::<T>::iter_key_prefix(who),
		};
		keys.take(limit.min(MAX_CONTRIBUTIONS_PAGE) as usize)
			.filter_map(|(dataset_id, contribution_id)| {
				Contributions::<T>::get(dataset_id, contribution_id)
					.map(|contribution| (dataset_id, contribution_id, contribution))
			})
			.collect()
	}

	/// A page of at most `limit` (capped at [`MAX_CONTRIBUTIONS_PAGE`]) of a dataset's
	/// contributions (pending or accepted), in storage order, after the contribution
	/// `start_after` (the last one of the previous page).
	pub fn contributions_in(
		dataset_id: DatasetId,
		start_after: Option<ContributionId>,
		limit: u32,
	) -> Vec<(ContributionId, ContributionOf<T>)> {
		let page = match start_after {
			Some(after) => Contributions::<T>::iter_prefix_from(
				dataset_id,
				Contributions::<T>::hashed_key_for(dataset_id, after),
			),
			None => Contributions::<T>::iter_prefix(dataset_id),
		};
		page.take(limit.min(MAX_CONTRIBUTIONS_PAGE) as usize).collect()
	}

	/// The dataset's contribution that registered `content_hash`, if any.
	pub fn contribution_by_hash(
		dataset_id: DatasetId,
		content_hash: ContentHash,
	) -> Option<(ContributionId, ContributionOf<T>)> {
		let contribution_id = ContributionByHash::<T>::get(dataset_id, content_hash)?;
		let contribution = Contributions::<T>::get(dataset_id, contribution_id)?;
		Some((contribution_id, contribution))
	}

	/// Checks the pallet's invariants: each dataset's total is the sum of its accepted
	/// contributions and of its contributors' weights; its count is its records; held deposits
	/// equal the recorded ones for every curator and contributor; the hash and contributor
	/// indexes agree with the contributions. (Holds of accounts that no longer have a record
	/// cannot be found from this pallet's storage; the tests check those balances directly.)
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::btree_map::BTreeMap;

		let mut held: BTreeMap<T::AccountId, (BalanceOf<T>, BalanceOf<T>)> = BTreeMap::new();
		for (dataset_id, dataset) in Datasets::<T>::iter() {
			ensure!(dataset_id < NextDatasetId::<T>::get(), "dataset id beyond the counter");
			let entry = held.entry(dataset.curator.clone()).or_default();
			entry.0 = entry.0.saturating_add(dataset.deposit);

			let mut accepted = 0u64;
			let mut count = 0u32;
			let mut weights: BTreeMap<T::AccountId, u64> = BTreeMap::new();
			for (contribution_id, contribution) in Contributions::<T>::iter_prefix(dataset_id) {
				count = count.saturating_add(1);
				ensure!(
					contribution_id < dataset.next_contribution_id,
					"contribution id beyond the dataset's counter"
				);
				ensure!(
					ContributionsOf::<T>::contains_key(
						&contribution.contributor,
						(dataset_id, contribution_id)
					),
					"contribution missing from its contributor's index"
				);
				ensure!(
					ContributionByHash::<T>::get(dataset_id, contribution.content_hash)
						== Some(contribution_id),
					"contribution missing from the hash index"
				);
				if contribution.status == ContributionStatus::Accepted {
					accepted = accepted.saturating_add(contribution.length);
					let weight = weights.entry(contribution.contributor.clone()).or_default();
					*weight = weight.saturating_add(contribution.length);
				}
				let entry = held.entry(contribution.contributor.clone()).or_default();
				entry.1 = entry.1.saturating_add(contribution.deposit);
			}
			ensure!(count == dataset.contributions, "contribution count differs from the records");
			ensure!(
				count <= T::MaxContributionsPerDataset::get(),
				"more contributions than the dataset may hold"
			);
			ensure!(accepted == dataset.total_weight, "total weight differs from accepted lengths");
			let recorded: BTreeMap<T::AccountId, u64> =
				ContributorWeight::<T>::iter_prefix(dataset_id).collect();
			ensure!(recorded == weights, "contributor weights differ from accepted lengths");
		}
		for (dataset_id, content_hash, contribution_id) in ContributionByHash::<T>::iter() {
			let contribution = Contributions::<T>::get(dataset_id, contribution_id)
				.ok_or("hash index points at no contribution")?;
			ensure!(
				contribution.content_hash == content_hash,
				"hash index points at other content"
			);
		}
		for (dataset_id, _) in PendingCurator::<T>::iter() {
			ensure!(Datasets::<T>::contains_key(dataset_id), "curatorship offered for no dataset");
		}
		for (dataset_id, _, weight) in ContributorWeight::<T>::iter() {
			ensure!(Datasets::<T>::contains_key(dataset_id), "weight in no dataset");
			ensure!(weight > 0, "a zero weight is stored");
		}
		for (who, (dataset_id, contribution_id), ()) in ContributionsOf::<T>::iter() {
			let contribution = Contributions::<T>::get(dataset_id, contribution_id)
				.ok_or("contributor index points at no contribution")?;
			ensure!(contribution.contributor == who, "contributor index names someone else");
		}
		for (who, (datasets, contributions)) in held {
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::DatasetDeposit.into(), &who) == datasets,
				"held dataset deposits differ from the recorded ones"
			);
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::ContributionDeposit.into(), &who)
					== contributions,
				"held contribution deposits differ from the recorded ones"
			);
		}
		Ok(())
	}
}

impl<T: Config> DatasetsInspect<T::AccountId> for Pallet<T> {
	fn dataset_exists(dataset_id: DatasetId) -> bool {
		Datasets::<T>::contains_key(dataset_id)
	}

	fn total_weight(dataset_id: DatasetId) -> Option<u64> {
		Datasets::<T>::get(dataset_id).map(|dataset| dataset.total_weight)
	}

	fn contributor_weight(dataset_id: DatasetId, who: &T::AccountId) -> u64 {
		ContributorWeight::<T>::get(dataset_id, who)
	}

	fn accepted_contributor(
		dataset_id: DatasetId,
		contribution_id: ContributionId,
	) -> Option<T::AccountId> {
		Contributions::<T>::get(dataset_id, contribution_id)
			.filter(|contribution| contribution.status == ContributionStatus::Accepted)
			.map(|contribution| contribution.contributor)
	}

	fn contribution_by_hash(dataset_id: DatasetId, hash: ContentHash) -> Option<ContributionId> {
		ContributionByHash::<T>::get(dataset_id, hash)
	}

	fn contribution_issued(dataset_id: DatasetId, contribution_id: ContributionId) -> bool {
		Datasets::<T>::get(dataset_id)
			.is_none_or(|dataset| contribution_id < dataset.next_contribution_id)
	}

	fn next_contribution_id(dataset_id: DatasetId) -> Option<ContributionId> {
		Datasets::<T>::get(dataset_id).map(|dataset| dataset.next_contribution_id)
	}

	fn accepted_weight_from(dataset_id: DatasetId, first: ContributionId) -> u64 {
		let next = Datasets::<T>::get(dataset_id).map_or(first, |d| d.next_contribution_id);
		(first..next)
			.filter_map(|id| Contributions::<T>::get(dataset_id, id))
			.filter(|contribution| contribution.status == ContributionStatus::Accepted)
			.fold(0u64, |sum, contribution| sum.saturating_add(contribution.length))
	}
}

/// Whether `license` reads as an SPDX license expression: identifiers made of letters,
/// digits, `.`, `-`, `+` and `:` (for `LicenseRef-` and `DocumentRef-` forms), joined by
/// single spaces (`AND`, `OR`, `WITH`) and grouped by parentheses.
pub fn is_spdx_expression(license: &[u8]) -> bool {
	let allowed =
		|b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+' | b':' | b'(' | b')');
	!license.is_empty()
		&& license.first() != Some(&b' ')
		&& license.last() != Some(&b' ')
		&& !license.windows(2).any(|pair| pair == b"  ")
		&& license.iter().all(|b| allowed(b) || *b == b' ')
		&& license.iter().any(|b| b.is_ascii_alphanumeric())
}

#[cfg(feature = "runtime-benchmarks")]
impl<T: Config> Pallet<T> {
	/// For other pallets' benchmarks: `count` accepted contributions of `length` bytes each to
	/// the open dataset `dataset_id`, the `i`-th from its own account
	/// `account("contributor", first + i, 0)` with the content hash
	/// `blake2_256` of `(dataset_id, first + i)` SCALE-encoded.
	///
	/// They are written into storage as `contribute` leaves them, and the weight observer hears
	/// of every weight change, but they hold no deposit (recorded as zero) and raise no events.
	/// That way a dataset of 100,000 contributors takes seconds to build in a benchmark, not
	/// the best part of an hour. Returns the first contribution's id.
	pub fn benchmark_contributions(
		dataset_id: DatasetId,
		first: u32,
		count: u32,
		length: u64,
	) -> Result<ContributionId, DispatchError> {
		use polkadot_sdk::sp_runtime::traits::{BlakeTwo256, Hash, Zero};
		let mut dataset = Datasets::<T>::get(dataset_id).ok_or(Error::<T>::UnknownDataset)?;
		// Refused before anything is written when the records cannot all fit.
		ensure!(
			dataset.contributions.saturating_add(count) <= T::MaxContributionsPerDataset::get(),
			Error::<T>::TooManyContributions
		);
		let first_id = dataset.next_contribution_id;
		let submitted_at = frame_system::Pallet::<T>::block_number();
		for (offset, contribution_id) in (0..count).zip(first_id..) {
			let index = first.saturating_add(offset);
			let contributor: T::AccountId =
				polkadot_sdk::frame_benchmarking::account("contributor", index, 0);
			let content_hash: ContentHash = BlakeTwo256::hash_of(&(dataset_id, index));
			ensure!(length > 0, Error::<T>::EmptyRecord);
			ensure!(length <= u64::from(T::MaxRecordLength::get()), Error::<T>::RecordTooLong);
			Self::check_new_record(dataset_id, &dataset, &content_hash)?;
			let old_weight = ContributorWeight::<T>::get(dataset_id, &contributor);
			let (new_weight, new_total) = Self::weights_after_adding(&dataset, old_weight, length)?;
			dataset.next_contribution_id =
				contribution_id.checked_add(1).ok_or(Error::<T>::TooManyContributions)?;
			dataset.contributions = dataset.contributions.saturating_add(1);
			Self::insert_contribution(
				dataset_id,
				contribution_id,
				Contribution {
					contributor: contributor.clone(),
					content_hash,
					length,
					uri: None,
					status: ContributionStatus::Accepted,
					deposit: Zero::zero(),
					submitted_at,
				},
			);
			Self::set_weight(
				&mut dataset,
				dataset_id,
				&contributor,
				old_weight,
				new_weight,
				new_total,
			);
		}
		Datasets::<T>::insert(dataset_id, dataset);
		Ok(first_id)
	}
}

/// For tests and benchmarks, which dispatch calls without applying a transaction: makes
/// `contribute(dataset_id, uri, record)`, encoded, the transaction being applied, as the
/// executive notes a transaction before dispatching it, so that the call finds its record at
/// the transaction's end.
#[cfg(any(feature = "std", feature = "runtime-benchmarks"))]
pub fn note_contribution<T: Config>(dataset_id: DatasetId, uri: Option<Vec<u8>>, record: Vec<u8>) {
	use codec::Encode;
	note_transaction::<T>(Call::<T>::contribute { dataset_id, uri, record }.encode());
}

/// For tests and benchmarks: makes `encoded` the transaction being applied (index 0 unless a
/// block has one under way).
#[cfg(any(feature = "std", feature = "runtime-benchmarks"))]
pub fn note_transaction<T: Config>(encoded: Vec<u8>) {
	use polkadot_sdk::{frame_support::storage::unhashed, sp_core::storage::well_known_keys};
	if frame_system::Pallet::<T>::extrinsic_index().is_none() {
		unhashed::put(well_known_keys::EXTRINSIC_INDEX, &0u32);
	}
	frame_system::Pallet::<T>::note_extrinsic(encoded);
}
