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

/// What a GPT-2-style byte-level BPE GGUF (`tokenizer.ggml.model` `gpt2`) says its tokenizer
/// is: the pre-tokenizer its `tokenizer.ggml.pre` names, the vocabulary, the merges and the
/// token types, as the file gives them.
#[derive(Clone)]
pub struct TokenizerSpec {
	pre: String,
	tokens: Vec<String>,
	merges: Vec<(String, String)>,
	token_types: Vec<i64>,
}

impl TokenizerSpec {
	/// Reads the tokenizer's description from a GGUF's metadata.
	pub fn from_gguf(content: &Content) -> Result<Self> {
		let model = string(content, "tokenizer.ggml.model")?;
		if model != "gpt2" {
			bail!("tokenizer model {model} is not supported (only gpt2-style byte-level BPE)");
		}
		let pre = string(content, "tokenizer.ggml.pre").unwrap_or("default").to_string();
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
		Ok(Self { pre, tokens, merges, token_types })
	}

	/// The tokenizer's identity: blake2-256 over everything [`Self::build`] reads, serialised
	/// canonically so that the same tokenizer hashes alike from any file (however its metadata
	/// is laid out or its integers typed): a version tag, the model (`gpt2`) and the
	/// pre-tokenizer's name; the token count, then each token's id (u32) and text; the merge
	/// count, then each merge's two tokens; the token-type count, then each type (i64). Every
	/// count is a u64, every text its byte length (u64) then its UTF-8 bytes, all little-endian.
	/// A dataset index holds token ids, which mean something only under the tokenizer that
	/// produced them, so indexes are stored with this identity.
	pub fn identity(&self) -> [u8; 32] {
		fn text(bytes: &mut Vec<u8>, text: &str) {
			bytes.extend_from_slice(&(text.len() as u64).to_le_bytes());
			bytes.extend_from_slice(text.as_bytes());
		}
		let mut bytes = Vec::with_capacity(
			64 + self.tokens.iter().map(|t| t.len() + 12).sum::<usize>()
				+ self.merges.iter().map(|(a, b)| a.len() + b.len() + 16).sum::<usize>()
				+ self.token_types.len() * 8,
		);
		text(&mut bytes, "tributary-tokenizer-v1");
		text(&mut bytes, "gpt2");
		text(&mut bytes, &self.pre);
		bytes.extend_from_slice(&(self.tokens.len() as u64).to_le_bytes());
		for (id, token) in self.tokens.iter().enumerate() {
			bytes.extend_from_slice(&(id as u32).to_le_bytes());
			text(&mut bytes, token);
		}
		bytes.extend_from_slice(&(self.merges.len() as u64).to_le_bytes());
		for (left, right) in &self.merges {
			text(&mut bytes, left);
			text(&mut bytes, right);
		}
		bytes.extend_from_slice(&(self.token_types.len() as u64).to_le_bytes());
		for kind in &self.token_types {
			bytes.extend_from_slice(&kind.to_le_bytes());
		}
		crate::hash::blake2_256(&bytes)
	}

	/// Builds the tokenizer: the vocabulary and merges, control and user-defined tokens as
	/// special tokens, and the pre-tokenizer `pre` names (`smollm`: digits one by one, then
	/// byte-level splitting without a prefix space).
	pub fn build(&self) -> Result<Tokenizer> {
		let vocab: Vocab =
			self.tokens.iter().enumerate().map(|(id, token)| (token.clone(), id as u32)).collect();
		let bpe = BPE::builder()
			.vocab_and_merges(vocab, self.merges.clone())
			.build()
			.map_err(|e| anyhow!("building the BPE model: {e}"))?;
		let mut tokenizer = Tokenizer::new(bpe);
		let byte_level = ByteLevel::new(false, true, true);
		match self.pre.as_str() {
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
		let specials: Vec<AddedToken> = self
			.token_types
			.iter()
			.zip(&self.tokens)
			.filter(|(kind, _)| matches!(kind, 3 | 4))
			.map(|(_, token)| AddedToken::from(token.clone(), true))
			.collect();
		tokenizer.add_special_tokens(&specials);
		Ok(tokenizer)
	}
}

/// Builds the tokenizer a GPT-2-style byte-level BPE GGUF describes ([`TokenizerSpec`]).
pub fn tokenizer(content: &Content) -> Result<Tokenizer> {
	TokenizerSpec::from_gguf(content)?.build()
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
		// The identity providers' indexes are stored under: a change to its serialisation
		// would have every provider rebuild its indexes, so it is pinned (computed separately
		// from the serialisation docs/lora-service.md gives).
		assert_eq!(
			crate::hash::hex(&TokenizerSpec::from_gguf(&content).unwrap().identity()),
			"c42ea78a9bffa8caf774963c1e703efd4e3048c9467d483b382ca10bf2263003"
		);
	}

	/// The identity follows what builds the tokenizer: the same description hashes alike, and
	/// another pre-tokenizer, token, merge or token type hashes otherwise.
	#[test]
	fn a_tokenizer_identity_changes_with_what_builds_the_tokenizer() {
		let content = read(crate::testing::tiny_path()).unwrap();
		let spec = TokenizerSpec::from_gguf(&content).unwrap();
		assert_eq!(TokenizerSpec::from_gguf(&content).unwrap().identity(), spec.identity());
		let changed = |change: fn(&mut TokenizerSpec)| {
			let mut other = spec.clone();
			change(&mut other);
			other.identity()
		};
		let mut identities = vec![
			spec.identity(),
			changed(|s| s.pre = "default".into()),
			changed(|s| s.tokens[200].push('x')),
			changed(|s| s.tokens.swap(10, 11)),
			changed(|s| s.merges.swap(0, 1)),
			// The same text split at another place.
			changed(|s| s.merges[2] = ("Ġ".into(), "the".into())),
			changed(|s| s.token_types[5] = 4),
			changed(|s| s.token_types.clear()),
		];
		identities.sort_unstable();
		identities.dedup();
		assert_eq!(identities.len(), 8, "every change changes the identity");
	}
}
