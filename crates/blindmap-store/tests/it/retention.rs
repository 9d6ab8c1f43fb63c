//! Retention: a sweep deletes the runs a partnership no longer keeps (each whole: its overlaps,
//! their field index, its record orders), the datasets no kept run needs (never the active one
//! or an upload waiting to be confirmed), and per-account changes past their days; it touches
//! nothing of another organisation's, and leaves SQLite's log truncated.

use std::collections::BTreeMap;
use std::io::Cursor;

use blindmap_records::{Importer, Preset};
use blindmap_store::testing::{count_rows, wal_bytes};
use blindmap_store::{
    AccountChange, ChangeKind, Completion, DatasetId, NewRun, OrgId, Partnership, PartnershipId, RunId, RunOverlap,
    RunRole, RunState, SharingPolicy, Store, Swept, Tier, on_both_backends,
};

on_both_backends!(a_sweep_keeps_the_latest_runs_and_what_they_need);

const VENDOR: &str = include_str!("../../../../samples/vendor-salesforce.csv");

async fn import(store: &Store, org: &OrgId, name: &str) -> DatasetId {
    let importer = Importer::new(name, Cursor::new(VENDOR.as_bytes().to_vec()), &Preset::Salesforce.mapping()).unwrap();
    store.import_dataset(org, name, "salesforce", importer).await.unwrap().id
}

/// A complete run of `p` on `org`'s active dataset with 30 overlaps (each with a field), and
/// one change when there was a run before.
async fn complete(store: &Store, org: &OrgId, p: &Partnership, previous: Option<&RunId>) -> RunId {
    let dataset = store.active_dataset(org).await.unwrap().unwrap().id;
    let id = RunId::generate();
    let sharing = SharingPolicy::default();
    let new = NewRun {
        id: &id,
        org,
        partnership: &p.id,
        role: RunRole::Initiator,
        dataset: &dataset,
        started_by: "ada",
        sharing: &sharing,
    };
    store.start_run(&new).await.unwrap();
    let overlaps: Vec<RunOverlap> = (0..30)
        .map(|i| RunOverlap {
            account_id: format!("001{i:04}"),
            own_segment: "customers".into(),
            partner_segment: "customers".into(),
            partner_record: Some(i),
            key_types: vec!["domain".into()],
            tier: Tier::Confirmed,
            reason: "confirmed: the domain agrees".into(),
            fields: BTreeMap::from([("owner".to_owned(), Some(format!("rep {}", i % 3)))]),
        })
        .collect();
    let changes = previous.map(|prev| {
        let change = AccountChange {
            account_id: "0010000".into(),
            name: "Acme".into(),
            owner: "Ada".into(),
            owner_email: "ada@vendor.example".into(),
            own_segment: "customers".into(),
            partner_segment: "customers".into(),
            change: ChangeKind::New,
            tier: Some(Tier::Confirmed),
            fields: BTreeMap::new(),
        };
        (prev.clone(), vec![change])
    });
    let completion = Completion {
        result: serde_json::json!({}),
        overlaps,
        transcript: None,
        audit: vec![],
        records: 60,
        events: vec![],
        session: "00".into(),
        orders: vec![("customers".into(), vec![0, 1, 2])],
        changes,
    };
    store.complete_run(org, &id, &completion).await.unwrap();
    // Runs a millisecond apart at least: "newer" is by start.
    tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    id
}

