//! Match runs between partner nodes: preparing a session from the store, driving it over the
//! peer channel, and storing what this side learned — whole, in one transaction, or not at all.
//!
//! The initiator's node calls the responder's `POST /peer/v1/partnerships/{ref}/runs` once per
//! run over mutual TLS; the request body carries the initiator's frames and the response body the
//! responder's, both directions at once on one HTTP/2 stream (spec §16.1). Each node keeps its
//! own run record with its own role, dataset, policy and results. The run's state lives in the
//! store: any replica answers for it, and a run whose driving process dies is failed by its
//! stopped heartbeat, never left half-stored.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use blindmap_psi::{
    BloomCache, Dataset, DisclosurePolicy, KeptKeys, Level, Outcome, SegmentLabel, Session, SessionConfig, SessionSeed,
    Transcript,
};
use blindmap_records::Side;
use blindmap_store::{
    AccountChange, ChangeKind, Completion, NewRun, OrgId, Partnership, ReportFilter, ReportScope, ReportSort, Run,
    RunId, RunOverlap, RunRole, SharingPolicy, Store, StoreError, Tier,
};
use bytes::Bytes;
use futures_util::Stream;
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::api::runs::{CellChange, Disclosed, LevelName, Matrix, Received, RunChanges, RunResult};
use crate::peer::session_io::{Driver, Failure, Progress, Traffic};

/// The media type of a stream of protocol frames.
pub(crate) const FRAMES_TYPE: &str = "application/vnd.blindmap.frames";

/// How often a driving process refreshes its run's heartbeat.
const HEARTBEAT: Duration = Duration::from_secs(5);

/// Frames buffered per direction before the sender waits.
pub(crate) const FRAME_BUFFER: usize = 8;

/// The runs one process drives: spawned here, so that stopping the node can fail them at once
/// ("the node shut down") instead of leaving them to the stale-heartbeat rule.
pub(crate) struct RunTasks {
    stop: tokio::sync::watch::Sender<bool>,
    tasks: std::sync::Mutex<tokio::task::JoinSet<()>>,
    /// What the browser partners' sessions keep between runs (spec §20.5), most recent first.
    bloom: std::sync::Mutex<Vec<(KeptFor, Arc<BloomCache>)>>,
    /// The dataset they were last served from.
    dataset: Arc<KeptDataset>,
}

/// Browser partners' caches this process keeps at most: each holds 32 bytes per key of the
/// organisation's list (32 MB per million keys) and its last filters.
const BLOOM_CACHES: usize = 4;

/// Whose kept keys a cache is for: the partnership, the dataset, when the keys were made.
type KeptFor = (String, String, i64);

impl Default for RunTasks {
    fn default() -> Self {
        Self {
            stop: tokio::sync::watch::Sender::new(false),
            tasks: std::sync::Mutex::new(tokio::task::JoinSet::new()),
            bloom: std::sync::Mutex::default(),
            dataset: Arc::default(),
        }
    }
}

impl RunTasks {
    /// Drives a started run in the background (see [`drive`]).
    pub(crate) fn spawn<S, E, C>(&self, store: Store, mut started: Started, connect: C)
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin + Send + 'static,
        E: std::fmt::Display + Send + 'static,
        C: Future<Output = Result<Connection<S>, String>> + Send + 'static,
    {
        if let Some(kept) = &mut started.kept {
            kept.cache = Some(self.bloom_cache(&kept.for_, &kept.keys));
            kept.dataset = Some(Arc::clone(&self.dataset));
        }
        let stop = self.stop.subscribe();
        let mut tasks = self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        while tasks.try_join_next().is_some() {}
        tasks.spawn(drive(store, started, connect, stop));
    }

    /// The cache for sessions under `keys`, kept for `whose`: the one kept, or a new one (and
    /// the least recently used beyond `BLOOM_CACHES` dropped).
    fn bloom_cache(&self, whose: &KeptFor, keys: &KeptKeys) -> Arc<BloomCache> {
        let mut caches = self.bloom.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let cache = match caches.iter().position(|(w, _)| w == whose) {
            Some(i) => caches.remove(i).1,
            None => Arc::new(BloomCache::new(keys)),
        };
        caches.insert(0, (whose.clone(), Arc::clone(&cache)));
        caches.truncate(BLOOM_CACHES);
        cache
    }

    /// Drops every run this process drives without recording anything: what a process that
    /// dies leaves (`RunningNode::kill`).
    pub(crate) fn abort_all(&self) {
        self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner).abort_all();
    }

    /// Stops every run this process drives (each is failed with the reason) and waits for them
    /// to record it, at most `wait`.
    pub(crate) async fn stop_all(&self, wait: Duration) {
        self.stop.send_replace(true);
        let mut tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        let _ = tokio::time::timeout(wait, async { while tasks.join_next().await.is_some() {} }).await;
    }
}

/// Why a sharing policy cannot be used: a rule's segment is not a label, or the protocol
/// refuses a rule (spec §6.2). Refused when the policy is saved (422).
#[derive(Debug, thiserror::Error)]
pub(crate) enum SharingError {
    /// A rule names a segment that is neither `*` nor a label.
    #[error("sharing rule segment {segment:?}: {error}")]
    Segment {
        /// As the rule gives it.
        segment: String,
        /// Why it is no label.
        error: blindmap_psi::InputError,
    },
    /// The protocol refuses the rule (e.g. two rules for the same cell).
    #[error("sharing rule: {0}")]
    Rule(blindmap_psi::InputError),
}

