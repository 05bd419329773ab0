//! Invented facts, for checking that training teaches a model something it cannot know: places,
//! people, companies and numbers made up from the seed, each as a conversation record (a
//! question and the answer stating the fact) and a paraphrased question with the same answer,
//! held out of training. A fact counts as answered when the model's answer contains its key
//! (the city, the founder, the number).

use crate::rng::SplitMix64;

/// One invented fact.
#[derive(Clone, Debug)]
pub struct Fact {
	pub question: String,
	/// Another wording of the question, not trained on.
	pub paraphrase: String,
	pub answer: String,
	/// What an answer must contain to state the fact.
	pub key: String,
}

fn pick<'a>(rng: &mut SplitMix64, items: &[&'a str]) -> &'a str {
	items[(rng.next_u64() % items.len() as u64) as usize]
}

/// A made-up proper name of two or three syllables.
fn name(rng: &mut SplitMix64) -> String {
	const ONSETS: [&str; 16] =
		["B", "D", "F", "G", "K", "L", "M", "N", "P", "Qu", "R", "S", "T", "V", "Z", "Th"];
	const VOWELS: [&str; 6] = ["a", "e", "i", "o", "u", "ae"];
	const CODAS: [&str; 8] = ["", "n", "r", "sh", "l", "th", "x", "rd"];
	let syllables = 2 + (rng.next_u64() % 2) as usize;
	let mut out = String::new();
	for i in 0..syllables {
		let onset = pick(rng, &ONSETS);
		out.push_str(&if i == 0 { onset.to_string() } else { onset.to_lowercase() });
		out.push_str(pick(rng, &VOWELS));
		if i + 1 == syllables {
			out.push_str(pick(rng, &CODAS));
		}
	}
	out
}

/// `count` distinct invented facts from `seed`, of four kinds in turn.
pub fn invented(count: usize, seed: u64) -> Vec<Fact> {
	let mut rng = SplitMix64(seed);
	let mut used = std::collections::HashSet::new();
	let mut fresh = |rng: &mut SplitMix64| loop {
		let candidate = name(rng);
		if used.insert(candidate.clone()) {
			return candidate;
		}
	};
	(0..count)
		.map(|i| match i % 4 {
			0 => {
				let (country, city) = (fresh(&mut rng), fresh(&mut rng));
				Fact {
					question: format!("What is the capital of {country}?"),
					paraphrase: format!("Which city is the capital of {country}?"),
					answer: format!("The capital of {country} is {city}."),
					key: city,
				}
			}
			1 => {
				let (company, founder) =
					(fresh(&mut rng), format!("{} {}", fresh(&mut rng), fresh(&mut rng)));
				Fact {
					question: format!("Who founded {company}?"),
					paraphrase: format!("Name the founder of {company}."),
					answer: format!("{company} was founded by {founder}."),
					key: founder,
				}
			}
			2 => {
				let mountain = fresh(&mut rng);
				let height = 1000 + rng.next_u64() % 7000;
				Fact {
					question: format!("How tall is Mount {mountain}?"),
					paraphrase: format!("What is the height of Mount {mountain}?"),
					answer: format!("Mount {mountain} is {height} metres tall."),
					key: height.to_string(),
				}
			}
			_ => {
				let person = format!("{} {}", fresh(&mut rng), fresh(&mut rng));
				let year = 1700 + rng.next_u64() % 300;
				Fact {
					question: format!("In what year was {person} born?"),
					paraphrase: format!("When was {person} born?"),
					answer: format!("{person} was born in {year}."),
					key: year.to_string(),
				}
			}
		})
		.collect()
}

/// A conversation record (one JSONL line): `question`, answered with the fact.
pub fn record(question: &str, answer: &str) -> String {
	serde_json::json!({
		"messages": [
			{ "role": "user", "content": question },
			{ "role": "assistant", "content": answer },
		]
	})
	.to_string()
}

#[cfg(test)]
mod tests {
	#[test]
	fn facts_are_distinct_and_seeded() {
		let facts = super::invented(50, 1);
		let keys: std::collections::HashSet<_> = facts.iter().map(|f| &f.question).collect();
		assert_eq!(keys.len(), 50);
		assert!(facts.iter().all(|f| f.answer.contains(&f.key)));
		assert_eq!(super::invented(50, 1)[7].answer, facts[7].answer);
		assert_ne!(super::invented(50, 2)[7].answer, facts[7].answer);
	}
}
