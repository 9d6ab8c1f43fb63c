//! `/api/v1/runs` and `/api/v1/overlaps`: match runs with partners — start, status, result,
//! what changed since the last run, the accounts that overlap, and the transcript.
//!
//! Starting a run answers at once (202) with the run in state `running`; the session proceeds in
//! the background on this node and its state lives in the store, so any replica answers
//! `GET /api/v1/runs/{id}`.

use crate::http::extract::Json;
use crate::http::extract::Query;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use blindmap_store::{ListedOverlap, OverlapCursor, OverlapFilter, PartnershipId, Role, Run, RunId, RunRole, RunState};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::partnerships::SharingView;
use super::{Page, contract, idempotent, request_hash};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::service::runs;

/// A run to start.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct StartRun {
    /// The partnership (`pt_…`) to match in.
    #[schema(value_type = contract::PartnershipId)]
    pub partnership: String,
    /// Keep a transcript of every frame sent and received (`GET /api/v1/runs/{id}/transcript`).
    #[serde(default)]
    pub transcript: bool,
}

/// How far a run is.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct ProgressView {
    /// Records evaluated, both sides together.
    pub done: u64,
    /// Records to evaluate (known once the partner's hello arrived).
    pub total: u64,
}

/// A match run as this side sees it.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// `run_…`.
    pub id: String,
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// The partner organisation.
    pub partner: String,
    /// `initiator` (started here) or `responder` (started by the partner).
    pub role: String,
    /// The dataset this side matched (its newest at the start).
    pub dataset: String,
    /// Who started it.
    pub started_by: String,
    /// `running`, `complete` or `failed`.
    pub state: String,
    /// Why it failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
    /// Unix milliseconds.
    pub started_at: i64,
    /// Unix milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<i64>,
    /// Progress while running.
    pub progress: ProgressView,
    /// What this side disclosed under: its sharing policy at the start.
    pub sharing: SharingView,
    /// Once complete: the overlap matrix, what this side disclosed, the traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<RunResult>,
}

/// What a complete run learned and disclosed: the overlap matrix as this side sees it (`rows`
/// are this side's segments, `columns` the partner's), what this side disclosed, and the
/// traffic. Stored with the run; runs stored by earlier versions may lack the later fields.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct RunResult {
    /// The protocol session's id (hex): the partner's record of the run carries the same.
    pub session: String,
    /// This side's segments: the matrix's rows.
    pub rows: Vec<String>,
    /// The partner's segments and their sizes: the matrix's columns.
    pub columns: Vec<SegmentSize>,
    /// `cells[row][column]`: what this side learned of each pair of segments.
    pub cells: Vec<Vec<MatrixCell>>,
    /// What this side disclosed to the partner.
    pub disclosed: Disclosed,
    /// The limits the partner's disclosure was under.
    pub received: Received,
    /// This side's accounts that overlap, where the partner disclosed overlaps.
    pub overlapping_accounts: u64,
    /// Overlapping pairs (own account, partner record).
    pub pairs: u64,
    /// Partner records whose disclosed fields this side did not open.
    pub unopened_fields: u64,
    /// Whether the partner cut its disclosure short.
    pub truncated: bool,
    /// Bytes this side sent.
    pub bytes_sent: u64,
    /// Bytes this side received.
    pub bytes_received: u64,
    /// Protocol frames, both directions.
    pub frames: u64,
    /// How long the session took.
    pub seconds: f64,
    /// What changed since the previous complete run with the partner (absent for a first run,
    /// and for runs stored before the node recorded it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changes: Option<RunChanges>,
}

/// How many of this side's accounts came and went since the previous complete run with the
/// partner, counted in the cells both runs listed accounts for; `/runs/{id}/changes` lists them.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RunChanges {
    /// The run compared with (`run_…`).
    pub previous_run: String,
    /// Accounts overlapping now and not then (an account that only moved between cells is not
    /// counted).
    pub new_accounts: u64,
    /// Accounts overlapping then and not now.
    pub lost_accounts: u64,
}

impl RunResult {
    /// The cell of own segment `own` and partner segment `partner`, if both are in the matrix.
    pub fn cell(&self, own: &str, partner: &str) -> Option<&MatrixCell> {
        let r = self.rows.iter().position(|s| s == own)?;
        let c = self.columns.iter().position(|s| s.segment == partner)?;
        self.cells.get(r)?.get(c)
    }

