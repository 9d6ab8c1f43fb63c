//! A Microsoft Teams channel's Workflows webhook: the Power Automate flow "Post to a channel
//! when a webhook request is received", which replaces the retired Office 365 "Incoming
//! Webhook" connector. References (learn.microsoft.com unless said otherwise; each check below
//! names its page):
//! - The URL Power Automate issues: `…/workflows/{id}/triggers/manual/paths/invoke?api-version=
//!   2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=…` — a Logic Apps request trigger whose
//!   `sig` is a shared-access signature over the rest (Azure Logic Apps, "Secure access and
//!   data": "Shared Access Signature (SAS)" of request triggers). Without it: `401
//!   {"error":{"code":"DirectApiAuthorizationRequired","message":"The request must be
//!   authenticated only by Shared Access scheme."}}` (quoted in MicrosoftDocs/azure-docs issue
//!   #60706); a wrong one `401 DirectApiInvalidAuthorizationSignature`, and a workflow that does
//!   not exist `404 WorkflowNotFound` — those two codes as we know the live service; the stored
//!   docs do not show them.
//! - The body (`microsoftteams/platform/webhooks-and-connectors/how-to/connectors-using`, "Send
//!   Adaptive Cards using an Incoming Webhook", which the Workflows template reads the same way):
//!   `{"type":"message","attachments":[{"contentType":"application/vnd.microsoft.card.adaptive",
//!   "contentUrl":null,"content":{…}}]}` — "The `"type"` field must be `"message"`", "The
//!   `"attachments"` array contains a set of card objects", "The `"contentType"` field must be
//!   set to Adaptive Card type", "The `"content"` object is the card formatted in JSON"; of the
//!   actions only `Action.OpenUrl`, `Action.ShowCard` and `Action.ToggleVisibility` ("All native
//!   Adaptive Card schema elements, except `Action.Submit`, are fully supported").
//! - Size: "The message size limit is 28 KB. When the size exceeds 28 KB, you receive an error"
//!   (`…/how-to/add-incoming-webhook`); the Teams connector's known limitations (`connectors/
//!   teams`): "When the size of a message exceeds 28 KB, the action fails with the error:
//!   Request Entity too large".
//! - The card: Adaptive Cards schema (adaptivecards.io/explorer) for the elements; "Teams is
//!   also limited to version 1.5" (`microsoft-copilot-studio/guidance/adaptive-cards-overview`);
//!   `msteams.width: "Full"` and mentions (`microsoftteams/platform/task-modules-and-cards/cards/
//!   cards-format`, "Full width Adaptive Card" and "Mention support within Adaptive Cards").
//!
//! The live service answers `202 Accepted` as soon as the flow is triggered, and a card it
//! cannot post fails the flow's run afterwards, where the sender never sees it. The emulator
//! checks the card up front and refuses it with `400` (or `413` past the size limit), so that a
//! test of the node fails where Teams would silently drop the alert.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::rand::{SecureRandom, SystemRandom};
use serde_json::{Map, Value, json};

/// The latest Adaptive Card version Teams renders: "Teams is also limited to version 1.5".
pub const MAX_CARD_VERSION: (u32, u32) = (1, 5);
/// The largest request body, in bytes: "The message size limit is 28 KB".
pub const MAX_BODY_BYTES: usize = 28 * 1024;
/// The `api-version` Power Automate puts in a Workflows webhook's URL.
const API_VERSION: &str = "2016-06-01";
/// The `sp` (permissions) and `sv` (signature version) of that URL.
const SP: &str = "/triggers/manual/run";
const SV: &str = "1.0";
/// The attachment content type of an Adaptive Card.
const ADAPTIVE_CARD: &str = "application/vnd.microsoft.card.adaptive";

/// Teams Workflows webhooks on loopback: the workflows issued with [`Teams::workflow_url`] and
/// the cards posted to them. Clones share the same state.
#[derive(Clone, Default)]
pub struct Teams {
    state: Arc<Mutex<Flows>>,
}

/// The webhooks' state, which a test changes through [`Teams`]'s methods.
#[derive(Default)]
struct Flows {
    /// Each workflow's ID and the `sig` of its URL.
    workflows: BTreeMap<String, String>,
    posts: Vec<Value>,
    /// The status the next posts answer, and for how many posts.
    failing: Option<(u16, u32)>,
}

impl Teams {
    /// No workflows yet: issue one with [`Teams::workflow_url`].
    pub fn new() -> Self {
        Self::default()
    }

    /// The route every workflow's trigger is served at:
    /// `POST /workflows/{id}/triggers/manual/paths/invoke`.
    pub fn router(&self) -> Router {
        Router::new().route("/workflows/{id}/triggers/manual/paths/invoke", post(invoke)).with_state(self.clone())
    }

