//! CRM connections and their syncs in the store: credentials sealed and bound to their row, one
//! sync at a time per connection (a stopped one taken for failed), a complete sync moving the
//! connection's cursor and dataset at once, and nothing of one organisation's seen by another.

use blindmap_store::testing::{SecretColumn, age_sync_heartbeat, put_stored_secret, stored_secret};
use blindmap_store::{
    CrmKind, DatasetId, NewConnection, STALE_AFTER_MS, Store, StoreError, SyncEnd, SyncMode, SyncProgress, SyncState,
    on_both_backends,
};
use secrecy::{ExposeSecret, SecretString};
use serde_json::json;

on_both_backends!(
    connections_keep_their_credentials_sealed,
    syncs_run_one_at_a_time_and_end_once,
    a_changed_dataset_is_what_importing_the_changed_export_makes,
    a_write_back_is_planned_worked_off_and_carried_on,
    write_backs_run_one_at_a_time_and_end_once,
    a_crm_authorization_answers_once_sealed,
);

const CREDENTIALS: &str = r#"{"token":"pat-na1-0f3c2c1e-5b1d-4a8e-9e61-secret"}"#;

async fn connection(store: &Store, org: &blindmap_store::OrgId, name: &str) -> blindmap_store::Connection {
    let settings = json!({ "url": "https://api.hubapi.com", "auth": "private_app", "preset": "hubspot" });
    let credentials = SecretString::from(CREDENTIALS);
    let new = NewConnection { name, kind: CrmKind::Hubspot, settings: &settings, credentials: &credentials };
    store.create_connection(org, &new, "ada").await.unwrap()
}

async fn connections_keep_their_credentials_sealed(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let made = connection(&store, &org, "Our HubSpot").await;
    assert_eq!((made.kind, made.name.as_str(), made.cursor.as_deref()), (CrmKind::Hubspot, "Our HubSpot", None));
    let stored = stored_secret(&store, SecretColumn::Crm, made.id.as_str()).await;
    assert!(stored.starts_with("sealed:v1:") && !stored.contains("pat-na1"), "{stored}");
    let opened = store.connection_credentials(&org, &made.id).await.unwrap();
    assert_eq!(opened.expose_secret(), CREDENTIALS);

    // Copied to another connection's row, the sealed text does not open.
    let other = connection(&store, &org, "Their HubSpot").await;
    put_stored_secret(&store, SecretColumn::Crm, other.id.as_str(), &stored).await;
    assert!(matches!(store.connection_credentials(&org, &other.id).await, Err(StoreError::Corrupt(_))));

    let twice = connection_result(&store, &org, "Our HubSpot").await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))), "{twice:?}");
    assert!(matches!(connection_result(&store, &org, " padded").await, Err(StoreError::InvalidName(_))));

    // Another organisation: nothing to read, open, change or delete.
    let stranger = store.create_organisation("Stranger").await.unwrap().id;
    assert!(store.connections(&stranger).await.unwrap().is_empty());
    assert!(matches!(store.connection(&stranger, &made.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.connection_credentials(&stranger, &made.id).await, Err(StoreError::NotFound(_))));
    let changed = store.update_connection(&stranger, &made.id, Some(&json!({})), None, "eve").await;
    assert!(matches!(changed, Err(StoreError::NotFound(_))));
    assert!(matches!(store.delete_connection(&stranger, &made.id, "eve").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.begin_sync(&stranger, &made.id, SyncMode::Full, "eve").await, Err(StoreError::NotFound(_))));

    // New credentials are sealed anew; the settings stay unless given.
    let fresh = SecretString::from(r#"{"token":"pat-rotated"}"#);
    let updated = store.update_connection(&org, &made.id, None, Some(&fresh), "ada").await.unwrap();
    assert_eq!(updated.settings, made.settings);
    assert_eq!(store.connection_credentials(&org, &made.id).await.unwrap().expose_secret(), fresh.expose_secret());
    let names: Vec<String> = store.connections(&org).await.unwrap().into_iter().map(|c| c.name).collect();
    assert_eq!(names, ["Our HubSpot", "Their HubSpot"]);
    let trail = store.audit_trail(&org, 20).await.unwrap();
    let kinds: Vec<&str> = trail.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"crm.connection_created") && kinds.contains(&"crm.connection_updated"), "{kinds:?}");
    assert!(trail.iter().all(|e| !e.detail.to_string().contains("pat-")), "no credential in the trail");
}

