//! Co-sell records: an opportunity both partners work on an account they share, kept by both
//! nodes. Either side edits its copy; the two copies are exchanged whole and merged, and the merge
//! makes them equal whatever the order, the repetition or the interleaving of edits (a state-based
//! CRDT: merge is commutative, associative and idempotent).
//!
//! How conflicts resolve:
//! - every field is a last-writer-wins register stamped with a hybrid logical clock (wall time,
//!   a counter, the writing side): the later stamp wins, ties broken by side;
//! - the lifecycle only moves forward: a later stage of the lifecycle beats an earlier one
//!   whatever their stamps (an `active` record does not fall back to `accepted`), and between two
//!   concurrent moves to the same stage (say `won` and `lost`) the later stamp wins;
//! - next-step history, notes and the change log only grow: merging takes the union.
//!
//! Each side writes its own opportunity reference, owner and account id; the shared fields
//! (stage, amount, close date, next steps) either side may write.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::money::Money;

/// Which of the two partners: `A` created the record, `B` was invited to it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Party {
    /// The side that created the record.
    A,
    /// The other side.
    B,
}

/// A hybrid logical clock stamp: ordered by time, then counter, then side.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Stamp {
    /// Unix milliseconds (at least the last stamp seen, so that causality holds across skewed clocks).
    pub ms: i64,
    /// Orders stamps within one millisecond.
    pub counter: u32,
    /// The writing side.
    pub party: Party,
}

/// A side's clock: makes stamps later than any it has made or seen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    last: Stamp,
}

impl Clock {
    /// A clock for `party`.
    pub fn new(party: Party) -> Self {
        Self { last: Stamp { ms: i64::MIN, counter: 0, party } }
    }

    /// A stamp at wall time `now`, after every stamp made or observed.
    pub fn tick(&mut self, now: i64) -> Stamp {
        let party = self.last.party;
        self.last = if now > self.last.ms {
            Stamp { ms: now, counter: 0, party }
        } else {
            Stamp { ms: self.last.ms, counter: self.last.counter + 1, party }
        };
        self.last
    }

    /// Takes note of a stamp from the other side.
    pub fn observe(&mut self, seen: Stamp) {
        if (seen.ms, seen.counter) > (self.last.ms, self.last.counter) {
            self.last = Stamp { ms: seen.ms, counter: seen.counter, party: self.last.party };
        }
    }
}

/// A last-writer-wins value with who wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lww<T> {
    /// The value.
    pub value: T,
    /// When.
    pub at: Stamp,
    /// Who (a user's name).
    pub by: String,
}

impl<T: Clone> Lww<T> {
    fn merge(&mut self, other: &Self) {
        if other.at > self.at {
            *self = other.clone();
        }
    }
}

/// Where a co-sell record is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created by one side, waiting for the other.
    Proposed,
    /// The invited side agreed.
    Accepted,
    /// The invited side declined.
    Declined,
    /// Both are working it.
    Active,
    /// Won.
    Won,
    /// Lost.
    Lost,
    /// Either side stepped back.
    Withdrawn,
}

impl Status {
    /// How far along the lifecycle: later stages win a merge.
    fn rank(self) -> u8 {
        match self {
            Self::Proposed => 0,
            Self::Accepted => 1,
            Self::Active => 2,
            Self::Declined | Self::Won | Self::Lost | Self::Withdrawn => 3,
        }
    }

    /// `proposed`, `accepted`, …
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Proposed => "proposed",
            Self::Accepted => "accepted",
            Self::Declined => "declined",
            Self::Active => "active",
            Self::Won => "won",
            Self::Lost => "lost",
            Self::Withdrawn => "withdrawn",
        }
    }

    /// Whether the record is over.
    pub fn is_final(self) -> bool {
        self.rank() == 3
    }
}

/// One side's own part of the record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideFields {
    /// The account's id in this side's CRM.
    pub account: Lww<Option<String>>,
    /// This side's opportunity reference.
    pub opportunity: Lww<Option<String>>,
    /// This side's owner.
    pub owner: Lww<Option<String>>,
}

/// An entry of a grow-only list: next steps as they were, notes, the change log.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Entry {
    /// When.
    pub at: Stamp,
    /// Who.
    pub by: String,
    /// What.
    pub text: String,
}

/// A co-sell record, as each node keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoSell {
    /// Its id, the same on both nodes (chosen by its creator).
    pub id: String,
    /// Where it is (lifecycle register).
    pub status: Lww<Status>,
    /// Stage of the deal (free text such as `qualified`).
    pub stage: Lww<String>,
    /// Amount and currency.
    pub amount: Lww<Option<Money>>,
    /// Target close date, `YYYY-MM-DD`.
    pub close_date: Lww<Option<String>>,
    /// The current next steps.
    pub next_steps: Lww<String>,
    /// Every next steps text ever set.
    pub next_steps_history: BTreeSet<Entry>,
    /// Notes.
    pub notes: BTreeSet<Entry>,
    /// Every change: who, when, what.
    pub log: BTreeSet<Entry>,
    /// The creator's part.
    pub a: SideFields,
    /// The invited side's part.
    pub b: SideFields,
}

