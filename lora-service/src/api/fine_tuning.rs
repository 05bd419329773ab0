//! Fine-tuning jobs, shaped like OpenAI's: `POST /v1/files` (a JSONL training file),
//! `POST /v1/fine_tuning/jobs`, `GET /v1/fine_tuning/jobs[/{id}[/events]]`,
//! `POST /v1/fine_tuning/jobs/{id}/cancel`. A job trains on the records of datasets the service
//! holds (`"training_file": "datasets:3,7"`) or on an uploaded file; one runs at a time, on a
//! thread of its own, beside serving; its adapter is registered with the service when it
//! succeeds (`fine_tuned_model` names it), with its lineage in the job. Jobs, their events and
//! their checkpoints are kept under `--data-dir/fine_tuning`: a job running when the service
//! stops resumes from its last checkpoint when it starts again.

use std::{
	collections::{BTreeMap, VecDeque},
	path::PathBuf,
	sync::{
		atomic::{AtomicBool, Ordering},
		Arc, Condvar, Mutex, Weak,
	},
	time::{Duration, SystemTime, UNIX_EPOCH},
};

use axum::{
	extract::{
		multipart::MultipartRejection,
		rejection::{JsonRejection, QueryRejection},
		Multipart, Path, Query, State,
	},
	http::StatusCode,
	Json,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{blocking, lock, validate::parse, AppState};
use crate::{
	error::ApiError,
	hash::{blake2_256, hex},
	train::{data, output, Settings, Stopped, Tokenize, Trainer},
};

/// Events kept per job (the oldest go first).
const MAX_EVENTS: usize = 1000;
/// Jobs kept; beyond it the oldest finished one is forgotten.
const MAX_JOBS: usize = 256;

fn now() -> u64 {
	SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// A job's state, in OpenAI's words.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
	Queued,
	Running,
	Succeeded,
	Failed,
	Cancelled,
}

impl Status {
	fn finished(self) -> bool {
		matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
	}
}

/// One event of a job.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
	pub object: String,
	pub id: String,
	pub created_at: u64,
	pub level: String,
	pub message: String,
	#[serde(rename = "type")]
	pub kind: String,
	pub data: Value,
}

/// A job as the API shows it (OpenAI's fields, and Tributary's `settings`, `datasets` and
/// `lineage`).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Job {
	pub id: String,
	pub object: String,
	pub model: String,
	pub created_at: u64,
	pub finished_at: Option<u64>,
	pub fine_tuned_model: Option<String>,
	pub organization_id: String,
	pub result_files: Vec<String>,
	pub status: Status,
	pub validation_file: Option<String>,
	pub training_file: String,
	pub hyperparameters: Value,
	pub trained_tokens: Option<u64>,
	pub error: Option<Value>,
	pub seed: u64,
	pub estimated_finish: Option<u64>,
	pub settings: Settings,
	pub lineage: Option<output::Lineage>,
}

/// A job with its events, as kept on disk (`fine_tuning/<id>/job.json`).
#[derive(Clone, Serialize, Deserialize)]
struct Kept {
	job: Job,
	events: VecDeque<Event>,
	/// Events ever added (their ids count up from 1, within the job).
	#[serde(default)]
	added: u64,
}

/// Every job, the queue, and the one running.
#[derive(Default)]
struct Book {
	jobs: BTreeMap<String, Kept>,
	queue: VecDeque<String>,
	running: Option<(String, Arc<AtomicBool>)>,
}

/// The fine-tuning jobs of a service.
pub struct Jobs {
	/// `--data-dir/fine_tuning`, or a directory of this process's own in the system's
	/// temporary directory without a data directory (jobs then end with the process).
	dir: PathBuf,
	files: PathBuf,
	book: Mutex<Book>,
	wake: Condvar,
	/// Set when the service stops: the running job is interrupted at its next step, its
	/// checkpoint kept, and it stays queued for the next start.
	stopping: AtomicBool,
}

