//! Every dataset's index, kept between runs under `--data-dir` (without one, in memory only).
//!
//! Layout: `datasets/<id>/manifest.json` (`{"segments": [...], "next": n, "tokenizer":
//! "0x…"}`) beside the segment files it names. Files are written beside their final name and
//! renamed into place, and the manifest is replaced only after the segments it names are
//! written, and the files it no longer names are removed only after it is, so a crash leaves
//! the previous state readable. A dataset left without records loses its manifest first, then
//! its directory: a directory without a manifest is skipped.
//!
//! Segments hold token ids, which mean something only under the tokenizer that produced them,
//! so each manifest names that tokenizer's identity (`gguf::TokenizerSpec::identity`), and a
//! corpus holding an index built for another is refused when opened. So is a manifest that
//! names none (written before identities were recorded): nothing tells which tokenizer built
//! it, and one built by another would credit the wrong records without any error. The
//! operator deletes the directories the refusal names, and the provider's node uploads those
//! datasets' records again.

use std::{
	collections::{HashMap, HashSet},
	path::{Path, PathBuf},
	time::Instant,
};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::{DatasetIndex, Record, Segment};
use crate::hash::{hex, parse_hash};

/// Segments this large or larger are logged when built or loaded.
const LOG_TOKENS: usize = 1_000_000;

#[derive(Serialize, Deserialize, Default)]
struct Manifest {
	segments: Vec<String>,
	next: u64,
	/// The identity of the tokenizer the segments' tokens come from, `0x` and hex; absent from
	/// manifests written before it was recorded.
	#[serde(default)]
	tokenizer: Option<String>,
}

/// Datasets' indexes by dataset id.
pub type Indexes = HashMap<u32, DatasetIndex>;

/// A dataset's index, its segment files and the contributions it holds.
#[derive(Default)]
pub struct Dataset {
	pub index: DatasetIndex,
	files: Vec<String>,
	next: u64,
	contributions: HashSet<u32>,
}

/// Every dataset's index, persisted under a directory if one is given.
pub struct Corpus {
	dir: Option<PathBuf>,
	datasets: HashMap<u32, Dataset>,
	/// The identity of the tokenizer records are tokenized with.
	tokenizer: [u8; 32],
}

/// Why records were not added.
#[derive(Debug)]
pub enum AddError {
	Duplicate(u32),
	/// The records could not be indexed; nothing changed.
	Failed(anyhow::Error),
	/// The records are indexed, but writing the index to disk failed.
	Unwritable(anyhow::Error),
}

/// Why records were not removed.
#[derive(Debug)]
pub enum RemoveError {
	/// A segment could not be rebuilt without them; nothing changed.
	Failed(anyhow::Error),
	/// The records `removed` are out of the index, but writing it to disk failed.
	Unwritable { removed: Vec<u32>, error: anyhow::Error },
}

impl Corpus {
	/// Opens the corpus under `dir` (created if missing), loading every dataset's segments, or
	/// an empty corpus in memory, for records tokenized by the tokenizer whose identity is
	/// `tokenizer`. Refused, naming every such dataset's directory, when any dataset's manifest
	/// names another tokenizer or none.
	pub fn open(dir: Option<&Path>, tokenizer: [u8; 32]) -> Result<Self> {
		let mut corpus =
			Self { dir: dir.map(|d| d.join("datasets")), datasets: HashMap::new(), tokenizer };
		let Some(root) = corpus.dir.clone() else { return Ok(corpus) };
		std::fs::create_dir_all(&root).with_context(|| format!("creating {}", root.display()))?;
		let started = Instant::now();
		let mut ids: Vec<u32> = std::fs::read_dir(&root)?
			.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
			.collect();
		ids.sort_unstable();
		let mut foreign = Vec::new();
		for (n, id) in ids.iter().enumerate() {
			let dir = root.join(id.to_string());
			let manifest: Manifest = match std::fs::read(dir.join("manifest.json")) {
				Ok(bytes) => serde_json::from_slice(&bytes)
					.with_context(|| format!("reading {}/manifest.json", dir.display()))?,
				Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
				Err(e) => return Err(e.into()),
			};
			if manifest.tokenizer.as_deref().and_then(parse_hash) != Some(tokenizer) {
				let named =
					manifest.tokenizer.as_deref().unwrap_or("no tokenizer (an older index)");
				foreign.push(format!("{} (built for {named})", dir.display()));
				continue;
			}
			let mut segments = Vec::with_capacity(manifest.segments.len());
			for name in &manifest.segments {
				let segment = Segment::read(&dir.join(name))
					.with_context(|| format!("reading {}/{name}", dir.display()))?;
				segments.push(segment);
			}
			let index = DatasetIndex::from_segments(segments);
			let contributions = index.records().map(|r| r.contribution_id).collect();
			tracing::info!(
				dataset = id,
				records = index.records().count(),
				tokens = index.len(),
				segments = manifest.segments.len(),
				"loaded dataset index {}/{}",
				n + 1,
				ids.len()
			);
			corpus.datasets.insert(
				*id,
				Dataset { index, files: manifest.segments, next: manifest.next, contributions },
			);
		}
		if !foreign.is_empty() {
			bail!(
				"dataset indexes built for another tokenizer than the model's (0x{}): {}. Their \
				 token ids would credit the wrong records. Delete these directories and the \
				 provider's node uploads their datasets' records again, or serve the model they \
				 were built for",
				hex(&tokenizer),
				foreign.join(", ")
			);
		}
		if !ids.is_empty() {
			tracing::info!(
				datasets = corpus.datasets.len(),
				"dataset indexes loaded in {:.2?}",
				started.elapsed()
			);
		}
		Ok(corpus)
	}