/// An edit by one side.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "edit")]
pub enum Edit {
    /// Move the lifecycle.
    Status {
        /// The new status.
        status: Status,
    },
    /// Set the stage.
    Stage {
        /// Free text.
        stage: String,
    },
    /// Set the amount.
    Amount {
        /// The amount (`None` clears it).
        amount: Option<Money>,
    },
    /// Set the target close date.
    CloseDate {
        /// `YYYY-MM-DD` (`None` clears it).
        date: Option<String>,
    },
    /// Set the next steps (the old text stays in the history).
    NextSteps {
        /// The text.
        text: String,
    },
    /// Add a note.
    Note {
        /// The text.
        text: String,
    },
    /// Set one's own account id.
    Account {
        /// The id in one's CRM.
        account: Option<String>,
    },
    /// Set one's own opportunity reference.
    Opportunity {
        /// The reference.
        reference: Option<String>,
    },
    /// Set one's own owner.
    Owner {
        /// The owner's name.
        owner: Option<String>,
    },
}

/// Longest text a field or note takes.
pub const MAX_TEXT: usize = 4000;
/// Most entries the next-step history, notes and change log hold together.
pub const MAX_ENTRIES: usize = 10_000;

fn lww<T>(value: T, at: Stamp, by: &str) -> Lww<T> {
    Lww { value, at, by: by.to_owned() }
}

/// Refuses anything but a `YYYY-MM-DD` date.
pub fn check_date(date: &str) -> Result<(), Error> {
    let ok = date.len() == 10
        && date.bytes().enumerate().all(|(i, b)| if i == 4 || i == 7 { b == b'-' } else { b.is_ascii_digit() })
        && match (date[..4].parse::<i16>(), date[5..7].parse::<i8>(), date[8..10].parse::<i8>()) {
            // A day the month has, in the proleptic Gregorian calendar (2027-02-31 is none).
            (Ok(year), Ok(month), Ok(day)) => jiff::civil::Date::new(year, month, day).is_ok(),
            _ => false,
        };
    if ok { Ok(()) } else { Err(Error::Invalid(format!("{date:?} is not a date such as 2027-03-31"))) }
}

impl CoSell {
    /// A new record proposed by side `A`, by `by` at `at`.
    pub fn propose(id: &str, at: Stamp, by: &str) -> Self {
        let side = SideFields { account: lww(None, at, by), opportunity: lww(None, at, by), owner: lww(None, at, by) };
        Self {
            id: id.to_owned(),
            status: lww(Status::Proposed, at, by),
            stage: lww(String::new(), at, by),
            amount: lww(None, at, by),
            close_date: lww(None, at, by),
            next_steps: lww(String::new(), at, by),
            next_steps_history: BTreeSet::new(),
            notes: BTreeSet::new(),
            log: BTreeSet::from([Entry { at, by: by.to_owned(), text: "proposed".into() }]),
            a: side.clone(),
            b: side,
        }
    }

    /// Applies `edit` by `by` of side `at.party`, checking the lifecycle and who may do what.
    pub fn apply(&mut self, edit: Edit, at: Stamp, by: &str) -> Result<(), Error> {
        let too_long = |t: &str| t.len() > MAX_TEXT;
        let party = at.party;
        let what = match &edit {
            Edit::Status { status } => {
                let from = self.status.value;
                let allowed = match (from, status) {
                    (Status::Proposed, Status::Accepted | Status::Declined) => party == Party::B,
                    (Status::Accepted, Status::Active) => true,
                    (Status::Active, Status::Won | Status::Lost) => true,
                    (Status::Proposed | Status::Accepted | Status::Active, Status::Withdrawn) => true,
                    _ => false,
                };
                if !allowed {
                    return Err(Error::Transition { from: from.as_str(), to: status.as_str() });
                }
                self.status = lww(*status, at, by);
                format!("status {}", status.as_str())
            }
            _ if self.status.value.is_final() => {
                return Err(Error::Invalid(format!(
                    "the record is {}: it takes no more edits",
                    self.status.value.as_str()
                )));
            }
            _ if self.next_steps_history.len() + self.notes.len() + self.log.len() >= MAX_ENTRIES => {
                return Err(Error::Invalid(format!("the record holds {MAX_ENTRIES} entries, its most")));
            }
            Edit::Stage { stage } if !too_long(stage) => {
                self.stage = lww(stage.clone(), at, by);
                format!("stage {stage}")
            }
            Edit::Amount { amount } => {
                if amount.is_some_and(|a| a.minor < 0) {
                    return Err(Error::Invalid("an amount cannot be negative".into()));
                }
                self.amount = lww(*amount, at, by);
                format!("amount {}", amount.map_or("cleared".to_owned(), |a| a.to_string()))
            }
            Edit::CloseDate { date } => {
                if let Some(d) = date {
                    check_date(d)?;
                }
                self.close_date = lww(date.clone(), at, by);
                format!("close date {}", date.as_deref().unwrap_or("cleared"))
            }
            Edit::NextSteps { text } if !too_long(text) => {
                self.next_steps = lww(text.clone(), at, by);
                self.next_steps_history.insert(Entry { at, by: by.to_owned(), text: text.clone() });
                "next steps".to_owned()
            }
            Edit::Note { text } if !too_long(text) && !text.trim().is_empty() => {
                self.notes.insert(Entry { at, by: by.to_owned(), text: text.clone() });
                "note".to_owned()
            }
            Edit::Account { account } if !account.as_deref().is_some_and(too_long) => {
                self.side_mut(party).account = lww(account.clone(), at, by);
                "account".to_owned()
            }
            Edit::Opportunity { reference } if !reference.as_deref().is_some_and(too_long) => {
                self.side_mut(party).opportunity = lww(reference.clone(), at, by);
                "opportunity reference".to_owned()
            }
            Edit::Owner { owner } if !owner.as_deref().is_some_and(too_long) => {
                self.side_mut(party).owner = lww(owner.clone(), at, by);
                "owner".to_owned()
            }
            _ => return Err(Error::Invalid(format!("texts are 1 to {MAX_TEXT} bytes"))),
        };
        self.log.insert(Entry { at, by: by.to_owned(), text: what });
        Ok(())
    }

