//! A tiny llama-architecture GGUF with random weights, for tests and demonstrations: a few
//! layers, grouped-query attention, weights quantized to Q4_1 as the real model's are, and a
//! byte-level BPE tokenizer (every byte, a few merges, ChatML's control tokens) with SmolLM2's
//! chat template. It says nothing sensible, but everything the service does with a model it
//! does with this one, in milliseconds. The same seed writes the same file.

use std::path::Path;

use anyhow::Result;
use candle_core::{
	quantized::{gguf_file, GgmlDType, QTensor},
	Device, Tensor,
};

use super::LlamaConfig;
use crate::rng::SplitMix64;

/// SmolLM2's chat template (from its GGUF metadata).
pub const SMOLLM2_CHAT_TEMPLATE: &str = "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

/// The control tokens, first in the vocabulary.
const SPECIALS: [&str; 3] = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"];
/// A few merges, so that the BPE path is exercised.
const MERGES: [(&str, &str); 6] =
	[("Ġ", "t"), ("h", "e"), ("Ġt", "he"), ("i", "n"), ("Ġ", "a"), ("e", "r")];

/// The tiny model's hyperparameters.
pub fn config() -> LlamaConfig {
	LlamaConfig {
		layers: 2,
		hidden: 64,
		intermediate: 128,
		heads: 4,
		kv_heads: 2,
		head_dim: 16,
		rope_theta: 10_000.0,
		rms_eps: 1e-5,
		context_length: 512,
		vocab_size: SPECIALS.len() + 256 + MERGES.len(),
		bos_token_id: 1,
		eos_token_id: 2,
	}
}

