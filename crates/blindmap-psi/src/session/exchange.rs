//! The streaming part of a session, once both plans are known (spec §9.4–9.8).
//!
//! Of the two parties, the *first querier* (F) streams its records first and keeps the tags the
//! partner returns for them; the other party (L) answers, then streams its own records, which F
//! evaluates and probes against what it kept. Each side therefore holds, beyond one chunk, tags
//! for the smaller of the two sets (spec §9.4).
//!
//! A party sends up to two streams per segment: a *counted* stream, one element per record under
//! its count key, which the partner answers shuffled (the counts level), and a *regular* stream,
//! every key under its class key, which the partner answers in order (overlaps and fields) and
//! evaluates for its own comparisons (spec §9.5).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::Arc;

use curve25519_dalek::scalar::Scalar;
use rayon::prelude::*;
use zeroize::Zeroizing;

use super::index::TagIndex;
use crate::error::{Error, PeerMisbehaviour};
use crate::group::{ElementBytes, SecretScalar};
use crate::kept::BloomCache;
use crate::oprf::OprfKey;
use crate::outcome::{BloomMatch, Outcome, Overlap, PartnerFields, PartnerRecord, matrix};
use crate::policy::{Level, Plan, PlanStructure, Visibility};
use crate::record::{Dataset, FieldName, KeyType};
use crate::seed::{Prg, SessionSeed};
use crate::wire::{Hello, Kind, Message, Role, SealedRecord, SegmentInfo, SessionId};

/// At most this many elements in one chunk, so that bodies stay far below the frame limit.
pub(super) const MAX_CHUNK_ELEMENTS: usize = 1 << 18;

/// Most keys a counted record sends (spec §9.5).
pub(crate) const MAX_COUNTED_WIDTH: u8 = 4;

/// spec §8.6, §8.8: how many of the next records, of `sizes` each (elements, or bytes), one
/// chunk takes: at most `max_records`, and records only while their sizes add up to at most
/// `max_size` (a chunk takes its first record whatever its size).
pub(super) fn chunk_len(sizes: impl Iterator<Item = usize>, max_records: usize, max_size: usize) -> usize {
    let mut total = 0;
    let mut records = 0;
    for size in sizes.take(max_records) {
        if records > 0 && total + size > max_size {
            break;
        }
        total += size;
        records += 1;
    }
    records
}

/// spec §8.6: records per chunk of a counted stream, whose records all send `width` elements
/// (and the shuffled returns for it): at most `max_records`, and within `max_elements`.
pub(super) fn counted_chunk_len(max_records: usize, width: usize, max_elements: usize) -> usize {
    max_records.min(max_elements / width)
}

/// Steps of a party's outgoing stream (spec §9.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OutStep {
    /// Our own records: counted streams, then regular ones (`Elements`, and `Blinded` where
    /// fields are disclosed to us).
    OwnRecords,
    /// Answers to the partner's records (`Tags`/`Points`, `Evaluated`), produced on receipt.
    Mirror,
    /// Our sealed fields.
    OwnSealed,
    /// Our Bloom filters.
    OwnBloom,
}

/// Steps of a party's incoming stream (spec §9.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum InStep {
    /// The partner's answers to our records.
    Returns,
    /// The partner's own records.
    PartnerRecords,
    /// The partner's sealed fields.
    PartnerSealed,
    /// The partner's Bloom filters.
    PartnerBloom,
}

/// One of a party's record streams (spec §9.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Stream {
    /// `Counted`: one element per record, for the counts level.
    Counted(u16),
    /// `Elements` (and `Blinded`): every key of every record.
    Regular(u16),
}

/// Which of our secrets raised an element (spec §7.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) enum KeyId {
    /// The key of one of our classes.
    Class(u16),
    /// Our count key.
    Count,
}

/// Our view of one of our segments.
pub(super) struct OwnSegment {
    pub(super) records: u32,
    pub(super) keys: u64,
    /// Our key class for this segment (spec §6.4).
    pub(super) class: u16,
    /// Whether the partner serves this segment any overlaps or fields cell.
    pub(super) ordered: bool,
    /// Whether the partner serves this segment any counts cell: we send its counted stream.
    pub(super) counted: bool,
    /// For counted segments: the counted keys of each record (input order), as key indices,
    /// back to back, with `counted_offsets[i]..counted_offsets[i + 1]` for record `i`.
    pub(super) counted_keys: Vec<u8>,
    pub(super) counted_offsets: Vec<u32>,
    /// For counted segments: the width of every counted record (spec §9.5).
    pub(super) counted_width: u8,
    /// Whether we send its regular stream.
    pub(super) sends: bool,
    pub(super) blinded: bool,
    /// Position → record index (spec §9.5: regular streams go out in a shuffled order).
    pub(super) order: Vec<u32>,
    /// For blinded segments: index of each position's first key among the segment's keys.
    pub(super) offsets: Vec<u32>,
    /// For blinded segments: the RFC 9497 blinds, key after key.
    pub(super) blinds: Zeroizing<Vec<Scalar>>,
    /// For blinded segments: `Evaluated` elements per partner fields group, key after key.
    pub(super) evaluated: BTreeMap<u16, Vec<ElementBytes>>,
}

