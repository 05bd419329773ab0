//! The adapters held in memory, bounded in count and in bytes.

use std::{
	collections::{BTreeMap, HashMap},
	sync::Arc,
};

use super::Adapter;

/// Resident adapters, the least recently used evicted first while there are more than
/// `capacity` or they take more than `capacity_bytes` (the newest always stays). An evicted
/// adapter that running requests still hold stays alive until they finish.
pub struct AdapterCache {
	capacity: usize,
	capacity_bytes: usize,
	bytes: usize,
	clock: u64,
	entries: HashMap<String, (Arc<Adapter>, u64)>,
	by_use: BTreeMap<u64, String>,
	pub(crate) loads: u64,
	pub(crate) hits: u64,
	pub(crate) evictions: u64,
	pub(crate) load_seconds: f64,
}

impl AdapterCache {
	/// At most `capacity` adapters and `capacity_bytes` of their weights.
	pub fn new(capacity: usize, capacity_bytes: usize) -> Self {
		Self {
			capacity: capacity.max(1),
			capacity_bytes,
			bytes: 0,
			clock: 0,
			entries: HashMap::new(),
			by_use: BTreeMap::new(),
			loads: 0,
			hits: 0,
			evictions: 0,
			load_seconds: 0.0,
		}
	}

	pub fn get(&mut self, id: &str) -> Option<Arc<Adapter>> {
		self.clock += 1;
		let (adapter, used) = self.entries.get_mut(id)?;
		self.by_use.remove(used);
		*used = self.clock;
		self.by_use.insert(self.clock, id.to_string());
		self.hits += 1;
		Some(adapter.clone())
	}

	pub fn insert(&mut self, id: &str, adapter: Arc<Adapter>) {
		self.remove(id);
		self.clock += 1;
		self.bytes += adapter.bytes();
		self.entries.insert(id.to_string(), (adapter, self.clock));
		self.by_use.insert(self.clock, id.to_string());
		while self.entries.len() > 1
			&& (self.entries.len() > self.capacity || self.bytes > self.capacity_bytes)
		{
			let Some((_, oldest)) = self.by_use.pop_first() else { break };
			if let Some((evicted, _)) = self.entries.remove(&oldest) {
				self.bytes -= evicted.bytes();
			}
			self.evictions += 1;
		}
	}

	pub fn remove(&mut self, id: &str) -> bool {
		match self.entries.remove(id) {
			Some((adapter, used)) => {
				self.by_use.remove(&used);
				self.bytes -= adapter.bytes();
				true
			}
			None => false,
		}
	}

	pub fn len(&self) -> usize {
		self.entries.len()
	}

	pub fn is_empty(&self) -> bool {
		self.entries.is_empty()
	}

	pub fn contains(&self, id: &str) -> bool {
		self.entries.contains_key(id)
	}

	/// Bytes the resident adapters' weights take.
	pub fn bytes(&self) -> usize {
		self.bytes
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use crate::testing::tiny_adapter;

	/// Beyond its bytes the cache evicts the least recently used, keeping the newest even when
	/// it alone is larger than the bound, and its count of bytes stays exact.
	#[test]
	fn the_cache_is_bounded_in_bytes() {
		let small = Arc::new(tiny_adapter(1, 2));
		let large = Arc::new(tiny_adapter(2, 16));
		let (s, l) = (small.bytes(), large.bytes());
		let mut cache = AdapterCache::new(100, 3 * s);
		cache.insert("a", small.clone());
		cache.insert("b", small.clone());
		cache.insert("c", small.clone());
		assert_eq!((cache.len(), cache.bytes()), (3, 3 * s));
		assert!(cache.get("a").is_some(), "a is now the most recently used");
		cache.insert("big", large.clone());
		assert!(l > 3 * s, "the large adapter alone exceeds the bound");
		assert_eq!((cache.len(), cache.bytes()), (1, l), "everything else evicted");
		assert!(cache.contains("big"));
		cache.insert("d", small.clone());
		assert_eq!((cache.len(), cache.bytes()), (1, s), "the large one goes in turn");
		assert!(cache.remove("d"));
		assert_eq!((cache.len(), cache.bytes()), (0, 0));
		let mut counted = AdapterCache::new(2, usize::MAX);
		for id in ["x", "y", "z"] {
			counted.insert(id, small.clone());
		}
		assert_eq!((counted.len(), counted.evictions), (2, 1), "still bounded in count");
	}
}
