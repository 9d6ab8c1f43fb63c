//! The world: distinct companies, which CRM lists each one, and the look-alike decoys among them.

use std::collections::HashSet;

use crate::company::{self, Company, Local};
use crate::places::GEOGRAPHY;
use crate::util::{Rng, Stream, chance, pick, rng_for};
use crate::{DecoyKind, WorldKind};
use crate::{countries, names, surnames};
use rand::RngExt;
use rand::seq::SliceRandom;

/// Share of companies with a namesake in another country.
pub(crate) const NAMESAKE_RATE: f64 = 0.06;
/// Share of companies with a similarly named other company.
pub(crate) const SIMILAR_RATE: f64 = 0.06;
/// Share of companies sharing their name with another company of the same country.
pub(crate) const SAME_NAME_RATE: f64 = 0.005;

/// The harsh world's same-name-same-country rate: each such decoy and the company it shares a name with make
/// two namesake companies, so about 9% of base companies, 7.7% of all companies, have a namesake.
pub(crate) const HARSH_SAME_NAME_RATE: f64 = 0.045;
/// Share of the harsh world's base companies named after surnames, which with their look-alikes makes about
/// 30% of all companies besides the namesakes.
pub(crate) const HARSH_SURNAME_SHARE: f64 = 0.38;
/// Chance that a harsh-world namesake is in the same city as the company it shares a name with.
const NAMESAKE_SAME_CITY: f64 = 0.2;
/// Chance that it is in the same region (same city included).
const NAMESAKE_SAME_REGION: f64 = 0.5;
/// Chance that a namesake in the same city has the same postal code too (same street, same business park).
const NAMESAKE_SAME_POSTAL: f64 = 0.05;

/// A decoy and the company it imitates; they are never the same company.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Decoy {
    pub(crate) kind: DecoyKind,
    pub(crate) original: usize,
    pub(crate) decoy: usize,
}

/// All companies, and which of them each side's CRM lists (each listed company once; duplicates come later).
pub(crate) struct World {
    pub(crate) companies: Vec<Company>,
    pub(crate) salesforce: Vec<usize>,
    pub(crate) hubspot: Vec<usize>,
    pub(crate) decoys: Vec<Decoy>,
}

/// How many companies of each kind a side of `per_side` companies needs.
struct Plan {
    shared: usize,
    salesforce_only: usize,
    hubspot_only: usize,
    /// Decoy kinds listed on the Salesforce side, then those on the HubSpot side.
    decoys_salesforce: Vec<DecoyKind>,
    decoys_hubspot: Vec<DecoyKind>,
}

fn plan(rng: &mut Rng, per_side: usize, overlap: f64, same_name_rate: f64) -> Plan {
    let k = per_side as f64;
    let shared = (overlap.clamp(0.0, 1.0) * k).round() as usize;
    // Each side holds its own companies and the decoys of the other side's: solve
    // k = shared + only + decoys/2 with decoys = rate * (shared + 2 * only).
    let rate = NAMESAKE_RATE + SIMILAR_RATE + same_name_rate;
    let only = ((k - shared as f64 * (1.0 + rate / 2.0)) / (1.0 + rate)).max(0.0);
    let base = shared as f64 + 2.0 * only;
    let mut kinds: Vec<DecoyKind> = [
        (DecoyKind::NamesakeOtherCountry, NAMESAKE_RATE),
        (DecoyKind::SimilarName, SIMILAR_RATE),
        (DecoyKind::SameNameSameCountry, same_name_rate),
    ]
    .iter()
    .flat_map(|&(kind, r)| std::iter::repeat_n(kind, (r * base).round() as usize))
    .collect();
    kinds.shuffle(rng);
    let room = per_side - shared;
    let to_salesforce = (kinds.len() / 2).min(room);
    let to_hubspot = (kinds.len() - to_salesforce).min(room);
    let decoys_hubspot = kinds.split_off(to_salesforce).into_iter().take(to_hubspot).collect();
    Plan {
        shared,
        salesforce_only: room - to_salesforce,
        hubspot_only: room - to_hubspot,
        decoys_salesforce: kinds,
        decoys_hubspot,
    }
}