/// Our view of one of the partner's segments.
pub(super) struct PartnerSegment {
    pub(super) records: u32,
    pub(super) keys: u64,
    pub(super) max_width: u8,
    pub(super) class: u16,
    /// Whether it asks for any overlaps or fields cell.
    pub(super) ordered: bool,
    pub(super) counted: bool,
    /// The width of its counted records, once its first counted chunk arrived.
    pub(super) counted_width: Option<u8>,
    pub(super) sends: bool,
    pub(super) blinded: bool,
    /// Our classes whose keys answer its regular stream in order (spec §9.5).
    pub(super) ordered_answers: Vec<u16>,
    /// Our classes whose keys answer its counted stream, shuffled (spec §9.5).
    pub(super) shuffled_answers: Vec<u16>,
    /// Our keys that evaluate its regular stream for our own comparisons (spec §10.1).
    pub(super) compare: Vec<KeyId>,
}

/// A return the partner owes us for records we sent (spec §9.5).
#[derive(Debug)]
pub(super) struct Expected {
    pub(super) kind: Kind,
    pub(super) reference: u16,
    pub(super) segment: u16,
    pub(super) next: u32,
    pub(super) end: u32,
    /// Ordered returns mirror one of our chunks exactly; shuffled ones may be cut anywhere.
    pub(super) exact: bool,
}

/// Where we are in the partner's record streams.
#[derive(Default)]
pub(super) struct RecordCursor {
    pub(super) streams: Vec<Stream>,
    pub(super) at: usize,
    pub(super) next: u32,
    pub(super) key_sum: u64,
    pub(super) blinded_sum: u64,
    /// After an `Elements` chunk of a blinded segment: its first position and widths.
    pub(super) pending_blinded: Option<(u32, Vec<u8>)>,
}

/// One of our key slots whose tag the partner returned (kept by F).
#[derive(Clone, Copy, Debug)]
pub(super) struct OwnSlot {
    pub(super) segment: u16,
    /// Position, or shuffled position for answers to a counted stream.
    pub(super) position: u32,
    pub(super) slot: u8,
    /// The partner class whose key produced the return.
    pub(super) partner_class: u16,
    /// Our key under which we sent the element.
    pub(super) key: KeyId,
}

/// One of the partner's key slots, evaluated with one of our keys (kept by L).
#[derive(Clone, Copy, Debug)]
pub(super) struct PartnerSlot {
    pub(super) segment: u16,
    pub(super) position: u32,
    pub(super) slot: u8,
    pub(super) key: KeyId,
}

/// A match with a known position of ours (overlaps and fields levels).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct OrderedMatch {
    pub(super) segment: u16,
    pub(super) position: u32,
    pub(super) slot: u8,
    pub(super) partner_segment: u16,
    pub(super) partner: Option<(u32, u8)>,
}

/// Sealed fields we still have to send: per (group, segment), records in position order.
pub(super) type SealedOut = BTreeMap<(u16, u16), Vec<SealedRecord>>;

/// Fields a partner record disclosed: `(name, value)`.
pub(super) type DisclosedFields = Vec<(FieldName, Option<String>)>;

/// A key slot: (segment, position, slot).
pub(super) type KeySlot = (u16, u32, u8);