impl Jobs {
	/// The jobs kept under `data_dir`; those that were queued or running are queued again.
	pub fn open(data_dir: Option<&std::path::Path>) -> anyhow::Result<Self> {
		let root = match data_dir {
			Some(dir) => dir.to_path_buf(),
			None => std::env::temp_dir().join(format!("tributary-lora-{}", std::process::id())),
		};
		let jobs = Self {
			dir: root.join("fine_tuning"),
			files: root.join("files"),
			book: Mutex::new(Book::default()),
			wake: Condvar::new(),
			stopping: AtomicBool::new(false),
		};
		std::fs::create_dir_all(&jobs.dir)?;
		std::fs::create_dir_all(&jobs.files)?;
		let mut book = lock(&jobs.book);
		for entry in std::fs::read_dir(&jobs.dir)? {
			let path = entry?.path().join("job.json");
			let Ok(bytes) = std::fs::read(&path) else { continue };
			let mut kept: Kept = match serde_json::from_slice(&bytes) {
				Ok(kept) => kept,
				Err(e) => {
					tracing::warn!("skipping the fine-tuning job in {}: {e}", path.display());
					continue;
				}
			};
			if !kept.job.status.finished() {
				kept.job.status = Status::Queued;
				book.queue.push_back(kept.job.id.clone());
				tracing::info!(job = kept.job.id, "fine-tuning job queued again after a restart");
			}
			book.jobs.insert(kept.job.id.clone(), kept);
		}
		let mut queued: Vec<String> = book.queue.drain(..).collect();
		queued.sort_by_key(|id| book.jobs.get(id).map(|k| k.job.created_at));
		book.queue.extend(queued);
		drop(book);
		Ok(jobs)
	}

	fn job_dir(&self, id: &str) -> PathBuf {
		self.dir.join(id)
	}

	/// Writes a job's state (beside, then renamed).
	fn save(&self, kept: &Kept) {
		let dir = self.job_dir(&kept.job.id);
		let write = || -> std::io::Result<()> {
			std::fs::create_dir_all(&dir)?;
			let tmp = dir.join("job.json.tmp");
			std::fs::write(&tmp, serde_json::to_vec(kept)?)?;
			std::fs::rename(tmp, dir.join("job.json"))
		};
		if let Err(e) = write() {
			tracing::warn!(job = kept.job.id, "could not write the job's state: {e}");
		}
	}

	/// Adds an event to job `id` and saves it.
	fn event(&self, id: &str, level: &str, kind: &str, message: String, data: Value) {
		let mut book = lock(&self.book);
		if let Some(kept) = book.jobs.get_mut(id) {
			kept.added += 1;
			kept.events.push_back(Event {
				object: "fine_tuning.job.event".into(),
				id: format!("ftevent-{}-{}", id.trim_start_matches("ftjob-"), kept.added),
				created_at: now(),
				level: level.into(),
				message,
				kind: kind.into(),
				data,
			});
			while kept.events.len() > MAX_EVENTS {
				kept.events.pop_front();
			}
			let kept = kept.clone();
			drop(book);
			self.save(&kept);
		}
	}

	/// Changes job `id` with `change` and saves it; returns it changed.
	fn update(&self, id: &str, change: impl FnOnce(&mut Job)) -> Option<Job> {
		let mut book = lock(&self.book);
		let kept = book.jobs.get_mut(id)?;
		change(&mut kept.job);
		let kept = kept.clone();
		drop(book);
		self.save(&kept);
		Some(kept.job)
	}

	fn get(&self, id: &str) -> Option<Kept> {
		lock(&self.book).jobs.get(id).cloned()
	}

	/// The service is stopping: the running job stops after its current step with a
	/// checkpoint and stays queued; no other starts.
	pub(crate) fn interrupt(&self) {
		self.stopping.store(true, Ordering::Relaxed);
		if let Some((_, flag)) = &lock(&self.book).running {
			flag.store(true, Ordering::Relaxed);
		}
		self.wake.notify_all();
	}
}

