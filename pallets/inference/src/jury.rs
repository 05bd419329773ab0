//! The off-chain juror: checks the results this node's operator keys are drawn to judge with
//! the LoRA service (`POST {url}/v1/verify`) and votes.
//!
//! For each result in [`crate::JuryDuty`] of an operator key in the node's keystore, while a
//! block remains before its votes are counted, the worker reads the prompt and output the
//! settlement put in the offchain index ([`crate::result_key`]), builds the claim from what the
//! chain holds (never from the accused provider): the adapter and its hash and URI, the
//! request's `max_tokens`, the chain's `MaxOutputLength` as `max_output_bytes`, the claimed
//! token counts and truncation, the claimed attribution with the lineage's datasets,
//! `MaxAttributions` as `max_records`, and each dataset's next contribution id at settlement
//! (`as_of`). It votes:
//!
//! - `Valid` when the service finds the claim valid;
//! - `Wrong` when it finds the output, a count or the truncation wrong, or the attribution
//!   wrong while the lineage datasets hold the records they held at settlement (their accepted
//!   weight, less what records issued since added, is what it was);
//! - `Abstain` when only the attribution differs and a record the settlement could draw on
//!   has been removed since (the service no longer holds it, so nothing can be told), or
//!   when the node's offchain index lacks the result (a node that did not import the
//!   settlement's block with indexing on).
//!
//! A service that is down or answers an error is retried on later blocks; a juror that never
//! votes is penalised when the votes are counted. The same lock and resubmission marker as
//! for serving keep two workers from voting twice.

use alloc::{
	format,
	string::{String, ToString},
	vec::Vec,
};

use codec::{Decode, Encode};
use polkadot_sdk::{
	frame_support::pallet_prelude::*,
	frame_system::{
		self,
		offchain::{Account, Signer},
		pallet_prelude::*,
	},
	sp_core::offchain::StorageKind,
	sp_io,
	sp_runtime::{
		offchain::{
			storage::StorageValueRef,
			storage_lock::{BlockAndTime, StorageLock},
			Duration,
		},
		traits::{One, Saturating},
	},
};
use serde::{Deserialize, Serialize};
use tributary_primitives::{DatasetId, DatasetsInspect, ModelsInspect};

use crate::{
	offchain::{lora_service_url, post_json, ServeError, HTTP_DEADLINE_MS, RESUBMIT_AFTER_MS},
	result_key, Call, Config, JuryDuty, Pallet, RequestId, Results, SettledResultOf, Vote,
};

const LOCK_PREFIX: &[u8] = b"tributary/inference/judging/";
const VOTED_PREFIX: &[u8] = b"tributary/inference/voted/";
const LOG_TARGET: &str = "runtime::inference";

/// The reasons `POST /v1/verify` gives that concern the output and the counts rather than the
/// attribution.
const ATTRIBUTION_DIFFERS: &str = "attribution_differs";

#[derive(Serialize)]
struct VerifyBody {
	model: String,
	adapter_hash: String,
	#[serde(skip_serializing_if = "Option::is_none")]
	adapter_uri: Option<String>,
	prompt: String,
	#[serde(skip_serializing_if = "Option::is_none")]
	output: Option<String>,
	#[serde(skip_serializing_if = "Option::is_none")]
	output_hex: Option<String>,
	max_tokens: u32,
	max_output_bytes: u32,
	truncated: bool,
	prompt_tokens: u32,
	completion_tokens: u32,
	attribution: ClaimedAttribution,
}

#[derive(Serialize)]
struct ClaimedAttribution {
	datasets: Vec<DatasetId>,
	max_records: u32,
	records: Vec<ClaimedRecord>,
	as_of: Vec<AsOf>,
}

#[derive(Serialize)]
struct ClaimedRecord {
	dataset_id: DatasetId,
	contribution_id: u32,
	score_ppm: u32,
}

#[derive(Serialize)]
struct AsOf {
	dataset_id: DatasetId,
	next_contribution_id: u32,
	excluded: Vec<u32>,
}

#[derive(Deserialize)]
struct Verification {
	verdict: String,
	#[serde(default)]
	reasons: Vec<Reason>,
}

#[derive(Deserialize)]
struct Reason {
	code: String,
}

