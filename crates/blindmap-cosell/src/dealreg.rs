//! Deal registration: a partner claims an end customer for some product lines; the vendor's
//! admins approve or reject; approved claims are protected for a window, then expire unless the
//! deal was won or lost. Conflicts are found automatically on submission and explained to the
//! submitter by category only — never who holds the other claim, nor its deal or value.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::money::Money;

/// A day in milliseconds.
pub const DAY_MS: i64 = 86_400_000;
/// How long an approved registration is protected unless configured otherwise.
pub const DEFAULT_PROTECTION_DAYS: u32 = 90;
/// The one extension a registration can get, unless configured otherwise.
pub const DEFAULT_EXTENSION_DAYS: u32 = 60;
/// How far a vendor's clock may be ahead of the submitter's when it says a protection expired.
const EXPIRY_SKEW_MS: i64 = 10 * 60_000;
/// The longest protection, and the longest extension, a vendor may configure.
pub const MAX_WINDOW_DAYS: u32 = 3650;

/// A vendor's rules for the registrations it receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Segments of the vendor's own accounts its direct team works (its open opportunities and
    /// its customers, by default): a registration on one of them is a channel conflict.
    pub direct_segments: Vec<String>,
    /// Days an approved registration is protected.
    pub protection_days: u32,
    /// Days its one extension adds.
    pub extension_days: u32,
    /// Pre-checks a partner may ask per minute.
    pub prechecks_per_minute: u32,
    /// Pre-checks a partner may ask per day (its budget).
    pub prechecks_per_day: u32,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            // What the presets call them: HubSpot's lifecycle stages make both; Salesforce's
            // account types make `customers` (a Salesforce export has no opportunity column).
            direct_segments: vec!["open_opportunities".to_owned(), "customers".to_owned()],
            protection_days: DEFAULT_PROTECTION_DAYS,
            extension_days: DEFAULT_EXTENSION_DAYS,
            prechecks_per_minute: 6,
            prechecks_per_day: 100,
        }
    }
}

impl Settings {
    /// Refuses settings no program would mean.
    pub fn check(&self) -> Result<(), Error> {
        if !(1..=MAX_WINDOW_DAYS).contains(&self.protection_days) || self.extension_days > MAX_WINDOW_DAYS {
            return Err(Error::Invalid("protection is 1 to 3650 days, an extension 0 to 3650".into()));
        }
        if self.prechecks_per_minute > 10_000 || self.prechecks_per_day > 1_000_000 {
            return Err(Error::Invalid("at most 10,000 pre-checks a minute and 1,000,000 a day".into()));
        }
        if self.direct_segments.len() > 100 || self.direct_segments.iter().any(|s| s.is_empty() || s.len() > 200) {
            return Err(Error::Invalid("up to 100 direct segments, each 1 to 200 characters".into()));
        }
        Ok(())
    }
}

/// Where a registration is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegState {
    /// Waiting for the vendor.
    Submitted,
    /// Waiting for the vendor, flagged by a conflict check.
    InReview,
    /// Protected until its window ends.
    Approved,
    /// Turned down.
    Rejected,
    /// The protection window ended without a win or a loss.
    Expired,
    /// The deal was won.
    Won,
    /// The deal was lost.
    Lost,
}

impl RegState {
    /// Whether the registration still holds its claim (and so conflicts with later ones).
    pub fn holds_claim(self) -> bool {
        matches!(self, Self::Submitted | Self::InReview | Self::Approved)
    }

    /// `submitted`, `in_review`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Submitted => "submitted",
            Self::InReview => "in_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
            Self::Expired => "expired",
            Self::Won => "won",
            Self::Lost => "lost",
        }
    }
}

/// Why a submission went to review.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Conflict {
    /// Another partner registered the same end customer for a product line in common first.
    PartnerConflict,
    /// The account is one the vendor's direct team works (in its direct segments: an open
    /// opportunity or a customer, by default).
    ChannelConflict,
}

/// What a partner submits.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Submission {
    /// The submitting partner (its partnership on the vendor's node).
    pub partner: String,
    /// The end customer as match keys (`domain:…`, `duns:…`, `name_country:…`), as the importer
    /// makes them.
    pub customer_keys: BTreeSet<String>,
    /// The product lines the deal is for.
    pub products: BTreeSet<String>,
    /// Estimated value.
    pub value: Money,
    /// Expected close, `YYYY-MM-DD`.
    pub expected_close: String,
    /// Free text.
    pub notes: String,
}

