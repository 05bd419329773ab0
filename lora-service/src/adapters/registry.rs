//! The adapters on disk under `--adapters-dir` (one PEFT directory per id) and the ones in
//! memory. Every call here blocks (disk, safetensors parsing): the API calls it off its async
//! workers. A cold load runs outside the cache's lock, one load in flight per adapter (others
//! asking for the same adapter wait for that load); registrations and deletions are serialised
//! among themselves and never wait for serving.

use std::{
	collections::HashMap,
	path::{Path, PathBuf},
	sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError},
	time::Instant,
};

use candle_core::Device;

use super::{Adapter, AdapterCache};
use crate::{
	hash::{blake2_256, hex},
	model::LlamaConfig,
};

/// Why an adapter is not served or not registered.
#[derive(Clone, Debug, thiserror::Error)]
pub enum RegistryError {
	#[error("no adapter {0:?}")]
	Unknown(String),
	#[error("adapter {0} exists; delete it first")]
	Exists(String),
	/// Not a PEFT adapter this service can serve for this model.
	#[error("{0}")]
	Invalid(String),
	#[error("{0}")]
	Io(String),
	/// The adapter's hash is not the one the upload expected.
	#[error("the adapter hashes to 0x{}, not 0x{}", hex(.found), hex(.expected))]
	HashMismatch { found: [u8; 32], expected: [u8; 32] },
}

/// A load in flight: its outcome, once there is one.
#[derive(Default)]
struct Load {
	outcome: Mutex<Option<Result<Arc<Adapter>, RegistryError>>>,
	done: Condvar,
}

/// The adapters, on disk and in memory.
pub struct Registry {
	dir: PathBuf,
	config: LlamaConfig,
	device: Device,
	max_rank: usize,
	cache: Mutex<AdapterCache>,
	loads: Mutex<HashMap<String, Arc<Load>>>,
	/// Serialises registrations and deletions; serving never takes it.
	changes: Mutex<()>,
	/// Bumped (under the cache's lock) by every registration and deletion: a load that began
	/// before one does not put what it read into the cache.
	epoch: Mutex<u64>,
}

fn guard<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
	mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// An adapter id is a directory name: letters, digits, `-` and `_`, at most 64, never `base`.
pub fn valid_id(id: &str) -> bool {
	!id.is_empty()
		&& id.len() <= 64
		&& id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
		&& id != "base"
}

impl Registry {
	/// The adapters under `dir` (created if missing), for a model of `config`, refusing ranks
	/// above `max_rank`, `cache` holding those in memory.
	pub fn open(
		dir: &Path,
		config: LlamaConfig,
		device: Device,
		max_rank: usize,
		cache: AdapterCache,
	) -> anyhow::Result<Self> {
		std::fs::create_dir_all(dir)
			.map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
		Ok(Self {
			dir: dir.to_path_buf(),
			config,
			device,
			max_rank,
			cache: Mutex::new(cache),
			loads: Mutex::new(HashMap::new()),
			changes: Mutex::new(()),
			epoch: Mutex::new(0),
		})
	}

