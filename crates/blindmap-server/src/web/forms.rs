//! What a rep starts from a list: a co-sell record, a deal registration.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_store::{PartnershipId, ReportFilter};
use serde::Deserialize;

use super::partners::partner_and_run;
use super::session::{Signed, return_path};
use super::{Chrome, MessagePage, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;

#[derive(Deserialize)]
pub(super) struct CoSellForm {
    pub(super) csrf: String,
    pub(super) account: String,
    pub(super) partner_segment: String,
    pub(super) partner_record: u32,
    #[serde(default)]
    pub(super) back: String,
}

pub(super) async fn create_cosell(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CoSellForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let (partnership, run) = partner_and_run(&state, org, &id).await?;
    // Back to the list as it was; checked before acting.
    let back = return_path(&form.back, &format!("/partners/{}/overlaps", partnership.id))?;
    let overlap = crate::service::cosell::OnOverlap {
        run: run.id.as_str(),
        account: &form.account,
        partner_segment: &form.partner_segment,
        partner_record: form.partner_record,
    };
    crate::service::cosell::create_on_overlap(&state.store, state.node()?, org, &signed.user().name, overlap).await?;
    Ok(Redirect::to(&back).into_response())
}

/// The registration form's fields.
#[derive(Deserialize, Default)]
pub(super) struct RegisterForm {
    #[serde(default)]
    pub(super) csrf: String,
    #[serde(default)]
    pub(super) name: String,
    #[serde(default)]
    pub(super) country: String,
    #[serde(default)]
    pub(super) domains: String,
    #[serde(default)]
    pub(super) duns: String,
    #[serde(default)]
    pub(super) products: String,
    #[serde(default)]
    pub(super) value: String,
    #[serde(default)]
    pub(super) currency: String,
    #[serde(default)]
    pub(super) expected_close: String,
    #[serde(default)]
    pub(super) notes: String,
}

#[derive(Template)]
#[template(path = "register.html")]
pub(super) struct RegisterPage {
    pub(super) chrome: Chrome,
    pub(super) partner: String,
    pub(super) pid: String,
    pub(super) form: RegisterForm,
    pub(super) problem: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct AccountQuery {
    #[serde(default)]
    pub(super) account: String,
}

pub(super) async fn register_form(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(q): Query<AccountQuery>,
) -> PageResult {
    let org = signed.org();
    // Without an account: a blank form, for a deal on any customer.
    let (partnership, form) = if q.account.is_empty() {
        let pid = PartnershipId::parse(&id).ok_or(ApiError::NotFound("partner"))?;
        (state.store.partnership(org, &pid).await?, RegisterForm::default())
    } else {
        let (partnership, run) = partner_and_run(&state, org, &id).await?;
        let filter = ReportFilter { account: Some(q.account.clone()), ..ReportFilter::default() };
        let (rows, _) = state.store.report_page(org, &run, &filter, 0, 1).await?;
        let row = rows.into_iter().next().ok_or(ApiError::NotFound("overlapping account"))?;
        let of = |prefix: &str| -> Vec<String> {
            row.keys.iter().filter_map(|k| k.strip_prefix(prefix).map(str::to_owned)).collect()
        };
        let form = RegisterForm {
            name: row.name.clone().unwrap_or_default(),
            country: row.country.clone().unwrap_or_default(),
            domains: of("domain:").join(", "),
            duns: of("duns:").join(", "),
            ..RegisterForm::default()
        };
        (partnership, form)
    };
    let page = RegisterPage {
        chrome: signed.chrome(&state).await?,
        partner: partnership.partner_name.clone(),
        pid: partnership.id.to_string(),
        form,
        problem: None,
    };
    Ok(html(StatusCode::OK, &page))
}

pub(super) fn list(text: &str) -> Vec<String> {
    text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

pub(super) async fn register(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<RegisterForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let id = PartnershipId::parse(&id).ok_or(ApiError::NotFound("partner"))?;
    let partnership = state.store.partnership(org, &id).await?;
    let submitted: Result<_, ApiError> = async {
        crate::service::registrations::reachable(&partnership)?;
        let set = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_owned());
        let customer = crate::api::registrations::Customer {
            name: set(&form.name),
            country: set(&form.country),
            domains: list(&form.domains),
            duns: list(&form.duns),
        };
        let submission = crate::service::registrations::submission(
            customer,
            list(&form.products),
            &form.value,
            &form.currency,
            &form.expected_close,
            &form.notes,
        )?;
        Ok(crate::service::registrations::submit(
            &state.store,
            state.node()?,
            &partnership,
            submission,
            &signed.user().name,
        )
        .await?)
    }
    .await;
    match submitted {
        Ok((stored, _)) => {
            let r = &stored.registration;
            let outcome = match (r.state.as_str(), r.conflict) {
                (_, Some(blindmap_cosell::dealreg::Conflict::PartnerConflict)) => format!(
                    "In review: another partner registered this customer first for a product in common. {} decides.",
                    partnership.partner_name
                ),
                (_, Some(blindmap_cosell::dealreg::Conflict::ChannelConflict)) => format!(
                    "In review: {}'s direct team works this customer (an opportunity or an account of its own).",
                    partnership.partner_name
                ),
                (state, None) => format!("Registration {}: {}.", r.id, state.replace('_', " ")),
            };
            let page = MessagePage {
                chrome: signed.chrome(&state).await?,
                heading: format!("Deal registered with {}", partnership.partner_name),
                text: outcome,
                error: false,
                back: Some((format!("/registrations/{}", r.id), "The registration and its state".into())),
            };
            Ok(html(StatusCode::OK, &page))
        }
        Err(e @ (ApiError::Invalid(_) | ApiError::Conflict(_) | ApiError::TooMany(_) | ApiError::Partner(_))) => {
            let (status, problem) = e.status_and_detail();
            let page = RegisterPage {
                chrome: signed.chrome(&state).await?,
                partner: partnership.partner_name.clone(),
                pid: partnership.id.to_string(),
                form: RegisterForm { csrf: String::new(), ..form },
                problem: Some(problem),
            };
            Ok(html(status, &page))
        }
        Err(e) => Err(PageError(e)),
    }
}
