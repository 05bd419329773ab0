//! `POST /v1/blobs`, `GET /v1/datasets`, and `POST`, `GET` and `DELETE` of
//! `/v1/datasets/{id}/records`: record bytes and the datasets' indexes that attribution
//! searches, kept in step with the chain by its node. Disk, tokenization and index builds run
//! off the async workers.

use std::sync::Arc;

use axum::{
	body::Bytes,
	extract::{
		path::ErrorKind,
		rejection::{BytesRejection, JsonRejection, PathRejection, QueryRejection},
		Path, Query, State,
	},
	http::StatusCode,
	response::{IntoResponse, Response},
	Json,
};
use serde_json::{json, Value};

use super::{
	blocking, lock,
	openai::{RecordUpload, RecordsBody},
	read,
	validate::{self, parse},
	write, AppState,
};
use crate::{
	attribution::{AddError, Record, RemoveError},
	error::ApiError,
	hash::{blake2_256, hex},
	metrics::bump,
};

pub(super) async fn add_blob(
	State(state): State<Arc<AppState>>,
	body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
	let body = body.map_err(ApiError::unreadable_body)?;
	let bytes = body.len();
	let hash = blocking(move || {
		lock(&state.blobs).put(body.to_vec()).map_err(|e| ApiError::internal("blob_unwritable", e))
	})
	.await?;
	let hash = format!("0x{}", hex(&hash));
	Ok((StatusCode::CREATED, Json(json!({ "content_hash": hash, "bytes": bytes }))).into_response())
}

pub(super) async fn datasets(State(state): State<Arc<AppState>>) -> Json<Value> {
	let indexes = read(&state.indexes).clone();
	let mut list: Vec<Value> = indexes
		.iter()
		.map(|(id, index)| {
			json!({
				"dataset_id": id,
				"records": index.records().count(),
				"tokens": index.len(),
				"segments": index.segments().len(),
				"index_bytes": index.bytes(),
			})
		})
		.collect();
	list.sort_by_key(|d| d["dataset_id"].as_u64());
	Json(json!({ "data": list }))
}

/// A dataset id from the path, or 400 `invalid_dataset_id`.
fn dataset_id(path: Result<Path<u32>, PathRejection>) -> Result<u32, ApiError> {
	let Path(dataset_id) = path.map_err(|e| {
		ApiError::bad("invalid_dataset_id", format!("a dataset id: {}", e.body_text()))
	})?;
	Ok(dataset_id)
}

/// A page of a dataset's records in contribution order, for a node to compare with the chain
/// (a dataset without records lists none).
pub(super) async fn list_records(
	State(state): State<Arc<AppState>>,
	path: Result<Path<u32>, PathRejection>,
	query: Result<Query<Vec<(String, String)>>, QueryRejection>,
) -> Result<Json<Value>, ApiError> {
	let dataset_id = dataset_id(path)?;
	let Query(query) = query.map_err(|e| ApiError::bad("invalid_query", e.body_text()))?;
	let (after, limit) = validate::records_page(&query)?;
	let indexes = read(&state.indexes).clone();
	// A page of a large dataset walks every record it holds: off the async workers.
	blocking(move || {
		let (page, more) =
			indexes.get(&dataset_id).map(|index| index.page(after, limit)).unwrap_or_default();
		let data: Vec<Value> = page
			.into_iter()
			.map(|(record, tokens)| {
				json!({
					"contribution_id": record.contribution_id,
					"content_hash": format!("0x{}", hex(&record.content_hash)),
					"tokens": tokens,
				})
			})
			.collect();
		Ok(Json(json!({ "dataset_id": dataset_id, "data": data, "has_more": more })))
	})
	.await
}

/// Removes records from a dataset's index, as the chain withdraws them: those it does not hold
/// are reported missing, so that removing twice answers alike.
pub(super) async fn remove_records(
	State(state): State<Arc<AppState>>,
	path: Result<Path<(u32, String)>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
	let Path((dataset_id, list)) = path.map_err(removal_path_refused)?;
	let ids = validate::contribution_ids(&list)?;
	// Rebuilding segments and writing them run off the async workers, one change at a time
	// (the corpus's lock); attribution searches the indexes published before, meanwhile.
	blocking(move || unindex_records(&state, dataset_id, ids)).await
}

fn unindex_records(
	state: &AppState,
	dataset_id: u32,
	ids: Vec<u32>,
) -> Result<Json<Value>, ApiError> {
	let mut corpus = lock(&state.corpus);
	let removed = corpus.remove(dataset_id, &ids);
	let changed = match &removed {
		Ok(removed) | Err(RemoveError::Unwritable { removed, .. }) => removed.len(),
		Err(RemoveError::Failed(_)) => 0,
	};
	if changed > 0 {
		*write(&state.indexes) = Arc::new(corpus.indexes());
		bump(&state.metrics.records_removed, changed as u64);
	}
	drop(corpus);
	match removed {
		Ok(removed) => {
			let mut missing: Vec<u32> =
				ids.into_iter().filter(|id| removed.binary_search(id).is_err()).collect();
			missing.sort_unstable();
			Ok(Json(json!({ "dataset_id": dataset_id, "removed": removed, "missing": missing })))
		}
		Err(RemoveError::Unwritable { error, .. }) => {
			Err(ApiError::internal("index_unwritable", format!("{error:#}")))
		}
		Err(RemoveError::Failed(error)) => {
			Err(ApiError::internal("index_failed", format!("{error:#}")))
		}
	}
}

