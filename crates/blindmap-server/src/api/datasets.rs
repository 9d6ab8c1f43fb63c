//! `/api/v1/datasets`: CRM exports uploaded as CSV, imported whole or not at all.

use crate::http::extract::Json;
use crate::http::extract::Query;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use blindmap_records::Preset;
use blindmap_store::{DatasetId, DatasetInfo, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, contract, idempotent, request_hash};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::spool::spool;
use crate::service::datasets;

/// A stored dataset.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct DatasetView {
    /// `ds_…`.
    pub id: String,
    /// Its name (usually the file name).
    pub name: String,
    /// The preset it was read with.
    pub read_as: String,
    /// Unix milliseconds.
    pub imported_at: i64,
    /// Data rows in the file.
    pub rows: u64,
    /// Accounts stored (with a key and a segment).
    pub accounts: u64,
    /// What the import made of the file: keys per type, rejects by reason, segments.
    pub summary: ImportSummary,
    /// Whether it is the organisation's active dataset: the one its runs match.
    pub active: bool,
}

impl TryFrom<DatasetInfo> for DatasetView {
    type Error = ApiError;

    fn try_from(d: DatasetInfo) -> Result<Self, ApiError> {
        let summary = ImportSummary::of(&d)?;
        Ok(Self {
            id: d.id.to_string(),
            name: d.name,
            read_as: d.read_as,
            imported_at: d.imported_at,
            rows: d.rows,
            accounts: d.accounts,
            summary,
            active: d.active,
        })
    }
}

/// What an import made of a file. Datasets imported by earlier versions may lack later fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct ImportSummary {
    /// Data rows read (blank lines not counted).
    pub rows: u64,
    /// Blank lines skipped.
    pub blank_lines: u64,
    /// Rows with at least one key and a segment: the accounts that take part in a match.
    pub accounts: u64,
    /// Keys made, per type.
    pub keys: KeyCounts,
    /// Rows without any usable key.
    pub rows_without_keys: LineList,
    /// Rows with keys that no segment rule placed.
    pub unsegmented_rows: LineList,
    /// Accounts per segment.
    pub segments: std::collections::BTreeMap<String, u64>,
    /// Values that did not become keys, per reason.
    pub values_not_used_as_keys: std::collections::BTreeMap<String, u64>,
    /// Field values cut to the field length limit.
    pub truncated_fields: u64,
    /// The file's header, as read (absent for datasets imported before the node kept it).
    pub header: Vec<String>,
    /// Which column each role read, in the mapping's order (a role reading several columns
    /// appears once per column): the roles `blindmap import --map ROLE=COLUMN` takes, and
    /// `segment rule …` with the columns each rule reads.
    pub columns: Vec<ColumnUse>,
}

/// A column a role read.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ColumnUse {
    /// `id`, `name`, `country`, `domain`, `field:NAME`, `segment`, `segment rule …`, …
    pub role: String,
    /// The column as the header names it (for a segment rule: the columns it reads).
    pub column: String,
}

impl ImportSummary {
    /// The summary a dataset was stored with; one that does not read as one is a corrupt row.
    pub(crate) fn of(d: &DatasetInfo) -> Result<Self, blindmap_store::StoreError> {
        Self::deserialize(&d.summary).map_err(|_| blindmap_store::StoreError::Corrupt("datasets.summary"))
    }
}

/// Keys made per type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct KeyCounts {
    /// Websites, domains and e-mail domains.
    pub domain: u64,
    /// D-U-N-S numbers.
    pub duns: u64,
    /// Names with their country.
    pub name_country: u64,
    /// Postal codes.
    pub postal_code: u64,
    /// Phone numbers.
    pub phone: u64,
}

/// Rows of one kind: how many, and the first of their line numbers.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LineList {
    /// How many rows.
    pub count: u64,
    /// The first of their line numbers.
    pub lines: Vec<u64>,
}