    /// A new workflow's webhook URL under `base` (what `serve` returned), with the query Power
    /// Automate gives: `api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=…`, the
    /// workflow's ID and signature random.
    pub fn workflow_url(&self, base: &str) -> String {
        let random = SystemRandom::new();
        let mut id = [0u8; 16];
        let mut sig = [0u8; 32];
        random.fill(&mut id).expect("the system's randomness");
        random.fill(&mut sig).expect("the system's randomness");
        let id: String = id.iter().map(|b| format!("{b:02x}")).collect();
        let sig = URL_SAFE_NO_PAD.encode(sig);
        self.lock().workflows.insert(id.clone(), sig.clone());
        format!(
            "{}/workflows/{id}/triggers/manual/paths/invoke?api-version={API_VERSION}&sp=%2Ftriggers%2Fmanual%2Frun&sv={SV}&sig={sig}",
            base.trim_end_matches('/'),
        )
    }

    /// The Adaptive Cards accepted (each attachment's `content`), in order.
    pub fn posts(&self) -> Vec<Value> {
        self.lock().posts.clone()
    }

    /// Answers the next `calls` posts that reach a workflow with `status` (e.g. `429`, which
    /// comes with `Retry-After: 1`, or `500`) before reading their body.
    pub fn fail_next(&self, status: u16, calls: u32) {
        self.lock().failing = (calls > 0).then_some((status, calls));
    }

    fn lock(&self) -> MutexGuard<'_, Flows> {
        // A test that panicked while holding the lock leaves data that is still worth reading.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A workflow's trigger: the URL's signature, injected failures, the size limit, then the
/// message and its cards.
async fn invoke(
    State(teams): State<Teams>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut flows = teams.lock();
    let query: BTreeMap<String, String> = url::form_urlencoded::parse(query.unwrap_or_default().as_bytes())
        .map(|(name, value)| (name.into_owned(), value.into_owned()))
        .collect();
    let given = |name: &str| query.get(name).map(String::as_str).unwrap_or_default();
    if given("api-version").is_empty() {
        return error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    }
    let Some(signature) = flows.workflows.get(&id) else {
        return error(StatusCode::NOT_FOUND, "WorkflowNotFound", &format!("The workflow '{id}' could not be found."));
    };
    if given("sig").is_empty() {
        return error(
            StatusCode::UNAUTHORIZED,
            "DirectApiAuthorizationRequired",
            "The request must be authenticated only by Shared Access scheme.",
        );
    }
    // The signature covers the permissions and version too: any of them changed, it fails.
    if given("sig") != signature || given("sp") != SP || given("sv") != SV || given("api-version") != API_VERSION {
        return error(
            StatusCode::UNAUTHORIZED,
            "DirectApiInvalidAuthorizationSignature",
            "The provided authorization signature is not valid for this workflow trigger.",
        );
    }
    if let Some((status, calls)) = flows.failing {
        flows.failing = (calls > 1).then_some((status, calls - 1));
        return injected_failure(status);
    }
    if body.len() > MAX_BODY_BYTES {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestEntityTooLarge",
            &format!(
                "The request body is {} bytes; a Teams message may be at most 28 KB ({MAX_BODY_BYTES} bytes).",
                body.len()
            ),
        );
    }
    let content_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    if !media_type.eq_ignore_ascii_case("application/json") {
        return schema_mismatch(&format!("Content-Type must be application/json, not '{content_type}'"));
    }
    let message: Value = match serde_json::from_slice(&body) {
        Ok(message) => message,
        Err(e) => return schema_mismatch(&format!("the body is not JSON: {e}")),
    };
    if let Err(problem) = validate_message(&message) {
        return schema_mismatch(&problem);
    }
    let cards = message["attachments"].as_array().into_iter().flatten().map(|a| a["content"].clone());
    flows.posts.extend(cards);
    StatusCode::ACCEPTED.into_response()
}

/// A Logic Apps error answer: `{"error":{"code":…,"message":…}}`.
fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (status, Json(json!({ "error": { "code": code, "message": message } }))).into_response()
}

/// `400` for a body the flow cannot post, worded as Logic Apps words a request that does not
/// match its trigger's schema, with what was wrong and where.
fn schema_mismatch(problem: &str) -> Response {
    let message = format!(
        "The input body for trigger 'manual' of type 'Request' did not match its schema definition. Error details: '{problem}'."
    );
    error(StatusCode::BAD_REQUEST, "TriggerInputSchemaMismatch", &message)
}

/// The answer [`Teams::fail_next`] asked for; a `429` says `Retry-After: 1`.
fn injected_failure(status: u16) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let reason = status.canonical_reason().unwrap_or("Error");
    let code: String = reason.split_whitespace().collect();
    let mut response = error(status, &code, &format!("Emulated failure: {reason}."));
    if status == StatusCode::TOO_MANY_REQUESTS {
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    response
}

