//! The registration pre-check (spec §17): a partner asks a vendor whether one account is already
//! claimed, without saying which account. One round trip of the RFC 9497 OPRF:
//!
//! 1. the asker blinds each of its account's keys and pads the list with random elements to
//!    [`PRECHECK_ELEMENTS`], so the vendor sees neither the keys nor how many there are;
//! 2. the vendor, with a key made for this one query, evaluates the blinded elements and the PRF
//!    of every claimed key, and answers both — the claimed outputs cut to [`PRECHECK_TAG_LEN`]
//!    bytes and sorted, so their order says nothing;
//! 3. the asker finalizes its own outputs and looks them up among the claimed ones.
//!
//! The vendor learns that a pre-check happened; the asker learns whether its account is claimed
//! and how many claimed keys there are. The key dies with the answer, so the claimed outputs are
//! worth nothing for any other account: each account tested costs one query, which the vendor
//! rate-limits and budgets.

use std::collections::BTreeSet;

use rand_core::CryptoRng;

use crate::error::{DecodeError, Error};
use crate::group::{ElementBytes, element_from_uniform};
use crate::oprf::{self, Blind, BlindedElement, EvaluatedElement, OprfKey};
use crate::record::MatchKey;

/// Blinded elements in every query, real or padding: at most this many keys per account.
pub const PRECHECK_ELEMENTS: usize = 8;
/// Bytes of each claimed output in an answer.
pub const PRECHECK_TAG_LEN: usize = 16;
/// At most this many claimed outputs in an answer: a bigger answer is refused.
pub const MAX_PRECHECK_CLAIMED: usize = 1 << 20;
/// `info` of the per-query key: separates it from session keys (spec §17).
const KEY_INFO: &[u8] = b"blindmap precheck v1";

/// One claimed output, cut short.
pub type PrecheckTag = [u8; PRECHECK_TAG_LEN];

/// The vendor's answer to a pre-check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PrecheckAnswer {
    /// The query's blinded elements, evaluated, in the query's order.
    pub evaluated: Vec<ElementBytes>,
    /// The claimed keys' outputs under the query's key, cut to tags, sorted, without repeats.
    pub claimed: Vec<PrecheckTag>,
}

/// The asker's side of a pre-check: what it needs to read the answer. Blinds are zeroized on drop.
pub struct PrecheckQuery {
    /// Each key's OPRF input, its blind and where in the query its element went.
    keys: Vec<(Vec<u8>, Blind, usize)>,
}

impl core::fmt::Debug for PrecheckQuery {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("PrecheckQuery").field("keys", &self.keys.len()).finish_non_exhaustive()
    }
}

fn tag(output: &oprf::Output) -> PrecheckTag {
    let mut t = [0; PRECHECK_TAG_LEN];
    t.copy_from_slice(&output.as_bytes()[..PRECHECK_TAG_LEN]);
    t
}

impl PrecheckQuery {
    /// Blinds `keys` (one account's, 1 to [`PRECHECK_ELEMENTS`]), places them at random in the
    /// query and fills the other places with random elements: the elements to send.
    pub fn new(keys: &[MatchKey], rng: &mut impl CryptoRng) -> Result<(Self, Vec<ElementBytes>), Error> {
        // A Fisher–Yates shuffle of the places; the first ones go to the real keys.
        let mut places: [usize; PRECHECK_ELEMENTS] = std::array::from_fn(|i| i);
        for i in (1..PRECHECK_ELEMENTS).rev() {
            #[allow(clippy::cast_possible_truncation, reason = "the remainder is at most i < 8")]
            let j = (rng.next_u64() % (i as u64 + 1)) as usize;
            places.swap(i, j);
        }
        let blinds = keys.iter().map(|_| Blind::random(rng)).collect();
        let padding = (keys.len()..PRECHECK_ELEMENTS)
            .map(|_| {
                let mut uniform = [0u8; 64];
                rng.fill_bytes(&mut uniform);
                uniform
            })
            .collect();
        Self::assemble(keys, &places, blinds, padding)
    }

