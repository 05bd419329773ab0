//! Settled results until they vest: challenges, the audit and jury draws when a window closes,
//! votes, verdicts, and paying a result or overturning it.

use super::*;
use polkadot_sdk::frame_support::storage::with_storage_layer;

/// How far the relay chain must have moved past the relay block a result's last event (its
/// settlement or challenge) saw before its draw: a block builds on the newest relay block it
/// knows (`RelayParentOffset` 0), so whoever acted may have seen the next relay block's
/// randomness, but not the one after.
pub const RELAY_BLOCKS_AHEAD: u32 = 2;

/// What `submit_result` found, for [`Pallet::settle`] to keep.
pub(crate) struct SettledFacts<T: Config> {
	pub output_hash: H256,
	pub input_tokens: u32,
	pub output_tokens: u32,
	pub truncated: bool,
	pub fee: BalanceOf<T>,
	pub split: RoyaltySplit,
	pub owner: T::AccountId,
	pub attribution: BoundedVec<AttributedRecord, T::MaxAttributions>,
	pub contributors: Vec<Option<T::AccountId>>,
	pub lineage: Vec<LineageAt>,
}

impl<T: Config> Pallet<T> {
	fn now() -> BlockNumberFor<T> {
		polkadot_sdk::frame_system::Pallet::<T>::block_number()
	}

	/// Keeps a settled result until its window closes: releases the cap above the fee, keeps
	/// the fee held, and queues the close. Returns the block the window closes in.
	pub(crate) fn settle(
		request_id: RequestId,
		request: &RequestOf<T>,
		facts: SettledFacts<T>,
	) -> Result<BlockNumberFor<T>, DispatchError> {
		let challenge_until = request.deadline.saturating_add(T::ChallengePeriod::get());
		let closes_at = challenge_until.saturating_add(T::DrawDelay::get());
		Closes::<T>::try_mutate(closes_at, |queue| queue.try_push(request_id))
			.map_err(|_| Error::<T>::TooManyRequests)?;
		T::Currency::release(
			&HoldReason::InferenceFee.into(),
			&request.requester,
			request.max_fee.saturating_sub(facts.fee),
			Precision::Exact,
		)?;
		let contributors =
			BoundedVec::try_from(facts.contributors).map_err(|_| Error::<T>::InvalidAttribution)?;
		let lineage =
			BoundedVec::try_from(facts.lineage).map_err(|_| Error::<T>::InvalidAttribution)?;
		Results::<T>::insert(
			request_id,
			SettledResult {
				requester: request.requester.clone(),
				model_id: request.model_id,
				adapter_id: request.adapter_id,
				adapter_hash: request.adapter_hash,
				provider: request.provider.clone(),
				owner: facts.owner,
				max_tokens: request.max_tokens,
				output_hash: facts.output_hash,
				input_tokens: facts.input_tokens,
				output_tokens: facts.output_tokens,
				truncated: facts.truncated,
				fee: facts.fee,
				split: facts.split,
				attribution: facts.attribution,
				contributors,
				lineage,
				settled_at: Self::now(),
				challenge_until,
				closes_at,
				seen_relay: DrawRelayNumber::<T>::get(),
				challenge: None,
				jurors: BoundedVec::new(),
				stage: Stage::Open,
			},
		);
		Ok(closes_at)
	}

	pub(crate) fn do_challenge(challenger: T::AccountId, request_id: RequestId) -> DispatchResult {
		let mut result = Results::<T>::get(request_id).ok_or(Error::<T>::UnknownResult)?;
		ensure!(
			result.stage == Stage::Open && Self::now() <= result.challenge_until,
			Error::<T>::ChallengeClosed
		);
		ensure!(result.challenge.is_none(), Error::<T>::AlreadyChallenged);
		let bond = T::ChallengeBond::get();
		T::Currency::hold(&HoldReason::ChallengeBond.into(), &challenger, bond)
			.map_err(|_| Error::<T>::InsufficientBond)?;
		result.challenge = Some(Challenge { challenger: challenger.clone(), bond });
		result.seen_relay = result.seen_relay.max(DrawRelayNumber::<T>::get());
		Results::<T>::insert(request_id, result);
		Self::deposit_event(Event::Challenged { request_id, challenger, bond });
		Ok(())
	}

