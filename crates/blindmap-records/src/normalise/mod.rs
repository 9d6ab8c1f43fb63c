//! Normalisation of CRM values into canonical key material (`protocol-spec/keys.md`).
//!
//! Each function takes one raw value and returns the canonical form, or why the value cannot
//! be a key. Two exports of the same company should produce equal forms; two different companies
//! should not — and where that cannot be told apart, no key is made at all, because a false match
//! costs more than a missed one.

mod city;
mod country;
mod domain;
mod duns;
mod lists;
mod name;
mod phone;
mod postal;

use std::fmt;

pub use city::city;
pub use country::country;
pub use domain::domain;
pub use duns::duns;
pub use name::{company_name, is_common_name};
pub use phone::phone;
pub use postal::postal_code;

/// Why a value did not become a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum DropReason {
    /// Not a host name or URL.
    NotADomain,
    /// An IP address or a single label such as `localhost`.
    NotAPublicHost,
    /// A public suffix itself (`co.uk`), or a suffix no registry knows.
    UnknownSuffix,
    /// A free-mail or ISP domain: shared by unrelated people.
    FreeMail,
    /// A social network or site builder: shared by unrelated companies.
    SharedPlatform,
    /// A placeholder such as `example.com` or `noemail.com`.
    Placeholder,
    /// DUNS with other than nine digits.
    DunsLength,
    /// DUNS with letters or other symbols.
    DunsNotDigits,
    /// DUNS made of one repeated digit, e.g. `000000000`.
    DunsPlaceholder,
    /// A name with nothing left once legal forms and punctuation go.
    NameEmpty,
    /// A name longer than any company's (more than 500 bytes once normalised).
    NameTooLong,
    /// A name is never a key on its own: the country is missing.
    NameWithoutCountry,
    /// A country value that names no ISO 3166-1 country.
    UnknownCountry,
    /// More keys than one record may carry.
    TooManyKeys,
    /// A postal code of the wrong form for its country, or a placeholder.
    PostalCodeInvalid,
    /// Not a dialable telephone number (libphonenumber's rules), or national without a country.
    PhoneInvalid,
    /// A placeholder telephone number such as `+1 555 555 5555` or `1234567`.
    PhonePlaceholder,
}

impl DropReason {
    /// Every reason, in report order.
    pub const ALL: [Self; 17] = [
        Self::NotADomain,
        Self::NotAPublicHost,
        Self::UnknownSuffix,
        Self::FreeMail,
        Self::SharedPlatform,
        Self::Placeholder,
        Self::DunsLength,
        Self::DunsNotDigits,
        Self::DunsPlaceholder,
        Self::NameEmpty,
        Self::NameTooLong,
        Self::NameWithoutCountry,
        Self::UnknownCountry,
        Self::TooManyKeys,
        Self::PostalCodeInvalid,
        Self::PhoneInvalid,
        Self::PhonePlaceholder,
    ];

    /// A short identifier for reports and JSON.
    pub fn code(self) -> &'static str {
        match self {
            Self::NotADomain => "not_a_domain",
            Self::NotAPublicHost => "not_a_public_host",
            Self::UnknownSuffix => "unknown_suffix",
            Self::FreeMail => "free_mail_domain",
            Self::SharedPlatform => "shared_platform_domain",
            Self::Placeholder => "placeholder_domain",
            Self::DunsLength => "duns_not_nine_digits",
            Self::DunsNotDigits => "duns_not_digits",
            Self::DunsPlaceholder => "duns_placeholder",
            Self::NameEmpty => "name_empty_after_normalisation",
            Self::NameTooLong => "name_too_long",
            Self::NameWithoutCountry => "name_without_country",
            Self::UnknownCountry => "unknown_country",
            Self::TooManyKeys => "too_many_keys",
            Self::PostalCodeInvalid => "postal_code_invalid",
            Self::PhoneInvalid => "phone_invalid",
            Self::PhonePlaceholder => "phone_placeholder",
        }
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotADomain => "not a domain or URL",
            Self::NotAPublicHost => "an IP address or local host name",
            Self::UnknownSuffix => "no registrable domain under a known public suffix",
            Self::FreeMail => "a free-mail or ISP domain (shared by unrelated people)",
            Self::SharedPlatform => "a shared platform (social network, site builder)",
            Self::Placeholder => "a placeholder (example.com, noemail.com, …), not a company's domain",
            Self::DunsLength => "a DUNS number has nine digits (leading zeros lost? format the column as text)",
            Self::DunsNotDigits => "a DUNS number has digits and dashes only",
            Self::DunsPlaceholder => "a placeholder, not a DUNS number",
            Self::NameEmpty => "nothing left once legal forms and punctuation are removed",
            Self::NameTooLong => "longer than any company name (500 bytes)",
            Self::NameWithoutCountry => "a name is only a key with a country, and the country is missing",
            Self::UnknownCountry => "not an ISO 3166-1 country name or code",
            Self::TooManyKeys => "more keys than one account may carry",
            Self::PostalCodeInvalid => "not a postal code of the account's country",
            Self::PhoneInvalid => "not a dialable phone number (a national number needs the account's country)",
            Self::PhonePlaceholder => "a placeholder, not a phone number",
        })
    }
}

#[cfg(test)]
mod reason_tests {
    use super::DropReason;

    /// The codes are what reports and the API's import summaries carry: fixed, one per reason.
    #[test]
    fn every_reason_has_its_code_and_a_sentence() {
        let codes: Vec<&str> = DropReason::ALL.iter().map(|r| r.code()).collect();
        assert_eq!(
            codes,
            [
                "not_a_domain",
                "not_a_public_host",
                "unknown_suffix",
                "free_mail_domain",
                "shared_platform_domain",
                "placeholder_domain",
                "duns_not_nine_digits",
                "duns_not_digits",
                "duns_placeholder",
                "name_empty_after_normalisation",
                "name_too_long",
                "name_without_country",
                "unknown_country",
                "too_many_keys",
                "postal_code_invalid",
                "phone_invalid",
                "phone_placeholder",
            ]
        );
        let sentences: std::collections::BTreeSet<String> = DropReason::ALL.iter().map(ToString::to_string).collect();
        assert_eq!(sentences.len(), DropReason::ALL.len(), "one sentence per reason");
        assert!(sentences.iter().all(|s| s.len() > 10 && !s.contains('_')), "{sentences:?}");
        assert_eq!(DropReason::FreeMail.to_string(), "a free-mail or ISP domain (shared by unrelated people)");
    }
}
