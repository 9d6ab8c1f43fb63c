//! Sessions: the two roles of spec §9 as explicit state machines.
//!
//! A [`Session`] consumes frames with [`Session::receive`] and produces them with
//! [`Session::poll_transmit`]; it never touches a socket, a file or a clock. Work on a received
//! chunk, or on the next chunk of our own records, is data-parallel on the caller's rayon pool
//! inside those calls.

mod exchange;
mod index;
mod own;
mod partner;

use std::collections::VecDeque;
use std::sync::Arc;

use crate::error::{Error, PeerMisbehaviour};
use crate::kept::{BloomCache, KeptKeys};
use crate::outcome::Outcome;
use crate::policy::{DisclosurePolicy, Level, Plan};
use crate::record::Dataset;
use crate::seed::SessionSeed;
use crate::wire::{self, Frame, Hello, Message, Role, SegmentInfo, SessionId};

use exchange::Exchange;

/// Records per chunk unless configured otherwise.
pub const DEFAULT_CHUNK_RECORDS: usize = 4096;
/// Largest partner set accepted unless configured otherwise.
pub const DEFAULT_MAX_PARTNER_RECORDS: u64 = 100_000_000;
/// Largest number of partner keys accepted unless configured otherwise.
pub const DEFAULT_MAX_PARTNER_KEYS: u64 = 400_000_000;

/// How a party takes part in a session, beyond what it discloses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// Whether this party asks to learn anything (default: yes). A party that only discloses
    /// sends no queries and receives no results.
    pub learn: bool,
    /// Serve our evaluated sets as Bloom filters instead of element lists (spec §9.7). Only for
    /// a party that does not learn and discloses no fields; saves the partner from evaluating
    /// our whole set when ours is much larger.
    pub bloom: bool,
    /// Records per chunk of our own stream (at most 65535).
    pub chunk_records: usize,
    /// We abort if the partner declares more records than this (spec §3.3).
    pub max_partner_records: u64,
    /// We abort if the partner declares more keys than this (spec §3.3).
    pub max_partner_keys: u64,
    /// We record at most this many matches and mark the results incomplete past it, without
    /// telling the partner (spec §10.1); `None`: 16 per element of both sides plus a million, far
    /// above what honest data produces.
    pub max_matches: Option<u64>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            learn: true,
            bloom: false,
            chunk_records: DEFAULT_CHUNK_RECORDS,
            max_partner_records: DEFAULT_MAX_PARTNER_RECORDS,
            max_partner_keys: DEFAULT_MAX_PARTNER_KEYS,
            max_matches: None,
        }
    }
}

enum State {
    /// Responder: waiting for the initiator's hello. Initiator: hello queued, waiting for the
    /// responder's.
    AwaitHello,
    /// Waiting for the peer's plan (we have its hello).
    AwaitPlan { partner: Hello, my_plan: Option<Plan> },
    /// Both plans known: streaming.
    Exchange(Box<Exchange>),
    /// The session ended with this error; an abort may still be queued.
    Failed(Error),
    /// Taken by [`Session::into_outcome`].
    Done,
}

/// One party's side of a session.
pub struct Session {
    role: Role,
    data: Arc<Dataset>,
    policy: DisclosurePolicy,
    config: SessionConfig,
    seed: Option<SessionSeed>,
    my_hello: Hello,
    session_id: SessionId,
    send_seq: u32,
    recv_seq: u32,
    outbox: VecDeque<Vec<u8>>,
    state: State,
    /// What a Bloom sender with kept keys keeps between sessions (spec §20.5).
    bloom_cache: Option<Arc<BloomCache>>,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("role", &self.role)
            .field("send_seq", &self.send_seq)
            .field("recv_seq", &self.recv_seq)
            .finish_non_exhaustive()
    }
}

