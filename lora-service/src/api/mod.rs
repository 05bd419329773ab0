//! The HTTP API, OpenAI-compatible where OpenAI defines it: `GET /health`, `GET /v1/models`,
//! `POST /v1/completions`, `POST /v1/chat/completions`, `POST /v1/adapters`,
//! `DELETE /v1/adapters/{id}`, `POST /v1/blobs`, `GET /v1/datasets`,
//! `POST` and `GET /v1/datasets/{id}/records`, `DELETE /v1/datasets/{id}/records/{ids}`,
//! `POST /v1/attribution`, `POST /v1/verify`, `POST /v1/files`, `POST` and `GET
//! /v1/fine_tuning/jobs`, `GET /v1/fine_tuning/jobs/{id}[/events]`,
//! `POST /v1/fine_tuning/jobs/{id}/cancel`, `GET /metrics`. Every refusal is
//! a 4xx with a JSON body `{"error": {"message", "type", "code"}}` (`crate::error`), and the
//! service keeps serving.
//!
//! Here: the service's state and its router. The OpenAI request types are in `openai`, their
//! checks in `validate`, and each family of routes has a file of thin handlers.

mod adapters;
mod attribution;
mod auth;
mod completions;
mod fine_tuning;
mod health;
pub(crate) mod logprobs;
pub mod openai;
mod records;
mod stream;
#[cfg(test)]
mod tests;
mod validate;
mod verify;

use std::{
	collections::HashMap,
	path::PathBuf,
	sync::{
		atomic::{AtomicBool, AtomicU64},
		mpsc, Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard,
	},
};

use axum::{
	extract::DefaultBodyLimit,
	middleware,
	response::IntoResponse,
	routing::{delete, get, post},
	Router,
};
use candle_core::Device;
use tokenizers::Tokenizer;
use tower_http::catch_panic::CatchPanicLayer;

use crate::{
	adapters::{AdapterCache, Registry},
	attribution::{Blobs, Corpus, Indexes},
	chat::ChatTemplate,
	error::ApiError,
	metrics::Metrics,
	model::{gguf, LlamaConfig, Model},
	scheduler,
};

