//! Scheduled runs and run budgets in the pages: on a partner's matches page, when runs start by
//! themselves (and the form that sets it), what the partner may run against this side (and its
//! form), the latest scheduled runs and the partner's refused runs; and the page of every run
//! partners started against this side, with those refused.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_store::{OrgId, Partnership, PartnershipId, RunRole, ScheduleKind};
use serde::Deserialize;

use super::manage::admin;
use super::runs::history_view;
use super::session::Signed;
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::budgets::{self, minutes_in_words};
use crate::service::schedules;

/// Scheduled runs listed on a partner's matches page.
const JOBS_SHOWN: u32 = 10;
/// Refused runs listed there, and on the page of runs against this side.
const REFUSALS_SHOWN: u32 = 50;

/// The schedule as the matches page shows it.
pub(super) struct ScheduleBox {
    /// "every day at 07:30 (Europe/Berlin)", or none.
    pub(super) words: Option<String>,
    pub(super) next_due: Option<String>,
    pub(super) kind: &'static str,
    pub(super) at: String,
    pub(super) zone: String,
    pub(super) hours: u32,
}

/// The budget as the matches page shows it.
pub(super) struct BudgetBox {
    pub(super) interval: String,
    pub(super) min_interval_minutes: u32,
    pub(super) max_change: String,
    pub(super) max_change_percent: String,
    pub(super) min_segment: u32,
}

pub(super) struct JobRow {
    pub(super) due: String,
    pub(super) state: &'static str,
    pub(super) attempts: u32,
    pub(super) run: Option<String>,
    pub(super) message: String,
}

pub(super) struct RefusalRow {
    pub(super) at: String,
    pub(super) partner: String,
    pub(super) pid: String,
    pub(super) reason: &'static str,
    pub(super) detail: String,
}

/// What a partner's matches page shows of its schedule, budget, jobs and refusals.
pub(super) async fn boxes(
    state: &AppState,
    org: &OrgId,
    partnership: &Partnership,
) -> Result<(ScheduleBox, BudgetBox, Vec<JobRow>, Vec<RefusalRow>), PageError> {
    let stored = state.store.schedule(org, &partnership.id).await?;
    let mut schedule =
        ScheduleBox { words: None, next_due: None, kind: "none", at: "07:00".into(), zone: "UTC".into(), hours: 24 };
    if let Some(s) = stored {
        schedule.next_due = s.next_due_at.map(crate::rfc3339);
        schedule.words = Some(match &s.kind {
            ScheduleKind::Daily { at_minute, zone } => {
                schedule.kind = "daily";
                schedule.at = format!("{:02}:{:02}", at_minute / 60, at_minute % 60);
                schedule.zone.clone_from(zone);
                format!("every day at {} ({zone})", schedule.at)
            }
            ScheduleKind::Every { minutes } => {
                schedule.kind = "every";
                schedule.hours = minutes / 60;
                format!("every {}", minutes_in_words(*minutes))
            }
            ScheduleKind::AfterDataset => {
                schedule.kind = "after_dataset";
                "after each new dataset".to_owned()
            }
        });
    }
    let b = state.store.budget(org, &partnership.id).await?;
    let budget = BudgetBox {
        interval: match b.min_interval_minutes {
            0 => "as often as it likes".to_owned(),
            m => format!("at most once every {}", minutes_in_words(m)),
        },
        min_interval_minutes: b.min_interval_minutes,
        max_change: match b.max_change_percent {
            Some(p) => format!("its declared accounts changed by at most {p}% since the run before"),
            None => "its declared accounts changed by any amount".to_owned(),
        },
        max_change_percent: b.max_change_percent.map(|p| p.to_string()).unwrap_or_default(),
        min_segment: b.min_segment,
    };
    let jobs = state
        .store
        .jobs(org, Some(&partnership.id), JOBS_SHOWN)
        .await?
        .into_iter()
        .map(|j| JobRow {
            due: crate::rfc3339(j.due_at),
            state: j.state.as_str(),
            attempts: j.attempts,
            run: j.run.map(|r| r.to_string()),
            message: j.message.unwrap_or_default(),
        })
        .collect();
    let refusals = refusal_rows(state, org, Some(&partnership.id)).await?;
    Ok((schedule, budget, jobs, refusals))
}

async fn refusal_rows(
    state: &AppState,
    org: &OrgId,
    partnership: Option<&PartnershipId>,
) -> Result<Vec<RefusalRow>, PageError> {
    Ok(state
        .store
        .refusals(org, partnership, REFUSALS_SHOWN)
        .await?
        .into_iter()
        .map(|r| RefusalRow {
            at: crate::rfc3339(r.at),
            partner: r.partner_name,
            pid: r.partnership.to_string(),
            reason: match r.reason {
                blindmap_store::RefusalReason::TooSoon => "too soon",
                blindmap_store::RefusalReason::TooMuchChange => "list changed too much",
            },
            detail: r.detail,
        })
        .collect())
}

