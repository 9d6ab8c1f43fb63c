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

on_both_backends!(connections_keep_their_credentials_sealed, syncs_run_one_at_a_time_and_end_once);

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
