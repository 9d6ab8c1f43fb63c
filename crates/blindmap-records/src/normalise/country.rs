//! Countries, as ISO 3166-1 alpha-2 codes.

use super::DropReason;
use super::lists::countries;
use crate::text::fold;

/// The ISO 3166-1 alpha-2 code of a country name, alpha-2 or alpha-3 code, in any case, with or
/// without accents and dots (`USA`, `U.S.`, `United States of America`, `Deutschland`, `de`).
/// Names shared by two countries (plain `Congo`, `Korea`) are refused rather than guessed.
pub fn country(raw: &str) -> Result<&'static str, DropReason> {
    let folded = fold(raw);
    countries().get(&folded).copied().ok_or(DropReason::UnknownCountry)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_codes_map_to_alpha_2() {
        for (raw, want) in [
            ("United States", "US"),
            ("USA", "US"),
            ("U.S.", "US"),
            ("united states of america", "US"),
            ("Deutschland", "DE"),
            ("DEU", "DE"),
            ("de", "DE"),
            ("UK", "GB"),
            ("Great Britain", "GB"),
            ("Côte d’Ivoire", "CI"),
            ("Cote d'Ivoire", "CI"),
            ("Schweiz", "CH"),
            ("GER", "DE"),
        ] {
            assert_eq!(country(raw), Ok(want), "{raw}");
        }
        for raw in ["Congo", "Korea", "Atlantis", ""] {
            assert_eq!(country(raw), Err(DropReason::UnknownCountry), "{raw}");
        }
    }
}
