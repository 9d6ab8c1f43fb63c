//! The store test suite, run against both backends: every test once on a fresh SQLite file and
//! once on a fresh PostgreSQL database (see `blindmap_store::testing`; `scripts/test.sh` starts a
//! throwaway server).

use std::io::Cursor;

use blindmap_psi::{FieldName, Level};
use blindmap_records::{Importer, Preset, Side, import_dataset};
use std::collections::BTreeMap;

use blindmap_store::{
    Attempt, Completion, DatasetId, EndpointState, NewRun, OrgId, OverlapFilter, Partnership, PartnershipId,
    PartnershipState, Retry, Role, RunId, RunOverlap, RunRole, RunState, STALE_AFTER_MS, SharingPolicy, SharingRule,
    Store, StoreError, on_both_backends,
};

const VENDOR: &str = include_str!("../../../../samples/vendor-salesforce.csv");

on_both_backends!(
    organisations_users_and_tokens,
    an_import_is_stored_whole_and_loads_as_the_importer_reads_it,
    a_failed_import_stores_nothing,
    the_active_dataset_is_chosen_and_others_can_be_deleted,
    idempotency_keys_lapse_or_are_released_when_their_request_is_gone,
    organisations_are_isolated,
    the_audit_trail_appends,
    invites_are_used_once_and_expire,
    partnerships_authorise_only_their_peer,
    sharing_policies_replace_whole,
    runs_store_results_whole_and_only_once,
    stale_and_failed_runs_keep_nothing,
    events_reach_the_endpoints_that_want_them_once_leased,
    failing_endpoints_back_off_and_are_disabled,
    events_are_served_once_committed_and_never_skipped,
    cosell_records_are_written_with_a_version_check,
    reports_filter_search_sort_and_page_in_the_database,
    reports_sort_and_filter_by_shared_fields_list_lost_accounts_and_span_partners,
    corrections_hide_matches_wherever_overlaps_are_read,
    corrections_are_listed_removed_and_kept_per_organisation,
    report_pages_read_in_pieces_agree_with_one_read_in_every_order,
    a_search_finding_thousands_of_accounts_pages_as_the_whole_list_does,
    a_tier_a_run_has_no_row_of_lists_and_counts_nothing_of_it,
    a_page_deep_in_one_match_opens_by_its_number_in_every_order,
    writes_that_read_first_wait_for_each_other_rather_than_fail,
);

/// The Salesforce account ids of the sample export, in its order.
fn vendor_account_ids() -> Vec<&'static str> {
    VENDOR.lines().skip(1).filter_map(|l| l.split(',').next()).filter(|i| i.starts_with("0015")).collect()
}

fn importer(text: &str) -> Importer<Cursor<Vec<u8>>> {
    Importer::new("vendor.csv", Cursor::new(text.as_bytes().to_vec()), &Preset::Salesforce.mapping()).unwrap()
}

async fn organisations_users_and_tokens(store: Store) {
    let org = store.create_organisation("Acme").await.unwrap();
    assert!(matches!(store.create_organisation("Acme").await, Err(StoreError::Conflict(_))));
    assert!(matches!(store.create_organisation(" padded").await, Err(StoreError::InvalidName(_))));
    assert_eq!(store.organisation_by_name("Acme").await.unwrap(), Some(org.clone()));

    let ada = store.create_user(&org.id, "ada", Role::Admin).await.unwrap();
    assert!(matches!(store.create_user(&org.id, "ada", Role::Rep).await, Err(StoreError::Conflict(_))));
    let (token_id, token) = store.issue_token(&org.id, &ada.id, "laptop").await.unwrap();
    assert_eq!(format!("{token:?}"), "ApiToken(<redacted>)");

    let who = store.authenticate(token.expose()).await.unwrap().expect("a fresh token authenticates");
    assert_eq!((who.user, who.token.clone()), (ada.clone(), token_id.clone()));
    assert_eq!(store.authenticate("bm_not-a-token").await.unwrap(), None);

    // Another organisation can neither issue for nor revoke Acme's tokens.
    let other = store.create_organisation("Globex").await.unwrap();
    assert!(matches!(store.issue_token(&other.id, &ada.id, "x").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.revoke_token(&other.id, &token_id).await, Err(StoreError::NotFound(_))));
    store.revoke_token(&org.id, &token_id).await.unwrap();
    assert_eq!(store.authenticate(token.expose()).await.unwrap(), None, "revoked");
}

async fn an_import_is_stored_whole_and_loads_as_the_importer_reads_it(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap();
    let info = store.import_dataset(&org.id, "vendor.csv", "salesforce", importer(VENDOR)).await.unwrap();
    assert_eq!((info.rows, info.accounts), (37, 36));
    assert_eq!(info.summary["rows_without_keys"]["count"], 1);
    assert_eq!(store.datasets(&org.id).await.unwrap(), vec![info.clone()]);

    for side in [Side::First, Side::Second] {
        let stored = store.load_dataset(&org.id, &info.id, side).await.unwrap();
        let direct =
            import_dataset("vendor.csv", VENDOR.as_bytes(), &Preset::Salesforce.mapping(), side, |_| {}).unwrap();
        assert_eq!(stored.records(), direct.dataset.records(), "the store keeps what the importer made");
    }
}

async fn a_failed_import_stores_nothing(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap();
    let first = store.import_dataset(&org.id, "vendor.csv", "salesforce", importer(VENDOR)).await.unwrap();

    // A stray quote on the 30th line: 28 accounts were already inserted when it is read.
    let mut lines: Vec<String> = VENDOR.split("\r\n").map(str::to_owned).collect();
    lines[29] = lines[29].replacen(",", ",12\" pipe ", 1);
    let e = store.import_dataset(&org.id, "broken.csv", "salesforce", importer(&lines.join("\r\n"))).await.unwrap_err();
    assert!(e.to_string().contains("line 30"), "{e}");

    // The same id twice: refused with both lines.
    let duplicated = format!("{VENDOR}\r\n{}", VENDOR.split("\r\n").nth(1).unwrap());
    let e = store.import_dataset(&org.id, "dup.csv", "salesforce", importer(&duplicated)).await.unwrap_err();
    assert!(e.to_string().contains("already used on line 2"), "{e}");
    // ... also when the two are stored in different batches (the first id long before).
    let mut long = String::from("id,segment,domain\n");
    for i in 0..1200 {
        long.push_str(&format!("a{i},customers,company{i}-test.com\n"));
    }
    long.push_str("a3,customers,other-test.com\n");
    let generic = Importer::new("long.csv", Cursor::new(long.into_bytes()), &Preset::Generic.mapping()).unwrap();
    let e = store.import_dataset(&org.id, "long.csv", "generic", generic).await.unwrap_err();
    assert!(e.to_string().contains("line 1202") && e.to_string().contains("already used on line 5"), "{e}");

    // ... and when chunks of it were written already (each chunk is its own transaction).
    let mut longer = String::from("id,segment,domain\n");
    for i in 0..12_000 {
        longer.push_str(&format!("a{i},customers,company{i}-test.com\n"));
    }
    longer.push_str("a7,customers,other-test.com\n");
    let generic = Importer::new("longer.csv", Cursor::new(longer.into_bytes()), &Preset::Generic.mapping()).unwrap();
    let e = store.import_dataset(&org.id, "longer.csv", "generic", generic).await.unwrap_err();
    assert!(e.to_string().contains("line 12002"), "{e}");

    assert_eq!(store.datasets(&org.id).await.unwrap(), vec![first.clone()], "nothing of any is kept");
    assert_eq!(blindmap_store::testing::count_rows(&store, "dataset_accounts").await, 36, "not one account");
    let loaded = store.load_dataset(&org.id, &first.id, Side::First).await.unwrap();
    assert_eq!(loaded.records().len(), 36);
}

