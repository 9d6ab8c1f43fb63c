//! Sessions against a plaintext reference: for random record sets (duplicates, multi-key records,
//! empty sides), random policies (every level, thresholds, minimum segment sizes) and random
//! configurations (chunk sizes, one-way learning, Bloom filters), what each party learns is
//! exactly what the plaintext intersection and the partner's policy allow.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use blindmap_psi::wire::{Frame, Message, RecordChunk, SealedChunk};
use blindmap_psi::{
    Cell, Dataset, DisclosurePolicy, Error, FieldName, InProcessRun, InputError, KeyType, Level, MatchKey, Outcome,
    PartnerRecord, PeerMisbehaviour, Record, SegmentLabel, Session, SessionConfig, SessionSeed, run_in_process,
};
use proptest::prelude::*;

const SEGMENTS: [&str; 3] = ["customers", "open_opps", "prospects"];
const KEY_TYPES: [&str; 2] = ["domain", "duns"];
const FIELDS: [&str; 2] = ["owner", "stage"];

#[derive(Clone, Debug)]
struct Side {
    records: Vec<Record>,
    policy: DisclosurePolicy,
    config: SessionConfig,
}

fn arb_record(i: usize) -> impl Strategy<Value = Record> {
    (
        0..SEGMENTS.len(),
        proptest::collection::vec((0..KEY_TYPES.len(), 0u8..12), 1..4),
        proptest::option::of("[A-Z][a-z]{0,6}"),
        proptest::option::of("[a-z]{1,5}"),
    )
        .prop_map(move |(seg, keys, owner, stage)| {
            let mut r = Record::new(format!("r{i}"), SegmentLabel::new(SEGMENTS[seg]).unwrap());
            for (t, v) in keys {
                r = r.with_key(MatchKey::new(KeyType::new(KEY_TYPES[t]).unwrap(), format!("v{v}")));
            }
            if let Some(o) = owner {
                r = r.with_field(FieldName::new("owner").unwrap(), o);
            }
            if let Some(s) = stage {
                r = r.with_field(FieldName::new("stage").unwrap(), s);
            }
            r
        })
}

/// Levels for a policy; a Bloom side may only hide or disclose overlaps (spec §9.7).
fn arb_level(bloom: bool) -> BoxedStrategy<Level> {
    if bloom {
        return prop_oneof![Just(Level::Hidden), Just(Level::Overlaps)].boxed();
    }
    let basic = prop_oneof![Just(Level::Hidden), Just(Level::Counts), Just(Level::Overlaps)];
    prop_oneof![
        basic,
        proptest::sample::subsequence(FIELDS.to_vec(), 1..=2)
            .prop_map(|f| Level::Fields(f.into_iter().map(|n| FieldName::new(n).unwrap()).collect())),
    ]
    .boxed()
}

fn arb_policy(bloom: bool) -> impl Strategy<Value = DisclosurePolicy> {
    let label = || proptest::option::of(proptest::sample::select(SEGMENTS.to_vec()));
    (arb_level(bloom), proptest::collection::vec((label(), label(), arb_level(bloom)), 0..4), 0u32..4, 0u32..3)
        .prop_map(|(default, rules, threshold, min)| {
            let mut p = DisclosurePolicy::new(default).with_threshold(threshold).with_min_partner_segment(min);
            for (own, partner, level) in rules {
                let seg = |s: Option<&str>| s.map(|s| SegmentLabel::new(s).unwrap());
                p = p.with_rule(seg(own), seg(partner), level).unwrap();
            }
            p
        })
}

/// A side: `bloom` sides do not learn and disclose no fields.
fn arb_side(max_records: usize) -> impl Strategy<Value = Side> {
    (0..=max_records, any::<bool>(), any::<bool>(), 1usize..6).prop_flat_map(|(n, learn, bloom, chunk)| {
        let bloom = bloom && !learn;
        let records = (0..n).map(arb_record).collect::<Vec<_>>();
        (records, arb_policy(bloom)).prop_map(move |(records, policy)| Side {
            records,
            policy,
            config: SessionConfig { learn, bloom, chunk_records: chunk, ..SessionConfig::default() },
        })
    })
}

fn run(a: &Side, b: &Side, seeds: (u8, u8)) -> (Outcome, Outcome) {
    let run = try_run(a, b, seeds).expect("session");
    (run.initiator, run.responder)
}

/// A session between `a` (initiator) and `b`, which may fail.
fn try_run(a: &Side, b: &Side, seeds: (u8, u8)) -> Result<InProcessRun, Error> {
    run_in_process(session(Session::initiator, a, seeds.0), session(Session::responder, b, seeds.1))
}

/// `Session::initiator` or `Session::responder`.
type Start = fn(Arc<Dataset>, DisclosurePolicy, SessionConfig, SessionSeed) -> Result<Session, Error>;

/// `side`'s session, with the seed `[seed; 32]`.
fn session(start: Start, side: &Side, seed: u8) -> Session {
    let data = Arc::new(Dataset::new(side.records.clone()).unwrap());
    start(data, side.policy.clone(), side.config.clone(), SessionSeed::from_bytes_unchecked([seed; 32])).unwrap()
}

/// A session over `data` with the default policy and configuration, and the seed `[seed; 32]`.
fn started(start: Start, data: &Arc<Dataset>, seed: u8) -> Session {
    start(
        Arc::clone(data),
        DisclosurePolicy::default(),
        SessionConfig::default(),
        SessionSeed::from_bytes_unchecked([seed; 32]),
    )
    .unwrap()
}

