//! The pallet's inner workings: the fee a result is charged, closing and expiring requests,
//! and the invariants.

use super::*;

impl<T: Config> Pallet<T> {
	/// `min(cap, base fee + input tokens × price per 1,000 / 1,000 + output tokens × price
	/// per 1,000 / 1,000)` at the prices of the request's time, each token price rounded
	/// down.
	pub fn fee(request: &RequestOf<T>, input_tokens: u32, output_tokens: u32) -> BalanceOf<T> {
		let pricing = &request.pricing;
		let per_thousand = |price: BalanceOf<T>, tokens: u32| -> BalanceOf<T> {
			price.saturating_mul(tokens.into()) / 1_000u32.into()
		};
		pricing
			.base_fee
			.saturating_add(per_thousand(pricing.per_1k_input_tokens, input_tokens))
			.saturating_add(per_thousand(pricing.per_1k_output_tokens, output_tokens))
			.min(request.max_fee)
	}

	/// The open request `request_id` if `operator` is its assigned operator and its deadline
	/// has not passed.
	pub(crate) fn assigned_request(
		request_id: RequestId,
		operator: &T::AccountId,
	) -> Result<RequestOf<T>, DispatchError> {
		let request = Requests::<T>::get(request_id).ok_or(Error::<T>::UnknownRequest)?;
		ensure!(request.operator == *operator, Error::<T>::NotAssignedOperator);
		let now = polkadot_sdk::frame_system::Pallet::<T>::block_number();
		ensure!(now <= request.deadline, Error::<T>::DeadlinePassed);
		Ok(request)
	}

	/// Notes the randomness this block's requests are drawn from, and the relay-chain block it
	/// is from, then closes the windows due in this block and draws the juries waiting, from it.
	/// The runtime calls it once a block, from the validation-data inherent, with the relay
	/// chain's BABE randomness read from the verified relay state proof, before any transaction
	/// of the block; `None` (a proof without it) takes no request in the block rather than
	/// reuse an earlier block's, which everyone knows. Returns the weight of the closes and
	/// draws.
	///
	/// Closing and drawing here, rather than in `on_initialize`, uses randomness no transaction
	/// could react to: every transaction before this point ran in an earlier block, and when the
	/// relay chain has moved on since that block's (`relay_number` above the last noted), none
	/// of them could know it. Had the relay chain not moved, nothing is closed or drawn in this
	/// block: the closes are postponed and the juries wait.
	pub fn note_draw_randomness(randomness: Option<[u8; 32]>, relay_number: u32) -> Weight {
		let moved = relay_number > DrawRelayNumber::<T>::get();
		DrawRandomness::<T>::set(randomness);
		DrawRelayNumber::<T>::put(relay_number);
		let fresh = moved && randomness.is_some();
		let now = polkadot_sdk::frame_system::Pallet::<T>::block_number();
		let closing = Self::close_windows(now, fresh);
		let drawn = if fresh { Self::draw_juries(now) } else { 0 };
		T::WeightInfo::close(closing).saturating_add(T::WeightInfo::draw_juries(drawn))
	}

	/// The seed `requester`'s request is drawn from: the block's relay-chain randomness with
	/// the requester's account and nonce. The nonce is the signer's and the randomness the
	/// relay chain's, so a block author can neither pick the draw nor change it by reordering
	/// the block's requests (a request id would let it); requests of one batch share a seed,
	/// and with it a provider.
	pub(crate) fn draw_seed(requester: &T::AccountId) -> Result<[u8; 32], DispatchError> {
		let randomness = DrawRandomness::<T>::get().ok_or(Error::<T>::NoDrawRandomness)?;
		let nonce = polkadot_sdk::frame_system::Pallet::<T>::account_nonce(requester);
		Ok(polkadot_sdk::sp_io::hashing::blake2_256(
			&(b"tributary/draw", randomness, requester, nonce).encode(),
		))
	}

	/// Pays the request fee from `requester` to the treasury.
	pub(crate) fn pay_request_fee(requester: &T::AccountId) -> DispatchResult {
		let fee = T::RequestFee::get();
		if fee.is_zero() {
			return Ok(());
		}
		T::Currency::transfer(requester, &T::Treasury::get(), fee, Preservation::Preserve)
			.map(|_| ())
	}

	/// Moves `fee` (at most the cap) from the request's hold to `to` and releases the rest of
	/// the cap to the requester: the amount released.
	pub(crate) fn pay_from_cap(
		request: &RequestOf<T>,
		fee: BalanceOf<T>,
		to: &T::AccountId,
	) -> Result<BalanceOf<T>, DispatchError> {
		let reason = HoldReason::InferenceFee.into();
		T::Currency::transfer_on_hold(
			&reason,
			&request.requester,
			to,
			fee,
			Precision::Exact,
			Restriction::Free,
			Fortitude::Polite,
		)?;
		let refund = request.max_fee.saturating_sub(fee);
		T::Currency::release(&reason, &request.requester, refund, Precision::Exact)?;
		Ok(refund)
	}

