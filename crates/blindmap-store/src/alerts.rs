//! Alerts to the account owner: the chat tools an organisation sends overlap changes to (a Slack
//! workspace or a Teams workflow, its secret sealed), the rules that say which changes go where,
//! and the outbox their messages go through.
//!
//! The outbox is the webhooks' own: an `overlap.changed` event of an organisation with rules is
//! written with an [`alert_events`](Store::claim_alert_event) row in the event's transaction; a
//! replica leases it and turns it into messages — one per rule, recipient and batch (the run, or
//! a digest's due time), with the accounts each tells of — in one transaction
//! ([`Store::compose_alerts`]); replicas lease due messages, send them, and record each attempt
//! ([`Store::finish_alert`]): delivered, retried later, or given up. What a rule selects and what
//! a message says is the service's business; the store keeps and hands out.

use sqlx::Row;
use zeroize::Zeroizing;

use crate::changes::ChangeKind;
use crate::ids::{AlertChannelId, AlertMessageId, AlertRuleId, EventId, OrgId, PartnershipId, now_ms};
use crate::sealed::ALERT_SECRETS;
use crate::{Retry, Store, StoreError, Tier};

/// The chat tool a channel is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AlertChannelKind {
    /// A Slack workspace, through its app's bot token.
    Slack,
    /// A Microsoft Teams channel or chat, through a Workflows webhook.
    Teams,
}

impl AlertChannelKind {
    /// `slack` or `teams`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Teams => "teams",
        }
    }

    fn parse(text: &str) -> Result<Self, StoreError> {
        match text {
            "slack" => Ok(Self::Slack),
            "teams" => Ok(Self::Teams),
            _ => Err(StoreError::Corrupt("alert_channels.kind")),
        }
    }
}

/// A chat tool alerts go to, without its secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertChannel {
    /// Its id.
    pub id: AlertChannelId,
    /// The organisation.
    pub org: OrgId,
    /// Its name, unique in the organisation.
    pub name: String,
    /// Slack or Teams.
    pub kind: AlertChannelKind,
    /// Slack: the Web API's base URL (`https://slack.com/api/`). Teams: '' (the URL is secret).
    pub api_url: String,
    /// Slack: the channel messages go to when they are not for an owner, or the owner is not
    /// found ('' for none). Teams: ''.
    pub fallback_channel: String,
    /// Who added it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A channel to add.
#[derive(Debug, Clone)]
pub struct NewAlertChannel<'a> {
    /// Its name.
    pub name: &'a str,
    /// Slack or Teams.
    pub kind: AlertChannelKind,
    /// Slack's API base URL; '' for Teams.
    pub api_url: &'a str,
    /// The bot token, or the workflow's URL: kept sealed.
    pub secret: &'a str,
    /// Slack's fallback channel; '' for none.
    pub fallback_channel: &'a str,
}

/// Which changes a rule sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertChanges {
    /// New overlaps.
    New,
    /// Lost overlaps.
    Lost,
    /// Both.
    Both,
}

impl AlertChanges {
    /// `new`, `lost` or `both`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::New => "new",
            Self::Lost => "lost",
            Self::Both => "both",
        }
    }

    /// The kind of a name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::New, Self::Lost, Self::Both].into_iter().find(|c| c.as_str() == text)
    }

    /// Whether a change of `kind` is one of these.
    pub fn admits(self, kind: ChangeKind) -> bool {
        matches!((self, kind), (Self::Both, _) | (Self::New, ChangeKind::New) | (Self::Lost, ChangeKind::Lost))
    }
}

/// Whom a rule's messages go to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertRoute {
    /// Each account's owner, found by e-mail; the channel's fallback where there is none.
    Owner,
    /// The channel.
    Channel,
}

impl AlertRoute {
    /// `owner` or `channel`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Channel => "channel",
        }
    }

    /// The route of a name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Owner, Self::Channel].into_iter().find(|r| r.as_str() == text)
    }
}

