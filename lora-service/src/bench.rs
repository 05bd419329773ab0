//! `tributary-lora bench`: decode throughput with many adapters beside its baselines, adapter
//! loading and memory, and attribution latency over large indexes, measured in one run and
//! printed as Markdown. Ratios against the base model in the same run are what to compare
//! across machines.

use std::{
	path::PathBuf,
	sync::{atomic::Ordering, mpsc, Arc},
	time::{Duration, Instant},
};

use anyhow::Result;
use candle_core::Device;

use tributary_lora::{
	adapters::{
		random::{self as random_adapter, Shape},
		Adapter, AdapterCache,
	},
	attribution::{DatasetIndex, Record},
	model::{gguf, Model, Weights},
	scheduler::{self as engine, Request, Sampling},
	verify::{self, Claim, Vocabulary, EPSILON},
};

#[derive(clap::Args)]
pub struct Args {
	/// The base model (a llama GGUF). Default: SmolLM2 where scripts/fetch-model.sh puts it.
	#[arg(long)]
	model: Option<PathBuf>,
	/// How the base weights are held for the decode workloads (dense, the service's default,
	/// when not given; then the first table compares all three).
	#[arg(long, value_enum)]
	weights: Option<Weights>,
	/// Where the decode workloads run: cpu, or cuda / cuda:N in a binary built with the cuda
	/// feature (scripts/build-cuda.sh). Attribution runs on the CPU; verification adds the
	/// device's dense model to the CPU's weight modes.
	#[arg(long, default_value = "cpu", value_parser = tributary_lora::model::parse_device)]
	device: Device,
	/// Sequences decoded together.
	#[arg(long, default_value_t = 16)]
	batch: usize,
	/// Requests in each throughput workload.
	#[arg(long, default_value_t = 48)]
	requests: usize,
	/// Tokens generated per request.
	#[arg(long, default_value_t = 32)]
	tokens: usize,
	/// The numbers of distinct adapters the workloads draw from.
	#[arg(long, value_delimiter = ',', default_value = "1,8,64,512")]
	adapters: Vec<usize>,
	/// The adapters' rank (all seven projections targeted).
	#[arg(long, default_value_t = 8)]
	rank: usize,
	/// Rounds of the base workload and the same requests with an adapter each, interleaved,
	/// for the median ratio of their decode rates (0: none).
	#[arg(long, default_value_t = 5)]
	rounds: usize,
	/// Requests served one by one with merged weights (the baseline).
	#[arg(long, default_value_t = 8)]
	baseline_requests: usize,
	/// How many adapters to hold resident at once for the memory measurement.
	#[arg(long, default_value_t = 1024)]
	resident: usize,
	/// Index sizes, in tokens, for attribution latency.
	#[arg(long, value_delimiter = ',', default_value = "1000000,10000000,100000000")]
	index_tokens: Vec<usize>,
	/// Attributions timed per index (256-token outputs).
	#[arg(long, default_value_t = 50)]
	attributions: usize,
	/// Skip the decode measurements.
	#[arg(long)]
	skip_decode: bool,
	/// Skip the attribution measurements.
	#[arg(long)]
	skip_attribution: bool,
	/// Skip the verification measurements (teacher forcing across weight modes).
	#[arg(long)]
	skip_verification: bool,
	/// Outputs generated per weight mode for the verification measurements (half chat
	/// answers, half 256-token continuations).
	#[arg(long, default_value_t = 8)]
	verify_outputs: usize,
}

/// Resident set size of this process, from /proc (0 where unavailable).
fn rss_bytes() -> usize {
	std::fs::read_to_string("/proc/self/statm")
		.ok()
		.and_then(|s| s.split_whitespace().nth(1)?.parse::<usize>().ok())
		.map_or(0, |pages| pages * 4096)
}

/// How long a workload took: in all (prefills included), and in decode steps.
#[derive(Clone, Copy, Default)]
struct Timing {
	wall: Duration,
	decode: Duration,
	/// Tokens the decode steps produced (each request's first token comes from its prefill).
	decoded: u64,
}

