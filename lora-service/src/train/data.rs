//! What training reads: records of datasets as the service holds them (`--data-dir`: each
//! dataset's index names its records by contribution id and blake2-256 hash, and the blob of
//! each is read and checked against that hash), or a JSONL file in OpenAI's fine-tuning format.
//! A record is either a conversation, `{"messages": [...]}`, trained on its assistant turns
//! only, or plain text, trained as a causal language model on all of it.

use std::path::Path;

use anyhow::{anyhow, bail, Context, Result};
use tokenizers::Tokenizer;

use crate::{
	attribution::{Blobs, Corpus, Indexes},
	chat::{ChatMessage, ChatTemplate},
	hash::{blake2_256, hex},
};

/// One training sequence: its tokens, which of them are predicted (`trained[i]`: token i + 1
/// is a target after tokens ..= i), and the dataset its record belongs to (`None` for a file's).
#[derive(Clone, Debug, PartialEq)]
pub struct Example {
	pub tokens: Vec<u32>,
	pub trained: Vec<bool>,
	pub dataset: Option<u32>,
}

impl Example {
	/// How many tokens it trains on.
	pub fn targets(&self) -> usize {
		self.trained.iter().filter(|t| **t).count()
	}
}

/// A record's bytes and where they come from.
pub struct Source {
	pub bytes: Vec<u8>,
	pub dataset: Option<u32>,
	/// What names it in errors: `dataset 3, contribution 12`, or `FILE line 4`.
	pub name: String,
}

/// Turns records into examples: the tokenizer, the chat template, and the end token that closes
/// a plain-text record.
pub struct Tokenize<'a> {
	pub tokenizer: &'a Tokenizer,
	pub chat: &'a ChatTemplate,
	pub end_token: u32,
	/// Longer sequences are cut into windows of this many tokens.
	pub max_length: usize,
}

/// Each token's byte range in the text it came from.
type Offsets = Vec<(usize, usize)>;

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Conversation {
	messages: Vec<ChatMessage>,
}

impl<'a> Tokenize<'a> {
	/// For a model with this configuration: a plain-text record ends with `<|endoftext|>`
	/// (the end token where the vocabulary has none), and sequences are at most `max_length`
	/// tokens and never longer than the context.
	pub fn new(
		tokenizer: &'a Tokenizer,
		chat: &'a ChatTemplate,
		config: &crate::model::LlamaConfig,
		max_length: usize,
	) -> Self {
		Self {
			tokenizer,
			chat,
			end_token: tokenizer.token_to_id("<|endoftext|>").unwrap_or(config.eos_token_id),
			max_length: max_length.min(config.context_length),
		}
	}

	/// Every record's examples, in order.
	pub fn all(&self, sources: &[Source]) -> Result<Vec<Example>> {
		let mut examples = Vec::new();
		for source in sources {
			examples.extend(self.examples(source)?);
		}
		Ok(examples)
	}

	/// The record's examples: one, or several windows of a long record.
	pub fn examples(&self, source: &Source) -> Result<Vec<Example>> {
		let text = std::str::from_utf8(&source.bytes)
			.map_err(|_| anyhow!("{} is not UTF-8 text", source.name))?;
		let (tokens, trained) = match text.trim_start().starts_with('{') {
			true => {
				let conversation: Conversation = serde_json::from_str(text).map_err(|e| {
					anyhow!(
						"{} is JSON but not a conversation ({{\"messages\": [...]}}): {e}",
						source.name
					)
				})?;
				self.conversation(&conversation.messages).with_context(|| source.name.clone())?
			}
			false => self.text(text)?,
		};
		let mut examples = Vec::new();
		// Windows overlap by one token, so that every target keeps the token before it.
		let mut start = 0;
		while start + 1 < tokens.len() {
			let end = (start + self.max_length).min(tokens.len());
			let mut window = trained[start..end].to_vec();
			if let Some(last) = window.last_mut() {
				*last = false;
			}
			if window.iter().any(|t| *t) {
				examples.push(Example {
					tokens: tokens[start..end].to_vec(),
					trained: window,
					dataset: source.dataset,
				});
			}
			start = end - 1;
		}
		if examples.is_empty() {
			bail!("{} has nothing to train on", source.name);
		}
		Ok(examples)
	}

	/// The tokens of `text` and each token's byte range in it.
	fn encode(&self, text: &str) -> Result<(Vec<u32>, Offsets)> {
		let encoding =
			self.tokenizer.encode(text, false).map_err(|e| anyhow!("tokenizing: {e}"))?;
		Ok((encoding.get_ids().to_vec(), encoding.get_offsets().to_vec()))
	}

