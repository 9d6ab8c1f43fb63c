//! Schedules, their jobs and run budgets in the store: one job per due run whichever replica
//! makes it (and per dataset the organisation matches from), jobs taken by one replica at a time and taken over when its lease lapses, and what
//! a side allows against it kept with its sharing policy's smallest segment; nothing of one
//! organisation's seen by another.

use std::io::Cursor;

use blindmap_records::{Importer, Preset};
use blindmap_store::{
    Budget, JobEnd, JobState, OrgId, PartnershipId, RefusalReason, ScheduleKind, Store, StoreError, on_both_backends,
};

on_both_backends!(
    a_due_schedule_makes_one_job_and_moves_on,
    jobs_are_taken_by_one_replica_at_a_time_and_taken_over_when_its_lease_lapses,
    a_schedule_after_each_dataset_waits_for_the_next_one,
    a_budget_is_kept_with_the_smallest_segment_and_refusals_are_listed,
);

const VENDOR: &str = include_str!("../../../../samples/vendor-salesforce.csv");

async fn partnership(store: &Store, org: &OrgId, partner: &str) -> PartnershipId {
    let id = PartnershipId::generate();
    store.create_partnership(&id, org, partner, "https://p.example", "sha256:aa", "pt_x").await.unwrap();
    id
}

async fn a_due_schedule_makes_one_job_and_moves_on(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let p = partnership(&store, &org, "Northwind").await;
    assert_eq!(store.schedule(&org, &p).await.unwrap(), None);
    let every = ScheduleKind::Every { minutes: 60 };
    let set = store.set_schedule(&org, &p, &every, Some(1_000), "ada").await.unwrap();
    assert_eq!((set.kind.clone(), set.next_due_at, set.set_by.as_str()), (every.clone(), Some(1_000), "ada"));

    // Not due before its time; due after, once.
    assert!(store.schedules_due(999).await.unwrap().is_empty());
    let due = store.schedules_due(1_000).await.unwrap();
    assert_eq!(due.len(), 1);
    let (schedule, _) = &due[0];
    let job = store.enqueue_job(schedule, 1_000, Some(3_601_000), None).await.unwrap();
    assert!(job.is_some());
    // A second replica that read the same schedule makes nothing.
    assert_eq!(store.enqueue_job(schedule, 1_000, Some(3_601_000), None).await.unwrap(), None);
    assert!(store.schedules_due(2_000).await.unwrap().is_empty(), "moved on to the next hour");
    let jobs = store.jobs(&org, Some(&p), 10).await.unwrap();
    assert_eq!(jobs.len(), 1);
    assert_eq!(
        (jobs[0].state, jobs[0].reason.as_str(), jobs[0].partner_name.as_str()),
        (JobState::Pending, "every", "Northwind")
    );

    // Replaced, then removed: its pending job goes with it.
    let daily = ScheduleKind::Daily { at_minute: 7 * 60 + 30, zone: "Europe/Berlin".into() };
    assert_eq!(store.set_schedule(&org, &p, &daily, Some(5_000), "ada").await.unwrap().kind, daily);
    assert!(store.clear_schedule(&org, &p, "ada").await.unwrap());
    assert!(!store.clear_schedule(&org, &p, "ada").await.unwrap(), "nothing left to remove");
    let jobs = store.jobs(&org, Some(&p), 10).await.unwrap();
    assert_eq!((jobs[0].state, jobs[0].message.as_deref()), (JobState::Failed, Some("the schedule was removed")));
    let kinds: Vec<String> = store.audit_trail(&org, 10).await.unwrap().into_iter().map(|e| e.kind).collect();
    assert!(kinds.contains(&"schedule.set".into()) && kinds.contains(&"schedule.cleared".into()), "{kinds:?}");

    // Another organisation sees and changes nothing; an ended partnership takes no schedule.
    let stranger = store.create_organisation("Stranger").await.unwrap().id;
    assert!(matches!(store.schedule(&stranger, &p).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.set_schedule(&stranger, &p, &every, Some(1), "eve").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.jobs(&stranger, Some(&p), 10).await, Err(StoreError::NotFound(_))));
    assert!(store.jobs(&stranger, None, 10).await.unwrap().is_empty());
    store.end_partnership(&org, &p).await.unwrap();
    assert!(matches!(store.set_schedule(&org, &p, &every, Some(1), "ada").await, Err(StoreError::Ended)));
}