/// Most product lines in a registration.
pub const MAX_PRODUCTS: usize = 20;
/// Most end-customer keys in a registration (as in a pre-check).
pub const MAX_CUSTOMER_KEYS: usize = 8;
/// The key types an end customer is named by.
pub const KEY_TYPES: [&str; 3] = ["domain", "duns", "name_country"];

impl Submission {
    /// Refuses a submission no vendor could act on: no or too many customer keys, keys of
    /// unknown types, no product line, over-long text, a malformed date or a negative value.
    pub fn check(&self) -> Result<(), Error> {
        let invalid = |m: &str| Err(Error::Invalid(m.to_owned()));
        if self.customer_keys.is_empty() || self.customer_keys.len() > MAX_CUSTOMER_KEYS {
            return invalid("the end customer needs 1 to 8 match keys (domain, DUNS or name and country)");
        }
        for key in &self.customer_keys {
            match key.split_once(':') {
                Some((t, v)) if KEY_TYPES.contains(&t) && !v.is_empty() && v.len() <= 500 => {}
                _ => return invalid("a customer key is `domain:…`, `duns:…` or `name_country:CC|name`"),
            }
        }
        if self.products.is_empty() || self.products.len() > MAX_PRODUCTS {
            return invalid("a registration names 1 to 20 product lines");
        }
        if self.products.iter().any(|p| p.trim().is_empty() || p.trim() != p || p.len() > 100) {
            return invalid("a product line is 1 to 100 characters, without surrounding spaces");
        }
        if self.notes.len() > crate::cosell::MAX_TEXT {
            return invalid("notes are at most 4000 bytes");
        }
        if self.value.minor < 0 {
            return invalid("the estimated value cannot be negative");
        }
        crate::cosell::check_date(&self.expected_close)
    }
}

/// A registration on the vendor's node.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// Its id.
    pub id: String,
    /// What was submitted.
    pub submission: Submission,
    /// When, Unix milliseconds: first in time wins.
    pub submitted_at: i64,
    /// Where it is.
    pub state: RegState,
    /// Why it went to review.
    pub conflict: Option<Conflict>,
    /// End of protection, Unix milliseconds (approved registrations).
    pub protected_until: Option<i64>,
    /// Whether its one extension was used.
    pub extended: bool,
}

/// A direct-sales opportunity of the vendor, as its CRM export shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectOpportunity {
    /// The account's match keys.
    pub customer_keys: BTreeSet<String>,
    /// Whether it is open.
    pub open: bool,
}

/// The result of a submission's checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Checked {
    /// A new registration, submitted or in review (with the reason).
    New(Registration),
    /// The same partner already holds a claim on this customer for these products: that one.
    AlreadyRegistered(String),
}

fn same_customer(a: &BTreeSet<String>, b: &BTreeSet<String>) -> bool {
    !a.is_disjoint(b)
}

/// Checks `submission` against the registrations the vendor holds and its direct pipeline, and
/// makes the registration (with id `id`, at `now`). Rules, in order:
/// 1. the same partner holding a claim on the same customer with a product in common: the
///    existing registration (idempotent);
/// 2. another partner holding a claim (submitted, in review or approved) on the same customer
///    with a product in common: first in time wins, this one goes to review;
/// 3. an open direct opportunity on the account: review (channel conflict);
/// 4. otherwise: submitted.
///
/// The same customer means a match key in common.
pub fn check_submission(
    id: &str,
    submission: Submission,
    now: i64,
    existing: &[Registration],
    direct: &[DirectOpportunity],
) -> Result<Checked, Error> {
    submission.check()?;
    let overlapping = |r: &&Registration| {
        r.state.holds_claim()
            && same_customer(&r.submission.customer_keys, &submission.customer_keys)
            && !r.submission.products.is_disjoint(&submission.products)
    };
    if let Some(own) = existing.iter().filter(overlapping).find(|r| r.submission.partner == submission.partner) {
        return Ok(Checked::AlreadyRegistered(own.id.clone()));
    }
    let conflict = if existing.iter().filter(overlapping).any(|r| r.submitted_at <= now) {
        Some(Conflict::PartnerConflict)
    } else if direct.iter().any(|d| d.open && same_customer(&d.customer_keys, &submission.customer_keys)) {
        Some(Conflict::ChannelConflict)
    } else {
        None
    };
    Ok(Checked::New(Registration {
        id: id.to_owned(),
        submission,
        submitted_at: now,
        state: if conflict.is_some() { RegState::InReview } else { RegState::Submitted },
        conflict,
        protected_until: None,
        extended: false,
    }))
}