async fn the_active_dataset_is_chosen_and_others_can_be_deleted(store: Store) {
    let (org, first, p) = org_with_partner(&store).await;
    assert!(store.dataset(&org, &first).await.unwrap().active, "the first import is active");
    let second = store.import_dataset(&org, "stray.csv", "salesforce", importer(VENDOR)).await.unwrap();
    assert!(!second.active, "a later import waits to be chosen");
    assert_eq!(store.active_dataset(&org).await.unwrap().unwrap().id, first);
    // Runs match the active dataset; a run of the first keeps it from a plain delete.
    let run = start(&store, &org, &first, &p).await;
    assert!(matches!(store.delete_dataset(&org, &first, true).await, Err(StoreError::DatasetInUse(_))), "active");
    let activated = store.activate_dataset(&org, &second.id).await.unwrap();
    assert!(activated.active);
    assert_eq!(store.active_dataset(&org).await.unwrap().unwrap().id, second.id);
    let listed: Vec<bool> = store.datasets(&org).await.unwrap().iter().map(|d| d.active).collect();
    assert_eq!(listed, [true, false], "newest first, the second active");
    assert!(matches!(store.delete_dataset(&org, &first, true).await, Err(StoreError::DatasetInUse(_))), "running");
    store.fail_run(&run, "stopped", None).await.unwrap();
    assert!(matches!(store.delete_dataset(&org, &first, false).await, Err(StoreError::DatasetInUse(_))), "runs");
    assert_eq!(store.delete_dataset(&org, &first, true).await.unwrap().1, 1);
    assert!(matches!(store.run(&org, &run).await, Err(StoreError::NotFound(_))), "its run went with it");
    assert!(matches!(store.dataset(&org, &first).await, Err(StoreError::NotFound(_))));
    assert_eq!(blindmap_store::testing::count_rows(&store, "dataset_accounts").await, 36, "the second's accounts");
    // Another organisation can neither see, activate nor delete it.
    let other = store.create_organisation("Other").await.unwrap();
    assert!(matches!(store.activate_dataset(&other.id, &second.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.delete_dataset(&other.id, &second.id, true).await, Err(StoreError::NotFound(_))));
    assert!(store.active_dataset(&other.id).await.unwrap().is_none());
}

async fn organisations_are_isolated(store: Store) {
    let vendor = store.create_organisation("Vendor").await.unwrap();
    let partner = store.create_organisation("Partner").await.unwrap();
    let info = store.import_dataset(&vendor.id, "vendor.csv", "salesforce", importer(VENDOR)).await.unwrap();
    store.record_audit(&vendor.id, "ada", "dataset.imported", &serde_json::json!({"accounts": 36})).await.unwrap();

    assert!(store.datasets(&partner.id).await.unwrap().is_empty());
    assert!(matches!(store.load_dataset(&partner.id, &info.id, Side::First).await, Err(StoreError::NotFound(_))));
    assert!(store.audit_trail(&partner.id, 100).await.unwrap().is_empty());
    let unknown = DatasetId::parse(&format!("ds_{}", "0".repeat(32))).unwrap();
    assert!(matches!(store.load_dataset(&vendor.id, &unknown, Side::First).await, Err(StoreError::NotFound(_))));
}

async fn the_audit_trail_appends(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap();
    for i in 0..3 {
        store.record_audit(&org.id, "node", "match.revealed", &serde_json::json!({ "run": i })).await.unwrap();
    }
    let trail = store.audit_trail(&org.id, 2).await.unwrap();
    assert_eq!(trail.len(), 2);
    assert!(trail.iter().all(|e| e.kind == "match.revealed" && e.actor == "node"));
    assert!(trail[0].at >= trail[1].at, "newest first");
}

async fn invites_are_used_once_and_expire(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap();
    let (secret, expires_at) = store.create_invite(&org.id, "ada", 60_000).await.unwrap();
    assert!(expires_at > 0);
    assert_eq!(format!("{secret:?}"), "InviteSecret(<redacted>)");
    let (a, b) = tokio::join!(store.redeem_invite(secret.expose()), store.redeem_invite(secret.expose()));
    let redeemed: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(redeemed, vec![org.id.clone()], "exactly one of two racing redemptions wins");
    assert_eq!(store.redeem_invite("not-a-secret").await.unwrap(), None);
    let (expired, _) = store.create_invite(&org.id, "ada", -1).await.unwrap();
    assert_eq!(store.redeem_invite(expired.expose()).await.unwrap(), None, "expired");
}

async fn partnerships_authorise_only_their_peer(store: Store) {
    let vendor = store.create_organisation("Vendor").await.unwrap();
    let other = store.create_organisation("Other").await.unwrap();
    let p = store
        .create_partnership(
            &PartnershipId::generate(),
            &vendor.id,
            "Partner",
            "https://partner:7443",
            "sha256:aa",
            "pt_ref",
        )
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_partnership(&PartnershipId::generate(), &vendor.id, "Partner", "https://x", "sha256:bb", "r")
            .await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.partnerships(&vendor.id).await.unwrap(), vec![p.clone()]);
    assert_eq!(store.partnership_for_peer(&p.id, "sha256:aa").await.unwrap(), Some(p.clone()));
    assert_eq!(store.partnership_for_peer(&p.id, "sha256:bb").await.unwrap(), None, "another certificate");
    assert!(matches!(store.partnership(&other.id, &p.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.end_partnership(&other.id, &p.id).await, Err(StoreError::NotFound(_))));
    store.end_partnership(&vendor.id, &p.id).await.unwrap();
    assert_eq!(store.partnership(&vendor.id, &p.id).await.unwrap().state, PartnershipState::Ended);
    assert_eq!(store.partnership_for_peer(&p.id, "sha256:aa").await.unwrap(), None, "ended: nothing flows");
}

async fn sharing_policies_replace_whole(store: Store) {
    let vendor = store.create_organisation("Vendor").await.unwrap();
    let p = store
        .create_partnership(&PartnershipId::generate(), &vendor.id, "Partner", "https://partner", "sha256:aa", "r")
        .await
        .unwrap();
    assert_eq!(store.sharing(&vendor.id, &p.id).await.unwrap(), SharingPolicy::default(), "counts only by default");
    let rule = |own: &str, partner: &str, level| SharingRule {
        own_segment: own.into(),
        partner_segment: partner.into(),
        level,
    };
    let policy = SharingPolicy {
        rules: vec![
            rule("*", "*", Level::Counts),
            rule("customers", "customers", Level::Fields(vec![FieldName::new("owner").unwrap()])),
            rule("prospects", "*", Level::Hidden),
        ],
        threshold: 3,
        min_partner_segment: 10,
    };
    store.set_sharing(&vendor.id, &p.id, &policy).await.unwrap();
    let mut stored = store.sharing(&vendor.id, &p.id).await.unwrap();
    stored.rules.sort_by(|a, b| (&a.own_segment, &a.partner_segment).cmp(&(&b.own_segment, &b.partner_segment)));
    let mut want = policy.clone();
    want.rules.sort_by(|a, b| (&a.own_segment, &a.partner_segment).cmp(&(&b.own_segment, &b.partner_segment)));
    assert_eq!(stored, want);
    let duplicate =
        SharingPolicy { rules: vec![rule("a", "b", Level::Counts), rule("a", "b", Level::Hidden)], ..policy };
    assert!(matches!(store.set_sharing(&vendor.id, &p.id, &duplicate).await, Err(StoreError::Conflict(_))));
    assert_eq!(store.sharing(&vendor.id, &p.id).await.unwrap().rules.len(), 3, "a refused policy changes nothing");
}

/// An organisation with a dataset (the vendor sample) and a partnership.
async fn org_with_partner(store: &Store) -> (OrgId, DatasetId, Partnership) {
    let org = store.create_organisation("Vendor").await.unwrap();
    let dataset = store.import_dataset(&org.id, "vendor.csv", "salesforce", importer(VENDOR)).await.unwrap();
    let p = store
        .create_partnership(&PartnershipId::generate(), &org.id, "Partner", "https://p", "sha256:aa", "pt_ref")
        .await
        .unwrap();
    (org.id, dataset.id, p)
}

async fn start(store: &Store, org: &OrgId, dataset: &DatasetId, p: &Partnership) -> RunId {
    let id = RunId::generate();
    let run = NewRun {
        id: &id,
        org,
        partnership: &p.id,
        role: RunRole::Initiator,
        dataset,
        started_by: "ada",
        sharing: &SharingPolicy::default(),
    };
    let started = store.start_run(&run).await.unwrap();
    assert_eq!((started.state, started.partner_name.as_str()), (RunState::Running, "Partner"));
    assert_eq!(started.sharing["threshold"], 5, "the policy in force is recorded");
    id
}

fn overlap(account: &str, own: &str, partner: &str, record: u32) -> RunOverlap {
    RunOverlap {
        account_id: account.into(),
        own_segment: own.into(),
        partner_segment: partner.into(),
        partner_record: Some(record),
        key_types: vec!["domain".into()],
        tier: blindmap_store::Tier::Confirmed,
        reason: "confirmed: the domain agrees".into(),
        fields: BTreeMap::from([("Owner".to_owned(), Some("Kim".to_owned()))]),
    }
}

async fn runs_store_results_whole_and_only_once(store: Store) {
    let (org, dataset, p) = org_with_partner(&store).await;
    let first = start(&store, &org, &dataset, &p).await;
    assert!(store.heartbeat_run(&first, 10, 40).await.unwrap());
    assert_eq!(store.run(&org, &first).await.unwrap().records_done, 10);
    // 450 overlaps: more than one insert batch.
    let mut overlaps: Vec<RunOverlap> =
        (0..450).map(|i| overlap(&format!("001{i:04}"), "customers", "prospects", i)).collect();
    overlaps.push(overlap("0015g00000NWTRdAAF", "prospects", "customers", 7));
    let completion = Completion {
        result: serde_json::json!({ "cells": [["451"]] }),
        overlaps: overlaps.clone(),
        transcript: Some("blindmap transcript v1\n".into()),
        audit: vec![("match.revealed".into(), serde_json::json!({ "run": first.to_string() }))],
        records: 40,
        events: vec![],
        session: "00".into(),
        orders: vec![],
        changes: None,
    };
    store.complete_run(&org, &first, &completion).await.unwrap();
    assert!(
        matches!(store.complete_run(&org, &first, &completion).await, Err(StoreError::Conflict(_))),
        "a run completes once"
    );
    assert!(!store.heartbeat_run(&first, 1, 1).await.unwrap(), "a finished run takes no heartbeat");
    let run = store.run(&org, &first).await.unwrap();
    assert_eq!(
        (run.state, run.records_done, run.result.unwrap()["cells"][0][0].as_str()),
        (RunState::Complete, 40, Some("451"))
    );
    assert_eq!(store.audit_trail(&org, 10).await.unwrap()[0].kind, "match.revealed");
    assert_eq!(store.run_transcript(&org, &first).await.unwrap().as_deref(), Some("blindmap transcript v1\n"));

    // Pages: in (own segment, partner segment, account) order, filters and cursors compose.
    let mut seen = Vec::new();
    let mut after = None;
    loop {
        let page = store.overlaps_page(&org, &first, &OverlapFilter::default(), after.as_ref(), 100).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.overlap.cursor());
        seen.extend(page.into_iter().map(|l| l.overlap));
    }
    assert_eq!(seen.len(), 451);
    assert_eq!(seen[0].account_id, "0010000");
    assert_eq!(seen[450], overlaps[450], "prospects sort after customers");
    let filter = OverlapFilter { own_segment: Some("prospects".into()), partner_segment: None };
    let listed = store.overlaps_page(&org, &first, &filter, None, 100).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert!(!listed[0].own_fields.is_empty(), "the own account's fields come along");
    let cells = store.overlap_accounts(&org, &first).await.unwrap();
    assert_eq!(cells[&("customers".to_owned(), "prospects".to_owned())].len(), 450);

    // The next run compares to this one; another organisation sees neither.
    let second = start(&store, &org, &dataset, &p).await;
    // One run of a partnership at a time: a third while the second runs is refused.
    let third = RunId::generate();
    let busy = NewRun {
        id: &third,
        org: &org,
        partnership: &p.id,
        role: RunRole::Responder,
        dataset: &dataset,
        started_by: "Partner",
        sharing: &SharingPolicy::default(),
    };
    assert!(matches!(store.start_run(&busy).await, Err(StoreError::RunInProgress)), "one run at a time");
    let run = store.run(&org, &second).await.unwrap();
    assert_eq!(store.previous_complete_run(&org, &run).await.unwrap().map(|r| r.id), Some(first.clone()));
    let runs = store.runs_page(&org, Some(&p.id), None, None, 10).await.unwrap();
    assert_eq!(runs.iter().map(|r| r.id.clone()).collect::<Vec<_>>(), [second.clone(), first.clone()]);
    let other = store.create_organisation("Other").await.unwrap();
    assert!(matches!(store.run(&other.id, &first).await, Err(StoreError::NotFound(_))));
    assert!(store.runs_page(&other.id, None, None, None, 10).await.unwrap().is_empty());
    assert!(matches!(
        store.overlaps_page(&other.id, &first, &OverlapFilter::default(), None, 10).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(store.complete_run(&other.id, &second, &completion).await, Err(StoreError::Conflict(_))));
}

async fn stale_and_failed_runs_keep_nothing(store: Store) {
    let (org, dataset, p) = org_with_partner(&store).await;
    let crashed = start(&store, &org, &dataset, &p).await;
    blindmap_store::testing::age_heartbeat(&store, &crashed, STALE_AFTER_MS + 1).await;
    let run = store.run(&org, &crashed).await.unwrap();
    assert_eq!(run.state, RunState::Failed, "no heartbeat: failed on the next read");
    assert!(run.failure.unwrap().contains("stopped"));
    assert!(!store.heartbeat_run(&crashed, 1, 2).await.unwrap(), "its driver learns it must stop");
    let late = Completion {
        result: serde_json::json!({}),
        overlaps: vec![overlap("0010001", "customers", "customers", 0)],
        transcript: None,
        audit: vec![],
        records: 2,
        events: vec![],
        session: "00".into(),
        orders: vec![],
        changes: None,
    };
    assert!(matches!(store.complete_run(&org, &crashed, &late).await, Err(StoreError::Conflict(_))));
    assert!(store.overlaps_page(&org, &crashed, &OverlapFilter::default(), None, 10).await.unwrap().is_empty());

    // The crashed run blocks nothing: it failed when its heartbeat went stale.
    let aborted = start(&store, &org, &dataset, &p).await;
    store.fail_run(&aborted, "the partner aborted: malformed frame", Some("transcript")).await.unwrap();
    let run = store.run(&org, &aborted).await.unwrap();
    assert_eq!((run.state, run.failure.as_deref()), (RunState::Failed, Some("the partner aborted: malformed frame")));
    assert_eq!(store.previous_complete_run(&org, &run).await.unwrap(), None);

    store.end_partnership(&org, &p.id).await.unwrap();
    let id = RunId::generate();
    let ended = NewRun {
        id: &id,
        org: &org,
        partnership: &p.id,
        role: RunRole::Responder,
        dataset: &dataset,
        started_by: "Partner",
        sharing: &SharingPolicy::default(),
    };
    assert!(matches!(store.start_run(&ended).await, Err(StoreError::Ended)), "ended: no runs");
}

fn attempt(due: &blindmap_store::Due, at: i64, status: Option<u16>, error: Option<&str>) -> Attempt {
    Attempt {
        event: due.event.id.clone(),
        endpoint: due.endpoint.id.clone(),
        attempt: due.attempts + 1,
        at,
        status,
        error: error.map(str::to_owned),
        duration_ms: 3,
    }
}

async fn events_reach_the_endpoints_that_want_them_once_leased(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let other = store.create_organisation("Other").await.unwrap().id;
    let all = store.create_endpoint(&org, "https://a.example/hook", "whsec_a", &[]).await.unwrap();
    let cosell_only =
        store.create_endpoint(&org, "https://b.example/hook", "whsec_b", &["cosell.created".to_owned()]).await.unwrap();
    store.create_endpoint(&other, "https://c.example/hook", "whsec_c", &[]).await.unwrap();
    let created = store.record_event(&org, "cosell.created", &serde_json::json!({ "id": "cs_1" })).await.unwrap();
    store.record_event(&org, "registration.submitted", &serde_json::json!({ "id": "reg_1" })).await.unwrap();

    let now = created.created_at + 10_000;
    let due = store.claim_due(now, 30_000, 10).await.unwrap();
    let mut pairs: Vec<(String, String)> = due.iter().map(|d| (d.endpoint.url.clone(), d.event.kind.clone())).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            ("https://a.example/hook".to_owned(), "cosell.created".to_owned()),
            ("https://a.example/hook".to_owned(), "registration.submitted".to_owned()),
            ("https://b.example/hook".to_owned(), "cosell.created".to_owned()),
        ],
        "each endpoint gets the kinds it asked for, no other organisation's"
    );
    assert!(due.iter().all(|d| d.secret.as_ref().is_ok_and(|s| s.starts_with("whsec_")) && d.attempts == 0));
    assert!(store.claim_due(now, 30_000, 10).await.unwrap().is_empty(), "leased: no one else takes them");
    let taken_over = store.claim_due(now + 30_001, 30_000, 10).await.unwrap();
    assert_eq!(taken_over.len(), 3, "an expired lease is taken over (at least once)");
    for d in &taken_over {
        store.finish_delivery(d, &attempt(d, now + 30_002, Some(204), None), Retry::GiveUp, 50).await.unwrap();
    }
    assert!(store.claim_due(now + 100_000, 30_000, 10).await.unwrap().is_empty(), "delivered: done");
    let log = store.delivery_log(&org, &cosell_only.id, 10).await.unwrap();
    assert_eq!((log.len(), log[0].status), (1, Some(204)));
    assert!(store.delivery_log(&other, &all.id, 10).await.unwrap().is_empty(), "another organisation's log");

    // The pull endpoint: events in commit order, by cursor.
    let first = store.events_page(&org, None, 1).await.unwrap();
    assert_eq!(first.len(), 1);
    let rest = store.events_page(&org, Some(&first[0].id), 10).await.unwrap();
    assert_eq!(rest.len(), 1);
    let mut kinds = vec![first[0].kind.clone(), rest[0].kind.clone()];
    kinds.sort();
    assert_eq!(kinds, ["cosell.created", "registration.submitted"]);
    assert_eq!(store.events_page(&other, None, 10).await.unwrap().len(), 0);
}

