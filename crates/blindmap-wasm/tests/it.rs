//! The partner page's import and session, natively: the same code the WebAssembly runs.
//!
//! - the import equals `blindmap_records::import_dataset`'s, and previews what `inspect` shows;
//! - a whole session against the vendor's side as the node runs it (a Bloom-filter responder
//!   that learns nothing) gives the node's matrix and the overlaps of a plain in-process match;
//! - harsh inputs — odd encodings, delimiters, missing columns, garbage frames — give errors with
//!   a line and column where there is one, and never a panic.

use std::collections::BTreeSet;
use std::sync::Arc;

use blindmap_psi::{Dataset, DisclosurePolicy, Level, Session, SessionConfig, SessionSeed, run_in_process};
use blindmap_records::{Preset, Side, explain_overlaps, import_dataset};
use blindmap_wasm::{Import, PartnerSession, ReadAs, Results};

const PARTNER: &[u8] = include_bytes!("../../../samples/partner-hubspot.csv");
const VENDOR: &[u8] = include_bytes!("../../../samples/vendor-salesforce.csv");

fn auto() -> ReadAs {
    ReadAs { preset: "auto".into(), mapping: None }
}

/// Reads a whole file in steps of `rows`.
fn import(name: &str, bytes: &[u8], read_as: &ReadAs, rows: u32) -> Result<Import, blindmap_wasm::Error> {
    let mut import = Import::new(name, bytes.to_vec(), read_as)?;
    let mut last = 0;
    while !import.step(rows)? {
        let (read, total) = import.progress();
        assert!(read >= last && read <= total, "progress moves forward: {read} after {last} of {total}");
        last = read;
    }
    assert_eq!(import.progress(), (bytes.len() as u64, bytes.len() as u64));
    Ok(import)
}

fn vendor() -> Arc<Dataset> {
    let imported = import_dataset("vendor-salesforce.csv", VENDOR, &Preset::Salesforce.mapping(), Side::Second, |_| {})
        .expect("the vendor's sample imports");
    Arc::new(imported.dataset)
}

/// The vendor's side as the node answers a partner's browser: a Bloom-filter sender that learns
/// nothing and discloses the overlaps (spec §9.7).
fn vendor_session(data: Arc<Dataset>, policy: DisclosurePolicy) -> Session {
    let config = SessionConfig { learn: false, bloom: true, ..SessionConfig::default() };
    Session::responder(data, policy, config, SessionSeed::random(&mut rand::rng())).expect("a vendor session")
}

/// Moves frames both ways until neither side has anything to send.
fn drive(partner: &mut PartnerSession, vendor: &mut Session) -> Result<(), blindmap_wasm::Error> {
    loop {
        let mut moved = false;
        while let Some(frame) = partner.poll_transmit() {
            moved = true;
            // The vendor's own failure shows as its abort on the partner's side.
            let _ = vendor.receive(&frame);
        }
        while let Some(frame) = vendor.poll_transmit() {
            moved = true;
            partner.receive(&frame)?;
        }
        if !moved {
            return Ok(());
        }
    }
}

#[test]
fn the_import_is_the_importers() {
    let imported = import("partner-hubspot.csv", PARTNER, &auto(), 7).unwrap();
    let reference =
        import_dataset("partner-hubspot.csv", PARTNER, &Preset::Hubspot.mapping(), Side::First, |_| {}).unwrap();
    let ours = &imported.imported().unwrap().dataset;
    assert_eq!(ours.records().len(), reference.dataset.records().len());
    for (a, b) in ours.records().iter().zip(reference.dataset.records()) {
        assert!(a == b, "record {} differs from the importer's", a.id);
    }
    let preview = imported.preview();
    assert_eq!(preview.read_as, "hubspot");
    assert!(preview.complete);
    assert_eq!(preview.summary.rows, reference.summary.rows);
    assert_eq!(preview.summary.accounts, reference.summary.accounts);
    assert_eq!(preview.summary.keys.domain, reference.summary.keys[0]);
    let names = &imported.imported().unwrap().names;
    assert_eq!(names[0].as_deref(), Some("NORTHWIND TRADERS"));
}