/// A page of datasets.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct DatasetPage {
    /// This page's items.
    pub items: Vec<DatasetView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// How to read an upload.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct UploadParams {
    /// A name for the dataset, e.g. the file name (1 to 200 characters, no blank at either end,
    /// no control characters).
    #[param(value_type = contract::Label)]
    pub name: String,
    /// The preset to read it with; absent: the one whose columns the header has.
    #[param(nullable = false)]
    pub preset: Option<PresetName>,
    /// Make it the active dataset (the one runs match) once imported. An organisation's first
    /// dataset becomes active anyway; later ones wait to be chosen unless this is `true`.
    #[serde(default)]
    pub activate: bool,
}

/// The presets an upload can be read with.
#[derive(Serialize, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PresetName {
    /// A Salesforce Account export.
    Salesforce,
    /// A HubSpot Companies export.
    Hubspot,
    /// blindmap's plain format.
    Generic,
}

impl PresetName {
    fn preset(self) -> Preset {
        match self {
            Self::Salesforce => Preset::Salesforce,
            Self::Hubspot => Preset::Hubspot,
            Self::Generic => Preset::Generic,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        self.preset().name()
    }
}

/// Uploads a CSV export (the request body) as a new dataset. All or nothing: a malformed file is
/// refused with its line and column, and nothing is stored. With an `Idempotency-Key` header, a
/// retried upload returns the first one's response. The body streams to a temporary file (the
/// node holds one row at a time, never the file); a node imports a few uploads at once and
/// answers 503 with `Retry-After` beyond that.
#[utoipa::path(post, path = "/api/v1/datasets", tag = "datasets", params(UploadParams,
        ("Idempotency-Key" = Option<contract::IdempotencyKey>, Header, nullable = false, description = "Makes a retried upload safe")),
    request_body(content = String, content_type = "text/csv", description = "The CRM export, as exported"),
    responses((status = 201, body = DatasetView, description = "Imported"),
        (status = 400, body = Problem, content_type = "application/problem+json", description = "The upload could not be read to its end"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Reps do not upload"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "The file is malformed or holds a NUL byte, or no preset fits its header, or the name is not a name"),
        (status = 413, body = Problem, content_type = "application/problem+json", description = "Larger than the node's max_body_mib"),
        (status = 503, body = Problem, content_type = "application/problem+json",
            description = "The node is importing as many uploads as it takes at once (retry after the Retry-After header's seconds), or cannot store the upload for import")))]
async fn upload(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<UploadParams>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin, Role::Integration])?;
    crate::service::text::check_name("name", &params.name)?;
    let permit = state.uploads.clone().try_acquire_owned().map_err(|_| ApiError::Busy {
        detail: "the node is importing as many uploads as it takes at once; try again shortly",
        retry_after_secs: 5,
    })?;
    // The body may stream in for minutes without the database: the upload's own limit (a few
    // at once) bounds it, not the organisation's share of running requests.
    let caller = caller.released();
    let spooled = spool(body.into_data_stream(), state.limits.max_body_bytes).await?;
    let request = request_hash(&[
        params.name.as_bytes(),
        params.preset.map_or("", PresetName::as_str).as_bytes(),
        &spooled.sha256,
    ]);
    let org = caller.user.org.clone();
    let work_state = state.clone();
    let work = async move {
        let read_as = datasets::ReadAs { preset: params.preset.map(PresetName::preset), ..Default::default() };
        let imported =
            datasets::import(&work_state, &caller.user, &params.name, &read_as, params.activate, spooled.file).await;
        drop(permit);
        DatasetView::try_from(imported?)
    };
    idempotent(&state, &org, &headers, request, StatusCode::CREATED, work).await
}

