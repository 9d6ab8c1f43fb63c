//! The partner's side of a session with the vendor's node: the protocol's initiator
//! (`blindmap_psi::Session`), learning the overlaps and disclosing nothing (spec §9.7: the
//! vendor answers as a Bloom-filter sender that learns nothing).
//!
//! Sans-IO like the session it wraps: the worker moves each frame to and from the WebSocket.
//! Once finished, the outcome is kept with the dataset it was computed over, so that the partner
//! can reveal what it chooses of it to the vendor (spec §20.6) and read the vendor's fields that
//! come back (§20.7).

use blindmap_psi::json::{FieldsMessage, RevealMessage};
use blindmap_psi::wire::{FRAME_HEADER_LEN, Frame, Kind, Message};
use blindmap_psi::{DisclosurePolicy, Level, Outcome, Reveal, Session, SessionConfig, SessionSeed};
use getrandom::SysRng;
use getrandom::rand_core::UnwrapErr;

use crate::error::Error;
use crate::import::Imported;
use crate::results::{Results, Returned, SharedView, plan_in_words};

/// Records evaluated so far and in all: what the page's progress bar shows.
///
/// The units are records: ours as they go out, ours again as the vendor's answers come back,
/// and the vendor's as its records come in (a vendor serving a Bloom filter sends none).
#[derive(Debug, Default, Clone, Copy)]
struct Progress {
    done: u64,
    total: u64,
    partner_records: u64,
}

impl Progress {
    fn records(frame: &[u8]) -> u64 {
        Frame::peek_elements_records(frame).map_or(0, u64::from)
    }

    fn sent(&mut self, frame: &[u8]) {
        self.done += Self::records(frame);
    }

    fn received(&mut self, frame: &[u8]) {
        match Frame::peek_kind(frame) {
            Some(Kind::Elements) => self.done += Self::records(frame),
            // spec §8.7: reference (2) || segment (2) || first (4) || count (2)
            Some(Kind::Tags | Kind::Points) => {
                let at = FRAME_HEADER_LEN + 8;
                if let Some(&[a, b]) = frame.get(at..at + 2) {
                    self.done += u64::from(u16::from_be_bytes([a, b]));
                }
            }
            Some(Kind::Hello) => {
                if let Ok(Frame { message: Message::Hello(hello), .. }) = Frame::decode(frame) {
                    self.partner_records = hello.segments.iter().map(|s| u64::from(s.records)).sum();
                }
            }
            // The vendor's records count once we know it sends them: not when it serves a Bloom
            // filter, as its plan says (spec §9.7).
            Some(Kind::Plan) => {
                if let Ok(Frame { message: Message::Plan(plan), .. }) = Frame::decode(frame)
                    && !plan.bloom()
                {
                    self.total += self.partner_records;
                }
            }
            _ => {}
        }
    }
}

enum State {
    Running(Box<Session>),
    Finished(Box<Finished>),
    /// The session failed with this message (the vendor's abort or our check).
    Failed(String),
}

/// A finished session: what the partner learned, and the results as the page shows them.
pub(crate) struct Finished {
    pub(crate) outcome: Outcome,
    pub(crate) results: Results,
    /// What the partner revealed to the vendor (spec §20.6), once it has, and which of its
    /// records each revealed record is.
    revealed: Option<(Reveal, Vec<Option<usize>>)>,
}

/// The partner's session with the vendor's node.
pub struct PartnerSession {
    imported: Imported,
    state: State,
    progress: Progress,
    bytes_sent: u64,
    bytes_received: u64,
}

impl PartnerSession {
    /// A session over `imported` with a fresh seed from the platform's randomness (in the
    /// browser, `crypto.getRandomValues`). Its first frame (the hello) is ready at once.
    pub fn new(imported: &Imported) -> Result<Self, Error> {
        // UnwrapErr panics where the platform has no randomness: ask once first, so that a
        // browser without it gets an error instead.
        getrandom::fill(&mut [0u8; 1]).map_err(Error::Randomness)?;
        let seed = SessionSeed::random(&mut UnwrapErr(SysRng));
        Self::with_seed(imported, seed)
    }

    /// A session over `imported` with this seed (the tests fix it).
    pub fn with_seed(imported: &Imported, seed: SessionSeed) -> Result<Self, Error> {
        let session = Session::initiator(imported.dataset.clone(), policy(), config(), seed)?;
        let own = imported.dataset.records().len() as u64;
        Ok(Self {
            imported: imported.clone(),
            state: State::Running(Box::new(session)),
            progress: Progress { total: 2 * own, ..Progress::default() },
            bytes_sent: 0,
            bytes_received: 0,
        })
    }