#[test]
fn the_preview_shows_what_inspect_shows() {
    let preview = import("partner-hubspot.csv", PARTNER, &auto(), 1000).unwrap().preview();
    let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&preview).unwrap()).unwrap();
    assert_eq!(json["summary"]["rows"], 29);
    assert!(json["columns"].as_array().unwrap().iter().any(|c| c[0] == "id" && c[1] == "Record ID"));
    let first = &json["accounts"][0];
    assert_eq!(first["line"], 2);
    assert_eq!(first["id"], "9001120031");
    assert_eq!(first["domains"][0], "northwindtraders.com");
    // Coho Winery's gmail.com is a free-mail domain: not a key, with its line and column.
    let gmail = preview.not_keys.iter().find(|n| n.value == "gmail.com").expect("gmail.com is listed");
    assert_eq!((gmail.line, gmail.column.as_str(), gmail.reason), (7, "Company Domain Name", "free_mail_domain"));
    assert!(!gmail.why.is_empty());
    let reasons = &preview.summary.values_not_used_as_keys;
    assert!(reasons.iter().any(|r| r.reason == "free_mail_domain" && r.count >= 1 && !r.why.is_empty()));
    assert!(preview.accounts.iter().all(|a| a.name.is_some()));
}

#[test]
fn a_session_against_the_vendors_side_gives_the_nodes_results() {
    let imported = import("partner-hubspot.csv", PARTNER, &auto(), 1000).unwrap();
    let imported = imported.imported().unwrap().clone();
    let vendor_data = vendor();
    let policy = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(1);
    let mut partner = PartnerSession::new(&imported).unwrap();
    let mut vendor = vendor_session(vendor_data.clone(), policy.clone());
    assert!(!partner.is_finished());
    drive(&mut partner, &mut vendor).unwrap();
    assert!(partner.is_finished() && vendor.is_finished());
    let (done, total) = partner.progress();
    assert_eq!(done, total);
    assert_eq!(total, 2 * imported.dataset.records().len() as u64, "a Bloom sender sends no records");
    let vendor_outcome = vendor.into_outcome().unwrap();
    assert!(vendor_outcome.overlaps().is_empty(), "the vendor learns nothing");

    let outcome = partner.outcome().unwrap().clone();
    let results = partner.results().unwrap().clone();
    // The node's matrix of the same outcome.
    let explanations = explain_overlaps(&outcome, &imported.dataset);
    let node = blindmap_server::api::runs::Matrix::of(&outcome, &imported.dataset, &explanations);
    assert_eq!(results.matrix.rows, node.rows);
    assert_eq!(serde_json::to_value(&results.matrix.columns).unwrap(), serde_json::to_value(&node.columns).unwrap());
    assert_eq!(serde_json::to_value(&results.matrix.cells).unwrap(), serde_json::to_value(&node.cells).unwrap());

    // The overlaps are those of a plain in-process match, where the vendor sends its records.
    let plain = run_in_process(
        Session::initiator(
            imported.dataset.clone(),
            DisclosurePolicy::new(Level::Hidden),
            SessionConfig::default(),
            SessionSeed::random(&mut rand::rng()),
        )
        .unwrap(),
        Session::responder(
            vendor_data,
            policy,
            SessionConfig { learn: false, ..SessionConfig::default() },
            SessionSeed::random(&mut rand::rng()),
        )
        .unwrap(),
    )
    .unwrap();
    let pairs = |rows: &[blindmap_wasm::OverlapRow]| -> BTreeSet<(String, String, Vec<String>)> {
        rows.iter().map(|o| (o.account_id.clone(), o.partner_segment.clone(), o.key_types.clone())).collect()
    };
    let expected = Results::of(&plain.initiator, &imported, &blindmap_wasm::Returned::new());
    assert!(!results.overlaps.is_empty());
    assert_eq!(pairs(&results.overlaps), pairs(&expected.overlaps));
    assert_eq!(results.accounts, expected.accounts);
    let northwind = results.overlaps.iter().find(|o| o.account_id == "9001120031").expect("Northwind overlaps");
    assert_eq!(northwind.name.as_deref(), Some("NORTHWIND TRADERS"));
    assert_eq!(northwind.owner.as_deref(), Some("Linus Torvalds"));
    assert!(northwind.reason.starts_with("confirmed"));
    assert_eq!(results.shared_with_you, "overlaps");

    let csv = results.to_csv().unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("Account,Account ID,Your segment,Owner,Their segment,Match,Why,Matched on"));
    assert_eq!(lines.count(), results.overlaps.len());
    assert!(csv.contains("NORTHWIND TRADERS,9001120031,"));
    let json: serde_json::Value = serde_json::from_str(&results.to_json()).unwrap();
    assert_eq!(json["pairs"], results.overlaps.len());
}

