//! Deal registrations between two nodes. The partner's node submits a registration to the
//! vendor's node over the peer channel; the vendor's node checks it for conflicts (other
//! partners' claims, its direct team's open opportunities), stores it and answers the submitter's
//! view of it: the state, a conflict's category, the protection's end — never who holds another
//! claim. Later decisions (approve, reject, extend, expire, close) are told to the submitter's
//! node, again until it acknowledges. The pre-check lets a partner ask whether an account is
//! claimed without naming it (spec §17).

use std::time::Duration;

use blindmap_cosell::dealreg::{self, Checked, RegState, Registration, Submission, SubmitterView};
use blindmap_psi::{MatchKey, PRECHECK_ELEMENTS, PrecheckAnswer, answer_precheck};
use blindmap_store::{Allowance, Direction, OrgId, Partnership, Record, Store, StoreError, StoredRegistration};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::NodeContext;
use crate::api::registrations::Customer;
use crate::client::{ClientError, PeerClient};

/// Why a registration, a decision on one or a pre-check cannot be made. `http::error` maps each
/// to its status: what is malformed → 422; what the registration's state or partnership refuses →
/// 409; a forged move of the vendor's node → 403; a partner's refusal by its own status, and a
/// partner that cannot be reached or answers nonsense → 502.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RegistrationError {
    /// The customer's name, country, domains or DUNS numbers do not make keys.
    #[error(transparent)]
    Customer(#[from] blindmap_records::CustomerError),
    /// A customer named by nothing a key can be made of.
    #[error("name the customer: a name and country, a domain or a DUNS number")]
    NoCustomer,
    /// A stored or sent key that is not `type:value`.
    #[error("{0:?} is not type:value")]
    NotTypeValue(String),
    /// A key type of the wrong shape.
    #[error(transparent)]
    KeyType(#[from] blindmap_psi::InputError),
    /// A pre-check the protocol refuses.
    #[error(transparent)]
    Protocol(#[from] blindmap_psi::Error),
    /// The submission is malformed: value, currency, products, close date or notes.
    #[error(transparent)]
    Submission(blindmap_cosell::Error),
    /// A registration id of the wrong shape.
    #[error("a registration id is rg_ and 32 hex digits")]
    NotAnId,
    /// A registration of that id is another partnership's or this side's own.
    #[error("a registration of that id exists")]
    IdTaken,
    /// No registration of that id (or not one this side submitted through this partnership).
    #[error("no such registration")]
    NotFound,
    /// The partnership ended.
    #[error("the partnership with {0} has ended")]
    Ended(String),
    /// The partner runs no node (a remote client).
    #[error("{0} has no node to register deals with")]
    NoNode(String),
    /// A decision on a registration this side submitted.
    #[error("the partner's node decides on registrations this side submitted")]
    NotReceived,
    /// A decision the registration's state does not allow.
    #[error(transparent)]
    Refused(blindmap_cosell::Error),
    /// A move the vendor's node could not have made (audited by the peer route).
    #[error("{0}")]
    Forged(&'static str),
    /// Other writers kept changing it.
    #[error("a reason is at most {MAX_REASON_CHARS} characters")]
    ReasonTooLong,
    #[error("the registration keeps changing; try again")]
    KeepsChanging,
    /// A pre-check of the wrong size.
    #[error("a pre-check carries exactly {PRECHECK_ELEMENTS} elements")]
    PrecheckSize,
    /// A pre-check element that is not a group element's encoding.
    #[error("an element is not 32 bytes of hex")]
    PrecheckElement,
    /// The pre-check's evaluation did not finish.
    #[error("the pre-check failed")]
    PrecheckFailed,
    /// The partner's pre-check budget is spent for now.
    #[error("{reason}; try again in {retry_after} s")]
    PrecheckLimit {
        /// Which limit.
        reason: &'static str,
        /// Seconds until a pre-check can pass.
        retry_after: u64,
    },
    /// The partner's node could not be reached or refused (its status says how).
    #[error(transparent)]
    Partner(#[from] ClientError),
    /// The partner's node answered something this side cannot use.
    #[error("{0}")]
    Unusable(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Customer {
    /// The customer's keys as `type:value` text.
    pub(crate) fn keys(&self) -> Result<Vec<String>, RegistrationError> {
        let domains: Vec<&str> = self.domains.iter().map(String::as_str).collect();
        let duns: Vec<&str> = self.duns.iter().map(String::as_str).collect();
        let keys =
            blindmap_records::AccountKeys::of_customer(self.name.as_deref(), self.country.as_deref(), &domains, &duns)?;
        if keys.is_empty() {
            return Err(RegistrationError::NoCustomer);
        }
        Ok(blindmap_records::customer_keys(&keys).iter().map(|k| format!("{}:{}", k.key_type(), k.value())).collect())
    }
}

/// A submission from what a user typed: the customer, product lines, the value as a decimal in
/// `currency`, the close date and notes; checked.
pub(crate) fn submission(
    customer: Customer,
    products: Vec<String>,
    value: &str,
    currency: &str,
    expected_close: &str,
    notes: &str,
) -> Result<Submission, RegistrationError> {
    let invalid = RegistrationError::Submission;
    let currency = blindmap_cosell::money::Currency::new(currency.trim()).map_err(invalid)?;
    let submission = Submission {
        partner: String::new(),
        customer_keys: customer.keys()?.into_iter().collect(),
        products: products.iter().map(|p| p.trim().to_owned()).collect(),
        value: blindmap_cosell::money::Money::parse(value.trim(), currency).map_err(invalid)?,
        expected_close: expected_close.trim().to_owned(),
        notes: notes.to_owned(),
    };
    submission.check().map_err(invalid)?;
    Ok(submission)
}

/// What the submitting node sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct SubmitMessage {
    /// `rg_…`, chosen by the submitter; both nodes use it.
    pub(crate) id: String,
    /// The submission; its `partner` is ignored (the vendor knows who calls).
    pub(crate) submission: Submission,
}

/// A pre-check query: hex blinded elements (spec §17).
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PrecheckMessage {
    pub(crate) elements: Vec<String>,
}

/// The vendor's answer to a pre-check.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct PrecheckReply {
    /// The query's elements, evaluated, in order (hex).
    pub(crate) evaluated: Vec<String>,
    /// The claimed keys' outputs, cut to 16 bytes, sorted (hex).
    pub(crate) claimed: Vec<String>,
    /// Pre-checks left in the asker's budget for the last 24 hours.
    pub(crate) remaining_today: u32,
}

/// The event a registration in `state` announces.
pub(crate) fn event_kind(state: RegState) -> &'static str {
    match state {
        RegState::Submitted => "registration.submitted",
        RegState::InReview => "registration.conflict",
        RegState::Approved => "registration.approved",
        RegState::Rejected => "registration.rejected",
        RegState::Expired => "registration.expired",
        RegState::Won | RegState::Lost => "registration.closed",
    }
}

/// An event's payload: the registration as this side knows it. On the submitter's side that is
/// its own submission and the vendor's answer; on the vendor's, also who submitted it.
pub(crate) fn event_payload(stored: &StoredRegistration, partner: &str) -> serde_json::Value {
    let r = &stored.registration;
    serde_json::json!({
        "id": r.id,
        "direction": stored.direction.as_str(),
        "partnership": stored.partnership.as_str(),
        "partner": partner,
        "state": r.state.as_str(),
        "conflict": r.conflict,
        "protected_until": r.protected_until.map(crate::rfc3339),
        "extended": r.extended,
        "customer_keys": r.submission.customer_keys,
        "products": r.submission.products,
        "value": r.submission.value,
        "expected_close": r.submission.expected_close,
    })
}

/// The partnership a registration or pre-check goes through: active, with a node to call.
pub(crate) fn reachable(partnership: &Partnership) -> Result<(), RegistrationError> {
    if partnership.state != blindmap_store::PartnershipState::Active {
        return Err(RegistrationError::Ended(partnership.partner_name.clone()));
    }
    if partnership.partner_url.is_empty() {
        return Err(RegistrationError::NoNode(partnership.partner_name.clone()));
    }
    Ok(())
}

/// Keys as the protocol types them, from their `type:value` text.
fn match_keys(keys: &[String]) -> Result<Vec<MatchKey>, RegistrationError> {
    keys.iter()
        .map(|k| {
            let (t, v) = k.split_once(':').ok_or_else(|| RegistrationError::NotTypeValue(k.clone()))?;
            let t = blindmap_psi::KeyType::new(t)?;
            Ok(MatchKey::new(t, v))
        })
        .collect()
}

/// The submitter's side: sends `submission` to the partner's node and keeps a copy with its
/// answer. A customer this side registered already answers that registration instead.
pub(crate) async fn submit(
    store: &Store,
    node: &NodeContext,
    partnership: &Partnership,
    submission: Submission,
    actor: &str,
) -> Result<(StoredRegistration, bool), RegistrationError> {
    submission.check().map_err(RegistrationError::Submission)?;
    let org = &partnership.org;
    let id = format!("rg_{}", hex::encode(rand::random::<[u8; 16]>()));
    let message = serde_json::to_value(SubmitMessage { id: id.clone(), submission: submission.clone() })
        .expect("a submission serialises");
    let view: SubmitterView = PeerClient::to_partner(partnership, &node.identity)?
        .post(&format!("/peer/v1/partnerships/{}/registrations", partnership.partner_ref), &message)
        .await?;
    if view.id != id {
        // Already registered by this side: the vendor answered the earlier one.
        match store.registration(org, &view.id).await {
            Ok(existing) if existing.direction == Direction::Submitted && existing.partnership == partnership.id => {
                return Ok((existing, false));
            }
            Ok(_) => return Err(RegistrationError::Unusable("answered with a registration that is not ours".into())),
            Err(StoreError::NotFound(_)) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let now = crate::now_ms();
    let stored = StoredRegistration {
        registration: Registration {
            id: view.id.clone(),
            submission: Submission { partner: partnership.id.to_string(), ..submission },
            submitted_at: now,
            state: view.state,
            conflict: view.conflict,
            protected_until: view.protected_until,
            extended: view.extended,
        },
        partnership: partnership.id.clone(),
        direction: Direction::Submitted,
        review: serde_json::json!({}),
        notify: false,
        version: 1,
        updated_at: now,
    };
    let payload = event_payload(&stored, &partnership.partner_name);
    // What left this side: the end customer's keys (kept with the registration; counted here,
    // as the trail holds no identifiers) and the deal, to this partner.
    let audit = serde_json::json!({ "registration": stored.registration.id, "partnership": partnership.id.as_str(),
        "partner": partnership.partner_name, "customer_keys": stored.registration.submission.customer_keys.len() });
    let record = Record {
        event: Some((event_kind(view.state), &payload)),
        audit: Some((actor, "registration.submitted", &audit)),
    };
    let keys: Vec<String> = stored.registration.submission.customer_keys.iter().cloned().collect();
    store.insert_registration(org, &stored, &keys, record).await?;
    Ok((stored, true))
}

/// The vendor's side of a submission: checks, stores and answers the submitter's view.
pub(crate) async fn receive(
    store: &Store,
    partnership: &Partnership,
    message: SubmitMessage,
) -> Result<SubmitterView, RegistrationError> {
    let org = &partnership.org;
    let id = message.id;
    if !id.strip_prefix("rg_").is_some_and(|h| h.len() == 32 && h.bytes().all(|b| b.is_ascii_hexdigit())) {
        return Err(RegistrationError::NotAnId);
    }
    let submission = Submission { partner: partnership.id.to_string(), ..message.submission };
    submission.check().map_err(RegistrationError::Submission)?;
    match store.registration(org, &id).await {
        Ok(existing) if existing.partnership == partnership.id && existing.direction == Direction::Received => {
            return Ok(existing.registration.submitter_view());
        }
        Ok(_) => return Err(RegistrationError::IdTaken),
        Err(StoreError::NotFound(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let settings = store.registration_settings(org).await?;
    let keys: Vec<String> = submission.customer_keys.iter().cloned().collect();
    let existing = store.registrations_sharing(org, &keys).await?;
    let direct = store.direct_opportunities(org, &settings.direct_segments, &keys).await?;
    let regs: Vec<Registration> = existing.iter().map(|s| s.registration.clone()).collect();
    let directs: Vec<dealreg::DirectOpportunity> = direct.iter().map(|(_, d)| d.clone()).collect();
    let now = crate::now_ms();
    let registration = match dealreg::check_submission(&id, submission, now, &regs, &directs)
        .map_err(RegistrationError::Submission)?
    {
        Checked::AlreadyRegistered(earlier) => {
            return Ok(store.registration(org, &earlier).await?.registration.submitter_view());
        }
        Checked::New(r) => r,
    };
    // What only this side sees: which claims and accounts the checks found.
    let holders: Vec<&str> = existing
        .iter()
        .filter(|s| {
            s.registration.state.holds_claim()
                && s.partnership != partnership.id
                && !s.registration.submission.products.is_disjoint(&registration.submission.products)
        })
        .map(|s| s.registration.id.as_str())
        .collect();
    let review = serde_json::json!({
        "conflicting_registrations": holders,
        "direct_accounts": direct.iter().map(|(id, _)| id).collect::<Vec<_>>(),
    });
    let stored = StoredRegistration {
        registration,
        partnership: partnership.id.clone(),
        direction: Direction::Received,
        review,
        notify: false,
        version: 1,
        updated_at: now,
    };
    let payload = event_payload(&stored, &partnership.partner_name);
    let audit = serde_json::json!({ "registration": id, "partnership": partnership.id.as_str(),
        "state": stored.registration.state.as_str(), "conflict": stored.registration.conflict });
    let record = Record {
        event: Some((event_kind(stored.registration.state), &payload)),
        audit: Some((&partnership.partner_name, "registration.received", &audit)),
    };
    match store.insert_registration(org, &stored, &keys, record).await {
        Ok(()) => Ok(stored.registration.submitter_view()),
        // The same submission arriving twice at once, on two replicas: answer the one stored.
        Err(StoreError::Conflict(_)) => Ok(store.registration(org, &id).await?.registration.submitter_view()),
        Err(e) => Err(e.into()),
    }
}

/// The longest reason a decision keeps, in characters.
pub(crate) const MAX_REASON_CHARS: usize = 1000;

/// What a vendor's admin (or the submitter, for an extension) does with a registration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    Approve,
    Reject,
    Extend,
    Close { won: bool },
}

/// What a change to a registration writes with it: its event, and an audit entry (actor, detail).
struct Written {
    kind: &'static str,
    audit: Option<(String, serde_json::Value)>,
}

/// Reads registration `id` of `org`, lets `change` modify it and say what goes with the change
/// (`None`: nothing changed, nothing is written), and writes it with its event and audit entry;
/// reads and changes it again if another writer got there first. The registration as written.
async fn update(
    store: &Store,
    org: &OrgId,
    id: &str,
    mut change: impl FnMut(&mut StoredRegistration) -> Result<Option<Written>, RegistrationError>,
) -> Result<StoredRegistration, RegistrationError> {
    for _ in 0..5 {
        let mut stored = store.registration(org, id).await?;
        let Some(written) = change(&mut stored)? else { return Ok(stored) };
        let partner = store.partnership(org, &stored.partnership).await?.partner_name;
        let payload = event_payload(&stored, &partner);
        let audit = written.audit.as_ref().map(|(actor, detail)| (actor.as_str(), written.kind, detail));
        match store.save_registration(org, &stored, Record { event: Some((written.kind, &payload)), audit }).await {
            Ok(()) => return Ok(stored),
            Err(StoreError::Changed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(RegistrationError::KeepsChanging)
}

/// Applies `decision` to a registration this side received, marks the submitter to be told and
/// tells it (best effort now; the sync tells it again until it hears).
pub(crate) async fn decide(
    store: &Store,
    node: Option<&NodeContext>,
    org: &OrgId,
    id: &str,
    decision: Decision,
    actor: &str,
    reason: Option<&str>,
) -> Result<StoredRegistration, RegistrationError> {
    if reason.is_some_and(|r| r.chars().count() > MAX_REASON_CHARS) {
        return Err(RegistrationError::ReasonTooLong);
    }
    let settings = store.registration_settings(org).await?;
    update(store, org, id, |stored| {
        if stored.direction != Direction::Received {
            return Err(RegistrationError::NotReceived);
        }
        let now = crate::now_ms();
        let r = &mut stored.registration;
        // Each decision is refused only for the state the registration is in: a conflict with
        // it (409), not a malformed request.
        let refused = RegistrationError::Refused;
        let kind = match decision {
            Decision::Approve => {
                r.approve(now, settings.protection_days).map_err(refused)?;
                "registration.approved"
            }
            Decision::Reject => {
                r.reject().map_err(refused)?;
                "registration.rejected"
            }
            Decision::Extend => {
                r.extend(now, settings.extension_days).map_err(refused)?;
                "registration.extended"
            }
            Decision::Close { won } => {
                r.close(won).map_err(refused)?;
                "registration.closed"
            }
        };
        if let Some(reason) = reason {
            stored.review["reason"] = serde_json::Value::String(reason.to_owned());
        }
        stored.notify = true;
        let audit = serde_json::json!({ "registration": id, "state": stored.registration.state.as_str(),
            "protected_until": stored.registration.protected_until, "reason": reason });
        Ok(Some(Written { kind, audit: Some((actor.to_owned(), audit)) }))
    })
    .await?;
    if let Some(node) = node
        && let Err(e) = tell(store, node, org, id).await
    {
        tracing::info!(registration = %id, error = %e, "the submitter has not heard yet");
    }
    Ok(store.registration(org, id).await?)
}

/// Tells the submitter's node the registration's state; clears the mark once it has heard.
pub(crate) async fn tell(store: &Store, node: &NodeContext, org: &OrgId, id: &str) -> Result<(), RegistrationError> {
    let stored = store.registration(org, id).await?;
    let partnership = store.partnership(org, &stored.partnership).await?;
    if partnership.state != blindmap_store::PartnershipState::Active || partnership.partner_url.is_empty() {
        // Nobody to tell any more (or ever): stop trying.
        return clear_notify(store, org, stored).await;
    }
    let view = serde_json::to_value(stored.registration.submitter_view()).expect("a view serialises");
    let path = format!("/peer/v1/partnerships/{}/registrations/{id}/status", partnership.partner_ref);
    let _: serde_json::Value = PeerClient::to_partner(&partnership, &node.identity)?.post(&path, &view).await?;
    clear_notify(store, org, stored).await
}

/// Clears the mark of a registration as read; if it changed meanwhile, it stays marked and the
/// next round tells the newer state.
async fn clear_notify(store: &Store, org: &OrgId, mut stored: StoredRegistration) -> Result<(), RegistrationError> {
    stored.notify = false;
    match store.save_registration(org, &stored, Record { event: None, audit: None }).await {
        Ok(()) | Err(StoreError::Changed) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The submitter's side hears of a decision: its copy takes the vendor's view.
pub(crate) async fn hear(
    store: &Store,
    partnership: &Partnership,
    id: &str,
    view: SubmitterView,
) -> Result<(), RegistrationError> {
    let ours = |s: &StoredRegistration| s.direction == Direction::Submitted && s.partnership == partnership.id;
    match store.registration(&partnership.org, id).await {
        Ok(s) if ours(&s) => {}
        Ok(_) | Err(StoreError::NotFound(_)) => return Err(RegistrationError::NotFound),
        Err(e) => return Err(e.into()),
    }
    let now = crate::now_ms();
    update(store, &partnership.org, id, |stored| {
        let r = &mut stored.registration;
        let before = (r.state, r.extended);
        // The vendor's node is untrusted: only moves it could have made are taken.
        let changed = r.hear(&view, now).map_err(|e| match e {
            blindmap_cosell::Error::Forged(reason) => RegistrationError::Forged(reason),
            _ => RegistrationError::Forged("a move the vendor's decisions cannot make"),
        })?;
        if !changed {
            return Ok(None);
        }
        let kind = if before.0 == view.state && before.1 != view.extended {
            "registration.extended"
        } else {
            event_kind(view.state)
        };
        Ok(Some(Written { kind, audit: None }))
    })
    .await
    .map(|_| ())
}

/// The submitter asks the vendor's node for the one extension; its copy takes the answer.
pub(crate) async fn request_extension(
    store: &Store,
    node: &NodeContext,
    org: &OrgId,
    id: &str,
) -> Result<StoredRegistration, RegistrationError> {
    let stored = store.registration(org, id).await?;
    let partnership = store.partnership(org, &stored.partnership).await?;
    reachable(&partnership)?;
    let path = format!("/peer/v1/partnerships/{}/registrations/{id}/extend", partnership.partner_ref);
    let view: SubmitterView =
        PeerClient::to_partner(&partnership, &node.identity)?.post(&path, &serde_json::json!({})).await?;
    hear(store, &partnership, id, view).await?;
    Ok(store.registration(org, id).await?)
}

/// A user's pre-check of the customer of `keys` at the partner of `partnership`, audited: the
/// answer, and the pre-checks left in the budget for today.
pub(crate) async fn precheck_as(
    store: &Store,
    node: &NodeContext,
    user: &blindmap_store::User,
    partnership: &Partnership,
    keys: &[String],
) -> Result<(bool, u32), RegistrationError> {
    reachable(partnership)?;
    let (claimed, remaining_today) = precheck(node, partnership, keys).await?;
    let detail = serde_json::json!({ "partnership": partnership.id.as_str(), "partner": partnership.partner_name,
        "claimed": claimed });
    store.record_audit(&user.org, &user.name, "registration.precheck", &detail).await?;
    Ok((claimed, remaining_today))
}

/// Asks the partner's node whether the customer of `keys` is claimed, without naming it.
pub(crate) async fn precheck(
    node: &NodeContext,
    partnership: &Partnership,
    keys: &[String],
) -> Result<(bool, u32), RegistrationError> {
    let keys = match_keys(keys)?;
    let (query, elements) = blindmap_psi::PrecheckQuery::new(&keys, &mut rand::rng())?;
    let message = serde_json::to_value(PrecheckMessage { elements: elements.iter().map(hex::encode).collect() })
        .expect("a query serialises");
    let reply: PrecheckReply = PeerClient::to_partner(partnership, &node.identity)?
        .post(&format!("/peer/v1/partnerships/{}/precheck", partnership.partner_ref), &message)
        .await?;
    let unusable = |what: &str| RegistrationError::Unusable(format!("sent an unusable pre-check answer: {what}"));
    let evaluated = reply
        .evaluated
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| unusable("an element is not 32 bytes of hex"))?;
    let claimed = reply
        .claimed
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|b| <[u8; 16]>::try_from(b).ok()))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| unusable("a claimed output is not 16 bytes of hex"))?;
    let found = query.finish(&PrecheckAnswer { evaluated, claimed }).map_err(|e| unusable(&e.to_string()))?;
    Ok((found, reply.remaining_today))
}

/// The vendor's side of a pre-check: within the partner's limits, evaluates the query and the
/// claims of every other partner under a key for this query alone.
pub(crate) async fn answer(
    store: &Store,
    partnership: &Partnership,
    message: PrecheckMessage,
) -> Result<PrecheckReply, RegistrationError> {
    let org = &partnership.org;
    if message.elements.len() != PRECHECK_ELEMENTS {
        return Err(RegistrationError::PrecheckSize);
    }
    let elements = message
        .elements
        .iter()
        .map(|h| hex::decode(h).ok().and_then(|b| <[u8; 32]>::try_from(b).ok()))
        .collect::<Option<Vec<_>>>()
        .ok_or(RegistrationError::PrecheckElement)?;
    let settings = store.registration_settings(org).await?;
    let allowance = store
        .take_precheck(org, &partnership.id, crate::now_ms(), settings.prechecks_per_minute, settings.prechecks_per_day)
        .await?;
    let remaining_today = match allowance {
        Allowance::Allowed { remaining_today } => remaining_today,
        Allowance::Refused { reason, retry_after } => {
            let detail = serde_json::json!({ "partnership": partnership.id.as_str(), "refused": reason });
            store.record_audit(org, &partnership.partner_name, "registration.precheck_refused", &detail).await?;
            return Err(RegistrationError::PrecheckLimit { reason, retry_after });
        }
    };
    let claimed = match_keys(&store.claimed_keys(org, &partnership.id).await?)?;
    let answer = tokio::task::spawn_blocking(move || answer_precheck(&elements, &claimed, &mut rand::rng()))
        .await
        .map_err(|_| RegistrationError::PrecheckFailed)??;
    // What left this side: a count of claimed keys, under a key that died with the answer.
    let detail = serde_json::json!({ "partnership": partnership.id.as_str(), "claimed_keys": answer.claimed.len(),
        "remaining_today": remaining_today });
    store.record_audit(org, &partnership.partner_name, "registration.precheck_answered", &detail).await?;
    Ok(PrecheckReply {
        evaluated: answer.evaluated.iter().map(hex::encode).collect(),
        claimed: answer.claimed.iter().map(hex::encode).collect(),
        remaining_today,
    })
}

/// Every couple of seconds until `stop`: expires registrations whose protection ended, and
/// tells submitters what they have not heard yet.
pub(crate) async fn run_sync(store: Store, node: std::sync::Arc<NodeContext>, mut stop: watch::Receiver<bool>) {
    loop {
        match store.due_registrations(crate::now_ms(), 100).await {
            Ok(due) => {
                for (org, id) in due {
                    if let Err(e) = expire(&store, &org, &id).await {
                        tracing::warn!(registration = %id, error = %e, "cannot expire the registration");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for registrations to expire"),
        }
        match store.unnotified_registrations(50).await {
            Ok(pending) => {
                for (org, id) in pending {
                    if let Err(e) = tell(&store, &node, &org, &id).await {
                        tracing::debug!(registration = %id, error = %e, "the submitter has not heard yet");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for registrations to tell"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

async fn expire(store: &Store, org: &OrgId, id: &str) -> Result<(), RegistrationError> {
    update(store, org, id, |stored| {
        if !stored.registration.expire_if_due(crate::now_ms()) {
            return Ok(None);
        }
        stored.notify = true;
        let audit = serde_json::json!({ "registration": id, "protected_until": stored.registration.protected_until });
        Ok(Some(Written { kind: "registration.expired", audit: Some(("node".to_owned(), audit)) }))
    })
    .await
    .map(|_| ())
}

#[cfg(test)]
mod tests {
    use blindmap_records::Preset;

    /// Out of the box a registration on the vendor's own accounts is checked, whichever preset
    /// its export was read with: each preset makes a segment the default settings name.
    #[test]
    fn the_default_direct_segments_are_segments_every_preset_makes() {
        let direct = blindmap_cosell::dealreg::Settings::default().direct_segments;
        for preset in Preset::ALL {
            let mapping = preset.mapping();
            let labels: Vec<&str> =
                mapping.segment_rules().unwrap_or_default().iter().map(|r| r.label.as_str()).collect();
            // The generic preset reads the segment from its own column: any label may come.
            if preset == Preset::Generic {
                continue;
            }
            assert!(
                direct.iter().any(|d| labels.contains(&d.as_str())),
                "{}: makes {labels:?}, none of {direct:?}",
                preset.name()
            );
        }
    }
}
