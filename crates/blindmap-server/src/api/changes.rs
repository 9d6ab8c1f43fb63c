//! `/api/v1/changes`: what each run changed, account by account — the accounts that came into or
//! went out of a cell of the overlap matrix since the partnership's previous complete run, with
//! their names and owners and, for new overlaps, their tier and the partner's disclosed fields —
//! kept for the organisation's history period (`/api/v1/retention`) whether or not the runs
//! are. Newest first, paged by cursor.

use std::collections::BTreeMap;

use axum::extract::State;
use blindmap_store::{ChangeCursor, ChangeFilter, ChangeKind, RunId, StoredChange};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, contract};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};

/// `new` or `lost`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ChangeName {
    /// The account overlaps in the cell now, and did not in the previous run.
    New,
    /// It overlapped in the cell in the previous run, and does not now.
    Lost,
}

impl From<ChangeName> for ChangeKind {
    fn from(c: ChangeName) -> Self {
        match c {
            ChangeName::New => Self::New,
            ChangeName::Lost => Self::Lost,
        }
    }
}

/// One account's change in one cell.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangeView {
    /// When the run that found it completed (Unix ms).
    pub at: i64,
    /// The run (`run_…`).
    pub run: String,
    /// The run it was compared with.
    pub previous_run: String,
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// The partner.
    pub partner: String,
    /// The account's id in this side's dataset.
    pub account_id: String,
    /// Its name ('' where the dataset has none).
    pub name: String,
    /// Its owner ('' where the dataset has none).
    pub owner: String,
    /// Its owner's e-mail address (the dataset's `owner_email` field; '' where it has none).
    #[serde(default)]
    pub owner_email: String,
    /// This side's segment.
    pub own_segment: String,
    /// The partner's segment.
    pub partner_segment: String,
    /// `new` or `lost`.
    pub change: ChangeName,
    /// A new overlap's best tier: `confirmed` or `possible`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// The fields the partner disclosed for its record (new overlaps; null where it has none).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Option<String>>,
}

impl From<StoredChange> for ChangeView {
    fn from(s: StoredChange) -> Self {
        let c = s.change;
        Self {
            at: s.at,
            run: s.run.to_string(),
            previous_run: s.previous_run.to_string(),
            partnership: s.partnership.to_string(),
            partner: s.partner_name,
            account_id: c.account_id,
            name: c.name,
            owner: c.owner,
            owner_email: c.owner_email,
            own_segment: c.own_segment,
            partner_segment: c.partner_segment,
            change: match c.change {
                ChangeKind::New => ChangeName::New,
                ChangeKind::Lost => ChangeName::Lost,
            },
            tier: c.tier.map(|t| t.as_str().to_owned()),
            fields: c.fields,
        }
    }
}

/// A page of changes.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ChangePage {
    /// The changes, newest first.
    pub items: Vec<ChangeView>,
    /// The cursor of the next page; absent on the last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// Which changes to list.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
pub struct ChangeQuery {
    /// Only this partnership's.
    #[param(value_type = Option<contract::PartnershipId>, nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partnership: Option<String>,
    /// Only this account's (its id in this side's dataset).
    #[param(nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// Only new, or only lost, overlaps.
    #[param(nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub change: Option<ChangeName>,
    /// Only changes at or after this time (Unix ms).
    #[param(minimum = 0, nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Only this run's.
    #[param(value_type = Option<contract::RunId>, nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
}

/// A change's place as text (`contract::ChangeCursor`).
fn encode_cursor(c: &ChangeCursor) -> String {
    let [run, account, own, partner] = [&c.run, &c.account, &c.own_segment, &c.partner_segment].map(hex::encode);
    format!("{}.{run}.{account}.{own}.{partner}.{}", c.at, c.change)
}

fn decode_cursor(text: &str) -> Result<ChangeCursor, ApiError> {
    let invalid = || ApiError::Invalid("cursor is not one this API returned".into());
    let parts: Vec<&str> = text.split('.').collect();
    let [at, run, account, own, partner, change] = parts.as_slice() else { return Err(invalid()) };
    if !(1..=18).contains(&at.len()) || !at.bytes().all(|b| b.is_ascii_digit()) || ChangeKind::parse(change).is_none() {
        return Err(invalid());
    }
    let text = |hex_text: &str| -> Result<String, ApiError> {
        let bytes = hex::decode(hex_text).map_err(|_| invalid())?;
        Ok(String::from_utf8_lossy(&bytes).replace('\0', "\u{fffd}"))
    };
    Ok(ChangeCursor {
        at: at.parse().map_err(|_| invalid())?,
        run: text(run)?,
        account: text(account)?,
        own_segment: text(own)?,
        partner_segment: text(partner)?,
        change: (*change).to_owned(),
    })
}

