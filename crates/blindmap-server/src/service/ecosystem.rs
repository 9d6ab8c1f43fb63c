//! The ecosystem: which of your accounts several partners have, in a transparent priority, and
//! for one account which partner to bring into the deal, with the reasons. The API, the pages
//! and (through the API) the command line call these functions.
//!
//! **Priority** (the ecosystem view): `amount × partners`, where `partners` is how many active
//! partnerships have the account in their latest complete match (corrections applied) and
//! `amount` is the account's value of the amount field in the active dataset, read by
//! [`parse_amount`]. Accounts with an amount come first, by priority; accounts without one (no
//! amount field, an empty or unreadable value, or the account not in the active dataset) come
//! after them, their priority the number of partners alone. Ties: more partners first, then by
//! name. The accounts are counted in one SQL aggregation over the latest runs' overlaps; the
//! ranking is kept in memory (a few, most recently used) under what it was made from — the
//! runs, the corrections' state, the dataset, the field and the filters — so that later pages
//! and the same view again do not count again, and any new match, correction or import does.
//!
//! **The amount field**: the one asked for, or by default the first of the active dataset's
//! fields, by name, whose name — lower case, with spaces and hyphens as `_` — contains
//! `amount`, `pipeline` or `opportunity_value` ([`default_amount_field`]).
//!
//! **Which partner to bring** ([`bring`]): each active partner that has the account, scored
//! `segment + 2 × co-sells won − co-sells lost + won deals credited`, highest first, then by
//! name. `segment` is 3 where the partner has it as a customer, 2 as an open opportunity, 1 as a
//! prospect and 0 otherwise ([`SegmentKind::of`]); co-sells count every record with the partner
//! that ended won or lost; credited deals are the attribution ledger's won deals whose credit
//! names the partner — its name, compared without regard to case or spacing, or the
//! partnership's id.

use std::collections::BTreeMap;

use blindmap_store::{
    CoSellOutcomes, EcosystemFilter, Kept, LedgerCredits, OrgId, PartnershipId, PartnershipState, ReportFilter,
    ReportRow, Store, StoreError, Tier,
};

use crate::NodeContext;
use crate::service::cosell::{CoSellError, OnOverlap, create_on_overlap};
use crate::service::thousands;

/// The priority's formula, as the pages and the API state it.
pub(crate) const FORMULA: &str = "priority = amount × partners; accounts without an amount come after those with \
     one, by number of partners";

/// The partner score's formula, as the pages and the API state it.
pub(crate) const SCORE_FORMULA: &str = "score = segment (customer 3, open opportunity 2, prospect 1, other 0) \
     + 2 × co-sells won − co-sells lost + won deals credited to the partner";

/// What a field's name contains to be the default amount field (lower case, `_` for spaces).
pub(crate) const AMOUNT_WORDS: [&str; 3] = ["amount", "pipeline", "opportunity_value"];

/// The most partners a filter may ask for.
pub(crate) const MAX_MIN_PARTNERS: u32 = 1000;

/// Why the ecosystem cannot answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum EcosystemError {
    /// What the request names is not there (or is another organisation's).
    #[error("no such {0}")]
    NotFound(&'static str),
    /// The amount field asked for is not a field of the active dataset.
    #[error("amount_field {field:?} is not a field of your active dataset; its fields are: {}", known_list(.known))]
    UnknownAmountField {
        /// The field asked for.
        field: String,
        /// The active dataset's fields.
        known: Vec<String>,
    },
    /// A minimum number of partners out of range.
    #[error("min_partners is 1 to {MAX_MIN_PARTNERS}")]
    MinPartners,
    /// The partner has the account only through a filter, which names no record.
    #[error("{0} matched this account through a filter only: there is no record of theirs to co-sell on")]
    NoRecord(String),
    /// Creating the co-sell record failed.
    #[error(transparent)]
    CoSell(#[from] CoSellError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn known_list(known: &[String]) -> String {
    if known.is_empty() { "none".to_owned() } else { known.join(", ") }
}

/// Which field holds the amount.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) enum AmountChoice {
    /// The default rule ([`default_amount_field`]).
    #[default]
    Default,
    /// None: every priority is the number of partners.
    Off,
    /// This field.
    Field(String),
}

