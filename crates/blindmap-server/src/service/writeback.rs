//! Write-back (issue 17): the overlaps this side may see, written into the CRM a connection
//! reads, where reps work.
//!
//! What is written: for each partnership, the overlaps of its latest complete run when that run
//! matched a dataset this connection synced — the rows the overlap lists show, so only what the
//! partner's policy disclosed to this side (a counts-only or hidden cell has no rows). One
//! record per (partnership, account): the partner's name, the partner segments the account
//! matched, the best tier and its reason, the fields the partner shared, when blindmap first
//! found the overlap and when its content last changed.
//!
//! - Salesforce: records of the custom object [`SALESFORCE_OBJECT`] (its metadata:
//!   [`salesforce_metadata`]), upserted by the external id [`SALESFORCE_KEY`] =
//!   `PARTNERSHIP:ACCOUNT` through sObject Collections (200 a call), looked up to the Account;
//!   a lost overlap's record is deleted by its id.
//! - HubSpot: the company property [`HUBSPOT_PROPERTY`] (made if the portal lacks it), one line
//!   per partner, rewritten through `batch/update` (100 companies a call); emptied when the
//!   company's last overlap is lost.
//!
//! The store plans (`Store::plan_writeback`: new and changed overlaps to write, lost ones to
//! remove, the rest left alone) and records each record's outcome as the CRM answers, so a
//! write-back is idempotent, costs nothing for what did not change, and one that stops
//! half-way is carried on by the next. A write-back runs as a job with a record (like a sync);
//! a connection with `write_back` set gets one after each run on its datasets
//! ([`run_after_runs`]).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blindmap_crm::hubspot::{self, HubSpot};
use blindmap_crm::salesforce::{self, RecordOutcome, Salesforce};
use blindmap_store::{
    Connection, ConnectionId, CrmKind, CrmWriteback, OrgId, PartnershipId, ReportFilter, Store, StoreError, Tier, User,
    WantedOverlap, WritebackEnd, WritebackId, WritebackItem, WritebackProgress, WritebackResult,
};
use serde_json::{Map, Value, json};
use tokio::sync::watch;

use super::crm::{self, CrmError, Settings, Stop};
use crate::{AppState, NodeContext};

/// The Salesforce custom object the overlaps are written as.
pub(crate) const SALESFORCE_OBJECT: &str = "Blindmap_Overlap__c";
/// Its external id field: `PARTNERSHIP:ACCOUNT`.
pub(crate) const SALESFORCE_KEY: &str = "Blindmap_Key__c";
/// The HubSpot company property the overlaps are written to.
pub(crate) const HUBSPOT_PROPERTY: &str = "blindmap_overlaps";
/// Records read from the store's plan at a time.
const DUE_PAGE: u32 = 1_000;
/// How often a running write-back writes its progress (its heartbeat) at most.
const PROGRESS_EVERY: Duration = Duration::from_secs(1);
/// How often the node looks for connections whose write-back after a run is due.
const AFTER_RUNS_EVERY: Duration = Duration::from_secs(2);
/// Salesforce's text fields' length (`Partner__c`, `Partner_Segments__c`, `Reason__c`).
const TEXT_MAX: usize = 255;
/// Salesforce's long text area's length (`Shared_Fields__c`), and HubSpot's property value's
/// (65,536), less room for the ellipsis.
const LONG_TEXT_MAX: usize = 32_000;
/// The refusals a write-back's summary names (each with how many records it refused).
const REFUSALS_NAMED: usize = 10;

/// Starts a write-back of a connection, which runs on in this process; its record, running.
pub(crate) async fn start(state: &AppState, caller: &User, id: &ConnectionId) -> Result<CrmWriteback, CrmError> {
    let node = state.node_arc().ok_or(CrmError::NoNode)?;
    begin(state.store.clone(), node, &caller.org, &caller.name, id).await
}

