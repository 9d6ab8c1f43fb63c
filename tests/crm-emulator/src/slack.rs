//! A Slack workspace's Web API, as far as the node's alerts call it: `users.lookupByEmail` and
//! `chat.postMessage`, served under `/api/` (the node's base URL is `{serve(router)}/api/`).
//! References (docs.slack.dev, which replaces api.slack.com; each check below names its page):
//! - The Web API's conventions (`docs.slack.dev/apis/web-api`): arguments as query-string
//!   parameters, `application/x-www-form-urlencoded` POST parameters or a mix of both, or a JSON
//!   body for write methods; every answer is HTTP 200 with `ok`, an `error` code when false and a
//!   `warning` (comma-separated, repeated in `response_metadata.warnings`) when a call succeeded
//!   with something to fix. A JSON body needs the token in `Authorization: Bearer …`
//!   (`docs.slack.dev/changelog/2017-10-keeping-up-with-the-jsons`: "To make use of sending JSON
//!   on write operations, you must provide your token value using an Authorization HTTP header");
//!   a form may carry it as the `token` POST parameter instead ("Tokens should be passed as an
//!   HTTP Authorization header or alternatively, as a POST parameter", on every method's page).
//! - Errors every method shares (the tables on each method's page): `not_authed` ("No
//!   authentication token provided."), `invalid_auth`, `token_revoked` ("Authentication token is
//!   for a deleted user or workspace or the app has been removed."), `invalid_arguments`,
//!   `invalid_charset`, `invalid_form_data`, `invalid_post_type`, `missing_post_type`; warnings
//!   `missing_charset` and `superfluous_charset` (Slack's "Well wishes and warnings in the Web
//!   API", 2016).
//! - `users.lookupByEmail` (`docs.slack.dev/reference/methods/users.lookupByEmail`): `email`
//!   required; `{ok, user: {id, team_id, name, deleted, real_name, …, profile: {email, …}}}`;
//!   `users_not_found`.
//! - `chat.postMessage` (`docs.slack.dev/reference/methods/chat.postMessage`): `channel` an
//!   encoded ID or a name; one of `text`, `blocks`, `attachments`; errors `channel_not_found`,
//!   `not_in_channel`, `no_text`, `msg_too_long`, `invalid_blocks`, `invalid_blocks_format`;
//!   success `{ok, channel, ts, message}`.
//! - Block Kit (`docs.slack.dev/reference/block-kit/…`): the limits [`validate_blocks`] checks.
//! - Rate limits (`docs.slack.dev/apis/web-api/rate-limits`): HTTP 429 with `Retry-After`, body
//!   `{"ok":false,"error":"ratelimited"}`.

use std::collections::HashSet;
use std::fmt::Display;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

/// The workspace every member belongs to, as `team_id` reports it.
const TEAM_ID: &str = "T0EMULATED";
/// The app's bot user, bot and app, as a posted message's `user`, `bot_id` and `app_id` say.
const BOT_USER_ID: &str = "U0EMULBOT";
const BOT_ID: &str = "B0EMULATED";
const APP_ID: &str = "A0EMULATED";

/// `chat.postMessage`'s `text`: "Provide no more than 40,000 characters or risk truncation".
const MAX_TEXT_CHARS: usize = 40_000;
/// Block Kit: "You can include up to 50 blocks in each message".
const MAX_BLOCKS: usize = 50;

/// A Slack workspace on loopback: its members, channels, the bot token it accepts, and what the
/// node posted and looked up. Clones share the same workspace.
#[derive(Clone)]
pub struct Slack {
    state: Arc<Mutex<Workspace>>,
}

/// A message `chat.postMessage` accepted.
#[derive(Debug, Clone)]
pub struct Posted {
    /// The channel it went to, as the answer named it: a `C…` channel's ID, or the `D…` ID of the
    /// app's DM with a user when the call named a `U…`/`W…` user.
    pub channel: String,
    /// The top-level `text`; empty when the message had only blocks (which Slack accepts but
    /// then has no notification or screen-reader text: see [`Posted::has_fallback_text`]).
    pub text: String,
    /// The `blocks` array as given, or `Value::Null` when there were none.
    pub blocks: Value,
    /// `unfurl_links`, when the call set it.
    pub unfurl_links: Option<bool>,
}

impl Posted {
    /// Whether the message carried top-level `text`. docs.slack.dev/reference/methods/
    /// chat.postMessage: "The text field is not enforced as required when using blocks or
    /// attachments. However, we highly recommended that you include text to provide a fallback
    /// when using blocks" — it is what notifications and screen readers show.
    pub fn has_fallback_text(&self) -> bool {
        !self.text.trim().is_empty()
    }
}

/// A workspace member that `users.lookupByEmail` finds.
struct Member {
    id: String,
    email: String,
    deleted: bool,
}

/// A channel, and whether the app's bot user is in it.
struct Channel {
    id: String,
    name: String,
    bot_is_member: bool,
}

/// The workspace's state, which a test changes through [`Slack`]'s methods.
#[derive(Default)]
struct Workspace {
    token: String,
    revoked: bool,
    members: Vec<Member>,
    channels: Vec<Channel>,
    /// Calls still to be answered with 429.
    rate_limited: u32,
    messages: Vec<Posted>,
    lookups: Vec<String>,
}

impl Slack {
    /// A workspace whose app has the bot token `token` (`xoxb-…`); no members, no channels.
    pub fn new(token: &str) -> Self {
        let workspace = Workspace { token: token.to_owned(), ..Workspace::default() };
        Self { state: Arc::new(Mutex::new(workspace)) }
    }

    /// Adds a member that `users.lookupByEmail` finds by `email`, with the ID `id` (`U0123ABCD`).
    pub fn add_user(&self, email: &str, id: &str) {
        self.lock().members.push(Member { id: id.to_owned(), email: email.to_owned(), deleted: false });
    }

    /// Adds a deactivated member: looked up, it comes back with `"deleted": true`, and a message
    /// to it is refused.
    pub fn add_deleted_user(&self, email: &str, id: &str) {
        self.lock().members.push(Member { id: id.to_owned(), email: email.to_owned(), deleted: true });
    }

    /// Adds a channel (`C…`) named `name`; posting to it needs the bot in it (`not_in_channel`
    /// otherwise).
    pub fn add_channel(&self, id: &str, name: &str, bot_is_member: bool) {
        self.lock().channels.push(Channel { id: id.to_owned(), name: name.to_owned(), bot_is_member });
    }

