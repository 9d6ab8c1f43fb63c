//! A corpus: the world written out as two exports, with the truth about which rows are the same company.

use std::collections::HashMap;

use crate::export::{self, Columns, RowCtx};
use crate::names::brand_key;
use crate::places::GEOGRAPHY;
use crate::util::{Rng, Stream, pick, rng_for};
use crate::world::{self, World};
use crate::{Corpus, DecoyCounts, DecoyKind, Gaps, NoiseCounts, Settings, Stats};
use rand::seq::SliceRandom;

/// Each listed company's row ids on one side.
type Ids = HashMap<usize, Vec<String>>;

/// Every pair of a row of company `a` on the Salesforce side with a row of company `b` on the HubSpot side.
fn cross(left: &Ids, right: &Ids, a: usize, b: usize) -> Vec<(String, String)> {
    let (Some(xs), Some(ys)) = (left.get(&a), right.get(&b)) else { return Vec::new() };
    xs.iter().flat_map(|x| ys.iter().map(move |y| (x.clone(), y.clone()))).collect()
}

/// The rows of one side in file order: (company, is a division record).
fn rows(rng: &mut Rng, listed: &[usize], duplicates: usize) -> Vec<(usize, bool)> {
    let mut rows: Vec<(usize, bool)> = listed.iter().map(|&c| (c, false)).collect();
    if !listed.is_empty() {
        rows.extend((0..duplicates).map(|_| (*pick(rng, listed), true)));
    }
    // Exports come sorted by whatever the user clicked, never grouped by company.
    rows.shuffle(rng);
    rows
}

/// The corpus `settings` describe.
pub(crate) fn generate(settings: &Settings) -> Corpus {
    let n = settings.rows_per_side;
    let noise = &settings.noise;
    let seed = settings.seed;
    let duplicates = ((n as f64 * noise.duplicate_rows.clamp(0.0, 1.0)).round() as usize).min(n / 2);
    let world = world::build(seed, n - duplicates, settings.overlap, settings.world);
    let columns = Columns::of(settings);
    let mut counts = NoiseCounts::default();
    let (mut salesforce_gaps, mut hubspot_gaps) = (Gaps::default(), Gaps::default());

    let mut rng = rng_for(seed, Stream::SalesforceRows, 0);
    let left = rows(&mut rng, &world.salesforce, duplicates);
    let mut salesforce_csv = String::with_capacity(n * 420);
    export::salesforce_start(&mut salesforce_csv, columns);
    let mut ids_of: Ids = HashMap::new();
    for (index, &(c, division)) in left.iter().enumerate() {
        let id = export::salesforce_row_id(seed, index as u64);
        let row = RowCtx { id: &id, division, columns };
        let company = &world.companies[c];
        export::salesforce_row(&mut salesforce_csv, &mut rng, company, &row, noise, &mut counts, &mut salesforce_gaps);
        ids_of.entry(c).or_default().push(id);
    }

    let mut rng = rng_for(seed, Stream::HubspotRows, 0);
    let right = rows(&mut rng, &world.hubspot, duplicates);
    let mut hubspot_csv = String::with_capacity(n * 220);
    export::hubspot_start(&mut hubspot_csv, columns);
    let mut record_ids_of: Ids = HashMap::new();
    for (index, &(c, division)) in right.iter().enumerate() {
        let id = export::hubspot_row_id(seed, index as u64);
        let row = RowCtx { id: &id, division, columns };
        let company = &world.companies[c];
        export::hubspot_row(&mut hubspot_csv, &mut rng, company, &row, noise, &mut counts, &mut hubspot_gaps);
        record_ids_of.entry(c).or_default().push(id);
    }
    counts.duplicate_rows = left.iter().chain(&right).filter(|r| r.1).count();

    let pairs = |a: usize, b: usize| cross(&ids_of, &record_ids_of, a, b);
    let mut truth: Vec<(String, String)> = world.salesforce.iter().flat_map(|&c| pairs(c, c)).collect();
    truth.sort_unstable();
    let mut decoy_pairs: Vec<(String, String, DecoyKind)> = world
        .decoys
        .iter()
        .flat_map(|d| {
            pairs(d.decoy, d.original).into_iter().chain(pairs(d.original, d.decoy)).map(|(a, b)| (a, b, d.kind))
        })
        .collect();
    decoy_pairs.sort_unstable();

    let rows = (left.len(), right.len());
    let stats = stats(&world, rows, truth.len(), counts, (salesforce_gaps, hubspot_gaps));
    Corpus { salesforce_csv, hubspot_csv, truth, decoy_pairs, stats }
}