/// Checks a Workflows webhook's body: a `message` whose `attachments` are Adaptive Cards that
/// Teams renders, each checked by [`validate_card`]. The first problem found, as
/// `/json/pointer: what is wrong`.
///
/// References: "Send Adaptive Cards using an Incoming Webhook" (the body's shape, the supported
/// actions); "Mention support within Adaptive Cards" (the mentions).
pub fn validate_message(message: &Value) -> Result<(), String> {
    let fields = object(message, "")?;
    if fields.get("type").and_then(Value::as_str) != Some("message") {
        return problem("/type", "must be \"message\"");
    }
    let Some(Value::Array(attachments)) = fields.get("attachments") else {
        return problem("/attachments", "must be an array of Adaptive Card attachments");
    };
    if attachments.is_empty() {
        return problem("/attachments", "must hold at least one card");
    }
    for (i, attachment) in attachments.iter().enumerate() {
        let path = format!("/attachments/{i}");
        let attachment = object(attachment, &path)?;
        if attachment.get("contentType").and_then(Value::as_str) != Some(ADAPTIVE_CARD) {
            return problem(format!("{path}/contentType"), format!("must be \"{ADAPTIVE_CARD}\""));
        }
        // The documented body sends `"contentUrl": null`; a card given by URL is not posted.
        if attachment.get("contentUrl").is_some_and(|u| !u.is_null()) {
            return problem(format!("{path}/contentUrl"), "must be null: the card goes in content");
        }
        let Some(card) = attachment.get("content") else {
            return problem(format!("{path}/content"), "must hold the Adaptive Card");
        };
        validate_card(card, &format!("{path}/content"))?;
    }
    Ok(())
}

/// Checks one Adaptive Card at `path` against what Teams renders: `type` `AdaptiveCard`, a
/// `version` no later than [`MAX_CARD_VERSION`], a `body` of known elements and optional
/// `actions`, `msteams.width` `Full` if set, and mentions that Teams can resolve.
///
/// Elements (adaptivecards.io/explorer): `TextBlock` with a non-empty `text`; `FactSet` with
/// `facts` of `{title, value}` strings; `ColumnSet` of `Column`s with `items`; `Container`
/// with `items`; `Image` with an absolute `url`; `ActionSet` with `actions`. Actions:
/// `Action.OpenUrl` with a `title` and an absolute `url`, `Action.ShowCard` with a `card`,
/// `Action.ToggleVisibility` with `targetElements`; `Action.Submit` and `Action.Execute` are
/// refused, webhooks having no bot to receive them.
///
/// Mentions ("Mention support within Adaptive Cards"): each `<at>…</at>` in a `TextBlock`'s
/// text or a fact's title or value needs a `msteams.entities` item `{"type":"mention","text":
/// "<at>…</at>","mentioned":{"id","name"}}` with exactly that text, and each entity's text must
/// occur in the card — Teams shows an unmatched `<at>` as plain text and ignores an unused
/// entity, so nobody is notified. `mentioned.id` is a UPN (e-mail) or a Microsoft Entra
/// (Azure AD) object ID, the two "Connectors with Incoming Webhooks support", or a Teams user
/// ID (`29:…`).
pub fn validate_card(card: &Value, path: &str) -> Result<(), String> {
    let fields = object(card, path)?;
    if fields.get("type").and_then(Value::as_str) != Some("AdaptiveCard") {
        return problem(format!("{path}/type"), "must be \"AdaptiveCard\"");
    }
    let Some(version) = fields.get("version").and_then(Value::as_str) else {
        return problem(format!("{path}/version"), "must be a version string such as \"1.5\"");
    };
    let Some(parsed) = parse_version(version) else {
        return problem(format!("{path}/version"), format!("\"{version}\" is not a version such as \"1.5\""));
    };
    if parsed > MAX_CARD_VERSION {
        let (major, minor) = MAX_CARD_VERSION;
        return problem(
            format!("{path}/version"),
            format!("{version} is later than {major}.{minor}, the latest Teams renders"),
        );
    }
    let mut texts = Vec::new();
    let shown = card_contents(fields, path, &mut texts)?;
    if shown == 0 {
        return problem(format!("{path}/body"), "the card has nothing to show");
    }
    let entities = match fields.get("msteams") {
        None => Vec::new(),
        Some(msteams) => teams_properties(msteams, &format!("{path}/msteams"))?,
    };
    check_mentions(&texts, &entities)
}

/// A card's (or a shown card's) `body` and `actions`; how many there are.
fn card_contents(card: &Map<String, Value>, path: &str, texts: &mut Vec<(String, String)>) -> Result<usize, String> {
    let mut count = 0;
    if let Some(body) = card.get("body") {
        let elements = list(body, &format!("{path}/body"))?;
        for (i, element) in elements.iter().enumerate() {
            check_element(element, &format!("{path}/body/{i}"), texts)?;
        }
        count += elements.len();
    }
    if let Some(actions) = card.get("actions") {
        let actions = list(actions, &format!("{path}/actions"))?;
        for (i, action) in actions.iter().enumerate() {
            check_action(action, &format!("{path}/actions/{i}"), texts)?;
        }
        count += actions.len();
    }
    Ok(count)
}

