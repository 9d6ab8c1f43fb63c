//! Alerts to the account owner (issue 18): overlap changes sent to the people who own the
//! accounts, in Slack or Microsoft Teams, by rules each organisation sets.
//!
//! - **Channels** are where alerts go: a Slack workspace (its app's bot token; the channel to
//!   fall back to) or a Teams workflow (its webhook URL). Their secrets are sealed in the store
//!   and never shown again; their URLs obey the node's webhook egress policy.
//! - **Rules** select changes (a partnership or any; an own and a partner segment or any; new,
//!   lost or both; a tier or any) and send them to each account's owner (found in Slack by
//!   e-mail, mentioned in Teams) or to the channel, at once or in a daily digest.
//! - **The outbox.** An `overlap.changed` event of an organisation with rules is marked for
//!   alerts in its own transaction; a replica leases it and composes its messages from the run's
//!   stored changes (all of them, not only those the event names) in one transaction; replicas
//!   lease due messages, send them, and log each attempt — retried with the webhooks' backoff,
//!   given up after as many attempts, a refusal that retrying cannot mend given up at once.
//!
//! A message carries what the changes API shows this side — its account's name and owner, the
//! segments, the tier, and the fields the partner's policy disclosed — and nothing more.

mod messages;
mod send;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use blindmap_cosell::webhook::DeliveryPolicy;
use blindmap_store::{
    AlertAttempt, AlertChanges, AlertChannel, AlertChannelId, AlertChannelKind, AlertItem, AlertMode, AlertRoute,
    AlertRule, AlertRuleId, ChangeCursor, ChangeFilter, ComposedAlert, DueAlert, Event, NewAlertChannel, NewAlertRule,
    PartnershipId, Retry, RunId, ScheduleKind, Store, StoreError, Tier, User,
};
use serde_json::{Value, json};
use tokio::sync::watch;

use super::hooks::WebhookEgress;

/// Slack's Web API (api.slack.com/web): where a Slack channel calls unless told otherwise.
pub(crate) const SLACK_API: &str = "https://slack.com/api/";

/// Why a channel or rule cannot be made, or a test not tried. `http::error` maps each: `Invalid`
/// → 422; the store's own (no such channel → 404, a name taken → 409).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum AlertError {
    /// A value the node refuses, with why.
    #[error("{0}")]
    Invalid(String),
    /// The store failed or refused.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// A channel to add, as an admin gives it.
#[derive(Debug, Clone)]
pub(crate) enum ChannelSpec {
    /// A Slack workspace.
    Slack {
        /// The app's bot token (`xoxb-…`).
        token: String,
        /// The Web API's base URL; Slack's own if `None`.
        api_url: Option<String>,
        /// The channel id (`C…` or `G…`) messages fall back to; none if `None`.
        fallback_channel: Option<String>,
    },
    /// A Teams workflow ("Post to a channel when a webhook request is received").
    Teams {
        /// Its webhook URL.
        workflow_url: String,
    },
}

/// Adds a channel of the actor's organisation, checked: a Slack bot token, a Slack channel id, and
/// URLs the node's egress policy allows. The secret is sealed; it is never shown again.
pub(crate) async fn add_channel(
    store: &Store,
    egress: &WebhookEgress,
    actor: &User,
    name: &str,
    spec: &ChannelSpec,
) -> Result<AlertChannel, AlertError> {
    let refused = |what: &str, e: super::hooks::Refusal| AlertError::Invalid(format!("{what}: {e}"));
    let (kind, api_url, secret, fallback) = match spec {
        ChannelSpec::Slack { token, api_url, fallback_channel } => {
            let token = token.trim();
            if !token.starts_with("xoxb-") || token.len() > 255 || token.chars().any(|c| c.is_whitespace()) {
                return Err(AlertError::Invalid(
                    "token must be the Slack app's bot token (xoxb-…, from its OAuth & Permissions page)".into(),
                ));
            }
            let mut url = api_url.clone().unwrap_or_else(|| SLACK_API.to_owned());
            if !url.ends_with('/') {
                url.push('/');
            }
            let url = egress.check(&url).map_err(|e| refused("api_url", e))?;
            let fallback = fallback_channel.as_deref().unwrap_or_default().trim();
            if !fallback.is_empty() && !is_slack_channel_id(fallback) {
                return Err(AlertError::Invalid(format!(
                    "fallback_channel must be a Slack channel id such as C0123ABCDEF (in Slack: the channel's details, \
                     at the bottom), not {fallback:?}"
                )));
            }
            (AlertChannelKind::Slack, url.to_string(), token.to_owned(), fallback.to_owned())
        }
        ChannelSpec::Teams { workflow_url } => {
            let url = egress.check(workflow_url.trim()).map_err(|e| refused("workflow_url", e))?;
            (AlertChannelKind::Teams, String::new(), url.to_string(), String::new())
        }
    };
    let new = NewAlertChannel { name, kind, api_url: &api_url, secret: &secret, fallback_channel: &fallback };
    let channel = store.create_alert_channel(&actor.org, &actor.name, &new).await?;
    let detail = json!({ "channel": channel.id.as_str(), "name": channel.name, "kind": kind.as_str() });
    store.record_audit(&actor.org, &actor.name, "alert.channel_added", &detail).await?;
    Ok(channel)
}

