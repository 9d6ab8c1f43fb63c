//! Driving a protocol session over a byte stream in each direction (spec §16.1): frames go out
//! back to back on one stream and come in back to back on the other, cut by their own headers.
//!
//! Both directions move at once — each side keeps reading while it waits to send — so neither
//! side's buffers can fill up waiting for the other. The session's work (evaluating a chunk)
//! runs on the blocking pool, never on the async workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use blindmap_psi::wire::{Frame, Kind, Message};
use blindmap_psi::{Outcome, Session, Transcript};
use bytes::{Bytes, BytesMut};
use futures_util::{Stream, StreamExt};
use tokio::sync::mpsc;

/// The longest either direction may stall (nothing received while waiting, nothing sendable).
pub(crate) const IDLE_LIMIT: Duration = Duration::from_secs(120);

/// How long a party waits, once its session ended, for the partner to close its direction.
const CLOSE_LIMIT: Duration = Duration::from_secs(30);

/// Records evaluated so far and in all, both sides together: what a progress bar shows.
#[derive(Debug, Default)]
pub struct Progress {
    done: AtomicU64,
    total: AtomicU64,
}

impl Progress {
    /// `(done, total)`, done never above total; the total grows once the partner's hello arrives.
    pub fn get(&self) -> (u64, u64) {
        let total = self.total.load(Ordering::Relaxed);
        (self.done.load(Ordering::Relaxed).min(total), total)
    }

    fn add_total(&self, n: u64) {
        self.total.fetch_add(n, Ordering::Relaxed);
    }

    /// Counts the records a frame carries, as the bar's unit.
    fn frame(&self, frame: &[u8]) {
        if let Some(n) = Frame::peek_elements_records(frame) {
            self.done.fetch_add(u64::from(n), Ordering::Relaxed);
        }
    }
}

/// Why a session over the network did not finish.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Failure {
    /// The protocol failed: our check, or the partner's abort.
    #[error("{0}")]
    Protocol(#[from] blindmap_psi::Error),
    /// The connection failed or closed early.
    #[error("{0}")]
    Transport(String),
}

/// A finished session's traffic.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Traffic {
    pub(crate) bytes_sent: u64,
    pub(crate) bytes_received: u64,
    pub(crate) frames: u64,
}

/// Cuts a byte stream into frames by their headers, without decoding them.
struct FrameReader<S> {
    stream: S,
    buffer: BytesMut,
}

/// What the next read gave.
enum Read {
    Frame(Bytes),
    /// Bytes that cannot start a valid frame: handed to the session, which rejects them.
    Invalid(Bytes),
    /// The stream ended cleanly between frames.
    End,
    /// The stream failed, or ended inside a frame.
    Broken(String),
}

impl<S, E> FrameReader<S>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    /// The next frame. Cancel-safe: bytes read are kept in the buffer.
    async fn next(&mut self) -> Read {
        loop {
            match Frame::peek_len(&self.buffer) {
                Ok(Some(len)) if self.buffer.len() >= len => return Read::Frame(self.buffer.split_to(len).freeze()),
                Ok(_) => {}
                Err(_) => return Read::Invalid(std::mem::take(&mut self.buffer).freeze()),
            }
            match self.stream.next().await {
                Some(Ok(bytes)) => self.buffer.extend_from_slice(&bytes),
                // The stream's error says what failed (the connection, or a refusal before any frame).
                Some(Err(e)) => return Read::Broken(e.to_string()),
                None if self.buffer.is_empty() => return Read::End,
                None => return Read::Broken("the connection closed in the middle of a frame".into()),
            }
        }
    }
}

/// Runs `f` on the session on the blocking pool.
async fn on_pool<T: Send + 'static>(
    session: Session,
    f: impl FnOnce(&mut Session) -> T + Send + 'static,
) -> Result<(Session, T), Failure> {
    tokio::task::spawn_blocking(move || {
        let mut session = session;
        let out = f(&mut session);
        (session, out)
    })
    .await
    .map_err(|e| Failure::Transport(format!("the session's worker failed: {e}")))
}

/// A session and where its frames go.
pub(crate) struct Driver {
    pub(crate) session: Session,
    /// This side's own records, for the progress total (the partner's come with its hello).
    pub(crate) own_records: u64,
    pub(crate) progress: Arc<Progress>,
    pub(crate) transcript: Option<Transcript>,
}