    /// Answers the next `calls` calls, to either method, with HTTP 429, `Retry-After: 1` and
    /// `{"ok":false,"error":"ratelimited"}` (docs.slack.dev/apis/web-api/rate-limits).
    pub fn rate_limit_next(&self, calls: u32) {
        self.lock().rate_limited = calls;
    }

    /// Revokes the bot token: from now on every call with it answers `token_revoked`.
    pub fn revoke(&self) {
        self.lock().revoked = true;
    }

    /// The messages `chat.postMessage` accepted, in order.
    pub fn messages(&self) -> Vec<Posted> {
        self.lock().messages.clone()
    }

    /// The e-mail addresses `users.lookupByEmail` was asked for, as given, in order.
    pub fn lookups(&self) -> Vec<String> {
        self.lock().lookups.clone()
    }

    /// The ID of the app's DM with the member `user_id`, as `chat.postMessage` answers when
    /// told to post to that member; `None` for someone not in the workspace.
    pub fn dm_channel(&self, user_id: &str) -> Option<String> {
        self.lock().members.iter().find(|m| m.id == user_id).map(|m| dm_id(&m.id))
    }

    /// The Web API's routes: `/api/users.lookupByEmail` (GET or POST) and
    /// `/api/chat.postMessage` (POST).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/api/users.lookupByEmail", get(lookup_by_email).post(lookup_by_email))
            .route("/api/chat.postMessage", post(post_message))
            .with_state(self.clone())
    }

    fn lock(&self) -> MutexGuard<'_, Workspace> {
        // A test that panicked while holding the lock leaves data that is still worth reading.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The app's DM with a member: the member's ID with `D` for its first letter (real DM IDs are
/// unrelated to the member's; this keeps them readable in a test's failure message).
fn dm_id(user_id: &str) -> String {
    format!("D{}", user_id.get(1..).unwrap_or_default())
}

/// One call's arguments, whichever way they came, and the warnings reading them gave.
struct Call {
    args: Map<String, Value>,
    /// The `token` POST parameter of a form body, which Slack takes instead of the header.
    form_token: Option<String>,
    warnings: Vec<&'static str>,
}

impl Call {
    /// A string argument, or `""` when absent or not a string.
    fn string(&self, name: &str) -> String {
        self.args.get(name).and_then(Value::as_str).unwrap_or_default().to_owned()
    }

    /// A boolean argument: JSON `true`/`false`, or a form's `true`/`false`/`1`/`0`.
    fn flag(&self, name: &str) -> Option<bool> {
        match self.args.get(name)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) if s == "true" || s == "1" => Some(true),
            Value::String(s) if s == "false" || s == "0" => Some(false),
            _ => None,
        }
    }
}

/// `users.lookupByEmail` (docs.slack.dev/reference/methods/users.lookupByEmail).
async fn lookup_by_email(
    State(slack): State<Slack>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut workspace = slack.lock();
    let call = match admit(&mut workspace, &headers, query.as_deref(), &body) {
        Ok(call) => call,
        Err(refused) => return refused.into_response(),
    };
    let email = call.string("email");
    if email.trim().is_empty() {
        // A required argument left out: `invalid_arguments`, with the field named in
        // `response_metadata.messages` (the shared error table; the message's wording is what
        // Slack answers, as far as we know it — the stored docs do not show it).
        return refuse_with("invalid_arguments", &["missing required field: email".to_owned()]);
    }
    workspace.lookups.push(email.clone());
    // The docs do not say whether the match ignores case. We rely on it doing so: e-mail domains
    // are case-insensitive (RFC 5321 §2.4) and Slack stores addresses as the member typed them,
    // while CRMs export them in whatever case they hold.
    let wanted = email.trim().to_lowercase();
    match workspace.members.iter().find(|m| m.email.to_lowercase() == wanted) {
        None => refuse("users_not_found"),
        Some(member) => succeed(json!({ "user": user_view(member) }), &call.warnings),
    }
}

/// A member as `users.lookupByEmail`'s "Typical success response" shows one (the fields a
/// client reads; Slack sends more).
fn user_view(member: &Member) -> Value {
    let name = member.email.split('@').next().unwrap_or_default();
    json!({
        "id": member.id,
        "team_id": TEAM_ID,
        "name": name,
        "deleted": member.deleted,
        "real_name": name,
        "tz": "Europe/London",
        "tz_label": "Greenwich Mean Time",
        "tz_offset": 0,
        "is_admin": false,
        "is_owner": false,
        "is_bot": false,
        "is_app_user": false,
        "updated": 1_700_000_000,
        "profile": {
            "real_name": name,
            "display_name": name,
            "real_name_normalized": name,
            "display_name_normalized": name,
            "email": member.email,
            "team": TEAM_ID,
        },
    })
}

/// `chat.postMessage` (docs.slack.dev/reference/methods/chat.postMessage).
async fn post_message(
    State(slack): State<Slack>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
    body: Bytes,
) -> Response {
    let mut workspace = slack.lock();
    let call = match admit(&mut workspace, &headers, query.as_deref(), &body) {
        Ok(call) => call,
        Err(refused) => return refused.into_response(),
    };
    let channel = match workspace.resolve(&call.string("channel")) {
        Ok(channel) => channel,
        Err(error) => return refuse(error),
    };
    // A form gives `blocks` as "A JSON-based array of structured blocks, presented as a
    // URL-encoded string"; a JSON body as the array itself (or, also accepted, the string).
    let blocks = match call.args.get("blocks") {
        None | Some(Value::Null) => Value::Null,
        Some(Value::String(s)) if s.trim().is_empty() => Value::Null,
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(parsed) => parsed,
            Err(_) => return refuse("invalid_blocks_format"),
        },
        Some(given) => given.clone(),
    };
    if !blocks.is_null() && !blocks.is_array() {
        return refuse("invalid_blocks_format");
    }
    let text = call.string("text");
    let has_blocks = blocks.as_array().is_some_and(|b| !b.is_empty());
    let has_attachments = match call.args.get("attachments") {
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::String(s)) => !s.trim().is_empty() && s.trim() != "[]",
        _ => false,
    };
    // "One of these arguments is required to describe the content of the message": `no_text`
    // ("No message text provided.") otherwise.
    if text.is_empty() && !has_blocks && !has_attachments {
        return refuse("no_text");
    }
    // `msg_too_long`: "Message text is too long." The 2018 changelog ("Truncating really long
    // messages") describes truncating past 40,000 characters with a `message_truncated`
    // warning instead; we refuse, so that a test sees the node sent more than Slack keeps.
    if text.chars().count() > MAX_TEXT_CHARS {
        return refuse("msg_too_long");
    }
    if let Err(problem) = validate_blocks(&blocks) {
        return refuse_blocks(&problem);
    }
    let ts = timestamp(workspace.messages.len());
    workspace.messages.push(Posted {
        channel: channel.clone(),
        text: text.clone(),
        blocks: blocks.clone(),
        unfurl_links: call.flag("unfurl_links"),
    });
    let mut message = json!({
        "type": "message",
        "text": text,
        "user": BOT_USER_ID,
        "bot_id": BOT_ID,
        "app_id": APP_ID,
        "team": TEAM_ID,
        "ts": ts,
    });
    if has_blocks {
        message["blocks"] = blocks;
    }
    succeed(json!({ "channel": channel, "ts": ts, "message": message }), &call.warnings)
}

