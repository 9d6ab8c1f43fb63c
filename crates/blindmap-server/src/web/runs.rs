//! Matches from the browser: starting one with a partner, following it (the page refreshes
//! itself while the run goes on: no JavaScript), its result — the matrix's numbers and, cell by
//! cell, the accounts that came and went since the match before, by name — its transcript, and
//! each partner's history of matches.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect};
use blindmap_store::{PartnershipId, Run, RunId, RunState};
use serde::Deserialize;

use super::format::{named, thousands};
use super::manage::admin;
use super::session::Signed;
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::runs::{self, result_of};

/// Accounts named per cell and direction on a run's page (the API lists them all).
const NAMED: usize = 50;
/// Matches listed on a partner's history page.
const HISTORY: u32 = 50;

#[derive(Deserialize)]
pub(super) struct StartForm {
    csrf: String,
    #[serde(default)]
    transcript: Option<String>,
}

/// Starts a match with the partner (admins): then its page, which follows it.
pub(super) async fn start_run(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<StartForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let id = PartnershipId::parse(&id).ok_or(PageError(ApiError::NotFound("partner")))?;
    let run =
        runs::initiate(&state.store, state.node.as_deref(), signed.user(), &id, form.transcript.is_some()).await?;
    Ok(Redirect::to(&format!("/runs/{}", run.id)).into_response())
}

/// A cell that changed, with the accounts that came and went by name.
pub(super) struct ChangedCell {
    pub(super) own: String,
    pub(super) partner: String,
    pub(super) before: String,
    pub(super) after: String,
    pub(super) new: Vec<String>,
    pub(super) new_more: usize,
    pub(super) lost: Vec<String>,
    pub(super) lost_more: usize,
}

#[derive(Template)]
#[template(path = "run.html")]
pub(super) struct RunPage {
    pub(super) chrome: Chrome,
    pub(super) id: String,
    pub(super) pid: String,
    pub(super) partner: String,
    pub(super) state: &'static str,
    pub(super) running: bool,
    pub(super) started: String,
    pub(super) started_by: String,
    pub(super) finished: Option<String>,
    pub(super) failure: Option<String>,
    /// Records evaluated, and of how many (0: not known yet).
    pub(super) done: u64,
    pub(super) total: u64,
    pub(super) percent: u64,
    pub(super) accounts: Option<String>,
    pub(super) pairs: Option<String>,
    pub(super) first: bool,
    pub(super) changes: Vec<ChangedCell>,
    pub(super) transcript: bool,
}

/// `ids` as their names in `dataset` where it has them ("name (id)"), else the ids.
async fn named_accounts(state: &AppState, run: &Run, ids: &[String]) -> Result<(Vec<String>, usize), PageError> {
    let shown: Vec<&str> = ids.iter().take(NAMED).map(String::as_str).collect();
    let names = match state.store.account_names(&run.org, &run.dataset, &shown).await {
        Ok(names) => names,
        // The dataset was deleted since: ids only.
        Err(blindmap_store::StoreError::NotFound(_)) => Default::default(),
        Err(e) => return Err(e.into()),
    };
    let out = shown.iter().map(|id| named(id, &names)).collect();
    Ok((out, ids.len().saturating_sub(NAMED)))
}

pub(super) async fn run_page(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    let org = signed.org();
    let id = RunId::parse(&id).ok_or(PageError(ApiError::NotFound("match")))?;
    let run = state.store.run(org, &id).await?;
    let result = result_of(&run)?;
    let mut changes = Vec::new();
    let mut first = true;
    if run.state == RunState::Complete
        && let Some(previous) = state.store.previous_complete_run(org, &run).await?
    {
        first = false;
        for c in runs::changes(&state.store, org, &previous, &run).await? {
            let (new, new_more) = named_accounts(&state, &run, c.new.as_deref().unwrap_or_default()).await?;
            let (lost, lost_more) = named_accounts(&state, &previous, c.lost.as_deref().unwrap_or_default()).await?;
            changes.push(ChangedCell {
                own: c.own_segment,
                partner: c.partner_segment,
                before: c.before.unwrap_or_else(|| "–".into()),
                after: c.after.unwrap_or_else(|| "–".into()),
                new,
                new_more,
                lost,
                lost_more,
            });
        }
    }
    let transcript = run.state != RunState::Running && state.store.run_transcript(org, &run.id).await?.is_some();
    let running = run.state == RunState::Running;
    let page = RunPage {
        chrome: signed.chrome(&state).await?.at("/partners"),
        id: run.id.to_string(),
        pid: run.partnership.to_string(),
        partner: run.partner_name.clone(),
        state: run.state.as_str(),
        running,
        started: crate::rfc3339(run.started_at),
        started_by: run.started_by.clone(),
        finished: run.finished_at.map(crate::rfc3339),
        failure: run.failure.clone(),
        done: run.records_done,
        total: run.records_total,
        percent: (run.records_done * 100).checked_div(run.records_total).unwrap_or(0).min(100),
        accounts: result.as_ref().map(|r| thousands(r.overlapping_accounts)),
        pairs: result.as_ref().map(|r| thousands(r.pairs)),
        first,
        changes,
        transcript,
    };
    let mut response = html(StatusCode::OK, &page);
    if running {
        // Followed without JavaScript: the browser asks again in two seconds until it ends.
        response.headers_mut().insert(header::REFRESH, HeaderValue::from_static("2"));
    }
    Ok(response)
}

