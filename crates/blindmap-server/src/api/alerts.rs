//! `/api/v1/alerts`: alerts to the account owner — the chat tools they go to (channels), the
//! rules that pick which overlap changes go where, and the log of what was sent.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use blindmap_store::{
    AlertAttempt, AlertChanges, AlertChannel, AlertChannelId, AlertChannelKind, AlertMessage, AlertMessageId,
    AlertMode, AlertRoute, AlertRule, AlertRuleId, AlertState, PartnershipId, Role, Tier,
};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::contract;
use crate::AppState;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, Problem};
use crate::http::extract::{Json, Query};
use crate::service::alerts::{self, ChannelSpec, RuleSpec};

/// Which chat tool a channel is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChannelKindName {
    /// A Slack workspace, through a Slack app's bot token.
    Slack,
    /// A Microsoft Teams channel or chat, through a Workflows webhook.
    Teams,
}

/// A channel to add: a Slack workspace or a Teams workflow, by `kind`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum NewChannel {
    /// A Slack workspace, through a Slack app's bot token.
    Slack {
        /// Its name in this organisation (1 to 200 characters), e.g. "Sales Slack".
        #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
        name: String,
        /// The app's bot token (`xoxb-…`; scopes `chat:write`, `users:read`,
        /// `users:read.email`). Kept sealed; never shown again.
        #[schema(pattern = "^xoxb-[!-~]{1,250}$")]
        token: String,
        /// The channel id (`C…`, `G…`) messages go to when a rule sends to the channel, or an
        /// owner is not in the workspace. The app must be in it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        #[schema(pattern = "^[CG][A-Z0-9]{8,23}$")]
        fallback_channel: Option<String>,
        /// The Web API's base URL (default `https://slack.com/api/`): https:// to a public
        /// address unless the node's operator allows more.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        api_url: Option<String>,
    },
    /// A Microsoft Teams channel or chat, through a Workflows webhook.
    Teams {
        /// Its name in this organisation (1 to 200 characters), e.g. "Sales Teams".
        #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
        name: String,
        /// The workflow's URL ("Post to a channel when a webhook request is received"): https://
        /// to a public address unless the node's operator allows more. Kept sealed (it carries
        /// its signature); never shown again.
        workflow_url: String,
    },
}

impl NewChannel {
    /// Its name.
    pub fn name(&self) -> &str {
        match self {
            Self::Slack { name, .. } | Self::Teams { name, .. } => name,
        }
    }
}

/// A channel, without its secret.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelView {
    /// `ach_…`.
    #[schema(value_type = contract::AlertChannelId)]
    pub id: String,
    /// Its name.
    pub name: String,
    /// `slack` or `teams`.
    pub kind: ChannelKindName,
    /// Slack: the Web API's base URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_url: Option<String>,
    /// Slack: the fallback channel id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback_channel: Option<String>,
    /// Who added it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

impl From<AlertChannel> for ChannelView {
    fn from(c: AlertChannel) -> Self {
        let slack = c.kind == AlertChannelKind::Slack;
        Self {
            id: c.id.to_string(),
            name: c.name,
            kind: if slack { ChannelKindName::Slack } else { ChannelKindName::Teams },
            api_url: slack.then_some(c.api_url),
            fallback_channel: Some(c.fallback_channel).filter(|f| !f.is_empty()),
            created_by: c.created_by,
            created_at: c.created_at,
        }
    }
}

/// The organisation's channels.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ChannelList {
    /// By name.
    pub items: Vec<ChannelView>,
}

/// Which changes a rule sends.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ChangesName {
    /// New overlaps.
    #[default]
    New,
    /// Lost overlaps.
    Lost,
    /// Both.
    Both,
}

/// Whom a rule's messages go to.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RouteName {
    /// Each account's owner (by the owner's e-mail address in the dataset): a Slack direct
    /// message, or a Teams mention; the channel where an account has no owner's address, or
    /// the owner is not in the Slack workspace.
    #[default]
    Owner,
    /// The channel.
    Channel,
}

