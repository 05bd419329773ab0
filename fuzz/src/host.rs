//! The host the fuzzed runtime runs on: the genesis state in memory, with every input run in a
//! storage transaction that is rolled back afterwards.
//!
//! It answers everything as `BasicExternalities` does, but for the state root: the runtime asks
//! for it once a block, only to write it into the header, and computing it means hashing the
//! whole state into a trie each block, which took half of a block's time here. The harness's
//! host answers a constant; nothing the fuzzer checks reads it.
//!
//! Requests to index a transaction's bytes (`sp_io::transaction_index`), which a node would
//! carry out when it stores the block, are kept in [`take_index_requests`] for the harness to
//! check against the transaction they name.

use std::{
	any::{Any, TypeId},
	cell::RefCell,
};

use polkadot_sdk::*;

use sp_core::storage::{ChildInfo, StateVersion, Storage, TrackedStorageKey};
use sp_externalities::{Extension, ExtensionStore, Externalities, MultiRemovalResults};
use sp_state_machine::BasicExternalities;

/// One request to index bytes: the transaction, the number of its last bytes, their hash.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexRequest {
	pub extrinsic: u32,
	pub size: u32,
	pub hash: Vec<u8>,
}

thread_local! {
	static INDEX_REQUESTS: RefCell<Vec<IndexRequest>> = const { RefCell::new(Vec::new()) };
}

/// The index requests made since the last call. A node does not roll them back when the call
/// that made them fails, and neither does this host.
pub fn take_index_requests() -> Vec<IndexRequest> {
	INDEX_REQUESTS.with(|requests| std::mem::take(&mut *requests.borrow_mut()))
}

/// The genesis state and the transactions of the input being run.
pub struct Host(BasicExternalities);

impl Host {
	pub fn new(storage: Storage) -> Self {
		Self(BasicExternalities::new(storage))
	}
}

impl Externalities for Host {
	fn set_offchain_storage(&mut self, key: &[u8], value: Option<&[u8]>) {
		self.0.set_offchain_storage(key, value)
	}
	fn storage(&mut self, key: &[u8]) -> Option<Vec<u8>> {
		self.0.storage(key)
	}
	fn storage_hash(&mut self, key: &[u8]) -> Option<Vec<u8>> {
		self.0.storage_hash(key)
	}
	fn child_storage_hash(&mut self, child_info: &ChildInfo, key: &[u8]) -> Option<Vec<u8>> {
		self.0.child_storage_hash(child_info, key)
	}
	fn child_storage(&mut self, child_info: &ChildInfo, key: &[u8]) -> Option<Vec<u8>> {
		self.0.child_storage(child_info, key)
	}
	fn next_storage_key(&mut self, key: &[u8]) -> Option<Vec<u8>> {
		self.0.next_storage_key(key)
	}
	fn next_child_storage_key(&mut self, child_info: &ChildInfo, key: &[u8]) -> Option<Vec<u8>> {
		self.0.next_child_storage_key(child_info, key)
	}
	fn kill_child_storage(
		&mut self,
		child_info: &ChildInfo,
		maybe_limit: Option<u32>,
		maybe_cursor: Option<&[u8]>,
	) -> MultiRemovalResults {
		self.0.kill_child_storage(child_info, maybe_limit, maybe_cursor)
	}
	fn clear_prefix(
		&mut self,
		prefix: &[u8],
		maybe_limit: Option<u32>,
		maybe_cursor: Option<&[u8]>,
	) -> MultiRemovalResults {
		self.0.clear_prefix(prefix, maybe_limit, maybe_cursor)
	}
	fn clear_child_prefix(
		&mut self,
		child_info: &ChildInfo,
		prefix: &[u8],
		maybe_limit: Option<u32>,
		maybe_cursor: Option<&[u8]>,
	) -> MultiRemovalResults {
		self.0.clear_child_prefix(child_info, prefix, maybe_limit, maybe_cursor)
	}
	fn place_storage(&mut self, key: Vec<u8>, value: Option<Vec<u8>>) {
		self.0.place_storage(key, value)
	}
	fn place_child_storage(
		&mut self,
		child_info: &ChildInfo,
		key: Vec<u8>,
		value: Option<Vec<u8>>,
	) {
		self.0.place_child_storage(child_info, key, value)
	}
	fn storage_root(&mut self, _state_version: StateVersion) -> Vec<u8> {
		vec![0; 32]
	}
	fn child_storage_root(
		&mut self,
		child_info: &ChildInfo,
		state_version: StateVersion,
	) -> Vec<u8> {
		self.0.child_storage_root(child_info, state_version)
	}
	fn storage_append(&mut self, key: Vec<u8>, value: Vec<u8>) {
		self.0.storage_append(key, value)
	}
	fn storage_start_transaction(&mut self) {
		self.0.storage_start_transaction()
	}
	fn storage_rollback_transaction(&mut self) -> Result<(), ()> {
		self.0.storage_rollback_transaction()
	}
	fn storage_commit_transaction(&mut self) -> Result<(), ()> {
		self.0.storage_commit_transaction()
	}
	fn wipe(&mut self) {
		self.0.wipe()
	}
	fn commit(&mut self) {
		self.0.commit()
	}
	fn read_write_count(&self) -> (u32, u32, u32, u32) {
		self.0.read_write_count()
	}
	fn reset_read_write_count(&mut self) {
		self.0.reset_read_write_count()
	}
	fn get_whitelist(&self) -> Vec<TrackedStorageKey> {
		self.0.get_whitelist()
	}
	fn set_whitelist(&mut self, new: Vec<TrackedStorageKey>) {
		self.0.set_whitelist(new)
	}
	fn get_read_and_written_keys(&self) -> Vec<(Vec<u8>, u32, u32, bool)> {
		self.0.get_read_and_written_keys()
	}
	fn storage_index_transaction(&mut self, extrinsic: u32, hash: &[u8], size: u32) {
		INDEX_REQUESTS.with(|requests| {
			requests.borrow_mut().push(IndexRequest { extrinsic, size, hash: hash.to_vec() })
		});
	}
}

impl ExtensionStore for Host {
	fn extension_by_type_id(&mut self, type_id: TypeId) -> Option<&mut dyn Any> {
		self.0.extension_by_type_id(type_id)
	}
	fn register_extension_with_type_id(
		&mut self,
		type_id: TypeId,
		extension: Box<dyn Extension>,
	) -> Result<(), sp_externalities::Error> {
		self.0.register_extension_with_type_id(type_id, extension)
	}
	fn deregister_extension_by_type_id(
		&mut self,
		type_id: TypeId,
	) -> Result<(), sp_externalities::Error> {
		self.0.deregister_extension_by_type_id(type_id)
	}
}