	pub(crate) fn do_vote(
		operator: T::AccountId,
		request_id: RequestId,
		vote: Vote,
	) -> DispatchResult {
		let mut result = Results::<T>::get(request_id).ok_or(Error::<T>::UnknownResult)?;
		let Stage::Judging { verdict_at } = result.stage else {
			return Err(Error::<T>::NoJury.into());
		};
		ensure!(Self::now() < verdict_at, Error::<T>::VotingClosed);
		let juror = result
			.jurors
			.iter_mut()
			.find(|juror| juror.operator == operator)
			.ok_or(Error::<T>::NotJuror)?;
		ensure!(juror.vote.is_none(), Error::<T>::AlreadyVoted);
		juror.vote = Some(vote);
		let provider = juror.provider.clone();
		Results::<T>::insert(request_id, result);
		JuryDuty::<T>::remove(&operator, request_id);
		Self::deposit_event(Event::Voted { request_id, juror: provider, vote });
		Ok(())
	}

	/// Closes the windows due now (the postponed ones first): each result vests, or waits for a
	/// jury. Returns how many were closed or postponed.
	pub(crate) fn close_windows(now: BlockNumberFor<T>, fresh: bool) -> u32 {
		let postponed = Postponed::<T>::take();
		let due = Closes::<T>::take(now);
		let count = len_u32(postponed.len().saturating_add(due.len()));
		for request_id in postponed.into_iter().chain(due) {
			Self::close_window(request_id, fresh);
		}
		count
	}

	fn close_window(request_id: RequestId, fresh_block: bool) {
		let Some(mut result) = Results::<T>::get(request_id) else { return };
		let relay = DrawRelayNumber::<T>::get();
		let randomness = DrawRandomness::<T>::get();
		let fresh = fresh_block && relay >= result.seen_relay.saturating_add(RELAY_BLOCKS_AHEAD);
		// Wait for randomness nobody who acted on the result could have seen; should the
		// relay chain stall past the room kept for it, draw with what there is.
		if !fresh && Postponed::<T>::try_mutate(|queue| queue.try_push(request_id)).is_ok() {
			return;
		}
		let randomness = randomness.unwrap_or_default();
		let challenged = result.challenge.is_some();
		if !challenged && !Self::audited(&randomness, request_id) {
			Self::vest(request_id, result);
			return;
		}
		// The jury is drawn in its turn, from that block's randomness: a seed fixed now would be
		// known while the providers' stakes can still change.
		result.stage = Stage::AwaitingJury { audit: !challenged };
		Results::<T>::insert(request_id, result);
		Self::enqueue(Queue::Jury, request_id);
		Self::deposit_event(Event::AwaitingJury { request_id, audit: !challenged });
	}

	/// A result vests: queued to be paid.
	fn vest(request_id: RequestId, mut result: SettledResultOf<T>) {
		result.stage = Stage::Vested;
		Results::<T>::insert(request_id, result);
		Self::enqueue(Queue::Pay, request_id);
		Self::deposit_event(Event::Vested { request_id });
	}

	fn enqueue(queue: Queue, request_id: RequestId) {
		QueueBounds::<T>::mutate(queue, |(_, next)| {
			Queued::<T>::insert(queue, *next, request_id);
			*next = next.saturating_add(1);
		});
	}

	/// The first entry of `queue`, taken from it.
	fn dequeue(queue: Queue) -> Option<RequestId> {
		QueueBounds::<T>::mutate(queue, |(first, next)| {
			while *first < *next {
				let taken = Queued::<T>::take(queue, *first);
				*first = first.saturating_add(1);
				if taken.is_some() {
					return taken;
				}
			}
			None
		})
	}