impl Session {
    /// The initiator's side. Its hello is ready to transmit at once.
    pub fn initiator(
        data: Arc<Dataset>,
        policy: DisclosurePolicy,
        config: SessionConfig,
        seed: SessionSeed,
    ) -> Result<Self, Error> {
        Self::new(Role::Initiator, data, policy, config, seed)
    }

    /// The responder's side. It speaks once the initiator's hello arrives.
    pub fn responder(
        data: Arc<Dataset>,
        policy: DisclosurePolicy,
        config: SessionConfig,
        seed: SessionSeed,
    ) -> Result<Self, Error> {
        Self::new(Role::Responder, data, policy, config, seed)
    }

    /// The responder's side of a party that serves Bloom filters and learns nothing, under keys
    /// it keeps between sessions with this partner (spec §20.5): its evaluated keys and filters
    /// are taken from `cache`, and kept there, instead of being made anew. `config` must serve
    /// Bloom filters and not learn; `cache` must be one made for `keys` and for this `data`.
    pub fn bloom_responder(
        data: Arc<Dataset>,
        policy: DisclosurePolicy,
        config: SessionConfig,
        keys: &KeptKeys,
        cache: Arc<BloomCache>,
    ) -> Result<Self, Error> {
        if !config.bloom || config.learn {
            return Err(Error::State("kept keys serve Bloom filters to a partner, and learn nothing"));
        }
        if !cache.is_for(keys) {
            return Err(Error::State("the Bloom cache was made for other keys"));
        }
        let mut session = Self::new(Role::Responder, data, policy, config, keys.0.clone())?;
        session.bloom_cache = Some(cache);
        Ok(session)
    }

    fn new(
        role: Role,
        data: Arc<Dataset>,
        policy: DisclosurePolicy,
        config: SessionConfig,
        seed: SessionSeed,
    ) -> Result<Self, Error> {
        if config.bloom && config.learn {
            return Err(crate::error::InputError::BloomWhileLearning.into());
        }
        // spec §9.7: refused here, before any hello, rather than by an abort once plans resolve.
        if config.bloom {
            policy.check_bloom()?;
        }
        if config.chunk_records == 0 || config.chunk_records > wire::MAX_CHUNK_RECORDS {
            return Err(Error::State("chunk_records must be between 1 and 65535"));
        }
        let segments = data
            .segments()
            .iter()
            .enumerate()
            .map(|(i, label)| {
                let (keys, max_width) = data.segment_shape(i);
                #[allow(clippy::cast_possible_truncation, reason = "a segment has at most MAX_RECORDS < 2^31 records")]
                let records = data.members(i).len() as u32;
                SegmentInfo { label: label.clone(), records, keys, max_width }
            })
            .collect();
        let my_hello = Hello { role, learn: config.learn, segments };
        // spec §7.2: the initiator's session id comes from its seed.
        let mut session_id = [0u8; wire::SESSION_ID_LEN];
        if role == Role::Initiator {
            seed.prg(b"blindmap/v1/session-id").fill(&mut session_id);
        }
        let mut session = Self {
            role,
            data,
            policy,
            config,
            seed: Some(seed),
            my_hello,
            session_id,
            send_seq: 0,
            recv_seq: 0,
            outbox: VecDeque::new(),
            state: State::AwaitHello,
            bloom_cache: None,
        };
        if role == Role::Initiator {
            let hello = Message::Hello(session.my_hello.clone());
            session.send(hello);
        }
        Ok(session)
    }

