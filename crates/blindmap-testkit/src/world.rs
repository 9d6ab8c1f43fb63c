//! The world: distinct companies, which CRM lists each one, and the look-alike decoys among them.

use std::collections::HashSet;

use crate::DecoyKind;
use crate::company::{self, Company};
use crate::countries;
use crate::names;
use crate::util::{Rng, Stream, chance, rng_for};
use rand::seq::SliceRandom;

/// Share of companies with a namesake in another country.
pub(crate) const NAMESAKE_RATE: f64 = 0.06;
/// Share of companies with a similarly named other company.
pub(crate) const SIMILAR_RATE: f64 = 0.06;
/// Share of companies sharing their name with another company of the same country.
pub(crate) const SAME_NAME_RATE: f64 = 0.005;

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

fn plan(rng: &mut Rng, per_side: usize, overlap: f64) -> Plan {
    let k = per_side as f64;
    let shared = (overlap.clamp(0.0, 1.0) * k).round() as usize;
    // Each side holds its own companies and the decoys of the other side's: solve
    // k = shared + only + decoys/2 with decoys = rate * (shared + 2 * only).
    let rate = NAMESAKE_RATE + SIMILAR_RATE + SAME_NAME_RATE;
    let only = ((k - shared as f64 * (1.0 + rate / 2.0)) / (1.0 + rate)).max(0.0);
    let base = shared as f64 + 2.0 * only;
    let mut kinds: Vec<DecoyKind> = [
        (DecoyKind::NamesakeOtherCountry, NAMESAKE_RATE),
        (DecoyKind::SimilarName, SIMILAR_RATE),
        (DecoyKind::SameNameSameCountry, SAME_NAME_RATE),
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

/// What keeps companies apart: brand keys, domains and DUNS already handed out.
#[derive(Default)]
struct Registry {
    brands: HashSet<String>,
    domains: HashSet<String>,
    duns: HashSet<String>,
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
        loop {
            let brand = names::brand(rng, country);
            if !self.brands.contains(&names::brand_key(&brand)) {
                return self.company(rng, brand, country);
            }
        }
    }

    fn decoy(&mut self, rng: &mut Rng, kind: DecoyKind, original: &Company) -> Company {
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

/// The world behind a corpus with `per_side` companies on each side, `overlap` of them on both.
pub(crate) fn build(seed: u64, per_side: usize, overlap: f64) -> World {
    let mut rng = rng_for(seed, Stream::World, 0);
    let plan = plan(&mut rng, per_side, overlap);
    let mut registry = Registry::default();
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
            let company = match pool.pop() {
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
        let w = build(7, 5000, 0.3);
        assert_eq!(w.salesforce.len(), 5000);
        assert_eq!(w.hubspot.len(), 5000);
        let left: HashSet<usize> = w.salesforce.iter().copied().collect();
        let shared = w.hubspot.iter().filter(|c| left.contains(c)).count();
        assert_eq!(shared, 1500);
    }

    #[test]
    fn decoys_look_alike_but_are_distinct_and_sit_opposite() {
        let w = build(11, 4000, 0.3);
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
    fn tiny_and_degenerate_sizes_work() {
        for (n, overlap) in [(0, 0.3), (1, 0.3), (3, 1.0), (10, 0.0), (10, 1.0), (10, 2.0)] {
            let w = build(1, n, overlap);
            assert_eq!(w.salesforce.len(), n);
            assert_eq!(w.hubspot.len(), n);
        }
    }
}
