//! What the calls do. Each checks everything first and writes last, so a refused call leaves
//! no trace.

use crate::*;
use alloc::vec::Vec;
use polkadot_sdk::{
	frame_support::traits::{
		fungible::{Balanced, BalancedHold, InspectHold, MutateHold},
		tokens::{imbalance::Imbalance, Precision},
	},
	frame_system,
	sp_runtime::{
		traits::{Saturating, Zero},
		PerThing, Rounding, SaturatedConversion,
	},
};

impl<T: Config> Pallet<T> {
	fn now() -> BlockNumberFor<T> {
		frame_system::Pallet::<T>::block_number()
	}

	fn provider(who: &T::AccountId) -> Result<ProviderOf<T>, DispatchError> {
		Providers::<T>::get(who).ok_or_else(|| Error::<T>::NotProvider.into())
	}

	/// The provider `who` is, or acts for as its operator.
	fn provider_or_operator(who: &T::AccountId) -> Result<T::AccountId, DispatchError> {
		if Providers::<T>::contains_key(who) {
			return Ok(who.clone());
		}
		ProviderOfOperator::<T>::get(who).ok_or_else(|| Error::<T>::NotProvider.into())
	}

	fn check_spec(spec: &SpecOf<T>) -> DispatchResult {
		ensure!(spec.gpu_count > 0 && spec.vram_gib > 0, Error::<T>::InvalidSpec);
		ensure!(spec.gpu_count <= T::MaxGpusPerProvider::get(), Error::<T>::TooManyGpus);
		Ok(())
	}

	fn hold(who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		T::Currency::hold(&HoldReason::ProviderBond.into(), who, amount)
			.map_err(|_| Error::<T>::InsufficientBalance.into())
	}

	/// How many assignments a provider takes at once: `AssignmentsPerGpu` per GPU, and no more
	/// than one per `BondPerAssignment` of bonded stake.
	pub fn capacity(provider: &ProviderOf<T>) -> u32 {
		let by_hardware = provider.spec.gpu_count.saturating_mul(T::AssignmentsPerGpu::get());
		let per_assignment = T::BondPerAssignment::get();
		if per_assignment.is_zero() {
			return by_hardware;
		}
		let by_stake: u128 = (provider.bonded / per_assignment).saturated_into();
		by_hardware.min(by_stake.saturated_into())
	}

	/// Whether the provider is online, in maintenance, or offline for want of heartbeats.
	pub fn status(provider: &ProviderOf<T>) -> ProviderStatus {
		if provider.maintenance {
			ProviderStatus::Maintenance
		} else if Self::now().saturating_sub(provider.last_heartbeat) > T::OfflineAfter::get() {
			ProviderStatus::Offline
		} else {
			ProviderStatus::Online
		}
	}

	/// Whether the provider may be assigned work now: online, bonded at least the minimum and
	/// under capacity.
	pub fn is_assignable(provider: &ProviderOf<T>) -> bool {
		Self::status(provider) == ProviderStatus::Online
			&& provider.bonded >= T::MinProviderBond::get()
			&& provider.assignments < Self::capacity(provider)
	}

	/// Everything held for the provider: bonded plus unlocking.
	pub fn total_stake(provider: &ProviderOf<T>) -> BalanceOf<T> {
		provider
			.unlocking
			.iter()
			.fold(provider.bonded, |total, chunk| total.saturating_add(chunk.value))
	}

