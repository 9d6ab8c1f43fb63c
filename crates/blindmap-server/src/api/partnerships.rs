//! `/api/v1/partnerships`: dual opt-in pairing with a partner's node, ending it, and what this
//! side shares.
//!
//! Pairing: an admin asks for an invite code, which carries this node's URL, its certificate
//! fingerprint and a one-time secret valid for a day; the partner's admin gives the code to
//! their node, which calls this one over mutual TLS, each pinning the other's certificate.

use crate::http::extract::{Json, Query};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use blindmap_store::{Partnership, PartnershipId, PartnershipState, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::{Page, contract};
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::service::browser;
use crate::service::partnerships::{self, RuleText};

/// A new invite.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct Invite {
    /// Give this to the partner's admin, over a channel you trust; valid once, for 24 hours.
    pub code: String,
    /// Unix milliseconds.
    pub expires_at: i64,
}

/// An invite code to accept.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct AcceptInvite {
    /// The code the partner's admin gave you.
    pub code: String,
}

/// A partnership as this side sees it.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PartnershipView {
    /// `pt_…`.
    pub id: String,
    /// The partner organisation.
    pub partner: String,
    /// The partner node's URL.
    pub partner_url: String,
    /// The partner node's certificate fingerprint, pinned for all peer traffic.
    pub partner_fingerprint: String,
    /// `active` or `ended`.
    pub state: String,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Whether the partner matches in its browser, through a link (spec §20): it has no node,
    /// URL or fingerprint.
    #[serde(default)]
    pub in_browser: bool,
}

/// A partner to invite to match in its browser.
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBrowserPartner {
    /// The partner organisation's name, as this side will call it (unique among its partners;
    /// 1 to 200 characters).
    #[schema(value_type = contract::Label)]
    pub partner: String,
    /// How many days the link works (1 to 365; default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 365)]
    pub days: Option<u32>,
}

/// How long a renewed link works.
#[derive(Serialize, Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct RenewLink {
    /// How many days the new link works (1 to 365; default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 1, maximum = 365)]
    pub days: Option<u32>,
}

/// A browser partner's link, shown once: send it to the partner over a channel you trust.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct BrowserLinkView {
    /// The partnership.
    pub partnership: PartnershipView,
    /// The link: this node's partner page, with the secret in its fragment. Anyone holding it
    /// can match against this organisation's list as this partner until it expires or is
    /// renewed; only its hash is kept, so it cannot be shown again.
    pub link: String,
    /// Unix milliseconds: the link stops working then.
    pub expires_at: i64,
}

impl From<Partnership> for PartnershipView {
    fn from(p: Partnership) -> Self {
        let in_browser = p.in_browser();
        Self {
            id: p.id.to_string(),
            partner: p.partner_name,
            partner_url: p.partner_url,
            partner_fingerprint: p.partner_fingerprint,
            state: match p.state {
                PartnershipState::Active => "active",
                PartnershipState::Ended => "ended",
            }
            .to_owned(),
            in_browser,
            created_at: p.created_at,
        }
    }
}

/// A page of partnerships, by partner name.
#[derive(Deserialize, Serialize, ToSchema)]
pub struct PartnershipList {
    /// This page's items.
    pub items: Vec<PartnershipView>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
}

/// One sharing rule (its schema: `contract::SharingRule`).
#[derive(Serialize, Deserialize, Clone)]
pub struct RuleView {
    /// This side's segment, or `*`.
    pub own_segment: String,
    /// The partner's segment, or `*`.
    pub partner_segment: String,
    /// `hidden`, `counts`, `overlaps` or `fields`.
    pub level: String,
    /// With `fields`: which fields of matching accounts the partner sees.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
}

/// What this side discloses to the partner.
#[derive(Serialize, Deserialize, ToSchema)]
pub struct SharingView {
    /// Rules per pair of segments; pairs no rule covers share counts only.
    #[schema(value_type = Vec<contract::SharingRule>)]
    pub rules: Vec<RuleView>,
    /// Counts below this show as "< k".
    #[schema(minimum = 1, maximum = 4294967295_u64, format = Int64)]
    pub threshold: u32,
    /// No partner segment smaller than this is served.
    #[schema(minimum = 1, maximum = 4294967295_u64, format = Int64)]
    pub min_partner_segment: u32,
}

/// Creates a one-time invite code for a partner (admins only).
#[utoipa::path(post, path = "/api/v1/partnerships/invites", tag = "partnerships",
    responses((status = 201, body = Invite, description = "A new invite code"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only")))]
async fn invite(State(state): State<AppState>, caller: Caller) -> Result<(StatusCode, Json<Invite>), ApiError> {
    caller.require(&[Role::Admin])?;
    let (code, expires_at) = partnerships::invite(&state.store, state.node()?, &caller.0.user).await?;
    Ok((StatusCode::CREATED, Json(Invite { code, expires_at })))
}

/// Accepts a partner's invite code: this node calls the partner's over mutual TLS, and both
/// record the partnership (admins only).
#[utoipa::path(post, path = "/api/v1/partnerships", tag = "partnerships", request_body = AcceptInvite,
    responses((status = 201, body = PartnershipView, description = "Paired"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "Not an invite code, or this node's own"),
        (status = 502, body = Problem, content_type = "application/problem+json", description = "The partner node refused")))]
async fn accept(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<AcceptInvite>,
) -> Result<(StatusCode, Json<PartnershipView>), ApiError> {
    caller.require(&[Role::Admin])?;
    let partnership = partnerships::accept(&state.store, state.node()?, &caller.0.user, &body.code).await?;
    Ok((StatusCode::CREATED, Json(partnership.into())))
}

