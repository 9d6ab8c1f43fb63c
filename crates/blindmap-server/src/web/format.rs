//! How the pages write numbers and values: thousands separators, query values, CSV cells.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// `n` with thousands separators.
pub(super) fn thousands(n: u64) -> String {
    crate::service::thousands(u128::from(n))
}

/// What a query value keeps as it is (RFC 3986's unreserved characters); everything else is
/// percent-encoded.
const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// Percent-encodes a query value.
pub(super) fn pct(text: &str) -> String {
    utf8_percent_encode(text, QUERY_VALUE).to_string()
}

/// An account as people read it: "name (id)" where `names` has its name, else its id.
pub(super) fn named(id: &str, names: &std::collections::BTreeMap<String, String>) -> String {
    match names.get(id) {
        Some(name) => format!("{name} ({id})"),
        None => id.to_owned(),
    }
}

/// A cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, CR) gets a leading
/// apostrophe: partner-supplied text never executes in the rep's spreadsheet.
pub(super) fn csv_safe(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        std::borrow::Cow::Owned(format!("'{cell}"))
    } else {
        std::borrow::Cow::Borrowed(cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_paths_and_csv_cells() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(1234567), "1,234,567");
        assert_eq!(pct("open opps/é"), "open%20opps%2F%C3%A9");
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("Acme"), "Acme");
    }
}
