//! Co-sell records between two nodes: each keeps a copy, edits its own, and pushes it to the
//! partner's node, which merges it into its copy and answers with the result; the pusher merges
//! that answer too. Merging is a CRDT's (see `blindmap-cosell`): copies converge whatever the
//! order of pushes, their repetition or a push lost on a dropped connection — a copy the
//! partner has not acknowledged stays marked and the sync pushes it again.

use std::time::Duration;

use blindmap_cosell::cosell::{Clock, CoSell, Edit, Party, Stamp};
use blindmap_store::{OrgId, Partnership, PartnershipId, Store, StoreError, StoredCoSell};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use crate::NodeContext;
use crate::api::runs::LevelName;
use crate::client::{ClientError, PeerClient};
use crate::service::runs::result_of;

/// Why a co-sell record cannot be created, changed, pushed or taken. `http::error` maps each to
/// its status: a partner's reference or copy this side refuses → 403 (audited by the peer
/// route); what is not there → 404; what the record's state or partnership refuses → 409; a
/// malformed value → 422; a partner that cannot be reached or answers nonsense → 502.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CoSellError {
    /// A partner asked for what it may not have, or sent a copy its side could not have made.
    #[error("{0}")]
    Refused(&'static str),
    /// What the request names is not there.
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The partnership ended.
    #[error("the partnership with {0} has ended")]
    Ended(String),
    /// The partner runs no node (a remote client).
    #[error("{0} has no node to keep a co-sell record with")]
    NoNode(String),
    /// An edit the record's state does not allow (a lifecycle's move, or any edit once closed).
    #[error(transparent)]
    NotNow(blindmap_cosell::Error),
    /// A malformed edit or copy.
    #[error(transparent)]
    Invalid(blindmap_cosell::Error),
    /// A record id of the wrong shape.
    #[error("a co-sell record id starts with cs_")]
    NotAnId,
    /// Other writers kept changing it.
    #[error("the co-sell record keeps changing; try again")]
    KeepsChanging,
    /// The partner's node could not be reached or refused.
    #[error(transparent)]
    Partner(#[from] ClientError),
    /// The partner's node answered with a copy this side cannot take.
    #[error("sent an unusable co-sell record: {0}")]
    Unusable(blindmap_cosell::Error),
    /// The partner's answer would not merge.
    #[error(transparent)]
    Unmergeable(blindmap_cosell::Error),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where a partner's record in a run points: the receiver's account behind it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Reference {
    /// The run's protocol session (hex).
    pub(crate) session: String,
    /// The receiver's segment.
    pub(crate) segment: String,
    /// The record's position in it.
    pub(crate) position: u32,
    /// The sender's own segment of the account that overlapped it: the receiver discloses per
    /// (sender segment, receiver segment) cell, so the cell is what it checks.
    pub(crate) from_segment: String,
}

/// The account a partner's reference names — only if that record was disclosed to it at
/// `overlaps` or above in the run it names, and, where this side learned that cell's overlaps
/// too, only if the record did overlap the partner's segment. A partner's node is untrusted: a
/// reference is how it would ask for an account it was never shown.
async fn disclosed_account(
    store: &Store,
    partnership: &Partnership,
    reference: &Reference,
) -> Result<String, CoSellError> {
    let org = &partnership.org;
    let Some(run) = store.run_of_session(org, &partnership.id, &reference.session).await? else {
        return Err(CoSellError::Refused("no complete match with this partner ran that session"));
    };
    let result = result_of(&run)?.ok_or(StoreError::Corrupt("match_runs.result"))?;
    let disclosed = &result.disclosed;
    let level = disclosed.level(&reference.from_segment, &reference.segment);
    if disclosed.bloom || !level.is_some_and(LevelName::lists_records) {
        return Err(CoSellError::Refused("that record was not disclosed to this partner at overlaps or above"));
    }
    let Some(account) =
        store.account_behind(org, &partnership.id, &reference.session, &reference.segment, reference.position).await?
    else {
        return Err(CoSellError::Refused("no record at that position"));
    };
    // Where the partner disclosed the same cell to us, we know which of our records overlapped.
    if result.cell(&reference.segment, &reference.from_segment).is_some_and(|c| c.level.lists_records())
        && !store.overlaps_segment(org, &run.id, &account, &reference.segment, &reference.from_segment).await?
    {
        return Err(CoSellError::Refused("that record did not overlap the partner's segment"));
    }
    Ok(account)
}

/// A copy pushed to the partner's node.
#[derive(Debug, Serialize, Deserialize)]
pub(crate) struct Push {
    /// The pusher's copy.
    pub(crate) record: CoSell,
    /// On creation: which of the receiver's accounts it is about.
    pub(crate) reference: Option<Reference>,
}

/// How far ahead of this node's clock a partner's change may be stamped: clocks drift, but a
/// register stamped years ahead could never be overwritten again.
const MAX_AHEAD_MS: i64 = 24 * 3_600_000;

/// A partner's copy refused by [`CoSell::check_received`]: refusals of what its side could not
/// have made are audited; malformed copies are plain invalid requests.
fn refused(e: blindmap_cosell::Error) -> CoSellError {
    match e {
        blindmap_cosell::Error::Forged(reason) => CoSellError::Refused(reason),
        other => CoSellError::Invalid(other),
    }
}

/// A stamp for an edit by `party` on `record`: after everything in it.
/// This side's fields of a record.
pub(crate) fn mine(s: &StoredCoSell) -> &blindmap_cosell::cosell::SideFields {
    match s.party {
        Party::A => &s.record.a,
        Party::B => &s.record.b,
    }
}

/// The names, in the organisation's active dataset, of this side's accounts the records name
/// (by account id; ids without a name there are left out).
pub(crate) async fn account_names(
    store: &Store,
    org: &OrgId,
    records: &[StoredCoSell],
) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
    let ids: Vec<&str> = records.iter().filter_map(|r| mine(r).account.value.as_deref()).collect();
    Ok(match store.active_dataset(org).await? {
        Some(d) if !ids.is_empty() => store.account_names(org, &d.id, &ids).await?,
        _ => std::collections::BTreeMap::new(),
    })
}

pub(crate) fn stamp(party: Party, record: &CoSell) -> Stamp {
    let mut clock = Clock::new(party);
    clock.observe(record.latest());
    clock.tick(crate::now_ms())
}

/// The event payload of a record: what a receiver of `cosell.*` needs (no partner data beyond
/// the shared record itself, which both sides hold).
pub(crate) fn event_payload(stored: &StoredCoSell) -> serde_json::Value {
    serde_json::json!({
        "id": stored.record.id,
        "partnership": stored.partnership.as_str(),
        "status": stored.record.status.value.as_str(),
        "stage": stored.record.stage.value,
        "record": stored.record,
    })
}

/// Applies `change` to the stored copy (it also sets the copy's `dirty` mark) and writes it,
/// reloading and re-applying when another writer got there first; an event of `kind` goes with
/// it when the record changed. Returns the written copy.
pub(crate) async fn update(
    store: &Store,
    org: &OrgId,
    id: &str,
    kind: &str,
    mut change: impl FnMut(&mut StoredCoSell) -> Result<(), CoSellError>,
) -> Result<StoredCoSell, CoSellError> {
    for _ in 0..5 {
        let mut stored = store.cosell(org, id).await?;
        let before = stored.record.clone();
        change(&mut stored)?;
        let changed = stored.record != before;
        let payload = event_payload(&stored);
        let event = changed.then_some((kind, &payload));
        match store.save_cosell(org, &stored, stored.dirty, event).await {
            Ok(()) => return Ok(stored),
            Err(StoreError::Changed) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(CoSellError::KeepsChanging)
}

/// Applies `edits`, in order, to a co-sell record as `user` (one change, one `cosell.updated`
/// event), then shares it with the partner's node (best effort now; the sync retries). A move
/// the record's lifecycle does not allow, or any edit of a closed record, is `NotNow`; a value
/// out of range is `Invalid`.
pub(crate) async fn edit(
    store: &Store,
    node: Option<&NodeContext>,
    user: &blindmap_store::User,
    id: &str,
    edits: &[Edit],
) -> Result<StoredCoSell, CoSellError> {
    let org = &user.org;
    let written = update(store, org, id, "cosell.updated", |mine| {
        for edit in edits {
            let at = stamp(mine.party, &mine.record);
            let closed = mine.record.status.value.is_final();
            mine.record.apply(edit.clone(), at, &user.name).map_err(|e| match e {
                blindmap_cosell::Error::Transition { .. } => CoSellError::NotNow(e),
                _ if closed => CoSellError::NotNow(e),
                _ => CoSellError::Invalid(e),
            })?;
        }
        mine.dirty = true;
        Ok(())
    })
    .await?;
    if let Some(node) = node
        && let Ok(partnership) = pushable(store, org, &written.partnership).await
        && let Err(e) = push(store, node, org, &partnership, id, None).await
    {
        tracing::info!(cosell = %id, error = %e, "co-sell change not shared yet");
    }
    Ok(store.cosell(org, id).await?)
}

/// An overlap of a run, as a co-sell record is created on it.
pub(crate) struct OnOverlap<'a> {
    /// The run (`run_…`).
    pub(crate) run: &'a str,
    /// This side's account.
    pub(crate) account: &'a str,
    /// The partner's segment of the matching record.
    pub(crate) partner_segment: &'a str,
    /// The partner's record in that segment.
    pub(crate) partner_record: u32,
}

/// Creates a co-sell record on an overlap, with its event and audit entry, and shares it with
/// the partner's node (best effort now; the sync pushes it again). Its id.
pub(crate) async fn create_on_overlap(
    store: &Store,
    node: &NodeContext,
    org: &OrgId,
    user: &str,
    overlap: OnOverlap<'_>,
) -> Result<String, CoSellError> {
    let OnOverlap { run, account, partner_segment, partner_record } = overlap;
    let run_id = blindmap_store::RunId::parse(run).ok_or(CoSellError::NotFound("run"))?;
    let run = store.run(org, &run_id).await?;
    let Some(own_segment) = store.overlap_segment(org, &run_id, account, partner_segment, partner_record).await? else {
        return Err(CoSellError::NotFound("overlap of that account with that partner record in the run"));
    };
    let partnership = pushable(store, org, &run.partnership).await?;
    let session = store.run_session(org, &run_id).await?.ok_or(CoSellError::NotFound("run session"))?;
    let id = format!("cs_{}", hex::encode(rand::random::<[u8; 16]>()));
    let mut clock = Clock::new(Party::A);
    let now = crate::now_ms();
    let mut record = CoSell::propose(&id, clock.tick(now), user);
    record
        .apply(Edit::Account { account: Some(account.to_owned()) }, clock.tick(now), user)
        .map_err(CoSellError::Invalid)?;
    let stored = StoredCoSell {
        record: record.clone(),
        partnership: partnership.id.clone(),
        party: Party::A,
        version: 1,
        dirty: true,
        updated_at: now,
    };
    store
        .insert_cosell(org, &partnership.id, Party::A, &record, true, ("cosell.created", &event_payload(&stored)))
        .await?;
    let reference =
        Reference { session, segment: partner_segment.to_owned(), position: partner_record, from_segment: own_segment };
    if let Err(e) = push(store, node, org, &partnership, &id, Some(reference)).await {
        tracing::info!(cosell = %id, error = %e, "co-sell record not shared yet");
    }
    let detail = serde_json::json!({ "cosell": id, "partnership": partnership.id.to_string() });
    store.record_audit(org, user, "cosell.created", &detail).await?;
    Ok(id)
}

/// Pushes our copy to the partner's node and merges its answer; clears the mark on success.
pub(crate) async fn push(
    store: &Store,
    node: &NodeContext,
    org: &OrgId,
    partnership: &Partnership,
    id: &str,
    reference: Option<Reference>,
) -> Result<(), CoSellError> {
    let stored = store.cosell(org, id).await?;
    let peer = PeerClient::to_partner(partnership, &node.identity)?;
    let body = serde_json::to_value(Push { record: stored.record.clone(), reference }).expect("serialises");
    let answer: CoSell = peer.post(&format!("/peer/v1/partnerships/{}/cosell", partnership.partner_ref), &body).await?;
    let sent = stored.record;
    let now = crate::now_ms();
    update(store, org, id, "cosell.updated", |mine| {
        answer.check_received(&mine.record, mine.party, now, MAX_AHEAD_MS).map_err(CoSellError::Unusable)?;
        // Acknowledged, unless something changed here since the copy we sent.
        mine.dirty = mine.record != sent;
        let mut theirs = answer.clone();
        mine.record.keep_own_side(mine.party, &mut theirs);
        mine.record.merge(&theirs).map_err(CoSellError::Unmergeable)
    })
    .await
    .map(|_| ())
}

/// What the receiving node does with a pushed copy: merge it into its own (creating it, as the
/// invited side, on first sight) and answer with the result.
pub(crate) async fn receive(store: &Store, partnership: &Partnership, push: Push) -> Result<CoSell, CoSellError> {
    let org = &partnership.org;
    let id = push.record.id.clone();
    if !id.starts_with("cs_") {
        return Err(CoSellError::NotAnId);
    }
    match store.cosell(org, &id).await {
        // Not this partnership's: as if it did not exist, without touching it.
        Ok(existing) if existing.partnership != partnership.id => {
            Err(CoSellError::Refused("a co-sell record of another partnership"))
        }
        Ok(_) => {
            // Our merged copy goes back in the answer: the pusher merges it and keeps pushing
            // until it has, so ours counts as delivered.
            let now = crate::now_ms();
            let written = update(store, org, &id, "cosell.updated", |mine| {
                push.record.check_received(&mine.record, mine.party, now, MAX_AHEAD_MS).map_err(refused)?;
                mine.dirty = false;
                let mut theirs = push.record.clone();
                mine.record.keep_own_side(mine.party, &mut theirs);
                mine.record.merge(&theirs).map_err(CoSellError::Invalid)
            })
            .await?;
            Ok(written.record)
        }
        Err(StoreError::NotFound(_)) => {
            // First sight: we are the invited side. Our part starts empty, then our account from
            // the reference, stamped by us.
            // Nothing of ours can be in it yet: checked against a proposal older than anything.
            let never = CoSell::propose(&id, Stamp { ms: i64::MIN, counter: 0, party: Party::A }, "");
            push.record.check_received(&never, Party::B, crate::now_ms(), MAX_AHEAD_MS).map_err(refused)?;
            let mut record = push.record;
            let blank = CoSell::propose(&id, record.status.at, &record.status.by);
            blank.keep_own_side(Party::B, &mut record);
            if let Some(r) = &push.reference {
                let account = disclosed_account(store, partnership, r).await?;
                let at = stamp(Party::B, &record);
                record.apply(Edit::Account { account: Some(account) }, at, "node").map_err(CoSellError::Invalid)?;
            }
            let stored = StoredCoSell {
                record: record.clone(),
                partnership: partnership.id.clone(),
                party: Party::B,
                version: 1,
                dirty: false,
                updated_at: crate::now_ms(),
            };
            store
                .insert_cosell(
                    org,
                    &partnership.id,
                    Party::B,
                    &record,
                    false,
                    ("cosell.created", &event_payload(&stored)),
                )
                .await?;
            Ok(record)
        }
        Err(e) => Err(e.into()),
    }
}

/// Pushes copies the partner has not acknowledged, every couple of seconds, until `stop`.
pub(crate) async fn run_sync(store: Store, node: std::sync::Arc<NodeContext>, mut stop: watch::Receiver<bool>) {
    loop {
        match store.dirty_cosells(50).await {
            Ok(dirty) => {
                for (org, id) in dirty {
                    let Ok(stored) = store.cosell(&org, &id).await else { continue };
                    let Ok(partnership) = store.partnership(&org, &stored.partnership).await else { continue };
                    if partnership.state != blindmap_store::PartnershipState::Active
                        || partnership.partner_url.is_empty()
                    {
                        continue;
                    }
                    if let Err(e) = push(&store, &node, &org, &partnership, &id, None).await {
                        tracing::debug!(cosell = %id, error = %e, "co-sell copy not pushed yet");
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for co-sell copies to push"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// The partnership a record of `org` belongs to, active and with a node to push to.
pub(crate) async fn pushable(store: &Store, org: &OrgId, id: &PartnershipId) -> Result<Partnership, CoSellError> {
    let partnership = store.partnership(org, id).await?;
    if partnership.state != blindmap_store::PartnershipState::Active {
        return Err(CoSellError::Ended(partnership.partner_name));
    }
    if partnership.partner_url.is_empty() {
        return Err(CoSellError::NoNode(partnership.partner_name));
    }
    Ok(partnership)
}