impl Workspace {
    /// Where a `channel` argument posts to, or the error code refusing it.
    fn resolve(&self, wanted: &str) -> Result<String, &'static str> {
        let wanted = wanted.trim();
        if wanted.is_empty() {
            // A missing `channel` is refused like an unknown one ("Value passed for channel was
            // invalid."), as far as we know the live API.
            return Err("channel_not_found");
        }
        // "An encoded ID or channel name": `C0123`, `general` or `#general`.
        let name = wanted.strip_prefix('#').unwrap_or(wanted);
        if let Some(channel) = self.channels.iter().find(|c| c.id == wanted || c.name == name) {
            // `not_in_channel`: "Cannot post user messages to a channel they are not in."
            return if channel.bot_is_member { Ok(channel.id.clone()) } else { Err("not_in_channel") };
        }
        if let Some(member) = self.members.iter().find(|m| m.id == wanted) {
            // A member's ID posts to the app's DM with them, which the answer names by its own
            // `D…` ID. A deactivated member cannot be messaged: `user_disabled`, the code
            // `conversations.open` documents for opening a DM with one ("A specified user has
            // been disabled"); chat.postMessage's own table names no code for it.
            return if member.deleted { Err("user_disabled") } else { Ok(dm_id(&member.id)) };
        }
        Err("channel_not_found")
    }
}

/// The `ts` of the `n`th message (from 0): `1712345678.000100`, then `.000200`, … — unique and
/// increasing, as message timestamps are.
fn timestamp(n: usize) -> String {
    let micros = (n as u64 + 1) * 100;
    format!("{}.{:06}", 1_712_345_678 + micros / 1_000_000, micros % 1_000_000)
}

/// What every call meets before its method: the rate limit, reading the arguments, the token.
fn admit(workspace: &mut Workspace, headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Result<Call, Refusal> {
    if workspace.rate_limited > 0 {
        workspace.rate_limited -= 1;
        return Err(Refusal::RateLimited);
    }
    let call = read_call(headers, query, body)?;
    let bearer = crate::bearer(headers);
    let token = if bearer.is_empty() { call.form_token.as_deref().unwrap_or_default() } else { bearer };
    if token.is_empty() {
        return Err(Refusal::Error("not_authed"));
    }
    if token != workspace.token {
        return Err(Refusal::Error("invalid_auth"));
    }
    if workspace.revoked {
        return Err(Refusal::Error("token_revoked"));
    }
    Ok(call)
}

/// A call's arguments: the query string's, then the body's (docs.slack.dev/apis/web-api: "a mix
/// of both GET and POST parameters"), with the warnings its `Content-Type` earns.
fn read_call(headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> Result<Call, Refusal> {
    let mut call = Call { args: Map::new(), form_token: None, warnings: Vec::new() };
    // A token in the query string is not read: apps created since February 2021 may not send
    // one there (Slack's changelog "No more tokens in querystrings for newly created apps").
    for (name, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        if name != "token" {
            call.args.insert(name.into_owned(), Value::String(value.into_owned()));
        }
    }
    if body.is_empty() {
        return Ok(call);
    }
    let Some(content_type) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        // "The method was called via a POST request and included a data payload, but the
        // request did not include a Content-Type header."
        return Err(Refusal::Error("missing_post_type"));
    };
    let (media_type, charset) = parse_content_type(content_type);
    match media_type.as_str() {
        "application/json" => {
            match charset.as_deref() {
                // "A Content-Type HTTP header was presented but did not declare a charset": the
                // call still succeeds, with the warning.
                None => call.warnings.push("missing_charset"),
                Some("utf-8" | "utf8") => {}
                Some(_) => return Err(Refusal::Error("invalid_charset")),
            }
            // A body that is not a JSON object: `invalid_json` (not in the stored error tables;
            // the code the live API answers, as far as we know it).
            let Ok(Value::Object(fields)) = serde_json::from_slice::<Value>(body) else {
                return Err(Refusal::Error("invalid_json"));
            };
            call.args.extend(fields);
        }
        "application/x-www-form-urlencoded" => {
            match charset.as_deref() {
                None => {}
                // "Valid charset names are: utf-8 iso-8859-1"; a form needs none, hence the
                // warning (python-slack-sdk issue #692 shows it in answers).
                Some("utf-8" | "utf8" | "iso-8859-1") => call.warnings.push("superfluous_charset"),
                Some(_) => return Err(Refusal::Error("invalid_charset")),
            }
            if std::str::from_utf8(body).is_err() {
                return Err(Refusal::Error("invalid_form_data"));
            }
            for (name, value) in url::form_urlencoded::parse(body) {
                if name == "token" {
                    call.form_token = Some(value.into_owned());
                } else {
                    call.args.insert(name.into_owned(), Value::String(value.into_owned()));
                }
            }
        }
        // "Valid types are: application/json application/x-www-form-urlencoded
        // multipart/form-data text/plain" — the node sends neither of the last two.
        _ => return Err(Refusal::Error("invalid_post_type")),
    }
    Ok(call)
}

/// A `Content-Type`'s media type and `charset`, both lower-cased.
fn parse_content_type(value: &str) -> (String, Option<String>) {
    let mut parts = value.split(';');
    let media_type = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (name, value) = p.split_once('=')?;
        (name.trim().eq_ignore_ascii_case("charset")).then(|| value.trim().trim_matches('"').to_ascii_lowercase())
    });
    (media_type, charset)
}

