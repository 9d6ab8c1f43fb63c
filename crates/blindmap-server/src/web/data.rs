//! Data: uploading a CRM export from the browser, what the import made of it (the importer's
//! preview: how it was read, which column each role read, segments, rows left out and why,
//! a sample of accounts), and choosing the dataset matches use.
//!
//! An upload is streamed to disk as it arrives (never held in memory), then imported whole or
//! not at all, as the API does. It does not become what matches use unless the admin confirms
//! it on its page (an organisation's very first dataset excepted: there is nothing else to use).

use askama::Template;
use axum::extract::{Multipart, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_records::Preset;
use blindmap_store::{DatasetId, DatasetInfo, Role, StoredAccount};
use serde::Deserialize;

use super::format::thousands;
use super::manage::admin;
use super::session::{Signed, bad_request};
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::api::datasets::ImportSummary;
use crate::http::error::ApiError;
use crate::http::spool::spool;
use crate::service::datasets::{self, ReadAs};

/// Accounts shown on a dataset's page.
const SAMPLE: u32 = 20;

pub(super) struct DatasetRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) read_as: String,
    pub(super) imported_at: String,
    pub(super) rows: String,
    pub(super) accounts: String,
    pub(super) active: bool,
}

impl From<&DatasetInfo> for DatasetRow {
    fn from(d: &DatasetInfo) -> Self {
        Self {
            id: d.id.to_string(),
            name: d.name.clone(),
            read_as: d.read_as.clone(),
            imported_at: crate::rfc3339(d.imported_at),
            rows: thousands(d.rows),
            accounts: thousands(d.accounts),
            active: d.active,
        }
    }
}

/// The upload form's values, kept when a form comes back with a problem.
#[derive(Default)]
pub(super) struct UploadForm {
    pub(super) name: String,
    pub(super) preset: String,
    pub(super) maps: String,
    pub(super) segments: String,
}

impl UploadForm {
    /// Whether the form chose preset `value`.
    fn is(&self, value: &str) -> bool {
        self.preset == value
    }
}

#[derive(Template)]
#[template(path = "data.html")]
pub(super) struct DataPage {
    pub(super) chrome: Chrome,
    pub(super) may_upload: bool,
    pub(super) active: Option<DatasetRow>,
    pub(super) datasets: Vec<DatasetRow>,
    pub(super) form: UploadForm,
    pub(super) problem: Option<String>,
    pub(super) max_mib: usize,
}

impl DataPage {
    fn presets(&self) -> Vec<(&'static str, &'static str)> {
        let mut out = vec![("", "Tell from the header")];
        out.extend(Preset::ALL.iter().map(|p| (p.name(), p.display_name())));
        out
    }
}

async fn data_view(
    state: &AppState,
    signed: &Signed,
    form: UploadForm,
    problem: Option<String>,
) -> Result<DataPage, PageError> {
    let org = signed.org();
    let all = state.store.datasets(org).await?;
    Ok(DataPage {
        chrome: signed.chrome(state).await?.at("/data"),
        may_upload: signed.user().role == Role::Admin,
        active: all.iter().find(|d| d.active).map(DatasetRow::from),
        datasets: all.iter().map(DatasetRow::from).collect(),
        form,
        problem,
        max_mib: state.limits.max_body_bytes >> 20,
    })
}

pub(super) async fn data_page(State(state): State<AppState>, signed: Signed) -> PageResult {
    Ok(html(StatusCode::OK, &data_view(&state, &signed, UploadForm::default(), None).await?))
}

/// A problem with an upload that the form can be corrected for: the page again, with the
/// problem and the values given.
async fn upload_problem(
    state: &AppState,
    signed: &Signed,
    form: UploadForm,
    status: StatusCode,
    text: String,
) -> PageResult {
    Ok(html(status, &data_view(state, signed, form, Some(text)).await?))
}

