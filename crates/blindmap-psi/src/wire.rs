//! The wire format (spec §8): self-delimiting, versioned frames with a strict decoder.
//!
//! Decoding checks structure, counts, names and every group element (canonical, non-identity),
//! and rejects trailing bytes. What a message means in context (is it due now? does it fit the
//! declared sizes?) is the session's business (spec §9).

use curve25519_dalek::ristretto::RistrettoPoint;

use crate::error::{AbortCode, DecodeError};
use crate::group::{self, ELEMENT_LEN, ElementBytes, TAG_LEN, Tag};
use crate::policy::{Level, Plan};
use crate::record::{FieldName, MAX_FIELDS, MAX_KEYS_PER_RECORD, MAX_SEGMENTS, SegmentLabel};

/// The protocol version this implementation speaks (spec §14).
pub const PROTOCOL_VERSION: u8 = 1;
/// The only suite of version 1: RFC 9497 OPRF(ristretto255, SHA-512) in the construction of this
/// spec (spec §8.4).
pub const SUITE_RISTRETTO255_SHA512: u16 = 1;
/// Length of a session id.
pub const SESSION_ID_LEN: usize = 16;
/// Bytes before a frame's body: version, kind, session id, sequence number, body length.
pub const FRAME_HEADER_LEN: usize = 1 + 1 + SESSION_ID_LEN + 4 + 4;
/// Largest body a receiver accepts (spec §8.1).
pub const MAX_BODY_LEN: usize = 16 << 20;
/// Most records in one chunk (spec §8.6).
pub const MAX_CHUNK_RECORDS: usize = u16::MAX as usize;
/// Largest sealed-fields ciphertext (spec §8.8).
pub const MAX_SEALED_LEN: usize = u16::MAX as usize;
/// Smallest sealed-fields ciphertext: the AEAD tag alone.
pub const MIN_SEALED_LEN: usize = 16;

/// A session id: chosen by the initiator, echoed in every frame of both parties.
pub type SessionId = [u8; SESSION_ID_LEN];

/// Message kinds (spec §8.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Kind {
    /// Segments and intent (spec §8.4).
    Hello = 0x01,
    /// A resolved disclosure policy (spec §8.5).
    Plan = 0x02,
    /// The sender's own records, evaluated under its class keys (spec §8.6).
    Elements = 0x03,
    /// The sender's RFC 9497 blinded elements, for the fields level (spec §8.6).
    Blinded = 0x04,
    /// The receiver's elements evaluated again, as tags (spec §8.7).
    Tags = 0x05,
    /// The receiver's elements evaluated again, as elements, for Bloom receivers (spec §8.7).
    Points = 0x06,
    /// RFC 9497 `BlindEvaluate` results for the fields level (spec §8.7).
    Evaluated = 0x07,
    /// Sealed fields (spec §8.8).
    Sealed = 0x08,
    /// A piece of a Bloom filter (spec §8.9).
    Bloom = 0x09,
    /// The sender's counted records: one element per record, for the counts level (spec §8.6).
    Counted = 0x0a,
    /// The end of a session on error (spec §8.10).
    Abort = 0x0f,
}

impl Kind {
    fn from_u8(b: u8) -> Result<Self, DecodeError> {
        Ok(match b {
            0x01 => Self::Hello,
            0x02 => Self::Plan,
            0x03 => Self::Elements,
            0x04 => Self::Blinded,
            0x05 => Self::Tags,
            0x06 => Self::Points,
            0x07 => Self::Evaluated,
            0x08 => Self::Sealed,
            0x09 => Self::Bloom,
            0x0a => Self::Counted,
            0x0f => Self::Abort,
            other => return Err(DecodeError::UnknownKind(other)),
        })
    }

    /// The message's name in the spec.
    pub fn name(self) -> &'static str {
        match self {
            Self::Hello => "Hello",
            Self::Plan => "Plan",
            Self::Elements => "Elements",
            Self::Blinded => "Blinded",
            Self::Tags => "Tags",
            Self::Points => "Points",
            Self::Evaluated => "Evaluated",
            Self::Sealed => "Sealed",
            Self::Bloom => "Bloom",
            Self::Counted => "Counted",
            Self::Abort => "Abort",
        }
    }
}

/// Which side of the handshake a party is on (spec §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Sends the first message and chooses the session id.
    Initiator,
    /// Answers the initiator.
    Responder,
}

impl Role {
    /// The partner's role.
    pub fn peer(self) -> Self {
        match self {
            Self::Initiator => Self::Responder,
            Self::Responder => Self::Initiator,
        }
    }

    /// `"initiator"` or `"responder"`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Initiator => "initiator",
            Self::Responder => "responder",
        }
    }
}

/// One declared segment (spec §8.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its label.
    pub label: SegmentLabel,
    /// Number of records.
    pub records: u32,
    /// Number of keys over all its records.
    pub keys: u64,
    /// Most keys on one record.
    pub max_width: u8,
}