#[test]
fn a_vendor_serving_nothing_leaves_every_cell_hidden() {
    let imported = import("partner-hubspot.csv", PARTNER, &auto(), 1000).unwrap().imported().unwrap().clone();
    let mut partner = PartnerSession::new(&imported).unwrap();
    let mut vendor = vendor_session(vendor(), DisclosurePolicy::new(Level::Hidden));
    drive(&mut partner, &mut vendor).unwrap();
    let results = partner.results().unwrap();
    assert!(results.overlaps.is_empty());
    assert!(results.matrix.cells.iter().flatten().all(|c| c.level == "hidden" && c.shown == "hidden"));
}

#[test]
fn spreadsheet_formulas_in_names_are_neutralised() {
    let partner = b"id,segment,name,country,domain\n1,customers,\"=HYPERLINK(\"\"http://x\"\")\",US,acme.com\n\
                    2,customers,+Globex,US,globex.com\n";
    let vendor = b"id,segment,name,country,domain\n7,prospects,Acme,US,acme.com\n8,prospects,Globex,US,globex.com\n";
    let imported = import("p.csv", partner, &ReadAs { preset: "generic".into(), mapping: None }, 10)
        .unwrap()
        .imported()
        .unwrap()
        .clone();
    let vendor_data = import_dataset("v.csv", &vendor[..], &Preset::Generic.mapping(), Side::Second, |_| {}).unwrap();
    let mut session = PartnerSession::new(&imported).unwrap();
    let policy = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(1);
    let mut vendor = vendor_session(Arc::new(vendor_data.dataset), policy);
    drive(&mut session, &mut vendor).unwrap();
    let csv = session.results().unwrap().to_csv().unwrap();
    assert!(csv.contains("\"'=HYPERLINK(\"\"http://x\"\")\",1,"), "{csv}");
    assert!(csv.contains("'+Globex,2,"), "{csv}");
}

/// The message of an import that fails, at whatever step.
fn import_error(bytes: &[u8], read_as: &ReadAs) -> String {
    match import("export.csv", bytes, read_as, 3) {
        Ok(_) => panic!("imported: {}", String::from_utf8_lossy(bytes)),
        Err(e) => e.to_string(),
    }
}