/// The pull endpoint serves an event as soon as its transaction commits, and a reader moving
/// forward by cursor never skips one — even an event whose transaction began (and took its
/// time) before the events already served, and committed after them.
async fn events_are_served_once_committed_and_never_skipped(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let first = store.record_event(&org, "cosell.created", &serde_json::json!({ "n": 1 })).await.unwrap();
    let page = store.events_page(&org, None, 10).await.unwrap();
    assert_eq!(page.iter().map(|e| &e.id).collect::<Vec<_>>(), [&first.id], "served at once");
    let late = store.record_event(&org, "cosell.updated", &serde_json::json!({ "n": 2 })).await.unwrap();
    // Written earlier than `first` by the clock, committed after it was served.
    blindmap_store::testing::backdate_event(&store, &late.id, 60_000).await;
    let next = store.events_page(&org, Some(&first.id), 10).await.unwrap();
    assert_eq!(next.iter().map(|e| &e.id).collect::<Vec<_>>(), [&late.id], "the late commit is not skipped");
    assert!(store.events_page(&org, Some(&late.id), 10).await.unwrap().is_empty());
}

async fn failing_endpoints_back_off_and_are_disabled(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let endpoint = store.create_endpoint(&org, "https://down.example/hook", "whsec_x", &[]).await.unwrap();
    let event = store.record_event(&org, "cosell.updated", &serde_json::json!({})).await.unwrap();
    let mut now = event.created_at;
    for round in 1..=3u32 {
        let due = store.claim_due(now, 30_000, 10).await.unwrap();
        assert_eq!(due.len(), 1, "round {round}");
        assert_eq!(due[0].attempts, round - 1);
        let retry_at = now + 5_000;
        store
            .finish_delivery(&due[0], &attempt(&due[0], now, Some(500), Some("500")), Retry::At(retry_at), 3)
            .await
            .unwrap();
        assert!(store.claim_due(retry_at - 1, 30_000, 10).await.unwrap().is_empty(), "not before its time");
        now = retry_at;
    }
    let endpoints = store.endpoints(&org).await.unwrap();
    assert_eq!((endpoints[0].state, endpoints[0].consecutive_failures), (EndpointState::Disabled, 3));
    assert!(store.claim_due(now, 30_000, 10).await.unwrap().is_empty(), "a disabled endpoint gets nothing");
    let enabled = store.set_endpoint_enabled(&org, &endpoint.id, true).await.unwrap();
    assert_eq!((enabled.state, enabled.consecutive_failures), (EndpointState::Enabled, 0));
    let due = store.claim_due(now, 30_000, 10).await.unwrap();
    assert_eq!(due.len(), 1, "re-enabled: the pending delivery resumes");
    store.finish_delivery(&due[0], &attempt(&due[0], now, None, Some("refused")), Retry::GiveUp, 3).await.unwrap();
    assert!(store.claim_due(now + 1_000_000, 30_000, 10).await.unwrap().is_empty(), "given up");
    assert_eq!(store.delivery_log(&org, &endpoint.id, 10).await.unwrap().len(), 4);
    let other = store.create_organisation("Other").await.unwrap().id;
    assert!(matches!(store.set_endpoint_enabled(&other, &endpoint.id, false).await, Err(StoreError::NotFound(_))));
}

async fn cosell_records_are_written_with_a_version_check(store: Store) {
    use blindmap_cosell::cosell::{CoSell, Edit, Party, Stamp};
    let (org, dataset, p) = org_with_partner(&store).await;
    let stamp = |ms| Stamp { ms, counter: 0, party: Party::A };
    let mut record = CoSell::propose("cs_1", stamp(1), "ada");
    record.apply(Edit::Account { account: Some("0015g00000NWTRdAAF".into()) }, stamp(2), "ada").unwrap();
    let created = serde_json::json!({ "id": "cs_1" });
    store.insert_cosell(&org, &p.id, Party::A, &record, true, ("cosell.created", &created)).await.unwrap();
    assert!(matches!(
        store.insert_cosell(&org, &p.id, Party::A, &record, true, ("cosell.created", &created)).await,
        Err(StoreError::Conflict(_))
    ));
    let mut stored = store.cosell(&org, "cs_1").await.unwrap();
    assert_eq!((stored.party, stored.version, stored.dirty), (Party::A, 1, true));
    assert_eq!(store.dirty_cosells(10).await.unwrap(), vec![(org.clone(), "cs_1".to_owned())]);

    // Two writers read version 1; the first wins, the second is told to reload.
    let stale = stored.clone();
    stored.record.apply(Edit::Stage { stage: "qualified".into() }, stamp(3), "ada").unwrap();
    store.save_cosell(&org, &stored, false, Some(("cosell.updated", &created))).await.unwrap();
    assert!(matches!(store.save_cosell(&org, &stale, false, None).await, Err(StoreError::Changed)));
    let now = store.cosell(&org, "cs_1").await.unwrap();
    assert_eq!((now.version, now.dirty, now.record.stage.value.as_str()), (2, false, "qualified"));
    assert!(store.dirty_cosells(10).await.unwrap().is_empty());
    assert_eq!(store.cosells_page(&org, Some(&p.id), None, 10).await.unwrap().len(), 1);

    let other = store.create_organisation("Other").await.unwrap().id;
    assert!(matches!(store.cosell(&other, "cs_1").await, Err(StoreError::NotFound(_))));
    assert!(store.cosells_page(&other, None, None, 10).await.unwrap().is_empty());

    // A partner's reference (session, our segment, position) maps back to our account.
    let run = start(&store, &org, &dataset, &p).await;
    let completion = Completion {
        result: serde_json::json!({}),
        overlaps: vec![],
        transcript: None,
        audit: vec![],
        records: 1,
        events: vec![],
        session: "abcd".into(),
        orders: vec![("customers".into(), vec![2, 0])],
        changes: None,
    };
    store.complete_run(&org, &run, &completion).await.unwrap();
    let first = store.account_behind(&org, &p.id, "abcd", "customers", 1).await.unwrap();
    assert_eq!(first.as_deref(), Some("0015g00000NWTRdAAF"), "position 1 is the dataset's first record");
    assert!(store.account_behind(&org, &p.id, "abcd", "customers", 2).await.unwrap().is_none());
    assert!(store.account_behind(&org, &p.id, "other", "customers", 0).await.unwrap().is_none());
    assert!(store.account_behind(&other, &p.id, "abcd", "customers", 0).await.unwrap().is_none());
}

async fn reports_filter_search_sort_and_page_in_the_database(store: Store) {
    use blindmap_store::{ReportFilter, ReportSort};
    let (org, dataset, p) = org_with_partner(&store).await;
    let complete = |overlaps: Vec<RunOverlap>| Completion {
        result: serde_json::json!({}),
        overlaps,
        transcript: None,
        audit: vec![],
        records: 3,
        events: vec![],
        session: "00".into(),
        orders: vec![],
        changes: None,
    };
    let first = start(&store, &org, &dataset, &p).await;
    store
        .complete_run(&org, &first, &complete(vec![overlap("0015g00000NWTRdAAF", "customers", "customers", 1)]))
        .await
        .unwrap();
    let second = start(&store, &org, &dataset, &p).await;
    let overlaps = vec![
        overlap("0015g00000NWTRdAAF", "customers", "customers", 1),
        overlap("0015g00000FBRKmAAC", "customers", "prospects", 2),
        overlap("0015g00000DLTAfAAD", "prospects", "customers", 3),
        overlap("0015g00000SGEQpAAF", "customers", "customers", 4),
    ];
    store.complete_run(&org, &second, &complete(overlaps)).await.unwrap();
    let run = store.run(&org, &second).await.unwrap();
    let names = |rows: &[blindmap_store::ReportRow]| -> Vec<String> {
        rows.iter().map(|r| r.name.clone().unwrap_or_default()).collect()
    };

    let all = ReportFilter::default();
    let (rows, total) = store.report_page(&org, &run, &all, 0, 10).await.unwrap();
    assert_eq!(total, 4);
    assert_eq!(
        names(&rows),
        ["Delta Inc", "Fabrikam Robotics GmbH", "Northwind Traders Inc.", "Société Générale d'Équipement SAS"],
        "by the name as the export wrote it"
    );
    let northwind = &rows[2];
    assert_eq!(northwind.owner.as_deref(), Some("Ada Byron"));
    assert!(northwind.keys.contains(&"domain:northwindtraders.com".to_owned()), "{:?}", northwind.keys);
    assert_eq!(northwind.partner_fields["Owner"].as_deref(), Some("Kim"));
    assert_eq!(northwind.cosell, None);

    let page = |filter: ReportFilter, offset, limit| {
        let (store, org, run) = (store.clone(), org.clone(), run.clone());
        async move { store.report_page(&org, &run, &filter, offset, limit).await.unwrap() }
    };
    let (rows, total) = page(ReportFilter { owner: Some("Ada Byron".into()), ..all.clone() }, 0, 10).await;
    assert_eq!((total, rows.len()), (2, 2));
    let (rows, _) = page(ReportFilter { search: Some("ROBOT".into()), ..all.clone() }, 0, 10).await;
    assert_eq!(names(&rows), ["Fabrikam Robotics GmbH"]);
    let (rows, _) = page(ReportFilter { search: Some("%".into()), ..all.clone() }, 0, 10).await;
    assert!(rows.is_empty(), "wildcards are searched for as characters");
    let (rows, _) = page(
        ReportFilter {
            own_segment: Some("customers".into()),
            partner_segment: Some("customers".into()),
            ..all.clone()
        },
        0,
        10,
    )
    .await;
    assert_eq!(rows.len(), 2);
    let since = ReportFilter { previous: Some(first.clone()), ..all.clone() };
    let (rows, total) = page(since.clone(), 0, 10).await;
    assert_eq!(total, 4);
    let new: Vec<Option<bool>> = rows.iter().map(|r| r.new).collect();
    assert_eq!(new, [Some(true), Some(true), Some(false), Some(true)], "Northwind overlapped before");
    let (rows, total) = page(ReportFilter { new_only: true, ..since }, 0, 10).await;
    assert_eq!(total, 3);
    assert!(rows.iter().all(|r| r.account_id != "0015g00000NWTRdAAF"));
    assert_eq!(store.report_page(&org, &run, &all, 0, 1).await.unwrap().0[0].new, None, "nothing to compare with");
    let (rows, total) = page(ReportFilter { sort: ReportSort::Owner, descending: true, ..all.clone() }, 1, 2).await;
    assert_eq!((total, rows.len()), (4, 2), "a page of two after one");
    assert_eq!(rows[0].owner.as_deref(), Some("Alan Turing"), "Barbara, then Alan, then Ada, Ada");
    assert_eq!(store.report_owners(&org, &run).await.unwrap(), ["Ada Byron", "Alan Turing", "Barbara Liskov"]);
    let mine = store.account_overlaps(&org, "0015g00000DLTAfAAD").await.unwrap();
    assert_eq!(mine.len(), 1);
    assert_eq!((mine[0].1.as_str(), mine[0].2.partner_segment.as_str()), ("Partner", "customers"));
    let other = store.create_organisation("Other").await.unwrap();
    assert!(store.report_page(&other.id, &run, &all, 0, 10).await.is_err(), "another organisation's run");

    // An account that overlaps two of the partner's records: two rows (pairs), one account.
    let third = start(&store, &org, &dataset, &p).await;
    let overlaps = vec![
        overlap("0015g00000NWTRdAAF", "customers", "customers", 1),
        overlap("0015g00000NWTRdAAF", "customers", "prospects", 5),
        overlap("0015g00000FBRKmAAC", "customers", "prospects", 2),
    ];
    store.complete_run(&org, &third, &complete(overlaps)).await.unwrap();
    let run = store.run(&org, &third).await.unwrap();
    assert_eq!(store.report_page(&org, &run, &all, 0, 10).await.unwrap().1, 3, "the rows are pairs");
    assert_eq!(store.report_accounts(&org, &run, &all).await.unwrap(), 2, "behind them, two accounts");
    let prospects = ReportFilter { partner_segment: Some("prospects".into()), ..all.clone() };
    assert_eq!(store.report_accounts(&org, &run, &prospects).await.unwrap(), 2);
    let northwind = ReportFilter { search: Some("northwind".into()), ..all.clone() };
    assert_eq!(store.report_page(&org, &run, &northwind, 0, 10).await.unwrap().1, 2);
    assert_eq!(store.report_accounts(&org, &run, &northwind).await.unwrap(), 1);
    assert!(store.report_accounts(&other.id, &run, &all).await.is_err(), "another organisation's run");
}

