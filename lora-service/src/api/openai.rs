//! The request bodies: OpenAI's completions and chat completions (with Tributary's
//! `adapter_hash` and `attribution`), adapter uploads, records and attribution.

use serde::Deserialize;
use serde_json::Value;

pub use crate::chat::ChatMessage;

/// The fields every generation request may carry besides its own.
pub(crate) const GENERATION_FIELDS: [&str; 11] = [
	"temperature",
	"top_p",
	"seed",
	"stop",
	"n",
	"stream",
	"stream_options",
	"user",
	"adapter_hash",
	"attribution",
	"max_tokens",
];

/// `stop`: one string or up to four.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Stop {
	One(String),
	Many(Vec<String>),
}

/// What completions and chat completions share.
#[derive(Deserialize)]
pub struct Generation {
	/// 0 is greedy and deterministic; above 0, sampling (reproducible with `seed`).
	#[serde(default)]
	pub temperature: f32,
	#[serde(default = "one")]
	pub top_p: f32,
	pub seed: Option<u64>,
	pub stop: Option<Stop>,
	/// Only 1 is served.
	pub n: Option<u32>,
	/// Server-sent events, chunk by chunk, as OpenAI streams.
	pub stream: Option<bool>,
	/// `include_usage`: a last chunk with the usage (and the attribution, when asked).
	pub stream_options: Option<StreamOptions>,
	/// Accepted and ignored (OpenAI's end-user id).
	pub user: Option<String>,
	/// The adapter file's expected blake2-256 hash (hex, `0x` optional), as registered on
	/// chain; a mismatch is refused.
	pub adapter_hash: Option<String>,
	/// Attribute the output over these datasets.
	pub attribution: Option<AttributionOptions>,
}

/// What a stream carries besides the text.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
	#[serde(default)]
	pub include_usage: bool,
}

fn one() -> f32 {
	1.0
}

#[derive(Deserialize)]
pub struct CompletionRequest {
	/// `base`, or an adapter id (a directory under `--adapters-dir`).
	pub model: String,
	pub prompt: String,
	#[serde(default = "default_max_tokens")]
	pub max_tokens: usize,
	#[serde(flatten)]
	pub generation: Generation,
}

#[derive(Deserialize)]
pub struct ChatRequest {
	pub model: String,
	pub messages: Vec<ChatMessage>,
	#[serde(alias = "max_completion_tokens")]
	pub max_tokens: Option<usize>,
	#[serde(flatten)]
	pub generation: Generation,
}

/// Which datasets an output is attributed over, and the shortest span that counts.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AttributionOptions {
	pub datasets: Vec<u32>,
	#[serde(default = "default_min_span")]
	pub min_span: usize,
}

fn default_max_tokens() -> usize {
	16
}

fn default_min_span() -> usize {
	8
}

/// The most tokens a chat completion generates when the request does not say.
pub(crate) const CHAT_MAX_TOKENS: usize = 256;

/// An adapter upload: its `adapter_config.json` and its `adapter_model.safetensors` in
/// base64.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdapterUpload {
	pub id: String,
	pub adapter_config: Value,
	pub weights_base64: String,
	/// Refuse the upload unless the weights hash to this (hex blake2-256).
	pub expected_hash: Option<String>,
}

/// A record: its text, or the hash of an uploaded blob (its bytes).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordUpload {
	pub contribution_id: u32,
	pub text: Option<String>,
	pub content_hash: Option<String>,
}

/// One record, or several at once (indexed as one segment).
#[derive(Deserialize)]
#[serde(untagged)]
pub enum RecordsBody {
	Many { records: Vec<RecordUpload> },
	One(RecordUpload),
}

#[derive(Deserialize)]
pub struct AttributionRequest {
	pub text: String,
	#[serde(flatten)]
	pub options: AttributionOptions,
}