/// When a rule's messages go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertMode {
    /// One message per run and recipient, at once.
    Immediate,
    /// One message per recipient a day, at a time of day in a zone.
    Digest {
        /// Minutes after midnight.
        minute: u16,
        /// An IANA time zone.
        zone: String,
    },
}

/// A rule: which changes go to which channel, to whom and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRule {
    /// Its id.
    pub id: AlertRuleId,
    /// The organisation.
    pub org: OrgId,
    /// Its name, unique in the organisation.
    pub name: String,
    /// The channel.
    pub channel: AlertChannelId,
    /// One partnership's changes, or any.
    pub partnership: Option<PartnershipId>,
    /// Changes in this own segment only ('' for any).
    pub own_segment: String,
    /// Changes in this partner segment only ('' for any).
    pub partner_segment: String,
    /// New, lost or both.
    pub changes: AlertChanges,
    /// New overlaps of this tier only (lost ones have none); any if `None`.
    pub tier: Option<Tier>,
    /// To owners or to the channel.
    pub route: AlertRoute,
    /// At once or in a daily digest.
    pub mode: AlertMode,
    /// Who made it.
    pub created_by: String,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A rule to make (its channel and partnership must be the organisation's).
#[derive(Debug, Clone)]
pub struct NewAlertRule {
    /// Its name.
    pub name: String,
    /// The channel.
    pub channel: AlertChannelId,
    /// One partnership's changes, or any.
    pub partnership: Option<PartnershipId>,
    /// An own segment, or ''.
    pub own_segment: String,
    /// A partner segment, or ''.
    pub partner_segment: String,
    /// New, lost or both.
    pub changes: AlertChanges,
    /// A tier, or any.
    pub tier: Option<Tier>,
    /// To owners or to the channel.
    pub route: AlertRoute,
    /// At once or in a digest.
    pub mode: AlertMode,
}

/// A message a rule makes of one event: to whom, in which batch, due when, telling of which
/// accounts.
#[derive(Debug, Clone)]
pub struct ComposedAlert {
    /// The rule.
    pub rule: AlertRuleId,
    /// The owner's e-mail address (lowercase), or '' for the channel.
    pub recipient: String,
    /// The owner's name as the dataset has it ('' for the channel).
    pub recipient_name: String,
    /// The event's id for a message at once; `digest:<due_at>` for a digest (messages of one
    /// batch and recipient are one message).
    pub batch: String,
    /// When it is due (Unix milliseconds).
    pub due_at: i64,
    /// The accounts it tells of.
    pub items: Vec<AlertItem>,
}

/// One account a message tells of.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertItem {
    /// The run whose change it is.
    pub run: String,
    /// The account's id in this side's dataset.
    pub account_id: String,
    /// This side's segment.
    pub own_segment: String,
    /// The partner's segment.
    pub partner_segment: String,
    /// New or lost.
    pub change: ChangeKind,
    /// The change, as the changes API lists it (with the partner's name).
    pub payload: serde_json::Value,
}

/// How far a message has gone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertState {
    /// Waiting to be sent (or retried).
    Pending,
    /// Sent.
    Delivered,
    /// Given up.
    Failed,
}

impl AlertState {
    /// `pending`, `delivered` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    /// The state of a name.
    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// A message, as the log lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertMessage {
    /// Its id.
    pub id: AlertMessageId,
    /// The organisation.
    pub org: OrgId,
    /// The rule that made it.
    pub rule: AlertRuleId,
    /// The rule's name.
    pub rule_name: String,
    /// The owner's e-mail address, or '' for the channel.
    pub recipient: String,
    /// The owner's name ('' for the channel, or where the dataset has none).
    pub recipient_name: String,
    /// The event's id, or `digest:<due_at>`.
    pub batch: String,
    /// When it is due.
    pub due_at: i64,
    /// Pending, delivered or given up.
    pub state: AlertState,
    /// Attempts made.
    pub attempts: u32,
    /// When the next attempt is due (pending ones).
    pub next_attempt_at: i64,
    /// Where it went: a Slack user or channel id, or the Teams workflow.
    pub delivered_to: Option<String>,
    /// What went wrong last.
    pub last_error: Option<String>,
    /// How many accounts it tells of.
    pub accounts: u32,
    /// Unix milliseconds.
    pub created_at: i64,
}