pub(crate) struct Exchange {
    pub(super) role: Role,
    /// Whether we asked to learn.
    pub(super) learn: bool,
    pub(super) session_id: SessionId,
    pub(super) data: Arc<Dataset>,
    pub(super) seed: SessionSeed,
    /// A Bloom sender's kept evaluations and filters (spec §20.5).
    pub(super) bloom_cache: Option<Arc<BloomCache>>,
    pub(super) chunk_records: usize,
    pub(super) partner_hello: Hello,
    pub(super) my_plan: Plan,
    pub(super) mine: PlanStructure,
    pub(super) their_plan: Plan,
    pub(super) theirs: PlanStructure,
    /// Whether we are the first querier (spec §9.4).
    pub(super) first: bool,
    pub(super) class_keys: Vec<SecretScalar>,
    /// Our count key, if we send any counted stream (spec §7.2).
    pub(super) count_key: Option<SecretScalar>,
    pub(super) group_keys: Vec<OprfKey>,
    pub(super) own: Vec<OwnSegment>,
    pub(super) partner: Vec<PartnerSegment>,
    /// Our fields groups containing each of our segments.
    pub(super) own_groups: Vec<Vec<u16>>,
    /// Elements checked against the Bloom filters of a session (spec §9.7).
    pub(super) bloom_lookups: u64,

    out_steps: Vec<OutStep>,
    out_at: usize,
    in_steps: Vec<InStep>,
    in_at: usize,

    // Our own streams.
    pub(super) emit_streams: Vec<Stream>,
    pub(super) emit_at: usize,
    pub(super) emit_pos: u32,
    pub(super) blind_prg: Option<Prg>,
    pub(super) dummy_prg: Option<Prg>,
    pub(super) expected: VecDeque<Expected>,
    pub(super) sealed_out: SealedOut,
    pub(super) sealed_cursor: Option<((u16, u16), usize)>,
    pub(super) bloom_segments: Vec<u16>,
    pub(super) bloom_at: usize,
    pub(super) bloom_current: Option<(u16, Arc<Vec<u8>>, usize)>,

    // The partner's streams.
    pub(super) cursor: RecordCursor,
    /// Answers to the partner's counted stream per class, shuffled before they go out.
    pub(super) shuffle: Vec<(u16, Vec<crate::group::Tag>)>,
    /// 16-byte prefixes of the partner's counted elements from completed streams, sorted, and
    /// of the stream under way (spec §9.5).
    pub(super) counted_prefixes: Vec<[u8; 16]>,
    pub(super) pending_prefixes: Vec<[u8; 16]>,
    pub(super) sealed_in: Vec<(u16, u16)>,
    pub(super) sealed_in_at: usize,
    pub(super) sealed_in_next: u32,
    pub(super) bloom_in: Vec<u16>,
    pub(super) bloom_in_at: usize,
    pub(super) bloom_buffer: Vec<u8>,
    pub(super) bloom_total: u64,

    // Matching.
    /// A local limit on matches, against a sender inflating them (spec §10.1).
    pub(super) max_matches: u64,
    /// Matches recorded so far, counted as (our entry, partner entry) pairs (spec §10.1).
    pub(super) matched: u64,
    /// Set when matches beyond the limit were dropped (spec §10.1).
    pub(super) truncated: bool,
    /// Partner records whose sealed fields did not open (spec §10.4).
    pub(super) unopened: BTreeSet<(u16, u32)>,
    pub(super) own_index: TagIndex<OwnSlot>,
    pub(super) partner_index: TagIndex<PartnerSlot>,
    pub(super) bloom_pending: Vec<(ElementBytes, OwnSlot)>,
    /// Our key slots a Bloom filter matched, with the partner segment and the unblinded element
    /// `[k_c] H(x)` (spec §20.6): (segment, position, slot, partner segment, element).
    pub(super) bloom_matched: Vec<(u16, u32, u8, u16, ElementBytes)>,
    pub(super) ordered: Vec<OrderedMatch>,
    pub(super) shuffled: HashSet<(u16, u16, u32)>,
    /// Partner (segment, position, slot) → our (segment, position, slot), for fields cells.
    pub(super) fields_wanted: HashMap<KeySlot, Vec<KeySlot>>,
    pub(super) partner_fields: BTreeMap<(u16, u32), DisclosedFields>,
}

/// Per-class and per-group key labels (spec §7.2).
fn key_info(prefix: &[u8], index: u16) -> Vec<u8> {
    [prefix, &index.to_be_bytes()[..]].concat()
}

/// PRG labels with segment (and class) indices (spec §7.1).
pub(super) fn prg_label(prefix: &[u8], indices: &[u16]) -> Vec<u8> {
    let mut label = prefix.to_vec();
    for i in indices {
        label.extend_from_slice(&i.to_be_bytes());
    }
    label
}

