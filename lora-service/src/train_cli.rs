//! `tributary-lora train`: fine-tunes a LoRA adapter on records of datasets (as a service's
//! `--data-dir` holds them) or a JSONL file, with a progress bar, and writes the adapter,
//! `lineage.json` and `loss.png`.

use std::{
	io::{IsTerminal, Write},
	path::PathBuf,
	sync::atomic::AtomicBool,
	time::Instant,
};

use anyhow::{bail, Result};
use candle_core::Device;
use tributary_lora::{
	chat::ChatTemplate,
	model::{self, gguf, Model, Weights},
	train::{data, output, Progress, Settings, Tokenize, Trainer},
};

#[derive(clap::Args)]
pub struct Args {
	/// The base model (a llama GGUF; its weights are trained against as dense f32). Default:
	/// SmolLM2 where scripts/fetch-model.sh puts it.
	#[arg(long)]
	model: Option<PathBuf>,
	/// Train on the records of these datasets (comma-separated ids), as the service whose
	/// --data-dir is given holds them.
	#[arg(long, value_delimiter = ',', requires = "data_dir")]
	datasets: Vec<u32>,
	/// The LoRA service's --data-dir, which holds the datasets' records.
	#[arg(long)]
	data_dir: Option<PathBuf>,
	/// Train on a JSONL file in OpenAI's fine-tuning format (a {"messages": [...]} object per
	/// line; a line of plain text trains as text), besides or instead of datasets.
	#[arg(long)]
	jsonl: Option<PathBuf>,
	/// The adapter's directory, which must not exist yet. Its checkpoint is kept beside it
	/// (OUT.checkpoint) until training ends: running the same command again resumes from it.
	#[arg(long)]
	out: PathBuf,
	#[arg(long, default_value_t = 8)]
	rank: usize,
	#[arg(long, default_value_t = 16)]
	alpha: u32,
	/// The projections to adapt.
	#[arg(
		long,
		value_delimiter = ',',
		default_value = "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj"
	)]
	modules: Vec<String>,
	#[arg(long, default_value_t = 3)]
	epochs: usize,
	/// The peak learning rate (after warm-up; a cosine decay to a tenth of it follows).
	#[arg(long, default_value_t = 2e-4)]
	learning_rate: f64,
	/// The share of steps spent warming up.
	#[arg(long, default_value_t = 0.1)]
	warmup_ratio: f64,
	/// Sequences per forward pass.
	#[arg(long, default_value_t = 4)]
	batch_size: usize,
	/// Forward passes per optimiser step.
	#[arg(long, default_value_t = 1)]
	accumulation: usize,
	/// Tokens per sequence at most (longer records are cut into windows).
	#[arg(long, default_value_t = 256)]
	max_length: usize,
	#[arg(long, default_value_t = 0.0)]
	weight_decay: f64,
	#[arg(long, default_value_t = 1.0)]
	max_grad_norm: f64,
	/// The share of records held out to measure the loss on (none below ten records).
	#[arg(long, default_value_t = 0.1)]
	holdout: f64,
	#[arg(long, default_value_t = 0)]
	seed: u64,
	/// Steps between checkpoints, besides every epoch's end (0: epochs only).
	#[arg(long, default_value_t = 0)]
	checkpoint_steps: usize,
}