    /// The next frame to send to the vendor, if any. After a failure, the abort frame that
    /// tells the vendor why (once), then nothing.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        let State::Running(session) = &mut self.state else { return None };
        let Some(frame) = session.poll_transmit() else {
            // Our last frame may be what finished the session.
            if session.is_finished() {
                let _ = self.finish();
            }
            return None;
        };
        self.progress.sent(&frame);
        self.bytes_sent += frame.len() as u64;
        Some(frame)
    }

    /// Takes one frame from the vendor. An error ends the session: the abort for the vendor is
    /// then waiting in [`PartnerSession::poll_transmit`].
    pub fn receive(&mut self, frame: &[u8]) -> Result<(), Error> {
        let State::Running(session) = &mut self.state else {
            return Err(Error::State("the session has ended"));
        };
        self.bytes_received += frame.len() as u64;
        self.progress.received(frame);
        session.receive(frame)?;
        if session.is_finished() {
            self.finish()?;
        }
        Ok(())
    }

    /// Whether the session has finished: everything sent and received, the results ready.
    pub fn is_finished(&self) -> bool {
        match &self.state {
            State::Finished(_) => true,
            State::Running(session) => session.is_finished(),
            State::Failed(_) => false,
        }
    }

    /// Whether the session failed.
    pub fn is_failed(&self) -> bool {
        matches!(&self.state, State::Failed(_)) || matches!(&self.state, State::Running(s) if s.is_failed())
    }

    /// `(records done, records in all)`; done never above the total.
    pub fn progress(&self) -> (u64, u64) {
        if matches!(self.state, State::Finished(_)) {
            return (self.progress.total, self.progress.total);
        }
        (self.progress.done.min(self.progress.total), self.progress.total)
    }

    /// Bytes sent and received so far.
    pub fn traffic(&self) -> (u64, u64) {
        (self.bytes_sent, self.bytes_received)
    }

    /// The results, once finished.
    pub fn results(&mut self) -> Result<&Results, Error> {
        if let State::Running(session) = &self.state
            && session.is_finished()
        {
            self.finish()?;
        }
        match &self.state {
            State::Finished(finished) => Ok(&finished.results),
            State::Failed(message) => Err(Error::Failed(message.clone())),
            State::Running(_) => Err(Error::State("the match has not finished")),
        }
    }

    /// The outcome, once finished: for the steps after a session.
    pub fn outcome(&mut self) -> Option<&Outcome> {
        if self.is_finished() {
            let _ = self.finish();
        }
        match &self.state {
            State::Finished(finished) => Some(&finished.outcome),
            _ => None,
        }
    }

    /// Reveals to the vendor what `policy` discloses of the overlaps (spec §20.6), once the
    /// session has finished and before the page says `done`: the reveal's text message, or
    /// `None` when the policy discloses nothing (then nothing need be sent). Once per session.
    pub fn reveal(&mut self, policy: &DisclosurePolicy) -> Result<Option<String>, Error> {
        if self.is_finished() {
            self.finish()?;
        }
        let State::Finished(finished) = &mut self.state else {
            return Err(Error::State("the match has not finished: nothing to reveal yet"));
        };
        if finished.revealed.is_some() {
            return Err(Error::State("the overlaps were revealed already"));
        }
        let reveal = finished.outcome.reveal(&self.imported.dataset, policy, &mut UnwrapErr(SysRng));
        let own = finished.outcome.revealed_records(&reveal);
        let nothing = reveal.counts.is_empty()
            && reveal.records.is_empty()
            && (0..reveal.plan.rows())
                .all(|r| (0..reveal.plan.cols()).all(|c| *reveal.plan.level(r, c) == Level::Hidden));
        let text = (!nothing).then(|| RevealMessage::of(&reveal).to_text());
        finished.results.shared_with_them = Some(SharedView {
            in_words: if nothing { "nothing".to_owned() } else { plan_in_words(&reveal.plan) },
            accounts: distinct(reveal.records.iter().zip(&own).map(|(_, o)| *o)),
            with_fields: distinct(
                reveal.records.iter().zip(&own).filter(|(r, _)| !r.fields.is_empty()).map(|(_, o)| *o),
            ),
            counts: reveal.counts.len() as u64,
            returned: 0,
        });
        finished.revealed = Some((reveal, own));
        Ok(text)
    }

    /// Takes the vendor's `fields` message (spec §20.7): its fields for the records revealed,
    /// shown with the overlaps they belong to.
    pub fn receive_fields(&mut self, text: &str) -> Result<(), Error> {
        let State::Finished(finished) = &mut self.state else {
            return Err(Error::State("fields from the vendor before the match finished"));
        };
        let Some((reveal, own)) = &finished.revealed else {
            return Err(Error::Returned("nothing was revealed to return fields for".into()));
        };
        let message = serde_json::from_str(text).map_err(|_| Error::Returned("not JSON".into()))?;
        let returned =
            FieldsMessage::from_value(message).and_then(|m| m.into_returned(reveal)).map_err(Error::Returned)?;
        let mut by_account = Returned::new();
        for r in returned {
            let revealed = &reveal.records[r.record as usize];
            let Some(record) = own[r.record as usize] else { continue };
            let fields = r.fields.into_iter().map(|(n, v)| (n.to_string(), v)).collect();
            by_account.entry((record, revealed.row)).or_default().push(fields);
        }
        let shared = finished.results.shared_with_them.take().map(|s| SharedView {
            returned: by_account.keys().map(|(record, _)| *record).collect::<std::collections::BTreeSet<_>>().len()
                as u64,
            ..s
        });
        finished.results = Results::of(&finished.outcome, &self.imported, &by_account);
        finished.results.shared_with_them = shared;
        Ok(())
    }

    fn finish(&mut self) -> Result<(), Error> {
        let state = std::mem::replace(&mut self.state, State::Failed(String::new()));
        let State::Running(session) = state else {
            self.state = state;
            return Ok(());
        };
        match session.into_outcome() {
            Ok(outcome) => {
                let results = Results::of(&outcome, &self.imported, &Returned::new());
                self.state = State::Finished(Box::new(Finished { outcome, results, revealed: None }));
                Ok(())
            }
            Err(e) => {
                self.state = State::Failed(e.to_string());
                Err(e.into())
            }
        }
    }
}

/// The partner discloses nothing inside the session: what the vendor may learn of the
/// overlaps is the partner's choice afterwards.
fn policy() -> DisclosurePolicy {
    DisclosurePolicy::new(Level::Hidden)
}

/// The partner learns: the overlaps of its own accounts.
fn config() -> SessionConfig {
    SessionConfig { learn: true, ..SessionConfig::default() }
}

/// How many distinct records of the partner's.
fn distinct(records: impl Iterator<Item = Option<usize>>) -> u64 {
    records.flatten().collect::<std::collections::BTreeSet<_>>().len() as u64
}