#[test]
fn harsh_inputs_give_errors_with_line_and_column() {
    let generic = ReadAs { preset: "generic".into(), mapping: None };
    // A byte-order mark and semicolons are read as they are.
    let semicolons = "\u{feff}id;segment;name;country;domain\n1;customers;Acme;US;acme.com\n";
    let ok = import("semi.csv", semicolons.as_bytes(), &generic, 10).unwrap();
    assert_eq!(ok.preview().summary.accounts, 1);
    // Windows-1252: the é of Café is 0xE9.
    let latin1 = b"id,segment,name,country,domain\n1,customers,Caf\xe9 Noir,FR,cafe.fr\n";
    let e = import_error(latin1, &generic);
    assert!(e.contains("export.csv, line 2, column \"name\"") && e.contains("UTF-8"), "{e}");
    let missing = b"id,segment,country\n1,customers,US\n";
    let e = import_error(missing, &ReadAs { preset: "salesforce".into(), mapping: None });
    assert!(e.contains("export.csv, line 1: no company name column"), "{e}");
    let e = import_error(b"id,segment,name,country,domain\n1,customers,Acme,US\n", &generic);
    assert!(e.contains("line 2") && e.contains("4 values where the header has 5"), "{e}");
    let dup = b"id,segment,name,country,domain\n1,c,Acme,US,acme.com\n1,c,Globex,US,globex.com\n";
    let e = import_error(dup, &generic);
    assert!(e.contains("line 3, column \"id\"") && e.contains("already used on line 2"), "{e}");
    let e = import_error(b"id,segment,name\n\"1,c,Acme\n", &generic);
    assert!(e.contains("line 2") && e.contains("never closed"), "{e}");
    assert!(import_error(b"", &generic).contains("empty"));
    assert!(import_error(b"\xff\xfei\x00d\x00", &auto()).contains("UTF-16"));
    assert!(import_error(b"PK\x03\x04rest", &auto()).contains("ZIP"));
    assert!(import_error(b"a,b\n1,2\n", &auto()).contains("cannot tell which export"));
    assert!(import_error(b"id\n1\n", &ReadAs { preset: "excel".into(), mapping: None }).contains("unknown preset"));
    let both = ReadAs { preset: "hubspot".into(), mapping: Some("preset = \"generic\"".into()) };
    assert!(import_error(b"id\n1\n", &both).contains("not both"));
    let bad_mapping = ReadAs { preset: "auto".into(), mapping: Some("[columns]\nname = 3".into()) };
    assert!(import_error(b"id\n1\n", &bad_mapping).contains("mapping file"));
    // A mapping file names the columns.
    let mapping = ReadAs {
        preset: "auto".into(),
        mapping: Some("[columns]\nid = \"Key\"\nname = \"Firm\"\ncountry = \"Land\"\nsegment = \"Kind\"\n".into()),
    };
    let ok = import("m.csv", b"Key,Firm,Land,Kind\n1,Acme Robotics,DE,customer\n", &mapping, 10).unwrap();
    assert_eq!(ok.preview().read_as, "mapping file");
    assert_eq!(ok.preview().summary.accounts, 1);
}

#[test]
fn a_failed_import_stays_failed() {
    let generic = ReadAs { preset: "generic".into(), mapping: None };
    let dup = b"id,segment,name,country,domain\n1,c,Acme,US,acme.com\n1,c,Globex,US,globex.com\n";
    let mut import = Import::new("x.csv", dup.to_vec(), &generic).unwrap();
    assert!(import.step(10).is_err());
    assert!(import.step(10).is_err());
    assert!(import.imported().is_none());
}

#[test]
fn random_bytes_never_panic_the_importer() {
    use rand::RngExt;
    let mut rng = rand::rng();
    let alphabet = b"id,segment;name\"\n\r\tdomain country US acme.com \xff\xfe\x00\xef\xbb\xbf=";
    for _ in 0..2000 {
        let len = rng.random_range(0..120);
        let bytes: Vec<u8> = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
        for preset in ["auto", "generic", "hubspot"] {
            let read_as = ReadAs { preset: preset.into(), mapping: None };
            if let Ok(mut import) = Import::new("r.csv", bytes.clone(), &read_as) {
                while let Ok(false) = import.step(2) {}
                let _ = import.preview();
            }
        }
    }
}