/// The first message of each party (spec §8.4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender's role.
    pub role: Role,
    /// Whether the sender asks to learn anything in this session.
    pub learn: bool,
    /// The sender's segments.
    pub segments: Vec<SegmentInfo>,
}

/// A chunk of records: each record's width, then its elements (or tags) back to back
/// (spec §8.6–8.7).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecordChunk<T> {
    /// The key class or fields group whose key produced the items (returns only; else 0).
    pub reference: u16,
    /// Segment index in the hello of the party whose records these are.
    pub segment: u16,
    /// Position of the first record within its segment.
    pub first: u32,
    /// Number of items of each record.
    pub widths: Vec<u8>,
    /// The items, record after record.
    pub items: Vec<T>,
}

impl RecordChunk<()> {
    /// The same chunk header with these items.
    pub(crate) fn with_items<T>(self, items: Vec<T>) -> RecordChunk<T> {
        RecordChunk { reference: self.reference, segment: self.segment, first: self.first, widths: self.widths, items }
    }
}

/// Sealed fields of one record: `(slot, ciphertext)` pairs in ascending slot order (spec §8.8).
pub type SealedRecord = Vec<(u8, Vec<u8>)>;

/// The bytes `record` takes in a `Sealed` body (spec §8.8): its slot count, then each slot's
/// number, length and ciphertext.
pub(crate) fn sealed_record_len(record: &SealedRecord) -> usize {
    1 + record.iter().map(|(_, ct)| 3 + ct.len()).sum::<usize>()
}

/// A chunk of sealed records of one segment under one fields group (spec §8.8).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SealedChunk {
    /// The fields group.
    pub group: u16,
    /// The sender's segment.
    pub segment: u16,
    /// Position of the first record within the segment.
    pub first: u32,
    /// One entry per record.
    pub records: Vec<SealedRecord>,
}

/// A piece of one segment's Bloom filter (spec §8.9).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BloomChunk {
    /// The sender's segment.
    pub segment: u16,
    /// Length of the whole serialized filter.
    pub total_len: u64,
    /// Where this piece starts.
    pub offset: u64,
    /// The bytes.
    pub data: Vec<u8>,
}

/// A decoded message body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Message {
    /// spec §8.4
    Hello(Hello),
    /// spec §8.5
    Plan(Plan),
    /// spec §8.6
    Elements(RecordChunk<ElementBytes>),
    /// spec §8.6
    Blinded(RecordChunk<ElementBytes>),
    /// spec §8.7
    Tags(RecordChunk<Tag>),
    /// spec §8.7
    Points(RecordChunk<ElementBytes>),
    /// spec §8.7
    Evaluated(RecordChunk<ElementBytes>),
    /// spec §8.8
    Sealed(SealedChunk),
    /// spec §8.9
    Bloom(BloomChunk),
    /// spec §8.6; every record of a chunk has the same width, sent once.
    Counted(RecordChunk<ElementBytes>),
    /// spec §8.10
    Abort(AbortCode),
}

impl Message {
    /// The message's kind.
    pub fn kind(&self) -> Kind {
        match self {
            Self::Hello(_) => Kind::Hello,
            Self::Plan(_) => Kind::Plan,
            Self::Elements(_) => Kind::Elements,
            Self::Blinded(_) => Kind::Blinded,
            Self::Tags(_) => Kind::Tags,
            Self::Points(_) => Kind::Points,
            Self::Evaluated(_) => Kind::Evaluated,
            Self::Sealed(_) => Kind::Sealed,
            Self::Bloom(_) => Kind::Bloom,
            Self::Counted(_) => Kind::Counted,
            Self::Abort(_) => Kind::Abort,
        }
    }
}

/// A whole frame (spec §8.1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The session this frame belongs to.
    pub session_id: SessionId,
    /// The sender's sequence number, from 0.
    pub seq: u32,
    /// The body.
    pub message: Message,
}

