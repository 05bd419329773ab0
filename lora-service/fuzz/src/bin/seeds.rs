//! Writes the parser fuzz target's seeds into the directory given: the tiny model's GGUF, a
//! random adapter for it, a segment file, and a body for each route, each behind the selector
//! byte `tributary_lora::fuzzing::run` reads. The same files every time.

use std::path::PathBuf;

use tributary_lora::{
	adapters::random,
	attribution::{Record, Segment},
	model::tiny,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
	let out = PathBuf::from(std::env::args().nth(1).ok_or("usage: lora-seeds DIR")?);
	std::fs::create_dir_all(&out)?;
	let scratch = std::env::temp_dir().join(format!("lora-seeds-{}", std::process::id()));
	std::fs::create_dir_all(&scratch)?;
	let write = |name: &str, selector: &[u8], bytes: &[u8]| {
		std::fs::write(out.join(name), [selector, bytes].concat())
	};

	tiny::write(&scratch.join("tiny.gguf"), 7)?;
	write("gguf", &[0], &std::fs::read(scratch.join("tiny.gguf"))?)?;

	let config = random::config(1, 2);
	let weights = random::safetensors(random::Shape::of(&tiny::config()), 1, 3);
	let length = u16::try_from(config.len())?.to_le_bytes();
	write("adapter", &[1], &[&length[..], config.as_bytes(), &weights].concat())?;

	let record = |id: u32, tokens: Vec<u32>| {
		(Record { contribution_id: id, content_hash: [id as u8; 32] }, tokens)
	};
	let segment = Segment::build(vec![record(1, vec![5, 6, 7, 8]), record(2, vec![6, 7, 9])])?;
	segment.write(&scratch.join("segment"))?;
	write("segment", &[2], &std::fs::read(scratch.join("segment"))?)?;

	let bodies = [
		(
			0,
			r#"{"model":"base","prompt":"hi","max_tokens":4,"temperature":0.5,"top_p":0.9,"seed":1,"stop":["x"],"frequency_penalty":0}"#,
		),
		(
			0,
			r#"{"model":"a","prompt":[1,2,3],"stream":true,"stream_options":{"include_usage":true},"attribution":{"datasets":[1],"min_span":8}}"#,
		),
		(
			1,
			r#"{"model":"base","messages":[{"role":"developer","content":[{"type":"text","text":"be brief"}]},{"role":"user","content":"hi"}],"response_format":{"type":"text"}}"#,
		),
		(2, r#"{"text":"the river","datasets":[1,2],"min_span":4}"#),
		(
			3,
			r#"{"id":"a","adapter_config":{"r":4,"lora_alpha":8},"weights_base64":"AAAA","expected_hash":"0x00"}"#,
		),
		(
			4,
			r#"{"records":[{"contribution_id":1,"text":"a record"},{"contribution_id":2,"content_hash":"0x00"}]}"#,
		),
		(
			5,
			r#"{"model":"a","adapter_hash":"0x00","prompt":"hi","output_hex":"0xff20","max_tokens":4,"truncated":true,"prompt_tokens":1,"completion_tokens":2,"attribution":{"datasets":[1],"records":[{"dataset_id":1,"contribution_id":0,"score_ppm":1000000}],"max_records":16,"as_of":[{"dataset_id":1,"next_contribution_id":3,"excluded":[1]}]}}"#,
		),
	];
	for (index, (route, body)) in bodies.iter().enumerate() {
		write(&format!("body-{index}"), &[3, *route], body.as_bytes())?;
	}
	std::fs::remove_dir_all(scratch).ok();
	println!("seeds written to {}", out.display());
	Ok(())
}
