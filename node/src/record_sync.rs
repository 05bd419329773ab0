//! Record sync: the node keeps its LoRA service's dataset indexes equal to the chain's
//! accepted records, for the datasets its providers' models train on.
//!
//! The service knows no chain. For every operator key in the keystore (key type `trib`), the
//! node finds the provider it works for (`ProvidersApi::provider_of_operator`), the models that
//! provider serves, and each active model's datasets (an adapter's lineage names only those).
//! For each such dataset it compares the accepted contributions on chain (`DatasetsApi::
//! contributions`, page by page) with the records the service lists (`GET
//! /v1/datasets/{id}/records`), removes from the service what the chain no longer accepts
//! (`DELETE /v1/datasets/{id}/records/{ids}`: withdrawn, removed, or never on chain), and pushes
//! what it lacks (`POST /v1/datasets/{id}/records` with the text and its content hash, which the
//! service checks; bytes that are not UTF-8 go through `POST /v1/blobs` first, stored under the
//! hash the service computes). Record bytes come from the block bodies that indexed them
//! (`BlockBackend::indexed_transaction`), checked against their hash before they are sent.
//!
//! A round runs on each new best block, unless one is running; blocks imported meanwhile are
//! folded into the next round. A round pushes at most [`MAX_RECORDS_PER_ROUND`] records and
//! [`MAX_BYTES_PER_ROUND`] bytes and removes at most [`MAX_REMOVALS_PER_ROUND`]; what is left
//! waits for the next block.
//!
//! There is no cursor to keep: the service's listing is what it holds and the chain's state
//! is what it should hold, so the round is idempotent, and a restart of either side (the
//! service started without its data directory, the node anew) is caught up by the next round.
//! A cursor in off-chain storage would go stale the moment the service lost or gained records
//! by other hands. To spare unchanged datasets a full comparison every block, a dataset in sync
//! is skipped while its on-chain counters (total weight, next contribution id, contribution
//! count: any accept, removal or new contribution changes one of them) and the service's record
//! and token counts for it stay what they were when it was last found in sync.
//!
//! Datasets no served model names are left as they are: the service may hold them for other
//! reasons, and the node neither adds to them nor removes from them.

use std::{
	collections::{BTreeMap, BTreeSet, HashMap, HashSet},
	sync::Arc,
	time::{Duration, Instant},
};

use polkadot_sdk::*;

use futures::{FutureExt, StreamExt};
use http_body_util::{BodyExt, Full, Limited};
use hyper::{body::Bytes, header, Method, Request, StatusCode};
use hyper_util::{client::legacy::Client, rt::TokioExecutor};
use pallet_datasets_runtime_api::DatasetsApi;
use pallet_models_runtime_api::ModelsApi;
use pallet_providers_runtime_api::ProvidersApi;
use sc_client_api::{BlockBackend, BlockchainEvents};
use sp_api::{ApiExt, ProvideRuntimeApi};
use sp_blockchain::HeaderBackend;
use sp_keystore::KeystorePtr;
use substrate_prometheus_endpoint::{register, Counter, PrometheusError, Registry, U64};
use tributary_runtime::{
	offchain::OPERATOR_KEY_TYPE, opaque::Block, AccountId, ContributionRecord, DatasetRecord, Hash,
};

use crate::service::{LoraService, ParachainClient};

const LOG_TARGET: &str = "record-sync";

/// The most records one round pushes.
pub const MAX_RECORDS_PER_ROUND: usize = 256;
/// The most record bytes one round pushes (a record longer than this still goes, alone).
pub const MAX_BYTES_PER_ROUND: usize = 16 << 20;
/// The most records one round removes.
pub const MAX_REMOVALS_PER_ROUND: usize = 1000;
/// The most ids one `DELETE` names (its URL stays under 3 KiB).
const REMOVALS_PER_REQUEST: usize = 250;
/// The most JSON one push sends (a record larger than this still goes, alone; the service
/// takes six times its `--max-record-bytes` in one body).
const MAX_BATCH_JSON: usize = 8 << 20;
/// How many records a page of the service's listing asks for.
const LIST_PAGE: u32 = 1000;
/// How many contributions a page of the runtime API returns at most.
const CHAIN_PAGE: u32 = 100;
/// How long a listing may take.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a push or a removal may take: the service tokenizes, merges and rebuilds segments
/// (a merge of a large dataset's segments takes minutes) before it answers.
const WRITE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// The largest answer read from the service.
const MAX_RESPONSE_BYTES: usize = 64 << 20;
/// How often the same failure is logged as a warning (it is logged at debug level between).
const WARN_EVERY: Duration = Duration::from_secs(60);