impl std::ops::Add for Timing {
	type Output = Timing;
	fn add(self, other: Timing) -> Timing {
		Timing {
			wall: self.wall + other.wall,
			decode: self.decode + other.decode,
			decoded: self.decoded + other.decoded,
		}
	}
}

impl Timing {
	fn decode_rate(&self) -> f64 {
		self.decoded as f64 / self.decode.as_secs_f64().max(1e-9)
	}
}

/// Serves `requests` (prompt, adapter) through the batching engine, `batch` at a time, each
/// generating exactly `tokens` tokens.
fn serve(
	model: &Arc<Model>,
	batch: usize,
	tokens: usize,
	requests: Vec<(Vec<u32>, Option<Arc<Adapter>>)>,
) -> Result<Timing> {
	let (timing, outputs) = generate(model, batch, tokens, &[], requests)?;
	for output in outputs {
		anyhow::ensure!(output.len() == tokens, "a request generated {} tokens", output.len());
	}
	Ok(timing)
}

/// A prompt of 16 tokens that differs per request.
fn prompt(i: usize, vocab: usize) -> Vec<u32> {
	(0..16).map(|j| ((i * 7919 + j * 104_729) % (vocab - 300) + 100) as u32).collect()
}

fn random_adapter(shape: Shape, rank: usize, seed: u64, model: &Model) -> Result<Adapter> {
	let bytes = random_adapter::safetensors(shape, rank, seed);
	let config = random_adapter::config(rank, 2 * rank as u32);
	Adapter::from_bytes(config.as_bytes(), &bytes, &model.config, &Device::Cpu)
}

pub fn run(args: Args) -> Result<()> {
	let path = args.model.clone().unwrap_or_else(tributary_lora::model::default_path);
	let weights = args.weights.unwrap_or(Weights::Dense);
	let started = Instant::now();
	let model = Arc::new(Model::load(&path, &args.device, weights)?);
	eprintln!("loaded {} in {:.2?}", path.display(), started.elapsed());
	let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
	println!("# tributary-lora bench\n");
	println!(
		"Model `{}` ({} layers, hidden {}), {threads} CPU threads, device {:?}, batch {}, {} \
		 tokens per request, adapters of rank {} over all seven projections, base weights \
		 {weights:?}.\n",
		path.file_name().unwrap_or_default().to_string_lossy(),
		model.config.layers,
		model.config.hidden,
		args.device,
		args.batch,
		args.tokens,
		args.rank
	);
	if !args.skip_decode {
		if args.weights.is_none() {
			compare_weights(&args, &path)?;
		}
		decode(&args, &model)?;
		memory(&args, &model)?;
	}
	if !args.skip_attribution {
		attribution(&args)?;
	}
	if !args.skip_verification {
		verification(&args, &path)?;
	}
	Ok(())
}

/// Base-model decode throughput, single stream and batched, with dense and quantized weights.
fn compare_weights(args: &Args, path: &std::path::Path) -> Result<()> {
	println!("## Base weights: dense f32, quantized, or mixed\n");
	println!(
		"| weights | load s | single stream decode tokens/s | batch {} decode tokens/s | weights MB |",
		args.batch
	);
	println!("|---|---:|---:|---:|---:|");
	for weights in [Weights::Dense, Weights::Quantized, Weights::Mixed] {
		eprintln!("base model with {weights:?} weights");
		let started = Instant::now();
		let model = Arc::new(Model::load(path, &args.device, weights)?);
		let load = started.elapsed();
		let vocab = model.config.vocab_size;
		let single = serve(&model, 1, args.tokens * 2, vec![(prompt(0, vocab), None)])?;
		let requests = (0..args.batch).map(|i| (prompt(i, vocab), None)).collect();
		let batched = serve(&model, args.batch, args.tokens, requests)?;
		println!(
			"| {weights:?} | {:.2} | {:.1} | {:.1} | {:.0} |",
			load.as_secs_f64(),
			single.decode_rate(),
			batched.decode_rate(),
			model.weight_bytes() as f64 / 1e6
		);
	}
	println!();
	Ok(())
}

