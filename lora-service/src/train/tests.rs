use std::sync::atomic::{AtomicBool, Ordering};

use candle_core::{Device, Tensor};

use super::*;
use crate::{
	adapters::Adapter,
	chat::ChatTemplate,
	model::{gguf, tiny, KvCache},
	testing::{max_diff, scratch, tiny_model, tiny_path},
};

/// Examples from plain-text records of dataset 1 and chat records of dataset 2.
fn examples(texts: &[&str]) -> Vec<Example> {
	let content = gguf::read(tiny_path()).unwrap();
	let tokenizer = gguf::tokenizer(&content).unwrap();
	let chat = ChatTemplate::from_gguf(&content, &tokenizer, &tiny::config());
	let tokenize = Tokenize { tokenizer: &tokenizer, chat: &chat, end_token: 0, max_length: 64 };
	texts
		.iter()
		.flat_map(|text| {
			let dataset = if text.starts_with('{') { 2 } else { 1 };
			let source = Source {
				bytes: text.as_bytes().to_vec(),
				dataset: Some(dataset),
				name: "t".into(),
			};
			tokenize.examples(&source).unwrap()
		})
		.collect()
}

const FACTS: [&str; 4] = [
	"Quorsh is the capital of Veltrania.",
	"The river Amblen runs 412 km.",
	r#"{"messages": [{"role": "user", "content": "Who founded Tesk?"}, {"role": "assistant", "content": "Mira Olsk."}]}"#,
	"Zorvath was born in 1871.",
];

fn settings() -> Settings {
	Settings {
		rank: 4,
		alpha: 8,
		epochs: 40,
		learning_rate: 1e-2,
		batch_size: 2,
		accumulation: 2,
		holdout: 0.0,
		..Settings::default()
	}
}

/// Every LoRA gradient backpropagation computes matches the loss's finite difference, for A
/// and B of every projection (B made non-zero first, or A's gradient would be zero).
#[test]
fn lora_gradients_match_finite_differences() {
	let model = tiny_model();
	let trainer = Trainer::new(&model, "tiny", settings(), examples(&FACTS), None).unwrap();
	let mut rng = SplitMix64(3);
	for var in trainer.lora.vars().iter().skip(1).step_by(2) {
		let values: Vec<f32> = (0..var.elem_count())
			.map(|_| (f64::from(rng.next_24()) / f64::from(1u32 << 24) - 0.5) as f32 * 0.2)
			.collect();
		var.set(&Tensor::from_vec(values, var.shape(), &Device::Cpu).unwrap()).unwrap();
	}
	let refs: Vec<&Example> = trainer.train.iter().take(2).collect();
	let batch = trainer.batch(&refs).unwrap();
	let loss = |trainer: &Trainer<'_>| -> f64 {
		f64::from(trainer.loss_sum(&batch).unwrap().to_scalar::<f32>().unwrap())
	};
	let grads = trainer.loss_sum(&batch).unwrap().backward().unwrap();
	let h = 1e-2f32;
	let mut checked = 0;
	for (v, var) in trainer.lora.vars().into_iter().enumerate() {
		let grad =
			grads.get(var.as_tensor()).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
		let values = var.as_tensor().flatten_all().unwrap().to_vec1::<f32>().unwrap();
		// The element with the largest gradient, and one chosen by the variable's index.
		let largest =
			(0..grad.len()).max_by(|&a, &b| grad[a].abs().total_cmp(&grad[b].abs())).unwrap();
		for i in [largest, (v * 7919) % grad.len()] {
			let at = |delta: f32| {
				let mut changed = values.clone();
				changed[i] += delta;
				var.set(&Tensor::from_vec(changed, var.shape(), &Device::Cpu).unwrap()).unwrap();
				let l = loss(&trainer);
				var.set(&Tensor::from_vec(values.clone(), var.shape(), &Device::Cpu).unwrap())
					.unwrap();
				l
			};
			let numeric = (at(h) - at(-h)) / (2.0 * f64::from(h));
			let analytic = f64::from(grad[i]);
			let error = (numeric - analytic).abs();
			assert!(
				error <= 2e-2 * analytic.abs().max(numeric.abs()) + 2e-3,
				"variable {v} element {i}: backprop {analytic}, finite difference {numeric}"
			);
			checked += 1;
		}
	}
	assert_eq!(checked, 2 * trainer.lora.vars().len());
}

