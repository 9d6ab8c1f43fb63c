//! Deal registrations in the browser. The vendor's side: the review queue of what partners
//! submitted (each with its conflict category explained, the earlier claims and the direct
//! accounts the checks found) and the decisions — approve, reject, extend, close won or lost —
//! with a reason. The partner's side: its registrations with their states, a request for the
//! one extension, the private pre-check and the registration form (`forms.rs`).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_cosell::dealreg::Conflict;
use blindmap_store::{Direction, OrgId, PartnershipId, PartnershipState, Role, StoredRegistration};
use serde::Deserialize;

use super::format::named;
use super::forms::list;
use super::manage::admin;
use super::session::{Signed, bad_request};
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::api::registrations::{Customer, Review};
use crate::http::error::ApiError;
use crate::service::registrations::{self, Decision};

/// Registrations listed per direction.
const LISTED: u32 = 50;

/// The states a filter offers, with how people read them.
const STATES: [(&str, &str); 8] = [
    ("waiting", "Waiting for a decision"),
    ("", "Every state"),
    ("submitted", "Submitted"),
    ("in_review", "In review"),
    ("approved", "Approved"),
    ("rejected", "Rejected"),
    ("expired", "Expired"),
    ("won", "Won"),
];

/// What a conflict category means, for the side that reads it.
fn explain(conflict: Option<Conflict>, vendor_side: bool) -> String {
    match (conflict, vendor_side) {
        (Some(Conflict::PartnerConflict), true) => {
            "Partner conflict: another partner registered this customer first for a product in common.".into()
        }
        (Some(Conflict::PartnerConflict), false) => {
            "Partner conflict: another partner registered this customer first for a product in common (you are not \
             told who)."
                .into()
        }
        (Some(Conflict::ChannelConflict), true) => {
            "Channel conflict: your direct team works this customer (it is one of your accounts in a direct segment)."
                .into()
        }
        (Some(Conflict::ChannelConflict), false) => {
            "Channel conflict: the vendor's direct team works this customer.".into()
        }
        (None, _) => String::new(),
    }
}

/// The customer as a person reads it: its name and country where a key carries them, else its
/// domains and DUNS numbers.
fn customer(keys: &std::collections::BTreeSet<String>) -> String {
    let named: Vec<String> = keys
        .iter()
        .filter_map(|k| k.strip_prefix("name_country:"))
        .map(|nc| match nc.split_once('|') {
            Some((country, name)) => format!("{name} ({country})"),
            None => nc.to_owned(),
        })
        .collect();
    if !named.is_empty() {
        return named.join(", ");
    }
    keys.iter().map(|k| k.split_once(':').map_or(k.as_str(), |(_, v)| v)).collect::<Vec<_>>().join(", ")
}

pub(super) struct Row {
    pub(super) id: String,
    pub(super) partner: String,
    pub(super) customer: String,
    pub(super) products: String,
    pub(super) value: String,
    pub(super) submitted: String,
    pub(super) state: String,
    pub(super) conflict: String,
}

fn row(stored: &StoredRegistration, partner: String) -> Row {
    let r = &stored.registration;
    Row {
        id: r.id.clone(),
        partner,
        customer: customer(&r.submission.customer_keys),
        products: r.submission.products.iter().cloned().collect::<Vec<_>>().join(", "),
        value: r.submission.value.to_string(),
        submitted: crate::rfc3339(r.submitted_at),
        state: r.state.as_str().replace('_', " "),
        conflict: explain(r.conflict, stored.direction == Direction::Received),
    }
}

/// Partner names by partnership, for the rows.
async fn partner_names(
    state: &AppState,
    org: &OrgId,
) -> Result<std::collections::BTreeMap<PartnershipId, String>, PageError> {
    Ok(state.store.partnerships(org).await?.into_iter().map(|p| (p.id, p.partner_name)).collect())
}

async fn rows(
    state: &AppState,
    org: &OrgId,
    names: &std::collections::BTreeMap<PartnershipId, String>,
    direction: Direction,
    states: &[&str],
) -> Result<Vec<Row>, PageError> {
    let mut out: Vec<(i64, Row)> = Vec::new();
    for s in states {
        let filter = (!s.is_empty()).then_some(*s);
        for stored in state.store.registrations_page(org, Some(direction), filter, None, LISTED).await? {
            let partner = names.get(&stored.partnership).cloned().unwrap_or_default();
            out.push((stored.registration.submitted_at, row(&stored, partner)));
        }
    }
    out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| b.1.id.cmp(&a.1.id)));
    out.truncate(LISTED as usize);
    Ok(out.into_iter().map(|(_, r)| r).collect())
}

