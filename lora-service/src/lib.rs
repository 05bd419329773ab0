//! `tributary-lora`: the node-side compute of Tributary. One base model (a llama-architecture
//! GGUF), many LoRA adapters batched together, and span attribution of every output.

pub mod attribution;
pub mod batch;
pub mod bench;
pub mod engine;
pub mod gguf;
pub mod lora;
pub mod model;
pub mod random_adapter;
pub mod server;
pub mod store;
#[cfg(test)]
pub(crate) mod testing;
pub mod tiny;
