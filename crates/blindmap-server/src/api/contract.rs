//! The parts of the API's contract that no single handler states: the responses every operation
//! can give whatever its handler does — from authentication, the extractors and the layers —
//! added to the document in one place ([`CommonResponses`]), and the shapes of the identifiers
//! and texts several routes share, each stated once as a named schema.
//!
//! A schema here must say exactly what the server accepts: a value it refuses must not fit the
//! schema, and a value that fits must not be refused for its shape. `scripts/schemathesis.sh`
//! holds the two to each other.

use serde_json::json;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::{Response, ResponseBuilder};
use utoipa::openapi::schema::Schema;
use utoipa::openapi::security::SecurityRequirement;
use utoipa::openapi::{Content, Object, OpenApi, Ref, RefOr, Type};
use utoipa::{Modify, PartialSchema, ToSchema};

/// Adds to each operation the responses it can give whatever its handler does. Statuses the
/// operation documents itself keep their own description.
///
/// - every operation: 408 (the request outlived `request_timeout_seconds`), 500, 503 with
///   `Retry-After` (the store is busy), and 400 for a request target holding NUL
///   (`error::check_target`);
/// - behind a bearer token (the operation does not opt out with `security(())`): 401 with
///   `WWW-Authenticate`, and 429 with `Retry-After`;
/// - with path parameters, 400 also for one that is not UTF-8 once decoded; with query
///   parameters, 400 also for one of the wrong type, missing or unknown;
/// - with an `Idempotency-Key` header (see `api::idempotent`): 409 (the key was used for another
///   request, or its first request is still running: then with `Retry-After`) and 422 (a
///   malformed key);
/// - with a body: 413 (larger than the node takes); a JSON body read by the API's
///   [`Json`](crate::http::extract::Json) or [`OptionalJson`](crate::http::extract::OptionalJson) — every
///   token-authenticated JSON body — adds 415 (not sent as `application/json`), 400 (not JSON)
///   and 422 (JSON of the wrong shape, or holding NUL).
///
/// This runs on the merged document (after `split_for_parts`): the `OpenApi` derive applies its
/// own modifiers before any route is merged.
pub(super) struct CommonResponses;

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for item in openapi.paths.paths.values_mut() {
            let operations = [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
                &mut item.head,
                &mut item.options,
                &mut item.trace,
            ];
            for operation in operations.into_iter().flatten() {
                add_common(operation);
            }
        }
    }
}

/// Whether an operation needs the bearer token (it does unless it says `security(())`).
fn needs_token(operation: &Operation) -> bool {
    operation.security.as_ref().is_none_or(|alternatives| {
        !alternatives.is_empty() && alternatives.iter().all(|a| *a != SecurityRequirement::default())
    })
}