    /// [`PrecheckQuery::new`] with its randomness given: `places` (a permutation of 0..8, the
    /// first `keys.len()` for the keys), a blind per key and 64 bytes per padding element. For
    /// test vectors only.
    #[cfg(feature = "deterministic")]
    pub fn with_randomness(
        keys: &[MatchKey],
        places: &[usize; PRECHECK_ELEMENTS],
        blinds: Vec<Blind>,
        padding: Vec<[u8; 64]>,
    ) -> Result<(Self, Vec<ElementBytes>), Error> {
        Self::assemble(keys, places, blinds, padding)
    }

    fn assemble(
        keys: &[MatchKey],
        places: &[usize; PRECHECK_ELEMENTS],
        blinds: Vec<Blind>,
        padding: Vec<[u8; 64]>,
    ) -> Result<(Self, Vec<ElementBytes>), Error> {
        if keys.is_empty() || keys.len() > PRECHECK_ELEMENTS {
            return Err(Error::Precheck("a query asks about 1 to 8 keys of one account"));
        }
        let mut seen = [false; PRECHECK_ELEMENTS];
        for &p in places {
            if p >= PRECHECK_ELEMENTS || std::mem::replace(&mut seen[p], true) {
                return Err(Error::Precheck("the places are not a permutation of 0..8"));
            }
        }
        if blinds.len() != keys.len() || padding.len() != PRECHECK_ELEMENTS - keys.len() {
            return Err(Error::Precheck("one blind per key and one padding element per free place"));
        }
        let mut elements: [Option<ElementBytes>; PRECHECK_ELEMENTS] = [None; PRECHECK_ELEMENTS];
        let mut query = Self { keys: Vec::with_capacity(keys.len()) };
        for ((key, blind), &place) in keys.iter().zip(blinds).zip(places) {
            let input = key.oprf_input();
            let blinded = oprf::blind_with(&input, &blind)?;
            elements[place] = Some(blinded.to_bytes());
            query.keys.push((input, blind, place));
        }
        // A blinded element is a uniformly random group element: so is the padding.
        // Checked above: exactly one padding element per free place.
        let mut padding = padding.into_iter();
        let elements = elements
            .into_iter()
            .map(|e| match e {
                Some(e) => Ok(e),
                None => padding
                    .next()
                    .map(|uniform| element_from_uniform(&uniform).compress().to_bytes())
                    .ok_or(Error::Precheck("one blind per key and one padding element per free place")),
            })
            .collect::<Result<_, _>>()?;
        Ok((query, elements))
    }

    /// Reads the vendor's answer: whether any of the account's keys is claimed.
    pub fn finish(self, answer: &PrecheckAnswer) -> Result<bool, Error> {
        if answer.evaluated.len() != PRECHECK_ELEMENTS {
            return Err(Error::Precheck("an answer evaluates exactly 8 elements"));
        }
        if answer.claimed.len() > MAX_PRECHECK_CLAIMED {
            return Err(Error::Precheck("an answer carries at most 2^20 claimed outputs"));
        }
        let claimed: BTreeSet<&PrecheckTag> = answer.claimed.iter().collect();
        let mut found = false;
        for (input, blind, place) in &self.keys {
            let evaluated = EvaluatedElement::from_bytes(&answer.evaluated[*place])?;
            found |= claimed.contains(&tag(&oprf::finalize(input, blind, &evaluated)?));
        }
        Ok(found)
    }
}

/// The vendor's side: evaluates the query's `blinded` elements and the PRF of every `claimed`
/// key, under a key made for this query alone and dropped (zeroized) on return.
pub fn answer_precheck<'a>(
    blinded: &[ElementBytes],
    claimed: impl IntoIterator<Item = &'a MatchKey>,
    rng: &mut impl CryptoRng,
) -> Result<PrecheckAnswer, Error> {
    let elements = query_elements(blinded)?;
    let mut seed = zeroize::Zeroizing::new([0u8; 32]);
    rng.fill_bytes(seed.as_mut());
    answer_with_seed(&elements, claimed, &seed, MAX_PRECHECK_CLAIMED)
}

