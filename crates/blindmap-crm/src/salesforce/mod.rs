//! Salesforce's REST API, as a node reads an org's accounts with it.
//!
//! References (Salesforce's own pages; the emulator in `tests/crm-emulator/src/salesforce.rs` follows
//! the same):
//! - OAuth 2.0 JWT bearer flow for server-to-server integration:
//!   help.salesforce.com, `sf.remoteaccess_oauth_jwt_flow.htm` — a JWT signed RS256 with the
//!   connected app's certificate key, `iss` the consumer key, `sub` the user, `aud` the login
//!   URL, `exp` within three minutes, posted as `grant_type=urn:ietf:params:oauth:grant-type:
//!   jwt-bearer&assertion=…` to `/services/oauth2/token`; no refresh token is issued (a new
//!   assertion is the refresh).
//! - OAuth 2.0 refresh token flow: `sf.remoteaccess_oauth_refresh_token_flow.htm` —
//!   `grant_type=refresh_token` with the client's id and secret.
//! - Query and QueryAll: developer.salesforce.com, `api-rest/guide/resources-query.html` and
//!   `resources-queryall.html` — `GET /services/data/vXX.X/query?q=SOQL`, answered with
//!   `totalSize`, `done`, `records` and, while not done, `nextRecordsUrl`, a path to `GET` as it
//!   is; `queryAll` includes deleted records (`IsDeleted`).
//! - Errors: `api-rest/guide/errorcodes.html` — a JSON array of `{message, errorCode}`; `401`
//!   `INVALID_SESSION_ID` for an expired or revoked token, `403` `REQUEST_LIMIT_EXCEEDED` past the
//!   org's daily API requests.
//! - `Sforce-Limit-Info: api-usage=USED/MAX` on every REST response:
//!   `api-rest/guide/headers-limitinfo.html`.
//! - Bulk API 2.0 queries: `api_asynch/query_create_job.htm`, `query_get_one_job.htm`,
//!   `query_get_job_results.htm`, `query_abort_job.htm` — `POST /services/data/vXX.X/jobs/query`
//!   (`operation` `query` or `queryAll`, `query`, `contentType: CSV`) answered with the job's
//!   `id` and `state` (`UploadComplete`, `InProgress`, `JobComplete`, `Aborted`, `Failed` with
//!   `errorMessage`); `GET …/jobs/query/{id}` its state and `numberRecordsProcessed`; `GET
//!   …/jobs/query/{id}/results?maxRecords=N&locator=L` a page of CSV (a header row; a lookup's
//!   field as `Owner.Name`) and `Sforce-Locator` for the next (`null` on the last);
//!   `PATCH …/jobs/query/{id}` with `{"state": "Aborted"}` aborts it.
//! - sObject Collections: `api-rest/guide/resources_composite_sobjects_collections_upsert.htm`
//!   and `…_delete.htm` — `PATCH /services/data/vXX.X/composite/sobjects/{object}/{externalId}`
//!   with `{"allOrNone": false, "records": [{"attributes": {"type": …}, …}]}` (at most 200),
//!   `DELETE /services/data/vXX.X/composite/sobjects?ids=…&allOrNone=false` (at most 200); each
//!   answered with one result per record, in order: `{id, success, created, errors: [{statusCode,
//!   message, fields}]}`.
//! - Describe: `api-rest/guide/resources_sobject_describe.htm` — `GET
//!   /services/data/vXX.X/sobjects/Account/describe`, whose `fields` each have a `name` and, for
//!   a lookup, a `relationshipName` (`OwnerId` → `Owner`); a query names a related record's field
//!   as `Owner.Name` and its records carry it nested (`"Owner": {"attributes": …, "Name": …}`),
//!   as `soql_sosl/sforce_api_calls_soql_relationships_query_using.htm` shows.

mod auth;

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};
use url::Url;

pub use auth::{Auth, SigningKey};

use crate::secret::Secret;

/// The REST API version called (Spring '25).
pub const API_VERSION: &str = "63.0";

/// The most records one answer may carry (the API's largest batch is 2,000).
const MAX_PAGE_RECORDS: usize = 2_000;
/// The largest answer read, in bytes: a page of 2,000 accounts with long descriptions fits.
const MAX_ANSWER_BYTES: usize = 64 << 20;

