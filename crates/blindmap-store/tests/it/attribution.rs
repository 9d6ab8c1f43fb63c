//! Partner attribution in the store, on both backends: touches listed in the order they
//! happened, inbound deliveries recorded once, the ledger of record written once — close,
//! entries and event together — and each organisation seeing only its own.

use blindmap_cosell::attribution::{Category, ClosedDeal, Model, Touch, TouchKind, attribute};
use blindmap_cosell::money::{Currency, Money, Rate};
use blindmap_store::{ClosedOpportunity, LedgerCursor, NewTouch, OrgId, Store, StoreError, on_both_backends};

on_both_backends!(
    attribution_touches_are_listed_in_the_order_they_happened,
    attribution_inbound_deliveries_are_recorded_once,
    attribution_closes_are_recorded_once_with_their_entries_and_event,
    attribution_ledger_pages_latest_close_first,
    attribution_pipeline_reads_partners_latest_amounts_and_closes,
);

const DAY: i64 = 86_400_000;

/// A ledger entry as compared: partner, category, share, amount and reported amount (minor units).
type Entry<'a> = (Option<&'a str>, Option<Category>, u32, i64, Option<i64>);

fn touch(partner: &str, kind: TouchKind, day: i64) -> Touch {
    Touch { partner: partner.into(), kind, at: day * DAY, actor: "kim".into() }
}

fn new(opportunity: &str, touch: Touch, amount: Option<Money>) -> NewTouch {
    NewTouch { opportunity: opportunity.into(), touch, amount }
}

fn eur(amount: &str) -> Money {
    Money::parse(amount, Currency::new("EUR").unwrap()).unwrap()
}

fn deal(amount: &str, closed_day: i64) -> ClosedDeal {
    ClosedDeal {
        amount: eur(amount),
        created_at: DAY,
        closed_at: closed_day * DAY,
        reporting: Some((Currency::new("USD").unwrap(), Rate::parse("1.08").unwrap())),
    }
}

/// A close of `opportunity` scored under `model` from the touches the store holds for it.
async fn close(store: &Store, org: &OrgId, opportunity: &str, model: Model, deal: ClosedDeal) -> ClosedOpportunity {
    let touches: Vec<Touch> = store
        .opportunity_touches(org, opportunity)
        .await
        .unwrap()
        .into_iter()
        .filter(|t| t.at <= deal.closed_at)
        .collect();
    let result = attribute(&model, &touches, &deal).unwrap();
    ClosedOpportunity {
        opportunity: opportunity.into(),
        deal,
        touches,
        model,
        result,
        closed_by: "ada".into(),
        recorded_at: 1_800_000_000_000,
    }
}

async fn attribution_touches_are_listed_in_the_order_they_happened(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let other = store.create_organisation("Other").await.unwrap().id;
    for (opportunity, t) in [
        ("OPP-1", touch("Globex", TouchKind::Sourced, 5)),
        ("OPP-1", touch("Acme", TouchKind::Influenced, 1)),
        ("OPP-2", touch("Acme", TouchKind::Referral, 3)),
        ("OPP-1", touch("Initech", TouchKind::CoSelling, 9)),
        ("OPP-1", touch("Umbrella", TouchKind::Influenced, 5)),
    ] {
        let stored = store.record_touch(&org, &new(opportunity, t.clone(), None)).await.unwrap();
        assert_eq!((stored.source.as_str(), &stored.touch), ("api", &t));
    }
    let partners = |touches: &[Touch]| touches.iter().map(|t| t.partner.clone()).collect::<Vec<_>>();
    // Day 5 twice: the one recorded first comes first.
    assert_eq!(
        partners(&store.opportunity_touches(&org, "OPP-1").await.unwrap()),
        ["Acme", "Globex", "Umbrella", "Initech"]
    );
    assert!(store.opportunity_touches(&other, "OPP-1").await.unwrap().is_empty(), "another organisation's");

    let first = store.touches_page(&org, Some("OPP-1"), None, None, 3).await.unwrap();
    let rest = store.touches_page(&org, Some("OPP-1"), None, Some(&first[2].id), 3).await.unwrap();
    let paged: Vec<Touch> = first.iter().chain(&rest).map(|s| s.touch.clone()).collect();
    assert_eq!(partners(&paged), ["Acme", "Globex", "Umbrella", "Initech"]);
    assert!(rest.iter().all(|s| s.opportunity == "OPP-1"));
    let all = store.touches_page(&org, None, None, None, 100).await.unwrap();
    assert_eq!(
        all.iter().map(|s| s.opportunity.as_str()).collect::<Vec<_>>(),
        ["OPP-1", "OPP-2", "OPP-1", "OPP-1", "OPP-1"]
    );
    assert!(store.touches_page(&other, None, None, None, 100).await.unwrap().is_empty());
    let acme = store.touches_page(&org, None, Some("Acme"), None, 100).await.unwrap();
    assert_eq!(acme.iter().map(|s| s.opportunity.as_str()).collect::<Vec<_>>(), ["OPP-1", "OPP-2"], "one partner's");

    for (opportunity, t) in [
        ("", touch("Acme", TouchKind::Sourced, 1)),
        (" OPP-1", touch("Acme", TouchKind::Sourced, 1)),
        ("OPP-1", touch("", TouchKind::Sourced, 1)),
        ("OPP-1", touch(&"x".repeat(201), TouchKind::Sourced, 1)),
    ] {
        assert!(matches!(
            store.record_touch(&org, &new(opportunity, t.clone(), None)).await,
            Err(StoreError::InvalidName(_))
        ));
    }
    assert_eq!(store.touches_page(&org, None, None, None, 100).await.unwrap().len(), 5, "nothing invalid was kept");
}