/// A daily digest: one message per recipient a day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Digest {
    /// `HH:MM`, 24-hour.
    #[schema(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$", example = "08:00")]
    pub at: String,
    /// An IANA time zone (`UTC`, `Europe/Berlin`).
    #[schema(example = "Europe/Berlin")]
    pub zone: String,
}

/// A rule to make.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRule {
    /// Its name in this organisation (1 to 200 characters).
    pub name: String,
    /// The channel: its id (`ach_…`) or its name.
    pub channel: String,
    /// One partnership's changes (`pt_…`); all partnerships' if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<contract::PartnershipId>)]
    pub partnership: Option<String>,
    /// Changes in this own segment only (e.g. `Open opportunity`); any if absent or `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_segment: Option<String>,
    /// Changes in this partner segment only (e.g. `Customer`); any if absent or `*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_segment: Option<String>,
    /// `new` (default), `lost` or `both`.
    #[serde(default)]
    pub changes: ChangesName,
    /// New overlaps of this tier only; any if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<contract::MatchTier>)]
    pub tier: Option<Tier>,
    /// `owner` (default) or `channel`.
    #[serde(default)]
    pub route: RouteName,
    /// A daily digest; each run's changes at once if absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
}

/// A rule.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleView {
    /// `alr_…`.
    #[schema(value_type = contract::AlertRuleId)]
    pub id: String,
    /// Its name.
    pub name: String,
    /// The channel's id.
    #[schema(value_type = contract::AlertChannelId)]
    pub channel: String,
    /// The channel's name.
    pub channel_name: String,
    /// The partnership, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<contract::PartnershipId>)]
    pub partnership: Option<String>,
    /// The own segment, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_segment: Option<String>,
    /// The partner segment, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partner_segment: Option<String>,
    /// New, lost or both.
    pub changes: ChangesName,
    /// The tier, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<contract::MatchTier>)]
    pub tier: Option<Tier>,
    /// To owners or the channel.
    pub route: RouteName,
    /// The daily digest, if one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<Digest>,
    /// Who made it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

fn rule_view(r: AlertRule, channels: &[AlertChannel]) -> RuleView {
    let some = |s: String| Some(s).filter(|s| !s.is_empty());
    RuleView {
        id: r.id.to_string(),
        name: r.name,
        channel_name: channels.iter().find(|c| c.id == r.channel).map(|c| c.name.clone()).unwrap_or_default(),
        channel: r.channel.to_string(),
        partnership: r.partnership.map(|p| p.to_string()),
        own_segment: some(r.own_segment),
        partner_segment: some(r.partner_segment),
        changes: match r.changes {
            AlertChanges::New => ChangesName::New,
            AlertChanges::Lost => ChangesName::Lost,
            AlertChanges::Both => ChangesName::Both,
        },
        tier: r.tier,
        route: match r.route {
            AlertRoute::Owner => RouteName::Owner,
            AlertRoute::Channel => RouteName::Channel,
        },
        digest: match r.mode {
            AlertMode::Immediate => None,
            AlertMode::Digest { minute, zone } => {
                Some(Digest { at: format!("{:02}:{:02}", minute / 60, minute % 60), zone })
            }
        },
        created_by: r.created_by,
        created_at: r.created_at,
    }
}

/// The organisation's rules.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct RuleList {
    /// By name.
    pub items: Vec<RuleView>,
}

/// A message's state.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageStateName {
    /// Waiting to go (a digest's time, or a retry).
    Pending,
    /// Sent.
    Delivered,
    /// Given up.
    Failed,
}

/// A message the rules made.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageView {
    /// `alm_…`.
    #[schema(value_type = contract::AlertMessageId)]
    pub id: String,
    /// The rule's id.
    #[schema(value_type = contract::AlertRuleId)]
    pub rule: String,
    /// The rule's name.
    pub rule_name: String,
    /// The owner's e-mail address; absent for the channel.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient: Option<String>,
    /// The owner's name, where the dataset has it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_name: Option<String>,
    /// Pending, delivered or failed.
    pub state: MessageStateName,
    /// Attempts made.
    pub attempts: u32,
    /// When it is (or was) due: a digest's time, or when the run ended (Unix ms).
    pub due_at: i64,
    /// When the next attempt is due (pending ones).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<i64>,
    /// Where it went: `slack:U…` (an owner's direct message), `slack:C…` (a channel) or
    /// `teams:workflow`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_to: Option<String>,
    /// What went wrong last, or a note (an owner not in Slack, so sent to the channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// How many accounts it tells of.
    pub accounts: u32,
    /// Unix milliseconds.
    pub created_at: i64,
}