	pub(crate) fn do_register(
		provider: T::AccountId,
		spec: SpecOf<T>,
		operator: T::AccountId,
		bond: BalanceOf<T>,
	) -> DispatchResult {
		ensure!(!Providers::<T>::contains_key(&provider), Error::<T>::AlreadyRegistered);
		ensure!(!ProviderOfOperator::<T>::contains_key(&operator), Error::<T>::OperatorInUse);
		Self::check_spec(&spec)?;
		ensure!(bond >= T::MinProviderBond::get(), Error::<T>::BondTooLow);

		Self::hold(&provider, bond)?;
		let now = Self::now();
		ProviderOfOperator::<T>::insert(&operator, &provider);
		Providers::<T>::insert(
			&provider,
			Provider {
				operator: operator.clone(),
				spec,
				bonded: bond,
				unlocking: BoundedVec::new(),
				served: BoundedVec::new(),
				maintenance: false,
				last_heartbeat: now,
				assignments: 0,
				pending_slashes: 0,
				registered_at: now,
			},
		);
		Self::deposit_event(Event::Registered { provider, operator, bond });
		Ok(())
	}

	pub(crate) fn do_bond_extra(provider: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		let mut record = Self::provider(&provider)?;
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		Self::hold(&provider, amount)?;
		record.bonded = record.bonded.saturating_add(amount);
		Providers::<T>::insert(&provider, record);
		Self::deposit_event(Event::Bonded { provider, amount });
		Ok(())
	}

	pub(crate) fn do_unbond(provider: T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		let mut record = Self::provider(&provider)?;
		ensure!(!amount.is_zero(), Error::<T>::ZeroAmount);
		ensure!(amount <= record.bonded, Error::<T>::InsufficientBond);
		let unlock_at = Self::now().saturating_add(T::UnbondingPeriod::get());
		match record.unlocking.iter_mut().find(|chunk| chunk.unlock_at == unlock_at) {
			Some(chunk) => chunk.value = chunk.value.saturating_add(amount),
			None => record
				.unlocking
				.try_push(UnlockChunk { value: amount, unlock_at })
				.map_err(|_| Error::<T>::TooManyChunks)?,
		}
		record.bonded = record.bonded.saturating_sub(amount);
		Providers::<T>::insert(&provider, record);
		Self::deposit_event(Event::Unbonding { provider, amount, unlock_at });
		Ok(())
	}

	pub(crate) fn do_withdraw_unbonded(provider: T::AccountId) -> DispatchResult {
		let mut record = Self::provider(&provider)?;
		// A pending slash takes its share of the unlocking chunks too: they wait for it.
		ensure!(record.pending_slashes == 0, Error::<T>::SlashPending);
		let now = Self::now();
		let (due, kept): (Vec<_>, Vec<_>) =
			record.unlocking.iter().cloned().partition(|chunk| chunk.unlock_at <= now);
		ensure!(!due.is_empty(), Error::<T>::NothingToWithdraw);
		let amount =
			due.iter().fold(BalanceOf::<T>::zero(), |sum, chunk| sum.saturating_add(chunk.value));
		// Fewer chunks than before: the bound holds.
		record.unlocking = BoundedVec::truncate_from(kept);
		// Held by this pallet for this reason; `try_state` checks the two agree.
		let released = T::Currency::release(
			&HoldReason::ProviderBond.into(),
			&provider,
			amount,
			Precision::BestEffort,
		);
		if released != Ok(amount) {
			defensive!("a provider's unlocking stake is held for its reason");
		}
		Providers::<T>::insert(&provider, record);
		Self::deposit_event(Event::Withdrawn { provider, amount });
		Ok(())
	}

	pub(crate) fn do_update_spec(provider: T::AccountId, spec: SpecOf<T>) -> DispatchResult {
		let mut record = Self::provider(&provider)?;
		Self::check_spec(&spec)?;
		record.spec = spec;
		Providers::<T>::insert(&provider, record);
		Self::deposit_event(Event::SpecUpdated { provider });
		Ok(())
	}

	pub(crate) fn do_set_operator(
		provider: T::AccountId,
		operator: T::AccountId,
	) -> DispatchResult {
		let mut record = Self::provider(&provider)?;
		ensure!(!ProviderOfOperator::<T>::contains_key(&operator), Error::<T>::OperatorInUse);
		ProviderOfOperator::<T>::remove(&record.operator);
		ProviderOfOperator::<T>::insert(&operator, &provider);
		record.operator = operator.clone();
		Providers::<T>::insert(&provider, record);
		Self::deposit_event(Event::OperatorSet { provider, operator });
		Ok(())
	}