/// Why a call to Salesforce failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SalesforceError {
    /// The token endpoint refused the credentials: its `error` and `error_description`.
    #[error("Salesforce refused the connection's credentials ({error}): {description}")]
    Auth {
        /// OAuth's error code (`invalid_grant`, `invalid_client_id`, …).
        error: String,
        /// Salesforce's words.
        description: String,
    },
    /// The org's API quota is used up to the share at which this connection pauses.
    #[error(
        "paused: the org has used {used} of its {max} daily API requests, {percent}% and more than the \
         {pause_percent}% this connection may use; it resumes when the quota frees up"
    )]
    Paused {
        /// Requests used, as Salesforce last said.
        used: u64,
        /// The org's daily allowance.
        max: u64,
        /// `used` as a percentage of `max`.
        percent: u64,
        /// The share at which the connection pauses, in percent.
        pause_percent: u64,
    },
    /// Salesforce refused the call: its status, error code and message.
    #[error("Salesforce answered {status} {code}: {message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The first error's `errorCode` (`REQUEST_LIMIT_EXCEEDED`, `MALFORMED_QUERY`, …).
        code: String,
        /// Its message.
        message: String,
    },
    /// An answer that is not what the API documents (shape, size, a URL elsewhere).
    #[error("Salesforce's answer does not read: {0}")]
    Answer(String),
    /// The connection itself.
    #[error("cannot reach Salesforce: {0}")]
    Transport(String),
}

impl From<reqwest::Error> for SalesforceError {
    fn from(e: reqwest::Error) -> Self {
        // Without the URL: a query's text is the caller's, not an error's.
        Self::Transport(e.without_url().to_string())
    }
}

/// The org's daily API requests, from the last `Sforce-Limit-Info`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ApiUsage {
    /// Requests used in the last 24 hours.
    pub used: u64,
    /// The org's allowance.
    pub max: u64,
}

impl ApiUsage {
    /// `api-usage=USED/MAX` (other entries in the header are skipped), if present and sound.
    pub fn parse(header: &str) -> Option<Self> {
        header.split(',').find_map(|entry| {
            let (used, max) = entry.trim().strip_prefix("api-usage=")?.split_once('/')?;
            let (used, max) = (used.trim().parse().ok()?, max.trim().parse().ok()?);
            (max > 0).then_some(Self { used, max })
        })
    }
}

/// One page of a query's records.
#[derive(Debug)]
pub struct Page {
    /// Records the whole query matches.
    pub total_size: u64,
    /// This page's records, as the API wrote them (their `attributes` removed).
    pub records: Vec<Map<String, Value>>,
    /// Where the next page is, while the query is not done.
    pub next: Option<NextPage>,
}

/// The path of a query's next page (`nextRecordsUrl`), checked to be one on the org's instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NextPage(String);

/// An access token and the org's instance it is for.
struct Session {
    token: Secret,
    instance: Url,
}

