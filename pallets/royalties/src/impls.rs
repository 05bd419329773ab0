//! How a fee is divided and how pools settle: the pallet's inner workings, the settlement the
//! inference pallet calls, and the weight observer pallet-datasets calls.

use super::*;

impl<T: Config> Pallet<T> {
	/// The pot: fees are paid into it and claims paid out of it.
	pub fn pot_account() -> T::AccountId {
		T::PalletId::get().into_account_truncating()
	}

	/// `who`'s unsettled earnings in `dataset_id` at `weight`, in whole planck.
	fn unsettled(dataset_id: DatasetId, who: &T::AccountId, weight: u64) -> BalanceOf<T> {
		let accumulator = Pools::<T>::get(dataset_id).map_or(0, |p| p.reward_per_weight);
		let paid = PoolPositions::<T>::get(who, dataset_id).map_or(0, |s| s.reward_per_weight_paid);
		earnings(weight, accumulator, paid).0.saturated_into()
	}

	/// Moves `who`'s earnings at `weight` since it was last settled into its accrued
	/// rewards (the fraction of a planck left over into the pool's residue), and marks it
	/// settled at the pool's current accumulator. A position is kept while it may earn
	/// (`weight`, the weight earned under, is about to change when the datasets pallet
	/// calls this); `claim_from_datasets` removes one left without weight.
	pub(crate) fn settle(dataset_id: DatasetId, who: &T::AccountId, weight: u64) {
		let mut pool = Pools::<T>::get(dataset_id);
		let accumulator = pool.as_ref().map_or(0, |p| p.reward_per_weight);
		let mut stake = PoolPositions::<T>::get(who, dataset_id).unwrap_or_default();
		let (whole, fraction) = earnings(weight, accumulator, stake.reward_per_weight_paid);
		stake.accrued = stake.accrued.saturating_add(whole.saturated_into());
		stake.reward_per_weight_paid = accumulator;
		if let Some(pool) = pool.as_mut().filter(|_| fraction != 0) {
			pool.residue = pool.residue.saturating_add(fraction);
			Pools::<T>::insert(dataset_id, pool);
		}
		PoolPositions::<T>::insert(who, dataset_id, stake);
	}

	/// What `who` could claim now, as the runtime API answers it (`vesting` is the inference
	/// pallet's to fill in).
	pub fn pending_royalties(who: &T::AccountId) -> PendingRoyalties<BalanceOf<T>> {
		let (credits, pools) = Self::pending(who);
		let total = pools.iter().fold(credits, |total, (_, amount)| total.saturating_add(*amount));
		PendingRoyalties { credits, pools, total, vesting: Zero::zero() }
	}

	/// What `who` could claim now: credits, and its shares of every pool it has a
	/// position in.
	pub fn pending(who: &T::AccountId) -> (BalanceOf<T>, Vec<(DatasetId, BalanceOf<T>)>) {
		let credits = Credits::<T>::get(who).unwrap_or_default();
		let pools = PoolPositions::<T>::iter_prefix(who)
			.map(|(dataset_id, stake)| {
				let weight = T::Datasets::contributor_weight(dataset_id, who);
				let unsettled = Self::unsettled(dataset_id, who, weight);
				(dataset_id, stake.accrued.saturating_add(unsettled))
			})
			.filter(|(_, amount)| !amount.is_zero())
			.collect();
		(credits, pools)
	}

	pub(crate) fn credit(who: &T::AccountId, amount: BalanceOf<T>) -> DispatchResult {
		if amount.is_zero() {
			return Ok(());
		}
		let total = TotalCredits::<T>::get().checked_add(&amount).ok_or(Error::<T>::Overflow)?;
		let mine = Credits::<T>::get(who)
			.unwrap_or_default()
			.checked_add(&amount)
			.ok_or(Error::<T>::Overflow)?;
		Credits::<T>::insert(who, mine);
		TotalCredits::<T>::put(total);
		Ok(())
	}