	pub(crate) fn do_deregister(provider: T::AccountId) -> DispatchResult {
		let record = Self::provider(&provider)?;
		ensure!(record.bonded.is_zero() && record.unlocking.is_empty(), Error::<T>::StillBonded);
		ensure!(record.assignments == 0, Error::<T>::HasAssignments);
		ensure!(record.pending_slashes == 0, Error::<T>::SlashPending);
		for model_id in &record.served {
			Self::leave_serving(*model_id, &provider);
		}
		ProviderOfOperator::<T>::remove(&record.operator);
		Providers::<T>::remove(&provider);
		Self::deposit_event(Event::Deregistered { provider });
		Ok(())
	}

	pub(crate) fn do_serve(provider: T::AccountId, model_id: ModelId) -> DispatchResult {
		let mut record = Self::provider(&provider)?;
		ensure!(T::Models::is_active(model_id), Error::<T>::ModelNotActive);
		ensure!(!record.served.contains(&model_id), Error::<T>::AlreadyServing);
		record.served.try_push(model_id).map_err(|_| Error::<T>::TooManyServedModels)?;
		let mut serving = ServingProviders::<T>::get(model_id);
		let displaced = if serving.is_full() {
			let (index, weakest, mut weakest_record) = Self::least_staked(&serving)
				.filter(|(_, _, weakest)| weakest.bonded < record.bonded)
				.ok_or(Error::<T>::TooManyProviders)?;
			serving.remove(index);
			weakest_record.served.retain(|served| *served != model_id);
			Some((weakest, weakest_record))
		} else {
			None
		};
		serving.try_push(provider.clone()).map_err(|_| Error::<T>::TooManyProviders)?;
		ServingProviders::<T>::insert(model_id, serving);
		if let Some((weakest, weakest_record)) = displaced {
			Providers::<T>::insert(&weakest, weakest_record);
			Self::deposit_event(Event::Displaced {
				provider: weakest,
				model_id,
				by: provider.clone(),
			});
		}
		Providers::<T>::insert(&provider, record);
		Self::deposit_event(Event::Serving { provider, model_id });
		Ok(())
	}

	/// The serving provider with the least bonded stake (the one that joined first among
	/// equals): its position in `serving`, its account and its record.
	fn least_staked(serving: &[T::AccountId]) -> Option<(usize, T::AccountId, ProviderOf<T>)> {
		let mut weakest: Option<(usize, T::AccountId, ProviderOf<T>)> = None;
		for (index, who) in serving.iter().enumerate() {
			let Some(record) = Providers::<T>::get(who) else { continue };
			if weakest.as_ref().is_none_or(|(_, _, least)| record.bonded < least.bonded) {
				weakest = Some((index, who.clone(), record));
			}
		}
		weakest
	}

	pub(crate) fn do_stop_serving(provider: T::AccountId, model_id: ModelId) -> DispatchResult {
		let mut record = Self::provider(&provider)?;
		ensure!(record.served.contains(&model_id), Error::<T>::NotServing);
		record.served.retain(|served| *served != model_id);
		Self::leave_serving(model_id, &provider);
		Providers::<T>::insert(&provider, record);
		Self::deposit_event(Event::StoppedServing { provider, model_id });
		Ok(())
	}

	/// Takes `provider` off the model's list, and the list away once it is empty.
	fn leave_serving(model_id: ModelId, provider: &T::AccountId) {
		ServingProviders::<T>::mutate_exists(model_id, |serving| {
			if let Some(list) = serving {
				list.retain(|p| p != provider);
				if list.is_empty() {
					*serving = None;
				}
			}
		});
	}

