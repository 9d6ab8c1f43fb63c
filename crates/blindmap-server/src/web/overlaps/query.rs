//! What a list's address says — its filters, order and page — and the columns it shows: the
//! same for one partner's list and the list across partners, on the page and in the CSV.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use blindmap_store::{PartnershipId, ReportCursor, ReportFilter, ReportSort, ReportStart, Run, Tier, is_field_name};
use serde::Deserialize;

use super::super::format::pct;

/// The list's filters as the page's query has them.
#[derive(Deserialize, Default, Clone)]
pub(crate) struct ListQuery {
    #[serde(default)]
    pub(in crate::web) own: String,
    #[serde(default)]
    pub(in crate::web) partner: String,
    #[serde(default)]
    pub(in crate::web) owner: String,
    #[serde(default)]
    pub(in crate::web) q: String,
    /// `1`: new since the previous match; `lost`: accounts that overlapped in the previous match
    /// and no longer do (one partner's list only).
    #[serde(default)]
    pub(in crate::web) new: String,
    /// The partnership (`pt_…`), in the list across partners.
    #[serde(default)]
    pub(in crate::web) partnership: String,
    #[serde(default)]
    pub(in crate::web) sort: String,
    #[serde(default)]
    pub(in crate::web) desc: String,
    /// `confirmed` (the default), `possible` or `all`.
    #[serde(default)]
    pub(in crate::web) tier: String,
    /// Read by `page_number`: a page that is not a number gets a clear page, not a bare 400.
    #[serde(default)]
    pub(in crate::web) page: String,
    /// The correction just made from this list (`mc_…`), to say what was hidden and where to undo it.
    #[serde(default)]
    pub(in crate::web) corrected: String,
    /// The page starts just after this row of a list by name ([`encode_cursor`]): what "Next
    /// page" links to, so that it reads from there whatever its depth. `page` still numbers it.
    #[serde(default)]
    pub(in crate::web) after: String,
    /// The page ends just before this row: what "Previous page" links to.
    #[serde(default)]
    pub(in crate::web) before: String,
    /// Everything else: the filters on the partner's fields, `f_NAME=text` (see `field_filters`).
    #[serde(flatten)]
    pub(in crate::web) rest: BTreeMap<String, String>,
}

/// The query parameter of a filter on the partner's field `name`.
pub(in crate::web) const FIELD_PARAM: &str = "f_";

/// The filters as the template shows them.
pub(in crate::web) struct FilterView {
    pub(in crate::web) own: String,
    pub(in crate::web) partner: String,
    pub(in crate::web) owner: String,
    pub(in crate::web) q: String,
    /// `""`, `"1"` (new) or `"lost"`.
    pub(in crate::web) changed: String,
    pub(in crate::web) partnership: String,
    pub(in crate::web) sort: String,
    pub(in crate::web) desc: bool,
    pub(in crate::web) tier: &'static str,
}

/// A filter on one of the partner's shared fields, as the form shows it.
pub(in crate::web) struct FieldFilter {
    /// The query parameter and the input's id (`f_owner`).
    pub(in crate::web) param: String,
    /// The label (`Their owner`).
    pub(in crate::web) label: String,
    pub(in crate::web) value: String,
}

impl ListQuery {
    /// The tier the list shows: confirmed unless the query asks for possible or all.
    pub(in crate::web) fn tier(&self) -> Option<Tier> {
        match self.tier.as_str() {
            "all" => None,
            other => Some(Tier::parse(other).unwrap_or(Tier::Confirmed)),
        }
    }

    pub(in crate::web) fn tier_name(&self) -> &'static str {
        self.tier().map_or("all", Tier::as_str)
    }

    pub(in crate::web) fn sort(&self) -> ReportSort {
        ReportSort::parse(&self.sort).unwrap_or_default()
    }

    /// Where the page starts, as its address says: after or before a row, else `offset` rows
    /// in. A cursor that does not read as one is left aside.
    pub(in crate::web) fn start(&self, offset: u64) -> ReportStart {
        match (decode_cursor(&self.after), decode_cursor(&self.before)) {
            (Some(after), _) => ReportStart::After(after),
            (None, Some(before)) => ReportStart::Before(before),
            (None, None) => ReportStart::Offset(offset),
        }
    }

    /// Whether the list is of the accounts lost since the previous match.
    pub(in crate::web) fn lost(&self) -> bool {
        self.new == "lost"
    }

    /// The filters on the partner's fields: every `f_NAME` with a field's name and a value.
    pub(in crate::web) fn field_filters(&self) -> Vec<(String, String)> {
        self.rest
            .iter()
            .filter_map(|(k, v)| Some((k.strip_prefix(FIELD_PARAM)?.to_owned(), v.trim().to_owned())))
            .filter(|(k, v)| is_field_name(k) && !v.is_empty())
            .collect()
    }

    pub(in crate::web) fn filter(&self, previous: Option<&Run>) -> ReportFilter {
        let set = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        ReportFilter {
            own_segment: set(&self.own),
            partner_segment: set(&self.partner),
            owner: set(&self.owner),
            search: set(self.q.trim()),
            partner_fields: self.field_filters(),
            partnership: PartnershipId::parse(&self.partnership),
            previous: previous.map(|r| r.id.clone()),
            new_only: self.new == "1" && previous.is_some(),
            sort: self.sort(),
            descending: self.desc == "1",
            tier: self.tier(),
            ..ReportFilter::default()
        }
    }

    /// The query string of these filters with `sort`, `desc` and `page` as given.
    pub(in crate::web) fn href(&self, base: &str, sort: &ReportSort, desc: bool, page: u64) -> String {
        let mut params: Vec<String> = Vec::new();
        for (name, value) in [
            ("own", &self.own),
            ("partner", &self.partner),
            ("owner", &self.owner),
            ("q", &self.q),
            ("partnership", &self.partnership),
        ] {
            if !value.is_empty() {
                params.push(format!("{name}={}", pct(value)));
            }
        }
        for (field, value) in self.field_filters() {
            params.push(format!("{FIELD_PARAM}{field}={}", pct(&value)));
        }
        if self.new == "1" || self.lost() {
            params.push(format!("new={}", self.new));
        }
        if self.tier() != Some(Tier::Confirmed) {
            params.push(format!("tier={}", self.tier_name()));
        }
        if *sort != ReportSort::Account {
            params.push(format!("sort={}", pct(&sort.name())));
        }
        if desc {
            params.push("desc=1".to_owned());
        }
        if page > 1 {
            params.push(format!("page={page}"));
        }
        if params.is_empty() { base.to_owned() } else { format!("{base}?{}", params.join("&")) }
    }

    /// [`ListQuery::href`] of page `page` starting just after (`after`) or ending just before a
    /// row.
    pub(in crate::web) fn href_from(
        &self,
        base: &str,
        sort: &ReportSort,
        desc: bool,
        page: u64,
        row: &ReportCursor,
        after: bool,
    ) -> String {
        let plain = self.href(base, sort, desc, page);
        let join = if plain.contains('?') { '&' } else { '?' };
        let side = if after { "after" } else { "before" };
        format!("{plain}{join}{side}={}", encode_cursor(row))
    }
}