type ContributionId = u32;
type DatasetId = u32;
type HttpClient = Client<
	hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
	Full<Bytes>,
>;

/// Why a round stopped.
#[derive(Debug)]
pub enum SyncError {
	/// A runtime API call failed, or the runtime lacks the APIs the sync needs.
	Chain(String),
	/// The service could not be reached, timed out, or answered what the sync cannot use.
	Service(String),
}

impl std::fmt::Display for SyncError {
	fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
		match self {
			Self::Chain(e) => write!(f, "reading the chain: {e}"),
			Self::Service(e) => write!(f, "calling the LoRA service: {e}"),
		}
	}
}

fn chain_error(e: impl std::fmt::Display) -> SyncError {
	SyncError::Chain(e.to_string())
}

/// The sync's Prometheus counters.
#[derive(Clone)]
struct Metrics {
	pushed: Counter<U64>,
	pushed_bytes: Counter<U64>,
	removed: Counter<U64>,
	unavailable: Counter<U64>,
	refused: Counter<U64>,
	failed_rounds: Counter<U64>,
}

impl Metrics {
	fn register(registry: &Registry) -> Result<Self, PrometheusError> {
		let counter = |name: &str, help: &str| register(Counter::new(name, help)?, registry);
		Ok(Self {
			pushed: counter(
				"tributary_record_sync_pushed_total",
				"Records pushed to the LoRA service",
			)?,
			pushed_bytes: counter(
				"tributary_record_sync_pushed_bytes_total",
				"Bytes of records pushed to the LoRA service",
			)?,
			removed: counter(
				"tributary_record_sync_removed_total",
				"Records removed from the LoRA service because the chain no longer accepts them",
			)?,
			unavailable: counter(
				"tributary_record_sync_unavailable_total",
				"Accepted records whose bytes this node does not hold (genesis records, warp sync, pruning)",
			)?,
			refused: counter(
				"tributary_record_sync_refused_total",
				"Accepted records the LoRA service refused to index (not offered again)",
			)?,
			failed_rounds: counter(
				"tributary_record_sync_failed_rounds_total",
				"Sync rounds stopped by an error (retried on the next block)",
			)?,
		})
	}
}

/// What a dataset looked like, on chain and in the service, when it was last found in sync.
#[derive(Clone, PartialEq, Eq, Debug)]
struct Fingerprint {
	total_weight: u64,
	next_contribution_id: ContributionId,
	contributions: u32,
	service_records: u64,
	service_tokens: u64,
}

/// What one round did.
#[derive(Default, Debug, PartialEq, Eq)]
pub struct Round {
	pub pushed: usize,
	pub pushed_bytes: usize,
	pub removed: usize,
	pub unavailable: usize,
	/// Records the service refused (see [`RecordSync::push`]).
	pub refused: usize,
	/// Whether every wanted dataset is now in sync.
	pub complete: bool,
	/// Why datasets could not be brought in sync (they are tried again on the next block).
	pub failures: Vec<String>,
}

/// Records encoded for one push.
#[derive(Default)]
struct Batch {
	records: Vec<Pending>,
	json_bytes: usize,
}

/// A record on its way to the service.
struct Pending {
	contribution_id: ContributionId,
	hash: Hash,
	length: usize,
	encoded: Vec<u8>,
}

/// What a round may still push and remove.
struct Budget {
	records: usize,
	bytes: usize,
	removals: usize,
}

impl Budget {
	fn new() -> Self {
		Self {
			records: MAX_RECORDS_PER_ROUND,
			bytes: MAX_BYTES_PER_ROUND,
			removals: MAX_REMOVALS_PER_ROUND,
		}
	}
}

/// Keeps the LoRA service's records equal to the chain's (see the module's documentation).
pub struct RecordSync {
	client: Arc<ParachainClient>,
	keystore: KeystorePtr,
	http: HttpClient,
	url: String,
	/// Sent to the listing (a client route: the admin token serves there too).
	read_token: Option<String>,
	/// Sent to the routes that change what the service holds.
	admin_token: Option<String>,
	in_sync: HashMap<DatasetId, Fingerprint>,
	/// Records the service refused or whose bytes this node lacks: not offered again.
	skipped: HashSet<(DatasetId, ContributionId, Hash)>,
	/// Datasets kept whether or not a provider of this node serves them (`--lora-sync-datasets`).
	always: BTreeSet<DatasetId>,
	metrics: Option<Metrics>,
}