impl<T: Config> Pallet<T> {
	/// Judges the results this node's operator keys are drawn for.
	pub(crate) fn judge_assigned(now: BlockNumberFor<T>) {
		for account in Signer::<T, T::AuthorityId>::keystore_accounts() {
			for request_id in JuryDuty::<T>::iter_key_prefix(&account.id) {
				Self::judge_once(now, &account, request_id);
			}
		}
	}

	fn judge_once(now: BlockNumberFor<T>, account: &Account<T>, request_id: RequestId) {
		let Some(result) = Results::<T>::get(request_id) else { return };
		// A vote sent now lands in the next block at the earliest; it must be before the count.
		let crate::Stage::Judging { verdict_at } = result.stage else { return };
		if now.saturating_add(One::one()) >= verdict_at {
			return;
		}
		let lock_key = (LOCK_PREFIX, request_id).encode();
		let mut lock =
			StorageLock::<BlockAndTime<frame_system::Pallet<T>>>::with_block_and_time_deadline(
				&lock_key,
				1,
				Duration::from_millis(HTTP_DEADLINE_MS.saturating_add(10_000)),
			);
		let Ok(_guard) = lock.try_lock() else { return };
		let voted_key = (VOTED_PREFIX, request_id, &account.id).encode();
		let voted = StorageValueRef::persistent(&voted_key);
		let time = || sp_io::offchain::timestamp().unix_millis();
		if let Ok(Some(at)) = voted.get::<u64>() {
			if time() < at.saturating_add(RESUBMIT_AFTER_MS) {
				return;
			}
		}
		match Self::judge_result(request_id, &result) {
			Ok(vote) => {
				log::info!(target: LOG_TARGET, "result {request_id}: voting {vote:?}");
				match Self::send_signed(account, Call::vote { request_id, vote }) {
					Ok(()) => voted.set(&time()),
					Err(error) => log::warn!(
						target: LOG_TARGET,
						"result {request_id}: the vote was not sent ({error:?})"
					),
				}
			}
			Err(error) => log::warn!(
				target: LOG_TARGET,
				"result {request_id}: not judged ({error:?}); retrying on a later block"
			),
		}
	}

	/// The vote on `result`, from the node's LoRA service.
	pub fn judge_result(
		request_id: RequestId,
		result: &SettledResultOf<T>,
	) -> Result<Vote, ServeError> {
		let url = lora_service_url().ok_or(ServeError::NoServiceUrl)?;
		let Some((prompt, output)) =
			sp_io::offchain::local_storage_get(StorageKind::PERSISTENT, &result_key(request_id))
				.and_then(|bytes| <(Vec<u8>, Vec<u8>)>::decode(&mut &bytes[..]).ok())
		else {
			log::warn!(
				target: LOG_TARGET,
				"result {request_id}: its prompt and output are not in this node's offchain index; abstaining"
			);
			return Ok(Vote::Abstain);
		};
		let body = Self::claim(result, prompt, output).ok_or(ServeError::Malformed)?;
		let (status, bytes) = post_json(&verify_url(&url), &body)?;
		// A refusal of the claim itself (an adapter or dataset the service cannot have, a
		// claim past its bounds) will not change on a later block: the juror cannot tell.
		// A full queue (429) or a fault (5xx) is tried again.
		if (400..500).contains(&status) && status != 429 {
			log::warn!(
				target: LOG_TARGET,
				"result {request_id}: the service refused the claim ({status}: {}); abstaining",
				String::from_utf8_lossy(&bytes)
			);
			return Ok(Vote::Abstain);
		}
		if status != 200 {
			return Err(ServeError::Status(status, String::from_utf8_lossy(&bytes).into_owned()));
		}
		let verification: Verification =
			serde_json::from_slice(&bytes).map_err(|_| ServeError::Malformed)?;
		Ok(Self::vote_on(&verification, || Self::records_unchanged(result)))
	}

	/// The vote a verification calls for: only an attribution that differs while the records
	/// may have changed is beyond telling.
	fn vote_on(verification: &Verification, records_unchanged: impl FnOnce() -> bool) -> Vote {
		if verification.verdict == "valid" {
			return Vote::Valid;
		}
		let only_attribution = !verification.reasons.is_empty()
			&& verification.reasons.iter().all(|reason| reason.code == ATTRIBUTION_DIFFERS);
		if only_attribution && !records_unchanged() {
			Vote::Abstain
		} else {
			Vote::Wrong
		}
	}

