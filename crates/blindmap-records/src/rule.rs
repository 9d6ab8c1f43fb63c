//! The matching rule: which canonical values become protocol keys (`protocol-spec/keys.md` §3).
//!
//! Two accounts match when they share a key. Domains and DUNS numbers are keys as they are. A
//! company name is a weak signal ("Delta" the airline is not "Delta" the faucet maker), so it is a
//! key only together with the country, and only where nothing stronger contradicts it:
//!
//! - two accounts in different places (both known) do not match by name;
//! - two accounts that both carry domains but share none match by name only if both are known to
//!   be in the same place: one company's country sites and brand domains (`acme.com`, `acme.de`,
//!   `acmegroup.com`) cannot be told from a namesake's by the domains alone. For a distinctive
//!   name whose places cannot be compared, such a pair is still reported, as a *possible* match,
//!   through a `name_web` key.
//!
//! An account's place is its city when its name is distinctive, and its postal code when its name
//! is common. With exact keys only, the vetoes are built into the keys. Each name key carries a
//! *tag*, `W|C`, and each side states its own facts in one position and lists, in the other, the
//! partner facts it accepts:
//!
//! - `C`, the place: `@PLACE` (both known and equal), `k` (the first's known, the second's not) or
//!   `?` (the first's not known). The first states `@PLACE` and `k` if it knows its place, else
//!   `?`; the second lists what it accepts: `@PLACE` and `?` if it knows its place, else `k` and
//!   `?`.
//! - `W`: does the first side's account have domains (`w`, `-`)? The first states it; the second
//!   lists `-`, and `w` too unless its own account has domains. In a `@PLACE` tag it is `*`: in one
//!   place, domains do not matter.
//!
//! Two accounts so share a name key exactly when their names and countries agree and the vetoes
//! allow it. Which side is first must be agreed: it is the session's initiator.

use blindmap_psi::{KeyType, MatchKey, PRECHECK_ELEMENTS};

use crate::normalise::{self, DropReason};

/// Key type of registrable domains.
pub const DOMAIN: &str = "domain";
/// Key type of D-U-N-S numbers.
pub const DUNS: &str = "duns";
/// Key type of normalised name and country, where the cities are not known to agree.
pub const NAME_COUNTRY: &str = "name_country";
/// Key type of a distinctive name and country of two accounts known to be in one city.
pub const NAME_CITY: &str = "name_city";
/// Key type of a common name and country of two accounts with one postal code.
pub const NAME_POSTAL: &str = "name_postal";
/// Key type of a common name, its country and the telephone number.
pub const NAME_PHONE: &str = "name_phone";
/// Key type of a distinctive name and country of two accounts that both have domains and whose
/// places cannot be compared: without a domain in common, a possible match.
pub const NAME_WEB: &str = "name_web";

/// How many name keys an account makes at most: tagged name keys, `name_web` keys and a phone
/// key together.
pub const MAX_NAME_KEYS: usize = 5;

/// An account's canonical key material, before it becomes protocol keys.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AccountKeys {
    /// Registrable domains, from websites, domain columns and contact e-mail addresses.
    pub domains: Vec<String>,
    /// Nine-digit DUNS numbers.
    pub duns: Vec<String>,
    /// The normalised company name and its ISO 3166-1 alpha-2 country.
    pub name_country: Option<(String, &'static str)>,
    /// The folded city, an exonym replaced by its canonical name: not a key on its own, a
    /// condition on name matches and evidence for them (see above).
    pub city: Option<String>,
    /// The canonical postal code: evidence for a match by a common name.
    pub postal_code: Option<String>,
    /// The telephone number in E.164 form: evidence for a match by a common name.
    pub phone: Option<String>,
}

impl AccountKeys {
    /// True when no key can be made.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.duns.is_empty() && self.name_country.is_none()
    }

    /// How many canonical values of each kind: domains, DUNS, name+country, postal code, phone.
    pub fn counts(&self) -> [usize; 5] {
        [
            self.domains.len(),
            self.duns.len(),
            usize::from(self.name_country.is_some()),
            usize::from(self.postal_code.is_some()),
            usize::from(self.phone.is_some()),
        ]
    }
}