    /// The next frame to transmit, if any. Producing our own chunks happens here, lazily, so
    /// that at most one chunk of ours waits in memory.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if let Some(frame) = self.outbox.pop_front() {
            return Some(frame);
        }
        let State::Exchange(exchange) = &mut self.state else { return None };
        match exchange.next_outgoing() {
            Ok(messages) => {
                for m in messages {
                    self.send(m);
                }
            }
            Err(e) => self.fail(e),
        }
        self.outbox.pop_front()
    }

    /// Consumes one frame from the peer. On error the session is over: an abort frame is
    /// queued for the peer (unless the peer aborted) and the error is returned.
    pub fn receive(&mut self, frame: &[u8]) -> Result<(), Error> {
        match self.state {
            State::Failed(_) | State::Done => return Err(Error::State("the session has ended")),
            _ => {}
        }
        match self.receive_inner(frame) {
            Ok(()) => Ok(()),
            Err(e) => {
                self.fail(e.clone());
                Err(e)
            }
        }
    }

    /// Whether both directions are complete: all our frames are out and all the peer's are in.
    pub fn is_finished(&self) -> bool {
        self.outbox.is_empty() && matches!(&self.state, State::Exchange(x) if x.is_finished())
    }

    /// Whether the session failed; the error is returned by [`Session::into_outcome`].
    pub fn is_failed(&self) -> bool {
        matches!(self.state, State::Failed(_))
    }

    /// What this party learned. Fails unless [`Session::is_finished`].
    pub fn into_outcome(mut self) -> Result<Outcome, Error> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::Exchange(x) if x.is_finished() => Ok(x.into_outcome()),
            State::Failed(e) => Err(e),
            _ => Err(Error::State("the session has not finished")),
        }
    }

    fn send(&mut self, message: Message) {
        let frame = Frame { session_id: self.session_id, seq: self.send_seq, message };
        self.send_seq += 1;
        self.outbox.push_back(frame.encode());
    }

    /// spec §13: on any error, stop; tell the peer why unless it told us.
    fn fail(&mut self, error: Error) {
        self.outbox.clear();
        if !matches!(error, Error::PeerAborted(_)) {
            let code = error.abort_code();
            self.send(Message::Abort(code));
        }
        self.state = State::Failed(error);
    }

    fn receive_inner(&mut self, bytes: &[u8]) -> Result<(), Error> {
        let (frame, points) = wire::decode_frame(bytes)?;
        // spec §9.1: every frame carries the session id and the sender's next sequence number.
        let adopting = self.role == Role::Responder && self.recv_seq == 0;
        // spec §9.1: a responder that refuses the first frame has no session id to send yet, so
        // its Abort, as its first frame, carries zeros.
        let early_abort = self.role == Role::Initiator
            && self.recv_seq == 0
            && frame.session_id == [0; wire::SESSION_ID_LEN]
            && matches!(frame.message, Message::Abort(_));
        if !adopting && !early_abort && frame.session_id != self.session_id {
            return Err(PeerMisbehaviour::WrongSession.into());
        }
        if frame.seq != self.recv_seq {
            return Err(PeerMisbehaviour::OutOfSequence { expected: self.recv_seq, got: frame.seq }.into());
        }
        self.recv_seq += 1;
        if let Message::Abort(code) = frame.message {
            return Err(Error::PeerAborted(code));
        }
        if adopting {
            self.session_id = frame.session_id;
        }
        let state = std::mem::replace(&mut self.state, State::Done);
        let (state, out) = self.step(state, frame.message, points)?;
        self.state = state;
        for m in out {
            self.send(m);
        }
        Ok(())
    }

    fn step(
        &mut self,
        state: State,
        message: Message,
        points: Vec<curve25519_dalek::RistrettoPoint>,
    ) -> Result<(State, Vec<Message>), Error> {
        match (state, message) {
            (State::AwaitHello, Message::Hello(partner)) => {
                self.check_hello(&partner)?;
                match self.role {
                    Role::Responder => {
                        // spec §9.2: the responder answers with its hello and its plan.
                        let plan = self.resolve_plan(&partner);
                        let out = vec![Message::Hello(self.my_hello.clone()), Message::Plan(plan.clone())];
                        Ok((State::AwaitPlan { partner, my_plan: Some(plan) }, out))
                    }
                    Role::Initiator => Ok((State::AwaitPlan { partner, my_plan: None }, Vec::new())),
                }
            }
            (State::AwaitPlan { partner, my_plan }, Message::Plan(their_plan)) => {
                self.check_plan(&their_plan, &partner)?;
                let mut out = Vec::new();
                let my_plan = match my_plan {
                    Some(plan) => plan,
                    None => {
                        let plan = self.resolve_plan(&partner);
                        out.push(Message::Plan(plan.clone()));
                        plan
                    }
                };
                let seed = self.seed.take().ok_or(Error::State("seed already used"))?;
                let exchange = Exchange::new(
                    self.role,
                    self.session_id,
                    Arc::clone(&self.data),
                    seed,
                    &self.config,
                    self.my_hello.clone(),
                    partner,
                    my_plan,
                    their_plan,
                    self.bloom_cache.clone(),
                )?;
                Ok((State::Exchange(Box::new(exchange)), out))
            }
            (State::Exchange(mut exchange), message) => {
                let out = exchange.receive(message, points)?;
                Ok((State::Exchange(exchange), out))
            }
            (state, message) => {
                let expected = match state {
                    State::AwaitHello => "Hello",
                    State::AwaitPlan { .. } => "Plan",
                    _ => "nothing",
                };
                Err(PeerMisbehaviour::UnexpectedMessage {
                    expected: expected.into(),
                    got: message.kind().name().into(),
                }
                .into())
            }
        }
    }

    /// spec §9.2: a hello from the other role, with distinct labels, within our limits.
    fn check_hello(&self, hello: &Hello) -> Result<(), Error> {
        if hello.role != self.role.peer() {
            return Err(PeerMisbehaviour::InvalidHello("both parties claim the same role").into());
        }
        let mut labels: Vec<_> = hello.segments.iter().map(|s| &s.label).collect();
        labels.sort();
        if labels.windows(2).any(|w| w[0] == w[1]) {
            return Err(PeerMisbehaviour::InvalidHello("duplicate segment labels").into());
        }
        let records: u64 = hello.segments.iter().map(|s| u64::from(s.records)).sum();
        if records > self.config.max_partner_records {
            return Err(PeerMisbehaviour::SetTooLarge {
                what: "records",
                declared: records,
                limit: self.config.max_partner_records,
            }
            .into());
        }
        let keys: u64 = hello.segments.iter().map(|s| u64::from(s.records) * u64::from(s.max_width).max(1)).sum();
        if keys > self.config.max_partner_keys {
            return Err(PeerMisbehaviour::SetTooLarge {
                what: "keys (records × max width)",
                declared: keys,
                limit: self.config.max_partner_keys,
            }
            .into());
        }
        Ok(())
    }

    /// spec §9.3: the partner's plan fits both hellos and the rules of §6.
    fn check_plan(&self, plan: &Plan, partner: &Hello) -> Result<(), Error> {
        if plan.rows != self.my_hello.segments.len() || plan.cols != partner.segments.len() {
            return Err(PeerMisbehaviour::InvalidPlan("dimensions do not match the declared segments").into());
        }
        if !self.my_hello.learn && plan.cells.iter().any(|l| *l != Level::Hidden) {
            return Err(PeerMisbehaviour::InvalidPlan("discloses to a party that asked to learn nothing").into());
        }
        if plan.bloom && partner.learn {
            return Err(PeerMisbehaviour::InvalidPlan("Bloom filters from a party that also learns").into());
        }
        if plan.bloom && plan.cells.iter().any(|l| matches!(l, Level::Fields(_) | Level::Counts)) {
            return Err(PeerMisbehaviour::InvalidPlan("Bloom filters serve the overlaps level only").into());
        }
        Ok(())
    }

    fn resolve_plan(&self, partner: &Hello) -> Plan {
        let partner_segments: Vec<_> = partner.segments.iter().map(|s| (s.label.clone(), s.records)).collect();
        self.policy.resolve(self.data.segments(), &partner_segments, partner.learn, self.config.bloom)
    }
}
