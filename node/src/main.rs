//! `tributary-node`: a Tributary collator, or with `--dev` a standalone development chain.

mod chain_spec;
mod cli;
mod command;
mod dev;
mod record_sync;
mod rpc;
mod service;

fn main() -> polkadot_sdk::sc_cli::Result<()> {
	command::run()
}