/// The organisation's datasets, newest first.
#[utoipa::path(get, path = "/api/v1/datasets", tag = "datasets",
    params(Page, ("cursor" = Option<contract::DatasetId>, Query, description = "The `next` of the previous page")),
    responses((status = 200, body = DatasetPage, description = "A page of datasets"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit or cursor out of range")))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<DatasetPage>, ApiError> {
    let limit = page.limit()?;
    let after = page.after(DatasetId::parse, "a dataset id")?;
    let items = state.store.datasets_page(&caller.0.user.org, after.as_ref(), limit).await?;
    let next = Page::next(limit, &items, |d| d.id.to_string());
    Ok(Json(DatasetPage { items: items.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?, next }))
}

/// One dataset.
#[utoipa::path(get, path = "/api/v1/datasets/{id}", tag = "datasets", params(("id" = contract::DatasetId, Path)),
    responses((status = 200, body = DatasetView, description = "The dataset"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such dataset")))]
async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DatasetView>, ApiError> {
    let id = DatasetId::parse(&id).ok_or(ApiError::NotFound("dataset"))?;
    Ok(Json(state.store.dataset(&caller.0.user.org, &id).await?.try_into()?))
}

/// Makes a dataset the organisation's active one: the dataset its runs match from now on (runs
/// under way keep theirs). Admins and integrations.
#[utoipa::path(post, path = "/api/v1/datasets/{id}/activate", tag = "datasets", params(("id" = contract::DatasetId, Path)),
    responses((status = 200, body = DatasetView, description = "The dataset, now active"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins and integrations only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such dataset")))]
async fn activate(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<DatasetView>, ApiError> {
    caller.require(&[Role::Admin, Role::Integration])?;
    let id = DatasetId::parse(&id).ok_or(ApiError::NotFound("dataset"))?;
    Ok(Json(datasets::activate(&state, &caller.0.user, &id).await?.try_into()?))
}

/// What deleting a dataset may take with it.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct DeleteParams {
    /// Also delete the runs that matched it (their matrices, overlaps and changes; the audit
    /// trail keeps what they revealed). Without it, a dataset runs used is not deleted.
    #[serde(default)]
    #[param(nullable = false)]
    pub with_runs: bool,
}

/// What a deletion removed.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct Deleted {
    /// The dataset (`ds_…`).
    pub dataset: String,
    /// Runs deleted with it.
    pub runs: u64,
}

/// Deletes a dataset that is not the active one (admins): its accounts, and with `with_runs`
/// the runs that matched it.
#[utoipa::path(delete, path = "/api/v1/datasets/{id}", tag = "datasets", params(("id" = contract::DatasetId, Path), DeleteParams),
    responses((status = 200, body = Deleted, description = "Deleted, with the runs it took along"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such dataset"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "The active dataset, one a run is matching now, or one runs matched (without with_runs)")))]
async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(params): Query<DeleteParams>,
) -> Result<Json<Deleted>, ApiError> {
    caller.require(&[Role::Admin])?;
    let id = DatasetId::parse(&id).ok_or(ApiError::NotFound("dataset"))?;
    let (_, runs) = datasets::delete(&state, &caller.0.user, &id, params.with_runs).await?;
    Ok(Json(Deleted { dataset: id.to_string(), runs }))
}

/// The segments a match would use: those of the active dataset.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SegmentList {
    /// The dataset they come from (`ds_…`).
    pub dataset: String,
    /// Each segment with its number of accounts, by label.
    pub items: Vec<SegmentView>,
}

/// One segment.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SegmentView {
    /// Its label, as partners see it in the overlap matrix.
    pub label: String,
    /// Accounts in it.
    pub accounts: u64,
}

/// The organisation's segments: those of its active dataset, the one runs match. Sharing rules
/// name these labels.
#[utoipa::path(get, path = "/api/v1/segments", tag = "datasets",
    responses((status = 200, body = SegmentList, description = "The segments"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No dataset yet")))]
async fn segments(State(state): State<AppState>, caller: Caller) -> Result<Json<SegmentList>, ApiError> {
    let dataset = state.store.active_dataset(&caller.0.user.org).await?.ok_or(ApiError::NotFound("dataset"))?;
    let items = dataset
        .segments()
        .into_iter()
        .map(|(label, accounts)| SegmentView { label: label.to_owned(), accounts })
        .collect();
    Ok(Json(SegmentList { dataset: dataset.id.to_string(), items }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(upload, list))
        .routes(routes!(one, delete))
        .routes(routes!(activate))
        .routes(routes!(segments))
}