/// How the service runs (the `serve` command's flags, beside `--model` and `--listen`).
#[derive(Clone, Debug, clap::Args)]
pub struct Options {
	/// Where adapters live: one PEFT directory (adapter_config.json +
	/// adapter_model.safetensors) per adapter id. Created if missing.
	#[arg(long)]
	pub adapters_dir: PathBuf,
	/// Where dataset indexes and uploaded blobs persist (reloaded on start). Without it
	/// they live in memory only.
	#[arg(long)]
	pub data_dir: Option<PathBuf>,
	/// The most sequences decoded together in one step.
	#[arg(long, default_value_t = 16)]
	pub max_batch: usize,
	/// The most prompt tokens one step carries beside the decoding rows: a joining request's
	/// prompt runs in pieces of up to this many tokens inside the decode steps, so the rows
	/// decoding beside it wait at most that long for their next token.
	#[arg(long, default_value_t = crate::scheduler::PREFILL_CHUNK, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=8192))]
	pub prefill_chunk: usize,
	/// The most requests waiting for a place in the batch; beyond it requests get 429.
	#[arg(long, default_value_t = 256)]
	pub max_queue: usize,
	/// The memory the running requests' key-value caches may take at their worst (prompt and
	/// max_tokens), in GiB: a request that would exceed it waits for others to finish, and one
	/// that exceeds it alone is refused (400).
	#[arg(long, default_value_t = 4.0)]
	pub kv_cache_gib: f64,
	/// The longest prompt, in tokens (longer prompts get 400).
	#[arg(long, default_value_t = 2048)]
	pub max_prompt_tokens: usize,
	/// The longest prompt (after a chat's rendering) or attribution text, in bytes, refused
	/// with 400 before it is tokenized. The body limit of those routes follows from it.
	#[arg(long, default_value_t = 65_536)]
	pub max_text_bytes: usize,
	/// The largest record (its text, or an uploaded blob), in bytes.
	#[arg(long, default_value_t = 16 << 20)]
	pub max_record_bytes: usize,
	/// The largest adapter weights file (adapter_model.safetensors), in bytes: rank 128 over
	/// all seven projections of SmolLM2 in f32 takes 150 MiB.
	#[arg(long, default_value_t = 256 << 20)]
	pub max_adapter_bytes: usize,
	/// How long fetching an adapter from its URI (`adapter_uri`) may take, both files, in
	/// seconds; a slower source fails with 502.
	#[arg(long, default_value_t = 120)]
	pub adapter_fetch_seconds: u64,
	/// The HTTP path gateway `ipfs://<cid>/path` adapter URIs are fetched through, as
	/// `<gateway>/ipfs/<cid>/path` (a local IPFS node's is http://127.0.0.1:8080). Without it
	/// `ipfs://` URIs are refused.
	#[arg(long)]
	pub ipfs_gateway: Option<String>,
	/// The directory `file://` adapter URIs must resolve inside. Without it they are refused:
	/// an adapter's URI is chosen by its owner, and the service must not read its host's files
	/// for strangers.
	#[arg(long)]
	pub adapter_file_root: Option<PathBuf>,
	/// The most adapters kept in memory; the least recently used is evicted beyond it.
	#[arg(long, default_value_t = 1024)]
	pub max_resident_adapters: usize,
	/// The most memory the resident adapters' weights take, in GiB; the least recently used
	/// is evicted beyond it (the newest always stays).
	#[arg(long, default_value_t = 4.0)]
	pub adapter_cache_gib: f64,
	/// The highest adapter rank served (higher ones are refused with 422): a batch's
	/// adapter slots are as wide as the highest rank in it.
	#[arg(long, default_value_t = 128)]
	pub max_adapter_rank: usize,
	/// How the base model's weights are held: dense (exact f32 arithmetic on the file's
	/// weights, kept in their Q4_0/Q4_1/Q8_0 blocks where the file has them: the model's own
	/// answers, whatever the batch), quantized (candle's 8-bit kernels; types without SIMD
	/// kernels, such as Q4_1, are re-quantized to Q8_0), or mixed (quantized but for the
	/// feed-forward down projections). The 8-bit modes change answers, differently on
	/// different CPUs; docs/lora-service.md has the measurements.
	#[arg(long, value_enum, default_value = "dense")]
	pub weights: crate::model::Weights,
	/// Where the model runs: cpu (this service's own kernels, whose greedy outputs do not
	/// depend on the batch), or cuda / cuda:N, a GPU, in a binary built with the cuda
	/// feature (scripts/build-cuda.sh): weights, key-value caches and the adapter stack on the
	/// GPU, multiplied by candle's CUDA kernels and cuBLAS (docs/lora-service.md, "GPU").
	#[arg(long, default_value = "cpu", value_parser = crate::model::parse_device)]
	pub device: Device,
	/// After SIGTERM or Ctrl-C, how long requests in flight have to finish (new ones are
	/// refused with 503) before the service stops anyway.
	#[arg(long, default_value_t = 30)]
	pub shutdown_grace_seconds: u64,
	/// The threads a fine-tuning job's matrix multiplications use (the rest of the cores stay
	/// with serving); 0: half the cores the service computes with, at least one.
	#[arg(long, default_value_t = 0)]
	pub fine_tuning_threads: usize,
	/// The bearer token that endpoints changing what the service holds (adapters, blobs,
	/// records) require. Without one the service listens on loopback addresses only.
	#[arg(long, env = "TRIBUTARY_LORA_ADMIN_TOKEN", hide_env_values = true)]
	pub admin_token: Option<String>,
	/// A file whose first line is the admin token.
	#[arg(long, conflicts_with = "admin_token")]
	pub admin_token_file: Option<PathBuf>,
	/// The bearer token generation, attribution and the listings require (the admin token
	/// works too); without one they are open.
	#[arg(long, env = "TRIBUTARY_LORA_API_KEY", hide_env_values = true)]
	pub api_key: Option<String>,
	/// A file whose first line is the API key.
	#[arg(long, conflicts_with = "api_key")]
	pub api_key_file: Option<PathBuf>,
}