#[test]
fn garbage_frames_end_the_session_with_an_error_and_an_abort() {
    let imported = import("partner-hubspot.csv", PARTNER, &auto(), 1000).unwrap().imported().unwrap().clone();
    let mut session = PartnerSession::new(&imported).unwrap();
    let hello = session.poll_transmit().expect("the hello goes first");
    assert_eq!(hello[0], 1, "protocol version 1");
    assert!(session.receive(b"not a frame").is_err());
    assert!(session.is_failed());
    let abort = session.poll_transmit().expect("an abort for the vendor");
    assert_eq!(blindmap_psi::wire::Frame::peek_kind(&abort), Some(blindmap_psi::wire::Kind::Abort));
    assert!(session.poll_transmit().is_none());
    assert!(session.receive(&hello).is_err());
    assert!(session.results().is_err());
    // Results before the end are refused, not made up.
    let mut early = PartnerSession::new(&imported).unwrap();
    assert!(early.results().unwrap_err().to_string().contains("not finished"));
}

#[test]
fn each_session_has_its_own_randomness() {
    let imported = import("partner-hubspot.csv", PARTNER, &auto(), 1000).unwrap().imported().unwrap().clone();
    let a = PartnerSession::new(&imported).unwrap().poll_transmit().unwrap();
    let b = PartnerSession::new(&imported).unwrap().poll_transmit().unwrap();
    // spec §7.2: the session id (bytes 2..18) comes from the seed.
    assert_ne!(a[2..18], b[2..18]);
}