/// Why a call was turned away before its method ran.
enum Refusal {
    /// Over the rate limit: HTTP 429.
    RateLimited,
    /// An error code, answered with HTTP 200.
    Error(&'static str),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Self::RateLimited => rate_limited(),
            Self::Error(error) => refuse(error),
        }
    }
}

/// An error answer: HTTP 200, `{"ok":false,"error":…}` (docs.slack.dev/apis/web-api).
fn refuse(error: &str) -> Response {
    Json(json!({ "ok": false, "error": error })).into_response()
}

/// An error answer with `response_metadata.messages`, each `[ERROR] …`.
fn refuse_with(error: &str, messages: &[String]) -> Response {
    let messages: Vec<String> = messages.iter().map(|m| format!("[ERROR] {m}")).collect();
    Json(json!({ "ok": false, "error": error, "response_metadata": { "messages": messages } })).into_response()
}

/// `invalid_blocks`, shaped as Slack answers it: the problem in `errors` and, prefixed
/// `[ERROR]`, in `response_metadata.messages`, each ending with the JSON pointer of the part at
/// fault, e.g. `must be less than 3001 characters [json-pointer:/blocks/0/text/text]`.
fn refuse_blocks(problem: &str) -> Response {
    Json(json!({
        "ok": false,
        "error": "invalid_blocks",
        "errors": [problem],
        "response_metadata": { "messages": [format!("[ERROR] {problem}")] },
    }))
    .into_response()
}

/// A success answer: `ok: true` and `fields`, with the call's warnings as `warning` (comma
/// separated) and in `response_metadata.warnings`.
fn succeed(mut fields: Value, warnings: &[&'static str]) -> Response {
    fields["ok"] = json!(true);
    if !warnings.is_empty() {
        fields["warning"] = json!(warnings.join(","));
        let messages: Vec<String> = warnings.iter().filter_map(|w| warning_message(w)).collect();
        fields["response_metadata"] = json!({ "warnings": warnings, "messages": messages });
    }
    Json(fields).into_response()
}

/// The `[WARN] …` message Slack sends with a warning, where we know its wording.
fn warning_message(warning: &str) -> Option<String> {
    match warning {
        "missing_charset" => Some(
            "[WARN] A Content-Type HTTP header was presented but did not declare a charset, such as a 'utf-8'"
                .to_owned(),
        ),
        _ => None,
    }
}

/// HTTP 429 with `Retry-After: 1` and `{"ok":false,"error":"ratelimited"}`
/// (docs.slack.dev/apis/web-api/rate-limits).
fn rate_limited() -> Response {
    let mut response =
        (StatusCode::TOO_MANY_REQUESTS, Json(json!({ "ok": false, "error": "ratelimited" }))).into_response();
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    response
}

/// Checks a message's `blocks` (`Value::Null` for none) against Block Kit's published limits,
/// the first problem found as Slack words it, ending in the JSON pointer of the part at fault:
/// `must be less than 151 characters [json-pointer:/blocks/0/text/text]`.
///
/// References (docs.slack.dev/reference/block-kit/…): "up to 50 blocks in each message"
/// (`blocks`); `block_id` "Maximum length for this field is 255 characters. block_id should be
/// unique for each message"; the text object (`composition-objects/text-object`): `type`
/// `plain_text` or `mrkdwn`, `text` "minimum length is 1 and maximum length is 3000 characters",
/// `emoji` "only usable when type is plain_text", `verbatim` only when `mrkdwn`; the header block
/// (`blocks/header-block`): a `plain_text` text of at most 150 characters; the section block
/// (`blocks/section-block`): `text` at most 3000 characters, "not required if a valid array of
/// fields objects is provided instead", `fields` "Maximum number of items is 10. Maximum length
/// for the text in each item is 2000 characters"; the context block: at most 10 image or text
/// elements; the actions block: at most 25 elements; the button element
/// (`block-elements/button-element`): `text` `plain_text` of at most 75 characters, `action_id`
/// at most 255, `url` at most 3000, `value` at most 2000, `style` `primary` or `danger`; the
/// image block: `image_url` at most 3000, `alt_text` required, at most 2000; the markdown block:
/// `text` at most 12,000.
pub fn validate_blocks(blocks: &Value) -> Result<(), String> {
    if blocks.is_null() {
        return Ok(());
    }
    let blocks = array(Some(blocks), "/blocks", 0, MAX_BLOCKS)?;
    let mut block_ids = HashSet::new();
    for (i, block) in blocks.iter().enumerate() {
        let path = format!("/blocks/{i}");
        let fields = object(block, &path)?;
        if let Some(id) = string(fields, "block_id", &path, 255, false)?
            && !block_ids.insert(id)
        {
            return problem(format!("{path}/block_id"), "block_id must be unique within a message");
        }
        match kind(fields, &path)? {
            "section" => section(fields, &path)?,
            "header" => {
                text_object(fields.get("text"), &format!("{path}/text"), 150, TextKind::PlainOnly)?;
            }
            "context" => {
                let elements = array(fields.get("elements"), &format!("{path}/elements"), 1, 10)?;
                for (j, element) in elements.iter().enumerate() {
                    let at = format!("{path}/elements/{j}");
                    if element.get("type").and_then(Value::as_str) == Some("image") {
                        image_element(element, &at)?;
                    } else {
                        text_object(Some(element), &at, 3000, TextKind::Any)?;
                    }
                }
            }
            "divider" => {}
            "actions" => {
                let elements = array(fields.get("elements"), &format!("{path}/elements"), 1, 25)?;
                for (j, element) in elements.iter().enumerate() {
                    interactive_element(element, &format!("{path}/elements/{j}"))?;
                }
            }
            "image" => {
                string(fields, "image_url", &path, 3000, !fields.contains_key("slack_file"))?;
                string(fields, "alt_text", &path, 2000, true)?;
                if fields.contains_key("title") {
                    text_object(fields.get("title"), &format!("{path}/title"), 2000, TextKind::PlainOnly)?;
                }
            }
            "rich_text" => {
                array(fields.get("elements"), &format!("{path}/elements"), 1, usize::MAX)?;
            }
            "markdown" => {
                string(fields, "text", &path, 12_000, true)?;
            }
            other => return problem(format!("{path}/type"), format!("unsupported block type `{other}`")),
        }
    }
    Ok(())
}

/// A section block: `text` or `fields` (or both), and an optional `accessory`.
fn section(fields: &Map<String, Value>, path: &str) -> Result<(), String> {
    let text = fields.get("text");
    let columns = fields.get("fields");
    if text.is_none() && columns.is_none() {
        return problem(path, "must provide either text or fields");
    }
    if text.is_some() {
        text_object(text, &format!("{path}/text"), 3000, TextKind::Any)?;
    }
    if columns.is_some() {
        let columns = array(columns, &format!("{path}/fields"), 1, 10)?;
        for (i, column) in columns.iter().enumerate() {
            text_object(Some(column), &format!("{path}/fields/{i}"), 2000, TextKind::Any)?;
        }
    }
    if let Some(accessory) = fields.get("accessory") {
        let at = format!("{path}/accessory");
        if accessory.get("type").and_then(Value::as_str) == Some("image") {
            image_element(accessory, &at)?;
        } else {
            interactive_element(accessory, &at)?;
        }
    }
    Ok(())
}

/// Interactive elements an actions block or a section's accessory may hold; only buttons are
/// checked field by field (the node sends no other kind).
const INTERACTIVE_ELEMENTS: &[&str] = &[
    "button",
    "checkboxes",
    "datepicker",
    "datetimepicker",
    "overflow",
    "radio_buttons",
    "static_select",
    "external_select",
    "users_select",
    "conversations_select",
    "channels_select",
    "multi_static_select",
    "multi_external_select",
    "multi_users_select",
    "multi_conversations_select",
    "multi_channels_select",
    "timepicker",
    "workflow_button",
];

/// An interactive element; a button's fields are checked against the button element's page.
fn interactive_element(element: &Value, path: &str) -> Result<(), String> {
    let fields = object(element, path)?;
    let kind = kind(fields, path)?;
    if !INTERACTIVE_ELEMENTS.contains(&kind) {
        return problem(format!("{path}/type"), format!("unsupported element type `{kind}`"));
    }
    if kind == "button" {
        text_object(fields.get("text"), &format!("{path}/text"), 75, TextKind::PlainOnly)?;
        string(fields, "action_id", path, 255, false)?;
        string(fields, "url", path, 3000, false)?;
        string(fields, "value", path, 2000, false)?;
        if let Some(style) = string(fields, "style", path, usize::MAX, false)?
            && style != "primary"
            && style != "danger"
        {
            return problem(format!("{path}/style"), "must be one of primary, danger");
        }
    }
    Ok(())
}

/// An image element (in a context block or as an accessory): `image_url` (or `slack_file`) and
/// `alt_text`.
fn image_element(element: &Value, path: &str) -> Result<(), String> {
    let fields = object(element, path)?;
    string(fields, "image_url", path, 3000, !fields.contains_key("slack_file"))?;
    string(fields, "alt_text", path, 2000, true)?;
    Ok(())
}

/// Which text objects a field takes.
#[derive(Clone, Copy, PartialEq)]
enum TextKind {
    /// `plain_text` or `mrkdwn`.
    Any,
    /// Only `plain_text` (headers, buttons, image titles).
    PlainOnly,
}

/// A text object at `path` whose `text` may be `max` characters long.
fn text_object(value: Option<&Value>, path: &str, max: usize, allowed: TextKind) -> Result<(), String> {
    let Some(value) = value else {
        return problem(path, "must provide an object");
    };
    let fields = object(value, path)?;
    let kind = kind(fields, path)?;
    match kind {
        "plain_text" => {}
        "mrkdwn" if allowed == TextKind::PlainOnly => {
            return problem(format!("{path}/type"), "must be plain_text");
        }
        "mrkdwn" => {}
        _ => return problem(format!("{path}/type"), "must be one of plain_text, mrkdwn"),
    }
    string(fields, "text", path, max, true)?;
    if fields.contains_key("emoji") && kind != "plain_text" {
        return problem(format!("{path}/emoji"), "emoji is only allowed when type is plain_text");
    }
    if fields.contains_key("verbatim") && kind != "mrkdwn" {
        return problem(format!("{path}/verbatim"), "verbatim is only allowed when type is mrkdwn");
    }
    Ok(())
}

/// An object's `type`, which every block, element and text object has.
fn kind<'a>(fields: &'a Map<String, Value>, path: &str) -> Result<&'a str, String> {
    match fields.get("type") {
        Some(Value::String(kind)) if !kind.is_empty() => Ok(kind),
        _ => problem(format!("{path}/type"), "must provide a string"),
    }
}