/// Reads the upload form: its fields come before the file (the form is written so), the file
/// streams to disk, then the import runs. The CSRF token must come before the file: a form
/// without it is refused before a byte of the file is read.
pub(super) async fn upload(State(state): State<AppState>, signed: Signed, mut multipart: Multipart) -> PageResult {
    let mut form = UploadForm::default();
    let mut csrf_checked = false;
    let mut spooled = None;
    let mut file_name = String::new();
    // Held until the import ends: a node imports a few uploads at once, as from the API.
    let mut permit = None;
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(field)) => field,
            Ok(None) => break,
            Err(e) => return Err(bad_request(&format!("the form could not be read: {e}"))),
        };
        let name = field.name().unwrap_or_default().to_owned();
        if name == "file" {
            if !csrf_checked {
                return Err(bad_request("the form's token must come before the file"));
            }
            file_name = field.file_name().unwrap_or_default().to_owned();
            permit = Some(state.uploads.clone().try_acquire_owned().map_err(|_| ApiError::Busy {
                detail: "the node is importing as many uploads as it takes at once; try again shortly",
                retry_after_secs: 5,
            })?);
            spooled = Some(match spool(field, state.limits.max_body_bytes).await {
                Ok(s) => s,
                Err(e) => {
                    let (status, text) = e.status_and_detail();
                    return upload_problem(&state, &signed, form, status, text).await;
                }
            });
            continue;
        }
        let text = field.text().await.map_err(|e| bad_request(&format!("the form could not be read: {e}")))?;
        match name.as_str() {
            "csrf" => {
                admin(&signed, &text)?;
                csrf_checked = true;
            }
            "name" => form.name = text,
            "preset" => form.preset = text,
            "maps" => form.maps = text,
            "segments" => form.segments = text,
            _ => {}
        }
    }
    if !csrf_checked {
        return Err(PageError(ApiError::Forbidden("form from another page (sign in again)")));
    }
    let Some(spooled) = spooled.filter(|s| s.bytes > 0) else {
        let text = "Choose a file to upload (a CSV export).".to_owned();
        return upload_problem(&state, &signed, form, StatusCode::UNPROCESSABLE_ENTITY, text).await;
    };
    let name = match form.name.trim() {
        "" => file_name.trim().to_owned(),
        given => given.to_owned(),
    };
    if let Err(e) = crate::service::text::check_name("name", &name) {
        return upload_problem(&state, &signed, form, StatusCode::UNPROCESSABLE_ENTITY, e.to_string()).await;
    }
    let preset = match form.preset.as_str() {
        "" => None,
        p => Some(Preset::from_name(p).ok_or_else(|| bad_request("unknown preset"))?),
    };
    let lines = |text: &str| -> Vec<String> {
        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
    };
    let read_as = ReadAs { preset, maps: lines(&form.maps), segments: lines(&form.segments) };
    let imported = datasets::import(&state, signed.user(), &name, &read_as, false, spooled.file).await;
    drop(permit);
    match imported {
        Ok(info) => Ok(Redirect::to(&format!("/data/{}", info.id)).into_response()),
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            upload_problem(&state, &signed, form, status, text).await
        }
    }
}

pub(super) struct Count {
    pub(super) label: String,
    pub(super) count: String,
}

pub(super) struct SampleRow {
    pub(super) line: u64,
    pub(super) id: String,
    pub(super) name: String,
    pub(super) segment: String,
    pub(super) keys: String,
    pub(super) fields: String,
}

impl From<StoredAccount> for SampleRow {
    fn from(a: StoredAccount) -> Self {
        let mut keys: Vec<String> = a.domains.iter().map(|d| format!("domain {d}")).collect();
        keys.extend(a.duns.iter().map(|d| format!("DUNS {d}")));
        if let (Some(_), Some(c)) = (&a.name, &a.country) {
            keys.push(format!("name + country ({c})"));
        }
        keys.extend(a.postal_code.iter().map(|p| format!("postal code {p}")));
        keys.extend(a.phone.iter().map(|p| format!("phone {p}")));
        Self {
            line: a.line,
            id: a.id,
            name: a.name.unwrap_or_default(),
            segment: a.segment,
            keys: keys.join(", "),
            fields: a.fields.iter().map(|(k, v)| format!("{k}: {v}")).collect::<Vec<_>>().join("; "),
        }
    }
}

