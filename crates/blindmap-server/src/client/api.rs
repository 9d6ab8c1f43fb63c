//! The node's API as typed calls: one method per operation, taking and returning the types of
//! [`crate::api`] — the same types the node serves, so a client and the node cannot disagree on
//! a field's name or shape. Path segments and query values are percent-encoded here, once.

use reqwest::header::CONTENT_TYPE;
use secrecy::ExposeSecret;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{ApiClient, ClientError, accepted, decode};
use crate::api::alerts::{
    ChannelList, ChannelView, MessageDetail, MessageList, MessageQuery, NewChannel, NewRule, RuleList, RuleView,
    TestSent,
};
use crate::api::attribution::{
    ClosedView, LedgerEntryView, LedgerFilter, LedgerPage, ModelChoice, NewSource, OpportunityClose, PeriodQuery,
    PipelineView, ScoreView, SettingsView, SourceList, SourceView, TouchFilter, TouchPage, TouchView,
};
use crate::api::audit::AuditPage;
use crate::api::changes::{ChangePage, ChangeQuery, RetentionView};
use crate::api::connections::{
    AuthorizationView, ConnectionChange, ConnectionList, ConnectionView, NewConnection, SyncList, SyncParams, SyncView,
    WritebackList, WritebackView,
};
use crate::api::corrections::{CorrectionFilter, CorrectionPage, CorrectionView, NewCorrectionBody};
use crate::api::cosell::{CoSellFilter, CoSellPage, CoSellView, NewCoSell};
use crate::api::datasets::{DatasetPage, DatasetView, DeleteParams, Deleted, UploadParams};
use crate::api::ecosystem::{AccountPartners, EcosystemPage, EcosystemQuery};
use crate::api::hooks::{AttemptList, EventPage, HookList, HookView, NewHook, TestEvent};
use crate::api::me::Me;
use crate::api::partnerships::{
    AcceptInvite, BrowserLinkView, Invite, NewBrowserPartner, PartnershipList, PartnershipView, RenewLink, SharingView,
};
use crate::api::registrations::{
    DecisionBody, NewRegistration, PrecheckBody, PrecheckResult, RegistrationClose, RegistrationFilter,
    RegistrationPage, RegistrationView,
};
use crate::api::reports::{Report, ReportQuery};
use crate::api::runs::{ChangesView, OverlapPage, OverlapView, PartnerParam, RunFilter, RunPage, RunView, StartRun};
use crate::api::schedules::{
    BudgetRequest, BudgetView, JobList, ListFilter, RefusalList, ScheduleRequest, ScheduleView,
};
use crate::api::sso::{SsoConfigInput, SsoConfigView};
use crate::api::users::{
    CreatedUser, IssuedToken, NewRole, NewToken, NewUser, SignedOut, SigninLink, UserList, UserView,
};
use crate::api::{Page, Paged};

/// Query parameters: a serializable struct of the API's (`None` fields are left out), or
/// nothing.
#[derive(Debug, Default, Clone)]
pub struct Query(String);

impl Query {
    /// The parameters of `params` (one of the API's filter or parameter types).
    pub fn of(params: &impl Serialize) -> Result<Self, ClientError> {
        serde_urlencoded::to_string(params).map(Self).map_err(|e| ClientError::Request(e.to_string()))
    }

    /// These parameters and those of `more`.
    pub fn and(self, more: &impl Serialize) -> Result<Self, ClientError> {
        let more = Self::of(more)?;
        Ok(match (self.0.is_empty(), more.0.is_empty()) {
            (_, true) => self,
            (true, false) => more,
            (false, false) => Self(format!("{}&{}", self.0, more.0)),
        })
    }
}

