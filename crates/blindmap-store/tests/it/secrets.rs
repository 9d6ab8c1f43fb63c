//! Secrets at rest: webhook endpoints' and inbound sources' secrets are sealed in the database
//! under the node's secrets key, secrets kept in plaintext by older nodes are sealed at start,
//! keys rotate; and the SQLite file is readable by its owner only.

use blindmap_store::testing::{SecretColumn, keyring, put_stored_secret, stored_secret};
use blindmap_store::{Keyring, Resealed, SecretsKey, Store, StoreError, on_both_backends};

on_both_backends!(
    secrets_are_not_kept_in_plaintext,
    plaintext_secrets_are_sealed_at_start_once,
    keys_rotate_and_a_missing_key_stops_the_node,
);

const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const INBOUND_SECRET: &str = "whsec_C2FtcGxlIGluYm91bmQgc2VjcmV0IGhlcmU=";

/// The secrets the store reads back for an endpoint and a source (the endpoint's through a
/// delivery of an event to it).
async fn secrets_read_back(store: &Store, source: &blindmap_store::SourceId) -> (String, String) {
    let due = store.claim_due(i64::MAX / 2, 1, 10).await.unwrap();
    let webhook = due[0].secret.as_ref().unwrap().to_string();
    for d in &due {
        let done = blindmap_store::Attempt {
            event: d.event.id.clone(),
            endpoint: d.endpoint.id.clone(),
            attempt: 1,
            at: 0,
            status: Some(204),
            error: None,
            duration_ms: 1,
        };
        store.finish_delivery(d, &done, blindmap_store::Retry::GiveUp, 50).await.unwrap();
    }
    let inbound = store.inbound_source(source).await.unwrap().1.to_string();
    (webhook, inbound)
}

async fn secrets_are_not_kept_in_plaintext(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let endpoint = store.create_endpoint(&org, "https://a.example/hook", WEBHOOK_SECRET, &[]).await.unwrap();
    let source = store.create_inbound_source(&org, "Acme PRM", INBOUND_SECRET).await.unwrap();
    let kept = stored_secret(&store, SecretColumn::Webhook, endpoint.id.as_str()).await;
    assert!(!kept.contains("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw") && kept.starts_with("sealed:v1:"), "kept as {kept}");
    let kept = stored_secret(&store, SecretColumn::Inbound, source.id.as_str()).await;
    assert!(!kept.contains("C2FtcGxlIGluYm91bmQgc2VjcmV0IGhlcmU") && kept.starts_with("sealed:v1:"), "kept as {kept}");
    store.record_event(&org, "cosell.created", &serde_json::json!({})).await.unwrap();
    assert_eq!(secrets_read_back(&store, &source.id).await, (WEBHOOK_SECRET.to_owned(), INBOUND_SECRET.to_owned()));

    // A sealed secret moved to another row does not open there.
    let other = store.create_endpoint(&org, "https://b.example/hook", "whsec_b", &[]).await.unwrap();
    let moved = stored_secret(&store, SecretColumn::Webhook, endpoint.id.as_str()).await;
    put_stored_secret(&store, SecretColumn::Webhook, other.id.as_str(), &moved).await;
    store.record_event(&org, "cosell.updated", &serde_json::json!({})).await.unwrap();
    let due = store.claim_due(i64::MAX / 2, 1, 10).await.unwrap();
    let to_other = due.iter().find(|d| d.endpoint.id == other.id).unwrap();
    assert!(matches!(to_other.secret, Err(StoreError::Corrupt(_))), "{to_other:?}");
    let to_first = due.iter().find(|d| d.endpoint.id == endpoint.id).unwrap();
    assert!(to_first.secret.is_ok(), "the other deliveries go on");
    assert!(!format!("{to_first:?}").contains("whsec_"), "Debug shows no secret");
}