/// What keeps companies apart: brand keys, domains, DUNS and (harsh world) phone numbers already handed out.
#[derive(Default)]
struct Registry {
    harsh: bool,
    brands: HashSet<String>,
    domains: HashSet<String>,
    duns: HashSet<String>,
    phones: HashSet<(usize, String)>,
}

impl Registry {
    fn fresh_duns(&mut self, rng: &mut Rng) -> String {
        loop {
            let d = company::duns(rng);
            if self.duns.insert(d.clone()) {
                return d;
            }
        }
    }

    fn company(&mut self, rng: &mut Rng, brand: String, country: usize) -> Company {
        let duns = self.fresh_duns(rng);
        self.brands.insert(names::brand_key(&brand));
        let domains = &self.domains;
        let c = company::build(rng, brand, country, duns, &mut |d| domains.contains(d));
        self.domains.extend(c.domains.iter().cloned());
        c
    }

    fn base_company(&mut self, rng: &mut Rng) -> Company {
        let country = countries::draw(rng);
        // Decided once: retrying a taken surname name with a coined one would thin out the common names.
        let surname = self.harsh && chance(rng, HARSH_SURNAME_SHARE);
        loop {
            let brand = if surname { surnames::brand(rng, country) } else { names::brand(rng, country) };
            if !self.brands.contains(&names::brand_key(&brand)) {
                let mut c = self.company(rng, brand, country);
                c.surname = surname;
                self.locate(rng, &mut c, None);
                return c;
            }
        }
    }

    /// Places a harsh-world company: anywhere in its country, or relative to `near`, the company it shares a
    /// name with. Real namesakes cluster (a common surname is common in one region), yet are separate
    /// businesses: their own postal code (almost always, even in the same city) and their own phone number.
    fn locate(&mut self, rng: &mut Rng, c: &mut Company, near: Option<&Local>) {
        if !self.harsh {
            return;
        }
        let city = match near {
            Some(o) => near_city(rng, c.country, o.city),
            None => rng.random_range(0..GEOGRAPHY[c.country].cities.len()),
        };
        let mut postal = company::postal_in(rng, c.country, city);
        if let Some(o) = near {
            let share = o.city == city && chance(rng, NAMESAKE_SAME_POSTAL);
            // Some cities have a single postal code: give up after a few draws rather than loop.
            for _ in 0..50 {
                if share || postal.code != o.postal.code {
                    break;
                }
                postal = company::postal_in(rng, c.country, city);
            }
        }
        let phone = loop {
            let phone = company::phone_in(rng, c.country, city);
            if self.phones.insert((c.country, phone.national_number())) {
                break phone;
            }
        };
        c.local = Some(Local { city, postal, phone });
    }

    fn decoy(&mut self, rng: &mut Rng, kind: DecoyKind, original: &Company) -> Company {
        let mut decoy = self.look_alike(rng, kind, original);
        decoy.surname = original.surname;
        let near = if kind == DecoyKind::SameNameSameCountry { original.local.as_ref() } else { None };
        self.locate(rng, &mut decoy, near);
        decoy
    }

    fn look_alike(&mut self, rng: &mut Rng, kind: DecoyKind, original: &Company) -> Company {
        match kind {
            DecoyKind::NamesakeOtherCountry => {
                let country = countries::draw_other(rng, original.country);
                self.company(rng, original.brand.clone(), country)
            }
            DecoyKind::SameNameSameCountry => self.company(rng, original.brand.clone(), original.country),
            DecoyKind::SimilarName => {
                let country = if chance(rng, 0.5) { original.country } else { countries::draw(rng) };
                for _ in 0..50 {
                    if let Some(brand) = names::similar(rng, &original.brand)
                        && !self.brands.contains(&names::brand_key(&brand))
                    {
                        return self.company(rng, brand, country);
                    }
                }
                // Every near name is somebody's already: a suffixed one is still a look-alike.
                let mut n = 2;
                loop {
                    let brand = format!("{} {n}", original.brand);
                    if !self.brands.contains(&names::brand_key(&brand)) {
                        return self.company(rng, brand, country);
                    }
                    n += 1;
                }
            }
        }
    }
}

