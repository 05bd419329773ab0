//! What a llama-architecture GGUF file says about its model: the hyperparameters, and the
//! tokenizer built from the vocabulary and merges in its metadata.

use anyhow::{anyhow, bail, Context, Result};
use candle_core::quantized::gguf_file::{Content, Value};
use tokenizers::{
	decoders::byte_level::ByteLevel as ByteLevelDecoder,
	models::bpe::{Vocab, BPE},
	pre_tokenizers::{byte_level::ByteLevel, digits::Digits, sequence::Sequence},
	AddedToken, Tokenizer,
};

/// The hyperparameters of a llama-architecture model.
#[derive(Clone, Debug, PartialEq)]
pub struct LlamaConfig {
	pub layers: usize,
	pub hidden: usize,
	pub intermediate: usize,
	pub heads: usize,
	pub kv_heads: usize,
	pub head_dim: usize,
	pub rope_theta: f32,
	pub rms_eps: f32,
	pub context_length: usize,
	pub vocab_size: usize,
	pub bos_token_id: u32,
	pub eos_token_id: u32,
}

/// The metadata accessors are strict about integer widths; files differ in what they write.
fn integer(content: &Content, key: &str) -> Result<u64> {
	match content.metadata.get(key) {
		Some(Value::U8(v)) => Ok(u64::from(*v)),
		Some(Value::U16(v)) => Ok(u64::from(*v)),
		Some(Value::U32(v)) => Ok(u64::from(*v)),
		Some(Value::U64(v)) => Ok(*v),
		Some(Value::I32(v)) if *v >= 0 => Ok(*v as u64),
		Some(Value::I64(v)) if *v >= 0 => Ok(*v as u64),
		Some(other) => bail!("GGUF metadata {key} is not a non-negative integer: {other:?}"),
		None => bail!("GGUF metadata {key} is missing"),
	}
}

fn float(content: &Content, key: &str) -> Result<Option<f32>> {
	match content.metadata.get(key) {
		Some(Value::F32(v)) => Ok(Some(*v)),
		Some(Value::F64(v)) => Ok(Some(*v as f32)),
		Some(other) => bail!("GGUF metadata {key} is not a float: {other:?}"),
		None => Ok(None),
	}
}

fn string<'a>(content: &'a Content, key: &str) -> Result<&'a str> {
	match content.metadata.get(key) {
		Some(Value::String(v)) => Ok(v),
		Some(other) => bail!("GGUF metadata {key} is not a string: {other:?}"),
		None => bail!("GGUF metadata {key} is missing"),
	}
}

fn array<'a>(content: &'a Content, key: &str) -> Result<&'a [Value]> {
	match content.metadata.get(key) {
		Some(Value::Array(v)) => Ok(v),
		Some(other) => bail!("GGUF metadata {key} is not an array: {other:?}"),
		None => bail!("GGUF metadata {key} is missing"),
	}
}

impl LlamaConfig {
	/// Reads the hyperparameters of a `llama` GGUF.
	pub fn from_gguf(content: &Content) -> Result<Self> {
		let architecture = string(content, "general.architecture")?;
		if architecture != "llama" {
			bail!("the model's architecture is {architecture}, not llama");
		}
		let usize_of = |key: &str| integer(content, key).map(|v| v as usize);
		let hidden = usize_of("llama.embedding_length")?;
		let heads = usize_of("llama.attention.head_count")?;
		let vocab_size = match usize_of("llama.vocab_size") {
			Ok(size) => size,
			Err(_) => array(content, "tokenizer.ggml.tokens")?.len(),
		};
		let config = Self {
			layers: usize_of("llama.block_count")?,
			hidden,
			intermediate: usize_of("llama.feed_forward_length")?,
			heads,
			kv_heads: usize_of("llama.attention.head_count_kv").unwrap_or(heads),
			head_dim: usize_of("llama.rope.dimension_count").unwrap_or(hidden / heads.max(1)),
			rope_theta: float(content, "llama.rope.freq_base")?.unwrap_or(10_000.0),
			rms_eps: float(content, "llama.attention.layer_norm_rms_epsilon")?.unwrap_or(1e-5),
			context_length: usize_of("llama.context_length")?,
			vocab_size,
			bos_token_id: integer(content, "tokenizer.ggml.bos_token_id")? as u32,
			eos_token_id: integer(content, "tokenizer.ggml.eos_token_id")? as u32,
		};
		if config.heads == 0
			|| config.kv_heads == 0
			|| !config.heads.is_multiple_of(config.kv_heads)
		{
			bail!("{} heads cannot share {} key-value heads", config.heads, config.kv_heads);
		}
		Ok(config)
	}
}