impl Options {
	/// How adapters are fetched from their URIs.
	pub fn fetch_options(&self) -> crate::adapters::FetchOptions {
		crate::adapters::FetchOptions {
			max_weights_bytes: self.max_adapter_bytes,
			timeout: std::time::Duration::from_secs(self.adapter_fetch_seconds),
			ipfs_gateway: self.ipfs_gateway.as_ref().map(|g| g.trim_end_matches('/').to_string()),
			file_root: self.adapter_file_root.clone(),
		}
	}

	/// `--kv-cache-gib` in bytes.
	pub fn kv_budget(&self) -> usize {
		(self.kv_cache_gib * f64::from(1u32 << 30)) as usize
	}

	/// The admin token, from the flag, the environment or the file.
	pub fn admin_token(&self) -> anyhow::Result<Option<String>> {
		auth::token(self.admin_token.as_deref(), self.admin_token_file.as_deref(), "admin token")
	}

	/// The API key, from the flag, the environment or the file.
	pub fn api_key(&self) -> anyhow::Result<Option<String>> {
		auth::token(self.api_key.as_deref(), self.api_key_file.as_deref(), "API key")
	}
}

/// Checks a request body as route `route` (completions, chat completions, attribution, an
/// adapter upload, records, a verification; by its index modulo 6) checks it before doing
/// anything: the parser fuzz target's way in.
#[cfg(feature = "fuzzing")]
pub fn check_body(route: u8, body: &[u8]) -> Result<(), ApiError> {
	use axum::Json;
	let value: serde_json::Value =
		serde_json::from_slice(body).map_err(|e| ApiError::bad("invalid_json", e.to_string()))?;
	let body = || Ok(Json(value.clone()));
	match route % 6 {
		0 => {
			let request: openai::CompletionRequest =
				validate::parse(body(), &["model", "prompt"], &openai::GENERATION_FIELDS)?;
			validate::sampling(&request.generation)?;
			validate::logprobs(&request.generation, false)?;
			validate::stops(&request.generation)?;
		}
		1 => {
			let request: openai::ChatRequest = validate::parse(
				body(),
				&["model", "messages", "max_completion_tokens"],
				&openai::GENERATION_FIELDS,
			)?;
			validate::sampling(&request.generation)?;
			validate::logprobs(&request.generation, true)?;
			validate::stops(&request.generation)?;
			let template = ChatTemplate {
				template: Some(crate::model::tiny::SMOLLM2_CHAT_TEMPLATE.into()),
				control_texts: vec!["<|im_start|>".into(), "<|im_end|>".into()],
				bos_token: "<|im_start|>".into(),
				eos_token: "<|im_end|>".into(),
			};
			template.render(&request.messages)?;
		}
		2 => {
			let request: openai::AttributionRequest =
				validate::parse(body(), &["text", "datasets", "min_span"], &[])?;
			validate::attribution_options(&request.options)?;
		}
		3 => {
			let _: openai::AdapterUpload = serde_json::from_value(value.clone())
				.map_err(|e| ApiError::bad("invalid_json", e.to_string()))?;
		}
		4 => {
			let fields = ["records", "contribution_id", "text", "content_hash"];
			let _: openai::RecordsBody = validate::parse(body(), &fields, &[])?;
		}
		_ => {
			let request: openai::VerifyRequest =
				validate::parse(body(), &verify::VERIFY_FIELDS, &[])?;
			verify::output_bytes(&request)?;
			if let Some(claimed) = &request.attribution {
				validate::attribution_options(&claimed.options)?;
			}
		}
	}
	Ok(())
}

/// Refuses to listen beyond loopback without an admin token: anyone who could reach the
/// service could replace its adapters and records.
pub fn may_listen(listen: std::net::SocketAddr, options: &Options) -> anyhow::Result<()> {
	if !listen.ip().is_loopback() && options.admin_token()?.is_none() {
		anyhow::bail!(
			"listening on {listen} needs --admin-token (or --admin-token-file, or \
			 TRIBUTARY_LORA_ADMIN_TOKEN): anyone who can reach the service could replace its \
			 adapters and records"
		);
	}
	Ok(())
}