/// A city for a namesake of a company in `city`: the same one, another of its region, or one elsewhere in the
/// country, falling back to what exists where a region has one city or the country one region.
fn near_city(rng: &mut Rng, country: usize, city: usize) -> usize {
    let cities = GEOGRAPHY[country].cities;
    let region = cities[city].region;
    let roll: f64 = rng.random();
    if roll < NAMESAKE_SAME_CITY {
        return city;
    }
    let same: Vec<usize> = (0..cities.len()).filter(|&i| i != city && cities[i].region == region).collect();
    let elsewhere: Vec<usize> = (0..cities.len()).filter(|&i| cities[i].region != region).collect();
    let first = if roll < NAMESAKE_SAME_REGION { &same } else { &elsewhere };
    let second = if roll < NAMESAKE_SAME_REGION { &elsewhere } else { &same };
    if !first.is_empty() {
        *pick(rng, first)
    } else if roll < NAMESAKE_SAME_REGION || second.is_empty() {
        city
    } else {
        *pick(rng, second)
    }
}

/// An original for a decoy of `kind` from `pool`, never reused: the harsh world's same-name-same-country
/// decoys imitate surname-named companies where any are left, as common names are what real namesakes share.
fn take_original(pool: &mut Vec<usize>, companies: &[Company], kind: DecoyKind, harsh: bool) -> Option<usize> {
    if harsh
        && kind == DecoyKind::SameNameSameCountry
        && let Some(at) = pool.iter().rposition(|&c| companies[c].surname)
    {
        return Some(pool.swap_remove(at));
    }
    pool.pop()
}