/// `POST /v1/files`: a JSONL training file (multipart, as OpenAI's clients send it: `file` and
/// `purpose`), every line checked to be a conversation or text. Its id is its hash.
pub(super) async fn upload_file(
	State(state): State<Arc<AppState>>,
	form: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
	let mut form = form.map_err(|e| ApiError::bad("invalid_multipart", e.body_text()))?;
	let (mut bytes, mut filename, mut purpose) = (None, String::from("training.jsonl"), None);
	while let Some(field) =
		form.next_field().await.map_err(|e| ApiError::bad("invalid_multipart", e.body_text()))?
	{
		match field.name() {
			Some("file") => {
				filename = field.file_name().unwrap_or("training.jsonl").to_string();
				bytes = Some(
					field
						.bytes()
						.await
						.map_err(|e| ApiError::bad("invalid_multipart", e.body_text()))?,
				);
			}
			Some("purpose") => {
				purpose = Some(
					field
						.text()
						.await
						.map_err(|e| ApiError::bad("invalid_multipart", e.body_text()))?,
				);
			}
			_ => {}
		}
	}
	let bytes = bytes.ok_or_else(|| ApiError::bad("missing_file", "the form has no `file`"))?;
	if purpose.as_deref() != Some("fine-tune") {
		return Err(ApiError::bad("invalid_purpose", "purpose must be \"fine-tune\""));
	}
	let text = std::str::from_utf8(&bytes)
		.map_err(|_| ApiError::bad("invalid_file", "the file is not UTF-8 text"))?;
	let lines = text.lines().filter(|l| !l.trim().is_empty()).count();
	for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
		if line.trim_start().starts_with('{') && serde_json::from_str::<Value>(line).is_err() {
			return Err(ApiError::bad("invalid_file", format!("line {} is not JSON", i + 1)));
		}
	}
	if lines == 0 {
		return Err(ApiError::bad("invalid_file", "the file has no line to train on"));
	}
	let id = format!("file-{}", &hex(&blake2_256(&bytes))[..24]);
	let size = bytes.len();
	let jobs = state.jobs.clone();
	let stored = id.clone();
	blocking(move || {
		std::fs::write(jobs.files.join(&stored), &bytes)
			.map_err(|e| ApiError::internal("file_unwritable", e))
	})
	.await?;
	Ok((
		StatusCode::OK,
		Json(json!({
			"id": id, "object": "file", "bytes": size, "created_at": now(), "filename": filename,
			"purpose": "fine-tune", "status": "processed",
		})),
	))
}

/// The body of `POST /v1/fine_tuning/jobs`.
#[derive(Deserialize)]
pub(super) struct JobRequest {
	model: String,
	training_file: String,
	validation_file: Option<String>,
	#[serde(default)]
	hyperparameters: Hyperparameters,
	seed: Option<u64>,
	#[allow(dead_code)]
	suffix: Option<String>,
	/// Tributary's: the adapter's rank, alpha and modules.
	#[serde(default)]
	lora: LoraRequest,
}

#[derive(Deserialize, Default)]
struct Hyperparameters {
	n_epochs: Option<AutoOr<usize>>,
	batch_size: Option<AutoOr<usize>>,
	learning_rate_multiplier: Option<AutoOr<f64>>,
}

#[derive(Deserialize, Default)]
struct LoraRequest {
	rank: Option<usize>,
	alpha: Option<u32>,
	modules: Option<Vec<String>>,
}

/// A number, or `"auto"` (the default).
#[derive(Deserialize, Clone, Copy)]
#[serde(untagged)]
enum AutoOr<T> {
	Value(T),
	Auto(Auto),
}

#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum Auto {
	Auto,
}

impl<T: Copy> AutoOr<T> {
	fn or(self, default: T) -> T {
		match self {
			Self::Value(value) => value,
			Self::Auto(Auto::Auto) => default,
		}
	}
}

/// What a job trains on: `datasets:3,7` or an uploaded file's id.
enum Source {
	Datasets(Vec<u32>),
	File(String),
}

fn source(name: &str) -> Result<Source, ApiError> {
	if let Some(list) = name.strip_prefix("datasets:") {
		let ids: Result<Vec<u32>, _> = list.split(',').map(|id| id.trim().parse()).collect();
		return match ids {
			Ok(ids) if !ids.is_empty() => Ok(Source::Datasets(ids)),
			_ => Err(ApiError::bad(
				"invalid_training_file",
				format!("{name:?} names no dataset ids"),
			)),
		};
	}
	if name.starts_with("file-")
		&& name.len() == 29
		&& name[5..].bytes().all(|b| b.is_ascii_hexdigit())
	{
		return Ok(Source::File(name.into()));
	}
	Err(ApiError::bad(
		"invalid_training_file",
		format!("{name:?} is neither \"datasets:<ids>\" nor an uploaded file's id"),
	))
}