impl RecordSync {
	pub fn new(
		client: Arc<ParachainClient>,
		keystore: KeystorePtr,
		service: &LoraService,
		registry: Option<&Registry>,
	) -> Result<Self, String> {
		let connector = hyper_rustls::HttpsConnectorBuilder::new()
			.with_provider_and_native_roots(rustls::crypto::ring::default_provider())
			.map_err(|e| format!("loading the TLS roots for the LoRA service: {e}"))?
			.https_or_http()
			.enable_http1()
			.build();
		let metrics = registry
			.map(Metrics::register)
			.transpose()
			.map_err(|e| format!("registering the record sync's metrics: {e}"))?;
		Ok(Self {
			client,
			keystore,
			http: Client::builder(TokioExecutor::new()).build(connector),
			url: service.url.trim_end_matches('/').to_string(),
			read_token: service.admin_token.clone().or_else(|| service.api_key.clone()),
			admin_token: service.admin_token.clone(),
			in_sync: HashMap::new(),
			skipped: HashSet::new(),
			always: service.sync_datasets.iter().copied().collect(),
			metrics,
		})
	}

	/// Runs a round on every new best block, for as long as the node runs.
	pub async fn run(mut self) {
		let mut blocks = self.client.import_notification_stream();
		let mut last_warning: Option<(String, Instant)> = None;
		let mut backlog = true;
		loop {
			// Wait for a new best block (or go on at once with work left), then take the
			// newest of those that came meanwhile.
			while !backlog {
				match blocks.next().await {
					Some(block) if block.is_new_best => break,
					Some(_) => {}
					None => return,
				}
			}
			while let Some(Some(_)) = blocks.next().now_or_never() {}
			let best = self.client.info().best_hash;
			match self.round(best).await {
				Ok(round) => {
					if round.pushed + round.removed > 0 {
						log::info!(
							target: LOG_TARGET,
							"📚 LoRA service records: {} pushed ({} bytes), {} removed{}",
							round.pushed,
							round.pushed_bytes,
							round.removed,
							if round.complete { "; in sync" } else { "; more next block" },
						);
					}
					if let Some(metrics) = &self.metrics {
						metrics.pushed.inc_by(round.pushed as u64);
						metrics.pushed_bytes.inc_by(round.pushed_bytes as u64);
						metrics.removed.inc_by(round.removed as u64);
						metrics.unavailable.inc_by(round.unavailable as u64);
						metrics.refused.inc_by(round.refused as u64);
					}
					// Work left over, and progress made, go on at once; otherwise the next
					// block starts a round.
					backlog = !round.complete && round.pushed + round.removed > 0;
					if round.failures.is_empty() {
						last_warning = None;
					} else {
						self.failed(round.failures.join("; "), &mut last_warning);
					}
				}
				Err(error) => {
					self.failed(error.to_string(), &mut last_warning);
					backlog = false;
				}
			}
		}
	}

	/// Counts a failed round and logs why: a warning, or at debug level while the same failure
	/// repeats within [`WARN_EVERY`].
	fn failed(&self, message: String, last_warning: &mut Option<(String, Instant)>) {
		if let Some(metrics) = &self.metrics {
			metrics.failed_rounds.inc();
		}
		let repeated = last_warning
			.as_ref()
			.is_some_and(|(last, at)| *last == message && at.elapsed() < WARN_EVERY);
		if repeated {
			log::debug!(target: LOG_TARGET, "Record sync: {message}");
		} else {
			log::warn!(target: LOG_TARGET, "Record sync: {message}; retrying on the next block");
			*last_warning = Some((message, Instant::now()));
		}
	}