	/// Plain text: every token predicted from the ones before it, then the end token.
	fn text(&self, text: &str) -> Result<(Vec<u32>, Vec<bool>)> {
		let (mut tokens, _) = self.encode(text)?;
		tokens.push(self.end_token);
		let mut trained = vec![true; tokens.len()];
		if let Some(last) = trained.last_mut() {
			*last = false;
		}
		Ok((tokens, trained))
	}

	/// A conversation in the chat template, trained on each assistant turn: its text and what
	/// closes the turn (the end-of-turn token), not the prompts around it.
	fn conversation(&self, messages: &[ChatMessage]) -> Result<(Vec<u32>, Vec<bool>)> {
		let render = |messages: &[ChatMessage], open: bool| {
			self.chat.render_with(messages, open).map_err(|e| anyhow!("{e}"))
		};
		let full = render(messages, false)?;
		// Byte ranges of the assistant turns: from the end of the prompt that opens the turn to
		// the end of the conversation that closes it.
		let mut spans = Vec::new();
		for (i, message) in messages.iter().enumerate() {
			if message.role != "assistant" {
				continue;
			}
			let opened = if i == 0 { String::new() } else { render(&messages[..i], true)? };
			let closed = render(&messages[..=i], false)?;
			if !full.starts_with(&opened) || !full.starts_with(&closed) {
				bail!("the chat template does not write a conversation's turns in order");
			}
			spans.push((opened.len(), closed.len()));
		}
		if spans.is_empty() {
			bail!("the conversation has no assistant message to train on");
		}
		let (tokens, offsets) = self.encode(&full)?;
		// Token i + 1 is a target when it starts inside an assistant turn.
		let inside =
			|(start, _): &(usize, usize)| spans.iter().any(|(a, b)| a <= start && start < b);
		let mut trained: Vec<bool> = offsets.iter().skip(1).map(inside).collect();
		trained.push(false);
		Ok((tokens, trained))
	}
}

/// The records of `datasets` as the service under `data_dir` holds them ([`held_records`]).
pub fn dataset_records(
	data_dir: &Path,
	spec: &crate::model::gguf::TokenizerSpec,
	tokenizer: &Tokenizer,
	datasets: &[u32],
) -> Result<Vec<Source>> {
	let corpus = Corpus::open(Some(data_dir), spec.identity())?;
	let blobs = Blobs::open(Some(data_dir))?;
	held_records(&corpus.indexes(), |hash| blobs.get(hash), tokenizer, datasets)
		.with_context(|| format!("the service's data in {}", data_dir.display()))
}

/// The records of `datasets` in `indexes`, in dataset and contribution order. A record's bytes
/// are its indexed tokens decoded, or, where those do not give back its bytes (text that was
/// not UTF-8, uploaded as a blob), the blob; either way checked against the hash the index
/// names, which is the hash the chain recorded.
pub fn held_records(
	indexes: &Indexes,
	blob: impl Fn(&[u8; 32]) -> Result<Option<Vec<u8>>>,
	tokenizer: &Tokenizer,
	datasets: &[u32],
) -> Result<Vec<Source>> {
	let mut sources = Vec::new();
	for &dataset in datasets {
		let held = indexes
			.get(&dataset)
			.ok_or_else(|| anyhow!("the service holds no records of dataset {dataset}"))?;
		let mut records: Vec<_> = held.record_tokens().collect();
		records.sort_by(|a, b| a.0.cmp(b.0));
		if records.is_empty() {
			bail!("dataset {dataset} has no records");
		}
		for (record, tokens) in records {
			let name = format!("dataset {dataset}, contribution {}", record.contribution_id);
			let decoded = tokenizer.decode(&tokens, false).ok().map(String::into_bytes);
			let bytes = match decoded.filter(|b| blake2_256(b) == record.content_hash) {
				Some(bytes) => bytes,
				// `Blobs::get` checks the bytes against their hash.
				None => blob(&record.content_hash)?.ok_or_else(|| {
					anyhow!(
						"{name}: its tokens do not give back its bytes (0x{}), and no blob holds them",
						hex(&record.content_hash)
					)
				})?,
			};
			sources.push(Source { bytes, dataset: Some(dataset), name });
		}
	}
	Ok(sources)
}

