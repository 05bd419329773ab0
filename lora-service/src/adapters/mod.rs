//! LoRA adapters: loaded from the PEFT layout (`peft`), held in memory (`cache`), placed in the
//! batched stack a running batch reads them from (`stack`), and random ones written for
//! demonstrations and tests (`random`).

mod cache;
mod peft;
pub mod random;
mod stack;

pub use self::{
	cache::AdapterCache,
	peft::{module_dims, peft_prefix, Adapter, LoraPair, MODULES},
	stack::AdapterStack,
};
