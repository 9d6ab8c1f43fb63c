//! Pairing from the browser: an invite code to give a partner's admin, accepting a partner's
//! code, ending a partnership. The same service functions as the API, admins only.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_store::{PartnershipId, Role};
use serde::Deserialize;

use super::session::Signed;
use super::{Chrome, MessagePage, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::{browser, partnerships};

/// Refuses a form unless posted with the session's CSRF token by an admin.
pub(super) fn admin(signed: &Signed, csrf: &str) -> Result<(), PageError> {
    signed.may_act(csrf)?;
    only_admins(signed)
}

/// Refuses a page to anyone but an admin.
pub(super) fn only_admins(signed: &Signed) -> Result<(), PageError> {
    if signed.user().role == Role::Admin {
        Ok(())
    } else {
        Err(PageError(ApiError::Forbidden(signed.user().role.as_str())))
    }
}

#[derive(Deserialize)]
pub(super) struct CsrfOnly {
    csrf: String,
}

#[derive(Template)]
#[template(path = "invite.html")]
pub(super) struct InvitePage {
    pub(super) chrome: Chrome,
    pub(super) code: String,
    pub(super) expires: String,
}

/// A new invite code, shown once: the node keeps only its hash.
pub(super) async fn invite(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<CsrfOnly>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let (code, expires_at) = partnerships::invite(&state.store, state.node()?, signed.user()).await?;
    let page =
        InvitePage { chrome: signed.chrome(&state).await?.at("/partners"), code, expires: crate::rfc3339(expires_at) };
    Ok(html(StatusCode::OK, &page))
}

#[derive(Deserialize)]
pub(super) struct AcceptForm {
    csrf: String,
    code: String,
}

/// Accepts a partner's code: this node calls the partner's, and both record the partnership.
pub(super) async fn accept_invite(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<AcceptForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    if form.code.trim().is_empty() {
        return Err(super::session::bad_request("paste the invite code the partner's admin gave you"));
    }
    let partnership = partnerships::accept(&state.store, state.node()?, signed.user(), &form.code).await?;
    let page = MessagePage {
        chrome: signed.chrome(&state).await?.at("/partners"),
        heading: format!("Paired with {}", partnership.partner_name),
        text: format!(
            "You and {} are partners now. Until you choose otherwise, each side sees counts only, and none below 5: \
             set what {} sees, then run a first match.",
            partnership.partner_name, partnership.partner_name
        ),
        error: false,
        back: Some(("/partners".into(), "Partners".into())),
    };
    Ok(html(StatusCode::CREATED, &page))
}

#[derive(Deserialize)]
pub(super) struct EndForm {
    csrf: String,
    #[serde(default)]
    confirm: Option<String>,
}

/// Ends a partnership (the form's box must be ticked: nothing flows any more, on either side).
pub(super) async fn end_partnership(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<EndForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let id = PartnershipId::parse(&id).ok_or(PageError(ApiError::NotFound("partner")))?;
    if form.confirm.is_none() {
        return Err(super::session::bad_request("tick the box to confirm: ending a partnership cannot be undone"));
    }
    partnerships::end(&state.store, state.node.as_deref(), signed.user(), &id).await?;
    Ok(Redirect::to("/partners").into_response())
}

#[derive(Template)]
#[template(path = "browser_link.html")]
pub(super) struct BrowserLinkPage {
    pub(super) chrome: Chrome,
    pub(super) partner: String,
    pub(super) link: String,
    pub(super) expires: String,
    /// The SHA-256 of the single-file partner page this node serves, when built with it.
    pub(super) page_sha256: Option<&'static str>,
}

#[derive(Deserialize)]
pub(super) struct BrowserForm {
    csrf: String,
    partner: String,
    days: Option<u32>,
}

#[derive(Deserialize)]
pub(super) struct LinkForm {
    csrf: String,
    days: Option<u32>,
}

async fn link_page(state: &AppState, signed: &Signed, link: browser::Link) -> PageResult {
    let page = BrowserLinkPage {
        chrome: signed.chrome(state).await?.at("/partners"),
        partner: link.partnership.partner_name,
        link: link.link,
        expires: crate::rfc3339(link.expires_at),
        page_sha256: crate::browser::single_file_sha256(),
    };
    Ok(html(StatusCode::OK, &page))
}

/// A partner invited to match in its browser, and its link, shown once.
pub(super) async fn invite_browser(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<BrowserForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let link = browser::invite(&state.store, state.node()?, signed.user(), form.partner.trim(), form.days).await?;
    link_page(&state, &signed, link).await
}

/// A browser partner's new link (the old one stops working), shown once.
pub(super) async fn renew_link(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<LinkForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let id = PartnershipId::parse(&id).ok_or(PageError(ApiError::NotFound("partner")))?;
    let link = browser::renew(&state.store, state.node()?, signed.user(), &id, form.days).await?;
    link_page(&state, &signed, link).await
}