async fn jobs_are_taken_by_one_replica_at_a_time_and_taken_over_when_its_lease_lapses(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let every = ScheduleKind::Every { minutes: 60 };
    for partner in ["Northwind", "Contoso"] {
        let p = partnership(&store, &org, partner).await;
        let schedule = store.set_schedule(&org, &p, &every, Some(1_000), "ada").await.unwrap();
        store.enqueue_job(&schedule, 1_000, Some(3_601_000), None).await.unwrap().unwrap();
    }
    assert_eq!(store.claim_job("a", 999, 30_000).await.unwrap(), None, "not due yet");

    // Two replicas claiming at once take different jobs; a third claim finds none free.
    let (a, b) = tokio::join!(store.claim_job("a", 1_000, 30_000), store.claim_job("b", 1_000, 30_000));
    let (a, b) = (a.unwrap().unwrap(), b.unwrap().unwrap());
    assert_ne!(a.id, b.id);
    assert_eq!((a.state, a.attempts, a.holder.as_deref(), a.lease_until), (JobState::Running, 1, Some("a"), 31_000));
    assert_eq!(store.claim_job("c", 2_000, 30_000).await.unwrap(), None);

    // Only the holder renews or ends it.
    assert!(store.renew_job(&a.id, "a", 40_000, None).await.unwrap());
    assert!(!store.renew_job(&a.id, "b", 40_000, None).await.unwrap());
    assert!(!store.end_job(&a.id, "b", &JobEnd::Done).await.unwrap());

    // B stops renewing: once its lease lapses C takes its job over, and B can no longer end it.
    assert_eq!(store.claim_job("c", 30_999, 30_000).await.unwrap(), None, "B's lease is live");
    let taken = store.claim_job("c", 31_000, 30_000).await.unwrap().unwrap();
    assert_eq!((taken.id.clone(), taken.attempts, taken.holder.as_deref()), (b.id.clone(), 2, Some("c")));
    assert!(!store.end_job(&b.id, "b", &JobEnd::Done).await.unwrap());
    assert!(store.end_job(&a.id, "a", &JobEnd::Done).await.unwrap());

    // Tried again later: pending until then, and taken again when due.
    let retry = JobEnd::Retry { at: 100_000, message: "the partner allows one run an hour".into() };
    assert!(store.end_job(&taken.id, "c", &retry).await.unwrap());
    assert_eq!(store.claim_job("c", 99_999, 30_000).await.unwrap(), None);
    let again = store.claim_job("a", 100_000, 30_000).await.unwrap().unwrap();
    assert_eq!((again.id.clone(), again.attempts), (b.id.clone(), 3));
    assert_eq!(again.message.as_deref(), Some("the partner allows one run an hour"));
    assert!(store.end_job(&again.id, "a", &JobEnd::Failed("gave up".into())).await.unwrap());
    let states: Vec<JobState> = store.jobs(&org, None, 10).await.unwrap().iter().map(|j| j.state).collect();
    assert!(states.contains(&JobState::Done) && states.contains(&JobState::Failed), "{states:?}");
    assert_eq!(store.claim_job("a", 10_000_000, 30_000).await.unwrap(), None, "done and failed jobs stay");
}

async fn a_schedule_after_each_dataset_waits_for_the_next_one(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let import = |name: &'static str| {
        let store = store.clone();
        let org = org.clone();
        async move {
            let importer =
                Importer::new(name, Cursor::new(VENDOR.as_bytes().to_vec()), &Preset::Salesforce.mapping()).unwrap();
            store.import_dataset(&org, name, "salesforce", importer).await.unwrap()
        }
    };
    let first = import("first.csv").await;
    let p = partnership(&store, &org, "Northwind").await;
    let schedule = store.set_schedule(&org, &p, &ScheduleKind::AfterDataset, None, "ada").await.unwrap();
    assert_eq!(schedule.last_dataset.as_deref(), Some(first.id.as_str()));
    assert!(store.schedules_due(i64::MAX).await.unwrap().is_empty(), "the dataset there is made no job");

    let second = import("second.csv").await;
    assert!(store.schedules_due(i64::MAX).await.unwrap().is_empty(), "imported, not yet the one matched");
    store.activate_dataset(&org, &second.id).await.unwrap();
    let due = store.schedules_due(0).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1.as_deref(), Some(second.id.as_str()));
    store.enqueue_job(&due[0].0, 5, None, Some(second.id.as_str())).await.unwrap().unwrap();
    assert!(store.schedules_due(i64::MAX).await.unwrap().is_empty(), "one job per dataset");
}

async fn a_budget_is_kept_with_the_smallest_segment_and_refusals_are_listed(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let p = partnership(&store, &org, "Northwind").await;
    let default = store.budget(&org, &p).await.unwrap();
    assert_eq!((default.min_interval_minutes, default.max_change_percent, default.min_segment), (0, None, 5));
    assert_eq!(default.set_by, None);

    let wanted = Budget {
        min_interval_minutes: 360,
        max_change_percent: Some(20),
        min_segment: 25,
        set_by: None,
        updated_at: None,
    };
    let set = store.set_budget(&org, &p, &wanted, "ada").await.unwrap();
    assert_eq!((set.min_interval_minutes, set.max_change_percent, set.min_segment), (360, Some(20), 25));
    assert_eq!(set.set_by.as_deref(), Some("ada"));
    let sharing = store.sharing(&org, &p).await.unwrap();
    assert_eq!((sharing.min_partner_segment, sharing.threshold), (25, 5), "the policy's minimum, its threshold kept");

    assert_eq!(store.last_run_against(&org, &p).await.unwrap(), None);
    let refused =
        store.record_refusal(&org, &p, RefusalReason::TooSoon, "at most one run every 6 hours").await.unwrap();
    assert_eq!((refused.partner_name.as_str(), refused.reason), ("Northwind", RefusalReason::TooSoon));
    let listed = store.refusals(&org, None, 10).await.unwrap();
    assert_eq!(listed, vec![refused.clone()]);
    let trail = store.audit_trail(&org, 10).await.unwrap();
    let entry = trail.iter().find(|e| e.kind == "match.refused").expect("audited");
    assert_eq!(entry.actor, "Northwind");
    assert!(trail.iter().any(|e| e.kind == "budget.set"));

    let stranger = store.create_organisation("Stranger").await.unwrap().id;
    assert!(matches!(store.budget(&stranger, &p).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.set_budget(&stranger, &p, &wanted, "eve").await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.refusals(&stranger, Some(&p), 10).await, Err(StoreError::NotFound(_))));
    assert!(store.refusals(&stranger, None, 10).await.unwrap().is_empty());
}
