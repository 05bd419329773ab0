//! The request bodies: OpenAI's completions and chat completions (with Tributary's
//! `adapter_hash` and `attribution`), adapter uploads, records and attribution.

use serde::Deserialize;
use serde_json::Value;

pub use crate::chat::ChatMessage;

/// The fields every generation request may carry besides its own.
pub(crate) const GENERATION_FIELDS: [&str; 28] = [
	"temperature",
	"top_p",
	"seed",
	"stop",
	"n",
	"stream",
	"stream_options",
	"user",
	"adapter_hash",
	"adapter_uri",
	"attribution",
	"max_output_bytes",
	"max_tokens",
	"logprobs",
	"top_logprobs",
	// OpenAI's fields the service does not implement: taken at their neutral values.
	"frequency_penalty",
	"presence_penalty",
	"response_format",
	"logit_bias",
	"echo",
	"best_of",
	"suffix",
	"tools",
	"tool_choice",
	"parallel_tool_calls",
	"store",
	"metadata",
	"service_tier",
];

/// `stop`: one string or up to four.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Stop {
	One(String),
	Many(Vec<String>),
}

/// What completions and chat completions share. Every field may be given as `null`.
#[derive(Deserialize)]
pub struct Generation {
	/// 0 (the default) is greedy and deterministic; above 0, sampling (reproducible with
	/// `seed`).
	pub temperature: Option<f32>,
	/// 1 by default.
	pub top_p: Option<f32>,
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
	/// The adapter's expected hash (hex, `0x` optional), as registered on chain; a mismatch
	/// is refused.
	pub adapter_hash: Option<String>,
	/// Where the adapter is published (`https://`, `http://`, `file://`, `ipfs://`): a service
	/// that lacks the adapter with `adapter_hash` fetches it from there, checks its hash and
	/// keeps it (`adapters::resident`).
	pub adapter_uri: Option<String>,
	/// Attribute the output over these datasets.
	pub attribution: Option<AttributionOptions>,
	/// End generation (`finish_reason: "length"`) before a token that would take the output
	/// past this many bytes: the chain's bound on a result's output, so that the output is
	/// never cut and every token of it can be verified.
	pub max_output_bytes: Option<usize>,
	/// Chat: `true` for each token's log-probability. Completions: the number of most likely
	/// alternatives to report with each token's, 0–20 (`validate::logprobs`).
	pub logprobs: Option<Value>,
	/// Chat: the number of most likely alternatives with each token's, 0–20.
	pub top_logprobs: Option<Value>,
	#[serde(flatten)]
	pub unsupported: Unsupported,
}

/// OpenAI's fields the service does not implement. Each is accepted at its neutral value,
/// which changes nothing (a penalty of 0, `echo: false`, `response_format: {"type":
/// "text"}`, no tools…), and refused with 400 otherwise (`validate::neutral`).
#[derive(Deserialize, Default)]
pub struct Unsupported {
	pub frequency_penalty: Option<Value>,
	pub presence_penalty: Option<Value>,
	pub response_format: Option<Value>,
	pub logit_bias: Option<Value>,
	pub echo: Option<Value>,
	pub best_of: Option<Value>,
	pub suffix: Option<Value>,
	pub tools: Option<Value>,
	pub tool_choice: Option<Value>,
	pub parallel_tool_calls: Option<Value>,
	pub store: Option<Value>,
	pub metadata: Option<Value>,
	pub service_tier: Option<Value>,
}

/// What a stream carries besides the text.
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamOptions {
	#[serde(default)]
	pub include_usage: bool,
}

/// A completion's prompt: text, or token ids, or either in a list of one.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum Prompt {
	Text(String),
	Tokens(Vec<u32>),
	Texts(Vec<String>),
	TokenLists(Vec<Vec<u32>>),
}

#[derive(Deserialize)]
pub struct CompletionRequest {
	/// `base`, or an adapter id (a directory under `--adapters-dir`).
	pub model: String,
	pub prompt: Prompt,
	/// 16 by default.
	pub max_tokens: Option<usize>,
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

/// The most tokens a completion generates when the request does not say.
pub(crate) const COMPLETION_MAX_TOKENS: usize = 16;

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
	/// Refuse the upload unless the adapter's hash (its weights and settings, as
	/// `tributary-lora adapter hash` prints it) is this (hex).
	pub expected_hash: Option<String>,
}

/// A record: its text, the hash of an uploaded blob (its bytes), or both (the text, refused
/// unless its blake2-256 is the hash).
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

/// `POST /v1/verify`: a claimed greedy completion of `prompt` by `model` (an adapter id, with
/// its hash and URI as completions take them, or `base`).
#[derive(Deserialize)]
pub struct VerifyRequest {
	pub model: String,
	pub adapter_hash: Option<String>,
	pub adapter_uri: Option<String>,
	pub prompt: String,
	/// The output as text, or its bytes as 0x-prefixed hex (`output_hex`) when they are not
	/// UTF-8: one of the two.
	pub output: Option<String>,
	pub output_hex: Option<String>,
	pub max_tokens: usize,
	/// The output was cut after generation, at the last character boundary within
	/// `max_output_bytes` (required with it).
	#[serde(default)]
	pub truncated: bool,
	/// The bound on the output's bytes: generation ended before a token that would pass it
	/// (the completion's `max_output_bytes`), or the output was cut at it (`truncated`).
	pub max_output_bytes: Option<usize>,
	/// The token counts claimed.
	pub prompt_tokens: usize,
	pub completion_tokens: usize,
	pub attribution: Option<ClaimedAttribution>,
}

/// A claimed attribution: the datasets and span length it was computed with, the records it
/// credits, how many it keeps, and which records it was computed over.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimedAttribution {
	#[serde(flatten)]
	pub options: AttributionOptions,
	pub records: Vec<ClaimedRecord>,
	/// The claim keeps only this many best-scored records (ties to the lower dataset, then
	/// contribution), as the chain does; all when absent.
	pub max_records: Option<usize>,
	/// The datasets as they stood when the claim was made.
	#[serde(default)]
	pub as_of: Vec<DatasetAsOf>,
}

/// A credited record of a claim.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimedRecord {
	pub dataset_id: u32,
	pub contribution_id: u32,
	pub score_ppm: u32,
}

/// A dataset as it stood: its records issued before `next_contribution_id`, but for
/// `excluded` (those not accepted then).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatasetAsOf {
	pub dataset_id: u32,
	pub next_contribution_id: u32,
	#[serde(default)]
	pub excluded: Vec<u32>,
}
