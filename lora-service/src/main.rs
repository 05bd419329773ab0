//! `tributary-lora`: Tributary's LoRA inference service.

use std::{net::SocketAddr, path::PathBuf};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use tributary_lora::{
	adapters::random as random_adapter,
	api as server, hash,
	model::{gguf, tiny},
};

mod bench;
mod train_cli;

#[derive(Parser)]
#[command(
	name = "tributary-lora",
	version,
	about = "Tributary's LoRA service: one base model, many LoRA adapters batched together, and \
	         span attribution of every output over the datasets the adapters were trained on.",
	after_help = "Logs go to stderr; RUST_LOG sets the level (default info)."
)]
struct Cli {
	#[command(subcommand)]
	command: Command,
}

// Parsed once, at start: the variants' sizes do not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum Command {
	/// Serve the HTTP API (OpenAI-compatible completions and chat completions, adapters,
	/// dataset records, attribution, /health and Prometheus /metrics).
	Serve {
		/// The base model: a llama-architecture GGUF file (its tokenizer and chat template
		/// are read from its metadata).
		#[arg(long)]
		model: PathBuf,
		/// The address to listen on.
		#[arg(long, default_value = "127.0.0.1:8181")]
		listen: SocketAddr,
		#[command(flatten)]
		options: server::Options,
	},
	/// Adapters.
	Adapter {
		#[command(subcommand)]
		command: AdapterCommand,
	},
	/// Write the tiny random llama GGUF the tests use (2 layers, 64 wide, byte-level
	/// tokenizer): it says nothing sensible, but serves every endpoint in milliseconds.
	TinyModel {
		/// The file to write.
		#[arg(long)]
		out: PathBuf,
		#[arg(long, default_value_t = 7)]
		seed: u64,
	},
	/// Measure decode throughput with many adapters, adapter loading and memory, attribution
	/// latency, and verification across weight modes, and print a Markdown report.
	Bench(bench::Args),
	/// Fine-tune a LoRA adapter on the records of datasets (as a service's --data-dir holds
	/// them) or a JSONL file in OpenAI's fine-tuning format, with a progress bar; write it as a
	/// PEFT adapter directory with lineage.json (the arguments of models.registerAdapter: the
	/// adapter's hash, rank, alpha, and each dataset's share by tokens trained) and loss.png.
	Train(train_cli::Args),
	/// Check that training teaches: fine-tune an adapter on invented facts the base model
	/// cannot know, and report how many questions it answers with the recorded fact before
	/// and after (and paraphrases held out), the losses, tokens/s, time and peak memory.
	TrainCheck(train_cli::CheckArgs),
}

#[derive(Subcommand)]
enum AdapterCommand {
	/// Write a random (untrained) LoRA adapter in the PEFT layout over all seven projections,
	/// for demonstrations and tests, and print its hash (as `adapter hash` does). The same
	/// shape, rank and seed give the same bytes on any machine; without --model the shape is
	/// SmolLM2-135M's.
	New {
		#[arg(long, default_value_t = 4)]
		rank: usize,
		#[arg(long, default_value_t = 8)]
		alpha: u32,
		#[arg(long, default_value_t = 0)]
		seed: u64,
		/// Take the shape from this GGUF model instead of SmolLM2-135M's.
		#[arg(long)]
		model: Option<PathBuf>,
		/// The directory to write (created if missing).
		#[arg(long)]
		out: PathBuf,
	},
	/// Print the hash of a PEFT adapter directory, the one to register it by on chain and that
	/// requests name it by: blake2-256 over its weights file's blake2-256 and what its
	/// adapter_config.json changes in the output (rank, alpha, rsLoRA, the targeted modules);
	/// docs/lora-service.md gives the exact bytes. Settings the service does not serve are
	/// refused, as loading refuses them.
	Hash {
		/// The adapter's directory (adapter_config.json, adapter_model.safetensors).
		dir: PathBuf,
	},
}