/// A message due now, leased to the caller, with what sending it needs.
pub struct DueAlert {
    /// The message.
    pub message: AlertMessage,
    /// Its rule.
    pub rule: AlertRule,
    /// The rule's channel.
    pub channel: AlertChannel,
    /// The channel's secret, or why it cannot be read (the attempt then fails).
    pub secret: Result<Zeroizing<String>, StoreError>,
    /// The accounts, as composed (in account order).
    pub items: Vec<serde_json::Value>,
}

impl std::fmt::Debug for DueAlert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueAlert")
            .field("message", &self.message)
            .field("rule", &self.rule)
            .field("channel", &self.channel)
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}

/// One attempt at a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertAttempt {
    /// Which attempt (1 for the first).
    pub attempt: u32,
    /// Unix milliseconds.
    pub at: i64,
    /// The HTTP status of the last answer, if one came.
    pub status: Option<u16>,
    /// Where it went, if it went.
    pub delivered_to: Option<String>,
    /// What went wrong, if anything did (a note, such as a fallback, if it went anyway).
    pub error: Option<String>,
    /// How long it took.
    pub duration_ms: u64,
}

const CHANNEL_COLUMNS: &str = "id, org_id, name, kind, api_url, fallback_channel, created_by, created_at";
const RULE_COLUMNS: &str = "id, org_id, name, channel_id, partnership_id, own_segment, partner_segment, changes, tier, \
     route, mode, digest_minute, zone, created_by, created_at";
const MESSAGE_COLUMNS: &str = "m.id, m.org_id, m.rule_id, r.name, m.recipient, m.recipient_name, m.batch, m.due_at, \
     m.state, m.attempts, m.next_attempt_at, m.delivered_to, m.last_error, \
     (SELECT COUNT(*) FROM alert_items i WHERE i.message_id = m.id), m.created_at";

fn channel_from_row(r: &sqlx::any::AnyRow, o: usize) -> Result<AlertChannel, StoreError> {
    Ok(AlertChannel {
        id: AlertChannelId(r.get(o)),
        org: OrgId(r.get(o + 1)),
        name: r.get(o + 2),
        kind: AlertChannelKind::parse(&r.get::<String, _>(o + 3))?,
        api_url: r.get(o + 4),
        fallback_channel: r.get(o + 5),
        created_by: r.get(o + 6),
        created_at: r.get(o + 7),
    })
}

fn rule_from_row(r: &sqlx::any::AnyRow, o: usize) -> Result<AlertRule, StoreError> {
    let tier: String = r.get(o + 8);
    let mode = match r.get::<String, _>(o + 10).as_str() {
        "immediate" => AlertMode::Immediate,
        "digest" => AlertMode::Digest {
            minute: u16::try_from(r.get::<Option<i64>, _>(o + 11).unwrap_or(-1))
                .map_err(|_| StoreError::Corrupt("alert_rules.digest_minute"))?,
            zone: r.get::<Option<String>, _>(o + 12).ok_or(StoreError::Corrupt("alert_rules.zone"))?,
        },
        _ => return Err(StoreError::Corrupt("alert_rules.mode")),
    };
    Ok(AlertRule {
        id: AlertRuleId(r.get(o)),
        org: OrgId(r.get(o + 1)),
        name: r.get(o + 2),
        channel: AlertChannelId(r.get(o + 3)),
        partnership: r.get::<Option<String>, _>(o + 4).map(PartnershipId),
        own_segment: r.get(o + 5),
        partner_segment: r.get(o + 6),
        changes: AlertChanges::parse(&r.get::<String, _>(o + 7)).ok_or(StoreError::Corrupt("alert_rules.changes"))?,
        tier: if tier.is_empty() {
            None
        } else {
            Some(Tier::parse(&tier).ok_or(StoreError::Corrupt("alert_rules.tier"))?)
        },
        route: AlertRoute::parse(&r.get::<String, _>(o + 9)).ok_or(StoreError::Corrupt("alert_rules.route"))?,
        mode,
        created_by: r.get(o + 13),
        created_at: r.get(o + 14),
    })
}