impl AmountChoice {
    /// From a request's `amount_field`: absent is the default, empty is none.
    pub(crate) fn from_param(value: Option<&str>) -> Self {
        match value.map(str::trim) {
            None => Self::Default,
            Some("") => Self::Off,
            Some(f) => Self::Field(f.to_owned()),
        }
    }
}

/// What the ecosystem view lists.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Only accounts with at least this many partners (1 to [`MAX_MIN_PARTNERS`]).
    pub(crate) min_partners: u32,
    /// Only accounts in this own segment.
    pub(crate) own_segment: Option<String>,
    /// The amount field.
    pub(crate) amount: AmountChoice,
    /// Accounts skipped.
    pub(crate) offset: u64,
    /// At most this many accounts.
    pub(crate) limit: u32,
}

/// An amount in hundredths (cents), not negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Amount(pub(crate) u64);

impl Amount {
    /// As a plain decimal (`48000.00`).
    pub(crate) fn decimal(self) -> String {
        format!("{}.{:02}", self.0 / 100, self.0 % 100)
    }

    /// With thousands separators (`48,000.00`).
    pub(crate) fn grouped(self) -> String {
        format!("{}.{:02}", thousands(u128::from(self.0 / 100)), self.0 % 100)
    }
}

/// The priority of an account with `partners` partners and `amount`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// `amount × partners`, in hundredths.
    Amount(u128),
    /// No amount: the number of partners.
    Partners(u32),
}

impl Priority {
    pub(crate) fn of(amount: Option<Amount>, partners: u32) -> Self {
        match amount {
            Some(a) => Self::Amount(u128::from(a.0) * u128::from(partners)),
            None => Self::Partners(partners),
        }
    }

    /// As a plain decimal (`96000.00`), or the number of partners.
    pub(crate) fn decimal(self) -> String {
        match self {
            Self::Amount(h) => format!("{}.{:02}", h / 100, h % 100),
            Self::Partners(n) => n.to_string(),
        }
    }

    /// For people: `96,000.00`, or `2 partners (no amount)`.
    pub(crate) fn text(self) -> String {
        match self {
            Self::Amount(h) => format!("{}.{:02}", thousands(h / 100), h % 100),
            Self::Partners(n) => format!("{n} (no amount)"),
        }
    }

    /// Ascending sort key: with an amount before without, then higher first.
    fn key(self) -> (u8, std::cmp::Reverse<u128>) {
        match self {
            Self::Amount(h) => (0, std::cmp::Reverse(h)),
            Self::Partners(n) => (1, std::cmp::Reverse(u128::from(n))),
        }
    }
}

/// An amount as an export writes it, leniently but never guessing wrong silently:
///
/// - spaces (any, including no-break and thin spaces), apostrophes (`1'000`) and a currency —
///   a symbol or letters (`€`, `$`, `EUR`, `USD`) — before or after the number are ignored;
/// - with both `,` and `.`, the last one is the decimal separator and the other groups
///   thousands (`48,000.00`, `48.000,00`);
/// - with one kind used more than once, it groups thousands (`1,000,000`, `1.000.000`);
/// - used once: followed by exactly three digits after one to three digits not starting with
///   `0`, it groups thousands (`48,000` and `48.000` are 48000); otherwise it is the decimal
///   separator (`48000.5`, `48000,50`, `0.125`);
/// - groups after the first have exactly three digits, the first one to three;
/// - decimals beyond the cent are rounded half up;
/// - a negative amount, more than one number, letters inside the number or an amount above
///   10^15 is not an amount (`None`).
pub(crate) fn parse_amount(text: &str) -> Option<Amount> {
    let is_space = |c: char| c.is_whitespace() || c == '\u{202F}' || c == '\u{2009}' || c == '\u{00A0}';
    let cleaned: String = text.chars().filter(|&c| !is_space(c) && c != '\'' && c != '’').collect();
    // A currency before or after: anything that is neither a digit nor a separator nor a sign.
    let is_number = |c: char| c.is_ascii_digit() || c == ',' || c == '.' || c == '-' || c == '+';
    let number = cleaned.trim_matches(|c: char| !is_number(c));
    let number = number.strip_prefix('+').unwrap_or(number);
    if number.is_empty() || !number.chars().all(|c| c.is_ascii_digit() || c == ',' || c == '.') {
        return None;
    }
    let (commas, dots) = (number.matches(',').count(), number.matches('.').count());
    let (integer, fraction): (&str, &str) = match (commas, dots) {
        (0, 0) => (number, ""),
        (_, 0) | (0, _) => {
            let sep = if commas > 0 { ',' } else { '.' };
            let (head, tail) = number.rsplit_once(sep)?;
            if commas + dots > 1 || (tail.len() == 3 && (1..=3).contains(&head.len()) && !head.starts_with('0')) {
                // Grouping only.
                return whole(number, sep, "");
            }
            (head, tail)
        }
        _ => {
            let last = if number.rfind(',') > number.rfind('.') { ',' } else { '.' };
            let group_sep = if last == ',' { '.' } else { ',' };
            let (head, tail) = number.rsplit_once(last)?;
            if head.contains(last) {
                return None;
            }
            return whole(head, group_sep, tail);
        }
    };
    whole(integer, '\0', fraction)
}