impl Frame {
    /// Serializes the frame (spec §8.1).
    #[allow(
        clippy::cast_possible_truncation,
        reason = "a session builds messages within the limits of spec §8, which decode enforces: body <= MAX_BODY_LEN, <= 64 segments, records and sealed slots <= 64, chunk counts and sealed values <= 65535, names <= 64 bytes"
    )]
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(FRAME_HEADER_LEN + 64));
        w.u8(PROTOCOL_VERSION);
        w.u8(self.message.kind() as u8);
        w.bytes(&self.session_id);
        w.u32(self.seq);
        w.u32(0); // body length, patched below
        encode_body(&self.message, &mut w);
        let body_len = w.0.len() - FRAME_HEADER_LEN;
        debug_assert!(body_len <= MAX_BODY_LEN, "encoder produced an oversized body");
        w.0[FRAME_HEADER_LEN - 4..FRAME_HEADER_LEN].copy_from_slice(&(body_len as u32).to_be_bytes());
        w.0
    }

    /// Parses one frame, strictly: exactly one frame, nothing after it, every element valid.
    pub fn decode(bytes: &[u8]) -> Result<Self, DecodeError> {
        decode_frame(bytes).map(|(frame, _)| frame)
    }

    /// The kind of the frame starting at `bytes`, without decoding it.
    pub fn peek_kind(bytes: &[u8]) -> Option<Kind> {
        bytes.get(1).and_then(|&b| Kind::from_u8(b).ok())
    }

    /// The number of records in an `Elements` frame, without decoding it (for progress reports).
    pub fn peek_elements_records(bytes: &[u8]) -> Option<u16> {
        if Self::peek_kind(bytes)? != Kind::Elements {
            return None;
        }
        // spec §8.6: segment (2) || first (4) || count (2)
        let at = FRAME_HEADER_LEN + 6;
        Some(u16::from_be_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
    }

    /// The length of the frame starting at `bytes`, once its header is complete: lets a stream
    /// transport cut frames without decoding them. `None` when the header is incomplete.
    pub fn peek_len(bytes: &[u8]) -> Result<Option<usize>, DecodeError> {
        if bytes.len() < FRAME_HEADER_LEN {
            return Ok(None);
        }
        if bytes[0] != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion(bytes[0]));
        }
        let Some(&len) = bytes[FRAME_HEADER_LEN - 4..].first_chunk::<4>() else { return Ok(None) };
        let len = u32::from_be_bytes(len);
        if len as usize > MAX_BODY_LEN {
            return Err(DecodeError::BodyTooLarge { len: len.into(), limit: MAX_BODY_LEN as u64 });
        }
        Ok(Some(FRAME_HEADER_LEN + len as usize))
    }
}

/// Decodes a frame and also returns the decompressed points of an element-bearing message, so
/// that the session decompresses each received element exactly once.
pub(crate) fn decode_frame(bytes: &[u8]) -> Result<(Frame, Vec<RistrettoPoint>), DecodeError> {
    let mut r = Reader(bytes);
    let version = r.u8()?;
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::UnsupportedVersion(version));
    }
    let kind = Kind::from_u8(r.u8()?)?;
    let session_id: SessionId = r.array()?;
    let seq = r.u32()?;
    let len = r.u32()? as usize;
    if len > MAX_BODY_LEN {
        return Err(DecodeError::BodyTooLarge { len: len as u64, limit: MAX_BODY_LEN as u64 });
    }
    let mut body = Reader(r.take(len)?);
    r.finish()?;
    let mut points = Vec::new();
    let message = match kind {
        Kind::Hello => Message::Hello(decode_hello(&mut body)?),
        Kind::Plan => Message::Plan(decode_plan(&mut body)?),
        Kind::Elements | Kind::Blinded | Kind::Points | Kind::Evaluated => {
            let reference = if matches!(kind, Kind::Points | Kind::Evaluated) { body.u16()? } else { 0 };
            let chunk: RecordChunk<ElementBytes> = decode_chunk(&mut body, reference)?;
            // spec §8.3: every element is canonical and not the identity.
            points = group::deserialize_elements(&chunk.items)?;
            match kind {
                Kind::Elements => Message::Elements(chunk),
                Kind::Blinded => Message::Blinded(chunk),
                Kind::Points => Message::Points(chunk),
                _ => Message::Evaluated(chunk),
            }
        }
        Kind::Tags => {
            let reference = body.u16()?;
            Message::Tags(decode_chunk(&mut body, reference)?)
        }
        Kind::Counted => {
            let (segment, first, count) = decode_chunk_header(&mut body)?;
            let width = decode_width(&mut body)?;
            let items: Vec<ElementBytes> = body
                .take(count * width as usize * ELEMENT_LEN)?
                .chunks_exact(ELEMENT_LEN)
                .map(<ElementBytes>::from_slice)
                .collect();
            // spec §8.3
            points = group::deserialize_elements(&items)?;
            Message::Counted(RecordChunk { reference: 0, segment, first, widths: vec![width; count], items })
        }
        Kind::Sealed => Message::Sealed(decode_sealed(&mut body)?),
        Kind::Bloom => Message::Bloom(decode_bloom(&mut body)?),
        Kind::Abort => {
            // spec §8.10: the codes of §13, 1 to 9; any other is malformed.
            let code = body.u16()?;
            Message::Abort(AbortCode::from_u16(code).ok_or(DecodeError::UnknownAbortCode(code))?)
        }
    };
    body.finish()?;
    Ok((Frame { session_id, seq, message }, points))
}

