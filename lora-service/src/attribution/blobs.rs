//! Uploaded record bytes by their blake2-256 hash, under `--data-dir` as `blobs/<hash hex>`
//! (written beside the final name and renamed into place), or in memory.

use std::{
	collections::HashMap,
	path::{Path, PathBuf},
};

use anyhow::{bail, Result};

use crate::hash::{blake2_256, hex};

/// Uploaded bytes by their blake2-256 hash.
pub struct Blobs {
	dir: Option<PathBuf>,
	memory: HashMap<[u8; 32], Vec<u8>>,
}

impl Blobs {
	pub fn open(dir: Option<&Path>) -> Result<Self> {
		let dir = dir.map(|d| d.join("blobs"));
		if let Some(dir) = &dir {
			std::fs::create_dir_all(dir)?;
		}
		Ok(Self { dir, memory: HashMap::new() })
	}

	/// Stores `bytes` and returns their hash.
	pub fn put(&mut self, bytes: Vec<u8>) -> Result<[u8; 32]> {
		let hash = blake2_256(&bytes);
		match &self.dir {
			Some(dir) => {
				let path = dir.join(hex(&hash));
				if !path.exists() {
					let tmp = path.with_extension("tmp");
					std::fs::write(&tmp, &bytes)?;
					std::fs::rename(tmp, path)?;
				}
			}
			None => {
				self.memory.insert(hash, bytes);
			}
		}
		Ok(hash)
	}

	pub fn get(&self, hash: &[u8; 32]) -> Result<Option<Vec<u8>>> {
		match &self.dir {
			Some(dir) => match std::fs::read(dir.join(hex(hash))) {
				Ok(bytes) if blake2_256(&bytes) == *hash => Ok(Some(bytes)),
				Ok(_) => bail!("blob 0x{} is corrupt on disk", hex(hash)),
				Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
				Err(e) => Err(e.into()),
			},
			None => Ok(self.memory.get(hash).cloned()),
		}
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::hash::parse_hash;

	#[test]
	fn blobs_by_hash() {
		let dir = crate::testing::scratch("blobs");
		for place in [Some(dir.as_path()), None] {
			let mut blobs = Blobs::open(place).unwrap();
			let hash = blobs.put(b"a record".to_vec()).unwrap();
			assert_eq!(hash, blake2_256(b"a record"));
			assert_eq!(blobs.get(&hash).unwrap().as_deref(), Some(&b"a record"[..]));
			assert_eq!(blobs.get(&[0; 32]).unwrap(), None);
		}
		assert_eq!(parse_hash(&format!("0x{}", hex(&[7; 32]))), Some([7; 32]));
		assert_eq!(parse_hash("0x12"), None);
		std::fs::remove_dir_all(dir).ok();
	}
}