/// A value typed by hand that cannot be a key: which field, the value and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} {value:?} cannot identify a customer: {reason}")]
pub struct CustomerError {
    /// `name`, `country`, `domain` or `duns`.
    pub field: &'static str,
    /// The value as given.
    pub value: String,
    /// Why.
    pub reason: DropReason,
}

impl AccountKeys {
    /// One customer named by hand (a deal registration, a pre-check), normalised as an import
    /// would. Unlike an import, which drops what it cannot use and goes on, every value given must
    /// be usable: the caller is there to fix it.
    pub fn of_customer(
        name: Option<&str>,
        country: Option<&str>,
        domains: &[&str],
        duns: &[&str],
    ) -> Result<Self, CustomerError> {
        let refuse = |field, value: &str, reason| CustomerError { field, value: value.to_owned(), reason };
        let mut keys = Self::default();
        for d in domains {
            let d = normalise::domain(d).map_err(|r| refuse("domain", d, r))?;
            if !keys.domains.contains(&d) {
                keys.domains.push(d);
            }
        }
        for d in duns {
            let d = normalise::duns(d).map_err(|r| refuse("duns", d, r))?;
            if !keys.duns.contains(&d) {
                keys.duns.push(d);
            }
        }
        let country = country.map(|c| normalise::country(c).map_err(|r| refuse("country", c, r))).transpose()?;
        if let Some(name) = name {
            let normalised = normalise::company_name(name, country).map_err(|r| refuse("name", name, r))?;
            let country = country.ok_or_else(|| refuse("name", name, DropReason::NameWithoutCountry))?;
            keys.name_country = Some((normalised, country));
        }
        if keys.domains.len() + keys.duns.len() + usize::from(keys.name_country.is_some()) > PRECHECK_ELEMENTS {
            return Err(refuse("domain", "", DropReason::TooManyKeys));
        }
        Ok(keys)
    }
}

/// The untagged keys of an account, by which claims on one customer are found (deal
/// registrations, pre-checks): its domains, DUNS numbers and `CC|name`. Unlike [`match_keys`],
/// no veto applies: any key in common is the same customer, erring towards a review.
pub fn customer_keys(keys: &AccountKeys) -> Vec<MatchKey> {
    let key_type = |name: &str| KeyType::new(name).expect("the key type names are valid");
    let mut out: Vec<MatchKey> = Vec::with_capacity(keys.domains.len() + keys.duns.len() + 1);
    out.extend(keys.domains.iter().map(|d| MatchKey::new(key_type(DOMAIN), d.as_str())));
    out.extend(keys.duns.iter().map(|d| MatchKey::new(key_type(DUNS), d.as_str())));
    if let Some((name, country)) = &keys.name_country {
        out.push(MatchKey::new(key_type(NAME_COUNTRY), format!("{country}|{name}")));
    }
    out
}

/// Which side of a session an account list is on; the name keys depend on it (see above).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The session's initiator (`match-files`' left file).
    First,
    /// The responder.
    Second,
}

/// The protocol keys of one account on one side.
pub fn match_keys(keys: &AccountKeys, side: Side) -> Vec<MatchKey> {
    let key_type = |name: &str| KeyType::new(name).expect("the key type names are valid");
    let mut out: Vec<MatchKey> = Vec::with_capacity(keys.domains.len() + keys.duns.len() + MAX_NAME_KEYS);
    out.extend(keys.domains.iter().map(|d| MatchKey::new(key_type(DOMAIN), d.as_str())));
    out.extend(keys.duns.iter().map(|d| MatchKey::new(key_type(DUNS), d.as_str())));
    if let Some((name, country)) = &keys.name_country {
        // A distinctive name compares cities; a common name, whose namesakes share cities,
        // postal codes (keys.md §3).
        let common = normalise::is_common_name(name);
        let (place, placed) = if common { (&keys.postal_code, NAME_POSTAL) } else { (&keys.city, NAME_CITY) };
        let place = place.as_deref();
        for tag in name_tags(place, !keys.domains.is_empty(), side) {
            let kind = if tag.contains('@') { placed } else { NAME_COUNTRY };
            out.push(MatchKey::new(key_type(kind), format!("{tag}|{country}|{name}")));
        }
        // A common name's namesakes are many: only its tags decide.
        if !keys.domains.is_empty() && !common {
            for c in web_tags(place.is_some(), side) {
                out.push(MatchKey::new(key_type(NAME_WEB), format!("{c}|{country}|{name}")));
            }
        }
        // Without a postal code, a common name's phone number stands in as evidence.
        if let Some(phone) = keys.phone.as_ref().filter(|_| common && keys.postal_code.is_none()) {
            out.push(MatchKey::new(key_type(NAME_PHONE), format!("{country}|{name}|{phone}")));
        }
    }
    out
}

