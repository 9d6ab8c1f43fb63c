//! A party's input: records with typed match keys, one segment each, and optional fields (spec §5).
//!
//! Nothing here ever leaves the party in the clear: keys only as OPRF inputs, fields only
//! sealed (spec §10.4), record ids never.

use std::collections::BTreeMap;
use std::fmt;

use crate::error::InputError;

/// Most distinct keys one record may carry (spec §5.2).
pub const MAX_KEYS_PER_RECORD: usize = 64;
/// Longest key value in bytes (spec §5.2).
pub const MAX_KEY_LEN: usize = 1024;
/// Longest field value in bytes (spec §5.3).
pub const MAX_FIELD_LEN: usize = 1024;
/// Most fields a fields-level cell may disclose (spec §5.3).
pub const MAX_FIELDS: usize = 32;
/// Most segments one party may declare (spec §8.4).
pub const MAX_SEGMENTS: usize = 64;
/// Most records one party may bring to a session (spec §8.4).
pub const MAX_RECORDS: usize = (u32::MAX >> 1) as usize;
/// Most keys one segment may hold (spec §5.1): positions of keys in a segment are 32-bit.
pub const MAX_SEGMENT_KEYS: u64 = u32::MAX as u64;

fn is_name(s: &str, max: usize, first: impl Fn(u8) -> bool, rest: impl Fn(u8) -> bool) -> bool {
    let b = s.as_bytes();
    !b.is_empty() && b.len() <= max && first(b[0]) && b[1..].iter().all(|&c| rest(c))
}

fn lower_or_digit_or_underscore(c: u8) -> bool {
    c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'
}

macro_rules! name_type {
    ($(#[$doc:meta])* $name:ident, $max:expr, $first:expr, $rest:expr, $err:path) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(std::sync::Arc<str>);

        impl $name {
            /// Validates and wraps a name.
            pub fn new(name: &str) -> Result<Self, InputError> {
                if is_name(name, $max, $first, $rest) {
                    Ok(Self(name.into()))
                } else {
                    Err($err(name.to_owned()))
                }
            }

            /// The name as text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Debug::fmt(&*self.0, f)
            }
        }
    };
}

name_type!(
    /// The type of a match key, e.g. `domain`, `duns`, `name_country` (spec §5.2).
    KeyType,
    32,
    |c: u8| c.is_ascii_lowercase(),
    lower_or_digit_or_underscore,
    InputError::KeyType
);

name_type!(
    /// A segment ("population") label, e.g. `customers` (spec §5.1).
    SegmentLabel,
    64,
    |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit(),
    |c: u8| lower_or_digit_or_underscore(c) || c == b'-',
    InputError::SegmentLabel
);

name_type!(
    /// The name of a disclosable field, e.g. `owner` (spec §5.3).
    FieldName,
    64,
    |c: u8| c.is_ascii_lowercase(),
    lower_or_digit_or_underscore,
    InputError::FieldName
);

/// A typed match key. Two records match when they share a key of the same type and value.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct MatchKey {
    key_type: KeyType,
    value: Box<str>,
}

impl MatchKey {
    /// A key of the given type. The value must already be normalised (spec §5.2).
    pub fn new(key_type: KeyType, value: impl Into<String>) -> Self {
        Self { key_type, value: value.into().into_boxed_str() }
    }

    /// The key's type.
    pub fn key_type(&self) -> &KeyType {
        &self.key_type
    }

    /// The key's value.
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The OPRF input of spec §5.2: `key_type || ":" || value`, which separates key types.
    pub fn oprf_input(&self) -> Vec<u8> {
        let mut input = Vec::with_capacity(self.key_type.0.len() + 1 + self.value.len());
        input.extend_from_slice(self.key_type.0.as_bytes());
        input.push(b':');
        input.extend_from_slice(self.value.as_bytes());
        input
    }
}

/// Values are identifiers: `Debug` shows the type only.
impl fmt::Debug for MatchKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MatchKey({}:…)", self.key_type)
    }
}

/// One account: an opaque local id, its keys, one segment and optional named fields.
#[derive(Clone, PartialEq, Eq)]
pub struct Record {
    /// The party's own identifier for the record; never sent.
    pub id: String,
    /// The record's segment.
    pub segment: SegmentLabel,
    /// Its match keys, in the order given (duplicates are dropped by [`Dataset::new`]).
    pub keys: Vec<MatchKey>,
    /// Fields a `fields` level may disclose, sealed (spec §10.4).
    pub fields: BTreeMap<FieldName, String>,
}