/// One body element, collecting the texts that may hold mentions.
fn check_element(element: &Value, path: &str, texts: &mut Vec<(String, String)>) -> Result<(), String> {
    let fields = object(element, path)?;
    match fields.get("type").and_then(Value::as_str).unwrap_or_default() {
        "TextBlock" => {
            let text = non_empty(fields, "text", path)?;
            texts.push((format!("{path}/text"), text.to_owned()));
        }
        "FactSet" => {
            let facts = list(fields.get("facts").unwrap_or(&Value::Null), &format!("{path}/facts"))?;
            if facts.is_empty() {
                return problem(format!("{path}/facts"), "must hold at least one fact");
            }
            for (i, fact) in facts.iter().enumerate() {
                let at = format!("{path}/facts/{i}");
                let fact = object(fact, &at)?;
                for name in ["title", "value"] {
                    let Some(Value::String(text)) = fact.get(name) else {
                        return problem(format!("{at}/{name}"), "must be a string");
                    };
                    texts.push((format!("{at}/{name}"), text.clone()));
                }
            }
        }
        "ColumnSet" => {
            if let Some(columns) = fields.get("columns") {
                for (i, column) in list(columns, &format!("{path}/columns"))?.iter().enumerate() {
                    let at = format!("{path}/columns/{i}");
                    let column = object(column, &at)?;
                    if column.get("type").is_some_and(|t| t != "Column") {
                        return problem(format!("{at}/type"), "must be \"Column\"");
                    }
                    if let Some(items) = column.get("items") {
                        for (j, item) in list(items, &format!("{at}/items"))?.iter().enumerate() {
                            check_element(item, &format!("{at}/items/{j}"), texts)?;
                        }
                    }
                }
            }
        }
        "Container" => {
            let items = list(fields.get("items").unwrap_or(&Value::Null), &format!("{path}/items"))?;
            for (i, item) in items.iter().enumerate() {
                check_element(item, &format!("{path}/items/{i}"), texts)?;
            }
        }
        "Image" => {
            let url = non_empty(fields, "url", path)?;
            if !url.starts_with("data:") {
                absolute_url(url, &format!("{path}/url"))?;
            }
        }
        "ActionSet" => {
            let actions = list(fields.get("actions").unwrap_or(&Value::Null), &format!("{path}/actions"))?;
            for (i, action) in actions.iter().enumerate() {
                check_action(action, &format!("{path}/actions/{i}"), texts)?;
            }
        }
        "" => return problem(format!("{path}/type"), "must name the element"),
        other => return problem(format!("{path}/type"), format!("unknown element \"{other}\"")),
    }
    Ok(())
}

/// One action of a card's `actions` or an `ActionSet`.
fn check_action(action: &Value, path: &str, texts: &mut Vec<(String, String)>) -> Result<(), String> {
    let fields = object(action, path)?;
    match fields.get("type").and_then(Value::as_str).unwrap_or_default() {
        "Action.OpenUrl" => {
            non_empty(fields, "title", path)?;
            absolute_url(non_empty(fields, "url", path)?, &format!("{path}/url"))?;
        }
        "Action.ShowCard" => {
            let Some(Value::Object(card)) = fields.get("card") else {
                return problem(format!("{path}/card"), "must hold the card to show");
            };
            card_contents(card, &format!("{path}/card"), texts)?;
        }
        "Action.ToggleVisibility" => {
            let targets =
                list(fields.get("targetElements").unwrap_or(&Value::Null), &format!("{path}/targetElements"))?;
            if targets.is_empty() {
                return problem(format!("{path}/targetElements"), "must name at least one element");
            }
        }
        kind @ ("Action.Submit" | "Action.Execute") => {
            return problem(format!("{path}/type"), format!("{kind} is not supported in a card posted by a webhook"));
        }
        "" => return problem(format!("{path}/type"), "must name the action"),
        other => return problem(format!("{path}/type"), format!("unknown action \"{other}\"")),
    }
    Ok(())
}

/// A card's `msteams` object: `width` (only `Full`) and the mention entities, returned as
/// `(path of the text, text)`.
fn teams_properties(msteams: &Value, path: &str) -> Result<Vec<(String, String)>, String> {
    let fields = object(msteams, path)?;
    if let Some(width) = fields.get("width")
        && width != "Full"
    {
        return problem(format!("{path}/width"), "must be \"Full\" when set");
    }
    let mut mentions = Vec::new();
    let Some(entities) = fields.get("entities") else {
        return Ok(mentions);
    };
    for (i, entity) in list(entities, &format!("{path}/entities"))?.iter().enumerate() {
        let at = format!("{path}/entities/{i}");
        let entity = object(entity, &at)?;
        if entity.get("type").and_then(Value::as_str) != Some("mention") {
            return problem(format!("{at}/type"), "must be \"mention\"");
        }
        let text = non_empty(entity, "text", &at)?;
        let name = text.strip_prefix("<at>").and_then(|t| t.strip_suffix("</at>"));
        if name.is_none_or(|n| n.is_empty() || n.contains("<at>") || n.contains("</at>")) {
            return problem(format!("{at}/text"), "must be one \"<at>Name</at>\"");
        }
        let Some(Value::Object(mentioned)) = entity.get("mentioned") else {
            return problem(format!("{at}/mentioned"), "must hold the id and name of who is mentioned");
        };
        let id = non_empty(mentioned, "id", &format!("{at}/mentioned"))?;
        non_empty(mentioned, "name", &format!("{at}/mentioned"))?;
        if !is_mentionable_id(id) {
            return problem(
                format!("{at}/mentioned/id"),
                format!("\"{id}\" is neither a UPN, a Microsoft Entra object ID nor a Teams user ID"),
            );
        }
        mentions.push((format!("{at}/text"), text.to_owned()));
    }
    Ok(mentions)
}