/// What the submitting partner learns: the outcome and its category, and the protection's end.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubmitterView {
    /// The registration's id.
    pub id: String,
    /// Its state.
    pub state: RegState,
    /// Why it is in review, by category only.
    pub conflict: Option<Conflict>,
    /// End of protection, Unix milliseconds.
    pub protected_until: Option<i64>,
    /// Whether its one extension was used.
    pub extended: bool,
}

impl Registration {
    /// What the submitter may see of it.
    pub fn submitter_view(&self) -> SubmitterView {
        SubmitterView {
            id: self.id.clone(),
            state: self.state,
            conflict: self.conflict,
            protected_until: self.protected_until,
            extended: self.extended,
        }
    }

    fn transition(&mut self, from: &[RegState], to: RegState) -> Result<(), Error> {
        if !from.contains(&self.state) {
            return Err(Error::Transition { from: self.state.as_str(), to: to.as_str() });
        }
        self.state = to;
        Ok(())
    }

    /// The vendor approves it at `now`: protected for `days`.
    pub fn approve(&mut self, now: i64, days: u32) -> Result<(), Error> {
        self.transition(&[RegState::Submitted, RegState::InReview], RegState::Approved)?;
        self.protected_until = Some(now + i64::from(days) * DAY_MS);
        Ok(())
    }

    /// The vendor turns it down.
    pub fn reject(&mut self) -> Result<(), Error> {
        self.transition(&[RegState::Submitted, RegState::InReview], RegState::Rejected)
    }

    /// Extends an approved registration's protection once, by `days` from its current end.
    pub fn extend(&mut self, now: i64, days: u32) -> Result<(), Error> {
        if self.state != RegState::Approved || self.protected_until.is_none_or(|end| end <= now) {
            return Err(Error::Invalid("only an approved registration still protected can be extended".into()));
        }
        if self.extended {
            return Err(Error::Invalid("a registration is extended once at most".into()));
        }
        self.protected_until = self.protected_until.map(|end| end + i64::from(days) * DAY_MS);
        self.extended = true;
        Ok(())
    }

    /// The deal closed: won or lost.
    pub fn close(&mut self, won: bool) -> Result<(), Error> {
        let to = if won { RegState::Won } else { RegState::Lost };
        self.transition(&[RegState::Submitted, RegState::InReview, RegState::Approved], to)
    }

    /// Takes the vendor's word on where this registration (the submitter's copy) is: checked
    /// against what the vendor's node could have done to it, since a partner's node is untrusted.
    /// Decisions only move it forward (submitted or in review → approved, rejected, won, lost,
    /// or expired once approved; approved → expired, won, lost), its conflict category is the
    /// one given at submission, protection is set on approval and only ever extended once (an
    /// expired one's end has passed), and it ends no later than `now` plus twice the longest
    /// window a vendor may configure.
    /// Returns whether anything changed.
    pub fn hear(&mut self, view: &SubmitterView, now: i64) -> Result<bool, Error> {
        use RegState::{Approved, Expired, InReview, Lost, Rejected, Submitted, Won};
        if view.id != self.id {
            return Err(Error::Forged("the view is of another registration"));
        }
        let moves = match (self.state, view.state) {
            (a, b) if a == b => true,
            (Submitted | InReview, Approved | Rejected | Expired | Won | Lost) => true,
            (Approved, Expired | Won | Lost) => true,
            _ => false,
        };
        if !moves {
            return Err(Error::Transition { from: self.state.as_str(), to: view.state.as_str() });
        }
        if view.conflict != self.conflict {
            return Err(Error::Forged("the conflict category is set at submission"));
        }
        let protected = matches!(view.state, Approved | Expired);
        if matches!(view.state, Submitted | InReview | Rejected) && (view.protected_until.is_some() || view.extended) {
            return Err(Error::Forged("a protection on an undecided or rejected registration"));
        }
        let latest = now.saturating_add(2 * i64::from(MAX_WINDOW_DAYS) * DAY_MS);
        match (self.protected_until, view.protected_until) {
            (_, None) if protected => return Err(Error::Forged("an approved registration without its end")),
            (_, Some(end)) if end > latest => return Err(Error::Forged("a protection ending too far ahead")),
            // An expired registration's end has passed, wherever the vendor says it was.
            (_, Some(end)) if view.state == Expired && end > now.saturating_add(EXPIRY_SKEW_MS) => {
                return Err(Error::Forged("expired before its end"));
            }
            (Some(mine), Some(theirs)) if theirs < mine && view.state != Expired => {
                return Err(Error::Forged("a protection shortened"));
            }
            (Some(_), None) => return Err(Error::Forged("a protection taken back")),
            (Some(mine), Some(theirs)) if theirs > mine && (self.extended || !view.extended) => {
                return Err(Error::Forged("a protection lengthened without its one extension"));
            }
            _ => {}
        }
        if self.extended && !view.extended {
            return Err(Error::Forged("an extension taken back"));
        }
        let before = self.submitter_view();
        (self.state, self.protected_until, self.extended) = (view.state, view.protected_until, view.extended);
        Ok(before != *view)
    }