async fn a_sweep_keeps_the_latest_runs_and_what_they_need(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let first_dataset = import(&store, &org, "first.csv").await;
    let p = store
        .create_partnership(&PartnershipId::generate(), &org, "Partner", "https://p", "sha256:aa", "pt_ref")
        .await
        .unwrap();
    let other = store.create_organisation("Other").await.unwrap().id;
    import(&store, &other, "theirs.csv").await;
    let q = store
        .create_partnership(&PartnershipId::generate(), &other, "Partner", "https://p", "sha256:aa", "pt_ref2")
        .await
        .unwrap();
    let mut theirs = None;
    for _ in 0..3 {
        theirs = Some(complete(&store, &other, &q, theirs.as_ref()).await);
    }

    // Five complete runs, and a failed one in the middle.
    let mut runs = Vec::new();
    for i in 0..5 {
        runs.push(complete(&store, &org, &p, runs.last()).await);
        if i == 2 {
            let dataset = store.active_dataset(&org).await.unwrap().unwrap().id;
            let failed = RunId::generate();
            let sharing = SharingPolicy::default();
            let new = NewRun {
                id: &failed,
                org: &org,
                partnership: &p.id,
                role: RunRole::Responder,
                dataset: &dataset,
                started_by: "Partner",
                sharing: &sharing,
            };
            store.start_run(&new).await.unwrap();
            store.fail_run(&failed, "the partner closed the connection", None).await.unwrap();
        }
    }
    let (overlaps_before, fields_before) =
        (count_rows(&store, "run_overlaps").await, count_rows(&store, "run_overlap_fields").await);
    assert_eq!(overlaps_before, 8 * 30, "{overlaps_before}");
    assert_eq!(store.sweep(&org).await.unwrap(), Swept::default(), "ten kept by default: nothing to delete");

    store.set_retention(&org, 2, 365, "ada").await.unwrap();
    let swept = store.sweep(&org).await.unwrap();
    assert_eq!(swept, Swept { runs: 4, datasets: 0, changes: 0, alerts: 0 }, "three complete runs and the failed one");
    let kept: Vec<RunId> =
        store.runs_page(&org, None, None, None, 100).await.unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(kept, vec![runs[4].clone(), runs[3].clone()]);
    assert_eq!(count_rows(&store, "run_overlaps").await, 5 * 30, "two kept runs here, three of the other's");
    assert!(count_rows(&store, "run_overlap_fields").await < fields_before);
    assert_eq!(count_rows(&store, "run_orders").await, 5);
    assert_eq!(store.run(&org, &runs[4]).await.unwrap().state, RunState::Complete);
    assert!(store.run(&org, &runs[0]).await.is_err(), "gone");
    let lists = store.overlaps_page(&org, &runs[4], &Default::default(), None, 100).await.unwrap();
    assert_eq!(lists.len(), 30, "the kept runs read whole");
    if let Some(bytes) = wal_bytes(&store).await {
        assert_eq!(bytes, 0, "the log is truncated after a sweep");
    }

    // A new dataset: the old one goes once no kept run matched it; an upload waiting to be
    // confirmed stays.
    let second_dataset = import(&store, &org, "second.csv").await;
    store.activate_dataset(&org, &second_dataset).await.unwrap();
    let waiting = import(&store, &org, "waiting.csv").await;
    assert_eq!(store.sweep(&org).await.unwrap().datasets, 0, "the kept runs matched the first");
    let mut last = runs[4].clone();
    for _ in 0..2 {
        last = complete(&store, &org, &p, Some(&last)).await;
    }
    let swept = store.sweep(&org).await.unwrap();
    assert_eq!((swept.runs, swept.datasets), (2, 1), "{swept:?}");
    let datasets: Vec<DatasetId> = store.datasets(&org).await.unwrap().into_iter().map(|d| d.id).collect();
    assert!(datasets.contains(&second_dataset) && datasets.contains(&waiting) && !datasets.contains(&first_dataset));

    // Changes past their days go; the other organisation keeps everything of its own.
    let changes_before = count_rows(&store, "overlap_changes").await;
    store.set_retention(&org, 2, 0, "ada").await.unwrap();
    let swept = store.sweep(&org).await.unwrap();
    assert!(swept.changes > 0 && count_rows(&store, "overlap_changes").await == changes_before - swept.changes as i64);
    assert_eq!(store.runs_page(&other, None, None, None, 100).await.unwrap().len(), 3);
    assert!(store.audit_trail(&org, 50).await.unwrap().iter().any(|e| e.kind == "retention.set"));
}