/// Training memorises a handful of records: the loss over them falls to a fraction of the base
/// model's, and the recorded curve says so.
#[test]
fn the_loss_falls_on_a_memorisable_dataset() {
	let model = tiny_model();
	let mut trainer = Trainer::new(&model, "tiny", settings(), examples(&FACTS), None).unwrap();
	let before = trainer.train_loss().unwrap();
	let mut steps = 0;
	trainer.run(None, &AtomicBool::new(false), |p| steps = p.step).unwrap();
	let after = trainer.train_loss().unwrap();
	assert_eq!(steps, trainer.steps());
	assert!(after < before * 0.3, "loss {before} -> {after}");
	assert_eq!(trainer.curve().train.first().map(|p| p.1), Some(before));
	// The optimiser's state holds values, not graphs: a moment that tracked the operations it
	// came from would keep every step's forward pass alive (memory growing step by step).
	assert!(trainer.moments.iter().all(|m| !m.m.track_op() && !m.v.track_op()));
}

/// A trained adapter written in PEFT's layout and loaded back by the service gives the logits
/// training computed, at every position (the q and k rows reordered both ways); the lineage
/// names both datasets by their tokens.
#[test]
fn a_saved_adapter_loads_with_the_logits_it_was_trained_to() {
	let model = tiny_model();
	let mut trainer =
		Trainer::new(&model, "tiny", Settings { epochs: 3, ..settings() }, examples(&FACTS), None)
			.unwrap();
	trainer.run(None, &AtomicBool::new(false), |_| {}).unwrap();
	let out = scratch("train-saved").join("adapter");
	let lineage = output::write(&trainer, &out).unwrap();
	let adapter = Adapter::load(&out, &model.config, &Device::Cpu).unwrap();
	assert_eq!(lineage.adapter_hash, format!("0x{}", crate::hash::hex(&adapter.hash)));
	assert_eq!(lineage.datasets.iter().map(|s| s.dataset_id).collect::<Vec<_>>(), [1, 2]);
	assert_eq!(lineage.datasets.iter().map(|s| s.share_ppm).sum::<u64>(), 1_000_000);
	let per_dataset = trainer.tokens_trained();
	assert_eq!(lineage.datasets[0].tokens, per_dataset[0].1);
	for file in ["lineage.json", "loss.json", "loss.png", "adapter_config.json"] {
		assert!(out.join(file).exists(), "{file}");
	}
	let example = &trainer.train[0];
	let ids = Tensor::new(example.tokens.as_slice(), &Device::Cpu).unwrap().unsqueeze(0).unwrap();
	let trained = trainer.frozen.logits(&ids, &trainer.lora).unwrap();
	let mut cache = KvCache::default();
	for (i, token) in example.tokens.iter().enumerate() {
		let served = model.forward_sequence(&[*token], &mut cache, Some(&adapter)).unwrap();
		let row = trained.get(i).unwrap();
		assert!(max_diff(&served, &row) < 1e-4, "position {i}");
	}
	let base = model.forward_sequence(&example.tokens, &mut KvCache::default(), None).unwrap();
	let last = trained.get(example.tokens.len() - 1).unwrap();
	assert!(max_diff(&base, &last) > 1e-3, "the adapter changed what the model says");
	// The directory exists: a second write is refused rather than overwriting it.
	assert!(output::write(&trainer, &out).is_err());
	std::fs::remove_dir_all(out.parent().unwrap()).ok();
}