    /// Expires it if its protection ended by `now`; whether it did.
    pub fn expire_if_due(&mut self, now: i64) -> bool {
        if self.state == RegState::Approved && self.protected_until.is_some_and(|end| end <= now) {
            self.state = RegState::Expired;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::Currency;

    fn keys(k: &[&str]) -> BTreeSet<String> {
        k.iter().map(|s| (*s).to_owned()).collect()
    }

    fn submission(partner: &str, customer: &[&str], products: &[&str]) -> Submission {
        Submission {
            partner: partner.into(),
            customer_keys: keys(customer),
            products: keys(products),
            value: Money::parse("50000", Currency::new("EUR").unwrap()).unwrap(),
            expected_close: "2027-03-31".into(),
            notes: String::new(),
        }
    }

    fn register(existing: &mut Vec<Registration>, s: Submission, now: i64, direct: &[DirectOpportunity]) -> Checked {
        let checked = check_submission(&format!("reg{}", existing.len()), s, now, existing, direct).unwrap();
        if let Checked::New(r) = &checked {
            existing.push(r.clone());
        }
        checked
    }

    #[test]
    fn the_first_claim_wins_and_the_later_goes_to_review_without_naming_the_first() {
        let mut regs = Vec::new();
        let first = register(&mut regs, submission("Globex", &["domain:acme.com"], &["cloud"]), 1, &[]);
        assert!(matches!(first, Checked::New(ref r) if r.state == RegState::Submitted));
        // Another partner, the same customer by another key it shares, a product in common.
        let second = register(
            &mut regs,
            submission("Initech", &["duns:123456789", "domain:acme.com"], &["cloud", "security"]),
            2,
            &[],
        );
        let Checked::New(second) = second else { panic!("a new registration") };
        assert_eq!((second.state, second.conflict), (RegState::InReview, Some(Conflict::PartnerConflict)));
        let view = serde_json::to_string(&second.submitter_view()).unwrap();
        assert!(!view.contains("Globex") && !view.contains("50000") && !view.contains("reg0"), "{view}");
        // No product in common: no conflict.
        let other_product = register(&mut regs, submission("Initech", &["domain:acme.com"], &["printers"]), 3, &[]);
        assert!(matches!(other_product, Checked::New(ref r) if r.state == RegState::Submitted));
        // The same partner again: its existing registration, nothing new.
        let again = register(&mut regs, submission("Globex", &["domain:acme.com"], &["cloud"]), 4, &[]);
        assert_eq!(again, Checked::AlreadyRegistered("reg0".into()));
        assert_eq!(regs.len(), 3);
    }

    #[test]
    fn an_open_direct_opportunity_is_a_channel_conflict_and_released_claims_do_not_count() {
        let direct = [DirectOpportunity { customer_keys: keys(&["domain:acme.com"]), open: true }];
        let mut regs = Vec::new();
        let r = register(&mut regs, submission("Globex", &["domain:acme.com"], &["cloud"]), 1, &direct);
        assert!(matches!(r, Checked::New(ref r) if r.conflict == Some(Conflict::ChannelConflict)));
        let closed = [DirectOpportunity { customer_keys: keys(&["domain:acme.com"]), open: false }];
        regs[0].reject().unwrap();
        let r = register(&mut regs, submission("Initech", &["domain:acme.com"], &["cloud"]), 2, &closed);
        assert!(matches!(r, Checked::New(ref r) if r.state == RegState::Submitted), "a rejected claim holds nothing");
    }

    #[test]
    fn protection_runs_ninety_days_extends_once_and_expires_unless_closed() {
        let mut regs = Vec::new();
        register(&mut regs, submission("Globex", &["domain:acme.com"], &["cloud"]), 0, &[]);
        let r = &mut regs[0];
        r.approve(10 * DAY_MS, DEFAULT_PROTECTION_DAYS).unwrap();
        assert_eq!(r.protected_until, Some(100 * DAY_MS));
        assert!(r.approve(11 * DAY_MS, 90).is_err(), "approved once");
        assert!(!r.expire_if_due(99 * DAY_MS));
        r.extend(50 * DAY_MS, DEFAULT_EXTENSION_DAYS).unwrap();
        assert!(r.extend(51 * DAY_MS, DEFAULT_EXTENSION_DAYS).is_err(), "one extension");
        assert!(!r.expire_if_due(159 * DAY_MS));
        assert!(r.expire_if_due(160 * DAY_MS));
        assert_eq!(r.state, RegState::Expired);
        assert!(r.close(true).is_err(), "an expired claim does not close");

        let mut won = regs[0].clone();
        won.state = RegState::Approved;
        won.close(true).unwrap();
        assert!(!won.expire_if_due(i64::MAX), "won deals do not expire");
    }

    #[test]
    fn a_submission_is_checked_at_each_bound() {
        let ok = || submission("Globex", &["domain:acme.com"], &["cloud"]);
        assert!(ok().check().is_ok());
        let refused = |change: &dyn Fn(&mut Submission), why: &str| {
            let mut s = ok();
            change(&mut s);
            assert!(s.check().is_err(), "{why}");
        };
        let accepted = |change: &dyn Fn(&mut Submission), why: &str| {
            let mut s = ok();
            change(&mut s);
            assert_eq!(s.check(), Ok(()), "{why}");
        };
        let many = |n: usize, what: &str| -> BTreeSet<String> { (0..n).map(|i| format!("{what}{i}")).collect() };
        accepted(&|s| s.customer_keys = many(MAX_CUSTOMER_KEYS, "domain:a"), "8 keys");
        refused(&|s| s.customer_keys = many(MAX_CUSTOMER_KEYS + 1, "domain:a"), "9 keys");
        accepted(&|s| s.products = many(MAX_PRODUCTS, "p"), "20 products");
        refused(&|s| s.products = many(MAX_PRODUCTS + 1, "p"), "21 products");
        accepted(&|s| s.products = keys(&[&"p".repeat(100)]), "a product line of 100 bytes");
        refused(&|s| s.products = keys(&[&"p".repeat(101)]), "a product line of 101 bytes");
        accepted(&|s| s.notes = "n".repeat(crate::cosell::MAX_TEXT), "notes at the limit");
        refused(&|s| s.notes = "n".repeat(crate::cosell::MAX_TEXT + 1), "notes over the limit");
        accepted(&|s| s.value.minor = 0, "a value of nothing");
        refused(&|s| s.value.minor = -1, "a negative value");
    }

    #[test]
    fn states_are_named_as_the_api_names_them() {
        use RegState::{Approved, Expired, InReview, Lost, Rejected, Submitted, Won};
        for state in [Submitted, InReview, Approved, Rejected, Expired, Won, Lost] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str(), "{state:?}");
        }
        assert_eq!(InReview.as_str(), "in_review");
    }