/// GPT-2's reversible map from bytes to printable characters.
fn byte_chars() -> Vec<char> {
	let printable = |b: u32| {
		(0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
	};
	let mut extra = 0;
	(0u32..256)
		.map(|b| {
			if printable(b) {
				char::from_u32(b).expect("a byte is a char")
			} else {
				extra += 1;
				char::from_u32(255 + extra).expect("below the surrogates")
			}
		})
		.collect()
}

struct Rng(SplitMix64);

impl Rng {
	/// Uniform in [-bound, bound).
	fn uniform(&mut self, bound: f32) -> f32 {
		(self.0.next_24() as f32 / (1u32 << 24) as f32 * 2.0 - 1.0) * bound
	}

	fn tensor(&mut self, shape: (usize, usize), bound: f32) -> Result<Tensor> {
		let values: Vec<f32> = (0..shape.0 * shape.1).map(|_| self.uniform(bound)).collect();
		Ok(Tensor::from_vec(values, shape, &Device::Cpu)?)
	}
}

/// Writes the tiny model for `seed` to `path`.
pub fn write(path: &Path, seed: u64) -> Result<()> {
	use gguf_file::Value;
	let c = config();
	let chars = byte_chars();
	let mut tokens: Vec<String> = SPECIALS.iter().map(|s| s.to_string()).collect();
	tokens.extend(chars.iter().map(|c| c.to_string()));
	tokens.extend(MERGES.iter().map(|(a, b)| format!("{a}{b}")));
	let mut token_types = vec![Value::I32(3); SPECIALS.len()];
	token_types.resize(tokens.len(), Value::I32(1));

	let u32v = |v: usize| Value::U32(v as u32);
	let metadata: Vec<(&str, Value)> = vec![
		("general.architecture", Value::String("llama".into())),
		("general.name", Value::String("tributary tiny random llama".into())),
		("llama.block_count", u32v(c.layers)),
		("llama.embedding_length", u32v(c.hidden)),
		("llama.feed_forward_length", u32v(c.intermediate)),
		("llama.attention.head_count", u32v(c.heads)),
		("llama.attention.head_count_kv", u32v(c.kv_heads)),
		("llama.rope.dimension_count", u32v(c.head_dim)),
		("llama.rope.freq_base", Value::F32(c.rope_theta)),
		("llama.attention.layer_norm_rms_epsilon", Value::F32(c.rms_eps)),
		("llama.context_length", u32v(c.context_length)),
		("tokenizer.ggml.model", Value::String("gpt2".into())),
		("tokenizer.ggml.pre", Value::String("smollm".into())),
		("tokenizer.ggml.tokens", Value::Array(tokens.into_iter().map(Value::String).collect())),
		("tokenizer.ggml.token_type", Value::Array(token_types)),
		(
			"tokenizer.ggml.merges",
			Value::Array(MERGES.iter().map(|(a, b)| Value::String(format!("{a} {b}"))).collect()),
		),
		("tokenizer.ggml.bos_token_id", u32v(c.bos_token_id as usize)),
		("tokenizer.ggml.eos_token_id", u32v(c.eos_token_id as usize)),
		("tokenizer.chat_template", Value::String(SMOLLM2_CHAT_TEMPLATE.into())),
	];

	let mut rng = Rng(SplitMix64(seed));
	let kv = c.kv_heads * c.head_dim;
	let mut tensors: Vec<(String, QTensor)> = Vec::new();
	let mut matrix = |name: String, out: usize, fan_in: usize| -> Result<(String, QTensor)> {
		let weights = rng.tensor((out, fan_in), (3.0 / fan_in as f32).sqrt())?;
		Ok((name, QTensor::quantize(&weights, GgmlDType::Q4_1)?))
	};
	tensors.push(matrix("token_embd.weight".into(), c.vocab_size, c.hidden)?);
	for layer in 0..c.layers {
		let name = |suffix: &str| format!("blk.{layer}.{suffix}.weight");
		tensors.push(matrix(name("attn_q"), c.hidden, c.hidden)?);
		tensors.push(matrix(name("attn_k"), kv, c.hidden)?);
		tensors.push(matrix(name("attn_v"), kv, c.hidden)?);
		tensors.push(matrix(name("attn_output"), c.hidden, c.hidden)?);
		tensors.push(matrix(name("ffn_gate"), c.intermediate, c.hidden)?);
		tensors.push(matrix(name("ffn_up"), c.intermediate, c.hidden)?);
		tensors.push(matrix(name("ffn_down"), c.hidden, c.intermediate)?);
	}
	let ones = |name: String| -> Result<(String, QTensor)> {
		let norm = Tensor::ones(c.hidden, candle_core::DType::F32, &Device::Cpu)?;
		Ok((name, QTensor::quantize(&norm, GgmlDType::F32)?))
	};
	for layer in 0..c.layers {
		tensors.push(ones(format!("blk.{layer}.attn_norm.weight"))?);
		tensors.push(ones(format!("blk.{layer}.ffn_norm.weight"))?);
	}
	tensors.push(ones("output_norm.weight".into())?);

	if let Some(parent) = path.parent() {
		std::fs::create_dir_all(parent)?;
	}
	let mut file = std::fs::File::create(path)?;
	let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
	let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
	gguf_file::write(&mut file, &metadata, &tensors)?;
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_tiny_model_reads_back() {
		let path = std::env::temp_dir().join(format!("tiny-{}.gguf", std::process::id()));
		write(&path, 1).unwrap();
		let content = crate::model::gguf::read(&path).unwrap();
		assert_eq!(LlamaConfig::from_gguf(&content).unwrap(), config());
		let tokenizer = crate::model::gguf::tokenizer(&content).unwrap();
		let encode = |text: &str| tokenizer.encode(text, false).unwrap().get_ids().to_vec();
		// " the" is one merged token; "<|im_end|>" is one control token; bytes round-trip.
		assert_eq!(encode(" the").len(), 1);
		assert_eq!(encode("<|im_end|>"), vec![2]);
		for text in ["Hello, world! 123", "naïve café ☕", "  two  spaces\n"] {
			let ids = encode(text);
			assert_eq!(tokenizer.decode(&ids, false).unwrap(), text);
		}
		let first = std::fs::read(&path).unwrap();
		write(&path, 1).unwrap();
		assert_eq!(std::fs::read(&path).unwrap(), first, "the same seed writes the same file");
		std::fs::remove_file(path).ok();
	}
}
