//! The scheduler: continuous batching. Requests join the running batch between decode steps
//! (after their own prefill) and leave it when they finish, so sequences at different
//! positions, with different adapters, decode together; each row's next token is chosen as
//! its request says (`sampling`), and stop strings end it (`stop`).

use std::{
	sync::{
		atomic::{AtomicU64, Ordering},
		mpsc, Arc,
	},
	time::{Duration, Instant},
};

use anyhow::Result;

pub mod sampling;
pub mod stop;

pub use self::sampling::Sampling;
use self::sampling::{sample, Rng};
use crate::{
	adapters::{Adapter, AdapterStack},
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

/// The generated tokens and why they ended, or why there are none.
pub type Outcome = Result<(Vec<u32>, Finish), String>;

/// A generation request.
pub struct Request {
	pub prompt: Vec<u32>,
	pub max_tokens: usize,
	/// Tokens that end generation (not part of the output).
	pub stop_tokens: Vec<u32>,
	pub stop_check: Option<StopCheck>,
	pub sampling: Sampling,
	pub adapter: Option<Arc<Adapter>>,
	/// Set when nobody waits for the outcome any more (the client went away): the request
	/// leaves the batch at the next step.
	pub cancelled: Option<Arc<std::sync::atomic::AtomicBool>>,
	/// Called once with the outcome.
	pub reply: Box<dyn FnOnce(Outcome) + Send>,
}

/// What the engine reports, for `/metrics`.
#[derive(Default)]
pub struct Stats {
	/// Requests sent and not yet admitted (the sender increments it).
	pub queued: AtomicU64,
	/// Rows in the last decode step.
	pub batch_size: AtomicU64,
	pub steps: AtomicU64,
	pub decoded_tokens: AtomicU64,
	pub prefill_tokens: AtomicU64,
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
	output: Vec<u32>,
	finish: Option<Finish>,
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
		self.output.push(self.next);
		if let Some(check) = self.request.stop_check.as_mut() {
			if check(&self.output) {
				self.finish = Some(Finish::Stop);
				return;
			}
		}
		// The next step would write past the context: end here rather than fail the batch.
		if self.output.len() >= self.request.max_tokens || self.cache.len() >= context_length {
			self.finish = Some(Finish::Length);
		}
	}
}

/// Runs requests from `requests` on `model`, at most `max_batch` at a time, until the sending
/// side is dropped and every request has been answered.
pub fn run(model: &Model, requests: mpsc::Receiver<Request>, max_batch: usize, stats: &Stats) {
	let mut active: Vec<Active> = Vec::new();
	let mut stack = AdapterStack::empty(max_batch.max(1));
	let mut open = true;
	while open || !active.is_empty() {
		// Admit what is waiting (block only when idle).
		while open && active.len() < max_batch.max(1) {
			let received = if active.is_empty() {
				requests.recv().map_err(|_| mpsc::RecvTimeoutError::Disconnected)
			} else {
				requests.recv_timeout(Duration::ZERO)
			};
			match received {
				Ok(request) => {
					stats.queued.fetch_sub(1, Ordering::Relaxed);
					if let Some(row) = prefill(model, request, stats) {
						active.push(row);
					}
				}
				Err(mpsc::RecvTimeoutError::Timeout) => break,
				Err(mpsc::RecvTimeoutError::Disconnected) => open = false,
			}
		}
		// Retire what is done or abandoned, then take one step for the rest.
		for row in active.iter_mut() {
			if row.request.cancelled.as_ref().is_some_and(|c| c.load(Ordering::Relaxed)) {
				row.finish = Some(Finish::Stop);
			}
		}
		let (done, running): (Vec<Active>, Vec<Active>) =
			active.into_iter().partition(|row| row.finish.is_some());
		for row in done {
			let finish = row.finish.unwrap_or(Finish::Stop);
			(row.request.reply)(Ok((row.output, finish)));
		}
		active = running;
		if active.is_empty() {
			continue;
		}
		let started = Instant::now();
		match step(model, &mut active, &mut stack) {
			Ok(()) => {
				let rows = active.len() as u64;
				stats.batch_size.store(rows, Ordering::Relaxed);
				stats.steps.fetch_add(1, Ordering::Relaxed);
				stats.decoded_tokens.fetch_add(rows, Ordering::Relaxed);
				let elapsed = started.elapsed();
				stats.decode_nanos.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
				let now = rows as f64 / elapsed.as_secs_f64().max(1e-9);
				let before = stats.tokens_per_second();
				let smoothed = if before == 0.0 { now } else { 0.9 * before + 0.1 * now };
				stats.tokens_per_second.store(smoothed.to_bits(), Ordering::Relaxed);
			}
			Err(e) => {
				for row in active.drain(..) {
					(row.request.reply)(Err(e.to_string()));
				}
			}
		}
	}
}