    #[test]
    fn an_expiry_may_be_ten_minutes_ahead_of_the_submitters_clock_and_no_more() {
        let Checked::New(submitted) =
            check_submission("rg", submission("Globex", &["domain:acme.com"], &["cloud"]), 0, &[], &[]).unwrap()
        else {
            panic!("new");
        };
        let mut vendor = submitted.clone();
        vendor.approve(0, 90).unwrap();
        let now = 50 * DAY_MS;
        let expired = |end: i64| SubmitterView {
            state: RegState::Expired,
            protected_until: Some(end),
            ..vendor.submitter_view()
        };
        assert!(submitted.clone().hear(&expired(now + 10 * 60_000), now).is_ok(), "ten minutes of skew");
        let mut last = submitted.clone();
        assert!(last.hear(&expired(now + 10 * 60_000 + 1), now).is_err(), "past the skew");

        // An end is required exactly where a protection runs, and never taken back.
        let view = |state, protected_until| SubmitterView { state, protected_until, ..vendor.submitter_view() };
        assert!(submitted.clone().hear(&view(RegState::Approved, None), 1).is_err(), "approved without an end");
        assert!(submitted.clone().hear(&view(RegState::Rejected, None), 1).is_ok(), "rejected has none");
        let mut approved = submitted;
        approved.hear(&vendor.submitter_view(), 1).unwrap();
        assert!(approved.clone().hear(&view(RegState::Won, None), 2).is_err(), "a won deal keeps its end");
        assert!(approved.hear(&view(RegState::Won, vendor.protected_until), 2).is_ok());
    }