#[allow(
    clippy::cast_possible_truncation,
    reason = "a session builds messages within the limits of spec §8, which decode enforces: body <= MAX_BODY_LEN, <= 64 segments, records and sealed slots <= 64, chunk counts and sealed values <= 65535, names <= 64 bytes"
)]
fn encode_body(message: &Message, w: &mut Writer) {
    match message {
        Message::Hello(h) => encode_hello(h, w),
        Message::Plan(p) => encode_plan(p, w),
        Message::Elements(c) | Message::Blinded(c) => encode_chunk(c, w),
        Message::Points(c) | Message::Evaluated(c) => {
            w.u16(c.reference);
            encode_chunk(c, w);
        }
        Message::Tags(c) => {
            w.u16(c.reference);
            encode_chunk(c, w);
        }
        Message::Sealed(s) => {
            w.u16(s.group);
            encode_chunk_header(s.segment, s.first, s.records.len(), w);
            for record in &s.records {
                w.u8(record.len() as u8);
                for (slot, ct) in record {
                    debug_assert!(ct.len() <= MAX_SEALED_LEN, "limits of spec §5.3 keep sealed values small");
                    w.u8(*slot);
                    w.u16(ct.len() as u16);
                    w.bytes(ct);
                }
            }
        }
        Message::Bloom(b) => {
            w.u16(b.segment);
            w.u64(b.total_len);
            w.u64(b.offset);
            w.u32(b.data.len() as u32);
            w.bytes(&b.data);
        }
        Message::Abort(code) => w.u16(code.to_u16()),
        Message::Counted(c) => {
            let width = c.widths.first().copied().unwrap_or(1);
            debug_assert!(c.widths.iter().all(|&x| x == width), "counted records share one width");
            encode_chunk_header(c.segment, c.first, c.widths.len(), w);
            w.u8(width);
            for item in &c.items {
                w.bytes(item);
            }
        }
    }
}

// spec §8.4
#[allow(
    clippy::cast_possible_truncation,
    reason = "a session builds messages within the limits of spec §8, which decode enforces: body <= MAX_BODY_LEN, <= 64 segments, records and sealed slots <= 64, chunk counts and sealed values <= 65535, names <= 64 bytes"
)]
fn encode_hello(h: &Hello, w: &mut Writer) {
    w.u16(SUITE_RISTRETTO255_SHA512);
    w.u8(match h.role {
        Role::Initiator => 0,
        Role::Responder => 1,
    });
    w.u8(u8::from(h.learn));
    w.u16(h.segments.len() as u16);
    for s in &h.segments {
        w.name(s.label.as_str());
        w.u32(s.records);
        w.u64(s.keys);
        w.u8(s.max_width);
    }
}

fn decode_hello(r: &mut Reader<'_>) -> Result<Hello, DecodeError> {
    let suite = r.u16()?;
    if suite != SUITE_RISTRETTO255_SHA512 {
        return Err(DecodeError::OutOfRange { field: "suite", value: suite.into() });
    }
    let role = match r.u8()? {
        0 => Role::Initiator,
        1 => Role::Responder,
        other => return Err(DecodeError::OutOfRange { field: "role", value: other.into() }),
    };
    let learn = match r.u8()? {
        0 => false,
        1 => true,
        other => return Err(DecodeError::OutOfRange { field: "learn", value: other.into() }),
    };
    let count = r.u16()? as usize;
    if count > MAX_SEGMENTS {
        return Err(DecodeError::OutOfRange { field: "segment count", value: count as u64 });
    }
    let mut segments = Vec::with_capacity(count);
    for _ in 0..count {
        let label = SegmentLabel::new(r.name()?).map_err(|_| DecodeError::InvalidName("segment label"))?;
        let records = r.u32()?;
        let keys = r.u64()?;
        let max_width = r.u8()?;
        if records == 0 || records as usize > crate::record::MAX_RECORDS {
            return Err(DecodeError::OutOfRange { field: "records", value: records.into() });
        }
        if max_width == 0 || max_width as usize > MAX_KEYS_PER_RECORD {
            return Err(DecodeError::OutOfRange { field: "max width", value: max_width.into() });
        }
        if keys < u64::from(records) || keys > u64::from(records) * u64::from(max_width) {
            return Err(DecodeError::OutOfRange { field: "keys", value: keys });
        }
        segments.push(SegmentInfo { label, records, keys, max_width });
    }
    Ok(Hello { role, learn, segments })
}

// spec §8.5
#[allow(
    clippy::cast_possible_truncation,
    reason = "a session builds messages within the limits of spec §8, which decode enforces: body <= MAX_BODY_LEN, <= 64 segments, records and sealed slots <= 64, chunk counts and sealed values <= 65535, names <= 64 bytes"
)]
fn encode_plan(p: &Plan, w: &mut Writer) {
    w.u32(p.threshold);
    w.u32(p.min_segment);
    w.u8(u8::from(p.bloom));
    w.u16(p.rows as u16);
    w.u16(p.cols as u16);
    for level in &p.cells {
        w.u8(level.code());
    }
    for level in &p.cells {
        if let Level::Fields(fields) = level {
            w.u8(fields.len() as u8);
            for f in fields {
                w.name(f.as_str());
            }
        }
    }
}

