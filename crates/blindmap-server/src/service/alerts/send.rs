//! Sending an alert: Slack's Web API (`users.lookupByEmail`, `chat.postMessage`) with the app's
//! bot token, or a Teams workflow's webhook. Every call goes through the guarded client (names
//! resolve only to addresses the egress policy allows) after the URL itself is checked.
//!
//! Slack answers a refusal with HTTP 200 and `{"ok": false, "error": …}`
//! (api.slack.com/web, "Evaluating responses"), and a rate limit with HTTP 429 and `Retry-After`
//! (api.slack.com/apis/rate-limits). A Teams workflow accepts a post with `202 Accepted`
//! (learn.microsoft.com, "Create incoming webhooks with Workflows for Microsoft Teams").

use std::time::Duration;

use blindmap_store::{AlertChannelKind, AlertRoute, DueAlert};
use serde_json::{Value, json};

use super::messages::{Audience, Outgoing, render};
use crate::service::hooks::WebhookEgress;

/// Longest one call may take.
pub(crate) const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(15);
/// Longest wait a `Retry-After` is followed for (a longer one waits this long).
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// A message that went: where, the last answer's status, and a note (a fallback).
#[derive(Debug, Clone)]
pub(crate) struct Sent {
    pub(crate) to: String,
    pub(crate) status: Option<u16>,
    pub(crate) note: Option<String>,
}

/// A message that did not go: why, and whether trying again can help (and when).
#[derive(Debug, Clone)]
pub(crate) struct Failure {
    pub(crate) status: Option<u16>,
    pub(crate) error: String,
    pub(crate) permanent: bool,
    pub(crate) retry_after: Option<Duration>,
}

impl Failure {
    /// One that retrying cannot mend.
    pub(crate) fn permanent(status: Option<u16>, error: String) -> Self {
        Self { status, error, permanent: true, retry_after: None }
    }

    fn transient(status: Option<u16>, error: String, retry_after: Option<Duration>) -> Self {
        Self { status, error, permanent: false, retry_after }
    }
}

/// `Retry-After` in seconds (RFC 9110 §10.2.3; an HTTP date is taken as a minute).
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let value = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let wait = value.trim().parse::<u64>().map(Duration::from_secs).unwrap_or(Duration::from_secs(60));
    Some(wait.min(RETRY_AFTER_MAX))
}

/// A failed connection or call, before any answer.
fn transport(e: &reqwest::Error, to: &str) -> Failure {
    if crate::service::hooks::is_address_refused(e) {
        return Failure::permanent(None, crate::service::hooks::ADDRESS_REFUSED.to_owned());
    }
    Failure::transient(None, format!("cannot reach {to}: {e}"), None)
}

/// Sends `due` to its channel: in Slack to the owner (found by e-mail) or the fallback channel,
/// in Teams to the workflow (mentioning the owner).
pub(crate) async fn send(
    http: &reqwest::Client,
    egress: &WebhookEgress,
    due: &DueAlert,
    secret: &str,
    public_url: Option<&str>,
) -> Result<Sent, Failure> {
    let owner = (due.rule.route == AlertRoute::Owner && !due.message.recipient.is_empty())
        .then_some((due.message.recipient_name.as_str(), due.message.recipient.as_str()));
    match due.channel.kind {
        AlertChannelKind::Slack => {
            let api = &due.channel.api_url;
            let fallback = &due.channel.fallback_channel;
            let (target, audience, note) = match owner {
                Some((name, email)) => match slack_lookup(http, egress, api, secret, email).await? {
                    Some(user) => (user, Audience::Owner { name, email, reached: true }, None),
                    None if fallback.is_empty() => {
                        return Err(Failure::permanent(
                            None,
                            format!("{email} is not a member of the Slack workspace, and the channel has no fallback"),
                        ));
                    }
                    None => (
                        fallback.clone(),
                        Audience::Owner { name, email, reached: false },
                        Some(format!("{email} is not a member of the Slack workspace: sent to {fallback}")),
                    ),
                },
                None if fallback.is_empty() => {
                    return Err(Failure::permanent(
                        None,
                        "the Slack channel has no fallback channel to send to".into(),
                    ));
                }
                None => (fallback.clone(), Audience::Channel, None),
            };
            let message = render(due, audience, public_url);
            let mut sent = slack_post(http, egress, api, secret, &target, &message).await?;
            sent.note = note;
            Ok(sent)
        }
        AlertChannelKind::Teams => {
            let audience = match owner {
                Some((name, email)) => Audience::Owner { name, email, reached: true },
                None => Audience::Channel,
            };
            teams_post(http, egress, secret, &render(due, audience, public_url)).await
        }
    }
}

/// The id of the Slack member with `email`, or `None` where the workspace has none (or only a
/// deactivated one). `users.lookupByEmail` (api.slack.com/methods/users.lookupByEmail): a GET
/// with `email` in the query; `users_not_found` where nobody has it.
async fn slack_lookup(
    http: &reqwest::Client,
    egress: &WebhookEgress,
    api: &str,
    token: &str,
    email: &str,
) -> Result<Option<String>, Failure> {
    let mut url =
        egress.check(&format!("{api}users.lookupByEmail")).map_err(|e| Failure::permanent(None, e.to_string()))?;
    url.query_pairs_mut().append_pair("email", email);
    let response = http.get(url).bearer_auth(token).send().await.map_err(|e| transport(&e, "Slack"))?;
    let answer = slack_answer(response).await?;
    match answer {
        Ok(body) if body["user"]["deleted"].as_bool() == Some(true) => Ok(None),
        Ok(body) => match body["user"]["id"].as_str() {
            Some(id) if !id.is_empty() => Ok(Some(id.to_owned())),
            _ => Err(Failure::transient(None, "Slack's answer to users.lookupByEmail has no user id".into(), None)),
        },
        Err((error, _)) if error == "users_not_found" => Ok(None),
        Err((error, body)) => Err(slack_refusal(&error, &body)),
    }
}