/// A Slack conversation id: an upper-case letter and digits, as Slack writes them (`C…`
/// public, `G…` private).
fn is_slack_channel_id(text: &str) -> bool {
    (9..=24).contains(&text.len())
        && text.starts_with(['C', 'G'])
        && text.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// Removes a channel no rule sends to.
pub(crate) async fn delete_channel(store: &Store, actor: &User, id: &AlertChannelId) -> Result<(), AlertError> {
    store.delete_alert_channel(&actor.org, id).await?;
    store.record_audit(&actor.org, &actor.name, "alert.channel_removed", &json!({ "channel": id.as_str() })).await?;
    Ok(())
}

/// Sends a test message to a channel now (to Slack's fallback channel, or to the workflow), so
/// that an admin sees the channel works: where it went, or why not. Not through the outbox: the
/// answer is the admin's.
pub(crate) async fn test_channel(
    store: &Store,
    egress: Arc<WebhookEgress>,
    public_url: Option<&str>,
    actor: &User,
    id: &AlertChannelId,
) -> Result<Result<String, String>, AlertError> {
    let (channel, secret) = store.alert_channel_secret(&actor.org, id).await?;
    let http = super::hooks::guarded_client(egress.clone(), send::ATTEMPT_TIMEOUT);
    let message = messages::test_message(&channel, &actor.name, public_url);
    let sent = match channel.kind {
        AlertChannelKind::Slack if channel.fallback_channel.is_empty() => {
            return Err(AlertError::Invalid(
                "the channel has no fallback Slack channel to send a test to; owners get alerts by rules".into(),
            ));
        }
        AlertChannelKind::Slack => {
            send::slack_post(&http, &egress, &channel.api_url, &secret, &channel.fallback_channel, &message).await
        }
        AlertChannelKind::Teams => send::teams_post(&http, &egress, &secret, &message).await,
    };
    let detail = json!({ "channel": id.as_str(), "ok": sent.is_ok() });
    store.record_audit(&actor.org, &actor.name, "alert.tested", &detail).await?;
    Ok(sent.map(|s| s.to).map_err(|f| f.error))
}

/// A rule to make, as a user gives it.
#[derive(Debug, Clone)]
pub(crate) struct RuleSpec {
    /// Its name.
    pub(crate) name: String,
    /// The channel: its id or its name.
    pub(crate) channel: String,
    /// A partnership's id, or any.
    pub(crate) partnership: Option<PartnershipId>,
    /// An own segment, or any.
    pub(crate) own_segment: Option<String>,
    /// A partner segment, or any.
    pub(crate) partner_segment: Option<String>,
    /// New, lost or both.
    pub(crate) changes: AlertChanges,
    /// A tier, or any.
    pub(crate) tier: Option<Tier>,
    /// To owners or the channel.
    pub(crate) route: AlertRoute,
    /// At once, or a daily digest at minutes after midnight in a zone.
    pub(crate) digest: Option<(u32, String)>,
}

/// Makes a rule of the actor's organisation.
pub(crate) async fn add_rule(store: &Store, actor: &User, spec: RuleSpec) -> Result<AlertRule, AlertError> {
    let channels = store.alert_channels(&actor.org).await?;
    let channel = channels
        .iter()
        .find(|c| c.id.as_str() == spec.channel || c.name == spec.channel)
        .ok_or(StoreError::NotFound("alert channel"))?;
    let mode = match spec.digest {
        None => AlertMode::Immediate,
        Some((at_minute, zone)) => {
            super::schedules::check(&ScheduleKind::Daily { at_minute, zone: zone.clone() })
                .map_err(|e| AlertError::Invalid(e.to_string()))?;
            AlertMode::Digest { minute: u16::try_from(at_minute).unwrap_or(0), zone }
        }
    };
    if spec.route == AlertRoute::Channel
        && channel.kind == AlertChannelKind::Slack
        && channel.fallback_channel.is_empty()
    {
        return Err(AlertError::Invalid(format!(
            "the rule sends to the channel, and {:?} has no fallback Slack channel: add one, or send to owners",
            channel.name
        )));
    }
    let segment = |s: Option<String>| s.map(|s| s.trim().to_owned()).filter(|s| s != "*").unwrap_or_default();
    let new = NewAlertRule {
        name: spec.name,
        channel: channel.id.clone(),
        partnership: spec.partnership,
        own_segment: segment(spec.own_segment),
        partner_segment: segment(spec.partner_segment),
        changes: spec.changes,
        tier: spec.tier,
        route: spec.route,
        mode,
    };
    let rule = store.create_alert_rule(&actor.org, &actor.name, &new).await?;
    let detail = json!({ "rule": rule.id.as_str(), "name": rule.name, "channel": channel.name });
    store.record_audit(&actor.org, &actor.name, "alert.rule_added", &detail).await?;
    Ok(rule)
}

/// Deletes a rule, with its messages.
pub(crate) async fn delete_rule(store: &Store, actor: &User, id: &AlertRuleId) -> Result<(), AlertError> {
    store.delete_alert_rule(&actor.org, id).await?;
    store.record_audit(&actor.org, &actor.name, "alert.rule_removed", &json!({ "rule": id.as_str() })).await?;
    Ok(())
}

/// Whether `rule` sends a change.
fn selects(rule: &AlertRule, partnership: &PartnershipId, change: &Value) -> bool {
    let text = |k: &str| change[k].as_str().unwrap_or_default();
    let kind = blindmap_store::ChangeKind::parse(text("change"));
    rule.partnership.as_ref().is_none_or(|p| p == partnership)
        && (rule.own_segment.is_empty() || rule.own_segment == text("own_segment"))
        && (rule.partner_segment.is_empty() || rule.partner_segment == text("partner_segment"))
        && kind.is_some_and(|k| rule.changes.admits(k))
        && rule.tier.is_none_or(|t| t.as_str() == text("tier"))
}

/// The messages the rules make of one run's changes: one per rule and recipient, in the run's
/// batch or the digest due next after `now`.
pub(crate) fn compose(
    rules: &[AlertRule],
    event: &Event,
    partnership: &PartnershipId,
    run: &str,
    changes: &[Value],
    now: i64,
) -> Vec<ComposedAlert> {
    let mut out = Vec::new();
    for rule in rules {
        let (batch, due_at) = match &rule.mode {
            AlertMode::Immediate => (event.id.to_string(), now),
            AlertMode::Digest { minute, zone } => {
                let daily = ScheduleKind::Daily { at_minute: u32::from(*minute), zone: zone.clone() };
                let Some(at) = super::schedules::next_due(&daily, now) else { continue };
                (format!("digest:{at}"), at)
            }
        };
        let mut by_recipient: BTreeMap<String, ComposedAlert> = BTreeMap::new();
        for change in changes.iter().filter(|c| selects(rule, partnership, c)) {
            let email = change["owner_email"].as_str().unwrap_or_default().trim().to_lowercase();
            let (recipient, name) = match rule.route {
                AlertRoute::Owner if !email.is_empty() => (email, change["owner"].as_str().unwrap_or_default()),
                _ => (String::new(), ""),
            };
            let message = by_recipient.entry(recipient.clone()).or_insert_with(|| ComposedAlert {
                rule: rule.id.clone(),
                recipient,
                recipient_name: name.to_owned(),
                batch: batch.clone(),
                due_at,
                items: Vec::new(),
            });
            message.items.push(AlertItem {
                run: run.to_owned(),
                account_id: change["account_id"].as_str().unwrap_or_default().to_owned(),
                own_segment: change["own_segment"].as_str().unwrap_or_default().to_owned(),
                partner_segment: change["partner_segment"].as_str().unwrap_or_default().to_owned(),
                change: blindmap_store::ChangeKind::parse(change["change"].as_str().unwrap_or_default())
                    .unwrap_or(blindmap_store::ChangeKind::New),
                payload: change.clone(),
            });
        }
        out.extend(by_recipient.into_values());
    }
    out
}

/// Changes read per page while composing.
const CHANGES_PAGE: u32 = 1000;

/// Composes the alerts of one leased event: reads its run's changes (every page) and the
/// organisation's rules, and records the messages. An event of a kind or shape that makes no
/// alerts is recorded as composed with none.
async fn compose_event(store: &Store, event: &Event) -> Result<usize, StoreError> {
    let run = event.payload["run"].as_str().and_then(RunId::parse);
    let partnership = event.payload["partnership"].as_str().and_then(PartnershipId::parse);
    let (Some(run), Some(partnership)) = (run, partnership) else {
        store.compose_alerts(&event.id, &[]).await?;
        return Ok(0);
    };
    let rules = store.alert_rules(&event.org).await?;
    let filter = ChangeFilter { run: Some(run.clone()), ..ChangeFilter::default() };
    let mut changes = Vec::new();
    let mut cursor: Option<ChangeCursor> = None;
    loop {
        let page = store.account_changes(&event.org, &filter, cursor.as_ref(), CHANGES_PAGE).await?;
        let full = page.len() == CHANGES_PAGE as usize;
        for c in &page {
            let mut v = super::runs::change_json(&c.change);
            v["partner"] = json!(c.partner_name);
            v["partnership"] = json!(c.partnership.as_str());
            v["run"] = json!(c.run.as_str());
            changes.push(v);
        }
        cursor = page.last().map(ChangeCursor::after);
        if !full {
            break;
        }
    }
    let composed = compose(&rules, event, &partnership, run.as_str(), &changes, crate::now_ms());
    store.compose_alerts(&event.id, &composed).await?;
    Ok(composed.len())
}

/// How long a lease on an event or a message lasts: longer than composing or sending takes.
const LEASE_MS: i64 = 60_000;
/// How often an idle worker looks for work.
const POLL: Duration = Duration::from_millis(500);
/// Messages taken per look.
const BATCH: u32 = 16;

/// Composes and sends alerts, where the node's webhook egress policy permits, until `stop`
/// turns true; the messages' links point at the node's public URL.
pub(crate) async fn run_worker(
    store: Store,
    policy: DeliveryPolicy,
    node: Arc<crate::NodeContext>,
    mut stop: watch::Receiver<bool>,
) {
    let egress = node.webhooks.clone();
    let public_url = &node.public_url;
    let http = super::hooks::guarded_client(egress.clone(), send::ATTEMPT_TIMEOUT);
    loop {
        let mut busy = false;
        match store.claim_alert_event(crate::now_ms(), LEASE_MS).await {
            Ok(Some(event)) => {
                busy = true;
                if let Err(e) = compose_event(&store, &event).await {
                    tracing::warn!(event = %event.id, error = %e, "cannot compose an event's alerts");
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "cannot look for events to alert on"),
        }
        let due = match store.claim_alerts(crate::now_ms(), LEASE_MS, BATCH).await {
            Ok(due) => due,
            Err(e) => {
                tracing::warn!(error = %e, "cannot look for alerts to send");
                Vec::new()
            }
        };
        busy |= !due.is_empty();
        let link = public_url.get().map(String::as_str);
        let sends = due.iter().map(|d| async {
            let (attempt, retry) = deliver(&http, &egress, &policy, d, link).await;
            if let Some(error) = &attempt.error {
                tracing::info!(message = %d.message.id, attempt = attempt.attempt, error = %error, "alert attempt");
            }
            if let Err(e) = store.finish_alert(d, &attempt, retry).await {
                tracing::warn!(error = %e, "cannot record an alert's attempt");
            }
        });
        futures_util::future::join_all(sends).await;
        if !busy {
            tokio::select! {
                _ = tokio::time::sleep(POLL) => {}
                _ = stop.wait_for(|s| *s) => return,
            }
        } else if *stop.borrow() {
            return;
        }
    }
}

/// One attempt at a message, and what to do after it.
async fn deliver(
    http: &reqwest::Client,
    egress: &WebhookEgress,
    policy: &DeliveryPolicy,
    due: &DueAlert,
    public_url: Option<&str>,
) -> (AlertAttempt, Retry) {
    let started = Instant::now();
    let at = crate::now_ms();
    let attempt = due.message.attempts + 1;
    let outcome = match &due.secret {
        Err(e) => Err(send::Failure::permanent(None, format!("the channel's secret is unusable: {e}"))),
        Ok(secret) => send::send(http, egress, due, secret, public_url).await,
    };
    let (delivered_to, status, error, retry) = match outcome {
        Ok(sent) => (Some(sent.to), sent.status, sent.note, Retry::GiveUp),
        Err(f) => {
            let retry = match f.retry_after {
                _ if f.permanent || !policy.retries(attempt) => Retry::GiveUp,
                Some(after) => Retry::At(at + after.as_millis() as i64),
                None => Retry::At(at + policy.delay(attempt, rand::random::<f64>()).as_millis() as i64),
            };
            (None, f.status, Some(f.error), retry)
        }
    };
    let done =
        AlertAttempt { attempt, at, status, delivered_to, error, duration_ms: started.elapsed().as_millis() as u64 };
    (done, retry)
}