/// The partner's shared fields sort and filter in the database; the accounts lost since the
/// previous match are the previous run's rows with no overlap in the latest; a report across
/// partners reads the latest complete run with each, compares each row with its own partner's
/// previous run, and is the organisation's alone.
async fn reports_sort_and_filter_by_shared_fields_list_lost_accounts_and_span_partners(store: Store) {
    use blindmap_store::{ReportFilter, ReportScope, ReportSort};
    let (org, dataset, p) = org_with_partner(&store).await;
    let q = store
        .create_partnership(&PartnershipId::generate(), &org, "Another", "https://q", "sha256:bb", "pt_ref2")
        .await
        .unwrap();
    let shared = |account: &str, record: u32, owner: &str, stage: Option<&str>| RunOverlap {
        fields: BTreeMap::from([
            ("owner".to_owned(), Some(owner.to_owned())),
            ("stage".to_owned(), stage.map(str::to_owned)),
        ]),
        ..overlap(account, "customers", "customers", record)
    };
    let complete = |overlaps: Vec<RunOverlap>| Completion {
        result: serde_json::json!({}),
        overlaps,
        transcript: None,
        audit: vec![],
        records: 3,
        events: vec![],
        session: "00".into(),
        orders: vec![],
        changes: None,
    };
    let (northwind, fabrikam, delta, societe) =
        ("0015g00000NWTRdAAF", "0015g00000FBRKmAAC", "0015g00000DLTAfAAD", "0015g00000SGEQpAAF");
    let run_with = |partnership: Partnership, overlaps: Vec<RunOverlap>| {
        let (store, org, dataset) = (store.clone(), org.clone(), dataset.clone());
        async move {
            // Runs are ordered by their start (milliseconds): one after the other.
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
            let id = RunId::generate();
            let run = NewRun {
                id: &id,
                org: &org,
                partnership: &partnership.id,
                role: RunRole::Initiator,
                dataset: &dataset,
                started_by: "ada",
                sharing: &SharingPolicy::default(),
            };
            store.start_run(&run).await.unwrap();
            store.complete_run(&org, &id, &complete(overlaps)).await.unwrap();
            store.run(&org, &id).await.unwrap()
        }
    };
    let first = run_with(p.clone(), vec![shared(northwind, 1, "Kim", None), shared(fabrikam, 2, "Lee", None)]).await;
    let latest = run_with(
        p.clone(),
        vec![shared(northwind, 1, "zoe", Some("won")), shared(delta, 2, "Kim", None), shared(societe, 3, "Abe", None)],
    )
    .await;
    let other_partner = run_with(q.clone(), vec![shared(northwind, 7, "Yan", Some("open"))]).await;
    let names = |rows: &[blindmap_store::ReportRow]| -> Vec<String> {
        rows.iter().map(|r| r.name.clone().unwrap_or_default()).collect()
    };
    let all = ReportFilter::default();
    let page = |scope_run: Option<&blindmap_store::Run>, filter: ReportFilter| {
        let (store, org, run) = (store.clone(), org.clone(), scope_run.cloned());
        async move {
            let scope = run.as_ref().map_or(ReportScope::Latest, ReportScope::Run);
            store.report_page_in(&org, scope, &filter, 0, 10).await.unwrap()
        }
    };

    // Sorted by a shared field, in any case, absent values first; filtered by a part of one.
    let by_owner = ReportFilter { sort: ReportSort::PartnerField("owner".into()), ..all.clone() };
    let (rows, _) = page(Some(&latest), by_owner.clone()).await;
    assert_eq!(names(&rows), ["Société Générale d'Équipement SAS", "Delta Inc", "Northwind Traders Inc."]);
    let (rows, _) = page(Some(&latest), ReportFilter { descending: true, ..by_owner }).await;
    assert_eq!(names(&rows)[0], "Northwind Traders Inc.", "zoe last ascending, first descending");
    let (rows, _) =
        page(Some(&latest), ReportFilter { sort: ReportSort::PartnerField("stage".into()), ..all.clone() }).await;
    assert_eq!(names(&rows)[2], "Northwind Traders Inc.", "the only stage shared sorts after the absent ones");
    let field =
        |name: &str, text: &str| ReportFilter { partner_fields: vec![(name.into(), text.into())], ..all.clone() };
    let (rows, total) = page(Some(&latest), field("owner", "ZO")).await;
    assert_eq!((names(&rows), total), (vec!["Northwind Traders Inc.".to_owned()], 1));
    assert_eq!(page(Some(&latest), field("owner", "%")).await.1, 0, "wildcards are characters");
    assert_eq!(page(Some(&latest), field("Owner'; --", "k")).await.1, 0, "not a field name: nothing");
    assert_eq!(page(Some(&latest), field("stage", "won")).await.1, 1);
    assert_eq!(page(Some(&latest), field("owner", "  ")).await.1, 3, "a blank filter filters nothing");

    // Lost since the previous match: Fabrikam overlapped then, and nowhere now.
    let lost = ReportFilter { gone_from: Some(latest.id.clone()), ..all.clone() };
    let (rows, total) = page(Some(&first), lost.clone()).await;
    assert_eq!((names(&rows), total), (vec!["Fabrikam Robotics GmbH".to_owned()], 1));
    assert_eq!(rows[0].partner_fields["owner"].as_deref(), Some("Lee"), "as the previous match had it");
    assert_eq!(store.report_accounts_in(&org, ReportScope::Run(&first), &lost).await.unwrap(), 1);
    let none_lost = ReportFilter { gone_from: Some(first.id.clone()), ..all.clone() };
    assert_eq!(page(Some(&first), none_lost).await.1, 0);

    // Across partners: the latest run with each (not the first run with Partner).
    let (rows, total) = page(None, all.clone()).await;
    assert_eq!(total, 4, "three pairs with Partner, one with Another");
    assert_eq!(store.report_accounts_in(&org, ReportScope::Latest, &all).await.unwrap(), 3, "Northwind counted once");
    assert_eq!(store.report_counts_in(&org, ReportScope::Latest, &all).await.unwrap(), (4, 3), "both in one pass");
    let by_owner = ReportFilter { partner_fields: vec![("owner".into(), "k".into())], ..all.clone() };
    assert_eq!(store.report_counts_in(&org, ReportScope::Run(&latest), &by_owner).await.unwrap(), (1, 1));
    let fourth = store.report_rows_in(&org, ReportScope::Latest, &all, 3, 10, None).await.unwrap();
    assert_eq!(names(&fourth), ["Société Générale d'Équipement SAS"], "the fourth row, uncounted");
    assert!(store.report_counts_in(&other_org_probe(&store).await, ReportScope::Run(&latest), &all).await.is_err());
    let partners: Vec<(&str, &str, Option<bool>)> =
        rows.iter().map(|r| (r.account_id.as_str(), r.partner_name.as_str(), r.new)).collect();
    assert_eq!(
        partners,
        [
            (delta, "Partner", Some(true)),
            (northwind, "Partner", Some(false)),
            (northwind, "Another", None),
            (societe, "Partner", Some(true)),
        ],
        "by name (then the partner's record); each compared with its own partner's previous match (Another has none)"
    );
    assert!(
        rows.iter().all(|r| r.partnership == if r.partner_name == "Partner" { p.id.clone() } else { q.id.clone() })
    );
    let (rows, _) = page(None, ReportFilter { sort: ReportSort::Partner, ..all.clone() }).await;
    assert_eq!(rows[0].partner_name, "Another");
    let (rows, total) = page(None, ReportFilter { partnership: Some(q.id.clone()), ..all.clone() }).await;
    assert_eq!((total, rows[0].partner_fields["owner"].as_deref()), (1, Some("Yan")));
    assert_eq!(
        page(None, ReportFilter { new_only: true, ..all.clone() }).await.1,
        3,
        "Delta, Société and Another's first"
    );
    assert_eq!(page(None, field("stage", "open")).await.1, 1);
    let mut each = Vec::new();
    let n = store.report_each_in(&org, ReportScope::Latest, &all, |r| each.push(r.account_id)).await.unwrap();
    assert_eq!((n, each.len()), (4, 4));
    let owners = store.report_owners_in(&org, ReportScope::Latest).await.unwrap();
    assert!(owners.contains(&"Ada Byron".to_owned()) && owners.is_sorted(), "the accounts' own owners: {owners:?}");
    let mine = store.account_overlaps(&org, northwind).await.unwrap();
    let partners: Vec<&str> = mine.iter().map(|(_, name, _)| name.as_str()).collect();
    assert_eq!(partners, ["Another", "Partner"]);
    assert_eq!(mine[1].0, p.id);
    assert_eq!(other_partner.partnership, q.id);

    // Another organisation's report across partners is its own: empty.
    let other = store.create_organisation("Other").await.unwrap();
    assert_eq!(store.report_page_in(&other.id, ReportScope::Latest, &all, 0, 10).await.unwrap().1, 0);
    assert!(store.report_page_in(&other.id, ReportScope::Run(&latest), &all, 0, 10).await.is_err());
}

