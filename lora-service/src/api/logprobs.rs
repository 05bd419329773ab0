//! Log-probabilities in OpenAI's two shapes: chat's `{"content": [{token, logprob, bytes,
//! top_logprobs}]}` and the legacy completions' `{tokens, token_logprobs, top_logprobs,
//! text_offset}`. A token's text is its own bytes (exact, from the byte-level vocabulary),
//! decoded leniently: a token that holds part of a character shows U+FFFD, and `bytes` has the
//! part.

use std::{collections::HashMap, sync::OnceLock};

use serde_json::{json, Map, Value};
use tokenizers::Tokenizer;

use crate::scheduler::TokenLogprobs;

/// The bytes of token `id`, as the byte-level decoder reads them: its vocabulary entry read
/// back through GPT-2's byte-to-character table (every byte-level BPE vocabulary is written in
/// it), or, for an entry with a character outside the table (an added token's), its own UTF-8.
pub(crate) fn token_bytes(tokenizer: &Tokenizer, id: u32) -> Vec<u8> {
	let Some(entry) = tokenizer.id_to_token(id) else { return Vec::new() };
	let table = byte_of_char();
	entry
		.chars()
		.map(|c| table.get(&c).copied())
		.collect::<Option<Vec<u8>>>()
		.unwrap_or_else(|| entry.into_bytes())
}

/// GPT-2's `bytes_to_unicode`, inverted: printable Latin-1 bytes stand for themselves, the
/// other 68 for the characters from U+0100 on, in byte order.
fn byte_of_char() -> &'static HashMap<char, u8> {
	static TABLE: OnceLock<HashMap<char, u8>> = OnceLock::new();
	TABLE.get_or_init(|| {
		let printable =
			|b: u8| (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || b >= 0xAE;
		let mut next = 256u32;
		(0..=255u8)
			.map(|b| {
				let c = match printable(b) {
					true => u32::from(b),
					false => {
						next += 1;
						next - 1
					}
				};
				(char::from_u32(c).unwrap_or(char::REPLACEMENT_CHARACTER), b)
			})
			.collect()
	})
}

/// A log-probability JSON can hold: OpenAI's -9999 for one too small for f32.
fn finite(logprob: f32) -> f32 {
	match logprob.is_finite() {
		true => logprob,
		false => -9999.0,
	}
}

fn entry(tokenizer: &Tokenizer, id: u32, logprob: f32) -> Map<String, Value> {
	let bytes = token_bytes(tokenizer, id);
	let mut entry = Map::new();
	entry.insert("token".into(), json!(String::from_utf8_lossy(&bytes)));
	entry.insert("logprob".into(), json!(finite(logprob)));
	entry.insert("bytes".into(), json!(bytes));
	entry
}

/// Chat's `logprobs` of a choice (or of a chunk's tokens).
pub(super) fn chat(tokenizer: &Tokenizer, tokens: &[TokenLogprobs]) -> Value {
	let content: Vec<Value> = tokens
		.iter()
		.map(|t| {
			let mut chosen = entry(tokenizer, t.token, t.logprob);
			let top: Vec<Value> =
				t.top.iter().map(|(id, lp)| Value::Object(entry(tokenizer, *id, *lp))).collect();
			chosen.insert("top_logprobs".into(), json!(top));
			Value::Object(chosen)
		})
		.collect();
	json!({ "content": content, "refusal": null })
}

/// The legacy completions' `logprobs` of a choice (or of a chunk's tokens), whose text begins
/// `offset` characters into the completion. `text_offset` counts the characters (as Python
/// does) that the tokens before each begin (exact for text that is valid UTF-8); `top_logprobs` maps each alternative's text to its
/// log-probability (two alternatives with the same text share a key, as in OpenAI's, which
/// holds the more likely one's). Returns
/// it with the offset where the tokens' text ends (the next chunk's).
pub(super) fn completion(
	tokenizer: &Tokenizer,
	tokens: &[TokenLogprobs],
	offset: usize,
) -> (Value, usize) {
	let mut texts = Vec::with_capacity(tokens.len());
	let mut offsets = Vec::with_capacity(tokens.len());
	let mut chars = offset;
	for t in tokens {
		let bytes = token_bytes(tokenizer, t.token);
		offsets.push(chars);
		// A character begins at each byte that does not continue one.
		chars += bytes.iter().filter(|b| (**b & 0xC0) != 0x80).count();
		texts.push(String::from_utf8_lossy(&bytes).into_owned());
	}
	let top: Vec<Value> = tokens
		.iter()
		.map(|t| {
			let mut alternatives = Map::new();
			for (id, lp) in &t.top {
				let text = String::from_utf8_lossy(&token_bytes(tokenizer, *id)).into_owned();
				alternatives.entry(text).or_insert_with(|| json!(finite(*lp)));
			}
			Value::Object(alternatives)
		})
		.collect();
	let logprobs = json!({
		"tokens": texts,
		"token_logprobs": tokens.iter().map(|t| finite(t.logprob)).collect::<Vec<_>>(),
		"top_logprobs": top,
		"text_offset": offsets,
	});
	(logprobs, chars)
}

#[cfg(test)]
mod tests {
	use super::*;

	/// The table is GPT-2's: 256 characters, one per byte, and the vocabulary's space marker
	/// `Ġ` (U+0120) is byte 0x20.
	#[test]
	fn the_byte_level_table_is_gpt2s() {
		let table = byte_of_char();
		assert_eq!(table.len(), 256);
		let mut bytes: Vec<u8> = table.values().copied().collect();
		bytes.sort_unstable();
		assert_eq!(bytes, (0..=255).collect::<Vec<u8>>());
		assert_eq!(table[&'Ġ'], b' ');
		assert_eq!(table[&'Ċ'], b'\n');
		assert_eq!(table[&'A'], b'A');
		assert_eq!(table[&'\u{100}'], 0);
	}
}
