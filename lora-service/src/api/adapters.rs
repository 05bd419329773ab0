//! `GET /v1/models`, `POST /v1/adapters` and `DELETE /v1/adapters/{id}`: thin handlers over
//! the adapter registry (`adapters::Registry`), whose disk and parsing work runs off the async
//! workers.

use std::sync::Arc;

use axum::{
	extract::{rejection::JsonRejection, Path, State},
	http::StatusCode,
	Json,
};
use base64::Engine as _;
use serde_json::{json, Value};

use super::{blocking, lock, openai::AdapterUpload, validate, AppState};
use crate::{
	adapters::{fetch, valid_id, Adapter, FetchError, RegistryError},
	error::ApiError,
	hash::hex,
	metrics::bump,
};

impl From<FetchError> for ApiError {
	fn from(error: FetchError) -> Self {
		let message = error.to_string();
		match error {
			FetchError::Refused(_) => ApiError::unprocessable("adapter_uri_refused", message),
			FetchError::TooLarge(_) => {
				ApiError::unprocessable("fetched_adapter_too_large", message)
			}
			FetchError::Unavailable(_) => ApiError::BadGateway("adapter_fetch_failed", message),
		}
	}
}

impl From<RegistryError> for ApiError {
	fn from(error: RegistryError) -> Self {
		let message = error.to_string();
		match error {
			RegistryError::Unknown(_) => ApiError::not_found("unknown_adapter", message),
			RegistryError::Exists(_) => ApiError::conflict("adapter_exists", message),
			RegistryError::Invalid(_) => ApiError::unprocessable("invalid_adapter", message),
			RegistryError::Io(_) => ApiError::internal("adapter_unwritable", message),
			RegistryError::HashMismatch { .. } => {
				ApiError::conflict("adapter_hash_mismatch", message)
			}
		}
	}
}

pub(super) async fn models(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
	let registry = state.adapters.clone();
	let listed = blocking(move || {
		let ids = registry.ids();
		let cache = registry.cache();
		Ok(ids.into_iter().map(|id| (cache.contains(&id), id)).collect::<Vec<_>>())
	})
	.await?;
	let mut data = vec![json!({ "id": "base", "object": "model", "owned_by": "tributary" })];
	data.extend(listed.into_iter().map(|(resident, id)| {
		json!({
			"id": id,
			"object": "model",
			"owned_by": "tributary",
			"parent": "base",
			"resident": resident,
		})
	}));
	Ok(Json(json!({ "object": "list", "data": data })))
}

/// The adapter a generation names: `id` checked against `expected_hash`; with `uri` (the URI
/// registered on chain with the adapter), one the service lacks, or holds under `id` with
/// another hash, is fetched from the URI, checked against the hash and kept under the hash's
/// hex. So a fetched adapter is served only once its hash is checked, and an adapter put under
/// an on-chain id by someone else cannot stand in for the real one.
pub(super) async fn resident(
	state: &AppState,
	id: &str,
	expected_hash: Option<&str>,
	uri: Option<&str>,
) -> Result<Arc<Adapter>, ApiError> {
	let expected =
		expected_hash.map(|text| validate::hash("invalid_adapter_hash", text)).transpose()?;
	let Some(uri) = uri else {
		return by_id(state, id, expected).await;
	};
	let Some(expected) = expected else {
		return Err(ApiError::bad(
			"adapter_uri_without_hash",
			"adapter_uri needs adapter_hash: a fetched adapter is served only once its hash is \
			 checked",
		));
	};
	if state.adapters.registered(id) {
		match by_id(state, id, Some(expected)).await {
			Err(ApiError::Conflict("adapter_hash_mismatch", _)) => {}
			found => return found,
		}
	}
	let content_id = hex(&expected);
	if !state.adapters.registered(&content_id) {
		fetch_once(state, uri, expected).await?;
	}
	by_id(state, &content_id, Some(expected)).await
}