/// A row's place in a list as an address carries it: its order keys as a JSON array, in
/// base64url. Not a secret (the page shows the same), only opaque.
pub(in crate::web) fn encode_cursor(cursor: &ReportCursor) -> String {
    let keys = serde_json::json!([
        cursor.name,
        cursor.account_id,
        cursor.partner_segment,
        cursor.partner_record,
        cursor.partnership,
        cursor.own_segment,
        cursor.key
    ]);
    URL_SAFE_NO_PAD.encode(keys.to_string())
}

/// [`encode_cursor`]'s reverse; `None` for anything else (at most 4 KiB).
pub(in crate::web) fn decode_cursor(text: &str) -> Option<ReportCursor> {
    if text.is_empty() || text.len() > 4096 {
        return None;
    }
    let bytes = URL_SAFE_NO_PAD.decode(text.trim()).ok()?;
    type Keys = (String, String, String, i64, String, String, String);
    let (name, account_id, partner_segment, partner_record, partnership, own_segment, key): Keys =
        serde_json::from_slice(&bytes).ok()?;
    Some(ReportCursor { name, account_id, own_segment, partner_segment, partner_record, partnership, key })
}

/// A column of the list: its heading and the order it sorts by, if any.
pub(in crate::web) struct Column {
    pub(in crate::web) label: String,
    pub(in crate::web) sort: Option<ReportSort>,
}

/// The list's columns on the page: the account (with its id), the partner (across partners),
/// the segments and owner, each field the partner shared, then the match and what was done.
pub(in crate::web) fn page_columns(across: bool, fields: &[String]) -> Vec<Column> {
    let column = |label: &str, sort: Option<ReportSort>| Column { label: label.to_owned(), sort };
    let mut columns = vec![column("Account", Some(ReportSort::Account))];
    if across {
        columns.push(column("Partner", Some(ReportSort::Partner)));
    }
    columns.push(column("Your segment", Some(ReportSort::OwnSegment)));
    columns.push(column("Owner", Some(ReportSort::Owner)));
    columns.push(column("Their segment", Some(ReportSort::PartnerSegment)));
    for f in fields {
        columns.push(Column { label: field_label(f), sort: Some(ReportSort::PartnerField(f.clone())) });
    }
    for label in ["Match", "Co-sell", "Registration", "Change"] {
        columns.push(column(label, None));
    }
    columns
}

/// The CSV's columns: the page's, with the account's id, why each pair matched and on what in
/// columns of their own.
pub(in crate::web) fn csv_columns(across: bool, fields: &[String]) -> Vec<String> {
    let mut columns = vec!["Account".to_owned(), "Account ID".to_owned()];
    if across {
        columns.push("Partner".to_owned());
    }
    columns.extend(["Your segment", "Owner", "Their segment"].map(str::to_owned));
    columns.extend(fields.iter().map(|f| field_label(f)));
    columns.extend(["Match", "Why", "Matched on", "Co-sell", "Registration", "Change"].map(str::to_owned));
    columns
}

/// How a shared field's column is headed: `Their owner` for `owner`.
pub(in crate::web) fn field_label(field: &str) -> String {
    format!("Their {}", field.replace('_', " "))
}

#[cfg(test)]
mod tests {
    use blindmap_store::ReportSort;

    use super::ListQuery;

    #[test]
    fn a_list_link_keeps_its_filters() {
        let q = ListQuery { own: "customers".into(), q: "a b".into(), ..ListQuery::default() };
        assert_eq!(q.href("/l", &ReportSort::Owner, true, 2), "/l?own=customers&q=a%20b&sort=owner&desc=1&page=2");
        let mut q = ListQuery { new: "lost".into(), ..ListQuery::default() };
        q.rest.insert("f_owner".into(), "Kim Lee".into());
        q.rest.insert("f_Bad".into(), "x".into());
        q.rest.insert("other".into(), "y".into());
        assert_eq!(q.field_filters(), [("owner".to_owned(), "Kim Lee".to_owned())]);
        let sort = ReportSort::PartnerField("stage".into());
        assert_eq!(q.href("/l", &sort, false, 1), "/l?f_owner=Kim%20Lee&new=lost&sort=field%3Astage");
    }
}