fn add_common(operation: &mut Operation) {
    let token = needs_token(operation);
    let parameters_in = |place: ParameterIn| {
        operation.parameters.iter().flatten().any(|p| matches!(p, RefOr::T(p) if p.parameter_in == place))
    };
    let (in_path, in_query) = (parameters_in(ParameterIn::Path), parameters_in(ParameterIn::Query));
    let body_types: Vec<String> = match &operation.request_body {
        Some(RefOr::T(body)) => body.content.keys().cloned().collect(),
        _ => Vec::new(),
    };
    let json_body = token && body_types.iter().any(|t| t == "application/json");
    let idempotent = operation.parameters.iter().flatten().any(|p| {
        matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Header && p.name.eq_ignore_ascii_case("Idempotency-Key"))
    });

    let mut add = |status: &str, response: Response| {
        operation.responses.responses.entry(status.to_owned()).or_insert(RefOr::T(response));
    };
    if json_body {
        add("400", problem("The body is not JSON"));
        add(
            "422",
            problem("The body is JSON of another shape — a field missing, unknown or of the wrong type — or holds NUL"),
        );
        add("415", problem("The body is not sent as application/json"));
    }
    if idempotent {
        add("409", problem("The Idempotency-Key was used for another request, or its first request is still running"));
        add("422", problem("The Idempotency-Key is not 1 to 200 visible characters"));
    }
    if in_query {
        add("400", problem("A query parameter is missing, unknown or of the wrong type, or holds NUL (%00)"));
    }
    if in_path {
        add("400", problem("A path parameter is not UTF-8 once percent-decoded, or holds NUL (%00)"));
    }
    add("400", problem("The request target holds NUL (%00)"));
    if !body_types.is_empty() {
        add("413", problem("The body is larger than the node takes (max_body_mib)"));
    }
    if token {
        let challenge = HeaderBuilder::new()
            .schema(Some(Object::with_type(Type::String)))
            .description(Some("`Bearer`: the scheme to authenticate with"))
            .build();
        add(
            "401",
            problem_builder("No bearer token, or one that is unknown or revoked")
                .header("WWW-Authenticate", challenge)
                .build(),
        );
        add("429", problem("Too many requests for this token or organisation"));
    }
    add("408", problem("The request took longer than the node allows (request_timeout_seconds)"));
    add("500", problem("The node failed to handle the request; its log says why"));
    add("503", problem("The store is busy (SQLite): ask again after the Retry-After header's seconds"));
    // Whatever else a 503 or 429 means on a route, and a 409 where a key's first request still
    // runs, it says when to ask again.
    let mut retry = vec!["429", "503"];
    if idempotent {
        retry.push("409");
    }
    for status in retry {
        if let Some(RefOr::T(response)) = operation.responses.responses.get_mut(status) {
            response.headers.entry("Retry-After".to_owned()).or_insert_with(|| {
                RefOr::T(
                    HeaderBuilder::new()
                        .schema(Some(Object::with_type(Type::Integer)))
                        .description(Some("Seconds to wait before asking again"))
                        .build(),
                )
            });
        }
    }
}

fn problem_builder(description: &str) -> ResponseBuilder {
    ResponseBuilder::new()
        .description(description)
        .content("application/problem+json", Content::new(Some(Ref::from_schema_name("Problem"))))
}

fn problem(description: &str) -> Response {
    problem_builder(description).build()
}