/// spec §9.4: counted streams first, then regular ones, each in hello order.
#[allow(clippy::cast_possible_truncation, reason = "segment, class and group indices are below MAX_SEGMENTS (64)")]
fn stream_order(n: usize, counted: impl Fn(usize) -> bool, sends: impl Fn(usize) -> bool) -> Vec<Stream> {
    let counted = (0..n).filter(|&s| counted(s)).map(|s| Stream::Counted(s as u16));
    let regular = (0..n).filter(|&s| sends(s)).map(|s| Stream::Regular(s as u16));
    counted.chain(regular).collect()
}

impl Exchange {
    #[allow(
        clippy::cast_possible_truncation,
        reason = "segment, class and group indices are below MAX_SEGMENTS (64); key slots below MAX_KEYS_PER_RECORD (64); a segment's counted keys are at most its keys, at most MAX_SEGMENT_KEYS (2^32 - 1)"
    )]
    pub(crate) fn new(
        role: Role,
        session_id: SessionId,
        data: Arc<Dataset>,
        seed: SessionSeed,
        config: &super::SessionConfig,
        my_hello: Hello,
        partner_hello: Hello,
        my_plan: Plan,
        their_plan: Plan,
        bloom_cache: Option<Arc<BloomCache>>,
    ) -> Result<Self, Error> {
        let mine = my_plan.structure();
        let theirs = their_plan.structure();

        // spec §9.4: who sends what.
        let own: Vec<OwnSegment> = my_hello
            .segments
            .iter()
            .enumerate()
            .map(|(s, info)| {
                let ordered = my_hello.learn && their_plan.row_has_ordered(s);
                let counted = my_hello.learn && their_plan.row_has_counts(s);
                OwnSegment {
                    records: info.records,
                    keys: info.keys,
                    class: mine.class_of_col[s],
                    ordered,
                    counted,
                    counted_keys: Vec::new(),
                    counted_offsets: Vec::new(),
                    counted_width: 0,
                    sends: ordered || (my_plan.col_visible(s) && !my_plan.bloom),
                    blinded: my_hello.learn && theirs.groups_for_row(s).next().is_some(),
                    order: Vec::new(),
                    offsets: Vec::new(),
                    blinds: Zeroizing::new(Vec::new()),
                    evaluated: BTreeMap::new(),
                }
            })
            .collect();
        let partner: Vec<PartnerSegment> = partner_hello
            .segments
            .iter()
            .enumerate()
            .map(|(t, info)| {
                let learn = partner_hello.learn;
                let ordered = learn && my_plan.row_has_ordered(t);
                let counted = learn && my_plan.row_has_counts(t);
                let sends = ordered || (their_plan.col_visible(t) && !their_plan.bloom);
                let class = theirs.class_of_col[t];
                let answers =
                    |v: Visibility| -> Vec<u16> { if learn { mine.classes_for_row(t, v).collect() } else { vec![] } };
                // spec §10.1: the keys that make its elements comparable with our answers: our
                // class key for rows it serves in order, our count key for rows it counts.
                let mut compare: Vec<KeyId> = Vec::new();
                if sends {
                    for (s, segment) in own.iter().enumerate() {
                        match theirs.class_vis[class as usize][s] {
                            Visibility::Ordered if segment.ordered => compare.push(KeyId::Class(segment.class)),
                            Visibility::Shuffled if segment.counted => compare.push(KeyId::Count),
                            _ => {}
                        }
                    }
                }
                compare.sort_unstable();
                compare.dedup();
                PartnerSegment {
                    records: info.records,
                    keys: info.keys,
                    max_width: info.max_width,
                    class,
                    ordered,
                    counted,
                    counted_width: None,
                    sends,
                    blinded: learn && mine.groups_for_row(t).next().is_some(),
                    ordered_answers: answers(Visibility::Ordered),
                    shuffled_answers: answers(Visibility::Shuffled),
                    compare,
                }
            })
            .collect();

        // spec §9.4: the first querier is the only querier, or the one sending fewer elements
        // (the initiator on a tie).
        // Counted streams are at most MAX_COUNTED_WIDTH elements a record: an upper bound
        // both sides can compute from the hellos.
        let elements = |info: &SegmentInfo, counted: bool, sends: bool| {
            let bound = u64::from(info.records) * u64::from(info.max_width.min(MAX_COUNTED_WIDTH));
            (if counted { bound } else { 0 }) + if sends { info.keys } else { 0 }
        };
        let i_query = own.iter().any(|s| s.ordered || s.counted);
        let they_query = partner.iter().any(|t| t.ordered || t.counted);
        let mine_total: u64 = own.iter().zip(&my_hello.segments).map(|(o, i)| elements(i, o.counted, o.sends)).sum();
        let theirs_total: u64 =
            partner.iter().zip(&partner_hello.segments).map(|(t, i)| elements(i, t.counted, t.sends)).sum();
        let first = match (i_query, they_query) {
            (true, false) => true,
            (false, true) => false,
            _ => mine_total < theirs_total || (mine_total == theirs_total && role == Role::Initiator),
        };

        // spec §7.2: one key per class, one count key, one key per fields group.
        let class_keys = (0..mine.class_vis.len() as u16)
            .map(|c| Ok(seed.oprf_key(&key_info(b"blindmap/v1/match", c))?.0.clone()))
            .collect::<Result<Vec<_>, Error>>()?;
        let count_key =
            if own.iter().any(|s| s.counted) { Some(seed.oprf_key(b"blindmap/v1/count")?.0.clone()) } else { None };
        let group_keys = (0..mine.groups.len() as u16)
            .map(|g| seed.oprf_key(&key_info(b"blindmap/v1/fields", g)))
            .collect::<Result<Vec<_>, Error>>()?;
        let mut own_groups = vec![Vec::new(); own.len()];
        for (g, group) in mine.groups.iter().enumerate() {
            for &s in &group.cols {
                own_groups[s].push(g as u16);
            }
        }

        // spec §9.5: each regular stream goes out in an order drawn from the seed; each counted
        // record sends its first keys that no earlier counted record sent.
        let mut own = own;
        let mut counted_so_far: HashSet<&crate::record::MatchKey> = HashSet::new();
        for (s, segment) in own.iter_mut().enumerate() {
            if !segment.counted {
                continue;
            }
            segment.counted_offsets.push(0);
            for &r in data.members(s) {
                let start = segment.counted_keys.len();
                for (j, key) in data.records()[r as usize].keys.iter().enumerate() {
                    if segment.counted_keys.len() - start == MAX_COUNTED_WIDTH as usize {
                        break;
                    }
                    if counted_so_far.insert(key) {
                        segment.counted_keys.push(j as u8);
                    }
                }
                segment.counted_offsets.push(segment.counted_keys.len() as u32);
            }
            let widest = segment.counted_offsets.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
            segment.counted_width = (widest as u8).max(1);
        }
        for (s, segment) in own.iter_mut().enumerate() {
            if segment.sends {
                let mut order = data.members(s).to_vec();
                seed.prg(&prg_label(b"blindmap/v1/order", &[s as u16])).shuffle(&mut order);
                segment.order = order;
            }
        }

        // spec §9.7: the lookups a Bloom receiver makes fix the filters' false-positive rate.
        let bloom_lookups = if my_plan.bloom {
            lookups(&my_plan, partner.iter().map(|t| t.keys))
        } else {
            lookups(&their_plan, own.iter().map(|s| s.keys))
        };

        let (out_steps, in_steps) = if first {
            (
                vec![OutStep::OwnRecords, OutStep::Mirror, OutStep::OwnSealed],
                vec![InStep::Returns, InStep::PartnerRecords, InStep::PartnerSealed, InStep::PartnerBloom],
            )
        } else {
            (
                vec![OutStep::Mirror, OutStep::OwnRecords, OutStep::OwnSealed, OutStep::OwnBloom],
                vec![InStep::PartnerRecords, InStep::Returns, InStep::PartnerSealed],
            )
        };

        let emit_streams = stream_order(own.len(), |s| own[s].counted, |s| own[s].sends);
        let bloom_segments = if my_plan.bloom {
            (0..own.len() as u16).filter(|&s| my_plan.col_visible(s as usize)).collect()
        } else {
            Vec::new()
        };
        let cursor = RecordCursor {
            streams: stream_order(partner.len(), |t| partner[t].counted, |t| partner[t].sends),
            ..RecordCursor::default()
        };
        let sealed_in = theirs
            .groups
            .iter()
            .enumerate()
            .flat_map(|(g, group)| group.cols.iter().map(move |&t| (g as u16, t as u16)))
            .collect();
        let bloom_in = if their_plan.bloom {
            (0..partner.len() as u16).filter(|&t| their_plan.col_visible(t as usize)).collect()
        } else {
            Vec::new()
        };
        let max_matches = config.max_matches.unwrap_or(16 * (mine_total + theirs_total) + 1_000_000);

        Ok(Self {
            role,
            learn: my_hello.learn,
            session_id,
            data,
            seed,
            chunk_records: config.chunk_records,
            partner_hello,
            my_plan,
            mine,
            their_plan,
            theirs,
            first,
            class_keys,
            count_key,
            group_keys,
            own,
            partner,
            own_groups,
            bloom_lookups,
            out_steps,
            out_at: 0,
            in_steps,
            in_at: 0,
            emit_streams,
            emit_at: 0,
            emit_pos: 0,
            blind_prg: None,
            dummy_prg: None,
            expected: VecDeque::new(),
            sealed_out: BTreeMap::new(),
            sealed_cursor: None,
            bloom_segments,
            bloom_at: 0,
            bloom_current: None,
            cursor,
            shuffle: Vec::new(),
            counted_prefixes: Vec::new(),
            pending_prefixes: Vec::new(),
            sealed_in,
            sealed_in_at: 0,
            sealed_in_next: 0,
            bloom_in,
            bloom_in_at: 0,
            bloom_buffer: Vec::new(),
            bloom_total: 0,
            max_matches,
            matched: 0,
            truncated: false,
            unopened: BTreeSet::new(),
            own_index: TagIndex::new(),
            partner_index: TagIndex::new(),
            bloom_pending: Vec::new(),
            bloom_matched: Vec::new(),
            bloom_cache,
            ordered: Vec::new(),
            shuffled: HashSet::new(),
            fields_wanted: HashMap::new(),
            partner_fields: BTreeMap::new(),
        })
    }

    /// Whether both streams are complete.
    pub(crate) fn is_finished(&self) -> bool {
        self.out_at == self.out_steps.len() && self.in_at == self.in_steps.len()
    }

    fn in_passed(&self, step: InStep) -> bool {
        self.in_steps.iter().position(|s| *s == step).is_none_or(|i| i < self.in_at)
    }

    /// Moves past every incoming step that is complete.
    fn advance_in(&mut self) {
        while let Some(step) = self.in_steps.get(self.in_at) {
            let done = match step {
                InStep::Returns => self.emit_at == self.emit_streams.len() && self.expected.is_empty(),
                InStep::PartnerRecords => self.cursor.at == self.cursor.streams.len(),
                InStep::PartnerSealed => self.sealed_in_at == self.sealed_in.len(),
                InStep::PartnerBloom => self.bloom_in_at == self.bloom_in.len(),
            };
            if !done {
                break;
            }
            self.in_at += 1;
        }
    }

    /// The next messages of our own stream; empty when we must wait for the partner, or are done.
    pub(crate) fn next_outgoing(&mut self) -> Result<Vec<Message>, Error> {
        loop {
            self.advance_in();
            let Some(&step) = self.out_steps.get(self.out_at) else { return Ok(Vec::new()) };
            let produced = match step {
                OutStep::OwnRecords => self.emit_own_chunk()?,
                OutStep::Mirror if self.in_passed(InStep::PartnerRecords) => None,
                // Answers are produced as the partner's records arrive.
                OutStep::Mirror => return Ok(Vec::new()),
                OutStep::OwnSealed => self.emit_sealed_chunk(),
                OutStep::OwnBloom => self.emit_bloom_piece()?,
            };
            match produced {
                Some(messages) => return Ok(messages),
                None => self.out_at += 1,
            }
        }
    }

    /// Consumes one of the partner's exchange messages; returns our answers to it.
    pub(crate) fn receive(
        &mut self,
        message: Message,
        points: Vec<curve25519_dalek::RistrettoPoint>,
    ) -> Result<Vec<Message>, Error> {
        self.advance_in();
        let step = self.in_steps.get(self.in_at).copied().ok_or(PeerMisbehaviour::AfterEnd)?;
        let mut out = Vec::new();
        match (step, message) {
            (InStep::Returns, Message::Tags(chunk)) => self.on_tags(chunk)?,
            (InStep::Returns, Message::Points(chunk)) => self.on_points(chunk, &points)?,
            (InStep::Returns, Message::Evaluated(chunk)) => self.on_evaluated(chunk)?,
            (InStep::PartnerRecords, Message::Counted(chunk)) => self.on_counted(chunk, &points, &mut out)?,
            (InStep::PartnerRecords, Message::Elements(chunk)) => self.on_elements(chunk, &points, &mut out)?,
            (InStep::PartnerRecords, Message::Blinded(chunk)) => self.on_blinded(chunk, &points, &mut out)?,
            (InStep::PartnerSealed, Message::Sealed(chunk)) => self.on_sealed(chunk)?,
            (InStep::PartnerBloom, Message::Bloom(chunk)) => self.on_bloom(chunk)?,
            (step, message) => {
                return Err(PeerMisbehaviour::UnexpectedMessage {
                    expected: self.describe(step),
                    got: message.kind().name().into(),
                }
                .into());
            }
        }
        self.advance_in();
        Ok(out)
    }

    fn describe(&self, step: InStep) -> String {
        match step {
            InStep::Returns => self.describe_return(),
            InStep::PartnerRecords => self.describe_due(),
            InStep::PartnerSealed => "Sealed".into(),
            InStep::PartnerBloom => "Bloom".into(),
        }
    }

    /// Number of keys of our record at `position` of segment `s` (its regular stream).
    #[allow(clippy::cast_possible_truncation, reason = "a record has at most MAX_KEYS_PER_RECORD (64) keys")]
    pub(super) fn width(&self, s: u16, position: u32) -> u8 {
        let segment = &self.own[s as usize];
        self.data.records()[segment.order[position as usize] as usize].keys.len() as u8
    }

    /// Takes `n` matches from the limit of spec §10.1, if they fit and nothing was dropped yet;
    /// otherwise remembers that the results are incomplete. Never an error: an abort would tell
    /// the sender something.
    pub(super) fn take_budget(&mut self, n: usize) -> bool {
        let fits = !self.truncated && self.matched.saturating_add(n as u64) <= self.max_matches;
        if fits {
            self.matched += n as u64;
        } else {
            self.truncated = true;
        }
        fits
    }

    /// Records a match between one of our key slots and one of the partner's (spec §10.2);
    /// whether it was recorded as an ordered match.
    pub(super) fn record_match(
        &mut self,
        segment: u16,
        position: u32,
        slot: u8,
        visibility: Visibility,
        partner_segment: u16,
        partner: Option<(u32, u8)>,
    ) -> bool {
        let level = self.their_plan.level(segment as usize, partner_segment as usize);
        let fields = matches!(level, Level::Fields(_));
        // spec §6.4: a key class serves every cell of a row alike, so the level agrees with how
        // the return came; anything else is ignored rather than trusted.
        if level.visibility() != visibility {
            return false;
        }
        match visibility {
            Visibility::Hidden => false,
            Visibility::Shuffled => {
                self.shuffled.insert((segment, partner_segment, position));
                false
            }
            Visibility::Ordered => {
                if let (true, Some((pp, ps))) = (fields, partner) {
                    self.fields_wanted.entry((partner_segment, pp, ps)).or_default().push((segment, position, slot));
                }
                self.ordered.push(OrderedMatch { segment, position, slot, partner_segment, partner });
                true
            }
        }
    }

    /// The outcome (spec §10.3).
    #[allow(clippy::cast_possible_truncation, reason = "segment, class and group indices are below MAX_SEGMENTS (64)")]
    pub(crate) fn into_outcome(self) -> Outcome {
        let mut ordered_records: HashSet<(u16, u16, u32)> = HashSet::new();
        for m in &self.ordered {
            ordered_records.insert((m.segment, m.partner_segment, m.position));
        }
        let mut shuffled_counts: HashMap<(u16, u16), u64> = HashMap::new();
        for &(s, t, _) in &self.shuffled {
            *shuffled_counts.entry((s, t)).or_default() += 1;
        }
        let mut ordered_counts: HashMap<(u16, u16), u64> = HashMap::new();
        for &(s, t, _) in &ordered_records {
            *ordered_counts.entry((s, t)).or_default() += 1;
        }
        let own_records: Vec<u64> = self.own.iter().map(|s| u64::from(s.records)).collect();
        let cells = matrix(
            &self.their_plan,
            self.learn,
            &own_records,
            |key| shuffled_counts.get(&key).copied().unwrap_or(0),
            |key| ordered_counts.get(&key).copied().unwrap_or(0),
        );

        // One entry per (record, partner record) pair, with the key types that matched.
        let mut matched: Vec<(usize, PartnerRecord, &KeyType)> = self
            .ordered
            .par_iter()
            .map(|m| {
                let record = self.own[m.segment as usize].order[m.position as usize] as usize;
                let partner = PartnerRecord { segment: m.partner_segment, position: m.partner.map(|(p, _)| p) };
                (record, partner, self.data.records()[record].keys[m.slot as usize].key_type())
            })
            .collect();
        matched.par_sort_unstable();
        matched.dedup();
        let mut overlaps: Vec<Overlap> = Vec::new();
        for (record, partner, key_type) in matched {
            match overlaps.last_mut() {
                Some(o) if o.record == record && o.partner == partner => o.key_types.push(key_type.clone()),
                _ => overlaps.push(Overlap { record, partner, key_types: vec![key_type.clone()] }),
            }
        }
        // spec §10.4: records matched in a fields cell whose fields did not open, for whatever reason.
        let unopened: Vec<PartnerRecord> = self
            .unopened
            .iter()
            .copied()
            .chain(self.fields_wanted.keys().map(|&(t, p, _)| (t, p)).filter(|k| !self.partner_fields.contains_key(k)))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .map(|(segment, position)| PartnerRecord { segment, position: Some(position) })
            .collect();
        let partner_fields = self
            .partner_fields
            .into_iter()
            .map(|((segment, position), mut fields)| {
                fields.sort_by(|a, b| a.0.cmp(&b.0));
                PartnerFields { partner: PartnerRecord { segment, position: Some(position) }, fields }
            })
            .collect();

        // spec §20.6: each matched key slot's unblinded element, by our record.
        let mut bloom_matches: Vec<BloomMatch> = self
            .bloom_matched
            .iter()
            .map(|&(segment, position, slot, partner_segment, element)| {
                let record = self.own[segment as usize].order[position as usize] as usize;
                let key_type = self.data.records()[record].keys[slot as usize].key_type().clone();
                BloomMatch { record, partner_segment, key_type, element }
            })
            .collect();
        bloom_matches.sort_unstable_by(|a, b| {
            (a.record, a.partner_segment, &a.key_type).cmp(&(b.record, b.partner_segment, &b.key_type))
        });
        bloom_matches.dedup();

        Outcome {
            role: self.role,
            session_id: self.session_id,
            own_segments: self.data.segments().to_vec(),
            partner_segments: self.partner_hello.segments.clone(),
            received: self.their_plan.clone(),
            disclosed: self.my_plan.clone(),
            cells,
            overlaps,
            partner_fields,
            unopened,
            truncated: self.truncated,
            bloom_matches,
            own_classes: self.own.iter().map(|s| s.class).collect(),
            own_order: self.own.into_iter().map(|s| s.order).collect(),
        }
    }
}