fn message_from_row(r: &sqlx::any::AnyRow, o: usize) -> Result<AlertMessage, StoreError> {
    Ok(AlertMessage {
        id: AlertMessageId(r.get(o)),
        org: OrgId(r.get(o + 1)),
        rule: AlertRuleId(r.get(o + 2)),
        rule_name: r.get(o + 3),
        recipient: r.get(o + 4),
        recipient_name: r.get(o + 5),
        batch: r.get(o + 6),
        due_at: r.get(o + 7),
        state: AlertState::parse(&r.get::<String, _>(o + 8)).ok_or(StoreError::Corrupt("alert_messages.state"))?,
        attempts: u32::try_from(r.get::<i64, _>(o + 9)).unwrap_or(u32::MAX),
        next_attempt_at: r.get(o + 10),
        delivered_to: r.get(o + 11),
        last_error: r.get(o + 12),
        accounts: u32::try_from(r.get::<i64, _>(o + 13)).unwrap_or(u32::MAX),
        created_at: r.get(o + 14),
    })
}

/// The event kinds alerts are made from.
pub const ALERT_EVENT_KINDS: &[&str] = &["overlap.changed"];

/// Inside an event's transaction: marks it for alerts if its kind makes them and its
/// organisation has rules.
pub(crate) async fn append_alert_event(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    org: &OrgId,
    event: &EventId,
    kind: &str,
    at: i64,
) -> Result<(), StoreError> {
    if !ALERT_EVENT_KINDS.contains(&kind) {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO alert_events (event_id, org_id, state, lease_until, created_at) SELECT $1, $2, 'pending', 0, $3 \
         WHERE EXISTS (SELECT 1 FROM alert_rules WHERE org_id = $2)",
    )
    .bind(event.as_str())
    .bind(org.as_str())
    .bind(at)
    .execute(&mut **tx)
    .await?;
    Ok(())
}