/// A connection to one org.
pub struct Salesforce {
    http: reqwest::Client,
    auth: Auth,
    session: Option<Session>,
    usage: Option<ApiUsage>,
    pause_at: f64,
    timeout: Duration,
    /// Calls made (token requests included), for the caller's accounting.
    calls: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryAnswer {
    total_size: u64,
    done: bool,
    #[serde(default)]
    next_records_url: Option<String>,
    records: Vec<Map<String, Value>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobAnswer {
    id: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    number_records_processed: Option<u64>,
    #[serde(default)]
    error_message: Option<String>,
}

/// The most records one sObject Collections call takes.
pub const COLLECTION_MAX: usize = 200;

/// What became of one record of a collection call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RecordOutcome {
    /// Written (or deleted): its id, and whether an upsert made it.
    Done {
        /// Its record id.
        id: String,
        /// Made by this call (an upsert), rather than updated.
        created: bool,
    },
    /// Refused: the first error's code and message.
    Refused {
        /// Its `statusCode` (`ENTITY_IS_DELETED`, `FIELD_CUSTOM_VALIDATION_EXCEPTION`, …).
        code: String,
        /// Salesforce's words.
        message: String,
    },
}

#[derive(Deserialize)]
struct SaveResult {
    #[serde(default)]
    id: Option<String>,
    success: bool,
    #[serde(default)]
    created: bool,
    #[serde(default)]
    errors: Vec<SaveError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SaveError {
    #[serde(default)]
    status_code: String,
    #[serde(default)]
    message: String,
}

/// A collection call's answer: one result per record sent, in order.
fn outcomes(answer: &[u8], sent: usize) -> Result<Vec<RecordOutcome>, SalesforceError> {
    let results: Vec<SaveResult> =
        serde_json::from_slice(answer).map_err(|e| SalesforceError::Answer(e.to_string()))?;
    if results.len() != sent {
        return Err(SalesforceError::Answer(format!("{} results for {sent} records", results.len())));
    }
    results
        .into_iter()
        .map(|r| match (r.success, r.id) {
            (true, Some(id)) => Ok(RecordOutcome::Done { id, created: r.created }),
            (true, None) => Err(SalesforceError::Answer("a record written without its id".into())),
            (false, _) => {
                let first = r.errors.into_iter().next();
                Ok(RecordOutcome::Refused {
                    code: first.as_ref().map_or_else(String::new, |e| e.status_code.clone()),
                    message: first.map_or_else(String::new, |e| e.message),
                })
            }
        })
        .collect()
}

/// An object's or a field's API name: letters, digits and `_` (custom ones end in `__c`).
fn check_api_name(name: &str) -> Result<(), SalesforceError> {
    if !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        Ok(())
    } else {
        Err(SalesforceError::Answer(format!("{name:?} is not an API name")))
    }
}

/// A Bulk API 2.0 query job, by its id (checked to be one: 15 or 18 letters and digits).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkJob(String);

impl BulkJob {
    fn checked(id: String) -> Result<Self, SalesforceError> {
        if (15..=18).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(Self(id))
        } else {
            Err(SalesforceError::Answer("a job id that is not a record id".into()))
        }
    }

    /// Its id.
    pub fn id(&self) -> &str {
        &self.0
    }
}

/// Where the next page of a job's results starts (`Sforce-Locator`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkLocator(String);

/// A query job's state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BulkState {
    /// Queued or running.
    InProgress,
    /// Its results are ready.
    Complete,
    /// Aborted (by the caller or an admin).
    Aborted,
    /// Failed, with Salesforce's words.
    Failed(String),
}

/// A query job's state and how many records it has processed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BulkStatus {
    /// Its state.
    pub state: BulkState,
    /// Records processed so far.
    pub records_processed: u64,
}

/// A page of a job's results.
#[derive(Debug)]
pub struct BulkPage {
    /// The CSV, with its header row.
    pub csv: Vec<u8>,
    /// The next page's locator; `None` on the last page.
    pub next: Option<BulkLocator>,
}

#[derive(Deserialize)]
struct DescribeAnswer {
    fields: Vec<DescribedField>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct DescribedField {
    name: String,
    #[serde(default)]
    relationship_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ApiErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    error_code: String,
}

impl Salesforce {
    /// A connection that authenticates with `auth` on its first call, over `http`, and pauses
    /// once the org's API usage reaches `pause_at` (a share: 0.8 pauses at 80 %).
    pub fn new(http: reqwest::Client, auth: Auth, pause_at: f64) -> Self {
        Self { http, auth, session: None, usage: None, pause_at, timeout: Duration::from_secs(120), calls: 0 }
    }

    /// Calls made so far (token requests and retries included).
    pub fn calls(&self) -> u64 {
        self.calls
    }

    /// The org's API usage as Salesforce last reported it.
    pub fn usage(&self) -> Option<ApiUsage> {
        self.usage
    }

    /// The instance URL of the org, once authenticated.
    pub fn instance(&self) -> Option<&Url> {
        self.session.as_ref().map(|s| &s.instance)
    }

    /// Authenticates now (a first call does it anyway): for checking a connection's set-up.
    pub async fn authenticate(&mut self) -> Result<(), SalesforceError> {
        self.calls += 1;
        let (token, instance) = self.auth.token(&self.http).await?;
        self.session = Some(Session { token, instance });
        Ok(())
    }