/// Builds the tokenizer a GPT-2-style byte-level BPE GGUF describes (`tokenizer.ggml.model`
/// `gpt2`): its vocabulary and merges, control and user-defined tokens as special tokens,
/// and the pre-tokenizer its `tokenizer.ggml.pre` names (`smollm`: digits one by one, then
/// byte-level splitting without a prefix space).
pub fn tokenizer(content: &Content) -> Result<Tokenizer> {
	let model = string(content, "tokenizer.ggml.model")?;
	if model != "gpt2" {
		bail!("tokenizer model {model} is not supported (only gpt2-style byte-level BPE)");
	}
	let pre = string(content, "tokenizer.ggml.pre").unwrap_or("default");
	let tokens: Vec<String> = array(content, "tokenizer.ggml.tokens")?
		.iter()
		.map(|v| match v {
			Value::String(s) => Ok(s.clone()),
			other => Err(anyhow!("a token is not a string: {other:?}")),
		})
		.collect::<Result<_>>()?;
	let merges: Vec<(String, String)> = array(content, "tokenizer.ggml.merges")?
		.iter()
		.map(|v| match v {
			Value::String(s) => s
				.split_once(' ')
				.map(|(a, b)| (a.to_string(), b.to_string()))
				.ok_or_else(|| anyhow!("merge {s:?} is not two tokens")),
			other => Err(anyhow!("a merge is not a string: {other:?}")),
		})
		.collect::<Result<_>>()?;
	let token_types: Vec<i64> = match content.metadata.get("tokenizer.ggml.token_type") {
		Some(Value::Array(values)) => values
			.iter()
			.map(|v| match v {
				Value::I32(t) => Ok(i64::from(*t)),
				Value::U32(t) => Ok(i64::from(*t)),
				other => Err(anyhow!("a token type is not an integer: {other:?}")),
			})
			.collect::<Result<_>>()?,
		_ => Vec::new(),
	};

	let vocab: Vocab =
		tokens.iter().enumerate().map(|(id, token)| (token.clone(), id as u32)).collect();
	let bpe = BPE::builder()
		.vocab_and_merges(vocab, merges)
		.build()
		.map_err(|e| anyhow!("building the BPE model: {e}"))?;
	let mut tokenizer = Tokenizer::new(bpe);
	let byte_level = ByteLevel::new(false, true, true);
	match pre {
		"smollm" => {
			tokenizer.with_pre_tokenizer(Some(Sequence::new(vec![
				Digits::new(true).into(),
				byte_level.into(),
			])));
		}
		_ => {
			tokenizer.with_pre_tokenizer(Some(byte_level));
		}
	}
	tokenizer.with_decoder(Some(ByteLevelDecoder::default()));
	// 3: control, 4: user-defined. Special, so that `<|im_start|>` in a prompt is one token.
	let specials: Vec<AddedToken> = token_types
		.iter()
		.enumerate()
		.filter(|(_, kind)| matches!(kind, 3 | 4))
		.map(|(id, _)| AddedToken::from(tokens[id].clone(), true))
		.collect();
	tokenizer.add_special_tokens(&specials);
	Ok(tokenizer)
}

/// The control tokens (token type 3) of a GGUF's vocabulary: ids and texts.
pub fn control_tokens(content: &Content) -> Vec<(u32, String)> {
	let (Some(Value::Array(types)), Some(Value::Array(tokens))) = (
		content.metadata.get("tokenizer.ggml.token_type"),
		content.metadata.get("tokenizer.ggml.tokens"),
	) else {
		return Vec::new();
	};
	types
		.iter()
		.zip(tokens)
		.enumerate()
		.filter(|(_, (kind, _))| matches!(kind, Value::I32(3) | Value::U32(3)))
		.filter_map(|(id, (_, token))| match token {
			Value::String(text) => Some((id as u32, text.clone())),
			_ => None,
		})
		.collect()
}

/// Reads a GGUF file's header and metadata (not its tensors).
pub fn read(path: &std::path::Path) -> Result<Content> {
	let mut file =
		std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
	Content::read(&mut file)
		.with_context(|| format!("reading the GGUF header of {}", path.display()))
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn smollm2_hyperparameters_and_tokenizer() {
		let content = read(&crate::testing::smollm2_path()).expect("the model file reads");
		let config = LlamaConfig::from_gguf(&content).unwrap();
		assert_eq!((config.layers, config.hidden, config.intermediate), (30, 576, 1536));
		assert_eq!((config.heads, config.kv_heads, config.head_dim), (9, 3, 64));
		assert_eq!(config.vocab_size, 49_152);
		assert_eq!(config.rope_theta, 100_000.0);
		assert_eq!((config.bos_token_id, config.eos_token_id), (1, 2));

		let tokenizer = tokenizer(&content).unwrap();
		let encode = |text: &str| tokenizer.encode(text, false).unwrap().get_ids().to_vec();
		// Digits one by one, no prefix space, runs of spaces kept.
		let expected: [(&str, &[u32]); 4] = [
			("Hello world! 123", &[19556, 905, 17, 216, 33, 34, 35]),
			("The capital of France is", &[504, 3575, 282, 4649, 314]),
			("  multiple   spaces", &[216, 2701, 256, 5600]),
			("\n", &[198]),
		];
		for (text, ids) in expected {
			assert_eq!(encode(text), ids, "ids of {text:?}");
			assert_eq!(tokenizer.decode(ids, false).unwrap(), text, "round trip of {text:?}");
		}
		assert_eq!(encode("<|im_start|>").len(), 1);
	}
}
