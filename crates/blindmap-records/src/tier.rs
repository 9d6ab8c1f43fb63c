//! How sure a match is: `confirmed` or `possible`, and why (protocol-spec/keys.md §3.3).
//!
//! A party learns which of its keys a partner record shares — the key types of each match — and
//! nothing else about the partner's account. The tier is a function of exactly that and of the
//! party's own keys, so both parties reach the same tier for one pair, and neither learns more
//! than the tier of its own matches.

use std::fmt;

use blindmap_psi::{Dataset, KeyType, MatchKey, Outcome};

use crate::normalise;
use crate::rule::{DOMAIN, DUNS, NAME_CITY, NAME_COUNTRY, NAME_PHONE, NAME_POSTAL, NAME_WEB};

/// How sure a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tier {
    /// Independent evidence agrees: a domain, a DUNS number, or a name with more.
    Confirmed,
    /// Only the name and country agree, and the name is common or the websites differ: worth a
    /// look, not a call.
    Possible,
}

impl Tier {
    /// Both tiers, surest first.
    pub const ALL: [Self; 2] = [Self::Confirmed, Self::Possible];

    /// `confirmed` or `possible`: the name in files, JSON and URLs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Confirmed => "confirmed",
            Self::Possible => "possible",
        }
    }

    /// The tier of a name.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One thing two matched accounts were found to have in common.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Evidence {
    /// A registrable domain.
    Domain,
    /// A DUNS number.
    Duns,
    /// The normalised name and the country.
    NameCountry,
    /// The city (with the name and country).
    City,
    /// The postal code (with the name and country).
    PostalCode,
    /// The telephone number (with the name and country).
    Phone,
}

impl Evidence {
    /// A short identifier for JSON and CSV.
    pub fn code(self) -> &'static str {
        match self {
            Self::Domain => "domain",
            Self::Duns => "duns",
            Self::NameCountry => "name_country",
            Self::City => "city",
            Self::PostalCode => "postal_code",
            Self::Phone => "phone",
        }
    }

    fn nouns(self) -> &'static [&'static str] {
        match self {
            Self::Domain => &["domain"],
            Self::Duns => &["DUNS number"],
            Self::NameCountry => &["name", "country"],
            Self::City => &["city"],
            Self::PostalCode => &["postal code"],
            Self::Phone => &["phone number"],
        }
    }
}

/// Why a match has its tier: what agreed, whether the name alone can tell companies apart, and
/// which evidence this side's account lacks (what would confirm a possible match).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    /// The tier.
    pub tier: Tier,
    /// What the two accounts were found to have in common, in [`Evidence`] order.
    pub agreed: Vec<Evidence>,
    /// Whether the account's name is common (every word a frequent surname, given name or
    /// generic word, keys.md §2.7); `None` when it has no name key.
    pub common_name: Option<bool>,
    /// Both accounts have websites and share no domain, and their places could not be compared
    /// (a `name_web` key of a distinctive name, keys.md §3): a possible match.
    pub websites_differ: bool,
    /// Evidence that could confirm a possible match but this side's account does not have (a
    /// city, a postal code, a phone number); empty for a confirmed match.
    pub own_missing: Vec<Evidence>,
}

impl Explanation {
    /// Explains a match from the key types it shares (`domain`, `name_country`, …; unknown
    /// types are ignored) and this side's own protocol keys of the account.
    pub fn of<S: AsRef<str>>(matched: &[S], own_keys: &[MatchKey]) -> Self {
        let mut agreed = Vec::new();
        for t in matched {
            let evidence: &[Evidence] = match t.as_ref() {
                DOMAIN => &[Evidence::Domain],
                DUNS => &[Evidence::Duns],
                NAME_COUNTRY | NAME_WEB => &[Evidence::NameCountry],
                NAME_CITY => &[Evidence::NameCountry, Evidence::City],
                NAME_POSTAL => &[Evidence::NameCountry, Evidence::PostalCode],
                NAME_PHONE => &[Evidence::NameCountry, Evidence::Phone],
                _ => &[],
            };
            agreed.extend_from_slice(evidence);
        }
        agreed.sort_unstable();
        agreed.dedup();
        let name = own_keys
            .iter()
            .find(|k| matches!(k.key_type().as_str(), NAME_COUNTRY | NAME_CITY))
            .and_then(|k| k.value().rsplit('|').next());
        let common_name = name.map(normalise::is_common_name);
        let strong = agreed.iter().any(|e| matches!(e, Evidence::Domain | Evidence::Duns));
        let evidence = agreed.iter().any(|e| matches!(e, Evidence::PostalCode | Evidence::Phone));
        let types = || matched.iter().map(AsRef::as_ref);
        // A `name_web` key is never shared together with a tagged name key: the name alone agreed,
        // and rule 2 (keys.md §3) would have vetoed it.
        let websites_differ = !strong && types().any(|t| t == NAME_WEB);
        let by_name = types().any(|t| matches!(t, NAME_COUNTRY | NAME_CITY)) && common_name == Some(false);
        let tier = if strong || evidence || by_name { Tier::Confirmed } else { Tier::Possible };
        let mut own_missing = Vec::new();
        let has = |t: &str| own_keys.iter().any(|k| k.key_type().as_str() == t);
        if tier == Tier::Possible && websites_differ && common_name == Some(false) {
            // One city in common would have confirmed it.
            if !has(NAME_CITY) {
                own_missing.push(Evidence::City);
            }
        } else if tier == Tier::Possible {
            // A common name's evidence is its postal code, or its phone number where it has none
            // (keys.md §3.3): say which this account lacks.
            if !has(NAME_POSTAL) {
                own_missing.push(Evidence::PostalCode);
                if !has(NAME_PHONE) {
                    own_missing.push(Evidence::Phone);
                }
            }
        }
        Self { tier, agreed, common_name, websites_differ, own_missing }
    }