    /// Every cell with its own and partner segment, row by row.
    pub fn cells(&self) -> impl Iterator<Item = (&str, &str, &MatrixCell)> {
        self.rows.iter().zip(&self.cells).flat_map(move |(own, row)| {
            self.columns.iter().zip(row).map(move |(column, cell)| (own.as_str(), column.segment.as_str(), cell))
        })
    }
}

/// The overlap matrix of a session's outcome — this side's segments (rows) × the partner's
/// (columns) — as the node stores it and the command line shows a local match.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Matrix {
    /// This side's segments.
    pub rows: Vec<String>,
    /// The partner's segments and their sizes.
    pub columns: Vec<SegmentSize>,
    /// `cells[row][column]`.
    pub cells: Vec<Vec<MatrixCell>>,
}

impl Matrix {
    /// The matrix of `outcome`, a session over `data`, whose overlaps `explanations` explain
    /// (one per overlap, as [`blindmap_records::explain_overlaps`] gives them).
    pub fn of(
        outcome: &blindmap_psi::Outcome,
        data: &blindmap_psi::Dataset,
        explanations: &[blindmap_records::Explanation],
    ) -> Self {
        let rows: Vec<String> = outcome.own_segments().iter().map(ToString::to_string).collect();
        let columns: Vec<SegmentSize> = outcome
            .partner_segments()
            .iter()
            .map(|s| SegmentSize { segment: s.label.to_string(), records: u64::from(s.records) })
            .collect();
        let possible = blindmap_records::possible_per_cell(outcome, data, explanations);
        let cells = (0..rows.len())
            .map(|r| {
                (0..columns.len())
                    .map(|c| MatrixCell::of(outcome.cell(r, c), outcome.level(r, c), possible[r * columns.len() + c]))
                    .collect()
            })
            .collect();
        Self { rows, columns, cells }
    }
}

/// A segment and how many records it holds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SegmentSize {
    /// The segment's label.
    pub segment: String,
    /// Its records.
    pub records: u64,
}

/// How much of a pair of segments one side lets the other learn (the protocol's levels, spec
/// §6): nothing, the overlap count, the overlapping records, or those with some fields.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum LevelName {
    /// Nothing about the cell.
    #[default]
    Hidden,
    /// The count of overlapping records.
    Counts,
    /// Which records overlap.
    Overlaps,
    /// Which records overlap, with some of their fields.
    Fields,
}

impl LevelName {
    /// The protocol level's name.
    pub fn of(level: &blindmap_psi::Level) -> Self {
        match level {
            blindmap_psi::Level::Hidden => Self::Hidden,
            blindmap_psi::Level::Counts => Self::Counts,
            blindmap_psi::Level::Overlaps => Self::Overlaps,
            blindmap_psi::Level::Fields(_) => Self::Fields,
        }
    }

    /// As the API writes it: `hidden`, `counts`, `overlaps` or `fields`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hidden => "hidden",
            Self::Counts => "counts",
            Self::Overlaps => "overlaps",
            Self::Fields => "fields",
        }
    }

    /// Whether the receiving side learns which of its records overlap which of the other's.
    pub fn lists_records(self) -> bool {
        matches!(self, Self::Overlaps | Self::Fields)
    }

    /// The levels of a matrix's cells in words, for people: one level alone by its name
    /// (`fields`), several with their cells, the most cells first, the more open level first
    /// where counts tie (`fields in 6 cells, hidden in 3 cells`); `None` for no cells. The
    /// command line and the pages say it the same way.
    pub fn in_words(levels: impl IntoIterator<Item = Self>) -> Option<String> {
        let mut counts: std::collections::BTreeMap<Self, usize> = std::collections::BTreeMap::new();
        for level in levels {
            *counts.entry(level).or_default() += 1;
        }
        if counts.len() == 1 {
            return counts.into_keys().next().map(|l| l.as_str().to_owned());
        }
        let mut parts: Vec<(usize, Self)> = counts.into_iter().map(|(l, n)| (n, l)).collect();
        parts.sort_by(|a, b| b.cmp(a));
        let words: Vec<String> =
            parts.iter().map(|(n, l)| format!("{l} in {n} cell{}", if *n == 1 { "" } else { "s" })).collect();
        (!words.is_empty()).then(|| words.join(", "))
    }
}

