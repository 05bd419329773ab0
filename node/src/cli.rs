//! Command-line interface: the node's own flags, its subcommands, and the relay-chain
//! arguments that follow `--`.

use std::path::PathBuf;

use polkadot_sdk::*;

use clap::{CommandFactory, FromArgMatches};

/// Where the LoRA service listens unless `--lora-service-url` says otherwise.
pub const DEFAULT_LORA_SERVICE_URL: &str = "http://127.0.0.1:8181";

/// Subcommands of `tributary-node`.
#[derive(Debug, clap::Subcommand)]
pub enum Subcommand {
	/// Build a chain specification (`--chain dev|local|<path>`).
	BuildSpec(sc_cli::BuildSpecCmd),

	/// Validate blocks.
	CheckBlock(sc_cli::CheckBlockCmd),

	/// Export blocks.
	ExportBlocks(sc_cli::ExportBlocksCmd),

	/// Export the state of a given block into a chain spec.
	ExportState(sc_cli::ExportStateCmd),

	/// Import blocks.
	ImportBlocks(sc_cli::ImportBlocksCmd),

	/// Revert the chain to a previous state.
	Revert(sc_cli::RevertCmd),

	/// Remove the whole chain (and the embedded relay chain node's database).
	PurgeChain(cumulus_client_cli::PurgeChainCmd),

	/// Export the genesis head data of the parachain, for registering it on a relay chain.
	#[command(alias = "export-genesis-state")]
	ExportGenesisHead(cumulus_client_cli::ExportGenesisHeadCommand),

	/// Export the genesis WASM of the parachain, for registering it on a relay chain.
	ExportGenesisWasm(cumulus_client_cli::ExportGenesisWasmCommand),

	/// Key management: generate, inspect and insert keys.
	#[command(subcommand)]
	Key(sc_cli::KeySubcommand),

	/// Benchmarks (`pallet` needs a node built with `--features runtime-benchmarks`).
	#[command(subcommand)]
	Benchmark(frame_benchmarking_cli::BenchmarkCmd),
}

const AFTER_HELP_EXAMPLE: &str = r#"Examples:
   tributary-node --dev
           Run a standalone development chain: blocks every second, RPC on ws://127.0.0.1:9944.
   tributary-node --dev --instant-seal --lora-service-url http://127.0.0.1:8181
           A development chain that seals a block as soon as a transaction arrives.
   tributary-node --dev --dev-follow --bob --bootnodes /ip4/127.0.0.1/tcp/30333/p2p/<peer id> --base-path /tmp/bob --port 30334 --rpc-port 9945
           Follow that dev chain as a second provider's node (Bob's operator key), sealing nothing.
   tributary-node build-spec --chain local --disable-default-bootnode > local.json
           Export the local testnet's chain spec.
   tributary-node --collator --chain local.json --base-path /tmp/alice -- --chain rococo-local.json
           Collate on a relay chain (arguments after `--` go to the embedded relay chain node).
"#;

/// A Tributary node.
#[derive(Debug, clap::Parser)]
#[command(
	propagate_version = true,
	args_conflicts_with_subcommands = true,
	subcommand_negates_reqs = true
)]
#[clap(after_help = AFTER_HELP_EXAMPLE)]
pub struct Cli {
	#[command(subcommand)]
	pub subcommand: Option<Subcommand>,

	#[command(flatten)]
	pub run: cumulus_client_cli::RunCmd,

	/// With `--dev`: seal a block every this many milliseconds.
	#[arg(long, value_name = "MS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(1..))]
	pub dev_block_time: u64,

	/// With `--dev`: seal a block as soon as a transaction arrives, instead of on a timer.
	#[arg(long)]
	pub instant_seal: bool,

	/// With `--dev`: seal nothing; follow the dev node named by `--bootnodes` (or
	/// `--reserved-nodes`), importing its blocks and sending it this node's transactions.
	///
	/// A dev chain has no consensus to check: a follower takes whatever blocks its peers send,
	/// and finalizes none. For a second provider's node beside a dev chain, in tests and demos.
	#[arg(long, conflicts_with = "instant_seal")]
	pub dev_follow: bool,

	/// Where the off-chain worker reaches the local LoRA inference service.
	///
	/// The node stores it in its persistent off-chain storage under
	/// `tributary_runtime::offchain::LORA_SERVICE_URL_KEY` when it starts.
	#[arg(long, value_name = "URL", default_value = DEFAULT_LORA_SERVICE_URL, value_parser = parse_service_url)]
	pub lora_service_url: String,

