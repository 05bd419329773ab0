//! The scheduler: continuous batching with chunked prefill. Requests join the running batch
//! between steps and leave it when they finish, so sequences at different positions, with
//! different adapters, decode together. A step carries every decoding row's next token and
//! pieces of the joining rows' prompts, at most `Limits::prefill_chunk` prompt tokens in all,
//! so a long prompt neither stalls the rows decoding beside it nor runs alone: the weights are
//! read once for both. Every kernel computes each token's row alone (`model::matmul`), so a
//! prompt run in pieces gives the bits it gives at once. Each row's next token is chosen as its
//! request says (`sampling`), and stop strings end it (`stop`).

use std::{
	sync::{
		atomic::{AtomicU64, Ordering},
		mpsc, Arc,
	},
	time::{Duration, Instant},
};

use anyhow::Result;

pub mod logprobs;
pub mod sampling;
pub mod stop;

use rayon::prelude::*;

use self::sampling::{sample, Rng};
pub use self::{
	logprobs::{TokenLogprobs, MAX_TOP_LOGPROBS},
	sampling::Sampling,
};
use crate::{
	adapters::{Adapter, AdapterStack},
	metrics::Histogram,
	model::{KvCache, Lora, Model, Row},
	rng::SplitMix64,
};

/// Why generation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Finish {
	/// An end token, or the request's stop check.
	Stop,
	/// `max_tokens` reached.
	Length,
}

/// Called with the output so far after each token; `true` ends generation there.
pub type StopCheck = Box<dyn FnMut(&[u32]) -> bool + Send>;

/// Called with each token as it joins the output, and its log-probabilities when the request
/// asks for them (for streaming).
pub type OnToken = Box<dyn FnMut(u32, Option<&TokenLogprobs>) + Send>;

/// What a request generated.
#[derive(Clone, Debug, PartialEq)]
pub struct Generation {
	pub tokens: Vec<u32>,
	pub finish: Finish,
	/// One per token when the request asks (`Request::logprobs`), else none.
	pub logprobs: Vec<TokenLogprobs>,
}

/// What a request generated, or why it generated nothing.
pub type Outcome = Result<Generation, String>;

/// A generation request.
pub struct Request {
	pub prompt: Vec<u32>,
	pub max_tokens: usize,
	/// Tokens that end generation (not part of the output).
	pub stop_tokens: Vec<u32>,
	pub stop_check: Option<StopCheck>,
	pub on_token: Option<OnToken>,
	pub sampling: Sampling,
	/// Report each token's log-probability and those of this many most likely alternatives
	/// (at most `MAX_TOP_LOGPROBS`); `None`, none.
	pub logprobs: Option<usize>,
	pub adapter: Option<Arc<Adapter>>,
	/// Ends generation before a token that would take the output past a number of bytes.
	pub byte_limit: Option<ByteLimit>,
	/// Set when nobody waits for the outcome any more (the client went away): the request
	/// leaves the batch at the next step.
	pub cancelled: Option<Arc<std::sync::atomic::AtomicBool>>,
	/// Called once with the outcome.
	pub reply: Box<dyn FnOnce(Outcome) + Send>,
	/// When it was sent, for the queue-wait and time-to-first-token histograms.
	pub queued_at: Instant,
}

/// A bound on an output's bytes: generation ends (`Finish::Length`) before a token that would
/// take the output past `max` bytes, so the output is never cut inside a token.
#[derive(Clone, Debug)]
pub struct ByteLimit {
	pub max: usize,
	/// Token i spells `lengths[i]` bytes.
	pub lengths: Arc<[u32]>,
}

/// What the engine reports, for `/metrics`.
#[derive(Default)]
pub struct Stats {
	/// Requests sent and not yet admitted (the sender increments it, admission decrements it).
	pub queued: AtomicU64,
	/// Rows in the last decode step.
	pub batch_size: AtomicU64,
	pub steps: AtomicU64,
	pub decoded_tokens: AtomicU64,
	pub prefill_tokens: AtomicU64,
	/// Key-value cache bytes set aside for the admitted rows (their worst case).
	pub kv_reserved_bytes: AtomicU64,
	/// Bytes the batched adapter stack takes.
	pub stack_bytes: AtomicU64,
	/// Requests whose client went away before they were admitted (never prefilled).
	pub cancelled: AtomicU64,
	/// Requests that failed in the model (their own, not their batch's).
	pub failed: AtomicU64,
	/// From being sent to being admitted.
	pub queue_wait: Histogram,
	/// From being sent to the first token (queue wait and prefill).
	pub time_to_first_token: Histogram,
	/// Between a row's consecutive tokens.
	pub inter_token: Histogram,
	/// Time spent in decode steps, nanoseconds.
	pub decode_nanos: AtomicU64,
	/// Decode throughput of recent steps, tokens per second, as f64 bits.
	pub tokens_per_second: AtomicU64,
}

impl Stats {
	pub fn tokens_per_second(&self) -> f64 {
		f64::from_bits(self.tokens_per_second.load(Ordering::Relaxed))
	}
}