/// Fetches the adapter at `uri` and registers it under the hex of `expected`, its hash; one
/// fetch per hash at a time.
async fn fetch_once(state: &AppState, uri: &str, expected: [u8; 32]) -> Result<(), ApiError> {
	let gate = lock(&state.fetches).entry(expected).or_default().clone();
	let _turn = gate.lock().await;
	let content_id = hex(&expected);
	if state.adapters.registered(&content_id) {
		return Ok(());
	}
	let (registry, options, owned) =
		(state.adapters.clone(), state.options.fetch_options(), uri.to_string());
	let started = std::time::Instant::now();
	let id = content_id.clone();
	let outcome = blocking(move || {
		let (config, weights) = fetch(&owned, &options)?;
		match registry.register(&id, &config, &weights, Some(expected)) {
			Ok(adapter) => Ok(Some(adapter)),
			// Registered meanwhile through the upload route, and checked there.
			Err(RegistryError::Exists(_)) => Ok(None),
			Err(e) => Err(e.into()),
		}
	})
	.await;
	lock(&state.fetches).remove(&expected);
	let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
	bump(&state.metrics.adapter_fetch_millis, millis);
	match outcome {
		Ok(fetched) => {
			bump(&state.metrics.adapter_fetches, 1);
			if let Some(adapter) = fetched {
				tracing::info!(
					uri,
					hash = content_id,
					rank = adapter.rank,
					bytes = adapter.bytes(),
					"adapter fetched in {millis} ms"
				);
			}
			Ok(())
		}
		Err(e) => {
			bump(&state.metrics.adapter_fetch_failures, 1);
			tracing::warn!(uri, hash = content_id, "adapter fetch failed: {e}");
			Err(e)
		}
	}
}

/// The adapter `id`, from memory or loaded from disk, checked against `expected`.
async fn by_id(
	state: &AppState,
	id: &str,
	expected: Option<[u8; 32]>,
) -> Result<Arc<Adapter>, ApiError> {
	// A resident adapter is served at once; only a load goes to a blocking thread.
	let adapter = match state.adapters.cached(id) {
		Some(adapter) => adapter,
		None => {
			let (registry, owned) = (state.adapters.clone(), id.to_string());
			blocking(move || Ok(registry.resident(&owned)?)).await?
		}
	};
	match expected {
		Some(expected) if adapter.hash != expected => Err(ApiError::conflict(
			"adapter_hash_mismatch",
			format!("adapter {id} has hash 0x{}, not 0x{}", hex(&adapter.hash), hex(&expected)),
		)),
		_ => Ok(adapter),
	}
}

pub(super) async fn add_adapter(
	State(state): State<Arc<AppState>>,
	body: Result<Json<AdapterUpload>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
	let Json(upload) = body.map_err(ApiError::invalid_json)?;
	if !valid_id(&upload.id) {
		return Err(ApiError::bad(
			"invalid_adapter_id",
			"an adapter id is 1 to 64 letters, digits, - or _ (and not \"base\")",
		));
	}
	let expected = upload
		.expected_hash
		.as_deref()
		.map(|h| validate::hash("invalid_adapter_hash", h))
		.transpose()?;
	let max = state.options.max_adapter_bytes;
	let registry = state.adapters.clone();
	let (id, adapter) = blocking(move || {
		let weights = base64::engine::general_purpose::STANDARD
			.decode(upload.weights_base64.as_bytes())
			.map_err(|e| ApiError::bad("invalid_base64", format!("weights_base64: {e}")))?;
		if weights.len() > max {
			return Err(ApiError::PayloadTooLarge(
				"adapter_too_large",
				format!("the weights are {} bytes, above the limit of {max}", weights.len()),
			));
		}
		let adapter = registry.register(&upload.id, &upload.adapter_config, &weights, expected)?;
		Ok((upload.id, adapter))
	})
	.await?;
	tracing::info!(id, rank = adapter.rank, "adapter registered");
	let body = json!({
		"id": id,
		"hash": format!("0x{}", hex(&adapter.hash)),
		"rank": adapter.rank,
		"bytes": adapter.bytes(),
	});
	Ok((StatusCode::CREATED, Json(body)))
}

pub(super) async fn delete_adapter(
	State(state): State<Arc<AppState>>,
	Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
	let (registry, owned) = (state.adapters.clone(), id.clone());
	blocking(move || Ok(registry.delete(&owned)?)).await?;
	tracing::info!(id, "adapter deleted");
	Ok(Json(json!({ "id": id, "deleted": true })))
}
