//! `blindmap bench nodes --n N`: two nodes on loopback, each importing `N` synthetic accounts
//! through its API, match over mutual TLS; the same datasets are then matched in one process.
//! The ratio of the two is what the network path (TLS, HTTP/2 streaming, storing results)
//! costs over the protocol itself; the target is at most 1.25×. The reps' pages of the list are
//! timed too, before and after a rep corrects one overlapping account in thirty (every listing
//! then leaves them out, in the database).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, bail};
use blindmap_psi::{DisclosurePolicy, Level, Session, SessionConfig, SessionSeed, run_in_process};
use blindmap_records::{Preset, Side, import_dataset};
use blindmap_server::api::corrections::NewCorrectionBody;
use blindmap_server::api::datasets::UploadParams;
use blindmap_server::api::partnerships::{AcceptInvite, RuleView, SharingView};
use blindmap_server::api::runs::StartRun;
use blindmap_server::client::ApiClient;
use blindmap_server::node::{InitOptions, NodeConfig, RunningNode, init, start};
use clap::Args;
use serde::Serialize;

use crate::cli::matching::follow;
use crate::cli::runtime;
use crate::output::human_bytes;

/// The most the networked run may cost over the same session in one process.
const TARGET_RATIO: f64 = 1.25;
/// The slowest a page may be (any page of the web app, any page of a list, filter or order), in
/// seconds.
const TARGET_PAGE_SECONDS: f64 = 0.2;

#[derive(Args)]
pub(crate) struct NodesArgs {
    /// Accounts per side.
    #[arg(long, default_value_t = 100_000)]
    n: usize,
    /// Share of each side's accounts the other side also has.
    #[arg(long, default_value_t = 0.3)]
    overlap: f64,
    /// Partners of the vendor's, as organisations of the partner's node: the first has the
    /// vendor's share `--overlap` of `--n`, each other one that many of the vendor's accounts (a
    /// window moving along its list, so that accounts overlap with several partners) and a tenth
    /// as many of its own. Every page is timed with all of them.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=1000))]
    partners: u16,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Keep both nodes' data (databases, keys, config) in this new folder, to look into
    /// afterwards; by default they go in a temporary one that is removed.
    #[arg(long, value_name = "DIR", conflicts_with = "pages_of")]
    keep: Option<std::path::PathBuf>,
    /// Match nothing: time every page an admin opens again on the vendor's node an earlier
    /// `--keep DIR` kept (opening it upgrades its database first, and says how long that took).
    /// `--n` names the account whose page is timed, as when it was kept.
    #[arg(long, value_name = "DIR")]
    pages_of: Option<std::path::PathBuf>,
    /// Time this page of the vendor's too (a path such as `/overlaps?sort=segment`), after every
    /// page an admin opens; may be given more than once.
    #[arg(long = "page", value_name = "PATH")]
    extra_pages: Vec<String>,
}

#[derive(Serialize)]
struct NodesReport {
    n: usize,
    overlapping_accounts: u64,
    import_seconds: f64,
    node_run_seconds: f64,
    in_process_seconds: f64,
    ratio: f64,
    target_ratio: f64,
    meets_target: bool,
    bytes_sent: u64,
    bytes_received: u64,
    /// The reps' pages of the vendor's overlap list: what was asked, seconds.
    pages: Vec<(String, f64)>,
    slowest_page_seconds: f64,
    target_page_seconds: f64,
    /// The whole list as CSV.
    export_seconds: f64,
    export_rows: usize,
    /// Corrections then made (by the API, one overlapping account in thirty: never_match and
    /// not_this_match in turn).
    corrections: usize,
    corrections_seconds: f64,
    /// The same pages with those corrections, and the export.
    pages_with_corrections: Vec<(String, f64)>,
    export_with_corrections_seconds: f64,
    export_with_corrections_rows: usize,
    /// Partners matched with the vendor.
    partners: usize,
    /// What the node took after the last run to count the lists across partners and rank the
    /// ecosystem (in the background; the pages are timed once it is done).
    counted_seconds: f64,
    /// Every page an admin opens, with all those partners: path, seconds.
    every_page: Vec<(String, f64)>,
    peak_memory_bytes: Option<u64>,
}

/// A generic export of `n` accounts, those from `from` on.
pub(super) fn export(n: usize, from: usize) -> String {
    export_of(from..from + n)
}