struct Active {
	request: Request,
	rng: Rng,
	cache: KvCache,
	next: u32,
	/// `next`'s log-probabilities, when the request asks.
	next_logprobs: Option<TokenLogprobs>,
	output: Vec<u32>,
	/// The bytes the output spells, when the request bounds them.
	bytes: usize,
	logprobs: Vec<TokenLogprobs>,
	finish: Option<Finish>,
	/// Why the row failed on its own, if it did.
	failure: Option<String>,
	/// The key-value cache bytes set aside for it at admission.
	reserved: usize,
	/// When its last token came.
	last_token_at: Instant,
	/// How many of its prompt's tokens its cache holds (the prompt runs in pieces).
	prefilled: usize,
}

impl Active {
	/// Takes `next` into the output unless it ends generation; decides whether the row is done.
	fn accept(&mut self, context_length: usize) {
		if self.request.stop_tokens.contains(&self.next) {
			self.finish = Some(Finish::Stop);
			return;
		}
		if self.output.len() >= self.request.max_tokens {
			self.finish = Some(Finish::Length);
			return;
		}
		if let Some(limit) = &self.request.byte_limit {
			let length = limit.lengths.get(self.next as usize).map_or(0, |&l| l as usize);
			if self.bytes.saturating_add(length) > limit.max {
				self.finish = Some(Finish::Length);
				return;
			}
			self.bytes += length;
		}
		self.output.push(self.next);
		let logprobs = self.next_logprobs.take();
		if let Some(on_token) = self.request.on_token.as_mut() {
			on_token(self.next, logprobs.as_ref());
		}
		self.logprobs.extend(logprobs);
		if let Some(check) = self.request.stop_check.as_mut() {
			let output = &self.output;
			match guarded(|| Ok(check(output))) {
				Ok(true) => {
					self.finish = Some(Finish::Stop);
					return;
				}
				Ok(false) => {}
				// The request's own check failed: it alone fails.
				Err(e) => {
					self.failure = Some(format!("the stop check {e:#}"));
					self.finish = Some(Finish::Stop);
					return;
				}
			}
		}
		// The next step would write past the context: end here rather than fail the batch.
		if self.output.len() >= self.request.max_tokens || self.cache.len() >= context_length {
			self.finish = Some(Finish::Length);
		}
	}
}

/// Prompt tokens a step carries at most, by default.
pub const PREFILL_CHUNK: usize = 256;

/// How much the engine takes on at once.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
	/// The most rows decoded together.
	pub max_batch: usize,
	/// The most prompt tokens one step carries beside the decoding rows (at least one).
	pub prefill_chunk: usize,
	/// The bytes the rows' key-value caches may take at their worst (each row's prompt and
	/// `max_tokens`, up to the context): a request that would exceed it waits for rows to
	/// finish. A request larger than the budget alone is served alone.
	pub kv_budget: usize,
}

impl Limits {
	/// `max_batch` rows, without a memory budget.
	pub fn batch(max_batch: usize) -> Self {
		Self { max_batch, prefill_chunk: PREFILL_CHUNK, kv_budget: usize::MAX }
	}
}

/// The bytes a row's key-value cache takes at its worst: `positions` of keys and values in
/// every layer, f32.
pub fn kv_bytes(config: &crate::model::LlamaConfig, positions: usize) -> usize {
	positions
		.min(config.context_length)
		.saturating_mul(config.layers * 2 * config.kv_heads * config.head_dim * 4)
}

/// Runs requests from `requests` on `model` within `limits`, until the sending side is dropped
/// and every request has been answered. Requests are admitted in the order they came; the
/// first that does not fit the memory budget waits, and those behind it with it.
///
/// The loop runs on a worker of a thread pool of its own, one thread a core, which every
/// parallel part of a step then uses: the loop's thread takes its share of each product and
/// the others steal the rest, instead of a thread outside the pool handing each of a step's
/// hundreds of parallel calls over and sleeping until they finish.
pub fn run(model: &Model, requests: mpsc::Receiver<Request>, limits: Limits, stats: &Stats) {
	let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
	match rayon::ThreadPoolBuilder::new()
		.num_threads(threads)
		.thread_name(|i| format!("tributary-step-{i}"))
		.build()
	{
		Ok(pool) => pool.install(|| run_here(model, requests, limits, stats)),
		Err(error) => {
			tracing::warn!(%error, "no thread pool of its own for the engine; using the global one");
			run_here(model, requests, limits, stats)
		}
	}
}