/// The tags of an account's name keys (see the module documentation); `place` is what the `C`
/// position compares: the city, or for a common name the postal code.
fn name_tags(place: Option<&str>, has_domain: bool, side: Side) -> Vec<String> {
    let own_domains = if has_domain { "w" } else { "-" };
    let mut tags: Vec<String> = place.map(|p| format!("*|@{p}")).into_iter().collect();
    match side {
        Side::First => tags.push(format!("{own_domains}|{}", if place.is_some() { "k" } else { "?" })),
        Side::Second => {
            // Rule 2 (keys.md §3): an account with domains accepts a partner with domains only in
            // one place.
            let partner_domains: &[&str] = if has_domain { &["-"] } else { &["-", "w"] };
            let places: &[&str] = if place.is_some() { &["?"] } else { &["k", "?"] };
            for w in partner_domains {
                tags.extend(places.iter().map(|c| format!("{w}|{c}")));
            }
        }
    }
    tags
}

/// The `C` positions of the `name_web` keys of an account with domains and a distinctive name:
/// the pairs rule 2 vetoes because their places cannot be compared, i.e. are not both known (the
/// `C` position as in [`name_tags`], without `@PLACE`).
fn web_tags(place_known: bool, side: Side) -> &'static [&'static str] {
    match (side, place_known) {
        (Side::First, true) => &["k"],
        (Side::First, false) => &["?"],
        (Side::Second, true) => &["?"],
        (Side::Second, false) => &["k", "?"],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_customer_named_by_hand_gets_the_importers_canonical_keys_or_a_reason() {
        let keys = AccountKeys::of_customer(
            Some("ACME Inc."),
            Some("United States"),
            &["https://www.Acme.com/x"],
            &["15-048-3782"],
        )
        .unwrap();
        let text: Vec<String> =
            customer_keys(&keys).iter().map(|k| format!("{}:{}", k.key_type(), k.value())).collect();
        assert_eq!(text, ["domain:acme.com", "duns:150483782", "name_country:US|acme"]);
        let e = AccountKeys::of_customer(None, None, &["gmail.com"], &[]).unwrap_err();
        assert_eq!((e.field, e.reason), ("domain", DropReason::FreeMail));
        let e = AccountKeys::of_customer(Some("Acme"), None, &[], &[]).unwrap_err();
        assert_eq!((e.field, e.reason), ("name", DropReason::NameWithoutCountry));
        let e = AccountKeys::of_customer(Some("Acme"), Some("Atlantis"), &[], &[]).unwrap_err();
        assert_eq!(e.field, "country");
        assert!(AccountKeys::of_customer(None, None, &[], &[]).unwrap().is_empty());
        let many: Vec<String> = (0..9).map(|i| format!("acme{i}.com")).collect();
        let many: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(AccountKeys::of_customer(None, None, &many, &[]).unwrap_err().reason, DropReason::TooManyKeys);
    }

    #[test]
    fn a_customer_by_hand_keeps_each_key_once_and_up_to_eight() {
        let keys = AccountKeys::of_customer(
            Some("Acme GmbH"),
            Some("DE"),
            &["acme.com", "https://ACME.com/", "acme.de"],
            &["150483782", "15-048-3782"],
        )
        .unwrap();
        assert_eq!(keys.domains, ["acme.com", "acme.de"]);
        assert_eq!(keys.duns, ["150483782"]);
        assert_eq!(keys.counts(), [2, 1, 1, 0, 0]);
        assert!(!keys.is_empty());
        let eight: Vec<String> = (0..7).map(|i| format!("acme{i}.com")).collect();
        let eight: Vec<&str> = eight.iter().map(String::as_str).collect();
        let keys = AccountKeys::of_customer(Some("Acme"), Some("US"), &eight, &[]).unwrap();
        assert_eq!(keys.domains.len() + usize::from(keys.name_country.is_some()), 8, "eight keys are allowed");
        // Domains, DUNS numbers and the name all count towards the eight.
        let domains: Vec<String> = (0..8).map(|i| format!("acme{i}.com")).collect();
        let domains: Vec<&str> = domains.iter().map(String::as_str).collect();
        let duns = ["150483781", "150483782", "150483783", "150483784"];
        let too_many = |d: usize, n: usize, name: Option<&str>| {
            AccountKeys::of_customer(name, Some("US"), &domains[..d], &duns[..n]).err().map(|e| e.reason)
        };
        assert_eq!(too_many(8, 0, None), None);
        assert_eq!(too_many(8, 0, Some("Acme")), Some(DropReason::TooManyKeys));
        assert_eq!(too_many(4, 3, Some("Acme")), None);
        assert_eq!(too_many(4, 4, Some("Acme")), Some(DropReason::TooManyKeys));
        assert_eq!(too_many(5, 4, None), Some(DropReason::TooManyKeys));
        let long = "x".repeat(501);
        let e = AccountKeys::of_customer(Some(&long), Some("US"), &[], &[]).unwrap_err();
        assert_eq!((e.field, e.reason), ("name", DropReason::NameTooLong));
        let e = AccountKeys::of_customer(None, None, &[], &["12"]).unwrap_err();
        assert_eq!(e.field, "duns");
        let only_duns = AccountKeys { duns: vec!["150483782".into()], ..AccountKeys::default() };
        assert!(!only_duns.is_empty());
        let only_name = AccountKeys { name_country: Some(("acme".into(), "US")), ..AccountKeys::default() };
        assert!(!only_name.is_empty());
        let evidence = AccountKeys { postal_code: Some("10115".into()), phone: Some("+4930123".into()), ..only_name };
        assert_eq!(evidence.counts(), [0, 0, 1, 1, 1]);
    }

    fn account(duns: Option<&str>, domain: Option<&str>, city: Option<&str>) -> AccountKeys {
        AccountKeys {
            domains: domain.into_iter().map(str::to_owned).collect(),
            duns: duns.into_iter().map(str::to_owned).collect(),
            name_country: Some(("nordwind".into(), "US")),
            city: city.map(str::to_owned),
            ..AccountKeys::default()
        }
    }

    /// DUNS, domain, city, postal code, phone.
    type Facts =
        (Option<&'static str>, Option<&'static str>, Option<&'static str>, Option<&'static str>, Option<&'static str>);

    fn shared_types(a: &AccountKeys, b: &AccountKeys) -> Vec<String> {
        let first = match_keys(a, Side::First);
        let mut types: Vec<String> = match_keys(b, Side::Second)
            .iter()
            .filter(|k| first.contains(k))
            .map(|k| k.key_type().to_string())
            .collect();
        types.sort();
        types.dedup();
        types
    }

    /// The vetoes and the evidence, exhaustively: a name matches unless the accounts' places (a
    /// distinctive name's city, a common name's postal code) are known and differ, or both carry
    /// domains but share none and are not known to be in one place; the match says whether the
    /// places agree; two accounts with domains and a distinctive name whose places cannot be
    /// compared share a `name_web` key; a DUNS number on each side vetoes nothing; and a common name also matches, vetoes or not, where the phone number agrees.
    #[test]
    fn identifiers_on_both_sides_decide_instead_of_the_name() {
        let duns = [None, Some("001234567"), Some("987654321")];
        let domains = [None, Some("delta.com"), Some("delta.de")];
        let cities = [None, Some("atlanta"), Some("indianapolis")];
        let postals = [None, Some("30301"), Some("46201")];
        let phones = [None, Some("+14045550100")];
        let mut all = Vec::new();
        for d in duns {
            for w in domains {
                for c in cities {
                    for p in postals {
                        for t in phones {
                            all.push((d, w, c, p, t));
                        }
                    }
                }
            }
        }
        for name in ["brown", "zentrix"] {
            let common = normalise::is_common_name(name);
            assert_eq!(common, name == "brown");
            let make = |(d, w, c, p, t): Facts| AccountKeys {
                name_country: Some((name.to_owned(), "US")),
                postal_code: p.map(str::to_owned),
                phone: t.map(str::to_owned),
                ..account(d, w, c)
            };
            for &a in &all {
                for &b in &all {
                    let (da, wa, ca, pa, ta) = a;
                    let (db, wb, cb, pb, tb) = b;
                    // A common name's place is its postal code, a distinctive name's its city.
                    let (pla, plb) = if common { (pa, pb) } else { (ca, cb) };
                    let same_place = pla.is_some() && pla == plb;
                    let by_name = match (wa, wb) {
                        (Some(_), Some(_)) => same_place,
                        _ => pla.is_none() || plb.is_none() || pla == plb,
                    };
                    let web = !common && wa.is_some() && wb.is_some() && (pla.is_none() || plb.is_none());
                    let mut want = Vec::new();
                    if wa.is_some() && wa == wb {
                        want.push(DOMAIN);
                    }
                    if da.is_some() && da == db {
                        want.push(DUNS);
                    }
                    if by_name && same_place {
                        want.push(if common { NAME_POSTAL } else { NAME_CITY });
                    } else if by_name {
                        want.push(NAME_COUNTRY);
                    }
                    if web {
                        want.push(NAME_WEB);
                    }
                    if common && pa.is_none() && pb.is_none() && ta.is_some() && ta == tb {
                        want.push(NAME_PHONE);
                    }
                    want.sort_unstable();
                    let got = shared_types(&make(a), &make(b));
                    assert_eq!(got, want, "{name}: {a:?} vs {b:?}");
                    // One key of each type at most: a pair shares one tag.
                    let first = match_keys(&make(a), Side::First);
                    let second = match_keys(&make(b), Side::Second);
                    assert_eq!(second.iter().filter(|k| first.contains(k)).count(), want.len());
                    for keys in [first, second] {
                        let named = keys.iter().filter(|k| k.key_type().as_str().starts_with("name_")).count();
                        assert!(named <= MAX_NAME_KEYS, "{name}: {a:?} / {b:?}: {named} name keys");
                    }
                }
            }
        }
    }

    #[test]
    fn tags_read_as_documented() {
        let keys = |side, domain| {
            match_keys(&account(Some("001234567"), domain, Some("atlanta")), side)
                .into_iter()
                .filter(|k| k.key_type().as_str().starts_with("name_"))
                .map(|k| format!("{}:{}", k.key_type(), k.value()))
                .collect::<Vec<_>>()
        };
        assert_eq!(keys(Side::First, None), ["name_city:*|@atlanta|US|nordwind", "name_country:-|k|US|nordwind"]);
        assert_eq!(
            keys(Side::Second, None),
            ["name_city:*|@atlanta|US|nordwind", "name_country:-|?|US|nordwind", "name_country:w|?|US|nordwind"]
        );
        assert_eq!(
            keys(Side::First, Some("nordwind.com")),
            ["name_city:*|@atlanta|US|nordwind", "name_country:w|k|US|nordwind", "name_web:k|US|nordwind"]
        );
        assert_eq!(
            keys(Side::Second, Some("nordwind.com")),
            ["name_city:*|@atlanta|US|nordwind", "name_country:-|?|US|nordwind", "name_web:?|US|nordwind"]
        );
    }
}
