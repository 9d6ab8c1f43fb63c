//! One account of the organisation's: which partner to bring into a deal on it (ranked, with
//! the reasons, a "Start co-sell" button each) and its overlaps with every partner.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;

use super::format::pct;
use super::overlaps::fields_text;
use super::session::Signed;
use super::{Chrome, PageResult, html};
use crate::AppState;
use crate::service::ecosystem::{self, Candidate, EcosystemError, SCORE_FORMULA};

pub(super) struct AccountEntry {
    pub(super) partner: String,
    pub(super) own_segment: String,
    pub(super) partner_segment: String,
    pub(super) fields: String,
    pub(super) tier: &'static str,
    pub(super) reason: String,
    pub(super) matched: String,
}

#[derive(Template)]
#[template(path = "account.html")]
pub(super) struct AccountPage {
    pub(super) chrome: Chrome,
    pub(super) account_id: String,
    pub(super) name: String,
    pub(super) entries: Vec<AccountEntry>,
    /// The partners the account matches, once each (id, name): a "Never match" form each.
    pub(super) partners: Vec<(String, String)>,
    pub(super) here: String,
    /// The partners to bring into a deal on it, best first.
    pub(super) bring: Vec<Candidate>,
    pub(super) formula: &'static str,
}

pub(super) async fn account(
    State(state): State<AppState>,
    signed: Signed,
    Path(account_id): Path<String>,
) -> PageResult {
    let org = signed.org();
    let found = state.store.account_overlaps(org, &account_id).await?;
    let name = found.iter().find_map(|(_, _, r)| r.name.clone()).unwrap_or_else(|| account_id.clone());
    let mut partners: Vec<(String, String)> = Vec::new();
    for (pid, partner, _) in &found {
        if !partners.iter().any(|(id, _)| id == pid.as_str()) {
            partners.push((pid.to_string(), partner.clone()));
        }
    }
    let entries = found
        .into_iter()
        .map(|(_, partner, r)| AccountEntry {
            partner,
            own_segment: r.own_segment,
            partner_segment: r.partner_segment,
            fields: fields_text(&r.partner_fields),
            tier: r.tier.as_str(),
            reason: r.reason,
            matched: r.key_types.join(", "),
        })
        .collect();
    let here = format!("/accounts/{}", pct(&account_id));
    let bring = match ecosystem::bring(&state.store, org, &account_id).await {
        Ok(found) => found.candidates,
        Err(EcosystemError::NotFound(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    let page = AccountPage {
        chrome: signed.chrome(&state).await?,
        account_id,
        name,
        entries,
        partners,
        here,
        bring,
        formula: SCORE_FORMULA,
    };
    Ok(html(StatusCode::OK, &page))
}