    #[test]
    fn the_submitter_takes_only_moves_the_vendor_could_make() {
        let Checked::New(submitted) =
            check_submission("rg", submission("Globex", &["domain:acme.com"], &["cloud"]), 0, &[], &[]).unwrap()
        else {
            panic!("new");
        };
        let mut vendor = submitted.clone();
        vendor.approve(10, 90).unwrap();
        let mut mine = submitted.clone();
        assert!(mine.hear(&vendor.submitter_view(), 10).unwrap(), "approved");
        assert!(!mine.hear(&vendor.submitter_view(), 11).unwrap(), "heard twice changes nothing");
        let mut extended = vendor.clone();
        extended.extend(11, 60).unwrap();
        assert!(mine.clone().hear(&extended.submitter_view(), 11).unwrap());
        let mut mine_extended = mine.clone();
        mine_extended.hear(&extended.submitter_view(), 11).unwrap();
        assert!(!mine_extended.clone().hear(&extended.submitter_view(), 12).unwrap(), "the extension heard again");
        assert!(mine_extended.hear(&vendor.submitter_view(), 12).is_err(), "an extension taken back");
        // The longest end a view may name: twice the longest window from now, not a moment more.
        let latest = 12 + 2 * i64::from(MAX_WINDOW_DAYS) * DAY_MS;
        let far = |end| SubmitterView { protected_until: Some(end), ..extended.submitter_view() };
        assert!(mine.clone().hear(&far(latest), 12).is_ok(), "an extension to the latest end");
        assert!(mine.clone().hear(&far(latest + 1), 12).is_err(), "past the latest end");

        let forged = |change: &dyn Fn(&mut SubmitterView)| {
            let mut view = vendor.submitter_view();
            change(&mut view);
            view
        };
        let cases: [(SubmitterView, &str); 7] = [
            (forged(&|v| v.state = RegState::Submitted), "back to submitted"),
            (forged(&|v| v.protected_until = Some(i64::MAX)), "protected forever"),
            (forged(&|v| v.protected_until = Some(5)), "protection shortened"),
            (forged(&|v| v.protected_until = v.protected_until.map(|e| e + DAY_MS)), "longer without the extension"),
            (forged(&|v| v.conflict = Some(Conflict::PartnerConflict)), "a conflict made up later"),
            (forged(&|v| v.protected_until = None), "approved without an end"),
            (forged(&|v| v.id = "rg_other".into()), "another registration's view"),
        ];
        for (view, why) in cases {
            assert!(mine.clone().hear(&view, 12).is_err(), "{why}");
        }
        let expired_early =
            SubmitterView { state: RegState::Expired, protected_until: Some(11), ..vendor.submitter_view() };
        assert!(mine.clone().hear(&expired_early, 12).unwrap(), "expiry: its end has passed");
        let expired_ahead = SubmitterView { state: RegState::Expired, ..vendor.submitter_view() };
        assert!(mine.clone().hear(&expired_ahead, 12).is_err(), "expired long before its end");
        let mut closed = mine.clone();
        closed.hear(&forged(&|v| v.state = RegState::Won), 12).unwrap();
        assert!(closed.hear(&vendor.submitter_view(), 13).is_err(), "a won deal is not approved again");
        let mut undecided = submitted;
        let rejected_with_end =
            SubmitterView { state: RegState::Rejected, protected_until: Some(20), ..undecided.submitter_view() };
        assert!(undecided.hear(&rejected_with_end, 12).is_err());
    }