	/// The part of a fee's data share credited to matched records: `SpanShare` of it when the
	/// output matched any, nothing otherwise.
	fn span_part(data: BalanceOf<T>, spans: &[SpanCredit<T::AccountId>]) -> BalanceOf<T> {
		if spans.is_empty() {
			Zero::zero()
		} else {
			T::SpanShare::get().mul_floor(data)
		}
	}

	/// `amount × parts / 1,000,000`, rounded down.
	pub(crate) fn part(amount: BalanceOf<T>, parts: u32) -> BalanceOf<T> {
		Permill::from_parts(parts.min(MILLION)).mul_floor(amount)
	}

	/// Adds `amount` to `dataset_id`'s pool, with the pool's residue, and returns what was
	/// added: all of `amount`, or nothing for a pool with no weight (whose part is dust).
	pub(crate) fn fill_pool(
		dataset_id: DatasetId,
		amount: BalanceOf<T>,
	) -> Result<BalanceOf<T>, DispatchError> {
		let total_weight = T::Datasets::total_weight(dataset_id).unwrap_or(0);
		if total_weight == 0 || amount.is_zero() {
			return Ok(Zero::zero());
		}
		let amount_u128: u128 = amount.try_into().map_err(|_| Error::<T>::Overflow)?;
		let mut pool = Pools::<T>::get(dataset_id).unwrap_or_default();
		let scaled = U256::from(amount_u128)
			.saturating_mul(U256::from(SCALE))
			.saturating_add(U256::from(pool.residue));
		let weight = U256::from(total_weight);
		let increment: u128 = scaled
			.checked_div(weight)
			.and_then(|increment| increment.try_into().ok())
			.ok_or(Error::<T>::Overflow)?;
		// Below `total_weight`, so below u64::MAX.
		pool.residue = scaled.checked_rem(weight).map_or(0, |rest| rest.low_u128());
		pool.reward_per_weight =
			pool.reward_per_weight.checked_add(increment).ok_or(Error::<T>::Overflow)?;
		pool.outstanding = pool.outstanding.checked_add(&amount).ok_or(Error::<T>::Overflow)?;
		let total =
			TotalOutstanding::<T>::get().checked_add(&amount).ok_or(Error::<T>::Overflow)?;
		Pools::<T>::insert(dataset_id, pool);
		TotalOutstanding::<T>::put(total);
		Ok(amount)
	}

	/// The pot covers every credit, every pool's outstanding rewards and the treasury's
	/// pending amount; each pool's outstanding rewards are exactly what its contributors
	/// hold (accrued, and unsettled at their weight) plus its residue.
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		let credits = Credits::<T>::iter_values()
			.fold(BalanceOf::<T>::zero(), |sum, c| sum.saturating_add(c));
		ensure!(credits == TotalCredits::<T>::get(), "TotalCredits is the sum of Credits");
		let pools = Pools::<T>::iter_values()
			.fold(BalanceOf::<T>::zero(), |sum, p| sum.saturating_add(p.outstanding));
		ensure!(pools == TotalOutstanding::<T>::get(), "TotalOutstanding is the pools' sum");
		let owed = credits
			.saturating_add(pools)
			.saturating_add(TreasuryPending::<T>::get())
			.saturating_add(T::Currency::minimum_balance());
		ensure!(
			T::Currency::balance(&Self::pot_account()) >= owed,
			"the pot covers everything owed"
		);
		ensure!(
			TotalSentToTreasury::<T>::get().saturating_add(TreasuryPending::<T>::get())
				== TotalTreasuryShares::<T>::get().saturating_add(TotalDust::<T>::get()),
			"the treasury was sent, or is owed, exactly its shares and the dust"
		);
		// Per pool: what its positions hold (in 10^-12 planck) and their weight.
		let mut held: alloc::collections::BTreeMap<DatasetId, (U256, u64)> = Default::default();
		for (who, dataset_id, stake) in PoolPositions::<T>::iter() {
			let pool = Pools::<T>::get(dataset_id).unwrap_or_default();
			ensure!(
				stake.reward_per_weight_paid <= pool.reward_per_weight,
				"no stake is settled beyond its pool"
			);
			let weight = T::Datasets::contributor_weight(dataset_id, &who);
			let accrued: u128 = stake.accrued.try_into().map_err(|_| "an accrued overflow")?;
			let unsettled = U256::from(weight).saturating_mul(U256::from(
				pool.reward_per_weight.saturating_sub(stake.reward_per_weight_paid),
			));
			let entry = held.entry(dataset_id).or_insert((U256::zero(), 0));
			entry.0 = entry
				.0
				.saturating_add(U256::from(accrued).saturating_mul(U256::from(SCALE)))
				.saturating_add(unsettled);
			entry.1 = entry.1.saturating_add(weight);
		}
		for (dataset_id, pool) in Pools::<T>::iter() {
			ensure!(T::Datasets::dataset_exists(dataset_id), "a pool's dataset does not exist");
			let (positions, staked_weight) =
				held.get(&dataset_id).copied().unwrap_or((U256::zero(), 0));
			// Contributors without a position have held their weight since the pool began.
			let unstaked = T::Datasets::total_weight(dataset_id)
				.unwrap_or(0)
				.checked_sub(staked_weight)
				.ok_or("positions hold more weight than the dataset")?;
			let outstanding: u128 =
				pool.outstanding.try_into().map_err(|_| "an outstanding overflow")?;
			ensure!(
				U256::from(outstanding).saturating_mul(U256::from(SCALE))
					== positions
						.saturating_add(
							U256::from(unstaked).saturating_mul(U256::from(pool.reward_per_weight))
						)
						.saturating_add(U256::from(pool.residue)),
				"a pool's outstanding rewards are its contributors' shares and its residue"
			);
		}
		Ok(())
	}
}