	/// Every dataset's index as it is now: a pointer per segment to copy.
	pub fn indexes(&self) -> Indexes {
		self.datasets.iter().map(|(id, dataset)| (*id, dataset.index.clone())).collect()
	}

	pub fn get(&self, dataset: u32) -> Option<&Dataset> {
		self.datasets.get(&dataset)
	}

	pub fn datasets(&self) -> impl Iterator<Item = (&u32, &Dataset)> {
		self.datasets.iter()
	}

	/// Adds tokenized records to `dataset`'s index (none of their contributions may be there
	/// already, nor repeat) and stores the changed segments.
	pub fn add(&mut self, dataset: u32, records: Vec<(Record, Vec<u32>)>) -> Result<(), AddError> {
		let mut seen = HashSet::new();
		for (record, _) in &records {
			let id = record.contribution_id;
			let taken = self.datasets.get(&dataset).is_some_and(|d| d.contributions.contains(&id));
			if taken || !seen.insert(id) {
				return Err(AddError::Duplicate(id));
			}
		}
		let entry = self.datasets.entry(dataset).or_default();
		let tokens: usize = records.iter().map(|r| r.1.len()).sum();
		let started = Instant::now();
		let before = entry.index.segments().len();
		if let Err(e) = entry.index.extend(records) {
			if entry.index.is_empty() {
				self.datasets.remove(&dataset);
			}
			return Err(AddError::Failed(e));
		}
		entry.contributions.extend(seen);
		let last = entry.index.segments().len() - 1;
		let merged = entry.index.segments()[last].len();
		if merged >= LOG_TOKENS || tokens >= LOG_TOKENS {
			tracing::info!(
				dataset,
				tokens = merged,
				merged_segments = before + 1 - last,
				"indexed in {:.2?}",
				started.elapsed()
			);
		}
		let Some(root) = &self.dir else { return Ok(()) };
		let dir = root.join(dataset.to_string());
		// The records are indexed in memory whatever happens on disk; a failed write is
		// reported, and the next change writes every segment the manifest lacks.
		persist(&dir, entry, last, &self.tokenizer).map_err(AddError::Unwritable)
	}

	/// Removes the records of `contributions` that `dataset` holds (ids it lacks are ignored):
	/// each segment holding one is rebuilt without them, and the changed segments are stored.
	/// A dataset left without records is dropped, and its directory with it. Returns the
	/// contributions removed, ascending.
	pub fn remove(&mut self, dataset: u32, contributions: &[u32]) -> Result<Vec<u32>, RemoveError> {
		let Some(entry) = self.datasets.get_mut(&dataset) else { return Ok(Vec::new()) };
		let mut removed: Vec<u32> =
			contributions.iter().copied().filter(|id| entry.contributions.contains(id)).collect();
		removed.sort_unstable();
		removed.dedup();
		if removed.is_empty() {
			return Ok(removed);
		}
		let gone: HashSet<u32> = removed.iter().copied().collect();
		let started = Instant::now();
		let (index, first) = entry.index.without(&gone).map_err(RemoveError::Failed)?;
		entry.index = index;
		entry.contributions.retain(|id| !gone.contains(id));
		tracing::info!(
			dataset,
			removed = removed.len(),
			records = entry.contributions.len(),
			"records removed in {:.2?}",
			started.elapsed()
		);
		let dir = self.dir.as_ref().map(|root| root.join(dataset.to_string()));
		// Removed in memory whatever happens on disk, as an add is indexed.
		let written = match (entry.contributions.is_empty(), dir) {
			(_, None) => Ok(()),
			(true, Some(dir)) => forget(&dir),
			(false, Some(dir)) => persist(&dir, entry, first, &self.tokenizer),
		};
		if entry.contributions.is_empty() {
			self.datasets.remove(&dataset);
		}
		match written {
			Ok(()) => Ok(removed),
			Err(error) => Err(RemoveError::Unwritable { removed, error }),
		}
	}
}