	pub(crate) fn do_heartbeat(operator: T::AccountId) -> DispatchResult {
		let provider = ProviderOfOperator::<T>::get(&operator).ok_or(Error::<T>::NotOperator)?;
		let mut record = Self::provider(&provider)?;
		let now = Self::now();
		ensure!(
			now >= record.last_heartbeat.saturating_add(T::HeartbeatInterval::get()),
			Error::<T>::HeartbeatTooSoon
		);
		record.last_heartbeat = now;
		Providers::<T>::insert(&provider, record);
		Ok(())
	}

	pub(crate) fn do_set_maintenance(who: T::AccountId, maintenance: bool) -> DispatchResult {
		let provider = Self::provider_or_operator(&who)?;
		let mut record = Self::provider(&provider)?;
		if maintenance {
			ensure!(!record.maintenance, Error::<T>::AlreadyOffline);
		} else {
			ensure!(record.maintenance, Error::<T>::AlreadyOnline);
			record.last_heartbeat = Self::now();
		}
		record.maintenance = maintenance;
		Providers::<T>::insert(&provider, record);
		Self::deposit_event(if maintenance {
			Event::WentOffline { provider }
		} else {
			Event::WentOnline { provider }
		});
		Ok(())
	}

	/// Schedules a slash of `fraction` of the provider's stake, `SlashDeferDuration` blocks
	/// from now.
	pub(crate) fn schedule_slash(
		provider: &T::AccountId,
		fraction: Perbill,
		reason: BoundedVec<u8, T::MaxReasonLength>,
	) -> Result<SlashId, DispatchError> {
		let mut record = Self::provider(provider)?;
		ensure!(!fraction.is_zero(), Error::<T>::ZeroFraction);
		let slash_id = NextSlashId::<T>::get();
		let apply_at = Self::now().saturating_add(T::SlashDeferDuration::get());
		let mut queue = SlashQueue::<T>::get(apply_at);
		queue.try_push((provider.clone(), slash_id)).map_err(|_| Error::<T>::SlashQueueFull)?;
		SlashQueue::<T>::insert(apply_at, queue);
		PendingSlashes::<T>::insert(
			provider,
			slash_id,
			PendingSlash { id: slash_id, fraction, reason, apply_at },
		);
		record.pending_slashes = record.pending_slashes.saturating_add(1);
		Providers::<T>::insert(provider, record);
		NextSlashId::<T>::put(slash_id.wrapping_add(1));
		Self::deposit_event(Event::SlashScheduled {
			provider: provider.clone(),
			slash_id,
			fraction,
			apply_at,
		});
		Ok(slash_id)
	}

	/// Removes a pending slash of the provider whose record is `record`, returning it; the
	/// record's count follows (the caller writes the record).
	fn take_pending_slash(
		provider: &T::AccountId,
		record: &mut ProviderOf<T>,
		slash_id: SlashId,
	) -> Option<PendingSlashOf<T>> {
		let slash = PendingSlashes::<T>::take(provider, slash_id)?;
		record.pending_slashes = record.pending_slashes.saturating_sub(1);
		Some(slash)
	}

	/// The slashes pending against a provider, oldest first.
	pub fn pending_slashes_of(provider: &T::AccountId) -> Vec<PendingSlashOf<T>> {
		let mut pending: Vec<_> = PendingSlashes::<T>::iter_prefix_values(provider).collect();
		pending.sort_by_key(|slash| slash.id);
		pending
	}

	pub(crate) fn do_cancel_slash(provider: T::AccountId, slash_id: SlashId) -> DispatchResult {
		let mut record = Self::provider(&provider).map_err(|_| Error::<T>::UnknownSlash)?;
		let slash = Self::take_pending_slash(&provider, &mut record, slash_id)
			.ok_or(Error::<T>::UnknownSlash)?;
		Providers::<T>::insert(&provider, record);
		SlashRewards::<T>::remove(slash_id);
		SlashQueue::<T>::mutate_exists(slash.apply_at, |queue| {
			if let Some(list) = queue {
				list.retain(|entry| *entry != (provider.clone(), slash_id));
				if list.is_empty() {
					*queue = None;
				}
			}
		});
		Self::deposit_event(Event::SlashCancelled { provider, slash_id });
		Ok(())
	}