	/// Draws the juries of up to `MaxJuriesPerBlock` results waiting for one, in turn, from this
	/// block's randomness (the caller has checked that no transaction could know it). Returns
	/// how many were taken from the queue.
	pub(crate) fn draw_juries(now: BlockNumberFor<T>) -> u32 {
		let mut drawn = 0u32;
		while drawn < T::MaxJuriesPerBlock::get() {
			let Some(request_id) = Self::dequeue(Queue::Jury) else { break };
			drawn = drawn.saturating_add(1);
			let Some(result) = Results::<T>::get(request_id) else { continue };
			let Stage::AwaitingJury { audit } = result.stage else { continue };
			let seed = polkadot_sdk::sp_io::hashing::blake2_256(
				&(b"tributary/jury", DrawRandomness::<T>::get().unwrap_or_default(), request_id)
					.encode(),
			);
			Self::draw_jury(now, request_id, result, seed, audit);
		}
		drawn
	}

	fn draw_jury(
		now: BlockNumberFor<T>,
		request_id: RequestId,
		mut result: SettledResultOf<T>,
		seed: [u8; 32],
		audit: bool,
	) {
		let drawn =
			T::Judging::select_jury(result.model_id, &seed, &result.provider, T::JurySize::get());
		let verdict_at = now.saturating_add(T::VotingPeriod::get());
		// A jury smaller than a majority of a full one is not drawn: in it, one juror (the
		// challenger's own provider, say) could decide alone. A block draws at most
		// `MaxJuriesPerBlock` juries, and counts the same verdicts.
		let queued = len_u32(drawn.len()) >= Self::quorum()
			&& Verdicts::<T>::try_mutate(verdict_at, |queue| queue.try_push(request_id)).is_ok();
		if !queued {
			if let Some(challenge) = result.challenge.take() {
				Self::release_bond(&challenge);
			}
			Self::deposit_event(Event::NoJury { request_id });
			Self::vest(request_id, result);
			return;
		}
		let jurors: Vec<Juror<T::AccountId>> = drawn
			.into_iter()
			.map(|(provider, operator)| Juror { provider, operator, vote: None })
			.collect();
		for juror in &jurors {
			JuryDuty::<T>::insert(&juror.operator, request_id, ());
		}
		let names = jurors.iter().map(|juror| juror.provider.clone()).collect();
		result.jurors = BoundedVec::truncate_from(jurors);
		result.stage = Stage::Judging { verdict_at };
		Results::<T>::insert(request_id, result);
		Self::deposit_event(Event::JuryDrawn { request_id, jurors: names, audit, verdict_at });
	}

	/// The fewest jurors a jury is drawn with: a majority of `JurySize`, so that a wrong
	/// verdict (most of the drawn jury) always takes at least two jurors when `JurySize` is
	/// three or more.
	pub fn quorum() -> u32 {
		(T::JurySize::get() / 2).saturating_add(1)
	}

	/// Pays vested results in turn while `remaining` covers one more. Returns the weight used.
	pub(crate) fn pay_queued(remaining: Weight) -> Weight {
		let each = T::WeightInfo::pay();
		// The queue's bounds, read and written once more when it runs dry.
		let mut used = T::DbWeight::get().reads_writes(1, 1);
		if !used.all_lte(remaining) {
			return Weight::zero();
		}
		while used.saturating_add(each).all_lte(remaining) {
			// Paying into a full ledger would fail and refund the requester: the rest wait
			// for a later block. (The ledger's queue read, within the room checked for.)
			if !T::Ledger::has_room() {
				used = used.saturating_add(T::DbWeight::get().reads(1));
				break;
			}
			let Some(request_id) = Self::dequeue(Queue::Pay) else { break };
			used = used.saturating_add(each);
			if let Some(result) = Results::<T>::get(request_id).filter(|r| r.stage == Stage::Vested)
			{
				Self::pay_out(request_id, &result);
			}
		}
		used
	}

