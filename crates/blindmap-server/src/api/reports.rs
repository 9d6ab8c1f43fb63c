//! `/api/v1/reports/overlaps`: the reps' overlap list as JSON — the same rows, columns, filters
//! and order as the page and its CSV export, for the latest complete match with a partner.

use axum::extract::State;
use blindmap_store::{ReportFilter, ReportSort};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};

/// Which rows, in which order.
#[derive(Default, Serialize, Deserialize, utoipa::IntoParams)]
pub struct ReportQuery {
    /// The partnership (`pt_…`).
    #[param(value_type = super::contract::PartnershipId)]
    pub partnership: String,
    /// Only your accounts in this segment.
    #[param(value_type = Option<super::contract::Filter>, nullable = false)]
    pub own_segment: Option<String>,
    /// Only overlaps with this partner segment.
    #[param(value_type = Option<super::contract::Filter>, nullable = false)]
    pub partner_segment: Option<String>,
    /// Only accounts of this owner (the account's `owner` field).
    #[param(value_type = Option<super::contract::Filter>, nullable = false)]
    pub owner: Option<String>,
    /// Only accounts whose name or id contains this.
    #[param(value_type = Option<super::contract::Filter>, nullable = false)]
    pub q: Option<String>,
    /// Only accounts new since the previous complete match.
    #[serde(default)]
    pub new_only: bool,
    /// Only matches of this tier (default: both). The reps' page shows confirmed ones unless
    /// asked for possible ones.
    #[param(value_type = Option<super::contract::MatchTier>, nullable = false)]
    pub tier: Option<String>,
    /// The order (default `account`).
    #[param(value_type = Option<super::contract::ReportSort>, nullable = false)]
    pub sort: Option<String>,
    /// Descending: the order reversed (every key of it, so names run Z to A within a segment too).
    #[serde(default)]
    pub desc: bool,
    /// At most this many rows (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    pub limit: Option<u32>,
    /// Rows to skip.
    #[serde(default)]
    #[param(maximum = 4294967295_u64, format = Int64)]
    pub offset: u32,
}

/// A co-sell record on the account.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct CoSellRef {
    /// The co-sell record (`cs_…`).
    pub id: String,
    /// Its status: `proposed`, `accepted`, `declined`, `active`, `won`, `lost` or `withdrawn`.
    pub status: String,
}

/// One overlapping account, as the page and the CSV show it.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct ReportItem {
    /// Its name as your export wrote it.
    pub account: Option<String>,
    /// Its id in your export.
    pub account_id: String,
    /// Its segment.
    pub own_segment: String,
    /// Its owner as your export wrote it.
    pub owner: Option<String>,
    /// The partner record's segment.
    pub partner_segment: String,
    /// What the partner shares of its record (null where its record has none).
    pub partner_fields: std::collections::BTreeMap<String, Option<String>>,
    /// Key types that matched.
    pub matched_on: Vec<String>,
    /// How sure the match is.
    #[schema(value_type = super::contract::MatchTier)]
    pub tier: blindmap_store::Tier,
    /// Why it has that tier, in a sentence.
    pub reason: String,
    /// The co-sell record on the account, if any.
    pub cosell: Option<CoSellRef>,
    /// The state of your registration of this customer with the partner, if any.
    pub registration: Option<String>,
    /// New since the previous complete match (null: this is the first).
    pub new: Option<bool>,
}

/// A page of the report.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct Report {
    /// The match (`run_…`) the rows come from.
    pub run: String,
    /// The match they are compared with, if any.
    pub previous_run: Option<String>,
    /// Rows the filters select in all.
    pub total: u64,
    /// Rows skipped before this page.
    pub offset: u64,
    /// This page's items.
    pub items: Vec<ReportItem>,
}

/// The overlap report of the latest complete match with a partner, filtered, sorted and paged.
#[utoipa::path(get, path = "/api/v1/reports/overlaps", tag = "reports", params(ReportQuery),
    responses((status = 200, body = Report, description = "A page of the report"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership, or no complete match"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit, sort or filter out of range")))]
async fn overlaps(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ReportQuery>,
) -> Result<Json<Report>, ApiError> {
    let org = &caller.0.user.org;
    let limit = super::Page { limit: q.limit, cursor: None }.limit()?;
    for (name, value) in
        [("own_segment", &q.own_segment), ("partner_segment", &q.partner_segment), ("owner", &q.owner), ("q", &q.q)]
    {
        super::contract::check_filter(name, value.as_deref())?;
    }
    // The pages also sort by partner and by the partner's fields; the API's contract names these four.
    let sort = match q.sort.as_deref().map(ReportSort::parse) {
        None => ReportSort::Account,
        Some(Some(
            s @ (ReportSort::Account | ReportSort::OwnSegment | ReportSort::PartnerSegment | ReportSort::Owner),
        )) => s,
        Some(_) => return Err(ApiError::Invalid("sort is account, segment, partner_segment or owner".into())),
    };
    let tier = match q.tier.as_deref() {
        None => None,
        Some(t) => Some(
            blindmap_store::Tier::parse(t).ok_or_else(|| ApiError::Invalid("tier is confirmed or possible".into()))?,
        ),
    };
    let set = |v: &Option<String>| v.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned);
    let crate::web::Listing { run, filter, registrations, _slot, .. } =
        crate::web::listing(&state, org, &q.partnership, |previous| ReportFilter {
            own_segment: set(&q.own_segment),
            partner_segment: set(&q.partner_segment),
            owner: set(&q.owner),
            search: set(&q.q),
            previous: previous.map(|r| r.id.clone()),
            new_only: q.new_only && previous.is_some(),
            sort,
            descending: q.desc,
            tier,
            ..ReportFilter::default()
        })
        .await?;
    let (rows, total) = state.store.report_page(org, &run, &filter, u64::from(q.offset), limit).await?;
    let items = rows
        .into_iter()
        .map(|row| ReportItem {
            registration: crate::web::registration_of(&row, &registrations),
            account: row.name,
            account_id: row.account_id,
            own_segment: row.own_segment,
            owner: row.owner,
            partner_segment: row.partner_segment,
            partner_fields: row.partner_fields,
            matched_on: row.key_types,
            tier: row.tier,
            reason: row.reason,
            cosell: row.cosell.map(|(id, status)| CoSellRef { id, status }),
            new: row.new,
        })
        .collect();
    Ok(Json(Report {
        run: run.id.to_string(),
        previous_run: filter.previous.map(|r| r.to_string()),
        total,
        offset: u64::from(q.offset),
        items,
    }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(overlaps))
}