	/// A declined request's base fee goes from the requester's hold to the treasury and the
	/// rest of the cap is released: the fee.
	pub(crate) fn settle_decline(request: &RequestOf<T>) -> Result<BalanceOf<T>, DispatchError> {
		// `request` refuses a cap below the base fee; the minimum only keeps this exact.
		let fee = request.pricing.base_fee.min(request.max_fee);
		Self::pay_from_cap(request, fee, &T::Treasury::get())?;
		Ok(fee)
	}

	/// Forgets a settled or expired request and ends its provider's assignment.
	pub(crate) fn close(request_id: RequestId, request: &RequestOf<T>) {
		Requests::<T>::remove(request_id);
		AssignmentsByOperator::<T>::remove(&request.operator, request_id);
		// (Already taken when the request expires.)
		Expiries::<T>::mutate_exists(request.deadline.saturating_add(One::one()), |queue| {
			if let Some(ids) = queue {
				ids.retain(|id| *id != request_id);
				if ids.is_empty() {
					*queue = None;
				}
			}
		});
		T::Providers::end_assignment(&request.provider);
	}

	/// Releases an unanswered request's cap and penalises its provider.
	pub(crate) fn expire(request_id: RequestId) {
		let Some(request) = Requests::<T>::get(request_id) else { return };
		let released = T::Currency::release(
			&HoldReason::InferenceFee.into(),
			&request.requester,
			request.max_fee,
			Precision::BestEffort,
		);
		if released != Ok(request.max_fee) {
			defensive!("an open request's cap is held for it");
		}
		let penalised = T::Providers::penalise_missed_assignment(&request.provider).is_ok();
		if !penalised {
			log::warn!(
				target: "runtime::inference",
				"request {request_id} expired; its provider's slash queue is full, no penalty"
			);
		}
		Self::close(request_id, &request);
		Self::deposit_event(Event::Expired { request_id, provider: request.provider, penalised });
	}

	/// The open requests assigned to `operator`.
	pub fn assigned_to(operator: &T::AccountId) -> Vec<RequestId> {
		AssignmentsByOperator::<T>::iter_key_prefix(operator).collect()
	}

	/// Every open request is assigned, queued for expiry once, and its cap held; every
	/// `InferenceFee` hold is the caps of its account's open requests and the fees of its
	/// results still open to challenge; each provider's count of assignments in progress is its
	/// number of open requests; and the invariants of results open to challenge
	/// ([`Self::try_state_results`]).
	pub fn do_try_state() -> Result<(), polkadot_sdk::sp_runtime::TryRuntimeError> {
		use alloc::collections::BTreeMap;
		let mut held: BTreeMap<T::AccountId, BalanceOf<T>> = Self::try_state_results()?;
		let mut assigned: BTreeMap<T::AccountId, u32> = Default::default();
		for (request_id, request) in Requests::<T>::iter() {
			let count = assigned.entry(request.provider.clone()).or_default();
			*count = count.saturating_add(1);
			ensure!(
				AssignmentsByOperator::<T>::contains_key(&request.operator, request_id),
				"an open request is assigned to its operator"
			);
			ensure!(
				Expiries::<T>::get(request.deadline.saturating_add(One::one()))
					.iter()
					.filter(|id| **id == request_id)
					.count() == 1,
				"an open request is queued for expiry once"
			);
			let sum = held.entry(request.requester.clone()).or_insert_with(Zero::zero);
			*sum = sum.saturating_add(request.max_fee);
		}
		for who in polkadot_sdk::frame_system::Account::<T>::iter_keys() {
			ensure!(
				T::Currency::balance_on_hold(&HoldReason::InferenceFee.into(), &who)
					== held.get(&who).copied().unwrap_or_else(Zero::zero),
				"each account's fee hold is its open requests' caps and its vesting results' fees"
			);
		}
		ensure!(
			T::Providers::assignments().into_iter().collect::<BTreeMap<_, _>>() == assigned,
			"each provider's assignments in progress are its open requests"
		);
		ensure!(
			Expiries::<T>::iter_values().all(|queue| !queue.is_empty()),
			"no empty expiry queue is kept"
		);
		for (operator, request_id, ()) in AssignmentsByOperator::<T>::iter() {
			ensure!(
				Requests::<T>::get(request_id).is_some_and(|r| r.operator == operator),
				"an assignment names an open request of its operator"
			);
		}
		Ok(())
	}
}