/// Writes `entry`'s segments from `first` (the first that changed; from the first whose file
/// is not current, if that is earlier) to the last as new files, then a manifest naming them
/// after the unchanged ones and the tokenizer's identity, then removes the files they replace.
fn persist(dir: &Path, entry: &mut Dataset, first: usize, tokenizer: &[u8; 32]) -> Result<()> {
	std::fs::create_dir_all(dir)?;
	let keep = entry.files.len().min(first);
	let gone = entry.files.split_off(keep);
	for segment in &entry.index.segments()[keep..] {
		let name = format!("{:06}.seg", entry.next);
		entry.next += 1;
		segment.write(&dir.join(&name))?;
		entry.files.push(name);
	}
	let manifest = Manifest {
		segments: entry.files.clone(),
		next: entry.next,
		tokenizer: Some(format!("0x{}", hex(tokenizer))),
	};
	let tmp = dir.join("manifest.json.tmp");
	let file = std::fs::File::create(&tmp)?;
	serde_json::to_writer_pretty(&file, &manifest)?;
	file.sync_all()?;
	std::fs::rename(&tmp, dir.join("manifest.json"))?;
	for old in gone {
		std::fs::remove_file(dir.join(old)).ok();
	}
	Ok(())
}

/// Removes a dataset's directory, its manifest first: a crash part way leaves a directory
/// without a manifest, which is skipped on open, never a manifest naming missing segments.
fn forget(dir: &Path) -> Result<()> {
	let absent = |result: std::io::Result<()>| match result {
		Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
		_ => Ok(()),
	};
	absent(std::fs::remove_file(dir.join("manifest.json")))?;
	absent(std::fs::remove_dir_all(dir))?;
	Ok(())
}

#[cfg(test)]
mod tests {
	use super::*;

	/// The identity of the tokenizer the tests' records stand for.
	const TOKENIZER: [u8; 32] = [0x70; 32];

	fn record(id: u32, tokens: Vec<u32>) -> (Record, Vec<u32>) {
		(Record { contribution_id: id, content_hash: [id as u8; 32] }, tokens)
	}

	/// Records added one by one are on disk after each add, reload into the same index, and
	/// merged-away segment files are gone.
	#[test]
	fn a_corpus_reloads_what_it_stored() {
		let dir = crate::testing::scratch("corpus");
		let mut corpus = Corpus::open(Some(&dir), TOKENIZER).unwrap();
		for i in 0..20u32 {
			corpus.add(3, vec![record(i, (i..i + 30).collect())]).unwrap();
		}
		corpus.add(4, vec![record(0, vec![1, 2, 3])]).unwrap();
		assert!(matches!(corpus.add(3, vec![record(5, vec![9])]), Err(AddError::Duplicate(5))));
		assert!(matches!(
			corpus.add(4, vec![record(8, vec![9]), record(8, vec![10])]),
			Err(AddError::Duplicate(8))
		));
		let output: Vec<u32> = (10..25).collect();
		let before = corpus.get(3).unwrap().index.attribute(&output, 8);
		let segments = corpus.get(3).unwrap().index.segments().len();
		drop(corpus);

		let files = std::fs::read_dir(dir.join("datasets/3")).unwrap().count();
		assert_eq!(files, segments + 1, "the segments named in the manifest, and the manifest");
		let corpus = Corpus::open(Some(&dir), TOKENIZER).unwrap();
		assert_eq!(corpus.get(3).unwrap().index.attribute(&output, 8), before);
		assert_eq!(corpus.get(3).unwrap().index.records().count(), 20);
		assert_eq!(corpus.get(4).unwrap().index.records().count(), 1);
		std::fs::remove_dir_all(dir).ok();
	}