/// A generic export of the accounts numbered `accounts`.
pub(super) fn export_of(accounts: impl ExactSizeIterator<Item = usize>) -> String {
    let mut csv = String::with_capacity(accounts.len() * 64);
    csv.push_str(EXPORT_HEADER);
    for i in accounts {
        let segment = if i % 3 == 0 { "customers" } else { "prospects" };
        // Names that do not sort as the ids do; one of forty owners.
        let name = format!("{} Company {i}", ["Acme", "Globex", "Initech", "Umbrella", "Hooli"][i % 5]);
        csv.push_str(&format!("acct{i},{name},{segment},Rep {},company{i}-bench.com\n", i % 40));
    }
    csv
}

/// The bench exports' header: an id, a name, a segment, an owner and a domain per account.
const EXPORT_HEADER: &str = "id,name,segment,owner,domain\n";

pub(super) struct BenchNode {
    pub(super) running: RunningNode,
    pub(super) api: ApiClient,
    pub(super) fingerprint: String,
    pub(super) token: String,
}

pub(super) async fn node(dir: &std::path::Path, name: &str) -> anyhow::Result<BenchNode> {
    node_configured(dir, name, |_| {}).await
}

/// A bench node whose configuration `configure` changes first.
pub(super) async fn node_configured(
    dir: &std::path::Path,
    name: &str,
    configure: impl FnOnce(&mut NodeConfig),
) -> anyhow::Result<BenchNode> {
    let options = InitOptions {
        data_dir: dir.join(name),
        organisation: name.to_owned(),
        admin: "admin".to_owned(),
        listen: "127.0.0.1:0".parse().expect("an address"),
        public_url: None,
        database_url: None,
    };
    let made = init(&options).await?;
    // The bench's one client asks faster than a person's rate limit allows (its corrections).
    let mut config = NodeConfig::load(&options.data_dir)?;
    (config.rate_limit_per_credential, config.rate_limit_per_organisation) = (0, 0);
    configure(&mut config);
    let running = start(&options.data_dir, &config).await?;
    let api = ApiClient::new(
        &format!("https://127.0.0.1:{}", running.addr.port()),
        &made.fingerprint,
        made.admin_token.expose(),
    )?;
    Ok(BenchNode { running, api, fingerprint: made.fingerprint, token: made.admin_token.expose().to_owned() })
}

/// A browser signed in to a node's pages as its admin.
pub(super) struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    /// Signs in as a browser on the node's own site does: the form first (it sets the sign-in
    /// cookie its hidden field must match), then the post with both.
    pub(super) async fn sign_in(node: &BenchNode, token: &str) -> anyhow::Result<Self> {
        Self::sign_in_at(&format!("https://127.0.0.1:{}", node.running.addr.port()), &node.fingerprint, token).await
    }

    /// [`Self::sign_in`] to the node at `base` whose certificate has `fingerprint`.
    pub(super) async fn sign_in_at(base: &str, fingerprint: &str, token: &str) -> anyhow::Result<Self> {
        let http = blindmap_server::client::pinned_http(fingerprint)?;
        let base = base.to_owned();
        let form = http.get(format!("{base}/signin")).send().await?;
        let signin_cookie = form
            .headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .context("the sign-in form set no cookie")?
            .to_owned();
        let page = form.text().await?;
        let csrf = page
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .context("the sign-in form has no csrf field")?
            .to_owned();
        let signed = http
            .post(format!("{base}/signin"))
            .header("content-type", "application/x-www-form-urlencoded")
            .header("cookie", signin_cookie)
            .body(format!("csrf={csrf}&token={token}"))
            .send()
            .await?;
        let cookie = signed
            .headers()
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(|v| v.split(';').next())
            .find(|c| c.starts_with("bm_session="))
            .context("signing in to the pages gave no session")?
            .to_owned();
        Ok(Self { http, base, cookie })
    }

    /// `path`'s status and body, and the seconds from asking to the last byte.
    async fn get(&self, path: &str) -> anyhow::Result<(reqwest::StatusCode, String, f64)> {
        let started = Instant::now();
        let response = self.http.get(format!("{}{path}", self.base)).header("cookie", &self.cookie).send().await?;
        let status = response.status();
        let body = response.text().await?;
        Ok((status, body, started.elapsed().as_secs_f64()))
    }
}

