//! `POST /v1/blobs`, `GET /v1/datasets` and `POST /v1/datasets/{id}/records`: record bytes
//! and the datasets' indexes that attribution searches. Disk, tokenization and index builds run
//! off the async workers.

use std::sync::Arc;

use axum::{
	body::Bytes,
	extract::{
		rejection::{BytesRejection, JsonRejection},
		Path, State,
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
	attribution::{AddError, Record},
	error::ApiError,
	hash::{blake2_256, hex},
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

pub(super) async fn add_records(
	State(state): State<Arc<AppState>>,
	path: Result<Path<u32>, axum::extract::rejection::PathRejection>,
	body: Result<Json<Value>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
	let Path(dataset_id) = path.map_err(|e| {
		ApiError::bad("invalid_dataset_id", format!("a dataset id: {}", e.body_text()))
	})?;
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
	let mut records = Vec::with_capacity(uploads.len());
	for upload in uploads {
		// The record's bytes: the hash on chain is theirs; bytes that are not UTF-8 are
		// tokenized with U+FFFD in place of each invalid sequence.
		let bytes = match (upload.text, upload.content_hash) {
			(Some(text), None) => text.into_bytes(),
			(None, Some(hash)) => {
				let parsed = validate::hash("invalid_content_hash", &hash)?;
				lock(&state.blobs)
					.get(&parsed)
					.map_err(|e| ApiError::internal("blob_unreadable", e))?
					.ok_or_else(|| ApiError::not_found("unknown_blob", format!("no blob {hash}")))?
			}
			_ => {
				return Err(ApiError::bad(
					"invalid_record",
					"a record has either text or content_hash",
				))
			}
		};
		let tokens = state
			.tokenizer
			.encode(String::from_utf8_lossy(&bytes).as_ref(), false)
			.map_err(|e| ApiError::bad("untokenizable_record", e.to_string()))?
			.get_ids()
			.to_vec();
		let record =
			Record { contribution_id: upload.contribution_id, content_hash: blake2_256(&bytes) };
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