/// A named string schema with a pattern: an identifier's shape, or a text rule several routes
/// share. The type only carries the schema; values are read as `String` and checked where used.
macro_rules! text_schema {
    ($(#[$doc:meta])* $name:ident, $pattern:tt $(, $feature:ident = $value:tt)*) => {
        $(#[$doc])*
        #[derive(ToSchema)]
        #[schema(pattern = $pattern $(, $feature = $value)*)]
        #[allow(dead_code, reason = "only its schema is used")]
        pub(crate) struct $name(String);
    };
}

text_schema!(
    /// An `Idempotency-Key`: 1 to 200 visible ASCII characters (spaces and tabs inside).
    IdempotencyKey,
    "^[\\x21-\\x7e](?:[\\t\\x20-\\x7e]{0,198}[\\x21-\\x7e])?$"
);
text_schema!(
    /// A dataset's id: `ds_` and 32 hex digits.
    DatasetId,
    "^ds_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A partnership's id on this node: `pt_` and 32 hex digits.
    PartnershipId,
    "^pt_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A match run's id: `run_` and 32 hex digits.
    RunId,
    "^run_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A user's id: `usr_` and 32 hex digits.
    UserId,
    "^usr_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// An API token's id (not the token): `tok_` and 32 hex digits.
    TokenId,
    "^tok_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A webhook endpoint's id: `whe_` and 32 hex digits.
    EndpointId,
    "^whe_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// An alert channel's id: `ach_` and 32 hex digits.
    AlertChannelId,
    "^ach_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// An alert rule's id: `alr_` and 32 hex digits.
    AlertRuleId,
    "^alr_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// An alert message's id: `alm_` and 32 hex digits.
    AlertMessageId,
    "^alm_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A CRM connection's id: `crm_` and 32 hex digits.
    ConnectionId,
    "^crm_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A CRM sync's id: `sync_` and 32 hex digits.
    SyncId,
    "^sync_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A CRM write-back's id: `wb_` and 32 hex digits.
    WritebackId,
    "^wb_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// An event's id (the `webhook-id` of its deliveries): `msg_` and 32 hex digits.
    EventId,
    "^msg_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A match correction's id: `mc_` and 32 hex digits.
    CorrectionId,
    "^mc_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A partner touch's id: `tc_` and 32 hex digits.
    TouchId,
    "^tc_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// An inbound webhook source's id: `src_` and 32 hex digits.
    SourceId,
    "^src_[0-9a-fA-F]{32}$"
);
text_schema!(
    /// A place in the ledger, as `next` gave it: the entry's place (a 32-bit number) and its
    /// opportunity's bytes in hex.
    LedgerCursor,
    "^0*(?:[0-9]{1,9}|[1-3][0-9]{9}|4[01][0-9]{8}|42[0-8][0-9]{7}|429[0-3][0-9]{6}|4294[0-8][0-9]{5}|42949[0-5][0-9]{4}|429496[0-6][0-9]{3}|4294967[01][0-9]{2}|42949672[0-8][0-9]|429496729[0-5])\\.(?:[0-9a-fA-F]{2})*$"
);
text_schema!(
    /// A place in the list of per-account changes, as `next` gave it: the change's time (Unix
    /// ms), its run, account, own segment and partner segment in hex, and `new` or `lost`.
    ChangeCursor,
    "^[0-9]{1,18}(?:\\.(?:[0-9a-fA-F]{2})*){4}\\.(?:new|lost)$"
);
text_schema!(
    /// A place in a run's overlaps, as `next` gave it: the partner record (up to 18 digits,
    /// maybe negative), then the own segment, the partner segment and the account, each in hex.
    OverlapCursor,
    "^-?[0-9]{1,18}(?:\\.(?:[0-9a-fA-F]{2})*){3}$"
);
text_schema!(
    /// A segment label: lower-case letters and digits in words joined by `_`, at most 64
    /// characters.
    SegmentLabel,
    "^[a-z0-9]+(?:_[a-z0-9]+)*$",
    max_length = 64
);
text_schema!(
    /// A text with something in it besides blanks.
    NotBlank,
    "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]"
);
text_schema!(
    /// A name or label: 1 to 200 characters, no blank at either end, no control characters.
    Label,
    "^[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000](?:[^\\x00-\\x1f\\x7f-\\x9f]{0,198}[^\\x00-\\x20\\x7f-\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000])?$",
    min_length = 1,
    max_length = 200
);
text_schema!(
    /// A segment label (lower-case letters and digits in words joined by `_`, at most 64
    /// characters), or `*` for any segment.
    SegmentRule,
    "^(?:\\*|[a-z0-9]+(?:_[a-z0-9]+)*)$",
    max_length = 64
);

/// A schema written as JSON: for what the derive cannot say (a `oneOf` of object shapes).
fn from_json(value: serde_json::Value) -> RefOr<Schema> {
    RefOr::T(serde_json::from_value(value).expect("a valid schema"))
}

/// One sharing rule: for a pair of segments, the level shared; `fields` names what a `fields`
/// level shows, and only it.
pub(crate) struct SharingRule;

impl PartialSchema for SharingRule {
    fn schema() -> RefOr<Schema> {
        let segment = |whose: &str| json!({ "$ref": "#/components/schemas/SegmentRule", "description": format!("{whose} segment, or `*`") });
        let (own, partner) = (segment("This side's"), segment("The partner's"));
        from_json(json!({
            "description": "One sharing rule: for a pair of segments, the level this side shares.",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["own_segment", "partner_segment", "level"],
                    "properties": {
                        "own_segment": own,
                        "partner_segment": partner,
                        "level": { "type": "string", "enum": ["hidden", "counts", "overlaps"],
                            "description": "`hidden`: nothing; `counts`: counts per pair of segments; `overlaps`: which accounts overlap" },
                        "fields": { "type": "array", "items": { "type": "string" }, "maxItems": 0,
                            "description": "Only with `fields`" }
                    }
                },
                {
                    "type": "object",
                    "required": ["own_segment", "partner_segment", "level", "fields"],
                    "properties": {
                        "own_segment": own,
                        "partner_segment": partner,
                        "level": { "type": "string", "enum": ["fields"],
                            "description": "As `overlaps`, with these fields of the matching accounts" },
                        "fields": { "type": "array", "minItems": 1, "maxItems": blindmap_psi::MAX_FIELDS,
                            "items": { "type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$",
                                "description": "A field name: 1 to 64 of a-z, 0-9 and _, starting with a letter" },
                            "description": "The fields of matching accounts the partner sees" }
                    }
                }
            ]
        }))
    }
}