    /// The Account object's fields as the org's describe lists them, `REL.Name` for each lookup
    /// (`Owner.Name`), and the owner's e-mail (`Owner.Email`: the `Owner` lookup is a User, which
    /// has one): the columns a query of accounts may ask for.
    pub async fn account_fields(&mut self) -> Result<Vec<String>, SalesforceError> {
        let path = format!("/services/data/v{API_VERSION}/sobjects/Account/describe");
        let answer: DescribeAnswer = self.get(&path, None).await?;
        let mut fields = Vec::with_capacity(answer.fields.len() + 4);
        for field in answer.fields {
            if field.name.is_empty() || !field.name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                return Err(SalesforceError::Answer(format!("a field named {:?}", field.name)));
            }
            fields.push(field.name);
            if let Some(relationship) = field.relationship_name.filter(|r| !r.is_empty()) {
                fields.push(format!("{relationship}.Name"));
                if relationship == "Owner" {
                    fields.push("Owner.Email".to_owned());
                }
            }
        }
        Ok(fields)
    }

    /// Runs `soql` (with deleted records too, when `include_deleted`: `queryAll`) and returns its
    /// first page.
    pub async fn query(&mut self, soql: &str, include_deleted: bool) -> Result<Page, SalesforceError> {
        let resource = if include_deleted { "queryAll" } else { "query" };
        let path = format!("/services/data/v{API_VERSION}/{resource}");
        self.page(&path, Some(soql)).await
    }

    /// The page after one whose `next` this is.
    pub async fn next_page(&mut self, next: &NextPage) -> Result<Page, SalesforceError> {
        self.page(&next.0, None).await
    }

    async fn page(&mut self, path: &str, soql: Option<&str>) -> Result<Page, SalesforceError> {
        let answer: QueryAnswer = self.get(path, soql).await?;
        if answer.records.len() > MAX_PAGE_RECORDS {
            return Err(SalesforceError::Answer(format!(
                "a page of {} records, more than the API's {MAX_PAGE_RECORDS}",
                answer.records.len()
            )));
        }
        let next = match (answer.done, answer.next_records_url) {
            (true, _) => None,
            (false, Some(url)) => Some(NextPage(checked_next(&url)?)),
            (false, None) => return Err(SalesforceError::Answer("not done, and no nextRecordsUrl".into())),
        };
        let records = answer.records.into_iter().map(flatten).collect();
        Ok(Page { total_size: answer.total_size, records, next })
    }

    /// `GET path` on the org's instance (with `q=soql`), its JSON answer read.
    async fn get<T: serde::de::DeserializeOwned>(
        &mut self,
        path: &str,
        soql: Option<&str>,
    ) -> Result<T, SalesforceError> {
        let query: Vec<(&str, &str)> = soql.map(|q| ("q", q)).into_iter().collect();
        let (_, body) = self.send(reqwest::Method::GET, path, &query, None, "application/json").await?;
        serde_json::from_slice(&body).map_err(|e| SalesforceError::Answer(e.to_string()))
    }