fn decode_plan(r: &mut Reader<'_>) -> Result<Plan, DecodeError> {
    let threshold = r.u32()?;
    let min_segment = r.u32()?;
    let bloom = match r.u8()? {
        0 => false,
        1 => true,
        other => return Err(DecodeError::OutOfRange { field: "bloom", value: other.into() }),
    };
    let rows = r.u16()? as usize;
    let cols = r.u16()? as usize;
    if rows > MAX_SEGMENTS {
        return Err(DecodeError::OutOfRange { field: "rows", value: rows as u64 });
    }
    if cols > MAX_SEGMENTS {
        return Err(DecodeError::OutOfRange { field: "cols", value: cols as u64 });
    }
    let codes = r.take(rows * cols)?;
    let mut cells = Vec::with_capacity(codes.len());
    for &code in codes {
        cells.push(match code {
            0 => Level::Hidden,
            1 => Level::Counts,
            2 => Level::Overlaps,
            3 => Level::Fields(Vec::new()),
            other => return Err(DecodeError::UnknownLevel(other)),
        });
    }
    for cell in &mut cells {
        if let Level::Fields(fields) = cell {
            let n = r.u8()? as usize;
            if n == 0 || n > MAX_FIELDS {
                return Err(DecodeError::OutOfRange { field: "field count", value: n as u64 });
            }
            for _ in 0..n {
                let name = FieldName::new(r.name()?).map_err(|_| DecodeError::InvalidName("field name"))?;
                if fields.contains(&name) {
                    return Err(DecodeError::InvalidName("duplicate field name"));
                }
                fields.push(name);
            }
        }
    }
    Ok(Plan { rows, cols, cells, threshold, min_segment, bloom })
}

/// Items of a record chunk: elements or tags, fixed size.
pub(crate) trait Item: Sized + Copy {
    const LEN: usize;
    fn from_slice(b: &[u8]) -> Self;
    fn as_slice(&self) -> &[u8];
}

impl Item for ElementBytes {
    const LEN: usize = ELEMENT_LEN;
    #[allow(clippy::expect_used, reason = "every caller cuts the slice with chunks_exact(Self::LEN)")]
    fn from_slice(b: &[u8]) -> Self {
        b.try_into().expect("length checked")
    }
    fn as_slice(&self) -> &[u8] {
        self
    }
}

impl Item for Tag {
    const LEN: usize = TAG_LEN;
    #[allow(clippy::expect_used, reason = "every caller cuts the slice with chunks_exact(Self::LEN)")]
    fn from_slice(b: &[u8]) -> Self {
        b.try_into().expect("length checked")
    }
    fn as_slice(&self) -> &[u8] {
        self
    }
}

// spec §8.6
/// spec §8.6: `segment || first || count`, which opens every chunk of records.
#[allow(
    clippy::cast_possible_truncation,
    reason = "a session builds messages within the limits of spec §8, which decode enforces: body <= MAX_BODY_LEN, <= 64 segments, records and sealed slots <= 64, chunk counts and sealed values <= 65535, names <= 64 bytes"
)]
fn encode_chunk_header(segment: u16, first: u32, count: usize, w: &mut Writer) {
    w.u16(segment);
    w.u32(first);
    w.u16(count as u16);
}

fn decode_chunk_header(r: &mut Reader<'_>) -> Result<(u16, u32, usize), DecodeError> {
    let segment = r.u16()?;
    let first = r.u32()?;
    let count = r.u16()? as usize;
    if count == 0 {
        return Err(DecodeError::OutOfRange { field: "record count", value: 0 });
    }
    Ok((segment, first, count))
}

/// spec §8.6: a record's width, 1 to MAX_KEYS_PER_RECORD.
fn decode_width(r: &mut Reader<'_>) -> Result<u8, DecodeError> {
    let width = r.u8()?;
    if width == 0 || width as usize > MAX_KEYS_PER_RECORD {
        return Err(DecodeError::OutOfRange { field: "width", value: width.into() });
    }
    Ok(width)
}

fn encode_chunk<T: Item>(c: &RecordChunk<T>, w: &mut Writer) {
    encode_chunk_header(c.segment, c.first, c.widths.len(), w);
    let mut items = c.items.iter();
    for &width in &c.widths {
        w.u8(width);
        for item in items.by_ref().take(width as usize) {
            w.bytes(item.as_slice());
        }
    }
}

fn decode_chunk<T: Item>(r: &mut Reader<'_>, reference: u16) -> Result<RecordChunk<T>, DecodeError> {
    let (segment, first, count) = decode_chunk_header(r)?;
    let mut widths = Vec::with_capacity(count);
    let mut items = Vec::with_capacity(count);
    for _ in 0..count {
        let width = decode_width(r)?;
        widths.push(width);
        let raw = r.take(width as usize * T::LEN)?;
        items.extend(raw.chunks_exact(T::LEN).map(T::from_slice));
    }
    Ok(RecordChunk { reference, segment, first, widths, items })
}