/// The amount of an integer part grouped by `sep` (`\0`: ungrouped) and a fraction.
fn whole(integer: &str, sep: char, fraction: &str) -> Option<Amount> {
    let digits: String = if sep == '\0' {
        integer.to_owned()
    } else {
        let groups: Vec<&str> = integer.split(sep).collect();
        let first_ok = groups.first().is_some_and(|g| (1..=3).contains(&g.len()));
        if !first_ok || groups[1..].iter().any(|g| g.len() != 3) {
            return None;
        }
        groups.concat()
    };
    if digits.is_empty() && fraction.is_empty() {
        return None;
    }
    if !digits.chars().all(|c| c.is_ascii_digit()) || !fraction.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let units: u64 = if digits.is_empty() { 0 } else { digits.parse().ok()? };
    let mut cents: u64 = 0;
    for (i, c) in fraction.chars().take(2).enumerate() {
        let d = u64::from(c.to_digit(10)?);
        cents += if i == 0 { d * 10 } else { d };
    }
    let round_up = fraction.chars().nth(2).is_some_and(|c| c >= '5');
    let total = units.checked_mul(100)?.checked_add(cents)? + u64::from(round_up);
    (total <= 100 * 1_000_000_000_000_000).then_some(Amount(total))
}

/// The default amount field among `fields`: the first, by name, whose name contains one of
/// [`AMOUNT_WORDS`] (lower case, spaces and hyphens as `_`).
pub(crate) fn default_amount_field(fields: &[String]) -> Option<String> {
    let mut sorted: Vec<&String> = fields.iter().collect();
    sorted.sort();
    sorted
        .into_iter()
        .find(|f| {
            let name = f.to_lowercase().replace([' ', '-'], "_");
            AMOUNT_WORDS.iter().any(|w| name.contains(w))
        })
        .cloned()
}

/// A partner that has an account, and in which segments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PartnerOn {
    pub(crate) partnership: PartnershipId,
    pub(crate) partner_name: String,
    pub(crate) partner_segments: Vec<String>,
}

/// One account of the ecosystem view.
#[derive(Debug, Clone)]
pub(crate) struct EcosystemAccount {
    pub(crate) account_id: String,
    pub(crate) name: Option<String>,
    pub(crate) own_segment: String,
    pub(crate) partner_count: u32,
    pub(crate) partners: Vec<PartnerOn>,
    /// The amount field's text, as the export wrote it (none: empty or not in the dataset).
    pub(crate) amount_text: Option<String>,
    pub(crate) amount: Option<Amount>,
    pub(crate) priority: Priority,
}

/// A page of the ecosystem view.
#[derive(Debug, Clone)]
pub(crate) struct Ecosystem {
    /// The amount field read, if any.
    pub(crate) amount_field: Option<String>,
    /// The active dataset's fields, by name.
    pub(crate) fields: Vec<String>,
    /// Accounts listed in all.
    pub(crate) total: u64,
    /// Of those, how many have an amount.
    pub(crate) with_amount: u64,
    pub(crate) items: Vec<EcosystemAccount>,
}