	/// One round at block `at`.
	pub async fn round(&mut self, at: Hash) -> Result<Round, SyncError> {
		let wanted = self.wanted_datasets(at)?;
		let mut round = Round { complete: true, ..Default::default() };
		if wanted.is_empty() {
			return Ok(round);
		}
		let mut summaries = self.service_summaries().await?;
		let mut budget = Budget::new();
		let mut done = Vec::new();
		for dataset_id in wanted {
			let on_chain =
				self.client.runtime_api().dataset(at, dataset_id).map_err(chain_error)?;
			let counters = on_chain.as_ref().map(counters).unwrap_or_default();
			let held = summaries.get(&dataset_id).copied().unwrap_or_default();
			let fingerprint = Fingerprint {
				total_weight: counters.0,
				next_contribution_id: counters.1,
				contributions: counters.2,
				service_records: held.0,
				service_tokens: held.1,
			};
			if self.in_sync.get(&dataset_id) == Some(&fingerprint) {
				continue;
			}
			self.in_sync.remove(&dataset_id);
			let accepted = match on_chain {
				Some(_) => self.accepted(at, dataset_id)?,
				None => BTreeMap::new(),
			};
			// A dataset the service fails on holds up no other.
			let complete =
				match self.sync_dataset(dataset_id, &accepted, &mut budget, &mut round).await {
					Ok(complete) => complete,
					Err(error) => {
						round.failures.push(format!("dataset {dataset_id}: {error}"));
						false
					}
				};
			if complete {
				done.push((dataset_id, fingerprint));
			} else {
				round.complete = false;
			}
		}
		if !done.is_empty() {
			// The service's counts after this round's changes are what the next round compares.
			summaries = self.service_summaries().await?;
			for (dataset_id, mut fingerprint) in done {
				let held = summaries.get(&dataset_id).copied().unwrap_or_default();
				(fingerprint.service_records, fingerprint.service_tokens) = held;
				self.in_sync.insert(dataset_id, fingerprint);
			}
		}
		Ok(round)
	}

	/// The datasets of the active models that the providers of this node's operator keys serve,
	/// and those named by `--lora-sync-datasets`.
	fn wanted_datasets(&self, at: Hash) -> Result<BTreeSet<DatasetId>, SyncError> {
		let operators = self.keystore.sr25519_public_keys(OPERATOR_KEY_TYPE);
		let mut wanted = self.always.clone();
		if operators.is_empty() {
			return Ok(wanted);
		}
		let api = self.client.runtime_api();
		let providers_api = api
			.api_version::<dyn ProvidersApi<
				Block,
				AccountId,
				tributary_runtime::ProviderRecord,
				tributary_runtime::PendingSlashRecord,
			>>(at)
			.map_err(chain_error)?
			.unwrap_or_default();
		let datasets_api = api
			.api_version::<dyn DatasetsApi<Block, AccountId, DatasetRecord, ContributionRecord>>(at)
			.map_err(chain_error)?
			.unwrap_or_default();
		if providers_api < 2 || datasets_api < 3 {
			return Err(SyncError::Chain(format!(
				"the runtime serves ProvidersApi v{providers_api} and DatasetsApi v{datasets_api}; \
				 the record sync needs v2 and v3"
			)));
		}
		for operator in operators {
			let operator = AccountId::from(operator);
			let Some(provider) = api.provider_of_operator(at, operator).map_err(chain_error)?
			else {
				continue;
			};
			let Some(view) = api.provider(at, provider).map_err(chain_error)? else { continue };
			for model_id in view.record.served {
				let Some(model) = api.model(at, model_id).map_err(chain_error)? else { continue };
				if model.status == pallet_models::ModelStatus::Active {
					wanted.extend(model.datasets);
				}
			}
		}
		Ok(wanted)
	}

	/// The dataset's accepted contributions on chain, by id.
	fn accepted(
		&self,
		at: Hash,
		dataset_id: DatasetId,
	) -> Result<BTreeMap<ContributionId, Hash>, SyncError> {
		let api = self.client.runtime_api();
		let mut accepted = BTreeMap::new();
		let mut after = None;
		loop {
			let page = api.contributions(at, dataset_id, after, CHAIN_PAGE).map_err(chain_error)?;
			// Until an empty page: a runtime may cap its pages below what was asked.
			let Some((last, _)) = page.last() else { break };
			after = Some(*last);
			accepted.extend(
				page.into_iter()
					.filter(|(_, c)| c.status == pallet_datasets::ContributionStatus::Accepted)
					.map(|(id, c)| (id, c.content_hash)),
			);
		}
		Ok(accepted)
	}

