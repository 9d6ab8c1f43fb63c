//! Co-sell records in the browser: every record with every partner, grouped by where it is in
//! its lifecycle (proposed, accepted, active, won, …) with its stage; a record's page with its
//! fields, what each side set and when, the forms that edit it and its history. Edits go through
//! the same service function as the API's, and reach the partner's node the same way.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_cosell::cosell::{Edit, Party, Status};
use blindmap_cosell::money::{Currency, Money};
use blindmap_store::{PartnershipId, Role, StoredCoSell};

use super::format::named;
use super::session::{Signed, bad_request};
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::cosell;

/// Records listed (the API pages through more).
const LISTED: u32 = 500;

/// The lifecycle's statuses in the order the list shows them.
const STATUSES: [Status; 7] = [
    Status::Proposed,
    Status::Accepted,
    Status::Active,
    Status::Won,
    Status::Lost,
    Status::Declined,
    Status::Withdrawn,
];

pub(super) struct Row {
    pub(super) id: String,
    pub(super) account: String,
    pub(super) partner: String,
    pub(super) stage: String,
    pub(super) amount: String,
    pub(super) close: String,
    pub(super) next_steps: String,
    pub(super) updated: String,
}

pub(super) struct Group {
    pub(super) status: &'static str,
    pub(super) rows: Vec<Row>,
}

#[derive(Template)]
#[template(path = "cosells.html")]
pub(super) struct CoSellsPage {
    pub(super) chrome: Chrome,
    pub(super) groups: Vec<Group>,
    pub(super) total: usize,
    /// Whether there are more records than the page lists.
    pub(super) more: bool,
    pub(super) listed: u32,
}

fn account_of(s: &StoredCoSell, names: &BTreeMap<String, String>) -> String {
    match cosell::mine(s).account.value.as_deref() {
        Some(id) => named(id, names),
        None => "(no account set)".to_owned(),
    }
}

pub(super) async fn cosells_page(State(state): State<AppState>, signed: Signed) -> PageResult {
    let org = signed.org();
    let mut records = state.store.cosells_page(org, None, None, LISTED + 1).await?;
    let more = records.len() > LISTED as usize;
    records.truncate(LISTED as usize);
    let partners: BTreeMap<PartnershipId, String> =
        state.store.partnerships(org).await?.into_iter().map(|p| (p.id, p.partner_name)).collect();
    let names = cosell::account_names(&state.store, org, &records).await?;
    let groups = STATUSES
        .iter()
        .map(|status| Group {
            status: status.as_str(),
            rows: records
                .iter()
                .filter(|r| r.record.status.value == *status)
                .map(|r| Row {
                    id: r.record.id.clone(),
                    account: account_of(r, &names),
                    partner: partners.get(&r.partnership).cloned().unwrap_or_default(),
                    stage: r.record.stage.value.clone(),
                    amount: r.record.amount.value.as_ref().map(ToString::to_string).unwrap_or_default(),
                    close: r.record.close_date.value.clone().unwrap_or_default(),
                    next_steps: r.record.next_steps.value.clone(),
                    updated: crate::rfc3339(r.updated_at),
                })
                .collect(),
        })
        .filter(|g| !g.rows.is_empty())
        .collect();
    let page = CoSellsPage {
        chrome: signed.chrome(&state).await?.at("/cosell"),
        groups,
        total: records.len(),
        more,
        listed: LISTED,
    };
    Ok(html(StatusCode::OK, &page))
}

pub(super) struct Line {
    pub(super) at: String,
    pub(super) by: String,
    pub(super) text: String,
}

#[derive(Template)]
#[template(path = "cosell.html")]
pub(super) struct CoSellPage {
    pub(super) chrome: Chrome,
    pub(super) id: String,
    pub(super) partner: String,
    pub(super) account: String,
    pub(super) status: &'static str,
    pub(super) statuses: Vec<&'static str>,
    pub(super) stage: String,
    pub(super) amount: String,
    pub(super) currency: String,
    pub(super) close: String,
    pub(super) next_steps: String,
    pub(super) my_account: String,
    pub(super) my_opportunity: String,
    pub(super) my_owner: String,
    pub(super) their_opportunity: String,
    pub(super) their_owner: String,
    pub(super) pending: bool,
    pub(super) may_edit: bool,
    pub(super) closed: bool,
    pub(super) notes: Vec<Line>,
    pub(super) log: Vec<Line>,
    pub(super) problem: Option<String>,
}

impl CoSellPage {
    fn is_status(&self, value: &str) -> bool {
        self.status == value
    }
}

fn lines(entries: &std::collections::BTreeSet<blindmap_cosell::cosell::Entry>) -> Vec<Line> {
    entries.iter().rev().map(|e| Line { at: crate::rfc3339(e.at.ms), by: e.by.clone(), text: e.text.clone() }).collect()
}

