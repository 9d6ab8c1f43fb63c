//! Both parties in one process: moves frames between two sessions until both finish.
//!
//! This is the whole "transport" of `blindmap match-files`, of the benchmark and of the tests.
//! It is still sans-IO: frames are handed over in memory, one at a time, alternating sides, so
//! that neither side's outbox grows beyond one chunk's answers.

use crate::error::Error;
use crate::outcome::Outcome;
use crate::session::Session;
use crate::wire::Role;

/// Which way a frame travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// From the initiator to the responder.
    InitiatorToResponder,
    /// From the responder to the initiator.
    ResponderToInitiator,
}

impl Direction {
    /// The sender's role.
    pub fn sender(self) -> Role {
        match self {
            Self::InitiatorToResponder => Role::Initiator,
            Self::ResponderToInitiator => Role::Responder,
        }
    }

    /// The receiver's role.
    pub fn receiver(self) -> Role {
        self.sender().peer()
    }
}

/// Watches an in-process run: every frame as it is produced and once it is consumed.
/// Default methods do nothing.
pub trait Observer {
    /// `frame` was produced by the sender (its work for it, if any, is done).
    fn produced(&mut self, _direction: Direction, _frame: &[u8]) {}
    /// `frame` was consumed by the receiver (its work for it is done).
    fn consumed(&mut self, _direction: Direction, _frame: &[u8]) {}
}

impl Observer for () {}

/// The result of [`run_in_process`].
#[derive(Debug)]
pub struct InProcessRun {
    /// What the initiator learned.
    pub initiator: Outcome,
    /// What the responder learned.
    pub responder: Outcome,
    /// Bytes sent by the initiator.
    pub bytes_from_initiator: u64,
    /// Bytes sent by the responder.
    pub bytes_from_responder: u64,
    /// Frames exchanged, both ways.
    pub frames: u64,
}

/// Runs a session between an initiator and a responder in this process.
pub fn run_in_process(initiator: Session, responder: Session) -> Result<InProcessRun, Error> {
    run_in_process_with(initiator, responder, &mut ())
}

/// [`run_in_process`], reporting every frame to `observer`.
pub fn run_in_process_with(
    mut initiator: Session,
    mut responder: Session,
    observer: &mut impl Observer,
) -> Result<InProcessRun, Error> {
    let mut bytes = [0u64; 2];
    let mut frames = 0u64;
    loop {
        let mut progress = false;
        for direction in [Direction::InitiatorToResponder, Direction::ResponderToInitiator] {
            let (from, to) = match direction {
                Direction::InitiatorToResponder => (&mut initiator, &mut responder),
                Direction::ResponderToInitiator => (&mut responder, &mut initiator),
            };
            if let Some(frame) = from.poll_transmit() {
                observer.produced(direction, &frame);
                bytes[direction as usize] += frame.len() as u64;
                frames += 1;
                let result = to.receive(&frame);
                observer.consumed(direction, &frame);
                if let Err(e) = result {
                    // Deliver the receiver's abort so that both sides end the same way.
                    if let Some(abort) = to.poll_transmit() {
                        let _ = from.receive(&abort);
                    }
                    return Err(e);
                }
                progress = true;
            }
        }
        if !progress {
            break;
        }
    }
    if !(initiator.is_finished() && responder.is_finished()) {
        return Err(Error::State("both sides are waiting: the session stalled"));
    }
    Ok(InProcessRun {
        initiator: initiator.into_outcome()?,
        responder: responder.into_outcome()?,
        bytes_from_initiator: bytes[0],
        bytes_from_responder: bytes[1],
        frames,
    })
}