impl std::fmt::Display for LevelName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One cell of the matrix: what this side learned of one own segment × one partner segment.
/// Where the partner disclosed overlaps, the count splits into `confirmed` and `possible`
/// (accounts overlapping by possible matches only).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MatrixCell {
    /// The cell as shown: a count, `<k` below the partner's threshold, `n/a (<m rec)` for a
    /// segment smaller than the partner serves, or `hidden`.
    pub shown: String,
    /// The level the partner disclosed the cell at.
    pub level: LevelName,
    /// Overlapping records, where disclosed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
    /// Of `count`, accounts with at least one confirmed match (levels that list records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<u64>,
    /// Of `count`, accounts overlapping by possible matches only (levels that list records).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub possible: Option<u64>,
    /// The partner's threshold, where the count fell below it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fewer_than: Option<u32>,
    /// The smallest segment the partner serves, where this one is smaller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_minimum: Option<u32>,
    /// The fields the partner disclosed (level `fields`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<String>>,
}

impl MatrixCell {
    /// A cell of the protocol's outcome at `level`, `possible` of whose counted records overlap
    /// by possible matches only.
    pub fn of(cell: blindmap_psi::Cell, level: &blindmap_psi::Level, possible: u64) -> Self {
        let name = LevelName::of(level);
        let mut out = Self { shown: cell.to_string(), level: name, ..Self::default() };
        match cell {
            blindmap_psi::Cell::Count(n) => {
                out.count = Some(n);
                if name.lists_records() {
                    out.confirmed = Some(n.saturating_sub(possible));
                    out.possible = Some(possible);
                }
            }
            blindmap_psi::Cell::FewerThan(k) => out.fewer_than = Some(k),
            blindmap_psi::Cell::TooSmall { minimum } => out.partner_minimum = Some(minimum),
            blindmap_psi::Cell::Hidden => {}
        }
        if let blindmap_psi::Level::Fields(fields) = level {
            out.fields = Some(fields.iter().map(|f| f.as_str().to_owned()).collect());
        }
        out
    }
}

/// What this side disclosed in a run: the level of each cell from the partner's view (`rows`
/// are the partner's segments, `columns` this side's), and the limits it applied.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Disclosed {
    /// The partner's segments.
    pub rows: Vec<String>,
    /// This side's segments.
    pub columns: Vec<String>,
    /// `levels[row][column]`.
    pub levels: Vec<Vec<LevelName>>,
    /// Counts below this were shown as `<threshold`.
    pub threshold: u32,
    /// Partner segments smaller than this were not served.
    pub min_segment: u32,
    /// Whether this side served Bloom filters (no record positions reach the partner then).
    pub bloom: bool,
}

impl Disclosed {
    /// The level this side disclosed the cell of partner segment `partner` × own segment
    /// `own` at, if both are in the plan.
    pub fn level(&self, partner: &str, own: &str) -> Option<LevelName> {
        let r = self.rows.iter().position(|s| s == partner)?;
        let c = self.columns.iter().position(|s| s == own)?;
        self.levels.get(r)?.get(c).copied()
    }
}

/// The limits the partner's disclosure was under.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(default)]
pub struct Received {
    /// Counts below this were shown as `<threshold`.
    pub threshold: u32,
    /// This side's segments smaller than this were not served.
    pub min_segment: u32,
}

/// What changed in one cell since the previous complete run: a cell of `GET
/// /api/v1/runs/{id}/changes` and of the `overlap.changed` event's `cells`. Accounts are those
/// the lists show: overlaps this side's users corrected count as neither new nor lost.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CellChange {
    /// This side's segment.
    pub own_segment: String,
    /// The partner's segment.
    pub partner_segment: String,
    /// The cell as shown before.
    pub before: Option<String>,
    /// The cell as shown now.
    pub after: Option<String>,
    /// Accounts overlapping now but not before (when both runs listed accounts for the cell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new: Option<Vec<String>>,
    /// Of `new`, the accounts overlapping in the cell by possible matches only (a common name and
    /// the country, nothing more): worth a look before acting. Present whenever `new` is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_possible: Option<Vec<String>>,
    /// Accounts overlapping before but not now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lost: Option<Vec<String>>,
}

impl TryFrom<Run> for RunView {
    type Error = ApiError;

    fn try_from(r: Run) -> Result<Self, ApiError> {
        let result = runs::result_of(&r)?;
        Ok(Self {
            id: r.id.to_string(),
            partnership: r.partnership.to_string(),
            partner: r.partner_name,
            role: r.role.as_str().to_owned(),
            dataset: r.dataset.to_string(),
            started_by: r.started_by,
            state: r.state.as_str().to_owned(),
            failure: r.failure,
            started_at: r.started_at,
            finished_at: r.finished_at,
            progress: ProgressView { done: r.records_done, total: r.records_total },
            sharing: SharingView::deserialize(&r.sharing)
                .map_err(|_| ApiError::Store(blindmap_store::StoreError::Corrupt("match_runs.sharing")))?,
            result,
        })
    }
}