/// The run's transcript as a download.
pub(super) async fn run_transcript(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    let id = RunId::parse(&id).ok_or(PageError(ApiError::NotFound("match")))?;
    let text = state.store.run_transcript(signed.org(), &id).await?.ok_or(ApiError::NotFound("transcript"))?;
    let disposition = format!("attachment; filename=\"blindmap-{id}-transcript.txt\"");
    let mut response = text.into_response();
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    h.insert(header::CONTENT_DISPOSITION, HeaderValue::from_str(&disposition).expect("an id is header-safe"));
    super::secure_headers(h);
    Ok(response)
}

pub(super) struct HistoryRow {
    pub(super) id: String,
    pub(super) started: String,
    pub(super) started_by: String,
    pub(super) role: &'static str,
    pub(super) state: &'static str,
    pub(super) accounts: String,
    pub(super) changes: String,
}

#[derive(Template)]
#[template(path = "runs.html")]
pub(super) struct HistoryPage {
    pub(super) chrome: Chrome,
    pub(super) pid: String,
    pub(super) partner: String,
    pub(super) active: bool,
    pub(super) admin: bool,
    pub(super) runs: Vec<HistoryRow>,
    /// When runs start by themselves, and the form that changes it.
    pub(super) schedule: super::schedules::ScheduleBox,
    /// What the partner may run against this side.
    pub(super) budget: super::schedules::BudgetBox,
    /// The latest scheduled runs, and the partner's refused runs.
    pub(super) jobs: Vec<super::schedules::JobRow>,
    pub(super) refusals: Vec<super::schedules::RefusalRow>,
    /// Why a form was refused (nothing was changed).
    pub(super) problem: Option<String>,
}

/// A partner's matches, newest first, with the form that starts another, its schedule and what
/// it may run against this side.
pub(super) async fn history(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    let pid = PartnershipId::parse(&id).ok_or(PageError(ApiError::NotFound("partner")))?;
    Ok(html(StatusCode::OK, &history_view(&state, &signed, &pid, None).await?))
}

/// The matches page of partnership `pid`, with `problem` said at the top.
pub(super) async fn history_view(
    state: &AppState,
    signed: &Signed,
    pid: &PartnershipId,
    problem: Option<String>,
) -> Result<HistoryPage, PageError> {
    let org = signed.org();
    let partnership = state.store.partnership(org, pid).await?;
    let mut rows = Vec::new();
    for run in state.store.runs_page(org, Some(pid), None, None, HISTORY).await? {
        let result = result_of(&run)?;
        rows.push(HistoryRow {
            id: run.id.to_string(),
            started: crate::rfc3339(run.started_at),
            started_by: run.started_by.clone(),
            role: match run.role {
                blindmap_store::RunRole::Initiator => "you",
                blindmap_store::RunRole::Responder => "the partner",
            },
            state: run.state.as_str(),
            accounts: result.as_ref().map_or_else(|| "–".into(), |r| thousands(r.overlapping_accounts)),
            changes: match result.and_then(|r| r.changes) {
                Some(c) => format!("+{} / −{}", thousands(c.new_accounts), thousands(c.lost_accounts)),
                None => "–".into(),
            },
        });
    }
    let (schedule, budget, jobs, refusals) = super::schedules::boxes(state, org, &partnership).await?;
    Ok(HistoryPage {
        chrome: signed.chrome(state).await?.at("/partners"),
        pid: partnership.id.to_string(),
        partner: partnership.partner_name.clone(),
        active: partnership.state == blindmap_store::PartnershipState::Active && !partnership.partner_url.is_empty(),
        admin: signed.user().role == blindmap_store::Role::Admin,
        runs: rows,
        schedule,
        budget,
        jobs,
        refusals,
        problem,
    })
}
