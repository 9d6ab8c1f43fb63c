//! A partner without a node: the command line takes the initiator's side against a vendor's node
//! with a local CSV export, over the same peer channel two nodes use (spec §16.1).
//!
//! The partner keeps a client identity (a self-signed certificate and its key, like a node's) and
//! pairs once by accepting the vendor's invite code; the vendor's node pins that certificate and
//! serves runs to it under the sharing policy it holds for the partnership. Nothing is stored on
//! the partner's machine but the identity and the pairing; the results are printed.

use std::sync::Arc;

use blindmap_psi::{Dataset, DisclosurePolicy, Outcome, Session, SessionConfig, SessionSeed, Transcript};
use blindmap_store::PartnershipId;
use futures_util::StreamExt;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::client::{ClientError, PeerClient, PeerStreamError};
use crate::node::identity::Identity;
use crate::peer::invite::InviteContent;
pub use crate::peer::session_io::Progress;
use crate::peer::session_io::{Driver, Failure};
use crate::peer::{AcceptRequest, AcceptResponse};
use crate::service::runs::FRAME_BUFFER;

/// Why a remote pairing or run failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RemoteError {
    /// The code is not a usable invite: what is wrong with it (spec §18.2).
    #[error("{0}")]
    NotAnInvite(String),
    /// The vendor's node could not be reached or refused.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The session failed; the transcript so far, when kept.
    #[error("the session failed: {reason}")]
    Failed {
        /// Why.
        reason: String,
        /// Every frame up to the failure.
        transcript: Option<String>,
    },
}

/// A partner's pairing with a vendor's node, kept on the partner's machine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RemotePairing {
    /// The vendor's node.
    pub url: String,
    /// Its certificate's fingerprint, pinned.
    pub fingerprint: String,
    /// The vendor node's id for the partnership.
    pub partnership: String,
    /// The vendor organisation's name.
    pub organisation: String,
}

/// Accepts a vendor's invite `code` as `organisation`, presenting `identity`: the vendor's node
/// records the partnership and pins the identity's certificate.
pub async fn accept(identity: &Identity, code: &str, organisation: &str) -> Result<RemotePairing, RemoteError> {
    let invite = InviteContent::parse(code).map_err(|e| RemoteError::NotAnInvite(e.to_string()))?;
    let request = AcceptRequest {
        secret: invite.secret,
        organisation: organisation.to_owned(),
        // No node: the vendor cannot call back, and starts no runs itself.
        url: String::new(),
        partnership: PartnershipId::generate().to_string(),
    };
    let peer = PeerClient::new(&invite.url, &invite.fingerprint, identity)?;
    let answer: AcceptResponse = peer.post("/peer/v1/accept", &request).await?;
    Ok(RemotePairing {
        url: invite.url,
        fingerprint: invite.fingerprint,
        partnership: answer.partnership,
        organisation: answer.organisation,
    })
}

/// A finished remote run.
#[derive(Debug)]
pub struct RemoteRun {
    /// What this side learned.
    pub outcome: Outcome,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// The transcript, when asked for.
    pub transcript: Option<String>,
}

/// Runs a session as the initiator with `data` against the paired vendor's node, disclosing what
/// `policy` allows. `progress` is updated as records are evaluated.
pub async fn run(
    identity: &Identity,
    pairing: &RemotePairing,
    data: Arc<Dataset>,
    policy: DisclosurePolicy,
    transcript: bool,
    progress: Arc<Progress>,
) -> Result<RemoteRun, RemoteError> {
    let failed = |reason: String| RemoteError::Failed { reason, transcript: None };
    let session =
        Session::initiator(data.clone(), policy, SessionConfig::default(), SessionSeed::random(&mut rand::rng()))
            .map_err(|e| failed(e.to_string()))?;
    let client = PeerClient::for_runs(&pairing.url, &pairing.fingerprint, identity)?;
    let (outgoing, rx) = mpsc::channel(FRAME_BUFFER);
    // A refusal (or a failure to connect) before the vendor's first byte is the call's error, as
    // for any other call; a failure after it is the session's.
    let before_any = Arc::new(std::sync::Mutex::new((false, None)));
    let seen = Arc::clone(&before_any);
    let incoming = client.open_stream(&format!("/peer/v1/partnerships/{}/runs", pairing.partnership), rx).map(
        move |item: Result<bytes::Bytes, PeerStreamError>| {
            let mut seen = seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            match item {
                Ok(bytes) => {
                    seen.0 = true;
                    Ok(bytes)
                }
                Err(e) if !seen.0 && seen.1.is_none() => {
                    // The driver hears the same words; the call's error keeps its kind.
                    let said = e.to_string();
                    seen.1 = Some(match e {
                        PeerStreamError::Refused { status, detail } => ClientError::Api { status, detail },
                        PeerStreamError::Failed(e) => e,
                    });
                    Err(said)
                }
                Err(e) => Err(e.to_string()),
            }
        },
    );
    let transcript = transcript.then(|| {
        Transcript::new(&[
            ("role", "initiator"),
            ("partner", &pairing.organisation),
            ("records", &data.records().len().to_string()),
        ])
    });
    let driver = Driver { session, own_records: data.records().len() as u64, progress, transcript };
    let (result, transcript) = driver.run(Box::pin(incoming), outgoing).await;
    let transcript = transcript.map(Transcript::into_text);
    match result {
        Ok((outcome, traffic)) => Ok(RemoteRun {
            outcome,
            bytes_sent: traffic.bytes_sent,
            bytes_received: traffic.bytes_received,
            transcript,
        }),
        Err(Failure::Transport(_)) if before_any.lock().is_ok_and(|s| s.1.is_some()) => {
            let taken = before_any.lock().unwrap_or_else(std::sync::PoisonError::into_inner).1.take();
            Err(RemoteError::Client(taken.expect("checked")))
        }
        Err(Failure::Protocol(e)) => Err(RemoteError::Failed { reason: e.to_string(), transcript }),
        Err(Failure::Transport(e)) => Err(RemoteError::Failed { reason: e, transcript }),
    }
}