/// Each `<at>…</at>` in the card's texts has its entity, and each entity is used.
fn check_mentions(texts: &[(String, String)], entities: &[(String, String)]) -> Result<(), String> {
    let mut used = Vec::new();
    for (path, text) in texts {
        let mut rest = text.as_str();
        while let Some(start) = rest.find("<at>") {
            let from = &rest[start..];
            let Some(end) = from.find("</at>") else {
                return problem(path, "an <at> is not closed by </at>");
            };
            let mention = &from[..end + "</at>".len()];
            if !entities.iter().any(|(_, text)| text == mention) {
                return problem(
                    path,
                    format!(
                        "{mention} has no msteams.entities mention with that text, so Teams shows it as plain text"
                    ),
                );
            }
            used.push(mention);
            rest = &from[mention.len()..];
        }
    }
    for (path, text) in entities {
        if !used.contains(&text.as_str()) {
            return problem(path, format!("{text} does not occur in any TextBlock or fact of the card"));
        }
    }
    Ok(())
}

/// Whom Teams can mention from a webhook's card: a UPN (`name@domain`), a Microsoft Entra
/// object ID (a GUID), or a Teams user ID (`29:…`, `8:orgid:…`).
fn is_mentionable_id(id: &str) -> bool {
    let upn = id.split_once('@').is_some_and(|(user, domain)| !user.is_empty() && domain.contains('.'));
    let guid = id.len() == 36
        && id.char_indices().all(|(i, c)| if [8, 13, 18, 23].contains(&i) { c == '-' } else { c.is_ascii_hexdigit() });
    upn || guid || id.starts_with("29:") || id.starts_with("8:orgid:")
}

/// `"1.5"` as `(1, 5)`.
fn parse_version(version: &str) -> Option<(u32, u32)> {
    let (major, minor) = version.split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// `value` as an object.
fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    value.as_object().map_or_else(|| problem(path_or_root(path), "must be a JSON object"), Ok)
}

/// `value` as an array.
fn list<'a>(value: &'a Value, path: &str) -> Result<&'a Vec<Value>, String> {
    value.as_array().map_or_else(|| problem(path, "must be an array"), Ok)
}

/// The non-empty string field `name` of an object at `path`.
fn non_empty<'a>(fields: &'a Map<String, Value>, name: &str, path: &str) -> Result<&'a str, String> {
    match fields.get(name) {
        Some(Value::String(s)) if !s.trim().is_empty() => Ok(s),
        _ => problem(format!("{path}/{name}"), "must be a non-empty string"),
    }
}

/// An absolute URL: Teams opens it as it is, with no page to resolve it against.
fn absolute_url(url: &str, path: &str) -> Result<(), String> {
    match url::Url::parse(url) {
        Ok(_) => Ok(()),
        Err(_) => problem(path, format!("\"{url}\" is not an absolute URL")),
    }
}

/// `/` for the body itself.
fn path_or_root(path: &str) -> &str {
    if path.is_empty() { "/" } else { path }
}