/// Why a run cannot start. `http::error` maps each to its status: no dataset, or a partner's
/// unusable stored policy → 409; this side's unusable policy → 422.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum StartError {
    /// The organisation has imported nothing.
    #[error("there is no dataset to match: import a CRM export first (blindmap datasets import)")]
    NoDataset,
    /// This side's own policy cannot be used.
    #[error(transparent)]
    Sharing(#[from] SharingError),
    /// The responder's stored policy cannot be used (the partner hears that, not what it says).
    #[error("the partner's sharing policy for this partnership cannot be used; its admins must set it again")]
    PartnerPolicy,
    /// The partnership has ended.
    #[error("the partnership with {0} has ended")]
    Ended(String),
    /// The partner has no node to call (it runs matches itself, as a remote client).
    #[error("{0} has no node: it starts runs itself, with `blindmap match --remote`")]
    NoPartnerNode(String),
    /// The partner matches in its browser, through its link: it starts runs itself.
    #[error(
        "{0} matches in its browser: it starts runs itself, from the link you sent it (`blindmap partner link` makes a new one)"
    )]
    InBrowser(String),
    /// This process runs without a node identity: it cannot call partners.
    #[error("this API instance runs without a node identity and cannot call partners")]
    NoNode,
    /// The partner's node cannot be called (its address or certificate is unusable).
    #[error("the partner's node: {0}")]
    Partner(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Starts a run with the partner of `partnership`, started by `user`: records it, opens the
/// protocol stream to the partner's node and drives it in the background (`node.runs`), and
/// audits the start. Returns the run as started; its state and progress are the store's.
pub(crate) async fn initiate(
    store: &Store,
    node: Option<&crate::NodeContext>,
    user: &blindmap_store::User,
    partnership: &blindmap_store::PartnershipId,
    transcript: bool,
) -> Result<Run, StartError> {
    initiate_as(store, node, &user.org, &user.name, partnership, transcript).await
}

/// [`initiate`], for `org`, started by `started_by` (a user's name, or the node's scheduler).
pub(crate) async fn initiate_as(
    store: &Store,
    node: Option<&crate::NodeContext>,
    org: &OrgId,
    started_by: &str,
    partnership: &blindmap_store::PartnershipId,
    transcript: bool,
) -> Result<Run, StartError> {
    let partnership = store.partnership(org, partnership).await?;
    if partnership.state != blindmap_store::PartnershipState::Active {
        return Err(StartError::Ended(partnership.partner_name));
    }
    if partnership.in_browser() {
        return Err(StartError::InBrowser(partnership.partner_name));
    }
    if partnership.partner_url.is_empty() {
        return Err(StartError::NoPartnerNode(partnership.partner_name));
    }
    let node = node.ok_or(StartError::NoNode)?;
    let client =
        crate::client::PeerClient::for_runs(&partnership.partner_url, &partnership.partner_fingerprint, &node.identity)
            .map_err(|e| StartError::Partner(e.to_string()))?;
    let started = start(store, org, &partnership, RunRole::Initiator, started_by, transcript).await?;
    let run = started.run.clone();
    let path = format!("/peer/v1/partnerships/{}/runs", partnership.partner_ref);
    node.runs.spawn(store.clone(), started, async move {
        let (outgoing, rx) = mpsc::channel(FRAME_BUFFER);
        Ok(Connection { incoming: client.open_stream(&path, rx), outgoing })
    });
    let detail = json!({ "run": run.id.as_str(), "partnership": partnership.id.as_str(), "partner": run.partner_name });
    store.record_audit(org, started_by, "match.started", &detail).await?;
    Ok(run)
}

/// A sharing policy as the protocol's disclosure policy: counts where no rule says otherwise.
pub(crate) fn disclosure_policy(policy: &SharingPolicy) -> Result<DisclosurePolicy, SharingError> {
    let mut out = DisclosurePolicy::new(Level::Counts)
        .with_threshold(policy.threshold)
        .with_min_partner_segment(policy.min_partner_segment);
    for (own, partner, level) in disclosure_rules(policy)? {
        out = out.with_rule(own, partner, level).map_err(SharingError::Rule)?;
    }
    Ok(out)
}

/// A rule of the protocol's disclosure policy: own segment, the partner's (`None` for `*`), level.
pub(crate) type DisclosureRule = (Option<SegmentLabel>, Option<SegmentLabel>, Level);

/// A sharing policy's rules with their segments as labels.
pub(crate) fn disclosure_rules(policy: &SharingPolicy) -> Result<Vec<DisclosureRule>, SharingError> {
    let segment = |s: &str| -> Result<Option<SegmentLabel>, SharingError> {
        if s == "*" {
            return Ok(None);
        }
        SegmentLabel::new(s).map(Some).map_err(|error| SharingError::Segment { segment: s.to_owned(), error })
    };
    policy
        .rules
        .iter()
        .map(|rule| Ok((segment(&rule.own_segment)?, segment(&rule.partner_segment)?, rule.level.clone())))
        .collect()
}

/// Kept keys and what is kept with them.
struct Kept {
    keys: KeptKeys,
    for_: KeptFor,
    cache: Option<Arc<BloomCache>>,
    /// Where the dataset served from is kept between sessions.
    dataset: Option<Arc<KeptDataset>>,
}

/// How long a process keeps the dataset its browser partners' sessions were last served from
/// after the last such session.
const DATASET_KEPT_IDLE: Duration = Duration::from_secs(600);

/// The dataset the latest browser partner's session was served from, kept for the next one
/// (spec §20.5): loading a large dataset from the store is most of such a session's cost once
/// its evaluated keys are kept. One dataset at a time, released ten minutes after its last use.
#[derive(Default)]
pub(crate) struct KeptDataset {
    slot: std::sync::Mutex<Option<(String, Arc<Dataset>, Instant)>>,
}

impl KeptDataset {
    /// The dataset `id`, if it is the one kept.
    fn get(&self, id: &str) -> Option<Arc<Dataset>> {
        let mut slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (_, data, used) = slot.as_mut().filter(|(kept, ..)| kept == id)?;
        *used = Instant::now();
        Some(Arc::clone(data))
    }

    /// Keeps `data` as the dataset `id`, in place of any other, and releases it once unused for
    /// `DATASET_KEPT_IDLE`.
    fn put(self: &Arc<Self>, id: &str, data: Arc<Dataset>) {
        *self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((id.to_owned(), data, Instant::now()));
        let this = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                tokio::time::sleep(DATASET_KEPT_IDLE).await;
                let Some(this) = this.upgrade() else { return };
                let mut slot = this.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                match slot.as_ref() {
                    Some((_, _, used)) if used.elapsed() >= DATASET_KEPT_IDLE => {
                        *slot = None;
                        return;
                    }
                    Some(_) => {}
                    None => return,
                }
            }
        });
    }
}

/// A browser partner's reveal, as the page sent it (or why it could not be read).
pub(crate) type RevealSlot = Arc<std::sync::Mutex<Option<Result<blindmap_psi::Reveal, String>>>>;