	/// The cache, for its counters.
	pub fn cache(&self) -> MutexGuard<'_, AdapterCache> {
		guard(&self.cache)
	}

	/// Whether `id` names a registered adapter.
	pub fn registered(&self, id: &str) -> bool {
		valid_id(id) && self.dir.join(id).join("adapter_model.safetensors").exists()
	}

	/// Every registered id, sorted.
	pub fn ids(&self) -> Vec<String> {
		let mut ids: Vec<String> = std::fs::read_dir(&self.dir)
			.map(|entries| {
				entries
					.filter_map(|entry| entry.ok()?.file_name().into_string().ok())
					.filter(|id| self.registered(id))
					.collect()
			})
			.unwrap_or_default();
		ids.sort();
		ids
	}

	/// Loads the adapter in `dir`, refusing one above the maximum rank.
	fn load(&self, dir: &Path) -> Result<Adapter, RegistryError> {
		let adapter = Adapter::load(dir, &self.config, &self.device)
			.map_err(|e| RegistryError::Invalid(format!("{e:#}")))?;
		if adapter.rank > self.max_rank {
			return Err(RegistryError::Invalid(format!(
				"rank {} is above the service's maximum of {}",
				adapter.rank, self.max_rank
			)));
		}
		Ok(adapter)
	}

	/// The adapter `id` if it is in memory (then it is registered: a deletion takes it out of
	/// memory before its files go). Never blocks on disk.
	pub fn cached(&self, id: &str) -> Option<Arc<Adapter>> {
		guard(&self.cache).get(id)
	}

	/// The adapter `id`, from memory, or loaded from disk (once, however many ask at once).
	pub fn resident(&self, id: &str) -> Result<Arc<Adapter>, RegistryError> {
		if !self.registered(id) {
			return Err(RegistryError::Unknown(id.to_string()));
		}
		if let Some(adapter) = guard(&self.cache).get(id) {
			return Ok(adapter);
		}
		let (load, leader) = {
			let mut loads = guard(&self.loads);
			match loads.get(id) {
				Some(load) => (load.clone(), false),
				None => {
					let load = Arc::new(Load::default());
					loads.insert(id.to_string(), load.clone());
					(load, true)
				}
			}
		};
		if !leader {
			let mut outcome = guard(&load.outcome);
			while outcome.is_none() {
				outcome = load.done.wait(outcome).unwrap_or_else(PoisonError::into_inner);
			}
			return outcome.clone().unwrap_or_else(|| Err(RegistryError::Unknown(id.to_string())));
		}
		let epoch = *guard(&self.epoch);
		let started = Instant::now();
		let loaded = self.load(&self.dir.join(id)).map(Arc::new);
		let seconds = started.elapsed().as_secs_f64();
		{
			let mut cache = guard(&self.cache);
			cache.loads += 1;
			cache.load_seconds += seconds;
			if let Ok(adapter) = &loaded {
				if *guard(&self.epoch) == epoch {
					cache.insert(id, adapter.clone());
				}
			}
		}
		tracing::debug!(id, "adapter loaded in {seconds:.3} s");
		*guard(&load.outcome) = Some(loaded.clone());
		load.done.notify_all();
		guard(&self.loads).remove(id);
		loaded
	}

	/// Registers `weights` and `config` as adapter `id`: written beside the final directory,
	/// loaded and checked (its hash against `expected`, when given), then renamed into place
	/// and kept in memory. Returns it.
	pub fn register(
		&self,
		id: &str,
		config: &serde_json::Value,
		weights: &[u8],
		expected: Option<[u8; 32]>,
	) -> Result<Arc<Adapter>, RegistryError> {
		let _changes = guard(&self.changes);
		let dir = self.dir.join(id);
		if dir.exists() {
			return Err(RegistryError::Exists(id.to_string()));
		}
		let staging = self.dir.join(format!(".upload-{id}"));
		let io = |e: std::io::Error| RegistryError::Io(e.to_string());
		let write = || -> std::io::Result<()> {
			std::fs::create_dir_all(&staging)?;
			std::fs::write(staging.join("adapter_model.safetensors"), weights)?;
			std::fs::write(staging.join("adapter_config.json"), serde_json::to_vec_pretty(config)?)
		};
		write().map_err(io)?;
		let adapter = match self.load(&staging) {
			Ok(adapter) if adapter.weights_hash != blake2_256(weights) => {
				std::fs::remove_dir_all(&staging).ok();
				return Err(RegistryError::Io("the weights changed on disk while loading".into()));
			}
			Ok(adapter) => match expected.filter(|expected| *expected != adapter.hash) {
				Some(expected) => {
					std::fs::remove_dir_all(&staging).ok();
					return Err(RegistryError::HashMismatch { found: adapter.hash, expected });
				}
				None => Arc::new(adapter),
			},
			Err(e) => {
				std::fs::remove_dir_all(&staging).ok();
				return Err(e);
			}
		};
		std::fs::rename(&staging, &dir).map_err(io)?;
		let mut cache = guard(&self.cache);
		*guard(&self.epoch) += 1;
		cache.insert(id, adapter.clone());
		Ok(adapter)
	}

	/// Unregisters adapter `id`: out of memory, its directory removed. Requests running with it
	/// finish with the copy they hold.
	pub fn delete(&self, id: &str) -> Result<(), RegistryError> {
		let _changes = guard(&self.changes);
		if !self.registered(id) {
			return Err(RegistryError::Unknown(id.to_string()));
		}
		{
			let mut cache = guard(&self.cache);
			*guard(&self.epoch) += 1;
			cache.remove(id);
		}
		std::fs::remove_dir_all(self.dir.join(id)).map_err(|e| RegistryError::Io(e.to_string()))
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::testing::{scratch, tiny_adapter_dir};

	fn registry(name: &str) -> Registry {
		let dir = scratch(name).join("adapters");
		Registry::open(
			&dir,
			crate::model::tiny::config(),
			Device::Cpu,
			64,
			AdapterCache::new(8, usize::MAX),
		)
		.unwrap()
	}

	/// Many threads asking at once for an adapter that is not in memory load it once, and all
	/// get the same one.
	#[test]
	fn concurrent_requests_for_a_cold_adapter_load_it_once() {
		let registry = Arc::new(registry("registry-once"));
		tiny_adapter_dir(&registry.dir.join("a"), 1, 4);
		let adapters: Vec<Arc<Adapter>> = std::thread::scope(|scope| {
			let handles: Vec<_> =
				(0..8).map(|_| scope.spawn(|| registry.resident("a").unwrap())).collect();
			handles.into_iter().map(|h| h.join().unwrap()).collect()
		});
		assert!(adapters.iter().all(|a| Arc::ptr_eq(a, &adapters[0])), "one adapter for all");
		assert_eq!(registry.cache().loads, 1, "loaded once");
	}

	/// A deletion while a load runs leaves nothing stale in memory: after delete and a new
	/// registration under the same id, the new weights are served.
	#[test]
	fn a_replaced_adapter_is_never_served_from_a_stale_load() {
		let registry = registry("registry-replace");
		tiny_adapter_dir(&registry.dir.join("a"), 1, 4);
		let old = registry.resident("a").unwrap();
		let epoch = *guard(&registry.epoch);
		registry.delete("a").unwrap();
		assert!(matches!(registry.resident("a"), Err(RegistryError::Unknown(_))));
		let staging = scratch("registry-replace-new");
		let hash = tiny_adapter_dir(&staging, 2, 4);
		let weights = std::fs::read(staging.join("adapter_model.safetensors")).unwrap();
		let config: serde_json::Value =
			serde_json::from_slice(&std::fs::read(staging.join("adapter_config.json")).unwrap())
				.unwrap();
		let new = registry.register("a", &config, &weights, None).unwrap();
		assert_eq!(new.hash, hash);
		assert_ne!(old.hash, new.hash);
		assert!(*guard(&registry.epoch) > epoch, "both changes moved the epoch");
		assert_eq!(registry.resident("a").unwrap().hash, hash);
		assert!(matches!(
			registry.register("a", &config, &weights, None),
			Err(RegistryError::Exists(_))
		));
	}
}