/// `POST /v1/fine_tuning/jobs`: checks the request, queues the job and answers it.
pub(super) async fn create_job(
	State(state): State<Arc<AppState>>,
	body: Result<Json<Value>, JsonRejection>,
) -> Result<Json<Job>, ApiError> {
	let fields = [
		"model",
		"training_file",
		"validation_file",
		"hyperparameters",
		"seed",
		"suffix",
		"lora",
		"method",
		"integrations",
		"metadata",
	];
	let request: JobRequest = parse(body, &fields[..2], &fields[2..])?;
	if request.model != "base" {
		return Err(ApiError::bad(
			"unsupported_model",
			format!("jobs fine-tune the base model (\"base\"), not {:?}", request.model),
		));
	}
	let hyper = &request.hyperparameters;
	let defaults = Settings::default();
	let settings = Settings {
		rank: request.lora.rank.unwrap_or(defaults.rank),
		alpha: request.lora.alpha.unwrap_or(defaults.alpha),
		modules: request.lora.modules.clone().unwrap_or(defaults.modules.clone()),
		epochs: hyper.n_epochs.map_or(defaults.epochs, |n| n.or(defaults.epochs)),
		batch_size: hyper.batch_size.map_or(defaults.batch_size, |n| n.or(defaults.batch_size)),
		learning_rate: defaults.learning_rate
			* hyper.learning_rate_multiplier.map_or(1.0, |m| m.or(1.0)),
		holdout: if request.validation_file.is_some() { 0.0 } else { defaults.holdout },
		seed: request.seed.unwrap_or(0),
		..defaults
	};
	settings.check().map_err(|e| ApiError::bad("invalid_hyperparameters", e.to_string()))?;
	let training = source(&request.training_file)?;
	let check_file = |id: &str| match state.jobs.files.join(id).exists() {
		true => Ok(()),
		false => Err(ApiError::not_found("unknown_file", format!("no file {id}"))),
	};
	match &training {
		Source::File(id) => check_file(id)?,
		Source::Datasets(ids) => {
			let indexes = super::read(&state.indexes).clone();
			if let Some(missing) = ids.iter().find(|id| !indexes.contains_key(id)) {
				return Err(ApiError::bad(
					"unknown_dataset",
					format!("the service holds no records of dataset {missing}"),
				));
			}
		}
	}
	if let Some(id) = &request.validation_file {
		match source(id)? {
			Source::File(id) => check_file(&id)?,
			Source::Datasets(_) => {
				return Err(ApiError::bad(
					"invalid_validation_file",
					"a validation file is an uploaded file",
				))
			}
		}
	}
	let id = format!(
		"ftjob-{}",
		&hex(&blake2_256(
			format!("{}-{}", now(), state.ids.fetch_add(1, Ordering::Relaxed)).as_bytes()
		))[..24]
	);
	let job = Job {
		id: id.clone(),
		object: "fine_tuning.job".into(),
		model: request.model,
		created_at: now(),
		finished_at: None,
		fine_tuned_model: None,
		organization_id: "tributary".into(),
		result_files: Vec::new(),
		status: Status::Queued,
		validation_file: request.validation_file,
		training_file: request.training_file,
		hyperparameters: json!({
			"n_epochs": settings.epochs, "batch_size": settings.batch_size,
			"learning_rate_multiplier": settings.learning_rate / defaults.learning_rate,
		}),
		trained_tokens: None,
		error: None,
		seed: settings.seed,
		estimated_finish: None,
		settings,
		lineage: None,
	};
	let jobs = state.jobs.clone();
	{
		let mut book = lock(&jobs.book);
		if book.jobs.len() >= MAX_JOBS {
			let oldest = book
				.jobs
				.values()
				.filter(|k| k.job.status.finished())
				.min_by_key(|k| k.job.created_at)
				.map(|k| k.job.id.clone());
			match oldest {
				Some(old) => {
					book.jobs.remove(&old);
					std::fs::remove_dir_all(jobs.job_dir(&old)).ok();
				}
				None => {
					return Err(ApiError::TooManyRequests(
						"too_many_jobs",
						format!("{MAX_JOBS} jobs are queued or running"),
					))
				}
			}
		}
		book.jobs.insert(id.clone(), Kept { job: job.clone(), events: VecDeque::new(), added: 0 });
		book.queue.push_back(id.clone());
	}
	jobs.event(&id, "info", "message", "job queued".into(), Value::Null);
	jobs.wake.notify_all();
	tracing::info!(job = id, "fine-tuning job queued");
	Ok(Json(job))
}