/// A fresh organisation, to ask for another's run.
async fn other_org_probe(store: &Store) -> OrgId {
    store.create_organisation("Probe").await.unwrap().id
}

async fn idempotency_keys_lapse_or_are_released_when_their_request_is_gone(store: Store) {
    use blindmap_store::{Backend, Claim};
    let org = store.create_organisation("Vendor").await.unwrap();
    let Claim::Proceed { holder } = store.claim_idempotent(&org.id, "k", "h").await.unwrap() else { panic!("new") };
    assert!(matches!(store.claim_idempotent(&org.id, "k", "h").await.unwrap(), Claim::InFlight { .. }));
    assert_eq!(store.claim_idempotent(&org.id, "k", "other").await.unwrap(), Claim::Mismatch);
    assert!(store.renew_idempotent(&org.id, "k", &holder).await.unwrap());
    // Its request is gone: on SQLite the node's next start releases it, on PostgreSQL it lapses.
    match store.backend() {
        Backend::Sqlite => assert_eq!(store.release_abandoned_idempotency_keys().await.unwrap(), 1),
        Backend::Postgres => {
            assert_eq!(store.release_abandoned_idempotency_keys().await.unwrap(), 0, "leases lapse instead");
            blindmap_store::testing::age_idempotency_lease(
                &store,
                &org.id,
                "k",
                blindmap_store::IDEMPOTENCY_LEASE_MS + 1,
            )
            .await;
        }
    }
    let Claim::Proceed { holder: taken } = store.claim_idempotent(&org.id, "k", "h").await.unwrap() else {
        panic!("the retry runs")
    };
    // The first holder, if it was only slow, can no longer renew, finish or release it.
    if store.backend() == Backend::Postgres {
        assert!(!store.renew_idempotent(&org.id, "k", &holder).await.unwrap());
    }
    store.finish_idempotent(&org.id, "k", &holder, 201, "{\"late\":true}").await.unwrap();
    store.release_idempotent(&org.id, "k", &holder).await.unwrap();
    store.finish_idempotent(&org.id, "k", &taken, 201, "{\"id\":1}").await.unwrap();
    assert_eq!(
        store.claim_idempotent(&org.id, "k", "h").await.unwrap(),
        Claim::Replay { status: 201, response: "{\"id\":1}".into() }
    );
}

/// An overlap matched on `key_types`, of `tier`.
fn overlap_on(account: &str, partner: &str, record: u32, key_types: &[&str], tier: blindmap_store::Tier) -> RunOverlap {
    RunOverlap {
        key_types: key_types.iter().map(|k| (*k).to_owned()).collect(),
        tier,
        reason: format!("{tier}: test"),
        ..overlap(account, "customers", partner, record)
    }
}

/// Completes a new run of `p` with `overlaps`; the run.
async fn run_with(
    store: &Store,
    org: &OrgId,
    dataset: &DatasetId,
    p: &Partnership,
    overlaps: Vec<RunOverlap>,
) -> blindmap_store::Run {
    let id = RunId::generate();
    let run = NewRun {
        id: &id,
        org,
        partnership: &p.id,
        role: RunRole::Initiator,
        dataset,
        started_by: "ada",
        sharing: &SharingPolicy::default(),
    };
    store.start_run(&run).await.unwrap();
    let completion = Completion {
        result: serde_json::json!({}),
        overlaps,
        transcript: None,
        audit: vec![],
        records: 3,
        events: vec![],
        session: "00".into(),
        orders: vec![],
        changes: None,
    };
    store.complete_run(org, &id, &completion).await.unwrap();
    store.run(org, &id).await.unwrap()
}

const NORTHWIND: &str = "0015g00000NWTRdAAF";
const FABRIKAM: &str = "0015g00000FBRKmAAC";
const DELTA: &str = "0015g00000DLTAfAAD";
const SOCIETE: &str = "0015g00000SGEQpAAF";

fn correction<'a>(
    p: &'a Partnership,
    account: &'a str,
    kind: blindmap_store::CorrectionKind,
    key_types: &'a [String],
) -> blindmap_store::NewCorrection<'a> {
    blindmap_store::NewCorrection {
        partnership: &p.id,
        account_id: account,
        account_name: Some("as corrected"),
        kind,
        key_types,
        note: Some("not the same company"),
        by: "rita",
    }
}

fn types(list: &[&str]) -> Vec<String> {
    list.iter().map(|k| (*k).to_owned()).collect()
}

/// `(account, partner segment, partner record)` of every row a report of `run` lists.
async fn listed(store: &Store, org: &OrgId, run: &blindmap_store::Run) -> Vec<(String, String, u32)> {
    let (rows, total) = store.report_page(org, run, &blindmap_store::ReportFilter::default(), 0, 100).await.unwrap();
    assert_eq!(total, rows.len() as u64, "the total counts what is listed");
    let mut out: Vec<_> =
        rows.into_iter().map(|r| (r.account_id, r.partner_segment, r.partner_record.unwrap())).collect();
    out.sort();
    out
}

async fn corrections_hide_matches_wherever_overlaps_are_read(store: Store) {
    use blindmap_store::{CorrectionKind, ReportFilter, ReportScope, Tier};
    let (org, dataset, p) = org_with_partner(&store).await;
    let overlaps = vec![
        overlap_on(NORTHWIND, "customers", 1, &["domain"], Tier::Confirmed),
        overlap_on(NORTHWIND, "prospects", 5, &["name_country"], Tier::Possible),
        overlap_on(FABRIKAM, "customers", 2, &["name_country"], Tier::Possible),
        overlap_on(DELTA, "customers", 3, &["name_country", "domain"], Tier::Confirmed),
        overlap_on(SOCIETE, "customers", 4, &["duns"], Tier::Confirmed),
    ];
    let run = run_with(&store, &org, &dataset, &p, overlaps.clone()).await;
    assert_eq!(listed(&store, &org, &run).await.len(), 5);

    // Northwind's name-only match with the partner's prospect is wrong; Fabrikam never matches;
    // Delta's name is wrong, but its domain agrees: a correction on the name leaves that match.
    let name = types(&["name_country"]);
    let (wrong, created) =
        store.add_correction(&org, &correction(&p, NORTHWIND, CorrectionKind::NotThisMatch, &name)).await.unwrap();
    assert!(created);
    assert!(wrong.id.as_str().starts_with("mc_"));
    assert_eq!((wrong.partner_name.as_str(), wrong.key_types.clone()), ("Partner", name.clone()));
    assert_eq!(wrong.account_name.as_deref(), Some("Northwind Traders Inc."), "the active dataset's name");
    let none = Vec::new();
    store.add_correction(&org, &correction(&p, FABRIKAM, CorrectionKind::NeverMatch, &none)).await.unwrap();
    store.add_correction(&org, &correction(&p, DELTA, CorrectionKind::NotThisMatch, &name)).await.unwrap();

    let shown = vec![
        (DELTA.to_owned(), "customers".to_owned(), 3),
        (NORTHWIND.to_owned(), "customers".to_owned(), 1),
        (SOCIETE.to_owned(), "customers".to_owned(), 4),
    ];
    assert_eq!(listed(&store, &org, &run).await, shown, "at once, in the latest match");
    // The same rule in Rust, for what is not stored yet (a run about to complete).
    let active = store.active_corrections(&org, &p.id).await.unwrap();
    let mut kept: Vec<_> = overlaps
        .iter()
        .filter(|o| !active.iter().any(|c| c.account_id == o.account_id && c.hides(&o.key_types)))
        .map(|o| (o.account_id.clone(), o.partner_segment.clone(), o.partner_record.unwrap()))
        .collect();
    kept.sort();
    assert_eq!(kept, shown, "Correction::hides is the SQL's rule");

    // Every other reading agrees: counts, cells, owners, the run's overlaps, the account view,
    // what changes compare.
    let all = ReportFilter::default();
    assert_eq!(store.report_pairs(&org, &run, &all).await.unwrap(), 3);
    assert_eq!(store.report_accounts(&org, &run, &all).await.unwrap(), 3);
    // Counted from the totals stored with the run less what the corrections hide (Northwind
    // keeps one of its two rows, so it still counts as an account), as counting every row does.
    let stored = blindmap_store::Listed { pairs: 5, accounts: 4, confirmed_pairs: 3, confirmed_accounts: 3 };
    assert_eq!(run.listed, Some(stored));
    let row_by_row = blindmap_store::Run { listed: None, ..run.clone() };
    for (tier, expected) in [(None, (3, 3)), (Some(Tier::Confirmed), (3, 3)), (Some(Tier::Possible), (0, 0))] {
        let filter = ReportFilter { tier, ..all.clone() };
        let fast = store.report_counts_in(&org, ReportScope::Run(&run), &filter).await.unwrap();
        let slow = store.report_counts_in(&org, ReportScope::Run(&row_by_row), &filter).await.unwrap();
        assert_eq!((fast, slow), (expected, expected), "{tier:?}");
    }
    let possible = ReportFilter { tier: Some(Tier::Possible), ..all.clone() };
    assert_eq!(store.report_page(&org, &run, &possible, 0, 10).await.unwrap().1, 0, "both possible ones corrected");
    let cells = store.report_cells(&org, &run).await.unwrap();
    assert_eq!(cells.len(), 1, "{cells:?}");
    assert_eq!((cells[0].partner_segment.as_str(), cells[0].confirmed, cells[0].possible), ("customers", 3, 0));
    let owners = store.report_owners(&org, &run).await.unwrap();
    assert!(!owners.is_empty());
    let page = store.overlaps_page(&org, &run.id, &OverlapFilter::default(), None, 100).await.unwrap();
    let mut seen: Vec<_> = page.iter().map(|l| l.overlap.account_id.clone()).collect();
    seen.sort();
    assert_eq!(seen, [DELTA, NORTHWIND, SOCIETE]);
    let accounts = store.overlap_accounts(&org, &run.id).await.unwrap();
    assert!(accounts.get(&("customers".to_owned(), "prospects".to_owned())).is_none_or(|a| a.is_empty()));
    assert!(!accounts[&("customers".to_owned(), "customers".to_owned())].contains_key(FABRIKAM));
    assert!(store.account_overlaps(&org, FABRIKAM).await.unwrap().is_empty(), "the account view too");
    assert_eq!(store.account_overlaps(&org, NORTHWIND).await.unwrap().len(), 1);
    // What a correction is checked against is what the run found, corrected or not.
    assert_eq!(store.account_key_types(&org, &run.id, FABRIKAM).await.unwrap(), std::slice::from_ref(&name));
    assert_eq!(store.active_account(&org, FABRIKAM).await.unwrap(), Some(Some("Fabrikam Robotics GmbH".into())));
    assert_eq!(store.active_account(&org, "nobody").await.unwrap(), None);

    // A later match: the corrections hold, except where new evidence came — Northwind now
    // matches the prospect on a domain too.
    let later = run_with(
        &store,
        &org,
        &dataset,
        &p,
        vec![
            overlap_on(NORTHWIND, "prospects", 5, &["domain", "name_country"], Tier::Confirmed),
            overlap_on(NORTHWIND, "prospects", 6, &["name_country"], Tier::Possible),
            overlap_on(FABRIKAM, "customers", 2, &["domain"], Tier::Confirmed),
            overlap_on(SOCIETE, "customers", 4, &["duns"], Tier::Confirmed),
        ],
    )
    .await;
    let expected =
        vec![(NORTHWIND.to_owned(), "prospects".to_owned(), 5), (SOCIETE.to_owned(), "customers".to_owned(), 4)];
    assert_eq!(listed(&store, &org, &later).await, expected);

    // Another partnership's matches of the same account are its own.
    let other = store
        .create_partnership(&PartnershipId::generate(), &org, "Other Partner", "https://o", "sha256:bb", "pt_o")
        .await
        .unwrap();
    let theirs = run_with(
        &store,
        &org,
        &dataset,
        &other,
        vec![overlap_on(FABRIKAM, "customers", 0, &["name_country"], Tier::Possible)],
    )
    .await;
    assert_eq!(listed(&store, &org, &theirs).await.len(), 1, "corrections are per partnership");
}