async fn plaintext_secrets_are_sealed_at_start_once(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let endpoint = store.create_endpoint(&org, "https://a.example/hook", "whsec_x", &[]).await.unwrap();
    let source = store.create_inbound_source(&org, "Acme PRM", "whsec_y").await.unwrap();
    // As a node from before sealing kept them.
    put_stored_secret(&store, SecretColumn::Webhook, endpoint.id.as_str(), WEBHOOK_SECRET).await;
    put_stored_secret(&store, SecretColumn::Inbound, source.id.as_str(), INBOUND_SECRET).await;

    assert_eq!(store.seal_stored_secrets().await.unwrap(), Resealed { sealed: 2, rotated: 0 });
    for (column, id) in [(SecretColumn::Webhook, endpoint.id.as_str()), (SecretColumn::Inbound, source.id.as_str())] {
        let kept = stored_secret(&store, column, id).await;
        assert!(kept.starts_with("sealed:v1:") && !kept.contains("whsec_"), "{kept}");
    }
    let before = stored_secret(&store, SecretColumn::Webhook, endpoint.id.as_str()).await;
    assert_eq!(store.seal_stored_secrets().await.unwrap(), Resealed::default(), "once");
    assert_eq!(stored_secret(&store, SecretColumn::Webhook, endpoint.id.as_str()).await, before);
    store.record_event(&org, "cosell.created", &serde_json::json!({})).await.unwrap();
    assert_eq!(secrets_read_back(&store, &source.id).await, (WEBHOOK_SECRET.to_owned(), INBOUND_SECRET.to_owned()));
}

async fn keys_rotate_and_a_missing_key_stops_the_node(store: Store) {
    let old = SecretsKey::generate();
    let old_text = old.to_base64();
    let store = store.with_secrets(Keyring::new(old, Vec::new()));
    let org = store.create_organisation("Vendor").await.unwrap().id;
    store.create_endpoint(&org, "https://a.example/hook", WEBHOOK_SECRET, &[]).await.unwrap();
    let source = store.create_inbound_source(&org, "Acme PRM", INBOUND_SECRET).await.unwrap();

    // A node started with a key that opens none of them refuses, and changes nothing.
    let lost = store.clone().with_secrets(keyring());
    match lost.seal_stored_secrets().await {
        Err(StoreError::UnknownSecretsKey { column, key }) => {
            assert_eq!(key, SecretsKey::from_base64(&old_text).unwrap().id());
            assert!(column == "webhook_endpoints.secret" || column == "inbound_sources.secret");
        }
        other => panic!("{other:?}"),
    }

    // The new key with the old one beside it: everything is re-sealed under the new key.
    let new = SecretsKey::generate();
    let new_id = new.id();
    let rotated = store.clone().with_secrets(Keyring::new(new, vec![SecretsKey::from_base64(&old_text).unwrap()]));
    assert_eq!(rotated.seal_stored_secrets().await.unwrap(), Resealed { sealed: 0, rotated: 2 });
    let kept = stored_secret(&rotated, SecretColumn::Inbound, source.id.as_str()).await;
    assert!(kept.starts_with(&format!("sealed:v1:{new_id}:")), "{kept}");
    let old_only = rotated.clone().with_secrets(Keyring::new(SecretsKey::from_base64(&old_text).unwrap(), vec![]));
    assert!(
        matches!(old_only.inbound_source(&source.id).await, Err(StoreError::UnknownSecretsKey { .. })),
        "the old key opens nothing any more: it can go"
    );
    store.record_event(&org, "cosell.created", &serde_json::json!({})).await.unwrap();
    assert_eq!(secrets_read_back(&rotated, &source.id).await, (WEBHOOK_SECRET.to_owned(), INBOUND_SECRET.to_owned()));
}

#[tokio::test]
async fn a_store_without_a_key_keeps_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite:{}", dir.path().join("node.db").display())).await.unwrap();
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let refused = store.create_endpoint(&org, "https://a.example/hook", WEBHOOK_SECRET, &[]).await;
    assert!(matches!(refused, Err(StoreError::NoSecretsKey)), "{refused:?}");
    let refused = store.create_inbound_source(&org, "Acme PRM", INBOUND_SECRET).await;
    assert!(matches!(refused, Err(StoreError::NoSecretsKey)), "{refused:?}");
    assert!(matches!(store.seal_stored_secrets().await, Err(StoreError::NoSecretsKey)));
    store.close().await;
}