fn decode(args: &Args, model: &Arc<Model>) -> Result<()> {
	let shape = Shape::of(&model.config);
	let vocab = model.config.vocab_size;
	let most = args.adapters.iter().copied().max().unwrap_or(0);
	anyhow::ensure!(most >= 16, "--adapters needs a pool of at least 16 (the 16-adapter workload)");
	eprintln!("generating {most} random adapters of rank {}", args.rank);
	let adapters: Vec<Arc<Adapter>> = (0..most)
		.map(|i| random_adapter(shape, args.rank, 1_000 + i as u64, model).map(Arc::new))
		.collect::<Result<_>>()?;

	println!("## Decode throughput\n");
	println!(
		"Each workload: at least {} requests (16-token prompts, {} tokens each), {} decoded together. \
		 Decode tokens/s counts the tokens decoded over the steps' time, each step's in the share \
		 its decoding rows had of its tokens (prompts run in pieces inside the steps); end to end \
		 is every token generated over the whole time.\n",
		args.requests, args.tokens, args.batch
	);
	println!("| workload | decode tokens/s | × base | end-to-end tokens/s | seconds |");
	println!("|---|---:|---:|---:|---:|");
	let row = |name: &str, tokens: usize, timing: Timing, base: f64| {
		let rate = timing.decode_rate();
		println!(
			"| {name} | {rate:.1} | {:.2} | {:.1} | {:.2} |",
			rate / base,
			tokens as f64 / timing.wall.as_secs_f64(),
			timing.wall.as_secs_f64()
		);
		rate
	};
	let total = args.requests * args.tokens;
	eprintln!("base model, batch {}", args.batch);
	let requests = (0..args.requests).map(|i| (prompt(i, vocab), None)).collect();
	let timing = serve(model, args.batch, args.tokens, requests)?;
	let base = timing.decode_rate();
	row(&format!("base model, no LoRA, batch {}", args.batch), total, timing, base);
	for &n in &args.adapters {
		// Every adapter of the n is used: at least n requests, one adapter after another.
		let count = args.requests.max(n);
		eprintln!("{n} distinct adapters, {count} requests, batch {}", args.batch);
		let requests =
			(0..count).map(|i| (prompt(i, vocab), Some(adapters[i % n].clone()))).collect();
		let timing = serve(model, args.batch, args.tokens, requests)?;
		let name = format!("{n} distinct adapters ({count} requests), batch {}", args.batch);
		row(&name, count * args.tokens, timing, base);
	}
	// llama.cpp's workload in scripts/bench-llamacpp.py: 16 requests of 64 tokens, here each
	// with its own adapter, served together.
	let (count, tokens) = (16, 64);
	eprintln!("{count} requests with {count} adapters, {tokens} tokens each");
	let requests = (0..count)
		.map(|i| (prompt(i, vocab), Some(adapters[i % adapters.len()].clone())))
		.collect();
	let timing = serve(model, args.batch, tokens, requests)?;
	let name = format!("{count} requests, {count} distinct adapters, {tokens} tokens each");
	row(&name, count * tokens, timing, base);
	// The same, sampled: temperature 0.8, top_p 0.95, a seed per request.
	eprintln!("{count} requests with {count} adapters, sampled");
	let requests = (0..count)
		.map(|i| (prompt(i, vocab), Some(adapters[i % adapters.len()].clone())))
		.collect();
	let sampled = |i: usize| Sampling { temperature: 0.8, top_p: 0.95, seed: i as u64 };
	let (timing, outputs, _) = generate_with(model, args.batch, tokens, &[], requests, sampled)?;
	anyhow::ensure!(outputs.iter().all(|o| o.len() == tokens), "a sampled request ended early");
	let name = format!(
		"{count} requests, {count} distinct adapters, {tokens} tokens each, sampled \
		 (temperature 0.8, top_p 0.95)"
	);
	row(&name, count * tokens, timing, base);
	// One at a time: merge each request's adapter into the weights, serve it alone.
	eprintln!("one adapter at a time, merged");
	let (mut merging, mut served) = (Duration::ZERO, Timing::default());
	for i in 0..args.baseline_requests {
		let started = Instant::now();
		let merged = Arc::new(model.merged(&adapters[(i * 7) % adapters.len().max(1)])?);
		merging += started.elapsed();
		served = served + serve(&merged, 1, args.tokens, vec![(prompt(i, vocab), None)])?;
	}
	let tokens = args.baseline_requests * args.tokens;
	row("one at a time, merged weights, decode only", tokens, served, base);
	let with_merges =
		Timing { decode: served.decode + merging, wall: served.wall + merging, ..served };
	row("one at a time, merged weights, merge counted", tokens, with_merges, base);
	eprintln!("single stream, base model");
	let timing = serve(model, 1, args.tokens * 2, vec![(prompt(0, vocab), None)])?;
	row("single stream, base model", args.tokens * 2, timing, base);
	println!(
		"\nMerging one adapter into the weights took {:.0} ms on average.\n",
		merging.as_secs_f64() * 1e3 / args.baseline_requests.max(1) as f64
	);
	interleaved(args, model, &adapters)?;
	time_to_first_token(args, model, &adapters)
}

