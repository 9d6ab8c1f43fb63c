//! `blindmap bench …`: the benchmarks. Built only with `--features bench`, so the shipped
//! binary carries neither this code nor the synthetic-data test kit it uses.

mod browser;
mod crm;
mod import;
mod nodes;
mod psi;
mod quality;
mod runs;

use clap::{Args, Subcommand};

#[derive(Args)]
pub(crate) struct BenchArgs {
    #[command(subcommand)]
    which: BenchCommand,
}

#[derive(Subcommand)]
enum BenchCommand {
    /// A full mutual-overlaps session on two synthetic sets, checked against the plaintext
    /// intersection, with the cost floor measured in the same run.
    Psi(psi::PsiArgs),
    /// Match quality against ground truth: a synthetic Salesforce and HubSpot export of one world,
    /// with realistic noise and look-alike decoys, matched through the real import and protocol.
    Quality(quality::QualityArgs),
    /// The importer at scale: a synthetic Salesforce export of N rows read back through the
    /// real importer, with throughput and peak memory (which must not grow with the file).
    Import(import::ImportArgs),
    /// Two nodes on loopback match N synthetic accounts each over mutual TLS; the same session
    /// then runs in one process, and the ratio shows what the network path costs.
    Nodes(nodes::NodesArgs),
    /// One partnership matched again and again (as a schedule does) with a share of the
    /// partner's list changing each time: the pages, the node's idle memory and the database's
    /// size after the first run and after the last.
    Runs(runs::RunsArgs),
    /// A partner in the browser against a vendor's node with a large list: sessions through a
    /// link by the page's protocol, the first evaluating the vendor's list, later ones reusing
    /// what the node kept.
    Browser(browser::BrowserArgs),
    /// A CRM sync at scale: N synthetic accounts in the Salesforce emulator (a process of its
    /// own) synced into a node in full — against the CSV import of the same accounts, with the
    /// node's memory — and again after a share of them changed, counting the records read.
    Crm(crm::CrmArgs),
    /// The Salesforce emulator serving an export's accounts, for `bench crm` (which starts it).
    #[command(hide = true)]
    CrmEmulator(crm::EmulatorArgs),
}

pub(crate) fn run(args: BenchArgs) -> anyhow::Result<()> {
    match args.which {
        BenchCommand::Psi(args) => psi::psi(&args),
        BenchCommand::Quality(args) => quality::run(&args),
        BenchCommand::Import(args) => import::run(&args),
        BenchCommand::Nodes(args) => nodes::run(&args),
        BenchCommand::Runs(args) => runs::run(&args),
        BenchCommand::Browser(args) => browser::run(&args),
        BenchCommand::Crm(args) => crm::run(&args),
        BenchCommand::CrmEmulator(args) => crm::serve_emulator(&args),
    }
}

/// The resident memory of a process now, from its `/proc/…/status` (`self` for this one;
/// Linux; 0 where it cannot be read).
pub(crate) fn rss_of(process: &str) -> u64 {
    status_bytes(process, "VmRSS:")
}

/// The process's own resident memory (`RssAnon`: its heap and stacks), without the file pages it
/// maps — SQLite's memory-mapped database counts in `VmRSS` once per connection that touched it,
/// though it is the file's shared cache.
pub(crate) fn rss_anon_of(process: &str) -> u64 {
    status_bytes(process, "RssAnon:")
}

fn status_bytes(process: &str, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with(field))
        .and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}
