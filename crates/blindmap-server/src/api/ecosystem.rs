//! `/api/v1/ecosystem` and `/api/v1/accounts/{id}/partners`: your accounts that several partners
//! have, in a transparent priority (`amount × partners`), and for one account the partners to
//! bring into the deal, ranked with their reasons. The rules are `service::ecosystem`'s; the
//! pages show the same.

use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contract;
use super::reports::CoSellRef;
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::service::ecosystem::{self as service, AmountChoice, Options};

/// Which accounts, and where the amount comes from.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
pub struct EcosystemQuery {
    /// Only accounts that at least this many active partners have (1 to 1000; default 2).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_partners: Option<u32>,
    /// Only your accounts in this segment.
    #[param(value_type = Option<contract::Filter>, nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub own_segment: Option<String>,
    /// The field of your active dataset holding the open-opportunity amount. Absent: the first
    /// field, by name, whose name contains `amount`, `pipeline` or `opportunity_value` (any
    /// case); empty: none, every priority is the number of partners. A name that is not a field
    /// of the active dataset is refused (422).
    #[param(value_type = Option<contract::Filter>, nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub amount_field: Option<String>,
    /// At most this many accounts (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
    /// Accounts to skip.
    #[serde(default)]
    #[param(maximum = 4294967295_u64, format = Int64)]
    pub offset: u32,
}

/// A partner that has the account.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PartnerOnAccount {
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// The partner's name.
    pub partner: String,
    /// The partner's segments of the records that matched (what its policy disclosed).
    pub partner_segments: Vec<String>,
}

/// One account several partners have.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct EcosystemItem {
    /// Its id in your export.
    pub account_id: String,
    /// Its name in your active dataset.
    pub account: Option<String>,
    /// Its segment in your matches.
    pub own_segment: String,
    /// How many active partners have it in their latest complete match.
    pub partner_count: u32,
    /// Those partners, by name.
    pub partners: Vec<PartnerOnAccount>,
    /// The amount field's value as your export wrote it (null: empty, or no amount field).
    pub amount_text: Option<String>,
    /// The amount read from it, as a decimal (`48000.00`); null where there is none or it cannot
    /// be read as a number.
    pub amount: Option<String>,
    /// `amount × partner_count` as a decimal; without an amount, the number of partners (and
    /// the account is listed after every account with an amount).
    pub priority: String,
}

/// A page of the ecosystem view, in priority order.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct EcosystemPage {
    /// How the priority is computed, in words.
    pub formula: String,
    /// The amount field read (null: none).
    pub amount_field: Option<String>,
    /// Your active dataset's fields, any of which `amount_field` may name.
    pub fields: Vec<String>,
    /// Accounts listed in all.
    pub total: u64,
    /// Of those, how many have an amount.
    pub with_amount: u64,
    /// Accounts skipped before this page.
    pub offset: u64,
    /// This page's accounts.
    pub items: Vec<EcosystemItem>,
}

/// Your accounts that several active partners have in their latest complete match, by priority:
/// `amount × partners`, accounts with an amount first, then those without by number of partners.
#[utoipa::path(get, path = "/api/v1/ecosystem", tag = "reports", params(EcosystemQuery),
    responses((status = 200, body = EcosystemPage, description = "A page of accounts, by priority"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "A limit, min_partners or filter out of range, or an amount_field that is not a field of your active dataset")))]
async fn ecosystem(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<EcosystemQuery>,
) -> Result<Json<EcosystemPage>, ApiError> {
    let limit = super::Page { limit: q.limit, cursor: None }.limit()?;
    contract::check_filter("own_segment", q.own_segment.as_deref())?;
    contract::check_filter("amount_field", q.amount_field.as_deref())?;
    let options = Options {
        min_partners: q.min_partners.unwrap_or(2),
        own_segment: q.own_segment.clone(),
        amount: AmountChoice::from_param(q.amount_field.as_deref()),
        offset: u64::from(q.offset),
        limit,
    };
    let found = service::ecosystem(&state.store, &caller.0.user.org, &options).await?;
    Ok(Json(EcosystemPage {
        formula: service::FORMULA.to_owned(),
        amount_field: found.amount_field,
        fields: found.fields,
        total: found.total,
        with_amount: found.with_amount,
        offset: options.offset,
        items: found
            .items
            .into_iter()
            .map(|a| EcosystemItem {
                account_id: a.account_id,
                account: a.name,
                own_segment: a.own_segment,
                partner_count: a.partner_count,
                partners: a
                    .partners
                    .into_iter()
                    .map(|p| PartnerOnAccount {
                        partnership: p.partnership.to_string(),
                        partner: p.partner_name,
                        partner_segments: p.partner_segments,
                    })
                    .collect(),
                amount_text: a.amount_text,
                amount: a.amount.map(|x| x.decimal()),
                priority: a.priority.decimal(),
            })
            .collect(),
    }))
}