/// The adapters' cost as a ratio that the machine's drift does not decide: rounds of the base
/// workload, then the same requests each with an adapter of its own (a new one each round,
/// from the whole pool, so that every round loads its adapters into the stack as the
/// many-adapter workloads do), one after the other; the median of the rounds' ratios.
fn interleaved(args: &Args, model: &Arc<Model>, adapters: &[Arc<Adapter>]) -> Result<()> {
	let (rounds, vocab, count) = (args.rounds, model.config.vocab_size, args.requests);
	if rounds == 0 || adapters.is_empty() {
		return Ok(());
	}
	let mut ratios = Vec::with_capacity(rounds);
	for round in 0..rounds {
		eprintln!("interleaved round {} of {rounds}", round + 1);
		let requests = (0..count).map(|i| (prompt(i, vocab), None)).collect();
		let base = serve(model, args.batch, args.tokens, requests)?.decode_rate();
		let requests = (0..count)
			.map(|i| {
				(prompt(i, vocab), Some(adapters[(round * count + i) % adapters.len()].clone()))
			})
			.collect();
		let with = serve(model, args.batch, args.tokens, requests)?.decode_rate();
		ratios.push((base, with, with / base));
	}
	let mut sorted: Vec<f64> = ratios.iter().map(|r| r.2).collect();
	sorted.sort_by(f64::total_cmp);
	println!(
		"Base model against {count} requests each with its own adapter (of {}), batch {}, in {rounds} \
		 interleaved rounds: decode tokens/s {}; median ratio {:.3} (lowest {:.3}, highest {:.3}).\n",
		adapters.len(),
		args.batch,
		ratios
			.iter()
			.map(|(base, with, _)| format!("{base:.1} / {with:.1}"))
			.collect::<Vec<_>>()
			.join(", "),
		sorted[sorted.len() / 2],
		sorted[0],
		sorted[sorted.len() - 1]
	);
	Ok(())
}

/// Time to first token of 16 requests with 256-token prompts and 16 adapters, all sent at
/// once: p50 and p99 (the nearest rank) from the moment they are queued.
fn time_to_first_token(args: &Args, model: &Arc<Model>, adapters: &[Arc<Adapter>]) -> Result<()> {
	let (count, length) = (16, 256);
	let vocab = model.config.vocab_size;
	eprintln!("time to first token, {count} requests of {length}-token prompts");
	let requests = (0..count)
		.map(|i| {
			let prompt = (0..length)
				.map(|j| ((i * 7919 + j * 104_729) % (vocab - 300) + 100) as u32)
				.collect();
			(prompt, Some(adapters[i % adapters.len()].clone()))
		})
		.collect();
	let (_, _, mut firsts) =
		generate_with(model, args.batch, 8, &[], requests, |_| Sampling::GREEDY)?;
	firsts.sort();
	let rank = |q: f64| firsts[((q * count as f64).ceil() as usize).clamp(1, count) - 1];
	println!(
		"Time to first token, {count} requests with {length}-token prompts and {count} distinct \
		 adapters sent at once (batch {}): p50 {:.0} ms, p99 {:.0} ms.\n",
		args.batch,
		rank(0.5).as_secs_f64() * 1e3,
		rank(0.99).as_secs_f64() * 1e3
	);
	Ok(())
}