	/// A file holding the LoRA service's API key (the service's `--api-key`), which the
	/// off-chain worker sends as `Authorization: Bearer <key>`.
	///
	/// The file's first line, without surrounding whitespace: at least 16 visible ASCII
	/// characters, as the service asks of its keys. The node stores it in its persistent
	/// off-chain storage under `tributary_runtime::offchain::LORA_SERVICE_API_KEY_KEY` when it
	/// starts, and removes a stored key when started without this flag. The off-chain storage
	/// RPC (`offchain_localStorageGet`) can read it back: run the node with
	/// `--rpc-methods safe` where anyone but its operator reaches its RPC.
	#[arg(long, value_name = "PATH")]
	pub lora_service_api_key_file: Option<PathBuf>,

	/// A file holding the LoRA service's admin token (the service's `--admin-token`), which the
	/// node sends when it pushes records to the service and removes them (record sync).
	///
	/// Read as the API key is: the first line, at least 16 visible ASCII characters. The token
	/// stays in the node's memory: it is not written to off-chain storage.
	#[arg(long, value_name = "PATH")]
	pub lora_service_admin_token_file: Option<PathBuf>,

	/// Do not keep the LoRA service's records in sync with the chain.
	///
	/// By default, for every operator key in the keystore, the node pushes every accepted
	/// record of the datasets its provider's models train on to the LoRA service, and removes
	/// those the chain no longer accepts (docs/providers.md, "How records and adapters reach your
	/// service").
	#[arg(long)]
	pub no_record_sync: bool,

	/// Also keep these datasets' records (comma-separated ids) in the LoRA service, whether or
	/// not a provider of this node serves a model trained on them: what a model owner's node
	/// does to train an adapter on them (`tributary-lora train --datasets`, docs/model-factory.md).
	#[arg(long, value_name = "IDS", value_delimiter = ',')]
	pub lora_sync_datasets: Vec<u32>,

	/// Skip the hardware benchmarks the node otherwise runs at start-up.
	#[arg(long)]
	pub no_hardware_benchmarks: bool,

	/// Relay chain arguments (after `--`).
	#[arg(raw = true)]
	pub relay_chain_args: Vec<String>,
}

/// The shortest API key the LoRA service accepts.
pub const MIN_API_KEY_LENGTH: usize = 16;

/// The API key or admin token (`what`) in `path`, read as the LoRA service reads its token
/// files: the first line without surrounding whitespace, at least [`MIN_API_KEY_LENGTH`]
/// visible ASCII characters (what an HTTP header carries).
pub fn read_token(path: &std::path::Path, what: &str) -> Result<String, String> {
	let text = std::fs::read_to_string(path)
		.map_err(|e| format!("reading the LoRA service's {what} from {}: {e}", path.display()))?;
	let key = text.lines().next().unwrap_or_default().trim();
	if key.len() < MIN_API_KEY_LENGTH || !key.bytes().all(|b| b.is_ascii_graphic()) {
		return Err(format!(
			"{} does not hold the {what}: its first line must be at least {MIN_API_KEY_LENGTH} \
			 visible ASCII characters",
			path.display()
		));
	}
	Ok(key.to_string())
}