	/// Whether the audit draw picks the result: with probability `AuditRate`.
	fn audited(randomness: &[u8; 32], request_id: RequestId) -> bool {
		let draw = polkadot_sdk::sp_io::hashing::blake2_256(
			&(b"tributary/audit", randomness, request_id).encode(),
		);
		let mut point = [0u8; 4];
		point.copy_from_slice(&draw[..4]);
		// Below a billion, uniform to within 1 in 4: Perbill's parts.
		u32::from_le_bytes(point) % 1_000_000_000 < T::AuditRate::get().deconstruct()
	}

	/// Counts the votes of the juries due now. Returns how many.
	pub(crate) fn count_verdicts(now: BlockNumberFor<T>) -> u32 {
		let due = Verdicts::<T>::take(now);
		let count = len_u32(due.len());
		for request_id in due {
			if let Some(result) = Results::<T>::get(request_id)
				.filter(|result| matches!(result.stage, Stage::Judging { .. }))
			{
				Self::judge(request_id, result);
			}
		}
		count
	}

	fn judge(request_id: RequestId, mut result: SettledResultOf<T>) {
		let (mut valid, mut wrong, mut missed) = (0u32, 0u32, 0u32);
		for juror in &result.jurors {
			match juror.vote {
				Some(Vote::Valid) => valid = valid.saturating_add(1),
				Some(Vote::Wrong) => wrong = wrong.saturating_add(1),
				Some(Vote::Abstain) => {}
				None => {
					missed = missed.saturating_add(1);
					JuryDuty::<T>::remove(&juror.operator, request_id);
					if T::Providers::penalise_missed_assignment(&juror.provider).is_err() {
						log::warn!(
							target: "runtime::inference",
							"juror {:?} missed its vote on {request_id}; its slash queue is full",
							juror.provider
						);
					}
				}
			}
		}
		let voted = |wanted: Vote| -> Vec<T::AccountId> {
			result
				.jurors
				.iter()
				.filter(|juror| juror.vote == Some(wanted))
				.map(|juror| juror.provider.clone())
				.collect()
		};
		// A wrong result needs most of the drawn jury: abstentions and missed votes do not let
		// one juror overturn it.
		if wrong.saturating_mul(2) > len_u32(result.jurors.len()) {
			Self::overturn(request_id, &result, voted(Vote::Wrong), (valid, wrong, missed));
			return;
		}
		let mut forfeited = BalanceOf::<T>::zero();
		if let Some(challenge) = &result.challenge {
			if valid > 0 {
				forfeited = Self::forfeit_bond(challenge, &result.provider, &voted(Vote::Valid));
			} else {
				Self::release_bond(challenge);
			}
		}
		Self::deposit_event(Event::Upheld { request_id, valid, wrong, missed, forfeited });
		result.challenge = None;
		// The jury is done with it (a vested result may wait blocks for its payment).
		result.jurors = BoundedVec::new();
		Self::vest(request_id, result);
	}

	/// A wrong result: the fee goes back to the requester, the challenger's bond is released,
	/// and the provider's slash is scheduled with the challenger's and jurors' rewards.
	fn overturn(
		request_id: RequestId,
		result: &SettledResultOf<T>,
		found_wrong: Vec<T::AccountId>,
		(valid, wrong, missed): (u32, u32, u32),
	) {
		let refund = T::Currency::release(
			&HoldReason::InferenceFee.into(),
			&result.requester,
			result.fee,
			Precision::BestEffort,
		)
		.unwrap_or_default();
		if refund != result.fee {
			defensive!("a settled result's fee is held until it vests or is overturned");
		}
		let slash = Self::wrong_result_slash(result.fee);
		let mut rewards = Vec::new();
		if let Some(challenge) = &result.challenge {
			Self::release_bond(challenge);
			rewards
				.push((challenge.challenger.clone(), T::ChallengerReward::get().mul_floor(slash)));
		}
		let jurors_share = T::JurorsReward::get().mul_floor(slash);
		let each = jurors_share / BalanceOf::<T>::from(len_u32(found_wrong.len()).max(1));
		rewards.extend(found_wrong.into_iter().map(|juror| (juror, each)));
		rewards.retain(|(_, amount)| !amount.is_zero());
		if let Err(error) = T::Judging::slash_wrong_result(&result.provider, slash, rewards) {
			log::warn!(
				target: "runtime::inference",
				"the slash of {:?} for result {request_id} could not be scheduled: {error:?}",
				result.provider
			);
		}
		Results::<T>::remove(request_id);
		polkadot_sdk::sp_io::offchain_index::clear(&result_key(request_id));
		Self::deposit_event(Event::Overturned {
			request_id,
			provider: result.provider.clone(),
			valid,
			wrong,
			missed,
			refund,
			slash,
		});
	}