/// The body limits of each route family, from the options: JSON may escape a byte of text
/// into six (`\u0000`), base64 takes four bytes for three.
struct BodyLimits {
	/// Completions, chat completions and attribution.
	text: usize,
	/// A verification: a prompt and an output (as hex, two bytes a byte), a claimed
	/// attribution and the contributions it leaves out.
	verify: usize,
	/// A record upload (one record or several); a blob is one record's bytes.
	records: usize,
	blob: usize,
	/// An adapter upload: its weights in base64 and its config.
	adapter: usize,
}

impl BodyLimits {
	const SLACK: usize = 64 << 10;

	fn of(options: &Options) -> Self {
		Self {
			text: options.max_text_bytes.saturating_mul(6).saturating_add(Self::SLACK),
			verify: options.max_text_bytes.saturating_mul(12).saturating_add(4 << 20),
			records: options.max_record_bytes.saturating_mul(6).saturating_add(Self::SLACK),
			blob: options.max_record_bytes,
			adapter: (options.max_adapter_bytes / 3 + 1)
				.saturating_mul(4)
				.saturating_add(Self::SLACK),
		}
	}
}

/// The body limit of routes that take no body worth the name.
const SMALL_BODY: usize = 64 << 10;

/// What the handlers share.
pub struct AppState {
	pub config: LlamaConfig,
	pub(crate) tokenizer: Arc<Tokenizer>,
	/// The tokenizer's identity (`gguf::TokenizerSpec::identity`): the datasets' indexes are
	/// built for it, and `/health` shows it so that whoever compares two services' attributions
	/// can tell they tokenize alike.
	pub(crate) tokenizer_identity: [u8; 32],
	pub(crate) chat: ChatTemplate,
	pub(crate) model_name: String,
	/// The end token and every control token (`<|endoftext|>`, `<|im_end|>`, …): generation
	/// stops at any of them.
	pub(crate) stop_tokens: Vec<u32>,
	pub(crate) engine: Mutex<mpsc::Sender<scheduler::Request>>,
	pub(crate) engine_thread: std::thread::JoinHandle<()>,
	pub(crate) stats: Arc<scheduler::Stats>,
	pub(crate) options: Options,
	pub(crate) adapters: Arc<Registry>,
	/// Fetches from adapter URIs in flight, one per adapter hash: others asking for the same
	/// adapter wait for it rather than fetching it again.
	pub(crate) fetches: Mutex<HashMap<[u8; 32], Arc<tokio::sync::Mutex<()>>>>,
	/// The datasets' indexes as records uploads and removals change them (one writer at a
	/// time, in a blocking task).
	pub(crate) corpus: Mutex<Corpus>,
	/// What attribution searches: the indexes as of the last change, replaced whole after
	/// each, so a search never waits for an index to be built or merged.
	pub(crate) indexes: RwLock<Arc<Indexes>>,
	pub(crate) blobs: Mutex<Blobs>,
	pub(crate) metrics: Metrics,
	pub(crate) ids: AtomicU64,
	/// Generation requests between their admission to the queue and their answer.
	pub(crate) in_flight: AtomicU64,
	pub(crate) admin_token: Option<String>,
	pub(crate) api_key: Option<String>,
	/// Set when the service shuts down: new generation is refused, `/ready` answers 503.
	pub(crate) draining: AtomicBool,
	/// The model, for verifications (the engine generates with its own handle).
	pub(crate) model: Arc<Model>,
	/// How many bytes each token spells, for `max_output_bytes`.
	pub(crate) token_lengths: Arc<[u32]>,
	/// The vocabulary by bytes, built at the first verification.
	pub(crate) vocabulary: std::sync::OnceLock<Arc<crate::verify::Vocabulary>>,
	/// One verification at a time, and how many wait for it.
	pub(crate) verifications: Arc<tokio::sync::Semaphore>,
	pub(crate) verify_waiting: AtomicU64,
	/// Fine-tuning jobs (`fine_tuning`), run one at a time on a thread of their own.
	pub(crate) jobs: Arc<fine_tuning::Jobs>,
}

