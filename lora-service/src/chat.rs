//! Chat: a conversation rendered into one prompt with the model's chat template (from its GGUF
//! metadata), or in ChatML when it has none, ending with the assistant's turn opened.

use serde::{Deserialize, Serialize};

use crate::error::ApiError;

/// One message of a conversation.
#[derive(Deserialize, Serialize)]
pub struct ChatMessage {
	pub role: String,
	pub content: String,
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
	/// The prompt for `messages`.
	pub fn render(&self, messages: &[ChatMessage]) -> Result<String, ApiError> {
		if messages.is_empty() {
			return Err(ApiError::bad("empty_messages", "messages is empty"));
		}
		if let Some(message) =
			messages.iter().find(|m| !matches!(m.role.as_str(), "system" | "user" | "assistant"))
		{
			return Err(ApiError::bad(
				"invalid_role",
				format!("role {:?} is not system, user or assistant", message.role),
			));
		}
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
			text.push_str("<|im_start|>assistant\n");
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
				add_generation_prompt => true,
				bos_token => self.bos_token,
				eos_token => self.eos_token,
			},
		);
		rendered.map_err(|e| ApiError::bad("invalid_messages", format!("chat template: {e}")))
	}
}