/// The field names of a dataset's import summary (its `field:…` columns), by name.
fn dataset_fields(summary: &serde_json::Value) -> Vec<String> {
    let mut fields: Vec<String> = summary["columns"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["role"].as_str()?.strip_prefix("field:").map(str::to_owned))
        .collect();
    fields.sort();
    fields.dedup();
    fields
}

/// The candidates in priority order (see the module's documentation).
fn rank(candidates: Vec<blindmap_store::EcosystemCandidate>) -> Vec<EcosystemAccount> {
    let mut ranked: Vec<(Priority, String, EcosystemAccount)> = candidates
        .into_iter()
        .map(|c| {
            let amount_text = c.amount.filter(|t| !t.trim().is_empty());
            let amount = amount_text.as_deref().and_then(parse_amount);
            let priority = Priority::of(amount, c.partners);
            let sort_name = c.name.as_deref().unwrap_or(&c.account_id).to_lowercase();
            let account = EcosystemAccount {
                account_id: c.account_id,
                name: c.name,
                own_segment: c.own_segment,
                partner_count: c.partners,
                partners: Vec::new(),
                amount_text,
                amount,
                priority,
            };
            (priority, sort_name, account)
        })
        .collect();
    ranked.sort_by(|(pa, na, a), (pb, nb, b)| {
        pa.key()
            .cmp(&pb.key())
            .then(b.partner_count.cmp(&a.partner_count))
            .then_with(|| na.cmp(nb))
            .then_with(|| a.account_id.cmp(&b.account_id))
    });
    ranked.into_iter().map(|(_, _, a)| a).collect()
}

/// What a ranking was made from: the organisation, its partnerships' latest complete runs, its
/// corrections' state, the dataset and field the amounts come from, and the filters.
#[derive(Debug, Clone, PartialEq, Eq)]
struct CacheKey {
    org: String,
    runs: Vec<String>,
    corrections: String,
    dataset: Option<String>,
    amount_field: Option<String>,
    own_segment: Option<String>,
    min_partners: u32,
}

/// Rankings kept: counting 50 partners' 100,000 overlaps takes seconds, paging through the
/// result should not.
static RANKINGS: Kept<CacheKey, std::sync::Arc<Vec<EcosystemAccount>>> = Kept::new(8);

/// The runs' candidates as listed (before corrections), by what they were counted from (the
/// key without the corrections' state): kept fewer, they are the costly part.
static LISTED: Kept<CacheKey, std::sync::Arc<Vec<blindmap_store::EcosystemCandidate>>> = Kept::new(4);

