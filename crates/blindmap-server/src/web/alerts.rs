//! Alerts (admins): the chat tools alerts go to (adding a Slack workspace or a Teams workflow,
//! a test message, removing one), the rules that pick which overlap changes go where, and the
//! latest messages with how each went. The same service functions as the API.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use blindmap_store::{
    AlertChanges, AlertChannelId, AlertChannelKind, AlertMode, AlertRoute, AlertRuleId, AlertState, PartnershipId,
    PartnershipState, Tier,
};

use super::manage::{admin, only_admins};
use super::session::{CsrfForm, Signed};
use super::{Chrome, PageError, PageResult, html};
use crate::AppState;
use crate::http::error::ApiError;
use crate::service::alerts::{self, ChannelSpec, RuleSpec};

/// Messages the page lists.
const LISTED: u32 = 50;

pub(super) struct ChannelRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) kind: &'static str,
    pub(super) detail: String,
}

pub(super) struct RuleRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) what: String,
    pub(super) to: String,
    pub(super) when: String,
}

pub(super) struct MessageRow {
    pub(super) at: String,
    pub(super) rule: String,
    pub(super) to: String,
    pub(super) accounts: u32,
    pub(super) state: String,
    pub(super) failed: bool,
    pub(super) note: String,
}

/// What the forms keep after a refusal.
#[derive(Default)]
pub(super) struct Kept {
    pub(super) channel_name: String,
    pub(super) fallback: String,
    pub(super) rule_name: String,
    pub(super) own_segment: String,
    pub(super) partner_segment: String,
}

#[derive(Template)]
#[template(path = "alerts.html")]
pub(super) struct AlertsPage {
    pub(super) chrome: Chrome,
    pub(super) channels: Vec<ChannelRow>,
    pub(super) rules: Vec<RuleRow>,
    pub(super) messages: Vec<MessageRow>,
    pub(super) partners: Vec<(String, String)>,
    pub(super) kept: Kept,
    pub(super) problem: Option<String>,
    pub(super) notice: Option<String>,
}

async fn view(
    state: &AppState,
    signed: &Signed,
    kept: Kept,
    problem: Option<String>,
    notice: Option<String>,
) -> Result<AlertsPage, PageError> {
    let org = signed.org();
    let channels = state.store.alert_channels(org).await?;
    let partnerships = state.store.partnerships(org).await?;
    let partner_name = |id: &PartnershipId| {
        partnerships.iter().find(|p| &p.id == id).map_or_else(|| id.to_string(), |p| p.partner_name.clone())
    };
    let rules = state
        .store
        .alert_rules(org)
        .await?
        .into_iter()
        .map(|r| {
            let changes = match r.changes {
                AlertChanges::New => "New",
                AlertChanges::Lost => "Lost",
                AlertChanges::Both => "New and lost",
            };
            let mut what = format!("{changes} overlaps");
            what.push_str(&match &r.partnership {
                Some(p) => format!(" with {}", partner_name(p)),
                None => " with any partner".to_owned(),
            });
            if !r.own_segment.is_empty() {
                what.push_str(&format!(", your {}", r.own_segment));
            }
            if !r.partner_segment.is_empty() {
                what.push_str(&format!(", their {}", r.partner_segment));
            }
            if let Some(tier) = r.tier {
                what.push_str(&format!(", {} only", tier.as_str()));
            }
            let channel = channels.iter().find(|c| c.id == r.channel).map_or("?", |c| c.name.as_str());
            let to = match r.route {
                AlertRoute::Owner => format!("Each account's owner, via {channel}"),
                AlertRoute::Channel => format!("The channel {channel}"),
            };
            let when = match r.mode {
                AlertMode::Immediate => "After each match".to_owned(),
                AlertMode::Digest { minute, zone } => {
                    format!("Daily at {:02}:{:02} ({zone})", minute / 60, minute % 60)
                }
            };
            RuleRow { id: r.id.to_string(), name: r.name, what, to, when }
        })
        .collect();
    let messages = state
        .store
        .alert_messages(org, None, None, LISTED)
        .await?
        .into_iter()
        .map(|m| MessageRow {
            at: crate::rfc3339(m.created_at),
            rule: m.rule_name,
            to: match (m.recipient.is_empty(), m.recipient_name.is_empty()) {
                (true, _) => "the channel".to_owned(),
                (false, true) => m.recipient.clone(),
                (false, false) => format!("{} ({})", m.recipient_name, m.recipient),
            },
            accounts: m.accounts,
            failed: m.state == AlertState::Failed,
            state: match m.state {
                AlertState::Pending if m.attempts == 0 => format!("due {}", crate::rfc3339(m.next_attempt_at)),
                AlertState::Pending => format!("retrying at {}", crate::rfc3339(m.next_attempt_at)),
                AlertState::Delivered => format!("sent to {}", m.delivered_to.unwrap_or_default()),
                AlertState::Failed => format!("given up after {} attempts", m.attempts),
            },
            note: m.last_error.unwrap_or_default(),
        })
        .collect();
    let channels = channels
        .into_iter()
        .map(|c| ChannelRow {
            id: c.id.to_string(),
            kind: if c.kind == AlertChannelKind::Slack { "Slack" } else { "Teams" },
            detail: match c.kind {
                AlertChannelKind::Slack if c.fallback_channel.is_empty() => "no fallback channel".to_owned(),
                AlertChannelKind::Slack => format!("fallback channel {}", c.fallback_channel),
                AlertChannelKind::Teams => "a Workflows webhook".to_owned(),
            },
            name: c.name,
        })
        .collect();
    let partners = partnerships
        .into_iter()
        .filter(|p| p.state == PartnershipState::Active)
        .map(|p| (p.id.to_string(), p.partner_name))
        .collect();
    Ok(AlertsPage {
        chrome: signed.chrome(state).await?.at("/alerts"),
        channels,
        rules,
        messages,
        partners,
        kept,
        problem,
        notice,
    })
}

