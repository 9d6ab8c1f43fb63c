//! Tiers from a real session: two imported files matched in this process, each overlap
//! explained from the keys it shared, and the possible matches counted per matrix cell.

use std::sync::Arc;

use blindmap_psi::{
    Dataset, DisclosurePolicy, Error, Level, Outcome, Session, SessionConfig, SessionSeed, run_in_process,
};
use blindmap_records::{Evidence, Preset, Side, Tier, explain_overlaps, import_dataset, possible_per_cell};

fn dataset(csv: &str, side: Side) -> Dataset {
    import_dataset("export.csv", csv.as_bytes(), &Preset::Generic.mapping(), side, |_| {})
        .unwrap_or_else(|e| panic!("{e}"))
        .dataset
}

/// The left side's outcome of a session in which the right side shows it every overlap.
fn left_outcome(left: &Arc<Dataset>, right: &Arc<Dataset>) -> Outcome {
    type Start = fn(Arc<Dataset>, DisclosurePolicy, SessionConfig, SessionSeed) -> Result<Session, Error>;
    let session = |start: Start, data: &Arc<Dataset>, level| {
        let policy = DisclosurePolicy::new(level).with_threshold(1).with_min_partner_segment(1);
        start(Arc::clone(data), policy, SessionConfig::default(), SessionSeed::random(&mut rand::rng())).unwrap()
    };
    let initiator = session(Session::initiator, left, Level::Counts);
    let responder = session(Session::responder, right, Level::Overlaps);
    run_in_process(initiator, responder).unwrap().initiator
}

/// The left side's own accounts: a domain match (with the name, in one partner segment), a
/// common name matched by name alone (possible), and a common name matched by name in one
/// partner record and by domain in another of the same partner segment (confirmed: the best tier
/// of an account in a cell counts).
const LEFT: &str = "id,segment,name,country,domain\n\
    L1,customers,Zentrix GmbH,DE,zentrix.de\n\
    L2,prospects,Brown GmbH,DE,\n\
    L3,prospects,Smith Ltd,GB,smith-tools.co.uk\n\
    L4,customers,Quorvath AG,CH,quorvath.ch\n";

const RIGHT: &str = "id,segment,name,country,domain\n\
    R1,a,Zentrix,DE,zentrix.de\n\
    R2,a,Brown,DE,brown-logistik.de\n\
    R3,a,Smith,GB,\n\
    R4,a,Smith Tools Limited,GB,smith-tools.co.uk\n\
    R5,b,Zentrix Holding,DE,zentrix.de\n\
    R6,b,Elsewhere Inc,US,elsewhere.com\n";

#[test]
fn each_overlap_is_explained_and_possible_matches_are_counted_per_cell() {
    let left = Arc::new(dataset(LEFT, Side::First));
    let right = Arc::new(dataset(RIGHT, Side::Second));
    let outcome = left_outcome(&left, &right);
    let own: Vec<&str> = outcome.own_segments().iter().map(|s| s.as_str()).collect();
    let partner: Vec<&str> = outcome.partner_segments().iter().map(|s| s.label.as_str()).collect();
    assert_eq!((own.as_slice(), partner.as_slice()), (&["customers", "prospects"][..], &["a", "b"][..]));

    let explanations = explain_overlaps(&outcome, &left);
    assert_eq!(explanations.len(), outcome.overlaps().len());
    let mut seen: Vec<(&str, &str, Tier, Vec<Evidence>)> = outcome
        .overlaps()
        .iter()
        .zip(&explanations)
        .map(|(o, e)| {
            let record = &left.records()[o.record];
            (record.id.as_str(), partner[usize::from(o.partner.segment)], e.tier, e.agreed.clone())
        })
        .collect();
    seen.sort_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    assert_eq!(
        seen,
        [
            ("L1", "a", Tier::Confirmed, vec![Evidence::Domain, Evidence::NameCountry]),
            ("L1", "b", Tier::Confirmed, vec![Evidence::Domain]),
            ("L2", "a", Tier::Possible, vec![Evidence::NameCountry]),
            ("L3", "a", Tier::Confirmed, vec![Evidence::Domain]),
            ("L3", "a", Tier::Possible, vec![Evidence::NameCountry]),
        ]
    );

    // Row-major: customers × A, customers × B, prospects × A, prospects × B. L2 alone is a
    // possible match only; L3's possible match in A is outdone by its confirmed one there.
    assert_eq!(possible_per_cell(&outcome, &left, &explanations), [0, 0, 1, 0]);
}

#[test]
fn several_possible_matches_of_one_account_in_a_cell_count_once_and_accounts_add_up() {
    let left = Arc::new(dataset(
        "id,segment,name,country\nL1,customers,Brown,DE\nL2,customers,Miller,US\nL3,partners,Smith,GB\n",
        Side::First,
    ));
    let right = Arc::new(dataset(
        "id,segment,name,country,domain\n\
         R1,a,Brown,DE,brown-a.de\nR2,a,Brown,DE,brown-b.de\nR3,a,Miller,US,miller.com\n\
         R4,b,Smith,GB,smith.co.uk\nR5,b,Brown,DE,brown-c.de\n",
        Side::Second,
    ));
    let outcome = left_outcome(&left, &right);
    let explanations = explain_overlaps(&outcome, &left);
    assert!(explanations.iter().all(|e| e.tier == Tier::Possible), "{explanations:?}");
    // customers × A: Brown (twice) and Miller; customers × B: Brown; partners × B: Smith.
    assert_eq!(possible_per_cell(&outcome, &left, &explanations), [2, 1, 0, 1]);
}