/// A page of runs.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct RunPage {
    /// This page's items.
    pub items: Vec<RunView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which runs to list.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct RunFilter {
    /// Only this partnership's runs.
    #[param(value_type = Option<contract::PartnershipId>, nullable = false)]
    pub partnership: Option<String>,
    /// Only the runs this side started (`initiator`), or those partners started against it
    /// (`responder`).
    #[param(nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role: Option<RunRoleName>,
}

/// Which side started a run: this one (`initiator`) or the partner (`responder`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RunRoleName {
    /// This side started it.
    Initiator,
    /// The partner started it against this side.
    Responder,
}

impl From<RunRoleName> for RunRole {
    fn from(role: RunRoleName) -> Self {
        match role {
            RunRoleName::Initiator => Self::Initiator,
            RunRoleName::Responder => Self::Responder,
        }
    }
}

/// What changed since the previous complete run of the same partnership.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct ChangesView {
    /// The run compared with; absent when this is the first complete run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_run: Option<String>,
    /// The cells that changed.
    pub cells: Vec<CellChange>,
}

/// One overlapping account.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct OverlapView {
    /// The account's id in this side's dataset.
    pub account_id: String,
    /// Its segment.
    pub own_segment: String,
    /// The partner record's segment.
    pub partner_segment: String,
    /// The partner's record, as this run named it (its position in the partner's segment, valid
    /// for this run only): what a co-sell record refers to. Absent when the partner served a
    /// Bloom filter.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partner_record: Option<u32>,
    /// The key types that matched.
    pub key_types: Vec<String>,
    /// How sure the match is.
    #[schema(value_type = contract::MatchTier)]
    pub tier: blindmap_store::Tier,
    /// Why it has that tier, in a sentence.
    pub reason: String,
    /// Fields the partner disclosed for its record (fields level); `null` where it has none.
    pub partner_fields: std::collections::BTreeMap<String, Option<String>>,
    /// This side's own fields of the account.
    pub own_fields: std::collections::BTreeMap<String, String>,
}

/// A page of overlapping accounts.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct OverlapPage {
    /// The run they come from.
    pub run: String,
    /// This page's items.
    pub items: Vec<OverlapView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which overlaps to list.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct OverlapParams {
    /// Only accounts of this own segment.
    #[param(value_type = Option<contract::Filter>, nullable = false)]
    pub own_segment: Option<String>,
    /// Only accounts overlapping this partner segment.
    #[param(value_type = Option<contract::Filter>, nullable = false)]
    pub partner_segment: Option<String>,
}

/// Which partnership's overlaps.
#[derive(Serialize, Deserialize, utoipa::IntoParams)]
pub struct PartnerParam {
    /// The partnership (`pt_…`): its latest complete run is listed.
    #[param(value_type = contract::PartnershipId)]
    pub partnership: String,
}

fn run_id(id: &str) -> Result<RunId, ApiError> {
    RunId::parse(id).ok_or(ApiError::NotFound("run"))
}