pub(super) async fn alerts_page(State(state): State<AppState>, signed: Signed) -> PageResult {
    only_admins(&signed)?;
    Ok(html(StatusCode::OK, &view(&state, &signed, Kept::default(), None, None).await?))
}

type Form = Vec<(String, String)>;

fn value<'a>(form: &'a Form, name: &str) -> &'a str {
    form.iter().find(|(k, _)| k == name).map_or("", |(_, v)| v.as_str())
}

/// Adds a channel from one of the two forms (`kind` slack or teams).
pub(super) async fn add_channel(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<Form>,
) -> PageResult {
    admin(&signed, value(&form, "csrf"))?;
    let name = value(&form, "name").trim().to_owned();
    let spec = match value(&form, "kind") {
        "slack" => ChannelSpec::Slack {
            token: value(&form, "token").to_owned(),
            api_url: Some(value(&form, "api_url").trim()).filter(|u| !u.is_empty()).map(str::to_owned),
            fallback_channel: Some(value(&form, "fallback").trim()).filter(|f| !f.is_empty()).map(str::to_owned),
        },
        "teams" => ChannelSpec::Teams { workflow_url: value(&form, "workflow_url").to_owned() },
        _ => return Err(PageError(ApiError::Invalid("kind must be slack or teams".into()))),
    };
    let strict = crate::service::hooks::WebhookEgress::default();
    let egress = state.node.as_deref().map_or(&strict, |node| &*node.webhooks);
    match alerts::add_channel(&state.store, egress, signed.user(), &name, &spec).await {
        Ok(_) => Ok(Redirect::to("/alerts").into_response()),
        Err(e) => {
            let (status, text) = ApiError::from(e).status_and_detail();
            // The secret is never written back into the page.
            let kept = Kept { channel_name: name, fallback: value(&form, "fallback").to_owned(), ..Kept::default() };
            Ok(html(status, &view(&state, &signed, kept, Some(text), None).await?))
        }
    }
}

fn channel_id(id: &str) -> Result<AlertChannelId, PageError> {
    AlertChannelId::parse(id).ok_or(PageError(ApiError::NotFound("alert channel")))
}