fn state_name(s: AlertState) -> MessageStateName {
    match s {
        AlertState::Pending => MessageStateName::Pending,
        AlertState::Delivered => MessageStateName::Delivered,
        AlertState::Failed => MessageStateName::Failed,
    }
}

impl From<AlertMessage> for MessageView {
    fn from(m: AlertMessage) -> Self {
        let pending = m.state == AlertState::Pending;
        Self {
            id: m.id.to_string(),
            rule: m.rule.to_string(),
            rule_name: m.rule_name,
            recipient: Some(m.recipient).filter(|r| !r.is_empty()),
            recipient_name: Some(m.recipient_name).filter(|r| !r.is_empty()),
            state: state_name(m.state),
            attempts: m.attempts,
            due_at: m.due_at,
            next_attempt_at: pending.then_some(m.next_attempt_at),
            delivered_to: m.delivered_to,
            last_error: m.last_error,
            accounts: m.accounts,
            created_at: m.created_at,
        }
    }
}

/// The newest messages.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageList {
    /// Newest first.
    pub items: Vec<MessageView>,
}

/// An attempt at a message.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageAttemptView {
    /// Which attempt.
    pub attempt: u32,
    /// Unix milliseconds.
    pub at: i64,
    /// The last HTTP status, if an answer came.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Where it went, if it went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_to: Option<String>,
    /// What went wrong, or a note.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

impl From<AlertAttempt> for MessageAttemptView {
    fn from(a: AlertAttempt) -> Self {
        Self {
            attempt: a.attempt,
            at: a.at,
            status: a.status,
            delivered_to: a.delivered_to,
            error: a.error,
            duration_ms: a.duration_ms,
        }
    }
}

/// A message, its attempts and its accounts.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageDetail {
    /// The message.
    pub message: MessageView,
    /// Every attempt, oldest first.
    pub attempts: Vec<MessageAttemptView>,
    /// The accounts it tells of, each as `GET /api/v1/changes` lists a change, with `partner`.
    #[schema(value_type = Vec<Object>)]
    pub accounts: Vec<serde_json::Value>,
}

/// How a test message went: where it was delivered, or why not.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct TestSent {
    /// Whether the chat tool took it.
    pub delivered: bool,
    /// `slack:C…` or `teams:workflow`, if it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_to: Option<String>,
    /// Why not, in the tool's words (a revoked token, a channel the app is not in, no answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Filters of the message log.
