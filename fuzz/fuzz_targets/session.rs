//! A session of blindmap-psi (spec §9) fed fuzzer-chosen frames after a valid start: it refuses
//! them with an error, never a panic. The start is a recorded session of
//! `protocol-spec/vectors/`: the party under test is rebuilt from the vector (records, policy,
//! configuration, fixed seed) and given its partner's first recorded frames, as the vector
//! tests do; then the fuzzer's frames follow.
//!
//! Input: `vector` (index into [`VECTORS`]), `flags` (bit 0: the responder is under test, else
//! the initiator; bit 1: write the session id, the expected sequence number and the body
//! length into each frame's header, so that mutations reach the message checks), `after` (how
//! many recorded frames come first), then frames, each as a big-endian u16 length and bytes.
//!
//! Besides not panicking, a session must: queue an abort carrying the error's code when it
//! refuses a frame (none when the partner aborted), refuse everything once failed, send only
//! frames that decode, and give an outcome when it says it has finished.
#![no_main]

use std::sync::{Arc, OnceLock};

use blindmap_psi::wire::{FRAME_HEADER_LEN, Frame, Message, Role, SESSION_ID_LEN};
use blindmap_psi::{
    Dataset, DisclosurePolicy, Error, FieldName, KeyType, Level, MatchKey, Record, SegmentLabel, Session,
    SessionConfig, SessionSeed,
};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The recorded sessions, in the order `fuzz/make_corpus.py` numbers them.
const VECTORS: [&str; 8] = [
    include_str!("../../protocol-spec/vectors/session-bloom.json"),
    include_str!("../../protocol-spec/vectors/session-counts.json"),
    include_str!("../../protocol-spec/vectors/session-duplicates.json"),
    include_str!("../../protocol-spec/vectors/session-fields.json"),
    include_str!("../../protocol-spec/vectors/session-hidden.json"),
    include_str!("../../protocol-spec/vectors/session-mixed.json"),
    include_str!("../../protocol-spec/vectors/session-order.json"),
    include_str!("../../protocol-spec/vectors/session-overlaps.json"),
];

/// Frames delivered after the recorded ones, at most: keeps one run short.
const MAX_FRAMES: usize = 32;

struct Party {
    data: Arc<Dataset>,
    policy: DisclosurePolicy,
    config: SessionConfig,
    seed: [u8; 32],
}

impl Party {
    fn from_json(v: &Value) -> Self {
        let text = |v: &Value| v.as_str().expect("a string").to_owned();
        let records = v["records"]
            .as_array()
            .expect("records")
            .iter()
            .map(|r| {
                let mut record = Record::new(text(&r["id"]), SegmentLabel::new(&text(&r["segment"])).unwrap());
                for key in r["keys"].as_array().unwrap() {
                    record = record.with_key(MatchKey::new(KeyType::new(&text(&key[0])).unwrap(), text(&key[1])));
                }
                for (name, value) in r["fields"].as_object().unwrap() {
                    record = record.with_field(FieldName::new(name).unwrap(), text(value));
                }
                record
            })
            .collect();
        let p = &v["policy"];
        let number = |v: &Value| v.as_u64().expect("a number");
        let mut policy = DisclosurePolicy::new(level(&p["default"]))
            .with_threshold(number(&p["threshold"]) as u32)
            .with_min_partner_segment(number(&p["min_partner_segment"]) as u32);
        for rule in p["rules"].as_array().unwrap() {
            let segment = |v: &Value| v.as_str().map(|s| SegmentLabel::new(s).unwrap());
            policy = policy.with_rule(segment(&rule["own"]), segment(&rule["partner"]), level(&rule["level"])).unwrap();
        }
        let c = &v["config"];
        let config = SessionConfig {
            learn: c["learn"].as_bool().unwrap(),
            bloom: c["bloom"].as_bool().unwrap(),
            chunk_records: number(&c["chunk_records"]) as usize,
            max_partner_records: number(&c["max_partner_records"]),
            max_partner_keys: number(&c["max_partner_keys"]),
            max_matches: None,
        };
        let seed = hex::decode(text(&v["seed"])).unwrap().try_into().expect("32 bytes");
        Self { data: Arc::new(Dataset::new(records).unwrap()), policy, config, seed }
    }

    fn session(&self, role: Role) -> Session {
        let seed = SessionSeed::from_bytes_unchecked(self.seed);
        let (data, policy, config) = (self.data.clone(), self.policy.clone(), self.config.clone());
        match role {
            Role::Initiator => Session::initiator(data, policy, config, seed),
            Role::Responder => Session::responder(data, policy, config, seed),
        }
        .expect("a vector's party starts")
    }
}

