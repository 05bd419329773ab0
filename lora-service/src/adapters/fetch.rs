//! Fetching an adapter from where its owner published it: the URI registered with it on chain
//! names a directory holding `adapter_config.json` and `adapter_model.safetensors`, the PEFT
//! layout (a Hugging Face repository's `resolve/main`, a web server's folder, an IPFS
//! directory). Schemes: `https://`, `http://`, `file://` (only under `--adapter-file-root`),
//! and `ipfs://<cid>[/path]` through `--ipfs-gateway` (a path gateway: `<gateway>/ipfs/<cid>`).
//!
//! What is fetched is untrusted: both files are bounded in size (the weights by
//! `--max-adapter-bytes`, the config by [`MAX_CONFIG_BYTES`]), the whole fetch by
//! `--adapter-fetch-seconds`, and the registry loads and hashes the result before anything is
//! served from it. Every call here blocks.

use std::{
	io::Read,
	path::{Path, PathBuf},
	time::{Duration, Instant},
};

/// The largest `adapter_config.json` taken.
pub const MAX_CONFIG_BYTES: usize = 64 << 10;

/// How adapters are fetched.
#[derive(Clone, Debug)]
pub struct FetchOptions {
	/// The largest weights file, in bytes.
	pub max_weights_bytes: usize,
	/// The whole fetch (both files, redirects included).
	pub timeout: Duration,
	/// The HTTP gateway `ipfs://` URIs go through, without a trailing slash.
	pub ipfs_gateway: Option<String>,
	/// The directory `file://` URIs must resolve inside; none refuses them.
	pub file_root: Option<PathBuf>,
}

/// Why an adapter could not be fetched.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum FetchError {
	/// The URI is not one this service fetches (its scheme, its form, or a `file://` path
	/// outside the allowed root).
	#[error("{0}")]
	Refused(String),
	/// The source did not give the files: unreachable, an HTTP error, too slow.
	#[error("{0}")]
	Unavailable(String),
	/// A file is larger than allowed.
	#[error("{0}")]
	TooLarge(String),
}

/// Where the two files are, resolved from the URI.
#[derive(Debug, PartialEq, Eq)]
enum Source {
	/// A base URL ending in `/`.
	Http(String),
	/// A directory inside the allowed root.
	File(PathBuf),
}

const CONFIG: &str = "adapter_config.json";
const WEIGHTS: &str = "adapter_model.safetensors";

/// Resolves `uri` to where its files are, refusing what these options do not allow.
fn source(uri: &str, options: &FetchOptions) -> Result<Source, FetchError> {
	let refused = |why: &str| FetchError::Refused(format!("adapter URI {uri:?}: {why}"));
	if uri.chars().any(|c| c.is_control() || c.is_whitespace()) {
		return Err(refused("it holds spaces or control characters"));
	}
	let directory = |base: &str| {
		if base.ends_with('/') {
			base.to_string()
		} else {
			format!("{base}/")
		}
	};
	if let Some(rest) = uri.strip_prefix("https://").or_else(|| uri.strip_prefix("http://")) {
		if rest.is_empty() || rest.starts_with('/') || rest.contains(['?', '#']) {
			return Err(refused("no host, or a query or fragment"));
		}
		return Ok(Source::Http(directory(uri)));
	}
	if let Some(rest) = uri.strip_prefix("ipfs://") {
		let Some(gateway) = &options.ipfs_gateway else {
			return Err(refused("ipfs:// needs --ipfs-gateway"));
		};
		let cid = rest.split('/').next().unwrap_or_default();
		let path_ok = rest.split('/').skip(1).all(|part| part != ".." && part != ".");
		if cid.is_empty() || !cid.chars().all(|c| c.is_ascii_alphanumeric()) || !path_ok {
			return Err(refused("not ipfs://<cid>[/path]"));
		}
		if rest.contains(['?', '#', '\\', '%']) {
			return Err(refused("a query, fragment or escape in an ipfs:// path"));
		}
		return Ok(Source::Http(directory(&format!("{gateway}/ipfs/{rest}"))));
	}
	if let Some(path) = uri.strip_prefix("file://") {
		let Some(root) = &options.file_root else {
			return Err(refused("file:// needs --adapter-file-root"));
		};
		if !path.starts_with('/') || path.contains('%') {
			return Err(refused("not file:///<absolute path>"));
		}
		let root = root
			.canonicalize()
			.map_err(|e| FetchError::Unavailable(format!("--adapter-file-root: {e}")))?;
		let dir = Path::new(path)
			.canonicalize()
			.map_err(|e| FetchError::Unavailable(format!("adapter URI {uri:?}: {e}")))?;
		if !dir.starts_with(&root) {
			return Err(refused("outside --adapter-file-root"));
		}
		return Ok(Source::File(dir));
	}
	Err(refused("the scheme is not https, http, file or ipfs"))
}

/// Reads at most `max` bytes from `reader`, refusing more.
fn bounded(reader: impl Read, max: usize, what: &str) -> Result<Vec<u8>, FetchError> {
	let mut bytes = Vec::new();
	reader
		.take(max as u64 + 1)
		.read_to_end(&mut bytes)
		.map_err(|e| FetchError::Unavailable(format!("reading {what}: {e}")))?;
	if bytes.len() > max {
		return Err(FetchError::TooLarge(format!("{what} is larger than {max} bytes")));
	}
	Ok(bytes)
}

