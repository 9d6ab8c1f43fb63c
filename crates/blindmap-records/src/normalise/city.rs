//! Cities, as name keys compare them (protocol-spec/keys.md §3.2).

use super::lists::city_names;
use crate::text::fold;

/// Longest city kept, in bytes once folded; a longer value is not a city.
const MAX_CITY_LEN: usize = 100;

/// A city as name keys compare it: folded, without what follows a comma (`San Francisco, CA`),
/// another name of the city replaced by its canonical one within the account's country
/// (`München` → `munich` in Germany, from `data/city_names.tsv`), and unknown (`None`) when a
/// placeholder (`N/A`, `unknown`, `-`) or implausibly long.
pub fn city(raw: &str, country: Option<&str>) -> Option<String> {
    let folded = fold(raw.split(',').next().unwrap_or_default());
    let placeholder = matches!(folded.as_str(), "" | "n a" | "na" | "none" | "unknown" | "tbd" | "null" | "other");
    if placeholder || folded.len() > MAX_CITY_LEN {
        return None;
    }
    match country.and_then(|cc| city_names().get(cc)?.get(&folded)) {
        Some(canonical) => Some(canonical.clone()),
        None => Some(folded),
    }
}