/// Why a removal's path did not parse: ids that are not UTF-8 once percent-decoded, or
/// (otherwise) the dataset id.
fn removal_path_refused(rejection: PathRejection) -> ApiError {
	if let PathRejection::FailedToDeserializePathParams(failed) = &rejection {
		if let ErrorKind::InvalidUtf8InPathParam { key } = failed.kind() {
			if key == "contribution_ids" {
				return ApiError::bad("invalid_contribution_ids", rejection.body_text());
			}
		}
	}
	ApiError::bad("invalid_dataset_id", format!("a dataset id: {}", rejection.body_text()))
}

pub(super) async fn add_records(
	State(state): State<Arc<AppState>>,
	path: Result<Path<u32>, PathRejection>,
	body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
	let dataset_id = dataset_id(path)?;
	let fields = ["records", "contribution_id", "text", "content_hash"];
	let uploads = match parse::<RecordsBody>(body, &fields, &[])? {
		RecordsBody::One(one) => vec![one],
		RecordsBody::Many { records } => records,
	};
	if uploads.is_empty() {
		return Err(ApiError::bad("no_records", "records is empty"));
	}
	let max = state.options.max_record_bytes;
	for upload in &uploads {
		if let Some(text) = &upload.text {
			validate::text_bytes("record_too_large", "a record", text, max)?;
		}
	}
	// Reading blobs, tokenizing and indexing run off the async workers, one upload at a time
	// (the corpus's lock); attribution searches the indexes published before, meanwhile.
	blocking(move || index_records(&state, dataset_id, uploads)).await
}

fn index_records(
	state: &AppState,
	dataset_id: u32,
	uploads: Vec<RecordUpload>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
	// Every record's bytes before any is tokenized: a hash that does not match refuses the
	// upload at once.
	let mut contents = Vec::with_capacity(uploads.len());
	for upload in uploads {
		contents.push((upload.contribution_id, record_bytes(state, upload)?));
	}
	let mut records = Vec::with_capacity(contents.len());
	for (contribution_id, bytes) in contents {
		// Bytes that are not UTF-8 are tokenized with U+FFFD in place of each invalid sequence.
		let tokens = state
			.tokenizer
			.encode(String::from_utf8_lossy(&bytes).as_ref(), false)
			.map_err(|e| ApiError::bad("untokenizable_record", e.to_string()))?
			.get_ids()
			.to_vec();
		let record = Record { contribution_id, content_hash: blake2_256(&bytes) };
		records.push((record, tokens));
	}
	let summary: Vec<Value> = records
		.iter()
		.map(|(record, tokens)| {
			json!({
				"contribution_id": record.contribution_id,
				"content_hash": format!("0x{}", hex(&record.content_hash)),
				"tokens": tokens.len(),
			})
		})
		.collect();
	let mut corpus = lock(&state.corpus);
	let added = corpus.add(dataset_id, records);
	if !matches!(added, Err(AddError::Duplicate(_) | AddError::Failed(_))) {
		// Indexed (written to disk or not): searches see it from now on.
		*write(&state.indexes) = Arc::new(corpus.indexes());
	}
	drop(corpus);
	match added {
		Ok(()) => Ok((
			StatusCode::CREATED,
			Json(if summary.len() == 1 {
				let mut one = summary[0].clone();
				one["dataset_id"] = json!(dataset_id);
				one
			} else {
				json!({ "dataset_id": dataset_id, "records": summary })
			}),
		)),
		Err(AddError::Duplicate(id)) => Err(ApiError::conflict(
			"duplicate_record",
			format!("dataset {dataset_id} has contribution {id} already (or twice in this upload)"),
		)),
		Err(AddError::Unwritable(e)) => {
			Err(ApiError::internal("index_unwritable", format!("{e:#}")))
		}
		Err(AddError::Failed(e)) => {
			Err(ApiError::unprocessable("unindexable_record", format!("{e:#}")))
		}
	}
}

/// A record's bytes, whose hash is the one on chain: its text (checked against `content_hash`
/// when both are given), or the uploaded blob `content_hash` names.
fn record_bytes(state: &AppState, upload: RecordUpload) -> Result<Vec<u8>, ApiError> {
	let id = upload.contribution_id;
	match (upload.text, upload.content_hash) {
		(Some(text), None) => Ok(text.into_bytes()),
		(Some(text), Some(hash)) => {
			let expected = validate::hash("invalid_content_hash", &hash)?;
			let actual = blake2_256(text.as_bytes());
			if actual != expected {
				return Err(ApiError::unprocessable(
					"record_hash_mismatch",
					format!(
						"contribution {id}: the text's blake2-256 is 0x{}, not {hash}",
						hex(&actual)
					),
				));
			}
			Ok(text.into_bytes())
		}
		(None, Some(hash)) => {
			let parsed = validate::hash("invalid_content_hash", &hash)?;
			lock(&state.blobs)
				.get(&parsed)
				.map_err(|e| ApiError::internal("blob_unreadable", e))?
				.ok_or_else(|| ApiError::not_found("unknown_blob", format!("no blob {hash}")))
		}
		(None, None) => Err(ApiError::bad(
			"invalid_record",
			format!("contribution {id}: a record has text, content_hash or both"),
		)),
	}
}