impl AppState {
	/// Starts draining: requests in flight finish, new ones are refused with 503.
	pub fn drain(&self) {
		self.draining.store(true, std::sync::atomic::Ordering::Relaxed);
		// Verifications waiting for their turn are refused; the one running finishes.
		self.verifications.close();
		// A fine-tuning job stops at its next step, checkpointed, to resume at the next start.
		self.jobs.interrupt();
	}

	/// Generation requests and verifications sent and not yet answered, or waiting.
	pub fn in_flight(&self) -> u64 {
		self.in_flight.load(std::sync::atomic::Ordering::Relaxed)
	}
}

/// Loads the model from `model_path`, starts the batching engine on its own thread and
/// returns the state the router serves.
pub fn start(model_path: &std::path::Path, options: Options) -> anyhow::Result<Arc<AppState>> {
	let device = options.device.clone();
	tracing::info!(device = ?device, "reading {}", model_path.display());
	let content = gguf::read(model_path)?;
	let tokenizer_spec = gguf::TokenizerSpec::from_gguf(&content)?;
	let (tokenizer, tokenizer_identity) = (tokenizer_spec.build()?, tokenizer_spec.identity());
	let model_name = match content.metadata.get("general.name") {
		Some(candle_core::quantized::gguf_file::Value::String(t)) => t.clone(),
		_ => model_path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default(),
	};
	let control = gguf::control_tokens(&content);
	let started = std::time::Instant::now();
	let model = Arc::new(Model::load(model_path, &device, options.weights)?);
	tracing::info!(
		layers = model.config.layers,
		hidden = model.config.hidden,
		vocab = model.config.vocab_size,
		"loaded {model_name} in {:.2?}",
		started.elapsed()
	);
	let adapters = Registry::open(
		&options.adapters_dir,
		model.config.clone(),
		device,
		options.max_adapter_rank,
		AdapterCache::new(
			options.max_resident_adapters,
			(options.adapter_cache_gib * f64::from(1u32 << 30)) as usize,
		),
	)?;
	let corpus = Corpus::open(options.data_dir.as_deref(), tokenizer_identity)?;
	let indexes = RwLock::new(Arc::new(corpus.indexes()));
	let blobs = Blobs::open(options.data_dir.as_deref())?;
	let stats = Arc::new(scheduler::Stats::default());
	let (sender, requests) = mpsc::channel();
	let engine_thread = {
		let limits = scheduler::Limits {
			max_batch: options.max_batch,
			prefill_chunk: options.prefill_chunk,
			kv_budget: options.kv_budget(),
		};
		let (model, stats) = (model.clone(), stats.clone());
		std::thread::Builder::new()
			.name("engine".into())
			.spawn(move || scheduler::run(&model, requests, limits, &stats))?
	};
	let (admin_token, api_key) = (options.admin_token()?, options.api_key()?);
	let jobs = Arc::new(fine_tuning::Jobs::open(options.data_dir.as_deref())?);
	let state = Arc::new(AppState {
		config: model.config.clone(),
		tokenizer: Arc::new(tokenizer.clone()),
		tokenizer_identity,
		chat: ChatTemplate::from_gguf(&content, &tokenizer, &model.config),
		model_name,
		stop_tokens: {
			let mut stops: Vec<u32> = control.iter().map(|(id, _)| *id).collect();
			if !stops.contains(&model.config.eos_token_id) {
				stops.push(model.config.eos_token_id);
			}
			stops
		},
		engine: Mutex::new(sender),
		engine_thread,
		stats,
		adapters: Arc::new(adapters),
		fetches: Mutex::new(HashMap::new()),
		options,
		corpus: Mutex::new(corpus),
		indexes,
		blobs: Mutex::new(blobs),
		metrics: Metrics::default(),
		ids: AtomicU64::new(0),
		admin_token,
		api_key,
		draining: AtomicBool::new(false),
		in_flight: AtomicU64::new(0),
		token_lengths: (0..model.config.vocab_size as u32)
			.map(|id| logprobs::token_bytes(&tokenizer, id).len() as u32)
			.collect(),
		model,
		vocabulary: std::sync::OnceLock::new(),
		verifications: Arc::new(tokio::sync::Semaphore::new(1)),
		verify_waiting: AtomicU64::new(0),
		jobs,
	});
	fine_tuning::spawn_runner(&state)?;
	Ok(state)
}