	/// `WrongResultSlash + WrongResultFeeMultiple × fee`.
	pub fn wrong_result_slash(fee: BalanceOf<T>) -> BalanceOf<T> {
		T::WrongResultSlash::get()
			.saturating_add(fee.saturating_mul(T::WrongResultFeeMultiple::get().into()))
	}

	fn release_bond(challenge: &Challenge<T::AccountId, BalanceOf<T>>) {
		let released = T::Currency::release(
			&HoldReason::ChallengeBond.into(),
			&challenge.challenger,
			challenge.bond,
			Precision::BestEffort,
		);
		if released != Ok(challenge.bond) {
			defensive!("a challenge's bond is held until the verdict");
		}
	}

	/// A challenge the jury rejected: its bond goes half to the provider and half, shared, to
	/// the jurors who found the result valid (the division's remainder to the provider).
	/// Returns the bond.
	fn forfeit_bond(
		challenge: &Challenge<T::AccountId, BalanceOf<T>>,
		provider: &T::AccountId,
		found_valid: &[T::AccountId],
	) -> BalanceOf<T> {
		let jurors = BalanceOf::<T>::from(len_u32(found_valid.len()).max(1));
		let each = (challenge.bond / 2u32.into()) / jurors;
		let mut payments: Vec<(&T::AccountId, BalanceOf<T>)> =
			found_valid.iter().map(|juror| (juror, each)).collect();
		let to_jurors = each.saturating_mul(jurors);
		payments.push((provider, challenge.bond.saturating_sub(to_jurors)));
		for (to, amount) in payments {
			// The challenger's hold pays; what an account cannot take (below the existential
			// deposit) is released back to the challenger instead.
			// Forced: a hold pays whatever the holder has frozen (a lock on its free balance
			// must not turn a forfeit into a release).
			let paid = T::Currency::transfer_on_hold(
				&HoldReason::ChallengeBond.into(),
				&challenge.challenger,
				to,
				amount,
				Precision::Exact,
				Restriction::Free,
				Fortitude::Force,
			);
			if paid.is_err() {
				let _ = T::Currency::release(
					&HoldReason::ChallengeBond.into(),
					&challenge.challenger,
					amount,
					Precision::BestEffort,
				);
			}
		}
		challenge.bond
	}

	/// A vested result is paid: its fee moves from the requester's hold into the royalties pot
	/// and is divided, and its attribution recorded. Should that fail (it cannot, short of a broken
	/// invariant), the requester gets the fee back rather than lose it.
	pub(crate) fn pay_out(request_id: RequestId, result: &SettledResultOf<T>) {
		Results::<T>::remove(request_id);
		polkadot_sdk::sp_io::offchain_index::clear(&result_key(request_id));
		let paid = with_storage_layer(|| -> DispatchResult {
			// Forced: the fee is held for this, whatever the requester has frozen since.
			T::Currency::transfer_on_hold(
				&HoldReason::InferenceFee.into(),
				&result.requester,
				&T::Royalties::pot(),
				result.fee,
				Precision::Exact,
				Restriction::Free,
				Fortitude::Force,
			)?;
			let spans = Self::span_credits(result);
			let pools: Vec<(DatasetId, u32)> =
				result.lineage.iter().map(|at| (at.dataset_id, at.share_ppm)).collect();
			let (_, earned) = T::Royalties::distribute(
				result.fee,
				&result.split,
				&result.provider,
				&result.owner,
				&spans,
				&pools,
			)?;
			let cited: Vec<CitedRecord<BalanceOf<T>>> = spans
				.iter()
				.zip(earned)
				.map(|(span, earned)| CitedRecord {
					dataset_id: span.dataset_id,
					contribution_id: span.contribution_id,
					score_ppm: span.score_ppm,
					earned,
				})
				.collect();
			T::Ledger::record_output(request_id, result.adapter_id, &cited)
		});
		match paid {
			Ok(()) => Self::deposit_event(Event::Paid { request_id, fee: result.fee }),
			Err(error) => {
				defensive!("a vested result is paid", error);
				let _ = T::Currency::release(
					&HoldReason::InferenceFee.into(),
					&result.requester,
					result.fee,
					Precision::BestEffort,
				);
			}
		}
	}