impl Record {
    /// A record with no keys or fields yet.
    pub fn new(id: impl Into<String>, segment: SegmentLabel) -> Self {
        Self { id: id.into(), segment, keys: Vec::new(), fields: BTreeMap::new() }
    }

    /// Adds a key.
    pub fn with_key(mut self, key: MatchKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Adds a field.
    pub fn with_field(mut self, name: FieldName, value: impl Into<String>) -> Self {
        self.fields.insert(name, value.into());
        self
    }
}

/// Ids, keys and field values are private: `Debug` shows only the shape.
impl fmt::Debug for Record {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Record")
            .field("segment", &self.segment)
            .field("keys", &self.keys)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

/// A validated set of records, grouped by segment (spec §5).
#[derive(Clone, Debug)]
pub struct Dataset {
    records: Vec<Record>,
    segments: Vec<SegmentLabel>,
    /// Record indices of each segment, in input order.
    members: Vec<Vec<u32>>,
}

impl Dataset {
    /// Validates records: every record has 1 to [`MAX_KEYS_PER_RECORD`] distinct non-empty keys of
    /// at most [`MAX_KEY_LEN`] bytes, and fields of at most [`MAX_FIELD_LEN`] bytes. Duplicate
    /// keys within a record are dropped. Segments are ordered by label.
    pub fn new(mut records: Vec<Record>) -> Result<Self, InputError> {
        if records.len() > MAX_RECORDS {
            return Err(InputError::TooManyRecords { count: records.len(), limit: MAX_RECORDS });
        }
        for (index, record) in records.iter_mut().enumerate() {
            validate_record(index, record)?;
        }
        let mut by_label: BTreeMap<SegmentLabel, Vec<u32>> = BTreeMap::new();
        for (index, record) in records.iter().enumerate() {
            #[allow(
                clippy::cast_possible_truncation,
                reason = "index < records.len() <= MAX_RECORDS < 2^31, checked above"
            )]
            let index = index as u32;
            by_label.entry(record.segment.clone()).or_default().push(index);
        }
        if by_label.len() > MAX_SEGMENTS {
            return Err(InputError::TooManySegments { count: by_label.len(), limit: MAX_SEGMENTS });
        }
        for (label, members) in &by_label {
            let keys: u64 = members.iter().map(|&r| records[r as usize].keys.len() as u64).sum();
            if keys > MAX_SEGMENT_KEYS {
                return Err(InputError::SegmentTooLarge {
                    segment: label.as_str().to_owned(),
                    keys,
                    limit: MAX_SEGMENT_KEYS,
                });
            }
        }
        let (segments, members) = by_label.into_iter().unzip();
        Ok(Self { records, segments, members })
    }

    /// All records, in input order.
    pub fn records(&self) -> &[Record] {
        &self.records
    }

    /// The segments, ordered by label.
    pub fn segments(&self) -> &[SegmentLabel] {
        &self.segments
    }

    /// Record indices of segment `segment`, in input order.
    pub fn members(&self, segment: usize) -> &[u32] {
        &self.members[segment]
    }

    /// Number of keys in segment `segment` and the largest number on one record.
    #[allow(clippy::cast_possible_truncation, reason = "a record has at most MAX_KEYS_PER_RECORD (64) keys")]
    pub(crate) fn segment_shape(&self, segment: usize) -> (u64, u8) {
        self.members[segment].iter().fold((0u64, 0u8), |(sum, max), &r| {
            let n = self.records[r as usize].keys.len();
            (sum + n as u64, max.max(n as u8))
        })
    }
}