/// Invites a partner without a node to match in its browser (admins only): records the
/// partnership, sharing overlaps of every segment (what a browser session can serve; change it
/// with `PUT …/sharing`), and answers its link.
#[utoipa::path(post, path = "/api/v1/partnerships/browser", tag = "partnerships", request_body = NewBrowserPartner,
    responses((status = 201, body = BrowserLinkView, description = "The partnership and its link"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "A partner of that name exists"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A name or a number of days out of range")))]
async fn invite_browser(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewBrowserPartner>,
) -> Result<(StatusCode, Json<BrowserLinkView>), ApiError> {
    caller.require(&[Role::Admin])?;
    let link = browser::invite(&state.store, state.node()?, &caller.0.user, &body.partner, body.days).await?;
    Ok((StatusCode::CREATED, Json(link.into())))
}

/// Replaces a browser partner's link with a new one (admins only): the old link stops working
/// at once.
#[utoipa::path(post, path = "/api/v1/partnerships/{id}/link", tag = "partnerships",
    params(("id" = contract::PartnershipId, Path)),
    request_body = RenewLink,
    responses((status = 200, body = BrowserLinkView, description = "The new link"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "The partnership has ended, or the partner has a node"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A number of days out of range")))]
async fn renew_link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<RenewLink>,
) -> Result<Json<BrowserLinkView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let id = partnership_id(&id)?;
    let link = browser::renew(&state.store, state.node()?, &caller.0.user, &id, body.days).await?;
    Ok(Json(link.into()))
}

impl From<browser::Link> for BrowserLinkView {
    fn from(l: browser::Link) -> Self {
        Self { partnership: l.partnership.into(), link: l.link, expires_at: l.expires_at }
    }
}

/// The organisation's partnerships, active and ended, by partner name.
#[utoipa::path(get, path = "/api/v1/partnerships", tag = "partnerships",
    params(Page, ("cursor" = Option<contract::PartnershipId>, Query, description = "The `next` of the previous page")),
    responses((status = 200, body = PartnershipList, description = "A page of partnerships"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit or cursor out of range")))]
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Query(page): Query<Page>,
) -> Result<Json<PartnershipList>, ApiError> {
    let limit = page.limit()?;
    let after = page.after(PartnershipId::parse, "a partnership id")?;
    let items = state.store.partnerships_page(&caller.0.user.org, after.as_ref(), limit).await?;
    let next = Page::next(limit, &items, |p| p.id.to_string());
    Ok(Json(PartnershipList { items: items.into_iter().map(Into::into).collect(), next }))
}

pub(super) fn partnership_id(id: &str) -> Result<PartnershipId, ApiError> {
    PartnershipId::parse(id).ok_or(ApiError::NotFound("partnership"))
}

/// Ends a partnership: nothing flows any more, on either side (admins only). The partner's
/// node is told; if it cannot be reached, this side has ended it anyway.
#[utoipa::path(post, path = "/api/v1/partnerships/{id}/end", tag = "partnerships",
    params(("id" = contract::PartnershipId, Path)),
    responses((status = 200, body = PartnershipView, description = "Ended (or ended already)"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership")))]
async fn end(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PartnershipView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let id = partnership_id(&id)?;
    Ok(Json(partnerships::end(&state.store, state.node.as_deref(), &caller.0.user, &id).await?.into()))
}

/// What this side shares in a partnership.
#[utoipa::path(get, path = "/api/v1/partnerships/{id}/sharing", tag = "partnerships",
    params(("id" = contract::PartnershipId, Path)),
    responses((status = 200, body = SharingView, description = "The policy"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership")))]
async fn get_sharing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<SharingView>, ApiError> {
    let policy = state.store.sharing(&caller.0.user.org, &partnership_id(&id)?).await?;
    Ok(Json(SharingView {
        rules: policy.rules.iter().map(|r| partnerships::rule_text(r).into()).collect(),
        threshold: policy.threshold,
        min_partner_segment: policy.min_partner_segment,
    }))
}

/// Replaces what this side shares in a partnership (admins only). Runs started afterwards use it.
#[utoipa::path(put, path = "/api/v1/partnerships/{id}/sharing", tag = "partnerships",
    params(("id" = contract::PartnershipId, Path)),
    request_body = SharingView,
    responses((status = 200, body = SharingView, description = "The policy as stored"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such partnership"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Two rules for the same pair of segments"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A rule's segments, level or fields, or a threshold, out of range")))]
async fn put_sharing(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(body): Json<SharingView>,
) -> Result<Json<SharingView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let rules: Vec<RuleText> = body.rules.into_iter().map(Into::into).collect();
    let policy = partnerships::policy_of(&rules, body.threshold, body.min_partner_segment)?;
    let id = partnership_id(&id)?;
    partnerships::set_sharing(&state.store, &caller.0.user, &id, &policy).await?;
    get_sharing(State(state), caller, Path(id.to_string())).await
}

impl From<RuleText> for RuleView {
    fn from(r: RuleText) -> Self {
        Self { own_segment: r.own_segment, partner_segment: r.partner_segment, level: r.level, fields: r.fields }
    }
}

impl From<RuleView> for RuleText {
    fn from(r: RuleView) -> Self {
        Self { own_segment: r.own_segment, partner_segment: r.partner_segment, level: r.level, fields: r.fields }
    }
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(invite))
        .routes(routes!(invite_browser))
        .routes(routes!(renew_link))
        .routes(routes!(accept, list))
        .routes(routes!(end))
        .routes(routes!(get_sharing, put_sharing))
}