/// spec §9.7: `Σ E_s` over the receiver's segments `s` and the server's segments `t` with a
/// visible cell `(s, t)`, where `E_s` is the number of keys of the receiver's segment `s`.
fn lookups(server_plan: &Plan, receiver_keys: impl Iterator<Item = u64>) -> u64 {
    receiver_keys
        .enumerate()
        .map(|(s, e)| {
            let visible = (0..server_plan.cols).filter(|&t| *server_plan.level(s, t) != Level::Hidden).count();
            e * visible as u64
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chunk_stops_at_its_records_or_size() {
        let widths = [3, 1, 4, 1, 5];
        let len = |max_records, max_size| chunk_len(widths.into_iter(), max_records, max_size);
        // Records decide: their sizes (3 + 1 = 4) fit.
        assert_eq!(len(2, 100), 2);
        // Sizes decide: 3 + 1 + 4 = 8 fit exactly, a fourth record would make 9.
        assert_eq!((len(5, 8), len(5, 7)), (3, 2));
        // Everything fits; nothing left.
        assert_eq!(len(10, 100), 5);
        assert_eq!(chunk_len(std::iter::empty(), 10, 100), 0);
        // A first record larger than the limit still goes, alone.
        assert_eq!(len(5, 2), 1);
    }

    #[test]
    fn a_counted_chunk_keeps_whole_records_within_its_elements() {
        assert_eq!(counted_chunk_len(10, 4, 1000), 10);
        assert_eq!(counted_chunk_len(10, 4, 32), 8);
        assert_eq!(counted_chunk_len(10, 3, 32), 10);
        assert_eq!(counted_chunk_len(100, 3, 32), 10);
        assert_eq!(
            counted_chunk_len(usize::from(u16::MAX), usize::from(MAX_COUNTED_WIDTH), MAX_CHUNK_ELEMENTS),
            65_535
        );
    }

    #[test]
    fn bloom_lookups_count_each_receiver_key_once_per_visible_server_segment() {
        // spec §9.7. Rows are the receiver's segments, columns the server's.
        let (o, h) = (Level::Overlaps, Level::Hidden);
        let plan = Plan {
            rows: 3,
            cols: 3,
            cells: vec![o.clone(), h.clone(), o.clone(), h.clone(), h.clone(), h, o.clone(), o.clone(), o],
            threshold: 0,
            min_segment: 0,
            bloom: true,
        };
        assert_eq!(lookups(&plan, [5, 7, 11].into_iter()), 5 * 2 + 11 * 3);
    }
}