async fn corrections_are_listed_removed_and_kept_per_organisation(store: Store) {
    use blindmap_store::{CorrectionKind, Tier};
    let (org, dataset, p) = org_with_partner(&store).await;
    let run = run_with(
        &store,
        &org,
        &dataset,
        &p,
        vec![
            overlap_on(NORTHWIND, "customers", 1, &["name_country"], Tier::Possible),
            overlap_on(FABRIKAM, "customers", 2, &["name_country"], Tier::Possible),
            overlap_on(DELTA, "customers", 3, &["domain"], Tier::Confirmed),
        ],
    )
    .await;
    let (name, none) = (types(&["name_country"]), Vec::new());
    let (first, _) =
        store.add_correction(&org, &correction(&p, NORTHWIND, CorrectionKind::NotThisMatch, &name)).await.unwrap();
    // The same again, key types in another order and repeated: the one already there.
    let again = types(&["name_country", "name_country"]);
    let (repeat, created) =
        store.add_correction(&org, &correction(&p, NORTHWIND, CorrectionKind::NotThisMatch, &again)).await.unwrap();
    assert_eq!((repeat.id.clone(), created), (first.id.clone(), false));
    let (second, _) =
        store.add_correction(&org, &correction(&p, FABRIKAM, CorrectionKind::NeverMatch, &none)).await.unwrap();
    let (third, _) =
        store.add_correction(&org, &correction(&p, DELTA, CorrectionKind::NeverMatch, &name)).await.unwrap();
    assert!(third.key_types.is_empty(), "never_match keeps no key types");
    assert_eq!(blindmap_store::testing::count_rows(&store, "match_corrections").await, 3);

    // Listed newest first, in pages.
    let ids = |list: Vec<blindmap_store::Correction>| list.into_iter().map(|c| c.id).collect::<Vec<_>>();
    let page = store.corrections_page(&org, Some(&p.id), None, 2).await.unwrap();
    assert_eq!(ids(page.clone()), [third.id.clone(), second.id.clone()]);
    let rest = store.corrections_page(&org, None, Some(&page[1].id), 2).await.unwrap();
    assert_eq!(ids(rest), std::slice::from_ref(&first.id));
    assert_eq!(page[0].note.as_deref(), Some("not the same company"));
    assert_eq!(page[0].created_by, "rita");
    assert!(listed(&store, &org, &run).await.is_empty());

    // Another organisation: nothing to read, remove or make in this one's partnership.
    let stranger = store.create_organisation("Stranger").await.unwrap().id;
    assert!(matches!(store.correction(&stranger, &first.id).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.remove_correction(&stranger, &first.id, "eve").await, Err(StoreError::NotFound(_))));
    assert!(store.corrections_page(&stranger, None, None, 10).await.unwrap().is_empty());
    assert!(store.active_corrections(&stranger, &p.id).await.unwrap().is_empty());
    let theirs = correction(&p, DELTA, CorrectionKind::NeverMatch, &none);
    assert!(matches!(store.add_correction(&stranger, &theirs).await, Err(StoreError::NotFound(_))));
    assert_eq!(store.correction(&org, &first.id).await.unwrap().removed_at, None, "nothing changed");
    assert_eq!(blindmap_store::testing::count_rows(&store, "match_corrections").await, 3);

    // Removed: its matches show at once; the row stays, with who and when; twice is once.
    let (removed, now) = store.remove_correction(&org, &first.id, "ada").await.unwrap();
    assert!(now && removed.removed_at.is_some());
    assert_eq!(removed.removed_by.as_deref(), Some("ada"));
    assert_eq!(listed(&store, &org, &run).await, [(NORTHWIND.to_owned(), "customers".to_owned(), 1)]);
    let (still, now) = store.remove_correction(&org, &first.id, "bob").await.unwrap();
    assert!(!now);
    assert_eq!(still.removed_by.as_deref(), Some("ada"));
    assert_eq!(ids(store.corrections_page(&org, None, None, 10).await.unwrap()), [third.id.clone(), second.id]);
    assert_eq!(blindmap_store::testing::count_rows(&store, "match_corrections").await, 3, "kept for the audit");
    // Made again after removal: a new correction.
    let (anew, created) =
        store.add_correction(&org, &correction(&p, NORTHWIND, CorrectionKind::NotThisMatch, &name)).await.unwrap();
    assert!(created && anew.id != first.id);

    // The audit trail: each made and removed, naming the correction and never the account.
    let trail = store.audit_trail(&org, 20).await.unwrap();
    let of = |kind: &str| trail.iter().filter(|e| e.kind == kind).collect::<Vec<_>>();
    assert_eq!((of("match.corrected").len(), trail.len()), (4, 5), "{trail:?}");
    let removal = of("match.correction_removed");
    assert_eq!(
        (removal[0].actor.as_str(), &removal[0].detail["correction"]),
        ("ada", &serde_json::json!(first.id.as_str()))
    );
    assert!(trail.iter().all(|e| !e.detail.to_string().contains("0015g")), "no account ids in the trail");
}