fn memory(args: &Args, model: &Arc<Model>) -> Result<()> {
	let shape = Shape::of(&model.config);
	println!("## Adapters: loading and memory\n");
	let dir = std::env::temp_dir().join(format!("tributary-bench-{}", std::process::id()));
	random_adapter::write(&dir, shape, args.rank, 2 * args.rank as u32, 1)?;
	let file_bytes = std::fs::metadata(dir.join("adapter_model.safetensors"))?.len();
	let mut times = Vec::new();
	for _ in 0..20 {
		let started = Instant::now();
		let adapter = Adapter::load(&dir, &model.config, &Device::Cpu)?;
		times.push(started.elapsed());
		drop(adapter);
	}
	std::fs::remove_dir_all(&dir).ok();
	times.sort();
	println!(
		"- Load of a rank-{} adapter ({:.1} MB file, from the page cache): median {:.1} ms, \
		 slowest {:.1} ms of {}.",
		args.rank,
		file_bytes as f64 / 1e6,
		times[times.len() / 2].as_secs_f64() * 1e3,
		times[times.len() - 1].as_secs_f64() * 1e3,
		times.len()
	);
	eprintln!("holding {} adapters resident", args.resident);
	let mut cache = AdapterCache::new(args.resident, usize::MAX);
	for i in 0..args.resident {
		let adapter = random_adapter(shape, args.rank, 50_000 + i as u64, model)?;
		cache.insert(&i.to_string(), Arc::new(adapter));
	}
	println!(
		"- {} rank-{} adapters resident at once in an LRU cache of {}: their weights take {:.2} GB, \
		 {:.2} MB each (f32); the process's resident set is then {:.2} GB.\n",
		cache.len(),
		args.rank,
		args.resident,
		cache.bytes() as f64 / 1e9,
		cache.bytes() as f64 / cache.len().max(1) as f64 / 1e6,
		rss_bytes() as f64 / 1e9
	);
	Ok(())
}

/// Token streams with a Zipf-like frequency, in records of 512 tokens.
fn zipf_records(tokens: usize, seed: u64) -> Vec<(Record, Vec<u32>)> {
	let mut state = seed;
	let mut next = move || {
		state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
		((state >> 33) as f64 + 1.0) / (1u64 << 31) as f64
	};
	let vocab = 49_000.0f64;
	let mut records = Vec::with_capacity(tokens / 512 + 1);
	let mut left = tokens;
	let mut id = 0u32;
	while left > 0 {
		let len = left.min(512);
		// Inverse CDF of a Zipf(1) law over the vocabulary, approximately: rank = vocab^u.
		let record: Vec<u32> = (0..len).map(|_| (vocab.powf(next()) as u32).min(48_999)).collect();
		let mut hash = [0u8; 32];
		hash[..4].copy_from_slice(&id.to_le_bytes());
		records.push((Record { contribution_id: id, content_hash: hash }, record));
		id += 1;
		left -= len;
	}
	records
}

