//! `/api/v1/sso`: the caller's organisation's single sign-on with its OpenID provider (admins
//! only). Each organisation has at most one configuration, and the routes name no organisation:
//! an admin reads and changes its own only. The client secret is sealed at rest and never shown.

use axum::extract::State;
use axum::http::StatusCode;
use blindmap_store::{Role, SsoConfig, SsoSettings};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contract;
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::Json;
use crate::service::sso;

/// Which value of the role claim gives which role.
#[derive(Clone, Deserialize, Serialize, ToSchema)]
pub struct RoleMapping {
    /// A value of the role claim, e.g. a group's name.
    #[schema(value_type = contract::Label)]
    pub value: String,
    /// The role it gives.
    #[schema(value_type = contract::SsoRoleName)]
    pub role: String,
}

/// Single sign-on settings to set (replacing any).
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SsoConfigInput {
    /// The provider's issuer URL, exactly as its discovery document
    /// (`<issuer>/.well-known/openid-configuration`) states it: `https://`, or `http://` on
    /// 127.0.0.1, [::1] or localhost only. Its discovery document is read before the settings
    /// are kept.
    #[schema(value_type = contract::Label)]
    pub issuer: String,
    /// This node's client id at the provider.
    #[schema(value_type = contract::Label)]
    pub client_id: String,
    /// The client secret. Sealed at rest, never shown again.
    #[schema(value_type = contract::Label)]
    pub client_secret: String,
    /// Scopes asked for besides `openid` (default `profile`, `email`, `groups`).
    #[schema(value_type = Option<Vec<contract::ScopeName>>, max_items = 20)]
    pub scopes: Option<Vec<String>>,
    /// The ID token claim whose values say the role: a string or a list of strings (default
    /// `groups`).
    #[schema(value_type = Option<contract::Label>)]
    pub role_claim: Option<String>,
    /// Which values give which role; a user with several gets the highest (admin over rep).
    #[schema(max_items = 100)]
    pub role_map: Vec<RoleMapping>,
    /// The role of a user none of whose values maps; without it such a user is refused.
    #[schema(value_type = Option<contract::SsoRoleName>)]
    pub default_role: Option<String>,
    /// Only users with a verified `email` at this domain may sign in.
    #[schema(value_type = Option<contract::Label>)]
    pub email_domain: Option<String>,
}

/// An organisation's single sign-on settings (never the client secret).
#[derive(Deserialize, Serialize, ToSchema)]
pub struct SsoConfigView {
    /// The provider's issuer URL.
    pub issuer: String,
    /// This node's client id at the provider.
    pub client_id: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// The claim whose values say the role.
    pub role_claim: String,
    /// Which values give which role.
    pub role_map: Vec<RoleMapping>,
    /// The role of a user none of whose values maps; absent: such a user is refused.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<contract::SsoRoleName>)]
    pub default_role: Option<String>,
    /// Only users with a verified `email` at this domain may sign in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email_domain: Option<String>,
    /// The URL to register at the provider as this client's redirect URI.
    pub redirect_uri: String,
    /// Who set these settings.
    pub updated_by: String,
    /// When, RFC 3339.
    pub updated_at: String,
}

impl SsoConfigView {
    fn new(config: SsoConfig, redirect_uri: String) -> Self {
        let s = config.settings;
        Self {
            issuer: s.issuer,
            client_id: s.client_id,
            scopes: s.scopes,
            role_claim: s.role_claim,
            role_map: s
                .role_map
                .into_iter()
                .map(|(value, role)| RoleMapping { value, role: role.as_str().to_owned() })
                .collect(),
            default_role: s.default_role.map(|r| r.as_str().to_owned()),
            email_domain: s.email_domain,
            redirect_uri,
            updated_by: config.updated_by,
            updated_at: crate::rfc3339(config.updated_at),
        }
    }
}

fn sso_role(name: &str) -> Result<Role, ApiError> {
    match Role::parse(name) {
        Some(role @ (Role::Admin | Role::Rep)) => Ok(role),
        _ => Err(ApiError::Invalid("a single sign-on role is admin or rep".into())),
    }
}

fn redirect_uri(state: &AppState) -> String {
    let base = state.node().ok().and_then(|n| n.public_url.get().cloned()).unwrap_or_default();
    format!("{}/signin/sso/callback", base.trim_end_matches('/'))
}

/// The organisation's single sign-on settings (admins only), without the client secret.
#[utoipa::path(get, path = "/api/v1/sso", tag = "users",
    responses((status = 200, body = SsoConfigView, description = "The settings"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No single sign-on is set")))]
async fn show(State(state): State<AppState>, caller: Caller) -> Result<Json<SsoConfigView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let config =
        state.store.sso_config(&caller.0.user.org).await?.ok_or(ApiError::NotFound("single sign-on configuration"))?;
    Ok(Json(SsoConfigView::new(config, redirect_uri(&state))))
}

/// Sets the organisation's single sign-on (admins only), replacing any: users sign in on the
/// pages with the provider, are made on their first sign-in and given the role their claims
/// map to on each. The provider's discovery document is read first: an issuer that cannot be
/// read, or whose document states another issuer, is refused (422) and nothing is kept.
/// Audited (`sso.configured`, without the secret).
#[utoipa::path(put, path = "/api/v1/sso", tag = "users", request_body = SsoConfigInput,
    responses((status = 200, body = SsoConfigView, description = "The settings, as kept"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 422, body = Problem, content_type = "application/problem+json",
            description = "A setting out of bounds, an issuer that is not https:// (or loopback http://), or one whose discovery document cannot be read")))]
async fn set(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<SsoConfigInput>,
) -> Result<Json<SsoConfigView>, ApiError> {
    caller.require(&[Role::Admin])?;
    let org = &caller.0.user.org;
    let mut role_map = std::collections::BTreeMap::new();
    for mapping in &body.role_map {
        if role_map.insert(mapping.value.clone(), sso_role(&mapping.role)?).is_some() {
            return Err(ApiError::Invalid(format!("role_map gives {:?} twice", mapping.value)));
        }
    }
    let settings = SsoSettings {
        issuer: body.issuer,
        client_id: body.client_id,
        scopes: body.scopes.unwrap_or_else(|| vec!["profile".into(), "email".into(), "groups".into()]),
        role_claim: body.role_claim.unwrap_or_else(|| "groups".into()),
        role_map,
        default_role: body.default_role.as_deref().map(sso_role).transpose()?,
        email_domain: body.email_domain,
    };
    let secret = SecretString::from(body.client_secret);
    sso::configure(&state.store, org, &settings, &secret, &caller.0.user.name).await?;
    let config = state.store.sso_config(org).await?.ok_or(ApiError::NotFound("single sign-on configuration"))?;
    Ok(Json(SsoConfigView::new(config, redirect_uri(&state))))
}

/// Removes the organisation's single sign-on (admins only): the sign-in page offers it no more.
/// Users it made stay, with their roles, tokens and sessions. Audited (`sso.removed`).
#[utoipa::path(delete, path = "/api/v1/sso", tag = "users",
    responses((status = 204, description = "Removed"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No single sign-on is set")))]
async fn remove(State(state): State<AppState>, caller: Caller) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    if state.store.remove_sso_config(&caller.0.user.org, &caller.0.user.name).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::NotFound("single sign-on configuration"))
    }
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(show, set, remove))
}