// spec §8.8
fn decode_sealed(r: &mut Reader<'_>) -> Result<SealedChunk, DecodeError> {
    let group = r.u16()?;
    let (segment, first, count) = decode_chunk_header(r)?;
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let n = r.u8()? as usize;
        if n == 0 || n > MAX_KEYS_PER_RECORD {
            return Err(DecodeError::OutOfRange { field: "sealed slots", value: n as u64 });
        }
        let mut record = Vec::with_capacity(n);
        for _ in 0..n {
            let slot = r.u8()?;
            if slot as usize >= MAX_KEYS_PER_RECORD || record.last().is_some_and(|(prev, _)| *prev >= slot) {
                return Err(DecodeError::OutOfRange { field: "slot", value: slot.into() });
            }
            let len = r.u16()? as usize;
            if len < MIN_SEALED_LEN {
                return Err(DecodeError::OutOfRange { field: "ciphertext length", value: len as u64 });
            }
            record.push((slot, r.take(len)?.to_vec()));
        }
        records.push(record);
    }
    Ok(SealedChunk { group, segment, first, records })
}

// spec §8.9
fn decode_bloom(r: &mut Reader<'_>) -> Result<BloomChunk, DecodeError> {
    let segment = r.u16()?;
    let total_len = r.u64()?;
    let offset = r.u64()?;
    let len = r.u32()? as usize;
    if len == 0 || offset.checked_add(len as u64).is_none_or(|end| end > total_len) {
        return Err(DecodeError::OutOfRange { field: "bloom piece", value: len as u64 });
    }
    Ok(BloomChunk { segment, total_len, offset, data: r.take(len)?.to_vec() })
}

/// Big-endian writer.
struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
    /// A name: one length byte, then ASCII.
    #[allow(
        clippy::cast_possible_truncation,
        reason = "a session builds messages within the limits of spec §8, which decode enforces: body <= MAX_BODY_LEN, <= 64 segments, records and sealed slots <= 64, chunk counts and sealed values <= 65535, names <= 64 bytes"
    )]
    fn name(&mut self, s: &str) {
        self.u8(s.len() as u8);
        self.bytes(s.as_bytes());
    }
}