/// Times the overlap list of `partnership` as a rep uses it: the first and a late page, a
/// search, another order, the changed-only filter; then the CSV export of the whole list. Checks
/// each page lists what it says. The list has a row per pair (an account of the vendor's and a
/// partner record it matches): `pairs` of them.
pub(super) async fn time_pages(
    browser: &Browser,
    partnership: &str,
    pairs: u64,
) -> anyhow::Result<(Vec<(String, f64)>, f64, usize)> {
    let last_page = pairs.div_ceil(50).max(1);
    let list = format!("/partners/{partnership}/overlaps");
    let asks = [
        ("first page".to_owned(), list.clone()),
        (format!("page {last_page} (the last)"), format!("{list}?page={last_page}")),
        ("search \"acct12\"".to_owned(), format!("{list}?q=acct12")),
        ("by partner segment, descending".to_owned(), format!("{list}?sort=partner_segment&desc=1&page=10")),
        ("new since the last match".to_owned(), format!("{list}?new=1")),
        ("across partners, first page".to_owned(), "/overlaps".to_owned()),
        ("across partners, by partner, descending".to_owned(), "/overlaps?sort=partner&desc=1&page=10".to_owned()),
    ];
    let mut pages = Vec::new();
    for (what, path) in asks {
        let (status, body, seconds) = browser.get(&path).await?;
        // A list with rows has its table; one with none (a search for an account a small run
        // does not have) says so.
        if !status.is_success() || !(body.contains("<table id=\"overlaps\"") || body.contains("<p id=\"empty\">")) {
            bail!("{what}: the page answered {status}");
        }
        pages.push((what, seconds));
    }
    let (_, csv, export_seconds) = browser.get(&format!("{list}.csv")).await?;
    let rows = csv.lines().count().saturating_sub(1);
    if rows as u64 != pairs {
        bail!("the export has {rows} rows, the match {pairs} pairs");
    }
    Ok((pages, export_seconds, rows))
}

/// What the ecosystem phase made: the vendor's partnerships and their last runs.
struct Ecosystem {
    partnerships: Vec<String>,
    runs: Vec<String>,
}

/// Adds partners `1..partners` as organisations of the partner's node, each with an export of
/// `shared` of the vendor's accounts (a window that moves along the vendor's list, so that
/// accounts overlap with several partners) and a tenth as many of its own, and matches each
/// with the vendor. Returns every partnership of the vendor's with its run.
async fn grow_ecosystem(
    vendor: &BenchNode,
    partner: &BenchNode,
    partner_dir: &std::path::Path,
    first: (String, String),
    n: usize,
    shared: usize,
    partners: usize,
    quiet: bool,
) -> anyhow::Result<Ecosystem> {
    let mut ecosystem = Ecosystem { partnerships: vec![first.0], runs: vec![first.1] };
    let partner_url = format!("https://127.0.0.1:{}", partner.running.addr.port());
    let step = (n - shared) / partners.max(1);
    for k in 1..partners {
        let token = blindmap_server::node::add_organisation(partner_dir, &format!("Partner {k}"), "admin").await?;
        let api = ApiClient::new(&partner_url, &partner.fingerprint, token.expose())?;
        let from = k * step;
        let mut csv = export(shared, from);
        csv.push_str(&export(shared / 10, n + k * shared).replacen(EXPORT_HEADER, "", 1));
        let params = UploadParams { name: format!("partner-{k}.csv"), preset: None, activate: false };
        api.import_dataset(&params, csv.into_bytes(), None).await?;
        let invite = vendor.api.invite().await?;
        let accepted = api.accept_invite(&AcceptInvite { code: invite.code }).await?;
        let pid = vendor
            .api
            .partnerships()
            .await?
            .into_iter()
            .find(|p| !ecosystem.partnerships.contains(&p.id))
            .context("the new partnership is not listed")?
            .id;
        vendor.api.set_sharing(&pid, &everything()).await?;
        api.set_sharing(&accepted.id, &with_owners()).await?;
        let started = vendor.api.start_run(&StartRun { partnership: pid.clone(), transcript: false }).await?;
        let run = follow(&vendor.api, &started.id, quiet).await?;
        if run.state != "complete" {
            bail!("partner {k}'s run failed: {}", run.failure.as_deref().unwrap_or("no reason recorded"));
        }
        if !quiet {
            eprintln!("partner {k} of {}: matched", partners - 1);
        }
        ecosystem.partnerships.push(pid);
        ecosystem.runs.push(started.id);
    }
    Ok(ecosystem)
}