	/// Brings one dataset in the service to `accepted`, within `budget`; whether it got there.
	async fn sync_dataset(
		&mut self,
		dataset_id: DatasetId,
		accepted: &BTreeMap<ContributionId, Hash>,
		budget: &mut Budget,
		round: &mut Round,
	) -> Result<bool, SyncError> {
		let held = self.held(dataset_id).await?;
		let stale: Vec<ContributionId> = held
			.iter()
			.filter(|(id, hash)| accepted.get(id) != Some(hash))
			.map(|(id, _)| *id)
			.collect();
		let mut complete = true;
		let removable = stale.len().min(budget.removals);
		if removable < stale.len() {
			complete = false;
		}
		// A URL of at most a few KiB, whatever a proxy in front of the service allows.
		for ids in stale[..removable].chunks(REMOVALS_PER_REQUEST) {
			let list = ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
			let path = format!("/v1/datasets/{dataset_id}/records/{list}");
			self.expect(Method::DELETE, &path, self.admin_token.as_deref(), None, StatusCode::OK)
				.await?;
			budget.removals -= ids.len();
			round.removed += ids.len();
		}
		let removed: BTreeSet<ContributionId> = stale[..removable].iter().copied().collect();

		let mut batch = Batch::default();
		for (contribution_id, hash) in accepted {
			if held.get(contribution_id) == Some(hash)
				|| self.skipped.contains(&(dataset_id, *contribution_id, *hash))
			{
				continue;
			}
			// The service holds another record under this id, past this round's removals.
			if held.contains_key(contribution_id) && !removed.contains(contribution_id) {
				complete = false;
				continue;
			}
			if budget.records == 0 || budget.bytes == 0 {
				complete = false;
				break;
			}
			let bytes = match self.client.indexed_transaction(*hash) {
				Ok(Some(bytes)) if sp_io::hashing::blake2_256(&bytes) == hash.0 => bytes,
				Ok(Some(_)) => {
					return Err(SyncError::Chain(format!(
						"the bytes indexed under {hash:?} do not hash to it"
					)))
				}
				Ok(None) => {
					log::warn!(
						target: LOG_TARGET,
						"Dataset {dataset_id}, contribution {contribution_id}: this node does \
						 not hold the record's bytes ({hash:?}: a genesis record, or a node that \
						 did not sync in full or pruned block bodies); it is not looked for \
						 again until the node restarts"
					);
					self.skipped.insert((dataset_id, *contribution_id, *hash));
					round.unavailable += 1;
					continue;
				}
				Err(e) => return Err(chain_error(e)),
			};
			budget.records -= 1;
			budget.bytes = budget.bytes.saturating_sub(bytes.len());
			let length = bytes.len();
			let content_hash = format!("{hash:?}");
			let record = match String::from_utf8(bytes) {
				Ok(text) => serde_json::json!({
					"contribution_id": contribution_id,
					"text": text,
					"content_hash": content_hash,
				}),
				Err(e) => {
					if let Err(refusal) = self.put_blob(e.into_bytes(), &content_hash).await? {
						self.skip(dataset_id, *contribution_id, *hash, &refusal, round);
						continue;
					}
					serde_json::json!({
						"contribution_id": contribution_id,
						"content_hash": content_hash,
					})
				}
			};
			let encoded =
				serde_json::to_vec(&record).map_err(|e| SyncError::Service(e.to_string()))?;
			if !batch.records.is_empty() && batch.json_bytes + encoded.len() > MAX_BATCH_JSON {
				self.push(dataset_id, std::mem::take(&mut batch), round).await?;
			}
			batch.json_bytes += encoded.len();
			batch.records.push(Pending {
				contribution_id: *contribution_id,
				hash: *hash,
				length,
				encoded,
			});
		}
		if !batch.records.is_empty() {
			self.push(dataset_id, batch, round).await?;
		}
		Ok(complete)
	}

	/// Pushes a batch of records. A batch the service refuses as a client error is pushed again
	/// record by record, so that one record it will not take (larger than its
	/// `--max-record-bytes`, untokenizable) holds up no other; such a record is logged, counted
	/// and not offered again until the node restarts.
	async fn push(
		&mut self,
		dataset_id: DatasetId,
		batch: Batch,
		round: &mut Round,
	) -> Result<(), SyncError> {
		let path = format!("/v1/datasets/{dataset_id}/records");
		let body = |records: &[Pending]| {
			let mut body = b"{\"records\":[".to_vec();
			for (n, record) in records.iter().enumerate() {
				if n > 0 {
					body.push(b',');
				}
				body.extend_from_slice(&record.encoded);
			}
			body.extend_from_slice(b"]}");
			body
		};
		let token = self.admin_token.clone();
		let answer = self
			.call(Method::POST, &path, token.as_deref(), Some(body(&batch.records)), true)
			.await?;
		if answer.status == StatusCode::CREATED {
			round.pushed += batch.records.len();
			round.pushed_bytes += batch.records.iter().map(|r| r.length).sum::<usize>();
			return Ok(());
		}
		if !refuses_the_record(answer.status) {
			return Err(answer.unexpected());
		}
		if let [record] = batch.records.as_slice() {
			self.skip(dataset_id, record.contribution_id, record.hash, &answer, round);
			return Ok(());
		}
		for record in batch.records {
			let json_bytes = record.encoded.len();
			Box::pin(self.push(dataset_id, Batch { records: vec![record], json_bytes }, round))
				.await?;
		}
		Ok(())
	}

