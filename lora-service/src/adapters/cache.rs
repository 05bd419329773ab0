//! The adapters held in memory.

use std::{
	collections::{BTreeMap, HashMap},
	sync::Arc,
};

use super::Adapter;

/// Resident adapters, least recently used evicted first beyond the capacity. An evicted
/// adapter that running requests still hold stays alive until they finish.
pub struct AdapterCache {
	capacity: usize,
	clock: u64,
	entries: HashMap<String, (Arc<Adapter>, u64)>,
	by_use: BTreeMap<u64, String>,
	pub(crate) loads: u64,
	pub(crate) hits: u64,
	pub(crate) evictions: u64,
	pub(crate) load_seconds: f64,
}

impl AdapterCache {
	pub fn new(capacity: usize) -> Self {
		Self {
			capacity: capacity.max(1),
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
		self.entries.insert(id.to_string(), (adapter, self.clock));
		self.by_use.insert(self.clock, id.to_string());
		while self.entries.len() > self.capacity {
			let Some((_, oldest)) = self.by_use.pop_first() else { break };
			self.entries.remove(&oldest);
			self.evictions += 1;
		}
	}

	pub fn remove(&mut self, id: &str) -> bool {
		match self.entries.remove(id) {
			Some((_, used)) => {
				self.by_use.remove(&used);
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

	pub fn bytes(&self) -> usize {
		self.entries.values().map(|(a, _)| a.bytes()).sum()
	}
}
