//! LoRA adapters: loaded from the PEFT layout (`peft`), registered on disk and held in memory
//! (`registry`, `cache`), fetched from their URIs (`fetch`), placed in the batched stack a running batch reads them from
//! (`stack`), and random ones written for demonstrations and tests (`random`).

mod cache;
mod fetch;
mod peft;
pub mod random;
mod registry;
mod stack;

pub use self::{
	cache::AdapterCache,
	fetch::{fetch, FetchError, FetchOptions, MAX_CONFIG_BYTES},
	peft::{
		adapter_hash, hash_dir, module_dims, peft_prefix, Adapter, LoraPair, Settings, Targets,
		MODULES,
	},
	registry::{valid_id, Registry, RegistryError},
	stack::AdapterStack,
};