async fn connection_result(
    store: &Store,
    org: &blindmap_store::OrgId,
    name: &str,
) -> Result<blindmap_store::Connection, StoreError> {
    let settings = json!({});
    let credentials = SecretString::from("{}");
    let new = NewConnection { name, kind: CrmKind::Salesforce, settings: &settings, credentials: &credentials };
    store.create_connection(org, &new, "ada").await
}

async fn syncs_run_one_at_a_time_and_end_once(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let c = connection(&store, &org, "Our HubSpot").await;
    let first = store.begin_sync(&org, &c.id, SyncMode::Full, "ada").await.unwrap();
    assert_eq!((first.state, first.phase.as_str(), first.records_read), (SyncState::Running, "starting", 0));
    let again = store.begin_sync(&org, &c.id, SyncMode::Full, "bob").await;
    assert!(matches!(again, Err(StoreError::SyncInProgress)), "{again:?}");
    let progress = SyncProgress { phase: "reading", records_read: 200, records_deleted: 3, requests: 4 };
    assert!(store.sync_progress(&first.id, &progress).await.unwrap());
    let read = store.sync(&org, &first.id).await.unwrap();
    assert_eq!((read.phase.as_str(), read.records_read, read.records_deleted, read.requests), ("reading", 200, 3, 4));
    assert!(matches!(store.delete_connection(&org, &c.id, "ada").await, Err(StoreError::SyncInProgress)));

    // Its process stops: the sync reads as failed, the next one may start, and the stopped one's
    // progress is refused.
    age_sync_heartbeat(&store, &first.id, STALE_AFTER_MS + 1_000).await;
    let stopped = store.sync(&org, &first.id).await.unwrap();
    assert_eq!(stopped.state, SyncState::Failed);
    assert!(stopped.message.as_deref().unwrap().contains("stopped"), "{stopped:?}");
    let second = store.begin_sync(&org, &c.id, SyncMode::Full, "ada").await.unwrap();
    assert!(!store.sync_progress(&first.id, &progress).await.unwrap());
    assert!(matches!(store.end_sync(&org, &first.id, &SyncEnd::Failed("late".into())).await, Err(StoreError::Changed)));

    // A complete one moves the cursor and dataset; ending it again is refused.
    let dataset = DatasetId::parse("ds_00000000000000000000000000000001").unwrap();
    let end = SyncEnd::Complete {
        dataset: dataset.clone(),
        summary: json!({ "records_read": 200 }),
        cursor: Some("1796000000123".into()),
    };
    let done = store.end_sync(&org, &second.id, &end).await.unwrap();
    assert_eq!((done.state, done.phase.as_str(), done.dataset.as_ref()), (SyncState::Complete, "done", Some(&dataset)));
    assert!(done.finished_at.is_some());
    assert!(matches!(store.end_sync(&org, &second.id, &end).await, Err(StoreError::Changed)));
    let c = store.connection(&org, &c.id).await.unwrap();
    assert_eq!((c.cursor.as_deref(), c.dataset.as_ref()), (Some("1796000000123"), Some(&dataset)));

    // A paused one keeps the cursor where it was.
    let third = store.begin_sync(&org, &c.id, SyncMode::Incremental, "ada").await.unwrap();
    let paused = store.end_sync(&org, &third.id, &SyncEnd::Paused("quota".into())).await.unwrap();
    assert_eq!(
        (paused.state, paused.mode, paused.message.as_deref()),
        (SyncState::Paused, SyncMode::Incremental, Some("quota"))
    );
    assert_eq!(store.connection(&org, &c.id).await.unwrap().cursor.as_deref(), Some("1796000000123"));
    let listed: Vec<_> = store.syncs(&org, &c.id, 10).await.unwrap().into_iter().map(|s| s.id).collect();
    assert_eq!(listed, [third.id.clone(), second.id.clone(), first.id.clone()], "newest first");

    // Another organisation sees none of them; deleting the connection takes its syncs.
    let stranger = store.create_organisation("Stranger").await.unwrap().id;
    assert!(matches!(store.sync(&stranger, &second.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.syncs(&stranger, &c.id, 10).await, Err(StoreError::NotFound(_))));
    store.delete_connection(&org, &c.id, "ada").await.unwrap();
    assert!(matches!(store.sync(&org, &second.id).await, Err(StoreError::NotFound(_))));
    assert_eq!(blindmap_store::testing::count_rows(&store, "crm_syncs").await, 0);
}

fn importer(text: &str) -> blindmap_records::Importer<std::io::Cursor<Vec<u8>>> {
    let mapping = blindmap_records::Preset::Generic.mapping();
    blindmap_records::Importer::new("sync.csv", std::io::Cursor::new(text.as_bytes().to_vec()), &mapping).unwrap()
}

/// A dataset's accounts without their lines (a changed dataset numbers its rows after its base's).
async fn accounts_of(store: &Store, org: &blindmap_store::OrgId, id: &DatasetId) -> Vec<blindmap_store::StoredAccount> {
    let mut accounts = store.dataset_sample(org, id, 1000).await.unwrap();
    for a in &mut accounts {
        a.line = 0;
    }
    accounts
}

async fn a_changed_dataset_is_what_importing_the_changed_export_makes(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let header = "id,name,country,domain,duns,segment,owner\n";
    let before = format!(
        "{header}a1,Northwind Traders,US,northwind.com,,customers,Ada\na2,Contoso Ltd,GB,contoso.com,123456789,customers,Bob\n\
         a3,Fabrikam GmbH,DE,fabrikam.de,,prospects,Cy\na4,No Keys At All,,,,prospects,Di\n"
    );
    let base = store.import_dataset(&org, "before", "generic", importer(&before)).await.unwrap();
    assert_eq!(base.accounts, 3);
    // a1 renamed with a second domain, a2 deleted, a4 now has a key, a5 new, a3 unchanged.
    let changes = format!(
        "{header}a1,Northwind Holdings,US,northwind.com;northwindholdings.com,,customers,Eve\n\
         a4,No Keys At All,FR,nokeys.fr,,prospects,Di\na5,Tailspin Toys,US,tailspintoys.com,987654321,partners,Fay\n"
    );
    let changed = store
        .import_dataset_changes(
            &org,
            "changed",
            "generic",
            &base.id,
            &["a2".to_owned(), "zz".to_owned()],
            importer(&changes),
        )
        .await
        .unwrap();
    let after = format!(
        "{header}a1,Northwind Holdings,US,northwind.com;northwindholdings.com,,customers,Eve\n\
         a3,Fabrikam GmbH,DE,fabrikam.de,,prospects,Cy\na4,No Keys At All,FR,nokeys.fr,,prospects,Di\n\
         a5,Tailspin Toys,US,tailspintoys.com,987654321,partners,Fay\n"
    );
    let whole = store.import_dataset(&org, "after", "generic", importer(&after)).await.unwrap();
    assert_eq!(accounts_of(&store, &org, &changed.id).await, accounts_of(&store, &org, &whole.id).await);
    for key in ["accounts", "keys", "segments"] {
        assert_eq!(changed.summary[key], whole.summary[key], "{key}: {}", changed.summary);
    }
    assert_eq!(changed.summary["changes"], json!({ "base": base.id.to_string(), "rows_read": 3, "removed": 1 }));
    assert_eq!((changed.rows, changed.accounts), (3, 4), "the rows read, the accounts it has");
    // The base is as it was.
    assert_eq!(store.dataset(&org, &base.id).await.unwrap().accounts, 3);

    // Nothing changed at all: the same accounts under a new dataset.
    let same = store.import_dataset_changes(&org, "same", "generic", &whole.id, &[], importer(header)).await.unwrap();
    assert_eq!(accounts_of(&store, &org, &same.id).await, accounts_of(&store, &org, &whole.id).await);

    // A change that does not import leaves nothing; another organisation's base is not found.
    let broken = format!("{header}a9,Broken,US,broken.com,,customers,Al,extra\n");
    let failed = store.import_dataset_changes(&org, "broken", "generic", &whole.id, &[], importer(&broken)).await;
    assert!(matches!(failed, Err(StoreError::Import(_))), "{failed:?}");
    assert_eq!(store.datasets(&org).await.unwrap().len(), 4, "before, changed, after, same");
    let stranger = store.create_organisation("Stranger").await.unwrap().id;
    let theirs = store.import_dataset_changes(&stranger, "x", "generic", &whole.id, &[], importer(header)).await;
    assert!(matches!(theirs, Err(StoreError::NotFound(_))), "{theirs:?}");
}

async fn a_write_back_is_planned_worked_off_and_carried_on(store: Store) {
    use blindmap_store::{PartnershipId, WantedOverlap, WritebackPlan, WritebackResult};
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let c = connection(&store, &org, "Our HubSpot").await;
    let p = PartnershipId::generate();
    store.create_partnership(&p, &org, "Partner Co", "https://p", "sha256:aa", "pt_x").await.unwrap();
    let wanted = |account: &str, tier: &str| WantedOverlap {
        partnership: p.clone(),
        account: account.to_owned(),
        payload: json!({ "partner": "Partner Co", "tier": tier }),
    };
    let plan = store
        .plan_writeback(&org, &c.id, &[wanted("a1", "confirmed"), wanted("a2", "possible"), wanted("a3", "possible")])
        .await
        .unwrap();
    assert_eq!(plan, WritebackPlan { added: 3, changed: 0, removing: 0, unchanged: 0 });
    let due = store.writeback_due(&org, &c.id, None, 10).await.unwrap();
    assert_eq!(due.iter().map(|d| d.account.as_str()).collect::<Vec<_>>(), ["a1", "a2", "a3"]);
    assert!(due.iter().all(|d| !d.removing && d.remote_id.is_none()));

    // The CRM writes two and refuses one: that one stays due, with why.
    let results = [
        (p.clone(), "a1".to_owned(), WritebackResult::Written(Some("r1".into()))),
        (p.clone(), "a2".to_owned(), WritebackResult::Written(Some("r2".into()))),
        (p.clone(), "a3".to_owned(), WritebackResult::Failed("INVALID_CROSS_REFERENCE_KEY".into())),
    ];
    store.writeback_done(&org, &c.id, &results).await.unwrap();
    let due = store.writeback_due(&org, &c.id, None, 10).await.unwrap();
    assert_eq!(
        (due.len(), due[0].account.as_str(), due[0].error.as_deref()),
        (1, "a3", Some("INVALID_CROSS_REFERENCE_KEY"))
    );

    // Planned again as they were: nothing new is due; the refused one still is.
    let plan = store
        .plan_writeback(&org, &c.id, &[wanted("a1", "confirmed"), wanted("a2", "possible"), wanted("a3", "possible")])
        .await
        .unwrap();
    assert_eq!(plan, WritebackPlan { added: 1, changed: 0, removing: 0, unchanged: 2 });
    assert_eq!(store.writeback_due(&org, &c.id, None, 10).await.unwrap().len(), 1);

    // a1 changes, a2 is lost (the CRM holds it: to remove), a3 is lost never written
    // (forgotten), a4 is new — given twice, the last counts.
    let plan = store
        .plan_writeback(&org, &c.id, &[wanted("a1", "possible"), wanted("a4", "confirmed"), wanted("a4", "possible")])
        .await
        .unwrap();
    assert_eq!(plan, WritebackPlan { added: 1, changed: 1, removing: 1, unchanged: 0 });
    let first = store.writeback_due(&org, &c.id, None, 2).await.unwrap();
    let last = first.last().unwrap();
    let rest = store.writeback_due(&org, &c.id, Some((&last.partnership, &last.account)), 2).await.unwrap();
    let due: Vec<_> =
        first.iter().chain(&rest).map(|d| (d.account.as_str(), d.removing, d.remote_id.as_deref())).collect();
    assert_eq!(
        due,
        [("a1", false, Some("r1")), ("a2", true, Some("r2")), ("a4", false, None)],
        "page by page, once each"
    );
    assert_eq!(rest[0].payload["tier"], "possible", "the last a4 given");

    // Worked off: nothing due; a lost overlap that comes back is written anew.
    let results = [
        (p.clone(), "a1".to_owned(), WritebackResult::Written(None)),
        (p.clone(), "a2".to_owned(), WritebackResult::Removed),
        (p.clone(), "a4".to_owned(), WritebackResult::Written(Some("r4".into()))),
    ];
    store.writeback_done(&org, &c.id, &results).await.unwrap();
    assert!(store.writeback_due(&org, &c.id, None, 10).await.unwrap().is_empty());
    assert_eq!(blindmap_store::testing::count_rows(&store, "crm_writeback").await, 2, "a1 and a4");
    let plan = store
        .plan_writeback(&org, &c.id, &[wanted("a1", "possible"), wanted("a4", "possible"), wanted("a2", "possible")])
        .await
        .unwrap();
    assert_eq!(plan, WritebackPlan { added: 1, changed: 0, removing: 0, unchanged: 2 });

    // What the CRM should hold per account (for one value per company): not what is removed.
    let kept = store.writeback_kept_for(&org, &c.id, &["a1".into(), "a2".into(), "zz".into()]).await.unwrap();
    assert_eq!(kept.iter().map(|k| k.account.as_str()).collect::<Vec<_>>(), ["a1", "a2"]);
    assert!(kept.iter().all(|k| !k.removing));

    // Another organisation plans, reads and records nothing here; deleting the connection
    // forgets what it kept.
    let stranger = store.create_organisation("Stranger").await.unwrap().id;
    assert!(matches!(store.plan_writeback(&stranger, &c.id, &[]).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.writeback_due(&stranger, &c.id, None, 10).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.writeback_done(&stranger, &c.id, &[]).await, Err(StoreError::NotFound(_))));
    store.delete_connection(&org, &c.id, "ada").await.unwrap();
    assert_eq!(blindmap_store::testing::count_rows(&store, "crm_writeback").await, 0);
}

async fn write_backs_run_one_at_a_time_and_end_once(store: Store) {
    use blindmap_store::testing::age_writeback_heartbeat;
    use blindmap_store::{WritebackEnd, WritebackProgress, WritebackState};
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let c = connection(&store, &org, "Our HubSpot").await;
    let first = store.begin_writeback(&org, &c.id, "ada").await.unwrap();
    assert_eq!((first.state, first.phase.as_str(), first.written), (WritebackState::Running, "starting", 0));
    let twice = store.begin_writeback(&org, &c.id, "bob").await;
    assert!(matches!(twice, Err(StoreError::WritebackInProgress)), "{twice:?}");
    let deleted = store.delete_connection(&org, &c.id, "ada").await;
    assert!(matches!(deleted, Err(StoreError::WritebackInProgress)), "{deleted:?}");
    let progress = WritebackProgress { phase: "writing", written: 250, removed: 3, refused: 1, requests: 4 };
    assert!(store.writeback_progress(&first.id, &progress).await.unwrap());
    let ended = store.end_writeback(&org, &first.id, &WritebackEnd::Complete(json!({ "planned": 254 }))).await.unwrap();
    assert_eq!(
        (ended.state, ended.phase.as_str(), ended.written, ended.removed, ended.refused, ended.requests),
        (WritebackState::Complete, "done", 250, 3, 1, 4)
    );
    assert_eq!(ended.summary, Some(json!({ "planned": 254 })));
    assert!(!store.writeback_progress(&first.id, &progress).await.unwrap(), "ended: its process gives up");
    let again = store.end_writeback(&org, &first.id, &WritebackEnd::Failed("late".into())).await;
    assert!(matches!(again, Err(StoreError::Changed)), "{again:?}");

    // One whose process stopped reads as failed, and the next one may start.
    let second = store.begin_writeback(&org, &c.id, "ada").await.unwrap();
    age_writeback_heartbeat(&store, &second.id, STALE_AFTER_MS + 1_000).await;
    let stale = store.writeback(&org, &second.id).await.unwrap();
    assert_eq!(stale.state, WritebackState::Failed);
    assert!(stale.message.as_deref().unwrap().contains("stopped"), "{:?}", stale.message);
    let third = store.begin_writeback(&org, &c.id, "ada").await.unwrap();
    let failed = store.end_writeback(&org, &third.id, &WritebackEnd::Failed("the CRM refused".into())).await.unwrap();
    assert_eq!((failed.state, failed.message.as_deref()), (WritebackState::Failed, Some("the CRM refused")));
    let listed: Vec<_> = store.writebacks(&org, &c.id, 10).await.unwrap().into_iter().map(|w| w.id).collect();
    assert_eq!(listed.len(), 3);
    assert!(listed.contains(&first.id) && listed.contains(&second.id) && listed.contains(&third.id));
    let audit = store.audit_trail(&org, 50).await.unwrap();
    let kinds: Vec<&str> = audit.iter().map(|e| e.kind.as_str()).collect();
    assert!(kinds.contains(&"crm.written_back") && kinds.contains(&"crm.writeback_failed"), "{kinds:?}");

    // Another organisation sees, starts and ends none of them.
    let stranger = store.create_organisation("Stranger").await.unwrap().id;
    assert!(matches!(store.begin_writeback(&stranger, &c.id, "eve").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.writeback(&stranger, &first.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.writebacks(&stranger, &c.id, 10).await, Err(StoreError::NotFound(_))));
    let theirs = store.end_writeback(&stranger, &first.id, &WritebackEnd::Failed("x".into())).await;
    assert!(matches!(theirs, Err(StoreError::NotFound(_))), "{theirs:?}");
    assert!(matches!(store.connection_datasets(&stranger, &c.id).await, Err(StoreError::NotFound(_))));
    assert!(store.connection_datasets(&org, &c.id).await.unwrap().is_empty());

    // Deleting the connection takes its write-backs' records with it.
    store.delete_connection(&org, &c.id, "ada").await.unwrap();
    assert_eq!(blindmap_store::testing::count_rows(&store, "crm_writebacks").await, 0);
}

async fn a_crm_authorization_answers_once_sealed(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let ada = store.create_user(&org, "ada", blindmap_store::Role::Admin).await.unwrap();
    let request = SecretString::from(r#"{"client_secret":"sf-secret-123","verifier":"v"}"#);
    store.begin_crm_authorization(&org, &ada.id, "hash-1", &request).await.unwrap();
    let raw = blindmap_store::testing::count_rows(&store, "crm_authorizations").await;
    assert_eq!(raw, 1);
    assert!(store.take_crm_authorization("hash-other").await.unwrap().is_none());
    let taken = store.take_crm_authorization("hash-1").await.unwrap().expect("recorded");
    assert_eq!((taken.org, taken.user, taken.expired), (org.clone(), ada.id.clone(), false));
    assert_eq!(taken.request.expose_secret(), request.expose_secret());
    assert!(store.take_crm_authorization("hash-1").await.unwrap().is_none(), "a state answers once");
    assert_eq!(blindmap_store::testing::count_rows(&store, "crm_authorizations").await, 0);
}