	/// The credited records of a result: those accepted at settlement.
	fn span_credits(result: &SettledResultOf<T>) -> Vec<SpanCredit<T::AccountId>> {
		result
			.attribution
			.iter()
			.zip(result.contributors.iter())
			.filter_map(|(entry, contributor)| {
				contributor.as_ref().map(|contributor| SpanCredit {
					dataset_id: entry.dataset_id,
					contribution_id: entry.contribution_id,
					contributor: contributor.clone(),
					score_ppm: entry.score_ppm,
				})
			})
			.collect()
	}

	/// What results still open to challenge will credit `who` (as provider, owner or
	/// contributor of attributed records) when they vest. Reads every such result: for the
	/// runtime API, never for a block.
	pub fn vesting_credits(who: &T::AccountId) -> BalanceOf<T> {
		Results::<T>::iter_values()
			.flat_map(|result| {
				T::Royalties::credits(
					result.fee,
					&result.split,
					&result.provider,
					&result.owner,
					&Self::span_credits(&result),
				)
			})
			.filter(|(account, _)| account == who)
			.fold(Zero::zero(), |sum: BalanceOf<T>, (_, amount)| sum.saturating_add(amount))
	}

	/// The results `operator` is drawn to judge and has not voted on.
	pub fn jury_duty_of(operator: &T::AccountId) -> Vec<RequestId> {
		JuryDuty::<T>::iter_key_prefix(operator).collect()
	}