/// A validation failure: `path: what`.
fn problem<T>(path: impl Display, what: impl Display) -> Result<T, String> {
    Err(format!("{path}: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_client::{Reply, send};

    /// A served webhook and one workflow's URL on it, as the path-and-query to request.
    async fn webhook() -> (Teams, String, String) {
        let teams = Teams::new();
        let base = crate::serve(teams.router()).await;
        let url = teams.workflow_url(&base);
        let target = url.strip_prefix(&base).expect("the URL is under the base").to_owned();
        (teams, base, target)
    }

    async fn post_json(base: &str, target: &str, body: &Value) -> Reply {
        send(base, "POST", target, &[("Content-Type", "application/json")], body.to_string().as_bytes()).await
    }

    /// A message with one card.
    fn message(card: Value) -> Value {
        json!({ "type": "message", "attachments": [{ "contentType": ADAPTIVE_CARD, "contentUrl": null, "content": card }] })
    }

    /// A card with this body, version 1.5.
    fn card(body: Value) -> Value {
        json!({ "$schema": "http://adaptivecards.io/schemas/adaptive-card.json", "type": "AdaptiveCard", "version": "1.5", "body": body })
    }

    fn alert_card() -> Value {
        json!({
            "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
            "type": "AdaptiveCard",
            "version": "1.4",
            "body": [
                { "type": "TextBlock", "text": "New overlaps with Globex", "weight": "Bolder", "size": "Medium" },
                { "type": "TextBlock", "text": "<at>Ada Lovelace</at>, 3 of your accounts match.", "wrap": true },
                { "type": "FactSet", "facts": [
                    { "title": "Partner", "value": "Globex" },
                    { "title": "Owner", "value": "<at>Grace Hopper</at>" }
                ] },
                { "type": "ColumnSet", "columns": [
                    { "type": "Column", "width": "auto", "items": [{ "type": "Image", "url": "https://node.example/logo.png", "size": "Small" }] },
                    { "type": "Column", "items": [{ "type": "TextBlock", "text": "Acme Corp" }] }
                ] },
                { "type": "Container", "items": [{ "type": "TextBlock", "text": "Updated hourly", "isSubtle": true }] },
                { "type": "ActionSet", "actions": [{ "type": "Action.OpenUrl", "title": "Review", "url": "https://node.example/review" }] }
            ],
            "actions": [{ "type": "Action.OpenUrl", "title": "Open blindmap", "url": "https://node.example/" }],
            "msteams": {
                "width": "Full",
                "entities": [
                    { "type": "mention", "text": "<at>Ada Lovelace</at>", "mentioned": { "id": "ada@example.com", "name": "Ada Lovelace" } },
                    { "type": "mention", "text": "<at>Grace Hopper</at>", "mentioned": { "id": "87d349ed-44d7-43e1-9a83-5f2406dee5bd", "name": "Grace Hopper" } }
                ]
            }
        })
    }

    #[tokio::test]
    async fn accepts_an_adaptive_card_with_mentions() {
        let (teams, base, target) = webhook().await;
        let answer = post_json(&base, &target, &message(alert_card())).await;
        assert_eq!(answer.status, 202, "{}", String::from_utf8_lossy(&answer.body));
        assert!(answer.body.is_empty());
        assert_eq!(teams.posts(), vec![alert_card()]);
    }

    #[tokio::test]
    async fn accepts_several_cards_and_a_charset() {
        let (teams, base, target) = webhook().await;
        let first = card(json!([{ "type": "TextBlock", "text": "one" }]));
        let second = card(json!([{ "type": "TextBlock", "text": "two" }]));
        let body = json!({ "type": "message", "attachments": [
            { "contentType": ADAPTIVE_CARD, "content": first },
            { "contentType": ADAPTIVE_CARD, "contentUrl": null, "content": second }
        ] });
        let headers = [("Content-Type", "application/json; charset=utf-8")];
        let answer = send(&base, "POST", &target, &headers, body.to_string().as_bytes()).await;
        assert_eq!(answer.status, 202);
        assert_eq!(teams.posts(), vec![first, second]);
    }

    #[tokio::test]
    async fn issues_distinct_signed_urls() {
        let teams = Teams::new();
        let first = teams.workflow_url("http://127.0.0.1:9/");
        let second = teams.workflow_url("http://127.0.0.1:9");
        assert_ne!(first, second);
        let parsed = url::Url::parse(&first).expect("a URL");
        assert!(
            parsed.path().starts_with("/workflows/") && parsed.path().ends_with("/triggers/manual/paths/invoke"),
            "{first}"
        );
        assert!(first.contains("?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig="), "{first}");
        let sig = parsed.query_pairs().find(|(k, _)| k == "sig").map(|(_, v)| v.into_owned()).unwrap_or_default();
        assert_eq!(sig.len(), 43);
    }

    #[tokio::test]
    async fn refuses_missing_or_wrong_signatures_and_unknown_workflows() {
        let (teams, base, target) = webhook().await;
        let body = message(card(json!([{ "type": "TextBlock", "text": "hi" }])));
        let (path, query) = target.split_once('?').expect("a query");
        let without_sig: String = query.split('&').filter(|p| !p.starts_with("sig=")).collect::<Vec<_>>().join("&");
        let cases = [
            (format!("{path}?{without_sig}"), 401, "DirectApiAuthorizationRequired"),
            (format!("{path}?{without_sig}&sig=AAAA"), 401, "DirectApiInvalidAuthorizationSignature"),
            (target.replace("sv=1.0", "sv=2.0"), 401, "DirectApiInvalidAuthorizationSignature"),
            (target.replace("/workflows/", "/workflows/0"), 404, "WorkflowNotFound"),
            (target.replace("api-version=2016-06-01&", ""), 400, "MissingApiVersionParameter"),
        ];
        for (target, status, code) in cases {
            let answer = post_json(&base, &target, &body).await;
            assert_eq!(answer.status, status, "{target}");
            assert_eq!(answer.json()["error"]["code"], code, "{target}");
        }
        assert!(teams.posts().is_empty());
    }

    #[tokio::test]
    async fn refuses_bodies_that_are_not_a_card_message() {
        let (teams, base, target) = webhook().await;
        let text = send(&base, "POST", &target, &[("Content-Type", "text/plain")], b"hello").await;
        assert_eq!(text.status, 400);
        assert!(
            text.json()["error"]["message"]
                .as_str()
                .unwrap_or_default()
                .contains("Content-Type must be application/json")
        );
        let not_json = send(&base, "POST", &target, &[("Content-Type", "application/json")], b"{\"type\":").await;
        assert_eq!(not_json.status, 400);
        let good = card(json!([{ "type": "TextBlock", "text": "hi" }]));
        let cases = [
            (json!({ "text": "Hello World" }), "/type: must be \"message\""),
            (json!({ "type": "message" }), "/attachments: must be an array"),
            (json!({ "type": "message", "attachments": [] }), "/attachments: must hold at least one card"),
            (
                json!({ "type": "message", "attachments": [{ "contentType": "application/vnd.microsoft.teams.card.o365connector", "content": good }] }),
                "/attachments/0/contentType: must be \"application/vnd.microsoft.card.adaptive\"",
            ),
            (
                json!({ "type": "message", "attachments": [{ "contentType": ADAPTIVE_CARD, "contentUrl": "https://x.example/card.json", "content": good }] }),
                "/attachments/0/contentUrl: must be null",
            ),
            (
                json!({ "type": "message", "attachments": [{ "contentType": ADAPTIVE_CARD }] }),
                "/attachments/0/content: must hold the Adaptive Card",
            ),
        ];
        for (body, expected) in cases {
            let answer = post_json(&base, &target, &body).await;
            assert_eq!(answer.status, 400, "{expected}");
            let answer = answer.json();
            assert_eq!(answer["error"]["code"], "TriggerInputSchemaMismatch");
            let message = answer["error"]["message"].as_str().unwrap_or_default().to_owned();
            assert!(message.contains(expected), "{message} should say {expected}");
        }
        assert!(teams.posts().is_empty());
    }

    #[tokio::test]
    async fn refuses_cards_teams_does_not_render() {
        let (teams, base, target) = webhook().await;
        let text = |t: &str| json!({ "type": "TextBlock", "text": t });
        let with = |field: &str, value: Value| {
            let mut card = card(json!([text("hi")]));
            card[field] = value;
            card
        };
        let open_url = |action: Value| card(json!([text("hi"), { "type": "ActionSet", "actions": [action] }]));
        let c = "/attachments/0/content";
        let cases = [
            (with("type", json!("MessageCard")), format!("{c}/type: must be \"AdaptiveCard\"")),
            (with("version", json!("1.6")), format!("{c}/version: 1.6 is later than 1.5")),
            (with("version", json!(1.4)), format!("{c}/version: must be a version string")),
            (with("version", json!("one")), format!("{c}/version: \"one\" is not a version")),
            (with("body", json!([])), format!("{c}/body: the card has nothing to show")),
            (with("body", json!({ "type": "TextBlock" })), format!("{c}/body: must be an array")),
            (card(json!([text("")])), format!("{c}/body/0/text: must be a non-empty string")),
            (
                card(json!([{ "type": "RichTextBlock", "inlines": [] }])),
                format!("{c}/body/0/type: unknown element \"RichTextBlock\""),
            ),
            (
                card(json!([{ "type": "FactSet", "facts": [] }])),
                format!("{c}/body/0/facts: must hold at least one fact"),
            ),
            (
                card(json!([{ "type": "FactSet", "facts": [{ "title": "Deals", "value": 3 }] }])),
                format!("{c}/body/0/facts/0/value: must be a string"),
            ),
            (card(json!([{ "type": "Container" }])), format!("{c}/body/0/items: must be an array")),
            (
                card(
                    json!([{ "type": "Container", "items": [{ "type": "ColumnSet", "columns": [{ "type": "Column", "items": [text(" ")] }] }] }]),
                ),
                format!("{c}/body/0/items/0/columns/0/items/0/text: must be a non-empty string"),
            ),
            (card(json!([{ "type": "Image" }])), format!("{c}/body/0/url: must be a non-empty string")),
            (
                card(json!([{ "type": "Image", "url": "/logo.png" }])),
                format!("{c}/body/0/url: \"/logo.png\" is not an absolute URL"),
            ),
            (
                open_url(json!({ "type": "Action.OpenUrl", "url": "https://x.example" })),
                format!("{c}/body/1/actions/0/title: must be a non-empty string"),
            ),
            (
                open_url(json!({ "type": "Action.OpenUrl", "title": "Open", "url": "node.example/review" })),
                format!("{c}/body/1/actions/0/url: \"node.example/review\" is not an absolute URL"),
            ),
            (
                open_url(json!({ "type": "Action.Submit", "title": "Approve" })),
                format!("{c}/body/1/actions/0/type: Action.Submit is not supported in a card posted by a webhook"),
            ),
            (
                with("actions", json!([{ "type": "Action.Http", "title": "Go" }])),
                format!("{c}/actions/0/type: unknown action \"Action.Http\""),
            ),
            (with("msteams", json!({ "width": "Wide" })), format!("{c}/msteams/width: must be \"Full\" when set")),
        ];
        for (card, expected) in cases {
            let answer = post_json(&base, &target, &message(card)).await;
            assert_eq!(answer.status, 400, "{expected}");
            let message = answer.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
            assert!(message.contains(&expected), "{message} should say {expected}");
        }
        assert!(teams.posts().is_empty());
    }

    #[tokio::test]
    async fn refuses_mentions_teams_cannot_resolve() {
        let (teams, base, target) = webhook().await;
        let mention = |text: &str, id: &str| json!({ "type": "mention", "text": text, "mentioned": { "id": id, "name": "Ada Lovelace" } });
        let mentioning = |said: &str, entities: Value| {
            let mut card = card(json!([{ "type": "TextBlock", "text": said }]));
            card["msteams"] = json!({ "entities": entities });
            card
        };
        let c = "/attachments/0/content";
        let cases = [
            (
                mentioning("Hi <at>Ada</at>", json!([])),
                format!("{c}/body/0/text: <at>Ada</at> has no msteams.entities mention with that text"),
            ),
            (
                mentioning("Hi <at>Ada</at>", json!([mention("<at>Ada Lovelace</at>", "ada@example.com")])),
                format!("{c}/body/0/text: <at>Ada</at> has no msteams.entities mention"),
            ),
            (
                mentioning("Hi there", json!([mention("<at>Ada</at>", "ada@example.com")])),
                format!("{c}/msteams/entities/0/text: <at>Ada</at> does not occur in any TextBlock or fact"),
            ),
            (
                mentioning("Hi <at>Ada", json!([mention("<at>Ada</at>", "ada@example.com")])),
                format!("{c}/body/0/text: an <at> is not closed"),
            ),
            (
                mentioning("Hi <at>Ada</at>", json!([mention("Ada", "ada@example.com")])),
                format!("{c}/msteams/entities/0/text: must be one \"<at>Name</at>\""),
            ),
            (
                mentioning("Hi <at>Ada</at>", json!([mention("<at>Ada</at>", "Ada Lovelace")])),
                format!("{c}/msteams/entities/0/mentioned/id: \"Ada Lovelace\" is neither a UPN"),
            ),
            (
                mentioning("Hi <at>Ada</at>", json!([{ "type": "mention", "text": "<at>Ada</at>" }])),
                format!("{c}/msteams/entities/0/mentioned: must hold the id and name"),
            ),
            (
                mentioning(
                    "Hi <at>Ada</at>",
                    json!([{ "type": "person", "text": "<at>Ada</at>", "mentioned": { "id": "ada@example.com", "name": "Ada" } }]),
                ),
                format!("{c}/msteams/entities/0/type: must be \"mention\""),
            ),
        ];
        for (card, expected) in cases {
            let answer = post_json(&base, &target, &message(card)).await;
            assert_eq!(answer.status, 400, "{expected}");
            let message = answer.json()["error"]["message"].as_str().unwrap_or_default().to_owned();
            assert!(message.contains(&expected), "{message} should say {expected}");
        }
        assert!(teams.posts().is_empty());
        // A Teams user ID and a mention inside a shown card are fine.
        let mut shown = card(json!([{ "type": "TextBlock", "text": "Details" }]));
        shown["actions"] = json!([{ "type": "Action.ShowCard", "title": "More", "card": { "type": "AdaptiveCard",
            "body": [{ "type": "TextBlock", "text": "Owner: <at>Ada</at>" }] } }]);
        shown["msteams"] = json!({ "entities": [mention("<at>Ada</at>", "29:1a2b3c")] });
        assert_eq!(post_json(&base, &target, &message(shown)).await.status, 202);
    }

    #[tokio::test]
    async fn refuses_a_body_over_28_kb() {
        let (teams, base, target) = webhook().await;
        let fits = message(card(json!([{ "type": "TextBlock", "text": "x" }])));
        let padding = MAX_BODY_BYTES - fits.to_string().len() + 1;
        let too_big = message(card(json!([{ "type": "TextBlock", "text": "x".repeat(1 + padding) }])));
        assert_eq!(too_big.to_string().len(), MAX_BODY_BYTES + 1);
        let answer = post_json(&base, &target, &too_big).await;
        assert_eq!(answer.status, 413);
        assert_eq!(answer.json()["error"]["code"], "RequestEntityTooLarge");
        let at_limit = message(card(json!([{ "type": "TextBlock", "text": "x".repeat(padding) }])));
        assert_eq!(at_limit.to_string().len(), MAX_BODY_BYTES);
        assert_eq!(post_json(&base, &target, &at_limit).await.status, 202);
        assert_eq!(teams.posts().len(), 1);
    }

    #[tokio::test]
    async fn fails_the_next_posts_as_asked() {
        let (teams, base, target) = webhook().await;
        let body = message(card(json!([{ "type": "TextBlock", "text": "hi" }])));
        teams.fail_next(429, 1);
        let throttled = post_json(&base, &target, &body).await;
        assert_eq!(throttled.status, 429);
        assert_eq!(throttled.header("retry-after"), Some("1"));
        assert_eq!(throttled.json()["error"]["code"], "TooManyRequests");
        teams.fail_next(500, 2);
        for _ in 0..2 {
            let failed = post_json(&base, &target, &body).await;
            assert_eq!(failed.status, 500);
            assert_eq!(failed.header("retry-after"), None);
        }
        assert!(teams.posts().is_empty());
        assert_eq!(post_json(&base, &target, &body).await.status, 202);
        assert_eq!(teams.posts().len(), 1);
    }

    #[test]
    fn validates_cards_without_a_server() {
        assert_eq!(validate_card(&alert_card(), ""), Ok(()));
        assert_eq!(validate_message(&message(alert_card())), Ok(()));
        assert_eq!(validate_message(&json!([])), Err("/: must be a JSON object".to_owned()));
        assert!(is_mentionable_id("87d349ed-44d7-43e1-9a83-5f2406dee5bd"));
        assert!(is_mentionable_id("AdeleV@contoso.onmicrosoft.com"));
        assert!(is_mentionable_id("8:orgid:87d349ed-44d7-43e1-9a83-5f2406dee5bd"));
        assert!(!is_mentionable_id("87d349ed44d743e19a835f2406dee5bd"));
        assert!(!is_mentionable_id("@contoso.com"));
    }
}