/// Every way a page is read (a run's list from its nearer end, the list across partners merged
/// from each partner's first rows, or walked partner by partner) gives the same rows as reading
/// the whole list at once, in every order, either direction, any page size: no row twice, none
/// left out, totals that agree.
async fn report_pages_read_in_pieces_agree_with_one_read_in_every_order(store: Store) {
    use blindmap_store::{ReportFilter, ReportRow, ReportScope, ReportSort, ReportStart, Tier};
    let (org, dataset, p) = org_with_partner(&store).await;
    let mut partners = vec![p];
    for name in ["alpha", "Zeta", "Alpha"] {
        let id = PartnershipId::generate();
        partners.push(store.create_partnership(&id, &org, name, "https://q", "sha256:bb", "pt_x").await.unwrap());
    }
    // Accounts of the export (names with accents, in any case) and two it does not have (listed
    // by their ids); one account matches several records; partners share an owner field or not.
    let ids = vendor_account_ids();
    assert!(ids.len() > 20);
    let unknown = ["zz-not-in-the-export", "AA-not-in-the-export"];
    let mut runs = Vec::new();
    for (k, partner) in partners.iter().enumerate() {
        let mut overlaps = Vec::new();
        for (i, account) in ids.iter().chain(unknown.iter()).enumerate() {
            if (i + k) % 3 == 0 {
                continue;
            }
            let segment = if i % 2 == 0 { "customers" } else { "prospects" };
            let tier = if (i + k) % 4 == 0 { Tier::Possible } else { Tier::Confirmed };
            let mut o = overlap_on(account, segment, u32::try_from(i).unwrap(), &["domain"], tier);
            if k % 2 == 0 {
                o.fields = BTreeMap::from([("owner".to_owned(), (i % 5 != 0).then(|| format!("rep {}", i % 6)))]);
            }
            if i % 7 == 0 {
                overlaps.push(RunOverlap { partner_record: Some(u32::try_from(i + 100).unwrap()), ..o.clone() });
            }
            overlaps.push(o);
        }
        runs.push(run_with(&store, &org, &dataset, partner, overlaps).await);
    }
    let id = |r: &ReportRow| (r.partnership.clone(), r.account_id.clone(), r.partner_segment.clone(), r.partner_record);
    let sorts = [
        ReportSort::Account,
        ReportSort::OwnSegment,
        ReportSort::PartnerSegment,
        ReportSort::Owner,
        ReportSort::Partner,
        ReportSort::PartnerField("owner".into()),
    ];
    // Across partners (all four, with names that sort by case and accent), and one run of each
    // kind (with a shared owner field, without): the other two runs read as these do.
    let scopes: Vec<ReportScope<'_>> =
        std::iter::once(ReportScope::Latest).chain(runs.iter().take(2).map(ReportScope::Run)).collect();
    // The filters the lists read by index: a segment (a cell of each run), an owner, a value
    // of a partner's field (one value; every value, in one cell; a field nobody shares).
    let owner = store
        .report_owners_in(&org, ReportScope::Latest)
        .await
        .unwrap()
        .into_iter()
        .nth(1)
        .expect("the export has owners");
    let narrowed = [
        ReportFilter { own_segment: Some("customers".into()), ..ReportFilter::default() },
        ReportFilter { partner_segment: Some("prospects".into()), ..ReportFilter::default() },
        ReportFilter { owner: Some(owner), ..ReportFilter::default() },
        ReportFilter {
            own_segment: Some("customers".into()),
            partner_segment: Some("customers".into()),
            ..ReportFilter::default()
        },
        ReportFilter { partner_fields: vec![("owner".into(), "Rep 1".into())], ..ReportFilter::default() },
        ReportFilter {
            partner_fields: vec![("owner".into(), " rep ".into())],
            own_segment: Some("customers".into()),
            ..ReportFilter::default()
        },
        ReportFilter { partner_fields: vec![("region".into(), "x".into())], ..ReportFilter::default() },
    ];
    for scope in scopes {
        for sort in &sorts {
            for descending in [false, true] {
                let filters = [None, Some(Tier::Confirmed)]
                    .map(|tier| ReportFilter { tier, ..ReportFilter::default() })
                    .into_iter()
                    .chain(narrowed.iter().cloned());
                for filter in filters {
                    let filter = ReportFilter { sort: sort.clone(), descending, ..filter };
                    let what = format!("{scope:?} {filter:?}");
                    let (pairs, accounts) = store.report_counts_in(&org, scope, &filter).await.unwrap();
                    let walked = matches!(scope, ReportScope::Latest) && *sort == ReportSort::Partner;
                    // The whole list as the export streams it (in the pages' order, but by
                    // partner across partners: the partners' names sorted as the store sorts
                    // them, the export as the database does).
                    let mut rows = Vec::new();
                    store.report_each_in(&org, scope, &filter, |r| rows.push(r)).await.unwrap();
                    let whole = if walked {
                        let whole = store.report_rows_in(&org, scope, &filter, 0, 10_000, None).await.unwrap();
                        let (mut listed, mut streamed): (Vec<_>, Vec<_>) =
                            (whole.iter().map(id).collect(), rows.iter().map(id).collect());
                        listed.sort();
                        streamed.sort();
                        assert_eq!(listed, streamed, "{what}: the export lists the same rows");
                        whole
                    } else {
                        rows
                    };
                    assert_eq!(whole.len() as u64, pairs, "{what}");
                    let distinct: std::collections::BTreeSet<_> = whole.iter().map(|r| &r.account_id).collect();
                    assert_eq!(distinct.len() as u64, accounts, "{what}");
                    if let Some(kept) = store.report_counts_kept(&org, scope, &filter).await.unwrap() {
                        assert_eq!(kept, (pairs, accounts), "{what}: the counts kept");
                    }
                    if *sort == ReportSort::Account {
                        let names: Vec<String> = whole
                            .iter()
                            .map(|r| r.name.clone().unwrap_or(r.account_id.clone()).to_lowercase())
                            .collect();
                        let mut sorted = names.clone();
                        sorted.sort();
                        if descending {
                            sorted.reverse();
                        }
                        // SQLite lower-cases ASCII only: compare where the names are ASCII.
                        let ascii = |v: &[String]| v.iter().filter(|n| n.is_ascii()).cloned().collect::<Vec<_>>();
                        assert_eq!(ascii(&names), ascii(&sorted), "{what}: by name");
                    }
                    let whole: Vec<_> = whole.iter().map(id).collect();
                    {
                        // Page after page by the last row's cursor, and back by the first's.
                        let pieced: Vec<_> = by_cursor(&store, &org, scope, &filter, 5).await.iter().map(id).collect();
                        assert_eq!(pieced, whole, "{what}: forwards by cursor");
                        let (mut back, mut start) = (Vec::new(), ReportStart::Offset(pairs.saturating_sub(5)));
                        loop {
                            let page =
                                store.report_rows_at(&org, scope, &filter, &start, 5, Some(pairs)).await.unwrap();
                            let Some(first) = page.first() else { break };
                            start = ReportStart::Before(first.cursor());
                            back.splice(0..0, page.iter().map(id));
                        }
                        assert_eq!(back, whole, "{what}: backwards by cursor from the last page");
                    }
                    // By offset: a page size that divides nothing here, with and without the
                    // total (which picks the nearer end to read from).
                    for (size, total) in [(4_u32, None), (11, Some(pairs))] {
                        let mut pieced = Vec::new();
                        let mut offset = 0;
                        while offset < pairs {
                            let page = store.report_rows_in(&org, scope, &filter, offset, size, total).await.unwrap();
                            assert!(!page.is_empty(), "{what}: page at {offset}");
                            offset += page.len() as u64;
                            pieced.extend(page.iter().map(id));
                        }
                        assert_eq!(pieced, whole, "{what}: pages of {size}, total {total:?}");
                    }
                }
            }
        }
    }

    // A search finds the accounts whose name or id contains it (the lists look those accounts'
    // overlaps up): the same rows as filtering the whole list, counted alike, paged alike.
    for scope in std::iter::once(ReportScope::Latest).chain(runs.iter().map(ReportScope::Run)) {
        let everything = ReportFilter { tier: None, ..ReportFilter::default() };
        let all = store.report_rows_in(&org, scope, &everything, 0, 10_000, None).await.unwrap();
        for q in ["inc", "0015G00000D", "nothing like it"] {
            let filter = ReportFilter { search: Some(q.to_owned()), ..everything.clone() };
            // Of the accounts of the run's dataset: a match only lists those (this test alone
            // writes overlaps of accounts the export lacks, for the order by id).
            let expected: Vec<_> = all
                .iter()
                .filter(|r| !unknown.contains(&r.account_id.as_str()))
                .filter(|r| {
                    let text = format!("{} {}", r.name.clone().unwrap_or_default(), r.account_id).to_lowercase();
                    text.contains(&q.to_lowercase())
                })
                .map(id)
                .collect();
            let found = store.report_rows_in(&org, scope, &filter, 0, 10_000, None).await.unwrap();
            assert_eq!(found.iter().map(id).collect::<Vec<_>>(), expected, "{scope:?} {q}");
            let accounts: std::collections::BTreeSet<_> = found.iter().map(|r| r.account_id.clone()).collect();
            let counted = store.report_counts_in(&org, scope, &filter).await.unwrap();
            assert_eq!(counted, (found.len() as u64, accounts.len() as u64), "{scope:?} {q}");
            let second = store.report_rows_in(&org, scope, &filter, 3, 3, Some(counted.0)).await.unwrap();
            assert_eq!(
                second.iter().map(id).collect::<Vec<_>>(),
                expected.iter().skip(3).take(3).cloned().collect::<Vec<_>>()
            );
        }
    }

    // A second match with the first partner leaves out the odd accounts; corrections then hide
    // a lost account, both rows of another, and an account still there. What was lost, and each
    // run's cells, are counted from the totals stored with the runs as from the rows.
    let first = &runs[0];
    let kept: Vec<RunOverlap> = store
        .report_rows_in(&org, ReportScope::Run(first), &ReportFilter::default(), 0, 10_000, None)
        .await
        .unwrap()
        .into_iter()
        .filter(|r| ids.iter().position(|i| *i == r.account_id).is_some_and(|i| i % 2 == 0))
        .map(|r| overlap_on(&r.account_id, &r.partner_segment, r.partner_record.unwrap(), &["domain"], r.tier))
        .collect();
    let second = run_with(&store, &org, &dataset, &partners[0], kept).await;
    let gone = ReportFilter { gone_from: Some(second.id.clone()), tier: None, ..ReportFilter::default() };
    let lost = |store: Store, org: OrgId, run: blindmap_store::Run, gone: ReportFilter| async move {
        let counted = store.report_counts_in(&org, ReportScope::Run(&run), &gone).await.unwrap();
        let rows = store.report_rows_in(&org, ReportScope::Run(&run), &gone, 0, 10_000, None).await.unwrap();
        let accounts: std::collections::BTreeSet<_> = rows.iter().map(|r| r.account_id.clone()).collect();
        assert_eq!(counted, (rows.len() as u64, accounts.len() as u64), "stored and counted agree");
        counted
    };
    let before = lost(store.clone(), org.clone(), first.clone(), gone.clone()).await;
    assert!(before.1 > 5, "{before:?}");
    let domain = types(&["domain"]);
    let none = Vec::new();
    use blindmap_store::CorrectionKind::{NeverMatch, NotThisMatch};
    for (account, kind, types) in
        [(ids[1], NeverMatch, &none), (ids[7], NotThisMatch, &domain), (ids[2], NeverMatch, &none)]
    {
        store.add_correction(&org, &correction(&partners[0], account, kind, types)).await.unwrap();
    }
    let after = lost(store.clone(), org.clone(), first.clone(), gone.clone()).await;
    assert_eq!(after, (before.0 - 3, before.1 - 2), "one row of one account and two of another hidden");
    // Whole rows, not only which: pages merged from several pieces read each row's columns
    // apart from its keys (names, a co-sell record with the partner, new since the partner's
    // previous match, the partner's fields) and must give what the export streams.
    {
        use blindmap_cosell::cosell::{CoSell, Edit, Party, Stamp};
        let stamp = |ms| Stamp { ms, counter: 0, party: Party::A };
        let mut record = CoSell::propose("cs_rows", stamp(1), "ada");
        record.apply(Edit::Account { account: Some(ids[4].into()) }, stamp(2), "ada").unwrap();
        let created = serde_json::json!({ "id": "cs_rows" });
        store
            .insert_cosell(&org, &partners[0].id, Party::A, &record, true, ("cosell.created", &created))
            .await
            .unwrap();
        // The first run compared with the second: its accounts the second lacks are new there.
        let previous = ReportFilter { previous: Some(second.id.clone()), tier: None, ..ReportFilter::default() };
        let all = ReportFilter { tier: None, ..ReportFilter::default() };
        for (scope, base) in [(ReportScope::Latest, all), (ReportScope::Run(first), previous)] {
            for sort in &sorts {
                for (descending, own_segment) in [(false, None), (true, Some("customers".to_owned()))] {
                    let filter = ReportFilter { sort: sort.clone(), descending, own_segment, ..base.clone() };
                    let mut whole = Vec::new();
                    store.report_each_in(&org, scope, &filter, |r| whole.push(r)).await.unwrap();
                    if matches!(scope, ReportScope::Latest) && *sort == ReportSort::Partner {
                        whole = store.report_rows_in(&org, scope, &filter, 0, 10_000, None).await.unwrap();
                    }
                    assert!(whole.iter().any(|r| r.cosell.is_some()), "{scope:?} {filter:?}: the co-sell record");
                    // Across partners the first partner's latest run (the second) has only
                    // accounts the first had.
                    let new = matches!(scope, ReportScope::Run(_));
                    assert!(whole.iter().any(|r| r.new == Some(new)), "{scope:?} {filter:?}: new or not");
                    let mut pieced = Vec::new();
                    while pieced.len() < whole.len() {
                        let page =
                            store.report_rows_in(&org, scope, &filter, pieced.len() as u64, 7, None).await.unwrap();
                        assert!(!page.is_empty());
                        pieced.extend(page);
                    }
                    assert_eq!(pieced, whole, "{scope:?} {filter:?}: whole rows");
                    assert_eq!(by_cursor(&store, &org, scope, &filter, 6).await, whole, "{scope:?} {filter:?}");
                }
            }
        }
        // A partner's field filtered: merged pieces read the field's index alone for their
        // keys (its entries carry own segment, owner and tier), corrections, new or not, an
        // owner and a search checked there — the same rows as the export.
        let owner = store.report_owners_in(&org, ReportScope::Latest).await.unwrap().into_iter().nth(1).unwrap();
        let previous = ReportFilter { previous: Some(second.id.clone()), tier: None, ..ReportFilter::default() };
        let all = ReportFilter { tier: None, ..ReportFilter::default() };
        for (scope, base) in [(ReportScope::Latest, all), (ReportScope::Run(first), previous)] {
            let base = ReportFilter { partner_fields: vec![("owner".into(), "Rep 2".into())], ..base };
            let variants = [
                base.clone(),
                ReportFilter { new_only: true, ..base.clone() },
                ReportFilter { owner: Some(owner.clone()), ..base.clone() },
                ReportFilter { tier: Some(Tier::Confirmed), own_segment: Some("customers".into()), ..base.clone() },
                ReportFilter { search: Some("inc".into()), ..base.clone() },
            ];
            for (i, variant) in variants.into_iter().enumerate() {
                for sort in &sorts {
                    for descending in [false, true] {
                        let filter = ReportFilter { sort: sort.clone(), descending, ..variant.clone() };
                        let what = format!("{scope:?} {filter:?}");
                        let mut whole = Vec::new();
                        store.report_each_in(&org, scope, &filter, |r| whole.push(r)).await.unwrap();
                        if matches!(scope, ReportScope::Latest) && *sort == ReportSort::Partner {
                            whole = store.report_rows_in(&org, scope, &filter, 0, 10_000, None).await.unwrap();
                        }
                        assert!(i > 0 || whole.len() > 5, "{what}: {} rows", whole.len());
                        let mut pieced = Vec::new();
                        while pieced.len() < whole.len() {
                            let page =
                                store.report_rows_in(&org, scope, &filter, pieced.len() as u64, 4, None).await.unwrap();
                            assert!(!page.is_empty(), "{what}");
                            pieced.extend(page);
                        }
                        assert_eq!(pieced, whole, "{what}: whole rows");
                        assert_eq!(by_cursor(&store, &org, scope, &filter, 3).await, whole, "{what}");
                    }
                }
            }
        }
    }
    for run in [first, &second] {
        let all = ReportFilter { tier: None, ..ReportFilter::default() };
        let rows = store.report_rows_in(&org, ReportScope::Run(run), &all, 0, 10_000, None).await.unwrap();
        let mut best: BTreeMap<(String, String, String), bool> = BTreeMap::new();
        for r in &rows {
            *best.entry((r.own_segment.clone(), r.partner_segment.clone(), r.account_id.clone())).or_default() |=
                r.tier == Tier::Confirmed;
        }
        let mut expected: BTreeMap<(String, String), (u64, u64)> = BTreeMap::new();
        for ((own, partner, _), confirmed) in best {
            let cell = expected.entry((own, partner)).or_default();
            if confirmed { cell.0 += 1 } else { cell.1 += 1 }
        }
        let cells: BTreeMap<(String, String), (u64, u64)> = store
            .report_cells(&org, run)
            .await
            .unwrap()
            .into_iter()
            .map(|c| ((c.own_segment, c.partner_segment), (c.confirmed, c.possible)))
            .collect();
        assert_eq!(cells, expected, "the stored cells less the corrections");
    }
}

/// Every row of the list `filter` selects in `scope`, read page after page of `size` rows,
/// each from the previous page's last row.
async fn by_cursor(
    store: &Store,
    org: &OrgId,
    scope: blindmap_store::ReportScope<'_>,
    filter: &blindmap_store::ReportFilter,
    size: u32,
) -> Vec<blindmap_store::ReportRow> {
    let (mut rows, mut start) = (Vec::new(), blindmap_store::ReportStart::Offset(0));
    loop {
        let page = store.report_rows_at(org, scope, filter, &start, size, None).await.unwrap();
        let Some(last) = page.last() else { break };
        start = blindmap_store::ReportStart::After(last.cursor());
        rows.extend(page);
    }
    rows
}