impl Driver {
    /// Runs the session to its end: frames from `incoming`, frames to `outgoing`. Returns the
    /// transcript (when kept) whatever the outcome.
    pub(crate) async fn run<S, E>(
        self,
        incoming: S,
        outgoing: mpsc::Sender<Bytes>,
    ) -> (Result<(Outcome, Traffic), Failure>, Option<Transcript>)
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let Self { session, own_records, progress, mut transcript } = self;
        progress.add_total(own_records);
        let mut reader = FrameReader { stream: incoming, buffer: BytesMut::new() };
        let mut traffic = Traffic::default();
        let result = pump(session, &mut reader, &outgoing, &progress, &mut transcript, &mut traffic).await;
        // Close our direction only now, then wait for the partner to close theirs: our last
        // frames are queued, not delivered, and dropping the connection at once could lose them
        // (and with them the partner's result, or our abort).
        drop(outgoing);
        let result = match result {
            Ok(outcome) => match tokio::time::timeout(CLOSE_LIMIT, reader.next()).await {
                Ok(Read::End) => Ok(outcome),
                Ok(Read::Frame(_) | Read::Invalid(_)) => {
                    Err(Failure::Transport("the partner sent more after the session ended".into()))
                }
                Ok(Read::Broken(e)) => Err(Failure::Transport(e)),
                Err(_) => Err(Failure::Transport("the partner did not close the connection after the session".into())),
            },
            Err(Failure::Protocol(e)) => {
                // Give our abort time to reach the partner, which then closes its side.
                let _ = tokio::time::timeout(CLOSE_LIMIT, reader.next()).await;
                Err(Failure::Protocol(e))
            }
            Err(e) => Err(e),
        };
        if let Some(t) = transcript.as_mut() {
            t.end(&match &result {
                Ok(_) => "the session finished".to_owned(),
                Err(e) => format!("the session failed: {e}"),
            });
        }
        (result.map(|o| (o, traffic)), transcript)
    }
}

async fn pump<S, E>(
    mut session: Session,
    reader: &mut FrameReader<S>,
    outgoing: &mpsc::Sender<Bytes>,
    progress: &Progress,
    transcript: &mut Option<Transcript>,
    traffic: &mut Traffic,
) -> Result<Outcome, Failure>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut pending: Option<Vec<u8>> = None;
    let mut incoming_open = true;
    loop {
        if pending.is_none() {
            let (s, frame) = on_pool(session, Session::poll_transmit).await?;
            session = s;
            pending = frame;
        }
        if pending.is_none() {
            if session.is_finished() || session.is_failed() {
                return Ok(session.into_outcome()?);
            }
            if !incoming_open {
                return Err(Failure::Transport("the partner closed the connection before the session ended".into()));
            }
        }
        let step = tokio::time::timeout(IDLE_LIMIT, async {
            tokio::select! {
                permit = outgoing.reserve(), if pending.is_some() => Step::Send(permit.ok()),
                read = reader.next(), if incoming_open => Step::Read(read),
            }
        })
        .await
        .map_err(|_| Failure::Transport(format!("the partner sent nothing for {} s", IDLE_LIMIT.as_secs())))?;
        match step {
            Step::Send(None) => return Err(Failure::Transport("the connection closed".into())),
            Step::Send(Some(permit)) => {
                let frame = pending.take().expect("a pending frame");
                traffic.bytes_sent += frame.len() as u64;
                traffic.frames += 1;
                progress.frame(&frame);
                if let Some(t) = transcript.as_mut() {
                    t.sent(&frame);
                }
                permit.send(Bytes::from(frame));
            }
            Step::Read(Read::End) => incoming_open = false,
            Step::Read(Read::Broken(reason)) => return Err(Failure::Transport(reason)),
            Step::Read(Read::Frame(frame) | Read::Invalid(frame)) => {
                traffic.bytes_received += frame.len() as u64;
                traffic.frames += 1;
                progress.frame(&frame);
                if let Some(t) = transcript.as_mut() {
                    t.received(&frame);
                }
                if Frame::peek_kind(&frame) == Some(Kind::Hello)
                    && let Ok(Frame { message: Message::Hello(hello), .. }) = Frame::decode(&frame)
                {
                    progress.add_total(hello.segments.iter().map(|s| u64::from(s.records)).sum());
                }
                // An error queues the abort for the partner; the loop sends it, then ends.
                let (s, _) = on_pool(session, move |s| s.receive(&frame)).await?;
                session = s;
            }
        }
    }
}

enum Step<'a> {
    /// Room to send one frame (or `None`: the connection is gone).
    Send(Option<mpsc::Permit<'a, Bytes>>),
    Read(Read),
}