#[derive(Deserialize)]
pub(super) struct Page {
	after: Option<String>,
	limit: Option<usize>,
}

/// `GET /v1/fine_tuning/jobs`: the jobs, newest first.
pub(super) async fn list_jobs(
	State(state): State<Arc<AppState>>,
	page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
	let mut jobs: Vec<Job> = lock(&state.jobs.book).jobs.values().map(|k| k.job.clone()).collect();
	jobs.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.id.cmp(&a.id)));
	Ok(Json(listed(&jobs, |job| &job.id, page)?))
}

/// OpenAI's list of `items` (in the order given): those after the one whose id is `after`, at
/// most `limit` (20 unless given, 1 to 100), and whether more follow.
fn listed<T: Serialize>(
	items: &[T],
	id: impl Fn(&T) -> &str,
	page: Result<Query<Page>, QueryRejection>,
) -> Result<Value, ApiError> {
	let Page { after, limit } =
		page.map(|Query(page)| page).map_err(|e| ApiError::bad("invalid_query", e.body_text()))?;
	let limit = limit.unwrap_or(20).clamp(1, 100);
	let start =
		after.and_then(|a| items.iter().position(|item| id(item) == a).map(|p| p + 1)).unwrap_or(0);
	let data: Vec<&T> = items.iter().skip(start).take(limit).collect();
	let has_more = start + data.len() < items.len();
	Ok(json!({ "object": "list", "data": data, "has_more": has_more }))
}

fn unknown(id: &str) -> ApiError {
	ApiError::not_found("unknown_job", format!("no fine-tuning job {id}"))
}

/// `GET /v1/fine_tuning/jobs/{id}`.
pub(super) async fn get_job(
	State(state): State<Arc<AppState>>,
	Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
	state.jobs.get(&id).map(|k| Json(k.job)).ok_or_else(|| unknown(&id))
}

/// `GET /v1/fine_tuning/jobs/{id}/events`: newest first.
pub(super) async fn job_events(
	State(state): State<Arc<AppState>>,
	Path(id): Path<String>,
	page: Result<Query<Page>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
	let kept = state.jobs.get(&id).ok_or_else(|| unknown(&id))?;
	let events: Vec<&Event> = kept.events.iter().rev().collect();
	Ok(Json(listed(&events, |event| &event.id, page)?))
}

/// `POST /v1/fine_tuning/jobs/{id}/cancel`: a queued job is cancelled at once, a running one
/// after its current step (no adapter is written; its checkpoint is removed).
pub(super) async fn cancel_job(
	State(state): State<Arc<AppState>>,
	Path(id): Path<String>,
) -> Result<Json<Job>, ApiError> {
	let jobs = &state.jobs;
	let status = {
		let mut book = lock(&jobs.book);
		let status = book.jobs.get(&id).map(|k| k.job.status).ok_or_else(|| unknown(&id))?;
		if status.finished() {
			return Err(ApiError::conflict(
				"job_finished",
				format!("job {id} is already {status:?}").to_lowercase(),
			));
		}
		book.queue.retain(|queued| *queued != id);
		if let Some((running, flag)) = &book.running {
			if *running == id {
				flag.store(true, Ordering::Relaxed);
			}
		}
		status
	};
	let job = match status {
		Status::Queued => {
			let job = jobs.update(&id, |job| {
				job.status = Status::Cancelled;
				job.finished_at = Some(now());
			});
			jobs.event(&id, "info", "message", "job cancelled".into(), Value::Null);
			job
		}
		_ => jobs.get(&id).map(|k| k.job),
	};
	job.map(Json).ok_or_else(|| unknown(&id))
}