#[derive(Template)]
#[template(path = "registrations.html")]
pub(super) struct RegistrationsPage {
    pub(super) chrome: Chrome,
    pub(super) filter: String,
    pub(super) received: Vec<Row>,
    pub(super) submitted: Vec<Row>,
    /// Active partnerships with a node: where this side can register and pre-check.
    pub(super) vendors: Vec<(String, String)>,
    pub(super) precheck: Option<String>,
    pub(super) problem: Option<String>,
    pub(super) may_act: bool,
}

impl RegistrationsPage {
    fn states(&self) -> &'static [(&'static str, &'static str)] {
        &STATES
    }

    fn chosen(&self, value: &str) -> bool {
        self.filter == value
    }
}

#[derive(Deserialize)]
pub(super) struct ListQuery {
    #[serde(default = "waiting")]
    state: String,
}

fn waiting() -> String {
    "waiting".into()
}

async fn list_page(
    state: &AppState,
    signed: &Signed,
    filter: String,
    precheck: Option<String>,
    problem: Option<String>,
) -> Result<RegistrationsPage, PageError> {
    let org = signed.org();
    if !STATES.iter().any(|(v, _)| *v == filter) {
        return Err(bad_request("state must be one the filter offers"));
    }
    let states: Vec<&str> = match filter.as_str() {
        "waiting" => vec!["submitted", "in_review"],
        other => vec![other],
    };
    let names = partner_names(state, org).await?;
    let received = rows(state, org, &names, Direction::Received, &states).await?;
    let submitted = rows(state, org, &names, Direction::Submitted, &[""]).await?;
    let vendors = state
        .store
        .partnerships(org)
        .await?
        .into_iter()
        .filter(|p| p.state == PartnershipState::Active && !p.partner_url.is_empty())
        .map(|p| (p.id.to_string(), p.partner_name))
        .collect();
    Ok(RegistrationsPage {
        chrome: signed.chrome(state).await?.at("/registrations"),
        filter,
        received,
        submitted,
        vendors,
        precheck,
        problem,
        may_act: signed.user().role != Role::Integration,
    })
}

pub(super) async fn registrations_page(
    State(state): State<AppState>,
    signed: Signed,
    Query(query): Query<ListQuery>,
) -> PageResult {
    Ok(html(StatusCode::OK, &list_page(&state, &signed, query.state, None, None).await?))
}

#[derive(Deserialize)]
pub(super) struct PrecheckForm {
    csrf: String,
    partnership: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    country: String,
    #[serde(default)]
    domains: String,
    #[serde(default)]
    duns: String,
}

/// The private pre-check: is this customer claimed at the vendor's? Asked blinded (spec §17).
pub(super) async fn precheck(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<PrecheckForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let pid = PartnershipId::parse(&form.partnership).ok_or(PageError(ApiError::NotFound("partner")))?;
    let partnership = state.store.partnership(org, &pid).await?;
    let set = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
    let asked = Customer {
        name: set(&form.name),
        country: set(&form.country),
        domains: list(&form.domains),
        duns: list(&form.duns),
    };
    let answer: Result<(bool, u32), ApiError> = async {
        let keys = asked.keys()?;
        Ok(registrations::precheck_as(&state.store, state.node()?, signed.user(), &partnership, &keys).await?)
    }
    .await;
    let (status, precheck, problem) = match answer {
        Ok((claimed, left)) => {
            let text = if claimed {
                format!("Claimed: another partner holds a claim on this customer at {}.", partnership.partner_name)
            } else {
                format!("Not claimed at {}: no other partner holds a claim on this customer.", partnership.partner_name)
            };
            (StatusCode::OK, Some(format!("{text} Pre-checks left today: {left}.")), None)
        }
        Err(
            e @ (ApiError::Invalid(_) | ApiError::Conflict(_) | ApiError::RateLimited { .. } | ApiError::Partner(_)),
        ) => {
            let (status, detail) = e.status_and_detail();
            (status, None, Some(detail))
        }
        Err(e) => return Err(PageError(e)),
    };
    Ok(html(status, &list_page(&state, &signed, waiting(), precheck, problem).await?))
}