    fn side_mut(&mut self, party: Party) -> &mut SideFields {
        match party {
            Party::A => &mut self.a,
            Party::B => &mut self.b,
        }
    }

    /// Merges the other side's copy into this one. Both copies end equal after merging each
    /// other's, whatever happened to each in between.
    pub fn merge(&mut self, other: &Self) -> Result<(), Error> {
        if other.id != self.id {
            return Err(Error::Invalid("these are two different co-sell records".into()));
        }
        let theirs = (other.status.value.rank(), other.status.at);
        if theirs > (self.status.value.rank(), self.status.at) {
            self.status = other.status.clone();
        }
        self.stage.merge(&other.stage);
        self.amount.merge(&other.amount);
        self.close_date.merge(&other.close_date);
        self.next_steps.merge(&other.next_steps);
        self.next_steps_history.extend(other.next_steps_history.iter().cloned());
        self.notes.extend(other.notes.iter().cloned());
        self.log.extend(other.log.iter().cloned());
        for (mine, theirs) in [(&mut self.a, &other.a), (&mut self.b, &other.b)] {
            mine.account.merge(&theirs.account);
            mine.opportunity.merge(&theirs.opportunity);
            mine.owner.merge(&theirs.owner);
        }
        Ok(())
    }

    /// Checks a copy received from the partner against the limits edits obey (text lengths,
    /// how much the grow-only lists hold): a peer's copy is untrusted input.
    pub fn check_limits(&self) -> Result<(), Error> {
        let too_long = |t: &str| t.len() > MAX_TEXT;
        let optional = |t: &Option<String>| t.as_deref().is_some_and(too_long);
        let sides = [&self.a, &self.b];
        let bad_side = sides
            .iter()
            .any(|s| optional(&s.account.value) || optional(&s.opportunity.value) || optional(&s.owner.value));
        let bad_entry = self
            .next_steps_history
            .iter()
            .chain(&self.notes)
            .chain(&self.log)
            .any(|e| too_long(&e.text) || too_long(&e.by));
        let lists = self.next_steps_history.len() + self.notes.len() + self.log.len();
        if self.id.is_empty()
            || too_long(&self.id)
            || too_long(&self.stage.value)
            || too_long(&self.next_steps.value)
            || optional(&self.close_date.value)
            || bad_side
            || bad_entry
            || lists > MAX_ENTRIES
        {
            return Err(Error::Invalid(format!(
                "a co-sell record's texts are at most {MAX_TEXT} bytes and it holds at most {MAX_ENTRIES} entries"
            )));
        }
        Ok(())
    }