	/// The invariants of results open to challenge: each is queued once, to close or for its
	/// verdict; its bond is held; jury duty is exactly the jurors yet to vote; a jury never
	/// holds the accused or anyone twice. Returns each account's held fees of such results.
	pub(crate) fn try_state_results() -> Result<
		alloc::collections::BTreeMap<T::AccountId, BalanceOf<T>>,
		polkadot_sdk::sp_runtime::TryRuntimeError,
	> {
		use alloc::collections::BTreeMap;
		let mut fees: BTreeMap<T::AccountId, BalanceOf<T>> = Default::default();
		let mut bonds: BTreeMap<T::AccountId, BalanceOf<T>> = Default::default();
		let mut duties = 0usize;
		let postponed = Postponed::<T>::get();
		for (request_id, result) in Results::<T>::iter() {
			ensure!(
				result.settled_at <= result.challenge_until
					&& result.challenge_until < result.closes_at,
				"a result settles before its challenge period ends, which ends before it closes"
			);
			ensure!(
				result.contributors.len() == result.attribution.len(),
				"a result names a contributor (or none) for each attributed record"
			);
			let closing = Closes::<T>::get(result.closes_at)
				.iter()
				.filter(|id| **id == request_id)
				.count()
				.saturating_add(postponed.iter().filter(|id| **id == request_id).count());
			let queued = |queue: Queue| {
				Queued::<T>::iter_prefix_values(queue).filter(|id| *id == request_id).count()
			};
			ensure!(
				closing == usize::from(result.stage == Stage::Open),
				"a result is queued to close once while open, and not after"
			);
			ensure!(
				queued(Queue::Jury)
					== usize::from(matches!(result.stage, Stage::AwaitingJury { .. })),
				"a result waiting for its jury is queued for it once"
			);
			ensure!(
				queued(Queue::Pay) == usize::from(result.stage == Stage::Vested),
				"a vested result is queued to be paid once"
			);
			ensure!(
				result.jurors.is_empty() != matches!(result.stage, Stage::Judging { .. }),
				"a result has jurors exactly while they judge it"
			);
			ensure!(
				result.challenge.is_none() || result.stage != Stage::Vested,
				"a vested result has no challenge left"
			);
			if let Stage::AwaitingJury { audit } = result.stage {
				ensure!(
					audit == result.challenge.is_none(),
					"a result waits for a jury because it was challenged, or else audited"
				);
			}
			if let Stage::Judging { verdict_at } = result.stage {
				ensure!(
					Verdicts::<T>::get(verdict_at).iter().filter(|id| **id == request_id).count()
						== 1,
					"a judged result is queued for its verdict once"
				);
			}
			for (i, juror) in result.jurors.iter().enumerate() {
				ensure!(juror.provider != result.provider, "the accused never judges itself");
				ensure!(
					!result.jurors[..i].iter().any(|earlier| earlier.provider == juror.provider),
					"nobody sits twice on a jury"
				);
				ensure!(
					JuryDuty::<T>::contains_key(&juror.operator, request_id)
						== juror.vote.is_none(),
					"a juror has jury duty exactly until it votes"
				);
				if juror.vote.is_none() {
					duties = duties.saturating_add(1);
				}
			}
			let fee = fees.entry(result.requester.clone()).or_insert_with(Zero::zero);
			*fee = fee.saturating_add(result.fee);
			if let Some(challenge) = &result.challenge {
				let bond = bonds.entry(challenge.challenger.clone()).or_insert_with(Zero::zero);
				*bond = bond.saturating_add(challenge.bond);
			}
		}
		ensure!(JuryDuty::<T>::iter().count() == duties, "jury duty names a juror of an open jury");
		let now = Self::now();
		ensure!(
			Closes::<T>::iter_keys().all(|at| at > now)
				&& Verdicts::<T>::iter_keys().all(|at| at > now),
			"no close or verdict is queued for a block that has begun"
		);
		for (at, queue) in Closes::<T>::iter() {
			ensure!(
				queue.iter().all(|id| Results::<T>::get(id)
					.is_some_and(|r| r.stage == Stage::Open && r.closes_at == at)),
				"a close queue names open results closing then"
			);
		}
		for (at, queue) in Verdicts::<T>::iter() {
			ensure!(
				queue.iter().all(|id| Results::<T>::get(id)
					.is_some_and(|r| r.stage == Stage::Judging { verdict_at: at })),
				"a verdict queue names results its jury judges until then"
			);
		}
		for queue in [Queue::Jury, Queue::Pay] {
			let (first, next) = QueueBounds::<T>::get(queue);
			ensure!(first <= next, "a queue's first entry is not past its end");
			ensure!(
				Queued::<T>::iter_key_prefix(queue).all(|index| first <= index && index < next),
				"a queue's entries lie between its bounds"
			);
		}
		for who in polkadot_sdk::frame_system::Account::<T>::iter_keys() {
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::ChallengeBond.into(), &who)
					== bonds.get(&who).copied().unwrap_or_else(Zero::zero),
				"each account's challenge hold is the bonds of its open challenges"
			);
		}
		ensure!(
			Closes::<T>::iter_values().all(|queue| !queue.is_empty())
				&& Verdicts::<T>::iter_values().all(|queue| !queue.is_empty()),
			"no empty close or verdict queue is kept"
		);
		// (The close and verdict queues are checked against their results above.)
		ensure!(
			postponed.iter().all(|id| Results::<T>::contains_key(id)),
			"the postponed closes name only open results"
		);
		Ok(fees)
	}
}