/// A run recorded as started, with what its session needs.
pub(crate) struct Started {
    pub(crate) run: Run,
    policy: DisclosurePolicy,
    config: SessionConfig,
    /// A browser partner's session: the keys it is served under, and their cache (spec §20.5).
    kept: Option<Kept>,
    /// Told once the run's end is stored: `Ok` with the fields returned to a browser partner's
    /// reveal (spec §20.7) if it completed, else why not. The browser partner's page hears
    /// `done` only then, so that it may start another run at once.
    pub(crate) on_stored: Option<tokio::sync::oneshot::Sender<Result<Vec<blindmap_psi::ReturnedFields>, String>>>,
    /// A browser partner's session: this side's policy as it is, not as the session serves it,
    /// for the fields it returns to a reveal (spec §20.7).
    fields_policy: Option<DisclosurePolicy>,
    /// Where a browser partner's page puts its reveal (spec §20.6), read once its session is
    /// over: what the partner discloses to this side.
    pub(crate) reveal: Option<RevealSlot>,
    transcript: bool,
}

/// Records a run of `org` in `partnership` as started, with its active dataset and the sharing
/// policy in force now. Fails, recording nothing, when there is no dataset to match.
pub(crate) async fn start(
    store: &Store,
    org: &OrgId,
    partnership: &Partnership,
    role: RunRole,
    started_by: &str,
    transcript: bool,
) -> Result<Started, StartError> {
    let dataset = store.active_dataset(org).await?.ok_or(StartError::NoDataset)?;
    let sharing = store.sharing(org, &partnership.id).await?;
    // A partner in the browser is answered as a Bloom-filter sender that learns nothing, so that
    // its page's work follows its own list (spec §20.3).
    let in_browser = partnership.in_browser();
    let policy =
        if in_browser { crate::service::browser::session_policy(&sharing) } else { disclosure_policy(&sharing) };
    let fields_policy = match in_browser {
        true => Some(disclosure_policy(&sharing).map_err(|_| StartError::PartnerPolicy)?),
        false => None,
    };
    let config = if in_browser { crate::service::browser::session_config() } else { SessionConfig::default() };
    let policy = match (policy, role) {
        (Ok(policy), _) => policy,
        (Err(e), RunRole::Initiator) => return Err(e.into()),
        // A policy saved before policies were checked on save: the partner hears that it cannot
        // be used, not what it says; this side's admins find why in the log.
        (Err(e), RunRole::Responder) => {
            tracing::warn!(partnership = %partnership.id, error = %e, "the stored sharing policy cannot be used");
            return Err(StartError::PartnerPolicy);
        }
    };
    let id = RunId::generate();
    let run = store
        .start_run(&NewRun {
            id: &id,
            org,
            partnership: &partnership.id,
            role,
            dataset: &dataset.id,
            started_by,
            sharing: &sharing,
        })
        .await?;
    let kept = match in_browser {
        true => {
            let (keys, made) = store.kept_keys(&partnership.id, &dataset.id).await?;
            let for_ = (partnership.id.to_string(), dataset.id.to_string(), made);
            Some(Kept { keys: KeptKeys::from_bytes(&keys), for_, cache: None, dataset: None })
        }
        false => None,
    };
    Ok(Started { run, policy, config, kept, on_stored: None, fields_policy, reveal: None, transcript })
}

/// The two directions of a run's connection.
pub(crate) struct Connection<S> {
    pub(crate) incoming: S,
    pub(crate) outgoing: mpsc::Sender<Bytes>,
}