impl Store {
    /// Adds a channel of `org`, its secret sealed.
    pub async fn create_alert_channel(
        &self,
        org: &OrgId,
        created_by: &str,
        new: &NewAlertChannel<'_>,
    ) -> Result<AlertChannel, StoreError> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(StoreError::InvalidName("a channel's name"));
        }
        let channel = AlertChannel {
            id: AlertChannelId::generate(),
            org: org.clone(),
            name: name.to_owned(),
            kind: new.kind,
            api_url: new.api_url.to_owned(),
            fallback_channel: new.fallback_channel.to_owned(),
            created_by: created_by.to_owned(),
            created_at: now_ms(),
        };
        let sealed = self.keyring()?.seal(&ALERT_SECRETS, channel.id.as_str(), new.secret);
        sqlx::query(
            "INSERT INTO alert_channels (id, org_id, name, kind, api_url, secret, fallback_channel, created_by, \
             created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(channel.id.as_str())
        .bind(org.as_str())
        .bind(&channel.name)
        .bind(channel.kind.as_str())
        .bind(&channel.api_url)
        .bind(sealed)
        .bind(&channel.fallback_channel)
        .bind(created_by)
        .bind(channel.created_at)
        .execute(&self.pool)
        .await
        .map_err(|e| {
            if crate::error::is_unique_violation(&e) {
                StoreError::Conflict("a channel of that name")
            } else {
                e.into()
            }
        })?;
        Ok(channel)
    }

    /// `org`'s channels, by name.
    pub async fn alert_channels(&self, org: &OrgId) -> Result<Vec<AlertChannel>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CHANNEL_COLUMNS} FROM alert_channels WHERE org_id = $1 ORDER BY name, id"
        )))
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| channel_from_row(r, 0)).collect()
    }

    /// A channel of `org` with its secret opened, to send a test message with.
    pub async fn alert_channel_secret(
        &self,
        org: &OrgId,
        id: &AlertChannelId,
    ) -> Result<(AlertChannel, Zeroizing<String>), StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {CHANNEL_COLUMNS}, secret FROM alert_channels WHERE id = $1 AND org_id = $2"
        )))
        .bind(id.as_str())
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("alert channel"))?;
        let sealed: Zeroizing<String> = Zeroizing::new(row.get(8));
        let secret = self.keyring()?.open(&ALERT_SECRETS, id.as_str(), &sealed)?;
        Ok((channel_from_row(&row, 0)?, secret))
    }

    /// Removes a channel of `org` that no rule uses.
    pub async fn delete_alert_channel(&self, org: &OrgId, id: &AlertChannelId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let known = sqlx::query("SELECT 1 FROM alert_channels WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound("alert channel"));
        }
        let used = sqlx::query("SELECT 1 FROM alert_rules WHERE channel_id = $1 AND org_id = $2 LIMIT 1")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if used.is_some() {
            return Err(StoreError::InUse("the channel: rules send to it; delete them first"));
        }
        let done = sqlx::query("DELETE FROM alert_channels WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .execute(&mut *tx)
            .await?;
        if done.rows_affected() == 0 {
            return Err(StoreError::NotFound("alert channel"));
        }
        tx.commit().await?;
        Ok(())
    }

    /// Makes a rule of `org`; its channel and partnership must be the organisation's.
    pub async fn create_alert_rule(
        &self,
        org: &OrgId,
        created_by: &str,
        new: &NewAlertRule,
    ) -> Result<AlertRule, StoreError> {
        let name = new.name.trim();
        if name.is_empty() || name.chars().count() > 200 {
            return Err(StoreError::InvalidName("a rule's name"));
        }
        let mut tx = self.begin_write().await?;
        let channel = sqlx::query("SELECT 1 FROM alert_channels WHERE id = $1 AND org_id = $2")
            .bind(new.channel.as_str())
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if channel.is_none() {
            return Err(StoreError::NotFound("alert channel"));
        }
        if let Some(p) = &new.partnership {
            let known = sqlx::query("SELECT 1 FROM partnerships WHERE id = $1 AND org_id = $2")
                .bind(p.as_str())
                .bind(org.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            if known.is_none() {
                return Err(StoreError::NotFound("partnership"));
            }
        }
        let rule = AlertRule {
            id: AlertRuleId::generate(),
            org: org.clone(),
            name: name.to_owned(),
            channel: new.channel.clone(),
            partnership: new.partnership.clone(),
            own_segment: new.own_segment.clone(),
            partner_segment: new.partner_segment.clone(),
            changes: new.changes,
            tier: new.tier,
            route: new.route,
            mode: new.mode.clone(),
            created_by: created_by.to_owned(),
            created_at: now_ms(),
        };
        let (mode, minute, zone) = match &rule.mode {
            AlertMode::Immediate => ("immediate", None, None),
            AlertMode::Digest { minute, zone } => ("digest", Some(i64::from(*minute)), Some(zone.as_str())),
        };
        sqlx::query(
            "INSERT INTO alert_rules (id, org_id, name, channel_id, partnership_id, own_segment, partner_segment, \
             changes, tier, route, mode, digest_minute, zone, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)",
        )
        .bind(rule.id.as_str())
        .bind(org.as_str())
        .bind(&rule.name)
        .bind(rule.channel.as_str())
        .bind(rule.partnership.as_ref().map(PartnershipId::as_str))
        .bind(&rule.own_segment)
        .bind(&rule.partner_segment)
        .bind(rule.changes.as_str())
        .bind(rule.tier.map_or("", Tier::as_str))
        .bind(rule.route.as_str())
        .bind(mode)
        .bind(minute)
        .bind(zone)
        .bind(created_by)
        .bind(rule.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| {
            if crate::error::is_unique_violation(&e) { StoreError::Conflict("a rule of that name") } else { e.into() }
        })?;
        tx.commit().await?;
        Ok(rule)
    }

    /// `org`'s rules, by name.
    pub async fn alert_rules(&self, org: &OrgId) -> Result<Vec<AlertRule>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RULE_COLUMNS} FROM alert_rules WHERE org_id = $1 ORDER BY name, id"
        )))
        .bind(org.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| rule_from_row(r, 0)).collect()
    }

    /// Deletes a rule of `org`, with its messages (sent or not) and their log.
    pub async fn delete_alert_rule(&self, org: &OrgId, id: &AlertRuleId) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let known = sqlx::query("SELECT 1 FROM alert_rules WHERE id = $1 AND org_id = $2")
            .bind(id.as_str())
            .bind(org.as_str())
            .fetch_optional(&mut *tx)
            .await?;
        if known.is_none() {
            return Err(StoreError::NotFound("alert rule"));
        }
        for sql in [
            "DELETE FROM alert_items WHERE message_id IN (SELECT id FROM alert_messages WHERE rule_id = $1)",
            "DELETE FROM alert_attempts WHERE message_id IN (SELECT id FROM alert_messages WHERE rule_id = $1)",
            "DELETE FROM alert_messages WHERE rule_id = $1",
            "DELETE FROM alert_rules WHERE id = $1",
        ] {
            sqlx::query(sql).bind(id.as_str()).execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Leases the oldest event waiting to be made into alerts for `lease_ms` (a holder that
    /// dies loses it, and another replica composes it).
    pub async fn claim_alert_event(&self, now: i64, lease_ms: i64) -> Result<Option<crate::Event>, StoreError> {
        let candidates = sqlx::query(
            "SELECT event_id FROM alert_events WHERE state = 'pending' AND lease_until <= $1 \
             ORDER BY created_at, event_id LIMIT 8",
        )
        .bind(now)
        .fetch_all(&self.pool)
        .await?;
        for c in candidates {
            let id: String = c.get(0);
            let taken = sqlx::query(
                "UPDATE alert_events SET lease_until = $1 WHERE event_id = $2 AND state = 'pending' AND lease_until <= $3",
            )
            .bind(now + lease_ms)
            .bind(&id)
            .bind(now)
            .execute(&self.pool)
            .await?;
            if taken.rows_affected() != 1 {
                continue;
            }
            let row = sqlx::query("SELECT id, org_id, kind, payload, created_at FROM events WHERE id = $1")
                .bind(&id)
                .fetch_one(&self.pool)
                .await?;
            return Ok(Some(crate::events::event_from_row(&row, 0)?));
        }
        Ok(None)
    }

    /// Records the messages an event made, and the event as composed, in one transaction. A
    /// message of a rule, recipient and batch that exists already (a digest's) gains the
    /// accounts; an account it tells of already is not added twice. Returns whether the
    /// event was still leased to the caller (composed by nobody else).
    pub async fn compose_alerts(&self, event: &EventId, messages: &[ComposedAlert]) -> Result<bool, StoreError> {
        let mut tx = self.begin_write().await?;
        let org: Option<String> =
            sqlx::query_scalar("SELECT org_id FROM alert_events WHERE event_id = $1 AND state = 'pending'")
                .bind(event.as_str())
                .fetch_optional(&mut *tx)
                .await?;
        let Some(org) = org else { return Ok(false) };
        let now = now_ms();
        for m in messages {
            sqlx::query(
                "INSERT INTO alert_messages (id, org_id, rule_id, recipient, recipient_name, batch, due_at, state, \
                 attempts, next_attempt_at, lease_until, created_at, updated_at) \
                 SELECT $1, $2, $3, $4, $5, $6, $7, 'pending', 0, $7, 0, $8, $8 \
                 WHERE EXISTS (SELECT 1 FROM alert_rules WHERE id = $3 AND org_id = $2) \
                 ON CONFLICT (rule_id, recipient, batch) DO NOTHING",
            )
            .bind(AlertMessageId::generate().as_str())
            .bind(&org)
            .bind(m.rule.as_str())
            .bind(&m.recipient)
            .bind(&m.recipient_name)
            .bind(&m.batch)
            .bind(m.due_at)
            .bind(now)
            .execute(&mut *tx)
            .await?;
            let id: Option<String> = sqlx::query_scalar(
                "SELECT id FROM alert_messages WHERE rule_id = $1 AND recipient = $2 AND batch = $3 AND state = 'pending'",
            )
            .bind(m.rule.as_str())
            .bind(&m.recipient)
            .bind(&m.batch)
            .fetch_optional(&mut *tx)
            .await?;
            // The rule was deleted meanwhile, or the digest went already (its time passed while
            // this event waited): the accounts go in no message.
            let Some(id) = id else { continue };
            for item in &m.items {
                sqlx::query(
                    "INSERT INTO alert_items (message_id, run_id, account_id, own_segment, partner_segment, change, \
                     payload) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
                )
                .bind(&id)
                .bind(&item.run)
                .bind(&item.account_id)
                .bind(&item.own_segment)
                .bind(&item.partner_segment)
                .bind(item.change.as_str())
                .bind(item.payload.to_string())
                .execute(&mut *tx)
                .await?;
            }
        }
        sqlx::query("UPDATE alert_events SET state = 'composed', lease_until = 0 WHERE event_id = $1")
            .bind(event.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// Leases up to `limit` messages due at `now` for `lease_ms`, with their rule, channel,
    /// secret and accounts.
    pub async fn claim_alerts(&self, now: i64, lease_ms: i64, limit: u32) -> Result<Vec<DueAlert>, StoreError> {
        let candidates = sqlx::query(
            "SELECT id FROM alert_messages WHERE state = 'pending' AND next_attempt_at <= $1 AND lease_until <= $1 \
             ORDER BY next_attempt_at, id LIMIT $2",
        )
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut due = Vec::new();
        for c in candidates {
            let id: String = c.get(0);
            let taken = sqlx::query(
                "UPDATE alert_messages SET lease_until = $1 WHERE id = $2 AND state = 'pending' AND lease_until <= $3",
            )
            .bind(now + lease_ms)
            .bind(&id)
            .bind(now)
            .execute(&self.pool)
            .await?;
            if taken.rows_affected() != 1 {
                continue;
            }
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {MESSAGE_COLUMNS}, r.{}, c.{}, c.secret FROM alert_messages m \
                 JOIN alert_rules r ON r.id = m.rule_id JOIN alert_channels c ON c.id = r.channel_id WHERE m.id = $1",
                RULE_COLUMNS.replace(", ", ", r."),
                CHANNEL_COLUMNS.replace(", ", ", c.")
            )))
            .bind(&id)
            .fetch_one(&self.pool)
            .await?;
            let channel = channel_from_row(&row, 30)?;
            let sealed: Zeroizing<String> = Zeroizing::new(row.get(38));
            let secret = self.keyring().and_then(|k| k.open(&ALERT_SECRETS, channel.id.as_str(), &sealed));
            let items = self.alert_items(&id).await?;
            due.push(DueAlert {
                message: message_from_row(&row, 0)?,
                rule: rule_from_row(&row, 15)?,
                channel,
                secret,
                items,
            });
        }
        Ok(due)
    }

    /// Records an attempt at a leased message: delivered, retried, or given up.
    pub async fn finish_alert(&self, due: &DueAlert, attempt: &AlertAttempt, retry: Retry) -> Result<(), StoreError> {
        let mut tx = self.begin_write().await?;
        let (state, next) = match (attempt.delivered_to.is_some(), retry) {
            (true, _) => ("delivered", attempt.at),
            (false, Retry::At(at)) => ("pending", at),
            (false, Retry::GiveUp) => ("failed", attempt.at),
        };
        sqlx::query(
            "UPDATE alert_messages SET state = $1, attempts = $2, next_attempt_at = $3, lease_until = 0, \
             delivered_to = $4, last_error = $5, updated_at = $6 WHERE id = $7",
        )
        .bind(state)
        .bind(i64::from(attempt.attempt))
        .bind(next)
        .bind(attempt.delivered_to.as_deref())
        .bind(attempt.error.as_deref())
        .bind(attempt.at)
        .bind(due.message.id.as_str())
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO alert_attempts (message_id, attempt, at, status, delivered_to, error, duration_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (message_id, attempt) DO NOTHING",
        )
        .bind(due.message.id.as_str())
        .bind(i64::from(attempt.attempt))
        .bind(attempt.at)
        .bind(attempt.status.map(i64::from))
        .bind(attempt.delivered_to.as_deref())
        .bind(attempt.error.as_deref())
        .bind(i64::try_from(attempt.duration_ms).unwrap_or(i64::MAX))
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// `org`'s latest messages, newest first: one rule's, or one state's, or all.
    pub async fn alert_messages(
        &self,
        org: &OrgId,
        rule: Option<&AlertRuleId>,
        state: Option<AlertState>,
        limit: u32,
    ) -> Result<Vec<AlertMessage>, StoreError> {
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM alert_messages m JOIN alert_rules r ON r.id = m.rule_id \
             WHERE m.org_id = $1 AND ($2 = '' OR m.rule_id = $2) AND ($3 = '' OR m.state = $3) \
             ORDER BY m.created_at DESC, m.id DESC LIMIT $4"
        )))
        .bind(org.as_str())
        .bind(rule.map_or("", AlertRuleId::as_str))
        .bind(state.map_or("", AlertState::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| message_from_row(r, 0)).collect()
    }

    /// The attempts at a message of `org`, oldest first, and the accounts it tells of.
    pub async fn alert_message(
        &self,
        org: &OrgId,
        id: &AlertMessageId,
    ) -> Result<(AlertMessage, Vec<AlertAttempt>, Vec<serde_json::Value>), StoreError> {
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {MESSAGE_COLUMNS} FROM alert_messages m JOIN alert_rules r ON r.id = m.rule_id \
             WHERE m.id = $1 AND m.org_id = $2"
        )))
        .bind(id.as_str())
        .bind(org.as_str())
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NotFound("alert message"))?;
        let message = message_from_row(&row, 0)?;
        let attempts = sqlx::query(
            "SELECT attempt, at, status, delivered_to, error, duration_ms FROM alert_attempts WHERE message_id = $1 \
             ORDER BY attempt",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| AlertAttempt {
            attempt: u32::try_from(r.get::<i64, _>(0)).unwrap_or(0),
            at: r.get(1),
            status: r.get::<Option<i64>, _>(2).and_then(|s| u16::try_from(s).ok()),
            delivered_to: r.get(3),
            error: r.get(4),
            duration_ms: u64::try_from(r.get::<i64, _>(5)).unwrap_or(0),
        })
        .collect();
        let items = self.alert_items(id.as_str()).await?;
        Ok((message, attempts, items))
    }

    /// The accounts message `id` tells of, as composed, in account order.
    async fn alert_items(&self, id: &str) -> Result<Vec<serde_json::Value>, StoreError> {
        sqlx::query(
            "SELECT payload FROM alert_items WHERE message_id = $1 ORDER BY change, account_id, own_segment, \
             partner_segment, run_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| serde_json::from_str(&r.get::<String, _>(0)).map_err(|_| StoreError::Corrupt("alert_items.payload")))
        .collect()
    }
}