/// Companies that share their name (as brands collide) and country with at least one other company.
fn namesake_companies(world: &World) -> usize {
    let mut by_name: HashMap<(String, usize), usize> = HashMap::new();
    for c in &world.companies {
        *by_name.entry((brand_key(&c.brand), c.country)).or_default() += 1;
    }
    by_name.values().filter(|&&n| n > 1).sum()
}

/// Same-name-same-country decoys in the same region, and in the same city, as the company they share a name
/// with; zero in the default world, whose companies have no place in the harsh world's geography.
fn regional_namesakes(world: &World) -> (usize, usize) {
    let (mut region, mut city) = (0, 0);
    for d in world.decoys.iter().filter(|d| d.kind == DecoyKind::SameNameSameCountry) {
        let (o, x) = (&world.companies[d.original], &world.companies[d.decoy]);
        if let (Some(a), Some(b)) = (&o.local, &x.local) {
            let cities = GEOGRAPHY[o.country].cities;
            region += usize::from(cities[a.city].region == cities[b.city].region);
            city += usize::from(a.city == b.city);
        }
    }
    (region, city)
}

/// What the corpus holds: `rows` and `gaps` are the Salesforce side's, then the HubSpot side's.
fn stats(world: &World, rows: (usize, usize), true_pairs: usize, noise: NoiseCounts, gaps: (Gaps, Gaps)) -> Stats {
    let (namesakes_same_region, namesakes_same_city) = regional_namesakes(world);
    let on_left: std::collections::HashSet<usize> = world.salesforce.iter().copied().collect();
    let count = |f: &dyn Fn(&crate::company::Company) -> bool| world.companies.iter().filter(|c| f(c)).count();
    let decoys = |kind: DecoyKind| world.decoys.iter().filter(|d| d.kind == kind).count();
    Stats {
        companies: world.companies.len(),
        salesforce_companies: world.salesforce.len(),
        hubspot_companies: world.hubspot.len(),
        shared_companies: world.hubspot.iter().filter(|c| on_left.contains(c)).count(),
        salesforce_rows: rows.0,
        hubspot_rows: rows.1,
        true_pairs,
        decoys: DecoyCounts {
            namesake_other_country: decoys(DecoyKind::NamesakeOtherCountry),
            similar_name: decoys(DecoyKind::SimilarName),
            same_name_same_country: decoys(DecoyKind::SameNameSameCountry),
        },
        multi_domain_companies: count(&|c| c.domains.len() > 1),
        accented_name_companies: count(&|c| !c.brand.is_ascii()),
        ampersand_name_companies: count(&|c| c.brand.contains('&')),
        one_word_name_companies: count(&|c| !c.brand.contains(' ')),
        idn_companies: count(&|c| c.idn),
        leading_zero_duns_companies: count(&|c| c.duns.starts_with('0')),
        namesake_companies: namesake_companies(world),
        namesakes_same_region,
        namesakes_same_city,
        surname_name_companies: count(&|c| c.surname),
        salesforce_gaps: gaps.0,
        hubspot_gaps: gaps.1,
        noise,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Noise;

    #[test]
    fn truth_pairs_only_rows_of_one_company() {
        let settings = Settings { rows_per_side: 1500, seed: 3, ..Settings::default() };
        let corpus = generate(&settings);
        let world = world::build(3, 1500 - 30, 0.3, crate::WorldKind::Default);
        // Each shared company contributes rows-left x rows-right pairs; decoys contribute none.
        assert!(corpus.truth.len() >= corpus.stats.shared_companies);
        assert!(corpus.truth.len() <= corpus.stats.shared_companies + 2 * 30);
        assert_eq!(corpus.stats.shared_companies, 441);
        assert_eq!(world.companies.len(), corpus.stats.companies);
    }

    #[test]
    fn clean_corpus_has_one_pair_per_shared_company() {
        let settings = Settings { rows_per_side: 500, noise: Noise::none(), ..Settings::default() };
        let corpus = generate(&settings);
        assert_eq!(corpus.truth.len(), 150);
        // IDN rows are counted whichever form they show; with no noise it is always Unicode.
        let idn_unicode = corpus.stats.noise.idn_unicode;
        assert_eq!(corpus.stats.noise, NoiseCounts { idn_unicode, ..NoiseCounts::default() });
    }
}