	/// Applies a due slash: its fraction of the bonded stake and of each unlocking chunk goes
	/// to `T::Slash`.
	pub(crate) fn apply_slash(provider: &T::AccountId, slash_id: SlashId) {
		let Some(mut record) = Providers::<T>::get(provider) else { return };
		let Some(slash) = Self::take_pending_slash(provider, &mut record, slash_id) else {
			return;
		};

		let from_bond = slash.fraction.mul_floor(record.bonded);
		record.bonded = record.bonded.saturating_sub(from_bond);
		let mut amount = from_bond;
		for chunk in record.unlocking.iter_mut() {
			let from_chunk = slash.fraction.mul_floor(chunk.value);
			chunk.value = chunk.value.saturating_sub(from_chunk);
			amount = amount.saturating_add(from_chunk);
		}
		record.unlocking.retain(|chunk| !chunk.value.is_zero());
		let (mut credit, _) = <T::Currency as BalancedHold<_>>::slash(
			&HoldReason::ProviderBond.into(),
			provider,
			amount,
		);
		// The slash's rewards first, from what it took; a reward the account cannot take (below
		// the existential deposit) stays with the rest.
		for (who, reward) in SlashRewards::<T>::take(slash_id).unwrap_or_default() {
			let (part, rest) = credit.split(reward);
			let paid = part.peek();
			credit = match <T::Currency as Balanced<_>>::resolve(&who, part) {
				Ok(()) => {
					Self::deposit_event(Event::SlashRewardPaid { slash_id, who, amount: paid });
					rest
				}
				Err(part) => rest.merge(part),
			};
		}
		T::Slash::on_unbalanced(credit);
		Providers::<T>::insert(provider, record);
		Self::deposit_event(Event::Slashed { provider: provider.clone(), slash_id, amount });
	}

	/// A provider's record with its status and capacity now.
	pub fn provider_view(who: &T::AccountId) -> Option<ProviderView<ProviderOf<T>>> {
		Providers::<T>::get(who).map(|record| ProviderView {
			status: Self::status(&record),
			capacity: Self::capacity(&record),
			record,
		})
	}

	/// Up to `limit` (at most [`MAX_PROVIDERS_PAGE`]) of the providers serving a model, from
	/// position `start` in the order they started serving.
	pub fn providers_serving(
		model_id: ModelId,
		start: u32,
		limit: u32,
	) -> Vec<(T::AccountId, ProviderView<ProviderOf<T>>)> {
		ServingProviders::<T>::get(model_id)
			.into_iter()
			.skip(start as usize)
			.take(limit.min(MAX_PROVIDERS_PAGE) as usize)
			.filter_map(|who| Self::provider_view(&who).map(|view| (who, view)))
			.collect()
	}

	/// Picks a provider for `model_id`, weighted by bonded stake, from `seed`: the first 16
	/// bytes of the seed, read as a little-endian number, modulo the total stake of the
	/// eligible providers, fall in one provider's stretch of the stake line (providers in the
	/// order they started serving).
	pub fn select_provider(
		model_id: ModelId,
		seed: &[u8; 32],
	) -> Option<(T::AccountId, ProviderOf<T>)> {
		let eligible: Vec<(T::AccountId, ProviderOf<T>)> = ServingProviders::<T>::get(model_id)
			.into_iter()
			.filter_map(|who| Providers::<T>::get(&who).map(|record| (who, record)))
			.filter(|(_, record)| Self::is_assignable(record))
			.collect();
		let total: u128 = eligible
			.iter()
			.fold(0u128, |sum, (_, record)| sum.saturating_add(record.bonded.saturated_into()));
		if total == 0 {
			return None;
		}
		let mut draw = [0u8; 16];
		draw.copy_from_slice(&seed[..16]);
		let mut point = u128::from_le_bytes(draw) % total;
		for (who, record) in eligible {
			let stake: u128 = record.bonded.saturated_into();
			if point < stake {
				return Some((who, record));
			}
			// `point` is at least `stake` here.
			point = point.saturating_sub(stake);
		}
		None
	}