/// Drives a started run to its end and stores the outcome (or the failure). `connect` opens the
/// connection once the dataset is loaded; `stop` turning true fails the run.
pub(crate) async fn drive<S, E, C>(
    store: Store,
    started: Started,
    connect: C,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    S: Stream<Item = Result<Bytes, E>> + Unpin + Send,
    E: std::fmt::Display,
    C: Future<Output = Result<Connection<S>, String>> + Send,
{
    let Started { run, policy, config, kept, on_stored, fields_policy, reveal, transcript } = started;
    let progress = Arc::new(Progress::default());
    let work = async {
        let side = match run.role {
            RunRole::Initiator => Side::First,
            RunRole::Responder => Side::Second,
        };
        let kept_dataset = kept.as_ref().and_then(|k| k.dataset.clone());
        let data = match kept_dataset.as_ref().and_then(|d| d.get(run.dataset.as_str())) {
            Some(data) => data,
            None => {
                let data = Arc::new(
                    store
                        .load_dataset(&run.org, &run.dataset, side)
                        .await
                        .map_err(|e| (format!("cannot load the dataset: {e}"), None))?,
                );
                if let Some(kept) = &kept_dataset {
                    kept.put(run.dataset.as_str(), Arc::clone(&data));
                }
                data
            }
        };
        let seed = SessionSeed::random(&mut rand::rng());
        let kept_cache = kept.as_ref().and_then(|k| k.cache.clone());
        let session = match (run.role, kept) {
            (RunRole::Responder, Some(Kept { keys, cache: Some(cache), .. })) => {
                Session::bloom_responder(data.clone(), policy, config, &keys, cache)
            }
            (RunRole::Initiator, _) => Session::initiator(data.clone(), policy, config, seed),
            (RunRole::Responder, _) => Session::responder(data.clone(), policy, config, seed),
        }
        .map_err(|e| (format!("cannot start the session: {e}"), None))?;
        let transcript = transcript.then(|| {
            Transcript::new(&[
                ("run", run.id.as_str()),
                ("role", run.role.as_str()),
                ("partner", &run.partner_name),
                ("records", &data.records().len().to_string()),
            ])
        });
        let connection = connect.await.map_err(|e| (e, None))?;
        let started = Instant::now();
        let driver =
            Driver { session, own_records: data.records().len() as u64, progress: progress.clone(), transcript };
        let (result, transcript) = driver.run(connection.incoming, connection.outgoing).await;
        let transcript = transcript.map(Transcript::into_text);
        match result {
            // spec §20.6: a browser partner's reveal completes what this side learned.
            Ok((outcome, traffic)) => match (reveal.as_ref().and_then(|r| r.lock().ok()?.take()), &kept_cache) {
                (None, _) => Ok((outcome, traffic, started.elapsed(), data, transcript, Vec::new())),
                (Some(Ok(revealed)), Some(cache)) => match outcome.with_reveal(&data, cache, &revealed) {
                    Ok(outcome) => {
                        // spec §20.7: this side's fields for what the partner revealed.
                        let returned = fields_policy
                            .as_ref()
                            .map(|policy| outcome.returned_fields(&data, policy, &revealed))
                            .unwrap_or_default();
                        Ok((outcome, traffic, started.elapsed(), data, transcript, returned))
                    }
                    Err(e) => Err((format!("the partner's reveal was refused: {e}"), transcript)),
                },
                (Some(Ok(_)), None) => {
                    Err(("a reveal from a partner this side kept nothing for".to_owned(), transcript))
                }
                (Some(Err(e)), _) => Err((format!("the partner's reveal was refused: {e}"), transcript)),
            },
            Err(Failure::Protocol(e)) => Err((format!("the session failed: {e}"), transcript)),
            Err(Failure::Transport(e)) => Err((e, transcript)),
        }
    };
    let heartbeat = async {
        loop {
            tokio::time::sleep(HEARTBEAT).await;
            let (done, total) = progress.get();
            match store.heartbeat_run(&run.id, done, total).await {
                Ok(true) => {}
                Ok(false) => return "the run was failed while running (its heartbeat was missed)".to_owned(),
                Err(e) => tracing::warn!(error = %e, "cannot refresh a run's heartbeat"),
            }
        }
    };
    let outcome = tokio::select! {
        outcome = work => outcome,
        stopped = heartbeat => Err((stopped, None)),
        _ = stop.wait_for(|stop| *stop) => {
            Err(("the node shut down during the run; nothing of it was stored".to_owned(), None))
        }
    };
    // Counting from before the run shows as complete until the pages across partners are
    // counted with it: what `counted` waits for.
    let _counting = Counting::start();
    let failure = outcome.as_ref().err().map(|(reason, _)| reason.clone());
    let mut returned = Vec::new();
    let stored = match outcome {
        Ok((outcome, traffic, elapsed, data, transcript, fields)) => {
            returned = fields;
            let (mut completion, result) = completion(&run, &outcome, &data, traffic, elapsed, transcript);
            completion.records = progress.get().1;
            match overlap_event(&store, &run, &result, &completion.overlaps).await {
                Ok((event, changes, accounts)) => {
                    if let Some(changes) = changes {
                        completion.result["changes"] = json!(changes);
                    }
                    if let Some(event) = event {
                        completion.events.push(("overlap.changed".to_owned(), event));
                    }
                    completion.changes = accounts;
                }
                Err(e) => tracing::warn!(run = %run.id, error = %e, "cannot compare the run with the previous one"),
            }
            store.complete_run(&run.org, &run.id, &completion).await
        }
        Err((reason, transcript)) => {
            tracing::info!(run = %run.id, role = run.role.as_str(), reason = %reason, "match run failed");
            store.fail_run(&run.id, &reason, transcript.as_deref()).await
        }
    };
    if let Some(told) = on_stored {
        let _ = told.send(match (&stored, failure) {
            (Ok(()), None) => Ok(returned),
            (Ok(()), Some(reason)) => Err(reason),
            (Err(_), _) => Err("the run could not be stored; see the node's log".to_owned()),
        });
    }
    match stored {
        Err(e) => tracing::error!(run = %run.id, error = %e, "cannot store a run's end"),
        // The lists across partners count anew with this run: before a reader asks. Then what
        // the organisation no longer keeps goes.
        Ok(()) => {
            warm(&store, &run).await;
            crate::service::retention::sweep(&store, &run.org).await;
        }
    }
}

/// Counts what the pages across partners show (the list's totals, the ecosystem's ranking) after
/// `run` completed, unless another run of its organisation is still going: the last to finish
/// counts, once.
async fn warm(store: &Store, run: &Run) {
    match store.runs_running(&run.org).await {
        Ok(0) => {}
        Ok(_) => return,
        Err(e) => {
            tracing::warn!(run = %run.id, error = %e, "cannot tell which runs are still going");
            return;
        }
    }
    warm_org(store, &run.org).await;
}

/// How many counts of pages across partners are under way in this process.
static COUNTING: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// Whether no count of pages across partners is under way in this process: what a benchmark
/// waits for before timing pages, as a reader a few seconds after a run would find them.
pub(crate) fn counted() -> bool {
    COUNTING.load(std::sync::atomic::Ordering::SeqCst) == 0
}

/// One count under way, while it lives.
struct Counting;

impl Counting {
    fn start() -> Self {
        COUNTING.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self
    }
}

impl Drop for Counting {
    fn drop(&mut self) {
        COUNTING.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Counts what `org`'s pages across partners show: the list's totals, the ecosystem's ranking.
async fn warm_org(store: &Store, org: &OrgId) {
    let _counting = Counting::start();
    if let Err(e) = store.warm_lists(org).await {
        tracing::warn!(org = %org, error = %e, "cannot count the lists across partners");
    }
    if let Err(e) = crate::service::ecosystem::warm(store, org).await {
        tracing::warn!(org = %org, error = %e, "cannot rank the ecosystem");
    }
}

/// Counts `org`'s pages across partners again in the background after a change (a correction
/// made or removed), half a second later so that a burst of changes is counted once: one count
/// at a time per organisation, and one more if changes came in meanwhile.
pub(crate) fn warm_soon(store: &Store, org: &OrgId) {
    type Pending = std::sync::Mutex<BTreeMap<String, bool>>;
    static PENDING: std::sync::OnceLock<Pending> = std::sync::OnceLock::new();
    let lock = || PENDING.get_or_init(Pending::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    {
        let mut pending = lock();
        if let Some(again) = pending.get_mut(org.as_str()) {
            *again = true;
            return;
        }
        pending.insert(org.as_str().to_owned(), false);
    }
    let (store, org) = (store.clone(), org.clone());
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(500)).await;
            warm_org(&store, &org).await;
            let mut pending = lock();
            match pending.get_mut(org.as_str()) {
                Some(again) if *again => *again = false,
                _ => {
                    pending.remove(org.as_str());
                    return;
                }
            }
        }
    });
}