/// [`run`]'s loop, on the calling thread.
fn run_here(model: &Model, requests: mpsc::Receiver<Request>, limits: Limits, stats: &Stats) {
	let max_batch = limits.max_batch.max(1);
	let mut active: Vec<Active> = Vec::new();
	let mut stack = AdapterStack::empty(max_batch, model.tensor_device());
	let mut open = true;
	// The oldest request not yet admitted, waiting for memory.
	let mut waiting: Option<Request> = None;
	let mut reserved = 0usize;
	while open || !active.is_empty() || waiting.is_some() {
		// Admit what is waiting (block only when idle).
		while active.len() < max_batch {
			let request = match waiting.take() {
				Some(request) => request,
				None if !open => break,
				None => {
					let received = if active.is_empty() {
						requests.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
					} else {
						requests.recv_timeout(Duration::ZERO)
					};
					match received {
						Ok(request) => request,
						Err(mpsc::RecvTimeoutError::Timeout) => break,
						Err(mpsc::RecvTimeoutError::Disconnected) => {
							open = false;
							break;
						}
					}
				}
			};
			if abandoned(&request) {
				// Nobody waits for it: never prefilled.
				stats.queued.fetch_sub(1, Ordering::Relaxed);
				stats.cancelled.fetch_add(1, Ordering::Relaxed);
				(request.reply)(Err("cancelled before it was served".into()));
				continue;
			}
			let cost = kv_bytes(&model.config, request.prompt.len() + request.max_tokens);
			if !active.is_empty() && reserved.saturating_add(cost) > limits.kv_budget {
				waiting = Some(request);
				break;
			}
			stats.queued.fetch_sub(1, Ordering::Relaxed);
			stats.queue_wait.observe(request.queued_at.elapsed().as_secs_f64());
			if request.prompt.is_empty() {
				stats.failed.fetch_add(1, Ordering::Relaxed);
				(request.reply)(Err("a request needs a prompt".into()));
				continue;
			}
			let cache = match model.cache(request.prompt.len() + request.max_tokens) {
				Ok(cache) => cache,
				Err(e) => {
					// The device has no room for its cache: this request fails, not the engine.
					stats.failed.fetch_add(1, Ordering::Relaxed);
					(request.reply)(Err(format!("reserving its key-value cache: {e:#}")));
					continue;
				}
			};
			reserved += cost;
			active.push(Active::admitted(request, cost, cache));
		}
		stats.kv_reserved_bytes.store(reserved as u64, Ordering::Relaxed);
		// Retire what is done or abandoned, then take one step for the rest.
		for row in active.iter_mut() {
			if abandoned(&row.request) {
				row.finish = Some(Finish::Stop);
			}
		}
		let (done, running): (Vec<Active>, Vec<Active>) =
			active.into_iter().partition(|row| row.finish.is_some());
		for row in done {
			reserved -= row.reserved;
			match row.failure {
				Some(failure) => {
					stats.failed.fetch_add(1, Ordering::Relaxed);
					(row.request.reply)(Err(failure));
				}
				None => (row.request.reply)(Ok(Generation {
					tokens: row.output,
					finish: row.finish.unwrap_or(Finish::Stop),
					logprobs: row.logprobs,
				})),
			}
		}
		active = running;
		stats.kv_reserved_bytes.store(reserved as u64, Ordering::Relaxed);
		if active.is_empty() {
			continue;
		}
		let started = Instant::now();
		let lengths: Vec<usize> = active.iter().map(|row| row.cache.len()).collect();
		let chunk = limits.prefill_chunk;
		match guarded(|| step(model, &mut active, &mut stack, stats, chunk)) {
			Ok((decoded, prompted)) => {
				stats.stack_bytes.store(stack.bytes() as u64, Ordering::Relaxed);
				stats.prefill_tokens.fetch_add(prompted as u64, Ordering::Relaxed);
				if decoded > 0 {
					let rows = decoded as u64;
					stats.batch_size.store(rows, Ordering::Relaxed);
					stats.steps.fetch_add(1, Ordering::Relaxed);
					stats.decoded_tokens.fetch_add(rows, Ordering::Relaxed);
					// The step's time, in the share its decoding rows had of its tokens.
					let share = decoded as f64 / (decoded + prompted) as f64;
					let elapsed = started.elapsed().as_secs_f64() * share;
					stats.decode_nanos.fetch_add((elapsed * 1e9) as u64, Ordering::Relaxed);
					let now = rows as f64 / elapsed.max(1e-9);
					let before = stats.tokens_per_second();
					let smoothed = if before == 0.0 { now } else { 0.9 * before + 0.1 * now };
					stats.tokens_per_second.store(smoothed.to_bits(), Ordering::Relaxed);
				}
			}
			Err(e) => {
				// One row may be at fault: the step is undone, and each row takes it alone;
				// only rows that fail alone fail.
				tracing::warn!(
					rows = active.len(),
					"a decode step failed ({e:#}); retrying row by row"
				);
				let kv_row = model.config.kv_heads * model.config.head_dim;
				for (row, length) in active.iter_mut().zip(lengths) {
					row.cache.truncate(length, kv_row);
				}
				let mut kept = Vec::with_capacity(active.len());
				for mut row in active.drain(..) {
					let alone = std::slice::from_mut(&mut row);
					match guarded(|| step(model, alone, &mut stack, stats, chunk)) {
						Ok((_, prompted)) => {
							stats.prefill_tokens.fetch_add(prompted as u64, Ordering::Relaxed);
							kept.push(row);
						}
						Err(e) => {
							reserved -= row.reserved;
							stats.failed.fetch_add(1, Ordering::Relaxed);
							(row.request.reply)(Err(format!("{e:#}")));
						}
					}
				}
				active = kept;
			}
		}
	}
}

/// Whether nobody waits for the request's outcome any more.
fn abandoned(request: &Request) -> bool {
	request.cancelled.as_ref().is_some_and(|c| c.load(Ordering::Relaxed))
}