/// The ecosystem view: `org`'s accounts several active partners have, in priority order, paged.
pub(crate) async fn ecosystem(store: &Store, org: &OrgId, options: &Options) -> Result<Ecosystem, EcosystemError> {
    if !(1..=MAX_MIN_PARTNERS).contains(&options.min_partners) {
        return Err(EcosystemError::MinPartners);
    }
    let dataset = store.active_dataset(org).await?;
    let fields = dataset.as_ref().map(|d| dataset_fields(&d.summary)).unwrap_or_default();
    let amount_field = match &options.amount {
        AmountChoice::Default => default_amount_field(&fields),
        AmountChoice::Off => None,
        AmountChoice::Field(f) if fields.contains(f) => Some(f.clone()),
        AmountChoice::Field(f) => {
            return Err(EcosystemError::UnknownAmountField { field: f.clone(), known: fields });
        }
    };
    let own_segment = options.own_segment.clone().filter(|s| !s.trim().is_empty());
    // One ranking serves every minimum of two partners or more (a higher one is that ranking's
    // accounts with as many partners, in the same order): counted once after each run.
    let counted_from = options.min_partners.min(2);
    let runs = store.latest_active_runs(org).await?;
    // What the ranking depends on: a ranking made from the same is reused (pages after the first,
    // the same view again) without counting again.
    let key = CacheKey {
        org: org.as_str().to_owned(),
        runs: runs.iter().map(|(r, _)| r.as_str().to_owned()).collect(),
        corrections: store.corrections_state(org).await?,
        dataset: dataset.as_ref().map(|d| d.id.as_str().to_owned()),
        amount_field: amount_field.clone(),
        own_segment: own_segment.clone(),
        min_partners: counted_from,
    };
    let ranked = match RANKINGS.get(&key) {
        Some(ranked) => ranked,
        None => {
            let filter =
                EcosystemFilter { min_partners: counted_from, own_segment, amount_field: amount_field.clone() };
            // The runs' accounts as listed are counted once per set of runs; a correction only
            // recounts the accounts corrections name.
            let listed_key = CacheKey { corrections: String::new(), ..key.clone() };
            let listed = match LISTED.get(&listed_key) {
                Some(listed) => listed,
                None => {
                    let dataset = dataset.as_ref().map(|d| &d.id);
                    let listed =
                        std::sync::Arc::new(store.ecosystem_candidates_listed(org, &runs, dataset, &filter).await?);
                    LISTED.put(listed_key, listed.clone());
                    listed
                }
            };
            let corrected: BTreeMap<String, u32> =
                store.ecosystem_corrected(org, &runs, &filter).await?.into_iter().collect();
            let candidates = listed
                .iter()
                .filter_map(|c| {
                    let partners = corrected.get(&c.account_id).copied().unwrap_or(c.partners);
                    (partners >= counted_from).then(|| blindmap_store::EcosystemCandidate { partners, ..c.clone() })
                })
                .collect();
            let ranked = std::sync::Arc::new(rank(candidates));
            RANKINGS.put(key, ranked.clone());
            ranked
        }
    };
    let shown = || ranked.iter().filter(|a| a.partner_count >= options.min_partners);
    let total = shown().count() as u64;
    let with_amount = shown().filter(|a| a.amount.is_some()).count() as u64;
    let offset = usize::try_from(options.offset).unwrap_or(usize::MAX);
    let mut items: Vec<EcosystemAccount> = shown().skip(offset).take(options.limit as usize).cloned().collect();
    let ids: Vec<&str> = items.iter().map(|a| a.account_id.as_str()).collect();
    let found = store.ecosystem_partners(org, &ids).await?;
    let mut by_account: BTreeMap<String, Vec<PartnerOn>> = BTreeMap::new();
    for p in found {
        let list = by_account.entry(p.account_id).or_default();
        match list.last_mut() {
            Some(last) if last.partnership == p.partnership => last.partner_segments.push(p.partner_segment),
            _ => list.push(PartnerOn {
                partnership: p.partnership,
                partner_name: p.partner_name,
                partner_segments: vec![p.partner_segment],
            }),
        }
    }
    for item in &mut items {
        item.partners = by_account.remove(&item.account_id).unwrap_or_default();
    }
    Ok(Ecosystem { amount_field, fields, total, with_amount, items })
}

/// Ranks `org`'s ecosystem as its page first shows it (two partners or more, the default amount
/// field), so that the first reader after a run does not wait for the count.
pub(crate) async fn warm(store: &Store, org: &OrgId) -> Result<(), EcosystemError> {
    let options = Options { min_partners: 2, own_segment: None, amount: AmountChoice::Default, offset: 0, limit: 0 };
    ecosystem(store, org, &options).await.map(drop)
}

/// What a partner's segment says about an account, as far as its label tells.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum SegmentKind {
    Other,
    Prospect,
    OpenOpportunity,
    Customer,
}

impl SegmentKind {
    /// From a segment's label, lower case: containing `customer` is a customer, `opportunit` an
    /// open opportunity, `prospect` a prospect; anything else is other.
    pub(crate) fn of(label: &str) -> Self {
        let label = label.to_lowercase();
        if label.contains("customer") {
            Self::Customer
        } else if label.contains("opportunit") {
            Self::OpenOpportunity
        } else if label.contains("prospect") {
            Self::Prospect
        } else {
            Self::Other
        }
    }

    /// Its weight in the score.
    pub(crate) fn weight(self) -> i64 {
        match self {
            Self::Customer => 3,
            Self::OpenOpportunity => 2,
            Self::Prospect => 1,
            Self::Other => 0,
        }
    }

    /// Its name in the API.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Customer => "customer",
            Self::OpenOpportunity => "open_opportunity",
            Self::Prospect => "prospect",
            Self::Other => "other",
        }
    }
}