#[derive(Deserialize)]
pub(super) struct ScheduleForm {
    csrf: String,
    kind: String,
    #[serde(default)]
    at: String,
    #[serde(default)]
    zone: String,
    #[serde(default)]
    hours: String,
}

/// Sets or removes the schedule (admins), then the matches page, or it again with why not.
pub(super) async fn set_schedule(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<ScheduleForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let pid = PartnershipId::parse(&id).ok_or(PageError(ApiError::NotFound("partner")))?;
    let user = signed.user();
    let outcome: Result<(), ApiError> = async {
        let kind = match form.kind.as_str() {
            "none" => {
                state.store.clear_schedule(&user.org, &pid, &user.name).await?;
                return Ok(());
            }
            "daily" => ScheduleKind::Daily {
                at_minute: crate::api::schedules::time_of_day(form.at.trim())?,
                zone: form.zone.trim().to_owned(),
            },
            "every" => {
                let hours: u32 = form.hours.trim().parse().map_err(|_| {
                    ApiError::Invalid(format!("hours must be a whole number, 1 to 744, not {:?}", form.hours))
                })?;
                ScheduleKind::Every { minutes: hours.saturating_mul(60) }
            }
            "after_dataset" => ScheduleKind::AfterDataset,
            other => return Err(ApiError::Invalid(format!("{other:?} is no kind of schedule"))),
        };
        schedules::set(&state.store, state.node.as_deref(), user, &pid, &kind).await?;
        Ok(())
    }
    .await;
    back_to_matches(&state, &signed, &pid, outcome).await
}

#[derive(Deserialize)]
pub(super) struct BudgetForm {
    csrf: String,
    min_interval: String,
    #[serde(default)]
    max_change: String,
    min_segment: String,
}

/// Sets what the partner may run against this side (admins).
pub(super) async fn set_budget(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<BudgetForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let pid = PartnershipId::parse(&id).ok_or(PageError(ApiError::NotFound("partner")))?;
    let number = |field: &str, text: &str| -> Result<u32, ApiError> {
        text.trim().parse().map_err(|_| ApiError::Invalid(format!("{field} must be a whole number, not {text:?}")))
    };
    let outcome: Result<(), ApiError> = async {
        let change = budgets::BudgetChange {
            min_interval_minutes: number("the interval", &form.min_interval)?,
            max_change_percent: match form.max_change.trim() {
                "" => None,
                text => Some(number("the change", text)?),
            },
            min_segment: number("the smallest segment", &form.min_segment)?,
        };
        budgets::set(&state.store, signed.user(), &pid, &change).await?;
        Ok(())
    }
    .await;
    back_to_matches(&state, &signed, &pid, outcome).await
}

/// The matches page after a form: on success a fresh one, else the same with why.
async fn back_to_matches(
    state: &AppState,
    signed: &Signed,
    pid: &PartnershipId,
    outcome: Result<(), ApiError>,
) -> PageResult {
    match outcome {
        Ok(()) => Ok(Redirect::to(&format!("/partners/{pid}/runs")).into_response()),
        Err(ApiError::NotFound(what)) => Err(PageError(ApiError::NotFound(what))),
        Err(ApiError::Store(blindmap_store::StoreError::NotFound(what))) => Err(PageError(ApiError::NotFound(what))),
        Err(e) => {
            let (status, text) = e.status_and_detail();
            Ok(html(status, &history_view(state, signed, pid, Some(text)).await?))
        }
    }
}

pub(super) struct AgainstRow {
    pub(super) id: String,
    pub(super) started: String,
    pub(super) partner: String,
    pub(super) pid: String,
    pub(super) state: &'static str,
    pub(super) failure: String,
}

#[derive(Template)]
#[template(path = "against.html")]
pub(super) struct AgainstPage {
    pub(super) chrome: Chrome,
    pub(super) runs: Vec<AgainstRow>,
    pub(super) refusals: Vec<RefusalRow>,
}

/// Runs partners started against this organisation, and those its budgets refused.
pub(super) async fn against_page(State(state): State<AppState>, signed: Signed) -> PageResult {
    let org = signed.org();
    let runs = state
        .store
        .runs_page(org, None, Some(RunRole::Responder), None, REFUSALS_SHOWN)
        .await?
        .into_iter()
        .map(|r| AgainstRow {
            id: r.id.to_string(),
            started: crate::rfc3339(r.started_at),
            partner: r.partner_name,
            pid: r.partnership.to_string(),
            state: r.state.as_str(),
            failure: r.failure.unwrap_or_default(),
        })
        .collect();
    let page = AgainstPage {
        chrome: signed.chrome(&state).await?.at("/partners"),
        runs,
        refusals: refusal_rows(&state, org, None).await?,
    };
    Ok(html(StatusCode::OK, &page))
}