    /// The agreed evidence as codes joined by `+` (`name_country+city`).
    pub fn agreed_codes(&self) -> String {
        self.agreed.iter().map(|e| e.code()).collect::<Vec<_>>().join("+")
    }
}

/// One sentence a person can act on: `confirmed: the domain agrees`, `possible: the name and
/// country agree, but the name is common and neither the postal code nor the phone number
/// agrees (this account has no phone number)`.
impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |items: &[&str], last: &str| match items {
            [] => String::new(),
            [one] => (*one).to_owned(),
            [init @ .., tail] => format!("{} {last} {tail}", init.join(", ")),
        };
        let agreed: Vec<&str> = self.agreed.iter().flat_map(|e| e.nouns()).copied().collect();
        let verb = if agreed.len() == 1 { "agrees" } else { "agree" };
        write!(f, "{}: the {} {verb}", self.tier, list(&agreed, "and"))?;
        match self.tier {
            Tier::Confirmed => {
                let only_name = self.agreed.iter().all(|e| matches!(e, Evidence::NameCountry | Evidence::City));
                if only_name && self.common_name == Some(false) {
                    f.write_str(", and the name is distinctive")?;
                }
                Ok(())
            }
            Tier::Possible => {
                let missing: Vec<&str> = self.own_missing.iter().flat_map(|e| e.nouns()).copied().collect();
                if self.websites_differ {
                    f.write_str(", but the websites differ")?;
                } else {
                    if self.common_name == Some(true) {
                        f.write_str(", but the name is common")?;
                    }
                    f.write_str(" and neither the postal code nor the phone number agrees")?;
                }
                if !missing.is_empty() {
                    write!(f, " (this account has no {})", list(&missing, "or"))?;
                }
                Ok(())
            }
        }
    }
}

/// The explanation of each of a session's overlaps (aligned with [`Outcome::overlaps`]), from
/// the dataset the session was given.
pub fn explain_overlaps(outcome: &Outcome, data: &Dataset) -> Vec<Explanation> {
    outcome
        .overlaps()
        .iter()
        .map(|o| {
            let types: Vec<&str> = o.key_types.iter().map(KeyType::as_str).collect();
            Explanation::of(&types, &data.records()[o.record].keys)
        })
        .collect()
}