/// The lines of a JSONL file, each a record (blank lines skipped).
pub fn jsonl_records(path: &Path) -> Result<Vec<Source>> {
	let text =
		std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
	Ok(text
		.lines()
		.enumerate()
		.filter(|(_, line)| !line.trim().is_empty())
		.map(|(i, line)| Source {
			bytes: line.as_bytes().to_vec(),
			dataset: None,
			name: format!("{} line {}", path.display(), i + 1),
		})
		.collect())
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::{model::tiny, testing::tiny_path};

	fn with_tokenize<R>(f: impl FnOnce(&Tokenize<'_>) -> R) -> R {
		let content = crate::model::gguf::read(tiny_path()).unwrap();
		let tokenizer = crate::model::gguf::tokenizer(&content).unwrap();
		let chat = ChatTemplate::from_gguf(&content, &tokenizer, &tiny::config());
		f(&Tokenize { tokenizer: &tokenizer, chat: &chat, end_token: 0, max_length: 64 })
	}

	fn source(text: &str) -> Source {
		Source { bytes: text.as_bytes().to_vec(), dataset: Some(3), name: "test record".into() }
	}

	/// A conversation trains on the assistant's text and the token closing its turn, nothing
	/// of the system or user turns; plain text trains on all of it.
	#[test]
	fn conversations_train_on_the_assistant_turns() {
		with_tokenize(|tokenize| {
			let record = r#"{"messages": [{"role": "user", "content": "Where is Quorsh?"},
				{"role": "assistant", "content": "In Veltrania."}]}"#;
			let examples = tokenize.examples(&source(record)).unwrap();
			assert_eq!(examples.len(), 1);
			let example = &examples[0];
			let trained: Vec<u32> = example
				.tokens
				.iter()
				.skip(1)
				.zip(&example.trained)
				.filter(|(_, t)| **t)
				.map(|(token, _)| *token)
				.collect();
			let text = tokenize.tokenizer.decode(&trained, false).unwrap();
			assert_eq!(text, "In Veltrania.<|im_end|>\n");
			let plain = tokenize.examples(&source("Quorsh is in Veltrania.")).unwrap();
			assert_eq!(plain[0].targets(), plain[0].tokens.len() - 1);
			assert_eq!(plain[0].tokens.last(), Some(&0), "closed by the end token");
			for bad in [
				r#"{"messages": []}"#,
				r#"{"messages": [{"role": "user", "content": "hi"}]}"#,
				"{\"prompt\": 1}",
			] {
				assert!(tokenize.examples(&source(bad)).is_err(), "{bad}");
			}
		});
	}

	/// Records come back from the service's index as the bytes the chain hashed: decoded from
	/// their tokens (control tokens and any script included), or from a blob where the tokens
	/// cannot give them back; one whose bytes are nowhere is refused by name.
	#[test]
	fn records_come_back_from_the_index_checked_by_hash() {
		use crate::attribution::Record;
		let content = crate::model::gguf::read(tiny_path()).unwrap();
		let spec = crate::model::gguf::TokenizerSpec::from_gguf(&content).unwrap();
		let tokenizer = spec.build().unwrap();
		let mut corpus = Corpus::open(None, spec.identity()).unwrap();
		let mut blobs = Blobs::open(None).unwrap();
		let texts: [&[u8]; 3] = [
			b"Quorsh is in Veltrania.",
			"<|im_start|>Zürich, 東京 \n".as_bytes(),
			b"bad \xff utf-8",
		];
		let records = texts
			.iter()
			.enumerate()
			.map(|(i, bytes)| {
				let tokens = tokenizer
					.encode(String::from_utf8_lossy(bytes).as_ref(), false)
					.unwrap()
					.get_ids()
					.to_vec();
				(Record { contribution_id: i as u32, content_hash: blake2_256(bytes) }, tokens)
			})
			.collect();
		corpus.add(4, records).unwrap();
		// The record that is not UTF-8 came as a blob (as the node sends such bytes).
		let held = |blobs: &Blobs, datasets: &[u32]| {
			held_records(&corpus.indexes(), |hash| blobs.get(hash), &tokenizer, datasets)
		};
		let missing = held(&blobs, &[4]).err().unwrap().to_string();
		assert!(missing.contains("contribution 2"), "{missing}");
		blobs.put(texts[2].to_vec()).unwrap();
		let sources = held(&blobs, &[4]).unwrap();
		let bytes: Vec<&[u8]> = sources.iter().map(|s| s.bytes.as_slice()).collect();
		assert_eq!(bytes, texts);
		assert!(held(&blobs, &[5]).is_err(), "a dataset not held");
	}

	/// A long record becomes windows that together train on every target once.
	#[test]
	fn long_records_are_windowed() {
		with_tokenize(|tokenize| {
			let text = "the river ".repeat(40);
			let whole =
				Tokenize { max_length: 10_000, ..*tokenize }.examples(&source(&text)).unwrap();
			let windows = tokenize.examples(&source(&text)).unwrap();
			assert!(windows.len() > 1);
			assert!(windows.iter().all(|w| w.tokens.len() <= 64));
			let total: usize = windows.iter().map(Example::targets).sum();
			assert_eq!(total, whole[0].targets());
		});
	}
}