/// A cancelled run writes no adapter and keeps its checkpoint; resumed, it ends with the very
/// adapter an uninterrupted run of the same seed writes.
#[test]
fn a_cancelled_run_leaves_no_adapter_and_resumes_to_the_same_result() {
	let model = tiny_model();
	let dir = scratch("train-cancel");
	let run_settings = Settings { epochs: 4, ..settings() };
	let whole = dir.join("whole");
	let mut trainer =
		Trainer::new(&model, "tiny", run_settings.clone(), examples(&FACTS), None).unwrap();
	trainer.run(None, &AtomicBool::new(false), |_| {}).unwrap();
	output::write(&trainer, &whole).unwrap();

	let out = dir.join("resumed");
	let checkpoint = output::checkpoint_dir(&out);
	let cancel = AtomicBool::new(false);
	let mut first =
		Trainer::new(&model, "tiny", run_settings.clone(), examples(&FACTS), None).unwrap();
	let stopped = first.run(Some(&checkpoint), &cancel, |p| {
		if p.step == 3 {
			cancel.store(true, Ordering::Relaxed);
		}
	});
	let error = stopped.err().unwrap();
	assert!(matches!(error.downcast_ref::<Stopped>(), Some(Stopped::Cancelled(3))), "{error}");
	assert!(!out.exists() && !output::partial_dir(&out).exists(), "no adapter, whole or half");
	assert!(checkpoint.join("checkpoint.json").exists());

	let mut second =
		Trainer::new(&model, "tiny", run_settings.clone(), examples(&FACTS), None).unwrap();
	let mut first_step = None;
	second
		.run(Some(&checkpoint), &AtomicBool::new(false), |p| {
			first_step.get_or_insert(p.step);
		})
		.unwrap();
	assert_eq!(first_step, Some(4), "resumed after step 3");
	output::write(&second, &out).unwrap();
	let bytes = |d: &Path| std::fs::read(d.join("adapter_model.safetensors")).unwrap();
	assert_eq!(bytes(&whole), bytes(&out), "the same adapter, byte for byte");

	// A checkpoint of other settings is refused, not resumed.
	let mut other =
		Trainer::new(&model, "tiny", Settings { seed: 9, ..run_settings }, examples(&FACTS), None)
			.unwrap();
	assert!(other.run(Some(&checkpoint), &AtomicBool::new(false), |_| {}).is_err());
	std::fs::remove_dir_all(dir).ok();
}

/// Shares in parts per million sum to a million, follow the tokens, and never round a dataset
/// to nothing.
#[test]
fn lineage_shares_sum_to_a_million() {
	let shares = output::shares_ppm(&[(7, 1), (3, 2), (9, 3_000_000)]);
	assert_eq!(shares.iter().map(|s| s.share_ppm).sum::<u64>(), 1_000_000);
	assert_eq!(shares.iter().map(|s| s.dataset_id).collect::<Vec<_>>(), [3, 7, 9]);
	assert!(shares.iter().all(|s| s.share_ppm >= 1));
	let thirds = output::shares_ppm(&[(1, 1), (2, 1), (3, 1)]);
	assert_eq!(thirds.iter().map(|s| s.share_ppm).collect::<Vec<_>>(), [333_334, 333_333, 333_333]);
	assert!(output::shares_ppm(&[]).is_empty());
}

/// Settings training cannot run with are refused by name.
#[test]
fn bad_settings_are_refused() {
	for (settings, word) in [
		(Settings { rank: 0, ..Settings::default() }, "rank"),
		(Settings { modules: vec!["lm_head".into()], ..Settings::default() }, "module"),
		(Settings { learning_rate: f64::NAN, ..Settings::default() }, "learning rate"),
		(Settings { max_length: 1, ..Settings::default() }, "sequence length"),
		(Settings { holdout: 0.9, ..Settings::default() }, "held-out"),
	] {
		let error = settings.check().unwrap_err().to_string();
		assert!(error.contains(word), "{error}");
	}
}