async fn begin(
    store: Store,
    node: Arc<NodeContext>,
    org: &OrgId,
    actor: &str,
    id: &ConnectionId,
) -> Result<CrmWriteback, CrmError> {
    let connection = store.connection(org, id).await?;
    let settings = crm::settings(&connection)?;
    let writeback = store.begin_writeback(org, id, actor).await?;
    let (org, wb) = (org.clone(), writeback.id.clone());
    tokio::spawn(async move {
        let end = match work(&store, &node, &org, &connection, &settings, &wb).await {
            Ok(summary) => WritebackEnd::Complete(summary),
            Err(Stop::Failed(why) | Stop::Paused(why)) => {
                tracing::warn!(connection = %connection.id, writeback = %wb, reason = %why, "CRM write-back failed");
                WritebackEnd::Failed(why)
            }
        };
        if let Err(e) = store.end_writeback(&org, &wb, &end).await {
            tracing::error!(writeback = %wb, error = %e, "cannot record how a CRM write-back ended");
        }
    });
    Ok(writeback)
}

/// The node's loop that starts the write-back of every connection set to write back after
/// runs, once a run on one of its datasets completes; until `stop`.
pub(crate) async fn run_after_runs(store: Store, node: Arc<NodeContext>, mut stop: watch::Receiver<bool>) {
    loop {
        match store.writebacks_after_runs().await {
            Ok(due) => {
                for (org, id, settings) in due {
                    let wanted = serde_json::from_value::<Settings>(settings).is_ok_and(|s| s.write_back);
                    if !wanted {
                        continue;
                    }
                    match begin(store.clone(), Arc::clone(&node), &org, "blindmap (after a run)", &id).await {
                        Ok(_) | Err(CrmError::Store(StoreError::WritebackInProgress)) => {}
                        Err(e) => tracing::warn!(connection = %id, error = %e, "cannot start a write-back"),
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot look for write-backs due"),
        }
        tokio::select! {
            () = tokio::time::sleep(AFTER_RUNS_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

/// A write-back's counts, written to its record at most every [`PROGRESS_EVERY`].
struct Progress<'a> {
    store: &'a Store,
    id: &'a WritebackId,
    written: u64,
    removed: u64,
    refused: u64,
    requests: u64,
    /// Refusals by reason.
    refusals: BTreeMap<String, u64>,
    at: Option<Instant>,
}

impl Progress<'_> {
    async fn report(&mut self, phase: &str, now: bool) -> Result<(), Stop> {
        if !now && self.at.is_some_and(|at| at.elapsed() < PROGRESS_EVERY) {
            return Ok(());
        }
        self.at = Some(Instant::now());
        let progress = WritebackProgress {
            phase,
            written: self.written,
            removed: self.removed,
            refused: self.refused,
            requests: self.requests,
        };
        if self.store.writeback_progress(self.id, &progress).await? {
            Ok(())
        } else {
            Err(Stop::Failed("the write-back was ended while it ran".into()))
        }
    }

    /// Records what the CRM made of some records (`calls` its calls so far), counts them, and
    /// writes the progress if it is time.
    async fn record(
        &mut self,
        org: &OrgId,
        connection: &ConnectionId,
        results: &[(PartnershipId, String, WritebackResult)],
        calls: u64,
    ) -> Result<(), Stop> {
        self.store.writeback_done(org, connection, results).await?;
        self.count(results);
        self.requests = calls;
        self.report("writing", false).await
    }

    /// Counts outcomes as the store records them.
    fn count(&mut self, results: &[(PartnershipId, String, WritebackResult)]) {
        for (_, _, result) in results {
            match result {
                WritebackResult::Written(_) => self.written += 1,
                WritebackResult::Removed => self.removed += 1,
                WritebackResult::Failed(why) => {
                    self.refused += 1;
                    *self.refusals.entry(why.clone()).or_default() += 1;
                }
            }
        }
    }
}

/// Plans the write-back and works it off; its summary.
async fn work(
    store: &Store,
    node: &NodeContext,
    org: &OrgId,
    connection: &Connection,
    settings: &Settings,
    id: &WritebackId,
) -> Result<Value, Stop> {
    let mut progress =
        Progress { store, id, written: 0, removed: 0, refused: 0, requests: 0, refusals: BTreeMap::new(), at: None };
    progress.report("planning", true).await?;
    let wanted = wanted(store, org, &connection.id).await?;
    let plan = store.plan_writeback(org, &connection.id, &wanted).await?;
    drop(wanted);
    progress.report("writing", true).await?;
    let credentials = crm::credentials(store, org, &connection.id).await?;
    let http = crm::http_client(node);
    match connection.kind {
        CrmKind::Salesforce => {
            let mut sf = crm::salesforce_client(http, settings, &credentials)?;
            let done = write_salesforce(&mut sf, store, org, &connection.id, &mut progress).await;
            progress.requests = sf.calls();
            done?;
        }
        CrmKind::Hubspot => {
            let mut hs = crm::hubspot_client(http, settings, &credentials)?;
            let done = write_hubspot(&mut hs, store, org, &connection.id, &mut progress).await;
            progress.requests = hs.calls();
            done?;
        }
    }
    progress.report("done", true).await?;
    let mut refusals: Vec<(String, u64)> = progress.refusals.into_iter().collect();
    refusals.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    refusals.truncate(REFUSALS_NAMED);
    Ok(json!({
        "plan": { "added": plan.added, "changed": plan.changed, "removing": plan.removing, "unchanged": plan.unchanged },
        "written": progress.written,
        "removed": progress.removed,
        "refused": progress.refused,
        "requests": progress.requests,
        "refusals": refusals.into_iter().map(|(why, records)| json!({ "reason": why, "records": records })).collect::<Vec<_>>(),
    }))
}

/// One overlap as it is written: what the partner disclosed about its records matching one
/// account.
#[derive(Default)]
struct Found {
    partner: String,
    segments: BTreeSet<String>,
    tier: Option<Tier>,
    reason: String,
    shared: BTreeMap<String, BTreeSet<String>>,
}

/// The overlaps the CRM should show now: per partnership whose latest complete run matched a
/// dataset this connection synced, one per account of that run's lists.
async fn wanted(store: &Store, org: &OrgId, connection: &ConnectionId) -> Result<Vec<WantedOverlap>, StoreError> {
    let datasets: HashSet<_> = store.connection_datasets(org, connection).await?.into_iter().collect();
    let mut found: BTreeMap<(PartnershipId, String), Found> = BTreeMap::new();
    for (run, _) in store.latest_complete_runs(org).await? {
        if !datasets.contains(&run.dataset) {
            continue;
        }
        store
            .report_each(org, &run, &ReportFilter::default(), |row| {
                let f = found.entry((row.partnership.clone(), row.account_id.clone())).or_default();
                f.partner.clone_from(&row.partner_name);
                f.segments.insert(row.partner_segment);
                if f.tier.is_none_or(|t| row.tier < t) {
                    f.tier = Some(row.tier);
                    f.reason = row.reason;
                }
                for (field, value) in row.partner_fields {
                    if let Some(value) = value.filter(|v| !v.is_empty()) {
                        f.shared.entry(field).or_default().insert(value);
                    }
                }
            })
            .await?;
    }
    Ok(found
        .into_iter()
        .map(|((partnership, account), f)| WantedOverlap {
            partnership,
            account,
            payload: json!({
                "partner": f.partner,
                "segments": f.segments,
                "tier": f.tier.map(Tier::as_str),
                "reason": f.reason,
                "shared": f.shared,
            }),
        })
        .collect())
}

/// Text cut to at most `max` characters (an ellipsis marks the cut).
fn cut(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A payload's shared fields as lines of `field: value, value`.
fn shared_lines(payload: &Value) -> Vec<String> {
    payload["shared"]
        .as_object()
        .map(|shared| {
            shared
                .iter()
                .map(|(field, values)| {
                    let values: Vec<&str> = values.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
                    format!("{field}: {}", values.join(", "))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn segments(payload: &Value) -> String {
    payload["segments"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join("; ")
}

/// An overlap as a record of [`SALESFORCE_OBJECT`].
fn salesforce_record(item: &WritebackItem) -> Map<String, Value> {
    let p = &item.payload;
    let text = |v: &Value| cut(v.as_str().unwrap_or_default(), TEXT_MAX);
    let mut r = Map::new();
    r.insert(SALESFORCE_KEY.into(), json!(format!("{}:{}", item.partnership, item.account)));
    r.insert("Account__c".into(), json!(item.account));
    r.insert("Partner__c".into(), json!(text(&p["partner"])));
    r.insert("Partner_Segments__c".into(), json!(cut(&segments(p), TEXT_MAX)));
    r.insert("Tier__c".into(), json!(text(&p["tier"])));
    r.insert("Reason__c".into(), json!(text(&p["reason"])));
    r.insert("Shared_Fields__c".into(), json!(cut(&shared_lines(p).join("\n"), LONG_TEXT_MAX)));
    r.insert("First_Seen__c".into(), json!(crate::rfc3339(item.first_seen)));
    r.insert("Last_Seen__c".into(), json!(crate::rfc3339(item.last_seen)));
    r
}

/// The next page of records due after `after` (which moves to its last); empty when none is left.
async fn next_due(
    store: &Store,
    org: &OrgId,
    connection: &ConnectionId,
    after: &mut Option<(PartnershipId, String)>,
) -> Result<Vec<WritebackItem>, Stop> {
    let due = store.writeback_due(org, connection, after.as_ref().map(|(p, a)| (p, a.as_str())), DUE_PAGE).await?;
    if let Some(last) = due.last() {
        *after = Some((last.partnership.clone(), last.account.clone()));
    }
    Ok(due)
}

/// What became of each record of a Salesforce collection call, in order: written (with its id)
/// or, `removing`, removed — a record deleted already (by a person, or by an earlier try) too.
fn salesforce_results(
    chunk: &[&WritebackItem],
    outcomes: Vec<RecordOutcome>,
    removing: bool,
) -> Vec<(PartnershipId, String, WritebackResult)> {
    chunk
        .iter()
        .zip(outcomes)
        .map(|(item, outcome)| {
            let result = match outcome {
                RecordOutcome::Done { .. } if removing => WritebackResult::Removed,
                RecordOutcome::Done { id, .. } => WritebackResult::Written(Some(id)),
                RecordOutcome::Refused { code, .. } if removing && code == "ENTITY_IS_DELETED" => {
                    WritebackResult::Removed
                }
                RecordOutcome::Refused { code, message } => WritebackResult::Failed(format!("{code}: {message}")),
            };
            (item.partnership.clone(), item.account.clone(), result)
        })
        .collect()
}

/// Salesforce: every record due, upserted or deleted, 200 a call.
async fn write_salesforce(
    sf: &mut Salesforce,
    store: &Store,
    org: &OrgId,
    connection: &ConnectionId,
    progress: &mut Progress<'_>,
) -> Result<(), Stop> {
    let mut after = None;
    loop {
        let due = next_due(store, org, connection, &mut after).await?;
        if due.is_empty() {
            return Ok(());
        }
        let (removing, writing): (Vec<&WritebackItem>, Vec<&WritebackItem>) = due.iter().partition(|i| i.removing);
        for chunk in writing.chunks(salesforce::COLLECTION_MAX) {
            let records: Vec<Map<String, Value>> = chunk.iter().map(|i| salesforce_record(i)).collect();
            let outcomes = sf.upsert(SALESFORCE_OBJECT, SALESFORCE_KEY, &records).await.map_err(|e| {
                Stop::Failed(format!(
                    "Salesforce refused the write of {SALESFORCE_OBJECT} records: {e} (is the object deployed? \
                     `blindmap crm metadata` prints it)"
                ))
            })?;
            progress.record(org, connection, &salesforce_results(chunk, outcomes, false), sf.calls()).await?;
        }
        // A lost overlap the CRM holds no record of (never given an id) is gone already.
        let (with_id, without): (Vec<&WritebackItem>, Vec<&WritebackItem>) =
            removing.into_iter().partition(|i| i.remote_id.is_some());
        let gone: Vec<_> =
            without.iter().map(|i| (i.partnership.clone(), i.account.clone(), WritebackResult::Removed)).collect();
        progress.record(org, connection, &gone, sf.calls()).await?;
        for chunk in with_id.chunks(salesforce::COLLECTION_MAX) {
            let ids: Vec<String> = chunk.iter().filter_map(|i| i.remote_id.clone()).collect();
            let outcomes = sf.delete(&ids).await.map_err(|e| {
                Stop::Failed(format!("Salesforce refused the removal of {SALESFORCE_OBJECT} records: {e}"))
            })?;
            progress.record(org, connection, &salesforce_results(chunk, outcomes, true), sf.calls()).await?;
        }
    }
}

/// The text of [`HUBSPOT_PROPERTY`] for a company: one line per partner it overlaps with.
fn hubspot_value(items: &[&WritebackItem]) -> String {
    let lines: Vec<String> = items
        .iter()
        .map(|item| {
            let p = &item.payload;
            let mut line = format!(
                "{} — {} ({}) — {}",
                p["partner"].as_str().unwrap_or_default(),
                p["tier"].as_str().unwrap_or_default(),
                p["reason"].as_str().unwrap_or_default(),
                segments(p),
            );
            let shared = shared_lines(p);
            if !shared.is_empty() {
                line.push_str(" — ");
                line.push_str(&shared.join("; "));
            }
            line
        })
        .collect();
    cut(&lines.join("\n"), LONG_TEXT_MAX)
}

/// HubSpot: the property of every company with a record due, rewritten whole (every overlap of
/// the company the CRM should hold), 100 companies a call.
async fn write_hubspot(
    hs: &mut HubSpot,
    store: &Store,
    org: &OrgId,
    connection: &ConnectionId,
    progress: &mut Progress<'_>,
) -> Result<(), Stop> {
    let mut after = None;
    let mut property = false;
    loop {
        let due = next_due(store, org, connection, &mut after).await?;
        if due.is_empty() {
            return Ok(());
        }
        if !property {
            // Made only where missing: a portal whose admin made it needs no schema write scope.
            let properties = hs
                .company_properties()
                .await
                .map_err(|e| Stop::Failed(format!("HubSpot refused the company properties: {e}")))?;
            property = properties.iter().any(|p| p.name == HUBSPOT_PROPERTY);
        }
        if !property {
            hs.ensure_company_property(
                HUBSPOT_PROPERTY,
                "Partner overlaps (blindmap)",
                "The partners whose lists this company is on, as their sharing policies show it; written by blindmap.",
            )
            .await
            .map_err(|e| Stop::Failed(format!("HubSpot refused the property {HUBSPOT_PROPERTY}: {e}")))?;
            property = true;
        }
        let mut by_account: BTreeMap<&str, Vec<&WritebackItem>> = BTreeMap::new();
        for item in &due {
            by_account.entry(item.account.as_str()).or_default().push(item);
        }
        let accounts: Vec<&str> = by_account.keys().copied().collect();
        for chunk in accounts.chunks(hubspot::BATCH_MAX) {
            let owned: Vec<String> = chunk.iter().map(|a| (*a).to_owned()).collect();
            let kept = store.writeback_kept_for(org, connection, &owned).await?;
            let mut values: HashMap<&str, Vec<&WritebackItem>> = HashMap::new();
            for item in &kept {
                values.entry(item.account.as_str()).or_default().push(item);
            }
            let inputs: Vec<(String, Map<String, Value>)> = chunk
                .iter()
                .map(|account| {
                    let value = values.get(account).map_or_else(String::new, |items| hubspot_value(items));
                    let mut properties = Map::new();
                    properties.insert(HUBSPOT_PROPERTY.into(), json!(value));
                    ((*account).to_owned(), properties)
                })
                .collect();
            let outcome = hs
                .update_companies(&inputs)
                .await
                .map_err(|e| Stop::Failed(format!("HubSpot refused the update of companies: {e}")))?;
            let failed: HashMap<&str, &str> =
                outcome.failed.iter().map(|(id, why)| (id.as_str(), why.as_str())).collect();
            let updated: HashSet<&str> = outcome.updated.iter().map(String::as_str).collect();
            let missing: HashSet<&str> = outcome.missing.iter().map(String::as_str).collect();
            let mut results = Vec::new();
            for account in chunk {
                for item in &by_account[account] {
                    let result = if updated.contains(account) {
                        if item.removing { WritebackResult::Removed } else { WritebackResult::Written(None) }
                    } else if missing.contains(account) && item.removing {
                        // The company is gone (archived or deleted), and its property with it.
                        WritebackResult::Removed
                    } else if missing.contains(account) {
                        WritebackResult::Failed(
                            "OBJECT_NOT_FOUND: HubSpot has no such company (archived or deleted)".into(),
                        )
                    } else {
                        let why = failed.get(account).copied().unwrap_or("HubSpot did not say the company was updated");
                        WritebackResult::Failed(why.to_owned())
                    };
                    results.push((item.partnership.clone(), item.account.clone(), result));
                }
            }
            progress.record(org, connection, &results, hs.calls()).await?;
        }
    }
}

/// The metadata of [`SALESFORCE_OBJECT`] as the Metadata API deploys it (`sf project deploy
/// start`): an SFDX project (`sfdx-project.json`), the object's `.object-meta.xml` and one
/// `.field-meta.xml` per field, by path.
pub(crate) fn salesforce_metadata() -> Vec<(String, String)> {
    let base = format!("force-app/main/default/objects/{SALESFORCE_OBJECT}");
    let object = r#"<?xml version="1.0" encoding="UTF-8"?>
<CustomObject xmlns="http://soap.sforce.com/2006/04/metadata">
    <label>Partner Overlap</label>
    <pluralLabel>Partner Overlaps</pluralLabel>
    <description>An account this organisation shares with a partner, as the partner's sharing policy shows it; written by blindmap.</description>
    <nameField>
        <label>Overlap</label>
        <type>AutoNumber</type>
        <displayFormat>OVL-{00000000}</displayFormat>
        <startingNumber>1</startingNumber>
    </nameField>
    <deploymentStatus>Deployed</deploymentStatus>
    <sharingModel>ControlledByParent</sharingModel>
    <enableReports>true</enableReports>
    <enableSearch>true</enableSearch>
</CustomObject>
"#
    .to_owned();
    let project = format!(
        "{{\n  \"packageDirectories\": [{{ \"path\": \"force-app\", \"default\": true }}],\n  \"sourceApiVersion\": \"{}\"\n}}\n",
        salesforce::API_VERSION
    );
    let mut files = vec![
        ("sfdx-project.json".to_owned(), project),
        (format!("{base}/{SALESFORCE_OBJECT}.object-meta.xml"), object),
    ];
    let text = |name: &str, label: &str, length: usize, extra: &str| {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>{name}</fullName>
    <label>{label}</label>
    <type>Text</type>
    <length>{length}</length>{extra}
</CustomField>
"#
        )
    };
    let fields = [
        (
            SALESFORCE_KEY.to_owned(),
            text(
                SALESFORCE_KEY,
                "blindmap Key",
                255,
                "\n    <externalId>true</externalId>\n    <unique>true</unique>\n    <caseSensitive>true</caseSensitive>\n    <required>true</required>",
            ),
        ),
        (
            "Account__c".to_owned(),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>Account__c</fullName>
    <label>Account</label>
    <type>MasterDetail</type>
    <referenceTo>Account</referenceTo>
    <relationshipName>Partner_Overlaps</relationshipName>
    <relationshipLabel>Partner Overlaps</relationshipLabel>
    <reparentableMasterDetail>true</reparentableMasterDetail>
    <writeRequiresMasterRead>false</writeRequiresMasterRead>
</CustomField>
"#
            .to_owned(),
        ),
        ("Partner__c".to_owned(), text("Partner__c", "Partner", TEXT_MAX, "")),
        ("Partner_Segments__c".to_owned(), text("Partner_Segments__c", "Partner Segments", TEXT_MAX, "")),
        ("Tier__c".to_owned(), text("Tier__c", "Tier", 20, "")),
        ("Reason__c".to_owned(), text("Reason__c", "Reason", TEXT_MAX, "")),
        (
            "Shared_Fields__c".to_owned(),
            r#"<?xml version="1.0" encoding="UTF-8"?>
<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>Shared_Fields__c</fullName>
    <label>Shared Fields</label>
    <type>LongTextArea</type>
    <length>32768</length>
    <visibleLines>5</visibleLines>
</CustomField>
"#
            .to_owned(),
        ),
    ];
    for (name, xml) in fields {
        files.push((format!("{base}/fields/{name}.field-meta.xml"), xml));
    }
    for (name, label) in [("First_Seen__c", "First Seen"), ("Last_Seen__c", "Last Seen")] {
        files.push((
            format!("{base}/fields/{name}.field-meta.xml"),
            format!(
                r#"<?xml version="1.0" encoding="UTF-8"?>
<CustomField xmlns="http://soap.sforce.com/2006/04/metadata">
    <fullName>{name}</fullName>
    <label>{label}</label>
    <type>DateTime</type>
</CustomField>
"#
            ),
        ));
    }
    files
}

/// The fields of [`SALESFORCE_OBJECT`] a write-back sets, by API name.
#[cfg(test)]
fn salesforce_fields() -> Vec<&'static str> {
    vec![
        SALESFORCE_KEY,
        "Account__c",
        "Partner__c",
        "Partner_Segments__c",
        "Tier__c",
        "Reason__c",
        "Shared_Fields__c",
        "First_Seen__c",
        "Last_Seen__c",
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_metadata_names_every_field_a_write_back_sets() {
        let files = salesforce_metadata();
        for field in salesforce_fields() {
            assert!(
                files.iter().any(|(path, xml)| path.ends_with(&format!("/{field}.field-meta.xml"))
                    && xml.contains(&format!("<fullName>{field}</fullName>"))),
                "{field}"
            );
        }
        let item = WritebackItem {
            partnership: PartnershipId::generate(),
            account: "001A".into(),
            payload: json!({ "partner": "P", "segments": ["a"], "tier": "confirmed", "reason": "domain",
                "shared": { "owner": ["x"] } }),
            remote_id: None,
            removing: false,
            first_seen: 0,
            last_seen: 0,
            error: None,
        };
        let record = salesforce_record(&item);
        let mut set: Vec<&str> = record.keys().map(String::as_str).collect();
        let mut listed = salesforce_fields();
        set.sort_unstable();
        listed.sort_unstable();
        assert_eq!(set, listed);
    }

    #[test]
    fn long_text_is_cut_with_an_ellipsis() {
        assert_eq!(cut("abcdef", 4), "abc…");
        assert_eq!(cut("abc", 4), "abc");
        assert_eq!(cut("ééééé", 3).chars().count(), 3);
    }
}