impl ToSchema for SharingRule {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((SegmentRule::name().into(), SegmentRule::schema()));
    }
}

/// A model choice as a body: `{"model": "linear"}`, or `{"model": "time_decay",
/// "half_life_days": 30}` — the half-life goes with `time_decay`, and only with it.
pub(crate) struct ModelSetting;

impl PartialSchema for ModelSetting {
    fn schema() -> RefOr<Schema> {
        from_json(json!({
            "description": "A model: `{\"model\": \"linear\"}`, or `{\"model\": \"time_decay\", \"half_life_days\": 30}`.",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["model"],
                    "properties": { "model": { "type": "string", "enum": MODELS_WITHOUT_HALF_LIFE } },
                    "additionalProperties": false
                },
                {
                    "type": "object",
                    "required": ["model", "half_life_days"],
                    "properties": {
                        "model": { "type": "string", "enum": ["time_decay"] },
                        "half_life_days": { "type": "integer", "minimum": 1, "maximum": crate::service::attribution::MAX_HALF_LIFE_DAYS,
                            "description": "Days for a touch's weight to halve" }
                    },
                    "additionalProperties": false
                }
            ]
        }))
    }
}

impl ToSchema for ModelSetting {}

/// The attribution models that take no half-life.
pub(crate) const MODELS_WITHOUT_HALF_LIFE: [&str; 6] =
    ["categorical", "first_touch", "last_touch", "linear", "u_shaped", "w_shaped"];

/// A user's role.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum RoleName {
    /// Everything.
    Admin,
    /// Reads runs, overlaps and reports; creates co-sell records and registrations.
    Rep,
    /// Uploads datasets and starts runs, for scripts.
    Integration,
}

text_schema!(
    /// An RFC 3339 full date (`2027-01-15`, midnight UTC) or date-time with its offset
    /// (`2027-01-15T09:30:00Z`, `2027-01-15T09:30:00.250+01:00`; up to nine digits of a second).
    Timestamp,
    "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)(?:[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9]))?$"
);
text_schema!(
    /// A date, `YYYY-MM-DD`: a day its month has (29 February in leap years only).
    Date,
    "^(?:[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:[02468][048]|[13579][26])00)-02-29)$"
);
text_schema!(
    /// An ISO 4217 currency code: three capital letters.
    CurrencyCode,
    "^[A-Z]{3}$"
);

/// An edit of a co-sell record, by its `edit` tag. Texts are at most 4000 bytes (the schema can
/// only count characters: 4000).
pub(crate) struct CoSellEdit;