/// A partner to bring into a deal on an account, with its score and why.
#[derive(Debug, Clone)]
pub(crate) struct Candidate {
    pub(crate) partnership: PartnershipId,
    pub(crate) partner_name: String,
    /// The partner's segment the score counts (its best), and the others it has the account in.
    pub(crate) partner_segment: String,
    pub(crate) kind: SegmentKind,
    pub(crate) outcomes: CoSellOutcomes,
    /// Won deals credited to the partner, and the credited amounts per currency.
    pub(crate) credited_deals: u64,
    pub(crate) credited: Vec<(String, i64)>,
    pub(crate) score: i64,
    /// The score's terms, in words: `3 (customer) + 2 × 2 won − 1 lost + 3 credited = 9`.
    pub(crate) score_text: String,
    pub(crate) reasons: Vec<String>,
    /// A co-sell record on the account with this partner, if any (id, status).
    pub(crate) cosell: Option<(String, String)>,
    /// Whether a co-sell record can start from the match (a record of the partner's was named).
    pub(crate) can_cosell: bool,
}

/// The partners to bring into a deal on one account, best first.
#[derive(Debug, Clone)]
pub(crate) struct Bring {
    pub(crate) account_id: String,
    pub(crate) name: Option<String>,
    pub(crate) candidates: Vec<Candidate>,
}

/// Whether the ledger's partner text names this partnership: its id, or its partner's name
/// without regard to case or spacing.
pub(crate) fn names_partner(text: &str, partnership: &PartnershipId, partner_name: &str) -> bool {
    let fold = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    text.trim() == partnership.as_str() || fold(text) == fold(partner_name)
}

/// Minor units of `currency` as `EUR 120,000.00`.
fn money_text(currency: &str, minor: i64) -> String {
    let exponent = blindmap_cosell::money::Currency::new(currency).map_or(2, |c| c.exponent());
    let sign = if minor < 0 { "-" } else { "" };
    let abs = u128::from(minor.unsigned_abs());
    if exponent == 0 {
        return format!("{currency} {sign}{}", thousands(abs));
    }
    let unit = 10u128.pow(exponent);
    format!("{currency} {sign}{}.{:0width$}", thousands(abs / unit), abs % unit, width = exponent as usize)
}