	/// Checks the pallet's invariants: each provider's held balance is its bonded plus
	/// unlocking stake; operators and providers pair one to one; the served-model lists and
	/// the per-model provider lists agree; pending slashes and the slash queue agree.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		let mut providers = 0usize;
		let mut serving_entries = 0usize;
		let mut pending_entries = 0usize;
		for (who, record) in Providers::<T>::iter() {
			providers += 1;
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::ProviderBond.into(), &who)
					== Self::total_stake(&record),
				"held stake differs from bonded plus unlocking"
			);
			ensure!(
				ProviderOfOperator::<T>::get(&record.operator).as_ref() == Some(&who),
				"a provider's operator does not point back to it"
			);
			for model_id in &record.served {
				ensure!(
					ServingProviders::<T>::get(model_id).contains(&who),
					"a served model does not list its provider"
				);
			}
			serving_entries += record.served.len();
			let mut pending = 0u32;
			for (slash_id, slash) in PendingSlashes::<T>::iter_prefix(&who) {
				ensure!(slash.id == slash_id, "a pending slash is stored under another id");
				ensure!(
					SlashQueue::<T>::get(slash.apply_at).contains(&(who.clone(), slash.id)),
					"a pending slash is not queued"
				);
				pending += 1;
			}
			ensure!(
				pending == record.pending_slashes,
				"a provider's count of pending slashes differs from its pending slashes"
			);
			pending_entries += pending as usize;
		}
		ensure!(
			ProviderOfOperator::<T>::iter().count() == providers,
			"an operator points to no provider"
		);
		ensure!(
			ServingProviders::<T>::iter_values().map(|list| list.len()).sum::<usize>()
				== serving_entries,
			"a model lists a provider that does not serve it"
		);
		ensure!(
			SlashQueue::<T>::iter_values().map(|queue| queue.len()).sum::<usize>()
				== pending_entries,
			"the slash queue holds a slash no provider has pending"
		);
		ensure!(
			PendingSlashes::<T>::iter_keys().count() == pending_entries,
			"a slash is pending against an account that is not a provider"
		);
		let pending: alloc::collections::BTreeSet<SlashId> =
			PendingSlashes::<T>::iter_keys().map(|(_, slash_id)| slash_id).collect();
		ensure!(
			SlashRewards::<T>::iter_keys().all(|slash_id| pending.contains(&slash_id)),
			"a slash's rewards outlive the slash"
		);
		Ok(())
	}

	/// Up to `size` distinct providers of `model_id` other than `accused`, online, serving it
	/// and bonded at least the minimum, drawn by bonded stake without replacement from `seed`.
	pub fn select_jury(
		model_id: ModelId,
		seed: &[u8; 32],
		accused: &T::AccountId,
		size: u32,
	) -> Vec<(T::AccountId, ProviderOf<T>)> {
		let mut eligible: Vec<(T::AccountId, ProviderOf<T>, u128)> =
			ServingProviders::<T>::get(model_id)
				.into_iter()
				.filter(|who| who != accused)
				.filter_map(|who| Providers::<T>::get(&who).map(|record| (who, record)))
				.filter(|(_, record)| {
					Self::status(record) == ProviderStatus::Online
						&& record.bonded >= T::MinProviderBond::get()
				})
				.map(|(who, record)| {
					let stake = record.bonded.saturated_into();
					(who, record, stake)
				})
				.collect();
		let mut jury = Vec::new();
		for round in 0..size {
			let total =
				eligible.iter().fold(0u128, |sum, (_, _, stake)| sum.saturating_add(*stake));
			if total == 0 {
				break;
			}
			let draw = polkadot_sdk::sp_io::hashing::blake2_256(&(seed, round).encode());
			let mut point_bytes = [0u8; 16];
			point_bytes.copy_from_slice(&draw[..16]);
			let mut point = u128::from_le_bytes(point_bytes) % total;
			let Some(index) = eligible.iter().position(|(_, _, stake)| {
				let hit = point < *stake;
				point = point.saturating_sub(*stake);
				hit
			}) else {
				break;
			};
			let (who, record, _) = eligible.swap_remove(index);
			jury.push((who, record));
		}
		jury
	}
}

