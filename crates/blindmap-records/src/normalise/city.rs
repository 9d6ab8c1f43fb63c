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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_and_overlong_values_are_no_city() {
        for raw in ["", "N/A", "n.a.", "NA", "none", "Unknown", "TBD", "null", "Other", "-", ", Bavaria"] {
            assert_eq!(city(raw, Some("DE")), None, "{raw:?}");
        }
        // The limit is on the folded value, and exact.
        let longest = "a".repeat(MAX_CITY_LEN);
        assert_eq!(city(&longest, None), Some(longest.clone()));
        assert_eq!(city(&format!("{longest}a"), None), None);
        assert_eq!(city(&format!("{longest}, Somewhere"), None), Some(longest));
    }

    #[test]
    fn the_part_before_a_comma_is_folded_and_named_canonically_in_its_country() {
        assert_eq!(city("San Francisco, CA", Some("US")).as_deref(), Some("san francisco"));
        assert_eq!(city("München", Some("DE")).as_deref(), Some("munich"));
        assert_eq!(city("MÜNCHEN, Bayern", Some("DE")).as_deref(), Some("munich"));
        // Another country's name for a city is only folded.
        assert_eq!(city("München", Some("FR")), city("munchen", None));
        assert_ne!(city("München", Some("FR")).as_deref(), Some("munich"));
    }
}