/// `f`'s result, or its panic as an error: a panic in the model fails the requests it was
/// computing, not the engine.
fn guarded<T>(f: impl FnOnce() -> Result<T>) -> Result<T> {
	std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|panic| {
		let message = crate::error::panic_message(panic.as_ref());
		Err(anyhow::anyhow!("panicked: {message}"))
	})
}

impl Active {
	/// A request admitted to the batch, its prompt not yet run, with `reserved` bytes of
	/// key-value cache set aside (and reserved in memory: the cache never grows).
	fn admitted(request: Request, reserved: usize, cache: KvCache) -> Self {
		Self {
			cache,
			rng: Rng(SplitMix64(request.sampling.seed)),
			next: 0,
			next_logprobs: None,
			output: Vec::new(),
			bytes: 0,
			logprobs: Vec::new(),
			finish: None,
			failure: None,
			reserved,
			last_token_at: Instant::now(),
			prefilled: 0,
			request,
		}
	}
}

/// What a row does in a step.
#[derive(Clone, Copy, PartialEq)]
enum Work {
	/// Runs its next token.
	Decode,
	/// Runs its prompt's tokens start..end.
	Prompt(usize, usize),
	/// Waits for a later step (the step's prompt tokens are spent).
	Wait,
}

/// The next token from one row of logits, as `sampling` says, with its log-probabilities when
/// `logprobs` asks.
fn choose(
	logits: &[f32],
	sampling: Sampling,
	logprobs: Option<usize>,
	rng: &mut Rng,
) -> Result<(u32, Option<TokenLogprobs>)> {
	let next = sample(logits, &sampling, rng);
	let logprobs = match logprobs {
		Some(top) => Some(logprobs::logprobs(logits, next, top.min(MAX_TOP_LOGPROBS))?),
		None => None,
	};
	Ok((next, logprobs))
}