fn validate_record(index: usize, record: &mut Record) -> Result<(), InputError> {
    let mut seen = std::collections::HashSet::with_capacity(record.keys.len());
    record.keys.retain(|k| seen.insert(k.clone()));
    if record.keys.is_empty() {
        return Err(InputError::NoKeys(index));
    }
    if record.keys.len() > MAX_KEYS_PER_RECORD {
        return Err(InputError::TooManyKeys { record: index, count: record.keys.len(), limit: MAX_KEYS_PER_RECORD });
    }
    for key in &record.keys {
        if key.value.is_empty() {
            return Err(InputError::EmptyKey { record: index, key_type: key.key_type.to_string() });
        }
        if key.value.len() > MAX_KEY_LEN {
            return Err(InputError::KeyTooLong {
                record: index,
                key_type: key.key_type.to_string(),
                limit: MAX_KEY_LEN,
            });
        }
    }
    for (name, value) in &record.fields {
        if value.len() > MAX_FIELD_LEN {
            return Err(InputError::FieldTooLong { record: index, field: name.to_string(), limit: MAX_FIELD_LEN });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kt(s: &str) -> KeyType {
        KeyType::new(s).unwrap()
    }

    #[test]
    fn names_are_validated() {
        assert!(KeyType::new("domain").is_ok());
        assert!(KeyType::new("name_country").is_ok());
        assert!(KeyType::new("Domain").is_err());
        assert!(KeyType::new("1domain").is_err());
        assert!(KeyType::new("dom:ain").is_err());
        assert!(KeyType::new("").is_err());
        assert!(SegmentLabel::new("open-opportunities").is_ok());
        assert!(SegmentLabel::new("2024_customers").is_ok());
        assert!(SegmentLabel::new("Customers").is_err());
        assert!(SegmentLabel::new(&"a".repeat(65)).is_err());
    }

    #[test]
    fn oprf_input_separates_types() {
        let a = MatchKey::new(kt("domain"), "acme.com");
        let b = MatchKey::new(kt("duns"), "acme.com");
        assert_eq!(a.oprf_input(), b"domain:acme.com");
        assert_ne!(a.oprf_input(), b.oprf_input());
    }

    #[test]
    fn dataset_dedupes_keys_and_orders_segments() {
        let seg = |s: &str| SegmentLabel::new(s).unwrap();
        let records = vec![
            Record::new("1", seg("prospects"))
                .with_key(MatchKey::new(kt("domain"), "a.com"))
                .with_key(MatchKey::new(kt("domain"), "a.com")),
            Record::new("2", seg("customers")).with_key(MatchKey::new(kt("domain"), "b.com")),
        ];
        let data = Dataset::new(records).unwrap();
        assert_eq!(data.records()[0].keys.len(), 1);
        assert_eq!(data.segments(), &[seg("customers"), seg("prospects")]);
        assert_eq!(data.members(1), &[0]);
    }

    #[test]
    fn dataset_rejects_bad_records() {
        let seg = SegmentLabel::new("s").unwrap();
        assert_eq!(Dataset::new(vec![Record::new("1", seg.clone())]).unwrap_err(), InputError::NoKeys(0));
        let empty = Record::new("1", seg.clone()).with_key(MatchKey::new(kt("domain"), ""));
        assert!(matches!(Dataset::new(vec![empty]), Err(InputError::EmptyKey { .. })));
        let mut many = Record::new("1", seg);
        for i in 0..=MAX_KEYS_PER_RECORD {
            many = many.with_key(MatchKey::new(kt("domain"), format!("d{i}.com")));
        }
        assert!(matches!(Dataset::new(vec![many]), Err(InputError::TooManyKeys { .. })));
    }

    #[test]
    fn debug_never_shows_identifiers() {
        let r = Record::new("secret-id", SegmentLabel::new("s").unwrap())
            .with_key(MatchKey::new(kt("domain"), "secret.example"))
            .with_field(FieldName::new("owner").unwrap(), "Jane Secret");
        let shown = format!("{r:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(!shown.contains("Jane"), "{shown}");
        // The shape is shown: segment, key types, field names.
        assert_eq!(shown, r#"Record { segment: "s", keys: [MatchKey(domain:…)], fields: ["owner"], .. }"#);
        assert_eq!(r.keys[0].value(), "secret.example");
    }

    #[test]
    fn a_key_value_is_at_most_1024_bytes() {
        let seg = SegmentLabel::new("s").unwrap();
        let with_value =
            |len: usize| Record::new("1", seg.clone()).with_key(MatchKey::new(kt("domain"), "a".repeat(len)));
        assert!(Dataset::new(vec![with_value(MAX_KEY_LEN)]).is_ok());
        assert!(matches!(
            Dataset::new(vec![with_value(MAX_KEY_LEN + 1)]),
            Err(InputError::KeyTooLong { record: 0, limit: MAX_KEY_LEN, .. })
        ));
    }
}