    /// One call on the org's instance, authenticating first or again once after
    /// `INVALID_SESSION_ID` (a token expired or revoked mid-sync): the answer's headers and body.
    async fn send(
        &mut self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, &str)],
        json: Option<&Value>,
        accept: &str,
    ) -> Result<(reqwest::header::HeaderMap, Vec<u8>), SalesforceError> {
        self.check_quota()?;
        let mut retried = false;
        loop {
            if self.session.is_none() {
                self.authenticate().await?;
            }
            let Some(session) = &self.session else { continue };
            let mut url = session
                .instance
                .join(path)
                .map_err(|e| SalesforceError::Answer(format!("a path that is no URL on the instance: {e}")))?;
            if !query.is_empty() {
                url.query_pairs_mut().extend_pairs(query);
            }
            let mut request = self
                .http
                .request(method.clone(), url)
                .bearer_auth(session.token.expose())
                .header(reqwest::header::ACCEPT, accept)
                .timeout(self.timeout);
            if let Some(json) = json {
                request = request.json(json);
            }
            let response = request.send().await?;
            self.calls += 1;
            if let Some(usage) =
                response.headers().get("sforce-limit-info").and_then(|h| h.to_str().ok()).and_then(ApiUsage::parse)
            {
                self.usage = Some(usage);
            }
            let status = response.status();
            let headers = response.headers().clone();
            let body = read_capped(response).await?;
            if status.is_success() {
                return Ok((headers, body));
            }
            let (code, message) = api_error(&body);
            if status.as_u16() == 401 && code == "INVALID_SESSION_ID" && !retried {
                retried = true;
                self.session = None;
                continue;
            }
            return Err(SalesforceError::Api { status: status.as_u16(), code, message });
        }
    }

    /// How many records `soql` (a `SELECT COUNT() FROM …`) counts, deleted ones too when
    /// `include_deleted`: one request, no records.
    pub async fn count(&mut self, soql: &str, include_deleted: bool) -> Result<u64, SalesforceError> {
        Ok(self.query(soql, include_deleted).await?.total_size)
    }

    /// Creates a Bulk API 2.0 query job for `soql` (`queryAll` when `include_deleted`), its
    /// results as CSV.
    pub async fn bulk_query(&mut self, soql: &str, include_deleted: bool) -> Result<BulkJob, SalesforceError> {
        let path = format!("/services/data/v{API_VERSION}/jobs/query");
        let body = serde_json::json!({
            "operation": if include_deleted { "queryAll" } else { "query" },
            "query": soql,
            "contentType": "CSV",
            "columnDelimiter": "COMMA",
            "lineEnding": "LF",
        });
        let (_, answer) = self.send(reqwest::Method::POST, &path, &[], Some(&body), "application/json").await?;
        let job: JobAnswer = serde_json::from_slice(&answer).map_err(|e| SalesforceError::Answer(e.to_string()))?;
        BulkJob::checked(job.id)
    }

    /// A Bulk API 2.0 query job's state.
    pub async fn bulk_status(&mut self, job: &BulkJob) -> Result<BulkStatus, SalesforceError> {
        let path = format!("/services/data/v{API_VERSION}/jobs/query/{}", job.0);
        let (_, answer) = self.send(reqwest::Method::GET, &path, &[], None, "application/json").await?;
        let job: JobAnswer = serde_json::from_slice(&answer).map_err(|e| SalesforceError::Answer(e.to_string()))?;
        let state = match job.state.as_str() {
            "UploadComplete" | "InProgress" => BulkState::InProgress,
            "JobComplete" => BulkState::Complete,
            "Aborted" => BulkState::Aborted,
            "Failed" => BulkState::Failed(job.error_message.unwrap_or_default()),
            other => return Err(SalesforceError::Answer(format!("a job in the unknown state {other:?}"))),
        };
        Ok(BulkStatus { state, records_processed: job.number_records_processed.unwrap_or(0) })
    }

    /// A page of a complete job's results: at most `max_records` records as CSV (a header row,
    /// then the records; a lookup's field as `Owner.Name`), and where the next page starts.
    pub async fn bulk_results(
        &mut self,
        job: &BulkJob,
        locator: Option<&BulkLocator>,
        max_records: u32,
    ) -> Result<BulkPage, SalesforceError> {
        let path = format!("/services/data/v{API_VERSION}/jobs/query/{}/results", job.0);
        let max = max_records.to_string();
        let mut query = vec![("maxRecords", max.as_str())];
        if let Some(locator) = locator {
            query.push(("locator", locator.0.as_str()));
        }
        let (headers, csv) = self.send(reqwest::Method::GET, &path, &query, None, "text/csv").await?;
        let next = match headers.get("sforce-locator").and_then(|h| h.to_str().ok()).map(str::trim) {
            None | Some("" | "null") => None,
            Some(l) if l.len() <= 100 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') => {
                Some(BulkLocator(l.to_owned()))
            }
            Some(_) => return Err(SalesforceError::Answer("a Sforce-Locator that is not a locator".into())),
        };
        Ok(BulkPage { csv, next })
    }

    /// Upserts up to [`COLLECTION_MAX`] records of `object` by the external id field `key`
    /// (sObject Collections, `allOrNone` false): each record's own outcome, in order — its id and
    /// whether it was made, or why it was refused.
    pub async fn upsert(
        &mut self,
        object: &str,
        key: &str,
        records: &[Map<String, Value>],
    ) -> Result<Vec<RecordOutcome>, SalesforceError> {
        check_api_name(object)?;
        check_api_name(key)?;
        if records.len() > COLLECTION_MAX {
            return Err(SalesforceError::Answer(format!("at most {COLLECTION_MAX} records a call")));
        }
        let records: Vec<Value> = records
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.insert("attributes".into(), serde_json::json!({ "type": object }));
                Value::Object(r)
            })
            .collect();
        let path = format!("/services/data/v{API_VERSION}/composite/sobjects/{object}/{key}");
        let body = serde_json::json!({ "allOrNone": false, "records": records });
        let (_, answer) = self.send(reqwest::Method::PATCH, &path, &[], Some(&body), "application/json").await?;
        outcomes(&answer, records.len())
    }

    /// Deletes up to [`COLLECTION_MAX`] records by id (sObject Collections, `allOrNone` false):
    /// each one's outcome, in order. A record already deleted is refused with
    /// `ENTITY_IS_DELETED`, which a caller may take as done.
    pub async fn delete(&mut self, ids: &[String]) -> Result<Vec<RecordOutcome>, SalesforceError> {
        if ids.len() > COLLECTION_MAX {
            return Err(SalesforceError::Answer(format!("at most {COLLECTION_MAX} records a call")));
        }
        if let Some(bad) =
            ids.iter().find(|id| !(15..=18).contains(&id.len()) || !id.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            return Err(SalesforceError::Answer(format!("{bad:?} is not a record id")));
        }
        let path = format!("/services/data/v{API_VERSION}/composite/sobjects");
        let joined = ids.join(",");
        let query = [("ids", joined.as_str()), ("allOrNone", "false")];
        let (_, answer) = self.send(reqwest::Method::DELETE, &path, &query, None, "application/json").await?;
        outcomes(&answer, ids.len())
    }

    /// Aborts a query job (its results are not wanted any more); an error is the caller's to log.
    pub async fn bulk_abort(&mut self, job: &BulkJob) -> Result<(), SalesforceError> {
        let path = format!("/services/data/v{API_VERSION}/jobs/query/{}", job.0);
        let body = serde_json::json!({ "state": "Aborted" });
        self.send(reqwest::Method::PATCH, &path, &[], Some(&body), "application/json").await?;
        Ok(())
    }

    /// Refuses to call once the org's usage reached the share this connection may use.
    fn check_quota(&self) -> Result<(), SalesforceError> {
        let Some(ApiUsage { used, max }) = self.usage else { return Ok(()) };
        let share = used as f64 / max as f64;
        if share >= self.pause_at {
            return Err(SalesforceError::Paused {
                used,
                max,
                percent: (share * 100.0) as u64,
                pause_percent: (self.pause_at * 100.0).round() as u64,
            });
        }
        Ok(())
    }
}