    /// Checks a copy received from the partner's node (`self`) against this side's own copy
    /// `own` (this side is `party`; on first sight `own` is the blank proposal) before they are
    /// merged. The partner's node is untrusted: beyond [`check_limits`](Self::check_limits), its
    /// copy may hold no stamp of ours that we never made, no stamp more than `max_ahead_ms`
    /// after `now_ms` (a register stamped far ahead could never be overwritten again), no
    /// negative amount or malformed date, and no lifecycle move its side may not make: only the
    /// invited side (`B`) accepts or declines, and a record goes active, won or lost only after
    /// the invited side accepted it.
    pub fn check_received(&self, own: &Self, party: Party, now_ms: i64, max_ahead_ms: i64) -> Result<(), Error> {
        self.check_limits()?;
        if self.id != own.id {
            return Err(Error::Invalid("these are two different co-sell records".into()));
        }
        if self.amount.value.is_some_and(|a| a.minor < 0) {
            return Err(Error::Forged("a negative amount"));
        }
        if let Some(date) = &self.close_date.value {
            check_date(date)?;
        }
        let registers = |r: &Self| {
            let mut out = vec![r.status.at, r.stage.at, r.amount.at, r.close_date.at, r.next_steps.at];
            for side in [&r.a, &r.b] {
                out.extend([side.account.at, side.opportunity.at, side.owner.at]);
            }
            out
        };
        let entries = |r: &Self| r.next_steps_history.iter().chain(&r.notes).chain(&r.log).cloned().collect::<Vec<_>>();
        let latest = registers(self).into_iter().chain(entries(self).iter().map(|e| e.at)).max();
        if latest.is_some_and(|at| at.ms > now_ms.saturating_add(max_ahead_ms)) {
            return Err(Error::Forged("a change stamped in the future"));
        }
        // Every register stamped by us must be one we wrote: at most as late as ours.
        let forged_register =
            registers(self).iter().zip(registers(own)).any(|(theirs, ours)| theirs.party == party && *theirs > ours);
        let known: BTreeSet<Entry> = entries(own).into_iter().collect();
        let forged_entry = entries(self).iter().any(|e| e.at.party == party && !known.contains(e));
        if forged_register || forged_entry {
            return Err(Error::Forged("a change in our name that we never made"));
        }
        match self.status.value {
            Status::Accepted | Status::Declined if self.status.at.party != Party::B => {
                Err(Error::Forged("only the invited side accepts or declines"))
            }
            Status::Active | Status::Won | Status::Lost if party == Party::B && !own.accepted() => {
                Err(Error::Forged("the record moved on before we accepted it"))
            }
            _ => Ok(()),
        }
    }

    /// Whether the invited side accepted the record (its log says so).
    fn accepted(&self) -> bool {
        let accepted = format!("status {}", Status::Accepted.as_str());
        self.log.iter().any(|e| e.at.party == Party::B && e.text == accepted)
    }

    /// Keeps this side's own fields as they are here whatever `other` says of them: a partner's
    /// copy may not write our account, opportunity reference or owner.
    pub fn keep_own_side(&self, party: Party, other: &mut Self) {
        match party {
            Party::A => other.a = self.a.clone(),
            Party::B => other.b = self.b.clone(),
        }
    }