async fn attribution_inbound_deliveries_are_recorded_once(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let other = store.create_organisation("Other").await.unwrap().id;
    let crm = store.create_inbound_source(&org, "CRM", "whsec_one").await.unwrap();
    assert!(matches!(store.create_inbound_source(&org, "CRM", "whsec_two").await, Err(StoreError::Conflict(_))));
    let theirs = store.create_inbound_source(&other, "CRM", "whsec_three").await.unwrap();
    assert_eq!(store.inbound_sources(&org).await.unwrap(), std::slice::from_ref(&crm));
    let (found, secret) = store.inbound_source(&crm.id).await.unwrap();
    assert_eq!((found, secret.as_str()), (crm.clone(), "whsec_one"));

    let delivery = [
        new("OPP-1", touch("Acme", TouchKind::Sourced, 2), None),
        new("OPP-1", touch("Globex", TouchKind::Influenced, 3), None),
    ];
    let recorded = store.record_inbound_touches(&crm, "msg_1", &delivery).await.unwrap().expect("a new delivery");
    assert_eq!(recorded.len(), 2);
    assert!(recorded.iter().all(|s| s.source == crm.id.as_str()));
    assert_eq!(store.record_inbound_touches(&crm, "msg_1", &delivery).await.unwrap(), None, "a redelivery");
    assert_eq!(store.opportunity_touches(&org, "OPP-1").await.unwrap().len(), 2);
    // Another delivery of the same source, and the same delivery id from another organisation's
    // source, are new.
    store.record_inbound_touches(&crm, "msg_2", &delivery[..1]).await.unwrap().expect("another delivery");
    store.record_inbound_touches(&theirs, "msg_1", &delivery[..1]).await.unwrap().expect("another source");
    assert_eq!(store.opportunity_touches(&org, "OPP-1").await.unwrap().len(), 3);
    assert_eq!(store.opportunity_touches(&other, "OPP-1").await.unwrap().len(), 1);
    // A delivery with an invalid touch records none of it.
    let bad = [
        new("OPP-1", touch("Acme", TouchKind::Sourced, 2), None),
        new("OPP-1", touch("", TouchKind::Sourced, 2), None),
    ];
    assert!(matches!(store.record_inbound_touches(&crm, "msg_3", &bad).await, Err(StoreError::InvalidName(_))));
    assert_eq!(store.opportunity_touches(&org, "OPP-1").await.unwrap().len(), 3);
    assert!(matches!(store.inbound_source(&blindmap_store::SourceId::generate()).await, Err(StoreError::NotFound(_))));
}