/// Sharing everything at the overlaps level, on both sides.
fn everything() -> SharingView {
    let rule = RuleView {
        own_segment: "*".to_owned(),
        partner_segment: "*".to_owned(),
        level: "overlaps".to_owned(),
        fields: Vec::new(),
    };
    SharingView { rules: vec![rule], threshold: 1, min_partner_segment: 1 }
}

/// Sharing every overlap with the owner of each record (the `fields` level): what the partners
/// of the ecosystem phase show the vendor, whose lists then sort and filter by a partner's field.
pub(super) fn with_owners() -> SharingView {
    let rule = RuleView {
        own_segment: "*".to_owned(),
        partner_segment: "*".to_owned(),
        level: "fields".to_owned(),
        fields: vec!["owner".to_owned()],
    };
    SharingView { rules: vec![rule], threshold: 1, min_partner_segment: 1 }
}

/// Times every page an admin opens, on the vendor's node with all its partners: each with the
/// first partnership where a page is about one. Each must answer 200 with a whole page.
async fn time_every_page(
    browser: &Browser,
    node: &mut RunningNode,
    ecosystem: &Ecosystem,
    account: &str,
    extra: &[String],
) -> anyhow::Result<Vec<(String, f64)>> {
    let pid = &ecosystem.partnerships[0];
    let run = &ecosystem.runs[0];
    // A partner of the ecosystem phase: it shares its records' owners.
    let last = ecosystem.partnerships.last().unwrap_or(pid);
    let (_, datasets, _) = browser.get("/data").await?;
    let dataset = datasets
        .split("href=\"/data/ds_")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .map(|id| format!("ds_{id}"))
        .context("the data page links no dataset")?;
    let paths = [
        "/".to_owned(),
        "/partners".to_owned(),
        format!("/partners/{pid}"),
        format!("/partners/{pid}/overlaps"),
        format!("/partners/{last}/overlaps?sort=field:owner&desc=1"),
        format!("/partners/{last}/overlaps?f_owner=rep%207"),
        "/overlaps".to_owned(),
        "/overlaps?sort=partner&desc=1&page=1000".to_owned(),
        "/overlaps?q=acct12".to_owned(),
        "/overlaps?q=acct1234".to_owned(),
        "/overlaps?own=customers&sort=owner".to_owned(),
        "/overlaps?owner=Rep%207".to_owned(),
        "/overlaps?sort=segment&desc=1".to_owned(),
        "/overlaps?partner=customers&sort=partner_segment".to_owned(),
        "/overlaps?own=prospects&partner=customers".to_owned(),
        "/overlaps?tier=all&sort=owner&desc=1".to_owned(),
        "/overlaps?sort=field:owner".to_owned(),
        "/overlaps?f_owner=rep%207".to_owned(),
        "/overlaps?f_owner=rep&sort=field:owner&desc=1".to_owned(),
        "/overlaps?f_owner=nobody".to_owned(),
        // Two filters, each in another order than the index the other has.
        "/overlaps?owner=Rep%203&sort=segment".to_owned(),
        "/overlaps?f_owner=rep%207&sort=owner".to_owned(),
        "/overlaps?page=8".to_owned(),
        "/ecosystem".to_owned(),
        "/ecosystem?min=10&page=20".to_owned(),
        format!("/accounts/{account}"),
        "/data".to_owned(),
        format!("/data/{dataset}"),
        format!("/partners/{pid}/sharing"),
        format!("/partners/{pid}/runs"),
        format!("/runs/{run}"),
        format!("/partners/{pid}/register"),
        format!("/partners/{pid}/corrections"),
        "/registrations".to_owned(),
        "/cosell".to_owned(),
        "/attribution".to_owned(),
        "/attribution/touches".to_owned(),
        "/attribution/ledger".to_owned(),
        "/users".to_owned(),
        "/hooks".to_owned(),
        "/audit".to_owned(),
    ];
    let mut timed = Vec::new();
    for path in paths.into_iter().chain(extra.iter().cloned()) {
        let (status, body, seconds) = browser.get(&path).await?;
        if status != reqwest::StatusCode::OK || !body.trim_end().ends_with("</html>") {
            bail!("{path}: the page answered {status}");
        }
        timed.push((path.clone(), seconds));
        // A count a page started in the background (a filtered list across partners) ends
        // before the next page is timed: on two cores it would slow it.
        node.warmed().await;
        // The lists' next pages, as a reader follows them: from the last row shown.
        if let Some(next) = next_page(&body).filter(|_| path.starts_with("/overlaps")) {
            let (status, _, seconds) = browser.get(&next).await?;
            if status != reqwest::StatusCode::OK {
                bail!("{next}: the page answered {status}");
            }
            timed.push((format!("{path} → its next page"), seconds));
            node.warmed().await;
        }
    }
    Ok(timed)
}

