//! Session vectors (spec §15): full sessions with fixed seeds, every frame's bytes and each side's
//! outcome, read from `protocol-spec/vectors/session-*.json`; and negative vectors, each a frame
//! that must make the receiving party abort with a given code, from
//! `protocol-spec/vectors/negative/*.json`.
//!
//! The files are written by this same test with `BLINDMAP_WRITE_VECTORS=1`; without it the test
//! checks them: a change to any message byte fails until the vectors are regenerated on purpose.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use blindmap_psi::wire::{Frame, Message, Role, SESSION_ID_LEN};
use blindmap_psi::{
    Dataset, Direction, DisclosurePolicy, Error, FieldName, KeyType, Level, MatchKey, Observer, Outcome, Record,
    SegmentLabel, Session, SessionConfig, SessionSeed, run_in_process_with,
};
use serde::{Deserialize, Serialize};

fn vector_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../protocol-spec/vectors")
}

// ----- the file format -----

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
enum LevelSpec {
    Name(String),
    Fields { fields: Vec<String> },
}

impl LevelSpec {
    fn level(&self) -> Level {
        match self {
            Self::Name(n) if n == "hidden" => Level::Hidden,
            Self::Name(n) if n == "counts" => Level::Counts,
            Self::Name(n) if n == "overlaps" => Level::Overlaps,
            Self::Name(n) => panic!("unknown level {n}"),
            Self::Fields { fields } => Level::Fields(fields.iter().map(|f| FieldName::new(f).unwrap()).collect()),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RuleSpec {
    own: Option<String>,
    partner: Option<String>,
    level: LevelSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PolicySpec {
    default: LevelSpec,
    rules: Vec<RuleSpec>,
    threshold: u32,
    min_partner_segment: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct ConfigSpec {
    learn: bool,
    bloom: bool,
    chunk_records: usize,
    max_partner_records: u64,
    max_partner_keys: u64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct RecordSpec {
    id: String,
    segment: String,
    keys: Vec<(String, String)>,
    fields: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct PartySpec {
    /// The session seed (spec §7), hex.
    seed: String,
    config: ConfigSpec,
    policy: PolicySpec,
    records: Vec<RecordSpec>,
}

impl PartySpec {
    fn session(&self, role: Role) -> Session {
        let records = self
            .records
            .iter()
            .map(|r| {
                let mut rec = Record::new(&r.id, SegmentLabel::new(&r.segment).unwrap());
                for (t, v) in &r.keys {
                    rec = rec.with_key(MatchKey::new(KeyType::new(t).unwrap(), v));
                }
                for (n, v) in &r.fields {
                    rec = rec.with_field(FieldName::new(n).unwrap(), v);
                }
                rec
            })
            .collect();
        let data = Arc::new(Dataset::new(records).unwrap());
        let mut policy = DisclosurePolicy::new(self.policy.default.level())
            .with_threshold(self.policy.threshold)
            .with_min_partner_segment(self.policy.min_partner_segment);
        for r in &self.policy.rules {
            let seg = |s: &Option<String>| s.as_ref().map(|s| SegmentLabel::new(s).unwrap());
            policy = policy.with_rule(seg(&r.own), seg(&r.partner), r.level.level()).unwrap();
        }
        let config = SessionConfig {
            learn: self.config.learn,
            bloom: self.config.bloom,
            chunk_records: self.config.chunk_records,
            max_partner_records: self.config.max_partner_records,
            max_partner_keys: self.config.max_partner_keys,
            max_matches: None,
        };
        let seed = SessionSeed::from_bytes_unchecked(hex::decode(&self.seed).unwrap().try_into().unwrap());
        match role {
            Role::Initiator => Session::initiator(data, policy, config, seed).unwrap(),
            Role::Responder => Session::responder(data, policy, config, seed).unwrap(),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct MessageSpec {
    from: String,
    seq: u32,
    kind: String,
    bytes: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct OverlapSpec {
    record: String,
    partner_segment: String,
    partner_position: Option<u32>,
    key_types: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct FieldsSpec {
    partner_segment: String,
    partner_position: u32,
    fields: BTreeMap<String, Option<String>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct OutcomeSpec {
    session_id: String,
    /// Own segments (rows) × partner segments (columns); cells as shown to users.
    rows: Vec<String>,
    columns: Vec<String>,
    matrix: Vec<Vec<String>>,
    overlaps: Vec<OverlapSpec>,
    fields: Vec<FieldsSpec>,
    /// Partner records matched in a fields cell whose fields did not open (spec §10.4).
    unopened: Vec<(String, u32)>,
    /// Whether the match limit cut the results (spec §10.1).
    incomplete: bool,
}

impl OutcomeSpec {
    fn of(o: &Outcome, own: &PartySpec) -> Self {
        let ids: Vec<&str> = own.records.iter().map(|r| r.id.as_str()).collect();
        let columns: Vec<String> = o.partner_segments().iter().map(|s| s.label.to_string()).collect();
        Self {
            session_id: hex::encode(o.session_id()),
            rows: o.own_segments().iter().map(ToString::to_string).collect(),
            matrix: (0..o.own_segments().len())
                .map(|r| (0..columns.len()).map(|c| o.cell(r, c).to_string()).collect())
                .collect(),
            overlaps: o
                .overlaps()
                .iter()
                .map(|ov| OverlapSpec {
                    record: ids[ov.record].to_owned(),
                    partner_segment: columns[ov.partner.segment as usize].clone(),
                    partner_position: ov.partner.position,
                    key_types: ov.key_types.iter().map(ToString::to_string).collect(),
                })
                .collect(),
            fields: o
                .partner_fields()
                .iter()
                .map(|f| FieldsSpec {
                    partner_segment: columns[f.partner.segment as usize].clone(),
                    partner_position: f.partner.position.unwrap(),
                    fields: f.fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect(),
                })
                .collect(),
            unopened: o
                .unopened_fields()
                .iter()
                .map(|p| (columns[p.segment as usize].clone(), p.position.unwrap()))
                .collect(),
            incomplete: o.is_truncated(),
            columns,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct SessionVector {
    name: String,
    description: String,
    initiator: PartySpec,
    responder: PartySpec,
    /// Every frame in the order an in-process run produced them; per direction, the order is
    /// the protocol's.
    messages: Vec<MessageSpec>,
    outcome: BTreeMap<String, OutcomeSpec>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct NegativeVector {
    name: String,
    /// The attack or fault this frame stands for.
    attack: String,
    /// The session vector whose parties are used.
    base: String,
    /// Which party receives the bad frame.
    to: String,
    /// How many of its partner's frames (from the base vector) it receives first.
    after: usize,
    /// Frames it then receives and accepts before the bad one (when one frame cannot show the
    /// fault alone).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    before: Vec<String>,
    frame: String,
    /// The abort code the receiver must send (spec §13).
    abort_code: u16,
    /// This implementation's error, for the record.
    error: String,
}

/// A fields receiver given sealed values that do not open (spec §10.4): it finishes without a
/// sign to the sender and lists the partner records whose fields did not open.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct TamperedVector {
    name: String,
    description: String,
    /// The session vector whose parties are used.
    base: String,
    /// Which party receives the tampered frames.
    to: String,
    /// Its partner's frames, by index among the partner's frames in the base vector, that it
    /// receives changed; the others it receives as recorded.
    replaced: Vec<Replacement>,
    /// What it learns.
    outcome: OutcomeSpec,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Replacement {
    index: usize,
    bytes: String,
}

// ----- running -----

#[derive(Default)]
struct Recorder(Vec<MessageSpec>);

impl Observer for Recorder {
    fn produced(&mut self, direction: Direction, frame: &[u8]) {
        let decoded = Frame::decode(frame).expect("our own frames decode");
        self.0.push(MessageSpec {
            from: direction.sender().name().into(),
            seq: decoded.seq,
            kind: decoded.message.kind().name().into(),
            bytes: hex::encode(frame),
        });
    }
}

fn run(name: &str, description: &str, initiator: PartySpec, responder: PartySpec) -> SessionVector {
    let mut recorder = Recorder::default();
    let run =
        run_in_process_with(initiator.session(Role::Initiator), responder.session(Role::Responder), &mut recorder)
            .expect("vector session runs");
    let outcome = BTreeMap::from([
        ("initiator".to_owned(), OutcomeSpec::of(&run.initiator, &initiator)),
        ("responder".to_owned(), OutcomeSpec::of(&run.responder, &responder)),
    ]);
    SessionVector {
        name: name.into(),
        description: description.into(),
        initiator,
        responder,
        messages: recorder.0,
        outcome,
    }
}

/// Drives one party alone with its partner's recorded frames: its own frames must come out
/// byte for byte as recorded.
fn replay_one_side(v: &SessionVector, role: Role) {
    let (me, partner_name) = (role.name(), role.peer().name());
    let spec = match role {
        Role::Initiator => &v.initiator,
        Role::Responder => &v.responder,
    };
    let mut session = spec.session(role);
    let mut sent = Vec::new();
    let incoming: Vec<&MessageSpec> = v.messages.iter().filter(|m| m.from == partner_name).collect();
    for m in &incoming {
        while let Some(f) = session.poll_transmit() {
            sent.push(hex::encode(f));
        }
        session.receive(&hex::decode(&m.bytes).unwrap()).unwrap_or_else(|e| panic!("{}: {me} rejects: {e}", v.name));
    }
    while let Some(f) = session.poll_transmit() {
        sent.push(hex::encode(f));
    }
    let expected: Vec<String> = v.messages.iter().filter(|m| m.from == me).map(|m| m.bytes.clone()).collect();
    assert_eq!(sent, expected, "{}: the {me}'s frames", v.name);
    assert!(session.is_finished(), "{}: {me} finished", v.name);
    let outcome = session.into_outcome().unwrap();
    assert_eq!(OutcomeSpec::of(&outcome, spec), v.outcome[me], "{}: the {me}'s outcome", v.name);
}

/// Delivers a negative vector's frame after `after` recorded frames and the `before` frames,
/// and returns the error.
fn inject(name: &str, base: &SessionVector, to: Role, after: usize, before: &[Vec<u8>], frame: &[u8]) -> Error {
    let spec = match to {
        Role::Initiator => &base.initiator,
        Role::Responder => &base.responder,
    };
    let partner_name = to.peer().name();
    let mut session = spec.session(to);
    for m in base.messages.iter().filter(|m| m.from == partner_name).take(after) {
        while session.poll_transmit().is_some() {}
        session.receive(&hex::decode(&m.bytes).unwrap()).expect("recorded frames are accepted");
    }
    for f in before {
        while session.poll_transmit().is_some() {}
        session.receive(f).unwrap_or_else(|e| panic!("{name}: a frame before the bad one is refused: {e}"));
    }
    while session.poll_transmit().is_some() {}
    let Err(err) = session.receive(frame) else { panic!("{name}: the bad frame is accepted") };
    // spec §13: the receiver answers with an abort carrying the code.
    let abort = session.poll_transmit().unwrap_or_else(|| panic!("{name}: refused ({err}) without an abort"));
    let abort = Frame::decode(&abort).unwrap();
    assert_eq!(abort.message, Message::Abort(err.abort_code()));
    assert!(session.is_failed());
    err
}

/// Feeds `to` its partner's recorded frames with some replaced; it must accept them all.
fn feed_tampered(base: &SessionVector, to: Role, replaced: &[Replacement]) -> OutcomeSpec {
    let spec = match to {
        Role::Initiator => &base.initiator,
        Role::Responder => &base.responder,
    };
    let mut session = spec.session(to);
    for (i, m) in base.messages.iter().filter(|m| m.from == to.peer().name()).enumerate() {
        while session.poll_transmit().is_some() {}
        let bytes = replaced.iter().find(|r| r.index == i).map_or(&m.bytes, |r| &r.bytes);
        // spec §10.4: no abort, whatever the sealed values hold.
        session.receive(&hex::decode(bytes).unwrap()).expect("sealed values that do not open are not signalled");
    }
    while session.poll_transmit().is_some() {}
    assert!(session.is_finished());
    OutcomeSpec::of(&session.into_outcome().unwrap(), spec)
}

fn tampered_vector(vectors: &[SessionVector]) -> TamperedVector {
    let base = vectors.iter().find(|v| v.name == "session-order").unwrap();
    // The vendor's Sealed messages of group 0 over its prospects (segment 2) and of group 1 over
    // its partners (segment 1), every ciphertext's first byte flipped.
    let replaced: Vec<Replacement> = base
        .messages
        .iter()
        .filter(|m| m.from == "initiator")
        .enumerate()
        .filter_map(|(index, m)| {
            let mut frame = Frame::decode(&hex::decode(&m.bytes).unwrap()).unwrap();
            let Message::Sealed(s) = &mut frame.message else { return None };
            if !matches!((s.group, s.segment), (0, 2) | (1, 1)) {
                return None;
            }
            for record in &mut s.records {
                for (_, ct) in record {
                    ct[0] ^= 1;
                }
            }
            Some(Replacement { index, bytes: hex::encode(frame.encode()) })
        })
        .collect();
    TamperedVector {
        name: "tampered-sealed".into(),
        description: "The partner of session-order receives the vendor's Sealed messages of fields group 0 \
                      over the vendor's prospects and of group 1 over its partners with the first byte of \
                      every ciphertext flipped, in that order (prospects first). It finishes without an \
                      abort, shows the fields that opened, and lists the vendor records whose fields did \
                      not open in `unopened`, sorted by the vendor's segment (hello order) then position: \
                      partners before prospects."
            .into(),
        base: base.name.clone(),
        to: "responder".into(),
        outcome: feed_tampered(base, Role::Responder, &replaced),
        replaced,
    }
}

// ----- the vectors -----

fn party(seed: u8, learn: bool, bloom: bool, chunk: usize, policy: PolicySpec, records: Vec<RecordSpec>) -> PartySpec {
    PartySpec {
        seed: hex::encode([seed; 32]),
        config: ConfigSpec {
            learn,
            bloom,
            chunk_records: chunk,
            max_partner_records: 1_000_000,
            max_partner_keys: 4_000_000,
        },
        policy,
        records,
    }
}

fn policy(default: &str, rules: Vec<RuleSpec>, threshold: u32, min: u32) -> PolicySpec {
    PolicySpec { default: LevelSpec::Name(default.into()), rules, threshold, min_partner_segment: min }
}

fn rule(own: Option<&str>, partner: Option<&str>, level: LevelSpec) -> RuleSpec {
    RuleSpec { own: own.map(Into::into), partner: partner.map(Into::into), level }
}

fn rec(id: &str, segment: &str, keys: &[(&str, &str)], fields: &[(&str, &str)]) -> RecordSpec {
    RecordSpec {
        id: id.into(),
        segment: segment.into(),
        keys: keys.iter().map(|(t, v)| ((*t).into(), (*v).into())).collect(),
        fields: fields.iter().map(|(n, v)| ((*n).into(), (*v).into())).collect(),
    }
}

fn vendor_records() -> Vec<RecordSpec> {
    vec![
        rec(
            "v-001",
            "customers",
            &[("domain", "acme.com"), ("duns", "001234567")],
            &[("owner", "Ada"), ("stage", "renewal")],
        ),
        rec("v-002", "customers", &[("domain", "globex.com")], &[("owner", "Grace")]),
        rec("v-003", "customers", &[("domain", "initech.com")], &[("owner", "Alan")]),
        rec(
            "v-004",
            "open_opportunities",
            &[("domain", "umbrella.com"), ("domain", "umbrella-corp.com")],
            &[("owner", "Ada"), ("stage", "proposal")],
        ),
        rec("v-005", "open_opportunities", &[("domain", "hooli.com")], &[("owner", "Barbara")]),
        rec("v-006", "prospects", &[("domain", "stark.com")], &[]),
        // name_country keys as blindmap-records makes them for an initiator (protocol-spec/keys.md §3):
        // a name and country with no DUNS number, website or city.
        rec(
            "v-007",
            "prospects",
            &[("name_country", "-|-|?|US|wayne enterprises"), ("name_country", "d|-|?|US|wayne enterprises")],
            &[],
        ),
        rec("v-008", "prospects", &[("domain", "soylent.com")], &[]),
    ]
}

fn partner_records() -> Vec<RecordSpec> {
    vec![
        rec("p-01", "customers", &[("domain", "acme.com")], &[("owner", "Linus"), ("stage", "expansion")]),
        rec("p-02", "customers", &[("duns", "001234567")], &[("owner", "Margaret")]),
        rec("p-03", "customers", &[("domain", "umbrella-corp.com")], &[("owner", "Ken")]),
        rec("p-04", "customers", &[("domain", "stark.com")], &[]),
        // name_country keys as blindmap-records makes them for a responder (keys.md §3): with a
        // website and no city (p-05), with neither (p-07).
        rec(
            "p-05",
            "prospects",
            &[("domain", "globex.com"), ("name_country", "-|-|k|US|globex"), ("name_country", "-|-|?|US|globex")],
            &[("owner", "Dennis")],
        ),
        rec("p-06", "prospects", &[("domain", "hooli.com")], &[]),
        rec(
            "p-07",
            "prospects",
            &[
                ("name_country", "-|-|k|US|wayne enterprises"),
                ("name_country", "-|-|?|US|wayne enterprises"),
                ("name_country", "-|w|k|US|wayne enterprises"),
                ("name_country", "-|w|?|US|wayne enterprises"),
            ],
            &[],
        ),
        rec("p-08", "prospects", &[("domain", "cyberdyne.com")], &[]),
        rec("p-09", "prospects", &[("domain", "tyrell.com")], &[]),
    ]
}

fn session_vectors() -> Vec<SessionVector> {
    let fields = |f: &[&str]| LevelSpec::Fields { fields: f.iter().map(|s| (*s).into()).collect() };
    vec![
        run(
            "session-counts",
            "Both sides disclose counts only, threshold 2: each side sends counted streams (each record as \
             a tuple of its keys under its count key, padded with stand-ins to the segment's width), \
             answered shuffled — tuples and the slots within them — and regular streams (every key, in \
             order) that the other side evaluates for its own counts.",
            party(1, true, false, 2, policy("counts", vec![], 2, 1), vendor_records()),
            party(2, true, false, 2, policy("counts", vec![], 2, 1), partner_records()),
        ),
        run(
            "session-overlaps",
            "Both sides disclose overlaps for every pair of segments: each learns which of its records \
             overlap, and the partner's segment and record handle for each.",
            party(3, true, false, 3, policy("overlaps", vec![], 5, 1), vendor_records()),
            party(4, true, false, 3, policy("overlaps", vec![], 5, 1), partner_records()),
        ),
        run(
            "session-fields",
            "The vendor discloses owner and stage of its customers and open opportunities to the partner, \
             counts for prospects; the partner discloses overlaps.",
            party(
                5,
                true,
                false,
                4,
                policy(
                    "counts",
                    vec![
                        rule(Some("customers"), None, fields(&["owner", "stage"])),
                        rule(Some("open_opportunities"), None, fields(&["owner", "stage"])),
                    ],
                    1,
                    1,
                ),
                vendor_records(),
            ),
            party(6, true, false, 4, policy("overlaps", vec![], 5, 1), partner_records()),
        ),
        run(
            "session-mixed",
            "Per-cell levels in both directions: several key classes and two fields groups on the vendor \
             side, a hidden segment, and a partner minimum segment size that refuses one vendor segment.",
            party(
                7,
                true,
                false,
                2,
                policy(
                    "counts",
                    vec![
                        rule(Some("customers"), Some("customers"), fields(&["owner"])),
                        rule(Some("customers"), Some("prospects"), LevelSpec::Name("overlaps".into())),
                        rule(Some("open_opportunities"), Some("prospects"), fields(&["owner", "stage"])),
                        rule(Some("prospects"), None, LevelSpec::Name("hidden".into())),
                    ],
                    2,
                    1,
                ),
                vendor_records(),
            ),
            party(
                8,
                true,
                false,
                3,
                policy("overlaps", vec![rule(None, Some("prospects"), LevelSpec::Name("counts".into()))], 1, 3),
                partner_records(),
            ),
        ),
        run(
            "session-bloom",
            "One-way: the partner learns nothing and serves its customers as a Bloom filter (its prospects \
             are hidden); the vendor learns which of its records overlap the partner's customers \
             (membership only, no partner positions).",
            party(9, true, false, 4, policy("hidden", vec![], 5, 1), vendor_records()),
            party(
                10,
                false,
                true,
                4,
                policy("overlaps", vec![rule(Some("prospects"), None, LevelSpec::Name("hidden".into()))], 1, 1),
                partner_records(),
            ),
        ),
        run(
            "session-duplicates",
            "Keys shared by several records, in segments served both counts and ordered cells: counted \
             streams send each key once (a record's first four keys that no earlier counted record sent, \
             then random stand-ins up to the segment's counted width), so v-102 and, across segments, \
             v-105 send stand-ins only and duplicates count once, while v-103 counts through its DUNS \
             number; v-107 holds six keys but sends four, so v-108 sends and counts through the fifth; \
             ordered cells report every record; fields flow both ways.",
            party(
                13,
                true,
                false,
                2,
                policy(
                    "overlaps",
                    vec![
                        rule(Some("customers"), None, fields(&["owner"])),
                        rule(None, Some("prospects"), LevelSpec::Name("counts".into())),
                        rule(Some("customers"), Some("prospects"), fields(&["owner"])),
                    ],
                    1,
                    1,
                ),
                vec![
                    rec("v-101", "customers", &[("domain", "acme.com")], &[("owner", "Ada")]),
                    rec("v-102", "customers", &[("domain", "acme.com")], &[("owner", "Grace")]),
                    rec(
                        "v-103",
                        "customers",
                        &[("domain", "acme-holdings.com"), ("duns", "111111111")],
                        &[("owner", "Alan")],
                    ),
                    rec("v-104", "customers", &[("domain", "globex.com")], &[("owner", "Barbara")]),
                    rec(
                        "v-107",
                        "customers",
                        &[
                            ("domain", "umbrella.com"),
                            ("domain", "umbrella.de"),
                            ("domain", "umbrella.fr"),
                            ("domain", "umbrella.it"),
                            ("domain", "umbrella.es"),
                            ("domain", "umbrella.nl"),
                        ],
                        &[("owner", "Edsger")],
                    ),
                    rec("v-108", "customers", &[("domain", "umbrella.es")], &[("owner", "Frances")]),
                    rec("v-105", "prospects", &[("domain", "acme.com")], &[]),
                    rec("v-106", "prospects", &[("domain", "hooli.com")], &[]),
                ],
            ),
            party(
                14,
                true,
                false,
                2,
                policy(
                    "overlaps",
                    vec![
                        rule(Some("customers"), None, LevelSpec::Name("counts".into())),
                        rule(Some("prospects"), None, fields(&["owner"])),
                    ],
                    1,
                    1,
                ),
                vec![
                    rec("p-01", "customers", &[("domain", "acme.com")], &[("owner", "Linus")]),
                    rec("p-02", "customers", &[("duns", "111111111")], &[("owner", "Ken")]),
                    rec("p-03", "customers", &[("domain", "initech.com")], &[]),
                    rec("p-07", "customers", &[("domain", "umbrella.es")], &[("owner", "Ada")]),
                    rec("p-04", "prospects", &[("domain", "acme.com")], &[("owner", "Radia")]),
                    rec("p-05", "prospects", &[("domain", "hooli.com")], &[]),
                    rec("p-06", "prospects", &[("domain", "hooli.com")], &[("owner", "Dennis")]),
                ],
            ),
        ),
        run(
            "session-order",
            "The conventions the other vectors leave open. Counted keys are chosen by filtering, then \
             taking: v-2's first key was sent by v-1, so v-2 sends its second to fifth keys and counts \
             through the fifth (epsilon.com), which the partner holds; taking four keys first and then \
             dropping the sent one would leave epsilon.com out (customers x prospects would show 1, \
             not 2). The partner's overlaps are sorted by its records' input order (p-10, p-9, p-11, \
             p-8: neither by id nor by segment), then by the vendor's segment and position. The \
             vendor's fields groups span non-adjacent columns: group 0 (owner) serves customers and \
             prospects, group 1 (stage) partners, so its Sealed messages come as (0, customers), (0, \
             prospects), (1, partners) - see tampered-sealed.json.",
            party(
                15,
                true,
                false,
                2,
                policy(
                    "hidden",
                    vec![
                        rule(Some("customers"), None, fields(&["owner"])),
                        rule(Some("partners"), None, fields(&["stage"])),
                        rule(Some("prospects"), None, fields(&["owner"])),
                    ],
                    1,
                    1,
                ),
                vec![
                    rec("v-1", "customers", &[("domain", "alpha.com")], &[("owner", "Ada"), ("stage", "won")]),
                    rec(
                        "v-2",
                        "customers",
                        &[
                            ("domain", "alpha.com"),
                            ("domain", "beta.com"),
                            ("domain", "gamma.com"),
                            ("domain", "delta.com"),
                            ("domain", "epsilon.com"),
                        ],
                        &[("owner", "Grace")],
                    ),
                    rec("v-3", "partners", &[("domain", "zeta.com")], &[("owner", "Alan"), ("stage", "pilot")]),
                    rec("v-4", "prospects", &[("domain", "eta.com")], &[("owner", "Barbara")]),
                    rec("v-5", "prospects", &[("domain", "zeta.com")], &[("owner", "Edsger")]),
                ],
            ),
            party(
                16,
                true,
                false,
                2,
                policy("counts", vec![], 1, 1),
                vec![
                    rec("p-10", "prospects", &[("domain", "epsilon.com")], &[("owner", "Linus")]),
                    rec("p-9", "customers", &[("domain", "zeta.com")], &[]),
                    rec("p-11", "customers", &[("domain", "eta.com")], &[]),
                    rec("p-8", "prospects", &[("domain", "alpha.com")], &[]),
                ],
            ),
        ),
        run(
            "session-hidden",
            "Both sides ask to learn and both hide everything: hellos and plans are exchanged, no records \
             leave either side, and every cell is hidden.",
            party(11, true, false, 4, policy("hidden", vec![], 5, 1), vendor_records()),
            party(12, true, false, 4, policy("hidden", vec![], 5, 1), partner_records()),
        ),
    ]
}

/// The first frame of `kind` sent by `from`, and its index in that party's stream.
fn find(v: &SessionVector, from: &str, kind: &str) -> (usize, Frame) {
    let (i, m) = v
        .messages
        .iter()
        .filter(|m| m.from == from)
        .enumerate()
        .find(|(_, m)| m.kind == kind)
        .unwrap_or_else(|| panic!("{}: no {kind} from {from}", v.name));
    (i, Frame::decode(&hex::decode(&m.bytes).unwrap()).unwrap())
}

fn other(name: &str) -> Role {
    if name == "initiator" { Role::Responder } else { Role::Initiator }
}

fn negative(
    vectors: &[SessionVector],
    name: &str,
    attack: &str,
    base: &str,
    build: impl FnOnce(&SessionVector) -> (&'static str, usize, Vec<u8>),
    abort_code: u16,
) -> NegativeVector {
    negative_after(
        vectors,
        name,
        attack,
        base,
        |v| {
            let (from, after, frame) = build(v);
            (from, after, Vec::new(), frame)
        },
        abort_code,
    )
}

/// A negative vector whose bad frame follows frames of its own (`before`), all accepted.
fn negative_after(
    vectors: &[SessionVector],
    name: &str,
    attack: &str,
    base: &str,
    build: impl FnOnce(&SessionVector) -> (&'static str, usize, Vec<Vec<u8>>, Vec<u8>),
    abort_code: u16,
) -> NegativeVector {
    let v = vectors.iter().find(|v| v.name == base).unwrap();
    let (from, after, before, frame) = build(v);
    let to = other(from);
    let err = inject(name, v, to, after, &before, &frame);
    assert_eq!(err.abort_code().to_u16(), abort_code, "{name}: {err:?}");
    NegativeVector {
        name: name.into(),
        attack: attack.into(),
        base: base.into(),
        to: to.name().into(),
        after,
        before: before.iter().map(hex::encode).collect(),
        frame: hex::encode(frame),
        abort_code,
        error: format!("{err}"),
    }
}

/// Who sends the first records in a vector (the first querier, spec §9.4).
fn first_sender(v: &SessionVector) -> &'static str {
    let m = v.messages.iter().find(|m| m.kind == "Elements" || m.kind == "Counted").unwrap();
    if m.from == "initiator" { "initiator" } else { "responder" }
}

fn negative_vectors(vectors: &[SessionVector]) -> Vec<NegativeVector> {
    let with_elements = |v: &SessionVector, f: &dyn Fn(&mut blindmap_psi::wire::RecordChunk<[u8; 32]>)| {
        let from = first_sender(v);
        let (i, mut frame) = find(v, from, "Elements");
        let Message::Elements(chunk) = &mut frame.message else { unreachable!() };
        f(chunk);
        (from, i, frame.encode())
    };
    let raw = |v: &SessionVector, f: &dyn Fn(&mut Vec<u8>)| {
        let from = first_sender(v);
        let (i, frame) = find(v, from, "Elements");
        let mut bytes = frame.encode();
        f(&mut bytes);
        (from, i, bytes)
    };
    let set_len = |bytes: &mut Vec<u8>, len: u32| bytes[22..26].copy_from_slice(&len.to_be_bytes());
    let mut all = vec![
        negative(
            vectors,
            "identity-element",
            "A degenerate point: the identity as a blinded element would evaluate to the identity under \
             any key; receivers must reject it (RFC 9497 §2.1, spec §8.3).",
            "session-overlaps",
            |v| with_elements(v, &|c| c.items[0] = [0; 32]),
            1,
        ),
        negative(
            vectors,
            "non-canonical-element",
            "A non-canonical encoding (the field prime, p = 2^255 - 19) in place of an element: two byte \
             strings for one point would break tag equality (spec §8.3).",
            "session-overlaps",
            |v| {
                with_elements(v, &|c| {
                    let mut p = [0xff; 32];
                    p[0] = 0xed;
                    p[31] = 0x7f;
                    c.items[0] = p;
                })
            },
            1,
        ),
        negative(
            vectors,
            "trailing-bytes",
            "Bytes after the last field, counted in the body length: a strict decoder leaves no room for \
             smuggled data (spec §8.1).",
            "session-overlaps",
            |v| {
                raw(v, &|b| {
                    b.push(0);
                    let len = (b.len() - 26) as u32;
                    set_len(b, len);
                })
            },
            1,
        ),
        negative(
            vectors,
            "truncated-frame",
            "A frame shorter than its declared body length (spec §8.1).",
            "session-overlaps",
            |v| raw(v, &|b| b.truncate(b.len() - 1)),
            1,
        ),
        negative(
            vectors,
            "unknown-version",
            "A frame of protocol version 2, which this version does not speak (spec §14).",
            "session-overlaps",
            |v| raw(v, &|b| b[0] = 2),
            1,
        ),
        negative(
            vectors,
            "oversized-body",
            "A body length beyond the 16 MiB limit: refused before anything is buffered (spec §8.1).",
            "session-overlaps",
            |v| raw(v, &|b| set_len(b, (16 << 20) + 1)),
            1,
        ),
        negative(
            vectors,
            "replayed-frame",
            "The previous frame again, with its old sequence number: a replay or a duplicated chunk \
             (spec §9.1).",
            "session-overlaps",
            |v| {
                let from = first_sender(v);
                let (i, _) = find(v, from, "Elements");
                let prev = v.messages.iter().filter(|m| m.from == from).nth(i - 1).unwrap();
                (from, i, hex::decode(&prev.bytes).unwrap())
            },
            3,
        ),
        negative(
            vectors,
            "foreign-session",
            "A frame from another session (a different session id): replaying one session's chunks into \
             another (spec §9.1).",
            "session-overlaps",
            |v| {
                let from = first_sender(v);
                let (i, mut frame) = find(v, from, "Elements");
                frame.session_id = [0x5a; SESSION_ID_LEN];
                (from, i, frame.encode())
            },
            3,
        ),
        negative(
            vectors,
            "inflated-hello",
            "A hello declaring 2,000,000 records, more than the receiver accepts (here 1,000,000): a \
             party inflating its set to probe, or to exhaust the other's memory (spec §3.3).",
            "session-overlaps",
            |v| {
                let (i, mut frame) = find(v, "initiator", "Hello");
                let Message::Hello(h) = &mut frame.message else { unreachable!() };
                h.segments[0].records = 2_000_000;
                h.segments[0].keys = 2_000_000;
                ("initiator", i, frame.encode())
            },
            4,
        ),
        negative(
            vectors,
            "records-out-of-order",
            "A chunk that skips positions: records beyond or outside the declared set cannot be \
             slipped into a segment (spec §9.5).",
            "session-overlaps",
            |v| with_elements(v, &|c| c.first += 1),
            2,
        ),
        negative(
            vectors,
            "wrong-class-return",
            "Returns under a key class the plan does not serve for that segment: a sender mislabelling \
             what the receiver is learning (spec §9.5).",
            "session-mixed",
            |v| {
                let from = if first_sender(v) == "initiator" { "responder" } else { "initiator" };
                let (i, mut frame) = find(v, from, "Tags");
                let Message::Tags(c) = &mut frame.message else { unreachable!() };
                c.reference += 7;
                (from, i, frame.encode())
            },
            2,
        ),
        negative(
            vectors,
            "plan-shape-mismatch",
            "A plan whose grid does not match the declared segments (spec §9.3).",
            "session-overlaps",
            |v| {
                let (i, mut frame) = find(v, "responder", "Plan");
                let Message::Plan(p) = &mut frame.message else { unreachable!() };
                let bytes = {
                    // Drop the last column: rows x (cols - 1) cells.
                    let cells: Vec<Level> = (0..p.rows())
                        .flat_map(|r| (0..p.cols() - 1).map(move |c| (r, c)))
                        .map(|(r, c)| p.level(r, c).clone())
                        .collect();
                    let smaller = plan_bytes(p.threshold(), p.min_segment(), p.bloom(), p.rows(), p.cols() - 1, &cells);
                    let mut b = frame.encode()[..26].to_vec();
                    b[22..26].copy_from_slice(&(smaller.len() as u32).to_be_bytes());
                    b.extend(smaller);
                    b
                };
                ("responder", i, bytes)
            },
            5,
        ),
        negative(
            vectors,
            "bloom-from-a-learner",
            "A plan announcing Bloom filters from a party that also asked to learn: its own queries \
             would reveal the set the filter was meant to compress (spec §9.7).",
            "session-overlaps",
            |v| {
                let (i, frame) = find(v, "responder", "Plan");
                let mut b = frame.encode();
                b[26 + 8] = 1; // the flags byte after threshold and min_segment
                ("responder", i, b)
            },
            5,
        ),
        negative(
            vectors,
            "saturated-bloom-filter",
            "A Bloom filter with every bit set, which would make every element of the receiver look \
             like a member (spec §9.7).",
            "session-bloom",
            |v| {
                let (i, mut frame) = find(v, "responder", "Bloom");
                let Message::Bloom(b) = &mut frame.message else { unreachable!() };
                for byte in &mut b.data[45..] {
                    *byte = 0xff;
                }
                ("responder", i, frame.encode())
            },
            7,
        ),
        negative(
            vectors,
            "repeated-element-in-counted-stream",
            "A receiver repeats an element in its counted streams, so that equal shuffled answers would \
             link records to one another; the sender refuses before answering (spec §9.5).",
            "session-counts",
            |v| {
                let from = first_sender(v);
                let counted: Vec<(usize, Frame)> = v
                    .messages
                    .iter()
                    .filter(|m| m.from == from)
                    .enumerate()
                    .filter(|(_, m)| m.kind == "Counted")
                    .map(|(i, m)| (i, Frame::decode(&hex::decode(&m.bytes).unwrap()).unwrap()))
                    .collect();
                let item = |f: &Frame| match &f.message {
                    Message::Counted(c) => (c.segment, c.items[0]),
                    _ => unreachable!(),
                };
                let (segment, repeated) = item(&counted[0].1);
                // The last chunk of the first counted segment repeats that segment's first element.
                let (i, mut last) =
                    counted.into_iter().filter(|(_, f)| item(f).0 == segment).last().expect("a counted chunk");
                let Message::Counted(c) = &mut last.message else { unreachable!() };
                let at = c.items.len() - 1;
                if c.first == 0 && at == 0 {
                    panic!("the first counted segment needs two records");
                }
                c.items[at] = repeated;
                (from, i, last.encode())
            },
            6,
        ),
        negative(
            vectors,
            "counted-width-varies",
            "A counted stream whose records are not all of one width: a receiver could then tell its \
             records apart among the shuffled answers by their width (spec §9.5).",
            "session-counts",
            |v| {
                let from = first_sender(v);
                // The second chunk of a counted stream, one element wider than the first.
                let (i, mut frame) = v
                    .messages
                    .iter()
                    .filter(|m| m.from == from)
                    .enumerate()
                    .filter(|(_, m)| m.kind == "Counted")
                    .map(|(i, m)| (i, Frame::decode(&hex::decode(&m.bytes).unwrap()).unwrap()))
                    .find(|(_, f)| matches!(&f.message, Message::Counted(c) if c.first > 0 && c.widths[0] >= 2))
                    .expect("a counted stream of two chunks");
                let Message::Counted(c) = &mut frame.message else { unreachable!() };
                // The same records, one element narrower each: only the width differs from the
                // stream's (no element repeats, and the width is below any maximum).
                let w = c.widths[0] as usize;
                assert!(w >= 2, "a counted stream wider than one");
                c.items = c.items.chunks(w).flat_map(|record| record[..w - 1].iter().copied()).collect();
                for width in &mut c.widths {
                    *width -= 1;
                }
                (from, i, frame.encode())
            },
            6,
        ),
        negative(
            vectors,
            "counted-element-reused",
            "A receiver sends an element of its counted stream again in its regular stream, so that an \
             ordered answer would identify the shuffled one; the sender refuses (spec §9.5).",
            "session-duplicates",
            |v| {
                let from = first_sender(v);
                let (_, counted) = find(v, from, "Counted");
                let Message::Counted(c) = &counted.message else { unreachable!() };
                let reused = c.items[0];
                let (i, mut elements) = find(v, from, "Elements");
                let Message::Elements(e) = &mut elements.message else { unreachable!() };
                e.items[0] = reused;
                (from, i, elements.encode())
            },
            6,
        ),
        negative(
            vectors,
            "blinded-widths-differ",
            "A Blinded chunk whose widths differ from the Elements chunk it follows (within the declared \
             maximum width): the receiver's fields queries must describe the same records (spec §9.5).",
            "session-fields",
            |v| {
                let from = "responder";
                let (_, hello) = find(v, from, "Hello");
                let Message::Hello(hello) = hello.message else { unreachable!() };
                let (i, mut frame) = v
                    .messages
                    .iter()
                    .filter(|m| m.from == from)
                    .enumerate()
                    .filter(|(_, m)| m.kind == "Blinded")
                    .map(|(i, m)| (i, Frame::decode(&hex::decode(&m.bytes).unwrap()).unwrap()))
                    .find(|(_, f)| {
                        let Message::Blinded(c) = &f.message else { return false };
                        c.widths.iter().any(|&w| w < hello.segments[c.segment as usize].max_width)
                    })
                    .expect("a Blinded record narrower than its segment's maximum");
                let Message::Blinded(c) = &mut frame.message else { unreachable!() };
                let max = hello.segments[c.segment as usize].max_width;
                let r = c.widths.iter().position(|&w| w < max).unwrap();
                let at: usize = c.widths[..=r].iter().map(|&w| w as usize).sum();
                c.widths[r] += 1;
                c.items.insert(at, c.items[at - 1]);
                (from, i, frame.encode())
            },
            6,
        ),
        negative(
            vectors,
            "bloom-header-size",
            "A Bloom filter whose header declares a bitmap size other than the filter's: the receiver \
             derives the size itself and checks both (spec §9.7).",
            "session-bloom",
            |v| {
                let (i, mut frame) = find(v, "responder", "Bloom");
                let Message::Bloom(b) = &mut frame.message else { unreachable!() };
                let len = u64::from_le_bytes(b.data[1..9].try_into().unwrap());
                b.data[1..9].copy_from_slice(&(len - 1).to_le_bytes());
                ("responder", i, frame.encode())
            },
            7,
        ),
        negative(
            vectors,
            "bloom-with-counts",
            "A Bloom plan with a counts cell: shuffled points could be unblinded record by record by a \
             receiver that blinded each record differently, so Bloom plans serve overlaps only (spec §9.7).",
            "session-bloom",
            |v| {
                let (i, frame) = find(v, "responder", "Plan");
                let mut b = frame.encode();
                // The first level code (after threshold, min_segment, flags, rows, cols).
                let at = 26 + 4 + 4 + 1 + 2 + 2;
                assert_eq!(b[at], 2, "an overlaps cell");
                b[at] = 1;
                ("responder", i, b)
            },
            5,
        ),
    ];
    all.extend(decoder_rule_vectors(vectors));
    all
}

/// The bytes of the first frame of `kind` from `from`, changed by `change`.
fn patched(
    v: &SessionVector,
    from: &'static str,
    kind: &str,
    change: impl FnOnce(&mut Vec<u8>),
) -> (&'static str, usize, Vec<u8>) {
    let (i, frame) = find(v, from, kind);
    let mut bytes = frame.encode();
    change(&mut bytes);
    (from, i, bytes)
}

/// The first frame of `kind` from `from`, its message changed by `change`, encoded again.
fn changed(
    v: &SessionVector,
    from: &'static str,
    kind: &str,
    change: impl FnOnce(&mut Message),
) -> (&'static str, usize, Vec<u8>) {
    let (i, mut frame) = find(v, from, kind);
    change(&mut frame.message);
    (from, i, frame.encode())
}

/// Where a Hello frame's segment entries start (spec §8.4: after the 26-byte frame header and
/// suite, role, learn and count), and where each label starts.
fn hello_labels(b: &[u8]) -> Vec<usize> {
    let count = u16::from_be_bytes([b[30], b[31]]) as usize;
    let mut at = 32;
    let mut labels = Vec::new();
    for _ in 0..count {
        labels.push(at);
        at += 1 + b[at] as usize + 4 + 8 + 1;
    }
    labels
}

/// Offsets of the first segment's `records`, `keys` and `max_width` in a Hello frame.
fn first_segment(b: &[u8]) -> (usize, usize, usize) {
    let records = 33 + b[32] as usize;
    (records, records + 4, records + 12)
}

/// Where the field lists of a Plan frame start (spec §8.5: after the level codes).
fn plan_fields(b: &[u8]) -> usize {
    let rows = u16::from_be_bytes([b[35], b[36]]) as usize;
    let cols = u16::from_be_bytes([b[37], b[38]]) as usize;
    39 + rows * cols
}

/// One vector per rule of spec §8 (and the filter checks of §9.7) that the vectors above do not
/// already stand for: each frame breaks exactly that rule.
fn decoder_rule_vectors(vectors: &[SessionVector]) -> Vec<NegativeVector> {
    let elements =
        |v: &SessionVector, change: &dyn Fn(&mut Vec<u8>)| patched(v, first_sender(v), "Elements", |b| change(b));
    let hello = |v: &SessionVector, change: &dyn Fn(&mut Vec<u8>)| patched(v, "initiator", "Hello", |b| change(b));
    let plan = |v: &SessionVector, change: &dyn Fn(&mut Vec<u8>)| patched(v, "responder", "Plan", |b| change(b));
    let fields_plan = |v: &SessionVector, change: &dyn Fn(&mut Vec<u8>)| patched(v, "initiator", "Plan", |b| change(b));
    let sealed = |v: &SessionVector, change: &dyn Fn(&mut blindmap_psi::wire::SealedChunk)| {
        changed(v, "initiator", "Sealed", |m| {
            let Message::Sealed(s) = m else { unreachable!() };
            change(s);
        })
    };
    let bloom = |v: &SessionVector, change: &dyn Fn(&mut blindmap_psi::wire::BloomChunk)| {
        changed(v, "responder", "Bloom", |m| {
            let Message::Bloom(b) = m else { unreachable!() };
            change(b);
        })
    };
    vec![
        // spec §8.1, §8.2
        negative(
            vectors,
            "unknown-kind",
            "A frame of a kind version 1 does not define (0x0b): a decoder does not guess at a body it \
             cannot parse (spec §8.1, §8.2).",
            "session-overlaps",
            |v| elements(v, &|b| b[1] = 0x0b),
            1,
        ),
        negative(
            vectors,
            "unknown-abort-code",
            "An Abort with code 10, outside the codes of spec §13 (1 to 9): an unknown code is malformed \
             like any other unknown code (spec §8.1, §8.10).",
            "session-overlaps",
            |v| {
                elements(v, &|b| {
                    b.truncate(26);
                    b[1] = 0x0f;
                    b[22..26].copy_from_slice(&2u32.to_be_bytes());
                    b.extend_from_slice(&10u16.to_be_bytes());
                })
            },
            1,
        ),
        // spec §8.4
        negative(
            vectors,
            "unknown-suite",
            "A Hello naming suite 2: version 1 has one suite, 0x0001, and a party must not run a \
             construction it did not agree to (spec §8.4).",
            "session-overlaps",
            |v| hello(v, &|b| b[26..28].copy_from_slice(&2u16.to_be_bytes())),
            1,
        ),
        negative(
            vectors,
            "hello-role-byte",
            "A Hello whose role byte is 2, neither initiator (0) nor responder (1) (spec §8.4).",
            "session-overlaps",
            |v| hello(v, &|b| b[28] = 2),
            1,
        ),
        negative(
            vectors,
            "hello-learn-byte",
            "A Hello whose learn byte is 2: the flag is 0 or 1, so that a party cannot claim to learn \
             in some other sense (spec §8.4).",
            "session-overlaps",
            |v| hello(v, &|b| b[29] = 2),
            1,
        ),
        negative(
            vectors,
            "too-many-segments",
            "A Hello declaring 65 segments, more than the 64 a party may have: refused before any \
             segment is read (spec §5.1, §8.4).",
            "session-overlaps",
            |v| hello(v, &|b| b[30..32].copy_from_slice(&65u16.to_be_bytes())),
            1,
        ),
        negative(
            vectors,
            "invalid-segment-label",
            "A segment label with an upper-case letter (`Customers`): labels are 1-64 characters of \
             a-z 0-9 _ -, so that they print and compare the same everywhere (spec §5.1, §8.4).",
            "session-overlaps",
            |v| hello(v, &|b| b[33] = b'C'),
            1,
        ),
        negative(
            vectors,
            "zero-records",
            "A segment declaring no records: every declared segment has at least one, so that sizes \
             and plans cannot refer to empty rows (spec §8.4).",
            "session-overlaps",
            |v| {
                hello(v, &|b| {
                    let (records, _, _) = first_segment(b);
                    b[records..records + 4].copy_from_slice(&0u32.to_be_bytes());
                })
            },
            1,
        ),
        negative(
            vectors,
            "records-beyond-2-31",
            "A segment declaring 2^31 records, beyond the 2^31 - 1 that positions can name (spec §8.4).",
            "session-overlaps",
            |v| {
                hello(v, &|b| {
                    let (records, _, _) = first_segment(b);
                    b[records..records + 4].copy_from_slice(&(1u32 << 31).to_be_bytes());
                })
            },
            1,
        ),
        negative(
            vectors,
            "keys-below-records",
            "A segment declaring fewer keys than records, which no set of records with at least one key \
             each can have (spec §8.4).",
            "session-overlaps",
            |v| {
                hello(v, &|b| {
                    let (records, keys, _) = first_segment(b);
                    let n = u32::from_be_bytes(b[records..records + 4].try_into().unwrap());
                    b[keys..keys + 8].copy_from_slice(&u64::from(n - 1).to_be_bytes());
                })
            },
            1,
        ),
        negative(
            vectors,
            "keys-beyond-width",
            "A segment declaring more keys than its records can hold at its declared maximum width \
             (records x max_width + 1) (spec §8.4).",
            "session-overlaps",
            |v| {
                hello(v, &|b| {
                    let (records, keys, width) = first_segment(b);
                    let n = u64::from(u32::from_be_bytes(b[records..records + 4].try_into().unwrap()));
                    let most = n * u64::from(b[width]);
                    b[keys..keys + 8].copy_from_slice(&(most + 1).to_be_bytes());
                })
            },
            1,
        ),
        negative(
            vectors,
            "max-width-out-of-range",
            "A segment declaring a maximum width of 65, beyond the 64 keys a record may have (spec §5.2, \
             §8.4).",
            "session-overlaps",
            |v| {
                hello(v, &|b| {
                    let (_, _, width) = first_segment(b);
                    b[width] = 65;
                })
            },
            1,
        ),
        negative(
            vectors,
            "hello-claims-own-role",
            "An initiator's Hello claiming the responder's role: both parties would then derive the same \
             streams and labels (spec §8.4).",
            "session-overlaps",
            |v| hello(v, &|b| b[28] = 1),
            5,
        ),
        negative(
            vectors,
            "duplicate-segment-label",
            "A Hello naming two segments `customers`: plans and answers address segments by position, and \
             a repeated label would make the receiver's policy ambiguous (spec §8.4).",
            "session-overlaps",
            |v| {
                hello(v, &|b| {
                    let labels = hello_labels(b);
                    let (first, last) = (labels[0], labels[labels.len() - 1]);
                    assert_eq!(b[first], b[last], "labels of one length");
                    let len = b[first] as usize;
                    let label = b[first..=first + len].to_vec();
                    b[last..=last + len].copy_from_slice(&label);
                })
            },
            5,
        ),
        negative(
            vectors,
            "hello-keys-beyond-limit",
            "A Hello within the receiver's record limit whose records x max_width (here 999,000 records \
             of up to 5 keys) exceed its key limit of 4,000,000: a party cannot promise few records and \
             then send wide ones (spec §3.3, §8.4).",
            "session-overlaps",
            |v| {
                changed(v, "initiator", "Hello", |m| {
                    let Message::Hello(h) = m else { unreachable!() };
                    h.segments[0].records = 999_000;
                    h.segments[0].keys = 999_000;
                    h.segments[0].max_width = 5;
                })
            },
            4,
        ),
        // spec §8.5
        negative(
            vectors,
            "plan-bloom-byte",
            "A Plan whose bloom byte is 2, neither 0 nor 1 (spec §8.5).",
            "session-overlaps",
            |v| plan(v, &|b| b[34] = 2),
            1,
        ),
        negative(
            vectors,
            "plan-too-many-rows",
            "A Plan of 65 rows: no party has more than 64 segments (spec §8.5).",
            "session-overlaps",
            |v| plan(v, &|b| b[35..37].copy_from_slice(&65u16.to_be_bytes())),
            1,
        ),
        negative(
            vectors,
            "plan-too-many-columns",
            "A Plan of 65 columns: no party has more than 64 segments (spec §8.5).",
            "session-overlaps",
            |v| plan(v, &|b| b[37..39].copy_from_slice(&65u16.to_be_bytes())),
            1,
        ),
        negative(
            vectors,
            "unknown-level",
            "A Plan cell of level code 4: the levels are 0 to 3, and a receiver must not guess what an \
             unknown one discloses (spec §6.1, §8.5).",
            "session-overlaps",
            |v| plan(v, &|b| b[39] = 4),
            1,
        ),
        negative(
            vectors,
            "fields-count-zero",
            "A fields cell naming no field: a fields level names 1 to 32 (spec §5.3, §8.5).",
            "session-fields",
            |v| {
                fields_plan(v, &|b| {
                    let at = plan_fields(b);
                    let rest = b.split_off(at);
                    // n = 0, and the cell's names dropped so that only the count is wrong.
                    let n = rest[0] as usize;
                    let mut skip = 1;
                    for _ in 0..n {
                        skip += 1 + rest[skip] as usize;
                    }
                    b.push(0);
                    b.extend_from_slice(&rest[skip..]);
                    let len = (b.len() - 26) as u32;
                    b[22..26].copy_from_slice(&len.to_be_bytes());
                })
            },
            1,
        ),
        negative(
            vectors,
            "invalid-field-name",
            "A field name with an upper-case letter (`Owner`): field names follow the key-type alphabet \
             (spec §5.3, §8.5).",
            "session-fields",
            |v| {
                fields_plan(v, &|b| {
                    let at = plan_fields(b);
                    b[at + 2] = b[at + 2].to_ascii_uppercase();
                })
            },
            1,
        ),
        negative(
            vectors,
            "duplicate-field-name",
            "A fields cell naming `owner` twice: names are distinct within a cell, so that the sealed \
             plaintext's layout is unambiguous (spec §8.5, §10.4).",
            "session-fields",
            |v| {
                fields_plan(v, &|b| {
                    let at = plan_fields(b);
                    assert_eq!(b[at], 2, "a cell of two fields");
                    let first = b[at + 1] as usize;
                    assert_eq!(b[at + 2 + first] as usize, first, "names of one length");
                    let name = b[at + 1..at + 2 + first].to_vec();
                    b[at + 2 + first..at + 3 + 2 * first].copy_from_slice(&name);
                })
            },
            1,
        ),
        // spec §8.6, §8.7
        negative(
            vectors,
            "empty-chunk",
            "A chunk of zero records: every chunk carries at least one, so that a stream always \
             progresses (spec §8.6).",
            "session-overlaps",
            |v| elements(v, &|b| b[32..34].copy_from_slice(&0u16.to_be_bytes())),
            1,
        ),
        negative(
            vectors,
            "zero-width",
            "A record of width 0: every record has 1 to 64 keys (spec §8.6).",
            "session-overlaps",
            |v| elements(v, &|b| b[34] = 0),
            1,
        ),
        negative(
            vectors,
            "identity-in-counted",
            "The identity as an element of a Counted chunk, which has its own layout (one width for the \
             chunk) and must be checked like every other element (spec §8.3, §8.6).",
            "session-counts",
            |v| {
                changed(v, first_sender(v), "Counted", |m| {
                    let Message::Counted(c) = m else { unreachable!() };
                    c.items[0] = [0; 32];
                })
            },
            1,
        ),
        negative(
            vectors,
            "shuffled-answer-width",
            "Shuffled answers to a counted stream one tag wider than the stream: answers to a Counted \
             stream have its width, or the receiver could be made to count phantom slots (spec §8.7, \
             §9.5).",
            "session-counts",
            |v| {
                let from = if first_sender(v) == "initiator" { "responder" } else { "initiator" };
                changed(v, from, "Tags", |m| {
                    let Message::Tags(c) = m else { unreachable!() };
                    let mut items = Vec::new();
                    let mut rest = c.items.iter();
                    for w in &mut c.widths {
                        let record: Vec<_> = rest.by_ref().take(*w as usize).copied().collect();
                        items.extend_from_slice(&record);
                        items.push(record[record.len() - 1]);
                        *w += 1;
                    }
                    c.items = items;
                })
            },
            6,
        ),
        // spec §9.3, §9.5: plans and streams against the hellos
        negative(
            vectors,
            "plan-discloses-to-non-learner",
            "A plan disclosing overlaps to a party whose hello asked to learn nothing: that party runs \
             no queries, and a plan saying otherwise is not one it agreed to (spec §9.3).",
            "session-bloom",
            |v| {
                patched(v, "initiator", "Plan", |b| {
                    let at = 39;
                    assert_eq!(b[at], 0, "a hidden cell");
                    b[at] = 2;
                })
            },
            5,
        ),
        negative(
            vectors,
            "chunk-past-declared-records",
            "A chunk carrying one record more than its segment declared: records cannot be slipped in \
             beyond the declared set (spec §9.5).",
            "session-overlaps",
            |v| {
                let from = first_sender(v);
                let (_, hello) = find(v, from, "Hello");
                let Message::Hello(hello) = hello.message else { unreachable!() };
                let (i, mut frame) = v
                    .messages
                    .iter()
                    .filter(|m| m.from == from)
                    .enumerate()
                    .filter(|(_, m)| m.kind == "Elements")
                    .map(|(i, m)| (i, Frame::decode(&hex::decode(&m.bytes).unwrap()).unwrap()))
                    .find(|(_, f)| {
                        let Message::Elements(c) = &f.message else { return false };
                        c.first + c.widths.len() as u32 == hello.segments[c.segment as usize].records
                    })
                    .expect("a segment's last chunk");
                let Message::Elements(c) = &mut frame.message else { unreachable!() };
                let last = c.widths.len() - 1;
                let w = c.widths[last] as usize;
                let record: Vec<_> = c.items[c.items.len() - w..].to_vec();
                c.items.extend(record);
                c.widths.push(w as u8);
                (from, i, frame.encode())
            },
            2,
        ),
        negative(
            vectors,
            "counted-too-wide",
            "A counted stream five elements wide: counted records carry at most four keys, so that the \
             stream says little about how many keys each record has (spec §9.5).",
            "session-counts",
            |v| {
                changed(v, first_sender(v), "Counted", |m| {
                    let Message::Counted(c) = m else { unreachable!() };
                    let w = c.widths[0] as usize;
                    let mut items = Vec::new();
                    for record in c.items.chunks(w) {
                        items.extend_from_slice(record);
                        items.extend(std::iter::repeat_n(record[0], 5 - w));
                    }
                    c.items = items;
                    c.widths.iter_mut().for_each(|x| *x = 5);
                })
            },
            6,
        ),
        // spec §9.5: shapes against the hello
        negative(
            vectors,
            "width-beyond-declared",
            "A record one key wider than its segment's declared max_width: a party cannot declare \
             narrow records and send wide ones (spec §9.5).",
            "session-overlaps",
            |v| {
                let from = first_sender(v);
                let (_, hello) = find(v, from, "Hello");
                let Message::Hello(hello) = hello.message else { unreachable!() };
                changed(v, from, "Elements", |m| {
                    let Message::Elements(c) = m else { unreachable!() };
                    let max = hello.segments[c.segment as usize].max_width;
                    let w = c.widths[0] as usize;
                    let filler = c.items[0];
                    c.items.splice(w..w, std::iter::repeat_n(filler, usize::from(max) + 1 - w));
                    c.widths[0] = max + 1;
                })
            },
            6,
        ),
        negative(
            vectors,
            "keys-short-of-declared",
            "A regular stream whose widths add up to one key fewer than its segment declared: the \
             declared sizes bound what the receiver learns and does, so they must be true (spec §9.5).",
            "session-overlaps",
            |v| {
                let from = first_sender(v);
                let (_, hello) = find(v, from, "Hello");
                let Message::Hello(hello) = hello.message else { unreachable!() };
                // The chunk that ends a segment's stream and has a record of two keys or more.
                let (i, mut frame) = v
                    .messages
                    .iter()
                    .filter(|m| m.from == from)
                    .enumerate()
                    .filter(|(_, m)| m.kind == "Elements")
                    .map(|(i, m)| (i, Frame::decode(&hex::decode(&m.bytes).unwrap()).unwrap()))
                    .find(|(_, f)| {
                        let Message::Elements(c) = &f.message else { return false };
                        let end = c.first + c.widths.len() as u32;
                        end == hello.segments[c.segment as usize].records && c.widths.iter().any(|&w| w >= 2)
                    })
                    .expect("a last chunk with a record of two keys");
                let Message::Elements(c) = &mut frame.message else { unreachable!() };
                let r = c.widths.iter().position(|&w| w >= 2).unwrap();
                let at: usize = c.widths[..r].iter().map(|&w| w as usize).sum();
                c.items.remove(at);
                c.widths[r] -= 1;
                (from, i, frame.encode())
            },
            6,
        ),
        // spec §8.8
        negative(
            vectors,
            "sealed-no-slots",
            "A sealed record with no slot: each record in a Sealed chunk carries 1 to 64 values (spec §8.8).",
            "session-fields",
            |v| sealed(v, &|s| s.records[0].clear()),
            1,
        ),
        negative(
            vectors,
            "sealed-slots-not-increasing",
            "A sealed record naming one slot twice: slots strictly increase, so that one key cannot be \
             given two values (spec §8.8).",
            "session-fields",
            |v| {
                sealed(v, &|s| {
                    let record = s.records.iter_mut().find(|r| r.len() >= 2).expect("a record of two keys");
                    record[1].0 = record[0].0;
                })
            },
            1,
        ),
        negative(
            vectors,
            "sealed-slot-beyond-63",
            "A sealed value for slot 64: no record has more than 64 keys (spec §8.8).",
            "session-fields",
            |v| {
                sealed(v, &|s| {
                    let record = &mut s.records[0];
                    let last = record.len() - 1;
                    record[last].0 = 64;
                })
            },
            1,
        ),
        negative(
            vectors,
            "sealed-ciphertext-too-short",
            "A sealed value of 15 bytes, shorter than the AEAD tag alone (spec §8.8, §10.4).",
            "session-fields",
            |v| sealed(v, &|s| s.records[0][0].1.truncate(15)),
            1,
        ),
        negative(
            vectors,
            "sealed-slot-beyond-width",
            "A sealed value for a slot at the segment's declared max_width, which no record of it has: \
             checked for every record, matched or not, so that the check says nothing about matches \
             (spec §10.4).",
            "session-fields",
            |v| {
                let (_, hello) = find(v, "initiator", "Hello");
                let Message::Hello(hello) = hello.message else { unreachable!() };
                sealed(v, &|s| {
                    let max = hello.segments[s.segment as usize].max_width;
                    let record = &mut s.records[0];
                    let last = record.len() - 1;
                    record[last].0 = max;
                })
            },
            6,
        ),
        // spec §8.9, §9.7
        negative(
            vectors,
            "bloom-empty-piece",
            "A Bloom piece of no bytes: every piece carries at least one, so that a filter always \
             progresses (spec §8.9).",
            "session-bloom",
            |v| bloom(v, &|b| b.data.clear()),
            1,
        ),
        negative(
            vectors,
            "bloom-piece-past-end",
            "A Bloom piece that runs past the filter's declared total length (spec §8.9).",
            "session-bloom",
            |v| bloom(v, &|b| b.total_len = b.data.len() as u64 - 1),
            1,
        ),
        negative(
            vectors,
            "bloom-piece-gap",
            "A filter's first piece starting at byte 1: pieces come in order and without gaps, or the \
             receiver would assemble a filter the sender never built (spec §8.9).",
            "session-bloom",
            |v| {
                bloom(v, &|b| {
                    b.offset = 1;
                    b.total_len += 1;
                })
            },
            2,
        ),
        negative_after(
            vectors,
            "bloom-total-changes",
            "A filter sent in two pieces whose second declares a total length one byte longer than the \
             first: a filter's size is fixed by its first piece, checked before anything is buffered \
             (spec §8.9, §9.7).",
            "session-bloom",
            |v| {
                let (i, frame) = find(v, "responder", "Bloom");
                let Message::Bloom(whole) = &frame.message else { unreachable!() };
                let half = whole.data.len() / 2;
                let piece = |seq: u32, total_len: u64, offset: usize, data: &[u8]| {
                    Frame {
                        session_id: frame.session_id,
                        seq,
                        message: Message::Bloom(blindmap_psi::wire::BloomChunk {
                            segment: whole.segment,
                            total_len,
                            offset: offset as u64,
                            data: data.to_vec(),
                        }),
                    }
                    .encode()
                };
                let first = piece(frame.seq, whole.total_len, 0, &whole.data[..half]);
                let second = piece(frame.seq + 1, whole.total_len + 1, half, &whole.data[half..]);
                ("responder", i, vec![first], second)
            },
            7,
        ),
        negative(
            vectors,
            "bloom-implausible-size",
            "A filter announced at twice the size its declared set gives: the receiver derives the size \
             itself and refuses another before buffering anything (spec §9.7).",
            "session-bloom",
            |v| bloom(v, &|b| b.total_len *= 2),
            7,
        ),
        negative(
            vectors,
            "bloom-version",
            "A filter serialized as version 2 of the bloomfilter format: only version 1 is specified \
             (spec §9.7).",
            "session-bloom",
            |v| bloom(v, &|b| b.data[0] = 2),
            7,
        ),
        negative(
            vectors,
            "bloom-hash-count",
            "A filter header with hash_count 2: the bit positions are the k SipHash probes of spec §9.7, \
             with the format's own hashing switched off (hash_count = 1) (spec §9.7).",
            "session-bloom",
            |v| bloom(v, &|b| b.data[9..13].copy_from_slice(&2u32.to_le_bytes())),
            7,
        ),
    ]
}

/// A plan body as spec §8.5 lays it out (for the shape-mismatch vector).
fn plan_bytes(threshold: u32, min: u32, bloom: bool, rows: usize, cols: usize, cells: &[Level]) -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(&threshold.to_be_bytes());
    b.extend_from_slice(&min.to_be_bytes());
    b.push(u8::from(bloom));
    b.extend_from_slice(&(rows as u16).to_be_bytes());
    b.extend_from_slice(&(cols as u16).to_be_bytes());
    for l in cells {
        b.push(match l {
            Level::Hidden => 0,
            Level::Counts => 1,
            Level::Overlaps => 2,
            Level::Fields(_) => 3,
        });
    }
    for l in cells {
        if let Level::Fields(f) = l {
            b.push(f.len() as u8);
            for n in f {
                b.push(n.as_str().len() as u8);
                b.extend_from_slice(n.as_str().as_bytes());
            }
        }
    }
    b
}

fn write_json(path: &Path, value: &impl Serialize) {
    let mut text = serde_json::to_string_pretty(value).unwrap();
    text.push('\n');
    std::fs::write(path, text).unwrap();
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> T {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn session_and_negative_vectors() {
    let dir = vector_dir();
    let generated = session_vectors();
    let negatives = negative_vectors(&generated);
    if std::env::var_os("BLINDMAP_WRITE_VECTORS").is_some() {
        std::fs::create_dir_all(dir.join("negative")).unwrap();
        for v in &generated {
            write_json(&dir.join(format!("{}.json", v.name)), v);
        }
        for n in &negatives {
            write_json(&dir.join("negative").join(format!("{}.json", n.name)), n);
        }
    }

    // The files say what the implementation does, frame by frame.
    for v in &generated {
        let on_disk: SessionVector = read_json(&dir.join(format!("{}.json", v.name)));
        assert_eq!(&on_disk, v, "{} differs from the implementation: regenerate only on purpose", v.name);
    }
    // Each party alone reproduces its frames from its partner's.
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("session-"))
        .collect();
    files.sort();
    assert_eq!(files.len(), generated.len(), "a session vector file without a generator");
    for path in &files {
        let v: SessionVector = read_json(path);
        replay_one_side(&v, Role::Initiator);
        replay_one_side(&v, Role::Responder);
    }
    // Negative vectors, read from their files.
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.join("negative")).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert_eq!(files.len(), negatives.len(), "a negative vector file without a generator");
    for path in &files {
        let n: NegativeVector = read_json(path);
        let base: SessionVector = read_json(&dir.join(format!("{}.json", n.base)));
        let to = if n.to == "initiator" { Role::Initiator } else { Role::Responder };
        let before: Vec<Vec<u8>> = n.before.iter().map(|f| hex::decode(f).unwrap()).collect();
        let err = inject(&n.name, &base, to, n.after, &before, &hex::decode(&n.frame).unwrap());
        assert_eq!(err.abort_code().to_u16(), n.abort_code, "{}: {err:?}", n.name);
        assert_eq!(err.to_string(), n.error, "{}", n.name);
    }
}

#[test]
fn tampered_sealed_vector() {
    let dir = vector_dir();
    let path = dir.join("tampered-sealed.json");
    let generated = tampered_vector(&session_vectors());
    if std::env::var_os("BLINDMAP_WRITE_VECTORS").is_some() {
        write_json(&path, &generated);
    }
    let on_disk: TamperedVector = read_json(&path);
    assert_eq!(on_disk, generated, "tampered-sealed.json differs from the implementation");
    let base: SessionVector = read_json(&dir.join(format!("{}.json", on_disk.base)));
    let to = if on_disk.to == "initiator" { Role::Initiator } else { Role::Responder };
    assert_eq!(feed_tampered(&base, to, &on_disk.replaced), on_disk.outcome);
    // The vector pins the order: the tampered values arrive prospects first, and are listed
    // partners first.
    let arrived: Vec<u16> = on_disk
        .replaced
        .iter()
        .map(|r| match Frame::decode(&hex::decode(&r.bytes).unwrap()).unwrap().message {
            Message::Sealed(s) => s.segment,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(arrived.first(), Some(&2), "prospects arrive first");
    let listed: Vec<&str> = on_disk.outcome.unopened.iter().map(|(segment, _)| segment.as_str()).collect();
    assert_eq!(listed.first(), Some(&"partners"));
    let mut sorted = on_disk.outcome.unopened.clone();
    sorted.sort_by_key(|(segment, position)| (on_disk.outcome.columns.iter().position(|c| c == segment), *position));
    assert_eq!(sorted, on_disk.outcome.unopened);
}

#[test]
fn tampered_sealed_fields_are_reported_locally_not_signalled() {
    // spec §10.4: an abort would tell the sender which of its records the receiver matched.
    let v = session_vectors().into_iter().find(|v| v.name == "session-fields").unwrap();
    let mut partner = v.responder.session(Role::Responder);
    for m in v.messages.iter().filter(|m| m.from == "initiator") {
        while partner.poll_transmit().is_some() {}
        let mut frame = Frame::decode(&hex::decode(&m.bytes).unwrap()).unwrap();
        if let Message::Sealed(s) = &mut frame.message {
            for record in &mut s.records {
                for (_, ct) in record {
                    ct[0] ^= 1;
                }
            }
        }
        partner.receive(&frame.encode()).expect("no abort for bad sealed fields");
    }
    while partner.poll_transmit().is_some() {}
    let outcome = partner.into_outcome().unwrap();
    assert!(outcome.partner_fields().is_empty());
    let expected: Vec<_> =
        v.outcome["responder"].fields.iter().map(|f| (f.partner_segment.clone(), f.partner_position)).collect();
    let got: Vec<_> = outcome
        .unopened_fields()
        .iter()
        .map(|p| (outcome.partner_segments()[p.segment as usize].label.to_string(), p.position.unwrap()))
        .collect();
    assert_eq!(got, expected, "every matched record's fields are reported unopened");
}

#[test]
fn vectors_cover_every_level() {
    let all: Vec<String> = session_vectors()
        .iter()
        .flat_map(|v| v.outcome.values().flat_map(|o| o.matrix.iter().flatten().cloned()).collect::<Vec<_>>())
        .collect();
    assert!(all.iter().any(|c| c.starts_with('<')), "a thresholded counts cell");
    assert!(all.iter().any(|c| c == "hidden"), "a hidden cell");
    assert!(all.iter().any(|c| c.starts_with("n/a")), "a refused cell");
    let fields = session_vectors().iter().any(|v| v.outcome.values().any(|o| !o.fields.is_empty()));
    assert!(fields, "fields disclosed");
}