/// `value` as an object.
fn object<'a>(value: &'a Value, path: &str) -> Result<&'a Map<String, Value>, String> {
    value.as_object().map_or_else(|| problem(path, "must provide an object"), Ok)
}

/// `value` as an array of `min..=max` items.
fn array<'a>(value: Option<&'a Value>, path: &str, min: usize, max: usize) -> Result<&'a Vec<Value>, String> {
    let Some(Value::Array(items)) = value else {
        return problem(path, "must provide an array");
    };
    if items.len() < min {
        return problem(path, format!("must provide at least {min} items"));
    }
    if items.len() > max {
        return problem(path, format!("no more than {max} items allowed"));
    }
    Ok(items)
}

/// The string field `name` of an object at `path`: at most `max` characters, not empty when
/// present, required when `required`.
fn string<'a>(
    fields: &'a Map<String, Value>,
    name: &str,
    path: &str,
    max: usize,
    required: bool,
) -> Result<Option<&'a str>, String> {
    let at = format!("{path}/{name}");
    match fields.get(name) {
        None if required => problem(at, "must provide a string"),
        None => Ok(None),
        Some(Value::String(s)) if s.is_empty() => problem(at, "must be more than 0 characters"),
        Some(Value::String(s)) if s.chars().count() > max => {
            problem(at, format!("must be less than {} characters", max.saturating_add(1)))
        }
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => problem(at, "must provide a string"),
    }
}