	/// Logs, counts and sets aside a record the service refused for what it is.
	fn skip(
		&mut self,
		dataset_id: DatasetId,
		contribution_id: ContributionId,
		hash: Hash,
		refusal: &Answer,
		round: &mut Round,
	) {
		log::warn!(
			target: LOG_TARGET,
			"Dataset {dataset_id}, contribution {contribution_id}: the record is refused ({}); \
			 it is not offered again until the node restarts",
			refusal.unexpected()
		);
		self.skipped.insert((dataset_id, contribution_id, hash));
		round.refused += 1;
	}

	/// Stores bytes that are not UTF-8 as a blob, which the service keeps under the hash it
	/// computes (the record then names that hash); the answer of a service that refuses them
	/// for what they are (larger than its `--max-record-bytes`).
	async fn put_blob(
		&self,
		bytes: Vec<u8>,
		content_hash: &str,
	) -> Result<Result<(), Answer>, SyncError> {
		let answer = self
			.call(Method::POST, "/v1/blobs", self.admin_token.as_deref(), Some(bytes), false)
			.await?;
		if answer.status == StatusCode::CREATED && answer.json()?["content_hash"] == content_hash {
			return Ok(Ok(()));
		}
		if refuses_the_record(answer.status) {
			return Ok(Err(answer));
		}
		Err(answer.unexpected())
	}

	/// Each dataset's record and token counts in the service.
	async fn service_summaries(&self) -> Result<HashMap<DatasetId, (u64, u64)>, SyncError> {
		let answer = self.expect_json("/v1/datasets").await?;
		let list = answer["data"].as_array().ok_or_else(|| bad_answer("/v1/datasets"))?;
		list.iter()
			.map(|dataset| {
				let field = |name: &str| dataset[name].as_u64();
				match (field("dataset_id"), field("records"), field("tokens")) {
					(Some(id), Some(records), Some(tokens)) => {
						Ok((id as DatasetId, (records, tokens)))
					}
					_ => Err(bad_answer("/v1/datasets")),
				}
			})
			.collect()
	}

	/// The records the service holds for a dataset, by contribution id.
	async fn held(
		&self,
		dataset_id: DatasetId,
	) -> Result<BTreeMap<ContributionId, Hash>, SyncError> {
		let mut held = BTreeMap::new();
		let mut after: Option<ContributionId> = None;
		loop {
			let mut path = format!("/v1/datasets/{dataset_id}/records?limit={LIST_PAGE}");
			if let Some(after) = after {
				path.push_str(&format!("&after={after}"));
			}
			let answer = self.expect_json(&path).await?;
			let page = answer["data"].as_array().ok_or_else(|| bad_answer(&path))?;
			for record in page {
				let id = record["contribution_id"].as_u64().and_then(|id| u32::try_from(id).ok());
				let hash = record["content_hash"].as_str().and_then(parse_hash);
				let (Some(id), Some(hash)) = (id, hash) else { return Err(bad_answer(&path)) };
				// Pages go up by id: anything else would page for ever.
				if after.is_some_and(|after| id <= after) {
					return Err(bad_answer(&path));
				}
				held.insert(id, hash);
				after = Some(id);
			}
			if answer["has_more"] != serde_json::Value::Bool(true) || page.is_empty() {
				return Ok(held);
			}
		}
	}

	/// A listing's JSON (`GET`, with the read token).
	async fn expect_json(&self, path: &str) -> Result<serde_json::Value, SyncError> {
		let token = self.read_token.as_deref();
		self.expect(Method::GET, path, token, None, StatusCode::OK).await?.json()
	}