    /// The latest stamp in the record: what a side's clock must observe after a merge.
    pub fn latest(&self) -> Stamp {
        let mut latest = self.status.at;
        for s in [self.stage.at, self.amount.at, self.close_date.at, self.next_steps.at] {
            latest = latest.max(s);
        }
        self.log.iter().map(|e| e.at).fold(latest, Stamp::max)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::money::Currency;

    fn stamp(ms: i64, party: Party) -> Stamp {
        Stamp { ms, counter: 0, party }
    }

    fn record() -> CoSell {
        CoSell::propose("cs_1", stamp(0, Party::A), "ada")
    }

    #[test]
    fn the_lifecycle_moves_forward_and_only_the_invited_side_accepts() {
        let mut r = record();
        assert!(r.apply(Edit::Status { status: Status::Accepted }, stamp(1, Party::A), "ada").is_err());
        r.apply(Edit::Status { status: Status::Accepted }, stamp(1, Party::B), "bo").unwrap();
        assert!(r.apply(Edit::Status { status: Status::Won }, stamp(2, Party::A), "ada").is_err(), "active first");
        r.apply(Edit::Status { status: Status::Active }, stamp(2, Party::A), "ada").unwrap();
        r.apply(Edit::Status { status: Status::Won }, stamp(3, Party::A), "ada").unwrap();
        assert!(r.apply(Edit::Stage { stage: "late".into() }, stamp(4, Party::B), "bo").is_err(), "final");
        let log: Vec<&str> = r.log.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(log, ["proposed", "status accepted", "status active", "status won"]);
        assert_eq!(r.log.iter().map(|e| e.by.as_str()).collect::<Vec<_>>(), ["ada", "bo", "ada", "ada"]);
    }

    #[test]
    fn concurrent_edits_converge_by_the_stated_rules() {
        let mut base = record();
        base.apply(Edit::Status { status: Status::Accepted }, stamp(1, Party::B), "bo").unwrap();
        base.apply(Edit::Status { status: Status::Active }, stamp(2, Party::A), "ada").unwrap();
        let (mut a, mut b) = (base.clone(), base);
        // Concurrently: A marks it won at 10, B lost at 11; both set the stage; each its owner.
        a.apply(Edit::Stage { stage: "committed".into() }, stamp(5, Party::A), "ada").unwrap();
        b.apply(Edit::Stage { stage: "negotiation".into() }, stamp(6, Party::B), "bo").unwrap();
        a.apply(Edit::Owner { owner: Some("Ada".into()) }, stamp(7, Party::A), "ada").unwrap();
        b.apply(Edit::Owner { owner: Some("Bo".into()) }, stamp(7, Party::B), "bo").unwrap();
        a.apply(Edit::Note { text: "kick-off done".into() }, stamp(8, Party::A), "ada").unwrap();
        b.apply(Edit::Note { text: "budget confirmed".into() }, stamp(8, Party::B), "bo").unwrap();
        a.apply(Edit::Status { status: Status::Won }, stamp(10, Party::A), "ada").unwrap();
        b.apply(Edit::Status { status: Status::Lost }, stamp(11, Party::B), "bo").unwrap();
        let a_before = a.clone();
        a.merge(&b).unwrap();
        b.merge(&a_before).unwrap();
        assert_eq!(a, b, "both copies end equal");
        assert_eq!(a.status.value, Status::Lost, "the later of two final moves");
        assert_eq!(a.stage.value, "negotiation", "the later write");
        assert_eq!((a.a.owner.value.as_deref(), a.b.owner.value.as_deref()), (Some("Ada"), Some("Bo")));
        assert_eq!(a.notes.len(), 2, "notes only grow");
    }

    #[test]
    fn a_partners_copy_may_hold_only_what_its_side_could_make() {
        const NOW: i64 = 1_000;
        const AHEAD: i64 = 100;
        let proposed = record();
        // First sight on the invited side: nothing of B's can be in it yet.
        let never = CoSell::propose("cs_1", Stamp { ms: i64::MIN, counter: 0, party: Party::A }, "");
        proposed.check_received(&never, Party::B, NOW, AHEAD).unwrap();
        let mut accepted_by_a = proposed.clone();
        accepted_by_a.status = lww(Status::Accepted, stamp(5, Party::A), "ada");
        let mut forged_accept = proposed.clone();
        forged_accept.apply(Edit::Status { status: Status::Accepted }, stamp(5, Party::B), "bo").unwrap();
        let mut active = proposed.clone();
        active.status = lww(Status::Active, stamp(6, Party::A), "ada");
        let mut ahead = proposed.clone();
        ahead.apply(Edit::Stage { stage: "pinned".into() }, stamp(NOW + AHEAD + 1, Party::A), "ada").unwrap();
        let mut negative = proposed.clone();
        negative.amount =
            lww(Some(Money { minor: -1, currency: Currency::new("EUR").unwrap() }), stamp(7, Party::A), "ada");
        let mut bad_date = proposed.clone();
        bad_date.close_date = lww(Some("2027-13-01".into()), stamp(7, Party::A), "ada");
        for (copy, why) in [
            (&accepted_by_a, "the creator accepts"),
            (&forged_accept, "an acceptance in B's name B never made"),
            (&active, "active before B accepted"),
            (&ahead, "stamped past the allowed skew"),
            (&negative, "a negative amount"),
            (&bad_date, "a malformed date"),
        ] {
            assert!(copy.check_received(&never, Party::B, NOW, AHEAD).is_err(), "{why}");
        }

        // Later, on B's side, once B accepted: A's moves on are fine; a note in B's name is not.
        let mut ours = proposed;
        ours.apply(Edit::Status { status: Status::Accepted }, stamp(10, Party::B), "bo").unwrap();
        let mut theirs = ours.clone();
        theirs.apply(Edit::Status { status: Status::Active }, stamp(11, Party::A), "ada").unwrap();
        theirs.apply(Edit::Note { text: "kick-off".into() }, stamp(12, Party::A), "ada").unwrap();
        theirs.check_received(&ours, Party::B, NOW, AHEAD).unwrap();
        let mut impersonating = theirs.clone();
        impersonating.apply(Edit::Note { text: "B agrees to 50 %".into() }, stamp(13, Party::B), "bo").unwrap();
        assert!(impersonating.check_received(&ours, Party::B, NOW, AHEAD).is_err());
        let mut overwriting = theirs.clone();
        overwriting.b.owner = lww(Some("Mallory".into()), stamp(14, Party::B), "bo");
        assert!(overwriting.check_received(&ours, Party::B, NOW, AHEAD).is_err(), "a register in B's name");
        // On A's side, B's copy holding A's changes as A made them is fine.
        ours.apply(Edit::Stage { stage: "qualified".into() }, stamp(15, Party::B), "bo").unwrap();
        ours.check_received(&theirs, Party::A, NOW, AHEAD).unwrap();
    }

    #[test]
    fn a_later_stage_beats_an_earlier_one_whatever_the_clocks() {
        let mut ahead = record();
        ahead.apply(Edit::Status { status: Status::Accepted }, stamp(1, Party::B), "bo").unwrap();
        ahead.apply(Edit::Status { status: Status::Active }, stamp(2, Party::B), "bo").unwrap();
        let mut behind = record();
        // A side whose clock runs far ahead accepts late: `active` still wins.
        behind.apply(Edit::Status { status: Status::Accepted }, stamp(1_000_000, Party::B), "bo").unwrap();
        behind.merge(&ahead).unwrap();
        assert_eq!(behind.status.value, Status::Active);
        assert!(record().merge(&CoSell::propose("cs_2", stamp(0, Party::A), "x")).is_err());
    }

    #[test]
    fn clocks_stay_ahead_of_what_they_saw() {
        let mut clock = Clock::new(Party::B);
        let s1 = clock.tick(100);
        let s2 = clock.tick(100);
        assert!(s2 > s1, "same millisecond: the counter moves");
        clock.observe(Stamp { ms: 500, counter: 3, party: Party::A });
        let s3 = clock.tick(200);
        assert!(s3 > Stamp { ms: 500, counter: 3, party: Party::A } && s3.party == Party::B);
    }

    #[test]
    fn edits_are_validated() {
        let mut r = record();
        let eur = Currency::new("EUR").unwrap();
        assert!(
            r.apply(Edit::Amount { amount: Some(Money { minor: -1, currency: eur }) }, stamp(1, Party::A), "a")
                .is_err()
        );
        assert!(r.apply(Edit::CloseDate { date: Some("2027-13-01".into()) }, stamp(1, Party::A), "a").is_err());
        assert!(r.apply(Edit::Note { text: " ".into() }, stamp(1, Party::A), "a").is_err());
        assert!(r.apply(Edit::Stage { stage: "x".repeat(MAX_TEXT + 1) }, stamp(1, Party::A), "a").is_err());
        r.apply(Edit::CloseDate { date: Some("2027-03-31".into()) }, stamp(1, Party::A), "a").unwrap();
    }

    #[test]
    fn dates_are_days_their_month_has() {
        for date in ["2027-03-31", "2027-02-28", "2028-02-29", "2000-02-29", "0000-01-01", "9999-12-31"] {
            assert!(check_date(date).is_ok(), "{date}");
        }
        for date in ["2027-02-31", "2027-02-29", "2100-02-29", "2027-04-31", "2027-00-10", "2027-01-00", "2027-1-01"] {
            let e = check_date(date).unwrap_err().to_string();
            assert!(e.contains("is not a date such as 2027-03-31"), "{date}: {e}");
        }
    }

    #[test]
    fn clocks_start_at_the_wall_time() {
        let mut clock = Clock::new(Party::A);
        assert_eq!(clock.tick(100), stamp(100, Party::A));
        let behind = clock.tick(50);
        assert_eq!(behind, Stamp { ms: 100, counter: 1, party: Party::A }, "a clock never goes back");
        assert_eq!(clock.tick(101), stamp(101, Party::A));
    }

    #[test]
    fn every_edit_lands_in_its_register_and_the_log() {
        let eur = Currency::new("EUR").unwrap();
        let mut r = record();
        let at = |ms| stamp(ms, Party::B);
        let zero = Money { minor: 0, currency: eur };
        r.apply(Edit::Amount { amount: Some(zero) }, at(1), "bo").unwrap();
        r.apply(Edit::NextSteps { text: "call".into() }, at(2), "bo").unwrap();
        r.apply(Edit::Account { account: Some("0011".into()) }, at(3), "bo").unwrap();
        r.apply(Edit::Opportunity { reference: Some("OPP-7".into()) }, at(4), "bo").unwrap();
        r.apply(Edit::Owner { owner: Some("Bo".into()) }, at(5), "bo").unwrap();
        assert_eq!(r.amount.value, Some(zero), "a zero amount is an amount");
        assert_eq!((r.next_steps.value.as_str(), r.next_steps_history.len()), ("call", 1));
        assert_eq!(r.b.account.value.as_deref(), Some("0011"));
        assert_eq!(r.b.opportunity.value.as_deref(), Some("OPP-7"));
        assert_eq!(r.b.owner.value.as_deref(), Some("Bo"));
        assert_eq!(r.a.owner.value, None, "a side writes its own part only");
        let log: Vec<&str> = r.log.iter().map(|e| e.text.as_str()).collect();
        assert_eq!(log, ["proposed", "amount 0.00 EUR", "next steps", "account", "opportunity reference", "owner"]);
    }

    #[test]
    fn texts_are_at_most_max_text_bytes() {
        let at = stamp(1, Party::A);
        let longest = "x".repeat(MAX_TEXT);
        let too_long = "x".repeat(MAX_TEXT + 1);
        let edits = |t: &String| {
            [
                Edit::Stage { stage: t.clone() },
                Edit::NextSteps { text: t.clone() },
                Edit::Note { text: t.clone() },
                Edit::Account { account: Some(t.clone()) },
                Edit::Opportunity { reference: Some(t.clone()) },
                Edit::Owner { owner: Some(t.clone()) },
            ]
        };
        for edit in edits(&longest) {
            record().apply(edit.clone(), at, "ada").unwrap_or_else(|e| panic!("{edit:?}: {e}"));
        }
        for edit in edits(&too_long) {
            assert!(record().apply(edit.clone(), at, "ada").is_err(), "{edit:?}");
        }
    }

    #[test]
    fn either_side_withdraws_until_the_record_is_over() {
        let withdraw =
            |r: &mut CoSell, party| r.apply(Edit::Status { status: Status::Withdrawn }, stamp(9, party), "x");
        let mut proposed = record();
        withdraw(&mut proposed, Party::A).unwrap();
        assert_eq!(proposed.status.value, Status::Withdrawn);
        let mut accepted = record();
        accepted.apply(Edit::Status { status: Status::Accepted }, stamp(1, Party::B), "bo").unwrap();
        withdraw(&mut accepted, Party::B).unwrap();
        let mut active = record();
        active.apply(Edit::Status { status: Status::Accepted }, stamp(1, Party::B), "bo").unwrap();
        active.apply(Edit::Status { status: Status::Active }, stamp(2, Party::A), "ada").unwrap();
        withdraw(&mut active, Party::A).unwrap();
        assert_eq!(active.status.value, Status::Withdrawn);
        assert!(withdraw(&mut active, Party::B).is_err(), "withdrawn is final");
    }

    #[test]
    fn a_record_takes_at_most_max_entries() {
        let entry = |i: usize| Entry { at: stamp(i as i64, Party::A), by: "ada".into(), text: i.to_string() };
        // One next step, one note, and the log full to the limit in all.
        let mut r = record();
        r.log.clear();
        r.next_steps_history.insert(entry(0));
        r.notes.insert(entry(1));
        r.log.extend((2..MAX_ENTRIES).map(entry));
        let note = || Edit::Note { text: "one more".into() };
        assert!(r.apply(note(), stamp(1 << 40, Party::A), "ada").is_err());
        assert!(r.check_limits().is_ok(), "a full record is within the limits");
        r.log.insert(entry(MAX_ENTRIES));
        assert!(r.check_limits().is_err(), "one entry too many");
        r.log.remove(&entry(MAX_ENTRIES));
        r.log.remove(&entry(2));
        r.apply(note(), stamp(1 << 40, Party::A), "ada").unwrap();
    }

    #[test]
    fn received_copies_are_held_to_the_limits() {
        assert!(record().check_limits().is_ok());
        let long = "x".repeat(MAX_TEXT + 1);
        let at = stamp(1, Party::B);
        type Change<'a> = Box<dyn Fn(&mut CoSell) + 'a>;
        let cases: [(&str, Change<'_>); 10] = [
            ("empty id", Box::new(|r| r.id.clear())),
            ("long id", Box::new(|r| r.id = long.clone())),
            ("long stage", Box::new(|r| r.stage.value = long.clone())),
            ("long next steps", Box::new(|r| r.next_steps.value = long.clone())),
            ("long close date", Box::new(|r| r.close_date.value = Some(long.clone()))),
            ("long account", Box::new(|r| r.b.account.value = Some(long.clone()))),
            ("long opportunity", Box::new(|r| r.a.opportunity.value = Some(long.clone()))),
            ("long owner", Box::new(|r| r.b.owner.value = Some(long.clone()))),
            (
                "long note",
                Box::new(|r| {
                    r.notes.insert(Entry { at, by: "bo".into(), text: long.clone() });
                }),
            ),
            (
                "long author",
                Box::new(|r| {
                    r.log.insert(Entry { at, by: long.clone(), text: "note".into() });
                }),
            ),
        ];
        for (why, change) in cases {
            let mut r = record();
            change(&mut r);
            assert!(r.check_limits().is_err(), "{why}");
            assert!(r.check_received(&record(), Party::A, 1_000, 100).is_err(), "{why}");
        }
        // At the limit: fine.
        let mut r = record();
        r.stage.value = "x".repeat(MAX_TEXT);
        assert!(r.check_limits().is_ok());
    }

    #[test]
    fn our_side_stays_ours_whatever_the_partner_says() {
        let mut ours = record();
        ours.apply(Edit::Owner { owner: Some("Ada".into()) }, stamp(1, Party::A), "ada").unwrap();
        let mut theirs = record();
        theirs.a.owner = lww(Some("Mallory".into()), stamp(9, Party::B), "bo");
        theirs.b.owner = lww(Some("Bo".into()), stamp(9, Party::B), "bo");
        ours.keep_own_side(Party::A, &mut theirs);
        assert_eq!(theirs.a, ours.a, "A's part as A has it");
        assert_eq!(theirs.b.owner.value.as_deref(), Some("Bo"), "B's part untouched");
        let mut other = record();
        other.b.owner = lww(Some("Mallory".into()), stamp(9, Party::A), "ada");
        ours.keep_own_side(Party::B, &mut other);
        assert_eq!(other.b, ours.b);
    }

    #[test]
    fn an_equal_stamp_does_not_overwrite() {
        // Registers are only replaced by a later stamp: a copy merging one that carries the same
        // stamp keeps its own value, so merging is idempotent register by register.
        let mut mine = record();
        let mut theirs = record();
        theirs.stage.value = "other".into();
        mine.merge(&theirs).unwrap();
        assert_eq!(mine.stage.value, "");
        theirs.stage.at = stamp(1, Party::A);
        mine.merge(&theirs).unwrap();
        assert_eq!(mine.stage.value, "other");
    }

    #[test]
    fn an_equal_status_stamp_keeps_our_status() {
        let at = stamp(5, Party::A);
        let mut mine = record();
        mine.status = lww(Status::Won, at, "ada");
        let mut theirs = record();
        theirs.status = lww(Status::Lost, at, "ada");
        mine.merge(&theirs).unwrap();
        assert_eq!(mine.status.value, Status::Won);
    }

    #[test]
    fn received_copies_at_the_edges_are_accepted() {
        const NOW: i64 = 1_000;
        const AHEAD: i64 = 100;
        let never = CoSell::propose("cs_1", Stamp { ms: i64::MIN, counter: 0, party: Party::A }, "");
        let mut copy = record();
        let zero = Money { minor: 0, currency: Currency::new("EUR").unwrap() };
        copy.apply(Edit::Amount { amount: Some(zero) }, stamp(NOW + AHEAD, Party::A), "ada").unwrap();
        copy.check_received(&never, Party::B, NOW, AHEAD).unwrap();
    }

    #[test]
    fn only_the_invited_sides_acceptance_counts() {
        // B wrote a note, and A's log line reads like an acceptance: neither is B accepting.
        let mut ours = record();
        ours.apply(Edit::Note { text: "looking".into() }, stamp(1, Party::B), "bo").unwrap();
        ours.log.insert(Entry { at: stamp(2, Party::A), by: "ada".into(), text: "status accepted".into() });
        let mut theirs = ours.clone();
        theirs.status = lww(Status::Active, stamp(3, Party::A), "ada");
        assert!(theirs.check_received(&ours, Party::B, 1_000, 100).is_err());
    }

    fn edit_strategy() -> impl Strategy<Value = (Edit, i64, bool)> {
        let eur = Currency::new("EUR").unwrap();
        let edit = prop_oneof![
            (0u8..7).prop_map(|s| Edit::Status {
                status: [
                    Status::Accepted,
                    Status::Declined,
                    Status::Active,
                    Status::Won,
                    Status::Lost,
                    Status::Withdrawn,
                    Status::Proposed
                ][s as usize]
            }),
            "[a-z]{1,8}".prop_map(|stage| Edit::Stage { stage }),
            (0i64..1_000_000).prop_map(move |m| Edit::Amount { amount: Some(Money { minor: m, currency: eur }) }),
            "[a-z]{1,8}".prop_map(|text| Edit::NextSteps { text }),
            "[a-z]{1,8}".prop_map(|text| Edit::Note { text }),
            "[a-z]{1,8}".prop_map(|o| Edit::Owner { owner: Some(o) }),
        ];
        (edit, 1i64..50, any::<bool>())
    }

    proptest! {
        /// Two sides edit concurrently (and exchange copies at random points); after exchanging
        /// copies both ways, they are equal, and merging is idempotent and order-free.
        #[test]
        fn copies_converge_whatever_the_edits(edits in prop::collection::vec(edit_strategy(), 0..40),
                                              syncs in prop::collection::vec(any::<bool>(), 40)) {
            let mut a = record();
            let mut b = record();
            let (mut ca, mut cb) = (Clock::new(Party::A), Clock::new(Party::B));
            for (i, (edit, ms, on_a)) in edits.into_iter().enumerate() {
                if on_a {
                    let _ = a.apply(edit, ca.tick(ms), "ada");
                } else {
                    let _ = b.apply(edit, cb.tick(ms), "bo");
                }
                if syncs[i] {
                    let snapshot = a.clone();
                    a.merge(&b).unwrap();
                    ca.observe(a.latest());
                    b.merge(&snapshot).unwrap();
                    cb.observe(b.latest());
                }
            }
            let (a0, b0) = (a.clone(), b.clone());
            a.merge(&b0).unwrap();
            b.merge(&a0).unwrap();
            prop_assert_eq!(&a, &b);
            let mut again = a.clone();
            again.merge(&b).unwrap();
            prop_assert_eq!(&again, &a, "idempotent");
            let mut other_order = b0.clone();
            other_order.merge(&a0).unwrap();
            prop_assert_eq!(&other_order, &a, "commutative");
        }
    }
}