#[derive(Debug, Default, Serialize, Deserialize, utoipa::IntoParams)]
pub struct MessageQuery {
    /// One rule's messages.
    #[param(value_type = Option<contract::AlertRuleId>, nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// One state's messages.
    #[param(nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<MessageStateName>,
    /// How many (1 to 1000; default 100).
    #[param(minimum = 1, maximum = 1000, nullable = false)]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

fn channel_id(id: &str) -> Result<AlertChannelId, ApiError> {
    AlertChannelId::parse(id).ok_or(ApiError::NotFound("alert channel"))
}

fn rule_id(id: &str) -> Result<AlertRuleId, ApiError> {
    AlertRuleId::parse(id).ok_or(ApiError::NotFound("alert rule"))
}

/// The channel of a request.
pub(crate) fn channel_spec(body: &NewChannel) -> ChannelSpec {
    match body.clone() {
        NewChannel::Slack { token, fallback_channel, api_url, .. } => {
            ChannelSpec::Slack { token, api_url, fallback_channel }
        }
        NewChannel::Teams { workflow_url, .. } => ChannelSpec::Teams { workflow_url },
    }
}

/// The rule of a request.
pub(crate) fn rule_spec(body: NewRule) -> Result<RuleSpec, ApiError> {
    let partnership = match &body.partnership {
        Some(p) => Some(PartnershipId::parse(p).ok_or(ApiError::NotFound("partnership"))?),
        None => None,
    };
    let digest = match &body.digest {
        Some(d) => Some((super::schedules::time_of_day(&d.at)?, d.zone.clone())),
        None => None,
    };
    Ok(RuleSpec {
        name: body.name,
        channel: body.channel,
        partnership,
        own_segment: body.own_segment,
        partner_segment: body.partner_segment,
        changes: match body.changes {
            ChangesName::New => AlertChanges::New,
            ChangesName::Lost => AlertChanges::Lost,
            ChangesName::Both => AlertChanges::Both,
        },
        tier: body.tier,
        route: match body.route {
            RouteName::Owner => AlertRoute::Owner,
            RouteName::Channel => AlertRoute::Channel,
        },
        digest,
    })
}

/// Adds a channel (admins only). Its secret (a bot token, a workflow URL) is sealed and never
/// shown again; its URLs must be ones the node's webhook policy allows (https:// to a public
/// address unless the operator allows more).
#[utoipa::path(post, path = "/api/v1/alerts/channels", tag = "alerts", request_body = NewChannel,
    responses((status = 201, body = ChannelView, description = "The channel"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "A channel of that name exists"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A token, channel id or URL the node refuses")))]
async fn create_channel(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewChannel>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    caller.require(&[Role::Admin])?;
    let spec = channel_spec(&body);
    let strict = crate::service::hooks::WebhookEgress::default();
    let egress = state.node.as_deref().map_or(&strict, |node| &*node.webhooks);
    let channel = alerts::add_channel(&state.store, egress, &caller.0.user, body.name(), &spec).await?;
    Ok((StatusCode::CREATED, Json(channel.into())))
}

/// The organisation's channels (admins only; never their secrets).
#[utoipa::path(get, path = "/api/v1/alerts/channels", tag = "alerts",
    responses((status = 200, body = ChannelList, description = "The channels"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only")))]
async fn list_channels(State(state): State<AppState>, caller: Caller) -> Result<Json<ChannelList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let items = state.store.alert_channels(&caller.0.user.org).await?;
    Ok(Json(ChannelList { items: items.into_iter().map(Into::into).collect() }))
}

/// Removes a channel no rule sends to (admins only).
#[utoipa::path(delete, path = "/api/v1/alerts/channels/{id}", tag = "alerts", params(("id" = contract::AlertChannelId, Path)),
    responses((status = 204, description = "Removed"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such channel"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "Rules send to it")))]
async fn delete_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    alerts::delete_channel(&state.store, &caller.0.user, &channel_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Sends a test message now (admins only): to a Slack channel's fallback channel, or to the
/// Teams workflow. The answer says where it went, or why it did not, in the tool's words.
#[utoipa::path(post, path = "/api/v1/alerts/channels/{id}/test", tag = "alerts", params(("id" = contract::AlertChannelId, Path)),
    responses((status = 200, body = TestSent, description = "Tried: delivered, or why not"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such channel"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A Slack channel without a fallback channel")))]
async fn test_channel(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<TestSent>, ApiError> {
    caller.require(&[Role::Admin])?;
    let node = state.node()?;
    let public_url = node.public_url.get().map(String::as_str);
    let sent = alerts::test_channel(&state.store, node.webhooks.clone(), public_url, &caller.0.user, &channel_id(&id)?)
        .await?;
    Ok(Json(match sent {
        Ok(to) => TestSent { delivered: true, delivered_to: Some(to), error: None },
        Err(why) => TestSent { delivered: false, delivered_to: None, error: Some(why) },
    }))
}

/// Makes a rule (admins only): which overlap changes go to which channel, to whom, and when.
#[utoipa::path(post, path = "/api/v1/alerts/rules", tag = "alerts", request_body = NewRule,
    responses((status = 201, body = RuleView, description = "The rule"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such channel or partnership"),
        (status = 409, body = Problem, content_type = "application/problem+json", description = "A rule of that name exists"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A time, zone or name the node refuses")))]
async fn create_rule(
    State(state): State<AppState>,
    caller: Caller,
    Json(body): Json<NewRule>,
) -> Result<(StatusCode, Json<RuleView>), ApiError> {
    caller.require(&[Role::Admin])?;
    let rule = alerts::add_rule(&state.store, &caller.0.user, rule_spec(body)?).await?;
    let channels = state.store.alert_channels(&caller.0.user.org).await?;
    Ok((StatusCode::CREATED, Json(rule_view(rule, &channels))))
}

/// The organisation's rules (admins only).
#[utoipa::path(get, path = "/api/v1/alerts/rules", tag = "alerts",
    responses((status = 200, body = RuleList, description = "The rules"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only")))]
async fn list_rules(State(state): State<AppState>, caller: Caller) -> Result<Json<RuleList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let org = &caller.0.user.org;
    let channels = state.store.alert_channels(org).await?;
    let items = state.store.alert_rules(org).await?.into_iter().map(|r| rule_view(r, &channels)).collect();
    Ok(Json(RuleList { items }))
}

/// Deletes a rule, with its messages and their log (admins only).
#[utoipa::path(delete, path = "/api/v1/alerts/rules/{id}", tag = "alerts", params(("id" = contract::AlertRuleId, Path)),
    responses((status = 204, description = "Deleted"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such rule")))]
async fn delete_rule(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    caller.require(&[Role::Admin])?;
    alerts::delete_rule(&state.store, &caller.0.user, &rule_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The newest messages the rules made, and how each went (admins only).
#[utoipa::path(get, path = "/api/v1/alerts/messages", tag = "alerts", params(MessageQuery),
    responses((status = 200, body = MessageList, description = "Newest first"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 422, body = Problem, content_type = "application/problem+json", description = "A limit out of range")))]
async fn list_messages(
    State(state): State<AppState>,
    caller: Caller,
    Query(query): Query<MessageQuery>,
) -> Result<Json<MessageList>, ApiError> {
    caller.require(&[Role::Admin])?;
    let limit = query.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::Invalid("limit must be 1 to 1000".into()));
    }
    let rule = match &query.rule {
        Some(r) => Some(
            AlertRuleId::parse(r)
                .ok_or_else(|| ApiError::Invalid(format!("rule must be an alert rule's id (alr_…), not {r:?}")))?,
        ),
        None => None,
    };
    let state_filter = query.state.map(|s| match s {
        MessageStateName::Pending => AlertState::Pending,
        MessageStateName::Delivered => AlertState::Delivered,
        MessageStateName::Failed => AlertState::Failed,
    });
    let items = state.store.alert_messages(&caller.0.user.org, rule.as_ref(), state_filter, limit).await?;
    Ok(Json(MessageList { items: items.into_iter().map(Into::into).collect() }))
}

/// One message: every attempt, and the accounts it tells of (admins only).
#[utoipa::path(get, path = "/api/v1/alerts/messages/{id}", tag = "alerts", params(("id" = contract::AlertMessageId, Path)),
    responses((status = 200, body = MessageDetail, description = "The message"),
        (status = 403, body = Problem, content_type = "application/problem+json", description = "Admins only"),
        (status = 404, body = Problem, content_type = "application/problem+json", description = "No such message")))]
async fn message(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<MessageDetail>, ApiError> {
    caller.require(&[Role::Admin])?;
    let id = AlertMessageId::parse(&id).ok_or(ApiError::NotFound("alert message"))?;
    let (message, attempts, accounts) = state.store.alert_message(&caller.0.user.org, &id).await?;
    Ok(Json(MessageDetail {
        message: message.into(),
        attempts: attempts.into_iter().map(Into::into).collect(),
        accounts,
    }))
}

pub(super) fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_channel, list_channels))
        .routes(routes!(delete_channel))
        .routes(routes!(test_channel))
        .routes(routes!(create_rule, list_rules))
        .routes(routes!(delete_rule))
        .routes(routes!(list_messages))
        .routes(routes!(message))
}
