//! What the tests share: the tiny model (written once per test process), random adapters for
//! it, and the real SmolLM2 where the tests need it.

use std::{
	path::{Path, PathBuf},
	sync::{
		atomic::{AtomicUsize, Ordering},
		OnceLock,
	},
};

use candle_core::Device;

use crate::{
	adapters::{random as random_adapter, Adapter},
	model::{tiny, Model, Weights},
};

/// n values in [-1, 1) from a seed.
pub(crate) fn random(n: usize, seed: u64) -> Vec<f32> {
	let mut rng = crate::rng::SplitMix64(seed);
	(0..n).map(|_| rng.next_24() as f32 / (1 << 23) as f32 - 1.0).collect()
}

/// A directory of this test process's own, removed by nobody (the system's temp cleaning).
pub(crate) fn scratch(name: &str) -> PathBuf {
	let dir = std::env::temp_dir().join(format!("tributary-lora-{}-{name}", std::process::id()));
	std::fs::create_dir_all(&dir).unwrap();
	dir
}

/// The tiny random llama's GGUF file.
pub(crate) fn tiny_path() -> &'static Path {
	static PATH: OnceLock<PathBuf> = OnceLock::new();
	PATH.get_or_init(|| {
		let path = scratch("tiny").join("tiny.gguf");
		tiny::write(&path, 7).unwrap();
		path
	})
}

/// The tiny model with dense f32 weights (exact arithmetic).
pub(crate) fn tiny_model() -> Model {
	tiny_model_with(Weights::Dense)
}

pub(crate) fn tiny_model_with(weights: Weights) -> Model {
	Model::load(tiny_path(), &Device::Cpu, weights).unwrap()
}

/// Writes the random adapter (seed, rank) for the tiny model into `dir`.
pub(crate) fn tiny_adapter_dir(dir: &Path, seed: u64, rank: usize) -> [u8; 32] {
	let shape = random_adapter::Shape::of(&tiny::config());
	random_adapter::write(dir, shape, rank, 2 * rank as u32, seed).unwrap()
}

/// Loads the random adapter (seed, rank) for the tiny model. Each call writes into a directory
/// of its own: tests run in parallel, and two loading the same adapter must not read a file
/// the other is writing or has removed.
pub(crate) fn tiny_adapter(seed: u64, rank: usize) -> Adapter {
	static CALLS: AtomicUsize = AtomicUsize::new(0);
	let call = CALLS.fetch_add(1, Ordering::Relaxed);
	let dir = scratch(&format!("adapter-{seed}-{rank}-{call}"));
	tiny_adapter_dir(&dir, seed, rank);
	let adapter = Adapter::load(&dir, &tiny::config(), &Device::Cpu).unwrap();
	std::fs::remove_dir_all(dir).ok();
	adapter
}

/// The real model: $TRIBUTARY_MODEL, or where `scripts/fetch-model.sh` puts it. Its tests fail
/// (rather than pass vacuously) when it is missing.
pub(crate) fn smollm2_path() -> PathBuf {
	let path = std::env::var_os("TRIBUTARY_MODEL")
		.map(PathBuf::from)
		.unwrap_or_else(crate::model::default_path);
	assert!(
		path.exists(),
		"{} is missing: run scripts/fetch-model.sh (or set TRIBUTARY_MODEL)",
		path.display()
	);
	path
}

/// Differs by at most this much, elementwise.
pub(crate) fn max_diff(x: &candle_core::Tensor, y: &candle_core::Tensor) -> f32 {
	(x - y).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
}

/// Runs `scripts/sample-adapter.py` (SmolLM2's shape) into a fresh directory.
pub(crate) fn sample_adapter_script(seed: u64, rank: usize) -> PathBuf {
	let dir = scratch(&format!("script-{seed}-{rank}"));
	// The checkout the test runs from, which cargo names at run time: a test binary built
	// from another checkout of the same workspace shares the target directory and would
	// carry that checkout's path in `env!`.
	let manifest_dir =
		std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
	let script = PathBuf::from(manifest_dir).join("../scripts/sample-adapter.py");
	let status = std::process::Command::new("python3")
		.arg(&script)
		.arg("--out")
		.arg(&dir)
		.args(["--rank", &rank.to_string(), "--seed", &seed.to_string()])
		.stdout(std::process::Stdio::null())
		.status()
		.unwrap();
	assert!(status.success());
	dir
}