/// Big-endian reader that never reads past its slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }
    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        self.take(N)?.try_into().map_err(|_| DecodeError::Truncated)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, DecodeError> {
        self.array().map(u16::from_be_bytes)
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        self.array().map(u32::from_be_bytes)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        self.array().map(u64::from_be_bytes)
    }
    fn name(&mut self) -> Result<&'a str, DecodeError> {
        let len = self.u8()? as usize;
        std::str::from_utf8(self.take(len)?).map_err(|_| DecodeError::InvalidName("name"))
    }
    /// spec §8.1: a message is exactly its declared length.
    fn finish(&self) -> Result<(), DecodeError> {
        match self.0.len() {
            0 => Ok(()),
            n => Err(DecodeError::TrailingBytes(n)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::group::hash_to_group;
    use proptest::prelude::*;

    fn element(i: u32) -> ElementBytes {
        hash_to_group(&i.to_be_bytes(), b"wire-test").compress().to_bytes()
    }

    fn frame(message: Message) -> Frame {
        Frame { session_id: [7; SESSION_ID_LEN], seq: 3, message }
    }

    fn chunk(widths: Vec<u8>) -> RecordChunk<ElementBytes> {
        let n: u32 = widths.iter().map(|&w| u32::from(w)).sum();
        RecordChunk { reference: 0, segment: 1, first: 10, widths, items: (0..n).map(element).collect() }
    }

    #[test]
    fn a_sealed_record_takes_its_length_in_the_body() {
        let records: Vec<SealedRecord> = vec![vec![], vec![(0, vec![1; 40])], vec![(1, vec![2; 3]), (4, vec![])]];
        let sealed = |records: Vec<SealedRecord>| {
            frame(Message::Sealed(SealedChunk { group: 2, segment: 1, first: 5, records })).encode().len()
        };
        let empty = sealed(Vec::new());
        assert_eq!(records.iter().map(sealed_record_len).collect::<Vec<_>>(), [1, 44, 1 + (3 + 3) + 3]);
        assert_eq!(sealed(records.clone()) - empty, records.iter().map(sealed_record_len).sum::<usize>());
    }

    fn arb_level() -> impl Strategy<Value = Level> {
        prop_oneof![
            Just(Level::Hidden),
            Just(Level::Counts),
            Just(Level::Overlaps),
            proptest::collection::btree_set("[a-z][a-z0-9_]{0,8}", 1..4)
                .prop_map(|names| { Level::Fields(names.iter().map(|n| FieldName::new(n).unwrap()).collect()) }),
        ]
    }

    fn arb_message() -> impl Strategy<Value = Message> {
        let hello =
            (any::<bool>(), proptest::collection::btree_map("[a-z][a-z0-9_-]{0,10}", (1u32..1000, 1u8..5), 0..5))
                .prop_map(|(learn, segs)| {
                    Message::Hello(Hello {
                        role: if learn { Role::Initiator } else { Role::Responder },
                        learn,
                        segments: segs
                            .into_iter()
                            .map(|(l, (records, w))| SegmentInfo {
                                label: SegmentLabel::new(&l).unwrap(),
                                records,
                                keys: u64::from(records) * u64::from(w),
                                max_width: w,
                            })
                            .collect(),
                    })
                });
        let plan = (0usize..4, 0usize..4, any::<u32>(), any::<u32>(), any::<bool>()).prop_flat_map(
            |(rows, cols, threshold, min_segment, bloom)| {
                proptest::collection::vec(arb_level(), rows * cols)
                    .prop_map(move |cells| Message::Plan(Plan { rows, cols, cells, threshold, min_segment, bloom }))
            },
        );
        let widths = proptest::collection::vec(1u8..4, 1..6);
        let elements = widths.clone().prop_map(|w| Message::Elements(chunk(w)));
        let evaluated = (widths.clone(), any::<u16>()).prop_map(|(w, r)| {
            let mut c = chunk(w);
            c.reference = r;
            Message::Evaluated(c)
        });
        let tags = (widths, any::<u16>(), any::<u8>()).prop_map(|(w, r, b)| {
            let n: usize = w.iter().map(|&x| x as usize).sum();
            Message::Tags(RecordChunk { reference: r, segment: 2, first: 0, widths: w, items: vec![[b; TAG_LEN]; n] })
        });
        let sealed = proptest::collection::vec(
            proptest::collection::btree_map(0u8..64, proptest::collection::vec(any::<u8>(), 16..40), 1..3),
            1..4,
        )
        .prop_map(|records| {
            Message::Sealed(SealedChunk {
                group: 1,
                segment: 0,
                first: 5,
                records: records.into_iter().map(|m| m.into_iter().collect()).collect(),
            })
        });
        let bloom = (proptest::collection::vec(any::<u8>(), 1..100), 0u64..50).prop_map(|(data, offset)| {
            let total_len = offset + data.len() as u64 + 3;
            Message::Bloom(BloomChunk { segment: 0, total_len, offset, data })
        });
        let abort = (1u16..=9).prop_map(|c| Message::Abort(AbortCode::from_u16(c).expect("a code of spec §13")));
        let counted = (1usize..6, 1u8..5).prop_map(|(n, w)| Message::Counted(chunk(vec![w; n])));
        prop_oneof![hello, plan, elements, evaluated, tags, sealed, bloom, abort, counted]
    }

    proptest! {
        #[test]
        fn decode_inverts_encode(message in arb_message(), seq in any::<u32>()) {
            let f = Frame { session_id: [9; SESSION_ID_LEN], seq, message };
            let bytes = f.encode();
            prop_assert_eq!(Frame::peek_len(&bytes).unwrap(), Some(bytes.len()));
            // What a transport reads without decoding: the kind, an Elements frame's record
            // count, and the length as soon as the header is in.
            prop_assert_eq!(Frame::peek_kind(&bytes), Some(f.message.kind()));
            let records = match &f.message {
                Message::Elements(c) => Some(u16::try_from(c.widths.len()).unwrap()),
                _ => None,
            };
            prop_assert_eq!(Frame::peek_elements_records(&bytes), records);
            for cut in 0..FRAME_HEADER_LEN {
                prop_assert_eq!(Frame::peek_len(&bytes[..cut]).unwrap(), None);
            }
            prop_assert_eq!(Frame::peek_len(&bytes[..FRAME_HEADER_LEN]).unwrap(), Some(bytes.len()));
            prop_assert_eq!(Frame::decode(&bytes).unwrap(), f);
        }

        #[test]
        fn decoder_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = Frame::decode(&bytes);
        }

        #[test]
        fn every_truncation_is_rejected(message in arb_message()) {
            let bytes = frame(message).encode();
            for cut in 0..bytes.len() {
                prop_assert!(Frame::decode(&bytes[..cut]).is_err());
            }
        }
    }

    #[test]
    fn trailing_bytes_are_rejected() {
        let mut bytes = frame(Message::Abort(AbortCode::Internal)).encode();
        bytes.push(0);
        assert_eq!(Frame::decode(&bytes), Err(DecodeError::TrailingBytes(1)));
        // A body longer than its content is rejected too.
        let mut bytes = frame(Message::Abort(AbortCode::Internal)).encode();
        bytes.push(0);
        let len = u32::try_from(bytes.len() - FRAME_HEADER_LEN).unwrap();
        bytes[FRAME_HEADER_LEN - 4..FRAME_HEADER_LEN].copy_from_slice(&len.to_be_bytes());
        assert_eq!(Frame::decode(&bytes), Err(DecodeError::TrailingBytes(1)));
    }

    #[test]
    fn unknown_version_and_kind_are_rejected() {
        let mut bytes = frame(Message::Abort(AbortCode::Internal)).encode();
        bytes[0] = 2;
        assert_eq!(Frame::decode(&bytes), Err(DecodeError::UnsupportedVersion(2)));
        bytes[0] = PROTOCOL_VERSION;
        bytes[1] = 0x42;
        assert_eq!(Frame::decode(&bytes), Err(DecodeError::UnknownKind(0x42)));
    }

    #[test]
    fn abort_codes_outside_1_to_9_are_rejected() {
        // spec §8.10, §13: the codes are 1 to 9 (8 reserved); any other is malformed.
        let abort = |code: u16| {
            let mut bytes = frame(Message::Abort(AbortCode::Internal)).encode();
            bytes[FRAME_HEADER_LEN..].copy_from_slice(&code.to_be_bytes());
            Frame::decode(&bytes).map(|f| f.message)
        };
        for code in 1..=9 {
            assert_eq!(abort(code).map(|m| matches!(m, Message::Abort(c) if c.to_u16() == code)), Ok(true), "{code}");
        }
        for code in [0, 10, 0x00ff, 0xffff] {
            assert_eq!(abort(code), Err(DecodeError::UnknownAbortCode(code)), "{code}");
        }
    }

    #[test]
    fn oversized_bodies_are_rejected_before_reading() {
        let mut bytes = frame(Message::Abort(AbortCode::Internal)).encode();
        bytes[FRAME_HEADER_LEN - 4..FRAME_HEADER_LEN]
            .copy_from_slice(&(u32::try_from(MAX_BODY_LEN).unwrap() + 1).to_be_bytes());
        assert!(matches!(Frame::decode(&bytes), Err(DecodeError::BodyTooLarge { .. })));
        assert!(matches!(Frame::peek_len(&bytes), Err(DecodeError::BodyTooLarge { .. })));
        // A body of exactly the limit is allowed: this one is merely cut short.
        bytes[FRAME_HEADER_LEN - 4..FRAME_HEADER_LEN]
            .copy_from_slice(&u32::try_from(MAX_BODY_LEN).unwrap().to_be_bytes());
        assert_eq!(Frame::peek_len(&bytes), Ok(Some(FRAME_HEADER_LEN + MAX_BODY_LEN)));
        assert!(matches!(Frame::decode(&bytes), Err(e) if !matches!(e, DecodeError::BodyTooLarge { .. })));
    }

    #[test]
    fn hellos_and_plans_are_read_up_to_their_limits() {
        let hello = |segments: usize, records: u32| {
            let segments = (0..segments)
                .map(|i| SegmentInfo {
                    label: SegmentLabel::new(&format!("s{i}")).unwrap(),
                    records,
                    keys: u64::from(records),
                    max_width: 1,
                })
                .collect();
            frame(Message::Hello(Hello { role: Role::Initiator, learn: true, segments })).encode()
        };
        let max_records = u32::try_from(crate::record::MAX_RECORDS).unwrap();
        assert!(Frame::decode(&hello(MAX_SEGMENTS, max_records)).is_ok());
        let refused = |bytes: &[u8], what: &str| {
            assert!(
                matches!(Frame::decode(bytes), Err(DecodeError::OutOfRange { field, .. }) if field == what),
                "{what}"
            );
        };
        refused(&hello(MAX_SEGMENTS + 1, 1), "segment count");
        refused(&hello(1, max_records + 1), "records");

        let plan = |rows: usize, cols: usize| {
            let cells = vec![Level::Counts; rows * cols];
            frame(Message::Plan(Plan { rows, cols, cells, threshold: 5, min_segment: 5, bloom: false })).encode()
        };
        assert!(Frame::decode(&plan(MAX_SEGMENTS, MAX_SEGMENTS)).is_ok());
        refused(&plan(MAX_SEGMENTS + 1, 1), "rows");
        refused(&plan(1, MAX_SEGMENTS + 1), "cols");
    }

    #[test]
    fn invalid_elements_are_rejected() {
        let mut c = chunk(vec![2]);
        c.items[1] = [0u8; 32]; // the identity
        let bytes = frame(Message::Elements(c)).encode();
        assert_eq!(Frame::decode(&bytes), Err(DecodeError::IdentityElement { index: 1 }));
        let mut c = chunk(vec![1]);
        c.items[0] = [0xff; 32];
        let bytes = frame(Message::Blinded(c)).encode();
        assert_eq!(Frame::decode(&bytes), Err(DecodeError::NonCanonicalElement { index: 0 }));
    }
}