/// The reason a wrong result's slash gives.
const WRONG_RESULT: &[u8] = b"a jury found a settled result wrong";

impl<T: Config> ProviderJudging<T::AccountId, BalanceOf<T>> for Pallet<T> {
	fn select_jury(
		model_id: ModelId,
		seed: &[u8; 32],
		accused: &T::AccountId,
		size: u32,
	) -> Vec<(T::AccountId, T::AccountId)> {
		Self::select_jury(model_id, seed, accused, size)
			.into_iter()
			.map(|(who, record)| (who, record.operator))
			.collect()
	}

	fn slash_wrong_result(
		provider: &T::AccountId,
		amount: BalanceOf<T>,
		rewards: Vec<(T::AccountId, BalanceOf<T>)>,
	) -> DispatchResult {
		let record = Self::provider(provider)?;
		let stake: u128 = Self::total_stake(&record).saturated_into();
		let amount: u128 = amount.saturated_into();
		ensure!(stake > 0 && amount > 0, Error::<T>::ZeroFraction);
		let fraction = if amount >= stake {
			Perbill::one()
		} else {
			Perbill::from_rational_with_rounding(amount, stake, Rounding::Up)
				.unwrap_or_else(|()| Perbill::one())
		};
		let rewards = BoundedVec::<_, T::MaxSlashRewards>::truncate_from(rewards);
		let reason = BoundedVec::truncate_from(WRONG_RESULT.to_vec());
		let slash_id = Self::schedule_slash(provider, fraction, reason)?;
		if !rewards.is_empty() {
			SlashRewards::<T>::insert(slash_id, rewards);
		}
		Ok(())
	}
}

impl<T: Config> ProviderAssignment<T::AccountId> for Pallet<T> {
	fn select(model_id: ModelId, seed: &[u8; 32]) -> Option<(T::AccountId, T::AccountId)> {
		Self::select_provider(model_id, seed).map(|(who, record)| (who, record.operator))
	}

	fn start_assignment(provider: &T::AccountId) -> DispatchResult {
		let mut record = Self::provider(provider)?;
		ensure!(record.assignments < Self::capacity(&record), Error::<T>::AtCapacity);
		record.assignments = record.assignments.saturating_add(1);
		Providers::<T>::insert(provider, record);
		Ok(())
	}

	fn end_assignment(provider: &T::AccountId) {
		Providers::<T>::mutate(provider, |record| {
			if let Some(record) = record {
				record.assignments = record.assignments.saturating_sub(1);
			}
		});
	}

	fn assignments() -> Vec<(T::AccountId, u32)> {
		Providers::<T>::iter()
			.filter(|(_, record)| record.assignments > 0)
			.map(|(who, record)| (who, record.assignments))
			.collect()
	}

	fn penalise_missed_assignment(provider: &T::AccountId) -> DispatchResult {
		let reason = BoundedVec::truncate_from(MISSED_ASSIGNMENT.to_vec());
		Self::schedule_slash(provider, T::MissedAssignmentSlash::get(), reason).map(|_| ())
	}
}