/// The address of a list page's "Next page" link, if it has one.
fn next_page(body: &str) -> Option<String> {
    let (before, _) = body.split_once("rel=\"next\"")?;
    let href = before.rsplit_once("href=\"")?.1;
    Some(href.split('"').next()?.replace("&amp;", "&").replace("&#38;", "&"))
}

/// `--pages-of DIR`: every page an admin opens, timed again on the vendor's node kept in `DIR`
/// by an earlier run, signed in as a new admin of its organisation.
fn pages_again(kept: &std::path::Path, n: usize, extra: &[String], json: bool) -> anyhow::Result<()> {
    let dir = kept.join("Vendor");
    let (opened, every_page, partners) = runtime()?.block_on(async {
        let mut config = NodeConfig::load(&dir).with_context(|| format!("no node kept in {}", dir.display()))?;
        (config.rate_limit_per_credential, config.rate_limit_per_organisation) = (0, 0);
        let name = format!("bench-{}", std::process::id());
        let (token, opened) = blindmap_server::node::add_admin(&dir, "Vendor", &name).await?;
        let mut running = start(&dir, &config).await?;
        // What a node counts when it starts (the lists across partners, the ecosystem), as after
        // a run: timed apart.
        let started = Instant::now();
        running.warmed().await;
        let warmed = started.elapsed().as_secs_f64();
        let url = format!("https://127.0.0.1:{}", running.addr.port());
        let api = ApiClient::new(&url, &running.fingerprint, token.expose())?;
        let fingerprint = running.fingerprint.clone();
        let mut vendor = BenchNode { running, api, fingerprint, token: token.expose().to_owned() };
        let browser = Browser::sign_in(&vendor, &vendor.token).await?;
        let partnerships: Vec<String> = vendor.api.partnerships().await?.into_iter().map(|p| p.id).collect();
        let first = partnerships.first().context("the kept node has no partnership")?;
        let filter = blindmap_server::api::runs::RunFilter { partnership: Some(first.clone()), role: None };
        let runs = vendor.api.runs(&filter, &blindmap_server::api::Page::default()).await?;
        let run = runs.items.first().context("the first partnership has no run")?.id.clone();
        let ecosystem = Ecosystem { runs: vec![run], partnerships };
        let every_page =
            time_every_page(&browser, &mut vendor.running, &ecosystem, &format!("acct{}", n - 1), extra).await?;
        vendor.running.shutdown().await?;
        Ok::<_, anyhow::Error>(((opened, warmed), every_page, ecosystem.partnerships.len()))
    })?;
    let (opened, warmed) = opened;
    let slowest = every_page.iter().map(|(_, s)| *s).fold(0.0, f64::max);
    if json {
        let report = serde_json::json!({
            "store_opened_seconds": opened,
            "counted_seconds": warmed,
            "partners": partners,
            "every_page": every_page,
            "slowest_page_seconds": slowest,
            "target_page_seconds": TARGET_PAGE_SECONDS,
        });
        println!("{report:#}");
        return Ok(());
    }
    println!("the node kept in {}: store opened (and upgraded) in {opened:.1} s", kept.display());
    println!("  the lists across partners and the ecosystem counted after the start in {warmed:.1} s");
    println!("  every page an admin opens, with {partners} partner(s) (target ≤ {TARGET_PAGE_SECONDS} s each):");
    for (path, seconds) in &every_page {
        println!("    {path:<60}  {seconds:.3} s");
    }
    println!("  slowest {slowest:.3} s");
    Ok(())
}