/// Runs a request's prompt through the model and picks its first token.
fn prefill(model: &Model, request: Request, stats: &Stats) -> Option<Active> {
	let mut cache = KvCache::default();
	let mut rng = Rng(SplitMix64(request.sampling.seed));
	let first = model
		.forward_sequence(&request.prompt, &mut cache, request.adapter.as_deref())
		.and_then(|logits| sample(&logits, &request.sampling, &mut rng));
	match first {
		Ok(next) => {
			stats.prefill_tokens.fetch_add(request.prompt.len() as u64, Ordering::Relaxed);
			let mut row = Active { request, rng, cache, next, output: Vec::new(), finish: None };
			row.accept(model.config.context_length);
			Some(row)
		}
		Err(e) => {
			(request.reply)(Err(e.to_string()));
			None
		}
	}
}

/// One decode step for every active row, with the rows' adapters placed in the stack's slots.
fn step(model: &Model, active: &mut [Active], stack: &mut AdapterStack) -> Result<()> {
	let adapters: Vec<Option<Arc<Adapter>>> =
		active.iter().map(|row| row.request.adapter.clone()).collect();
	let slots = stack.place(&adapters, &model.config)?;
	let mut rows: Vec<Row> = active
		.iter_mut()
		.map(|row| Row { tokens: std::slice::from_ref(&row.next), cache: &mut row.cache })
		.collect();
	let logits = model.forward(&mut rows, Lora::Stack { stack, slots: &slots })?;
	let greedy = logits.argmax(1)?.to_vec1::<u32>()?;
	for (index, (row, token)) in active.iter_mut().zip(greedy).enumerate() {
		row.next = match row.request.sampling.temperature > 0.0 {
			true => sample(&logits.get(index)?, &row.request.sampling, &mut row.rng)?,
			false => token,
		};
		row.accept(model.config.context_length);
	}
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::testing::{tiny_adapter, tiny_model};

	type Reply = mpsc::Receiver<Result<(Vec<u32>, Finish), String>>;

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
			sampling,
			adapter,
			cancelled: None,
			reply: Box::new(move |result| {
				let _ = reply.send(result);
			}),
		};
		(request, answer)
	}

	/// Serves `requests` through the engine (at most `max_batch` together) and returns the
	/// outputs in order.
	fn serve(model: &Arc<Model>, requests: Vec<Request>, max_batch: usize) -> Vec<Vec<u32>> {
		let (sender, receiver) = mpsc::channel();
		let stats = Arc::new(Stats::default());
		let engine = {
			let (model, stats) = (model.clone(), stats.clone());
			std::thread::spawn(move || run(&model, receiver, max_batch, &stats))
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
		let outputs = answers.into_iter().map(|a| a.recv().unwrap().unwrap().0).collect();
		engine.join().unwrap();
		assert_eq!(stats.queued.load(Ordering::Relaxed), 0);
		outputs
	}

	/// Sixteen requests over eight adapters (and none), prompts of different lengths and
	/// different output lengths, served eight at a time so that requests join and leave a
	/// running batch: token for token what each gets served alone.
	#[test]
	fn requests_served_together_match_each_served_alone() {
		let model = Arc::new(tiny_model());
		let adapters: Vec<Arc<Adapter>> =
			(0..8).map(|i| Arc::new(tiny_adapter(200 + i, [4, 8][i as usize % 2]))).collect();
		let specs: Vec<(Vec<u32>, usize, Option<Arc<Adapter>>)> = (0..16u32)
			.map(|i| {
				let prompt = (0..=i % 7 * 2).map(|j| (j * 31 + i * 17) % 250 + 3).collect();
				let adapter = (i % 9 != 0).then(|| adapters[i as usize % 8].clone());
				(prompt, 3 + i as usize, adapter)
			})
			.collect();
		let together = serve(
			&model,
			specs
				.iter()
				.map(|(p, n, a)| request(p.clone(), *n, a.clone(), Sampling::GREEDY).0)
				.collect(),
			8,
		);
		for ((prompt, max_tokens, adapter), served) in specs.iter().zip(together) {
			let alone = model.generate_greedy(prompt, *max_tokens, 2, adapter.as_deref()).unwrap();
			assert_eq!(served, alone, "prompt {prompt:?}");
			assert!(!served.is_empty());
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

	/// A request whose client went away leaves the batch at the next step.
	#[test]
	fn an_abandoned_request_leaves_the_batch() {
		let model = Arc::new(tiny_model());
		let (mut abandoned, answer) = request(vec![7, 8, 9], 100, None, Sampling::GREEDY);
		abandoned.stop_tokens.clear();
		abandoned.cancelled = Some(Arc::new(std::sync::atomic::AtomicBool::new(true)));
		let (sender, receiver) = mpsc::channel();
		sender.send(abandoned).unwrap();
		drop(sender);
		let stats = Stats::default();
		stats.queued.store(1, Ordering::Relaxed);
		run(&model, receiver, 4, &stats);
		assert_eq!(answer.recv().unwrap().unwrap().0.len(), 1, "only the prefill's token");
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
		run(&model, receiver, 4, &stats);
		let (output, finish) = edge_answer.recv().unwrap().unwrap();
		// One token from the prefill, then one per position left (3).
		assert_eq!((output.len(), finish), (4, Finish::Length));
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
		run(&model, receiver, 4, &stats);
		assert!(bad_answer.recv().unwrap().is_err());
		assert_eq!(stop_answer.recv().unwrap().unwrap(), (greedy[..3].to_vec(), Finish::Stop));
	}
}