impl PartialSchema for CoSellEdit {
    fn schema() -> RefOr<Schema> {
        let text = |description: &str| json!({ "type": "string", "maxLength": 4000, "description": description });
        let optional =
            |description: &str| json!({ "type": ["string", "null"], "maxLength": 4000, "description": description });
        let variant = |tag: &str, field: &str, schema: serde_json::Value, required: bool| {
            let mut names = vec!["edit"];
            if required {
                names.push(field);
            }
            json!({
                "type": "object",
                "required": names,
                "properties": { "edit": { "type": "string", "enum": [tag] }, field: schema }
            })
        };
        let status = json!({ "type": "string",
            "enum": ["proposed", "accepted", "declined", "active", "won", "lost", "withdrawn"],
            "description": "The lifecycle's next status: the invited side accepts or declines a proposal; \
                an accepted record becomes active; an active one is won or lost; either side withdraws" });
        let amount = json!({ "oneOf": [
            { "type": "null" },
            { "type": "object", "required": ["minor", "currency"], "properties": {
                "minor": { "type": "integer", "minimum": 0, "maximum": i64::MAX, "description": "Minor units (cents)" },
                "currency": { "$ref": "#/components/schemas/CurrencyCode" } } }
        ], "description": "The amount, or null to clear it" });
        let date = json!({ "oneOf": [{ "type": "null" }, { "$ref": "#/components/schemas/Date" }],
            "description": "The target close date, or null to clear it" });
        let note = json!({ "type": "string", "maxLength": 4000, "pattern": "[^\\t-\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000]",
            "description": "A note, not blank" });
        from_json(json!({
            "description": "An edit of a co-sell record, by its `edit` tag.",
            "oneOf": [
                variant("status", "status", status, true),
                variant("stage", "stage", text("The stage, free text"), true),
                variant("amount", "amount", amount, false),
                variant("close_date", "date", date, false),
                variant("next_steps", "text", text("The next steps (the old text stays in the history)"), true),
                variant("note", "text", note, true),
                variant("account", "account", optional("This side's account id in its CRM"), false),
                variant("opportunity", "reference", optional("This side's opportunity reference"), false),
                variant("owner", "owner", optional("This side's owner"), false),
            ]
        }))
    }
}

impl ToSchema for CoSellEdit {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((CurrencyCode::name().into(), CurrencyCode::schema()));
        schemas.push((Date::name().into(), Date::schema()));
    }
}

/// Your rules for the registrations partners submit to you; a field left out takes its default.
pub(crate) struct RegistrationSettings;

impl PartialSchema for RegistrationSettings {
    fn schema() -> RefOr<Schema> {
        let days = |minimum: u32, default: u32, description: &str| json!({ "type": "integer", "minimum": minimum, "maximum": 3650, "default": default, "description": description });
        from_json(json!({
            "type": "object",
            "description": "Your rules for the registrations partners submit to you; a field left out takes its default.",
            "properties": {
                "direct_segments": { "type": "array", "maxItems": 100, "default": ["open_opportunities", "customers"],
                    "items": { "$ref": "#/components/schemas/SegmentLabel" },
                    "description": "Your segments that are your direct team's open opportunities: a registration on one of their accounts is a channel conflict" },
                "protection_days": days(1, 90, "Days an approved registration is protected"),
                "extension_days": days(0, 60, "Days its one extension adds"),
                "prechecks_per_minute": { "type": "integer", "minimum": 0, "maximum": 10000, "default": 6,
                    "description": "Pre-checks a partner may ask per minute" },
                "prechecks_per_day": { "type": "integer", "minimum": 0, "maximum": 1000000, "default": 100,
                    "description": "Pre-checks a partner may ask per day" }
            },
            "additionalProperties": false
        }))
    }
}

impl ToSchema for RegistrationSettings {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((SegmentLabel::name().into(), SegmentLabel::schema()));
    }
}

/// The order of an overlap report.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum ReportSort {
    /// By account name.
    Account,
    /// By own segment.
    Segment,
    /// By partner segment.
    PartnerSegment,
    /// By owner.
    Owner,
}

/// How sure a match is (protocol-spec/keys.md §3.3): `confirmed` (a domain or DUNS number
/// agrees, or a name with a postal code, phone number, or — for a distinctive name — the
/// country) or `possible` (only a common name and the country agree).
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum MatchTier {
    /// Independent evidence agrees.
    Confirmed,
    /// Only a common name and the country agree.
    Possible,
}