/// A search that finds more accounts than a page looks up one by one (the pages then check each
/// row's account in a table of them on the connection): pages, by cursor and by number, list
/// what the whole list filtered by the search does, in each order, across partners and of one.
async fn a_search_finding_thousands_of_accounts_pages_as_the_whole_list_does(store: Store) {
    use blindmap_store::{ReportFilter, ReportRow, ReportScope, ReportSort};
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let mut csv = String::from("id,segment,name,domain\n");
    for i in 0..3_200 {
        let (name, segment) = if i < 3_000 { ("Found Co", "customers") } else { ("Other Co", "prospects") };
        let segment = if i % 7 == 0 { "prospects" } else { segment };
        // Namesakes in threes, some in capitals with an accent (the lists sort by the name
        // lower-cased as the database does it).
        let name = if i % 13 == 0 { name.to_uppercase().replace('O', "Ö") } else { name.to_owned() };
        csv.push_str(&format!("a{i},{segment},{name} {:04},a{i}-corp.com\n", (i * 7919) % 3_200 / 3));
    }
    let importer = Importer::new("big.csv", Cursor::new(csv.into_bytes()), &Preset::Generic.mapping()).unwrap();
    let dataset = store.import_dataset(&org, "big.csv", "generic", importer).await.unwrap().id;
    let mut runs = Vec::new();
    for (k, name) in ["Partner", "Second"].into_iter().enumerate() {
        let p = store
            .create_partnership(&PartnershipId::generate(), &org, name, "https://p", "sha256:aa", "pt_x")
            .await
            .unwrap();
        let overlaps: Vec<RunOverlap> = (0..3_200_u32)
            .filter(|i| if k == 0 { i % 2 == 0 } else { i % 3 != 0 })
            .flat_map(|i| {
                let segment = if i % 4 == 0 { "customers" } else { "prospects" };
                let one = RunOverlap {
                    own_segment: if i % 7 == 0 {
                        "prospects"
                    } else if i < 3_000 {
                        "customers"
                    } else {
                        "prospects"
                    }
                    .into(),
                    ..overlap(&format!("a{i}"), "customers", segment, i)
                };
                let two = (i % 11 == 0).then(|| RunOverlap { partner_record: Some(i + 10_000), ..one.clone() });
                std::iter::once(one).chain(two)
            })
            .collect();
        runs.push(run_with(&store, &org, &dataset, &p, overlaps).await);
    }
    let id = |r: &ReportRow| (r.partnership.clone(), r.account_id.clone(), r.partner_segment.clone(), r.partner_record);
    let scopes = [ReportScope::Latest, ReportScope::Run(&runs[1])];
    for scope in scopes {
        for sort in [ReportSort::Account, ReportSort::OwnSegment, ReportSort::Partner] {
            for descending in [false, true] {
                let filter = ReportFilter {
                    search: Some("found co".into()),
                    tier: None,
                    sort: sort.clone(),
                    descending,
                    ..ReportFilter::default()
                };
                let what = format!("{scope:?} {sort:?} {descending}");
                let mut whole = Vec::new();
                store.report_each_in(&org, scope, &filter, |r| whole.push(r)).await.unwrap();
                assert!(whole.len() > 2_000, "{what}: {} rows", whole.len());
                let walked = matches!(scope, ReportScope::Latest) && sort == ReportSort::Partner;
                let mut whole: Vec<_> = whole.iter().map(id).collect();
                let mut forwards: Vec<_> = by_cursor(&store, &org, scope, &filter, 400).await.iter().map(id).collect();
                if walked {
                    // The export streams the rows as the database orders them, not by partner.
                    whole.sort();
                    forwards.sort();
                }
                assert_eq!(forwards, whole, "{what}: by cursor");
                let total = store.report_counts_in(&org, scope, &filter).await.unwrap().0;
                assert_eq!(total, whole.len() as u64, "{what}: counted");
                if !walked {
                    let mut by_number = Vec::new();
                    for offset in (0..total).step_by(700) {
                        let page = store.report_rows_in(&org, scope, &filter, offset, 700, Some(total)).await.unwrap();
                        by_number.extend(page.iter().map(id));
                    }
                    assert_eq!(by_number, whole, "{what}: by number");
                }
            }
        }
    }
}

/// A run whose stored totals say it has no row of a tier (no possible match, or no confirmed
/// one) is left out of that tier's lists and counted as none, without reading its rows; the
/// others are listed and counted as their rows say.
async fn a_tier_a_run_has_no_row_of_lists_and_counts_nothing_of_it(store: Store) {
    use blindmap_store::{ReportFilter, ReportScope, Tier};
    let (org, dataset, sure) = org_with_partner(&store).await;
    let mixed = store
        .create_partnership(&PartnershipId::generate(), &org, "Mixed", "https://m", "sha256:bb", "pt_m")
        .await
        .unwrap();
    let ids = vendor_account_ids();
    let with = |tier: &dyn Fn(usize) -> Tier| -> Vec<RunOverlap> {
        ids.iter()
            .enumerate()
            .map(|(i, a)| overlap_on(a, "customers", u32::try_from(i).unwrap(), &["domain"], tier(i)))
            .collect()
    };
    let sure_run = run_with(&store, &org, &dataset, &sure, with(&|_| Tier::Confirmed)).await;
    let mixed_run =
        run_with(&store, &org, &dataset, &mixed, with(&|i| if i % 3 == 0 { Tier::Possible } else { Tier::Confirmed }))
            .await;
    let possible = ReportFilter { tier: Some(Tier::Possible), ..ReportFilter::default() };
    // One run: counted from its totals alone.
    assert_eq!(store.report_counts_kept(&org, ReportScope::Run(&sure_run), &possible).await.unwrap(), Some((0, 0)));
    let rows = store.report_rows_in(&org, ReportScope::Run(&sure_run), &possible, 0, 100, None).await.unwrap();
    assert!(rows.is_empty());
    let expected = ids.iter().step_by(3).count() as u64;
    let counted = store.report_counts_in(&org, ReportScope::Run(&mixed_run), &possible).await.unwrap();
    assert_eq!(counted, (expected, expected));
    // Across partners: only the mixed partner's possible rows, counted apart (not kept at first).
    let sure_only = ReportFilter { partnership: Some(sure.id.clone()), ..possible.clone() };
    assert_eq!(store.report_counts_kept(&org, ReportScope::Latest, &sure_only).await.unwrap(), Some((0, 0)));
    assert!(store.report_rows_in(&org, ReportScope::Latest, &sure_only, 0, 100, None).await.unwrap().is_empty());
    assert_eq!(store.report_counts_kept(&org, ReportScope::Latest, &possible).await.unwrap(), None);
    let rows = store.report_rows_in(&org, ReportScope::Latest, &possible, 0, 1_000, None).await.unwrap();
    assert_eq!(rows.len() as u64, expected);
    assert!(rows.iter().all(|r| r.partnership == mixed.id && r.tier == Tier::Possible));
    assert_eq!(store.report_counts_in(&org, ReportScope::Latest, &possible).await.unwrap(), (expected, expected));
    assert_eq!(
        store.report_counts_kept(&org, ReportScope::Latest, &possible).await.unwrap(),
        Some((expected, expected))
    );
    // Confirmed rows come from both.
    let confirmed = ReportFilter { tier: Some(Tier::Confirmed), ..ReportFilter::default() };
    let (pairs, _) = store.report_counts_in(&org, ReportScope::Latest, &confirmed).await.unwrap();
    assert_eq!(pairs, 2 * ids.len() as u64 - expected);
}

/// A page by number deep in one match's list read in pieces (a cell each, by segment) opens
/// whatever its depth — the run read as one piece — with the rows of the whole list at that
/// place; past the end it is empty. Across partners, such a page is refused with what to do.
async fn a_page_deep_in_one_match_opens_by_its_number_in_every_order(store: Store) {
    use blindmap_store::{ReportFilter, ReportScope, ReportSort, Tier};
    let (org, dataset, p) = org_with_partner(&store).await;
    let ids = vendor_account_ids();
    // 6,000 rows in four cells: a page past row 5,000 reads past more than 20,000 rows merged.
    let overlaps: Vec<RunOverlap> = (0..6_000_u32)
        .map(|i| {
            let account = ids[i as usize % ids.len()];
            let own = if i % 2 == 0 { "customers" } else { "prospects" };
            let partner = if i % 3 == 0 { "customers" } else { "pipeline" };
            let tier = if i % 5 == 0 { Tier::Possible } else { Tier::Confirmed };
            RunOverlap { tier, ..overlap(account, own, partner, i) }
        })
        .collect();
    let run = run_with(&store, &org, &dataset, &p, overlaps.clone()).await;
    let scope = ReportScope::Run(&run);
    let id = |r: &blindmap_store::ReportRow| (r.account_id.clone(), r.partner_segment.clone(), r.partner_record);
    for sort in [ReportSort::OwnSegment, ReportSort::PartnerSegment, ReportSort::Account] {
        for descending in [false, true] {
            for tier in [None, Some(Tier::Confirmed)] {
                let own_segment = (sort == ReportSort::Account).then(|| "prospects".to_owned());
                let filter =
                    ReportFilter { sort: sort.clone(), descending, tier, own_segment, ..ReportFilter::default() };
                let what = format!("{filter:?}");
                let mut whole = Vec::new();
                store.report_each_in(&org, scope, &filter, |r| whole.push(id(&r))).await.unwrap();
                let pairs = whole.len() as u64;
                assert!(pairs > 2_000, "{what}: {pairs}");
                // Forwards from the start (no total: not read from the end), near the end.
                let at = pairs - 40;
                let page = store.report_rows_in(&org, scope, &filter, at, 30, None).await.unwrap();
                assert_eq!(page.iter().map(id).collect::<Vec<_>>(), whole[at as usize..][..30].to_vec(), "{what}");
                let past = store.report_rows_in(&org, scope, &filter, 20_060, 39, None).await.unwrap();
                assert!(past.is_empty(), "{what}: past the end");
                let past = store.report_rows_in(&org, scope, &filter, pairs, 39, Some(pairs)).await.unwrap();
                assert!(past.is_empty(), "{what}: past the end, counted");
            }
        }
    }
    // Across partners (two matches, eight cells), the same depth is refused: the merge would
    // read every piece up to it.
    let second = store
        .create_partnership(&PartnershipId::generate(), &org, "Second", "https://s", "sha256:cc", "pt_y")
        .await
        .unwrap();
    run_with(&store, &org, &dataset, &second, overlaps).await;
    let filter = ReportFilter { sort: ReportSort::OwnSegment, ..ReportFilter::default() };
    let deep = store.report_rows_in(&org, ReportScope::Latest, &filter, 5_000, 30, None).await;
    assert!(matches!(deep, Err(StoreError::TooDeep(_))), "{deep:?}");
    // A page past the end of the counted list is empty rather than refused.
    let (pairs, _) = store.report_counts_in(&org, ReportScope::Latest, &filter).await.unwrap();
    let past = store.report_rows_in(&org, ReportScope::Latest, &filter, pairs + 20_000, 30, Some(pairs)).await;
    assert!(past.unwrap().is_empty());
}

/// Transactions that read before they write, run at once with other writes, all commit: on
/// SQLite a transaction begun deferred would fail at its first write when another writer had
/// committed since its read (a 503 "busy" for a request), however short the wait.
async fn writes_that_read_first_wait_for_each_other_rather_than_fail(store: Store) {
    let org = store.create_organisation("Acme").await.unwrap().id;
    let endpoint = store.create_endpoint(&org, "https://a.example/hook", "whsec_a", &[]).await.unwrap();
    let tasks: Vec<_> = (0..8)
        .map(|task| {
            let (store, org, endpoint) = (store.clone(), org.clone(), endpoint.id.clone());
            tokio::spawn(async move {
                for i in 0..15 {
                    let payload = serde_json::json!({ "task": task, "i": i });
                    // Reads the endpoint, then writes the event and its delivery.
                    store.record_test_event(&org, &endpoint, &payload).await?;
                    store.record_event(&org, "cosell.created", &payload).await?;
                }
                Ok::<_, StoreError>(())
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    let mut events = 0;
    let mut after = None;
    loop {
        let page = store.events_page(&org, after.as_ref(), 100).await.unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id.clone());
        events += page.len();
    }
    assert_eq!(events, 8 * 15 * 2);
}