/// A request body.
enum Body<'a, B> {
    None,
    Json(&'a B),
    Bytes(Vec<u8>, &'static str),
}

const NO_BODY: Body<'static, ()> = Body::None;

impl ApiClient {
    /// The URL of `/api/v1/` and `segments`, each percent-encoded as one path segment, with
    /// `query`.
    fn url(&self, segments: &[&str], query: &Query) -> Result<url::Url, ClientError> {
        let mut url = url::Url::parse(&self.base).map_err(|e| ClientError::Request(e.to_string()))?;
        url.path_segments_mut()
            .map_err(|()| ClientError::Request(format!("{} cannot take a path", self.base)))?
            .pop_if_empty()
            .extend(["api", "v1"])
            .extend(segments);
        if !query.0.is_empty() {
            url.set_query(Some(&query.0));
        }
        Ok(url)
    }

    fn builder<B: Serialize>(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        query: &Query,
        body: Body<'_, B>,
    ) -> Result<reqwest::RequestBuilder, ClientError> {
        let request = self.http.request(method, self.url(segments, query)?).bearer_auth(self.token.expose_secret());
        Ok(match body {
            Body::None => request,
            Body::Json(b) => request.json(b),
            Body::Bytes(bytes, content_type) => request.header(CONTENT_TYPE, content_type).body(bytes),
        })
    }

    async fn send<T: DeserializeOwned, B: Serialize>(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        query: &Query,
        body: Body<'_, B>,
    ) -> Result<T, ClientError> {
        decode(self.builder(method, segments, query, body)?.send().await?).await
    }

    async fn get<T: DeserializeOwned>(&self, segments: &[&str], query: &Query) -> Result<T, ClientError> {
        self.send(reqwest::Method::GET, segments, query, NO_BODY).await
    }

    async fn post<T: DeserializeOwned>(&self, segments: &[&str], body: &impl Serialize) -> Result<T, ClientError> {
        self.send(reqwest::Method::POST, segments, &Query::default(), Body::Json(body)).await
    }

    /// POSTs without a body (an action on a resource: `…/end`, `…/activate`).
    async fn act<T: DeserializeOwned>(&self, segments: &[&str]) -> Result<T, ClientError> {
        self.send(reqwest::Method::POST, segments, &Query::default(), NO_BODY).await
    }

    async fn put<T: DeserializeOwned>(&self, segments: &[&str], body: &impl Serialize) -> Result<T, ClientError> {
        self.send(reqwest::Method::PUT, segments, &Query::default(), Body::Json(body)).await
    }

    async fn delete<T: DeserializeOwned>(&self, segments: &[&str], query: &Query) -> Result<T, ClientError> {
        self.send(reqwest::Method::DELETE, segments, query, NO_BODY).await
    }

    /// DELETEs a resource that answers 204.
    async fn delete_empty(&self, segments: &[&str]) -> Result<(), ClientError> {
        let request = self.builder(reqwest::Method::DELETE, segments, &Query::default(), NO_BODY)?;
        accepted(request.send().await?).await.map(|_| ())
    }

    /// Every item of a paged list, following its `next` cursors, 1000 at a time.
    pub async fn all<P: Paged + DeserializeOwned>(
        &self,
        segments: &[&str],
        filter: &impl Serialize,
    ) -> Result<Vec<P::Item>, ClientError> {
        self.each_page::<P>(segments, filter, |_| {}).await
    }

    /// [`Self::all`], showing each page to `seen` before its items are taken (for what a page
    /// says beside them).
    async fn each_page<P: Paged + DeserializeOwned>(
        &self,
        segments: &[&str],
        filter: &impl Serialize,
        mut seen: impl FnMut(&P),
    ) -> Result<Vec<P::Item>, ClientError> {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let page = Page { limit: Some(1000), cursor: cursor.take() };
            let got = self.get::<P>(segments, &Query::of(filter)?.and(&page)?).await?;
            seen(&got);
            let (more, next) = got.into_parts();
            items.extend(more);
            match next {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }

    // ----- the caller -----

    /// `GET /api/v1/me`: who the token belongs to.
    pub async fn me(&self) -> Result<Me, ClientError> {
        self.get(&["me"], &Query::default()).await
    }

    // ----- datasets -----

    /// `POST /api/v1/datasets`: imports a CSV export as a new dataset, all or nothing; with an
    /// `idempotency_key`, a retry answers the first import.
    pub async fn import_dataset(
        &self,
        params: &UploadParams,
        csv: Vec<u8>,
        idempotency_key: Option<&str>,
    ) -> Result<DatasetView, ClientError> {
        let mut request = self.builder(
            reqwest::Method::POST,
            &["datasets"],
            &Query::of(params)?,
            Body::<()>::Bytes(csv, "text/csv"),
        )?;
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        decode(request.send().await?).await
    }

    /// Every dataset of the organisation.
    pub async fn datasets(&self) -> Result<Vec<DatasetView>, ClientError> {
        self.all::<DatasetPage>(&["datasets"], &()).await
    }

    /// `POST /api/v1/datasets/{id}/activate`: makes it the one matches use.
    pub async fn activate_dataset(&self, id: &str) -> Result<DatasetView, ClientError> {
        self.act(&["datasets", id, "activate"]).await
    }

    /// `DELETE /api/v1/datasets/{id}`.
    pub async fn delete_dataset(&self, id: &str, params: &DeleteParams) -> Result<Deleted, ClientError> {
        self.delete(&["datasets", id], &Query::of(params)?).await
    }

    // ----- partnerships -----

    /// `POST /api/v1/partnerships/invites`: a one-time code for a partner's admin.
    pub async fn invite(&self) -> Result<Invite, ClientError> {
        self.act(&["partnerships", "invites"]).await
    }

    /// `POST /api/v1/partnerships`: accepts a partner's invite code.
    pub async fn accept_invite(&self, body: &AcceptInvite) -> Result<PartnershipView, ClientError> {
        self.post(&["partnerships"], body).await
    }

    /// `POST /api/v1/partnerships/browser`: a partner invited to match in its browser, and its link.
    pub async fn invite_browser(&self, body: &NewBrowserPartner) -> Result<BrowserLinkView, ClientError> {
        self.post(&["partnerships", "browser"], body).await
    }

    /// `POST /api/v1/partnerships/{id}/link`: a browser partner's new link (the old one stops working).
    pub async fn renew_link(&self, id: &str, body: &RenewLink) -> Result<BrowserLinkView, ClientError> {
        self.post(&["partnerships", id, "link"], body).await
    }

    /// Every partnership of the organisation.
    pub async fn partnerships(&self) -> Result<Vec<PartnershipView>, ClientError> {
        self.all::<PartnershipList>(&["partnerships"], &()).await
    }

    /// `POST /api/v1/partnerships/{id}/end`.
    pub async fn end_partnership(&self, id: &str) -> Result<PartnershipView, ClientError> {
        self.act(&["partnerships", id, "end"]).await
    }

    /// `GET /api/v1/partnerships/{id}/sharing`: what this side discloses to the partner.
    pub async fn sharing(&self, id: &str) -> Result<SharingView, ClientError> {
        self.get(&["partnerships", id, "sharing"], &Query::default()).await
    }

    /// `PUT /api/v1/partnerships/{id}/sharing`.
    pub async fn set_sharing(&self, id: &str, policy: &SharingView) -> Result<SharingView, ClientError> {
        self.put(&["partnerships", id, "sharing"], policy).await
    }

    // ----- changes -----

    /// `GET /api/v1/changes`: what runs changed, account by account, newest first.
    pub async fn changes(&self, query: &ChangeQuery, page: &Page) -> Result<ChangePage, ClientError> {
        self.get(&["changes"], &Query::of(query)?.and(page)?).await
    }

    /// `GET /api/v1/retention`.
    pub async fn retention(&self) -> Result<RetentionView, ClientError> {
        self.get(&["retention"], &Query::default()).await
    }

    /// `PUT /api/v1/retention`.
    pub async fn set_retention(&self, retention: &RetentionView) -> Result<RetentionView, ClientError> {
        self.put(&["retention"], retention).await
    }

    // ----- schedules and budgets -----

    /// `GET /api/v1/partnerships/{id}/schedule`.
    pub async fn schedule(&self, id: &str) -> Result<ScheduleView, ClientError> {
        self.get(&["partnerships", id, "schedule"], &Query::default()).await
    }

    /// `PUT /api/v1/partnerships/{id}/schedule`.
    pub async fn set_schedule(&self, id: &str, schedule: &ScheduleRequest) -> Result<ScheduleView, ClientError> {
        self.put(&["partnerships", id, "schedule"], schedule).await
    }

    /// `DELETE /api/v1/partnerships/{id}/schedule`.
    pub async fn clear_schedule(&self, id: &str) -> Result<(), ClientError> {
        self.delete_empty(&["partnerships", id, "schedule"]).await
    }

    /// `GET /api/v1/partnerships/{id}/budget`.
    pub async fn budget(&self, id: &str) -> Result<BudgetView, ClientError> {
        self.get(&["partnerships", id, "budget"], &Query::default()).await
    }

    /// `PUT /api/v1/partnerships/{id}/budget`.
    pub async fn set_budget(&self, id: &str, budget: &BudgetRequest) -> Result<BudgetView, ClientError> {
        self.put(&["partnerships", id, "budget"], budget).await
    }

    /// `GET /api/v1/jobs`.
    pub async fn jobs(&self, filter: &ListFilter) -> Result<JobList, ClientError> {
        self.get(&["jobs"], &Query::of(filter)?).await
    }

    /// `GET /api/v1/refusals`.
    pub async fn refusals(&self, filter: &ListFilter) -> Result<RefusalList, ClientError> {
        self.get(&["refusals"], &Query::of(filter)?).await
    }

    // ----- runs and overlaps -----

    /// `POST /api/v1/runs`: starts a match run; poll [`Self::run`] for its end.
    pub async fn start_run(&self, body: &StartRun) -> Result<RunView, ClientError> {
        self.post(&["runs"], body).await
    }

    /// `GET /api/v1/runs/{id}`.
    pub async fn run(&self, id: &str) -> Result<RunView, ClientError> {
        self.get(&["runs", id], &Query::default()).await
    }

    /// `GET /api/v1/runs`: a page of runs, newest first.
    pub async fn runs(&self, filter: &RunFilter, page: &Page) -> Result<RunPage, ClientError> {
        self.get(&["runs"], &Query::of(filter)?.and(page)?).await
    }

    /// `GET /api/v1/runs/{id}/changes`: what changed since the previous complete run.
    pub async fn run_changes(&self, id: &str) -> Result<ChangesView, ClientError> {
        self.get(&["runs", id, "changes"], &Query::default()).await
    }

    /// `GET /api/v1/runs/{id}/transcript`: every frame of the run, decoded.
    pub async fn run_transcript(&self, id: &str) -> Result<String, ClientError> {
        let request = self.builder(reqwest::Method::GET, &["runs", id, "transcript"], &Query::default(), NO_BODY)?;
        Ok(accepted(request.send().await?).await?.text().await?)
    }

    /// `GET /api/v1/runs/{id}/overlaps`: a page of the run's overlapping accounts.
    pub async fn run_overlaps(&self, id: &str, page: &Page) -> Result<OverlapPage, ClientError> {
        self.get(&["runs", id, "overlaps"], &Query::of(page)?).await
    }

    /// `GET /api/v1/overlaps`: a page of the overlapping accounts of a partnership's latest
    /// complete run.
    pub async fn latest_overlaps(&self, partnership: &str, page: &Page) -> Result<OverlapPage, ClientError> {
        let of = PartnerParam { partnership: partnership.to_owned() };
        self.get(&["overlaps"], &Query::of(&of)?.and(page)?).await
    }

    /// `GET /api/v1/reports/overlaps`: a page of the overlap report of the latest complete
    /// match with a partner.
    pub async fn report(&self, query: &ReportQuery) -> Result<Report, ClientError> {
        self.get(&["reports", "overlaps"], &Query::of(query)?).await
    }

    /// `GET /api/v1/ecosystem`: a page of your accounts that several partners have, by priority.
    pub async fn ecosystem(&self, query: &EcosystemQuery) -> Result<EcosystemPage, ClientError> {
        self.get(&["ecosystem"], &Query::of(query)?).await
    }

    /// `GET /api/v1/accounts/{id}/partners`: the partners to bring into a deal on an account.
    pub async fn account_partners(&self, account: &str) -> Result<AccountPartners, ClientError> {
        self.get(&["accounts", account, "partners"], &Query::default()).await
    }

    /// Every overlapping account of a partnership's latest complete run, and that run's id
    /// (none without a complete run).
    pub async fn all_latest_overlaps(
        &self,
        partnership: &str,
    ) -> Result<(Option<String>, Vec<OverlapView>), ClientError> {
        let of = PartnerParam { partnership: partnership.to_owned() };
        let mut run = None;
        let items =
            self.each_page::<OverlapPage>(&["overlaps"], &of, |p| _ = run.get_or_insert_with(|| p.run.clone())).await?;
        Ok((run, items))
    }

    // ----- corrections -----

    /// `POST /api/v1/corrections`.
    pub async fn correct(&self, body: &NewCorrectionBody) -> Result<CorrectionView, ClientError> {
        self.post(&["corrections"], body).await
    }

    /// `GET /api/v1/corrections`: a page of corrections.
    pub async fn corrections(&self, filter: &CorrectionFilter, page: &Page) -> Result<CorrectionPage, ClientError> {
        self.get(&["corrections"], &Query::of(filter)?.and(page)?).await
    }

    /// Every correction, or the partnership's.
    pub async fn all_corrections(&self, partnership: Option<&str>) -> Result<Vec<CorrectionView>, ClientError> {
        let filter = CorrectionFilter { partnership: partnership.map(str::to_owned) };
        self.all::<CorrectionPage>(&["corrections"], &filter).await
    }

    /// `DELETE /api/v1/corrections/{id}`.
    pub async fn remove_correction(&self, id: &str) -> Result<CorrectionView, ClientError> {
        self.delete(&["corrections", id], &Query::default()).await
    }

    // ----- co-sell -----

    /// `POST /api/v1/cosell`.
    pub async fn create_cosell(&self, body: &NewCoSell) -> Result<CoSellView, ClientError> {
        self.post(&["cosell"], body).await
    }

    /// `GET /api/v1/cosell`: a page of co-sell records.
    pub async fn cosell_records(&self, filter: &CoSellFilter, page: &Page) -> Result<CoSellPage, ClientError> {
        self.get(&["cosell"], &Query::of(filter)?.and(page)?).await
    }

    /// `GET /api/v1/cosell/{id}`.
    pub async fn cosell(&self, id: &str) -> Result<CoSellView, ClientError> {
        self.get(&["cosell", id], &Query::default()).await
    }

    /// `POST /api/v1/cosell/{id}/edits`.
    pub async fn edit_cosell(&self, id: &str, edit: &blindmap_cosell::cosell::Edit) -> Result<CoSellView, ClientError> {
        self.post(&["cosell", id, "edits"], edit).await
    }

    // ----- deal registrations -----

    /// `POST /api/v1/registrations`: submits a registration to a partner.
    pub async fn register(
        &self,
        body: &NewRegistration,
        idempotency_key: Option<&str>,
    ) -> Result<RegistrationView, ClientError> {
        let mut request =
            self.builder(reqwest::Method::POST, &["registrations"], &Query::default(), Body::Json(body))?;
        if let Some(key) = idempotency_key {
            request = request.header("idempotency-key", key);
        }
        decode(request.send().await?).await
    }

    /// `GET /api/v1/registrations`: a page of registrations.
    pub async fn registrations(
        &self,
        filter: &RegistrationFilter,
        page: &Page,
    ) -> Result<RegistrationPage, ClientError> {
        self.get(&["registrations"], &Query::of(filter)?.and(page)?).await
    }

    /// Every registration the filter selects.
    pub async fn all_registrations(&self, filter: &RegistrationFilter) -> Result<Vec<RegistrationView>, ClientError> {
        self.all::<RegistrationPage>(&["registrations"], filter).await
    }

    /// `GET /api/v1/registrations/{id}`.
    pub async fn registration(&self, id: &str) -> Result<RegistrationView, ClientError> {
        self.get(&["registrations", id], &Query::default()).await
    }

    /// `POST /api/v1/registrations/{id}/extend`.
    pub async fn extend_registration(&self, id: &str) -> Result<RegistrationView, ClientError> {
        self.act(&["registrations", id, "extend"]).await
    }

    /// `POST /api/v1/registrations/{id}/approve` or `…/reject`.
    pub async fn decide_registration(
        &self,
        id: &str,
        decision: &str,
        body: &DecisionBody,
    ) -> Result<RegistrationView, ClientError> {
        self.post(&["registrations", id, decision], body).await
    }

    /// `POST /api/v1/registrations/{id}/close`.
    pub async fn close_registration(
        &self,
        id: &str,
        body: &RegistrationClose,
    ) -> Result<RegistrationView, ClientError> {
        self.post(&["registrations", id, "close"], body).await
    }

    /// `POST /api/v1/registrations/precheck`.
    pub async fn precheck(&self, body: &PrecheckBody) -> Result<PrecheckResult, ClientError> {
        self.post(&["registrations", "precheck"], body).await
    }

    /// `GET /api/v1/registrations/settings`.
    pub async fn registration_settings(&self) -> Result<blindmap_cosell::dealreg::Settings, ClientError> {
        self.get(&["registrations", "settings"], &Query::default()).await
    }

    /// `PUT /api/v1/registrations/settings`.
    pub async fn set_registration_settings(
        &self,
        settings: &blindmap_cosell::dealreg::Settings,
    ) -> Result<blindmap_cosell::dealreg::Settings, ClientError> {
        self.put(&["registrations", "settings"], settings).await
    }

    // ----- attribution -----

    /// `POST /api/v1/attribution/touches`.
    pub async fn record_touch(&self, touch: &crate::api::attribution::TouchInput) -> Result<TouchView, ClientError> {
        self.post(&["attribution", "touches"], touch).await
    }

    /// Every touch, or the opportunity's.
    pub async fn all_touches(&self, filter: &TouchFilter) -> Result<Vec<TouchView>, ClientError> {
        self.all::<TouchPage>(&["attribution", "touches"], filter).await
    }

    /// Every entry of the ledger the filter selects.
    pub async fn all_ledger(&self, filter: &LedgerFilter) -> Result<Vec<LedgerEntryView>, ClientError> {
        self.all::<LedgerPage>(&["attribution", "ledger"], filter).await
    }

    /// `GET /api/v1/attribution/settings`.
    pub async fn attribution_settings(&self) -> Result<SettingsView, ClientError> {
        self.get(&["attribution", "settings"], &Query::default()).await
    }

    /// `PUT /api/v1/attribution/settings`.
    pub async fn set_attribution_settings(&self, model: &ModelChoice) -> Result<SettingsView, ClientError> {
        self.put(&["attribution", "settings"], model).await
    }

    /// `POST /api/v1/attribution/opportunities/{opportunity}/close`.
    pub async fn close_opportunity(
        &self,
        opportunity: &str,
        body: &OpportunityClose,
    ) -> Result<ClosedView, ClientError> {
        self.post(&["attribution", "opportunities", opportunity, "close"], body).await
    }

    /// `GET /api/v1/attribution/opportunities/{opportunity}`: its ledger of record.
    pub async fn opportunity(&self, opportunity: &str) -> Result<ClosedView, ClientError> {
        self.get(&["attribution", "opportunities", opportunity], &Query::default()).await
    }

    /// `GET /api/v1/attribution/opportunities/{opportunity}/score`: scored under `model`.
    pub async fn score(&self, opportunity: &str, model: &ModelChoice) -> Result<ScoreView, ClientError> {
        self.get(&["attribution", "opportunities", opportunity, "score"], &Query::of(model)?).await
    }

    /// `GET /api/v1/attribution/ledger`: a page of the ledger.
    pub async fn ledger(&self, filter: &LedgerFilter, page: &Page) -> Result<LedgerPage, ClientError> {
        self.get(&["attribution", "ledger"], &Query::of(filter)?.and(page)?).await
    }

    /// `GET /api/v1/attribution/pipeline`: the partner pipeline summary over a period.
    pub async fn pipeline(&self, period: &PeriodQuery) -> Result<PipelineView, ClientError> {
        self.get(&["attribution", "pipeline"], &Query::of(period)?).await
    }

    /// `POST /api/v1/attribution/sources`: a new inbound source, with its secret (shown once).
    pub async fn create_source(&self, body: &NewSource) -> Result<SourceView, ClientError> {
        self.post(&["attribution", "sources"], body).await
    }

    /// `GET /api/v1/attribution/sources`.
    pub async fn sources(&self) -> Result<SourceList, ClientError> {
        self.get(&["attribution", "sources"], &Query::default()).await
    }

    // ----- users and tokens -----

    /// Every user of the organisation.
    pub async fn users(&self) -> Result<Vec<UserView>, ClientError> {
        self.all::<UserList>(&["users"], &()).await
    }

    /// `POST /api/v1/users`: a new user and their first token.
    pub async fn create_user(&self, body: &NewUser) -> Result<CreatedUser, ClientError> {
        self.post(&["users"], body).await
    }

    /// `POST /api/v1/users/{id}/tokens`.
    pub async fn issue_token(&self, user: &str, body: &NewToken) -> Result<IssuedToken, ClientError> {
        self.post(&["users", user, "tokens"], body).await
    }

    /// `POST /api/v1/users/{id}/signin-link`.
    pub async fn signin_link(&self, user: &str) -> Result<SigninLink, ClientError> {
        self.act(&["users", user, "signin-link"]).await
    }

    /// `GET /api/v1/sso`: the organisation's single sign-on settings (never the secret).
    pub async fn sso(&self) -> Result<SsoConfigView, ClientError> {
        self.get(&["sso"], &Query::default()).await
    }

    /// `PUT /api/v1/sso`: sets the organisation's single sign-on.
    pub async fn set_sso(&self, body: &SsoConfigInput) -> Result<SsoConfigView, ClientError> {
        self.put(&["sso"], body).await
    }

    /// `DELETE /api/v1/sso`: removes the organisation's single sign-on.
    pub async fn remove_sso(&self) -> Result<(), ClientError> {
        self.delete_empty(&["sso"]).await
    }

    /// `DELETE /api/v1/tokens/{id}`.
    pub async fn revoke_token(&self, id: &str) -> Result<(), ClientError> {
        self.delete_empty(&["tokens", id]).await
    }

    /// `POST /api/v1/users/{id}/disable` or `…/enable`.
    pub async fn set_user_enabled(&self, user: &str, enabled: bool) -> Result<UserView, ClientError> {
        self.act(&["users", user, if enabled { "enable" } else { "disable" }]).await
    }

    /// `POST /api/v1/users/{id}/role`.
    pub async fn set_user_role(&self, user: &str, body: &NewRole) -> Result<UserView, ClientError> {
        self.post(&["users", user, "role"], body).await
    }

    /// `DELETE /api/v1/users/{id}`.
    pub async fn delete_user(&self, user: &str) -> Result<(), ClientError> {
        self.delete_empty(&["users", user]).await
    }

    /// `DELETE /api/v1/users/{id}/sessions`: signs the user out of the pages everywhere.
    pub async fn end_sessions(&self, user: &str) -> Result<SignedOut, ClientError> {
        self.delete(&["users", user, "sessions"], &Query::default()).await
    }

    // ----- CRM connections and their syncs -----

    /// `POST /api/v1/connections`: connects a Salesforce org or a HubSpot portal.
    pub async fn create_connection(&self, body: &NewConnection) -> Result<ConnectionView, ClientError> {
        self.post(&["connections"], body).await
    }

    /// `GET /api/v1/connections`.
    pub async fn connections(&self) -> Result<ConnectionList, ClientError> {
        self.get(&["connections"], &Query::default()).await
    }

    /// `GET /api/v1/connections/{id}`.
    pub async fn connection(&self, id: &str) -> Result<ConnectionView, ClientError> {
        self.get(&["connections", id], &Query::default()).await
    }

    /// `DELETE /api/v1/connections/{id}`.
    pub async fn delete_connection(&self, id: &str) -> Result<(), ClientError> {
        self.delete_empty(&["connections", id]).await
    }

    /// `POST /api/v1/connections/{id}/syncs`: starts a sync, which runs on.
    pub async fn start_sync(&self, id: &str, params: &SyncParams) -> Result<SyncView, ClientError> {
        self.send(reqwest::Method::POST, &["connections", id, "syncs"], &Query::of(params)?, NO_BODY).await
    }

    /// `GET /api/v1/connections/{id}/syncs`: the latest syncs, newest first.
    pub async fn syncs(&self, id: &str) -> Result<SyncList, ClientError> {
        self.get(&["connections", id, "syncs"], &Query::default()).await
    }

    /// `GET /api/v1/connections/{id}/syncs/{sync}`.
    pub async fn sync(&self, id: &str, sync: &str) -> Result<SyncView, ClientError> {
        self.get(&["connections", id, "syncs", sync], &Query::default()).await
    }

    /// `PATCH /api/v1/connections/{id}`: the connection as changed.
    pub async fn change_connection(&self, id: &str, body: &ConnectionChange) -> Result<ConnectionView, ClientError> {
        self.send(reqwest::Method::PATCH, &["connections", id], &Query::default(), Body::Json(body)).await
    }

    /// `POST /api/v1/connections/authorize`: where to approve a connection's access in the CRM.
    pub async fn authorize_connection(&self, body: &NewConnection) -> Result<AuthorizationView, ClientError> {
        self.post(&["connections", "authorize"], body).await
    }

    /// `POST /api/v1/connections/{id}/writebacks`: a write-back, running.
    pub async fn start_writeback(&self, id: &str) -> Result<WritebackView, ClientError> {
        self.send(reqwest::Method::POST, &["connections", id, "writebacks"], &Query::default(), NO_BODY).await
    }

    /// `GET /api/v1/connections/{id}/writebacks`: the latest write-backs, newest first.
    pub async fn writebacks(&self, id: &str) -> Result<WritebackList, ClientError> {
        self.get(&["connections", id, "writebacks"], &Query::default()).await
    }

    /// `GET /api/v1/connections/{id}/writebacks/{writeback}`.
    pub async fn writeback(&self, id: &str, writeback: &str) -> Result<WritebackView, ClientError> {
        self.get(&["connections", id, "writebacks", writeback], &Query::default()).await
    }

    // ----- alerts -----

    /// `POST /api/v1/alerts/channels`.
    pub async fn create_alert_channel(&self, body: &NewChannel) -> Result<ChannelView, ClientError> {
        self.post(&["alerts", "channels"], body).await
    }

    /// `GET /api/v1/alerts/channels`.
    pub async fn alert_channels(&self) -> Result<ChannelList, ClientError> {
        self.get(&["alerts", "channels"], &Query::default()).await
    }

    /// `DELETE /api/v1/alerts/channels/{id}`.
    pub async fn delete_alert_channel(&self, id: &str) -> Result<(), ClientError> {
        self.delete_empty(&["alerts", "channels", id]).await
    }

    /// `POST /api/v1/alerts/channels/{id}/test`: a test message, now.
    pub async fn test_alert_channel(&self, id: &str) -> Result<TestSent, ClientError> {
        self.act(&["alerts", "channels", id, "test"]).await
    }

    /// `POST /api/v1/alerts/rules`.
    pub async fn create_alert_rule(&self, body: &NewRule) -> Result<RuleView, ClientError> {
        self.post(&["alerts", "rules"], body).await
    }

    /// `GET /api/v1/alerts/rules`.
    pub async fn alert_rules(&self) -> Result<RuleList, ClientError> {
        self.get(&["alerts", "rules"], &Query::default()).await
    }

    /// `DELETE /api/v1/alerts/rules/{id}`.
    pub async fn delete_alert_rule(&self, id: &str) -> Result<(), ClientError> {
        self.delete_empty(&["alerts", "rules", id]).await
    }

    /// `GET /api/v1/alerts/messages`: the newest messages.
    pub async fn alert_messages(&self, query: &MessageQuery) -> Result<MessageList, ClientError> {
        self.get(&["alerts", "messages"], &Query::of(query)?).await
    }

    /// `GET /api/v1/alerts/messages/{id}`.
    pub async fn alert_message(&self, id: &str) -> Result<MessageDetail, ClientError> {
        self.get(&["alerts", "messages", id], &Query::default()).await
    }

    // ----- webhooks, events and the audit trail -----

    /// `POST /api/v1/hooks`: a new endpoint, with its secret (shown once).
    pub async fn create_hook(&self, body: &NewHook) -> Result<HookView, ClientError> {
        self.post(&["hooks"], body).await
    }

    /// `GET /api/v1/hooks`.
    pub async fn hooks(&self) -> Result<HookList, ClientError> {
        self.get(&["hooks"], &Query::default()).await
    }

    /// `POST /api/v1/hooks/{id}/enable` or `…/disable`.
    pub async fn set_hook_enabled(&self, id: &str, enabled: bool) -> Result<HookView, ClientError> {
        self.act(&["hooks", id, if enabled { "enable" } else { "disable" }]).await
    }

    /// `POST /api/v1/hooks/{id}/test`: a `webhook.test` event to this endpoint alone.
    pub async fn test_hook(&self, id: &str) -> Result<TestEvent, ClientError> {
        self.act(&["hooks", id, "test"]).await
    }

    /// `GET /api/v1/hooks/{id}/deliveries`: the newest delivery attempts.
    pub async fn deliveries(&self, id: &str, page: &Page) -> Result<AttemptList, ClientError> {
        self.get(&["hooks", id, "deliveries"], &Query::of(page)?).await
    }

    /// `GET /api/v1/events`: a page of events.
    pub async fn events(&self, page: &Page) -> Result<EventPage, ClientError> {
        self.get(&["events"], &Query::of(page)?).await
    }

    /// `GET /api/v1/audit`: a page of the audit trail.
    pub async fn audit(&self, page: &Page) -> Result<AuditPage, ClientError> {
        self.get(&["audit"], &Query::of(page)?).await
    }
}