/// What a correction says.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum CorrectionKind {
    /// This match is wrong: the account's matches with the partner on the same or weaker
    /// evidence (key types all among the corrected overlap's) are hidden.
    NotThisMatch,
    /// The account never matches the partner: all its matches with it are hidden.
    NeverMatch,
}

/// A correction to make: `not_this_match` names the key types of the overlap it corrects (as the
/// lists show them); `never_match` names none.
pub(crate) struct NewCorrection;

impl PartialSchema for NewCorrection {
    fn schema() -> RefOr<Schema> {
        use crate::service::corrections::{MAX_ACCOUNT_CHARS, MAX_KEY_TYPES, MAX_NOTE_CHARS};
        let partnership =
            json!({ "$ref": "#/components/schemas/PartnershipId", "description": "The partnership (`pt_…`)" });
        let account = json!({ "type": "string", "minLength": 1, "maxLength": MAX_ACCOUNT_CHARS,
            "description": "Your account's id, as the lists show it (it must be in your active dataset)" });
        let note = json!({ "type": ["string", "null"], "maxLength": MAX_NOTE_CHARS,
            "description": "Why, for whoever reads the corrections later (blank is none)" });
        let key_type = json!({ "type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$",
            "description": "A key type, e.g. `domain`, `name_country`" });
        from_json(json!({
            "description": "A correction to make.",
            "oneOf": [
                {
                    "type": "object",
                    "required": ["partnership", "account_id", "kind", "key_types"],
                    "properties": {
                        "partnership": partnership,
                        "account_id": account,
                        "kind": { "type": "string", "enum": ["not_this_match"],
                            "description": "This match is wrong: hide the account's matches with the partner on these key types, or some of them" },
                        "key_types": { "type": "array", "minItems": 1, "maxItems": MAX_KEY_TYPES, "items": key_type,
                            "description": "The key types of the overlap corrected, as the lists show them" },
                        "note": note
                    }
                },
                {
                    "type": "object",
                    "required": ["partnership", "account_id", "kind"],
                    "properties": {
                        "partnership": partnership,
                        "account_id": account,
                        "kind": { "type": "string", "enum": ["never_match"],
                            "description": "Never match the account with the partner" },
                        "key_types": { "type": "array", "maxItems": 0, "items": key_type, "description": "None" },
                        "note": note
                    }
                }
            ]
        }))
    }
}

impl ToSchema for NewCorrection {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((PartnershipId::name().into(), PartnershipId::schema()));
    }
}

/// Which side a registration came from.
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum Direction {
    /// A partner registered it with you; you decide.
    Received,
    /// You registered it with a partner; its node decides.
    Submitted,
}

/// A registration's state.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum RegistrationState {
    /// Checked, nothing in the way.
    Submitted,
    /// A conflict to decide on.
    InReview,
    /// Protected.
    Approved,
    /// Turned down.
    Rejected,
    /// Its protection ran out.
    Expired,
    /// The deal was won.
    Won,
    /// The deal was lost.
    Lost,
}

/// An event kind a webhook endpoint can receive (`api::hooks::EVENT_KINDS`).
pub(crate) struct EventKind;

impl PartialSchema for EventKind {
    fn schema() -> RefOr<Schema> {
        from_json(
            json!({ "type": "string", "enum": blindmap_cosell::webhook::EVENT_KINDS, "description": "An event kind" }),
        )
    }
}

impl ToSchema for EventKind {}

/// The kind of a partner touch.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum TouchKind {
    /// The partner brought the deal.
    Sourced,
    /// The partner referred the customer.
    Referral,
    /// The partner influenced the deal.
    Influenced,
    /// The partner sold with you.
    CoSelling,
}