/// An amount credited to the partner in the attribution ledger, in one currency.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct CreditedAmount {
    /// ISO 4217 (the reporting currency where the deal had one).
    pub currency: String,
    /// Minor units, summed over the deals.
    pub minor: i64,
}

/// A partner to bring into a deal on the account.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PartnerToBring {
    /// The partnership (`pt_…`).
    pub partnership: String,
    /// The partner's name.
    pub partner: String,
    /// The partner's segment of the account the score counts (its best).
    pub partner_segment: String,
    /// What that segment is taken for: `customer`, `open_opportunity`, `prospect` or `other`.
    pub segment_kind: String,
    /// Co-sell records with the partner (any account) that ended won.
    pub cosells_won: u64,
    /// … and lost.
    pub cosells_lost: u64,
    /// Won deals the attribution ledger credits to the partner.
    pub credited_deals: u64,
    /// Those credits' amounts, per currency.
    pub credited: Vec<CreditedAmount>,
    /// `segment + 2 × cosells_won − cosells_lost + credited_deals`.
    pub score: i64,
    /// The score's terms, in words.
    pub score_text: String,
    /// Why, in sentences.
    pub reasons: Vec<String>,
    /// A co-sell record on the account with this partner, if any.
    pub cosell: Option<CoSellRef>,
    /// Whether a co-sell record can start from the match (false where the partner matched
    /// through a filter, which names no record of theirs).
    pub can_cosell: bool,
}

/// The partners to bring into a deal on one account, best first.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct AccountPartners {
    /// Your account's id.
    pub account_id: String,
    /// Its name as your export wrote it.
    pub account: Option<String>,
    /// How the score is computed, in words.
    pub formula: String,
    /// The partners, highest score first (then by name).
    pub items: Vec<PartnerToBring>,
}

/// The active partners that have one of your accounts in their latest complete match, ranked by
/// what each disclosed (its segment) and your record of working together (co-sells won and lost,
/// won deals credited in the attribution ledger), each with its reasons.
#[utoipa::path(get, path = "/api/v1/accounts/{id}/partners", tag = "reports",
    params(("id" = String, Path, description = "Your account's id in your export")),
    responses((status = 200, body = AccountPartners, description = "The partners, best first"),
        (status = 404, body = Problem, content_type = "application/problem+json",
            description = "No active partner has this account in its latest complete match (or it is not yours)")))]
async fn partners(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<AccountPartners>, ApiError> {
    let found = service::bring(&state.store, &caller.0.user.org, &id).await?;
    Ok(Json(AccountPartners {
        account_id: found.account_id,
        account: found.name,
        formula: service::SCORE_FORMULA.to_owned(),
        items: found
            .candidates
            .into_iter()
            .map(|c| PartnerToBring {
                partnership: c.partnership.to_string(),
                partner: c.partner_name,
                partner_segment: c.partner_segment,
                segment_kind: c.kind.as_str().to_owned(),
                cosells_won: c.outcomes.won,
                cosells_lost: c.outcomes.lost,
                credited_deals: c.credited_deals,
                credited: c.credited.into_iter().map(|(currency, minor)| CreditedAmount { currency, minor }).collect(),
                score: c.score,
                score_text: c.score_text,
                reasons: c.reasons,
                cosell: c.cosell.map(|(id, status)| CoSellRef { id, status }),
                can_cosell: c.can_cosell,
            })
            .collect(),
    }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(ecosystem)).routes(routes!(partners))
}
