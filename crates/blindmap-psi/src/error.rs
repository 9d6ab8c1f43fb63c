//! One error type for the crate, with typed sub-enums for what a peer can do wrong.
//!
//! Every variant maps to an abort code on the wire (spec §13), so the peer learns why a session
//! ended without either side echoing untrusted bytes.

use core::fmt;

/// Everything that can go wrong in the protocol core.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A message could not be decoded (spec §8).
    #[error("malformed message: {0}")]
    Decode(#[from] DecodeError),
    /// A well-formed message broke the protocol (spec §9, §13).
    #[error("peer violated the protocol: {0}")]
    Peer(#[from] PeerMisbehaviour),
    /// The peer ended the session with an abort message (spec §13).
    #[error("peer aborted the session: {0}")]
    PeerAborted(AbortCode),
    /// Our own input is unusable (spec §5).
    #[error("invalid input: {0}")]
    Input(#[from] InputError),
    /// RFC 9497 §3.2.1 `DeriveKeyPair` found no non-zero scalar in 256 attempts.
    #[error("DeriveKeyPair failed to produce a key")]
    DeriveKeyPair,
    /// RFC 9497 §3.3.1: the input hashed to the identity element (probability ~2^-252).
    #[error("input hashed to the identity element")]
    InvalidInputElement,
    /// A call after the session failed or finished, or before it was ready.
    #[error("session is not in a state to do that: {0}")]
    State(&'static str),
    /// A registration pre-check message is unusable (spec §17).
    #[error("pre-check refused: {0}")]
    Precheck(&'static str),
}

impl Error {
    /// The abort code sent to the peer when this error ends a session (spec §13).
    pub fn abort_code(&self) -> AbortCode {
        match self {
            Self::Decode(_) => AbortCode::Malformed,
            Self::Peer(p) => p.abort_code(),
            Self::PeerAborted(_) => AbortCode::Internal,
            Self::Precheck(_) => AbortCode::Malformed,
            Self::Input(_) | Self::DeriveKeyPair | Self::InvalidInputElement | Self::State(_) => AbortCode::Internal,
        }
    }
}

/// A message that does not parse (spec §8). Decoding stops at the first problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The message ended before a field did.
    #[error("message truncated")]
    Truncated,
    /// Bytes remained after the last field (spec §8.1).
    #[error("{0} trailing byte(s) after the message")]
    TrailingBytes(usize),
    /// The frame's version byte is not one this implementation speaks (spec §14).
    #[error("unsupported protocol version {0}")]
    UnsupportedVersion(u8),
    /// The frame's kind byte names no message (spec §8.2).
    #[error("unknown message kind {0:#04x}")]
    UnknownKind(u8),
    /// The declared body length exceeds the protocol limit (spec §8.1).
    #[error("message body of {len} bytes exceeds the limit of {limit}")]
    BodyTooLarge {
        /// Declared length.
        len: u64,
        /// The limit.
        limit: u64,
    },
    /// An element encoding is not the canonical encoding of a ristretto255 point (spec §8.3).
    #[error("element {index} is not a canonical ristretto255 encoding")]
    NonCanonicalElement {
        /// Position of the element in its message.
        index: usize,
    },
    /// An element encodes the identity (spec §8.3, RFC 9497 §2.1).
    #[error("element {index} is the identity")]
    IdentityElement {
        /// Position of the element in its message.
        index: usize,
    },
    /// A count or length field is outside its allowed range.
    #[error("{field} = {value} is out of range")]
    OutOfRange {
        /// Which field.
        field: &'static str,
        /// The value received.
        value: u64,
    },
    /// A label or name is not in the allowed alphabet (spec §5).
    #[error("invalid {0}")]
    InvalidName(&'static str),
    /// A disclosure level byte is unknown (spec §8.5).
    #[error("unknown disclosure level {0}")]
    UnknownLevel(u8),
    /// An Abort carries a code outside 1 to 9 (spec §8.10, §13).
    #[error("unknown abort code {0}")]
    UnknownAbortCode(u16),
}

/// A decoded message that the protocol does not allow at this point (spec §9, §13).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeerMisbehaviour {
    /// A message of another kind, or for another segment or position, was due.
    #[error("unexpected message: expected {expected}, got {got}")]
    UnexpectedMessage {
        /// What the schedule called for.
        expected: String,
        /// What arrived.
        got: String,
    },
    /// The frame names another session: a replay or a misrouted message.
    #[error("message belongs to another session")]
    WrongSession,
    /// The sequence number is not the next one: a replayed, dropped or reordered message.
    #[error("message out of sequence: expected {expected}, got {got}")]
    OutOfSequence {
        /// The next sequence number due.
        expected: u32,
        /// The one received.
        got: u32,
    },
    /// The peer declared more records or keys than we accept (spec §3.3).
    #[error("peer declared {declared} {what}, more than the limit of {limit}")]
    SetTooLarge {
        /// Records or elements.
        what: &'static str,
        /// Declared size.
        declared: u64,
        /// Our limit.
        limit: u64,
    },
    /// The peer's hello is inconsistent (e.g. duplicate labels, zero records).
    #[error("invalid hello: {0}")]
    InvalidHello(&'static str),
    /// The peer's plan does not fit the segments both sides declared (spec §6.4).
    #[error("invalid plan: {0}")]
    InvalidPlan(&'static str),
    /// Records do not have the shape the partner declared or sent before (spec §9.5, §10.4).
    #[error("records do not match the declared shape of segment {segment}: {reason}")]
    ShapeMismatch {
        /// Segment index.
        segment: u16,
        /// Which rule of spec §9.5 or §10.4 the records break.
        reason: &'static str,
    },
    /// A Bloom filter does not meet the parameters of spec §9.7 (too weak, or saturated so that
    /// everything would appear to match).
    #[error("Bloom filter for segment {segment} rejected: {reason}")]
    BadBloomFilter {
        /// Segment index.
        segment: u16,
        /// What is wrong.
        reason: BloomDefect,
    },
    /// An element of a counted stream repeats in the session: equal elements would let the
    /// receiver link shuffled answers to one another or to an ordered answer (spec §9.5).
    #[error("segment {segment} repeats an element of a counted stream")]
    RepeatedElement {
        /// The partner's segment in which the repetition was found.
        segment: u16,
    },
    /// A message arrived after the session ended.
    #[error("message after the end of the session")]
    AfterEnd,
}

impl PeerMisbehaviour {
    fn abort_code(&self) -> AbortCode {
        match self {
            Self::UnexpectedMessage { .. } | Self::AfterEnd => AbortCode::UnexpectedMessage,
            Self::WrongSession | Self::OutOfSequence { .. } => AbortCode::Sequence,
            Self::SetTooLarge { .. } => AbortCode::SetTooLarge,
            Self::InvalidHello(_) | Self::InvalidPlan(_) => AbortCode::Negotiation,
            Self::ShapeMismatch { .. } | Self::RepeatedElement { .. } => AbortCode::Shape,
            Self::BadBloomFilter { .. } => AbortCode::BadBloomFilter,
        }
    }
}

/// Why a received Bloom filter is refused (spec §9.7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BloomDefect {
    /// The total length announced on the first piece is not the size the declared set gives.
    #[error("size does not match the declared set")]
    TotalLength,
    /// A later piece announces another total length than the first.
    #[error("total length changed between pieces")]
    TotalChanged,
    /// The filter is shorter than its 45-byte header.
    #[error("shorter than the 45-byte header")]
    Truncated,
    /// The version byte is not 1, the only format version.
    #[error("not a version 1 filter")]
    Version(u8),
    /// The header's hash count is not 1: every probe is its own SipHash.
    #[error("filters use one hash function per probe")]
    HashCount(u32),
    /// The header's bitmap length is not the length of the bitmap that follows it.
    #[error("the header's bitmap size differs from the filter's")]
    HeaderLength,
    /// The bitmap is not within 1% plus 8 bytes of the size the declared set gives.
    #[error("bitmap size does not match the declared set size")]
    BitmapSize,
    /// More bits are set than the declared items can set: everything would look like a member.
    #[error("more bits set than the declared items can set (saturated filter)")]
    Saturated,
}

/// Our own input is unusable; nothing was sent (spec §5).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// Key types are 1–32 characters of `a-z`, `0-9`, `_`, starting with a letter.
    #[error("invalid key type {0:?}: use 1-32 characters a-z, 0-9, _ starting with a letter")]
    KeyType(String),
    /// Segment labels are 1–64 characters of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit.
    #[error("invalid segment label {0:?}: use 1-64 characters a-z, 0-9, _, - starting with a letter or digit")]
    SegmentLabel(String),
    /// Field names follow the key-type alphabet, up to 64 characters.
    #[error("invalid field name {0:?}: use 1-64 characters a-z, 0-9, _ starting with a letter")]
    FieldName(String),
    /// A key value is empty.
    #[error("record {record}: a {key_type} key is empty")]
    EmptyKey {
        /// Record index in the input.
        record: usize,
        /// The key's type.
        key_type: String,
    },
    /// A key value is longer than the limit of spec §5.2.
    #[error("record {record}: a {key_type} key is longer than {limit} bytes")]
    KeyTooLong {
        /// Record index.
        record: usize,
        /// The key's type.
        key_type: String,
        /// The limit.
        limit: usize,
    },
    /// A record has no key: it could never match.
    #[error("record {0} has no match key")]
    NoKeys(usize),
    /// A record has more distinct keys than the limit of spec §5.2.
    #[error("record {record} has {count} distinct keys, more than the limit of {limit}")]
    TooManyKeys {
        /// Record index.
        record: usize,
        /// Distinct keys.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A field value is longer than the limit of spec §5.3.
    #[error("record {record}: field {field} is longer than {limit} bytes")]
    FieldTooLong {
        /// Record index.
        record: usize,
        /// Field name.
        field: String,
        /// The limit.
        limit: usize,
    },
    /// More segments than the protocol carries.
    #[error("{count} segments, more than the limit of {limit}")]
    TooManySegments {
        /// Segments found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// A segment holds more keys than the protocol numbers (spec §5.1).
    #[error("segment {segment} holds {keys} keys, more than the limit of {limit}")]
    SegmentTooLarge {
        /// The segment's label.
        segment: String,
        /// Keys found.
        keys: u64,
        /// The limit.
        limit: u64,
    },
    /// More records than the protocol carries.
    #[error("{count} records, more than the limit of {limit}")]
    TooManyRecords {
        /// Records found.
        count: usize,
        /// The limit.
        limit: usize,
    },
    /// Bloom filters answer membership in order only: they serve the overlaps level, not counts
    /// (shuffled points could be unblinded record by record) or fields (spec §9.7).
    #[error("a Bloom-filter session can only disclose overlaps (or hide)")]
    BloomLevel,
    /// A party serving Bloom filters cannot also learn in the same session (spec §9.7).
    #[error("a party serving Bloom filters cannot also learn in the same session")]
    BloomWhileLearning,
    /// Our own Bloom filter's bitmap cannot be addressed on this platform (spec §9.7).
    #[error("a Bloom filter of {0} bytes does not fit in memory here")]
    BloomTooLarge(u64),
    /// RFC 9497 inputs are at most 65535 bytes.
    #[error("OPRF input of {0} bytes is longer than 65535")]
    OprfInputTooLong(usize),
    /// A policy names more fields than spec §5.3 allows for one cell.
    #[error("a fields level lists {count} fields, more than the limit of {limit}")]
    TooManyFields {
        /// Fields listed.
        count: usize,
        /// The limit.
        limit: usize,
    },
}

/// Why a session was aborted, as carried in an abort message (spec §13).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AbortCode {
    /// A message did not decode.
    Malformed,
    /// A message arrived out of turn.
    UnexpectedMessage,
    /// Wrong session id or sequence number.
    Sequence,
    /// Declared sets exceed the receiver's limits.
    SetTooLarge,
    /// Hellos or plans are incompatible.
    Negotiation,
    /// Records do not have the declared shape, or an element repeats.
    Shape,
    /// A Bloom filter was rejected.
    BadBloomFilter,
    /// Reserved: code 8 is never sent (spec §13), but ends a session like any abort.
    Reserved,
    /// The sender failed for a reason of its own.
    Internal,
}

impl AbortCode {
    /// The code's number on the wire (spec §13).
    pub fn to_u16(self) -> u16 {
        match self {
            Self::Malformed => 1,
            Self::UnexpectedMessage => 2,
            Self::Sequence => 3,
            Self::SetTooLarge => 4,
            Self::Negotiation => 5,
            Self::Shape => 6,
            Self::BadBloomFilter => 7,
            Self::Reserved => 8,
            Self::Internal => 9,
        }
    }

    /// The code for a number read from the wire; `None` outside 1 to 9, which a decoder refuses
    /// as malformed (spec §8.10).
    pub fn from_u16(code: u16) -> Option<Self> {
        Some(match code {
            1 => Self::Malformed,
            2 => Self::UnexpectedMessage,
            3 => Self::Sequence,
            4 => Self::SetTooLarge,
            5 => Self::Negotiation,
            6 => Self::Shape,
            7 => Self::BadBloomFilter,
            8 => Self::Reserved,
            9 => Self::Internal,
            _ => return None,
        })
    }
}

impl fmt::Display for AbortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Self::Malformed => "malformed message",
            Self::UnexpectedMessage => "unexpected message",
            Self::Sequence => "wrong session or sequence",
            Self::SetTooLarge => "set too large",
            Self::Negotiation => "incompatible hello or plan",
            Self::Shape => "records do not match their declared shape",
            Self::BadBloomFilter => "Bloom filter rejected",
            Self::Reserved => "reserved code 8",
            Self::Internal => "internal error",
        };
        f.write_str(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn abort_codes_are_the_numbers_one_to_nine_each_with_its_own_text() {
        let codes: Vec<AbortCode> = (1..=9).map(|n| AbortCode::from_u16(n).unwrap()).collect();
        for (n, code) in (1..=9).zip(&codes) {
            assert_eq!(code.to_u16(), n);
        }
        for n in [0, 10, 256, u16::MAX] {
            assert_eq!(AbortCode::from_u16(n), None, "{n}");
        }
        let texts: std::collections::BTreeSet<String> = codes.iter().map(ToString::to_string).collect();
        assert_eq!(texts.len(), 9, "{texts:?}");
        assert!(texts.iter().all(|t| !t.is_empty()));
        assert_eq!(AbortCode::Reserved.to_string(), "reserved code 8");
    }
}