/// One step: every decoding row's next token and, within `chunk` prompt tokens, pieces of the
/// prompts of rows still prefilling (oldest first), with the rows' adapters placed in the
/// stack's slots. Rows whose prompt is done, and decoding rows, get their next token. Returns
/// the rows decoded and the prompt tokens run.
fn step(
	model: &Model,
	active: &mut [Active],
	stack: &mut AdapterStack,
	stats: &Stats,
	chunk: usize,
) -> Result<(usize, usize)> {
	let mut budget = chunk.max(1);
	let plan: Vec<Work> = active
		.iter()
		.map(|row| {
			let (done, total) = (row.prefilled, row.request.prompt.len());
			if done >= total {
				return Work::Decode;
			}
			let take = (total - done).min(budget);
			budget -= take;
			match take {
				0 => Work::Wait,
				_ => Work::Prompt(done, done + take),
			}
		})
		.collect();
	let adapters: Vec<Option<Arc<Adapter>>> = active
		.iter()
		.zip(&plan)
		.filter(|(_, work)| **work != Work::Wait)
		.map(|(row, _)| row.request.adapter.clone())
		.collect();
	let slots = stack.place(&adapters, &model.config)?;
	let mut rows: Vec<Row> = Vec::with_capacity(adapters.len());
	for (row, work) in active.iter_mut().zip(&plan) {
		let tokens = match *work {
			Work::Decode => std::slice::from_ref(&row.next),
			Work::Prompt(start, end) => &row.request.prompt[start..end],
			Work::Wait => continue,
		};
		rows.push(Row { tokens, cache: &mut row.cache });
	}
	let logits = model.forward(&mut rows, Lora::Stack { stack, slots: &slots })?;
	drop(rows);
	let vocab = logits.dim(1)?;
	let logits = logits.flatten_all()?.to_vec1::<f32>()?;
	// The rows that get a token, with their logits; the next tokens are chosen first, on
	// copies of the generators and on every core: a failure leaves every row as it was.
	let running = active.iter().zip(&plan).filter(|(_, work)| **work != Work::Wait);
	let choosing: Vec<(usize, Sampling, Option<usize>, Rng)> = running
		.enumerate()
		.filter(|(_, (row, work))| match **work {
			Work::Prompt(_, end) => end == row.request.prompt.len(),
			_ => true,
		})
		.map(|(at, (row, _))| (at, row.request.sampling, row.request.logprobs, row.rng.clone()))
		.collect();
	let mut chosen = choosing
		.into_par_iter()
		.map(|(at, sampling, logprobs, mut rng)| {
			let logits = &logits[at * vocab..][..vocab];
			let (next, logprobs) = choose(logits, sampling, logprobs, &mut rng)?;
			Ok((next, logprobs, rng))
		})
		.collect::<Result<Vec<_>>>()?
		.into_iter();
	let now = Instant::now();
	let (mut decoded, mut prompted) = (0, 0);
	for (row, work) in active.iter_mut().zip(plan) {
		match work {
			Work::Wait => continue,
			Work::Prompt(start, end) => {
				row.prefilled = end;
				prompted += end - start;
				if end < row.request.prompt.len() {
					continue;
				}
				let first = row.request.queued_at.elapsed().as_secs_f64();
				stats.time_to_first_token.observe(first);
			}
			Work::Decode => {
				decoded += 1;
				stats.inter_token.observe(now.duration_since(row.last_token_at).as_secs_f64());
			}
		}
		let Some((next, logprobs, rng)) = chosen.next() else {
			anyhow::bail!("a row that gets a token has no logits");
		};
		(row.next, row.next_logprobs, row.rng) = (next, logprobs, rng);
		row.last_token_at = now;
		row.accept(model.config.context_length);
	}
	Ok((decoded, prompted))
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::testing::{tiny_adapter, tiny_model};

	type Reply = mpsc::Receiver<Outcome>;

	fn request(
		prompt: Vec<u32>,
		max_tokens: usize,
		adapter: Option<Arc<Adapter>>,
		sampling: Sampling,
	) -> (Request, Reply) {
		let (reply, answer) = mpsc::channel();
		let request = Request {
			prompt,
			max_tokens,
			stop_tokens: vec![2],
			stop_check: None,
			on_token: None,
			sampling,
			logprobs: None,
			adapter,
			byte_limit: None,
			cancelled: None,
			reply: Box::new(move |result| {
				let _ = reply.send(result);
			}),
			queued_at: Instant::now(),
		};
		(request, answer)
	}

	/// Serves `requests` through the engine (at most `max_batch` together) and returns the
	/// outputs in order.
	fn serve(model: &Arc<Model>, requests: Vec<Request>, max_batch: usize) -> Vec<Vec<u32>> {
		serve_with(model, requests, Limits::batch(max_batch))
	}

	/// [`serve`] within `limits`.
	fn serve_with(model: &Arc<Model>, requests: Vec<Request>, limits: Limits) -> Vec<Vec<u32>> {
		let (sender, receiver) = mpsc::channel();
		let stats = Arc::new(Stats::default());
		let engine = {
			let (model, stats) = (model.clone(), stats.clone());
			std::thread::spawn(move || run(&model, receiver, limits, &stats))
		};
		let mut answers = Vec::new();
		for request in requests {
			let (reply, answer) = mpsc::channel();
			let forward = request.reply;
			stats.queued.fetch_add(1, Ordering::Relaxed);
			sender
				.send(Request {
					reply: Box::new(move |result| {
						let _ = reply.send(result.clone());
						forward(result);
					}),
					..request
				})
				.unwrap();
			answers.push(answer);
		}
		drop(sender);
		let outputs = answers.into_iter().map(|a| a.recv().unwrap().unwrap().tokens).collect();
		engine.join().unwrap();
		assert_eq!(stats.queued.load(Ordering::Relaxed), 0);
		outputs
	}

	/// Sixteen requests over eight adapters (and none), prompts of different lengths and
	/// different output lengths, served eight at a time so that requests join and leave a
	/// running batch: token for token what each gets served alone.
	#[test]
	fn requests_served_together_match_each_served_alone() {
		served_together_match_each_served_alone(Arc::new(tiny_model()));
	}

	/// The same on the tensor path (candle's operations, as on a GPU, here on the CPU), each
	/// output token for token what this crate's kernels give the request alone.
	#[test]
	fn requests_served_on_the_tensor_path_match_each_served_alone() {
		let path = crate::testing::tiny_path();
		let (device, dense) = (candle_core::Device::Cpu, crate::model::Weights::Dense);
		let model = Model::load_with(path, &device, dense, crate::model::Kernels::Tensors).unwrap();
		served_together_match_each_served_alone(Arc::new(model));
	}

	fn served_together_match_each_served_alone(model: Arc<Model>) {
		let reference = tiny_model();
		let adapters: Vec<Arc<Adapter>> =
			(0..8).map(|i| Arc::new(tiny_adapter(200 + i, [4, 8][i as usize % 2]))).collect();
		let specs: Vec<(Vec<u32>, usize, Option<Arc<Adapter>>)> = (0..16u32)
			.map(|i| {
				let prompt = (0..=i % 7 * 2).map(|j| (j * 31 + i * 17) % 250 + 3).collect();
				let adapter = (i % 9 != 0).then(|| adapters[i as usize % 8].clone());
				(prompt, 3 + i as usize, adapter)
			})
			.collect();
		let requests = || {
			specs
				.iter()
				.map(|(p, n, a)| request(p.clone(), *n, a.clone(), Sampling::GREEDY).0)
				.collect()
		};
		let together = serve(&model, requests(), 8);
		let chunked =
			serve_with(&model, requests(), Limits { prefill_chunk: 3, ..Limits::batch(8) });
		for (((prompt, max_tokens, adapter), served), pieces) in
			specs.iter().zip(together).zip(chunked)
		{
			let alone =
				reference.generate_greedy(prompt, *max_tokens, 2, adapter.as_deref()).unwrap();
			assert_eq!(served, alone, "prompt {prompt:?}");
			assert_eq!(pieces, alone, "prompt {prompt:?} in pieces of 3");
			assert!(!served.is_empty());
		}
	}

	/// SmolLM2, in each way of holding its weights: sixteen requests over the base model and
	/// three adapters, half greedy and half sampled at a fixed seed, with prompts whose
	/// continuations have near-ties ("river number 4"), served sixteen together, eight
	/// together, and sixteen together with their prompts run in pieces of five tokens beside
	/// the decoding rows, get, token for token, what each gets served alone.
	#[test]
	fn smollm2_outputs_do_not_depend_on_the_batch() {
		use crate::adapters::random::{self as random_adapter, Shape};
		use crate::model::{gguf, Weights};
		let path = crate::testing::smollm2_path();
		let tokenizer = gguf::tokenizer(&gguf::read(&path).unwrap()).unwrap();
		let prompt = |i: usize| {
			let text = format!(
				"<|im_start|>user\nWrite one sentence about river number {i}.<|im_end|>\n\
				 <|im_start|>assistant\n"
			);
			tokenizer.encode(text, false).unwrap().get_ids().to_vec()
		};
		for weights in [Weights::Dense, Weights::Mixed, Weights::Quantized] {
			let model = Arc::new(Model::load(&path, &candle_core::Device::Cpu, weights).unwrap());
			let adapters: Vec<Arc<Adapter>> = (0..3u64)
				.map(|seed| {
					let bytes = random_adapter::safetensors(Shape::of(&model.config), 8, 40 + seed);
					let config = random_adapter::config(8, 16);
					let device = candle_core::Device::Cpu;
					Arc::new(
						Adapter::from_bytes(config.as_bytes(), &bytes, &model.config, &device)
							.unwrap(),
					)
				})
				.collect();
			let make = |i: usize| {
				let adapter = (!i.is_multiple_of(4)).then(|| adapters[i % 4 - 1].clone());
				let sampling = match i % 2 {
					0 => Sampling::GREEDY,
					_ => Sampling { temperature: 0.8, top_p: 0.95, seed: i as u64 },
				};
				let (mut r, _) = request(prompt(i), 12, adapter, sampling);
				r.stop_tokens.clear();
				r
			};
			let alone: Vec<Vec<u32>> =
				(0..16).map(|i| serve(&model, vec![make(i)], 1).remove(0)).collect();
			let chunked = Limits { prefill_chunk: 5, ..Limits::batch(16) };
			for limits in [Limits::batch(16), Limits::batch(8), chunked] {
				let together = serve_with(&model, (0..16).map(make).collect(), limits);
				for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
					assert_eq!(a, b, "{weights:?}, request {i}, {limits:?}");
				}
			}
		}
	}

	/// With a temperature, the same seed gives the same output whether served alone or in a
	/// batch, and different seeds give different outputs.
	#[test]
	fn seeded_sampling_is_reproducible_in_any_batch() {
		let model = Arc::new(tiny_model());
		let adapter = Arc::new(tiny_adapter(300, 4));
		let sampling = |seed| Sampling { temperature: 1.0, top_p: 0.9, seed };
		let make = |seed| request(vec![10, 20, 30], 24, Some(adapter.clone()), sampling(seed)).0;
		let alone = serve(&model, vec![make(1)], 1);
		let batched = serve(&model, vec![make(2), make(1), make(3)], 4);
		assert_eq!(alone[0], batched[1]);
		assert_ne!(batched[0], batched[1]);
		let greedy = model.generate_greedy(&[10, 20, 30], 24, 2, Some(&adapter)).unwrap();
		assert_ne!(alone[0], greedy, "sampling is not argmax");
		// top_p near zero keeps only the most likely token: greedy again.
		let nucleus = Sampling { temperature: 1.0, top_p: 1e-9, seed: 5 };
		let narrow =
			serve(&model, vec![request(vec![10, 20, 30], 24, Some(adapter.clone()), nucleus).0], 1);
		assert_eq!(narrow[0], greedy);
	}

	/// A request that asks for log-probabilities gets, for each token of its output, the
	/// model's log-softmax at that position (not the tempered distribution it was drawn from):
	/// the chosen token's and the three most likely, as computed alone, for a greedy row and a
	/// sampled one batched with a row that asks for none.
	#[test]
	fn logprobs_are_the_models_distribution_at_each_position() {
		let model = Arc::new(tiny_model());
		let adapter = Arc::new(tiny_adapter(500, 4));
		let prompt = vec![11u32, 12, 13];
		let samplings = [Sampling::GREEDY, Sampling { temperature: 2.0, top_p: 1.0, seed: 7 }];
		let (sender, receiver) = mpsc::channel();
		let mut answers = Vec::new();
		for sampling in samplings {
			let (mut asking, answer) = request(prompt.clone(), 6, Some(adapter.clone()), sampling);
			asking.logprobs = Some(3);
			asking.stop_tokens.clear();
			sender.send(asking).unwrap();
			answers.push(answer);
		}
		let (plain, plain_answer) = request(vec![5, 6], 6, None, Sampling::GREEDY);
		sender.send(plain).unwrap();
		drop(sender);
		let stats = Stats::default();
		stats.queued.store(3, Ordering::Relaxed);
		run(&model, receiver, Limits::batch(4), &stats);
		assert!(plain_answer.recv().unwrap().unwrap().logprobs.is_empty());
		let mut sampled_below_top = false;
		for (answer, sampling) in answers.iter().zip(samplings) {
			let generated = answer.recv().unwrap().unwrap();
			assert_eq!(generated.tokens.len(), 6);
			assert_eq!(generated.logprobs.len(), 6);
			for (at, (token, found)) in generated.tokens.iter().zip(&generated.logprobs).enumerate()
			{
				let mut context = prompt.clone();
				context.extend(&generated.tokens[..at]);
				let logits = model
					.forward_sequence(&context, &mut KvCache::default(), Some(&adapter))
					.unwrap();
				let alone =
					logprobs::logprobs(&logits.to_vec1::<f32>().unwrap(), *token, 3).unwrap();
				assert_eq!(found.token, *token);
				assert!((found.logprob - alone.logprob).abs() < 1e-3, "{found:?} {alone:?}");
				assert_eq!(found.top.len(), 3);
				for (a, b) in found.top.iter().zip(&alone.top) {
					assert_eq!(a.0, b.0, "position {at}");
					assert!((a.1 - b.1).abs() < 1e-3);
				}
				assert!(found.logprob < 0.0 && found.logprob <= found.top[0].1 + 1e-6);
				match sampling.temperature == 0.0 {
					true => assert_eq!(found.top[0].0, *token, "greedy takes the most likely"),
					false => sampled_below_top |= found.top[0].0 != *token,
				}
			}
		}
		assert!(sampled_below_top, "at temperature 2 some token is not the most likely");
	}

	/// A request whose client went away leaves the batch at the next step.
	#[test]
	fn an_abandoned_request_leaves_the_batch() {
		let model = Arc::new(tiny_model());
		let (mut abandoned, answer) = request(vec![7, 8, 9], 100, None, Sampling::GREEDY);
		abandoned.stop_tokens.clear();
		// The client goes away once the prompt is prefilled.
		let cancelled = Arc::new(std::sync::atomic::AtomicBool::new(false));
		abandoned.cancelled = Some(cancelled.clone());
		abandoned.stop_check = Some(Box::new(move |_: &[u32]| {
			cancelled.store(true, Ordering::Relaxed);
			false
		}));
		let (sender, receiver) = mpsc::channel();
		sender.send(abandoned).unwrap();
		drop(sender);
		let stats = Stats::default();
		stats.queued.store(1, Ordering::Relaxed);
		run(&model, receiver, Limits::batch(4), &stats);
		assert_eq!(answer.recv().unwrap().unwrap().tokens.len(), 1, "only the prefill's token");
		assert_eq!(stats.steps.load(Ordering::Relaxed), 0);
	}

	/// A sequence that reaches the end of the context ends there (finish `length`) instead of
	/// failing the batch it decodes in.
	#[test]
	fn a_sequence_ends_at_the_context() {
		let model = Arc::new(tiny_model());
		let context = model.config.context_length;
		let long: Vec<u32> = (0..context as u32 - 3).map(|i| i % 250 + 3).collect();
		let (mut at_edge, edge_answer) = request(long, 100, None, Sampling::GREEDY);
		at_edge.stop_tokens.clear();
		let (short, short_answer) = request(vec![7, 8, 9], 5, None, Sampling::GREEDY);
		let (sender, receiver) = mpsc::channel();
		sender.send(at_edge).unwrap();
		sender.send(short).unwrap();
		drop(sender);
		let stats = Stats::default();
		stats.queued.store(2, Ordering::Relaxed);
		run(&model, receiver, Limits::batch(4), &stats);
		let edge = edge_answer.recv().unwrap().unwrap();
		// One token from the prefill, then one per position left (3).
		assert_eq!((edge.tokens.len(), edge.finish), (4, Finish::Length));
		assert!(short_answer.recv().unwrap().is_ok(), "the other row is served");
	}

	/// A stop check ends generation where it says, and a failing request does not stop the
	/// engine from serving the next.
	#[test]
	fn stop_checks_and_failures() {
		let model = Arc::new(tiny_model());
		let greedy = model.generate_greedy(&[40, 41], 10, 2, None).unwrap();
		let (mut stopped, _) = request(vec![40, 41], 10, None, Sampling::GREEDY);
		stopped.stop_check = Some(Box::new(|output: &[u32]| output.len() == 3));
		// Token 9999 is outside the vocabulary: the prefill fails, the reply says why.
		let (bad, bad_answer) = request(vec![9_999], 4, None, Sampling::GREEDY);
		let (sender, receiver) = mpsc::channel();
		let stats = Stats::default();
		let (stop_reply, stop_answer) = mpsc::channel();
		let forward = stopped.reply;
		stopped.reply = Box::new(move |r| {
			let _ = stop_reply.send(r.clone());
			forward(r);
		});
		sender.send(bad).unwrap();
		sender.send(stopped).unwrap();
		drop(sender);
		stats.queued.store(2, Ordering::Relaxed);
		run(&model, receiver, Limits::batch(4), &stats);
		assert!(bad_answer.recv().unwrap().is_err());
		let stopped = stop_answer.recv().unwrap().unwrap();
		assert_eq!((stopped.tokens, stopped.finish), (greedy[..3].to_vec(), Finish::Stop));
	}

	/// A request whose client went away while it waited is answered without being prefilled.
	#[test]
	fn a_request_cancelled_while_queued_is_never_prefilled() {
		let model = Arc::new(tiny_model());
		let (mut gone, gone_answer) = request(vec![7; 40], 8, None, Sampling::GREEDY);
		gone.cancelled = Some(Arc::new(std::sync::atomic::AtomicBool::new(true)));
		let (kept, kept_answer) = request(vec![7, 8, 9], 3, None, Sampling::GREEDY);
		let (sender, receiver) = mpsc::channel();
		sender.send(gone).unwrap();
		sender.send(kept).unwrap();
		drop(sender);
		let stats = Stats::default();
		stats.queued.store(2, Ordering::Relaxed);
		run(&model, receiver, Limits::batch(4), &stats);
		assert!(gone_answer.recv().unwrap().is_err());
		assert!(kept_answer.recv().unwrap().is_ok());
		assert_eq!(stats.prefill_tokens.load(Ordering::Relaxed), 3, "only the kept prompt");
		assert_eq!(stats.cancelled.load(Ordering::Relaxed), 1);
	}

	/// A row that fails in a batch fails alone: a request whose own stop check panics, and an
	/// adapter that breaks the batched stack (its declared rank is below its matrices'), fail
	/// their own requests; the rest of the batch gets what each gets served alone, and the
	/// engine serves on.
	#[test]
	fn a_failing_row_fails_only_its_own_request() {
		let model = Arc::new(tiny_model());
		let good = Arc::new(tiny_adapter(400, 4));
		let mut lying = tiny_adapter(401, 8);
		lying.rank = 2;
		let lying = Arc::new(lying);
		let prompts: Vec<Vec<u32>> = (0..4u32).map(|i| vec![10 + i, 20 + i, 30 + i]).collect();
		let mut requests = Vec::new();
		let mut answers = Vec::new();
		for (i, prompt) in prompts.iter().enumerate() {
			let adapter = match i {
				1 => Some(lying.clone()),
				_ => Some(good.clone()),
			};
			let (mut r, answer) = request(prompt.clone(), 6, adapter, Sampling::GREEDY);
			r.stop_tokens.clear();
			if i == 2 {
				r.stop_check = Some(Box::new(|output: &[u32]| {
					assert!(output.len() < 3, "a stop check that breaks");
					false
				}));
			}
			requests.push(r);
			answers.push(answer);
		}
		let (sender, receiver) = mpsc::channel();
		for r in requests {
			sender.send(r).unwrap();
		}
		drop(sender);
		let stats = Stats::default();
		stats.queued.store(4, Ordering::Relaxed);
		run(&model, receiver, Limits::batch(4), &stats);
		let outcomes: Vec<_> = answers.iter().map(|a| a.recv().unwrap()).collect();
		assert!(outcomes[1].as_ref().is_err_and(|e| e.contains("panicked")), "{:?}", outcomes[1]);
		assert!(outcomes[2].as_ref().is_err_and(|e| e.contains("stop check")), "{:?}", outcomes[2]);
		for i in [0, 3] {
			let alone = model.generate_greedy(&prompts[i], 6, u32::MAX, Some(&good)).unwrap();
			assert_eq!(outcomes[i].as_ref().unwrap().tokens, alone, "row {i}");
		}
		assert_eq!(stats.failed.load(Ordering::Relaxed), 2);
	}

	/// With a memory budget for one request, the second waits for the first to finish before
	/// it is prefilled; without one, they run together.
	#[test]
	fn a_request_waits_until_its_key_value_cache_fits() {
		let model = Arc::new(tiny_model());
		let cost = kv_bytes(&model.config, 3 + 8);
		for (budget, waits) in [(cost + cost / 2, true), (usize::MAX, false)] {
			let first_done = Arc::new(std::sync::atomic::AtomicBool::new(false));
			let (mut first, first_answer) = request(vec![4, 5, 6], 8, None, Sampling::GREEDY);
			first.stop_tokens.clear();
			let forward = first.reply;
			let done = first_done.clone();
			first.reply = Box::new(move |result| {
				done.store(true, Ordering::Relaxed);
				forward(result);
			});
			let (mut second, second_answer) = request(vec![7, 8, 9], 8, None, Sampling::GREEDY);
			second.stop_tokens.clear();
			let saw_first_done = Arc::new(std::sync::Mutex::new(None));
			let (seen, done) = (saw_first_done.clone(), first_done.clone());
			second.stop_check = Some(Box::new(move |_: &[u32]| {
				seen.lock().unwrap().get_or_insert(done.load(Ordering::Relaxed));
				false
			}));
			let (sender, receiver) = mpsc::channel();
			sender.send(first).unwrap();
			sender.send(second).unwrap();
			drop(sender);
			let stats = Stats::default();
			stats.queued.store(2, Ordering::Relaxed);
			run(&model, receiver, Limits { kv_budget: budget, ..Limits::batch(4) }, &stats);
			assert!(first_answer.recv().unwrap().is_ok() && second_answer.recv().unwrap().is_ok());
			assert_eq!(*saw_first_done.lock().unwrap(), Some(waits), "budget {budget}");
			assert_eq!(stats.kv_reserved_bytes.load(Ordering::Relaxed), 0, "all released");
			assert_eq!(stats.queued.load(Ordering::Relaxed), 0);
		}
	}
}