pub(crate) fn run(args: &NodesArgs) -> anyhow::Result<()> {
    if !(0.0..=1.0).contains(&args.overlap) || args.n == 0 {
        bail!("--n must be positive and --overlap between 0 and 1");
    }
    if let Some(kept) = &args.pages_of {
        return pages_again(kept, args.n, &args.extra_pages, args.json);
    }
    let shared = (args.n as f64 * args.overlap) as usize;
    let (left, right) = (export(args.n, 0), export(args.n, args.n - shared));
    let temporary = tempfile::tempdir().context("cannot make a temporary folder")?;
    let dir = match &args.keep {
        Some(kept) => {
            std::fs::create_dir(kept).with_context(|| format!("cannot make the folder {}", kept.display()))?;
            kept.clone()
        }
        None => temporary.path().to_owned(),
    };
    let (node_seconds, import_seconds, run, timed, corrected, every_page) = runtime()?.block_on(async {
        let vendor = node(dir.as_path(), "Vendor").await?;
        let partner = node(dir.as_path(), "Partner").await?;
        let started = Instant::now();
        for (n, csv) in [(&vendor, &left), (&partner, &right)] {
            let params = UploadParams { name: "bench.csv".to_owned(), preset: None, activate: false };
            n.api.import_dataset(&params, csv.as_bytes().to_vec(), None).await?;
        }
        let import_seconds = started.elapsed().as_secs_f64();
        let invite = vendor.api.invite().await?;
        let accepted = partner.api.accept_invite(&AcceptInvite { code: invite.code }).await?;
        let pid = vendor.api.partnerships().await?.into_iter().next().context("no partnership")?.id;
        let policy = everything();
        for (n, id) in [(&vendor, &pid), (&partner, &accepted.id)] {
            n.api.set_sharing(id, &policy).await?;
        }
        let started = vendor.api.start_run(&StartRun { partnership: pid.clone(), transcript: false }).await?;
        let first_run = started.id.clone();
        let run = follow(&vendor.api, &started.id, args.json).await?;
        if run.state != "complete" {
            bail!("the run failed: {}", run.failure.as_deref().unwrap_or("no reason recorded"));
        }
        let result = run.result.clone().context("the run has no result")?;
        let pairs = result.pairs;
        let browser = Browser::sign_in(&vendor, &vendor.token).await?;
        let pages = time_pages(&browser, &pid, pairs).await?;
        // One overlapping account in thirty corrected (each account overlaps once: a pair each).
        let started = Instant::now();
        let mut corrections = 0;
        for (k, i) in (args.n - shared..args.n).step_by(30).enumerate() {
            let mut body = NewCorrectionBody {
                partnership: pid.clone(),
                account_id: format!("acct{i}"),
                kind: "never_match".to_owned(),
                key_types: Vec::new(),
                note: None,
            };
            if k % 2 == 1 {
                body.kind = "not_this_match".to_owned();
                body.key_types = vec!["domain".to_owned()];
            }
            vendor.api.correct(&body).await?;
            corrections += 1;
        }
        let corrections_seconds = started.elapsed().as_secs_f64();
        let corrected = time_pages(&browser, &pid, pairs - corrections as u64).await?;
        let ecosystem = grow_ecosystem(
            &vendor,
            &partner,
            &dir.as_path().join("Partner"),
            (pid.clone(), first_run),
            args.n,
            shared,
            usize::from(args.partners),
            args.json,
        )
        .await?;
        // Pages as a reader finds them a few seconds after the last run: counted.
        let started = Instant::now();
        let mut vendor = vendor;
        vendor.running.warmed().await;
        let counted_seconds = started.elapsed().as_secs_f64();
        let every_page = time_every_page(
            &browser,
            &mut vendor.running,
            &ecosystem,
            &format!("acct{}", args.n - 1),
            &args.extra_pages,
        )
        .await?;
        for n in [vendor, partner] {
            n.running.shutdown().await?;
        }
        // The session itself, as the node timed it (from the first frame to the last).
        Ok::<_, anyhow::Error>((
            result.seconds,
            import_seconds,
            result,
            pages,
            (corrections, corrections_seconds, corrected),
            (counted_seconds, every_page),
        ))
    })?;
    let (counted_seconds, every_page) = every_page;
    let (pages, export_seconds, export_rows) = timed;
    let (
        corrections,
        corrections_seconds,
        (pages_with_corrections, export_with_corrections_seconds, export_with_corrections_rows),
    ) = corrected;

    let load = |csv: &str, side| {
        import_dataset("bench.csv", csv.as_bytes(), &Preset::Generic.mapping(), side, |_| {})
            .map(|i| Arc::new(i.dataset))
    };
    let (a, b) = (load(&left, Side::First)?, load(&right, Side::Second)?);
    let policy = || DisclosurePolicy::new(Level::Overlaps).with_threshold(1).with_min_partner_segment(1);
    let mut rng = rand::rng();
    let started = Instant::now();
    let local = run_in_process(
        Session::initiator(a, policy(), SessionConfig::default(), SessionSeed::random(&mut rng))?,
        Session::responder(b, policy(), SessionConfig::default(), SessionSeed::random(&mut rng))?,
    )?;
    let in_process_seconds = started.elapsed().as_secs_f64();
    let overlapping = run.overlapping_accounts;
    if overlapping != shared as u64 || local.initiator.overlaps().len() != shared {
        bail!(
            "wrong result: {overlapping} overlapping accounts over the network, {} in process, {shared} expected",
            local.initiator.overlaps().len()
        );
    }
    let ratio = node_seconds / in_process_seconds;
    let report = NodesReport {
        n: args.n,
        overlapping_accounts: overlapping,
        import_seconds,
        node_run_seconds: node_seconds,
        in_process_seconds,
        ratio,
        target_ratio: TARGET_RATIO,
        meets_target: ratio <= TARGET_RATIO,
        bytes_sent: run.bytes_sent,
        bytes_received: run.bytes_received,
        slowest_page_seconds: pages
            .iter()
            .chain(&pages_with_corrections)
            .chain(&every_page)
            .map(|(_, s)| *s)
            .fold(0.0, f64::max),
        pages,
        target_page_seconds: TARGET_PAGE_SECONDS,
        export_seconds,
        export_rows,
        corrections,
        corrections_seconds,
        pages_with_corrections,
        export_with_corrections_seconds,
        export_with_corrections_rows,
        partners: usize::from(args.partners),
        counted_seconds,
        every_page,
        peak_memory_bytes: super::psi::peak_memory(),
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!("{} × {} accounts, {} overlapping (checked):", args.n, args.n, overlapping);
        println!("  import through both APIs  {:>8.2} s", report.import_seconds);
        println!(
            "  match between the nodes   {:>8.2} s  ({} sent, {} received)",
            node_seconds,
            human_bytes(report.bytes_sent),
            human_bytes(report.bytes_received)
        );
        println!("  same session in process   {:>8.2} s", in_process_seconds);
        println!("  ratio                     {:>8.2}   (target ≤ {TARGET_RATIO})", ratio);
        println!(
            "  reps' pages of the overlap list, {} rows (target ≤ {TARGET_PAGE_SECONDS} s each):",
            report.export_rows
        );
        for (what, seconds) in &report.pages {
            println!("    {what:<34} {seconds:>6.3} s");
        }
        println!("    CSV export, {} rows {:>14.3} s", report.export_rows, report.export_seconds);
        println!(
            "  {} corrections through the API in {:.2} s; the same pages with them, {} rows:",
            report.corrections, report.corrections_seconds, report.export_with_corrections_rows
        );
        for (what, seconds) in &report.pages_with_corrections {
            println!("    {what:<34} {seconds:>6.3} s");
        }
        println!(
            "    CSV export, {} rows {:>14.3} s",
            report.export_with_corrections_rows, report.export_with_corrections_seconds
        );
        println!(
            "  after the last match, the lists across partners and the ecosystem counted in {:.1} s",
            report.counted_seconds
        );
        println!(
            "  every page an admin opens, with {} partner(s) (target ≤ {TARGET_PAGE_SECONDS} s each):",
            report.partners
        );
        for (path, seconds) in &report.every_page {
            println!("    {path:<60} {seconds:>6.3} s");
        }
        if let Some(peak) = report.peak_memory_bytes {
            println!("  peak memory (process)     {:>8}", human_bytes(peak));
        }
    }
    Ok(())
}
