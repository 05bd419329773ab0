//! Stop strings: generation ends once the decoded output contains one, and the text is cut
//! where the first one begins.

use std::sync::Arc;

use tokenizers::Tokenizer;

use super::StopCheck;

/// A check that ends generation when the output's text contains any of `stops` (none: no
/// check). Only the output's tail is decoded after each token: a stop string that was not
/// there a token ago ends in it.
pub fn check(tokenizer: Arc<Tokenizer>, stops: Vec<String>) -> Option<StopCheck> {
	if stops.is_empty() {
		return None;
	}
	let tail = stops.iter().map(String::len).max().unwrap_or(0) + 8;
	Some(Box::new(move |output: &[u32]| {
		let from = output.len().saturating_sub(tail);
		let text = tokenizer.decode(&output[from..], false).unwrap_or_default();
		stops.iter().any(|stop| text.contains(stop.as_str()))
	}))
}

/// Cuts `text` where the first of `stops` begins.
pub fn truncate(text: &mut String, stops: &[String]) {
	if let Some(at) = stops.iter().filter_map(|stop| text.find(stop.as_str())).min() {
		text.truncate(at);
	}
}

#[cfg(test)]
mod tests {
	use super::*;

	#[test]
	fn the_text_ends_where_the_first_stop_begins() {
		let mut text = "one. two; three.".to_string();
		truncate(&mut text, &[";".into(), ".".into()]);
		assert_eq!(text, "one");
		let mut untouched = "no stop here".to_string();
		truncate(&mut untouched, &["!".into()]);
		assert_eq!(untouched, "no stop here");
	}
}