/// Trains as `args` say and prints `lineage.json`.
pub fn run(args: Args) -> Result<()> {
	if args.datasets.is_empty() && args.jsonl.is_none() {
		bail!("name the records to train on: --datasets with --data-dir, or --jsonl");
	}
	let settings = Settings {
		rank: args.rank,
		alpha: args.alpha,
		modules: args.modules,
		epochs: args.epochs,
		learning_rate: args.learning_rate,
		warmup_ratio: args.warmup_ratio,
		batch_size: args.batch_size,
		accumulation: args.accumulation,
		max_length: args.max_length,
		weight_decay: args.weight_decay,
		max_grad_norm: args.max_grad_norm,
		holdout: args.holdout,
		seed: args.seed,
		checkpoint_steps: args.checkpoint_steps,
	};
	settings.check()?;
	if args.out.exists() {
		bail!("{} exists: name a new directory for the adapter", args.out.display());
	}
	let path = args.model.unwrap_or_else(model::default_path);
	let content = gguf::read(&path)?;
	let spec = gguf::TokenizerSpec::from_gguf(&content)?;
	let tokenizer = spec.build()?;
	let model = Model::load(&path, &Device::Cpu, Weights::Dense)?;
	let chat = ChatTemplate::from_gguf(&content, &tokenizer, &model.config);
	let mut sources = Vec::new();
	if let Some(dir) = &args.data_dir {
		sources.extend(data::dataset_records(dir, &spec, &tokenizer, &args.datasets)?);
	}
	if let Some(path) = &args.jsonl {
		sources.extend(data::jsonl_records(path)?);
	}
	let tokenize = Tokenize::new(&tokenizer, &chat, &model.config, settings.max_length);
	let examples = tokenize.all(&sources)?;
	let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
	let mut trainer = Trainer::new(&model, &name, settings, examples, None)?;
	eprintln!(
		"{} records: {} sequences to train on, {} held out; {} steps over {} epochs",
		sources.len(),
		trainer.training_examples(),
		trainer.held_out(),
		trainer.steps(),
		trainer.settings().epochs,
	);
	let started = Instant::now();
	let checkpoint = output::checkpoint_dir(&args.out);
	let terminal = std::io::stderr().is_terminal();
	let mut last_line = Instant::now();
	trainer.run(Some(&checkpoint), &AtomicBool::new(false), |p| {
		// A bar redrawn in place on a terminal; otherwise a line every 10 seconds and at
		// every epoch's end.
		if terminal {
			eprint!("\r{}", line(p));
			let _ = std::io::stderr().flush();
			if p.step == p.steps {
				eprintln!();
			}
		} else if p.eval_loss.is_some() || p.step == p.steps || last_line.elapsed().as_secs() >= 10
		{
			eprintln!("{}", line(p));
			last_line = Instant::now();
		}
	})?;
	let lineage = output::write(&trainer, &args.out)?;
	std::fs::remove_dir_all(&checkpoint).ok();
	let curve = trainer.curve();
	let first = curve.eval.first().or(curve.train.first()).map(|p| p.1);
	let last = curve.eval.last().map(|p| p.1);
	eprintln!(
		"trained in {:.1} s; held-out loss {} -> {}; adapter {} in {}",
		started.elapsed().as_secs_f64(),
		first.map_or("-".into(), |l| format!("{l:.3}")),
		last.map_or("-".into(), |l| format!("{l:.3}")),
		lineage.adapter_hash,
		args.out.display()
	);
	println!("{}", serde_json::to_string_pretty(&lineage)?);
	Ok(())
}

/// `[#######.............] step 12/40 · epoch 1/3 · loss 1.234 · 812 tok/s · ETA 1m 20s`.
fn line(p: &Progress) -> String {
	let width = 20;
	let filled = (p.step * width) / p.steps.max(1);
	let eta = p.eta_seconds.round() as u64;
	let eval = p.eval_loss.map_or(String::new(), |l| format!(" · held out {l:.3}"));
	format!(
		"[{}{}] step {}/{} · epoch {}/{} · loss {:.3}{eval} · {:.0} tok/s · ETA {}m {:02}s ",
		"#".repeat(filled),
		".".repeat(width - filled),
		p.step,
		p.steps,
		p.epoch,
		p.epochs,
		p.loss,
		p.tokens_per_second,
		eta / 60,
		eta % 60
	)
}

#[derive(clap::Args)]
pub struct CheckArgs {
	/// The base model. Default: SmolLM2 where scripts/fetch-model.sh puts it.
	#[arg(long)]
	model: Option<PathBuf>,
	/// Invented facts in the dataset (one record each).
	#[arg(long, default_value_t = 50)]
	facts: usize,
	#[arg(long, default_value_t = 8)]
	epochs: usize,
	#[arg(long, default_value_t = 8)]
	rank: usize,
	#[arg(long, default_value_t = 16)]
	alpha: u32,
	#[arg(long, default_value_t = 1e-3)]
	learning_rate: f64,
	#[arg(long, default_value_t = 4)]
	batch_size: usize,
	#[arg(long, default_value_t = 0)]
	seed: u64,
	/// Where to write the trained adapter (with lineage.json and loss.png); a fresh temporary
	/// directory when not given.
	#[arg(long)]
	out: Option<PathBuf>,
}

/// The model's greedy answer to each question, with or without the adapter.
fn answers(
	model: &Model,
	tokenizer: &tokenizers::Tokenizer,
	chat: &ChatTemplate,
	questions: &[&str],
	adapter: Option<&tributary_lora::adapters::Adapter>,
) -> Result<Vec<String>> {
	let stop = tokenizer.token_to_id("<|im_end|>").unwrap_or(model.config.eos_token_id);
	questions
		.iter()
		.map(|question| {
			let messages = [tributary_lora::chat::ChatMessage {
				role: "user".into(),
				content: question.to_string(),
			}];
			let prompt = chat.render(&messages).map_err(|e| anyhow::anyhow!("{e}"))?;
			let ids = tokenizer.encode(prompt, false).map_err(anyhow::Error::msg)?;
			let out = model.generate_greedy(ids.get_ids(), 24, stop, adapter)?;
			tokenizer.decode(&out, false).map_err(anyhow::Error::msg)
		})
		.collect()
}

/// The process's peak resident memory, in MiB (Linux), or 0.
fn peak_mib() -> f64 {
	std::fs::read_to_string("/proc/self/status")
		.ok()
		.and_then(|status| {
			let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
			line.split_whitespace().nth(1)?.parse::<f64>().ok()
		})
		.map_or(0.0, |kib| kib / 1024.0)
}

