//! The parser fuzz target's entry point (`fuzz/`, built with the `fuzzing` feature): what reaches
//! the service from outside — a GGUF file's header and metadata (config, tokenizer, control
//! tokens), a PEFT adapter (its config and safetensors weights), a segment file, and the body
//! of each route that takes JSON — parsed from arbitrary bytes. Each must answer an error, never
//! panic; a panic is the fuzzer's finding.

use std::io::Cursor;

use candle_core::{quantized::gguf_file::Content, Device};

use crate::{
	adapters::Adapter,
	attribution::Segment,
	model::{gguf, tiny, LlamaConfig},
};

/// Parses `data` with the parser its first byte picks.
pub fn run(data: &[u8]) {
	let Some((&selector, data)) = data.split_first() else { return };
	match selector % 4 {
		0 => gguf_file(data),
		1 => adapter(data),
		2 => {
			let _ = Segment::from_bytes(data);
		}
		_ => {
			if let Some((&route, body)) = data.split_first() {
				let _ = crate::api::check_body(route, body);
			}
		}
	}
}

fn gguf_file(data: &[u8]) {
	let Ok(content) = Content::read(&mut Cursor::new(data)) else { return };
	let _ = LlamaConfig::from_gguf(&content);
	let _ = gguf::tokenizer(&content);
	let _ = gguf::control_tokens(&content);
}

/// The first two bytes give the length of `adapter_config.json`; the weights follow it.
fn adapter(data: &[u8]) {
	if data.len() < 2 {
		return;
	}
	let length = usize::from(u16::from_le_bytes([data[0], data[1]]));
	let rest = &data[2..];
	let (settings, weights) = rest.split_at(length.min(rest.len()));
	let _ = Adapter::from_bytes(settings, weights, &tiny::config(), &Device::Cpu);
}
