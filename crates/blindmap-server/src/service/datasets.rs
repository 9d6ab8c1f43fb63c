//! Datasets: CRM exports imported whole or not at all, the one a match uses (the active dataset)
//! and deleting old ones. The API (`api/datasets.rs`) and the pages call these, so an import,
//! an activation and a deletion are checked, stored and audited the same way whoever asks.

use std::io::{BufReader, Seek};

use blindmap_records::{Importer, Preset, read_header};
use blindmap_store::{DatasetId, DatasetInfo, Principal, StoreError};

use crate::AppState;

/// Why a dataset cannot be imported, activated or deleted. `http::error` maps each to its
/// status: unreadable → 422, the upload gone → 503, the store's own (no such dataset → 404).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum DatasetError {
    /// The file cannot be read as an export: malformed, or its header fits no preset.
    #[error("{0}")]
    Unreadable(String),
    /// The spooled upload could not be read back.
    #[error("the upload cannot be read back")]
    ReadBack,
    /// The store failed or refused (the active dataset, one in use, …).
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Imports `file`, an export spooled to disk, as the dataset `name`: read with `preset`, or the
/// preset its header names. The organisation's first dataset becomes active; a later one only
/// with `activate`.
pub(crate) async fn import(
    state: &AppState,
    caller: &Principal,
    name: &str,
    preset: Option<Preset>,
    activate: bool,
    file: std::fs::File,
) -> Result<DatasetInfo, DatasetError> {
    let mut input = BufReader::with_capacity(1 << 16, file);
    let mapping = match preset {
        Some(p) => p,
        None => {
            let header = read_header(name, &mut input, None).map_err(|e| DatasetError::Unreadable(e.to_string()))?;
            input.get_mut().rewind().map_err(|_| DatasetError::ReadBack)?;
            input = BufReader::with_capacity(1 << 16, input.into_inner());
            Preset::detect(&header).ok_or_else(|| {
                DatasetError::Unreadable("cannot tell which export this is from its header: pass preset=".into())
            })?
        }
    };
    let importer =
        Importer::new(name, input, &mapping.mapping()).map_err(|e| DatasetError::Unreadable(e.to_string()))?;
    let org = &caller.user.org;
    let info = state.store.import_dataset(org, name, mapping.name(), importer).await?;
    let detail = serde_json::json!({ "dataset": info.id.to_string(), "rows": info.rows, "accounts": info.accounts });
    state.store.record_audit(org, &caller.user.name, "dataset.imported", &detail).await?;
    if activate && !info.active {
        return self::activate(state, caller, &info.id).await;
    }
    Ok(info)
}

/// Makes a dataset the organisation's active one, with its audit entry.
pub(crate) async fn activate(
    state: &AppState,
    caller: &Principal,
    id: &DatasetId,
) -> Result<DatasetInfo, DatasetError> {
    let org = &caller.user.org;
    let info = state.store.activate_dataset(org, id).await?;
    let detail = serde_json::json!({ "dataset": id.to_string(), "name": info.name });
    state.store.record_audit(org, &caller.user.name, "dataset.activated", &detail).await?;
    Ok(info)
}

/// Deletes a dataset that is not the active one, with the runs that matched it if `with_runs`;
/// returns it and how many runs went with it.
pub(crate) async fn delete(
    state: &AppState,
    caller: &Principal,
    id: &DatasetId,
    with_runs: bool,
) -> Result<(DatasetInfo, u64), DatasetError> {
    let org = &caller.user.org;
    let (deleted, runs) = state.store.delete_dataset(org, id, with_runs).await?;
    let detail = serde_json::json!({ "dataset": id.to_string(), "name": deleted.name, "runs_deleted": runs });
    state.store.record_audit(org, &caller.user.name, "dataset.deleted", &detail).await?;
    Ok((deleted, runs))
}