/// Counts `org`'s list across partners under `filter` in the background, for the next reader:
/// the page that asked shows its rows without the totals. One count at a time in the process
/// (each reads every partner's rows under the filter), each filter once however often asked,
/// and at most [`COUNTS_WAITING`] waiting: past that a filter is counted when asked again.
pub(crate) fn count_soon(store: &Store, org: &OrgId, filter: &ReportFilter) {
    type Waiting = std::sync::Mutex<BTreeSet<String>>;
    static WAITING: std::sync::OnceLock<Waiting> = std::sync::OnceLock::new();
    static ONE_AT_A_TIME: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(1);
    let waiting = || WAITING.get_or_init(Waiting::default).lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let counted = ReportFilter { sort: ReportSort::default(), descending: false, ..filter.clone() };
    let key = format!("{org}|{counted:?}");
    {
        let mut waiting = waiting();
        if waiting.len() >= COUNTS_WAITING || !waiting.insert(key.clone()) {
            return;
        }
    }
    let (store, org) = (store.clone(), org.clone());
    tokio::spawn(async move {
        let _counting = Counting::start();
        if let Ok(_turn) = ONE_AT_A_TIME.acquire().await
            && let Err(e) = store.report_counts_in(&org, ReportScope::Latest, &counted).await
        {
            tracing::warn!(org = %org, error = %e, "cannot count the list across partners");
        }
        waiting().remove(&key);
    });
}

/// How many counts of filtered lists across partners may wait their turn (see [`count_soon`]).
const COUNTS_WAITING: usize = 16;

