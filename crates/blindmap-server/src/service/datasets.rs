//! Datasets: CRM exports imported whole or not at all, the one a match uses (the active dataset)
//! and deleting old ones. The API (`api/datasets.rs`) and the pages call these, so an import,
//! an activation and a deletion are checked, stored and audited the same way whoever asks.

use std::io::{BufReader, Seek};

use blindmap_records::{Importer, Mapping, Preset, SegmentRule, read_header};
use blindmap_store::{DatasetId, DatasetInfo, StoreError, User};

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

/// How to read an export: a preset (or the one its header fits), changed by `ROLE=COLUMN`
/// mappings and replaced segment rules — what `blindmap import --preset --map --segment` take.
#[derive(Debug, Clone, Default)]
pub(crate) struct ReadAs {
    pub(crate) preset: Option<Preset>,
    /// `ROLE=COLUMN` (replaces) or `ROLE+=COLUMN` (adds), applied in order.
    pub(crate) maps: Vec<String>,
    /// `label: rule`, in order of precedence; empty keeps the preset's.
    pub(crate) segments: Vec<String>,
}

impl ReadAs {
    /// The mapping for a file with this `header`.
    pub(crate) fn mapping(
        &self,
        header: impl FnOnce() -> Result<Vec<String>, DatasetError>,
    ) -> Result<Mapping, DatasetError> {
        let unreadable = DatasetError::Unreadable;
        let mut mapping = match self.preset {
            Some(p) => p.mapping(),
            None if self.maps.iter().any(|m| m.trim_start().starts_with("id=")) => Mapping::empty(),
            None => {
                let header = header()?;
                Preset::detect(&header).map(Preset::mapping).ok_or_else(|| {
                    unreadable(format!(
                        "cannot tell which export this is from its header ({}): choose a preset, or map the columns \
                         (id=COLUMN and more)",
                        header.iter().map(|h| format!("{h:?}")).collect::<Vec<_>>().join(", ")
                    ))
                })?
            }
        };
        for flag in &self.maps {
            mapping.apply_flag(flag.trim()).map_err(|e| unreadable(format!("mapping {flag:?}: {e}")))?;
        }
        if !self.segments.is_empty() {
            let rules = self
                .segments
                .iter()
                .map(|r| SegmentRule::parse(r.trim()).map_err(|e| unreadable(format!("segment rule {r:?}: {e}"))))
                .collect::<Result<_, _>>()?;
            mapping.set_segment_rules(rules);
        }
        Ok(mapping)
    }
}

/// An importer of `file`, read as `read_as` says, and the name of what it reads with.
fn importer(
    name: &str,
    read_as: &ReadAs,
    file: std::fs::File,
) -> Result<(Importer<BufReader<std::fs::File>>, String), DatasetError> {
    let mut input = BufReader::with_capacity(1 << 16, file);
    let mapping = read_as.mapping(|| {
        let header = read_header(name, &mut input, None).map_err(|e| DatasetError::Unreadable(e.to_string()))?;
        input.get_mut().rewind().map_err(|_| DatasetError::ReadBack)?;
        Ok(header)
    })?;
    let input = BufReader::with_capacity(1 << 16, input.into_inner());
    let importer = Importer::new(name, input, &mapping).map_err(|e| DatasetError::Unreadable(e.to_string()))?;
    Ok((importer, mapping.name().to_owned()))
}

/// Imports `file`, an export spooled to disk, as the dataset `name`, read as `read_as` says. The
/// organisation's first dataset becomes active; a later one only with `activate`.
pub(crate) async fn import(
    state: &AppState,
    caller: &User,
    name: &str,
    read_as: &ReadAs,
    activate: bool,
    file: std::fs::File,
) -> Result<DatasetInfo, DatasetError> {
    let (importer, read_with) = importer(name, read_as, file)?;
    let info = state.store.import_dataset(&caller.org, name, &read_with, importer).await?;
    imported(state, caller, info, activate).await
}

/// Imports `file`, the changed records of `base`'s source (an export of them, read as `read_as`
/// says), as a new dataset `name` made of `base` with those records and without the accounts of
/// `removed` ([`blindmap_store::Store::import_dataset_changes`]).
pub(crate) async fn import_changes(
    state: &AppState,
    caller: &User,
    name: &str,
    read_as: &ReadAs,
    base: &DatasetId,
    removed: &[String],
    activate: bool,
    file: std::fs::File,
) -> Result<DatasetInfo, DatasetError> {
    let (importer, read_with) = importer(name, read_as, file)?;
    let info = state.store.import_dataset_changes(&caller.org, name, &read_with, base, removed, importer).await?;
    imported(state, caller, info, activate).await
}

/// Audits a dataset just imported, and activates it if asked.
async fn imported(
    state: &AppState,
    caller: &User,
    info: DatasetInfo,
    activate: bool,
) -> Result<DatasetInfo, DatasetError> {
    let detail = serde_json::json!({ "dataset": info.id.to_string(), "rows": info.rows, "accounts": info.accounts });
    state.store.record_audit(&caller.org, &caller.name, "dataset.imported", &detail).await?;
    if activate && !info.active {
        return self::activate(state, caller, &info.id).await;
    }
    Ok(info)
}

/// Makes a dataset the organisation's active one, with its audit entry.
pub(crate) async fn activate(state: &AppState, caller: &User, id: &DatasetId) -> Result<DatasetInfo, DatasetError> {
    let org = &caller.org;
    let info = state.store.activate_dataset(org, id).await?;
    let detail = serde_json::json!({ "dataset": id.to_string(), "name": info.name });
    state.store.record_audit(org, &caller.name, "dataset.activated", &detail).await?;
    Ok(info)
}

/// Deletes a dataset that is not the active one, with the runs that matched it if `with_runs`;
/// returns it and how many runs went with it.
pub(crate) async fn delete(
    state: &AppState,
    caller: &User,
    id: &DatasetId,
    with_runs: bool,
) -> Result<(DatasetInfo, u64), DatasetError> {
    let org = &caller.org;
    let (deleted, runs) = state.store.delete_dataset(org, id, with_runs).await?;
    let detail = serde_json::json!({ "dataset": id.to_string(), "name": deleted.name, "runs_deleted": runs });
    state.store.record_audit(org, &caller.name, "dataset.deleted", &detail).await?;
    Ok((deleted, runs))
}