/// The world behind a corpus with `per_side` companies on each side, `overlap` of them on both.
pub(crate) fn build(seed: u64, per_side: usize, overlap: f64, kind: WorldKind) -> World {
    let harsh = kind == WorldKind::Harsh;
    let mut rng = rng_for(seed, Stream::World, 0);
    let plan = plan(&mut rng, per_side, overlap, if harsh { HARSH_SAME_NAME_RATE } else { SAME_NAME_RATE });
    let mut registry = Registry { harsh, ..Registry::default() };
    let base = plan.shared + plan.salesforce_only + plan.hubspot_only;
    let mut companies: Vec<Company> = (0..base).map(|_| registry.base_company(&mut rng)).collect();

    // Brands were drawn in order, so the side assignment is shuffled separately.
    let mut order: Vec<usize> = (0..base).collect();
    order.shuffle(&mut rng_for(seed, Stream::Sides, 0));
    let (shared, rest) = order.split_at(plan.shared);
    let (salesforce_only, hubspot_only) = rest.split_at(plan.salesforce_only);
    let mut salesforce: Vec<usize> = shared.iter().chain(salesforce_only).copied().collect();
    let mut hubspot: Vec<usize> = shared.iter().chain(hubspot_only).copied().collect();

    // A decoy goes opposite its original so a matcher meets it; originals listed on both sides serve both.
    let mut for_salesforce: Vec<usize> = hubspot_only.iter().chain(shared).copied().collect();
    let mut for_hubspot: Vec<usize> = salesforce_only.iter().chain(shared).copied().collect();
    for_salesforce.shuffle(&mut rng);
    for_hubspot.shuffle(&mut rng);
    let mut decoys = Vec::new();
    let sides = [(&plan.decoys_salesforce, &mut for_salesforce, true), (&plan.decoys_hubspot, &mut for_hubspot, false)];
    for (kinds, pool, on_salesforce) in sides {
        for &kind in kinds.iter() {
            let at = companies.len();
            let company = match take_original(pool, &companies, kind, harsh) {
                Some(original) => {
                    let decoy = registry.decoy(&mut rng, kind, &companies[original]);
                    decoys.push(Decoy { kind, original, decoy: at });
                    decoy
                }
                // Tiny corpora can run out of originals; the side still gets its company count.
                None => registry.base_company(&mut rng),
            };
            companies.push(company);
            if on_salesforce { salesforce.push(at) } else { hubspot.push(at) }
        }
    }
    World { companies, salesforce, hubspot, decoys }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_have_the_planned_sizes_and_overlap() {
        let w = build(7, 5000, 0.3, WorldKind::Default);
        assert_eq!(w.salesforce.len(), 5000);
        assert_eq!(w.hubspot.len(), 5000);
        let left: HashSet<usize> = w.salesforce.iter().copied().collect();
        let shared = w.hubspot.iter().filter(|c| left.contains(c)).count();
        assert_eq!(shared, 1500);
    }

    #[test]
    fn decoys_look_alike_but_are_distinct_and_sit_opposite() {
        let w = build(11, 4000, 0.3, WorldKind::Default);
        let left: HashSet<usize> = w.salesforce.iter().copied().collect();
        let right: HashSet<usize> = w.hubspot.iter().copied().collect();
        let mut domains = HashSet::new();
        for c in &w.companies {
            for d in &c.domains {
                assert!(domains.insert(d.clone()), "domain {d} used twice");
            }
        }
        assert!(!w.decoys.is_empty());
        for d in &w.decoys {
            let (o, x) = (&w.companies[d.original], &w.companies[d.decoy]);
            assert_ne!(o.duns, x.duns);
            match d.kind {
                DecoyKind::NamesakeOtherCountry => assert!(o.brand == x.brand && o.country != x.country),
                DecoyKind::SameNameSameCountry => assert!(o.brand == x.brand && o.country == x.country),
                DecoyKind::SimilarName => assert_ne!(names::brand_key(&o.brand), names::brand_key(&x.brand)),
            }
            let opposite = (left.contains(&d.decoy) && right.contains(&d.original))
                || (right.contains(&d.decoy) && left.contains(&d.original));
            assert!(opposite, "decoy {} not opposite its original", x.brand);
            assert!(!(left.contains(&d.decoy) && right.contains(&d.decoy)), "a decoy is listed on both sides");
        }
    }

    #[test]
    fn harsh_namesakes_are_separate_companies_near_each_other() {
        let w = build(3, 12_000, 0.3, WorldKind::Harsh);
        let namesakes: Vec<&Decoy> = w.decoys.iter().filter(|d| d.kind == DecoyKind::SameNameSameCountry).collect();
        let base = (w.companies.len() - w.decoys.len()) as f64;
        let rate = namesakes.len() as f64 / base;
        assert!((rate - HARSH_SAME_NAME_RATE).abs() < 0.003, "{rate}");
        let (mut same_region, mut same_city, mut same_postal) = (0, 0, 0);
        for d in &namesakes {
            let (o, x) = (&w.companies[d.original], &w.companies[d.decoy]);
            assert!(o.brand == x.brand && o.country == x.country && o.surname && x.surname, "{}", o.brand);
            assert_ne!(o.duns, x.duns);
            assert!(o.domains.iter().all(|d| !x.domains.contains(d)), "{} shares a domain", o.brand);
            let (a, b) = (o.local.as_ref().unwrap(), x.local.as_ref().unwrap());
            assert_ne!(a.phone, b.phone, "{} shares a phone", o.brand);
            let cities = GEOGRAPHY[o.country].cities;
            same_region += usize::from(cities[a.city].region == cities[b.city].region);
            same_city += usize::from(a.city == b.city);
            if a.postal.code == b.postal.code {
                same_postal += 1;
                assert_eq!(a.city, b.city, "{}: namesakes in two cities share a postal code", o.brand);
            }
        }
        let share = |n: usize| n as f64 / namesakes.len() as f64;
        assert!((share(same_region) - 0.5).abs() < 0.07, "same region {}", share(same_region));
        assert!((share(same_city) - 0.2).abs() < 0.06, "same city {}", share(same_city));
        assert!(share(same_postal) < 0.03, "same postal code {}", share(same_postal));
        let surname = w.companies.iter().filter(|c| c.surname).count() as f64 / w.companies.len() as f64;
        assert!((0.33..0.43).contains(&surname), "{surname}");
        let mut phones = HashSet::new();
        assert!(
            w.companies.iter().all(|c| phones.insert((c.country, c.local.as_ref().unwrap().phone.national_number())))
        );
    }

    #[test]
    fn default_world_has_no_harsh_places_or_surnames() {
        let w = build(3, 2000, 0.3, WorldKind::Default);
        assert!(w.companies.iter().all(|c| c.local.is_none() && !c.surname));
    }

    #[test]
    fn tiny_and_degenerate_sizes_work() {
        for kind in [WorldKind::Default, WorldKind::Harsh] {
            for (n, overlap) in [(0, 0.3), (1, 0.3), (3, 1.0), (10, 0.0), (10, 1.0), (10, 2.0)] {
                let w = build(1, n, overlap, kind);
                assert_eq!(w.salesforce.len(), n);
                assert_eq!(w.hubspot.len(), n);
            }
        }
    }
}