/// Starts the thread that runs queued jobs, one at a time, for as long as the service lives.
pub(super) fn spawn_runner(state: &Arc<AppState>) -> std::io::Result<()> {
	let weak: Weak<AppState> = Arc::downgrade(state);
	// Jobs' matrix multiplications run in a pool of their own (candle's CPU matmul splits its
	// work over the rayon pool it is called in), so that serving keeps the other cores.
	let threads = match state.options.fine_tuning_threads {
		0 => (candle_core::utils::get_num_threads() / 2).max(1),
		n => n,
	};
	let pool = rayon::ThreadPoolBuilder::new()
		.num_threads(threads)
		.thread_name(|i| format!("fine-tuning-{i}"))
		.build()
		.map_err(std::io::Error::other)?;
	tracing::info!(threads, "fine-tuning jobs multiply matrices on {threads} threads");
	std::thread::Builder::new().name("fine-tuning".into()).spawn(move || loop {
		let Some(state) = weak.upgrade() else { return };
		let next = {
			let mut book = lock(&state.jobs.book);
			// A stopping service starts nothing: its queue waits for the next start.
			let stopping = state.jobs.stopping.load(Ordering::Relaxed);
			match (!stopping).then(|| book.queue.pop_front()).flatten() {
				Some(id) => {
					let flag = Arc::new(AtomicBool::new(false));
					book.running = Some((id.clone(), flag.clone()));
					Some((id, flag))
				}
				None => {
					// Woken by a new job, or every second to notice the service is gone.
					let jobs = state.jobs.clone();
					drop(book);
					let book = lock(&jobs.book);
					let _ = jobs.wake.wait_timeout(book, Duration::from_secs(1));
					None
				}
			}
		};
		let Some((id, cancel)) = next else { continue };
		pool.install(|| run_job(&state, &id, &cancel));
		lock(&state.jobs.book).running = None;
	})?;
	Ok(())
}

/// Runs job `id` to its end: trains, writes the adapter and registers it, or fails or is
/// cancelled, recording which.
fn run_job(state: &AppState, id: &str, cancel: &AtomicBool) {
	let jobs = &state.jobs;
	let Some(kept) = jobs.get(id) else { return };
	// Cancelled between leaving the queue and starting.
	if cancel.load(Ordering::Relaxed) || kept.job.status.finished() {
		return;
	}
	jobs.update(id, |job| job.status = Status::Running);
	jobs.event(id, "info", "message", "training started".into(), Value::Null);
	tracing::info!(job = id, "fine-tuning job running");
	let outcome = train(state, &kept.job, cancel);
	let dir = jobs.job_dir(id);
	match outcome {
		Ok((adapter_id, lineage, tokens)) => {
			jobs.update(id, |job| {
				job.status = Status::Succeeded;
				job.finished_at = Some(now());
				job.fine_tuned_model = Some(adapter_id.clone());
				job.trained_tokens = Some(tokens);
				job.result_files = vec![dir.join("adapter").display().to_string()];
				job.lineage = Some(lineage.clone());
			});
			jobs.event(
				id,
				"info",
				"message",
				format!("adapter {adapter_id} registered: {}", lineage.adapter_hash),
				json!({ "lineage": lineage }),
			);
			tracing::info!(job = id, adapter = adapter_id, "fine-tuning job succeeded");
		}
		Err(e)
			if matches!(e.downcast_ref::<Stopped>(), Some(Stopped::Cancelled(_)))
				&& jobs.stopping.load(Ordering::Relaxed) =>
		{
			jobs.update(id, |job| job.status = Status::Queued);
			jobs.event(
				id,
				"info",
				"message",
				format!("interrupted by the service stopping ({e}); resumes when it starts again"),
				Value::Null,
			);
			tracing::info!(job = id, "fine-tuning job interrupted; it resumes at the next start");
		}
		Err(e) if matches!(e.downcast_ref::<Stopped>(), Some(Stopped::Cancelled(_))) => {
			std::fs::remove_dir_all(output::checkpoint_dir(&dir.join("adapter"))).ok();
			jobs.update(id, |job| {
				job.status = Status::Cancelled;
				job.finished_at = Some(now());
			});
			jobs.event(id, "info", "message", "job cancelled".into(), Value::Null);
			tracing::info!(job = id, "fine-tuning job cancelled");
		}
		Err(e) => {
			// A failed job is not run again: its checkpoint goes.
			std::fs::remove_dir_all(output::checkpoint_dir(&dir.join("adapter"))).ok();
			let message = format!("{e:#}");
			jobs.update(id, |job| {
				job.status = Status::Failed;
				job.finished_at = Some(now());
				job.error =
					Some(json!({ "code": "training_failed", "message": message, "param": null }));
			});
			jobs.event(id, "error", "message", format!("training failed: {message}"), Value::Null);
			tracing::warn!(job = id, "fine-tuning job failed: {message}");
		}
	}
}

