//! Transcripts (spec §16): every frame a party sent and received, decoded into what it declares
//! and followed by its complete bytes, so that a reviewer can check that nothing but protocol
//! elements left the machine.
//!
//! The text is built in memory; writing it somewhere is the caller's business.

use core::fmt::Write as _;

use crate::policy::Level;
use crate::wire::{Frame, Message, RecordChunk};

/// The first line of every transcript.
pub const TRANSCRIPT_MAGIC: &str = "blindmap transcript v1";

/// Bytes per line of a frame's hex dump.
const HEX_LINE: usize = 32;

/// A transcript being written: header lines, then one block per frame in the order this party
/// sent or received it.
#[derive(Debug, Clone)]
pub struct Transcript {
    text: String,
    sent: u64,
    received: u64,
    bytes_sent: u64,
    bytes_received: u64,
}

impl Transcript {
    /// A transcript whose header carries `about` as `# key: value` lines (run id, role, …).
    /// Values must not be identifiers from the party's data; they are the caller's to choose.
    pub fn new(about: &[(&str, &str)]) -> Self {
        let mut text = format!("{TRANSCRIPT_MAGIC}\n");
        for (key, value) in about {
            let _ = writeln!(text, "# {key}: {}", value.replace('\n', " "));
        }
        text.push_str(
            "# Each block is one frame: '>' sent, '<' received, then what it declares (spec §8) and\n\
             # its complete bytes in hex. Nothing else crossed the connection.\n",
        );
        Self { text, sent: 0, received: 0, bytes_sent: 0, bytes_received: 0 }
    }

    /// Records a frame this party sent.
    pub fn sent(&mut self, frame: &[u8]) {
        self.sent += 1;
        self.bytes_sent += frame.len() as u64;
        self.block('>', frame);
    }

    /// Records a frame this party received (whether or not it decoded).
    pub fn received(&mut self, frame: &[u8]) {
        self.received += 1;
        self.bytes_received += frame.len() as u64;
        self.block('<', frame);
    }

    /// Records the end of the session, with how it ended.
    pub fn end(&mut self, outcome: &str) {
        let _ = writeln!(
            self.text,
            "# end: {}; sent {} frames ({} bytes), received {} frames ({} bytes)",
            outcome.replace('\n', " "),
            self.sent,
            self.bytes_sent,
            self.received,
            self.bytes_received
        );
    }

    /// The text so far.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The text.
    pub fn into_text(self) -> String {
        self.text
    }