/// Records with their key values, for failure messages (`Debug` hides values on purpose).
fn dump(records: &[Record]) -> String {
    records
        .iter()
        .map(|r| {
            let keys: Vec<String> = r.keys.iter().map(|k| format!("{}:{}", k.key_type(), k.value())).collect();
            format!("{}[{}]", r.segment, keys.join(","))
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The level `sender` discloses to `receiver` for (receiver segment `row`, sender segment `col`),
/// as the plan resolves it (spec §6.3).
fn plan_level(sender: &Side, receiver: &Side, rd: &Dataset, row: usize, sd: &Dataset, col: usize) -> Level {
    let served = receiver.config.learn && rd.members(row).len() as u32 >= sender.policy.min_partner_segment();
    if served { sender.policy.level(&sd.segments()[col], &rd.segments()[row]).clone() } else { Level::Hidden }
}

/// The keys through which each of `side`'s records is counted at the counts level (spec §9.5):
/// in its counted segments (hello order), records in input order, each counted through its first
/// four keys that no earlier counted record had.
fn counted_keys(side: &Side, data: &Dataset, other: &Side, od: &Dataset) -> BTreeMap<usize, BTreeSet<MatchKey>> {
    let mut seen = BTreeSet::new();
    let mut counted = BTreeMap::new();
    for s in 0..data.segments().len() {
        let counts = (0..od.segments().len()).any(|t| plan_level(other, side, data, s, od, t) == Level::Counts);
        if !(side.config.learn && counts) {
            continue;
        }
        for &r in data.members(s) {
            let fresh: Vec<MatchKey> =
                data.records()[r as usize].keys.iter().filter(|k| !seen.contains(*k)).take(4).cloned().collect();
            seen.extend(fresh.iter().cloned());
            counted.insert(r as usize, fresh.into_iter().collect());
        }
    }
    counted
}

/// What `learner` may know about its overlap with `partner`, computed in the clear.
fn check(learner: &Side, partner: &Side, outcome: &Outcome, partner_outcome: &Outcome) {
    let ld = Dataset::new(learner.records.clone()).unwrap();
    let pd = Dataset::new(partner.records.clone()).unwrap();
    let counted = counted_keys(learner, &ld, partner, &pd);
    let all_keys = |r: &Record| r.keys.iter().cloned().collect::<BTreeSet<_>>();
    let mut expected_pairs: BTreeMap<(usize, usize), Vec<KeyType>> = BTreeMap::new();
    let mut expected_fields: BTreeMap<usize, Vec<(FieldName, Option<String>)>> = BTreeMap::new();
    for (s, seg) in ld.segments().iter().enumerate() {
        for (t, pseg) in pd.segments().iter().enumerate() {
            let level = plan_level(partner, learner, &ld, s, &pd, t);
            let mut matching = BTreeSet::new();
            for &r in ld.members(s) {
                for &q in pd.members(t) {
                    let theirs_q = all_keys(&pd.records()[q as usize]);
                    let common: BTreeSet<KeyType> = all_keys(&ld.records()[r as usize])
                        .intersection(&theirs_q)
                        .map(|k| k.key_type().clone())
                        .collect();
                    // Counts count a record through its counted keys.
                    if counted.get(&(r as usize)).is_some_and(|keys| keys.intersection(&theirs_q).next().is_some()) {
                        matching.insert(r);
                    }
                    if common.is_empty() {
                        continue;
                    }
                    if matches!(level, Level::Overlaps | Level::Fields(_)) {
                        expected_pairs.insert((r as usize, q as usize), common.into_iter().collect());
                    }
                    if let Level::Fields(names) = &level {
                        let record = &pd.records()[q as usize];
                        let known = expected_fields.entry(q as usize).or_default();
                        for n in names {
                            if !known.iter().any(|(k, _)| k == n) {
                                known.push((n.clone(), record.fields.get(n).cloned()));
                            }
                        }
                    }
                }
            }
            let ordered = matches!(level, Level::Overlaps | Level::Fields(_));
            let n = if ordered {
                expected_pairs
                    .keys()
                    .filter(|(r, q)| ld.members(s).contains(&(*r as u32)) && pd.members(t).contains(&(*q as u32)))
                    .map(|(r, _)| *r)
                    .collect::<BTreeSet<_>>()
                    .len() as u64
            } else {
                matching.len() as u64
            };
            let k = partner.policy.threshold();
            let expected = match level {
                Level::Hidden
                    if learner.config.learn && (ld.members(s).len() as u32) < partner.policy.min_partner_segment() =>
                {
                    Cell::TooSmall { minimum: partner.policy.min_partner_segment() }
                }
                Level::Hidden => Cell::Hidden,
                Level::Counts if k > 1 && n < u64::from(k) => Cell::FewerThan(k),
                Level::Counts | Level::Overlaps | Level::Fields(_) => Cell::Count(n),
            };
            assert_eq!(
                outcome.cell(s, t),
                expected,
                "cell ({seg}, {pseg}) at {level:?}\nlearner {}\npartner {}",
                dump(&learner.records),
                dump(&partner.records)
            );
        }
    }
    // Overlaps: pairs, key types, and partner handles that the partner maps back to its record.
    let bloom = partner.config.bloom;
    let mut got_pairs: BTreeMap<(usize, usize), Vec<KeyType>> = BTreeMap::new();
    let mut got_segment_pairs: BTreeSet<(usize, u16)> = BTreeSet::new();
    for o in outcome.overlaps() {
        match o.partner.position {
            Some(p) => {
                let q = partner_outcome.own_record(o.partner.segment, p).expect("partner handle maps back");
                assert_eq!(pd.records()[q].segment, pd.segments()[o.partner.segment as usize]);
                got_pairs.insert((o.record, q), o.key_types.clone());
            }
            None => {
                assert!(bloom, "positions are known unless the partner served Bloom filters");
                got_segment_pairs.insert((o.record, o.partner.segment));
            }
        }
    }
    if bloom {
        // Membership only: (our record, partner segment) pairs.
        let expected: BTreeSet<(usize, u16)> = expected_pairs
            .keys()
            .map(|&(r, q)| (r, pd.segments().iter().position(|s| *s == pd.records()[q].segment).unwrap() as u16))
            .collect();
        assert_eq!(got_segment_pairs, expected);
    } else {
        assert_eq!(got_pairs, expected_pairs);
    }
    // Fields: exactly those of matching records at the fields level.
    let mut got_fields = BTreeMap::new();
    for f in outcome.partner_fields() {
        let PartnerRecord { segment, position: Some(p) } = f.partner else { panic!("fields without a position") };
        got_fields.insert(partner_outcome.own_record(segment, p).unwrap(), f.fields.clone());
    }
    for fields in expected_fields.values_mut() {
        fields.sort();
    }
    assert_eq!(got_fields, expected_fields);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn session_equals_plaintext_intersection(a in arb_side(14), b in arb_side(14), sa in any::<u8>(), sb in any::<u8>()) {
        let (oa, ob) = run(&a, &b, (sa, sb.wrapping_add(1)));
        check(&a, &b, &oa, &ob);
        check(&b, &a, &ob, &oa);
    }
}

fn side(records: Vec<Record>, level: Level) -> Side {
    Side {
        records,
        policy: DisclosurePolicy::new(level).with_min_partner_segment(0).with_threshold(0),
        config: SessionConfig::default(),
    }
}

fn rec(id: &str, seg: &str, keys: &[(&str, &str)]) -> Record {
    let mut r = Record::new(id, SegmentLabel::new(seg).unwrap());
    for (t, v) in keys {
        r = r.with_key(MatchKey::new(KeyType::new(t).unwrap(), *v));
    }
    r
}

#[test]
fn one_to_many_and_many_to_one_are_reported() {
    // Vendor record v1 matches partner p1 (domain) and p2 (duns); partner p3 matches v2 and v3.
    let vendor = side(
        vec![
            rec("v1", "customers", &[("domain", "acme.com"), ("duns", "123456789")]),
            rec("v2", "customers", &[("domain", "globex.com")]),
            rec("v3", "prospects", &[("domain", "globex.com")]),
        ],
        Level::Overlaps,
    );
    let partner = side(
        vec![
            rec("p1", "customers", &[("domain", "acme.com")]),
            rec("p2", "customers", &[("duns", "123456789")]),
            rec("p3", "customers", &[("domain", "globex.com")]),
        ],
        Level::Overlaps,
    );
    let (ov, op) = run(&vendor, &partner, (1, 2));
    check(&vendor, &partner, &ov, &op);
    check(&partner, &vendor, &op, &ov);
    assert_eq!(ov.overlaps().iter().filter(|o| o.record == 0).count(), 2, "one-to-many");
    assert_eq!(op.overlaps().iter().filter(|o| o.record == 2).count(), 2, "many-to-one seen from the partner");
}

#[test]
fn key_types_are_domain_separated() {
    let a = side(vec![rec("a", "s", &[("domain", "123456789")])], Level::Overlaps);
    let b = side(vec![rec("b", "s", &[("duns", "123456789")])], Level::Overlaps);
    let (oa, ob) = run(&a, &b, (3, 4));
    assert!(oa.overlaps().is_empty() && ob.overlaps().is_empty());
    assert_eq!(oa.cell(0, 0), Cell::Count(0));
}

#[test]
fn empty_sides_finish() {
    let a = side(Vec::new(), Level::Overlaps);
    let b = side(vec![rec("b", "s", &[("domain", "x.com")])], Level::Overlaps);
    let (oa, ob) = run(&a, &b, (5, 6));
    assert!(oa.own_segments().is_empty());
    assert!(ob.partner_segments().is_empty() && ob.overlaps().is_empty());
    assert!(oa.overlaps().is_empty());
}

#[test]
fn a_session_reports_its_state_and_a_failed_one_stays_failed() {
    let data = Arc::new(Dataset::new(vec![rec("a", "s", &[("domain", "x.com")])]).unwrap());
    let initiator = |seed| started(Session::initiator, &data, seed);
    let responder = |seed| started(Session::responder, &data, seed);

    // Waiting for the peer's hello: neither finished nor failed, and no outcome yet.
    let waiting = initiator(1);
    assert!(!waiting.is_finished() && !waiting.is_failed());
    assert_eq!(format!("{waiting:?}"), "Session { role: Initiator, send_seq: 1, recv_seq: 0, .. }");
    assert!(matches!(waiting.into_outcome(), Err(Error::State(why)) if why.contains("not finished")));

    // Hellos and plans exchanged, the exchange under way (each side's first frames delivered,
    // twice over): still no outcome.
    let (mut i, mut r) = (initiator(2), responder(3));
    for _ in 0..2 {
        if let Some(frame) = i.poll_transmit() {
            r.receive(&frame).unwrap();
        }
        if let Some(frame) = r.poll_transmit() {
            i.receive(&frame).unwrap();
        }
    }
    assert!(!i.is_finished() && !i.is_failed());
    assert!(matches!(i.into_outcome(), Err(Error::State(why)) if why.contains("not finished")));

    // A frame that is not one ends the session for good: what comes next is refused unread, and
    // the outcome is the first error.
    let mut broken = initiator(4);
    let first = broken.receive(b"not a frame").unwrap_err().to_string();
    assert!(broken.is_failed() && !broken.is_finished());
    assert!(matches!(broken.receive(b"another"), Err(Error::State(why)) if why.contains("ended")));
    assert_eq!(broken.into_outcome().unwrap_err().to_string(), first);
}

#[test]
fn a_message_out_of_turn_is_refused_naming_what_was_expected() {
    let data = Arc::new(Dataset::new(vec![rec("a", "s", &[("domain", "x.com")])]).unwrap());
    let initiator = |seed| started(Session::initiator, &data, seed);
    let responder = |seed| started(Session::responder, &data, seed);
    let out_of_turn = |result: Result<(), Error>, want: &str, came: &str| match result {
        Err(Error::Peer(PeerMisbehaviour::UnexpectedMessage { expected, got })) => {
            assert_eq!((expected.as_str(), got.as_str()), (want, came));
        }
        other => panic!("{other:?}"),
    };
    let (mut i, mut r) = (initiator(1), responder(2));
    r.receive(&i.poll_transmit().unwrap()).unwrap();
    let (hello, plan) = (r.poll_transmit().unwrap(), r.poll_transmit().unwrap());
    let with_seq = |bytes: &[u8], seq| {
        let mut frame = Frame::decode(bytes).unwrap();
        frame.seq = seq;
        frame.encode()
    };
    // A responder whose first frame is a plan.
    out_of_turn(responder(3).receive(&with_seq(&plan, 0)), "Hello", "Plan");
    // An initiator that has the responder's hello, sent a hello again where its plan belongs.
    i.receive(&hello).unwrap();
    out_of_turn(i.receive(&with_seq(&hello, 1)), "Plan", "Hello");
}

/// A session of two parties with the same records and level, one record per chunk, whose
/// responder's frames are replayed to fresh initiators in other orders.
struct Replay {
    /// Both parties' records, policy and configuration.
    side: Side,
    /// The responder's frames, in order.
    frames: Vec<Vec<u8>>,
    /// Whether the responder had finished right after it last sent frames.
    finished_on_last_send: bool,
}

impl Replay {
    fn record(records: Vec<Record>, level: Level) -> Self {
        let mut side = side(records, level);
        side.config.chunk_records = 1;
        let mut replay = Self { side, frames: Vec::new(), finished_on_last_send: false };
        let mut i = replay.initiator();
        let mut responder = session(Session::responder, &replay.side, 2);
        while !responder.is_finished() {
            while let Some(frame) = i.poll_transmit() {
                responder.receive(&frame).unwrap();
            }
            let sent = replay.frames.len();
            while let Some(frame) = responder.poll_transmit() {
                i.receive(&frame).unwrap();
                replay.frames.push(frame);
            }
            if replay.frames.len() > sent {
                replay.finished_on_last_send = responder.is_finished();
            }
        }
        assert!(i.is_finished());
        replay
    }

    /// Two records of one segment, each with an owner, at the fields level: each of the
    /// responder's Elements chunks is followed by its Blinded keys (spec §9.6), and its fields go
    /// in Sealed chunks.
    fn fields() -> Self {
        let owner = || FieldName::new("owner").unwrap();
        let owned = |id: &str, domain: &str| rec(id, "s", &[("domain", domain)]).with_field(owner(), "Ada");
        Self::record(vec![owned("a", "x.com"), owned("b", "y.com")], Level::Fields(vec![owner()]))
    }

    fn initiator(&self) -> Session {
        session(Session::initiator, &self.side, 1)
    }

    fn kinds(&self) -> Vec<&'static str> {
        self.frames.iter().map(|f| Frame::peek_kind(f).unwrap().name()).collect()
    }

    /// The responder's `k`th frame.
    fn frame(&self, k: usize) -> Frame {
        Frame::decode(&self.frames[k]).unwrap()
    }

    /// The error of a fresh initiator given the responder's frames in `order`, renumbered.
    fn error(&self, order: &[usize]) -> String {
        self.error_of(order.iter().map(|&k| self.frame(k)))
    }

    /// The error of a fresh initiator given the responder's frames up to its `k`th, whose
    /// message `forge` changes first.
    fn forged(&self, k: usize, forge: impl FnOnce(&mut Message)) -> String {
        let mut last = self.frame(k);
        forge(&mut last.message);
        self.error_of((0..k).map(|j| self.frame(j)).chain([last]))
    }

    /// The error of a fresh initiator given `frames`, renumbered.
    fn error_of(&self, frames: impl Iterator<Item = Frame>) -> String {
        let mut i = self.initiator();
        for (seq, mut frame) in frames.enumerate() {
            frame.seq = u32::try_from(seq).unwrap();
            if let Err(e) = i.receive(&frame.encode()) {
                return e.to_string();
            }
            while i.poll_transmit().is_some() {}
        }
        panic!("the frames were taken");
    }
}

fn unexpected(expected: &str, got: &str) -> String {
    format!("peer violated the protocol: unexpected message: expected {expected}, got {got}")
}

/// Each record of a one-record chunk twice: a chunk of two.
fn doubled<T: Clone>(chunk: &mut RecordChunk<T>) {
    assert_eq!(chunk.widths.len(), 1);
    chunk.widths.push(chunk.widths[0]);
    chunk.items.extend(chunk.items.clone());
}

#[test]
fn a_message_out_of_turn_in_the_exchange_names_what_was_due() {
    // Two one-record segments: the responder sends Hello, Plan, Tags for each of the
    // initiator's two Elements chunks, then its own two Elements chunks — and then still waits
    // for the returns of its records.
    let replay = Replay::record(
        vec![rec("a", "s", &[("domain", "x.com")]), rec("b", "t", &[("domain", "y.com")])],
        Level::Overlaps,
    );
    assert_eq!(replay.kinds(), ["Hello", "Plan", "Tags", "Tags", "Elements", "Elements"]);
    assert!(!replay.finished_on_last_send);
    // Elements while the return for the second chunk is owed.
    assert_eq!(replay.error(&[0, 1, 2, 4]), unexpected("Tags 0 for segment 1 from position 0, 1 records", "Elements"));
    // Tags again where the responder's own records are due.
    assert_eq!(replay.error(&[0, 1, 2, 3, 2]), unexpected("Elements for segment 0", "Tags"));
}

#[test]
fn a_records_chunk_past_its_segment_is_refused() {
    // One segment of two records, one per chunk: the second chunk claims one record more.
    let replay = Replay::record(
        vec![rec("a", "s", &[("domain", "x.com")]), rec("b", "s", &[("domain", "y.com")])],
        Level::Overlaps,
    );
    let kinds = replay.kinds();
    assert_eq!(kinds, ["Hello", "Plan", "Tags", "Tags", "Elements", "Elements"]);
    let error = replay.forged(5, |message| {
        let Message::Elements(chunk) = message else { panic!("{kinds:?}") };
        assert_eq!(chunk.first, 1);
        doubled(chunk);
    });
    assert_eq!(
        error,
        unexpected(
            "Elements for segment 0 from position 1, at most 1 records",
            "Elements for segment 0 from position 1, 2 records"
        )
    );
}

#[test]
fn a_records_chunk_where_its_blinded_keys_are_due_is_refused() {
    let replay = Replay::fields();
    let kinds = replay.kinds();
    let elements: Vec<usize> = (0..kinds.len()).filter(|&k| kinds[k] == "Elements").collect();
    assert_eq!(kinds[elements[0] + 1], "Blinded", "{kinds:?}");
    // The responder's second Elements chunk in place of its first one's Blinded keys.
    let mut order: Vec<usize> = (0..=elements[0]).collect();
    order.push(elements[1]);
    assert_eq!(
        replay.error(&order),
        unexpected("Blinded from position 1, at most 1 records", "Elements for segment 0 from position 1, 1 records")
    );
}

#[test]
fn blinded_keys_for_other_records_are_refused() {
    // Two records one per chunk: Elements, Blinded for each.
    let replay = Replay::fields();
    let kinds = replay.kinds();
    let blinded = kinds.iter().position(|k| *k == "Blinded").unwrap();
    let forged = |edit: fn(&mut RecordChunk<[u8; 32]>)| {
        replay.forged(blinded, |message| {
            let Message::Blinded(chunk) = message else { panic!("{kinds:?}") };
            edit(chunk);
        })
    };
    let due = "Blinded for segment 0 from position 0, 1 records";
    // Another position, or another number of records, than the Elements chunk before.
    assert_eq!(forged(|c| c.first = 1), unexpected(due, "Blinded for segment 0 from position 1, 1 records"));
    assert_eq!(forged(doubled), unexpected(due, "Blinded for segment 0 from position 0, 2 records"));
}

#[test]
fn sealed_fields_for_other_records_are_refused() {
    // Two records one per chunk: the first Sealed chunk, for group 0, segment 0, position 0, one
    // record, is changed one part at a time; then the second, from position 1.
    let replay = Replay::fields();
    let kinds = replay.kinds();
    let sealed = |at: usize, first: u32, edit: fn(&mut SealedChunk)| {
        replay.forged(at, |message| {
            let Message::Sealed(chunk) = message else { panic!("{kinds:?}") };
            assert_eq!((chunk.group, chunk.segment, chunk.first, chunk.records.len()), (0, 0, first, 1), "{kinds:?}");
            edit(chunk);
        })
    };
    let first = kinds.iter().position(|k| *k == "Sealed").unwrap();
    let forged = |edit| sealed(first, 0, edit);
    let due = "Sealed 0 for segment 0 from position 0, at most 2 records";
    assert_eq!(forged(|c| c.group = 1), unexpected(due, "Sealed 1 for segment 0 from position 0, 1 records"));
    assert_eq!(forged(|c| c.segment = 1), unexpected(due, "Sealed 0 for segment 1 from position 0, 1 records"));
    assert_eq!(forged(|c| c.first = 1), unexpected(due, "Sealed 0 for segment 0 from position 1, 1 records"));
    let three = |c: &mut SealedChunk| {
        let record = c.records[0].clone();
        c.records.extend([record.clone(), record]);
    };
    assert_eq!(forged(three), unexpected(due, "Sealed 0 for segment 0 from position 0, 3 records"));

    // The second chunk, from position 1, claims both records.
    let second = kinds.iter().rposition(|k| *k == "Sealed").unwrap();
    let both = sealed(second, 1, |c| c.records.push(c.records[0].clone()));
    assert_eq!(
        both,
        unexpected(
            "Sealed 0 for segment 0 from position 1, at most 1 records",
            "Sealed 0 for segment 0 from position 1, 2 records"
        )
    );
}

#[test]
fn shuffled_returns_past_what_is_owed_are_refused() {
    // The responder counts the initiator's two records (spec §9.5): it returns them shuffled, one
    // record per chunk. Its second return claims one record more than is left.
    let replay = Replay::record(
        vec![rec("a", "s", &[("domain", "x.com")]), rec("b", "s", &[("domain", "y.com")])],
        Level::Counts,
    );
    let kinds = replay.kinds();
    let returns: Vec<usize> = (0..kinds.len()).filter(|&k| kinds[k] == "Tags").collect();
    let mut reference = 0;
    let error = replay.forged(returns[1], |message| {
        let Message::Tags(chunk) = message else { panic!("{kinds:?}") };
        assert_eq!(chunk.first, 1, "{kinds:?}");
        reference = chunk.reference;
        doubled(chunk);
    });
    assert_eq!(
        error,
        unexpected(
            &format!("Tags {reference} for segment 0 from position 1, at most 1 records"),
            &format!("Tags {reference} for segment 0 from position 1, 2 records")
        )
    );
}

/// A session between `a` (initiator) and `b` in rounds: each side's frames of a round pass
/// through `edit(from_initiator, frames)` before the other side gets them. The outcomes.
fn run_edited(a: &Side, b: &Side, mut edit: impl FnMut(bool, &mut Vec<Frame>)) -> (Outcome, Outcome) {
    let (mut i, mut r) = (session(Session::initiator, a, 1), session(Session::responder, b, 2));
    while !(i.is_finished() && r.is_finished()) {
        let mut moved = false;
        for from_initiator in [true, false] {
            let (from, to) = if from_initiator { (&mut i, &mut r) } else { (&mut r, &mut i) };
            let mut frames = Vec::new();
            while let Some(bytes) = from.poll_transmit() {
                frames.push(Frame::decode(&bytes).unwrap());
            }
            moved |= !frames.is_empty();
            edit(from_initiator, &mut frames);
            for frame in frames {
                to.receive(&frame.encode()).unwrap();
            }
        }
        assert!(moved, "stalled");
    }
    (i.into_outcome().unwrap(), r.into_outcome().unwrap())
}

#[test]
fn returns_are_compared_only_with_the_class_they_are_returned_for() {
    // The forger's segments p and q hold the victim's x.com in different key classes (q is
    // hidden from the victim's r1, p is not: spec §6.4), so the victim's r0 is returned twice, once
    // per class. A forger that swaps the two returns' tags must not get them compared with its
    // other class's records: neither match holds, whichever side returns first (spec §10.1).
    let victim =
        side(vec![rec("v0", "r0", &[("domain", "x.com")]), rec("v1", "r1", &[("domain", "z.com")])], Level::Overlaps);
    let mut forger =
        side(vec![rec("p0", "p", &[("domain", "x.com")]), rec("q0", "q", &[("domain", "x.com")])], Level::Overlaps);
    forger.policy = forger
        .policy
        .with_rule(Some(SegmentLabel::new("q").unwrap()), Some(SegmentLabel::new("r1").unwrap()), Level::Hidden)
        .unwrap();
    let swap = |frames: &mut Vec<Frame>| {
        let tags: Vec<usize> =
            (0..frames.len()).filter(|&k| matches!(&frames[k].message, Message::Tags(c) if c.segment == 0)).collect();
        if let [k0, k1] = tags[..] {
            let items = |k: usize, frames: &mut Vec<Frame>| match &mut frames[k].message {
                Message::Tags(c) => std::mem::take(&mut c.items),
                _ => unreachable!(),
            };
            let (a, b) = (items(k0, frames), items(k1, frames));
            for (k, items) in [(k0, b), (k1, a)] {
                if let Message::Tags(c) = &mut frames[k].message {
                    c.items = items;
                }
            }
        }
    };
    for victim_first in [true, false] {
        let (honest, _) = if victim_first {
            run(&victim, &forger, (1, 2))
        } else {
            let (f, v) = run(&forger, &victim, (1, 2));
            (v, f)
        };
        assert_eq!(honest.overlaps().len(), 2, "victim first: {victim_first}");
        let mut swapped = 0;
        let (forged, _) = if victim_first {
            run_edited(&victim, &forger, |from_initiator, frames| {
                if !from_initiator {
                    swapped += 1;
                    swap(frames)
                }
            })
        } else {
            let (f, v) = run_edited(&forger, &victim, |from_initiator, frames| {
                if from_initiator {
                    swapped += 1;
                    swap(frames)
                }
            });
            (v, f)
        };
        assert!(swapped > 0);
        assert_eq!(forged.overlaps().len(), 0, "victim first: {victim_first}");
    }
}

#[test]
fn a_partner_may_declare_exactly_as_many_records_and_keys_as_allowed() {
    // Three records, one with two keys: 3 records, and 3 × 2 = 6 keys by records × max width.
    let initiator = side(
        vec![
            rec("a", "s", &[("domain", "a.com"), ("duns", "111111111")]),
            rec("b", "s", &[("domain", "b.com")]),
            rec("c", "s", &[("domain", "c.com")]),
        ],
        Level::Counts,
    );
    let run = |records: u64, keys: u64| {
        let mut responder = side(vec![rec("r", "s", &[("domain", "a.com")])], Level::Counts);
        responder.config =
            SessionConfig { max_partner_records: records, max_partner_keys: keys, ..SessionConfig::default() };
        try_run(&initiator, &responder, (1, 2)).map(|_| ())
    };
    assert_eq!(run(3, 6), Ok(()));
    let too_large = |result: Result<(), Error>, which: &str| match result {
        Err(Error::Peer(PeerMisbehaviour::SetTooLarge { what, .. })) => assert!(what.starts_with(which), "{what}"),
        other => panic!("{other:?}"),
    };
    too_large(run(2, 6), "records");
    too_large(run(3, 5), "keys");
}

#[test]
fn two_responders_wait_for_each_other_and_the_run_says_it_stalled() {
    let data = |id| Arc::new(Dataset::new(vec![rec(id, "s", &[("domain", "x.com")])]).unwrap());
    let responder = |id, seed| started(Session::responder, &data(id), seed);
    match run_in_process(responder("a", 1), responder("b", 2)) {
        Err(Error::State(why)) => assert!(why.contains("stalled"), "{why}"),
        other => panic!("{:?}", other.map(|_| "a finished run")),
    }
}

#[test]
fn largest_fields_fit_in_a_sealed_value() {
    // 32 fields of the maximum length on a record with the maximum number of keys.
    let names: Vec<FieldName> =
        (0..blindmap_psi::MAX_FIELDS).map(|i| FieldName::new(&format!("f{i}")).unwrap()).collect();
    let mut big = rec("big", "s", &[("domain", "shared.example")]);
    for i in 0..blindmap_psi::MAX_KEYS_PER_RECORD - 1 {
        big = big.with_key(MatchKey::new(KeyType::new("duns").unwrap(), format!("{i:09}")));
    }
    for n in &names {
        big = big.with_field(n.clone(), "x".repeat(blindmap_psi::MAX_FIELD_LEN));
    }
    let sender = side(vec![big], Level::Fields(names.clone()));
    let receiver = side(vec![rec("r", "s", &[("domain", "shared.example")])], Level::Hidden);
    let (_, or) = run(&sender, &receiver, (7, 8));
    let fields = &or.partner_fields()[0].fields;
    let disclosed = &or.partner_fields()[0];
    assert!(std::ptr::eq(or.fields_of(&disclosed.partner).unwrap(), disclosed));
    let elsewhere = PartnerRecord { segment: disclosed.partner.segment + 1, ..disclosed.partner };
    assert!(or.fields_of(&elsewhere).is_none());
    // An outcome's Debug is a summary: counts, not values.
    let shown = format!("{or:?}");
    assert!(
        shown.starts_with("Outcome {") && shown.contains("partner_fields: 1") && !shown.contains("xxxx"),
        "{shown}"
    );
    assert_eq!(fields.len(), names.len());
    assert!(fields.iter().all(|(_, v)| v.as_deref().map(str::len) == Some(blindmap_psi::MAX_FIELD_LEN)));
}

#[test]
fn matches_beyond_the_limit_are_dropped_not_signalled() {
    // 40 × 40 records sharing one key make 1,600 pairs in one batch; a batch that would take the
    // receiver past its limit of 1,000 is dropped whole and the results marked incomplete,
    // without telling the sender (spec §10.1).
    let records = |p: &str| (0..40).map(|i| rec(&format!("{p}{i}"), "s", &[("domain", "same.example")])).collect();
    let mut a = side(records("a"), Level::Overlaps);
    let b = side(records("b"), Level::Overlaps);
    a.config.max_matches = Some(1000);
    let (oa, ob) = run(&a, &b, (1, 2));
    assert!(oa.is_truncated());
    assert_eq!(oa.overlaps().len(), 0);
    assert!(!ob.is_truncated());
    assert_eq!(ob.overlaps().len(), 1600);
}

/// `n` records of one segment, `{prefix}{i}` with domain `d{i}.example`: one-to-one matches.
fn numbered(prefix: &str, n: usize) -> Vec<Record> {
    (0..n).map(|i| rec(&format!("{prefix}{i}"), "s", &[("domain", &format!("d{i}.example"))])).collect()
}

/// The limited party's overlaps and whether it marked them incomplete, from both roles.
fn limited(limited: &Side, other: &Side) -> [(usize, bool); 2] {
    let (as_initiator, _) = run(limited, other, (5, 6));
    let (_, as_responder) = run(other, limited, (7, 8));
    [as_initiator, as_responder].map(|o| (o.overlaps().len(), o.is_truncated()))
}

#[test]
fn the_match_limit_keeps_whole_batches_until_one_would_pass_it() {
    // 40 one-to-one matches in chunks of 10 records: four batches of 10 pairs, whichever party
    // probes first (spec §10.1). With a limit of 25 two batches fit; the third would pass it, so
    // it and every later batch are dropped.
    let mut a = side(numbered("a", 40), Level::Overlaps);
    let mut b = side(numbered("b", 40), Level::Overlaps);
    a.config.chunk_records = 10;
    b.config.chunk_records = 10;
    for (limit, expected) in [(25, (20, true)), (39, (30, true)), (40, (40, false)), (10, (10, true)), (9, (0, true))] {
        a.config.max_matches = Some(limit);
        assert_eq!(limited(&a, &b), [expected; 2], "limit {limit}");
    }
}

#[test]
fn a_bloom_filter_is_one_batch_for_the_match_limit() {
    // A partner serving Bloom filters (spec §9.7) sends one filter per segment: its 40 matches
    // fit a limit of 40 and are dropped whole under a limit of 39.
    let mut a = side(numbered("a", 40), Level::Hidden);
    let mut b = side(numbered("b", 40), Level::Overlaps);
    b.config = SessionConfig { learn: false, bloom: true, ..SessionConfig::default() };
    for (limit, expected) in [(40, (40, false)), (39, (0, true))] {
        a.config.max_matches = Some(limit);
        assert_eq!(limited(&a, &b), [expected; 2], "limit {limit}");
    }
}

#[test]
fn counts_count_records_through_their_first_new_keys() {
    // r1 and r2 are the same account (r2 adds nothing new: counted once); r3 shares the domain
    // but is counted through its DUNS number; the overlaps cell reports all three.
    let receiver = side(
        vec![
            rec("r1", "s", &[("domain", "dup.example")]),
            rec("r2", "s", &[("domain", "dup.example")]),
            rec("r3", "s", &[("domain", "dup.example"), ("duns", "123456789")]),
        ],
        Level::Hidden,
    );
    let mut sender = side(
        vec![
            rec("c1", "counted", &[("domain", "dup.example"), ("duns", "123456789")]),
            rec("o1", "ordered", &[("domain", "dup.example"), ("duns", "123456789")]),
        ],
        Level::Overlaps,
    );
    sender.policy = sender.policy.with_rule(Some(SegmentLabel::new("counted").unwrap()), None, Level::Counts).unwrap();
    let (o, _) = run(&receiver, &sender, (3, 9));
    let col = |name: &str| o.partner_segments().iter().position(|s| s.label.as_str() == name).unwrap();
    assert_eq!(o.cell(0, col("counted")), Cell::Count(2));
    assert_eq!(o.cell(0, col("ordered")), Cell::Count(3));
}

#[test]
fn bloom_sessions_refuse_counts_fields_and_learning_before_any_message() {
    let data = Arc::new(Dataset::new(vec![rec("a", "s", &[("domain", "a.com")])]).unwrap());
    let bloom = SessionConfig { learn: false, bloom: true, ..SessionConfig::default() };
    let refusal = |policy: DisclosurePolicy, config: &SessionConfig| {
        Session::responder(Arc::clone(&data), policy, config.clone(), SessionSeed::from_bytes_unchecked([1; 32])).err()
    };
    let overlaps = DisclosurePolicy::new(Level::Overlaps);
    // spec §9.7: a rule alone is enough, whether or not any segment would use it.
    for level in [Level::Counts, Level::Fields(vec![FieldName::new("owner").unwrap()])] {
        let policy = overlaps.clone().with_rule(None, Some(SegmentLabel::new("t").unwrap()), level).unwrap();
        assert_eq!(refusal(policy, &bloom), Some(Error::from(InputError::BloomLevel)));
    }
    let learning = SessionConfig { learn: true, ..bloom };
    assert_eq!(refusal(overlaps.clone(), &learning), Some(Error::from(InputError::BloomWhileLearning)));
    assert_eq!(refusal(overlaps, &bloom), None);
}

/// spec §9.1: a responder that rejects the initiator's first frame has no session id yet, so its
/// Abort carries 16 zero bytes; the initiator takes that Abort, as the responder's first frame
/// only, instead of dropping it as another session's.
#[test]
fn an_abort_sent_before_the_responder_has_a_session_id_reaches_the_initiator() {
    let data = Arc::new(Dataset::new(vec![rec("a", "s", &[("domain", "a.com")])]).unwrap());
    let policy = DisclosurePolicy::new(Level::Overlaps);
    let session = |responder: bool, seed: u8| {
        let seed = SessionSeed::from_bytes_unchecked([seed; 32]);
        let (data, policy, config) = (Arc::clone(&data), policy.clone(), SessionConfig::default());
        if responder {
            Session::responder(data, policy, config, seed).unwrap()
        } else {
            Session::initiator(data, policy, config, seed).unwrap()
        }
    };
    type Spoil = fn(&mut Vec<u8>);
    let bad_first_frames: [(&str, Spoil); 3] = [
        ("another version", |f| f[0] = 2),
        ("cut short", |f| f.truncate(10)),
        ("a later sequence number", |f| f[21] = 1),
    ];
    for (what, spoil) in bad_first_frames {
        let mut initiator = session(false, 1);
        let mut responder = session(true, 2);
        let mut hello = initiator.poll_transmit().unwrap();
        spoil(&mut hello);
        let refused = responder.receive(&hello).unwrap_err();
        let abort = responder.poll_transmit().expect("the responder explains");
        assert_eq!(abort[2..18], [0u8; 16], "{what}: no session id to send yet");
        assert_eq!(
            initiator.receive(&abort),
            Err(Error::PeerAborted(refused.abort_code())),
            "{what}: the initiator learns why"
        );
        assert!(initiator.poll_transmit().is_none(), "{what}: an abort is not answered");
    }

    // Only as the responder's first frame, and only an Abort.
    let mut initiator = session(false, 1);
    let mut responder = session(true, 2);
    responder.receive(&initiator.poll_transmit().unwrap()).unwrap();
    let mut hello = responder.poll_transmit().unwrap();
    hello[2..18].fill(0);
    assert!(matches!(initiator.receive(&hello), Err(Error::Peer(_))), "a Hello with no session id");
    let mut initiator = session(false, 1);
    let mut responder = session(true, 2);
    responder.receive(&initiator.poll_transmit().unwrap()).unwrap();
    initiator.receive(&responder.poll_transmit().unwrap()).unwrap();
    // In place of the responder's second frame (its Plan, seq 1): an Abort without a session id.
    let mut abort = responder.poll_transmit().unwrap();
    abort.truncate(26);
    abort[1] = 0x0f;
    abort[2..18].fill(0);
    abort[22..26].copy_from_slice(&2u32.to_be_bytes());
    abort.extend_from_slice(&9u16.to_be_bytes());
    assert!(matches!(initiator.receive(&abort), Err(Error::Peer(_))), "a zero-id Abort after the first frame");
}

/// spec §20.5: a Bloom sender under kept keys serves the same filters in every session with its
/// partner, from its cache after the first, and the receiver learns what a fresh seed gives.
#[test]
fn kept_keys_serve_the_same_filters_from_the_cache_and_the_same_results() {
    use blindmap_psi::{BloomCache, Direction, KeptKeys, Observer};
    let vendor: Vec<Record> =
        (0..300).map(|i| rec(&format!("v{i}"), "customers", &[("domain", &format!("d{i}.com"))])).collect();
    let vendor = Arc::new(Dataset::new(vendor).unwrap());
    let partner = |from: usize| {
        let records = (from..from + 40).map(|i| rec(&format!("p{i}"), "accounts", &[("domain", &format!("d{i}.com"))]));
        Arc::new(Dataset::new(records.collect()).unwrap())
    };
    let bloom = SessionConfig { learn: false, bloom: true, ..SessionConfig::default() };
    let overlaps = DisclosurePolicy::new(Level::Overlaps);
    let initiator = |data| {
        Session::initiator(
            data,
            DisclosurePolicy::new(Level::Hidden),
            SessionConfig::default(),
            SessionSeed::random(&mut rand::rng()),
        )
        .unwrap()
    };
    #[derive(Default)]
    struct Filters(Vec<Vec<u8>>);
    impl Observer for Filters {
        fn produced(&mut self, direction: Direction, frame: &[u8]) {
            if direction == Direction::ResponderToInitiator
                && let Ok(Frame { message: Message::Bloom(chunk), .. }) = Frame::decode(frame)
            {
                self.0.push(chunk.data);
            }
        }
    }
    let keys = KeptKeys::random(&mut rand::rng());
    let cache = Arc::new(BloomCache::new(&keys));
    let kept = |from: usize, cache: &Arc<BloomCache>| {
        let responder =
            Session::bloom_responder(Arc::clone(&vendor), overlaps.clone(), bloom.clone(), &keys, Arc::clone(cache))
                .unwrap();
        let mut filters = Filters::default();
        let run = blindmap_psi::run_in_process_with(initiator(partner(from)), responder, &mut filters).unwrap();
        (run.initiator.overlaps().iter().map(|o| o.record).collect::<Vec<_>>(), filters.0)
    };
    let (first, filters) = kept(280, &cache);
    assert_eq!(first, (0..20).collect::<Vec<_>>(), "d280..d299 overlap");
    assert!(cache.bytes() >= 300 * 32, "the evaluated keys are kept: {} bytes", cache.bytes());
    // Another session of the same size: the same filter, from the cache.
    let (second, again) = kept(270, &cache);
    assert_eq!(second, (0..30).collect::<Vec<_>>());
    assert_eq!(again, filters);
    // A fresh seed gives the same overlaps and another filter.
    let fresh =
        Session::responder(Arc::clone(&vendor), overlaps.clone(), bloom.clone(), SessionSeed::random(&mut rand::rng()))
            .unwrap();
    let mut other = Filters::default();
    let run = blindmap_psi::run_in_process_with(initiator(partner(270)), fresh, &mut other).unwrap();
    assert_eq!(run.initiator.overlaps().iter().map(|o| o.record).collect::<Vec<_>>(), second);
    assert_ne!(other.0, filters);
    // Kept keys read back are the same keys; a cache is for its keys only, and for Bloom senders.
    let read_back = KeptKeys::from_bytes(&keys.to_bytes());
    assert!(
        Session::bloom_responder(Arc::clone(&vendor), overlaps.clone(), bloom.clone(), &read_back, Arc::clone(&cache))
            .is_ok()
    );
    let other_keys = KeptKeys::random(&mut rand::rng());
    assert!(
        Session::bloom_responder(Arc::clone(&vendor), overlaps.clone(), bloom.clone(), &other_keys, Arc::clone(&cache))
            .is_err()
    );
    let learning = SessionConfig::default();
    assert!(Session::bloom_responder(Arc::clone(&vendor), overlaps, learning, &keys, cache).is_err());
}

/// A partner that discloses nothing and learns, in a session with fresh seeds against `vendor`
/// serving Bloom filters under new kept keys with `served`: the run, and the vendor's cache of
/// its evaluations (what a reveal is located in, spec §20.5–§20.6).
fn kept_bloom_run(
    partner: &Arc<Dataset>,
    vendor: &Arc<Dataset>,
    served: DisclosurePolicy,
) -> (InProcessRun, Arc<blindmap_psi::BloomCache>) {
    let keys = blindmap_psi::KeptKeys::random(&mut rand::rng());
    let cache = Arc::new(blindmap_psi::BloomCache::new(&keys));
    let bloom = SessionConfig { learn: false, bloom: true, ..SessionConfig::default() };
    let responder = Session::bloom_responder(Arc::clone(vendor), served, bloom, &keys, Arc::clone(&cache)).unwrap();
    let run = run_in_process(fresh(partner, DisclosurePolicy::new(Level::Hidden)), responder).unwrap();
    (run, cache)
}

/// A regular session with fresh seeds: `partner` disclosing `shares` as the initiator, `vendor`
/// disclosing `vendor_policy` as the responder; each learns as asked.
fn fresh_run(
    partner: &Arc<Dataset>,
    shares: DisclosurePolicy,
    vendor: &Arc<Dataset>,
    vendor_policy: DisclosurePolicy,
    vendor_learns: bool,
) -> InProcessRun {
    let responder = Session::responder(
        Arc::clone(vendor),
        vendor_policy,
        SessionConfig { learn: vendor_learns, ..SessionConfig::default() },
        SessionSeed::random(&mut rand::rng()),
    )
    .unwrap();
    run_in_process(fresh(partner, shares), responder).unwrap()
}

/// The initiator over `data`, disclosing `policy`, with a fresh seed.
fn fresh(data: &Arc<Dataset>, policy: DisclosurePolicy) -> Session {
    Session::initiator(Arc::clone(data), policy, SessionConfig::default(), SessionSeed::random(&mut rand::rng()))
        .unwrap()
}

/// spec §20.6: after a Bloom session, what the receiver's policy reveals gives the sender the
/// overlaps a regular session disclosing the same would have given it; an element that is not
/// one of the sender's keys, or a reveal of another shape, is refused whole.
#[test]
fn a_reveal_gives_the_bloom_sender_what_a_regular_session_would() {
    use blindmap_psi::RevealError;
    let owner = FieldName::new("owner").unwrap();
    let vendor: Vec<Record> = (0..200)
        .map(|i| {
            rec(
                &format!("v{i}"),
                if i % 2 == 0 { "customers" } else { "prospects" },
                &[("domain", &format!("d{i}.com"))],
            )
        })
        .collect();
    let vendor = Arc::new(Dataset::new(vendor).unwrap());
    let partner: Vec<Record> = (150..260)
        .map(|i| {
            rec(&format!("p{i}"), if i % 3 == 0 { "accounts" } else { "leads" }, &[("domain", &format!("d{i}.com"))])
                .with_field(owner.clone(), format!("rep {}", i % 7))
        })
        .collect();
    let partner = Arc::new(Dataset::new(partner).unwrap());
    // The partner shows overlaps of its leads and the owner of its accounts.
    let shares = DisclosurePolicy::new(Level::Overlaps)
        .with_rule(Some(SegmentLabel::new("accounts").unwrap()), None, Level::Fields(vec![owner.clone()]))
        .unwrap()
        .with_min_partner_segment(1);
    let (run, cache) = kept_bloom_run(&partner, &vendor, DisclosurePolicy::new(Level::Overlaps));
    assert!(run.responder.overlaps().is_empty(), "the sender learned nothing in the session");
    let reveal = run.initiator.reveal(&partner, &shares, &mut rand::rng());
    let revealed = run.responder.clone().with_reveal(&vendor, &cache, &reveal).unwrap();

    // The same two lists in a regular session in which the partner discloses the same.
    let regular = fresh_run(&partner, shares.clone(), &vendor, DisclosurePolicy::new(Level::Hidden), true);
    let records = |o: &Outcome| o.overlaps().iter().map(|o| o.record).collect::<BTreeSet<_>>();
    assert_eq!(records(&revealed), records(&regular.responder));
    assert_eq!(records(&revealed).len(), 50, "d150..d199");
    for row in 0..2 {
        for col in 0..2 {
            assert_eq!(revealed.cell(row, col), regular.responder.cell(row, col), "cell ({row}, {col})");
            assert_eq!(revealed.level(row, col), regular.responder.level(row, col));
        }
    }
    let owners = |o: &Outcome| {
        let mut v: Vec<Option<String>> = o.partner_fields().iter().map(|f| f.fields[0].1.clone()).collect();
        v.sort();
        v
    };
    assert_eq!(owners(&revealed), owners(&regular.responder));
    assert!(!owners(&revealed).is_empty());

    // A forged element, or another shape, refuses the whole reveal.
    let mut forged = reveal.clone();
    forged.records[0].elements[0] = [7; 32];
    assert_eq!(run.responder.clone().with_reveal(&vendor, &cache, &forged).err(), Some(RevealError::Element));
    let mut moved = reveal;
    let first = moved.records.iter().position(|r| r.fields.is_empty()).unwrap();
    moved.records[first].fields = vec![(owner, Some("x".into()))];
    assert_eq!(run.responder.clone().with_reveal(&vendor, &cache, &moved).err(), Some(RevealError::Fields));
    let other = Arc::new(Dataset::new(vec![rec("a", "s", &[("domain", "a.com")])]).unwrap());
    let narrow = run_in_process(
        fresh(&other, DisclosurePolicy::new(Level::Hidden)),
        Session::responder(
            other.clone(),
            DisclosurePolicy::new(Level::Overlaps),
            SessionConfig { learn: false, bloom: true, ..SessionConfig::default() },
            SessionSeed::random(&mut rand::rng()),
        )
        .unwrap(),
    )
    .unwrap();
    let wrong = narrow.initiator.reveal(&other, &shares, &mut rand::rng());
    assert!(matches!(run.responder.with_reveal(&vendor, &cache, &wrong), Err(RevealError::Shape { .. })));
}

/// spec §20.7: after a reveal, the Bloom sender returns its fields for the revealed overlaps
/// where its own policy gives fields — what a regular session at the same levels gives the
/// receiver of those records — and nothing for what was not revealed; its JSON form reads back.
#[test]
fn the_fields_returned_for_a_reveal_are_a_regular_sessions() {
    use blindmap_psi::json::FieldsMessage;
    let region = FieldName::new("region").unwrap();
    let vendor: Vec<Record> = (0..120)
        .map(|i| {
            rec(
                &format!("v{i}"),
                if i % 2 == 0 { "customers" } else { "prospects" },
                &[("domain", &format!("d{i}.com"))],
            )
            .with_field(region.clone(), format!("region {}", i % 4))
        })
        .collect();
    // A second vendor record for d62: one partner record, two of the vendor's.
    let mut vendor = vendor;
    vendor
        .push(rec("v62b", "customers", &[("domain", "d62.com")]).with_field(region.clone(), "region twin".to_owned()));
    let vendor = Arc::new(Dataset::new(vendor).unwrap());
    let partner: Vec<Record> = (50..150)
        .map(|i| {
            rec(&format!("p{i}"), if i % 5 == 0 { "accounts" } else { "leads" }, &[("domain", &format!("d{i}.com"))])
        })
        .collect();
    let partner = Arc::new(Dataset::new(partner).unwrap());
    // The vendor gives its customers' region, its prospects' overlaps; the partner reveals its
    // leads' overlaps and counts its accounts.
    let vendor_policy = DisclosurePolicy::new(Level::Overlaps)
        .with_rule(Some(SegmentLabel::new("customers").unwrap()), None, Level::Fields(vec![region]))
        .unwrap()
        .with_min_partner_segment(1);
    let shares = DisclosurePolicy::new(Level::Overlaps)
        .with_rule(Some(SegmentLabel::new("accounts").unwrap()), None, Level::Counts)
        .unwrap()
        .with_min_partner_segment(1);
    let served = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(1);
    let (run, cache) = kept_bloom_run(&partner, &vendor, served);
    let reveal = run.initiator.reveal(&partner, &shares, &mut rand::rng());
    let own = run.initiator.revealed_records(&reveal);
    assert!(own.iter().all(Option::is_some), "each revealed record is one of the partner's");
    let completed = run.responder.with_reveal(&vendor, &cache, &reveal).unwrap();
    // Both of the vendor's records with d62's key are overlaps, as in a regular session.
    let ids: BTreeSet<&str> = completed.overlaps().iter().map(|o| vendor.records()[o.record].id.as_str()).collect();
    assert!(ids.contains("v62") && ids.contains("v62b"), "{ids:?}");
    let returned = completed.returned_fields(&vendor, &vendor_policy, &reveal);
    let got: BTreeSet<(String, Option<String>)> = returned
        .iter()
        .map(|r| (partner.records()[own[r.record as usize].unwrap()].id.clone(), r.fields[0].1.clone()))
        .collect();

    // A regular session in which the vendor discloses to the partner at its policy's levels.
    let regular = fresh_run(&partner, DisclosurePolicy::new(Level::Hidden), &vendor, vendor_policy, false);
    let accounts = SegmentLabel::new("accounts").unwrap();
    let want: BTreeSet<(String, Option<String>)> = regular
        .initiator
        .overlaps()
        .iter()
        .filter(|o| partner.records()[o.record].segment != accounts)
        .flat_map(|o| {
            let id = partner.records()[o.record].id.clone();
            regular.initiator.fields_of(&o.partner).into_iter().map(move |f| (id.clone(), f.fields[0].1.clone()))
        })
        .collect();
    assert!(!want.is_empty());
    assert_eq!(got, want, "the regular session's fields, for what was revealed");
    assert!(got.contains(&("p62".to_owned(), Some("region twin".to_owned()))), "both of d62's records: {got:?}");
    assert!(got.contains(&("p62".to_owned(), Some("region 2".to_owned()))));
    assert!(!got.iter().any(|(id, _)| id == "p60"), "p60 is an account, counted: nothing returned");
    assert!(
        returned.iter().all(|r| partner.records()[own[r.record as usize].unwrap()].segment != accounts),
        "nothing for the counted accounts"
    );
    // The entries follow the reveal's order.
    assert!(returned.windows(2).all(|w| w[0].record <= w[1].record));

    // The JSON form reads back; an entry for a record not revealed is refused.
    let text = FieldsMessage::of(&returned).to_text();
    let mut message: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(message["type"], "fields");
    let read = FieldsMessage::from_value(message.clone()).unwrap().into_returned(&reveal).unwrap();
    assert_eq!(read, returned);
    message["records"][0]["record"] = serde_json::json!(reveal.records.len());
    assert!(FieldsMessage::from_value(message.clone()).unwrap().into_returned(&reveal).is_err());
    message["type"] = serde_json::json!("reveal");
    assert!(FieldsMessage::from_value(message).is_err(), "another message's type");
}