#[derive(Template)]
#[template(path = "dataset.html")]
pub(super) struct DatasetPage {
    pub(super) chrome: Chrome,
    pub(super) dataset: DatasetRow,
    pub(super) may_activate: bool,
    pub(super) may_delete: bool,
    pub(super) summary: ImportSummary,
    pub(super) keys: Vec<Count>,
    pub(super) segments: Vec<Count>,
    pub(super) not_keys: Vec<Count>,
    pub(super) sample: Vec<SampleRow>,
    /// The mapping as `ROLE=COLUMN` lines, to read the file again differently.
    pub(super) maps: String,
    /// The segment rules as lines.
    pub(super) rules: String,
}

impl DatasetPage {
    fn lines(list: &[u64]) -> String {
        list.iter().map(u64::to_string).collect::<Vec<_>>().join(", ")
    }
}

fn dataset_id(id: &str) -> Result<DatasetId, PageError> {
    DatasetId::parse(id).ok_or(PageError(ApiError::NotFound("dataset")))
}

pub(super) async fn dataset_page(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    let org = signed.org();
    let id = dataset_id(&id)?;
    let info = state.store.dataset(org, &id).await?;
    let summary = ImportSummary::of(&info)?;
    let sample = state.store.dataset_sample(org, &id, SAMPLE).await?.into_iter().map(SampleRow::from).collect();
    let k = &summary.keys;
    let keys = [
        ("Domains (websites, e-mail domains)", k.domain),
        ("D-U-N-S numbers", k.duns),
        ("Names with their country", k.name_country),
        ("Postal codes (evidence for common names)", k.postal_code),
        ("Phone numbers (evidence for common names)", k.phone),
    ]
    .into_iter()
    .map(|(label, n)| Count { label: label.to_owned(), count: thousands(n) })
    .collect();
    let count = |(label, n): (&String, &u64)| Count { label: label.clone(), count: thousands(*n) };
    let segments = summary.segments.iter().map(count).collect();
    let not_keys = summary.values_not_used_as_keys.iter().map(count).collect();
    let (rules, maps): (Vec<_>, Vec<_>) = summary.columns.iter().partition(|c| c.role.starts_with("segment rule "));
    // A role reading several columns: the first replaces the preset's, the others add to it.
    let mut seen = std::collections::HashSet::new();
    let maps = maps
        .iter()
        .map(|c| format!("{}{}={}", c.role, if seen.insert(&c.role) { "" } else { "+" }, c.column))
        .collect::<Vec<_>>()
        .join("\n");
    let rules =
        rules.iter().map(|c| c.role.trim_start_matches("segment rule ").to_owned()).collect::<Vec<_>>().join("\n");
    let role = signed.user().role;
    let page = DatasetPage {
        chrome: signed.chrome(&state).await?.at("/data"),
        may_activate: matches!(role, Role::Admin) && !info.active,
        may_delete: role == Role::Admin && !info.active,
        dataset: DatasetRow::from(&info),
        summary,
        keys,
        segments,
        not_keys,
        sample,
        maps,
        rules,
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct ActForm {
    csrf: String,
    #[serde(default)]
    with_runs: Option<String>,
}

/// Makes a dataset the one matches use: the admin's confirmation.
pub(super) async fn activate_dataset(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ActForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let id = dataset_id(&id)?;
    datasets::activate(&state, signed.user(), &id).await?;
    Ok(Redirect::to(&format!("/data/{id}")).into_response())
}

/// Deletes a dataset that is not the active one (with the runs that matched it, if asked).
pub(super) async fn delete_dataset(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ActForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let id = dataset_id(&id)?;
    datasets::delete(&state, signed.user(), &id, form.with_runs.is_some()).await?;
    Ok(Redirect::to("/data").into_response())
}