/// The SOQL dateTime literal of the second a `SystemModstamp` (as the API writes it,
/// `2026-11-21T09:30:00.000+0000`) falls in, in UTC (`2026-11-21T09:30:00Z`): records changed
/// after it are those a `WHERE SystemModstamp > …` reads, the changes of that second again among
/// them (a literal has no fractions of a second), so that none is missed. `None` for a time that
/// does not read.
pub fn modstamp_literal(stamp: &str) -> Option<String> {
    let instant = jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", stamp).ok()?.to_timestamp().ok()?;
    let second = jiff::Timestamp::from_second(instant.as_second()).ok()?;
    Some(second.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
}

/// Whether the `SystemModstamp` `a` is later than `b` (as instants where both read, as text
/// otherwise).
pub fn modstamp_after(a: &str, b: &str) -> bool {
    let instant =
        |t: &str| jiff::fmt::strtime::parse("%Y-%m-%dT%H:%M:%S%.f%z", t).ok().and_then(|p| p.to_timestamp().ok());
    match (instant(a), instant(b)) {
        (Some(a), Some(b)) => a > b,
        _ => a > b,
    }
}

/// A record as its columns: `attributes` removed, and a related record's fields (`"Owner":
/// {"Name": …}`) as `Owner.Name`, the name the query gave them (one level, as lookups are read).
fn flatten(mut record: Map<String, Value>) -> Map<String, Value> {
    record.remove("attributes");
    let related: Vec<String> = record.iter().filter(|(_, v)| v.is_object()).map(|(k, _)| k.clone()).collect();
    for name in related {
        if let Some(Value::Object(fields)) = record.remove(&name) {
            for (field, value) in fields {
                if field != "attributes" && !value.is_object() {
                    record.insert(format!("{name}.{field}"), value);
                }
            }
        }
    }
    record
}

/// A `nextRecordsUrl` as a path on the instance: the API gives a path under `/services/data/`;
/// anything else (another host, a scheme, a path elsewhere) is refused rather than followed.
fn checked_next(url: &str) -> Result<String, SalesforceError> {
    let sound = url.starts_with("/services/data/")
        && !url.contains("..")
        && !url.contains("//")
        && url.bytes().all(|b| b.is_ascii_graphic());
    if !sound {
        return Err(SalesforceError::Answer("a nextRecordsUrl that is not a path under /services/data/".into()));
    }
    Ok(url.to_owned())
}

/// The first error of an error body (a JSON array of `{message, errorCode}`), or the body's
/// first bytes.
fn api_error(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<Vec<ApiErrorBody>>(body) {
        Ok(errors) if !errors.is_empty() => (errors[0].error_code.clone(), errors[0].message.clone()),
        _ => (String::new(), String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned()),
    }
}

/// A response's body, refused past `MAX_ANSWER_BYTES`.
pub(crate) async fn read_capped(response: reqwest::Response) -> Result<Vec<u8>, SalesforceError> {
    crate::body::read_capped(response, MAX_ANSWER_BYTES).await.map_err(|e| match e {
        crate::body::BodyError::TooLarge(max) => SalesforceError::Answer(format!("an answer larger than {max} bytes")),
        crate::body::BodyError::Transport(e) => e.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limit_header_reads_its_api_usage_entry_only() {
        assert_eq!(ApiUsage::parse("api-usage=25/15000"), Some(ApiUsage { used: 25, max: 15000 }));
        assert_eq!(
            ApiUsage::parse("per-app-api-usage=17/250(appName=sample), api-usage=20/100"),
            Some(ApiUsage { used: 20, max: 100 })
        );
        assert_eq!(ApiUsage::parse("api-usage=20/0"), None);
        assert_eq!(ApiUsage::parse("api-usage=x/100"), None);
        assert_eq!(ApiUsage::parse(""), None);
    }

    #[test]
    fn next_pages_stay_on_the_instance() {
        assert!(checked_next("/services/data/v63.0/query/01gD0000002HU6KIAW-2000").is_ok());
        for bad in [
            "https://evil.example/services/data/v63.0/query/x",
            "//evil.example/services/data/x",
            "/services/data/../../x",
            "/other/path",
            "/services/data/v63.0/query/a b",
        ] {
            assert!(checked_next(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn modification_times_become_soql_literals_of_their_second() {
        assert_eq!(modstamp_literal("2026-11-21T09:30:00.250+0000").as_deref(), Some("2026-11-21T09:30:00Z"));
        assert_eq!(modstamp_literal("2026-11-21T10:30:59.999+0100").as_deref(), Some("2026-11-21T09:30:59Z"));
        assert_eq!(modstamp_literal("yesterday"), None);
        assert!(modstamp_after("2026-11-21T09:30:00.001+0000", "2026-11-21T09:30:00.000+0000"));
        assert!(!modstamp_after("2026-11-21T10:30:00.000+0100", "2026-11-21T09:30:00.000+0000"), "the same instant");
    }

    #[test]
    fn related_records_become_dotted_columns() {
        let record: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "attributes": {"type": "Account", "url": "/x"},
            "Id": "001", "Name": "Northwind",
            "Owner": {"attributes": {"type": "User"}, "Name": "Ada Byron"},
            "Parent": null,
        }))
        .unwrap();
        let flat = flatten(record);
        assert_eq!(
            Value::Object(flat),
            serde_json::json!({"Id": "001", "Name": "Northwind", "Owner.Name": "Ada Byron", "Parent": null})
        );
    }

    #[test]
    fn error_bodies_give_their_first_code() {
        let body = br#"[{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]"#;
        assert_eq!(api_error(body), ("INVALID_SESSION_ID".to_owned(), "Session expired or invalid".to_owned()));
        assert_eq!(api_error(b"<html>gateway</html>").1, "<html>gateway</html>");
    }
}