    #[test]
    fn submissions_are_validated() {
        let mut s = submission("Globex", &[], &["cloud"]);
        assert!(check_submission("r", s.clone(), 0, &[], &[]).is_err());
        s.customer_keys = keys(&["domain:acme.com"]);
        s.products.clear();
        assert!(check_submission("r", s.clone(), 0, &[], &[]).is_err());
        s.products = keys(&["cloud"]);
        s.value.minor = -1;
        assert!(check_submission("r", s.clone(), 0, &[], &[]).is_err());
        s.value.minor = 1;
        s.expected_close = "2027-13-01".into();
        assert!(check_submission("r", s.clone(), 0, &[], &[]).is_err());
        s.expected_close = "2027-12-01".into();
        s.customer_keys = keys(&["email:a@acme.com"]);
        assert!(check_submission("r", s.clone(), 0, &[], &[]).is_err(), "unknown key type");
        s.customer_keys = keys(&["domain:acme.com"]);
        s.products = keys(&[" cloud"]);
        assert!(check_submission("r", s.clone(), 0, &[], &[]).is_err());
        s.products = keys(&["cloud"]);
        assert!(check_submission("r", s, 0, &[], &[]).is_ok());
    }

    #[test]
    fn another_customer_is_no_conflict() {
        let direct = [DirectOpportunity { customer_keys: keys(&["domain:globex.com"]), open: true }];
        let mut regs = Vec::new();
        register(&mut regs, submission("Globex", &["domain:acme.com"], &["cloud"]), 1, &direct);
        let other = register(&mut regs, submission("Initech", &["domain:initech.com"], &["cloud"]), 2, &direct);
        let Checked::New(other) = other else { panic!("a new registration") };
        assert_eq!((other.state, other.conflict), (RegState::Submitted, None));
        // The same partner, another customer: a registration of its own, not the first one.
        let again = register(&mut regs, submission("Globex", &["domain:umbrella.com"], &["cloud"]), 3, &direct);
        assert!(matches!(again, Checked::New(ref r) if r.id == "reg2" && r.state == RegState::Submitted));
    }

    #[test]
    fn only_an_approved_registration_still_protected_extends() {
        let mut regs = Vec::new();
        register(&mut regs, submission("Globex", &["domain:acme.com"], &["cloud"]), 0, &[]);
        let mut r = regs.remove(0);
        assert!(r.clone().extend(0, 60).is_err(), "submitted, not approved");
        r.approve(0, 90).unwrap();
        assert!(r.clone().extend(90 * DAY_MS, 60).is_err(), "its protection ended");
        let mut last_moment = r.clone();
        last_moment.extend(90 * DAY_MS - 1, 60).unwrap();
        assert_eq!((last_moment.protected_until, last_moment.extended), (Some(150 * DAY_MS), true));
        let mut unprotected = r.clone();
        unprotected.protected_until = None;
        assert!(unprotected.extend(0, 60).is_err(), "approved without an end");
        let mut rejected = r;
        rejected.state = RegState::Rejected;
        assert!(rejected.extend(0, 60).is_err());
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(Settings::default().check(), Ok(()));
        let with = |change: &dyn Fn(&mut Settings)| {
            let mut s = Settings::default();
            change(&mut s);
            s.check().is_ok()
        };
        assert!(with(&|s| s.protection_days = 1) && with(&|s| s.protection_days = MAX_WINDOW_DAYS));
        assert!(!with(&|s| s.protection_days = 0) && !with(&|s| s.protection_days = MAX_WINDOW_DAYS + 1));
        assert!(with(&|s| s.extension_days = 0) && with(&|s| s.extension_days = MAX_WINDOW_DAYS));
        assert!(!with(&|s| s.extension_days = MAX_WINDOW_DAYS + 1));
        assert!(with(&|s| s.prechecks_per_minute = 10_000) && !with(&|s| s.prechecks_per_minute = 10_001));
        assert!(with(&|s| s.prechecks_per_day = 1_000_000) && !with(&|s| s.prechecks_per_day = 1_000_001));
        assert!(with(&|s| s.direct_segments = vec!["s".into(); 100]));
        assert!(!with(&|s| s.direct_segments = vec!["s".into(); 101]));
        assert!(with(&|s| s.direct_segments = vec!["s".repeat(200)]));
        assert!(!with(&|s| s.direct_segments = vec!["s".repeat(201)]));
        assert!(!with(&|s| s.direct_segments = vec![String::new()]));
    }
}