/// Posts `message` to a Slack conversation (a channel id, or a member id: the app's DM with
/// them), as JSON with the bearer token (api.slack.com/methods/chat.postMessage).
pub(crate) async fn slack_post(
    http: &reqwest::Client,
    egress: &WebhookEgress,
    api: &str,
    token: &str,
    channel: &str,
    message: &Outgoing,
) -> Result<Sent, Failure> {
    let url = format!("{api}chat.postMessage");
    egress.check(&url).map_err(|e| Failure::permanent(None, e.to_string()))?;
    let body = json!({ "channel": channel, "text": message.text, "blocks": message.blocks,
        "unfurl_links": false, "unfurl_media": false });
    let response = http
        .post(&url)
        .bearer_auth(token)
        .header(reqwest::header::CONTENT_TYPE, "application/json; charset=utf-8")
        .body(body.to_string())
        .send()
        .await
        .map_err(|e| transport(&e, "Slack"))?;
    match slack_answer(response).await? {
        Ok(_) => Ok(Sent { to: format!("slack:{channel}"), status: Some(200), note: None }),
        Err((error, body)) => Err(slack_refusal(&error, &body)),
    }
}

/// A Slack answer: its body if `ok`, its `error` and body if not; a failure for a rate limit, a
/// server error or an answer that is not Slack's JSON.
async fn slack_answer(response: reqwest::Response) -> Result<Result<Value, (String, Value)>, Failure> {
    let status = response.status();
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        let wait = retry_after(&response);
        return Err(Failure::transient(Some(429), "Slack rate-limited the call".into(), wait));
    }
    if !status.is_success() {
        let error = format!("Slack answered {status}");
        return Err(if status.is_server_error() {
            Failure::transient(Some(status.as_u16()), error, None)
        } else {
            Failure::permanent(Some(status.as_u16()), error)
        });
    }
    let body: Value = response
        .json()
        .await
        .map_err(|e| Failure::transient(Some(status.as_u16()), format!("Slack's answer is not JSON: {e}"), None))?;
    if body["ok"].as_bool() == Some(true) {
        return Ok(Ok(body));
    }
    let error = body["error"].as_str().unwrap_or("unknown_error").to_owned();
    Ok(Err((error, body)))
}

/// Slack's `error`, in words, and whether retrying can help: the errors Slack lists as
/// transient are retried (api.slack.com/methods/chat.postMessage, "Errors").
fn slack_refusal(error: &str, body: &Value) -> Failure {
    let words = match error {
        "ratelimited" | "internal_error" | "fatal_error" | "service_unavailable" | "request_timeout" => {
            return Failure::transient(Some(200), format!("Slack could not take the call now ({error})"), None);
        }
        "not_in_channel" => "the Slack app is not in the channel: invite it there (/invite @app)".to_owned(),
        "channel_not_found" => "Slack has no channel of that id the app can see".to_owned(),
        "is_archived" => "the Slack channel is archived".to_owned(),
        "invalid_auth" | "not_authed" | "token_revoked" | "token_expired" | "account_inactive" => {
            format!("Slack refused the app's token ({error}): add the channel again with a valid bot token")
        }
        "missing_scope" => format!(
            "the Slack app lacks the scope {} (it needs chat:write, users:read and users:read.email)",
            body["needed"].as_str().unwrap_or("it needs")
        ),
        "invalid_blocks" | "invalid_blocks_format" => {
            let why: Vec<&str> = body["response_metadata"]["messages"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            format!("Slack refused the message's blocks: {}", why.join("; "))
        }
        other => format!("Slack refused the call: {other}"),
    };
    Failure::permanent(Some(200), words)
}

/// Posts `message`'s card to a Teams workflow's webhook.
pub(crate) async fn teams_post(
    http: &reqwest::Client,
    egress: &WebhookEgress,
    url: &str,
    message: &Outgoing,
) -> Result<Sent, Failure> {
    egress.check(url).map_err(|e| Failure::permanent(None, e.to_string()))?;
    let response = http
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(message.teams.to_string())
        .send()
        .await
        .map_err(|e| transport(&e, "the Teams workflow"))?;
    let status = response.status();
    if status.is_success() {
        return Ok(Sent { to: "teams:workflow".into(), status: Some(status.as_u16()), note: None });
    }
    let wait = retry_after(&response);
    let said: String = response.text().await.unwrap_or_default().chars().take(300).collect();
    let error = format!("the Teams workflow answered {status}: {}", said.trim());
    Err(match status.as_u16() {
        408 | 429 | 500..=599 => Failure::transient(Some(status.as_u16()), error, wait),
        _ => Failure::permanent(Some(status.as_u16()), error),
    })
}
