//! Scheduled runs and run budgets: `/api/v1/partnerships/{id}/schedule` (when this side starts
//! runs with the partner by itself), `/api/v1/partnerships/{id}/budget` (what this side allows
//! the partner to run against it), `/api/v1/jobs` (the scheduled runs and how they went) and
//! `/api/v1/refusals` (runs partners started against this side that its budget refused).

use axum::extract::{Path, State};
use axum::http::StatusCode;
use blindmap_store::{Budget, Job, PartnershipId, Refusal, Role, Schedule, ScheduleKind};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contract;
use super::partnerships::partnership_id;
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::service::{budgets, schedules};

/// When this side starts runs with the partner by itself.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ScheduleRequest {
    /// Every day at a time of day in a time zone.
    Daily {
        /// `HH:MM`, 24-hour.
        #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "07:30")]
        at: String,
        /// An IANA time zone (`UTC`, `Europe/Berlin`).
        #[schema(example = "Europe/Berlin")]
        zone: String,
    },
    /// Every so many hours, the first that long after it is set.
    Every {
        /// 1 to 744 (31 days).
        #[schema(minimum = 1, maximum = 744)]
        hours: u32,
    },
    /// After each new dataset this organisation matches from (a CRM sync's, or an upload's).
    AfterDataset,
}

/// A partnership's schedule.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScheduleView {
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// When runs start.
    pub schedule: ScheduleRequest,
    /// When the next run is due (Unix ms); absent for `after_dataset`, whose runs come with
    /// datasets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_due_at: Option<i64>,
    /// Who set it.
    pub set_by: String,
    /// When (Unix ms).
    pub updated_at: i64,
}

impl From<Schedule> for ScheduleView {
    fn from(s: Schedule) -> Self {
        let schedule = match s.kind {
            ScheduleKind::Daily { at_minute, zone } => {
                ScheduleRequest::Daily { at: format!("{:02}:{:02}", at_minute / 60, at_minute % 60), zone }
            }
            ScheduleKind::Every { minutes } => ScheduleRequest::Every { hours: minutes / 60 },
            ScheduleKind::AfterDataset => ScheduleRequest::AfterDataset,
        };
        Self {
            partnership: s.partnership.to_string(),
            schedule,
            next_due_at: s.next_due_at,
            set_by: s.set_by,
            updated_at: s.updated_at,
        }
    }
}

impl ScheduleRequest {
    /// The schedule as the store keeps it; a time of day that does not read is refused.
    pub(crate) fn kind(&self) -> Result<ScheduleKind, ApiError> {
        Ok(match self {
            Self::Daily { at, zone } => ScheduleKind::Daily { at_minute: time_of_day(at)?, zone: zone.clone() },
            Self::Every { hours } => ScheduleKind::Every { minutes: hours.saturating_mul(60) },
            Self::AfterDataset => ScheduleKind::AfterDataset,
        })
    }
}

/// `HH:MM` as minutes after midnight.
pub(crate) fn time_of_day(text: &str) -> Result<u32, ApiError> {
    let bad = || ApiError::Invalid(format!("at must be a time of day as HH:MM (24-hour), such as 07:30, not {text:?}"));
    let (h, m) = text.split_once(':').ok_or_else(bad)?;
    if h.len() != 2 || m.len() != 2 {
        return Err(bad());
    }
    let (h, m): (u32, u32) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if h > 23 || m > 59 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// What this side allows its partner to run against it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BudgetView {
    /// At most one run against this side every so many minutes; 0 for no limit.
    #[schema(minimum = 0, maximum = 44640)]
    pub min_interval_minutes: u32,
    /// The partner's declared records may change by at most this percentage between runs;
    /// absent (or null) for no limit.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    pub max_change_percent: Option<u32>,
    /// The smallest partner segment served (the sharing policy's `min_partner_segment`).
    #[schema(minimum = 1, maximum = 1000000)]
    pub min_segment: u32,
    /// Who set it last (absent until someone does).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_by: Option<String>,
    /// When (Unix ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
}