	/// A call that must answer `expected`.
	async fn expect(
		&self,
		method: Method,
		path: &str,
		token: Option<&str>,
		body: Option<Vec<u8>>,
		expected: StatusCode,
	) -> Result<Answer, SyncError> {
		let answer = self.call(method, path, token, body, true).await?;
		if answer.status != expected {
			return Err(answer.unexpected());
		}
		Ok(answer)
	}

	/// One HTTP call, bounded in time and in the size of what is read back.
	async fn call(
		&self,
		method: Method,
		path: &str,
		token: Option<&str>,
		body: Option<Vec<u8>>,
		json_body: bool,
	) -> Result<Answer, SyncError> {
		let service_error = |e: &dyn std::fmt::Display| {
			SyncError::Service(format!("{method} {}{path}: {e}", self.url))
		};
		let mut request =
			Request::builder().method(method.clone()).uri(format!("{}{path}", self.url));
		if let Some(token) = token {
			request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
		}
		if body.is_some() {
			let content_type =
				if json_body { "application/json" } else { "application/octet-stream" };
			request = request.header(header::CONTENT_TYPE, content_type);
		}
		let request = request
			.body(Full::new(Bytes::from(body.unwrap_or_default())))
			.map_err(|e| service_error(&e))?;
		let exchange = async {
			let response = self.http.request(request).await.map_err(|e| service_error(&e))?;
			let status = response.status();
			let body = Limited::new(response.into_body(), MAX_RESPONSE_BYTES)
				.collect()
				.await
				.map_err(|e| service_error(&e))?
				.to_bytes();
			Ok(Answer {
				request: format!("{method} {}", path.split('?').next().unwrap_or(path)),
				status,
				body,
			})
		};
		let timeout = if method == Method::GET { READ_TIMEOUT } else { WRITE_TIMEOUT };
		futures::select! {
			answer = exchange.fuse() => answer,
			_ = futures_timer::Delay::new(timeout).fuse() =>
				Err(service_error(&format!("no answer in {} s", timeout.as_secs()))),
		}
	}
}

/// A status and a body read back from the service.
struct Answer {
	/// The method and path (without its query) that were answered.
	request: String,
	status: StatusCode,
	body: Bytes,
}

impl Answer {
	fn json(&self) -> Result<serde_json::Value, SyncError> {
		serde_json::from_slice(&self.body)
			.map_err(|e| SyncError::Service(format!("an answer that is not JSON: {e}")))
	}

	/// The answer as an error: what was asked, the status, and the start of the body.
	fn unexpected(&self) -> SyncError {
		let text = String::from_utf8_lossy(&self.body[..self.body.len().min(500)]);
		SyncError::Service(format!("{} answered {}: {text}", self.request, self.status))
	}
}

/// Whether the service refused a record for what it is (too large, untokenizable, not
/// indexable), rather than for how it was asked (a token, a limit of a proxy in front of it).
fn refuses_the_record(status: StatusCode) -> bool {
	matches!(
		status,
		StatusCode::BAD_REQUEST | StatusCode::PAYLOAD_TOO_LARGE | StatusCode::UNPROCESSABLE_ENTITY
	)
}

fn bad_answer(path: &str) -> SyncError {
	SyncError::Service(format!("GET {path}: an answer the record sync cannot read"))
}

/// A dataset's counters that change whenever its set of accepted contributions does.
fn counters(dataset: &DatasetRecord) -> (u64, ContributionId, u32) {
	(dataset.total_weight, dataset.next_contribution_id, dataset.contributions)
}

/// `0x` and 64 hex digits.
fn parse_hash(text: &str) -> Option<Hash> {
	let digits = text.strip_prefix("0x")?;
	if digits.len() != 64 {
		return None;
	}
	let mut hash = [0u8; 32];
	for (byte, pair) in hash.iter_mut().zip(digits.as_bytes().chunks(2)) {
		let pair = std::str::from_utf8(pair).ok()?;
		*byte = u8::from_str_radix(pair, 16).ok()?;
	}
	Some(Hash::from(hash))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn hashes_are_read_as_the_service_writes_them() {
		let hash = Hash::repeat_byte(0xab);
		assert_eq!(parse_hash(&format!("{hash:?}")), Some(hash));
		assert_eq!(parse_hash("0xab"), None);
		assert_eq!(parse_hash(&format!("{:?}", hash).replace("0x", "")), None);
		assert_eq!(parse_hash(&format!("0x{}", "zz".repeat(32))), None);
	}
}