    fn block(&mut self, direction: char, bytes: &[u8]) {
        let description = match Frame::decode(bytes) {
            Ok(frame) => format!("seq {} {}", frame.seq, describe(&frame.message)),
            Err(e) => format!("undecodable ({e})"),
        };
        let _ = writeln!(self.text, "{direction} {description}; {} bytes", bytes.len());
        for line in bytes.chunks(HEX_LINE) {
            let _ = writeln!(self.text, "  {}", hex(line));
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

fn chunk<T>(what: &str, c: &RecordChunk<T>, item: &str) -> String {
    let reference = if c.reference == 0 { String::new() } else { format!(", reference {}", c.reference) };
    format!(
        "{what}: segment {}, records {}..{}, {} {item}{}{reference}",
        c.segment,
        c.first,
        u64::from(c.first) + c.widths.len() as u64,
        c.items.len(),
        if c.items.len() == 1 { "" } else { "s" },
    )
}

/// One line saying what a message declares: sizes, labels, levels — never its elements.
fn describe(message: &Message) -> String {
    match message {
        Message::Hello(h) => {
            let segments: Vec<String> = h
                .segments
                .iter()
                .map(|s| {
                    format!("{:?} {} records {} keys width ≤ {}", s.label.as_str(), s.records, s.keys, s.max_width)
                })
                .collect();
            format!("Hello: {}, learns {}, segments [{}]", h.role.name(), h.learn, segments.join("; "))
        }
        Message::Plan(p) => {
            let mut cells = Vec::new();
            for r in 0..p.rows() {
                for c in 0..p.cols() {
                    cells.push(match p.level(r, c) {
                        Level::Fields(f) => {
                            format!("{r}×{c} fields({})", f.iter().map(|n| n.as_str()).collect::<Vec<_>>().join(","))
                        }
                        other => format!("{r}×{c} {}", other.name()),
                    });
                }
            }
            format!(
                "Plan: {}×{}, threshold {}, min segment {}, bloom {}, cells [{}]",
                p.rows(),
                p.cols(),
                p.threshold(),
                p.min_segment(),
                p.bloom(),
                cells.join(", ")
            )
        }
        Message::Elements(c) => chunk("Elements", c, "element"),
        Message::Blinded(c) => chunk("Blinded", c, "element"),
        Message::Counted(c) => chunk("Counted", c, "element"),
        Message::Points(c) => chunk("Points", c, "element"),
        Message::Evaluated(c) => chunk("Evaluated", c, "element"),
        Message::Tags(c) => chunk("Tags", c, "tag"),
        Message::Sealed(s) => {
            let bytes: usize = s.records.iter().flatten().map(|(_, ct)| ct.len()).sum();
            format!(
                "Sealed: group {}, segment {}, records {}..{}, {bytes} ciphertext bytes",
                s.group,
                s.segment,
                s.first,
                u64::from(s.first) + s.records.len() as u64
            )
        }
        Message::Bloom(b) => {
            format!(
                "Bloom: segment {}, bytes {}..{} of {}",
                b.segment,
                b.offset,
                b.offset + b.data.len() as u64,
                b.total_len
            )
        }
        Message::Abort(code) => format!("Abort: {code} (code {})", code.to_u16()),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::{
        Dataset, Direction, DisclosurePolicy, KeyType, MatchKey, Observer, Record, SegmentLabel, Session,
        SessionConfig, SessionSeed, run_in_process_with,
    };

    struct Both(Transcript, Transcript);

    impl Observer for Both {
        fn produced(&mut self, direction: Direction, frame: &[u8]) {
            match direction {
                Direction::InitiatorToResponder => (self.0.sent(frame), self.1.received(frame)),
                Direction::ResponderToInitiator => (self.1.sent(frame), self.0.received(frame)),
            };
        }
    }

    #[test]
    fn a_transcript_shows_every_frame_whole_and_no_key() {
        let domain = KeyType::new("domain").unwrap();
        let label = SegmentLabel::new("customers").unwrap();
        let data = |names: &[&str]| {
            let records = names
                .iter()
                .enumerate()
                .map(|(i, d)| Record::new(i.to_string(), label.clone()).with_key(MatchKey::new(domain.clone(), *d)));
            Arc::new(Dataset::new(records.collect()).unwrap())
        };
        let policy = DisclosurePolicy::new(Level::Overlaps).with_min_partner_segment(1);
        let seed = |b| SessionSeed::from_bytes_unchecked([b; 32]);
        let a =
            Session::initiator(data(&["acme.com", "globex.com"]), policy.clone(), SessionConfig::default(), seed(1))
                .unwrap();
        let b = Session::responder(data(&["globex.com", "initech.com"]), policy, SessionConfig::default(), seed(2))
            .unwrap();
        let mut both = Both(Transcript::new(&[("role", "initiator")]), Transcript::new(&[("role", "responder")]));
        let run = run_in_process_with(a, b, &mut both).unwrap();
        both.0.end("complete");
        let text = both.0.into_text();
        assert!(text.starts_with("blindmap transcript v1\n# role: initiator\n"));
        assert!(text.contains("> seq 0 Hello: initiator, learns true, segments [\"customers\" 2 records 2 keys"));
        assert!(text.contains("< seq 1 Plan: 1×1"));
        // Chunks say where they are in the sender's list and how many items they carry.
        assert!(text.contains("\n> seq 2 Elements: segment 0, records 0..2, 2 elements; 100 bytes\n"), "{text}");
        assert!(text.contains("\n< seq 2 Tags: segment 0, records 0..2, 2 tags; 70 bytes\n"), "{text}");
        let frames = text.lines().filter(|l| l.starts_with('>') || l.starts_with('<')).count() as u64;
        assert_eq!(frames, run.frames, "every frame, both ways");
        let hex_bytes: usize = text.lines().filter(|l| l.starts_with("  ")).map(|l| l.trim().len() / 2).sum();
        assert_eq!(hex_bytes as u64, run.bytes_from_initiator + run.bytes_from_responder, "every byte");
        let dump: String = text.lines().filter(|l| l.starts_with("  ")).map(str::trim).collect();
        for key in ["acme.com", "globex.com", "initech.com"] {
            assert!(!text.contains(key), "{key} in a description");
            assert!(!dump.contains(&hex(key.as_bytes())), "{key} in the bytes");
        }
        assert!(text.ends_with(&format!(
            "# end: complete; sent {} frames ({} bytes), received {} frames ({} bytes)\n",
            text.lines().filter(|l| l.starts_with('>')).count(),
            run.bytes_from_initiator,
            text.lines().filter(|l| l.starts_with('<')).count(),
            run.bytes_from_responder
        )));
    }

    #[test]
    fn a_chunk_line_names_its_place_its_count_and_its_reference() {
        let c = |reference, n: usize| RecordChunk {
            reference,
            segment: 2,
            first: 7,
            widths: vec![1; n],
            items: vec![[0u8; 4]; n],
        };
        assert_eq!(chunk("Tags", &c(0, 3), "tag"), "Tags: segment 2, records 7..10, 3 tags");
        assert_eq!(
            chunk("Evaluated", &c(5, 1), "element"),
            "Evaluated: segment 2, records 7..8, 1 element, reference 5"
        );
    }

    #[test]
    fn an_undecodable_frame_is_still_shown_whole() {
        let mut t = Transcript::new(&[]);
        t.received(&[0x07, 0x01, 0xff]);
        assert!(t.text().contains("< undecodable (") && t.text().contains("3 bytes\n  0701ff\n"), "{}", t.text());
    }
}