/// Starts a match run with a partner (admins and integrations): this node calls the partner's
/// over mutual TLS and runs the protocol with the organisation's newest dataset, each side
/// disclosing what its sharing policy allows. Answers at once; poll the run for its state.
#[utoipa::path(post, path = "/api/v1/runs", tag = "runs", request_body = StartRun,
    params(("Idempotency-Key" = Option<contract::IdempotencyKey>, Header, nullable = false, description = "Makes a retried start safe")),
    responses((status = 202, body = RunView, description = "Started: poll the run"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Reps do not start runs"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 409, body = Problem, content_type = "application/problem+json",
            description = "The partnership ended or its partner has no node, there is no dataset, or the Idempotency-Key was reused"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The partner's node cannot be called")))]
async fn start(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(body): Json<StartRun>,
) -> Result<Response, ApiError> {
    caller.require(&[Role::Admin, Role::Integration])?;
    let request = request_hash(&[body.partnership.as_bytes(), if body.transcript { b"1" } else { b"0" }]);
    let (work_state, user) = (state.clone(), caller.0.user.clone());
    let work = async move {
        let state = work_state;
        let id = PartnershipId::parse(&body.partnership).ok_or(ApiError::NotFound("partnership"))?;
        let run = runs::initiate(&state.store, state.node.as_deref(), &user, &id, body.transcript).await?;
        RunView::try_from(run)
    };
    idempotent(&state, &caller.0.user.org, &headers, request, StatusCode::ACCEPTED, work).await
}

/// The organisation's runs, newest first, started here or by partners.
#[utoipa::path(get, path = "/api/v1/runs", tag = "runs",
    params(Page, ("cursor" = Option<contract::RunId>, Query, description = "The `next` of the previous page"), RunFilter),
    responses((status = 200, body = RunPage, description = "A page of runs"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "`partnership` is not a partnership id"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit or cursor out of range")))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(filter): Query<RunFilter>,
) -> Result<Json<RunPage>, ApiError> {
    let limit = page.limit()?;
    let after = page.after(RunId::parse, "a run id")?;
    let partnership = match &filter.partnership {
        Some(p) => Some(PartnershipId::parse(p).ok_or(ApiError::NotFound("partnership"))?),
        None => None,
    };
    let items = state
        .store
        .runs_page(&caller.0.user.org, partnership.as_ref(), filter.role.map(Into::into), after.as_ref(), limit)
        .await?;
    let next = Page::next(limit, &items, |r| r.id.to_string());
    Ok(Json(RunPage { items: items.into_iter().map(TryInto::try_into).collect::<Result<_, _>>()?, next }))
}

/// One run: its state and progress, and once complete its overlap matrix.
#[utoipa::path(get, path = "/api/v1/runs/{id}", tag = "runs", params(("id" = contract::RunId, Path)),
    responses((status = 200, body = RunView, description = "The run"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such run")))]
async fn one(State(state): State<AppState>, caller: Caller, Path(id): Path<String>) -> Result<Json<RunView>, ApiError> {
    Ok(Json(state.store.run(&caller.0.user.org, &run_id(&id)?).await?.try_into()?))
}

/// What changed since the previous complete run with the same partner: per cell, the value
/// before and after, and where both runs list accounts, the accounts new and lost.
#[utoipa::path(get, path = "/api/v1/runs/{id}/changes", tag = "runs", params(("id" = contract::RunId, Path)),
    responses((status = 200, body = ChangesView, description = "The changes"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such run"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The run is not complete")))]
async fn changes(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ChangesView>, ApiError> {
    let org = &caller.0.user.org;
    let run = state.store.run(org, &run_id(&id)?).await?;
    if run.state != RunState::Complete {
        return Err(ApiError::Conflict(format!("the run is {}, not complete", run.state.as_str())));
    }
    let Some(previous) = state.store.previous_complete_run(org, &run).await? else {
        return Ok(Json(ChangesView { previous_run: None, cells: Vec::new() }));
    };
    let cells = runs::changes(&state.store, org, &previous, &run).await?;
    Ok(Json(ChangesView { previous_run: Some(previous.id.to_string()), cells }))
}

/// A place in a run's overlaps as text: the partner record, then the own segment, the partner
/// segment and the account in hex, joined by dots (`contract::OverlapCursor`).
fn encode_cursor(c: &OverlapCursor) -> String {
    let [own, partner, account] = [&c.own_segment, &c.partner_segment, &c.account_id].map(hex::encode);
    format!("{}.{own}.{partner}.{account}", c.partner_record)
}

/// A place read back: any text of the cursor's shape names one (texts are read as UTF-8, an
/// invalid sequence or a NUL replaced, as no stored text holds either), since it is only a place
/// in the overlaps' order.
fn decode_cursor(text: &str) -> Result<OverlapCursor, ApiError> {
    let invalid = || ApiError::Invalid("cursor is not one this API returned".into());
    let mut parts = text.split('.');
    let record = parts.next().ok_or_else(invalid)?;
    let digits = record.strip_prefix('-').unwrap_or(record);
    if !(1..=18).contains(&digits.len()) || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    let partner_record: i64 = record.parse().map_err(|_| invalid())?;
    let mut text = || -> Result<String, ApiError> {
        let bytes = hex::decode(parts.next().ok_or_else(invalid)?).map_err(|_| invalid())?;
        Ok(String::from_utf8_lossy(&bytes).replace('\0', "\u{fffd}"))
    };
    let (own_segment, partner_segment, account_id) = (text()?, text()?, text()?);
    if parts.next().is_some() {
        return Err(invalid());
    }
    Ok(OverlapCursor { own_segment, partner_segment, account_id, partner_record })
}

async fn overlap_page(
    state: &AppState,
    caller: &Caller,
    run: &RunId,
    page: &Page,
    params: OverlapParams,
) -> Result<Json<OverlapPage>, ApiError> {
    let limit = page.limit()?;
    let after = page.cursor.as_deref().map(decode_cursor).transpose()?;
    contract::check_filter("own_segment", params.own_segment.as_deref())?;
    contract::check_filter("partner_segment", params.partner_segment.as_deref())?;
    let filter = OverlapFilter { own_segment: params.own_segment, partner_segment: params.partner_segment };
    let items = state.store.overlaps_page(&caller.0.user.org, run, &filter, after.as_ref(), limit).await?;
    let next = Page::next(limit, &items, |l: &ListedOverlap| encode_cursor(&l.overlap.cursor()));
    let items = items
        .into_iter()
        .map(|l| OverlapView {
            account_id: l.overlap.account_id,
            own_segment: l.overlap.own_segment,
            partner_segment: l.overlap.partner_segment,
            partner_record: l.overlap.partner_record,
            key_types: l.overlap.key_types,
            tier: l.overlap.tier,
            reason: l.overlap.reason,
            partner_fields: l.overlap.fields,
            own_fields: l.own_fields,
        })
        .collect();
    Ok(Json(OverlapPage { run: run.to_string(), items, next }))
}

/// A run's overlapping accounts (where the partner disclosed at least overlaps), filtered by
/// segment, ordered by own segment, partner segment and account.
#[utoipa::path(get, path = "/api/v1/runs/{id}/overlaps", tag = "runs",
    params(("id" = contract::RunId, Path), Page,
        ("cursor" = Option<contract::OverlapCursor>, Query, description = "The `next` of the previous page"), OverlapParams),
    responses((status = 200, body = OverlapPage, description = "A page of overlapping accounts"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such run"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit, cursor or filter out of range")))]
async fn run_overlaps(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(page): Query<Page>,
    Query(params): Query<OverlapParams>,
) -> Result<Json<OverlapPage>, ApiError> {
    overlap_page(&state, &caller, &run_id(&id)?, &page, params).await
}

/// The overlapping accounts of a partnership's latest complete run, filtered by segment.
#[utoipa::path(get, path = "/api/v1/overlaps", tag = "runs",
    params(PartnerParam, Page, ("cursor" = Option<contract::OverlapCursor>, Query, description = "The `next` of the previous page"),
        OverlapParams),
    responses((status = 200, body = OverlapPage, description = "A page of overlapping accounts"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership, or no complete run yet"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit, cursor or filter out of range")))]