/// What this side allows the partner to run against it, as set.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct BudgetRequest {
    /// At most one run against this side every so many minutes; 0 for no limit.
    #[schema(minimum = 0, maximum = 44640)]
    pub min_interval_minutes: u32,
    /// The partner's declared records may change by at most this percentage between runs;
    /// absent (or null) for no limit.
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    pub max_change_percent: Option<u32>,
    /// The smallest partner segment served (the sharing policy's `min_partner_segment`).
    #[schema(minimum = 1, maximum = 1000000)]
    pub min_segment: u32,
}

impl From<Budget> for BudgetView {
    fn from(b: Budget) -> Self {
        Self {
            min_interval_minutes: b.min_interval_minutes,
            max_change_percent: b.max_change_percent,
            min_segment: b.min_segment,
            set_by: b.set_by,
            updated_at: b.updated_at,
        }
    }
}

/// A scheduled run, as a job any replica of the node may take.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct JobView {
    /// `job_…`.
    pub id: String,
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// The partner.
    pub partner: String,
    /// What made it: `daily`, `every` or `after_dataset`.
    pub reason: String,
    /// When it is due (Unix ms); moved on while it waits to be tried again.
    pub due_at: i64,
    /// `pending`, `running`, `done` or `failed`.
    pub state: String,
    /// How many times a replica took it.
    pub attempts: u32,
    /// The replica that took it last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica: Option<String>,
    /// The run of its latest attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// Why it failed, or what its last attempt met.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> Self {
        Self {
            id: j.id.to_string(),
            partnership: j.partnership.to_string(),
            partner: j.partner_name,
            reason: j.reason,
            due_at: j.due_at,
            state: j.state.as_str().to_owned(),
            attempts: j.attempts,
            replica: j.holder,
            run: j.run.map(|r| r.to_string()),
            message: j.message,
        }
    }
}

/// Scheduled runs, newest due first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct JobList {
    /// The jobs.
    pub items: Vec<JobView>,
}

/// A run a partner started against this side, refused under its budget.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RefusalView {
    /// `rf_…`.
    pub id: String,
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// The partner.
    pub partner: String,
    /// When (Unix ms).
    pub at: i64,
    /// `too_soon` or `too_much_change`.
    pub reason: String,
    /// What the partner was told.
    pub detail: String,
}

impl From<Refusal> for RefusalView {
    fn from(r: Refusal) -> Self {
        Self {
            id: r.id.to_string(),
            partnership: r.partnership.to_string(),
            partner: r.partner_name,
            at: r.at,
            reason: r.reason.as_str().to_owned(),
            detail: r.detail,
        }
    }
}

/// Refused runs, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RefusalList {
    /// The refusals.
    pub items: Vec<RefusalView>,
}