/// An attribution model.
#[derive(ToSchema)]
#[schema(rename_all = "snake_case")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum ModelName {
    /// Sourced / influenced / unattributed: each partner credited the whole amount.
    Categorical,
    /// All to the first touch.
    FirstTouch,
    /// All to the last touch.
    LastTouch,
    /// Equal shares.
    Linear,
    /// Each touch weighs 2^(−age / half-life) at the close; needs `half_life_days`.
    TimeDecay,
    /// 40 % first touch, 40 % last, 20 % shared by those between.
    UShaped,
    /// 30 % each to the first touch, the one nearest the opportunity's creation and the last.
    WShaped,
}

/// A filter's text: at most 200 characters.
#[derive(ToSchema)]
#[schema(max_length = 200)]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) struct Filter(String);

/// The longest text a filter takes, in characters.
pub(crate) const MAX_FILTER_CHARS: usize = 200;

/// A filter's text, in characters at most [`MAX_FILTER_CHARS`].
pub(crate) fn check_filter(name: &str, value: Option<&str>) -> Result<(), crate::http::error::ApiError> {
    match value {
        Some(v) if v.chars().count() > MAX_FILTER_CHARS => {
            Err(crate::http::error::ApiError::Invalid(format!("{name} is at most {MAX_FILTER_CHARS} characters")))
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::service::text::check_name;

    fn pattern_of<T: ToSchema>() -> regex::Regex {
        let schema = serde_json::to_value(T::schema()).unwrap();
        regex::Regex::new(schema["pattern"].as_str().unwrap()).unwrap()
    }

    /// The `Label` pattern agrees with `check_name`, the server's rule, at its edges.
    #[test]
    fn the_label_pattern_is_the_servers_rule() {
        let label = pattern_of::<Label>();
        let samples = [
            "a",
            " a",
            "a ",
            "a\u{3000}",
            "\u{a0}a",
            "a b",
            "a\tb",
            "a\u{0}b",
            "a\u{85}",
            "\u{e9}",
            "a\u{7f}b",
            "\u{200b}",
            "\u{2009}x",
            "x\u{202f}",
            "ab\u{9f}",
            "a\nb",
            "a\n",
            "",
            "\u{1680}a",
            "a\u{2028}",
        ];
        let long = "x".repeat(200);
        let longer = "x".repeat(201);
        for sample in samples.iter().copied().chain([long.as_str(), longer.as_str()]) {
            assert_eq!(label.is_match(sample), check_name("t", sample).is_ok(), "{sample:?}");
        }
    }

    /// The `SegmentRule` pattern agrees with the labels sharing rules take.
    #[test]
    fn the_segment_pattern_is_the_servers_rule() {
        let segment = pattern_of::<SegmentRule>();
        let server = |s: &str| s == "*" || blindmap_records::segment_label(s).is_some_and(|l| l.as_str() == s);
        let long = "a".repeat(64);
        let longer = "a".repeat(65);
        for sample in [
            "*",
            "customers",
            "open_opportunities",
            "a1_2b",
            "Customers",
            "a__b",
            "_a",
            "a_",
            "a-b",
            "a b",
            "",
            "**",
            "\u{e9}",
            long.as_str(),
            longer.as_str(),
        ] {
            let fits = segment.is_match(sample) && sample.chars().count() <= 64;
            assert_eq!(fits, server(sample), "{sample:?}");
        }
    }

    /// The field-name pattern of a sharing rule agrees with the protocol's `FieldName`, which a
    /// saved policy must pass.
    #[test]
    fn the_field_name_pattern_is_the_protocols_rule() {
        let schema = serde_json::to_value(SharingRule::schema()).unwrap();
        let fields = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["properties"]["level"]["enum"][0] == "fields")
            .unwrap()["properties"]["fields"]
            .clone();
        assert_eq!(fields["maxItems"], blindmap_psi::MAX_FIELDS);
        let pattern = regex::Regex::new(fields["items"]["pattern"].as_str().unwrap()).unwrap();
        let long = format!("a{}", "b".repeat(63));
        let longer = format!("a{}", "b".repeat(64));
        for sample in
            ["owner", "o", "a1_b", "", "Owner", "1a", "_a", "owner name", "own-er", long.as_str(), longer.as_str()]
        {
            assert_eq!(pattern.is_match(sample), blindmap_psi::FieldName::new(sample).is_ok(), "{sample:?}");
        }
    }

    /// The `Timestamp` pattern agrees with `parse_time`, the server's reading, at its edges.
    #[test]
    fn the_timestamp_pattern_is_the_servers_reading() {
        let timestamp = pattern_of::<Timestamp>();
        for sample in [
            "2027-01-15",
            "2027-02-29",
            "2028-02-29",
            "2000-02-29",
            "1900-02-29",
            "0000-02-29",
            "2027-04-31",
            "2027-12-31",
            "2027-13-01",
            "2027-00-10",
            "2027-01-00",
            "2027-1-15",
            "2027-01-15T09:30:00Z",
            "2027-01-15t09:30:00z",
            "2027-01-15T24:00:00Z",
            "2027-01-15T23:59:60Z",
            "2027-01-15T09:30:00.250+01:00",
            "2027-01-15T09:30:00.123456789-23:59",
            "2027-01-15T09:30:00.1234567890Z",
            "2027-01-15T09:30:00.Z",
            "2027-01-15T09:30:00",
            "2027-01-15T09:30:00+24:00",
            "2027-01-15 09:30:00Z",
            "2027-01-15Z",
            "",
        ] {
            let server = crate::service::attribution::parse_time("t", sample).is_ok();
            assert_eq!(timestamp.is_match(sample), server, "{sample:?}");
        }
    }

    /// The `Date` pattern agrees with the co-sell and registration rule.
    #[test]
    fn the_date_pattern_is_the_servers_rule() {
        let date = pattern_of::<Date>();
        for sample in [
            "2027-03-31",
            "2027-02-31",
            "2027-02-28",
            "2027-02-29",
            "2028-02-29",
            "2100-02-29",
            "2000-02-29",
            "0000-02-29",
            "2027-04-30",
            "2027-04-31",
            "2027-12-31",
            "2027-13-01",
            "2027-00-01",
            "2027-01-00",
            "2027-01-32",
            "27-01-01",
            "2027-01-01 ",
            "+027-01-01",
            "2027-1-01",
        ] {
            let server = blindmap_cosell::cosell::check_date(sample).is_ok();
            assert_eq!(date.is_match(sample), server, "{sample:?}");
        }
    }

    /// The ledger cursor's pattern takes what the store writes and reads, and its number is the
    /// 32-bit range exactly.
    #[test]
    fn the_ledger_cursor_pattern_is_the_stores_reading() {
        let cursor = pattern_of::<LedgerCursor>();
        let written = blindmap_store::LedgerCursor { opportunity: "OPP-1 \u{e9}".into(), seq: u32::MAX }.to_text();
        assert!(cursor.is_match(&written));
        for seq in ["0", "7", "0004294967295", "4294967295", "4294967296", "9999999999", "4300000000", "x"] {
            let text = format!("{seq}.41");
            assert_eq!(cursor.is_match(&text), seq.parse::<u32>().is_ok(), "{text}");
        }
        assert!(!cursor.is_match("1.4") && !cursor.is_match("1") && cursor.is_match("1."));
    }
}

/// A role single sign-on gives (integration users are machine clients and use tokens).
#[derive(ToSchema)]
#[schema(rename_all = "lowercase")]
#[allow(dead_code, reason = "only its schema is used")]
pub(crate) enum SsoRoleName {
    /// Everything.
    Admin,
    /// Reads runs, overlaps and reports; creates co-sell records and registrations.
    Rep,
}

text_schema!(
    /// An OAuth scope (RFC 6749 §3.3): 1 to 100 visible ASCII characters but `"` and `\`.
    /// `openid` is always asked for; listing it changes nothing.
    ScopeName,
    "^[\\x21\\x23-\\x5b\\x5d-\\x7e]{1,100}$"
);