	/// Whether every lineage dataset still holds the accepted records it held at settlement
	/// (its accepted weight, less that of records issued since, is what it was), and the claim
	/// cites none that had already left when it settled (a record the service drew on and the
	/// chain skipped: no service that follows the chain holds it to recompute with).
	fn records_unchanged(result: &SettledResultOf<T>) -> bool {
		result.contributors.iter().all(Option::is_some)
			&& result.lineage.iter().all(|at| {
				let now = T::Datasets::total_weight(at.dataset_id).unwrap_or_default();
				let since =
					T::Datasets::accepted_weight_from(at.dataset_id, at.next_contribution_id);
				now.checked_sub(since) == Some(at.total_weight)
			})
	}

	/// The claim `result` makes, as `POST /v1/verify` takes it.
	fn claim(result: &SettledResultOf<T>, prompt: Vec<u8>, output: Vec<u8>) -> Option<VerifyBody> {
		let prompt = String::from_utf8(prompt).ok()?;
		let (output, output_hex) = match String::from_utf8(output) {
			Ok(text) => (Some(text), None),
			Err(error) => (None, Some(hex(error.as_bytes()))),
		};
		Some(VerifyBody {
			model: result.adapter_id.to_string(),
			adapter_hash: format!("{:?}", result.adapter_hash),
			adapter_uri: T::Models::adapter_uri(result.adapter_id)
				.and_then(|uri| String::from_utf8(uri).ok())
				.filter(|uri| !uri.is_empty()),
			prompt,
			output,
			output_hex,
			max_tokens: result.max_tokens,
			max_output_bytes: T::MaxOutputLength::get(),
			truncated: result.truncated,
			prompt_tokens: result.input_tokens,
			completion_tokens: result.output_tokens,
			attribution: ClaimedAttribution {
				datasets: result.lineage.iter().map(|at| at.dataset_id).collect(),
				max_records: T::MaxAttributions::get(),
				records: result
					.attribution
					.iter()
					.map(|record| ClaimedRecord {
						dataset_id: record.dataset_id,
						contribution_id: record.contribution_id,
						score_ppm: record.score_ppm,
					})
					.collect(),
				as_of: result
					.lineage
					.iter()
					.map(|at| AsOf {
						dataset_id: at.dataset_id,
						next_contribution_id: at.next_contribution_id,
						excluded: Vec::new(),
					})
					.collect(),
			},
		})
	}
}

/// `{base}/v1/verify` for the stored URL's bytes (a trailing `/` dropped).
fn verify_url(base: &[u8]) -> String {
	let base = String::from_utf8_lossy(base);
	format!("{}/v1/verify", base.trim_end_matches('/'))
}

/// `0x`-prefixed lowercase hex.
fn hex(bytes: &[u8]) -> String {
	let mut out = String::with_capacity(2 + bytes.len() * 2);
	out.push_str("0x");
	for byte in bytes {
		out.push_str(&format!("{byte:02x}"));
	}
	out
}

#[cfg(test)]
mod tests {
	use super::*;

	fn verification(verdict: &str, codes: &[&str]) -> Verification {
		Verification {
			verdict: verdict.into(),
			reasons: codes.iter().map(|code| Reason { code: (*code).into() }).collect(),
		}
	}

	#[test]
	fn a_juror_abstains_only_on_an_attribution_the_records_no_longer_tell() {
		type P = Pallet<crate::mock::Test>;
		assert_eq!(P::vote_on(&verification("valid", &[]), || false), Vote::Valid);
		for unchanged in [true, false] {
			assert_eq!(
				P::vote_on(&verification("invalid", &["not_greedy"]), || unchanged),
				Vote::Wrong
			);
			assert_eq!(
				P::vote_on(
					&verification("invalid", &["attribution_differs", "completion_tokens_differ"]),
					|| unchanged
				),
				Vote::Wrong
			);
		}
		assert_eq!(
			P::vote_on(&verification("invalid", &["attribution_differs"]), || true),
			Vote::Wrong
		);
		assert_eq!(
			P::vote_on(&verification("invalid", &["attribution_differs"]), || false),
			Vote::Abstain
		);
	}

	#[test]
	fn outputs_that_are_not_utf8_go_as_hex() {
		assert_eq!(hex(&[0x00, 0xff, 0x10]), "0x00ff10");
		assert_eq!(verify_url(b"http://h:1/"), "http://h:1/v1/verify");
	}
}