/// An earlier claim the checks found, as the vendor sees it.
pub(super) struct Claim {
    pub(super) id: String,
    pub(super) partner: String,
    pub(super) submitted: String,
    pub(super) state: String,
}

#[derive(Template)]
#[template(path = "registration.html")]
pub(super) struct RegistrationPage {
    pub(super) chrome: Chrome,
    pub(super) row: Row,
    pub(super) received: bool,
    pub(super) keys: Vec<String>,
    pub(super) expected_close: String,
    pub(super) notes: String,
    pub(super) protected_until: Option<String>,
    pub(super) extended: bool,
    pub(super) claims: Vec<Claim>,
    pub(super) direct: Vec<String>,
    pub(super) reason: Option<String>,
    pub(super) pending: bool,
    pub(super) may_decide: bool,
    pub(super) may_extend: bool,
}

pub(super) async fn registration_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
) -> PageResult {
    let org = signed.org();
    let stored = state.store.registration(org, &id).await?;
    let names = partner_names(&state, org).await?;
    let partner = names.get(&stored.partnership).cloned().unwrap_or_default();
    let received = stored.direction == Direction::Received;
    let review = Review::of(&stored)?.unwrap_or_default();
    let mut claims = Vec::new();
    for other in &review.conflicting_registrations {
        match state.store.registration(org, other).await {
            Ok(o) => claims.push(Claim {
                id: other.clone(),
                partner: names.get(&o.partnership).cloned().unwrap_or_default(),
                submitted: crate::rfc3339(o.registration.submitted_at),
                state: o.registration.state.as_str().replace('_', " "),
            }),
            Err(blindmap_store::StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let direct = match state.store.active_dataset(org).await? {
        Some(d) if !review.direct_accounts.is_empty() => {
            let ids: Vec<&str> = review.direct_accounts.iter().map(String::as_str).collect();
            let names = state.store.account_names(org, &d.id, &ids).await?;
            ids.iter().map(|id| named(id, &names)).collect()
        }
        _ => review.direct_accounts.clone(),
    };
    let r = &stored.registration;
    let role = signed.user().role;
    let state_now = r.state;
    let page = RegistrationPage {
        chrome: signed.chrome(&state).await?.at("/registrations"),
        row: row(&stored, partner),
        received,
        keys: r.submission.customer_keys.iter().cloned().collect(),
        expected_close: r.submission.expected_close.clone(),
        notes: r.submission.notes.clone(),
        protected_until: r.protected_until.map(crate::rfc3339),
        extended: r.extended,
        claims,
        direct,
        reason: review.reason.clone(),
        pending: received && stored.notify,
        may_decide: received && role == Role::Admin,
        may_extend: !received
            && role != Role::Integration
            && state_now == blindmap_cosell::dealreg::RegState::Approved
            && !r.extended,
    };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct DecideForm {
    csrf: String,
    decision: String,
    #[serde(default)]
    reason: String,
}

/// A decision on a registration this side received (admins).
pub(super) async fn decide(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<DecideForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let decision = match form.decision.as_str() {
        "approve" => Decision::Approve,
        "reject" => Decision::Reject,
        "extend" => Decision::Extend,
        "won" => Decision::Close { won: true },
        "lost" => Decision::Close { won: false },
        _ => return Err(bad_request("decision is approve, reject, extend, won or lost")),
    };
    let reason = form.reason.trim();
    let reason = (!reason.is_empty()).then_some(reason);
    let org = signed.org();
    registrations::decide(&state.store, state.node.as_deref(), org, &id, decision, &signed.user().name, reason).await?;
    Ok(Redirect::to(&format!("/registrations/{id}")).into_response())
}

/// Asks the vendor for the one extension of a registration this side submitted.
pub(super) async fn request_extension(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<super::session::CsrfForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let stored = state.store.registration(org, &id).await?;
    if stored.direction != Direction::Submitted {
        return Err(bad_request("this registration is one you received: decide on it instead"));
    }
    registrations::request_extension(&state.store, state.node()?, org, &id).await?;
    Ok(Redirect::to(&format!("/registrations/{id}")).into_response())
}
