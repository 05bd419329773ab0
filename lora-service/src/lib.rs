//! `tributary-lora`: the node-side compute of Tributary. One base model (a llama-architecture
//! GGUF), many LoRA adapters batched together, and span attribution of every output.
//!
//! - `api`: the HTTP API (router, state, OpenAI types, validation, a file per route family);
//!   `error`, its one error type; `metrics`; `chat`, conversations into prompts.
//! - `scheduler`: continuous batching, sampling and stop strings.
//! - `model`: the base model (config and tokenizer from GGUF, linear layers, attention with its
//!   key-value cache, decoder layers) and its one forward pass.
//! - `adapters`: PEFT loading, the in-memory cache and the batched adapter stack.
//! - `attribution`: segments, dataset indexes, span search and the corpus on disk.
//! - `train`: LoRA fine-tuning from dataset records or a JSONL file, with the adapter's lineage.

pub mod adapters;
pub mod api;
pub mod attribution;
pub mod chat;
pub mod error;
#[cfg(feature = "fuzzing")]
pub mod fuzzing;
pub mod hash;
pub mod metrics;
pub mod model;
pub(crate) mod rng;
pub mod scheduler;
#[cfg(test)]
pub(crate) mod testing;
pub mod train;
pub mod verify;