fn plural(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// How two of a partner's records of one account compare: the better segment, then a confirmed
/// match over a possible one, then the segment first by name.
fn better(a: &ReportRow, b: &ReportRow) -> std::cmp::Ordering {
    let confirmed = |r: &ReportRow| r.tier == Tier::Confirmed;
    SegmentKind::of(&a.partner_segment)
        .cmp(&SegmentKind::of(&b.partner_segment))
        .then(confirmed(a).cmp(&confirmed(b)))
        .then(b.partner_segment.cmp(&a.partner_segment))
}

/// Scores one partner that has the account: its rows (one per matching record) and history.
fn candidate(rows: &[ReportRow], outcomes: CoSellOutcomes, credits: &[&LedgerCredits]) -> Candidate {
    let best = rows.iter().max_by(|a, b| better(a, b)).expect("a partner has rows");
    let partner = best.partner_name.clone();
    let kind = SegmentKind::of(&best.partner_segment);
    let credited_deals: u64 = credits.iter().map(|c| c.deals).sum();
    let mut credited: Vec<(String, i64)> = Vec::new();
    for c in credits {
        match credited.iter_mut().find(|(cur, _)| *cur == c.currency) {
            Some((_, minor)) => *minor += c.minor,
            None => credited.push((c.currency.clone(), c.minor)),
        }
    }
    let won = i64::try_from(outcomes.won).unwrap_or(i64::MAX / 4);
    let lost = i64::try_from(outcomes.lost).unwrap_or(i64::MAX / 4);
    let deals = i64::try_from(credited_deals).unwrap_or(i64::MAX / 4);
    let score = kind.weight() + 2 * won - lost + deals;
    let score_text = format!(
        "{} ({}) + 2 × {won} won − {lost} lost + {deals} credited = {score}",
        kind.weight(),
        kind.as_str().replace('_', " ")
    );
    let segment = &best.partner_segment;
    let mut reasons = vec![match kind {
        SegmentKind::Customer => format!("is {partner}'s customer (their segment {segment})"),
        SegmentKind::OpenOpportunity => format!("is an open opportunity at {partner} (their segment {segment})"),
        SegmentKind::Prospect => format!("is {partner}'s prospect (their segment {segment})"),
        SegmentKind::Other => format!("{partner} has it in their segment {segment}"),
    }];
    let mut others: Vec<&str> =
        rows.iter().map(|r| r.partner_segment.as_str()).filter(|s| s != segment).collect::<Vec<_>>();
    others.sort_unstable();
    others.dedup();
    if !others.is_empty() {
        reasons.push(format!("also in their segment {}", others.join(", ")));
    }
    if rows.iter().all(|r| r.tier == Tier::Possible) {
        reasons.push("a possible match only: check it is the same company".to_owned());
    }
    reasons.push(if outcomes.won + outcomes.lost == 0 {
        "no co-sell closed with you yet".to_owned()
    } else {
        format!("{} won, {} lost with you", plural(outcomes.won, "co-sell", "co-sells"), outcomes.lost)
    });
    reasons.push(if credited_deals == 0 {
        "not credited on a won deal yet".to_owned()
    } else {
        let amounts: Vec<String> = credited.iter().map(|(cur, minor)| money_text(cur, *minor)).collect();
        format!("credited on {} ({})", plural(credited_deals, "won deal", "won deals"), amounts.join(", "))
    });
    Candidate {
        partnership: best.partnership.clone(),
        partner_name: partner,
        partner_segment: segment.clone(),
        kind,
        outcomes,
        credited_deals,
        credited,
        score,
        score_text,
        reasons,
        cosell: rows.iter().find_map(|r| r.cosell.clone()),
        can_cosell: rows.iter().any(|r| r.partner_record.is_some()),
    }
}

/// The partners to bring into a deal on `account`: each active partner that has it in its latest
/// complete match, scored and explained (see the module's documentation). An account no active
/// partner has (or another organisation's) is not found.
pub(crate) async fn bring(store: &Store, org: &OrgId, account: &str) -> Result<Bring, EcosystemError> {
    let rows = store.account_overlaps(org, account).await?;
    let partnerships = store.partnerships(org).await?;
    let active = |id: &PartnershipId| partnerships.iter().any(|p| &p.id == id && p.state == PartnershipState::Active);
    let mut by_partner: BTreeMap<PartnershipId, Vec<ReportRow>> = BTreeMap::new();
    let mut name = None;
    for (id, _, row) in rows {
        if active(&id) {
            name = name.or_else(|| row.name.clone());
            by_partner.entry(id).or_default().push(row);
        }
    }
    if by_partner.is_empty() {
        return Err(EcosystemError::NotFound("account overlapping an active partner"));
    }
    let outcomes = store.cosell_outcomes(org).await?;
    let credits = store.ledger_credits(org).await?;
    let mut candidates: Vec<Candidate> = by_partner
        .values()
        .map(|rows| {
            let (id, partner) = (&rows[0].partnership, rows[0].partner_name.as_str());
            let outcome = outcomes.iter().find(|(p, _)| p == id).map(|(_, o)| o.clone()).unwrap_or_default();
            let theirs: Vec<&LedgerCredits> =
                credits.iter().filter(|c| names_partner(&c.partner, id, partner)).collect();
            candidate(rows, outcome, &theirs)
        })
        .collect();
    candidates.sort_by(|a, b| {
        b.score
            .cmp(&a.score)
            .then_with(|| a.partner_name.to_lowercase().cmp(&b.partner_name.to_lowercase()))
            .then_with(|| a.partnership.cmp(&b.partnership))
    });
    Ok(Bring { account_id: account.to_owned(), name, candidates })
}

/// Starts a co-sell record on `account` with the partnership `partnership` (`pt_…`), on the
/// partner's record the ranking counts (its best segment) in their latest complete match —
/// through [`create_on_overlap`], as a co-sell from an overlap list. The record's id.
pub(crate) async fn start_cosell(
    store: &Store,
    node: &NodeContext,
    org: &OrgId,
    user: &str,
    account: &str,
    partnership: &str,
) -> Result<String, EcosystemError> {
    let id = PartnershipId::parse(partnership).ok_or(EcosystemError::NotFound("partner"))?;
    let partner = store.partnership(org, &id).await?;
    let run = store
        .latest_complete_run(org, &id)
        .await?
        .ok_or(EcosystemError::NotFound("complete match with this partner"))?;
    let filter = ReportFilter { account: Some(account.to_owned()), ..ReportFilter::default() };
    let (rows, _) = store.report_page(org, &run, &filter, 0, 1000).await?;
    let best = rows.iter().filter(|r| r.partner_record.is_some()).max_by(|a, b| better(a, b));
    let Some(best) = best else {
        return Err(if rows.is_empty() {
            EcosystemError::NotFound("overlap of that account with that partner")
        } else {
            EcosystemError::NoRecord(partner.partner_name)
        });
    };
    let record = best.partner_record.expect("filtered");
    let overlap =
        OnOverlap { run: run.id.as_str(), account, partner_segment: &best.partner_segment, partner_record: record };
    Ok(create_on_overlap(store, node, org, user, overlap).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_leniently_and_refuse_what_is_ambiguous_or_not_a_number() {
        for (text, cents) in [
            ("48000", 4_800_000),
            ("48,000.00", 4_800_000),
            ("48.000,00", 4_800_000),
            ("€48.000,00", 4_800_000),
            ("48 000,00 €", 4_800_000),
            ("EUR 48,000", 4_800_000),
            ("$1,234,567.89", 123_456_789),
            ("1.234.567", 123_456_700),
            ("1'234.50", 123_450),
            ("48,000", 4_800_000),
            ("48.000", 4_800_000),
            ("48000.5", 4_800_050),
            ("48000,50", 4_800_050),
            ("0.125", 13),
            (".5", 50),
            ("+12", 1200),
            ("0", 0),
        ] {
            assert_eq!(parse_amount(text), Some(Amount(cents)), "{text:?}");
        }
        for text in [
            "",
            "n/a",
            "-5",
            "12abc34",
            "1,00,000",
            "1.000,000.00",
            "1e6",
            "12-3",
            "€",
            "1,0000.00",
            "99999999999999999999",
        ] {
            assert_eq!(parse_amount(text), None, "{text:?}");
        }
        assert_eq!(Amount(4_800_050).grouped(), "48,000.50");
        assert_eq!(Amount(5).decimal(), "0.05");
    }

    #[test]
    fn the_default_amount_field_is_the_first_named_like_one() {
        let fields = |names: &[&str]| names.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(default_amount_field(&fields(&["owner", "pipeline", "deal_amount"])), Some("deal_amount".into()));
        assert_eq!(default_amount_field(&fields(&["Opportunity Value", "owner"])), Some("Opportunity Value".into()));
        assert_eq!(default_amount_field(&fields(&["owner", "employees"])), None);
    }

    #[test]
    fn priority_puts_amounts_first_then_partners() {
        let mut ps = [
            Priority::of(None, 5),
            Priority::of(Some(Amount(100)), 2),
            Priority::of(Some(Amount(150)), 3),
            Priority::of(None, 2),
        ];
        ps.sort_by_key(|p| p.key());
        assert_eq!(ps.map(Priority::decimal), ["4.50", "2.00", "5", "2"]);
        assert_eq!(Priority::of(Some(Amount(4_800_000)), 2).text(), "96,000.00");
        assert_eq!(Priority::of(None, 2).text(), "2 (no amount)");
    }

    #[test]
    fn segments_and_ledger_names() {
        assert_eq!(SegmentKind::of("customers"), SegmentKind::Customer);
        assert_eq!(SegmentKind::of("open_opportunities"), SegmentKind::OpenOpportunity);
        assert_eq!(SegmentKind::of("Prospects"), SegmentKind::Prospect);
        assert_eq!(SegmentKind::of("partners"), SegmentKind::Other);
        assert!(SegmentKind::Customer > SegmentKind::OpenOpportunity && SegmentKind::Prospect > SegmentKind::Other);
        let id = PartnershipId::generate();
        assert!(names_partner("  globex   corp ", &id, "Globex Corp"));
        assert!(names_partner(id.as_str(), &id, "Globex"));
        assert!(!names_partner("Globex Corporation", &id, "Globex Corp"));
        assert_eq!(money_text("EUR", 12_000_000), "EUR 120,000.00");
        assert_eq!(money_text("JPY", 5000), "JPY 5,000");
    }
}