/// Which jobs or refusals to list.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
pub struct ListFilter {
    /// Only this partnership's.
    #[param(value_type = Option<contract::PartnershipId>, nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partnership: Option<String>,
    /// At most this many (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

impl ListFilter {
    fn parts(&self) -> Result<(Option<PartnershipId>, u32), ApiError> {
        let partnership = self.partnership.as_deref().map(partnership_id).transpose()?;
        let limit = self.limit.unwrap_or(100);
        if !(1..=1000).contains(&limit) {
            return Err(ApiError::Invalid("limit must be 1 to 1000".into()));
        }
        Ok((partnership, limit))
    }
}

/// When this side starts runs with the partner by itself.
#[utoipa::path(get, path = "/api/v1/partnerships/{id}/schedule", tag = "schedules",
    params(("id" = contract::PartnershipId, Path)),
    responses((status = 200, body = ScheduleView, description = "The schedule"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership, or it has no schedule")))]
async fn get_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    let schedule = state.store.schedule(&caller.0.user.org, &partnership_id(&id)?).await?;
    Ok(Json(schedule.ok_or(ApiError::NotFound("schedule"))?.into()))
}

/// Sets when this side starts runs with the partner by itself (admins only), replacing any
/// schedule. The partner's node is asked what it allows against it: a schedule more frequent
/// than that is refused.
#[utoipa::path(put, path = "/api/v1/partnerships/{id}/schedule", tag = "schedules",
    params(("id" = contract::PartnershipId, Path)),
    request_body = ScheduleRequest,
    responses((status = 200, body = ScheduleView, description = "The schedule as stored"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The partnership has ended, or the partner starts runs itself"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A time, zone or interval out of range, or more often than the partner allows"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The partner's node could not be asked what it allows")))]
async fn put_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<ScheduleRequest>,
) -> Result<Json<ScheduleView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let id = partnership_id(&id)?;
    let kind = body.kind()?;
    Ok(Json(schedules::set(&state.store, state.node.as_deref(), &caller.0.user, &id, &kind).await?.into()))
}

/// Removes the schedule (admins only): no more runs start by themselves; jobs not yet taken
/// are given up.
#[utoipa::path(delete, path = "/api/v1/partnerships/{id}/schedule", tag = "schedules",
    params(("id" = contract::PartnershipId, Path)),
    responses((status = 204, description = "Removed"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership, or it has no schedule")))]
async fn delete_schedule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    let user = &caller.0.user;
    match state.store.clear_schedule(&user.org, &partnership_id(&id)?, &user.name).await? {
        true => Ok(StatusCode::NO_CONTENT),
        false => Err(ApiError::NotFound("schedule")),
    }
}

/// What this side allows the partner to run against it.
#[utoipa::path(get, path = "/api/v1/partnerships/{id}/budget", tag = "schedules",
    params(("id" = contract::PartnershipId, Path)),
    responses((status = 200, body = BudgetView, description = "The budget (no limits until set)"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership")))]
async fn get_budget(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<BudgetView>, ApiError> {
    Ok(Json(state.store.budget(&caller.0.user.org, &partnership_id(&id)?).await?.into()))
}

/// Sets what this side allows the partner to run against it (admins only): how often, how much
/// the partner's declared list may change between runs, and the smallest partner segment served
/// (the sharing policy's minimum). Runs beyond it are refused before anything is disclosed.
#[utoipa::path(put, path = "/api/v1/partnerships/{id}/budget", tag = "schedules",
    params(("id" = contract::PartnershipId, Path)),
    request_body = BudgetRequest,
    responses((status = 200, body = BudgetView, description = "The budget as stored"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A value out of range")))]
async fn put_budget(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<BudgetRequest>,
) -> Result<Json<BudgetView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let change = budgets::BudgetChange {
        min_interval_minutes: body.min_interval_minutes,
        max_change_percent: body.max_change_percent,
        min_segment: body.min_segment,
    };
    Ok(Json(budgets::set(&state.store, &caller.0.user, &partnership_id(&id)?, &change).await?.into()))
}

/// Scheduled runs and how they went, newest due first.
#[utoipa::path(get, path = "/api/v1/jobs", tag = "schedules", params(ListFilter),
    responses((status = 200, body = JobList, description = "The jobs"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit out of range")))]
async fn jobs(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<ListFilter>,
) -> Result<Json<JobList>, ApiError> {
    let (partnership, limit) = filter.parts()?;
    let jobs = state.store.jobs(&caller.0.user.org, partnership.as_ref(), limit).await?;
    Ok(Json(JobList { items: jobs.into_iter().map(Into::into).collect() }))
}

/// Runs partners started against this side that its budget refused, newest first (the runs it
/// answered are `GET /api/v1/runs?role=responder`).
#[utoipa::path(get, path = "/api/v1/refusals", tag = "schedules", params(ListFilter),
    responses((status = 200, body = RefusalList, description = "The refusals"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit out of range")))]
async fn refusals(
    State(state): State<AppState>,
    caller: Caller,
    Query(filter): Query<ListFilter>,
) -> Result<Json<RefusalList>, ApiError> {
    let (partnership, limit) = filter.parts()?;
    let refused = state.store.refusals(&caller.0.user.org, partnership.as_ref(), limit).await?;
    Ok(Json(RefusalList { items: refused.into_iter().map(Into::into).collect() }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_schedule, put_schedule, delete_schedule))
        .routes(routes!(get_budget, put_budget))
        .routes(routes!(jobs))
        .routes(routes!(refusals))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_time_of_day_reads_as_hh_mm_only() {
        assert_eq!(time_of_day("07:30").unwrap(), 450);
        assert_eq!(time_of_day("23:59").unwrap(), 1439);
        for bad in ["7:30", "24:00", "12:60", "0730", "12:3", "ab:cd", ""] {
            assert!(time_of_day(bad).is_err(), "{bad}");
        }
    }
}
