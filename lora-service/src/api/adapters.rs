//! `GET /v1/models`, `POST /v1/adapters` and `DELETE /v1/adapters/{id}`: adapters on disk
//! under `--adapters-dir`, one PEFT directory per id, loaded into the cache when used.

use std::sync::Arc;

use axum::{
	extract::{rejection::JsonRejection, Path, State},
	http::StatusCode,
	Json,
};
use base64::Engine as _;
use serde_json::{json, Value};

use super::{
	lock,
	openai::AdapterUpload,
	validate::{self, valid_id},
	AppState,
};
use crate::{
	adapters::Adapter,
	error::ApiError,
	hash::{blake2_256, hex},
};

pub(super) fn registered(state: &AppState, id: &str) -> bool {
	valid_id(id) && state.options.adapters_dir.join(id).join("adapter_model.safetensors").exists()
}

pub(super) async fn models(State(state): State<Arc<AppState>>) -> Json<Value> {
	let mut ids = Vec::new();
	if let Ok(entries) = std::fs::read_dir(&state.options.adapters_dir) {
		ids = entries
			.filter_map(|entry| entry.ok()?.file_name().into_string().ok())
			.filter(|id| registered(&state, id))
			.collect();
		ids.sort();
	}
	let resident = lock(&state.adapters);
	let mut data = vec![json!({ "id": "base", "object": "model", "owned_by": "tributary" })];
	data.extend(ids.iter().map(|id| {
		json!({
			"id": id,
			"object": "model",
			"owned_by": "tributary",
			"parent": "base",
			"resident": resident.contains(id),
		})
	}));
	Json(json!({ "object": "list", "data": data }))
}

/// Loads the adapter in `dir`, refusing one above `--max-adapter-rank`.
fn load_adapter(state: &AppState, dir: &std::path::Path) -> Result<Adapter, ApiError> {
	let invalid = |message: String| ApiError::unprocessable("invalid_adapter", message);
	let adapter =
		Adapter::load(dir, &state.config, &state.device).map_err(|e| invalid(format!("{e:#}")))?;
	if adapter.rank > state.options.max_adapter_rank {
		return Err(invalid(format!(
			"rank {} is above the service's maximum of {}",
			adapter.rank, state.options.max_adapter_rank
		)));
	}
	Ok(adapter)
}

/// The adapter `id`, from the cache or loaded from disk, checked against `expected_hash`.
pub(super) fn resident(
	state: &AppState,
	id: &str,
	expected_hash: Option<&str>,
) -> Result<Arc<Adapter>, ApiError> {
	let expected =
		expected_hash.map(|text| validate::hash("invalid_adapter_hash", text)).transpose()?;
	if !registered(state, id) {
		return Err(ApiError::not_found("unknown_adapter", format!("no adapter {id:?}")));
	}
	let mut cache = lock(&state.adapters);
	let adapter = match cache.get(id) {
		Some(adapter) => adapter,
		None => {
			let started = std::time::Instant::now();
			let dir = state.options.adapters_dir.join(id);
			let adapter = Arc::new(load_adapter(state, &dir)?);
			cache.loads += 1;
			cache.load_seconds += started.elapsed().as_secs_f64();
			tracing::debug!(id, "adapter loaded in {:.2?}", started.elapsed());
			cache.insert(id, adapter.clone());
			adapter
		}
	};
	if let Some(expected) = expected {
		if adapter.hash != expected {
			return Err(ApiError::conflict(
				"adapter_hash_mismatch",
				format!(
					"adapter {id} has blake2-256 0x{}, not 0x{}",
					hex(&adapter.hash),
					hex(&expected)
				),
			));
		}
	}
	Ok(adapter)
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
	let weights = base64::engine::general_purpose::STANDARD
		.decode(upload.weights_base64.as_bytes())
		.map_err(|e| ApiError::bad("invalid_base64", format!("weights_base64: {e}")))?;
	let max = state.options.max_adapter_bytes;
	if weights.len() > max {
		return Err(ApiError::PayloadTooLarge(
			"adapter_too_large",
			format!("the weights are {} bytes, above the limit of {max}", weights.len()),
		));
	}
	let hash = blake2_256(&weights);
	if let Some(expected) = &upload.expected_hash {
		let parsed = validate::hash("invalid_adapter_hash", expected)?;
		if parsed != hash {
			return Err(ApiError::conflict(
				"adapter_hash_mismatch",
				format!("the weights hash to 0x{}, not {expected}", hex(&hash)),
			));
		}
	}
	let dir = state.options.adapters_dir.join(&upload.id);
	// The cache lock also serialises registrations.
	let mut cache = lock(&state.adapters);
	if dir.exists() {
		return Err(ApiError::conflict(
			"adapter_exists",
			format!("adapter {} exists; delete it first", upload.id),
		));
	}
	let staging = state.options.adapters_dir.join(format!(".upload-{}", upload.id));
	let write = || -> std::io::Result<()> {
		std::fs::create_dir_all(&staging)?;
		std::fs::write(staging.join("adapter_model.safetensors"), &weights)?;
		std::fs::write(
			staging.join("adapter_config.json"),
			serde_json::to_vec_pretty(&upload.adapter_config)?,
		)
	};
	write().map_err(|e| ApiError::internal("adapter_unwritable", e))?;
	let adapter = match load_adapter(&state, &staging) {
		Ok(adapter) => Arc::new(adapter),
		Err(e) => {
			std::fs::remove_dir_all(&staging).ok();
			return Err(e);
		}
	};
	std::fs::rename(&staging, &dir).map_err(|e| ApiError::internal("adapter_unwritable", e))?;
	tracing::info!(id = upload.id, rank = adapter.rank, "adapter registered");
	let body = json!({
		"id": upload.id,
		"hash": format!("0x{}", hex(&hash)),
		"rank": adapter.rank,
		"bytes": adapter.bytes(),
	});
	cache.insert(&upload.id, adapter);
	Ok((StatusCode::CREATED, Json(body)))
}

pub(super) async fn delete_adapter(
	State(state): State<Arc<AppState>>,
	Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
	let mut cache = lock(&state.adapters);
	if !registered(&state, &id) {
		return Err(ApiError::not_found("unknown_adapter", format!("no adapter {id:?}")));
	}
	cache.remove(&id);
	std::fs::remove_dir_all(state.options.adapters_dir.join(&id))
		.map_err(|e| ApiError::internal("adapter_undeletable", e))?;
	tracing::info!(id, "adapter deleted");
	Ok(Json(json!({ "id": id, "deleted": true })))
}