#[cfg(unix)]
#[tokio::test]
async fn the_sqlite_file_is_readable_by_its_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("node.db");
    let store = Store::connect(&format!("sqlite:{}", path.display())).await.unwrap();
    store.create_organisation("Vendor").await.unwrap();
    let mode = |name: &str| std::fs::metadata(dir.path().join(name)).unwrap().permissions().mode() & 0o777;
    for name in ["node.db", "node.db-wal", "node.db-shm"] {
        assert_eq!(mode(name), 0o600, "{name} is {:o}", mode(name));
    }
    store.close().await;

    // A file an older node left readable by others is made private when opened.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let store = Store::connect(&format!("sqlite:{}", path.display())).await.unwrap();
    assert_eq!(mode("node.db"), 0o600);
    store.close().await;
}

/// A database as a node before migration 0010 left it — events ordered by their clocks and
/// secrets in plaintext — is upgraded when a node opens it: the events keep their order in the
/// feed, and the secrets are sealed when the node starts.
async fn upgrade_from_0009(url: String) {
    sqlx::any::install_default_drivers();
    let old = tempfile::tempdir().unwrap();
    let migrations = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for entry in std::fs::read_dir(&migrations).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name().to_string_lossy().as_ref() < "0010" {
            std::fs::copy(entry.path(), old.path().join(entry.file_name())).unwrap();
        }
    }
    let pool = sqlx::any::AnyPoolOptions::new().max_connections(1).connect(&url).await.unwrap();
    sqlx::migrate::Migrator::new(old.path()).await.unwrap().run(&pool).await.unwrap();
    let org = "org_00000000000000000000000000000001";
    let endpoint = "whe_00000000000000000000000000000001";
    let source = "src_00000000000000000000000000000001";
    let statements = [
        format!("INSERT INTO organisations (id, name, created_at) VALUES ('{org}', 'Vendor', 1)"),
        format!(
            "INSERT INTO webhook_endpoints (id, org_id, url, secret, events, state, consecutive_failures, created_at) \
             VALUES ('{endpoint}', '{org}', 'https://a.example/hook', '{WEBHOOK_SECRET}', '[]', 'disabled', 0, 1)"
        ),
        format!(
            "INSERT INTO inbound_sources (id, org_id, name, secret, created_at) \
             VALUES ('{source}', '{org}', 'Acme PRM', '{INBOUND_SECRET}', 1)"
        ),
        format!(
            "INSERT INTO events (id, org_id, kind, payload, created_at) VALUES ('msg_b', '{org}', 'cosell.created', '{{}}', 20)"
        ),
        format!(
            "INSERT INTO events (id, org_id, kind, payload, created_at) VALUES ('msg_a', '{org}', 'cosell.updated', '{{}}', 30)"
        ),
        format!(
            "INSERT INTO events (id, org_id, kind, payload, created_at) VALUES ('msg_c', '{org}', 'cosell.updated', '{{}}', 10)"
        ),
    ];
    for statement in statements {
        sqlx::query(sqlx::AssertSqlSafe(statement)).execute(&pool).await.unwrap();
    }
    pool.close().await;

    let store = Store::connect(&url).await.unwrap().with_secrets(keyring());
    let feed = store.events_page(&blindmap_store::OrgId::parse(org).unwrap(), None, 10).await.unwrap();
    assert_eq!(feed.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ["msg_c", "msg_b", "msg_a"]);
    assert_eq!(stored_secret(&store, SecretColumn::Webhook, endpoint).await, WEBHOOK_SECRET, "until the node starts");
    assert_eq!(store.seal_stored_secrets().await.unwrap(), Resealed { sealed: 2, rotated: 0 });
    assert!(stored_secret(&store, SecretColumn::Webhook, endpoint).await.starts_with("sealed:v1:"));
    let source = blindmap_store::SourceId::parse(source).unwrap();
    assert_eq!(store.inbound_source(&source).await.unwrap().1.as_str(), INBOUND_SECRET);
    store.close().await;
}

#[tokio::test]
async fn a_database_from_before_0010_is_upgraded_on_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    upgrade_from_0009(format!("sqlite:{}?mode=rwc", dir.path().join("node.db").display())).await;
}

#[tokio::test]
async fn a_database_from_before_0010_is_upgraded_on_postgres() {
    if let Some(url) = blindmap_store::testing::postgres_url().await {
        upgrade_from_0009(url).await;
    }
}