/// A validation failure worded as Slack words it: `what [json-pointer:path]`.
fn problem<T>(path: impl Display, what: impl Display) -> Result<T, String> {
    Err(format!("{what} [json-pointer:{path}]"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_client::{Reply, send};

    const TOKEN: &str = "xoxb-emulated-0001";

    /// A workspace with Ada (a member), Bob (deactivated), `#alerts` (with the bot) and
    /// `#general` (without), served on loopback.
    async fn workspace() -> (Slack, String) {
        let slack = Slack::new(TOKEN);
        slack.add_user("Ada.Lovelace@Example.com", "U0ADA0001");
        slack.add_deleted_user("bob@example.com", "U0BOB0001");
        slack.add_channel("C0ALERTS1", "alerts", true);
        slack.add_channel("C0GENERAL", "general", false);
        let base = crate::serve(slack.router()).await;
        (slack, base)
    }

    /// `chat.postMessage` with a JSON body, as the node sends it.
    async fn post(base: &str, body: &Value) -> Reply {
        let auth = format!("Bearer {TOKEN}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json; charset=utf-8")];
        send(base, "POST", "/api/chat.postMessage", &headers, body.to_string().as_bytes()).await
    }

    /// A message to `#alerts` with these blocks and a fallback text.
    fn with_blocks(blocks: Value) -> Value {
        json!({ "channel": "C0ALERTS1", "text": "fallback", "blocks": blocks })
    }

    async fn lookup(base: &str, email: &str) -> Value {
        let auth = format!("Bearer {TOKEN}");
        let target = format!(
            "/api/users.lookupByEmail?email={}",
            url::form_urlencoded::byte_serialize(email.as_bytes()).collect::<String>()
        );
        send(base, "GET", &target, &[("Authorization", auth.as_str())], b"").await.json()
    }

    #[tokio::test]
    async fn lookup_finds_a_member_by_email_ignoring_case() {
        let (slack, base) = workspace().await;
        let found = lookup(&base, "ada.lovelace@example.COM").await;
        assert_eq!(found["ok"], true, "{found}");
        assert_eq!(found["user"]["id"], "U0ADA0001");
        assert_eq!(found["user"]["deleted"], false);
        assert_eq!(found["user"]["team_id"], TEAM_ID);
        assert_eq!(found["user"]["profile"]["email"], "Ada.Lovelace@Example.com");
        assert_eq!(slack.lookups(), vec!["ada.lovelace@example.COM".to_owned()]);
    }

    #[tokio::test]
    async fn lookup_accepts_a_form_post() {
        let (_, base) = workspace().await;
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        let body = format!("token={TOKEN}&email=ada.lovelace%40example.com");
        let found = send(&base, "POST", "/api/users.lookupByEmail", &headers, body.as_bytes()).await.json();
        assert_eq!(found["ok"], true, "{found}");
        assert_eq!(found["user"]["id"], "U0ADA0001");
    }

    #[tokio::test]
    async fn lookup_reports_a_deactivated_member_as_deleted() {
        let (_, base) = workspace().await;
        let found = lookup(&base, "bob@example.com").await;
        assert_eq!(found["ok"], true, "{found}");
        assert_eq!(found["user"]["deleted"], true);
    }

    #[tokio::test]
    async fn lookup_refuses_unknown_and_missing_addresses() {
        let (slack, base) = workspace().await;
        let unknown = lookup(&base, "nobody@example.com").await;
        assert_eq!(unknown, json!({ "ok": false, "error": "users_not_found" }));
        let auth = format!("Bearer {TOKEN}");
        let missing = send(&base, "GET", "/api/users.lookupByEmail", &[("Authorization", auth.as_str())], b"").await;
        assert_eq!(missing.status, 200);
        let missing = missing.json();
        assert_eq!(missing["error"], "invalid_arguments");
        assert_eq!(missing["response_metadata"]["messages"][0], "[ERROR] missing required field: email");
        assert_eq!(slack.lookups(), vec!["nobody@example.com".to_owned()]);
    }

    #[tokio::test]
    async fn calls_without_the_right_live_token_are_refused_with_http_200() {
        let (slack, base) = workspace().await;
        let none = send(&base, "GET", "/api/users.lookupByEmail?email=a%40b.c", &[], b"").await;
        assert_eq!((none.status, none.json()), (200, json!({ "ok": false, "error": "not_authed" })));
        // A token in the query string is not read.
        let target = format!("/api/users.lookupByEmail?email=a%40b.c&token={TOKEN}");
        let in_query = send(&base, "GET", &target, &[], b"").await.json();
        assert_eq!(in_query["error"], "not_authed");
        let wrong = send(
            &base,
            "GET",
            "/api/users.lookupByEmail?email=a%40b.c",
            &[("Authorization", "Bearer xoxb-wrong")],
            b"",
        )
        .await;
        assert_eq!((wrong.status, wrong.json()), (200, json!({ "ok": false, "error": "invalid_auth" })));
        slack.revoke();
        let revoked = post(&base, &json!({ "channel": "C0ALERTS1", "text": "hi" })).await;
        assert_eq!((revoked.status, revoked.json()), (200, json!({ "ok": false, "error": "token_revoked" })));
        assert!(slack.messages().is_empty());
    }

    #[tokio::test]
    async fn a_json_body_needs_the_bearer_header() {
        let (slack, base) = workspace().await;
        let body = json!({ "token": TOKEN, "channel": "C0ALERTS1", "text": "hi" }).to_string();
        let answer =
            send(&base, "POST", "/api/chat.postMessage", &[("Content-Type", "application/json")], body.as_bytes())
                .await
                .json();
        assert_eq!(answer["error"], "not_authed");
        assert!(slack.messages().is_empty());
    }

    #[tokio::test]
    async fn posts_to_a_channel_the_bot_is_in() {
        let (slack, base) = workspace().await;
        let answer =
            post(&base, &json!({ "channel": "C0ALERTS1", "text": "3 new overlaps", "unfurl_links": false })).await;
        assert_eq!(answer.status, 200);
        let answer = answer.json();
        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["channel"], "C0ALERTS1");
        assert_eq!(answer["ts"], "1712345678.000100");
        assert_eq!(answer["message"]["text"], "3 new overlaps");
        assert!(answer.get("warning").is_none(), "{answer}");
        let second = post(&base, &json!({ "channel": "#alerts", "text": "again" })).await.json();
        assert_eq!((second["ok"].clone(), second["ts"].clone()), (json!(true), json!("1712345678.000200")));
        let posted = slack.messages();
        assert_eq!(posted.len(), 2);
        assert_eq!(posted[0].channel, "C0ALERTS1");
        assert_eq!(posted[0].text, "3 new overlaps");
        assert_eq!(posted[0].blocks, Value::Null);
        assert_eq!(posted[0].unfurl_links, Some(false));
        assert!(posted[0].has_fallback_text());
        assert_eq!(posted[1].unfurl_links, None);
    }

    #[tokio::test]
    async fn json_without_a_charset_succeeds_with_a_warning() {
        let (slack, base) = workspace().await;
        let auth = format!("Bearer {TOKEN}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        let body = json!({ "channel": "C0ALERTS1", "text": "hi" }).to_string();
        let answer = send(&base, "POST", "/api/chat.postMessage", &headers, body.as_bytes()).await.json();
        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["warning"], "missing_charset");
        assert_eq!(answer["response_metadata"]["warnings"], json!(["missing_charset"]));
        assert_eq!(slack.messages().len(), 1);
    }

    #[tokio::test]
    async fn posts_a_form_with_blocks_as_a_json_string() {
        let (slack, base) = workspace().await;
        let blocks = json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "*Acme* matched" } }]).to_string();
        let body: String = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("token", TOKEN)
            .append_pair("channel", "C0ALERTS1")
            .append_pair("text", "Acme matched")
            .append_pair("blocks", &blocks)
            .append_pair("unfurl_links", "true")
            .finish();
        let headers = [("Content-Type", "application/x-www-form-urlencoded")];
        let answer = send(&base, "POST", "/api/chat.postMessage", &headers, body.as_bytes()).await.json();
        assert_eq!(answer["ok"], true, "{answer}");
        let posted = slack.messages();
        assert_eq!(posted[0].blocks[0]["text"]["text"], "*Acme* matched");
        assert_eq!(posted[0].unfurl_links, Some(true));
    }

    #[tokio::test]
    async fn refuses_malformed_bodies() {
        let (_, base) = workspace().await;
        let auth = format!("Bearer {TOKEN}");
        // (Content-Type, body, the error): the bearer header is always there.
        let cases: [(Option<&str>, &[u8], &str); 4] = [
            (None, b"channel=C0ALERTS1", "missing_post_type"),
            (Some("text/xml"), b"<a/>", "invalid_post_type"),
            (Some("application/json; charset=latin-9"), b"{}", "invalid_charset"),
            (Some("application/json; charset=utf-8"), b"[1,", "invalid_json"),
        ];
        for (content_type, body, error) in cases {
            let mut headers = vec![("Authorization", auth.as_str())];
            headers.extend(content_type.map(|t| ("Content-Type", t)));
            let answer = send(&base, "POST", "/api/chat.postMessage", &headers, body).await.json();
            assert_eq!(answer["error"], error, "{answer}");
        }
    }

    #[tokio::test]
    async fn refuses_channels_it_cannot_post_to() {
        let (slack, base) = workspace().await;
        for (channel, error) in [
            (json!("C0UNKNOWN"), "channel_not_found"),
            (json!(""), "channel_not_found"),
            (Value::Null, "channel_not_found"),
            (json!("C0GENERAL"), "not_in_channel"),
            (json!("#general"), "not_in_channel"),
            (json!("U0BOB0001"), "user_disabled"),
        ] {
            let answer = post(&base, &json!({ "channel": channel, "text": "hi" })).await.json();
            assert_eq!(answer, json!({ "ok": false, "error": error }), "channel {channel}");
        }
        assert!(slack.messages().is_empty());
    }

    #[tokio::test]
    async fn a_member_id_posts_to_the_apps_dm() {
        let (slack, base) = workspace().await;
        let answer = post(&base, &json!({ "channel": "U0ADA0001", "text": "You have a new overlap" })).await.json();
        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["channel"], "D0ADA0001");
        assert_eq!(slack.dm_channel("U0ADA0001").as_deref(), Some("D0ADA0001"));
        assert_eq!(slack.messages()[0].channel, "D0ADA0001");
    }

    #[tokio::test]
    async fn refuses_messages_without_content_or_too_long() {
        let (slack, base) = workspace().await;
        for body in [
            json!({ "channel": "C0ALERTS1" }),
            json!({ "channel": "C0ALERTS1", "text": "" }),
            json!({ "channel": "C0ALERTS1", "blocks": [] }),
        ] {
            assert_eq!(post(&base, &body).await.json()["error"], "no_text", "{body}");
        }
        let long = "x".repeat(MAX_TEXT_CHARS + 1);
        let answer = post(&base, &json!({ "channel": "C0ALERTS1", "text": long })).await.json();
        assert_eq!(answer["error"], "msg_too_long");
        let at_limit = "é".repeat(MAX_TEXT_CHARS);
        assert_eq!(post(&base, &json!({ "channel": "C0ALERTS1", "text": at_limit })).await.json()["ok"], true);
        assert_eq!(slack.messages().len(), 1);
    }

    #[tokio::test]
    async fn blocks_without_text_are_accepted_and_flagged() {
        let (slack, base) = workspace().await;
        let blocks = json!([
            { "type": "header", "text": { "type": "plain_text", "text": "New overlaps", "emoji": true } },
            { "type": "section", "block_id": "summary", "fields": [
                { "type": "mrkdwn", "text": "*Partner*\nGlobex" },
                { "type": "plain_text", "text": "3 accounts" }
            ], "accessory": { "type": "button", "text": { "type": "plain_text", "text": "Open" },
                "url": "https://node.example/overlaps", "action_id": "open" } },
            { "type": "divider" },
            { "type": "context", "elements": [
                { "type": "image", "image_url": "https://node.example/logo.png", "alt_text": "logo" },
                { "type": "mrkdwn", "text": "Sent by blindmap", "verbatim": true }
            ] },
            { "type": "actions", "elements": [
                { "type": "button", "text": { "type": "plain_text", "text": "Review" }, "style": "primary",
                  "url": "https://node.example/review", "value": "review" }
            ] },
            { "type": "image", "image_url": "https://node.example/chart.png", "alt_text": "chart",
              "title": { "type": "plain_text", "text": "Chart" } },
            { "type": "rich_text", "elements": [{ "type": "rich_text_section", "elements": [{ "type": "text", "text": "hi" }] }] }
        ]);
        let answer = post(&base, &json!({ "channel": "C0ALERTS1", "blocks": blocks })).await.json();
        assert_eq!(answer["ok"], true, "{answer}");
        assert_eq!(answer["message"]["blocks"], blocks);
        let posted = slack.messages();
        assert_eq!(posted[0].blocks, blocks);
        assert_eq!(posted[0].text, "");
        assert!(!posted[0].has_fallback_text());
    }

    #[tokio::test]
    async fn refuses_invalid_blocks_naming_the_part_at_fault() {
        let (slack, base) = workspace().await;
        let plain = |text: &str| json!({ "type": "plain_text", "text": text });
        let mrkdwn = |text: &str| json!({ "type": "mrkdwn", "text": text });
        let section = json!({ "type": "section", "text": mrkdwn("hi") });
        let button = |text: Value| json!({ "type": "button", "text": text });
        let cases = [
            (json!(vec![section.clone(); 51]), "no more than 50 items allowed [json-pointer:/blocks]"),
            (json!([{ "type": "carousel" }]), "unsupported block type `carousel` [json-pointer:/blocks/0/type]"),
            (json!([{ "text": mrkdwn("hi") }]), "must provide a string [json-pointer:/blocks/0/type]"),
            (
                json!([{ "type": "section", "block_id": "b".repeat(256), "text": mrkdwn("hi") }]),
                "must be less than 256 characters [json-pointer:/blocks/0/block_id]",
            ),
            (
                json!([{ "type": "divider", "block_id": "x" }, { "type": "divider", "block_id": "x" }]),
                "block_id must be unique within a message [json-pointer:/blocks/1/block_id]",
            ),
            (
                json!([{ "type": "section", "text": { "type": "markdown", "text": "hi" } }]),
                "must be one of plain_text, mrkdwn [json-pointer:/blocks/0/text/type]",
            ),
            (
                json!([{ "type": "section", "text": mrkdwn("") }]),
                "must be more than 0 characters [json-pointer:/blocks/0/text/text]",
            ),
            (
                json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "hi", "emoji": true } }]),
                "emoji is only allowed when type is plain_text [json-pointer:/blocks/0/text/emoji]",
            ),
            (
                json!([{ "type": "header", "text": mrkdwn("Title") }]),
                "must be plain_text [json-pointer:/blocks/0/text/type]",
            ),
            (
                json!([{ "type": "header", "text": plain(&"h".repeat(151)) }]),
                "must be less than 151 characters [json-pointer:/blocks/0/text/text]",
            ),
            (json!([{ "type": "section" }]), "must provide either text or fields [json-pointer:/blocks/0]"),
            (
                json!([{ "type": "section", "text": mrkdwn(&"s".repeat(3001)) }]),
                "must be less than 3001 characters [json-pointer:/blocks/0/text/text]",
            ),
            (
                json!([{ "type": "section", "fields": vec![mrkdwn("f"); 11] }]),
                "no more than 10 items allowed [json-pointer:/blocks/0/fields]",
            ),
            (
                json!([{ "type": "section", "fields": [mrkdwn("f"), mrkdwn(&"f".repeat(2001))] }]),
                "must be less than 2001 characters [json-pointer:/blocks/0/fields/1/text]",
            ),
            (
                json!([{ "type": "context", "elements": vec![mrkdwn("c"); 11] }]),
                "no more than 10 items allowed [json-pointer:/blocks/0/elements]",
            ),
            (
                json!([{ "type": "context", "elements": [{ "type": "image", "image_url": "https://x.example/a.png" }] }]),
                "must provide a string [json-pointer:/blocks/0/elements/0/alt_text]",
            ),
            (
                json!([{ "type": "actions", "elements": vec![button(plain("b")); 26] }]),
                "no more than 25 items allowed [json-pointer:/blocks/0/elements]",
            ),
            (
                json!([{ "type": "actions", "elements": [button(plain(&"b".repeat(76)))] }]),
                "must be less than 76 characters [json-pointer:/blocks/0/elements/0/text/text]",
            ),
            (
                json!([{ "type": "actions", "elements": [button(mrkdwn("*b*"))] }]),
                "must be plain_text [json-pointer:/blocks/0/elements/0/text/type]",
            ),
            (
                json!([{ "type": "actions", "elements": [{ "type": "button", "text": plain("b"), "url": format!("https://x.example/{}", "u".repeat(3000)) }] }]),
                "must be less than 3001 characters [json-pointer:/blocks/0/elements/0/url]",
            ),
            (
                json!([{ "type": "actions", "elements": [{ "type": "button", "text": plain("b"), "action_id": "a".repeat(256) }] }]),
                "must be less than 256 characters [json-pointer:/blocks/0/elements/0/action_id]",
            ),
            (
                json!([{ "type": "actions", "elements": [{ "type": "button", "text": plain("b"), "style": "secondary" }] }]),
                "must be one of primary, danger [json-pointer:/blocks/0/elements/0/style]",
            ),
            (
                json!([{ "type": "actions", "elements": [{ "type": "link", "text": plain("b") }] }]),
                "unsupported element type `link` [json-pointer:/blocks/0/elements/0/type]",
            ),
        ];
        for (blocks, expected) in cases {
            let answer = post(&base, &with_blocks(blocks)).await;
            assert_eq!(answer.status, 200);
            let answer = answer.json();
            assert_eq!(answer["ok"], false, "{expected}");
            assert_eq!(answer["error"], "invalid_blocks", "{expected}");
            assert_eq!(answer["errors"], json!([expected]));
            assert_eq!(answer["response_metadata"]["messages"], json!([format!("[ERROR] {expected}")]));
        }
        assert!(slack.messages().is_empty());
    }

    #[tokio::test]
    async fn refuses_blocks_that_are_not_an_array() {
        let (_, base) = workspace().await;
        for blocks in [json!({ "type": "divider" }), json!("[{\"type\":"), json!("{}")] {
            let answer = post(&base, &with_blocks(blocks.clone())).await.json();
            assert_eq!(answer["error"], "invalid_blocks_format", "{blocks}");
        }
    }

    #[tokio::test]
    async fn rate_limits_the_next_calls_then_recovers() {
        let (slack, base) = workspace().await;
        slack.rate_limit_next(2);
        for _ in 0..2 {
            let limited = post(&base, &json!({ "channel": "C0ALERTS1", "text": "hi" })).await;
            assert_eq!(limited.status, 429);
            assert_eq!(limited.header("retry-after"), Some("1"));
            assert_eq!(limited.json(), json!({ "ok": false, "error": "ratelimited" }));
        }
        assert!(slack.messages().is_empty());
        assert_eq!(post(&base, &json!({ "channel": "C0ALERTS1", "text": "hi" })).await.json()["ok"], true);
    }

    #[test]
    fn validates_blocks_without_a_server() {
        assert_eq!(validate_blocks(&Value::Null), Ok(()));
        assert_eq!(validate_blocks(&json!([{ "type": "markdown", "text": "**hi**" }])), Ok(()));
        assert_eq!(
            validate_blocks(&json!([{ "type": "markdown", "text": "m".repeat(12_001) }])),
            Err("must be less than 12001 characters [json-pointer:/blocks/0/text]".to_owned()),
        );
    }
}