fn attribution(args: &Args) -> Result<()> {
	println!("## Attribution\n");
	println!(
		"Records of 512 tokens drawn from a Zipf-like law over 49,000 token ids; each output has \
		 256 tokens, three 24-token spans copied from the index among Zipf noise; min_span 8.\n"
	);
	println!("| index tokens | build s | index bytes/token | median ms | p99 ms | spans found |");
	println!("|---:|---:|---:|---:|---:|---:|");
	for &size in &args.index_tokens {
		eprintln!("building an index of {size} tokens");
		let records = zipf_records(size, 42);
		let sources: Vec<Vec<u32>> =
			records.iter().step_by((records.len() / 97).max(1)).map(|r| r.1.clone()).collect();
		let started = Instant::now();
		let index = DatasetIndex::build(records)?;
		let build = started.elapsed();
		let noise = zipf_records(args.attributions * 256, 7);
		let mut times = Vec::new();
		let mut spans = 0;
		for i in 0..args.attributions {
			let mut output: Vec<u32> = noise[i / 2].1[(i % 2) * 256..(i % 2) * 256 + 256].to_vec();
			for k in 0..3 {
				let source = &sources[(i * 3 + k) % sources.len()];
				let from = (i * 31 + k * 97) % (source.len().saturating_sub(24)).max(1);
				let to = 20 + k * 80;
				let n = 24.min(source.len() - from);
				output[to..to + n].copy_from_slice(&source[from..from + n]);
			}
			let started = Instant::now();
			let (found, _) = index.attribute(&output, 8);
			times.push(started.elapsed());
			spans += found.len();
		}
		times.sort();
		println!(
			"| {size} | {:.1} | {:.2} | {:.2} | {:.2} | {:.1} |",
			build.as_secs_f64(),
			index.bytes() as f64 / index.len() as f64,
			times[times.len() / 2].as_secs_f64() * 1e3,
			times[(times.len() * 99 / 100).min(times.len() - 1)].as_secs_f64() * 1e3,
			spans as f64 / args.attributions as f64
		);
	}
	println!();
	Ok(())
}

/// Serves `requests` (prompt, adapter) through the batching engine, `batch` at a time, greedy,
/// up to `max_tokens` each and stopping at `stops`; returns how long it took and each output.
fn generate(
	model: &Arc<Model>,
	batch: usize,
	max_tokens: usize,
	stops: &[u32],
	requests: Vec<(Vec<u32>, Option<Arc<Adapter>>)>,
) -> Result<(Timing, Vec<Vec<u32>>)> {
	let (timing, outputs, _) =
		generate_with(model, batch, max_tokens, stops, requests, |_| Sampling::GREEDY)?;
	Ok((timing, outputs))
}

/// [`generate`], each request sampled as `sampling(i)` says, with each request's time to its
/// first token from the start (every request is queued before it).
fn generate_with(
	model: &Arc<Model>,
	batch: usize,
	max_tokens: usize,
	stops: &[u32],
	requests: Vec<(Vec<u32>, Option<Arc<Adapter>>)>,
	sampling: impl Fn(usize) -> Sampling,
) -> Result<(Timing, Vec<Vec<u32>>, Vec<Duration>)> {
	let (sender, receiver) = mpsc::channel();
	let stats = engine::Stats::default();
	let mut answers = Vec::new();
	let firsts: Vec<Arc<std::sync::OnceLock<Instant>>> =
		(0..requests.len()).map(|_| Arc::default()).collect();
	for (i, (prompt, adapter)) in requests.into_iter().enumerate() {
		let first = firsts[i].clone();
		let (reply, answer) = mpsc::channel();
		stats.queued.fetch_add(1, Ordering::Relaxed);
		sender
			.send(Request {
				prompt,
				max_tokens,
				stop_tokens: stops.to_vec(),
				stop_check: None,
				on_token: Some(Box::new(move |_, _| {
					first.get_or_init(Instant::now);
				})),
				sampling: sampling(i),
				logprobs: None,
				adapter,
				byte_limit: None,
				cancelled: None,
				reply: Box::new(move |result| {
					let _ = reply.send(result);
				}),
				queued_at: Instant::now(),
			})
			.map_err(|_| anyhow::anyhow!("the engine is gone"))?;
		answers.push(answer);
	}
	drop(sender);
	let started = Instant::now();
	engine::run(model, receiver, engine::Limits::batch(batch), &stats);
	let timing = Timing {
		wall: started.elapsed(),
		decode: Duration::from_nanos(stats.decode_nanos.load(Ordering::Relaxed)),
		decoded: stats.decoded_tokens.load(Ordering::Relaxed),
	};
	let outputs = answers
		.into_iter()
		.map(|answer| Ok(answer.recv()?.map_err(anyhow::Error::msg)?.tokens))
		.collect::<Result<_>>()?;
	let firsts = firsts
		.iter()
		.map(|first| first.get().map_or(Duration::ZERO, |at| at.duration_since(started)))
		.collect();
	Ok((timing, outputs, firsts))
}