/// The HTTP API over `state`.
pub fn router(state: Arc<AppState>) -> Router {
	let limits = BodyLimits::of(&state.options);
	let limit = DefaultBodyLimit::max;
	let admin = Router::new()
		.route("/v1/adapters", post(adapters::add_adapter).layer(limit(limits.adapter)))
		.route("/v1/adapters/{id}", delete(adapters::delete_adapter))
		.route("/v1/blobs", post(records::add_blob).layer(limit(limits.blob)))
		.route("/v1/files", post(fine_tuning::upload_file).layer(limit(limits.blob)))
		.route("/v1/fine_tuning/jobs", post(fine_tuning::create_job).get(fine_tuning::list_jobs))
		.route("/v1/fine_tuning/jobs/{id}", get(fine_tuning::get_job))
		.route("/v1/fine_tuning/jobs/{id}/events", get(fine_tuning::job_events))
		.route("/v1/fine_tuning/jobs/{id}/cancel", post(fine_tuning::cancel_job))
		.route(
			"/v1/datasets/{dataset_id}/records",
			post(records::add_records).layer(limit(limits.records)),
		)
		.route(
			"/v1/datasets/{dataset_id}/records/{contribution_ids}",
			delete(records::remove_records),
		)
		.route_layer(middleware::from_fn_with_state(state.clone(), auth::admin));
	let client = Router::new()
		.route("/v1/models", get(adapters::models))
		.route("/v1/completions", post(completions::completions).layer(limit(limits.text)))
		.route(
			"/v1/chat/completions",
			post(completions::chat_completions).layer(limit(limits.text)),
		)
		.route("/v1/datasets", get(records::datasets))
		.route("/v1/datasets/{dataset_id}/records", get(records::list_records))
		.route("/v1/attribution", post(attribution::attribute).layer(limit(limits.text)))
		.route("/v1/verify", post(verify::verify).layer(limit(limits.verify)))
		.route_layer(middleware::from_fn_with_state(state.clone(), auth::client));
	let routes = Router::new()
		.route("/health", get(health::health))
		.route("/ready", get(health::ready))
		.route("/metrics", get(health::metrics))
		.merge(admin)
		.merge(client)
		.method_not_allowed_fallback(|| async {
			ApiError::MethodNotAllowed("method_not_allowed", "method not allowed".into())
		})
		.fallback(|| async { ApiError::not_found("not_found", "no such endpoint") })
		.layer(DefaultBodyLimit::max(SMALL_BODY))
		.with_state(state);
	catch_panics(routes)
}

/// A handler that panics answers 500 with the JSON error body, and the service serves on
/// (every lock it keeps is taken whatever a panic left behind: `lock`, `read`, `write`).
pub(crate) fn catch_panics(routes: Router) -> Router {
	routes.layer(CatchPanicLayer::custom(|panic: Box<dyn std::any::Any + Send>| {
		let message = crate::error::panic_message(panic.as_ref());
		ApiError::internal("panicked", format!("the request panicked: {message}")).into_response()
	}))
}

/// Runs `f` on a thread for blocking work (disk, parsing, index builds, searches), off the
/// async workers that answer every other request.
pub(crate) async fn blocking<T: Send + 'static>(
	f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
	tokio::task::spawn_blocking(f).await.unwrap_or_else(|e| {
		Err(ApiError::internal("panicked", format!("the request panicked: {e}")))
	})
}

/// The guard of `mutex`, whether or not a thread panicked holding it: every value the service
/// keeps behind a lock is whole between statements (a panic cannot leave it half-changed).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
	mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn read<T>(lock: &RwLock<T>) -> RwLockReadGuard<'_, T> {
	lock.read().unwrap_or_else(PoisonError::into_inner)
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
	lock.write().unwrap_or_else(PoisonError::into_inner)
}