/// Per matrix cell (own segment × partner segment, row-major), how many of this side's records
/// overlap the partner's segment by possible matches only: the rest of the cell's count is
/// confirmed. Zero where the partner disclosed no overlaps (a count alone has no tiers).
pub fn possible_per_cell(outcome: &Outcome, data: &Dataset, explanations: &[Explanation]) -> Vec<u64> {
    let columns = outcome.partner_segments().len();
    let row_of: std::collections::HashMap<&str, usize> =
        outcome.own_segments().iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    // Best tier of each (record, partner segment).
    let mut best: std::collections::BTreeMap<(usize, u16), Tier> = std::collections::BTreeMap::new();
    for (o, e) in outcome.overlaps().iter().zip(explanations) {
        let tier = best.entry((o.record, o.partner.segment)).or_insert(e.tier);
        *tier = (*tier).min(e.tier);
    }
    let mut cells = vec![0; outcome.own_segments().len() * columns];
    for ((record, segment), tier) in best {
        if tier == Tier::Possible
            && let Some(&row) = row_of.get(data.records()[record].segment.as_str())
        {
            cells[row * columns + usize::from(segment)] += 1;
        }
    }
    cells
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rule::{AccountKeys, Side, match_keys};

    fn own(name: &str, city: Option<&str>, postal: Option<&str>, phone: Option<&str>) -> Vec<MatchKey> {
        let keys = AccountKeys {
            name_country: Some((name.to_owned(), "DE")),
            city: city.map(str::to_owned),
            postal_code: postal.map(str::to_owned),
            phone: phone.map(str::to_owned),
            ..AccountKeys::default()
        };
        match_keys(&keys, Side::First)
    }

    #[test]
    fn identifiers_and_evidence_confirm_and_a_common_name_alone_does_not() {
        let common = own("brown", Some("munich"), None, None);
        let distinctive = own("zentrix", None, None, None);
        let cases: [(&[&str], &[MatchKey], Tier); 11] = [
            (&["name_web"], &distinctive, Tier::Possible),
            (&["name_web"], &common, Tier::Possible),
            (&["domain", "name_web"], &distinctive, Tier::Confirmed),
            (&["domain"], &common, Tier::Confirmed),
            (&["duns", "name_country"], &common, Tier::Confirmed),
            (&["name_country"], &distinctive, Tier::Confirmed),
            (&["name_city"], &distinctive, Tier::Confirmed),
            (&["name_country"], &common, Tier::Possible),
            (&["name_city"], &common, Tier::Possible),
            (&["name_country", "name_postal"], &common, Tier::Confirmed),
            (&["name_phone"], &common, Tier::Confirmed),
        ];
        for (types, keys, tier) in cases {
            assert_eq!(Explanation::of(types, keys).tier, tier, "{types:?}");
        }
    }

    #[test]
    fn the_reason_says_what_agreed_and_what_is_missing() {
        let common = own("brown", Some("munich"), None, Some("+498912345670"));
        let e = Explanation::of(&["name_country"], &common);
        assert_eq!(e.agreed, [Evidence::NameCountry]);
        assert_eq!(e.common_name, Some(true));
        assert_eq!(e.own_missing, [Evidence::PostalCode]);
        assert_eq!(
            e.to_string(),
            "possible: the name and country agree, but the name is common and neither the postal code nor the \
             phone number agrees (this account has no postal code)"
        );
        assert_eq!(
            Explanation::of(&["name_city"], &own("zentrix", Some("munich"), None, None)).to_string(),
            "confirmed: the name, country and city agree, and the name is distinctive"
        );
        assert_eq!(Explanation::of(&["domain"], &common).to_string(), "confirmed: the domain agrees");
        assert_eq!(
            Explanation::of(&["name_country"], &own("zentrix", None, None, None)).to_string(),
            "confirmed: the name and country agree, and the name is distinctive"
        );
        assert_eq!(
            Explanation::of(&["name_country", "name_phone"], &common).to_string(),
            "confirmed: the name, country and phone number agree"
        );
        assert_eq!(Explanation::of(&["name_phone"], &common).agreed_codes(), "name_country+phone");
        let e = Explanation::of(&["name_web"], &own("zentrix", None, None, None));
        assert!(e.websites_differ);
        assert_eq!(
            e.to_string(),
            "possible: the name and country agree, but the websites differ (this account has no city)"
        );
        assert_eq!(
            Explanation::of(&["name_web"], &own("zentrix", Some("munich"), None, None)).to_string(),
            "possible: the name and country agree, but the websites differ"
        );
        // A distinctive name confirmed by an identifier: no word on the name, nothing missing.
        let by_domain = Explanation::of(&["domain"], &own("zentrix", None, None, None));
        assert_eq!((by_domain.tier, by_domain.common_name), (Tier::Confirmed, Some(false)));
        assert_eq!(by_domain.to_string(), "confirmed: the domain agrees");
        assert_eq!(by_domain.own_missing, []);
        let both = Explanation::of(&["domain", "name_web"], &common);
        assert!(!both.websites_differ);
        assert_eq!(both.to_string(), "confirmed: the domain, name and country agree");
    }

    #[test]
    fn tiers_are_read_by_their_names_only() {
        for tier in Tier::ALL {
            assert_eq!(Tier::parse(tier.as_str()), Some(tier));
            assert_eq!(tier.to_string(), tier.as_str());
        }
        assert_eq!((Tier::parse("confirmed"), Tier::parse("possible")), (Some(Tier::Confirmed), Some(Tier::Possible)));
        for other in ["Confirmed", "", "sure", "possible "] {
            assert_eq!(Tier::parse(other), None, "{other:?}");
        }
    }
}