async fn latest_overlaps(
    State(state): State<AppState>,
    caller: Caller,
    Query(partner): Query<PartnerParam>,
    Query(page): Query<Page>,
    Query(params): Query<OverlapParams>,
) -> Result<Json<OverlapPage>, ApiError> {
    let org = &caller.0.user.org;
    let id = PartnershipId::parse(&partner.partnership).ok_or(ApiError::NotFound("partnership"))?;
    state.store.partnership(org, &id).await?;
    let run = state.store.latest_complete_run(org, &id).await?.ok_or(ApiError::NotFound("complete run"))?;
    overlap_page(&state, &caller, &run.id, &page, params).await
}

/// Every frame the run sent and received, decoded, with its bytes (protocol-spec §16), when the
/// run kept a transcript.
#[utoipa::path(get, path = "/api/v1/runs/{id}/transcript", tag = "runs", params(("id" = contract::RunId, Path)),
    responses((status = 200, body = String, content_type = "text/plain", description = "The transcript"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such run, or no transcript kept")))]
async fn transcript(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let text =
        state.store.run_transcript(&caller.0.user.org, &run_id(&id)?).await?.ok_or(ApiError::NotFound("transcript"))?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(start, list))
        .routes(routes!(one))
        .routes(routes!(changes))
        .routes(routes!(run_overlaps))
        .routes(routes!(latest_overlaps))
        .routes(routes!(transcript))
}

#[cfg(test)]
mod tests {
    use super::LevelName;

    #[test]
    fn levels_in_words_count_cells_most_first() {
        assert_eq!(
            LevelName::in_words([LevelName::Overlaps, LevelName::Counts, LevelName::Overlaps, LevelName::Fields])
                .as_deref(),
            Some("overlaps in 2 cells, fields in 1 cell, counts in 1 cell")
        );
        assert_eq!(LevelName::in_words([LevelName::Hidden; 3]).as_deref(), Some("hidden"));
        assert_eq!(LevelName::in_words([]), None);
    }
}
