//! The alerts' outbox: an `overlap.changed` event of an organisation with rules is marked for
//! alerts in its transaction (of one without rules, not); one replica at a time composes it, and
//! its messages are recorded once however often composing is retried; a digest gathers the
//! accounts of several events in one message; messages are leased, retried and ended like
//! deliveries; another organisation reads and deletes none of it; channels' secrets are sealed.

use blindmap_store::testing::{SecretColumn, count_rows, keyring, make_alerts_due, stored_secret};
use blindmap_store::{
    AlertAttempt, AlertChanges, AlertChannelKind, AlertItem, AlertMode, AlertRoute, AlertState, ChangeKind,
    ComposedAlert, NewAlertChannel, NewAlertRule, Retry, Store, StoreError, on_both_backends,
};
use serde_json::json;

on_both_backends!(alert_events_become_messages_once_and_messages_go_once);

fn item(run: &str, account: &str) -> AlertItem {
    AlertItem {
        run: run.into(),
        account_id: account.into(),
        own_segment: "customers".into(),
        partner_segment: "customers".into(),
        change: ChangeKind::New,
        payload: json!({ "account_id": account, "name": format!("Account {account}") }),
    }
}

async fn alert_events_become_messages_once_and_messages_go_once(store: Store) {
    let store = store.with_secrets(keyring());
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let other = store.create_organisation("Other").await.unwrap().id;

    // Without rules, an event makes no alerts.
    store.record_event(&org, "overlap.changed", &json!({ "run": "run_x" })).await.unwrap();
    assert_eq!(count_rows(&store, "alert_events").await, 0);

    let new = NewAlertChannel {
        name: "Sales Slack",
        kind: AlertChannelKind::Slack,
        api_url: "https://slack.com/api/",
        secret: "xoxb-secret-token",
        fallback_channel: "C0PARTNERS1",
    };
    let channel = store.create_alert_channel(&org, "ada", &new).await.unwrap();
    assert!(matches!(store.create_alert_channel(&org, "ada", &new).await, Err(StoreError::Conflict(_))));
    let (_, secret) = store.alert_channel_secret(&org, &channel.id).await.unwrap();
    assert_eq!(secret.as_str(), "xoxb-secret-token");
    let stored = stored_secret(&store, SecretColumn::Alert, channel.id.as_str()).await;
    assert!(stored.starts_with("sealed:v1:") && !stored.contains("xoxb"), "{stored}");
    assert!(matches!(store.alert_channel_secret(&other, &channel.id).await, Err(StoreError::NotFound(_))));

    let rule = |name: &str, mode: AlertMode| NewAlertRule {
        name: name.into(),
        channel: channel.id.clone(),
        partnership: None,
        own_segment: String::new(),
        partner_segment: String::new(),
        changes: AlertChanges::New,
        tier: None,
        route: AlertRoute::Owner,
        mode,
    };
    let now_rule = store.create_alert_rule(&org, "ada", &rule("At once", AlertMode::Immediate)).await.unwrap();
    let digest = AlertMode::Digest { minute: 8 * 60, zone: "Europe/Berlin".into() };
    let digest_rule = store.create_alert_rule(&org, "ada", &rule("Digest", digest.clone())).await.unwrap();
    assert_eq!(store.alert_rules(&org).await.unwrap().len(), 2);
    assert!(store.alert_rules(&other).await.unwrap().is_empty());
    assert!(
        matches!(
            store.create_alert_rule(&other, "eve", &rule("Steal", AlertMode::Immediate)).await,
            Err(StoreError::NotFound(_))
        ),
        "another organisation's channel"
    );

    // Two events: each leased to one replica at a time, composed once.
    let first = store.record_event(&org, "overlap.changed", &json!({ "run": "run_1" })).await.unwrap();
    let second = store.record_event(&org, "overlap.changed", &json!({ "run": "run_2" })).await.unwrap();
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as i64;
    let claimed = store.claim_alert_event(now, 60_000).await.unwrap().unwrap();
    assert_eq!(claimed.id, first.id);
    let next = store.claim_alert_event(now, 60_000).await.unwrap().unwrap();
    assert_eq!(next.id, second.id, "the first is leased");
    assert!(store.claim_alert_event(now, 60_000).await.unwrap().is_none());
    let due_at = now + 3_600_000;
    let compose = |event: &blindmap_store::Event, run: &str, accounts: &[&str]| {
        vec![
            ComposedAlert {
                rule: now_rule.id.clone(),
                recipient: "ada@vendor.example".into(),
                recipient_name: "Ada".into(),
                batch: event.id.to_string(),
                due_at: now,
                items: accounts.iter().map(|a| item(run, a)).collect(),
            },
            ComposedAlert {
                rule: digest_rule.id.clone(),
                recipient: String::new(),
                recipient_name: String::new(),
                batch: format!("digest:{due_at}"),
                due_at,
                items: accounts.iter().map(|a| item(run, a)).collect(),
            },
        ]
    };
    assert!(store.compose_alerts(&first.id, &compose(&first, "run_1", &["001", "002"])).await.unwrap());
    assert!(!store.compose_alerts(&first.id, &compose(&first, "run_1", &["001", "002"])).await.unwrap(), "once");
    assert!(store.compose_alerts(&second.id, &compose(&second, "run_2", &["003"])).await.unwrap());
    let messages = store.alert_messages(&org, None, None, 100).await.unwrap();
    assert_eq!(messages.len(), 3, "one per event at once, one digest: {messages:#?}");
    let gathered = messages.iter().find(|m| m.rule == digest_rule.id).unwrap();
    assert_eq!((gathered.accounts, gathered.due_at), (3, due_at), "the digest gathers both events' accounts");
    assert!(store.alert_messages(&other, None, None, 100).await.unwrap().is_empty());

    // Due now: the two at once (the digest waits); leased once.
    let due = store.claim_alerts(now, 60_000, 10).await.unwrap();
    assert_eq!(due.len(), 2, "{due:#?}");
    assert!(due.iter().all(|d| d.rule.id == now_rule.id && d.channel.id == channel.id));
    assert_eq!(due.iter().map(|d| d.secret.as_ref().unwrap().as_str()).collect::<Vec<_>>(), ["xoxb-secret-token"; 2]);
    assert!(store.claim_alerts(now, 60_000, 10).await.unwrap().is_empty(), "leased");
    let attempt = |at: i64, delivered: bool| AlertAttempt {
        attempt: 1,
        at,
        status: Some(if delivered { 200 } else { 429 }),
        delivered_to: delivered.then(|| "slack:U0ADA0001".to_owned()),
        error: (!delivered).then(|| "Slack rate-limited the call".to_owned()),
        duration_ms: 3,
    };
    store.finish_alert(&due[0], &attempt(now, true), Retry::GiveUp).await.unwrap();
    store.finish_alert(&due[1], &attempt(now, false), Retry::At(now + 1_000)).await.unwrap();
    assert!(store.claim_alerts(now + 500, 60_000, 10).await.unwrap().is_empty(), "retried later");
    let again = store.claim_alerts(now + 1_000, 60_000, 10).await.unwrap();
    assert_eq!((again.len(), again[0].message.attempts), (1, 1));
    make_alerts_due(&store).await;
    let (message, attempts, items) = store.alert_message(&org, &due[1].message.id).await.unwrap();
    // Either event's message may be the one retried (leases go by due time, then id): its
    // accounts are the ones it was composed with.
    assert_eq!((message.state, attempts.len()), (AlertState::Pending, 1));
    assert_eq!(items.len(), due[1].items.len());
    assert_eq!(items.len() as u32, message.accounts);
    assert!(matches!(store.alert_message(&other, &due[1].message.id).await, Err(StoreError::NotFound(_))));

    // Another organisation deletes nothing; a used channel cannot go; a rule takes its messages.
    assert!(matches!(store.delete_alert_channel(&other, &channel.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.delete_alert_rule(&other, &now_rule.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.delete_alert_channel(&org, &channel.id).await, Err(StoreError::InUse(_))));
    store.delete_alert_rule(&org, &now_rule.id).await.unwrap();
    store.delete_alert_rule(&org, &digest_rule.id).await.unwrap();
    assert_eq!(count_rows(&store, "alert_items").await, 0);
    assert_eq!(count_rows(&store, "alert_attempts").await, 0);
    store.delete_alert_channel(&org, &channel.id).await.unwrap();
    assert!(store.alert_channels(&org).await.unwrap().is_empty());
}