/// Whether `url` (one [`parse_service_url`] accepted) names this machine, so that what is
/// sent to it in clear never crosses a network.
pub fn is_loopback_url(url: &str) -> bool {
	let rest = url.strip_prefix("http://").or_else(|| url.strip_prefix("https://")).unwrap_or(url);
	let authority = rest.split('/').next().unwrap_or_default();
	let host = match authority.strip_prefix('[') {
		Some(v6) => v6.split(']').next().unwrap_or_default(),
		None => authority.split(':').next().unwrap_or_default(),
	};
	host.eq_ignore_ascii_case("localhost")
		|| host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// Accepts an `http://` or `https://` URL with a host.
pub fn parse_service_url(url: &str) -> Result<String, String> {
	let rest = url
		.strip_prefix("http://")
		.or_else(|| url.strip_prefix("https://"))
		.ok_or_else(|| format!("`{url}` is not an http:// or https:// URL"))?;
	if rest.is_empty() || rest.starts_with('/') || rest.contains(char::is_whitespace) {
		return Err(format!("`{url}` names no host"));
	}
	Ok(url.trim_end_matches('/').to_string())
}

/// The relay chain node embedded in a collator, configured from the arguments after `--`.
#[derive(Debug)]
pub struct RelayChainCli {
	/// The relay chain node's own command line.
	pub base: polkadot_cli::RunCmd,
	/// The relay chain spec named by the parachain's chain spec, unless `--chain` overrides it.
	pub chain_id: Option<String>,
	/// The relay chain node's base path: `<parachain base path>/polkadot`.
	pub base_path: Option<PathBuf>,
}

impl RelayChainCli {
	/// Parses the relay chain arguments in the light of the parachain's configuration.
	pub fn new<'a>(
		para_config: &sc_service::Configuration,
		relay_chain_args: impl Iterator<Item = &'a String>,
	) -> Self {
		let command = polkadot_cli::RunCmd::command().no_binary_name(true);
		let matches = command.get_matches_from(relay_chain_args);
		let base = polkadot_cli::RunCmd::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
		let chain_id = crate::chain_spec::Extensions::try_get(&*para_config.chain_spec)
			.map(|e| e.relay_chain.clone());
		let base_path = para_config.base_path.path().join("polkadot");
		Self { base, chain_id, base_path: Some(base_path) }
	}
}

#[cfg(test)]
mod tests {
	use super::*;
	use clap::Parser;

	#[test]
	fn service_url_accepts_http_and_https() {
		assert_eq!(parse_service_url("http://127.0.0.1:8181/"), Ok("http://127.0.0.1:8181".into()));
		assert_eq!(parse_service_url("https://lora.example"), Ok("https://lora.example".into()));
	}

	#[test]
	fn service_url_rejects_other_schemes_and_missing_hosts() {
		assert!(parse_service_url("ftp://x").is_err());
		assert!(parse_service_url("127.0.0.1:8181").is_err());
		assert!(parse_service_url("http://").is_err());
		assert!(parse_service_url("http:///path").is_err());
	}

	#[test]
	fn dev_flags_have_documented_defaults() {
		let cli = Cli::parse_from(["tributary-node", "--dev"]);
		assert_eq!(cli.dev_block_time, 1000);
		assert!(!cli.instant_seal);
		assert_eq!(cli.lora_service_url, DEFAULT_LORA_SERVICE_URL);
		assert!(cli.lora_sync_datasets.is_empty(), "no dataset is kept unless named");
		let cli = Cli::parse_from(["tributary-node", "--dev", "--lora-sync-datasets", "3,7"]);
		assert_eq!(cli.lora_sync_datasets, [3, 7]);
	}

	#[test]
	fn an_api_key_file_holds_one_word_of_visible_ascii() {
		let dir = std::env::temp_dir().join(format!("tributary-api-key-{}", std::process::id()));
		std::fs::create_dir_all(&dir).unwrap();
		let write = |name: &str, text: &str| {
			let path = dir.join(name);
			std::fs::write(&path, text).unwrap();
			path
		};
		let key = "k3y-Z_9.0123456789";
		assert_eq!(
			read_token(&write("ok", &format!("  {key}\r\nsecond line")), "API key"),
			Ok(key.into())
		);
		assert!(read_token(&write("empty", " \n"), "API key").is_err());
		assert!(
			read_token(&write("short", "0123456789abcde"), "API key").is_err(),
			"15 characters"
		);
		assert!(read_token(&write("two", "0123456789 abcdefgh"), "API key").is_err(), "a space");
		assert!(read_token(&write("utf8", "0123456789abcdefé"), "API key").is_err());
		assert!(read_token(&dir.join("missing"), "API key").is_err());
		std::fs::remove_dir_all(dir).ok();
	}

	#[test]
	fn loopback_urls_are_told_apart() {
		for url in [
			"http://127.0.0.1:8181",
			"http://localhost",
			"http://[::1]:8181",
			"https://127.0.0.9/x",
		] {
			assert!(is_loopback_url(url), "{url}");
		}
		for url in ["http://10.0.0.7:8181", "http://lora.example", "http://127.0.0.1.example.com"] {
			assert!(!is_loopback_url(url), "{url}");
		}
	}

	#[test]
	fn zero_block_time_is_refused() {
		assert!(Cli::try_parse_from(["tributary-node", "--dev", "--dev-block-time", "0"]).is_err());
	}
}