/// `weight × (accumulator − paid)` in whole planck, and the fraction of a planck left over
/// (in 10^-12 planck).
fn earnings(weight: u64, accumulator: u128, paid: u128) -> (u128, u128) {
	let product = U256::from(weight).saturating_mul(U256::from(accumulator.saturating_sub(paid)));
	let scale = U256::from(SCALE);
	let whole = product.checked_div(scale).unwrap_or_default();
	let fraction = product.checked_rem(scale).unwrap_or_default();
	(whole.try_into().unwrap_or(u128::MAX), fraction.low_u128())
}

impl<T: Config> Settlement<T::AccountId, BalanceOf<T>> for Pallet<T> {
	fn pot() -> T::AccountId {
		Self::pot_account()
	}

	fn distribute(
		fee: BalanceOf<T>,
		split: &RoyaltySplit,
		provider: &T::AccountId,
		owner: &T::AccountId,
		spans: &[SpanCredit<T::AccountId>],
		pools: &[(DatasetId, u32)],
	) -> Result<(Distribution<BalanceOf<T>>, Vec<BalanceOf<T>>), DispatchError> {
		ensure!(split.total_parts() == MILLION, Error::<T>::InvalidSplit);
		let scores = spans.iter().try_fold(0u32, |sum, s| sum.checked_add(s.score_ppm));
		ensure!(scores.is_some_and(|s| s <= MILLION), Error::<T>::ScoresOverflow);
		let scores = scores.unwrap_or(0);
		let lineage = pools.iter().try_fold(0u32, |sum, p| sum.checked_add(p.1));
		ensure!(pools.is_empty() || lineage == Some(MILLION), Error::<T>::InvalidLineage);
		for (i, (dataset_id, _)) in pools.iter().enumerate() {
			ensure!(
				!pools[..i].iter().any(|(earlier, _)| earlier == dataset_id),
				Error::<T>::DuplicateDataset
			);
		}
		// The fee must be in the pot beside everything already owed (and the pot's own
		// existential deposit).
		let owed = TotalCredits::<T>::get()
			.saturating_add(TotalOutstanding::<T>::get())
			.saturating_add(TreasuryPending::<T>::get())
			.saturating_add(T::Currency::minimum_balance());
		ensure!(
			T::Currency::balance(&Self::pot_account()) >= owed.saturating_add(fee),
			Error::<T>::FeeNotInPot
		);

		let provider_share = split.provider.mul_floor(fee);
		let owner_share = split.owner.mul_floor(fee);
		let treasury_share = split.treasury.mul_floor(fee);
		let data = split.data.mul_floor(fee);
		let shares = provider_share
			.saturating_add(owner_share)
			.saturating_add(treasury_share)
			.saturating_add(data);
		let mut dust = fee.saturating_sub(shares);

		// The span part, by score; what scores leave unassigned joins the pool part.
		let span_part = Self::span_part(data, spans);
		let mut earned = Vec::with_capacity(spans.len());
		let mut spans_paid = BalanceOf::<T>::zero();
		for span in spans {
			let amount = Self::part(span_part, span.score_ppm);
			Self::credit(&span.contributor, amount)?;
			spans_paid = spans_paid.saturating_add(amount);
			earned.push(amount);
		}
		let unassigned = Self::part(span_part, MILLION.saturating_sub(scores));
		dust = dust.saturating_add(span_part.saturating_sub(spans_paid).saturating_sub(unassigned));
		let pool_part = data.saturating_sub(span_part).saturating_add(unassigned);

		// The pool part, by lineage share.
		let mut pools_paid = BalanceOf::<T>::zero();
		for (dataset_id, share) in pools {
			let amount = Self::part(pool_part, *share);
			let claimable = Self::fill_pool(*dataset_id, amount)?;
			pools_paid = pools_paid.saturating_add(claimable);
		}
		dust = dust.saturating_add(pool_part.saturating_sub(pools_paid));

		Self::credit(provider, provider_share)?;
		Self::credit(owner, owner_share)?;
		let to_treasury =
			TreasuryPending::<T>::get().saturating_add(treasury_share).saturating_add(dust);
		if !to_treasury.is_zero() {
			let paid = with_storage_layer(|| {
				T::Currency::transfer(
					&Self::pot_account(),
					&T::TreasuryAccount::get(),
					to_treasury,
					Preservation::Preserve,
				)
			});
			// An emptied treasury account cannot take less than the existential deposit: the
			// amount waits for the next settlement rather than failing this one.
			match paid {
				Ok(_) => {
					TreasuryPending::<T>::kill();
					TotalSentToTreasury::<T>::mutate(|sent| {
						*sent = sent.saturating_add(to_treasury)
					});
				}
				Err(DispatchError::Token(TokenError::BelowMinimum | TokenError::CannotCreate)) => {
					TreasuryPending::<T>::put(to_treasury)
				}
				Err(error) => return Err(error),
			}
		}
		TotalDust::<T>::mutate(|total| *total = total.saturating_add(dust));
		TotalTreasuryShares::<T>::mutate(|total| *total = total.saturating_add(treasury_share));
		let distribution = Distribution {
			provider: provider_share,
			owner: owner_share,
			treasury: treasury_share,
			spans: spans_paid,
			pools: pools_paid,
			dust,
		};
		Self::deposit_event(Event::Distributed { fee, distribution: distribution.clone() });
		Ok((distribution, earned))
	}

	fn credits(
		fee: BalanceOf<T>,
		split: &RoyaltySplit,
		provider: &T::AccountId,
		owner: &T::AccountId,
		spans: &[SpanCredit<T::AccountId>],
	) -> Vec<(T::AccountId, BalanceOf<T>)> {
		let span_part = Self::span_part(split.data.mul_floor(fee), spans);
		[
			(provider.clone(), split.provider.mul_floor(fee)),
			(owner.clone(), split.owner.mul_floor(fee)),
		]
		.into_iter()
		.chain(
			spans
				.iter()
				.map(|span| (span.contributor.clone(), Self::part(span_part, span.score_ppm))),
		)
		.collect()
	}
}

impl<T: Config> WeightObserver<T::AccountId> for Pallet<T> {
	fn on_weight_change(dataset_id: DatasetId, who: &T::AccountId, old: u64, new: u64) {
		// Earnings under the old weight first.
		Pallet::<T>::settle(dataset_id, who, old);
		// A position left without weight and with nothing to claim goes.
		if new == 0 && PoolPositions::<T>::get(who, dataset_id).is_some_and(|s| s.accrued.is_zero())
		{
			PoolPositions::<T>::remove(who, dataset_id);
		}
	}
}