/// What runs changed, account by account: the accounts that came into or went out of each cell
/// since the partnership's previous complete run (a first run changes nothing), newest first.
#[utoipa::path(get, path = "/api/v1/changes", tag = "runs",
    params(Page, ("cursor" = Option<contract::ChangeCursor>, Query, description = "The `next` of the previous page"), ChangeQuery),
    responses((status = 200, body = ChangePage, description = "A page of changes"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership or run"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit, cursor or time out of range")))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
    Query(query): Query<ChangeQuery>,
) -> Result<Json<ChangePage>, ApiError> {
    let limit = page.limit()?;
    let cursor = page.cursor.as_deref().map(decode_cursor).transpose()?;
    if query.since.is_some_and(|s| s < 0) {
        return Err(ApiError::Invalid("since must be a time in Unix milliseconds, 0 or more".into()));
    }
    let filter = ChangeFilter {
        partnership: query.partnership.as_deref().map(super::partnerships::partnership_id).transpose()?,
        account: query.account.clone(),
        change: query.change.map(Into::into),
        since: query.since,
        run: query.run.as_deref().map(|r| RunId::parse(r).ok_or(ApiError::NotFound("run"))).transpose()?,
    };
    let items = state.store.account_changes(&caller.0.user.org, &filter, cursor.as_ref(), limit).await?;
    let next = (items.len() == limit as usize).then(|| items.last().map(|c| encode_cursor(&ChangeCursor::after(c))));
    Ok(Json(ChangePage { items: items.into_iter().map(Into::into).collect(), next: next.flatten() }))
}

/// What the organisation keeps.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RetentionView {
    /// The complete runs kept per partnership, the latest (older ones, their overlaps, and the
    /// datasets no kept run matched are deleted).
    #[schema(minimum = 2, maximum = 1000)]
    pub keep_runs: u32,
    /// Days of per-account changes kept.
    #[schema(minimum = 1, maximum = 3650)]
    pub change_days: u32,
}

/// What the organisation keeps (10 runs per partnership and 365 days of changes until set).
#[utoipa::path(get, path = "/api/v1/retention", tag = "runs",
    responses((status = 200, body = RetentionView, description = "The retention")))]
async fn get_retention(State(state): State<AppState>, caller: Caller) -> Result<Json<RetentionView>, ApiError> {
    let r = state.store.retention(&caller.0.user.org).await?;
    Ok(Json(RetentionView { keep_runs: r.keep_runs, change_days: r.change_days }))
}

/// Sets what the organisation keeps (admins only); what it no longer keeps is deleted at once.
#[utoipa::path(put, path = "/api/v1/retention", tag = "runs", request_body = RetentionView,
    responses((status = 200, body = RetentionView, description = "The retention as stored"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A value out of range")))]
async fn put_retention(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<RetentionView>,
) -> Result<Json<RetentionView>, ApiError> {
    caller.require(&[blindmap_store::Role::Admin])?;
    let r = crate::service::retention::set(&state.store, &caller.0.user, body.keep_runs, body.change_days).await?;
    Ok(Json(RetentionView { keep_runs: r.keep_runs, change_days: r.change_days }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list)).routes(routes!(get_retention, put_retention))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_reads_back_as_written_and_nothing_else_reads() {
        let c = ChangeCursor {
            at: 1_796_688_000_123,
            run: "run_ab".into(),
            account: "0015g00000NWTRd.AAF".into(),
            own_segment: "customers".into(),
            partner_segment: "open_opportunities".into(),
            change: "lost".into(),
        };
        let text = encode_cursor(&c);
        let pattern = regex_lite_check(&text);
        assert!(pattern, "{text}");
        assert_eq!(decode_cursor(&text).unwrap(), c);
        for bad in ["", "1.2.3", "x.00.00.00.00.new", "1.0g.00.00.00.new", "1.00.00.00.00.gone", "1.00.00.00.00.new.7"]
        {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    /// The cursor's shape as `contract::ChangeCursor` states it, checked by hand.
    fn regex_lite_check(text: &str) -> bool {
        let parts: Vec<&str> = text.split('.').collect();
        parts.len() == 6
            && parts[0].bytes().all(|b| b.is_ascii_digit())
            && parts[1..5].iter().all(|p| p.len() % 2 == 0 && p.bytes().all(|b| b.is_ascii_hexdigit()))
            && ["new", "lost"].contains(&parts[5])
    }
}