/// Trains job `job` from where its checkpoint left off; returns the registered adapter's id,
/// the lineage and the tokens trained on.
fn train(
	state: &AppState,
	job: &Job,
	cancel: &AtomicBool,
) -> anyhow::Result<(String, output::Lineage, u64)> {
	let jobs = &state.jobs;
	let read_file = |id: &str| -> anyhow::Result<Vec<data::Source>> {
		let path = jobs.files.join(id);
		data::jsonl_records(&path)
	};
	let sources = match source(&job.training_file).map_err(|e| anyhow::anyhow!("{e}"))? {
		Source::File(id) => read_file(&id)?,
		Source::Datasets(ids) => {
			// The indexes as last published: no lock held while the records are decoded.
			let indexes = super::read(&state.indexes).clone();
			let blob = |hash: &[u8; 32]| lock(&state.blobs).get(hash);
			data::held_records(&indexes, blob, &state.tokenizer, &ids)?
		}
	};
	let tokenize =
		Tokenize::new(&state.tokenizer, &state.chat, &state.config, job.settings.max_length);
	let held_out = match &job.validation_file {
		Some(id) => Some(tokenize.all(&read_file(id)?)?),
		None => None,
	};
	let mut trainer = Trainer::new(
		&state.model,
		&state.model_name,
		job.settings.clone(),
		tokenize.all(&sources)?,
		held_out,
	)?;
	let out = jobs.job_dir(&job.id).join("adapter");
	let checkpoint = output::checkpoint_dir(&out);
	let steps = trainer.steps();
	if checkpoint.join("checkpoint.json").exists() {
		jobs.event(&job.id, "info", "message", "resuming from its checkpoint".into(), Value::Null);
	}
	let mut last_event = std::time::Instant::now();
	let tokens = trainer.run(Some(&checkpoint), cancel, |p| {
		// A metrics event at the last step, at an epoch's end that measured the held-out loss,
		// and otherwise at most every 5 seconds.
		if p.eval_loss.is_some() || p.step == steps || last_event.elapsed().as_secs() >= 5 {
			last_event = std::time::Instant::now();
			jobs.event(
				&job.id,
				"info",
				"metrics",
				format!("step {}/{}: training loss={:.4}", p.step, p.steps, p.loss),
				json!({
					"step": p.step, "total_steps": p.steps, "epoch": p.epoch,
					"train_loss": p.loss, "valid_loss": p.eval_loss,
					"learning_rate": p.learning_rate, "tokens_per_second": p.tokens_per_second,
				}),
			);
			let finish = now() + p.eta_seconds as u64;
			let _ = jobs.update(&job.id, |j| j.estimated_finish = Some(finish));
		}
	})?;
	if out.exists() {
		std::fs::remove_dir_all(&out)?;
	}
	let lineage = output::write(&trainer, &out)?;
	std::fs::remove_dir_all(&checkpoint).ok();
	let config: Value = serde_json::from_slice(&std::fs::read(out.join("adapter_config.json"))?)?;
	let weights = std::fs::read(out.join("adapter_model.safetensors"))?;
	let adapter_id = format!("ft-{}", job.id.trim_start_matches("ftjob-"));
	let expected = crate::hash::parse_hash(&lineage.adapter_hash);
	match state.adapters.register(&adapter_id, &config, &weights, expected) {
		Ok(_) => {}
		// Registered before the service stopped, and the job not marked done yet: the same
		// adapter, or the hash check says otherwise.
		Err(crate::adapters::RegistryError::Exists(_))
			if expected.is_some_and(|e| {
				state.adapters.resident(&adapter_id).is_ok_and(|a| a.hash == e)
			}) => {}
		Err(e) => return Err(e.into()),
	}
	tracing::info!(job = job.id, tokens, "trained on {tokens} tokens in this run");
	Ok((adapter_id, lineage, trainer.tokens_trained().iter().map(|(_, n)| n).sum()))
}