async fn attribution_closes_are_recorded_once_with_their_entries_and_event(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let other = store.create_organisation("Other").await.unwrap().id;
    assert_eq!(store.attribution_model(&org).await.unwrap(), None, "the node's default until one is set");
    store.set_attribution_model(&org, &Model::Linear).await.unwrap();
    store.set_attribution_model(&org, &Model::TimeDecay { half_life_days: 30 }).await.unwrap();
    assert_eq!(store.attribution_model(&org).await.unwrap(), Some(Model::TimeDecay { half_life_days: 30 }));
    assert_eq!(store.attribution_model(&other).await.unwrap(), None);

    for (partner, kind, day) in
        [("Acme", TouchKind::Influenced, 10), ("Globex", TouchKind::Sourced, 20), ("Umbrella", TouchKind::Sourced, 200)]
    {
        store.record_touch(&org, &new("OPP-1", touch(partner, kind, day), None)).await.unwrap();
    }
    let won = close(&store, &org, "OPP-1", Model::Categorical, deal("1000.00", 100)).await;
    assert_eq!(won.touches.len(), 2, "the touch after the close is not part of its history");
    let payload = serde_json::json!({ "opportunity": "OPP-1" });
    store.record_close(&org, &won, ("attribution.recorded", &payload)).await.unwrap();
    assert_eq!(store.closed_opportunity(&org, "OPP-1").await.unwrap(), won, "the ledger keeps what was scored");

    let entries = store.ledger_page(&org, None, None, 100).await.unwrap();
    let got: Vec<Entry<'_>> = entries
        .iter()
        .map(|e| (e.partner.as_deref(), e.category, e.share_ppm, e.amount.minor, e.reported.map(|m| m.minor)))
        .collect();
    assert_eq!(
        got,
        [
            (Some("Acme"), Some(Category::Influenced), 1_000_000, 100_000, Some(108_000)),
            (Some("Globex"), Some(Category::Sourced), 1_000_000, 100_000, Some(108_000)),
        ]
    );
    assert!(
        entries.iter().all(|e| e.model == "categorical"
            && e.closed_at == 100 * DAY
            && e.rate == Some(Rate::parse("1.08").unwrap()))
    );
    assert_eq!(entries[1].reported.unwrap().currency.as_str(), "USD");

    // A second close of the same opportunity writes nothing: no entry, no event.
    let again = close(&store, &org, "OPP-1", Model::Linear, deal("5.00", 150)).await;
    assert!(matches!(
        store.record_close(&org, &again, ("attribution.recorded", &payload)).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(store.closed_opportunity(&org, "OPP-1").await.unwrap(), won);
    assert_eq!(store.ledger_page(&org, None, None, 100).await.unwrap(), entries);

    // A deal no partner touched is in the ledger too, credited to no partner.
    let alone = close(&store, &org, "OPP-2", Model::Linear, deal("70.00", 120)).await;
    assert!(alone.result.unattributed);
    store
        .record_close(&org, &alone, ("attribution.recorded", &serde_json::json!({ "opportunity": "OPP-2" })))
        .await
        .unwrap();
    let ledger = store.ledger_page(&org, None, None, 100).await.unwrap();
    assert_eq!((ledger[0].opportunity.as_str(), ledger[0].partner.as_deref()), ("OPP-2", None));
    assert_eq!(
        (ledger[0].share_ppm, ledger[0].amount.minor, ledger[0].reported.map(|m| m.minor)),
        (1_000_000, 7_000, Some(7_560))
    );
    let acme = store.ledger_page(&org, Some("Acme"), None, 100).await.unwrap();
    assert_eq!(acme.iter().map(|e| e.opportunity.as_str()).collect::<Vec<_>>(), ["OPP-1"]);

    let events = store.events_page(&org, None, 100).await.unwrap();
    let recorded: Vec<&serde_json::Value> =
        events.iter().filter(|e| e.kind == "attribution.recorded").map(|e| &e.payload["opportunity"]).collect();
    assert_eq!(recorded, ["OPP-1", "OPP-2"], "one event per close, none for the refused one");

    assert!(matches!(store.closed_opportunity(&other, "OPP-1").await, Err(StoreError::NotFound(_))));
    assert!(store.ledger_page(&other, None, None, 100).await.unwrap().is_empty());
    assert!(store.events_page(&other, None, 100).await.unwrap().is_empty());
}

async fn attribution_ledger_pages_latest_close_first(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    // Three partners on each of four deals, two of which close on the same day.
    for (opportunity, closed_day) in [("B", 50), ("A", 50), ("C", 40), ("D", 60)] {
        for (partner, day) in [("Acme", 1), ("Globex", 2), ("Initech", 3)] {
            store
                .record_touch(&org, &new(opportunity, touch(partner, TouchKind::Influenced, day), None))
                .await
                .unwrap();
        }
        let won = close(&store, &org, opportunity, Model::Linear, deal("90.00", closed_day)).await;
        store.record_close(&org, &won, ("attribution.recorded", &serde_json::json!({}))).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut after: Option<LedgerCursor> = None;
    loop {
        let page = store.ledger_page(&org, None, after.as_ref(), 5).await.unwrap();
        seen.extend(page.iter().map(|e| format!("{}{}", e.opportunity, e.seq)));
        if page.len() < 5 {
            break;
        }
        let last = page.last().unwrap();
        let cursor = LedgerCursor { opportunity: last.opportunity.clone(), seq: last.seq };
        assert_eq!(LedgerCursor::parse(&cursor.to_text()), Some(cursor.clone()), "the cursor survives as text");
        after = Some(cursor);
    }
    assert_eq!(seen, ["D0", "D1", "D2", "A0", "A1", "A2", "B0", "B1", "B2", "C0", "C1", "C2"]);
    assert_eq!(LedgerCursor::parse("nonsense"), None);
    let globex = store.ledger_page(&org, Some("Globex"), None, 2).await.unwrap();
    let cursor = LedgerCursor { opportunity: globex[1].opportunity.clone(), seq: globex[1].seq };
    let more = store.ledger_page(&org, Some("Globex"), Some(&cursor), 2).await.unwrap();
    let opportunities: Vec<&str> = globex.iter().chain(&more).map(|e| e.opportunity.as_str()).collect();
    assert_eq!(opportunities, ["D", "A", "B", "C"]);
    assert!(globex.iter().chain(&more).all(|e| e.partner.as_deref() == Some("Globex") && e.amount.minor == 3_000));
}

async fn attribution_pipeline_reads_partners_latest_amounts_and_closes(store: Store) {
    let org = store.create_organisation("Vendor").await.unwrap().id;
    let other = store.create_organisation("Other").await.unwrap().id;
    let usd = |a: &str| Money::parse(a, Currency::new("USD").unwrap()).unwrap();
    for (opportunity, t, amount) in [
        ("OPP-1", touch("Acme", TouchKind::Referral, 1), Some(eur("100.00"))),
        ("OPP-1", touch("Acme", TouchKind::Influenced, 12), None),
        ("OPP-1", touch("Globex", TouchKind::CoSelling, 11), Some(eur("250.00"))),
        // After the period's end: neither its amount nor its touch counts.
        ("OPP-1", touch("Globex", TouchKind::Sourced, 30), Some(eur("999.00"))),
        ("OPP-2", touch("Acme", TouchKind::Influenced, 15), Some(usd("70.00"))),
        // Touched before the period only: not read.
        ("OPP-3", touch("Acme", TouchKind::Sourced, 2), Some(eur("5.00"))),
        ("OPP-4", touch("Initech", TouchKind::Influenced, 10), None),
    ] {
        store.record_touch(&org, &new(opportunity, t, amount)).await.unwrap();
    }
    store.record_touch(&other, &new("OPP-1", touch("Acme", TouchKind::Sourced, 12), None)).await.unwrap();
    let close = ClosedOpportunity {
        opportunity: "OPP-2".into(),
        deal: deal("70.00", 16),
        touches: vec![],
        model: Model::Categorical,
        result: attribute(&Model::Categorical, &[], &deal("70.00", 16)).unwrap(),
        closed_by: "kim".into(),
        recorded_at: 0,
    };
    store.record_close(&org, &close, ("attribution.recorded", &serde_json::json!({}))).await.unwrap();

    let got = store.pipeline_touches(&org, 10 * DAY, 20 * DAY).await.unwrap();
    let seen: Vec<_> = got
        .iter()
        .map(|p| (p.opportunity.as_str(), p.partner.as_str(), p.latest_at / DAY, p.sources, p.amount, p.closed_at))
        .collect();
    assert_eq!(
        seen,
        [
            ("OPP-1", "Acme", 12, true, Some(eur("250.00")), None),
            ("OPP-1", "Globex", 11, false, Some(eur("250.00")), None),
            ("OPP-2", "Acme", 15, false, Some(usd("70.00")), Some(16 * DAY)),
            ("OPP-4", "Initech", 10, false, None, None),
        ]
    );
    let ledger = store.ledger_in_period(&org, 16 * DAY, 17 * DAY).await.unwrap();
    assert!(ledger.is_empty(), "an unattributed deal credits no partner");
    assert!(store.pipeline_touches(&other, 0, 10 * DAY).await.unwrap().is_empty());
}