/// spec §20.6–§20.7: the partner reveals what its choice says, the vendor's side (as the node
/// does) records it and returns its own fields for what was revealed, and the page shows them.
#[test]
fn what_the_partner_shares_reaches_the_vendor_and_the_vendors_fields_come_back() {
    use blindmap_psi::json::{FieldsMessage, RevealMessage};
    use blindmap_psi::{BloomCache, FieldName, KeptKeys, SegmentLabel};

    let imported = import("partner-hubspot.csv", PARTNER, &auto(), 1000).unwrap().imported().unwrap().clone();
    let vendor_data = vendor();
    let keys = KeptKeys::random(&mut rand::rng());
    let cache = Arc::new(BloomCache::new(&keys));
    let served = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(1);
    let config = SessionConfig { learn: false, bloom: true, ..SessionConfig::default() };
    let mut vendor = Session::bloom_responder(vendor_data.clone(), served, config, &keys, Arc::clone(&cache)).unwrap();
    let mut partner = PartnerSession::new(&imported).unwrap();
    drive(&mut partner, &mut vendor).unwrap();
    assert!(partner.is_finished());

    // Before the match nothing can be revealed; a choice that does not read is refused.
    assert!(blindmap_wasm::Shares::policy(r#"{"default": "everything"}"#).is_err());
    assert!(blindmap_wasm::Shares::policy(r#"{"default": "counts", "segments": {"Bad Label!": "overlaps"}}"#).is_err());
    assert!(blindmap_wasm::Shares::policy(r#"{"default": "counts", "extra": 1}"#).is_err());

    // Customers with their owner, prospects as counts, the rest hidden.
    let shares = blindmap_wasm::Shares::policy(
        r#"{"default": "hidden", "segments": {"customers": {"fields": ["owner"]}, "prospects": "counts"},
            "threshold": 1, "min_segment": 1}"#,
    )
    .unwrap();
    let text = partner.reveal(&shares).unwrap().expect("something is revealed");
    assert!(partner.reveal(&shares).is_err(), "once per session");
    // What leaves the page: elements and the chosen fields, never a name, domain or id.
    for secret in ["NORTHWIND", "northwindtraders", "9001120031"] {
        assert!(!text.contains(secret), "the reveal carries {secret}");
    }
    assert!(text.contains("Linus Torvalds"), "the customers' owners, as chosen");
    let mut members: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(members.remove("type"), Some(serde_json::json!("reveal")));
    let reveal = RevealMessage::read(members).unwrap().into_reveal().unwrap();

    let customers = SegmentLabel::new("customers").unwrap();
    let results = partner.results().unwrap().clone();
    let own_customers: BTreeSet<String> =
        results.overlaps.iter().filter(|o| o.own_segment == "customers").map(|o| o.account_id.clone()).collect();
    assert!(!own_customers.is_empty());
    let shared = results.shared_with_them.as_ref().expect("what was shared is shown");
    assert_eq!(shared.accounts, own_customers.len() as u64);
    assert_eq!(shared.with_fields, own_customers.len() as u64);
    assert_eq!(shared.in_words, "per cell");

    // The vendor records it, and returns its owner and industry where its policy gives fields.
    let vendor_outcome = vendor.into_outcome().unwrap().with_reveal(&vendor_data, &cache, &reveal).unwrap();
    assert!(!vendor_outcome.overlaps().is_empty());
    assert!(
        vendor_outcome
            .overlaps()
            .iter()
            .all(|o| vendor_outcome.partner_segments()[o.partner.segment as usize].label == customers),
        "only the customers were revealed as records"
    );
    let owner = FieldName::new("owner").unwrap();
    let industry = FieldName::new("industry").unwrap();
    let vendor_policy = DisclosurePolicy::new(Level::Overlaps)
        .with_rule(None, Some(customers), Level::Fields(vec![owner, industry]))
        .unwrap()
        .with_min_partner_segment(1);
    let returned = vendor_outcome.returned_fields(&vendor_data, &vendor_policy, &reveal);
    assert!(!returned.is_empty());
    let message = FieldsMessage::of(&returned).to_text();

    // Fields for a record never revealed, or a message of another type, are refused.
    let mut forged: serde_json::Value = serde_json::from_str(&message).unwrap();
    forged["records"][0]["record"] = serde_json::json!(reveal.records.len());
    let error = partner.receive_fields(&forged.to_string()).unwrap_err().to_string();
    assert!(error.contains("was not revealed"), "{error}");
    assert!(partner.receive_fields(r#"{"type": "done"}"#).is_err());
    partner.receive_fields(&message).unwrap();

    let results = partner.results().unwrap().clone();
    let northwind = results.overlaps.iter().find(|o| o.account_id == "9001120031").expect("Northwind overlaps");
    let fields: std::collections::BTreeMap<_, _> = northwind.partner_fields.iter().cloned().collect();
    assert_eq!(fields.get("owner"), Some(&Some("Ada Byron".to_owned())));
    assert_eq!(fields.get("industry"), Some(&Some("Retail".to_owned())));
    assert!(
        results.overlaps.iter().filter(|o| o.own_segment != "customers").all(|o| o.partner_fields.is_empty()),
        "fields come back only for what was revealed"
    );
    assert_eq!(results.shared_with_them.as_ref().unwrap().returned, own_customers.len() as u64);
    let csv = results.to_csv().unwrap();
    assert!(csv.lines().next().unwrap().contains("Their industry,Their owner"));
    assert!(csv.contains("Ada Byron"));
}

/// A choice that discloses nothing sends nothing.
#[test]
fn sharing_nothing_sends_no_reveal() {
    let imported = import("partner-hubspot.csv", PARTNER, &auto(), 1000).unwrap().imported().unwrap().clone();
    let mut partner = PartnerSession::new(&imported).unwrap();
    let mut vendor = vendor_session(vendor(), DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(1));
    let hidden = blindmap_wasm::Shares::policy(r#"{"default": "hidden"}"#).unwrap();
    assert!(partner.reveal(&hidden).is_err(), "not before the match");
    drive(&mut partner, &mut vendor).unwrap();
    assert_eq!(partner.reveal(&hidden).unwrap(), None);
    assert_eq!(partner.results().unwrap().shared_with_them.as_ref().unwrap().in_words, "nothing");
}
