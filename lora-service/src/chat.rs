//! Chat: a conversation rendered into one prompt with the model's chat template (from its GGUF
//! metadata), or in ChatML when it has none, ending with the assistant's turn opened.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// One message of a conversation: its role and its text (a message whose content is a list
/// of parts has the text of its text parts, one per line; other parts are refused).
#[derive(Deserialize, Serialize)]
#[serde(try_from = "RawMessage")]
pub struct ChatMessage {
	pub role: String,
	pub content: String,
}

/// A message as OpenAI's clients send it.
#[derive(Deserialize)]
struct RawMessage {
	role: String,
	content: Content,
	/// Accepted and ignored (a participant's name).
	#[serde(default)]
	#[allow(dead_code)]
	name: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Content {
	Text(String),
	Parts(Vec<Part>),
}

#[derive(Deserialize)]
struct Part {
	#[serde(rename = "type")]
	kind: String,
	text: Option<String>,
}

impl TryFrom<RawMessage> for ChatMessage {
	type Error = String;

	fn try_from(raw: RawMessage) -> Result<Self, String> {
		let content = match raw.content {
			Content::Text(text) => text,
			Content::Parts(parts) => parts
				.into_iter()
				.map(|part| match (part.kind.as_str(), part.text) {
					("text", Some(text)) => Ok(text),
					(kind, _) => {
						Err(format!("content parts of type {kind:?} are not served (text only)"))
					}
				})
				.collect::<Result<Vec<_>, _>>()?
				.join("\n"),
		};
		Ok(Self { role: raw.role, content })
	}
}

/// How the model's conversations are written.
pub struct ChatTemplate {
	/// The Jinja template; ChatML when `None`.
	pub template: Option<String>,
	/// The control tokens' texts, refused inside messages (they would forge turns).
	pub control_texts: Vec<String>,
	pub bos_token: String,
	pub eos_token: String,
}

impl ChatTemplate {
	/// The template a GGUF file's metadata holds (ChatML without one), with its control tokens.
	pub fn from_gguf(
		content: &candle_core::quantized::gguf_file::Content,
		tokenizer: &tokenizers::Tokenizer,
		config: &crate::model::LlamaConfig,
	) -> Self {
		let template = match content.metadata.get("tokenizer.chat_template") {
			Some(candle_core::quantized::gguf_file::Value::String(t)) => Some(t.clone()),
			_ => None,
		};
		Self {
			template,
			control_texts: crate::model::gguf::control_tokens(content)
				.into_iter()
				.map(|(_, text)| text)
				.collect(),
			bos_token: tokenizer.id_to_token(config.bos_token_id).unwrap_or_default(),
			eos_token: tokenizer.id_to_token(config.eos_token_id).unwrap_or_default(),
		}
	}

	/// The prompt for `messages`.
	pub fn render(&self, messages: &[ChatMessage]) -> Result<String, ApiError> {
		self.render_with(messages, true)
	}

	/// `messages` as the template writes them, ending with the assistant's turn opened when
	/// `add_generation_prompt` (a prompt), or after the last message (a conversation to train
	/// on).
	pub fn render_with(
		&self,
		messages: &[ChatMessage],
		add_generation_prompt: bool,
	) -> Result<String, ApiError> {
		if messages.is_empty() {
			return Err(ApiError::bad("empty_messages", "messages is empty"));
		}
		if let Some(message) = messages
			.iter()
			.find(|m| !matches!(m.role.as_str(), "system" | "developer" | "user" | "assistant"))
		{
			return Err(ApiError::bad(
				"invalid_role",
				format!("role {:?} is not system, developer, user or assistant", message.role),
			));
		}
		// OpenAI's `developer` messages are what templates know as `system`.
		let renamed: Vec<ChatMessage>;
		let messages = match messages.iter().any(|m| m.role == "developer") {
			true => {
				renamed = messages
					.iter()
					.map(|m| ChatMessage {
						role: if m.role == "developer" { "system".into() } else { m.role.clone() },
						content: m.content.clone(),
					})
					.collect();
				&renamed[..]
			}
			false => messages,
		};
		if let Some(control) = messages
			.iter()
			.find_map(|m| self.control_texts.iter().find(|text| m.content.contains(text.as_str())))
		{
			return Err(ApiError::bad(
				"invalid_messages",
				format!("a message contains the control token {control}"),
			));
		}
		let Some(template) = &self.template else {
			let mut text: String = messages
				.iter()
				.map(|m| format!("<|im_start|>{}\n{}<|im_end|>\n", m.role, m.content))
				.collect();
			if add_generation_prompt {
				text.push_str("<|im_start|>assistant\n");
			}
			return Ok(text);
		};
		let mut env = minijinja::Environment::new();
		env.add_function(
			"raise_exception",
			|message: String| -> Result<String, minijinja::Error> {
				Err(minijinja::Error::new(minijinja::ErrorKind::InvalidOperation, message))
			},
		);
		let rendered = env.render_str(
			template,
			minijinja::context! {
				messages => messages,
				add_generation_prompt => add_generation_prompt,
				bos_token => self.bos_token,
				eos_token => self.eos_token,
			},
		);
		rendered.map_err(|e| ApiError::bad("invalid_messages", format!("chat template: {e}")))
	}
}
