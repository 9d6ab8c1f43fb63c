//! Marking matches wrong, the list of those marks, and undoing them.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_store::{CorrectionId, CorrectionKind, PartnershipId};
use serde::Deserialize;

use super::forms::list;
use super::session::{CsrfForm, Signed, bad_request, return_path};
use super::{Chrome, PAGE_ROWS, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;

/// A correction posted from a page: "Not this match" on a row of the list, "Never match" on the
/// account view.
#[derive(Deserialize)]
pub(super) struct CorrectionForm {
    pub(super) csrf: String,
    pub(super) account: String,
    pub(super) kind: String,
    /// For `not_this_match`: the row's key types, comma-separated.
    #[serde(default)]
    pub(super) key_types: String,
    #[serde(default)]
    pub(super) note: String,
    #[serde(default)]
    pub(super) back: String,
}

/// `back` with `corrected=ID` added to its query, so the list says what was hidden.
pub(super) fn with_corrected(back: &str, id: &CorrectionId) -> String {
    let sep = if back.contains('?') { '&' } else { '?' };
    format!("{back}{sep}corrected={id}")
}

pub(super) async fn correct(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CorrectionForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let pid = PartnershipId::parse(&id).ok_or(ApiError::NotFound("partner"))?;
    state.store.partnership(org, &pid).await?;
    // Back to the page as it was; checked before acting.
    let back = return_path(&form.back, &format!("/partners/{pid}/overlaps"))?;
    let kind = CorrectionKind::parse(&form.kind).ok_or_else(|| bad_request("kind is not_this_match or never_match"))?;
    let key_types = list(&form.key_types);
    let asked = crate::service::corrections::Asked {
        partnership: pid.as_str(),
        account_id: &form.account,
        kind,
        key_types: &key_types,
        note: Some(form.note.as_str()),
    };
    let correction = crate::service::corrections::add(&state.store, org, &signed.user().name, asked).await?;
    let to = if back.starts_with(&format!("/partners/{pid}/overlaps")) || back.starts_with("/overlaps") {
        with_corrected(&back, &correction.id)
    } else {
        back
    };
    Ok(Redirect::to(&to).into_response())
}

pub(super) struct CorrectionRow {
    pub(super) id: String,
    pub(super) account_id: String,
    pub(super) account: String,
    pub(super) what: String,
    pub(super) note: String,
    pub(super) by: String,
    pub(super) at: String,
}

#[derive(Template)]
#[template(path = "corrections.html")]
pub(super) struct CorrectionsPage {
    pub(super) chrome: Chrome,
    pub(super) partner: String,
    pub(super) pid: String,
    pub(super) rows: Vec<CorrectionRow>,
    pub(super) next: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct CorrectionsQuery {
    #[serde(default)]
    pub(super) after: String,
}

/// What a correction hides, in words.
pub(super) fn correction_text(c: &blindmap_store::Correction) -> String {
    match c.kind {
        CorrectionKind::NeverMatch => "Never match".to_owned(),
        CorrectionKind::NotThisMatch => {
            format!("Not this match: hides matches on {} (or fewer)", c.key_types.join(", "))
        }
    }
}

pub(super) async fn corrections_page(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    Query(query): Query<CorrectionsQuery>,
) -> PageResult {
    let org = signed.org();
    let pid = PartnershipId::parse(&id).ok_or(ApiError::NotFound("partner"))?;
    let partnership = state.store.partnership(org, &pid).await?;
    let after = match query.after.as_str() {
        "" => None,
        text => Some(CorrectionId::parse(text).ok_or_else(|| bad_request("after is not a correction id"))?),
    };
    let found = state.store.corrections_page(org, Some(&pid), after.as_ref(), PAGE_ROWS).await?;
    let next = (found.len() == PAGE_ROWS as usize)
        .then(|| found.last().map(|c| format!("/partners/{pid}/corrections?after={}", c.id)))
        .flatten();
    let rows = found
        .into_iter()
        .map(|c| CorrectionRow {
            what: correction_text(&c),
            id: c.id.to_string(),
            account: c.account_name.clone().unwrap_or_else(|| c.account_id.clone()),
            account_id: c.account_id,
            note: c.note.unwrap_or_default(),
            by: c.created_by,
            at: crate::rfc3339(c.created_at),
        })
        .collect();
    let page = CorrectionsPage {
        chrome: signed.chrome(&state).await?,
        partner: partnership.partner_name,
        pid: pid.to_string(),
        rows,
        next,
    };
    Ok(html(StatusCode::OK, &page))
}

pub(super) async fn undo_correction(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, correction)): Path<(String, String)>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    signed.may_act(&form.csrf)?;
    let org = signed.org();
    let pid = PartnershipId::parse(&id).ok_or(ApiError::NotFound("partner"))?;
    let cid = CorrectionId::parse(&correction).ok_or(ApiError::NotFound("correction"))?;
    // Only a correction of this partner, from this partner's page.
    if state.store.correction(org, &cid).await?.partnership != pid {
        return Err(ApiError::NotFound("correction").into());
    }
    crate::service::corrections::remove(&state.store, org, &signed.user().name, cid.as_str()).await?;
    Ok(Redirect::to(&format!("/partners/{pid}/corrections")).into_response())
}