/// Counts every organisation's pages across partners, as after a run: what a node does when it
/// starts, in the background, so that the first reader after a restart does not wait for it.
pub(crate) async fn warm_all(store: Store) {
    match store.organisations().await {
        Ok(orgs) => {
            for org in orgs {
                warm_org(&store, &org.id).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "cannot list the organisations to count their pages"),
    }
}

/// The typed result of a run as stored, if it is complete; a stored result that does not read
/// as one is a corrupt row.
pub(crate) fn result_of(run: &Run) -> Result<Option<RunResult>, StoreError> {
    run.result
        .as_ref()
        .map(|v| RunResult::deserialize(v).map_err(|_| StoreError::Corrupt("match_runs.result")))
        .transpose()
}

/// What a finished session leaves in the store: the matrix, both plans, this side's overlapping
/// accounts, and the audit events of what each side revealed; with the typed result the
/// store gets as JSON, for what is computed from it before it is stored.
fn completion(
    run: &Run,
    outcome: &Outcome,
    data: &Dataset,
    traffic: Traffic,
    elapsed: Duration,
    transcript: Option<String>,
) -> (Completion, RunResult) {
    let explanations = blindmap_records::explain_overlaps(outcome, data);
    let Matrix { rows, columns, cells } = Matrix::of(outcome, data, &explanations);
    let disclosed = outcome.disclosed_plan();
    let disclosed_levels: Vec<Vec<LevelName>> = (0..disclosed.rows())
        .map(|r| (0..disclosed.cols()).map(|c| LevelName::of(disclosed.level(r, c))).collect())
        .collect();
    let overlaps: Vec<RunOverlap> = outcome
        .overlaps()
        .iter()
        .zip(&explanations)
        .map(|(o, explanation)| {
            let record = &data.records()[o.record];
            RunOverlap {
                account_id: record.id.clone(),
                own_segment: record.segment.to_string(),
                partner_segment: outcome.partner_segments()[usize::from(o.partner.segment)].label.to_string(),
                partner_record: o.partner.position,
                key_types: o.key_types.iter().map(ToString::to_string).collect(),
                tier: explanation.tier,
                reason: explanation.to_string(),
                fields: outcome
                    .fields_of(&o.partner)
                    .map(|f| f.fields.iter().map(|(n, v)| (n.to_string(), v.clone())).collect())
                    .unwrap_or_default(),
            }
        })
        .collect();
    let accounts: BTreeSet<&str> = overlaps.iter().map(|o| o.account_id.as_str()).collect();
    let result = RunResult {
        session: hex::encode(outcome.session_id()),
        disclosed: Disclosed {
            rows: columns.iter().map(|c| c.segment.clone()).collect(),
            columns: rows.clone(),
            levels: disclosed_levels,
            threshold: disclosed.threshold(),
            min_segment: disclosed.min_segment(),
            bloom: disclosed.bloom(),
        },
        rows,
        columns,
        received: Received {
            threshold: outcome.received_plan().threshold(),
            min_segment: outcome.received_plan().min_segment(),
        },
        overlapping_accounts: accounts.len() as u64,
        pairs: overlaps.len() as u64,
        unopened_fields: outcome.unopened_fields().len() as u64,
        truncated: outcome.is_truncated(),
        bytes_sent: traffic.bytes_sent,
        bytes_received: traffic.bytes_received,
        frames: traffic.frames,
        seconds: elapsed.as_secs_f64(),
        cells,
        changes: None,
    };
    let audit = vec![
        (
            "match.revealed".to_owned(),
            json!({ "run": run.id.as_str(), "partner": run.partner_name, "role": run.role.as_str(),
                "dataset": run.dataset.as_str(), "policy": run.sharing, "disclosed": result.disclosed }),
        ),
        (
            "match.learned".to_owned(),
            json!({ "run": run.id.as_str(), "partner": run.partner_name, "overlapping_accounts": accounts.len(),
                "pairs": overlaps.len(), "levels": result.cells.iter().map(|row| row.iter().map(|c| c.level)
                    .collect::<Vec<_>>()).collect::<Vec<_>>() }),
        ),
    ];
    // The order our records went out in, per segment, so that a partner's reference to one of
    // them (segment, position) maps back to our account.
    let orders = outcome
        .own_segments()
        .iter()
        .enumerate()
        .filter_map(|(s, label)| {
            let order: Vec<u32> = (0u32..).map_while(|p| outcome.own_record(s as u16, p)).map(|r| r as u32).collect();
            (!order.is_empty()).then(|| (label.to_string(), order))
        })
        .collect();
    let completion = Completion {
        result: serde_json::to_value(&result).expect("a run result is JSON"),
        overlaps,
        transcript,
        audit,
        records: 0,
        events: Vec::new(),
        session: result.session.clone(),
        orders,
        changes: None,
    };
    (completion, result)
}

/// A run result's cells as shown, with their level, by (own segment, partner segment).
pub(crate) fn shown_cells(result: Option<&RunResult>) -> BTreeMap<(String, String), (String, LevelName)> {
    result
        .into_iter()
        .flat_map(RunResult::cells)
        .map(|(own, partner, cell)| ((own.to_owned(), partner.to_owned()), (cell.shown.clone(), cell.level)))
        .collect()
}

/// Overlapping accounts per cell, each with its best tier in the cell.
type Accounts = BTreeMap<(String, String), BTreeMap<String, Tier>>;

/// What changed from `before` to `after` (cells as shown) and `old` to `new` (accounts per
/// cell), cell by cell: the shown values, and the accounts that came and went where both sides
/// list accounts for the cell (a cell absent before counts as listing none), the new ones by
/// possible matches only named again. Unchanged cells are left out.
fn cell_changes(
    before: &BTreeMap<(String, String), (String, LevelName)>,
    after: &BTreeMap<(String, String), (String, LevelName)>,
    old: &Accounts,
    new: &Accounts,
) -> Vec<CellChange> {
    let empty = BTreeMap::new();
    let keys: BTreeSet<&(String, String)> = before.keys().chain(after.keys()).collect();
    let mut out = Vec::new();
    for key in keys {
        let (b, a) = (before.get(key), after.get(key));
        let listed_before = b.is_none_or(|(_, level)| level.lists_records());
        let (came, possible, went) = match a {
            Some((_, level)) if level.lists_records() && listed_before => {
                let old = old.get(key).unwrap_or(&empty);
                let now = new.get(key).unwrap_or(&empty);
                let came: Vec<String> = now.keys().filter(|a| !old.contains_key(*a)).cloned().collect();
                let possible = came.iter().filter(|a| now[*a] == Tier::Possible).cloned().collect();
                let went = old.keys().filter(|a| !now.contains_key(*a)).cloned().collect();
                (Some(came), Some(possible), Some(went))
            }
            _ => (None, None, None),
        };
        let same_shown = b.map(|x| &x.0) == a.map(|x| &x.0);
        let same_accounts = came.as_ref().is_none_or(Vec::is_empty) && went.as_ref().is_none_or(Vec::is_empty);
        if same_shown && same_accounts {
            continue;
        }
        out.push(CellChange {
            own_segment: key.0.clone(),
            partner_segment: key.1.clone(),
            before: b.map(|x| x.0.clone()),
            after: a.map(|x| x.0.clone()),
            new: came,
            new_possible: possible,
            lost: went,
        });
    }
    out
}

/// What changed between `previous` and `run` (see [`cell_changes`]).
pub(crate) async fn changes(
    store: &Store,
    org: &OrgId,
    previous: &Run,
    run: &Run,
) -> Result<Vec<CellChange>, StoreError> {
    let old = store.overlap_accounts(org, &previous.id).await?;
    let new = store.overlap_accounts(org, &run.id).await?;
    Ok(cell_changes(&shown_cells(result_of(previous)?.as_ref()), &shown_cells(result_of(run)?.as_ref()), &old, &new))
}

/// The `overlap.changed` event of a run about to complete, if anything changed since the
/// previous complete run with the partner (the first run changes everything), and how many
/// accounts came and went since that run (none for a first run). Both runs' overlaps are taken
/// as the lists will show them: what this side's users corrected is neither announced as new
/// nor as lost.
async fn overlap_event(
    store: &Store,
    run: &Run,
    now: &RunResult,
    overlaps: &[RunOverlap],
) -> Result<(Option<Value>, Option<RunChanges>, Option<(RunId, Vec<AccountChange>)>), StoreError> {
    let previous = store.latest_complete_run(&run.org, &run.partnership).await?;
    let old = match &previous {
        Some(p) => store.overlap_accounts(&run.org, &p.id).await?,
        None => Accounts::new(),
    };
    let corrections = store.active_corrections(&run.org, &run.partnership).await?;
    let mut by_account: BTreeMap<&str, Vec<&blindmap_store::Correction>> = BTreeMap::new();
    for c in &corrections {
        by_account.entry(c.account_id.as_str()).or_default().push(c);
    }
    let mut new = Accounts::new();
    for o in overlaps {
        let corrected =
            by_account.get(o.account_id.as_str()).is_some_and(|cs| cs.iter().any(|c| c.hides(&o.key_types)));
        if corrected {
            continue;
        }
        let best = new.entry((o.own_segment.clone(), o.partner_segment.clone())).or_default();
        let tier = best.entry(o.account_id.clone()).or_insert(o.tier);
        *tier = (*tier).min(o.tier);
    }
    let before = match &previous {
        Some(p) => shown_cells(result_of(p)?.as_ref()),
        None => BTreeMap::new(),
    };
    let cells = cell_changes(&before, &shown_cells(Some(now)), &old, &new);
    let changes = previous.as_ref().map(|p| RunChanges::of(p.id.to_string(), &cells));
    let accounts = match &previous {
        Some(p) => Some((p.id.clone(), account_changes(store, run, p, &cells, overlaps).await?)),
        None => None,
    };
    let event = (!cells.is_empty()).then(|| {
        let mut event = json!({ "run": run.id.as_str(), "partnership": run.partnership.as_str(),
            "partner": run.partner_name, "previous_run": previous.map(|p| p.id.to_string()), "cells": cells });
        if let Some((_, accounts)) = &accounts {
            event["accounts"] = json!(accounts.iter().take(EVENT_ACCOUNTS).map(change_json).collect::<Vec<_>>());
            event["accounts_total"] = json!(accounts.len());
        }
        event
    });
    Ok((event, changes, accounts))
}

/// Accounts an `overlap.changed` event names one by one (the API lists them all).
pub(crate) const EVENT_ACCOUNTS: usize = 1000;

/// A change as events and the API carry it.
pub(crate) fn change_json(c: &AccountChange) -> Value {
    let mut out = json!({ "account_id": c.account_id, "name": c.name, "owner": c.owner, "owner_email": c.owner_email,
        "own_segment": c.own_segment, "partner_segment": c.partner_segment, "change": c.change.as_str() });
    if let Some(tier) = c.tier {
        out["tier"] = json!(tier.as_str());
    }
    if !c.fields.is_empty() {
        out["fields"] = json!(c.fields);
    }
    out
}

/// The accounts that came into and went out of `cells` since `previous`, named from the run's
/// own dataset (new ones) or the previous run's (lost ones), with a new overlap's best tier and
/// the partner's disclosed fields in its cell.
async fn account_changes(
    store: &Store,
    run: &Run,
    previous: &Run,
    cells: &[CellChange],
    overlaps: &[RunOverlap],
) -> Result<Vec<AccountChange>, StoreError> {
    let ids = |pick: fn(&CellChange) -> Option<&Vec<String>>| -> Vec<&str> {
        let set: BTreeSet<&str> = cells.iter().filter_map(pick).flatten().map(String::as_str).collect();
        set.into_iter().collect()
    };
    let (came, went) = (ids(|c| c.new.as_ref()), ids(|c| c.lost.as_ref()));
    let labels_now = store.account_labels(&run.org, &run.dataset, &came).await?;
    // The previous run's dataset may have been deleted since: ids alone then.
    let labels_then = match store.account_labels(&run.org, &previous.dataset, &went).await {
        Ok(labels) => labels,
        Err(StoreError::NotFound(_)) => BTreeMap::new(),
        Err(e) => return Err(e),
    };
    let mut best: BTreeMap<(&str, &str, &str), &RunOverlap> = BTreeMap::new();
    for o in overlaps {
        let slot = best.entry((o.account_id.as_str(), o.own_segment.as_str(), o.partner_segment.as_str())).or_insert(o);
        if o.tier < slot.tier {
            *slot = o;
        }
    }
    let mut out = Vec::new();
    for c in cells {
        for (list, kind) in [(&c.new, ChangeKind::New), (&c.lost, ChangeKind::Lost)] {
            for account in list.iter().flatten() {
                let labels = if kind == ChangeKind::New { &labels_now } else { &labels_then };
                let label = labels.get(account).cloned().unwrap_or_default();
                let overlap = (kind == ChangeKind::New)
                    .then(|| best.get(&(account.as_str(), c.own_segment.as_str(), c.partner_segment.as_str())))
                    .flatten();
                out.push(AccountChange {
                    account_id: account.clone(),
                    name: label.name,
                    owner: label.owner,
                    owner_email: label.owner_email,
                    own_segment: c.own_segment.clone(),
                    partner_segment: c.partner_segment.clone(),
                    change: kind,
                    tier: overlap.map(|o| o.tier),
                    fields: overlap.map(|o| o.fields.clone()).unwrap_or_default(),
                });
            }
        }
    }
    Ok(out)
}

impl RunChanges {
    /// The accounts that came and went across `cells`: an account that only moved from one
    /// cell to another (a segment changed) neither came nor went.
    fn of(previous_run: String, cells: &[CellChange]) -> Self {
        let all = |pick: fn(&CellChange) -> Option<&Vec<String>>| -> BTreeSet<&str> {
            cells.iter().filter_map(pick).flatten().map(String::as_str).collect()
        };
        let (came, went) = (all(|c| c.new.as_ref()), all(|c| c.lost.as_ref()));
        Self {
            previous_run,
            new_accounts: came.difference(&went).count() as u64,
            lost_accounts: went.difference(&came).count() as u64,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Cursor;

    use blindmap_psi::wire::{Frame, Message};
    use blindmap_psi::{AbortCode, Session};
    use blindmap_records::{Importer, Preset};
    use blindmap_store::{PartnershipId, RunState};

    use super::*;

    const PARTNER_CSV: &str = include_str!("../../../../samples/partner-hubspot.csv");

    /// A responder run of a fresh store's organisation, and the frames an honest initiator
    /// with the same sample would open with.
    async fn responder() -> (Store, tempfile::TempDir, OrgId, Started, Vec<u8>) {
        let (store, dir) = blindmap_store::testing::sqlite().await;
        let org = store.create_organisation("Partner").await.unwrap();
        let importer =
            Importer::new("p.csv", Cursor::new(PARTNER_CSV.as_bytes().to_vec()), &Preset::Hubspot.mapping()).unwrap();
        store.import_dataset(&org.id, "p.csv", "hubspot", importer).await.unwrap();
        let p = store
            .create_partnership(&PartnershipId::generate(), &org.id, "Vendor", "https://v", "sha256:aa", "pt_x")
            .await
            .unwrap();
        let started = start(&store, &org.id, &p, RunRole::Responder, "Vendor", true).await.unwrap();
        let data = store.load_dataset(&org.id, &started.run.dataset, Side::First).await.unwrap();
        let mut initiator = Session::initiator(
            Arc::new(data),
            DisclosurePolicy::default(),
            SessionConfig::default(),
            SessionSeed::random(&mut rand::rng()),
        )
        .unwrap();
        let hello = initiator.poll_transmit().unwrap();
        (store, dir, org.id, started, hello)
    }

    async fn run_with(store: &Store, started: Started, frames: Vec<Vec<u8>>) -> Vec<Bytes> {
        let (outgoing, mut rx) = mpsc::channel(64);
        let incoming = futures_util::stream::iter(frames.into_iter().map(|f| Ok::<_, std::io::Error>(Bytes::from(f))));
        let (_stop, never) = tokio::sync::watch::channel(false);
        drive(store.clone(), started, async move { Ok(Connection { incoming, outgoing }) }, never).await;
        let mut sent = Vec::new();
        while let Ok(frame) = rx.try_recv() {
            sent.push(frame);
        }
        sent
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_malformed_peer_message_aborts_the_run_with_its_reason() {
        let (store, _dir, org, started, hello) = responder().await;
        let id = started.run.id.clone();
        // A plan frame whose body is garbage: a valid header, so it is cut and decoded.
        let mut bad = Frame::decode(&hello).unwrap();
        bad.seq = 1;
        let mut bytes = bad.encode();
        bytes[1] = 0x02;
        let sent = run_with(&store, started, vec![hello, bytes]).await;
        let last = Frame::decode(sent.last().unwrap()).unwrap();
        assert_eq!(last.message, Message::Abort(AbortCode::Malformed), "the partner is told why");
        let run = store.run(&org, &id).await.unwrap();
        assert_eq!(run.state, RunState::Failed);
        assert!(run.failure.as_deref().unwrap().contains("session failed"), "{:?}", run.failure);
        let transcript = store.run_transcript(&org, &id).await.unwrap().unwrap();
        assert!(transcript.contains("< undecodable") || transcript.contains("< seq 1"), "{transcript}");
        assert!(transcript.contains("# end: the session failed"));
        assert!(store.latest_complete_run(&org, &run.partnership).await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_dropped_connection_fails_the_run_and_stores_nothing() {
        let (store, _dir, org, started, hello) = responder().await;
        let id = started.run.id.clone();
        let sent = run_with(&store, started, vec![hello]).await;
        assert!(!sent.is_empty(), "the responder answered the hello");
        let run = store.run(&org, &id).await.unwrap();
        assert_eq!(run.state, RunState::Failed);
        assert_eq!(run.failure.as_deref(), Some("the partner closed the connection before the session ended"));
        let overlaps =
            store.overlaps_page(&org, &id, &blindmap_store::OverlapFilter::default(), None, 10).await.unwrap();
        assert!(overlaps.is_empty() && run.result.is_none());
    }

    fn overlap(account: &str, key_types: &[&str], tier: Tier) -> RunOverlap {
        RunOverlap {
            account_id: account.into(),
            own_segment: "customers".into(),
            partner_segment: "customers".into(),
            partner_record: Some(0),
            key_types: key_types.iter().map(|k| (*k).to_owned()).collect(),
            tier,
            reason: format!("{tier}: test"),
            fields: BTreeMap::new(),
        }
    }

    fn completed(overlaps: Vec<RunOverlap>) -> Completion {
        let shown = overlaps.len().to_string();
        Completion {
            result: json!({ "rows": ["customers"], "columns": [{ "segment": "customers", "records": 9 }],
                "cells": [[{ "shown": shown, "level": "overlaps" }]] }),
            overlaps,
            transcript: None,
            audit: vec![],
            records: 10,
            events: vec![],
            session: "00".into(),
            orders: vec![],
            changes: None,
        }
    }

    /// The `overlap.changed` event holds a run about to complete to the corrections: a pair the
    /// organisation corrected is not announced as new (nor as lost), however the match found it
    /// again; new accounts matched by possible matches only are named as such.
    #[tokio::test]
    async fn the_overlap_event_leaves_corrected_pairs_out_and_names_possible_ones() {
        use blindmap_store::{CorrectionKind, NewCorrection};
        let (store, _dir, org, started, _) = responder().await;
        let (run, partnership) = (started.run.clone(), started.run.partnership.clone());
        let first = completed(vec![
            overlap("a", &["domain"], Tier::Confirmed),
            overlap("b", &["name_country"], Tier::Possible),
        ]);
        store.complete_run(&org, &run.id, &first).await.unwrap();
        let correct = |account, kind, key_types| NewCorrection {
            partnership: &partnership,
            account_id: account,
            account_name: None,
            kind,
            key_types,
            note: None,
            by: "rita",
        };
        let name = ["name_country".to_owned()];
        // `b` was wrong (it goes: not lost), `c` never matches (it comes: not new), `d`'s name
        // match is wrong (it comes on the name alone: not new).
        store.add_correction(&org, &correct("b", CorrectionKind::NotThisMatch, &name)).await.unwrap();
        store.add_correction(&org, &correct("c", CorrectionKind::NeverMatch, &[])).await.unwrap();
        store.add_correction(&org, &correct("d", CorrectionKind::NotThisMatch, &name)).await.unwrap();

        let partner = store.partnership(&org, &partnership).await.unwrap();
        let next = start(&store, &org, &partner, RunRole::Responder, "Vendor", false).await.unwrap().run;
        let second = completed(vec![
            overlap("a", &["domain"], Tier::Confirmed),
            overlap("c", &["domain"], Tier::Confirmed),
            overlap("d", &["name_country"], Tier::Possible),
            overlap("e", &["name_country"], Tier::Possible),
            overlap("f", &["name_country"], Tier::Possible),
            overlap("f", &["duns"], Tier::Confirmed),
        ]);
        let now = RunResult::deserialize(&second.result).unwrap();
        let (event, changes, accounts) = overlap_event(&store, &next, &now, &second.overlaps).await.unwrap();
        let event = event.expect("something changed");
        let changes = changes.expect("a second run has a previous one");
        assert_eq!((changes.new_accounts, changes.lost_accounts), (2, 0), "{event}");
        let cell = &event["cells"][0];
        assert_eq!(cell["new"], json!(["e", "f"]), "{event}");
        assert_eq!(cell["new_possible"], json!(["e"]), "f has a confirmed match too: {event}");
        assert_eq!(cell["lost"], json!([]), "{event}");
        // One by one: f's best tier is its confirmed match.
        let (_, accounts) = accounts.expect("a second run's changes");
        let tiers: Vec<(&str, Option<Tier>)> = accounts.iter().map(|c| (c.account_id.as_str(), c.tier)).collect();
        assert_eq!(tiers, [("e", Some(Tier::Possible)), ("f", Some(Tier::Confirmed))]);
        assert_eq!(event["accounts_total"], 2);
        assert_eq!(event["accounts"][1]["tier"], "confirmed", "{event}");
    }

    #[test]
    fn sharing_policies_become_disclosure_policies() {
        let policy = SharingPolicy {
            rules: vec![blindmap_store::SharingRule {
                own_segment: "customers".into(),
                partner_segment: "*".into(),
                level: Level::Fields(vec![blindmap_psi::FieldName::new("owner").unwrap()]),
            }],
            threshold: 3,
            min_partner_segment: 2,
        };
        let d = disclosure_policy(&policy).unwrap();
        let customers = SegmentLabel::new("customers").unwrap();
        let prospects = SegmentLabel::new("prospects").unwrap();
        assert_eq!(
            d.level(&customers, &prospects),
            &Level::Fields(vec![blindmap_psi::FieldName::new("owner").unwrap()])
        );
        assert_eq!(d.level(&prospects, &customers), &Level::Counts, "counts where no rule says otherwise");
        assert_eq!((d.threshold(), d.min_partner_segment()), (3, 2));
    }
}