/// [`answer_precheck`] with the query key's seed given. For test vectors only.
#[cfg(feature = "deterministic")]
pub fn answer_precheck_with_seed<'a>(
    blinded: &[ElementBytes],
    claimed: impl IntoIterator<Item = &'a MatchKey>,
    seed: &[u8; 32],
) -> Result<PrecheckAnswer, Error> {
    let elements = query_elements(blinded)?;
    answer_with_seed(&elements, claimed, seed, MAX_PRECHECK_CLAIMED)
}

/// A query's elements, refused unless there are 8 and each is a valid non-identity element.
fn query_elements(blinded: &[ElementBytes]) -> Result<Vec<BlindedElement>, Error> {
    if blinded.len() != PRECHECK_ELEMENTS {
        return Err(Error::Precheck("a query carries exactly 8 blinded elements"));
    }
    Ok(blinded.iter().map(BlindedElement::from_bytes).collect::<Result<Vec<_>, DecodeError>>()?)
}

/// The answer under the key from `seed`, refused once `claimed` holds more than `limit` distinct
/// keys ([`MAX_PRECHECK_CLAIMED`] but in tests, which cannot evaluate a million keys).
fn answer_with_seed<'a>(
    elements: &[BlindedElement],
    claimed: impl IntoIterator<Item = &'a MatchKey>,
    seed: &[u8; 32],
    limit: usize,
) -> Result<PrecheckAnswer, Error> {
    let key = OprfKey::derive(seed, KEY_INFO)?;
    let evaluated = elements.iter().map(|e| key.blind_evaluate(e).to_bytes()).collect();
    let mut tags = BTreeSet::new();
    for k in claimed {
        tags.insert(tag(&key.evaluate(&k.oprf_input())?));
        if tags.len() > limit {
            return Err(Error::Precheck("more claimed keys than an answer may carry"));
        }
    }
    Ok(PrecheckAnswer { evaluated, claimed: tags.into_iter().collect() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::KeyType;

    fn key(t: &str, v: &str) -> MatchKey {
        MatchKey::new(KeyType::new(t).unwrap(), v)
    }

    #[test]
    fn claimed_when_any_key_is_claimed_and_not_otherwise() {
        let mut rng = rand::rng();
        let claimed = [key("domain", "acme.com"), key("duns", "123456789"), key("name_country", "US|globex")];
        let ask = |keys: &[MatchKey], rng: &mut _| {
            let (query, elements) = PrecheckQuery::new(keys, rng).unwrap();
            assert_eq!(elements.len(), PRECHECK_ELEMENTS);
            let answer = answer_precheck(&elements, &claimed, rng).unwrap();
            assert_eq!(answer.claimed.len(), 3);
            query.finish(&answer).unwrap()
        };
        assert!(ask(&[key("domain", "acme.com")], &mut rng));
        assert!(ask(&[key("domain", "other.com"), key("name_country", "US|globex")], &mut rng));
        assert!(!ask(&[key("domain", "other.com"), key("name_country", "DE|globex")], &mut rng));
        // The type separates keys: a DUNS-looking domain is not the DUNS.
        assert!(!ask(&[key("domain", "123456789")], &mut rng));
        let eight: Vec<MatchKey> = (0..8).map(|i| key("domain", &format!("d{i}.com"))).collect();
        assert!(!ask(&eight, &mut rng));
        let mut with_claim = eight;
        with_claim[5] = key("duns", "123456789");
        assert!(ask(&with_claim, &mut rng));
    }

    #[test]
    fn each_query_has_its_own_key_and_queries_look_alike() {
        let mut rng = rand::rng();
        let claimed = [key("domain", "acme.com")];
        let (_, one) = PrecheckQuery::new(&[key("domain", "acme.com")], &mut rng).unwrap();
        let (_, two) = PrecheckQuery::new(&[key("domain", "acme.com")], &mut rng).unwrap();
        assert!(one.iter().all(|e| !two.contains(e)), "blinded afresh");
        let a = answer_precheck(&one, &claimed, &mut rng).unwrap();
        let b = answer_precheck(&one, &claimed, &mut rng).unwrap();
        assert_ne!(a.claimed, b.claimed, "a new key per query");
        // Another query's answer is of no use: the evaluations are under another key.
        let (query, elements) = PrecheckQuery::new(&[key("domain", "acme.com")], &mut rng).unwrap();
        let mut mixed = answer_precheck(&elements, &claimed, &mut rng).unwrap();
        mixed.claimed = a.claimed;
        assert!(!query.finish(&mixed).unwrap());
    }

    #[test]
    fn malformed_queries_and_answers_are_refused() {
        let mut rng = rand::rng();
        assert!(PrecheckQuery::new(&[], &mut rng).is_err());
        let nine: Vec<MatchKey> = (0..9).map(|i| key("domain", &format!("d{i}.com"))).collect();
        assert!(PrecheckQuery::new(&nine, &mut rng).is_err());
        let (query, elements) = PrecheckQuery::new(&[key("domain", "acme.com")], &mut rng).unwrap();
        assert!(answer_precheck(&elements[..7], &[], &mut rng).is_err(), "seven elements");
        let mut identity = elements.clone();
        identity[0] = [0; 32];
        assert!(answer_precheck(&identity, &[], &mut rng).is_err(), "the identity element");
        let mut short = answer_precheck(&elements, &[], &mut rng).unwrap();
        short.evaluated.pop();
        assert!(query.finish(&short).is_err());
    }

    #[test]
    fn a_query_is_assembled_from_exactly_its_randomness() {
        let keys = [key("domain", "acme.com"), key("duns", "123456789")];
        let places = [3, 1, 0, 2, 4, 5, 6, 7];
        let blinds = || keys.iter().map(|_| Blind::random(&mut rand::rng())).collect::<Vec<_>>();
        let padding = |n| vec![[7u8; 64]; n];
        let (query, elements) = PrecheckQuery::assemble(&keys, &places, blinds(), padding(6)).unwrap();
        assert_eq!(elements.len(), PRECHECK_ELEMENTS);
        // The query keeps its blinds to itself.
        assert_eq!(format!("{query:?}"), "PrecheckQuery { keys: 2, .. }");
        // Not a permutation of 0..8: a place twice, or one out of range.
        for bad in [[3, 3, 0, 2, 4, 5, 6, 7], [3, 1, 0, 2, 4, 5, 6, 8]] {
            let refused = PrecheckQuery::assemble(&keys, &bad, blinds(), padding(6));
            assert!(matches!(refused, Err(Error::Precheck(why)) if why.contains("permutation")), "{bad:?}");
        }
        // One blind per key and one padding element per free place, exactly.
        for (blinds, padding) in [(blinds(), padding(7)), (blinds(), padding(5)), (blinds()[..1].to_vec(), padding(6))]
        {
            let refused = PrecheckQuery::assemble(&keys, &places, blinds, padding);
            assert!(matches!(refused, Err(Error::Precheck(why)) if why.contains("one blind per key")));
        }
    }

    #[test]
    fn an_answer_carries_at_most_its_limit_of_distinct_claimed_keys() {
        let mut rng = rand::rng();
        let (query, blinded) = PrecheckQuery::new(&[key("domain", "acme.com")], &mut rng).unwrap();
        let elements = query_elements(&blinded).unwrap();
        let claimed = [key("domain", "acme.com"), key("domain", "b.com"), key("domain", "acme.com"), key("duns", "1")];
        // Three distinct keys: a repeated one counts once.
        let answer = answer_with_seed(&elements, &claimed, &[1; 32], 3).unwrap();
        assert_eq!(answer.claimed.len(), 3);
        assert!(matches!(answer_with_seed(&elements, &claimed, &[1; 32], 2), Err(Error::Precheck(_))));

        // The asker reads an answer of up to 2^20 claimed outputs (the three real ones among
        // them), and no more.
        let mut full = answer;
        full.claimed.extend((0..MAX_PRECHECK_CLAIMED - 2).map(|i| {
            let mut t = [0xee; PRECHECK_TAG_LEN];
            t[..8].copy_from_slice(&(i as u64).to_be_bytes());
            t
        }));
        let (other, _) = PrecheckQuery::new(&[key("domain", "acme.com")], &mut rng).unwrap();
        assert!(matches!(other.finish(&full), Err(Error::Precheck(why)) if why.contains("at most")));
        full.claimed.pop();
        assert_eq!(full.claimed.len(), MAX_PRECHECK_CLAIMED);
        assert!(query.finish(&full).unwrap());
    }
}