	/// Records removed stay removed after reopening, the files of the segments rebuilt are gone,
	/// and a dataset left without records goes with its directory.
	#[test]
	fn a_corpus_reloads_without_the_records_removed() {
		let dir = crate::testing::scratch("corpus-removal");
		let mut corpus = Corpus::open(Some(&dir), TOKENIZER).unwrap();
		for i in 0..20u32 {
			corpus.add(3, vec![record(i, (i..i + 30).collect())]).unwrap();
		}
		corpus.add(4, vec![record(0, vec![1, 2, 3]), record(1, vec![4, 5])]).unwrap();
		assert_eq!(corpus.remove(3, &[19, 4, 77]).unwrap(), vec![4, 19]);
		assert_eq!(corpus.remove(3, &[4]).unwrap(), Vec::<u32>::new(), "removed already");
		assert_eq!(corpus.remove(5, &[1]).unwrap(), Vec::<u32>::new(), "no such dataset");
		assert_eq!(corpus.remove(4, &[1, 0]).unwrap(), vec![0, 1]);
		assert!(corpus.get(4).is_none());
		assert!(!dir.join("datasets/4").exists(), "an emptied dataset leaves no directory");
		let output: Vec<u32> = (3..40).collect();
		let before = corpus.get(3).unwrap().index.attribute(&output, 8);
		assert!(!before.1.is_empty());
		assert!(before.1.iter().all(|c| ![4, 19].contains(&c.record.contribution_id)));
		let segments = corpus.get(3).unwrap().index.segments().len();
		drop(corpus);

		let files = std::fs::read_dir(dir.join("datasets/3")).unwrap().count();
		assert_eq!(files, segments + 1, "the segments named in the manifest, and the manifest");
		let mut corpus = Corpus::open(Some(&dir), TOKENIZER).unwrap();
		assert!(corpus.get(4).is_none());
		let index = &corpus.get(3).unwrap().index;
		assert_eq!(index.attribute(&output, 8), before);
		let mut ids: Vec<u32> = index.records().map(|r| r.contribution_id).collect();
		ids.sort_unstable();
		assert_eq!(ids, (0..19).filter(|id| *id != 4).collect::<Vec<_>>());
		corpus.add(3, vec![record(4, vec![7, 8, 9])]).unwrap();
		corpus.add(4, vec![record(0, vec![7, 8, 9])]).unwrap();
		std::fs::remove_dir_all(dir).ok();
	}

	/// A corpus written under one tokenizer is refused under another, and so is one whose
	/// manifest names no tokenizer (written before identities were recorded); the refusal names
	/// both identities and each dataset's directory. Under its own tokenizer it opens as it was.
	#[test]
	fn an_index_built_for_another_tokenizer_is_refused() {
		let dir = crate::testing::scratch("corpus-tokenizer");
		let mut corpus = Corpus::open(Some(&dir), TOKENIZER).unwrap();
		corpus.add(3, vec![record(1, (0..40).collect())]).unwrap();
		corpus.add(5, vec![record(2, (40..80).collect())]).unwrap();
		drop(corpus);
		let manifest: serde_json::Value =
			serde_json::from_slice(&std::fs::read(dir.join("datasets/3/manifest.json")).unwrap())
				.unwrap();
		assert_eq!(manifest["tokenizer"], format!("0x{}", hex(&TOKENIZER)));

		let other = [0x71; 32];
		let error = Corpus::open(Some(&dir), other).err().expect("another tokenizer is refused");
		let message = format!("{error:#}");
		for expected in [
			format!("0x{}", hex(&other)),
			format!("0x{}", hex(&TOKENIZER)),
			dir.join("datasets/3").display().to_string(),
			dir.join("datasets/5").display().to_string(),
		] {
			assert!(message.contains(&expected), "{expected} in: {message}");
		}

		// A manifest from before tokenizer identities: refused under any tokenizer.
		let mut older = manifest.clone();
		older.as_object_mut().unwrap().remove("tokenizer");
		std::fs::write(dir.join("datasets/3/manifest.json"), older.to_string()).unwrap();
		let error = Corpus::open(Some(&dir), TOKENIZER).err().expect("an older index is refused");
		let message = format!("{error:#}");
		assert!(message.contains("no tokenizer"), "{message}");
		assert!(message.contains(&dir.join("datasets/3").display().to_string()), "{message}");
		assert!(!message.contains(&dir.join("datasets/5").display().to_string()), "{message}");

		std::fs::write(dir.join("datasets/3/manifest.json"), manifest.to_string()).unwrap();
		let corpus = Corpus::open(Some(&dir), TOKENIZER).unwrap();
		assert_eq!(corpus.get(3).unwrap().index.records().count(), 1);
		assert_eq!(corpus.get(5).unwrap().index.records().count(), 1);
		std::fs::remove_dir_all(dir).ok();
	}
}