/// Teacher forcing across weight modes: outputs generated under each mode (served batched, as
/// the service serves them) are verified under every mode, for the largest gap an honest
/// output shows (what `verify::EPSILON` must exceed); one token substituted in the middle of
/// each output must be caught; and verifying a 256-token output is timed against generating
/// it alone.
fn verification(args: &Args, path: &std::path::Path) -> Result<()> {
	let content = gguf::read(path)?;
	let tokenizer = gguf::tokenizer(&content)?;
	let mut stops: Vec<u32> =
		gguf::control_tokens(&content).into_iter().map(|(id, _)| id).collect();
	let modes = [Weights::Dense, Weights::Quantized, Weights::Mixed];
	let mut labels: Vec<String> = modes.iter().map(|mode| format!("{mode:?}")).collect();
	let mut models: Vec<Arc<Model>> = modes
		.iter()
		.map(|&weights| Model::load(path, &Device::Cpu, weights).map(Arc::new))
		.collect::<Result<_>>()?;
	if !args.device.is_cpu() {
		// A GPU's dense model (the tensor path) beside the CPU's: its gaps to them are what ε
		// must cover for a provider that serves on a GPU.
		models.push(Arc::new(Model::load(path, &args.device, Weights::Dense)?));
		labels.push("Dense on the GPU".to_string());
	}
	if !stops.contains(&models[0].config.eos_token_id) {
		stops.push(models[0].config.eos_token_id);
	}
	let vocabulary = Vocabulary::of(&tokenizer, stops.clone());
	// Never cancelled.
	let running = std::sync::atomic::AtomicBool::new(false);
	let encode = |text: &str| -> Result<Vec<u32>> {
		Ok(tokenizer.encode(text, false).map_err(anyhow::Error::msg)?.get_ids().to_vec())
	};
	let shape = Shape::of(&models[0].config);
	let adapters: Vec<Arc<Adapter>> = (0..3)
		.map(|i| random_adapter(shape, args.rank, 7_000 + i, &models[0]).map(Arc::new))
		.collect::<Result<_>>()?;
	let adapter_of = |i: usize| (!i.is_multiple_of(4)).then(|| adapters[i % 4 - 1].clone());
	// Chat answers, whose continuations have near-ties, and long continuations.
	let prompts: Vec<Vec<u32>> = (0..args.verify_outputs)
		.map(|i| {
			let text = match i % 2 {
				0 => format!(
					"<|im_start|>user\nWrite one sentence about river number {i}.<|im_end|>\n\
					 <|im_start|>assistant\n"
				),
				_ => format!("The long history of river number {i} begins in the mountains, where"),
			};
			encode(&text)
		})
		.collect::<Result<_>>()?;
	let max_tokens = 256;

	println!("## Verification by teacher forcing\n");
	println!(
		"{} greedy outputs per weight mode (up to {max_tokens} tokens; half chat answers, half \
		 continuations; base model and three rank-{} adapters), served {} at a time, each \
		 verified under every mode. A verification is valid when every token is within \
		 ε = {EPSILON} logits of the model's choice. Largest gap of an honest output, and how \
		 many verified:\n",
		args.verify_outputs, args.rank, args.batch
	);
	println!(
		"| generated under | verified under | largest gap | valid | re-segmented tokens | \
		 positions with a near-tie |"
	);
	println!("|---|---|---|---|---|---|");
	let mut outputs_by_mode = Vec::new();
	for (g, model) in models.iter().enumerate() {
		let requests =
			prompts.iter().enumerate().map(|(i, p)| (p.clone(), adapter_of(i))).collect();
		let (_, outputs) = generate(model, args.batch, max_tokens, &stops, requests)?;
		for (v, verifier) in models.iter().enumerate() {
			let (mut largest, mut valid, mut resegmented) = (0f32, 0, 0);
			let (mut near_ties, mut positions) = (0, 0);
			for (i, output) in outputs.iter().enumerate() {
				let bytes = vocabulary.spell(output);
				let claim = Claim::whole(&prompts[i], &bytes, max_tokens);
				let adapter = adapter_of(i);
				let forced = verify::force(
					verifier,
					adapter.as_deref(),
					&vocabulary,
					encode,
					&claim,
					&running,
				)?;
				largest = largest.max(forced.max_gap);
				resegmented += forced.resegmented;
				near_ties += forced.near_ties;
				positions += forced.tokens.len();
				if forced.divergence.is_none() && forced.tokens == *output {
					valid += 1;
				} else {
					eprintln!(
						"output {i} of {} not verified under {}: {:?}",
						labels[g], labels[v], forced.divergence
					);
				}
			}
			println!(
				"| {} | {} | {largest:.3} | {valid}/{} | {resegmented} | {near_ties}/{positions} \
				 ({:.1} %) |",
				labels[g],
				labels[v],
				outputs.len(),
				100.0 * near_ties as f64 / positions.max(1) as f64
			);
		}
		outputs_by_mode.push(outputs);
	}

	// One token in the middle of each output replaced by a random other token.
	println!(
		"\nOne token substituted in the middle of each output, verified under its own mode:\n"
	);
	println!("| weights | caught | smallest gap of a substituted token |");
	println!("|---|---|---|");
	let mut rng = 0x5eed_u64;
	for (g, model) in models.iter().enumerate() {
		let (mut caught, mut smallest, mut tried) = (0, f32::INFINITY, 0);
		for (i, output) in outputs_by_mode[g].iter().enumerate() {
			if output.len() < 2 {
				continue;
			}
			let mut forged = output.clone();
			let middle = output.len() / 2;
			let substitute = loop {
				rng = rng.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
				let token = ((rng >> 33) % model.config.vocab_size as u64) as u32;
				if token != output[middle] && !stops.contains(&token) {
					break token;
				}
			};
			forged[middle] = substitute;
			let bytes = vocabulary.spell(&forged);
			let claim = Claim::whole(&prompts[i], &bytes, max_tokens);
			let adapter = adapter_of(i);
			let forced =
				verify::force(model, adapter.as_deref(), &vocabulary, encode, &claim, &running)?;
			tried += 1;
			if let Some(verify::Divergence::NotGreedy { gap, .. }) = forced.divergence {
				smallest = smallest.min(gap);
			}
			if forced.divergence.is_some() {
				caught += 1;
			}
		}
		println!("| {} | {caught}/{tried} | {smallest:.3} |", labels[g]);
	}

	// Cost: one 256-token continuation generated alone, then verified, per mode.
	println!(
		"\nCost of verifying a {max_tokens}-token continuation against generating it alone:\n"
	);
	println!("| weights | generate s | verify s | verify / generate |");
	println!("|---|---|---|---|");
	let prompt = encode("The long history of the river begins in the mountains, where")?;
	for (g, model) in models.iter().enumerate() {
		let (timing, outputs) =
			generate(model, 1, max_tokens, &[], vec![(prompt.clone(), Some(adapters[0].clone()))])?;
		let generated = timing.wall;
		let bytes = vocabulary.spell(&outputs[0]);
		let claim = Claim::whole(&prompt, &bytes, max_tokens);
		let started = Instant::now();
		let forced =
			verify::force(model, Some(&adapters[0]), &vocabulary, encode, &claim, &running)?;
		let verified = started.elapsed();
		anyhow::ensure!(forced.divergence.is_none(), "the timed output did not verify: {forced:?}");
		println!(
			"| {} | {:.2} | {:.2} | {:.3} |",
			labels[g],
			generated.as_secs_f64(),
			verified.as_secs_f64(),
			verified.as_secs_f64() / generated.as_secs_f64()
		);
	}
	println!();
	Ok(())
}