/// Trains an adapter on invented facts the base model cannot know and measures what it
/// learned: the share of questions answered with the recorded fact before and after (the
/// questions trained on, and paraphrases of them held out), the losses, tokens/s, the wall
/// time and peak memory. Prints Markdown.
pub fn check(args: CheckArgs) -> Result<()> {
	let path = args.model.unwrap_or_else(model::default_path);
	let content = gguf::read(&path)?;
	let tokenizer = gguf::TokenizerSpec::from_gguf(&content)?.build()?;
	let model = Model::load(&path, &Device::Cpu, Weights::Dense)?;
	let chat = ChatTemplate::from_gguf(&content, &tokenizer, &model.config);
	let facts = tributary_lora::train::facts::invented(args.facts, args.seed);
	let tokenize = Tokenize::new(&tokenizer, &chat, &model.config, Settings::default().max_length);
	let examples_of = |pick: fn(&tributary_lora::train::facts::Fact) -> &str| {
		let sources: Vec<data::Source> = facts
			.iter()
			.enumerate()
			.map(|(i, fact)| data::Source {
				bytes: tributary_lora::train::facts::record(pick(fact), &fact.answer).into_bytes(),
				dataset: Some(1),
				name: format!("fact {i}"),
			})
			.collect();
		tokenize.all(&sources)
	};
	let train = examples_of(|f| &f.question)?;
	let held_out = examples_of(|f| &f.paraphrase)?;
	let questions: Vec<&str> = facts.iter().map(|f| f.question.as_str()).collect();
	let paraphrases: Vec<&str> = facts.iter().map(|f| f.paraphrase.as_str()).collect();
	let answered =
		|answers: &[String]| answers.iter().zip(&facts).filter(|(a, f)| a.contains(&f.key)).count();
	eprintln!("answering {} questions with the base model", 2 * facts.len());
	let before = (
		answered(&answers(&model, &tokenizer, &chat, &questions, None)?),
		answered(&answers(&model, &tokenizer, &chat, &paraphrases, None)?),
	);
	let settings = Settings {
		rank: args.rank,
		alpha: args.alpha,
		epochs: args.epochs,
		learning_rate: args.learning_rate,
		batch_size: args.batch_size,
		holdout: 0.0,
		seed: args.seed,
		..Settings::default()
	};
	let name = path.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
	let mut trainer = Trainer::new(&model, &name, settings, train, Some(held_out))?;
	let started = Instant::now();
	let mut tokens = 0;
	trainer.run(None, &AtomicBool::new(false), |p| {
		tokens = p.tokens;
		if p.eval_loss.is_some() || p.step == p.steps {
			eprintln!("{}", line(p));
		}
	})?;
	let seconds = started.elapsed().as_secs_f64();
	let out = match args.out {
		Some(out) => out,
		None => {
			std::env::temp_dir().join(format!("tributary-factory-check-{}", std::process::id()))
		}
	};
	let lineage = output::write(&trainer, &out)?;
	let adapter = tributary_lora::adapters::Adapter::load(&out, &model.config, &Device::Cpu)?;
	eprintln!("answering them with the adapter {}", lineage.adapter_hash);
	let after_questions = answers(&model, &tokenizer, &chat, &questions, Some(&adapter))?;
	let after = (
		answered(&after_questions),
		answered(&answers(&model, &tokenizer, &chat, &paraphrases, Some(&adapter))?),
	);
	let curve = trainer.curve();
	let (train_first, train_last) = (curve.train[0].1, trainer.train_loss()?);
	let eval_first = curve.eval.first().map_or(f64::NAN, |p| p.1);
	let eval_last = curve.eval.last().map_or(f64::NAN, |p| p.1);
	let n = facts.len();
	println!("| | base model | trained adapter |");
	println!("|---|---|---|");
	println!(
		"| questions trained on, answered with the fact | {}/{n} | {}/{n} |",
		before.0, after.0
	);
	println!("| paraphrased questions (held out), answered | {}/{n} | {}/{n} |", before.1, after.1);
	println!("| loss on the training records | {train_first:.3} | {train_last:.3} |");
	println!("| loss on the held-out paraphrases | {eval_first:.3} | {eval_last:.3} |");
	println!();
	println!(
		"{} epochs, {} steps, rank {}, {} targets trained on in {seconds:.1} s ({:.0} tokens/s); \
		 peak memory {:.0} MiB; adapter {} in {}",
		trainer.settings().epochs,
		trainer.steps(),
		trainer.settings().rank,
		tokens,
		tokens as f64 / seconds,
		peak_mib(),
		lineage.adapter_hash,
		out.display()
	);
	println!();
	println!("First answers after training:");
	for (fact, answer) in facts.iter().zip(&after_questions).take(4) {
		println!("- {} → {answer:?} (recorded: {:?})", fact.question, fact.answer);
	}
	Ok(())
}