/// Becomes `true` at the first SIGTERM or Ctrl-C.
fn shutdown_signal() -> Result<tokio::sync::watch::Receiver<bool>> {
	let (stop, stopping) = tokio::sync::watch::channel(false);
	#[cfg(unix)]
	let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
		.context("listening for SIGTERM")?;
	tokio::spawn(async move {
		#[cfg(unix)]
		let terminated = terminate.recv();
		#[cfg(not(unix))]
		let terminated = std::future::pending::<Option<()>>();
		tokio::select! {
			_ = tokio::signal::ctrl_c() => tracing::info!("interrupted"),
			_ = terminated => tracing::info!("terminated"),
		}
		let _ = stop.send(true);
	});
	Ok(stopping)
}

fn main() -> Result<()> {
	// candle counts the physical cores before every parallel kernel, parsing /proc/cpuinfo each
	// time, unless RAYON_NUM_THREADS is set: count them once, before any thread starts.
	if std::env::var_os("RAYON_NUM_THREADS").is_none() {
		std::env::set_var("RAYON_NUM_THREADS", candle_core::utils::get_num_threads().to_string());
	}
	tracing_subscriber::fmt()
		.with_writer(std::io::stderr)
		.with_env_filter(
			tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
		)
		.init();
	match Cli::parse().command {
		Command::Adapter { command: AdapterCommand::New { rank, alpha, seed, model, out } } => {
			anyhow::ensure!(rank > 0, "--rank must be at least 1");
			let shape = match model {
				Some(path) => {
					random_adapter::Shape::of(&gguf::LlamaConfig::from_gguf(&gguf::read(&path)?)?)
				}
				None => random_adapter::Shape::SMOLLM2,
			};
			let hash = random_adapter::write(&out, shape, rank, alpha, seed)
				.with_context(|| format!("writing {}", out.display()))?;
			tracing::info!(
				"wrote a random, untrained rank-{rank} adapter (seed {seed}) to {}: for \
				 demonstrations and tests, it has learned nothing",
				out.display()
			);
			println!("0x{}", hash::hex(&hash));
			Ok(())
		}
		Command::Adapter { command: AdapterCommand::Hash { dir } } => {
			let hash = tributary_lora::adapters::hash_dir(&dir)?;
			println!("0x{}", hash::hex(&hash));
			Ok(())
		}
		Command::TinyModel { out, seed } => tiny::write(&out, seed),
		Command::Bench(args) => bench::run(args),
		Command::Train(args) => train_cli::run(args),
		Command::TrainCheck(args) => train_cli::check(args),
		Command::Serve { model, listen, options } => {
			server::may_listen(listen, &options)?;
			let grace = std::time::Duration::from_secs(options.shutdown_grace_seconds);
			let state = server::start(&model, options)?;
			let runtime = tokio::runtime::Runtime::new()?;
			runtime.block_on(async move {
				let listener = tokio::net::TcpListener::bind(listen)
					.await
					.with_context(|| format!("listening on {listen}"))?;
				tracing::info!("listening on http://{listen}");
				let mut stopping = shutdown_signal()?;
				let mut deadline = stopping.clone();
				let drain = {
					let state = state.clone();
					async move {
						let _ = stopping.wait_for(|stop| *stop).await;
						state.drain();
						tracing::info!(
							in_flight = state.in_flight(),
							"draining: requests in flight have {grace:?} to finish"
						);
					}
				};
				let serve = axum::serve(listener, server::router(state.clone()))
					.with_graceful_shutdown(drain);
				tokio::select! {
					served = serve => {
						served?;
						tracing::info!("drained; stopped");
					}
					_ = async move {
						let _ = deadline.wait_for(|stop| *stop).await;
						tokio::time::sleep(grace).await;
					} => tracing::warn!(
						in_flight = state.in_flight(),
						"the drain deadline passed; stopping with requests in flight"
					),
				}
				Ok(())
			})
		}
	}
}