/// Tests or removes a channel (`action` from the path).
pub(super) async fn channel_action(
    State(state): State<AppState>,
    signed: Signed,
    Path((id, action)): Path<(String, String)>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let id = channel_id(&id)?;
    let outcome = match action.as_str() {
        "test" => {
            let node = state.node().map_err(PageError)?;
            let public_url = node.public_url.get().map(String::as_str);
            match alerts::test_channel(&state.store, node.webhooks.clone(), public_url, signed.user(), &id).await {
                Ok(Ok(to)) => Ok(format!("A test message went to {to}.")),
                Ok(Err(why)) => {
                    let text = format!("The test message did not go: {why}");
                    let page = view(&state, &signed, Kept::default(), Some(text), None).await?;
                    return Ok(html(StatusCode::OK, &page));
                }
                Err(e) => Err(e),
            }
        }
        "remove" => {
            alerts::delete_channel(&state.store, signed.user(), &id).await.map(|()| "Channel removed.".to_owned())
        }
        _ => return Err(PageError(ApiError::NotFound("action"))),
    };
    match outcome {
        Ok(notice) => Ok(html(StatusCode::OK, &view(&state, &signed, Kept::default(), None, Some(notice)).await?)),
        Err(e) => {
            let error = ApiError::from(e);
            if matches!(error, ApiError::Store(blindmap_store::StoreError::NotFound(_))) {
                return Err(PageError(error));
            }
            let (status, text) = error.status_and_detail();
            Ok(html(status, &view(&state, &signed, Kept::default(), Some(text), None).await?))
        }
    }
}

/// Makes a rule from the form.
pub(super) async fn add_rule(
    State(state): State<AppState>,
    signed: Signed,
    axum::Form(form): axum::Form<Form>,
) -> PageResult {
    admin(&signed, value(&form, "csrf"))?;
    let kept = || Kept {
        rule_name: value(&form, "name").to_owned(),
        own_segment: value(&form, "own_segment").to_owned(),
        partner_segment: value(&form, "partner_segment").to_owned(),
        ..Kept::default()
    };
    let spec = rule_spec(&form);
    let made = match spec {
        Ok(spec) => alerts::add_rule(&state.store, signed.user(), spec).await.map_err(ApiError::from),
        Err(e) => Err(e),
    };
    match made {
        Ok(_) => Ok(Redirect::to("/alerts").into_response()),
        Err(e) => {
            let (status, text) = e.status_and_detail();
            Ok(html(status, &view(&state, &signed, kept(), Some(text), None).await?))
        }
    }
}

fn rule_spec(form: &Form) -> Result<RuleSpec, ApiError> {
    let text = |name: &str| Some(value(form, name).trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    let partnership = match text("partner") {
        Some(p) => Some(PartnershipId::parse(&p).ok_or(ApiError::NotFound("partnership"))?),
        None => None,
    };
    let digest = match (text("digest_at"), text("zone")) {
        (Some(at), zone) => Some((crate::api::schedules::time_of_day(&at)?, zone.unwrap_or_else(|| "UTC".into()))),
        (None, _) => None,
    };
    Ok(RuleSpec {
        name: value(form, "name").to_owned(),
        channel: value(form, "channel").to_owned(),
        partnership,
        own_segment: text("own_segment"),
        partner_segment: text("partner_segment"),
        changes: AlertChanges::parse(value(form, "changes"))
            .ok_or_else(|| ApiError::Invalid("changes must be new, lost or both".into()))?,
        tier: match text("tier") {
            Some(t) => {
                Some(Tier::parse(&t).ok_or_else(|| ApiError::Invalid("tier must be confirmed or possible".into()))?)
            }
            None => None,
        },
        route: AlertRoute::parse(value(form, "route"))
            .ok_or_else(|| ApiError::Invalid("send to must be owner or channel".into()))?,
        digest,
    })
}

/// Deletes a rule.
pub(super) async fn remove_rule(
    State(state): State<AppState>,
    signed: Signed,
    Path(id): Path<String>,
    axum::Form(form): axum::Form<CsrfForm>,
) -> PageResult {
    admin(&signed, &form.csrf)?;
    let id = AlertRuleId::parse(&id).ok_or(PageError(ApiError::NotFound("alert rule")))?;
    alerts::delete_rule(&state.store, signed.user(), &id).await.map_err(|e| PageError(e.into()))?;
    Ok(Redirect::to("/alerts").into_response())
}