async fn record_view(
    state: &AppState,
    signed: &Signed,
    id: &str,
    problem: Option<String>,
) -> Result<CoSellPage, PageError> {
    let org = signed.org();
    let stored = state.store.cosell(org, id).await?;
    let partner = state.store.partnership(org, &stored.partnership).await?.partner_name;
    let names = cosell::account_names(&state.store, org, std::slice::from_ref(&stored)).await?;
    let theirs = match stored.party {
        Party::A => &stored.record.b,
        Party::B => &stored.record.a,
    };
    let r = &stored.record;
    let amount = r.amount.value.as_ref();
    Ok(CoSellPage {
        chrome: signed.chrome(state).await?.at("/cosell"),
        id: r.id.clone(),
        partner,
        account: account_of(&stored, &names),
        status: r.status.value.as_str(),
        statuses: STATUSES.iter().map(|s| s.as_str()).collect(),
        stage: r.stage.value.clone(),
        amount: amount.map(|m| m.to_string().split(' ').next().unwrap_or_default().to_owned()).unwrap_or_default(),
        currency: amount.map(|m| m.currency.to_string()).unwrap_or_default(),
        close: r.close_date.value.clone().unwrap_or_default(),
        next_steps: r.next_steps.value.clone(),
        my_account: cosell::mine(&stored).account.value.clone().unwrap_or_default(),
        my_opportunity: cosell::mine(&stored).opportunity.value.clone().unwrap_or_default(),
        my_owner: cosell::mine(&stored).owner.value.clone().unwrap_or_default(),
        their_opportunity: theirs.opportunity.value.clone().unwrap_or_default(),
        their_owner: theirs.owner.value.clone().unwrap_or_default(),
        pending: stored.dirty,
        may_edit: signed.user().role != Role::Integration,
        closed: r.status.value.is_final(),
        notes: lines(&r.notes),
        log: lines(&r.log),
        problem,
    })
}

pub(super) async fn cosell_page(State(state): State<AppState>, signed: Signed, Path(id): Path<String>) -> PageResult {
    Ok(html(StatusCode::OK, &record_view(&state, &signed, &id, None).await?))
}

/// The edits a form asks for (`form` names which of the record's forms it is).
fn edits_of(form: &[(String, String)]) -> Result<Vec<Edit>, String> {
    let value = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim());
    let optional = |name: &str| value(name).filter(|v| !v.is_empty()).map(str::to_owned);
    match value("form") {
        Some("status") => {
            let status = value("status").unwrap_or_default();
            let status = STATUSES.iter().find(|s| s.as_str() == status).ok_or("status must be one the list offers")?;
            Ok(vec![Edit::Status { status: *status }])
        }
        Some("deal") => {
            let amount = match (optional("amount"), optional("currency")) {
                (None, _) => None,
                (Some(_), None) => return Err("an amount needs its currency (ISO 4217, e.g. EUR)".into()),
                (Some(amount), Some(currency)) => {
                    let currency = Currency::new(&currency).map_err(|e| e.to_string())?;
                    Some(Money::parse(&amount, currency).map_err(|e| e.to_string())?)
                }
            };
            Ok(vec![
                Edit::Stage { stage: value("stage").unwrap_or_default().to_owned() },
                Edit::Amount { amount },
                Edit::CloseDate { date: optional("close") },
                Edit::NextSteps { text: value("next_steps").unwrap_or_default().to_owned() },
            ])
        }
        Some("note") => Ok(vec![Edit::Note { text: value("note").unwrap_or_default().to_owned() }]),
        Some("mine") => Ok(vec![
            Edit::Account { account: optional("account") },
            Edit::Opportunity { reference: optional("opportunity") },
            Edit::Owner { owner: optional("owner") },
        ]),
        _ => Err("form must be status, deal, note or mine".into()),
    }
}

/// Edits a record from one of its page's forms (admins and reps).
pub(super) async fn edit_cosell(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> PageResult {
    let csrf = form.iter().find(|(k, _)| k == "csrf").map_or("", |(_, v)| v.as_str());
    signed.may_act(csrf)?;
    let org = signed.org();
    // Another organisation's record, or none: not found before anything is read from the form.
    state.store.cosell(org, &id).await?;
    let edits = match edits_of(&form) {
        Ok(edits) => edits,
        Err(problem) => {
            if !matches!(
                form.iter().find(|(k, _)| k == "form").map(|(_, v)| v.as_str()),
                Some("status" | "deal" | "note" | "mine")
            ) {
                return Err(bad_request(&problem));
            }
            return Ok(html(
                StatusCode::UNPROCESSABLE_ENTITY,
                &record_view(&state, &signed, &id, Some(problem)).await?,
            ));
        }
    };
    match cosell::edit(&state.store, state.node.as_deref(), signed.user(), &id, &edits).await {
        Ok(_) => Ok(Redirect::to(&format!("/cosell/{id}")).into_response()),
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            Ok(html(status, &record_view(&state, &signed, &id, Some(text)).await?))
        }
    }
}