fn level(v: &Value) -> Level {
    match v.as_str() {
        Some("hidden") => Level::Hidden,
        Some("counts") => Level::Counts,
        Some("overlaps") => Level::Overlaps,
        Some(other) => panic!("unknown level {other}"),
        None => Level::Fields(
            v["fields"].as_array().unwrap().iter().map(|f| FieldName::new(f.as_str().unwrap()).unwrap()).collect(),
        ),
    }
}

struct Scenario {
    initiator: Party,
    responder: Party,
    from_initiator: Vec<Vec<u8>>,
    from_responder: Vec<Vec<u8>>,
    session_id: [u8; SESSION_ID_LEN],
}

fn scenarios() -> &'static [Scenario] {
    static SCENARIOS: OnceLock<Vec<Scenario>> = OnceLock::new();
    SCENARIOS.get_or_init(|| {
        VECTORS
            .iter()
            .map(|text| {
                let v: Value = serde_json::from_str(text).expect("a session vector");
                let frames = |from: &str| -> Vec<Vec<u8>> {
                    let messages = v["messages"].as_array().unwrap().iter();
                    messages
                        .filter(|m| m["from"] == from)
                        .map(|m| hex::decode(m["bytes"].as_str().unwrap()).unwrap())
                        .collect()
                };
                let from_initiator = frames("initiator");
                let session_id = from_initiator[0][2..2 + SESSION_ID_LEN].try_into().unwrap();
                Scenario {
                    initiator: Party::from_json(&v["initiator"]),
                    responder: Party::from_json(&v["responder"]),
                    from_initiator,
                    from_responder: frames("responder"),
                    session_id,
                }
            })
            .collect()
    })
}

/// Sends what the session has to send; each frame must decode.
fn drain(session: &mut Session) {
    while let Some(frame) = session.poll_transmit() {
        if let Err(e) = Frame::decode(&frame) {
            panic!("the session sent a frame that does not decode: {e}");
        }
    }
}

fuzz_target!(|input: &[u8]| {
    let [vector, flags, after, rest @ ..] = input else { return };
    let mut rest = rest;
    let scenarios = scenarios();
    let s = &scenarios[usize::from(*vector) % scenarios.len()];
    let (role, party, recorded) = match flags & 1 {
        0 => (Role::Initiator, &s.initiator, &s.from_responder),
        _ => (Role::Responder, &s.responder, &s.from_initiator),
    };
    let patch = flags & 2 != 0;
    let after = usize::from(*after) % (recorded.len() + 1);

    let mut session = party.session(role);
    for frame in &recorded[..after] {
        drain(&mut session);
        session.receive(frame).expect("recorded frames are accepted");
    }
    let mut seq = after as u32;
    for _ in 0..MAX_FRAMES {
        if rest.is_empty() {
            break;
        }
        let (frame, tail) = match rest {
            [hi, lo, body @ ..] => body.split_at(usize::from(u16::from_be_bytes([*hi, *lo])).min(body.len())),
            _ => (rest, &[][..]),
        };
        rest = tail;
        let mut frame = frame.to_vec();
        if patch && frame.len() >= FRAME_HEADER_LEN {
            let body_len = (frame.len() - FRAME_HEADER_LEN) as u32;
            frame[2..2 + SESSION_ID_LEN].copy_from_slice(&s.session_id);
            frame[FRAME_HEADER_LEN - 8..FRAME_HEADER_LEN - 4].copy_from_slice(&seq.to_be_bytes());
            frame[FRAME_HEADER_LEN - 4..FRAME_HEADER_LEN].copy_from_slice(&body_len.to_be_bytes());
        }
        drain(&mut session);
        if session.is_failed() {
            assert!(matches!(session.receive(&frame), Err(Error::State(_))), "a failed session takes a frame");
            break;
        }
        match session.receive(&frame) {
            Ok(()) => seq += 1,
            Err(e) => {
                assert!(session.is_failed(), "refused ({e}) but not failed");
                let abort = session.poll_transmit().map(|f| Frame::decode(&f).expect("an abort that decodes").message);
                match e {
                    Error::PeerAborted(_) => assert_eq!(abort, None, "an abort answered"),
                    _ => assert_eq!(abort, Some(Message::Abort(e.abort_code())), "refused ({e})"),
                }
                assert!(matches!(session.receive(&frame), Err(Error::State(_))), "a failed session takes a frame");
                break;
            }
        }
    }
    drain(&mut session);
    let finished = session.is_finished();
    if let Err(e) = session.into_outcome() {
        assert!(!finished, "finished, yet no outcome: {e}");
    }
});