/// The adapter at `uri`: its `adapter_config.json` (parsed) and its weights' bytes.
pub fn fetch(
	uri: &str,
	options: &FetchOptions,
) -> Result<(serde_json::Value, Vec<u8>), FetchError> {
	let started = Instant::now();
	let (config, weights) = match source(uri, options)? {
		Source::File(dir) => {
			let open = |name: &str| {
				let path = dir.join(name);
				std::fs::File::open(&path)
					.map_err(|e| FetchError::Unavailable(format!("{}: {e}", path.display())))
			};
			(
				bounded(open(CONFIG)?, MAX_CONFIG_BYTES, CONFIG)?,
				bounded(open(WEIGHTS)?, options.max_weights_bytes, WEIGHTS)?,
			)
		}
		Source::Http(base) => {
			let agent: ureq::Agent = ureq::Agent::config_builder()
				.timeout_global(Some(options.timeout))
				.http_status_as_error(true)
				.user_agent(concat!("tributary-lora/", env!("CARGO_PKG_VERSION")))
				.build()
				.into();
			let get = |name: &str, max: usize| -> Result<Vec<u8>, FetchError> {
				let url = format!("{base}{name}");
				// What the global timeout leaves: both files share it.
				let left = options.timeout.saturating_sub(started.elapsed());
				if left.is_zero() {
					return Err(FetchError::Unavailable(format!("{url}: timed out")));
				}
				let mut response = agent
					.get(&url)
					.config()
					.timeout_global(Some(left))
					.build()
					.call()
					.map_err(|e| FetchError::Unavailable(format!("{url}: {e}")))?;
				let declared = response.body().content_length();
				if declared.is_some_and(|length| length > max as u64) {
					return Err(FetchError::TooLarge(format!("{url} is larger than {max} bytes")));
				}
				bounded(response.body_mut().as_reader(), max, &url)
			};
			(get(CONFIG, MAX_CONFIG_BYTES)?, get(WEIGHTS, options.max_weights_bytes)?)
		}
	};
	let config = serde_json::from_slice(&config)
		.map_err(|e| FetchError::Unavailable(format!("{CONFIG} at {uri}: not JSON: {e}")))?;
	Ok((config, weights))
}

#[cfg(test)]
mod tests {
	use super::*;

	fn options() -> FetchOptions {
		FetchOptions {
			max_weights_bytes: 1 << 20,
			timeout: Duration::from_secs(5),
			ipfs_gateway: Some("http://127.0.0.1:8080".into()),
			file_root: None,
		}
	}

	#[test]
	fn uris_resolve_to_a_directory_or_are_refused() {
		let o = options();
		assert_eq!(
			source("https://example.org/a/b", &o),
			Ok(Source::Http("https://example.org/a/b/".into()))
		);
		assert_eq!(
			source("http://127.0.0.1:9/x/", &o),
			Ok(Source::Http("http://127.0.0.1:9/x/".into()))
		);
		assert_eq!(
			source("ipfs://bafyabc/adapter", &o),
			Ok(Source::Http("http://127.0.0.1:8080/ipfs/bafyabc/adapter/".into()))
		);
		for uri in [
			"ftp://example.org/a",
			"https://",
			"https:///path",
			"https://example.org/a?x=1",
			"https://example.org/a b",
			"ipfs://",
			"ipfs://bafy/../../etc",
			"ipfs://bafy%2f",
			"file:///etc",
			"/etc/passwd",
			"",
		] {
			assert!(matches!(source(uri, &o), Err(FetchError::Refused(_))), "{uri}");
		}
		let without_gateway = FetchOptions { ipfs_gateway: None, ..o };
		assert!(matches!(source("ipfs://bafy", &without_gateway), Err(FetchError::Refused(_))));
	}

	#[test]
	fn file_uris_stay_inside_their_root() {
		let root = std::env::temp_dir().join(format!("fetch-root-{}", std::process::id()));
		let inside = root.join("adapter");
		std::fs::create_dir_all(&inside).unwrap();
		std::fs::write(inside.join(CONFIG), br#"{"r": 4}"#).unwrap();
		std::fs::write(inside.join(WEIGHTS), vec![7u8; 100]).unwrap();
		let o = FetchOptions { file_root: Some(root.clone()), ..options() };
		let uri = format!("file://{}", inside.display());
		let (config, weights) = fetch(&uri, &o).unwrap();
		assert_eq!(config["r"], 4);
		assert_eq!(weights, vec![7u8; 100]);
		// `..` out of the root, once resolved, is refused.
		let escape = format!("file://{}/../..", inside.display());
		assert!(matches!(fetch(&escape, &o), Err(FetchError::Refused(_))), "{escape}");
		// Larger than allowed.
		let small = FetchOptions { max_weights_bytes: 99, ..o.clone() };
		assert!(matches!(fetch(&uri, &small), Err(FetchError::TooLarge(_))));
		std::fs::write(inside.join(CONFIG), vec![b' '; MAX_CONFIG_BYTES + 1]).unwrap();
		assert!(matches!(fetch(&uri, &o), Err(FetchError::TooLarge(_))));
		std::fs::remove_dir_all(&root).unwrap();
	}
}
